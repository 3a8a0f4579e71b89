// perimeter-relay on its own: both directions at once byte for byte, a half-close passed on in
// each direction, an idle tunnel ended, and an upstream reset ending the relay with an error.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { RELAY_PATH, isRelayBuilt } from '../src/relay.js';
import { within } from './within.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A connected TCP pair on loopback that keeps half-closed connections open: [near, far]. */
async function pair(): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const near = connect({
    allowHalfOpen: true,
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
  });
  await new Promise<void>((r) => near.once('connect', r));
  const far = await accepted;
  server.close();
  return [near, far];
}

interface Relayed {
  /** The client's end of the tunnel. */
  readonly client: Socket;
  /** The upstream's end. */
  readonly upstream: Socket;
  /** The relay's exit code and what it reported ("BYTES_IN BYTES_OUT"). */
  readonly exit: Promise<{ code: number | null; report: string }>;
  readonly child: ChildProcess;
}

/** client ⇄ relay ⇄ upstream, the relay holding the middle two ends as fd 3 and fd 4. */
async function relayed(idleSeconds = 30): Promise<Relayed> {
  const [client, clientSide] = await pair();
  const [upstreamSide, upstream] = await pair();
  const child = spawn(RELAY_PATH, [String(idleSeconds)], {
    stdio: ['ignore', 'ignore', 'pipe', clientSide, upstreamSide],
  });
  let report = '';
  child.stderr?.on('data', (c: Buffer) => (report += c.toString('latin1')));
  const exit = new Promise<{ code: number | null; report: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, report: report.trim() })),
  );
  await new Promise<void>((r) => child.once('spawn', r));
  clientSide.destroy();
  upstreamSide.destroy();
  return { client, upstream, exit, child };
}

/** Everything a socket receives until its peer ends it. */
const received = (s: Socket): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });

describe(
  'perimeter-relay',
  { skip: isRelayBuilt() ? false : 'perimeter-relay is not built (no C compiler)' },
  () => {
    it('carries both directions at once, byte for byte, and reports the bytes', async () => {
      const r = await relayed();
      const up = randomBytes(24 * 1024 * 1024 + 777);
      const down = randomBytes(16 * 1024 * 1024 + 13);
      const atUpstream = received(r.upstream);
      const atClient = received(r.client);
      r.client.end(up);
      r.upstream.end(down);
      const [gotUp, gotDown] = await within(Promise.all([atUpstream, atClient]), 30_000, 'the transfer');
      assert.equal(sha(gotUp), sha(up), 'the upload arrived intact');
      assert.equal(sha(gotDown), sha(down), 'the download arrived intact');
      const { code, report } = await within(r.exit, 5000, 'the relay’s exit');
      assert.equal(code, 0);
      assert.equal(report, `${down.length} ${up.length}`);
      r.client.destroy();
      r.upstream.destroy();
    });

    it('passes a client’s half-close on and keeps carrying the answer', async () => {
      const r = await relayed();
      const atUpstream = received(r.upstream);
      r.client.end('request');
      assert.equal((await within(atUpstream, 5000, 'the upstream’s end')).toString(), 'request');
      const atClient = received(r.client);
      r.upstream.end('answer after the half-close');
      assert.equal(
        (await within(atClient, 5000, 'the client’s end')).toString(),
        'answer after the half-close',
      );
      assert.equal((await within(r.exit, 5000, 'the relay’s exit')).code, 0);
    });

    it('passes an upstream’s half-close on and keeps carrying the client’s bytes', async () => {
      const r = await relayed();
      const atClient = received(r.client);
      r.upstream.end('banner');
      assert.equal((await within(atClient, 5000, 'the client’s end')).toString(), 'banner');
      const atUpstream = received(r.upstream);
      r.client.end('still sending');
      assert.equal((await within(atUpstream, 5000, 'the upstream’s end')).toString(), 'still sending');
      assert.equal((await within(r.exit, 5000, 'the relay’s exit')).code, 0);
    });

    it('ends a tunnel idle for its idle time', async () => {
      const r = await relayed(1);
      r.client.on('error', () => {});
      r.upstream.on('error', () => {});
      const started = Date.now();
      await within(r.exit, 5000, 'the idle relay’s exit');
      assert.ok(Date.now() - started >= 900, 'it waited for the idle time');
      r.client.destroy();
      r.upstream.destroy();
    });

    it('stops with an error when the upstream resets, and lets the client go', async () => {
      const r = await relayed();
      r.client.on('error', () => {});
      const firstBytes = new Promise((res) => r.client.once('data', res));
      const atClient = received(r.client);
      r.upstream.write('some');
      await within(firstBytes, 5000, 'the first bytes');
      r.upstream.resetAndDestroy();
      const { code } = await within(r.exit, 5000, 'the relay’s exit after a reset');
      assert.equal(code, 1);
      assert.equal((await within(atClient, 5000, 'the client’s end')).toString(), 'some');
      r.client.destroy();
    });

    it('told to stop (SIGTERM, the session ended), still reports the bytes it carried', async () => {
      const r = await relayed();
      r.client.on('error', () => {});
      r.upstream.on('error', () => {});
      const arrived = new Promise((res) => r.upstream.once('data', res));
      r.client.write('twelve bytes');
      await within(arrived, 5000, 'the bytes upstream');
      r.child.kill('SIGTERM');
      const { code, report } = await within(r.exit, 5000, 'the relay’s exit');
      assert.equal(code, 0);
      assert.equal(report, '0 12');
      r.client.destroy();
      r.upstream.destroy();
    });

    it('reports the bytes when a peer has gone (no death by SIGPIPE)', async () => {
      const r = await relayed();
      r.upstream.on('error', () => {});
      r.client.on('error', () => {});
      // The relay waits on a client that reads nothing, its buffers full, when the client resets:
      // its next write then fails with EPIPE (a signal unless ignored), not the reset's ECONNRESET.
      r.client.pause();
      r.upstream.write(Buffer.alloc(32 * 1024 * 1024));
      await new Promise((resolve) => setTimeout(resolve, 300));
      r.client.resetAndDestroy();
      const { code, report } = await within(r.exit, 5000, 'the relay’s exit');
      assert.equal(code, 1);
      assert.match(report, /^\d+ 0$/);
      r.upstream.destroy();
    });

    it('refuses to start when fds 3 and 4 are not sockets (a proxy from another build), with status 3 and why', async () => {
      // As a proxy that passed the sockets as fds 0 and 1 would start it.
      const [client, clientSide] = await pair();
      const child = spawn(RELAY_PATH, ['30'], { stdio: [clientSide, clientSide, 'pipe', 'pipe', 'ignore'] });
      let said = '';
      child.stderr?.on('data', (c: Buffer) => (said += c.toString('latin1')));
      const code = await within(
        new Promise<number | null>((resolve) => child.once('close', resolve)),
        5000,
        'the relay’s exit',
      );
      assert.equal(code, 3);
      assert.equal(said, 'fd 3 and fd 4 are not sockets\n');
      client.destroy();
      clientSide.destroy();
    });
  },
);
