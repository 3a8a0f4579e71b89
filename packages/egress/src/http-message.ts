// What both HTTP paths of the proxy (plain forward and inspected HTTPS) share: the headers that
// never cross it, the one-line form of a reason, and the in-protocol refusal the agent reads.

import type { ServerResponse } from 'node:http';

/** Headers that belong to one hop and are never passed on. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // Answered here (the proxy invites the body itself), never passed on.
  'expect',
]);

/** Header values carry one line of plain text: the reason, with anything else replaced. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
}

/** Answers a request with the reason, in the body and in X-Perimeter-Reason, and closes. */
export function refuseResponse(res: ServerResponse, status: number, reason: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Perimeter-Reason': headerSafe(reason),
    Connection: 'close',
  });
  res.end(`${reason}\n`);
}
