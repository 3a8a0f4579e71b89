// The device's HTTP calls to the control plane: the device login (RFC 8628), its bundle (a long
// poll), the organisation's keys, activation reports, its audit events, and an admin's queries. node:http(s) directly, loaded on first
// use: `perimeter run` on a managed device makes one call, and undici's start-up would cost more
// than the call. Every call has a deadline; a failure is a value (ServerUnreachable), not a hang.

import { createRequire } from 'node:module';
import type * as Http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { UserError } from '../errors.js';

/**
 * Loads node:http or node:https when first called. Not `import()`: the CLI runs as one bundle
 * compiled through node:vm, where a dynamic import has no loader and throws.
 */
const load = createRequire(import.meta.url);

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * The server's URL as given by `source` (--server, an environment variable), checked: https, or
 * http to this machine only, since `secret` (a credential, a token) crosses it.
 */
export function serverUrl(text: string, source: string, secret: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(
      `${source} ${text} is not a URL`,
      'for example --server https://perimeter.example.com',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UserError(
      `${source} must be an http(s) URL, not ${url.protocol}`,
      'for example --server https://perimeter.example.com',
    );
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    throw new UserError(
      `${source} ${text} is plain http to another machine: ${secret} would cross the network in clear`,
      'use https:// (plain http only for a server on this machine)',
    );
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')
    throw new UserError(
      `${source} ${text} must be the server's address alone`,
      'leave out the query, fragment and user',
    );
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The server could not be asked: refused, unknown host, timed out, cut off. */
export class ServerUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerUnreachable';
  }
}

/** The largest answer read (a bundle of many policies is well under it). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export interface CallOptions {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** The whole exchange must end within this; with `sink`, each chunk must come within it. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /**
   * Takes a 200 answer's body chunk by chunk, as it comes (an export of any size), instead of
   * collecting it: the answer's text is then empty. Other answers are collected as usual.
   */
  readonly sink?: (chunk: Buffer) => void;
}

export async function call(url: string, options: CallOptions): Promise<Answer> {
  const target = new URL(url);
  const http = load(target.protocol === 'https:' ? 'node:https' : 'node:http') as Pick<
    typeof Http,
    'request'
  >;
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      target,
      {
        method: options.method ?? 'GET',
        headers: {
          'user-agent': 'perimeter-cli',
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
          ...options.headers,
        },
        signal: options.signal,
        // One connection per call: a kept-alive socket the server has since closed would fail the
        // next call, and an idle one would hold the process open after the command is done.
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const sink = res.statusCode === 200 ? options.sink : undefined;
        res.on('data', (chunk: Buffer) => {
          if (sink) {
            timer.refresh();
            sink(chunk);
            return;
          }
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES)
            req.destroy(new ServerUnreachable(`the answer of ${target.host} is too large`));
          else chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (e) => reject(unreachable(target, e)));
      },
    );
    const timer = setTimeout(
      () =>
        req.destroy(
          new ServerUnreachable(
            `${target.host} did not answer within ${Math.round(options.timeoutMs / 1000)} s`,
          ),
        ),
      options.timeoutMs,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) => reject(unreachable(target, e)));
    req.end(options.body);
  });
}

function unreachable(target: URL, e: Error): Error {
  if (e instanceof ServerUnreachable || e.name === 'AbortError') return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND'
        ? 'unknown host'
        : code === 'ECONNRESET'
          ? 'the connection was cut'
          : e.message;
  return new ServerUnreachable(`cannot reach ${target.host} (${why})`);
}

/** The longest Retry-After this CLI honours: a server asking for more is waited on this long. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * How long the server asked to be left alone (Retry-After: seconds, or an HTTP date; RFC 9110
 * §10.2.3), at most 10 minutes; undefined when it did not say.
 */
export function retryAfterMs(answer: Answer, now: number = Date.now()): number | undefined {
  const value = answer.headers['retry-after'];
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** An API error body's message, or the status when there is none. */
export function errorMessage(answer: Answer): string {
  try {
    const body = JSON.parse(answer.text) as {
      error?: { message?: unknown } | string;
      error_description?: unknown;
    };
    if (typeof body.error === 'object' && typeof body.error.message === 'string') return body.error.message;
    if (typeof body.error_description === 'string') return body.error_description;
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON
  }
  return `HTTP ${answer.status}`;
}
