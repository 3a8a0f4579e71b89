// The native relay: a bulk tunnel moves from Node to perimeter-relay (its own process) mid-stream without
// losing, reordering or duplicating a byte, in either direction, and its bytes are still audited;
// a relay that cannot start leaves the tunnel in Node.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
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

const SIZE = 3 * RELAY_AFTER_BYTES + 12345; // well past the hand-off, not a multiple of any buffer
const upload = randomBytes(SIZE);
const download = randomBytes(SIZE);
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

/** An egress proxy that allows the origin and hands bulk tunnels to `relay` (none: `false`); its audit in `records`. */
async function proxyWith(relay: string | false, records: AuditRecord[]): Promise<HttpServer> {
  const port = (origin.address() as AddressInfo).port;
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
    audit: (r) => records.push(r),
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
        socket.write(upload);
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

describe(
  'the native relay',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built (no C compiler)' },
  () => {
    it('carries a bulk tunnel both ways, byte for byte, and audits every byte', async () => {
      const records: AuditRecord[] = [];
      const proxy = await proxyWith(RELAY_PATH, records);
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
    const dir = mkdtempSync(join(tmpdir(), 'perimeter-relay-'));
    // There, but not executable: spawning it fails as a missing or busy binary would.
    const broken = join(dir, 'perimeter-relay');
    writeFileSync(broken, '#!/bin/sh\n', { mode: 0o644 });
    const proxy = await proxyWith(broken, records);
    try {
      await assertCarried(await transfer(proxy), records);
      const told = records.filter((r) => r.type === 'network.relay-unavailable');
      assert.equal(told.length, 1, 'the audit says the relay could not start');
      assert.equal(told[0]?.outcome?.relay, broken);
      assert.match(String(told[0]?.outcome?.reason), /could not start \(EACCES\); the tunnel stays in Node/);
    } finally {
      proxy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(
  'a relay binary being written',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built' },
  () => {
    it('leaves the tunnel in Node too (Node throws ETXTBSY from spawn instead of reporting it)', async () => {
      const records: AuditRecord[] = [];
      const dir = mkdtempSync(join(tmpdir(), 'perimeter-relay-'));
      const busy = join(dir, 'perimeter-relay');
      copyFileSync(RELAY_PATH, busy);
      const fd = openSync(busy, 'r+'); // open for writing: exec(2) refuses it
      const proxy = await proxyWith(busy, records);
      try {
        await assertCarried(await transfer(proxy), records);
        const told = records.find((r) => r.type === 'network.relay-unavailable');
        assert.match(String(told?.outcome?.reason), /could not start \(ETXTBSY\)/);
      } finally {
        proxy.close();
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

describe('a slow client', () => {
  it('gets the whole download when the upstream has closed while the proxy still holds the end of it', async () => {
    const records: AuditRecord[] = [];
    // In Node throughout (no relay). Each write to the client completes 2 ms late, as over a real
    // network, so the end of the download still waits in the proxy when the origin has closed.
    const proxy = await proxyWith(false, records);
    proxy.prependListener('connection', (socket: Socket) => {
      const stream = socket as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
      for (const method of ['_write', '_writev'] as const) {
        const write = stream[method].bind(socket);
        stream[method] = (...a: unknown[]) => setTimeout(() => write(...a), 2);
      }
    });
    try {
      await assertCarried(await transfer(proxy, 200), records);
    } finally {
      proxy.close();
    }
  });
});
