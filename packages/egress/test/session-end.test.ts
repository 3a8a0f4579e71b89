// What a connection records lands before the session's end. The session aborts its signal, then
// waits (connectionsClosed) for the connections the proxy counts, then writes session.end: a
// record after that is lost. Each case leaves one connection in a different state as the session
// ends (a decision still being made, a tunnel open, an answer still streaming, an inspected
// connection open) and checks that its records are all in before connectionsClosed resolves, and
// that none come after.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, it } from 'node:test';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createSessionCa } from '../src/ca.js';
import { createCredentialGuard } from '../src/credentials.js';
import { connectionsClosed, createEgressProxy, type EgressOptions } from '../src/proxy.js';
import { isRelayBuilt } from '../src/relay.js';
import { createSocksProxy } from '../src/socks.js';
import { RELAY_AFTER_BYTES } from '../src/tunnel.js';

const PUB = '93.184.216.34';
const POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: p, layer: org }
network:
  allow:
    - { id: api, hosts: [api.example.com], ports: [443, 80] }
    - { id: paths, hosts: [paths.example.com], paths: ["/v1/**"], ports: [443] }
`;

const engine = createEngine(
  loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
  { context: { home: '/h', workspace: '/w' } },
);
const sessionCa = createSessionCa();

interface Session {
  readonly records: AuditRecord[];
  readonly connections: { open: number };
  readonly port: number;
  /** Resolves the lookups held so far (a decision still being made until then). */
  readonly answerLookups: () => void;
  /** Ends the session as run.ts does: abort, then wait for the connections counted. */
  readonly end: () => Promise<readonly AuditRecord[]>;
}

/** A proxy (HTTP or SOCKS5) whose lookups wait when `holdLookups`, dialling `target`. */
async function session(
  front: 'http' | 'socks',
  target: Server | HttpServer,
  holdLookups = false,
  dialDelayMs = 0,
): Promise<Session> {
  const records: AuditRecord[] = [];
  const connections = { open: 0 };
  const over = new AbortController();
  const held: (() => void)[] = [];
  const options: EgressOptions = {
    engine,
    resolver: () =>
      holdLookups ? new Promise((answer) => held.push(() => answer([PUB]))) : Promise.resolve([PUB]),
    dial: (() => {
      const dial = (): Socket => connect({ host: '127.0.0.1', port: (target.address() as AddressInfo).port });
      return dialDelayMs === 0
        ? dial
        : () => new Promise<Socket>((ok) => setTimeout(() => ok(dial()), dialDelayMs));
    })() as EgressOptions['dial'],
    audit: (r) => records.push(r),
    sessionId: 'ending',
    signal: over.signal,
    connections,
    credentials: {
      guard: createCredentialGuard({ engine, slots: [], audit: (r) => records.push(r) }),
      ca: sessionCa,
    },
  };
  const proxy = front === 'http' ? createEgressProxy(options) : createSocksProxy(options);
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as AddressInfo).port;
  return {
    records,
    connections,
    port,
    answerLookups: () => held.splice(0).forEach((answer) => answer()),
    end: async () => {
      over.abort();
      await connectionsClosed(connections, 5000);
      const atEnd = [...records];
      await new Promise((r) => setTimeout(r, 200)); // anything later would be lost
      proxy.close();
      assert.deepEqual(
        records.slice(atEnd.length).map((r) => r.type),
        [],
        'no record arrives after the connections are counted closed',
      );
      return atEnd;
    },
  };
}

/** Waits until `ready()` holds, for at most 5 s. */
async function until(ready: () => boolean, what: string): Promise<void> {
  const from = Date.now();
  while (!ready()) {
    if (Date.now() - from > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function send(port: number, bytes: string | Buffer): Socket {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.resume(); // read to the end, so a close from the proxy's side shows
  socket.write(bytes);
  return socket;
}

const events = (records: readonly AuditRecord[]): string[] => records.map((r) => r.type);

/** A request denied because the session ended during its lookup, as the audit shows it. */
function assertEndedWhileResolving(record: AuditRecord | undefined): void {
  assert.ok(record, 'a second record: the decision after the lookup');
  assert.equal(record.type, 'network.connect');
  assert.equal(record.decision, 'deny');
  assert.equal(record.request?.resource, 'api.example.com:443');
  assert.match(record.reason ?? '', /the session ended while api\.example\.com was being resolved/);
}

/** How many perimeter-relay processes `pid` has as children now. */
function relaysOf(pid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // comm is in parentheses and may hold spaces: the fields after it are split on spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (comm === 'perimeter-relay' && ppid === pid) n++;
    } catch {
      // It exited while the list was read.
    }
  }
  return n;
}

/** An echo server standing in for any origin a tunnel reaches. */
function echoServer(): Promise<Server> {
  const server = createServer((s) => s.pipe(s));
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('records land before the session ends', () => {
  it('a CONNECT whose lookup never answers: denied at the end, its decision is in', async () => {
    const echo = await echoServer();
    const s = await session('http', echo, true);
    const client = send(s.port, 'CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    await until(() => s.connections.open === 1, 'the CONNECT to be counted');
    const from = Date.now();
    const records = await s.end(); // the lookup is never answered
    assert.ok(Date.now() - from < 1000 + 200, 'within the wait of a real session (1 s)');
    assert.deepEqual(events(records), ['network.connect', 'network.connect']);
    assertEndedWhileResolving(records[1]);
    client.destroy();
    echo.close();
  });

  it('a CONNECT whose lookup answers after the end began: denied, nothing dialled', async () => {
    const echo = await echoServer();
    let dialled = 0;
    echo.on('connection', () => dialled++);
    const s = await session('http', echo, true);
    const client = send(s.port, 'CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    await until(() => s.connections.open === 1, 'the CONNECT to be counted');
    const ending = s.end();
    s.answerLookups(); // the lookup lands after the session began to end
    const records = await ending;
    assert.deepEqual(events(records), ['network.connect', 'network.connect']);
    assertEndedWhileResolving(records[1]);
    assert.equal(dialled, 0);
    client.destroy();
    echo.close();
  });

  it('an open CONNECT tunnel: closed by the end, its close is in', async () => {
    const echo = await echoServer();
    const s = await session('http', echo);
    const client = send(s.port, 'CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    await until(() => events(s.records).includes('network.connect'), 'the tunnel to open');
    const records = await s.end();
    assert.deepEqual(events(records), ['network.connect', 'network.closed']);
    await until(() => client.destroyed || client.readableEnded, 'the client to be closed');
    client.destroy();
    echo.close();
  });

  it(
    'a tunnel the native relay carries: closed by the end, its close is in with every byte it carried',
    { skip: isRelayBuilt() ? false : 'perimeter-relay is not built (no C compiler)' },
    async () => {
      const echo = await echoServer();
      const s = await session('http', echo);
      const client = send(s.port, 'CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
      let got = '';
      client.on('data', (d: Buffer) => (got += d.toString('latin1')));
      await until(() => got.includes('\r\n\r\n'), 'the tunnel to open');
      // Enough bytes both ways for the proxy to hand the tunnel to the relay, then more through it.
      const payload = 'x'.repeat(RELAY_AFTER_BYTES);
      client.write(payload);
      await until(() => got.length - got.indexOf('\r\n\r\n') - 4 === payload.length, 'the first echo');
      await until(() => relaysOf(process.pid) > 0, 'the tunnel to move to the relay');
      client.write(payload);
      await until(() => got.length - got.indexOf('\r\n\r\n') - 4 === 2 * payload.length, 'the second echo');
      const records = await s.end();
      assert.deepEqual(events(records), ['network.connect', 'network.closed']);
      const closed = records[1];
      assert.equal(closed?.outcome?.bytes_out, 2 * payload.length, 'every byte the client sent');
      assert.equal(closed?.outcome?.bytes_in, 2 * payload.length, 'every byte the origin sent');
      await until(() => client.destroyed || client.readableEnded, 'the client to be closed');
      client.destroy();
      echo.close();
    },
  );

  it('a SOCKS5 request still being decided: denied at the end, its decision is in', async () => {
    const echo = await echoServer();
    const s = await session('socks', echo, true);
    const name = Buffer.from('api.example.com');
    const client = send(
      s.port,
      Buffer.concat([
        Buffer.from([0x05, 0x01, 0x00, 0x05, 0x01, 0x00, 0x03, name.length]),
        name,
        Buffer.from([0x01, 0xbb]),
      ]),
    );
    await until(() => s.connections.open === 1, 'the SOCKS5 request to be counted');
    const ending = s.end();
    s.answerLookups();
    const records = await ending;
    assert.deepEqual(events(records), ['network.connect', 'network.connect']);
    assertEndedWhileResolving(records[1]);
    client.destroy();
    echo.close();
  });

  it('a plain-HTTP answer still streaming: the forward is cut, its close is in', async () => {
    const streaming: ServerResponse[] = [];
    const web = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part;');
      streaming.push(res); // never ended: the session ends first
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const s = await session('http', web);
    let got = '';
    const client = send(
      s.port,
      'GET http://api.example.com/stream HTTP/1.1\r\nHost: api.example.com\r\n\r\n',
    );
    client.on('data', (chunk: Buffer) => (got += chunk.toString()));
    await until(() => got.includes('first part;'), 'the first part of the answer');
    const records = await s.end();
    assert.deepEqual(events(records), ['network.get', 'network.closed']);
    const closed = records.at(-1);
    assert.equal(closed?.outcome?.resource, 'api.example.com:80/stream');
    assert.ok(Number(closed?.outcome?.bytes_in) >= 'first part;'.length, 'the bytes that came are counted');
    await until(() => client.destroyed || client.readableEnded, 'the client to be cut off');
    client.destroy();
    for (const res of streaming) res.destroy();
    web.close();
  });

  it('an inspected connection left open: closed by the end, its close is in', async () => {
    const echo = await echoServer(); // never reached: the client sends no request inside
    const s = await session('http', echo);
    const raw = send(s.port, 'CONNECT paths.example.com:443 HTTP/1.1\r\n\r\n');
    await new Promise<void>((ok) => raw.once('data', () => ok()));
    const tls = tlsConnect({ socket: raw, servername: 'paths.example.com', ca: sessionCa.certPem });
    tls.on('error', () => undefined);
    await new Promise<void>((ok) => tls.once('secureConnect', () => ok()));
    const records = await s.end();
    assert.deepEqual(events(records), ['network.connect', 'network.closed']);
    await until(() => tls.destroyed || tls.readableEnded, 'the inspected connection to be closed');
    tls.destroy();
    echo.close();
  });

  it('an inspected request whose upstream is still being dialled when the session ends is never sent', async () => {
    const received: Buffer[] = [];
    const origin = createServer((s) => s.on('data', (chunk: Buffer) => received.push(chunk)));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const s = await session('http', origin, false, 300);
    const raw = send(s.port, 'CONNECT paths.example.com:443 HTTP/1.1\r\n\r\n');
    await new Promise<void>((ok) => raw.once('data', () => ok()));
    const tls = tlsConnect({ socket: raw, servername: 'paths.example.com', ca: sessionCa.certPem });
    tls.on('error', () => undefined);
    await new Promise<void>((ok) => tls.once('secureConnect', () => ok()));
    tls.write('GET /v1/x HTTP/1.1\r\nHost: paths.example.com\r\n\r\n');
    await until(() => events(s.records).includes('network.get'), 'the request to be decided');
    await s.end(); // while its upstream is being dialled
    await new Promise((r) => setTimeout(r, 400)); // the dial is done by now
    assert.equal(Buffer.concat(received).length, 0, 'nothing reached the origin after the session ended');
    tls.destroy();
    origin.close();
  });
});
