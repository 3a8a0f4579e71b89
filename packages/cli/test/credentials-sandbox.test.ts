// Issue 4's "done when", end to end in a real sandbox: a secret stored with `perimeter secret
// set`, a policy binding it to a local HTTPS host, and real clients inside `perimeter run` (curl,
// git over HTTPS with the token in the URL, Node's fetch, python's urllib) that hold only the
// placeholder. The origin checks the credential it receives; the same header sent to another
// (inspected) host is refused with an audit event; the real value appears in no output, no audit
// event and no environment inside.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createSessionCa } from '@perimeter/egress';
import {
  BIN,
  SANDBOX_PYTHON,
  SANDBOX_SKIP,
  fixture,
  policyYaml,
  runSession,
  type Fixture,
} from './sandbox-harness.js';

const TOKEN = `gho_${'R3alT0ken'.repeat(4)}`;
const BOUND = 'api.bound.test';
const OTHER = 'other.bound.test';
const ORIGIN_IP = '127.0.0.2';

/** The local origin's own CA: the host-side proxy trusts it as it would a public root. */
const originCa = createSessionCa({ commonName: 'Perimeter test public root' });
const received: { host: string; authorization: string; path: string }[] = [];
let origin: Server;
let port = 0;

/** An empty repository's smart-HTTP advertisement: enough for `git ls-remote` to succeed. */
function emptyAdvertisement(): string {
  const pkt = (line: string): string => `${(line.length + 4).toString(16).padStart(4, '0')}${line}`;
  return `${pkt('# service=git-upload-pack\n')}0000${pkt(`${'0'.repeat(40)} capabilities^{}\0agent=test\n`)}0000`;
}

before(async () => {
  origin = createServer(
    { SNICallback: (name, done) => done(null, originCa.contextFor(name)) },
    (req, res) => {
      const authorization = req.headers.authorization ?? '';
      received.push({ host: req.headers.host ?? '', authorization, path: req.url ?? '' });
      const basic = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
      if (authorization !== `Bearer ${TOKEN}` && authorization !== basic) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' });
        res.end('no token\n');
        return;
      }
      if (req.url?.startsWith('/repo.git/info/refs')) {
        res.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' });
        res.end(emptyAdvertisement());
        return;
      }
      // An echo, as an API that reflects the request would: the agent must get its placeholder back.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`token ok; you sent ${authorization}\n`);
    },
  );
  await new Promise<void>((ok) => origin.listen(0, ORIGIN_IP, ok));
  port = (origin.address() as AddressInfo).port;
});

after(() => origin.close());

function policy(f: Fixture): string {
  return policyYaml(f, {
    allow: [
      `{ id: bound-hosts, hosts: [${BOUND}], ports: [${port}] }`,
      `{ id: other-get, hosts: [${OTHER}], methods: [GET], ports: [${port}] }`,
      `{ id: origin-address, cidrs: [${ORIGIN_IP}/32], ports: [${port}] }`,
    ],
    extra: [
      'credentials:',
      '  - id: github',
      '    secret: github-token',
      '    env: GITHUB_TOKEN',
      '    file: github-token',
      `    inject: { hosts: [${BOUND}], ports: [${port}] }`,
    ].join('\n'),
  });
}

test(
  'issue 4 done-when: clients in the sandbox use the bound token through placeholders',
  { skip: SANDBOX_SKIP },
  async (t) => {
    const f = fixture(t);
    const stored = spawnSync(process.execPath, [BIN, 'secret', 'set', 'github-token'], {
      input: `${TOKEN}\n`,
      env: { PATH: process.env.PATH ?? '', HOME: f.home },
      encoding: 'utf8',
    });
    assert.equal(stored.status, 0, stored.stderr);
    const caFile = join(f.root, 'origin-ca.pem');
    writeFileSync(caFile, originCa.certPem);
    received.length = 0;
    const url = (host: string, path = '/'): string => `https://${host}:${port}${path}`;
    const script = [
      'echo "ENV:$GITHUB_TOKEN"',
      'echo "FILE:$(cat /run/perimeter/credentials/github-token)"',
      'echo data > /run/perimeter/credentials/github-token 2>/dev/null && echo FILE-WRITABLE || echo FILE-READ-ONLY',
      `echo "CURL:$(curl -s -H "Authorization: Bearer $GITHUB_TOKEN" ${url(BOUND)})"`,
      `echo "OTHER:$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GITHUB_TOKEN" ${url(OTHER)})"`,
      `git ls-remote "https://x-access-token:$GITHUB_TOKEN@${BOUND}:${port}/repo.git" >/dev/null 2>git.err && echo GIT:ok || { echo GIT:failed; cat git.err; }`,
      `node -e 'fetch("${url(BOUND)}", { headers: { authorization: "Bearer " + process.env.GITHUB_TOKEN } }).then((r) => r.text()).then((t) => console.log("NODE:" + t.trim()), (e) => console.log("NODE:failed " + e.cause))'`,
      `${SANDBOX_PYTHON} -c 'import os, urllib.request as u; r = u.Request("${url(BOUND)}", headers={"Authorization": "Bearer " + os.environ["GITHUB_TOKEN"]}); print("PY:" + u.urlopen(r).read().decode().strip())'`,
      'env > env.txt; grep -c gho_ env.txt || true',
    ].join('\n');
    const s = await runSession(f, script, {
      policy: policy(f),
      args: ['--resolve', `${BOUND}=${ORIGIN_IP},${OTHER}=${ORIGIN_IP}`],
      env: { NODE_EXTRA_CA_CERTS: caFile },
      timeoutMs: 60_000,
    });
    const out = s.stdout;
    const placeholder = /^ENV:(pmtr_ph_[A-Za-z0-9]{26})$/m.exec(out)?.[1];
    assert.ok(placeholder, `echo $GITHUB_TOKEN shows a placeholder:\n${out}\n${s.stderr}`);
    assert.equal(/^FILE:(.*)$/m.exec(out)?.[1], placeholder, 'the file holds the same placeholder');
    assert.match(out, /^FILE-READ-ONLY$/m);
    assert.match(out, new RegExp(`^CURL:token ok; you sent Bearer ${placeholder}$`, 'm'));
    assert.match(out, /^OTHER:403$/m);
    assert.match(out, /^GIT:ok$/m);
    assert.match(out, new RegExp(`^NODE:token ok; you sent Bearer ${placeholder}$`, 'm'));
    assert.match(out, new RegExp(`^PY:token ok; you sent Bearer ${placeholder}$`, 'm'));
    // The origin got the real token from every client; the other host got nothing.
    assert.ok(received.filter((r) => r.authorization === `Bearer ${TOKEN}`).length >= 3);
    assert.ok(received.some((r) => r.path.startsWith('/repo.git') && r.authorization.startsWith('Basic ')));
    assert.ok(!received.some((r) => r.host.startsWith(OTHER)));
    // Audit: each use, the refused one, and never the value.
    const uses = s.events.filter((e) => e.type === 'credential.use' && e.decision === 'allow');
    assert.ok(uses.length >= 4, `credential.use events: ${uses.length}`);
    assert.ok(uses.every((e) => e.outcome?.credential === 'github'));
    assert.ok(
      s.events.some(
        (e) => e.type === 'credential.use' && e.decision === 'deny' && e.request?.resource.includes(OTHER),
      ),
      'the refused use is a decision too',
    );
    const refused = s.events.find((e) => e.type === 'credential.exfiltration');
    assert.equal(refused?.severity, 'high');
    assert.equal(refused?.outcome?.destination, `${OTHER}:${port}`);
    for (const text of [s.spool, out, s.stderr]) {
      assert.ok(!text.includes(TOKEN), 'the real token appears nowhere');
      assert.ok(!text.includes(Buffer.from(TOKEN).toString('base64')));
    }
    assert.ok(s.spoolIntact);
  },
);

test(
  'a binding whose secret is not in the store is left out: no variable, nothing injected, said once',
  { skip: SANDBOX_SKIP },
  async (t) => {
    const f = fixture(t);
    const s = await runSession(f, 'echo "ENV:${GITHUB_TOKEN-unset}"', { policy: policy(f) });
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^ENV:unset$/m);
    assert.match(s.stderr, /runs without the secret github-token .*perimeter secret set github-token/);
    const left = s.events.find((e) => e.type === 'credential.unavailable');
    assert.equal(left?.outcome?.credential, 'github');
  },
);
