// Chaining to an upstream (corporate) proxy: proxy-chain, real software, plays the corporate
// proxy on loopback and demands credentials. Perimeter still decides every request itself, and the
// upstream only ever sees the vetted address of an allowed one.

import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Server as ProxyChainServer } from 'proxy-chain';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createEgressProxy } from '../src/proxy.js';
import { parseUpstreamProxy } from '../src/upstream.js';

let echo: Server;
let web: HttpServer;
let corp: ProxyChainServer;
let proxy: HttpServer;
let proxyPort = 0;
const seenByCorp: { hostname: string; port: number; isHttp: boolean; user: string }[] = [];
const seenByWeb: { host: string; url: string }[] = [];
const records: AuditRecord[] = [];

before(async () => {
  echo = createServer((s) => s.pipe(s));
  web = createHttpServer((req, res) => {
    seenByWeb.push({ host: req.headers.host ?? '', url: req.url ?? '' });
    res.end('hello from the origin');
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  corp = new ProxyChainServer({
    port: 0,
    host: '127.0.0.1',
    prepareRequestFunction: ({ hostname, port, isHttp, username, password }) => {
      seenByCorp.push({ hostname, port, isHttp, user: username });
      return { requestAuthentication: username !== 'corp' || password !== 's3cret' };
    },
  });
  await corp.listen();
  const echoPort = (echo.address() as AddressInfo).port;
  const webPort = (web.address() as AddressInfo).port;
  const text = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: upstream-test, layer: org }
network:
  allow:
    - { id: app, hosts: [app.example.test], ports: [${echoPort}, ${webPort}] }
    - { id: loopback-origin, cidrs: [127.0.0.1/32], ports: [${echoPort}, ${webPort}] }
`;
  const loaded = loadPolicies([{ file: 'upstream.yaml', text }]);
  assert.deepEqual(loaded.diagnostics, []);
  const parsed = parseUpstreamProxy(`http://corp:s3cret@127.0.0.1:${corp.port}`);
  assert.ok('upstream' in parsed);
  proxy = createEgressProxy({
    engine: createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/home/u' } },
    ),
    resolver: (name) => Promise.resolve(name === 'app.example.test' ? ['127.0.0.1'] : ['93.184.216.34']),
    upstream: parsed.upstream,
    audit: (r) => records.push(r),
    sessionId: 'upstream-test',
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});

after(async () => {
  proxy.close();
  echo.close();
  web.close();
  await corp.close(true);
});

function exchange(request: string, payload?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: proxyPort });
    let got = '';
    let isSent = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, 3000);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (payload !== undefined && !isSent && got.includes('\r\n\r\n')) {
        isSent = true;
        socket.write(payload);
      }
      if (payload !== undefined && got.endsWith(payload)) {
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
    socket.write(request);
  });
}

describe('chaining to an upstream proxy', () => {
  it('tunnels an allowed CONNECT through the upstream, to the vetted address, with the upstream credentials', async () => {
    seenByCorp.length = 0;
    const port = (echo.address() as AddressInfo).port;
    const reply = await exchange(
      `CONNECT app.example.test:${port} HTTP/1.1\r\n\r\n`,
      'ping through two proxies',
    );
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.ok(reply.endsWith('ping through two proxies'));
    assert.deepEqual(seenByCorp, [{ hostname: '127.0.0.1', port, isHttp: false, user: 'corp' }]);
  });

  it('forwards plain HTTP through the upstream as absolute-form, the name kept in Host', async () => {
    seenByCorp.length = 0;
    seenByWeb.length = 0;
    const port = (web.address() as AddressInfo).port;
    const reply = await exchange(
      `GET http://app.example.test:${port}/x?y=1 HTTP/1.1\r\nHost: app.example.test:${port}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /hello from the origin/);
    assert.deepEqual(
      seenByCorp.map((s) => [s.hostname, s.port, s.isHttp]),
      [['127.0.0.1', port, true]],
    );
    assert.deepEqual(seenByWeb, [{ host: `app.example.test:${port}`, url: '/x?y=1' }]);
  });

  it('never shows the upstream a request the policy refuses', async () => {
    seenByCorp.length = 0;
    const reply = await exchange('CONNECT evil.example.test:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 403/);
    assert.deepEqual(seenByCorp, []);
  });

  it('fails the tunnel, with the reason, when the upstream refuses', async () => {
    const parsed = parseUpstreamProxy(`http://corp:wrong@127.0.0.1:${corp.port}`);
    assert.ok('upstream' in parsed);
    const loaded = loadPolicies([
      {
        file: 'u2.yaml',
        text: `apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: u2, layer: org }\nnetwork:\n  allow:\n    - { id: o, cidrs: [127.0.0.1/32], ports: [${(echo.address() as AddressInfo).port}] }\n`,
      },
    ]);
    const local = createEgressProxy({
      engine: createEngine(
        loaded.policies.map((p) => p.policy),
        { context: { home: '/home/u' } },
      ),
      upstream: parsed.upstream,
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: (local.address() as AddressInfo).port });
        let got = '';
        socket.on('data', (c: Buffer) => (got += c.toString()));
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
        socket.write(`CONNECT 127.0.0.1:${(echo.address() as AddressInfo).port} HTTP/1.1\r\n\r\n`);
        setTimeout(() => socket.destroy(), 3000);
      });
      assert.match(reply, /^HTTP\/1\.1 502/);
      assert.match(reply, /upstream proxy refused CONNECT 127\.0\.0\.1:\d+: HTTP\/1\.1 407/);
    } finally {
      local.close();
    }
  });

  it('reads upstream URLs and refuses what it cannot use', () => {
    assert.deepEqual(parseUpstreamProxy('http://proxy.corp.example:3128'), {
      upstream: { host: 'proxy.corp.example', port: 3128 },
    });
    assert.match(JSON.stringify(parseUpstreamProxy('https://proxy:443')), /only http:\/\//);
    assert.match(JSON.stringify(parseUpstreamProxy('proxy:3128')), /only http:\/\/|not a URL/);
    assert.match(JSON.stringify(parseUpstreamProxy('http://proxy:3128/path')), /no path/);
  });
});
