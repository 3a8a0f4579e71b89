// HTTP for the benchmark. Admin calls and audit uploads go through node:http, as the CLI makes
// them (packages/cli/src/device/control-plane.ts: the whole answer read as text, one deadline for
// the exchange), over a kept-alive agent. Simulated devices speak HTTP/1.1 by hand instead
// (DeviceConnection): the same requests on the wire, at a fraction of node:http's CPU, which here
// runs on the server's own two cores for 10,000 devices at once (a real device pays for its
// client on its own machine).

import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';

/** Connections kept alive, as many as the caller asks for at once. */
export function keepAliveAgent() {
  return new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
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

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One simulated device's connection to the server: HTTP/1.1 on one kept-alive socket, one exchange
 * at a time (the device's poll, then its report, then its next poll reuse it), opened again when
 * the server closes it. Requests carry Host and Content-Length; answers are read by their
 * Content-Length (none for 204 and 304), or to the end of the connection when they have none (the
 * 408 and 400 node:http itself sends). A chunked answer is refused: no device route sends one.
 */
export class DeviceConnection {
  #url;
  #host;
  #socket;
  #pending;
  #chunks = [];
  #size = 0;

  constructor(url) {
    this.#url = new URL(url);
    this.#host = this.#url.host;
  }

  /**
   * Resolves with { status, headers, text }; rejects on a network error or at the deadline.
   * `onSent` is called once the request is written out.
   */
  request({ method = 'GET', path, headers = {}, body, timeoutMs, onSent }) {
    if (this.#pending) return Promise.reject(new Error('one exchange at a time'));
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    if (payload !== undefined)
      head += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n`;
    const socket = this.#socket ?? this.#connect();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.#pending = { resolve, reject, timer, head: undefined, length: 0, untilClose: false };
      socket.write(`${head}\r\n${payload ?? ''}`, () => onSent?.());
    });
  }

  /** Closes the connection; an exchange under way fails. */
  destroy() {
    this.#fail(new Error('the device stopped'));
  }

  #connect() {
    const socket = net.connect({ host: this.#url.hostname, port: Number(this.#url.port) });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#read(socket, chunk));
    socket.on('error', (e) => this.#dropped(socket, e));
    socket.on('close', () => this.#dropped(socket, new Error('the server closed the connection')));
    this.#socket = socket;
    this.#chunks = [];
    this.#size = 0;
    return socket;
  }

  #read(socket, chunk) {
    const p = this.#pending;
    if (!p || socket !== this.#socket) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (p.head === undefined) {
      const data = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#size);
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        this.#chunks = [data];
        return;
      }
      p.head = parseHead(data.toString('latin1', 0, end));
      if (p.head.headers['transfer-encoding'] !== undefined)
        return this.#fail(new Error(`a chunked answer (${p.head.status}) to a device`));
      const length = p.head.headers['content-length'];
      p.untilClose = length === undefined && p.head.status !== 204 && p.head.status !== 304;
      p.length = Number(length ?? 0);
      const rest = data.subarray(end + HEAD_END.length);
      this.#chunks = [rest];
      this.#size = rest.length;
    }
    if (p.untilClose || this.#size < p.length) return;
    const body = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#size);
    this.#done(body.toString('utf8', 0, p.length), /\bclose\b/i.test(p.head.headers.connection ?? ''));
  }

  #done(text, isClosing) {
    const p = this.#pending;
    this.#pending = undefined;
    clearTimeout(p.timer);
    this.#chunks = [];
    this.#size = 0;
    if (isClosing) this.#close();
    p.resolve({ status: p.head.status, headers: p.head.headers, text });
  }

  #dropped(socket, error) {
    if (socket !== this.#socket) return;
    const p = this.#pending;
    // An answer read to the end of the connection ends here.
    if (p?.untilClose) return this.#done(Buffer.concat(this.#chunks, this.#size).toString('utf8'), true);
    this.#fail(error);
  }

  #fail(error) {
    const p = this.#pending;
    this.#pending = undefined;
    this.#close();
    if (!p) return;
    clearTimeout(p.timer);
    p.reject(error);
  }

  #close() {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.destroy();
  }
}

/** A status line and header lines → { status, headers } (names lower-cased; a repeated one keeps its last). */
function parseHead(text) {
  const lines = text.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
  if (!Number.isInteger(status)) throw new Error(`not an HTTP answer: ${(lines[0] ?? '').slice(0, 80)}`);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers };
}
