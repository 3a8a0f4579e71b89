// Chaining to an upstream (corporate) proxy. Every decision is still made here, on the name and on
// every address it resolves to; only the vetted address is then reached, through the upstream:
// tunnels as `CONNECT <address>:<port>`, plain HTTP as an absolute-form request to that address
// with the name in Host. The upstream never sees a request this proxy refused.

import { connect, type Socket } from 'node:net';
import { parseAuthority } from '@perimeter/policy';

export interface UpstreamProxy {
  readonly host: string;
  readonly port: number;
  /** The `Proxy-Authorization` value, from the URL's user and password. */
  readonly authorization?: string;
}

/** Reads `http://[user:password@]host:port` (the form HTTPS_PROXY takes). */
export function parseUpstreamProxy(text: string): { upstream: UpstreamProxy } | { error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `"${text}" is not a URL; use http://host:port` };
  }
  if (url.protocol !== 'http:')
    return { error: `only http:// upstream proxies are supported, not ${url.protocol}` };
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '')
    return { error: 'the upstream proxy URL takes no path, query or fragment' };
  const parsed = parseAuthority(`${url.hostname}:${url.port || '80'}`);
  if ('error' in parsed) return { error: `the upstream proxy address is invalid: ${parsed.error.message}` };
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    upstream: {
      host: parsed.authority.host.name,
      port: parsed.authority.port,
      ...(user || password
        ? { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
        : {}),
    },
  };
}

const MAX_HEAD = 16 * 1024;

/** The `host:port` of a CONNECT line for an address (IPv6 in brackets). */
export function authorityOf(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Opens a tunnel to `address:port` through the upstream; resolves once it answered 200. */
export function dialThroughUpstream(
  upstream: UpstreamProxy,
  timeoutMs = 15_000,
): (address: string, port: number) => Promise<Socket> {
  return (address, port) =>
    new Promise<Socket>((resolve, reject) => {
      const target = authorityOf(address, port);
      const socket = connect({ host: upstream.host, port: upstream.port });
      let head = Buffer.alloc(0);
      const fail = (message: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(message));
      };
      const timer = setTimeout(() => fail('the upstream proxy did not answer in time'), timeoutMs);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEAD) fail('the upstream proxy sent an oversized answer');
          return;
        }
        socket.off('data', onData);
        const status = head.subarray(0, end).toString('latin1').split('\r\n')[0] ?? '';
        if (!/^HTTP\/1\.[01] 2\d\d /.test(`${status} `)) {
          fail(`the upstream proxy refused CONNECT ${target}: ${status.slice(0, 120)}`);
          return;
        }
        clearTimeout(timer);
        if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
        resolve(socket);
      };
      socket.on('data', onData);
      socket.once('error', (e) => fail(`the upstream proxy cannot be reached (${e.message})`));
      socket.once('connect', () => {
        socket.write(
          `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
            (upstream.authorization ? `Proxy-Authorization: ${upstream.authorization}\r\n` : '') +
            '\r\n',
        );
      });
    });
}
