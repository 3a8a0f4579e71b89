// A preload (`node --import`) that makes Node 20's built-in fetch use the proxy in HTTPS_PROXY.
// Node 20's fetch ignores the proxy variables (research sandbox §5 case 4: `getaddrinfo ENOTFOUND`
// while curl works); Node 22.21 and 24 honour them with NODE_USE_ENV_PROXY=1. Without adding a
// dependency, this installs a dispatcher through undici's global-dispatcher symbol (the one the
// undici package's setGlobalDispatcher writes and Node's fetch reads): an Agent of Node's own
// bundled undici whose connector opens every origin connection as an HTTP CONNECT tunnel through
// the proxy, then TLS to the origin with its real name. Test-only; it must never print secrets.

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

interface ConnectOptions {
  readonly hostname: string;
  readonly protocol: string;
  readonly port: string;
  readonly servername?: string | null;
}
type Connector = (
  options: ConnectOptions,
  callback: (error: Error | null, socket: Socket | null) => void,
) => void;
type AgentClass = new (options: { connect: Connector }) => object;

const DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/** Opens a CONNECT tunnel to `target` and hands back the raw socket once the proxy says 200. */
function tunnel(proxy: URL, target: string, done: (error: Error | null, socket?: Socket) => void): void {
  const socket = netConnect({ host: proxy.hostname, port: Number(proxy.port || 80) });
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    socket.off('data', onData);
    socket.off('error', onError);
    const text = head.subarray(0, end).toString('latin1');
    const status = text.split('\r\n')[0] ?? '';
    if (!/^HTTP\/1\.[01] 200/.test(status)) {
      const reason = /^x-perimeter-reason:\s*(.*)$/im.exec(text)?.[1] ?? '';
      socket.destroy();
      done(new Error(`the proxy refused CONNECT ${target}: ${status}${reason ? ` (${reason})` : ''}`));
      return;
    }
    if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
    done(null, socket);
  };
  const onError = (error: Error): void => done(error);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
}

const proxyText = process.env.HTTPS_PROXY ?? process.env.https_proxy;
if (proxyText !== undefined && proxyText !== '') {
  const proxy = new URL(proxyText);
  // The first fetch loads Node's bundled undici, which installs its default Agent under the symbol.
  await fetch('data:,');
  const current = (globalThis as Record<symbol, unknown>)[DISPATCHER];
  if (typeof current !== 'object' || current === null)
    throw new Error('no undici global dispatcher to extend');
  const Agent = current.constructor as AgentClass;
  const connect: Connector = (options, reply) => {
    // undici wants exactly one answer per connection attempt, whatever fails afterwards.
    let isAnswered = false;
    const callback = (error: Error | null, socket: Socket | null): void => {
      if (isAnswered) return;
      isAnswered = true;
      reply(error, socket);
    };
    const isTls = options.protocol === 'https:';
    const target = `${options.hostname}:${options.port || (isTls ? '443' : '80')}`;
    tunnel(proxy, target, (error, raw) => {
      if (error !== null || raw === undefined) {
        callback(error ?? new Error('no tunnel'), null);
        return;
      }
      if (!isTls) {
        callback(null, raw);
        return;
      }
      const secure = tlsConnect({
        socket: raw,
        servername: options.servername ?? options.hostname,
        ALPNProtocols: ['http/1.1'],
      });
      secure.once('secureConnect', () => callback(null, secure));
      secure.once('error', (e: Error) => callback(e, null));
    });
  };
  (globalThis as Record<symbol, unknown>)[DISPATCHER] = new Agent({ connect });
}
