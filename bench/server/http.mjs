// One HTTP exchange over node:http, as the device's control-plane client makes it
// (packages/cli/src/device/control-plane.ts: the whole answer read as text, one deadline for the
// exchange), except that the caller passes an agent: a simulated device keeps its one connection
// alive, so 10,000 devices hold 10,000 sockets and open no more.

import { Buffer } from 'node:buffer';
import http from 'node:http';

/**
 * A connection kept alive. `maxSockets: 1` for a device: its activation report waits for the long
 * poll's socket to be free and reuses it, as does the next poll, rather than dial a new
 * connection while the old one is being released (thousands of devices doing that at once
 * overflow the server's accept queue, and a dropped SYN is retried only after a second).
 */
export function keepAliveAgent(maxSockets = Infinity) {
  return new http.Agent({
    keepAlive: true,
    maxSockets,
    maxFreeSockets: maxSockets === Infinity ? 256 : maxSockets,
  });
}

/**
 * Resolves with { status, headers, text }; rejects on a network error or at the deadline. `onSent`
 * is called once the request is written out.
 */
export function request(url, { agent, method = 'GET', headers = {}, body, timeoutMs, onSent }) {
  return new Promise((resolve, reject) => {
    // A string or bytes go as they are; anything else as JSON.
    const isRaw = body === undefined || typeof body === 'string' || Buffer.isBuffer(body);
    const payload = isRaw ? body : JSON.stringify(body);
    const req = http.request(
      url,
      {
        agent,
        method,
        headers: {
          ...(isRaw ? {} : { 'content-type': 'application/json' }),
          ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    if (onSent) req.on('finish', onSent);
    req.end(payload);
  });
}

/** A JSON API call with an admin token; throws unless the status is `expect`. */
export async function api(agent, base, token, method, path, body, expect) {
  const answer = await request(`${base}${path}`, {
    agent,
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body !== undefined ? { body } : {}),
    timeoutMs: 30_000,
  });
  if (expect !== undefined && answer.status !== expect)
    throw new Error(
      `${method} ${path} answered ${answer.status}, not ${expect}: ${answer.text.slice(0, 300)}`,
    );
  return answer.text === '' ? undefined : JSON.parse(answer.text);
}
