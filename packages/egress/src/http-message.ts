// What both HTTP paths of the proxy (plain forward and inspected HTTPS) share: the headers that
// never cross it, the one-line form of a reason, and the in-protocol refusal the agent reads (on
// a response, or raw on a socket no response object owns: CONNECT, and requests Node refused).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { promisify } from 'node:util';
import type { ZlibOptions } from 'node:zlib';
import { scan } from '@perimeter/detect';
import { redactedHost } from './credentials.js';
import { http, zlib } from './lazy-builtins.js';

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

/**
 * A request target as the audit keeps it when no parser could read it: the query and fragment
 * (they carry values) and any user info (it carries credentials: a proxy URL pasted as a target
 * would carry the session token) replaced by `***`, at most 200 characters.
 */
export function auditedTarget(target: string): { readonly shown: string; readonly hasUserInfo: boolean } {
  const cut = target.search(/[?#]/);
  const head = cut >= 0 ? target.slice(0, cut) : target;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(head)?.[0] ?? '';
  const slash = head.indexOf('/', scheme.length);
  const authorityEnd = slash < 0 ? head.length : slash;
  const at = head.lastIndexOf('@', authorityEnd - 1);
  const hasUserInfo = at >= scheme.length;
  const shown = `${hasUserInfo ? `${scheme}***${head.slice(at)}` : head}${cut >= 0 ? `${target[cut]}***` : ''}`;
  // No parser read it, so no part of it is known to be a name: a secret anywhere in it is hidden
  // (before the cut, so one that straddles it is still found).
  const findings = scan(shown);
  return { shown: (findings.length > 0 ? redactedHost(shown, findings) : shown).slice(0, 200), hasUserInfo };
}

/**
 * The method and target of a request line Node's parser refused (from the bytes it had read):
 * only the first line, so no header (Proxy-Authorization above all) is ever read from it.
 */
export function requestLineOf(raw: Buffer | undefined): { readonly action: string; readonly target: string } {
  const text = (raw ?? Buffer.alloc(0)).subarray(0, 2048).toString('latin1');
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  const words = line.split(' ');
  const method = words[0] ?? '';
  const rest = words.slice(1);
  if (rest.length > 1 && /^HTTP\/\d/.test(rest[rest.length - 1] ?? '')) rest.pop();
  return {
    // CONNECT is `connect`, as the engine names a tunnel; anything that is no method, `request`.
    action: /^connect$/i.test(method) ? 'connect' : /^[A-Za-z]{1,20}$/.test(method) ? method : 'request',
    target: rest.join(' '),
  };
}

/** Answers a request with the reason, in the body and in X-Perimeter-Reason, and closes. */
export function refuseResponse(
  res: ServerResponse,
  status: number,
  reason: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...extraHeaders,
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Perimeter-Reason': headerSafe(reason),
    Connection: 'close',
  });
  res.end(`${reason}\n`);
}

/**
 * The same refusal as raw bytes, for a socket no response object owns (a CONNECT client, a
 * request Node's parser refused): the reason in the body and in X-Perimeter-Reason, then close.
 */
export function rawRefusal(
  status: number,
  reason: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): string {
  const body = `${reason}\n`;
  const extra = Object.entries(extraHeaders)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${http().STATUS_CODES[status] ?? ''}\r\n${extra}Content-Type: text/plain; charset=utf-8\r\nX-Perimeter-Reason: ${headerSafe(reason)}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** The largest request body the proxy reads whole to check it for secrets (and decoded, too). */
export const MAX_INSPECTED_BODY = 32 * 1024 * 1024;

/** A request body read for inspection: as it came, and decoded from its content coding. */
export type InspectableBody =
  { readonly raw: Buffer; readonly decoded: Buffer } | { readonly status: number; readonly reason: string };

type Decode = (raw: Buffer, options: ZlibOptions) => Promise<Buffer>;

// Asynchronous, so decoding up to MAX_INSPECTED_BODY bytes runs on the thread pool in chunks
// rather than holding up every other connection of the proxy.
const REQUEST_DECODERS: ReadonlyMap<string, Decode> = new Map<string, Decode>([
  ['gzip', (raw, options) => promisify<Buffer, ZlibOptions, Buffer>(zlib().gunzip)(raw, options)],
  ['x-gzip', (raw, options) => promisify<Buffer, ZlibOptions, Buffer>(zlib().gunzip)(raw, options)],
  ['deflate', (raw, options) => promisify<Buffer, ZlibOptions, Buffer>(zlib().inflate)(raw, options)],
  ['br', (raw, options) => promisify<Buffer, ZlibOptions, Buffer>(zlib().brotliDecompress)(raw, options)],
]);

/**
 * Reads a request body whole (at most `limit` bytes, and as much decoded) so it can be checked
 * before a byte of it leaves; a body that is too large or cannot be decoded is refused rather
 * than sent unchecked (egress-dlp-06).
 */
export async function readInspectableBody(
  req: IncomingMessage,
  limit = MAX_INSPECTED_BODY,
): Promise<InspectableBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit)
      return {
        status: 413,
        reason: `Refused: the request body is larger than the ${limit} bytes the proxy inspects.`,
      };
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  const coding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (coding === 'identity' || coding === '') return { raw, decoded: raw };
  const decode = REQUEST_DECODERS.get(coding);
  if (decode === undefined)
    return {
      status: 415,
      reason: `Refused: the request body's content coding "${coding}" cannot be inspected.`,
    };
  try {
    return { raw, decoded: await decode(raw, { maxOutputLength: limit }) };
  } catch {
    return {
      status: 415,
      reason: `Refused: the ${coding} request body could not be decoded for inspection (or is larger than ${limit} bytes decoded).`,
    };
  }
}

const RESPONSE_DECODERS: ReadonlyMap<string, () => Transform> = new Map<string, () => Transform>([
  ['gzip', () => zlib().createGunzip()],
  ['x-gzip', () => zlib().createGunzip()],
  ['deflate', () => zlib().createInflate()],
  ['br', () => zlib().createBrotliDecompress()],
]);

/**
 * The streams that undo a response's Content-Encoding (codings listed in the order they were
 * applied, so undone last first): none for identity, undefined when one cannot be undone.
 */
export function responseDecoders(contentEncoding: string | undefined): Transform[] | undefined {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  const decoders: Transform[] = [];
  for (const coding of codings.reverse()) {
    const make = RESPONSE_DECODERS.get(coding);
    if (make === undefined) return undefined;
    decoders.push(make());
  }
  return decoders;
}
