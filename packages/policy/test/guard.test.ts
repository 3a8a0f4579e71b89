// The built-in guard, end to end: YAML policy text → loadPolicies → createEngine → decide. Under a
// policy that allows every public destination, every spelling of a loopback, private, link-local,
// metadata, CGNAT, multicast, reserved or embedding address, and every special-use name, must still
// be refused (DESIGN.md "A built-in guard refuses …"; research/egress.md §4.1, §9.2.6, §11.1-11.2).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicies } from '../src/load.js';
import { createEngine, type Decision, type Engine } from '../src/engine.js';

const OPEN_RULE = `
    - id: everything
      hosts: ["**"]
      cidrs: ["0.0.0.0/0", "::/0"]
      ports: ["*"]`;

/** A policy allowing every public destination on every port, plus extra rules under network. */
function policy(extraAllow = '', extraSections = ''): string {
  return `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: open
  layer: org
network:
  allow:${OPEN_RULE}${extraAllow}
${extraSections}`;
}

function engineOf(text: string): Engine {
  const loaded = loadPolicies([{ file: 't.yaml', text }]);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors, [], 'the test policy loads without errors');
  assert.equal(loaded.policies.length, 1);
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: '/home/u', workspace: '/w' } },
  );
}

const open = engineOf(policy());

function decide(engine: Engine, host: string, port = 443, resolved?: readonly string[]): Decision {
  return engine.decide({ surface: 'network', host, port, ...(resolved ? { resolved } : {}) });
}

interface GuardExpect {
  /** The guard's reason code (`loopback`, `metadata`, `nat64`, …). */
  readonly code: string;
  /** The special range that refused it, as the table writes it; absent for names. */
  readonly range?: string;
  /** Words the reason must contain, naming what the range is. */
  readonly says: string;
  readonly isLocked?: boolean;
}

function assertGuarded(d: Decision, want: GuardExpect): void {
  assert.equal(d.decision, 'deny', `decision for ${d.resource}: ${d.reason}`);
  assert.equal(d.wouldDecision, 'deny');
  assert.equal(d.code, 'guard', d.reason);
  assert.ok(d.guard, 'the decision says which guard refused it');
  assert.equal(d.guard.code, want.code);
  if (want.range !== undefined) assert.equal(d.guard.range, want.range);
  assert.equal(d.guard.isLocked, want.isLocked ?? false);
  assert.ok(d.reason.includes(want.says), `reason "${d.reason}" names "${want.says}"`);
  if (want.isLocked) assert.match(d.reason, /no policy can open it/);
  else if (want.range !== undefined) assert.ok(d.reason.includes(want.range), `reason names ${want.range}`);
  assert.deepEqual(d.rules, [], 'no rule determined a guard decision');
}

function assertAllowed(d: Decision): void {
  assert.equal(d.decision, 'allow', d.reason);
  assert.equal(d.code, 'rule');
  assert.equal(d.guard, undefined);
  assert.ok(
    d.rules.some((r) => r.rule === 'everything'),
    'allowed by the open rule',
  );
}

const LOOPBACK4: GuardExpect = { code: 'loopback', range: '127.0.0.0/8', says: 'loopback' };
const LOOPBACK6: GuardExpect = { code: 'loopback', range: '::1/128', says: 'loopback' };
const UNSPEC4: GuardExpect = { code: 'unspecified', range: '0.0.0.0/8', says: 'this network' };
const UNSPEC6: GuardExpect = { code: 'unspecified', range: '::/128', says: 'unspecified' };
const TEN: GuardExpect = { code: 'private', range: '10.0.0.0/8', says: 'private network' };
const ONE72: GuardExpect = { code: 'private', range: '172.16.0.0/12', says: 'private network' };
const ONE92: GuardExpect = { code: 'private', range: '192.168.0.0/16', says: 'private network' };
const LINK4: GuardExpect = { code: 'link-local', range: '169.254.0.0/16', says: 'link-local' };
const LINK6: GuardExpect = { code: 'link-local', range: 'fe80::/10', says: 'link-local' };
const CGNAT: GuardExpect = { code: 'cgnat', range: '100.64.0.0/10', says: 'carrier-grade NAT' };
const IETF: GuardExpect = { code: 'ietf-protocol', range: '192.0.0.0/24', says: 'IETF protocol' };
const MCAST4: GuardExpect = { code: 'multicast', range: '224.0.0.0/4', says: 'multicast' };
const MCAST6: GuardExpect = { code: 'multicast', range: 'ff00::/8', says: 'multicast' };
const RESERVED: GuardExpect = { code: 'reserved', range: '240.0.0.0/4', says: 'reserved' };
const BENCH: GuardExpect = { code: 'benchmarking', range: '198.18.0.0/15', says: 'benchmarking' };
const metadata = (range: string, says: string): GuardExpect => ({
  code: 'metadata',
  range,
  says,
  isLocked: true,
});
const IMDS = metadata('169.254.169.254/32', 'metadata service');
// An IPv6 form carrying a special IPv4 address is refused and can never be opened through the
// embedding (egress.md §4.1); one carrying a public IPv4 address is an ordinary guarded range.
const carrying = (code: string, range: string, inner: string, isLocked = true): GuardExpect => ({
  code,
  range,
  says: `carrying ${inner}`,
  isLocked,
});

describe('the guard refuses every spelling of a special address under an allow-everything policy', () => {
  const cases: readonly (readonly [id: string, host: string, want: GuardExpect])[] = [
    ['egress-ip-01', '127.0.0.1', LOOPBACK4],
    ['egress-ip-01', '127.127.127.127', LOOPBACK4],
    ['egress-ip-01', '127.0.1.3', LOOPBACK4],
    ['egress-ip-01', '127.0.0.0', LOOPBACK4],
    ['egress-ip-03', '0.0.0.0', UNSPEC4],
    ['egress-ip-03', '0', UNSPEC4],
    ['egress-ip-04', '[::]', UNSPEC6],
    ['egress-ip-04', '[::1]', LOOPBACK6],
    ['egress-ip-04', '[0000::1]', LOOPBACK6],
    ['egress-ip-04', '[0:0:0:0:0:0:0:1]', LOOPBACK6],
    ['egress-ip-04', '::1', LOOPBACK6],
    ['egress-ip-05', '127.1', LOOPBACK4],
    ['egress-ip-05', '127.0.1', LOOPBACK4],
    ['egress-ip-06', '2130706433', LOOPBACK4],
    ['egress-ip-06', '3232235521', ONE92],
    ['egress-ip-06', '3232235777', ONE92],
    ['egress-ip-06', '2852039166', IMDS],
    ['egress-ip-07', '0x7f000001', LOOPBACK4],
    ['egress-ip-07', '0x7f.1', LOOPBACK4],
    ['egress-ip-07', '0x7f.0.0.1', LOOPBACK4],
    ['egress-ip-07', '0x7f.0x0.0x00000000.0x01', LOOPBACK4],
    ['egress-ip-07', '0x0000007f.0x00000000.0x00000000.0x00000001', LOOPBACK4],
    ['egress-ip-08', '0177.0.0.1', LOOPBACK4],
    ['egress-ip-08', '017700000001', LOOPBACK4],
    ['egress-ip-08', '0177.0x0.0x0.0x1', LOOPBACK4],
    ['egress-ip-08', '127.000.000.1', LOOPBACK4],
    ['egress-ip-09', '0xA9.0xFE.0xA9.0xFE', IMDS],
    ['egress-ip-09', '0xA9FEA9FE', IMDS],
    ['egress-ip-09', '0251.0376.0251.0376', IMDS],
    ['egress-ip-09', '0251.00376.000251.0000376', IMDS],
    ['egress-ip-09', '0251.254.169.254', IMDS],
    ['egress-ip-11', '127.0.0.1.', LOOPBACK4],
    ['egress-ip-12', '①②⑦.⓪.⓪.①', LOOPBACK4],
    ['egress-ip-12', '１２７．０．０．１', LOOPBACK4],
    ['egress-ip-12', '127%2e0%2e0%2e1', LOOPBACK4],
    ['egress-ip-13', '[::ffff:127.0.0.1]', LOOPBACK4],
    ['egress-ip-13', '[0:0:0:0:0:ffff:127.0.0.1]', LOOPBACK4],
    ['egress-ip-13', '[::ffff:7f00:1]', LOOPBACK4],
    ['egress-ip-13', '[::ffff:a9fe:a9fe]', IMDS],
    ['egress-ip-13', '[0:0:0:0:0:ffff:169.254.169.254]', IMDS],
    ['egress-ip-13', '[::ffff:10.0.0.1]', TEN],
    ['egress-ip-14', '[::127.0.0.1]', carrying('ipv4-compatible', '::/96', '127.0.0.1')],
    ['egress-ip-14', '[::7f00:1]', carrying('ipv4-compatible', '::/96', '127.0.0.1')],
    ['egress-ip-14', '[::169.254.169.254]', carrying('ipv4-compatible', '::/96', '169.254.169.254')],
    ['egress-ip-15', '[::ffff:0:7f00:1]', carrying('siit', '::ffff:0:0:0/96', '127.0.0.1')],
    ['egress-ip-16', '[64:ff9b::7f00:1]', carrying('nat64', '64:ff9b::/96', '127.0.0.1')],
    ['egress-ip-16', '[64:ff9b::a9fe:a9fe]', carrying('nat64', '64:ff9b::/96', '169.254.169.254')],
    ['egress-ip-16', '[64:ff9b:1::a9fe:a9fe]', carrying('nat64', '64:ff9b:1::/48', '169.254.169.254')],
    ['egress-ip-16', '[64:ff9b::808:808]', carrying('nat64', '64:ff9b::/96', '8.8.8.8', false)],
    ['egress-ip-17', '[2002:a9fe:a9fe::1]', carrying('6to4', '2002::/16', '169.254.169.254')],
    ['egress-ip-17', '[2002:7f00:1::]', carrying('6to4', '2002::/16', '127.0.0.1')],
    ['egress-ip-17', '[2001:0:4136:e378:8000:63bf:3fff:fdd2]', carrying('teredo', '2001::/32', '192.0.2.45')],
    ['egress-ip-17', '[2001:0:1::1]', { code: 'teredo', range: '2001::/32', says: 'Teredo', isLocked: true }],
    ['egress-ip-19', '169.254.169.254', IMDS],
    ['egress-ip-19', '169.254.170.2', metadata('169.254.170.2/32', 'ECS task metadata')],
    ['egress-ip-19', '[fe80::1]', LINK6],
    ['egress-ip-19', '[fd00:ec2::254]', metadata('fd00:ec2::254/128', 'IPv6 instance metadata')],
    ['egress-ip-19', '169.254.0.1', LINK4],
    ['egress-ip-20', '10.0.0.1', TEN],
    ['egress-ip-20', '012.0.0.1', TEN],
    ['egress-ip-20', '172.16.0.1', ONE72],
    ['egress-ip-20', '172.31.255.255', ONE72],
    ['egress-ip-20', '192.168.1.1', ONE92],
    ['egress-ip-20', '0xC0A80101', ONE92],
    ['egress-ip-21', '100.64.0.1', CGNAT],
    ['egress-ip-21', '100.127.255.254', CGNAT],
    ['egress-ip-21', '100.100.100.200', metadata('100.100.100.200/32', 'Alibaba Cloud metadata')],
    ['egress-ip-22', '192.0.0.192', metadata('192.0.0.192/32', 'Oracle Cloud metadata')],
    ['egress-ip-22', '192.0.0.8', IETF],
    ['egress-ip-23', '168.63.129.16', metadata('168.63.129.16/32', 'Azure WireServer')],
    ['egress-ip-24', '224.0.0.1', MCAST4],
    ['egress-ip-24', '239.255.255.250', MCAST4],
    ['egress-ip-24', '255.255.255.255', RESERVED],
    ['egress-ip-24', '240.0.0.1', RESERVED],
    ['egress-ip-24', '198.18.0.1', BENCH],
    ['egress-ip-24', '192.0.2.1', { code: 'documentation', range: '192.0.2.0/24', says: 'documentation' }],
    [
      'egress-ip-24',
      '198.51.100.1',
      { code: 'documentation', range: '198.51.100.0/24', says: 'documentation' },
    ],
    [
      'egress-ip-24',
      '203.0.113.1',
      { code: 'documentation', range: '203.0.113.0/24', says: 'documentation' },
    ],
    ['egress-ip-24', '[ff02::1]', MCAST6],
    ['egress-ip-24', '[100::1]', { code: 'discard', range: '100::/64', says: 'discard' }],
    ['egress-ip-24', '[fec0::1]', { code: 'site-local', range: 'fec0::/10', says: 'site-local' }],
    ['egress-ip-24', '[3fff::1]', { code: 'documentation', range: '3fff::/20', says: 'documentation' }],
    ['egress-ip-24', '[5f00::1]', { code: 'segment-routing', range: '5f00::/16', says: 'segment-routing' }],
    [
      'egress-ip-24',
      '[2001:db8::1]',
      { code: 'documentation', range: '2001:db8::/32', says: 'documentation' },
    ],
    ['egress-ip-24', '[fc00::1]', { code: 'unique-local', range: 'fc00::/7', says: 'unique-local' }],
    ['egress-ip-24', '[fd12:3456::1]', { code: 'unique-local', range: 'fc00::/7', says: 'unique-local' }],
  ];
  for (const [id, host, want] of cases) {
    it(`${id}: denies ${host} as ${want.code}`, () => {
      assertGuarded(decide(open, host), want);
    });
  }

  it('egress-ip-07: shows the canonical address in the resource and notes the normalisation', () => {
    const d = decide(open, '0x7f.1', 80);
    assert.equal(d.resource, '127.0.0.1:80');
    assert.ok(d.notes?.some((n) => n.includes('0x7f.1') && n.includes('127.0.0.1')));
  });

  it('egress-ip-17: names the embedded IPv4 address of a 6to4 address in the reason', () => {
    const d = decide(open, '[2002:a9fe:a9fe::1]');
    assert.match(d.reason, /6to4/);
    assert.match(d.reason, /169\.254\.169\.254/);
  });

  it('refuses on every port, not only the web ports', () => {
    for (const port of [22, 80, 443, 2375, 6379, 9001, 65535]) {
      assertGuarded(decide(open, '127.0.0.1', port), LOOPBACK4);
    }
  });
});

describe('malformed hosts are refused before any rule or lookup', () => {
  const malformed: readonly (readonly [string, string])[] = [
    ['egress-ip-10', '425.510.425.510'],
    ['egress-ip-10', '7147006462'],
    ['egress-ip-10', '0x41414141A9FEA9FE'],
    ['egress-ip-10', '08.0.0.1'],
    ['egress-ip-10', '1.2.3.4.5'],
    ['egress-ip-10', '0x7f.0.0.256'],
    ['egress-ip-18', '[fe80::1%25eth0]'],
    ['egress-ip-18', '[::1%25lo]'],
    ['egress-url-07', 'evil.test%00.api.example.com'],
    ['egress-url-15', 'xn--a.good.test'],
    ['egress-dom-02', 'api.example.com..'],
  ];
  for (const [id, host] of malformed) {
    it(`${id}: denies ${host} as an invalid request even though everything is allowed`, () => {
      const d = decide(open, host);
      assert.equal(d.decision, 'deny');
      assert.equal(d.code, 'invalid-request');
      assert.deepEqual(d.matched, [], 'no rule is consulted for a host that does not parse');
    });
  }
});

describe('the guard refuses special-use names before resolution', () => {
  const loopbackName: GuardExpect = { code: 'loopback-name', says: 'loopback name' };
  const internal: GuardExpect = { code: 'internal-name', says: 'internal name' };
  const cases: readonly (readonly [id: string, host: string, want: GuardExpect])[] = [
    ['egress-ip-02', 'localhost', loopbackName],
    ['egress-ip-02', 'LOCALHOST', loopbackName],
    ['egress-ip-02', 'localhost.', loopbackName],
    ['egress-ip-02', 'ｌｏｃａｌｈｏｓｔ', loopbackName],
    ['egress-ip-02', 'local%68ost', loopbackName],
    ['egress-dns-09', 'x.localhost', loopbackName],
    ['egress-dns-09', 'foo.localhost', loopbackName],
    ['egress-dns-09', 'printer.local', { code: 'mdns-name', says: 'multicast-DNS' }],
    ['egress-dns-09', 'x.internal', internal],
    ['egress-dns-09', 'router.home.arpa', { code: 'internal-name', says: 'home-network' }],
    ['egress-dns-09', 'metadata', { code: 'metadata', says: 'metadata service', isLocked: true }],
    ['egress-dns-09', 'instance-data', { code: 'metadata', says: 'EC2 metadata', isLocked: true }],
    ['egress-dns-09', 'metadata.google.internal', { code: 'metadata', says: 'GCP metadata', isLocked: true }],
    [
      'egress-dns-09',
      'METADATA.Google.Internal.',
      { code: 'metadata', says: 'GCP metadata', isLocked: true },
    ],
    [
      'egress-dns-09',
      'instance-data.ec2.internal',
      { code: 'metadata', says: 'EC2 metadata', isLocked: true },
    ],
    ['egress-dns-09', 'rancher-metadata', { code: 'metadata', says: 'Rancher', isLocked: true }],
    ['egress-dns-09', 'x.onion', { code: 'onion-name', says: 'onion' }],
    ['egress-dns-09', 'a.invalid', { code: 'invalid-name', says: 'never resolve' }],
  ];
  for (const [id, host, want] of cases) {
    it(`${id}: denies ${host} by name`, () => {
      const d = decide(open, host);
      assertGuarded(d, want);
      assert.equal(d.guard?.range, undefined, 'a name guard has no address range');
      if (!want.isLocked) assert.match(d.reason, /names it exactly/);
    });
  }

  it('does not refuse ordinary names that merely contain a special word', () => {
    for (const host of [
      'localhost.example.com',
      'internal.example.com',
      'metadata.example.com',
      'mylocal.com',
    ]) {
      assertAllowed(decide(open, host));
    }
  });
});

describe('controls: public neighbours of the special ranges are allowed', () => {
  const controls: readonly (readonly [string, string])[] = [
    ['egress-ip-20', '172.15.255.255'],
    ['egress-ip-20', '172.32.0.0'],
    ['egress-ip-21', '100.63.255.254'],
    ['egress-ip-21', '100.128.0.1'],
    ['egress-ip-23', '168.63.129.15'],
    ['egress-ip-23', '168.63.129.17'],
    ['control', '8.8.8.8'],
    ['control', '0x08080808'],
    ['control', '93.184.216.34'],
    ['control', '169.253.255.255'],
    ['control', '169.255.0.0'],
    ['control', '192.0.1.255'],
    ['control', '192.0.3.0'],
    ['control', '223.255.255.255'],
    ['control', '[2606:4700:4700::1111]'],
    ['control', '[::ffff:8.8.8.8]'],
    ['control', 'example.com'],
    ['control', 'API.EXAMPLE.COM.'],
  ];
  for (const [id, host] of controls) {
    it(`${id}: allows ${host}`, () => {
      assertAllowed(decide(open, host));
    });
  }
});

describe('an explicit CIDR allow inside a range lifts the guard, and nothing wider does', () => {
  const lifted = engineOf(
    policy(`
    - id: corp-net
      cidrs: ["10.1.0.0/16", "127.0.0.0/8", "::1/128", "169.254.0.0/16", "100.64.0.0/10"]
      ports: ["*"]
    - id: db
      cidrs: ["172.16.5.0/24"]
      ports: [5432]`),
  );

  it('lifts the private guard for an address inside an explicit 10.1.0.0/16 allow', () => {
    const d = decide(lifted, '10.1.2.3');
    assert.equal(d.decision, 'allow', d.reason);
    assert.equal(d.code, 'rule');
    assert.ok(d.rules.some((r) => r.rule === 'corp-net'));
  });

  it('lifts it for every spelling of an address inside the allowed block', () => {
    for (const host of ['10.1.2.3', '0xa010203', '012.1.2.3', '10.1.515', '[::ffff:10.1.2.3]']) {
      assert.equal(decide(lifted, host).decision, 'allow', host);
    }
  });

  it('keeps the guard for a private address outside the allowed block', () => {
    assertGuarded(decide(lifted, '10.2.0.1'), TEN);
  });

  it('does not lift the guard for 0.0.0.0/0, which names no address inside the range', () => {
    assertGuarded(decide(open, '10.1.2.3'), TEN);
  });

  it('does not lift the guard for 10.0.0.0/7, which is wider than the private range', () => {
    const wide = engineOf(
      policy(`
    - id: wide
      cidrs: ["10.0.0.0/7"]
      ports: ["*"]`),
    );
    assertGuarded(decide(wide, '10.1.2.3'), TEN);
    assertAllowed(decide(wide, '11.0.0.1'));
  });

  it('does not lift the guard for ::/0 on IPv6 special addresses', () => {
    assertGuarded(decide(open, '[fc00::1]'), {
      code: 'unique-local',
      range: 'fc00::/7',
      says: 'unique-local',
    });
  });

  it('lifts loopback for 127.0.0.0/8 and ::1/128 allows, in every spelling', () => {
    for (const host of ['127.0.0.1', '0x7f.1', '2130706433', '[::ffff:127.0.0.1]', '[::1]']) {
      assert.equal(decide(lifted, host).decision, 'allow', host);
    }
  });

  it('lifts link-local for 169.254.0.0/16 but never the metadata address inside it', () => {
    assert.equal(decide(lifted, '169.254.1.1').decision, 'allow');
    assertGuarded(decide(lifted, '169.254.169.254'), IMDS);
    assertGuarded(decide(lifted, '169.254.170.2'), metadata('169.254.170.2/32', 'ECS'));
  });

  it('lifts CGNAT for 100.64.0.0/10 but never the Alibaba metadata address inside it', () => {
    assert.equal(decide(lifted, '100.64.0.1').decision, 'allow');
    assertGuarded(decide(lifted, '100.100.100.200'), metadata('100.100.100.200/32', 'Alibaba'));
  });

  it('lifts the guard only on the ports the lifting rule names, and a refusal on another port names the rule and the port to add', () => {
    assert.equal(decide(lifted, '172.16.5.10', 5432).decision, 'allow');
    const other = decide(lifted, '172.16.5.10', 22);
    assert.equal(other.decision, 'deny');
    assert.equal(other.code, 'guard');
    assert.equal(other.guard?.code, ONE72.code);
    assert.match(
      other.reason,
      /^Denied: 172\.16\.5\.10 is a private network \(RFC 1918\); rule "db" of policy .* names it, but for port 5432 only: add 22 to its ports\.$/,
    );
    // A rule for other methods would not apply once the port is added: it is not offered.
    const getOnly = engineOf(
      policy('\n    - { id: get-only, cidrs: ["10.9.0.0/16"], ports: [80], methods: [GET] }'),
    );
    assertGuarded(decide(getOnly, '10.9.9.9', 22), {
      code: 'private',
      range: '10.0.0.0/8',
      says: 'private network',
    });
    // A rule that names the address but could not lift the guard on any port is not offered.
    assertGuarded(
      decide(engineOf(policy('\n    - { id: wide, cidrs: ["0.0.0.0/0"], ports: [5432] }')), '10.9.9.9', 22),
      {
        code: 'private',
        range: '10.0.0.0/8',
        says: 'private network',
      },
    );
  });

  it('accepts an IPv4-mapped CIDR as the IPv4 block it stands for', () => {
    const mapped = engineOf(
      policy(`
    - id: mapped
      cidrs: ["::ffff:10.1.0.0/112"]
      ports: ["*"]`),
    );
    assert.equal(decide(mapped, '10.1.2.3').decision, 'allow');
    assertGuarded(decide(mapped, '10.2.0.1'), TEN);
  });

  it('lets a deny rule decide over the guard, and says the address is special too', () => {
    const denied = engineOf(
      policy(
        '',
        `  deny:
    - id: no-link-local
      cidrs: ["169.254.0.0/16"]`,
      ),
    );
    const d = decide(denied, '169.254.169.254');
    assert.equal(d.decision, 'deny');
    assert.equal(d.code, 'rule');
    assert.deepEqual(
      d.rules.map((r) => r.rule),
      ['no-link-local'],
    );
    assert.match(d.reason, /also the cloud instance metadata service/);
  });
});

describe('metadata addresses can never be opened', () => {
  const locked: readonly (readonly [host: string, cidr: string, says: string])[] = [
    ['169.254.169.254', '169.254.169.254/32', 'instance metadata'],
    ['169.254.170.2', '169.254.170.2/32', 'ECS task metadata'],
    ['[fd00:ec2::254]', 'fd00:ec2::254/128', 'IPv6 instance metadata'],
    ['168.63.129.16', '168.63.129.16/32', 'Azure WireServer'],
    ['100.100.100.200', '100.100.100.200/32', 'Alibaba'],
    ['192.0.0.192', '192.0.0.192/32', 'Oracle'],
  ];
  for (const [host, cidr, says] of locked) {
    it(`egress-ip-19: keeps ${host} closed even under an exact ${cidr} allow`, () => {
      const engine = engineOf(
        policy(`
    - id: exact
      cidrs: ["${cidr}"]
      ports: ["*"]`),
      );
      assertGuarded(decide(engine, host, 80), metadata(cidr, says));
    });
  }

  it('keeps 169.254.169.254 closed in every spelling under an exact /32 allow (also written mapped)', () => {
    const engine = engineOf(
      policy(`
    - id: exact
      cidrs: ["169.254.169.254/32", "::ffff:169.254.169.254/128"]
      ports: ["*"]`),
    );
    for (const host of [
      '169.254.169.254',
      '0xA9FEA9FE',
      '2852039166',
      '0251.0376.0251.0376',
      '[::ffff:a9fe:a9fe]',
    ]) {
      assertGuarded(decide(engine, host), IMDS);
    }
  });

  /** Legacy and mapped spellings of a dotted IPv4 address. */
  function spellings(dotted: string): string[] {
    const bytes = dotted.split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = bytes;
    const n = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
    const hex = (x: number): string => x.toString(16);
    return [
      String(n),
      `0x${hex(n)}`,
      `0${n.toString(8)}`,
      bytes.map((x) => `0x${hex(x)}`).join('.'),
      bytes.map((x) => `0${x.toString(8)}`).join('.'),
      `${a}.${(b << 16) | (c << 8) | d}`,
      `${a}.${b}.${(c << 8) | d}`,
      `${dotted}.`,
      `[::ffff:${dotted}]`,
      `[::ffff:${hex((a << 8) | b)}:${hex((c << 8) | d)}]`,
    ];
  }

  const lockedV4: readonly (readonly [string, string])[] = [
    ['169.254.169.254', 'instance metadata'],
    ['169.254.170.2', 'ECS task metadata'],
    ['168.63.129.16', 'Azure WireServer'],
    ['100.100.100.200', 'Alibaba'],
    ['192.0.0.192', 'Oracle'],
  ];
  for (const [address, says] of lockedV4) {
    it(`keeps every spelling of ${address} closed under an exact /32 allow`, () => {
      const engine = engineOf(
        policy(`
    - id: exact
      cidrs: ["${address}/32"]
      ports: ["*"]`),
      );
      for (const host of spellings(address)) {
        const d = decide(engine, host);
        assert.equal(d.resource, `${address}:443`, host);
        assertGuarded(d, metadata(`${address}/32`, says));
      }
    });
  }

  // Explicit allows of the embedding prefixes themselves (a NAT64 gateway, a 6to4 relay …). Whatever
  // such a rule lifts, the embedded metadata address reaches the metadata service through the
  // translator (librefang PR #2409), so it must stay locked.
  const embedded: readonly (readonly [kind: string, allow: string, host: string])[] = [
    ['NAT64', '64:ff9b::/96', '[64:ff9b::a9fe:a9fe]'],
    ['NAT64 (an exact /128)', '64:ff9b::a9fe:a9fe/128', '[64:ff9b::a9fe:a9fe]'],
    ['local-use NAT64', '64:ff9b:1::/48', '[64:ff9b:1::a9fe:a9fe]'],
    ['IPv4-compatible', '::/96', '[::169.254.169.254]'],
    ['SIIT', '::ffff:0:0:0/96', '[::ffff:0:a9fe:a9fe]'],
    ['6to4', '2002::/16', '[2002:a9fe:a9fe::1]'],
    ['Teredo', '2001::/32', '[2001:0:4136:e378:8000:63bf:5601:5601]'],
  ];
  for (const [kind, allow, host] of embedded) {
    it(`keeps the metadata address carried in a ${kind} address closed under an explicit ${allow} allow`, () => {
      const engine = engineOf(
        policy(`
    - id: translator
      cidrs: ["${allow}"]
      ports: ["*"]`),
      );
      const d = decide(engine, host);
      assert.equal(d.decision, 'deny', `${host} under ${allow}: ${d.reason}`);
      assert.equal(d.code, 'guard');
      assert.equal(d.guard?.isLocked, true);
    });
  }
});

describe('an exact host allow lifts the name guard; wildcards do not', () => {
  const named = engineOf(
    policy(`
    - id: git
      hosts: [git.corp.internal]
      ports: [443]
    - id: wiki
      hosts: ["**.corp2.internal"]
      ports: ["*"]
    - id: gcp
      hosts: [metadata.google.internal, metadata]
      ports: ["*"]
    - id: local-dev
      hosts: [localhost]
      ports: ["*"]`),
  );

  it('lifts the internal-name guard for exactly git.corp.internal', () => {
    const d = decide(named, 'git.corp.internal');
    assert.equal(d.decision, 'allow', d.reason);
    assert.ok(d.rules.some((r) => r.rule === 'git'));
    assert.equal(decide(named, 'GIT.corp.internal.').decision, 'allow');
  });

  it('keeps the guard for a sibling of the exact name', () => {
    assertGuarded(decide(named, 'other.corp.internal'), { code: 'internal-name', says: 'internal name' });
  });

  it('keeps the guard on a port the exact rule does not cover', () => {
    assertGuarded(decide(named, 'git.corp.internal', 22), { code: 'internal-name', says: 'internal name' });
  });

  it('does not lift the guard for a **.corp2.internal wildcard', () => {
    assertGuarded(decide(named, 'x.corp2.internal'), { code: 'internal-name', says: 'internal name' });
  });

  it('does not lift the guard for a **.internal wildcard (or refuses the pattern at load)', () => {
    const text = policy(`
    - id: all-internal
      hosts: ["**.internal"]
      ports: ["*"]`);
    const loaded = loadPolicies([{ file: 't.yaml', text }]);
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0) {
      assert.ok(
        errors.every((d) => d.code === 'bad-host-pattern' && d.message.includes('**.internal')),
        JSON.stringify(errors),
      );
      return;
    }
    const engine = createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/home/u', workspace: '/w' } },
    );
    for (const host of ['x.internal', 'git.corp.internal', 'a.b.c.internal']) {
      assertGuarded(decide(engine, host), { code: 'internal-name', says: 'internal name' });
    }
  });

  it('never lifts the guard for metadata names, even when named exactly', () => {
    assertGuarded(decide(named, 'metadata.google.internal'), {
      code: 'metadata',
      says: 'GCP',
      isLocked: true,
    });
    assertGuarded(decide(named, 'metadata'), { code: 'metadata', says: 'metadata service', isLocked: true });
  });

  it('lets an exact localhost allow through by name, but not to the loopback address it resolves to', () => {
    assert.equal(decide(named, 'localhost').decision, 'allow');
    assertGuarded(decide(named, 'localhost', 443, ['127.0.0.1']), {
      code: 'loopback',
      range: '127.0.0.0/8',
      says: 'resolved to 127.0.0.1',
    });
  });
});

describe('resolved addresses are judged by the guard too', () => {
  it('egress-dns-01: denies an allowed name that resolves to a private address', () => {
    const d = decide(open, 'internal.good.test', 443, ['10.0.0.5']);
    assertGuarded(d, { ...TEN, says: 'resolved to 10.0.0.5' });
  });

  it('allows an allowed name that resolves to public addresses only', () => {
    assertAllowed(decide(open, 'example.com', 443, ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']));
  });

  it('egress-dns-03: denies the whole answer when public and private addresses are mixed, in either order', () => {
    assertGuarded(decide(open, 'mixed.good.test', 443, ['93.184.216.34', '127.0.0.1']), {
      ...LOOPBACK4,
      says: 'resolved to 127.0.0.1',
    });
    assertGuarded(decide(open, 'mixed.good.test', 443, ['127.0.0.1', '93.184.216.34']), {
      ...LOOPBACK4,
      says: 'resolved to 127.0.0.1',
    });
  });

  it('egress-dns-04: denies AAAA answers that map or translate to special IPv4 addresses', () => {
    assertGuarded(decide(open, 'v6.good.test', 443, ['::ffff:127.0.0.1']), LOOPBACK4);
    assertGuarded(
      decide(open, 'v6.good.test', 443, ['64:ff9b::a9fe:a9fe']),
      carrying('nat64', '64:ff9b::/96', '169.254.169.254'),
    );
  });

  it('egress-dns-05: denies a nip.io-style name resolving to the metadata address', () => {
    assertGuarded(decide(open, '169.254.169.254.nip.good.test', 443, ['169.254.169.254']), IMDS);
  });

  it('egress-dns-07: denies a name that resolved to nothing', () => {
    const d = decide(open, 'example.com', 443, []);
    assert.equal(d.decision, 'deny');
    assert.equal(d.code, 'guard');
    assert.equal(d.guard?.code, 'unusable-answer');
    assert.match(d.reason, /resolved to no address/);
  });

  it('denies an answer that is not an IP address (a zone id, a name)', () => {
    for (const bad of ['fe80::1%eth0', 'example.com', '']) {
      const d = decide(open, 'example.com', 443, [bad]);
      assert.equal(d.decision, 'deny', bad);
      assert.equal(d.code, 'guard', bad);
      assert.equal(d.guard?.code, 'unusable-answer', bad);
    }
  });

  describe('with an explicit CIDR allow', () => {
    const corp = engineOf(
      policy(`
    - id: corp-net
      cidrs: ["10.1.0.0/16", "169.254.169.254/32"]
      ports: ["*"]
    - id: git
      hosts: [git.corp.internal]
      cidrs: ["10.2.0.0/16"]
      ports: ["*"]`),
    );

    it('allows an allowed name resolving inside the explicitly allowed block', () => {
      const d = decide(corp, 'example.com', 443, ['10.1.0.5']);
      assert.equal(d.decision, 'allow', d.reason);
    });

    it('denies when one of the addresses falls outside the explicitly allowed block', () => {
      assertGuarded(decide(corp, 'example.com', 443, ['10.1.0.5', '10.3.0.5']), {
        ...TEN,
        says: 'resolved to 10.3.0.5',
      });
    });

    it('allows an exactly named internal host resolving inside the CIDR its own rule carries', () => {
      assert.equal(decide(corp, 'git.corp.internal', 443, ['10.2.0.7']).decision, 'allow');
      assert.equal(decide(corp, 'git.corp.internal', 443, ['10.1.0.7']).decision, 'allow');
      assertGuarded(decide(corp, 'git.corp.internal', 443, ['192.168.0.7']), {
        ...ONE92,
        says: 'resolved to 192.168.0.7',
      });
    });

    it('never opens a resolved metadata address, even under an exact /32 allow', () => {
      assertGuarded(decide(corp, 'example.com', 443, ['169.254.169.254']), IMDS);
      assertGuarded(decide(corp, 'example.com', 443, ['::ffff:169.254.169.254']), IMDS);
    });
  });
});
