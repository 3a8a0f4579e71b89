// Preloaded into every Node.js process of a Perimeter session (NODE_OPTIONS=--import=…) on Node
// versions whose built-in fetch ignores HTTP(S)_PROXY (before 22.21, and 23; later versions follow
// NODE_USE_ENV_PROXY, which the session also sets). Nothing happens until the program first calls
// fetch; then fetch gets a dispatcher of Node's own bundled undici whose connections are tunnelled
// through the session's proxy (CONNECT, with the session token from the proxy URL), except hosts
// in NO_PROXY. Any failure here leaves fetch as it was: this file never breaks a program.

import { Buffer } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';

const proxyText = process.env.HTTPS_PROXY ?? process.env.https_proxy ?? '';
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const hasEnvProxy = major >= 24 || (major === 22 && minor >= 21);

if (proxyText !== '' && !hasEnvProxy && typeof globalThis.fetch === 'function') {
  const original = globalThis.fetch;
  const noProxy = (process.env.NO_PROXY ?? process.env.no_proxy ?? '')
    .split(',')
    .map((h) =>
      h
        .trim()
        .toLowerCase()
        .replace(/^\[|\]$/g, ''),
    )
    .filter((h) => h !== '');
  const isDirect = (host) => {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    return noProxy.some(
      (n) => n === '*' || h === n || (n.startsWith('.') ? h.endsWith(n) : h.endsWith(`.${n}`)),
    );
  };

  const install = async () => {
    const proxy = new URL(proxyText);
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
    await original('data:,'); // loads the bundled undici, which installs its global dispatcher
    const symbol = Symbol.for('undici.globalDispatcher.1');
    const current = globalThis[symbol];
    if (typeof current !== 'object' || current === null) return;
    const Agent = current.constructor;
    const tunnel = (target, done) => {
      const socket = net.connect({ host: proxy.hostname, port: Number(proxy.port || 80) });
      let head = Buffer.alloc(0);
      const onData = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
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
      socket.on('data', onData);
      socket.once('error', (e) => done(e));
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${auth}\r\n\r\n`);
    };
    const connect = (options, reply) => {
      let isAnswered = false;
      const answer = (error, socket) => {
        if (isAnswered) return;
        isAnswered = true;
        reply(error, socket);
      };
      const isTls = options.protocol === 'https:';
      const port = options.port || (isTls ? '443' : '80');
      const secure = (raw) => {
        const s = tls.connect({
          socket: raw,
          host: options.hostname,
          servername: options.servername || options.hostname,
          ALPNProtocols: ['http/1.1'],
        });
        s.once('secureConnect', () => answer(null, s));
        s.once('error', (e) => answer(e, null));
      };
      if (isDirect(options.hostname)) {
        const raw = net.connect({ host: options.hostname, port: Number(port) });
        raw.once('error', (e) => answer(e, null));
        raw.once('connect', () => (isTls ? secure(raw) : answer(null, raw)));
        return;
      }
      const host =
        options.hostname.includes(':') && !options.hostname.startsWith('[')
          ? `[${options.hostname}]`
          : options.hostname;
      tunnel(`${host}:${port}`, (error, raw) => {
        if (error) answer(error, null);
        else if (!isTls) answer(null, raw);
        else secure(raw);
      });
    };
    globalThis[symbol] = new Agent({ connect });
  };

  let installed;
  globalThis.fetch = function fetch(...args) {
    installed ??= install().catch(() => {});
    return installed.then(() => original.apply(this, args));
  };
}
