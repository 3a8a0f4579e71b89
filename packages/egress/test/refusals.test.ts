// Refusals before any rule (redteam-11: targets no parser reads; redteam-13: a missing or wrong
// session token) are audited denials on every front door, never carry a token, and stay within
// the session's bound when a client hammers the proxy. Real sockets on loopback; the window that
// bounds them is pure and tested with a clock of its own.

import assert from 'node:assert/strict';
import { connect, type AddressInfo, type Server } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AuditRecord } from '@perimeter/audit';
import {
  auditEventSchema,
  createRefusalAudit,
  RefusalWindow,
  REFUSALS_PER_SECOND,
  type RefusalAudit,
} from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { auditedTarget } from '../src/http-message.js';
import { createEgressProxy, type EgressOptions } from '../src/proxy.js';
import { createSocksProxy } from '../src/socks.js';

const PUB1 = '93.184.216.34';
const TOKEN = 'K8vQ2-pX7mR4-zL9w';
const OFFERED = 'Zq7Wx-91kTvB';
const POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: p0, layer: org }
network:
  allow:
    - { id: allowed, hosts: ["allowed.test", "*.allowed.test"], ports: [443, 80] }
`;

function engine() {
  const loaded = loadPolicies([{ file: 'p0.yaml', text: POLICY }]);
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: '/h', workspace: '/w' } },
  );
}

interface Session {
  readonly records: AuditRecord[];
  readonly http: number;
  readonly socks: number;
  /** The session's one refusal audit, as its owner holds it. */
  readonly refusals: RefusalAudit;
  close(): void;
}

/** Listens on loopback; resolves to the port. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const noDial = (): never => {
  throw new Error('nothing is dialled in these tests');
};

/**
 * Both front doors of one session with one refusal audit, as `perimeter run` builds them. Each
 * gets its own copy of the options: the bound is shared through the `refusals` object they are
 * given, never through the identity of the options object.
 */
async function session(
  extra: Partial<EgressOptions> & { readonly refusalsPerSecond?: number } = {},
): Promise<Session> {
  const { refusalsPerSecond, ...rest } = extra;
  const records: AuditRecord[] = [];
  const audit = (r: AuditRecord): void => void records.push(r);
  const refusals = createRefusalAudit({
    audit,
    sessionId: 'refusals',
    ...(refusalsPerSecond !== undefined ? { refusalsPerSecond } : {}),
  });
  const options: EgressOptions = {
    engine: engine(),
    sessionId: 'refusals',
    audit,
    refusals,
    resolver: () => Promise.resolve([PUB1]),
    dial: noDial,
    ...rest,
  };
  const servers: Server[] = [createEgressProxy({ ...options }), createSocksProxy({ ...options })];
  const [http, socks] = await Promise.all(servers.map(listen));
  return {
    records,
    http: http ?? 0,
    socks: socks ?? 0,
    refusals,
    close: () => servers.forEach((s) => s.close()),
  };
}

/** Writes bytes to a port and returns everything that comes back until the proxy closes. */
function exchange(port: number, messages: readonly (string | Buffer)[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the proxy never closed; got: ${got.toString('latin1')}`));
    }, 5000);
    socket.on('data', (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    for (const m of messages) socket.write(m);
  });
}

const statusOf = (reply: Buffer): string => reply.toString('latin1').split('\r\n')[0] ?? '';
const basic = (password: string): string =>
  `Proxy-Authorization: Basic ${Buffer.from(`perimeter:${password}`).toString('base64')}\r\n`;
const socksAuth = (password: string): Buffer =>
  Buffer.concat([
    Buffer.from([0x01, 9]),
    Buffer.from('perimeter'),
    Buffer.from([password.length]),
    Buffer.from(password),
  ]);
const socksDomain = (name: string, port: number): Buffer =>
  Buffer.concat([
    Buffer.from([0x05, 0x01, 0x00, 0x03, Buffer.byteLength(name, 'latin1')]),
    Buffer.from(name, 'latin1'),
    Buffer.from([port >> 8, port & 255]),
  ]);

const denials = (records: readonly AuditRecord[], code: string): AuditRecord[] =>
  records.filter((r) => r.decision === 'deny' && r.decision_code === code);

/** Every record is a valid audit event (the schema knows the new decision code). */
function assertValidEvents(records: readonly AuditRecord[]): void {
  const integrity = { chain_id: 'c', seq: 0, prev_hash: '0'.repeat(64), hash: '0'.repeat(64) };
  for (const r of records) auditEventSchema().parse({ ...r, integrity });
}

/** No token, offered or real, whole or in part (any 6 characters of it, or its Basic form). */
function assertNoToken(records: readonly AuditRecord[]): void {
  const text = JSON.stringify(records);
  for (const secret of [TOKEN, OFFERED]) {
    for (let i = 0; i + 6 <= secret.length; i++)
      assert.ok(!text.includes(secret.slice(i, i + 6)), `no part of "${secret}" is recorded`);
    assert.ok(!text.includes(Buffer.from(`perimeter:${secret}`).toString('base64').slice(0, 12)));
  }
}

describe('RefusalWindow: at most N refusal events a second, the rest counted', () => {
  it('writes the first N of a window, counts the rest, and reports them when the next window opens', () => {
    const w = new RefusalWindow(3);
    const taken = [0, 10, 20, 30, 40, 999].map((t, i) =>
      w.take(i % 2 === 0 ? 'invalid-request' : 'unauthenticated', t),
    );
    assert.deepEqual(
      taken.map((t) => t.isWritten),
      [true, true, true, false, false, false],
    );
    assert.ok(
      taken.every((t) => t.closed === undefined),
      'nothing is reported inside the window',
    );
    const next = w.take('invalid-request', 1000);
    assert.equal(next.isWritten, true, 'a new window writes again');
    assert.deepEqual(next.closed, {
      since: 30,
      byCode: { 'invalid-request': 1, unauthenticated: 2 },
    });
    assert.equal(w.drain(), undefined, 'what was reported is not reported again');
  });

  it('reports nothing for a window that dropped nothing', () => {
    const w = new RefusalWindow(2);
    assert.equal(w.take('unauthenticated', 0).isWritten, true);
    assert.equal(w.take('unauthenticated', 5000).closed, undefined);
    assert.equal(w.drain(), undefined);
  });

  it('drain reports what the current window dropped so far (the session ended)', () => {
    const w = new RefusalWindow(1);
    w.take('unauthenticated', 0);
    w.take('unauthenticated', 1);
    assert.deepEqual(w.drain(), { since: 1, byCode: { 'invalid-request': 0, unauthenticated: 1 } });
    assert.equal(w.take('unauthenticated', 2).isWritten, false, 'the window still holds its bound');
  });

  it('property: every refusal is written or counted once, and no second holds more than N written', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 200 }),
        (perSecond, gaps) => {
          const w = new RefusalWindow(perSecond);
          const writtenAt: number[] = [];
          let counted = 0;
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            const t = w.take('invalid-request', now);
            if (t.isWritten) writtenAt.push(now);
            counted += t.closed?.byCode['invalid-request'] ?? 0;
          }
          counted += w.drain()?.byCode['invalid-request'] ?? 0;
          assert.equal(writtenAt.length + counted, gaps.length);
          // Windows open at a refusal and last a second: any second spans at most two of them.
          for (const start of writtenAt) {
            const within = writtenAt.filter((x) => x >= start && x < start + 1000).length;
            assert.ok(within <= 2 * perSecond, `${within} written in the second from ${start}`);
          }
        },
      ),
    );
  });
});

describe('auditedTarget: what the audit keeps of a target it could not read', () => {
  const cases: readonly [string, string, boolean][] = [
    ['bad$x.allowed.test:443', 'bad$x.allowed.test:443', false],
    ['http://attacker.invalid%00.allowed.test/', 'http://attacker.invalid%00.allowed.test/', false],
    ['http://perimeter:S3cret@allowed.test/x?y=1', 'http://***@allowed.test/x?***', true],
    ['perimeter:S3cret@127.0.0.1:3128', '***@127.0.0.1:3128', true],
    ['http://allowed.test/a@b?token=S3cret', 'http://allowed.test/a@b?***', false],
    ['http://allowed.test/#frag', 'http://allowed.test/#***', false],
    ['/', '/', false],
    ['', '', false],
    // A secret in a target no parser reads (sandbox review: it reached the audit whole).
    ['bad$x.sk_live_4eC39HqLyjWDarjtT1zdp7dc.allowed.test:443', 'bad$x.***.allowed.test:443', false],
    ['http://AKIAZ7ULQ3HVKXBJ4WQA$.test/', 'http://***$.test/', false],
  ];
  for (const [target, shown, hasUserInfo] of cases) {
    it(`${JSON.stringify(target)} → ${JSON.stringify(shown)}`, () => {
      assert.deepEqual(auditedTarget(target), { shown, hasUserInfo });
    });
  }

  it('keeps at most 200 characters', () => {
    assert.equal(auditedTarget(`${'a'.repeat(300)}:443`).shown.length, 200);
  });
});

describe('redteam-11: a target the HTTP front door cannot parse is an audited denial', () => {
  it('CONNECT and absolute-form targets refused with 400 write invalid-request denials, as SOCKS5 does', async () => {
    const s = await session();
    try {
      const requests: readonly [string, string, RegExp][] = [
        [
          'CONNECT bad$x.allowed.test:443 HTTP/1.1\r\n\r\n',
          'bad$x.allowed.test:443',
          /not allowed in a host name/,
        ],
        [
          'CONNECT attacker.invalid%00.allowed.test:443 HTTP/1.1\r\n\r\n',
          'attacker.invalid%00.allowed.test:443',
          /encoded control character/,
        ],
        ['CONNECT a..b:443 HTTP/1.1\r\n\r\n', 'a..b:443', /empty label/],
        ['CONNECT allowed.test:+443 HTTP/1.1\r\n\r\n', 'allowed.test:+443', /not a port number/],
        ['CONNECT allowed.test HTTP/1.1\r\n\r\n', 'allowed.test', /has no port/],
        [
          'GET http://attacker.invalid%00.allowed.test/ HTTP/1.1\r\n\r\n',
          'attacker.invalid%00.allowed.test:80',
          /encoded control character/,
        ],
        ['GET http://allowed.test:0/ HTTP/1.1\r\n\r\n', 'http://allowed.test:0/', /not a port number/],
        ['GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n', '/', /this is a proxy/],
        ['GET https://allowed.test/ HTTP/1.1\r\n\r\n', 'https://allowed.test/', /through CONNECT/],
      ];
      for (const [request, resource, reason] of requests) {
        const before = s.records.length;
        const reply = await exchange(s.http, [request]);
        assert.match(statusOf(reply), /^HTTP\/1\.1 400 /, request);
        const events = s.records.slice(before);
        assert.equal(events.length, 1, `one event for ${JSON.stringify(request)}`);
        const [e] = events;
        assert.equal(e?.decision, 'deny');
        assert.equal(e?.decision_code, 'invalid-request');
        assert.equal(e?.request?.surface, 'network');
        assert.equal(e?.request?.resource, resource);
        assert.match(e?.reason ?? '', reason);
        // The agent reads the same sentence the audit keeps.
        assert.ok(reply.toString('utf8').includes(`${e?.reason ?? ''}\n`), 'the reply carries the reason');
      }
      // The SOCKS5 front door refuses the same kind of name through the same decision.
      const socks = await exchange(s.socks, [
        Buffer.from([0x05, 0x01, 0x00]),
        socksDomain('bad$x.allowed.test', 443),
      ]);
      assert.equal(socks[3], 0x02);
      const [viaConnect, viaSocks] = s.records.filter(
        (r) => r.request?.resource === 'bad$x.allowed.test:443',
      );
      assert.ok(viaSocks, 'the SOCKS5 refusal is audited');
      assert.deepEqual(
        { ...viaSocks, event_id: '', time: '' },
        { ...viaConnect, event_id: '', time: '' },
        'CONNECT and SOCKS5 write the same event for the same unreadable name',
      );
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it("requests Node's parser refuses before any handler are audited too, never with a header", async () => {
    const s = await session({ token: TOKEN });
    try {
      const requests: readonly [string, string, string, RegExp][] = [
        [
          'CONNECT attacker.invalid\0.allowed.test:443 HTTP/1.1\r\n\r\n',
          'connect',
          'attacker.invalid\0.allowed.test:443',
          /control character/,
        ],
        [
          'GET http://a\x01b.allowed.test/ HTTP/1.1\r\n\r\n',
          'GET',
          'http://a\x01b.allowed.test/',
          /control character/,
        ],
        [
          'CONNECT a b.allowed.test:443 HTTP/1.1\r\n\r\n',
          'connect',
          'a b.allowed.test:443',
          /not HTTP the proxy can read \(HPE_/,
        ],
        [
          `GET http://allowed.test/ HTTP/1.1\r\n${basic(OFFERED)}Bad Header\r\n\r\n`,
          'GET',
          'http://allowed.test/',
          /HPE_INVALID_HEADER_TOKEN/,
        ],
        ['\x16\x03\x01\x00\xa5\x01\x00 hello\r\n\r\n', 'request', 'hello', /not HTTP/],
      ];
      for (const [request, action, resource, reason] of requests) {
        const before = s.records.length;
        const reply = await exchange(s.http, [Buffer.from(request, 'latin1')]);
        assert.match(statusOf(reply), /^HTTP\/1\.1 400 /, JSON.stringify(request));
        const events = s.records.slice(before);
        assert.deepEqual(
          events.map((e) => [e.decision, e.decision_code, e.request?.action, e.request?.resource]),
          [['deny', 'invalid-request', action, resource]],
          JSON.stringify(request),
        );
        assert.match(events[0]?.reason ?? '', reason);
      }
      assertNoToken(s.records);
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it('redteam-11: a head past the size limit gets 431, and a refusal event naming the target', async () => {
    const s = await session({ maxHeaderBytes: 1024 });
    try {
      const reply = await exchange(s.http, [
        `GET http://allowed.test/?k=v HTTP/1.1\r\nProxy-Authorization: Basic ${OFFERED}\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`,
      ]);
      assert.match(statusOf(reply), /^HTTP\/1\.1 431 /);
      assert.deepEqual(
        s.records.map((e) => [e.decision, e.decision_code, e.request?.action, e.request?.resource]),
        [['deny', 'invalid-request', 'GET', 'http://allowed.test/?***']],
      );
      assert.match(s.records[0]?.reason ?? '', /larger than the proxy reads \(1024 bytes\)/);
      assertNoToken(s.records);
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it('redteam-11: a request head that never finishes gets 408, and a refusal event', async () => {
    const s = await session();
    try {
      const server = createEgressProxy({
        engine: engine(),
        sessionId: 'refusals',
        audit: (r) => void s.records.push(r),
        refusals: s.refusals,
        resolver: () => Promise.resolve([PUB1]),
        dial: noDial,
        headersTimeoutMs: 300,
      });
      const port = await listen(server);
      try {
        const reply = await exchange(port, ['GET http://allowed.test/ HTTP/1.1\r\nX-Slow: 1\r\n']);
        assert.match(statusOf(reply), /^HTTP\/1\.1 408 /);
      } finally {
        server.close();
      }
      assert.deepEqual(
        s.records.map((e) => [e.decision, e.decision_code, e.request?.action]),
        [['deny', 'invalid-request', 'request']],
      );
      assert.match(s.records[0]?.reason ?? '', /did not arrive in time/);
    } finally {
      s.close();
    }
  });

  it('redteam-11: SOCKS4, an unknown address type and BIND / UDP ASSOCIATE are refused and audited', async () => {
    const s = await session();
    try {
      const socks4 = await exchange(s.socks, [Buffer.from([0x04, 0x01, 0x01, 0xbb, 127, 0, 0, 1, 0x00])]);
      assert.equal(socks4.length, 0, 'SOCKS4 gets no answer (it would not read ours)');
      const greet = Buffer.from([0x05, 0x01, 0x00]);
      const badType = await exchange(s.socks, [greet, Buffer.from([0x05, 0x01, 0x00, 0x09, 1, 2])]);
      assert.equal(badType[3], 0x08, 'address type not supported');
      const bindName = Buffer.from('allowed.test');
      const bind = await exchange(s.socks, [
        greet,
        Buffer.from([0x05, 0x02, 0x00, 0x03, bindName.length, ...bindName, 0x01, 0xbb]),
      ]);
      assert.equal(bind[3], 0x07, 'command not supported');
      assert.deepEqual(
        s.records.map((e) => [e.decision, e.decision_code, e.request?.resource]),
        [
          ['deny', 'invalid-request', 'socks5'],
          ['deny', 'invalid-request', 'socks5'],
          ['deny', 'invalid-request', 'allowed.test:443'],
        ],
      );
      assert.match(s.records[0]?.reason ?? '', /SOCKS version 4; only SOCKS5/);
      assert.match(s.records[1]?.reason ?? '', /address type 9/);
      assert.match(s.records[2]?.reason ?? '', /BIND is not supported/);
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it('never records the user info of an unreadable target, nor its query', async () => {
    const s = await session();
    try {
      const reply = await exchange(s.http, [
        `GET http://perimeter:${OFFERED}@allowed.test/x?k=${OFFERED} HTTP/1.1\r\n\r\n`,
      ]);
      assert.match(statusOf(reply), /^HTTP\/1\.1 400 /);
      const second = await exchange(s.http, [
        `CONNECT perimeter:${OFFERED}@allowed.test:443 HTTP/1.1\r\n\r\n`,
      ]);
      assert.match(statusOf(second), /^HTTP\/1\.1 400 /);
      const refused = denials(s.records, 'invalid-request');
      assert.deepEqual(
        refused.map((r) => r.request?.resource),
        ['http://***@allowed.test/x?***', '***@allowed.test:443'],
      );
      assert.match(refused[0]?.reason ?? '', /user info/);
      assertNoToken(s.records);
    } finally {
      s.close();
    }
  });
});

describe('redteam-13: refusals for a missing or wrong token are audited denials', () => {
  it('407 on CONNECT and plain HTTP, and SOCKS5 05ff and 0101, are unauthenticated denials without the token', async () => {
    const s = await session({ token: TOKEN });
    try {
      const replies = [
        await exchange(s.http, ['CONNECT allowed.test:443 HTTP/1.1\r\n\r\n']),
        await exchange(s.http, [`CONNECT allowed.test:443 HTTP/1.1\r\n${basic(OFFERED)}\r\n`]),
        await exchange(s.http, ['GET http://allowed.test/x HTTP/1.1\r\n\r\n']),
        await exchange(s.http, [
          `GET http://allowed.test/x?q=1 HTTP/1.1\r\nProxy-Authorization: Bearer ${OFFERED}\r\n\r\n`,
        ]),
      ];
      for (const r of replies) assert.match(statusOf(r), /^HTTP\/1\.1 407 /);
      const noMethod = await exchange(s.socks, [Buffer.from([0x05, 0x01, 0x00])]);
      assert.deepEqual([...noMethod], [0x05, 0xff]);
      const badPassword = await exchange(s.socks, [Buffer.from([0x05, 0x01, 0x02]), socksAuth(OFFERED)]);
      assert.deepEqual([...badPassword], [0x05, 0x02, 0x01, 0x01]);

      const refused = denials(s.records, 'unauthenticated');
      assert.equal(refused.length, s.records.length, 'nothing but the refusals was recorded');
      assert.deepEqual(
        refused.map((r) => [r.type, r.request?.action, r.request?.resource, r.reason]),
        [
          [
            'network.connect',
            'connect',
            'allowed.test:443',
            'Denied: the request carries no session token (Proxy-Authorization).',
          ],
          [
            'network.connect',
            'connect',
            'allowed.test:443',
            "Denied: the token in Proxy-Authorization is not the session's.",
          ],
          [
            'network.get',
            'GET',
            'http://allowed.test/x',
            'Denied: the request carries no session token (Proxy-Authorization).',
          ],
          [
            'network.get',
            'GET',
            'http://allowed.test/x?***',
            "Denied: the token in Proxy-Authorization is not the session's.",
          ],
          [
            'network.connect',
            'connect',
            'socks5',
            'Denied: the SOCKS5 client offered no username/password authentication, which carries the session token.',
          ],
          ['network.connect', 'connect', 'socks5', 'Denied: the SOCKS5 password is not the session token.'],
        ],
      );
      for (const r of refused) {
        assert.equal(r.would_decision, 'deny');
        assert.equal(r.enforcement_mode, 'enforce');
        assert.deepEqual(r.matched, [], 'no rule was consulted');
        assert.equal(r.session?.id, 'refusals');
      }
      assertNoToken(s.records);
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it('without a session token, a SOCKS5 client that only offers a password is refused as unreadable', async () => {
    const s = await session();
    try {
      const reply = await exchange(s.socks, [Buffer.from([0x05, 0x01, 0x02])]);
      assert.deepEqual([...reply], [0x05, 0xff]);
      assert.deepEqual(
        s.records.map((r) => [r.decision, r.decision_code, r.request?.resource]),
        [['deny', 'invalid-request', 'socks5']],
      );
    } finally {
      s.close();
    }
  });

  it('a request with the token is decided by the policy, and no refusal is recorded for it', async () => {
    const s = await session({ token: TOKEN });
    try {
      const reply = await exchange(s.http, [`CONNECT denied.test:443 HTTP/1.1\r\n${basic(TOKEN)}\r\n`]);
      assert.match(statusOf(reply), /^HTTP\/1\.1 403 /);
      assert.deepEqual(
        s.records.map((r) => [r.decision, r.decision_code, r.request?.resource]),
        [['deny', 'default', 'denied.test:443']],
      );
      assertNoToken(s.records);
    } finally {
      s.close();
    }
  });
});

describe('the audit of refusals is bounded per session', () => {
  it('a proxy given no refusal audit writes 20 refusal events a second, as docs/sandbox.md says, and reports the rest when its session ends', async () => {
    assert.equal(REFUSALS_PER_SECOND, 20);
    const records: AuditRecord[] = [];
    const controller = new AbortController();
    const server = createEgressProxy({
      engine: engine(),
      sessionId: 'refusals',
      audit: (r) => records.push(r),
      signal: controller.signal,
      dial: noDial,
    });
    const port = await listen(server);
    try {
      const replies = await Promise.all(
        Array.from({ length: 25 }, () => exchange(port, ['GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n'])),
      );
      for (const r of replies) assert.match(statusOf(r), /^HTTP\/1\.1 400 /, 'every one is refused');
      controller.abort();
      assert.deepEqual(
        records.map((r) => [r.type, r.decision_code, r.outcome?.suppressed]),
        [
          ...Array.from({ length: 20 }, () => ['network.get', 'invalid-request', undefined]),
          ['network.refusals-suppressed', undefined, 5],
        ],
        '20 events, then one summary counting the other 5',
      );
      assert.equal(records[20]?.outcome?.invalid_request, 5);
      assert.equal(records[20]?.outcome?.limit_per_second, 20);
    } finally {
      server.close();
    }
  });

  it('front doors built from copies of the options share the bound of the refusal audit they are given', async () => {
    const s = await session({ token: TOKEN, refusalsPerSecond: 1 });
    try {
      await exchange(s.http, ['CONNECT allowed.test:443 HTTP/1.1\r\n\r\n']);
      await exchange(s.socks, [Buffer.from([0x05, 0x01, 0x02]), socksAuth(OFFERED)]);
      s.refusals.flush();
      assert.deepEqual(
        s.records.map((r) => [r.type, r.request?.resource, r.outcome?.suppressed]),
        [
          ['network.connect', 'allowed.test:443', undefined],
          ['network.refusals-suppressed', undefined, 1],
        ],
        'the SOCKS5 refusal counted against the bound the HTTP one opened',
      );
    } finally {
      s.close();
    }
  });

  it('a client hammering both front doors gets N events a second and one summary counting the rest', async () => {
    const perSecond = 4;
    const s = await session({ token: TOKEN, refusalsPerSecond: perSecond });
    try {
      const sent = 60;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: sent }, (_, i) =>
          i % 3 === 0
            ? exchange(s.http, ['CONNECT allowed.test:443 HTTP/1.1\r\n\r\n'])
            : i % 3 === 1
              ? exchange(s.http, [`CONNECT bad$${i}.allowed.test:443 HTTP/1.1\r\n${basic(TOKEN)}\r\n`])
              : exchange(s.socks, [Buffer.from([0x05, 0x01, 0x02]), socksAuth(OFFERED)]),
        ),
      );
      const elapsed = Date.now() - started;
      const written = s.records.filter((r) => r.request?.surface === 'network');
      const windows = Math.ceil(elapsed / 1000) + 1;
      assert.ok(written.length >= perSecond, 'the first refusals are written');
      assert.ok(
        written.length <= perSecond * windows,
        `${written.length} refusal events for ${sent} refusals in ${elapsed} ms`,
      );
      // The summary comes when the window ends, without another refusal to carry it.
      await new Promise((r) => setTimeout(r, 1100));
      const summaries = s.records.filter((r) => r.type === 'network.refusals-suppressed');
      assert.ok(summaries.length >= 1 && summaries.length <= windows);
      const counted = summaries.reduce((n, r) => n + Number(r.outcome?.suppressed ?? 0), 0);
      assert.equal(written.length + counted, sent, 'every refusal is written or counted');
      const [first] = summaries;
      assert.equal(first?.severity, 'medium');
      assert.equal(first?.outcome?.limit_per_second, perSecond);
      assert.equal(
        Number(first?.outcome?.invalid_request) + Number(first?.outcome?.unauthenticated),
        first?.outcome?.suppressed,
      );
      assert.match(first?.reason ?? '', /counted, not recorded one by one/);
      assertNoToken(s.records);
      assertValidEvents(s.records);
    } finally {
      s.close();
    }
  });

  it('flush reports what was counted at once when the session ends', async () => {
    const s = await session({ token: TOKEN, refusalsPerSecond: 1 });
    try {
      for (let i = 0; i < 3; i++) await exchange(s.http, ['GET http://allowed.test/ HTTP/1.1\r\n\r\n']);
      assert.equal(s.records.length, 1, 'one written, two counted');
      s.refusals.flush();
      assert.deepEqual(
        s.records.map((r) => [r.type, r.outcome?.suppressed]),
        [
          ['network.get', undefined],
          ['network.refusals-suppressed', 2],
        ],
      );
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(s.records.length, 2, 'nothing is reported twice');
    } finally {
      s.close();
    }
  });

  it('policy decisions are never counted against the bound', async () => {
    const s = await session({ refusalsPerSecond: 1 });
    try {
      for (let i = 0; i < 5; i++) await exchange(s.http, ['CONNECT denied.test:443 HTTP/1.1\r\n\r\n']);
      assert.equal(denials(s.records, 'default').length, 5);
    } finally {
      s.close();
    }
  });
});
