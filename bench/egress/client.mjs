// The client side, as an agent's HTTP client would drive a proxy: open a TCP connection to the
// proxy, send CONNECT, wait for the 200, then use the tunnel as a plain socket. `via` is the
// proxy's port, or undefined for a direct connection to the sink. Every operation has a deadline.

import { Buffer } from 'node:buffer';
import { connect } from 'node:net';
import { hrtime } from 'node:process';
import { header, pump } from './sink.mjs';

const HOST = '127.0.0.1';
const MAX_REPLY_BYTES = 8192;

/**
 * Opens a connection to the sink at sinkPort, through the proxy at `via` when given. Resolves to
 * { socket, ns } once it is usable (TCP connected, or CONNECT answered 200): ns is the time from
 * just before connect() to that moment. Rejects on a refusal, an error or the deadline.
 */
export function openConnection(via, sinkPort, deadlineMs) {
  return new Promise((resolve, reject) => {
    const t0 = hrtime.bigint();
    const socket = connect({ host: HOST, port: via ?? sinkPort, noDelay: true });
    const timer = setTimeout(() => fail(new Error(`no tunnel within ${deadlineMs} ms`)), deadlineMs);
    let settled = false;
    function fail(e) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    }
    function done() {
      const ns = hrtime.bigint() - t0;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', fail);
      socket.removeListener('close', onClose);
      socket.on('error', () => socket.destroy());
      resolve({ socket, ns: Number(ns) });
    }
    const onClose = () => fail(new Error('closed before the tunnel was established'));
    socket.once('error', fail);
    socket.once('close', onClose);
    if (via === undefined) {
      socket.once('connect', done);
      return;
    }
    socket.write(`CONNECT ${HOST}:${sinkPort} HTTP/1.1\r\nHost: ${HOST}:${sinkPort}\r\n\r\n`);
    let reply = Buffer.alloc(0);
    const onData = (chunk) => {
      reply = Buffer.concat([reply, chunk]);
      const end = reply.indexOf('\r\n\r\n');
      if (end < 0) {
        if (reply.length > MAX_REPLY_BYTES) fail(new Error('the proxy reply has no end'));
        return;
      }
      const status = reply.subarray(0, reply.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200\b/.test(status)) {
        fail(new Error(`the proxy refused the CONNECT: ${reply.subarray(0, end).toString('latin1')}`));
        return;
      }
      socket.removeListener('data', onData);
      // Anything after the reply head would be tunnel bytes; the sink sends none unasked.
      if (reply.length > end + 4) socket.unshift(reply.subarray(end + 4));
      done();
    };
    socket.on('data', onData);
  });
}

/** Runs `work(socket, finish, fail)` on an open connection with a deadline; resolves to elapsed ns. */
function timed(socket, deadlineMs, work) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`transfer not done within ${deadlineMs} ms`)), deadlineMs);
    function fail(e) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    }
    const onClose = () => fail(new Error('the connection closed during the transfer'));
    socket.once('close', onClose);
    socket.once('error', fail);
    const t0 = hrtime.bigint();
    work(() => {
      const ns = Number(hrtime.bigint() - t0);
      settled = true;
      clearTimeout(timer);
      socket.removeListener('close', onClose);
      socket.destroy();
      resolve(ns);
    }, fail);
  });
}

/** Pushes `bytes` to the sink over a fresh connection (tunnel set up untimed); resolves to ns. */
export async function upload(via, sinkPort, bytes, deadlineMs) {
  const { socket } = await openConnection(via, sinkPort, Math.min(deadlineMs, 5000));
  return timed(socket, deadlineMs, (finish, fail) => {
    // Timed from the first byte written to the sink's acknowledgement of the last.
    socket.on('data', (d) => (d.includes(0x4b) ? finish() : fail(new Error('unexpected reply'))));
    socket.write(header('U', bytes));
    pump(socket, bytes, () => {});
  });
}

/** Pulls `bytes` from the sink over a fresh connection (tunnel set up untimed); resolves to ns. */
export async function download(via, sinkPort, bytes, deadlineMs) {
  const { socket } = await openConnection(via, sinkPort, Math.min(deadlineMs, 5000));
  return timed(socket, deadlineMs, (finish) => {
    let got = 0;
    socket.on('data', (d) => {
      got += d.length;
      if (got >= bytes) finish();
    });
    socket.write(header('D', bytes));
  });
}

/**
 * One sample of connect latency: { tunnelNs } until the tunnel (or the direct connection) is
 * usable, and { exchangeNs } until a first 9-byte message has gone to the sink and its one-byte
 * answer come back through it. Then the client closes, as a client does after a short exchange.
 * (Every proxy's tunnel thus carries bytes before it closes; see closeUnused for the other case.)
 */
export async function connectLatency(via, sinkPort, deadlineMs) {
  const t0 = hrtime.bigint();
  const { socket, ns } = await openConnection(via, sinkPort, deadlineMs);
  await timed(socket, deadlineMs, (finish, fail) => {
    socket.on('data', (d) => (d.includes(0x4b) ? finish() : fail(new Error('unexpected reply'))));
    socket.write(header('U', 0));
  });
  return { tunnelNs: ns, exchangeNs: Number(hrtime.bigint() - t0) };
}

/**
 * Opens a tunnel and half-closes it without sending a byte (a client that gives up at once).
 * Resolves to the socket, which the caller destroys when done.
 */
export async function closeUnused(via, sinkPort, deadlineMs) {
  const { socket } = await openConnection(via, sinkPort, deadlineMs);
  socket.end();
  return socket;
}
