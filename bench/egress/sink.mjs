// The far end of every measured connection: a loopback TCP server that stands in for a remote
// origin. A connection opens with a 9-byte header, one mode byte and a 64-bit length:
//   'U' n  the client uploads n bytes; the sink counts them and answers one byte 'K' at the end;
//   'D' n  the sink sends n bytes (the client counts them).
// A connection that closes before its header (the latency test) costs nothing more. It runs in
// the driver's process, so its CPU cost is the same whether a proxy sits in between or not.

import { Buffer } from 'node:buffer';
import { createServer } from 'node:net';

export const HEADER_BYTES = 9;
export const CHUNK_BYTES = 64 * 1024;

/** One reusable chunk of payload (the bytes never change, so writing it repeatedly is safe). */
export const CHUNK = Buffer.alloc(CHUNK_BYTES, 0x61);

export function header(mode, bytes) {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(mode, 0, 'latin1');
  h.writeBigUInt64BE(BigInt(bytes), 1);
  return h;
}

/** Writes `bytes` bytes of CHUNK to `socket`, honouring back-pressure; calls done() when all are queued. */
export function pump(socket, bytes, done) {
  let left = bytes;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK_BYTES);
      left -= n;
      const ok = socket.write(n === CHUNK_BYTES ? CHUNK : CHUNK.subarray(0, n));
      if (!ok) {
        socket.once('drain', more);
        return;
      }
    }
    done();
  };
  more();
}

function serve(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let head = Buffer.alloc(0);
  const onHeader = (chunk) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    if (head.length < HEADER_BYTES) return;
    socket.removeListener('data', onHeader);
    const mode = String.fromCharCode(head[0]);
    const bytes = Number(head.readBigUInt64BE(1));
    const rest = head.length - HEADER_BYTES;
    if (mode === 'U') {
      let got = rest;
      const finish = () => {
        socket.removeListener('data', count);
        socket.write('K');
      };
      const count = (data) => {
        got += data.length;
        if (got >= bytes) finish();
      };
      if (got >= bytes) finish();
      else socket.on('data', count);
    } else if (mode === 'D') {
      pump(socket, bytes, () => {});
    } else {
      socket.destroy();
    }
  };
  socket.on('data', onHeader);
}

/** Starts the sink on 127.0.0.1 (a free port); resolves to { port, close }. */
export function startSink() {
  const sockets = new Set();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket);
  });
  const close = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () =>
      resolve({ port: server.address().port, close }),
    );
  });
}
