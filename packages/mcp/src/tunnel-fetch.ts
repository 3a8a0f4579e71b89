// A fetch for remote upstreams that reaches them only through an egress proxy: every connection
// is a CONNECT to the proxy (over a socket the caller opens), which decides it with the policy,
// vets the addresses the name resolves to (metadata, private and loopback ranges refused by the
// built-in guard) and audits it; TLS runs end to end inside the tunnel, verified as usual (against
// the URL's name or address, with the roots the caller names or Node's).

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** The proxy's refusal, as fetch callers see one: a rejected promise naming the reason. */
export class TunnelRefused extends Error {}

const HEAD_LIMIT = 16 * 1024;

/** Opens a CONNECT tunnel to host:port through the proxy socket `open()` returns. */
function tunnel(open: () => Socket, token: string, host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = open();
    const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    let head = Buffer.alloc(0);
    const fail = (e: Error): void => {
      socket.destroy();
      reject(e);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > HEAD_LIMIT) fail(new TunnelRefused('the egress proxy sent an oversized answer'));
        return;
      }
      socket.off('data', onData);
      socket.off('error', fail);
      const text = head.subarray(0, end).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      if (status !== '200') {
        const reason = /^x-perimeter-reason: (.*)$/im.exec(text)?.[1] ?? text.split('\r\n')[0] ?? '';
        fail(new TunnelRefused(`the egress proxy refused ${authority}: ${reason}`));
        return;
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', fail);
    socket.write(
      `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: Bearer ${token}\r\n\r\n`,
    );
  });
}

type Create = (
  options: { host?: string | null; port?: number | string | null; servername?: string },
  done: (e: Error | null, s?: Socket) => void,
) => void;

export interface TunnelFetchOptions {
  /**
   * The certificates trusted as roots for these connections only, instead of Node's (a private
   * CA); the rest of the process trusts what it did.
   */
  readonly ca?: string | readonly string[];
}

/**
 * A fetch (the subset MCP's transports use: method, headers, a string or byte body, a signal;
 * streamed responses) whose every connection is tunnelled through the egress proxy.
 */
export function tunnelFetch(open: () => Socket, token: string, options: TunnelFetchOptions = {}): FetchLike {
  const ca =
    options.ca === undefined ? {} : { ca: typeof options.ca === 'string' ? options.ca : [...options.ca] };
  const plain = new HttpAgent({ keepAlive: true });
  const secure = new HttpsAgent({ keepAlive: true });
  const through =
    (tls: boolean): Create =>
    (options, done) => {
      const host = (options.host ?? '').replace(/^\[|\]$/g, '');
      const port = Number(options.port ?? (tls ? 443 : 80));
      tunnel(open, token, host, port).then(
        (socket) => {
          if (!tls) return done(null, socket);
          const secured = tlsConnect({
            socket,
            // The name the certificate must be valid for: without it, a URL naming an address
            // (whose SNI is empty) would be checked against "localhost".
            host,
            // No SNI for an address (RFC 6066 §3); Node's agent passes '' for one.
            servername: options.servername ?? (isIP(host) ? '' : host),
            ALPNProtocols: ['http/1.1'],
            ...ca,
          });
          secured.once('secureConnect', () => done(null, secured));
          secured.once('error', (e: Error) => done(e));
        },
        (e: Error) => done(e),
      );
    };
  (plain as unknown as { createConnection: Create }).createConnection = through(false);
  (secure as unknown as { createConnection: Create }).createConnection = through(true);

  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(String(input));
      const isTls = url.protocol === 'https:';
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => {
        headers[key] = value;
      });
      const method = init.method ?? 'GET';
      const req = (isTls ? httpsRequest : httpRequest)(
        url,
        { method, headers, agent: isTls ? secure : plain, ...(init.signal ? { signal: init.signal } : {}) },
        (res: IncomingMessage) => {
          const out = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) out.append(key, v);
            else if (value !== undefined) out.set(key, value);
          }
          const status = res.statusCode ?? 502;
          const empty = method === 'HEAD' || status === 204 || status === 304;
          if (empty) res.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers: out,
            }),
          );
        },
      );
      req.once('error', reject);
      const body = init.body;
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else {
        req.destroy();
        reject(new TypeError('tunnelFetch sends only string or byte bodies'));
      }
    });
}
