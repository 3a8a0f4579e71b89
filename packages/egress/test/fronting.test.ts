// egress-proto-02: a CONNECT to an allowed name whose TLS then names another host is cut before
// a byte reaches upstream. The ClientHello comes from Node's own TLS client over the tunnel.

import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { readClientHello } from '../src/client-hello.js';
import { createEgressProxy } from '../src/proxy.js';
import { createSocksProxy } from '../src/socks.js';

const PUB1 = '93.184.216.34';
let upstream: Server;
let upstreamBytes = 0;
let proxyPort = 0;
let proxy: ReturnType<typeof createEgressProxy>;
const records: AuditRecord[] = [];

before(async () => {
  upstream = createServer((s) => s.on('data', (c: Buffer) => (upstreamBytes += c.length)));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const loaded = loadPolicies([
    {
      file: 'p.yaml',
      text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: p, layer: org }\nnetwork:\n  allow:\n    - { id: api, hosts: [api.example.com], ports: [443] }\n',
    },
  ]);
  proxy = createEgressProxy({
    engine: createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    ),
    resolver: () => Promise.resolve([PUB1]),
    dial: () => connect({ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }),
    audit: (r) => records.push(r),
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});

after(() => {
  proxy.close();
  upstream.close();
});

/** Opens a CONNECT tunnel, then starts TLS through it naming `servername`; resolves when the tunnel closes or after a pause. */
function helloThrough(servername: string): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: proxyPort });
    socket.write('CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    socket.once('data', (reply) => {
      assert.match(reply.toString(), /^HTTP\/1\.1 200/);
      const tls = tlsConnect({ socket, servername, rejectUnauthorized: false });
      tls.on('error', () => undefined);
      const done = (): void => {
        tls.destroy();
        resolve();
      };
      socket.once('close', done);
      setTimeout(done, 1000);
    });
  });
}

describe('TLS server name inside a CONNECT tunnel', () => {
  it('egress-proto-02: cuts a tunnel whose TLS names another host, before any byte reaches upstream', async () => {
    upstreamBytes = 0;
    records.length = 0;
    await helloThrough('evil.test');
    assert.equal(upstreamBytes, 0);
    assert.ok(records.some((r) => r.type === 'network.fronting-refused'));
  });

  it('passes a tunnel whose TLS names the CONNECT host (case and trailing dot aside)', async () => {
    upstreamBytes = 0;
    await helloThrough('API.example.com');
    assert.ok(upstreamBytes > 0, 'the ClientHello reached upstream');
  });
});

describe('TLS server name inside a SOCKS5 tunnel', () => {
  it('egress-proto-02: cuts a SOCKS5 tunnel whose TLS names another host, as CONNECT does', async () => {
    const loaded = loadPolicies([
      {
        file: 'p.yaml',
        text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: p, layer: org }\nnetwork:\n  allow:\n    - { id: api, hosts: [api.example.com], ports: [443] }\n',
      },
    ]);
    const socks = createSocksProxy({
      engine: createEngine(
        loaded.policies.map((p) => p.policy),
        { context: { home: '/h', workspace: '/w' } },
      ),
      resolver: () => Promise.resolve([PUB1]),
      dial: () => connect({ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }),
    });
    await new Promise<void>((r) => socks.listen(0, '127.0.0.1', r));
    upstreamBytes = 0;
    await new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: (socks.address() as AddressInfo).port });
      const name = Buffer.from('api.example.com');
      socket.write(Buffer.from([0x05, 0x01, 0x00]));
      socket.write(
        Buffer.concat([Buffer.from([0x05, 0x01, 0x00, 0x03, name.length]), name, Buffer.from([0x01, 0xbb])]),
      );
      let got = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 12) return;
        socket.removeListener('data', onData);
        assert.equal(got[3], 0x00, 'the SOCKS CONNECT succeeded');
        const tls = tlsConnect({ socket, servername: 'evil.test', rejectUnauthorized: false });
        tls.on('error', () => undefined);
        const done = (): void => {
          tls.destroy();
          resolve();
        };
        socket.once('close', done);
        setTimeout(done, 1000);
      };
      socket.on('data', onData);
    });
    socks.close();
    assert.equal(upstreamBytes, 0);
  });
});

describe('reading a ClientHello', () => {
  it('asks for more bytes until the record is complete', () => {
    assert.deepEqual(readClientHello(Uint8Array.from([0x16, 0x03, 0x01, 0x00])), { kind: 'incomplete' });
  });

  it('says when the bytes are not TLS at all', () => {
    assert.deepEqual(readClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not-tls' });
  });

  it('calls a record that is not a ClientHello malformed', () => {
    assert.deepEqual(
      readClientHello(Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])),
      { kind: 'malformed' },
    );
  });
});
