// The native relay: a bulk tunnel moves from Node to perimeter-relay (its own process) mid-stream without
// losing, reordering or duplicating a byte, in either direction, and its bytes are still audited;
// a relay that cannot start leaves the tunnel in Node.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createEgressProxy } from '../src/proxy.js';
import { RELAY_PATH, isRelayBuilt } from '../src/relay.js';
import { RELAY_AFTER_BYTES } from '../src/tunnel.js';
import { within } from './within.js';

const SIZE = 3 * RELAY_AFTER_BYTES + 12345; // well past the hand-off, not a multiple of any buffer
const upload = randomBytes(SIZE);
const download = randomBytes(SIZE);
const { O_NONBLOCK } = constants;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let origin: Server;
const received: Buffer[] = [];

before(async () => {
  // The origin reads the whole upload, then answers with the download and closes.
  origin = createServer((s) => {
    const chunks: Buffer[] = [];
    let got = 0;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got === SIZE) {
        received.push(Buffer.concat(chunks));
        s.end(download);
      }
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
});

after(() => origin.close());

/**
 * An egress proxy that allows the origin (or the server on `port`) and hands bulk tunnels to
 * `relay` (none: `false`); its audit to `audit`.
 */
async function proxyWith(
  relay: string | false,
  audit: (r: AuditRecord) => void,
  port = (origin.address() as AddressInfo).port,
): Promise<HttpServer> {
  const loaded = loadPolicies([
    {
      file: 'relay.yaml',
      text: `apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: relay, layer: org }\nnetwork:\n  allow:\n    - { id: origin, cidrs: [127.0.0.1/32], ports: [${port}] }\n`,
    },
  ]);
  const proxy = createEgressProxy({
    engine: createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/home/u' } },
    ),
    relay,
    audit,
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return proxy;
}

/**
 * Uploads through `proxy` to the origin and reads its download: what the client received. A slow
 * client stops reading for `pauseMs` once it has an eighth of the download, so the rest waits in the proxy.
 */
function transfer(proxy: HttpServer, pauseMs = 0): Promise<Buffer> {
  const port = (origin.address() as AddressInfo).port;
  return new Promise<Buffer>((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: (proxy.address() as AddressInfo).port });
    const chunks: Buffer[] = [];
    let head = '';
    let isOpen = false;
    let isPaused = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the transfer did not finish'));
    }, 20_000);
    socket.on('data', (c: Buffer) => {
      if (!isOpen) {
        head += c.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        isOpen = true;
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length > 0) chunks.push(rest);
        socket.end(upload);
        return;
      }
      chunks.push(c);
      if (pauseMs > 0 && !isPaused && chunks.reduce((n, b) => n + b.length, 0) >= SIZE / 8) {
        isPaused = true;
        socket.pause();
        setTimeout(() => socket.resume(), pauseMs);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', reject);
    socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
  });
}

/** The transfer arrived whole both ways, and the tunnel's close audited every byte. */
async function assertCarried(got: Buffer, records: AuditRecord[]): Promise<void> {
  assert.equal(got.length, SIZE);
  assert.equal(sha(got), sha(download), 'the download arrived intact');
  assert.equal(sha(received.at(-1) ?? Buffer.alloc(0)), sha(upload), 'the upload arrived intact');
  await new Promise((r) => setTimeout(r, 100));
  const closed = records.find((r) => r.type === 'network.closed');
  assert.ok(closed, 'the tunnel’s close is audited');
  assert.equal(closed.outcome?.bytes_out, SIZE);
  assert.equal(closed.outcome?.bytes_in, SIZE);
}

/**
 * `records`' audit, where a relay that could not start also notes whether the sockets the tunnel
 * carries on in Node still do not block (read from /proc when the relay's failure is audited).
 */
function auditWithFlags(records: AuditRecord[]): (r: AuditRecord) => void {
  return (r) => {
    if (r.type === 'network.relay-unavailable')
      for (const fd of readdirSync('/proc/self/fd')) {
        if (Number(fd) <= 2) continue; // this process's own stdio, not the proxy's
        let info: string;
        try {
          if (!readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) continue;
          info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
        } catch {
          continue; // closed meanwhile
        }
        const flags = Number.parseInt(/flags:\s+([0-7]+)/.exec(info)?.[1] ?? '0', 8);
        if ((flags & O_NONBLOCK) === 0) blocking.push(Number(fd));
      }
    records.push(r);
  };
}
/** The socket fds found blocking when a relay's failure was audited. */
const blocking: number[] = [];

/**
 * redteam: the failed relay left none of this process's sockets blocking. libuv makes a child's
 * fds 0-2 blocking, and the flag belongs to the socket, shared with the proxy: a proxy carrying
 * the tunnel on with blocking sockets stops its event loop on a write to a slow peer (a hang).
 */
function assertStillNonBlocking(records: AuditRecord[]): void {
  assert.ok(records.some((r) => r.type === 'network.relay-unavailable'));
  assert.deepEqual(blocking.splice(0), [], 'no socket of the proxy was left blocking');
}

/**
 * A stand-in for perimeter-relay, at that name in a directory of its own, made by `make`;
 * `remove` deletes the directory.
 */
function standIn(make: (path: string) => void): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-relay-'));
  const path = join(dir, 'perimeter-relay');
  make(path);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every write `proxy` makes to a client goes through `defer`, which runs it when it likes. */
function deferWrites(proxy: HttpServer, defer: (write: () => void) => void): void {
  proxy.prependListener('connection', (socket: Socket) => {
    const stream = socket as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
    for (const method of ['_write', '_writev'] as const) {
      const write = stream[method].bind(socket);
      stream[method] = (...a: unknown[]) => defer(() => write(...a));
    }
  });
}

describe(
  'the native relay',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built (no C compiler)' },
  () => {
    it('carries a bulk tunnel both ways, byte for byte, and audits every byte', async () => {
      const records: AuditRecord[] = [];
      const proxy = await proxyWith(RELAY_PATH, (r) => records.push(r));
      try {
        await assertCarried(await transfer(proxy), records);
      } finally {
        proxy.close();
      }
    });
  },
);

describe('a relay that cannot start', () => {
  it('leaves the tunnel in Node, which carries it to the end: the client is never cut off', async () => {
    const records: AuditRecord[] = [];
    // There, but not executable: spawning it fails as a missing or busy binary would.
    const broken = standIn((path) => writeFileSync(path, '#!/bin/sh\n', { mode: 0o644 }));
    const proxy = await proxyWith(broken.path, auditWithFlags(records));
    try {
      await assertCarried(await transfer(proxy), records);
      assertStillNonBlocking(records);
      const told = records.filter((r) => r.type === 'network.relay-unavailable');
      assert.equal(told.length, 1, 'the audit says the relay could not start');
      assert.equal(told[0]?.outcome?.relay, broken.path);
      assert.match(String(told[0]?.outcome?.reason), /could not start \(EACCES\); the tunnel stays in Node/);
    } finally {
      proxy.close();
      broken.remove();
    }
  });
});

describe(
  'a relay binary being written',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built' },
  () => {
    it('leaves the tunnel in Node too (Node throws ETXTBSY from spawn instead of reporting it)', async () => {
      const records: AuditRecord[] = [];
      const busy = standIn((path) => copyFileSync(RELAY_PATH, path));
      const fd = openSync(busy.path, 'r+'); // open for writing: exec(2) refuses it
      const proxy = await proxyWith(busy.path, auditWithFlags(records));
      try {
        await assertCarried(await transfer(proxy), records);
        assertStillNonBlocking(records);
        const told = records.find((r) => r.type === 'network.relay-unavailable');
        assert.match(String(told?.outcome?.reason), /could not start \(ETXTBSY\)/);
      } finally {
        proxy.close();
        closeSync(fd);
        busy.remove();
      }
    });
  },
);

describe('a slow client', () => {
  it('gets the whole download when the upstream has closed while the proxy still holds the end of it', async () => {
    const records: AuditRecord[] = [];
    // In Node throughout (no relay). Each write to the client completes 2 ms late, as over a real
    // network, so the end of the download still waits in the proxy when the origin has closed.
    const proxy = await proxyWith(false, (r) => records.push(r));
    deferWrites(proxy, (write) => setTimeout(write, 2));
    try {
      await assertCarried(await transfer(proxy, 200), records);
    } finally {
      proxy.close();
    }
  });
});

describe(
  'a client that does not read while it uploads',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built' },
  () => {
    it('still gets its whole upload through during the hand-off: a direction waits only for its own peer', async () => {
      // The origin sends its download at once while it reads the upload. The client reads none of
      // it until the origin has the whole upload: the proxy's writes to the client do not complete
      // (held, as a peer that does not read holds them once the network's buffers are full). The
      // hand-off used to pass both directions on in shared rounds, so the download waiting on the
      // client held the upload back too, until the tunnel's idle time (five minutes).
      let uploaded: (b: Buffer) => void = () => undefined;
      const gotUpload = new Promise<Buffer>((r) => (uploaded = r));
      const duplex = createServer((s) => {
        const chunks: Buffer[] = [];
        let got = 0;
        s.write(download);
        s.on('data', (c: Buffer) => {
          chunks.push(c);
          got += c.length;
          if (got === SIZE) {
            uploaded(Buffer.concat(chunks));
            s.end();
          }
        });
      });
      await new Promise<void>((r) => duplex.listen(0, '127.0.0.1', r));
      const records: AuditRecord[] = [];
      const proxy = await proxyWith(
        RELAY_PATH,
        (r) => records.push(r),
        (duplex.address() as AddressInfo).port,
      );
      let held: (() => void)[] | undefined;
      deferWrites(proxy, (write) => (held ? held.push(write) : write()));
      const socket = connect({ host: '127.0.0.1', port: (proxy.address() as AddressInfo).port });
      try {
        const chunks: Buffer[] = [];
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        socket.on('error', () => undefined);
        socket.on('data', (c: Buffer) => chunks.push(c));
        await new Promise<void>((resolve) => {
          socket.once('data', () => {
            held = [];
            resolve();
          });
          socket.write(`CONNECT 127.0.0.1:${(duplex.address() as AddressInfo).port} HTTP/1.1\r\n\r\n`);
        });
        socket.write(upload);
        // 12 MB over loopback, while the client reads nothing.
        const arrived = await within(gotUpload, 15_000, 'the whole upload reaching the origin');
        assert.equal(sha(arrived), sha(upload), 'the upload arrived intact');
        const release = held ?? [];
        held = undefined;
        for (const write of release) write();
        await closed;
        const got = Buffer.concat(chunks);
        const head = got.indexOf('\r\n\r\n') + 4;
        assert.equal(got.length - head, SIZE);
        assert.equal(sha(got.subarray(head)), sha(download), 'the download arrived intact');
        await new Promise((r) => setTimeout(r, 100));
        const done = records.find((r) => r.type === 'network.closed');
        assert.equal(done?.outcome?.bytes_out, SIZE);
        assert.equal(done?.outcome?.bytes_in, SIZE);
      } finally {
        socket.destroy();
        proxy.close();
        duplex.close();
      }
    });
  },
);

describe('a tunnel the origin half-closes first', () => {
  for (const relay of [false as const, ...(isRelayBuilt() ? [RELAY_PATH] : [])])
    it(`still carries the client’s upload to the origin after the origin’s end (${relay === false ? 'in Node' : 'handed to the relay'})`, async () => {
      // The origin says hello and ends its side at once, then reads what the client sends until
      // the client ends. The upload (6 MB) passes the hand-off to the relay where there is one.
      const sent = randomBytes(6 * 1024 * 1024 + 5);
      let uploaded: (b: Buffer) => void = () => undefined;
      const gotUpload = new Promise<Buffer>((r) => (uploaded = r));
      const ender = createServer((s) => {
        const chunks: Buffer[] = [];
        s.end('hello');
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => uploaded(Buffer.concat(chunks)));
        s.on('error', () => uploaded(Buffer.concat(chunks)));
      });
      await new Promise<void>((r) => ender.listen(0, '127.0.0.1', r));
      const records: AuditRecord[] = [];
      const port = (ender.address() as AddressInfo).port;
      const proxy = await proxyWith(relay, (r) => records.push(r), port);
      // Half-open itself: the client goes on sending after the origin's end reached it.
      const socket = connect({
        host: '127.0.0.1',
        port: (proxy.address() as AddressInfo).port,
        allowHalfOpen: true,
      });
      socket.on('error', () => undefined);
      try {
        let got = '';
        socket.setEncoding('latin1');
        socket.on('data', (c: string) => (got += c));
        await new Promise<void>((resolve) => {
          socket.once('end', resolve);
          socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
        });
        assert.match(got, /^HTTP\/1\.1 200[^]*\r\n\r\nhello$/, 'the origin’s end reached the client');
        socket.end(sent);
        const arrived = await within(gotUpload, 15_000, 'the origin seeing the client’s end');
        assert.equal(arrived.length, sent.length);
        assert.equal(sha(arrived), sha(sent), 'the upload arrived intact');
        await new Promise((r) => setTimeout(r, 100));
        const closed = records.find((r) => r.type === 'network.closed');
        assert.equal(closed?.outcome?.bytes_out, sent.length);
        assert.equal(closed?.outcome?.bytes_in, 5);
      } finally {
        socket.destroy();
        proxy.close();
        ender.close();
      }
    });
});
