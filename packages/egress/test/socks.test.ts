// SOCKS5 over real sockets on loopback, with the same stub resolver and dialer as the HTTP tests.

import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createSocksProxy } from '../src/socks.js';

const PUB1 = '93.184.216.34';
const POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: p0, layer: org }
network:
  allow:
    - { id: api, hosts: ["api.example.com"], ports: [443] }
`;

let upstream: Server;
const dialled: string[] = [];
const queries: string[] = [];

function engine() {
  const loaded = loadPolicies([{ file: 'p0.yaml', text: POLICY }]);
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: '/h', workspace: '/w' } },
  );
}

async function start(
  token?: string,
  to: () => Server = () => upstream,
): Promise<{ port: number; close: () => void }> {
  const socks = createSocksProxy({
    engine: engine(),
    ...(token !== undefined ? { token } : {}),
    resolver: (name) => {
      queries.push(name);
      return Promise.resolve(name === 'api.example.com' ? [PUB1] : []);
    },
    dial: (address, port) => {
      dialled.push(`${address}:${port}`);
      return connect({ host: '127.0.0.1', port: (to().address() as AddressInfo).port });
    },
  });
  await new Promise<void>((r) => socks.listen(0, '127.0.0.1', r));
  return { port: (socks.address() as AddressInfo).port, close: () => socks.close() };
}

/** Writes the handshake bytes one message at a time and returns everything the proxy sends back. */
function talk(port: number, messages: readonly Buffer[], untilBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, 3000);
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= untilBytes) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    for (const m of messages) socket.write(m);
  });
}

const greet = Buffer.from([0x05, 0x01, 0x00]);
const domain = (name: string, port: number, command = 0x01): Buffer =>
  Buffer.concat([
    Buffer.from([0x05, command, 0x00, 0x03, Buffer.byteLength(name, 'latin1')]),
    Buffer.from(name, 'latin1'),
    Buffer.from([port >> 8, port & 255]),
  ]);
const ipv4 = (bytes: readonly number[], port: number): Buffer =>
  Buffer.from([0x05, 0x01, 0x00, 0x01, ...bytes, port >> 8, port & 255]);

before(async () => {
  upstream = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});
after(() => upstream.close());

describe('SOCKS5', () => {
  it('connects an allowed name to its vetted address and relays data', async () => {
    const proxy = await start();
    dialled.length = 0;
    const got = await talk(
      proxy.port,
      [greet, domain('api.example.com', 443), Buffer.from('ping')],
      2 + 10 + 4,
    );
    proxy.close();
    assert.deepEqual([...got.subarray(0, 2)], [0x05, 0x00]);
    assert.equal(got[3], 0x00, 'reply succeeded');
    assert.equal(got.subarray(12).toString(), 'ping');
    assert.deepEqual(dialled, [`${PUB1}:443`]);
  });

  it('carries a half-close each way: the client’s end reaches the upstream, whose answer still reaches the client', async () => {
    // The upstream reads until the client has ended, then answers with how much it got.
    const counter = createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', () => s.end(`got ${n}`));
    });
    await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
    const proxy = await start(undefined, () => counter);
    try {
      const socket = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
      const got = await new Promise<Buffer>((resolve, reject) => {
        let all = Buffer.alloc(0);
        socket.on('data', (c: Buffer) => {
          all = Buffer.concat([all, c]);
          if (all.length === 12) socket.end(Buffer.alloc(100_000, 1)); // after the reply: the tunnel is open
        });
        socket.on('end', () => resolve(all));
        socket.on('error', reject);
        socket.write(Buffer.concat([greet, domain('api.example.com', 443)]));
      });
      socket.destroy();
      assert.equal(got[3], 0x00, 'reply succeeded');
      assert.equal(got.subarray(12).toString(), 'got 100000');
    } finally {
      proxy.close();
      counter.close();
    }
  });

  it('egress-proto-10: refuses a domain with a NUL inside (ruleset reply), without a lookup', async () => {
    const proxy = await start();
    queries.length = 0;
    const got = await talk(proxy.port, [greet, domain('evil.test\0.api.example.com', 443)], 12);
    proxy.close();
    assert.equal(got[3], 0x02);
    assert.deepEqual(queries, []);
  });

  it('egress-proto-10: refuses IPv4 127.0.0.1 and IPv6 ::ffff:127.0.0.1', async () => {
    const proxy = await start();
    const v4 = await talk(proxy.port, [greet, ipv4([127, 0, 0, 1], 443)], 12);
    const v6 = await talk(
      proxy.port,
      [
        greet,
        Buffer.from([
          0x05,
          0x01,
          0x00,
          0x04,
          ...new Array<number>(10).fill(0),
          0xff,
          0xff,
          127,
          0,
          0,
          1,
          0x01,
          0xbb,
        ]),
      ],
      12,
    );
    proxy.close();
    assert.equal(v4[3], 0x02);
    assert.equal(v6[3], 0x02);
  });

  it('egress-proto-10: refuses BIND and UDP ASSOCIATE as unsupported commands', async () => {
    const proxy = await start();
    const bind = await talk(proxy.port, [greet, domain('api.example.com', 443, 0x02)], 12);
    const udp = await talk(proxy.port, [greet, domain('api.example.com', 443, 0x03)], 12);
    proxy.close();
    assert.equal(bind[3], 0x07);
    assert.equal(udp[3], 0x07);
  });

  it('egress-proto-10: drops SOCKS4', async () => {
    const proxy = await start();
    const got = await talk(proxy.port, [Buffer.from([0x04, 0x01, 0x01, 0xbb, 127, 0, 0, 1, 0x00])], 1);
    proxy.close();
    assert.equal(got.length, 0);
  });

  it('egress-proto-11: requires the session token as the password when one is set', async () => {
    const proxy = await start('t0ken');
    const noAuth = await talk(proxy.port, [greet], 2);
    const auth = (password: string): Buffer =>
      Buffer.concat([
        Buffer.from([0x01, 1]),
        Buffer.from('u'),
        Buffer.from([password.length]),
        Buffer.from(password),
      ]);
    const wrong = await talk(proxy.port, [Buffer.from([0x05, 0x01, 0x02]), auth('nope')], 4);
    const right = await talk(
      proxy.port,
      [Buffer.from([0x05, 0x01, 0x02]), auth('t0ken'), domain('api.example.com', 443)],
      4 + 10,
    );
    proxy.close();
    assert.deepEqual([...noAuth], [0x05, 0xff]);
    assert.deepEqual([...wrong], [0x05, 0x02, 0x01, 0x01]);
    assert.deepEqual([...right.subarray(0, 4)], [0x05, 0x02, 0x01, 0x00]);
    assert.equal(right[5], 0x00, 'the CONNECT succeeded');
  });
});
