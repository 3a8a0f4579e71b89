// Canonical host and authority parsing (src/host.ts): the one parser behind every decision, dial
// and audit record. Each row says what canonical form (or which error) a raw host gives. Case ids
// refer to research/egress.md §11.1 (egress-ip-*), §11.3 (egress-url-*) and §11.5 (egress-dom-*);
// what the engine then decides is in guard.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalHost,
  parseAuthority,
  parsePort,
  type CanonicalHost,
  type HostErrorCode,
  type HostStep,
} from '../src/host.js';

function canon(raw: string): CanonicalHost {
  const r = canonicalHost(raw);
  if ('error' in r) {
    assert.fail(`expected ${JSON.stringify(raw)} to canonicalise, got ${r.error.code}: ${r.error.message}`);
  }
  return r.host;
}

function hostError(raw: string): HostErrorCode {
  const r = canonicalHost(raw);
  if ('host' in r)
    assert.fail(`expected ${JSON.stringify(raw)} to be refused, got ${r.host.kind} ${r.host.name}`);
  assert.ok(r.error.message.length > 0, 'an error carries a message');
  return r.error.code;
}

type Expect =
  | { readonly ip4: string }
  | { readonly ip6: string }
  | { readonly name: string }
  | { readonly error: HostErrorCode };

interface Row {
  readonly id: string;
  readonly input: string;
  readonly expect: Expect;
  readonly step?: HostStep;
}

function show(input: string): string {
  return /^[\x21-\x7e]*$/.test(input) ? input : JSON.stringify(input);
}

function describeExpect(e: Expect): string {
  if ('ip4' in e) return `the IPv4 address ${e.ip4}`;
  if ('ip6' in e) return `the IPv6 address ${e.ip6}`;
  if ('name' in e) return `the name ${e.name}`;
  return `an error (${e.error})`;
}

function check(row: Row): void {
  const { input, expect } = row;
  if ('error' in expect) {
    assert.equal(hostError(input), expect.error);
    return;
  }
  const host = canon(input);
  if ('ip4' in expect) {
    assert.equal(host.kind, 'ip');
    assert.ok(host.kind === 'ip' && host.ip.family === 4, 'IPv4');
    assert.equal(host.name, expect.ip4);
  } else if ('ip6' in expect) {
    assert.equal(host.kind, 'ip');
    assert.ok(host.kind === 'ip' && host.ip.family === 6, 'IPv6');
    assert.equal(host.name, expect.ip6);
  } else {
    assert.equal(host.kind, 'name');
    assert.equal(host.name, expect.name);
  }
  if (row.step !== undefined)
    assert.ok(host.steps.includes(row.step), `steps ${host.steps.join(',')} include ${row.step}`);
}

function table(rows: readonly Row[]): void {
  for (const row of rows) {
    it(`${row.id}: ${show(row.input)} is ${describeExpect(row.expect)}`, () => check(row));
  }
}

describe('IP literals in hosts (egress-ip-01..24)', () => {
  table([
    { id: 'egress-ip-01', input: '127.0.0.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-01', input: '127.127.127.127', expect: { ip4: '127.127.127.127' } },
    { id: 'egress-ip-01', input: '127.0.1.3', expect: { ip4: '127.0.1.3' } },
    { id: 'egress-ip-01', input: '127.0.0.0', expect: { ip4: '127.0.0.0' } },
    { id: 'egress-ip-02', input: 'localhost', expect: { name: 'localhost' } },
    { id: 'egress-ip-02', input: 'LOCALHOST', expect: { name: 'localhost' }, step: 'lowercased' },
    { id: 'egress-ip-02', input: 'localhost.', expect: { name: 'localhost' }, step: 'trailing-dot-stripped' },
    { id: 'egress-ip-03', input: '0.0.0.0', expect: { ip4: '0.0.0.0' } },
    { id: 'egress-ip-03', input: '0', expect: { ip4: '0.0.0.0' }, step: 'ipv4-legacy-form' },
    { id: 'egress-ip-04', input: '[::]', expect: { ip6: '::' } },
    { id: 'egress-ip-04', input: '[::1]', expect: { ip6: '::1' } },
    { id: 'egress-ip-04', input: '[0000::1]', expect: { ip6: '::1' }, step: 'ipv6-normalised' },
    { id: 'egress-ip-04', input: '[0:0:0:0:0:0:0:1]', expect: { ip6: '::1' }, step: 'ipv6-normalised' },
    { id: 'egress-ip-05', input: '127.1', expect: { ip4: '127.0.0.1' }, step: 'ipv4-legacy-form' },
    { id: 'egress-ip-05', input: '127.0.1', expect: { ip4: '127.0.0.1' }, step: 'ipv4-legacy-form' },
    { id: 'egress-ip-06', input: '2130706433', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-06', input: '3232235521', expect: { ip4: '192.168.0.1' } },
    { id: 'egress-ip-06', input: '3232235777', expect: { ip4: '192.168.1.1' } },
    { id: 'egress-ip-06', input: '2852039166', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-07', input: '0x7f000001', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-07', input: '0x7f.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-07', input: '0x7f.0.0.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-07', input: '0x7f.0x0.0x00000000.0x01', expect: { ip4: '127.0.0.1' } },
    {
      id: 'egress-ip-07',
      input: '0x0000007f.0x00000000.0x00000000.0x00000001',
      expect: { ip4: '127.0.0.1' },
    },
    { id: 'egress-ip-07', input: '0X7F.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-08', input: '0177.0.0.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-08', input: '017700000001', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-08', input: '0177.0x0.0x0.0x1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-08', input: '127.000.000.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-09', input: '0xA9.0xFE.0xA9.0xFE', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-09', input: '0xA9FEA9FE', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-09', input: '0251.0376.0251.0376', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-09', input: '0251.00376.000251.0000376', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-09', input: '0251.254.169.254', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-10', input: '425.510.425.510', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: '7147006462', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: '0x41414141A9FEA9FE', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: '08.0.0.1', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: '1.2.3.4.5', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: '0x7f.0.0.256', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: 'foo.0x1', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-10', input: 'evil.test.09', expect: { error: 'malformed-ip' } },
    { id: 'egress-ip-11', input: '127.0.0.1.', expect: { ip4: '127.0.0.1' }, step: 'trailing-dot-stripped' },
    { id: 'egress-ip-12', input: '①②⑦.⓪.⓪.①', expect: { ip4: '127.0.0.1' }, step: 'idna-mapped' },
    { id: 'egress-ip-12', input: '１２７．０．０．１', expect: { ip4: '127.0.0.1' }, step: 'idna-mapped' },
    { id: 'egress-ip-12', input: '０ｘ７ｆ.１', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-12', input: '127。0。0。1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-12', input: '127%2e0%2e0%2e1', expect: { ip4: '127.0.0.1' }, step: 'percent-decoded' },
    { id: 'egress-ip-12', input: '%31%32%37.0.0.1', expect: { ip4: '127.0.0.1' }, step: 'percent-decoded' },
    {
      id: 'egress-ip-13',
      input: '[::ffff:127.0.0.1]',
      expect: { ip4: '127.0.0.1' },
      step: 'ipv4-mapped-unwrapped',
    },
    { id: 'egress-ip-13', input: '[0:0:0:0:0:ffff:127.0.0.1]', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-13', input: '[::ffff:7f00:1]', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-13', input: '[::ffff:a9fe:a9fe]', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-13', input: '[0:0:0:0:0:ffff:169.254.169.254]', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-13', input: '::ffff:127.0.0.1', expect: { ip4: '127.0.0.1' } },
    { id: 'egress-ip-14', input: '[::127.0.0.1]', expect: { ip6: '::7f00:1' }, step: 'ipv6-normalised' },
    { id: 'egress-ip-14', input: '[::7f00:1]', expect: { ip6: '::7f00:1' } },
    { id: 'egress-ip-14', input: '[::169.254.169.254]', expect: { ip6: '::a9fe:a9fe' } },
    { id: 'egress-ip-15', input: '[::ffff:0:7f00:1]', expect: { ip6: '::ffff:0:7f00:1' } },
    { id: 'egress-ip-16', input: '[64:ff9b::7f00:1]', expect: { ip6: '64:ff9b::7f00:1' } },
    { id: 'egress-ip-16', input: '[64:ff9b::a9fe:a9fe]', expect: { ip6: '64:ff9b::a9fe:a9fe' } },
    { id: 'egress-ip-16', input: '[64:ff9b:1::a9fe:a9fe]', expect: { ip6: '64:ff9b:1::a9fe:a9fe' } },
    { id: 'egress-ip-16', input: '[64:ff9b::808:808]', expect: { ip6: '64:ff9b::808:808' } },
    { id: 'egress-ip-16', input: '[64:ff9b::0808:0808]', expect: { ip6: '64:ff9b::808:808' } },
    { id: 'egress-ip-17', input: '[2002:a9fe:a9fe::1]', expect: { ip6: '2002:a9fe:a9fe::1' } },
    { id: 'egress-ip-17', input: '[2002:7f00:1::]', expect: { ip6: '2002:7f00:1::' } },
    {
      id: 'egress-ip-17',
      input: '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',
      expect: { ip6: '2001:0:4136:e378:8000:63bf:3fff:fdd2' },
    },
    { id: 'egress-ip-18', input: '[fe80::1%25eth0]', expect: { error: 'zone-id' } },
    { id: 'egress-ip-18', input: '[::1%25lo]', expect: { error: 'zone-id' } },
    { id: 'egress-ip-18', input: '[fe80::1%eth0]', expect: { error: 'zone-id' } },
    { id: 'egress-ip-18', input: 'fe80::1%eth0', expect: { error: 'zone-id' } },
    { id: 'egress-ip-19', input: '169.254.169.254', expect: { ip4: '169.254.169.254' } },
    { id: 'egress-ip-19', input: '169.254.170.2', expect: { ip4: '169.254.170.2' } },
    { id: 'egress-ip-19', input: '[fe80::1]', expect: { ip6: 'fe80::1' } },
    { id: 'egress-ip-19', input: '[FD00:EC2::254]', expect: { ip6: 'fd00:ec2::254' } },
    { id: 'egress-ip-20', input: '10.0.0.1', expect: { ip4: '10.0.0.1' } },
    { id: 'egress-ip-20', input: '172.16.0.1', expect: { ip4: '172.16.0.1' } },
    { id: 'egress-ip-20', input: '172.31.255.255', expect: { ip4: '172.31.255.255' } },
    { id: 'egress-ip-20', input: '192.168.1.1', expect: { ip4: '192.168.1.1' } },
    { id: 'egress-ip-20', input: '172.15.255.255', expect: { ip4: '172.15.255.255' } },
    { id: 'egress-ip-20', input: '172.32.0.0', expect: { ip4: '172.32.0.0' } },
    { id: 'egress-ip-21', input: '100.64.0.1', expect: { ip4: '100.64.0.1' } },
    { id: 'egress-ip-21', input: '100.127.255.254', expect: { ip4: '100.127.255.254' } },
    { id: 'egress-ip-21', input: '100.100.100.200', expect: { ip4: '100.100.100.200' } },
    { id: 'egress-ip-22', input: '192.0.0.192', expect: { ip4: '192.0.0.192' } },
    { id: 'egress-ip-22', input: '192.0.0.8', expect: { ip4: '192.0.0.8' } },
    { id: 'egress-ip-23', input: '168.63.129.16', expect: { ip4: '168.63.129.16' } },
    { id: 'egress-ip-24', input: '224.0.0.1', expect: { ip4: '224.0.0.1' } },
    { id: 'egress-ip-24', input: '255.255.255.255', expect: { ip4: '255.255.255.255' } },
    { id: 'egress-ip-24', input: '240.0.0.1', expect: { ip4: '240.0.0.1' } },
    { id: 'egress-ip-24', input: '198.18.0.1', expect: { ip4: '198.18.0.1' } },
    { id: 'egress-ip-24', input: '[ff02::1]', expect: { ip6: 'ff02::1' } },
    { id: 'egress-ip-24', input: '[100::1]', expect: { ip6: '100::1' } },
    { id: 'egress-ip-24', input: '[fec0::1]', expect: { ip6: 'fec0::1' } },
    { id: 'egress-ip-24', input: '[3fff::1]', expect: { ip6: '3fff::1' } },
    { id: 'egress-ip-24', input: '[5f00::1]', expect: { ip6: '5f00::1' } },
    { id: 'egress-ip-24', input: '[2001:db8::1]', expect: { ip6: '2001:db8::1' } },
  ]);

  it('egress-ip-10: a malformed IPv4 literal is refused, never handed on as a name to look up', () => {
    for (const input of ['425.510.425.510', '7147006462', '0x41414141A9FEA9FE', '08.0.0.1', '1.2.3.4.5']) {
      const r = canonicalHost(input);
      assert.ok('error' in r, input);
      assert.match(r.error.message, /IPv4/);
    }
  });
});

describe('URL and authority confusion, the host part (egress-url-*)', () => {
  table([
    { id: 'egress-url-01', input: 'api.example.com@evil.test', expect: { error: 'forbidden-character' } },
    { id: 'egress-url-02', input: 'evil.test#@api.example.com', expect: { error: 'forbidden-character' } },
    { id: 'egress-url-03', input: 'evil.test\\@api.example.com', expect: { error: 'forbidden-character' } },
    {
      id: 'egress-url-06',
      input: 'api.example.com%2eevil.test',
      expect: { name: 'api.example.com.evil.test' },
    },
    { id: 'egress-url-07', input: 'evil.test%00.api.example.com', expect: { error: 'control-character' } },
    { id: 'egress-url-08', input: 'ex%41mple.com', expect: { name: 'example.com' }, step: 'percent-decoded' },
    { id: 'egress-url-08', input: 'EX%41MPLE.COM', expect: { name: 'example.com' } },
    { id: 'egress-url-15', input: 'xn--a.good.test', expect: { error: 'malformed-host' } },
    { id: 'egress-url-15', input: '\u200D.good.test', expect: { error: 'malformed-host' } },
    { id: 'egress-url-15', input: 'a\u200Cb.good.test', expect: { error: 'malformed-host' } },
    { id: 'egress-url-15', input: 'xn--tešla.good.test', expect: { error: 'malformed-host' } },
    { id: 'egress-url-15', input: 'xn--.good.test', expect: { error: 'malformed-host' } },
    {
      id: 'egress-url-16',
      input: 'ａｐｉ.example.com',
      expect: { name: 'api.example.com' },
      step: 'idna-mapped',
    },
    { id: 'egress-url-16', input: 'ＡＰＩ．ＥＸＡＭＰＬＥ．ＣＯＭ', expect: { name: 'api.example.com' } },
  ]);

  it('egress-url-14: a Cyrillic homoglyph becomes its own A-label, never the Latin name it imitates', () => {
    const host = canon('\u0430pi.example.com');
    assert.equal(host.kind, 'name');
    assert.equal(host.name, 'xn--pi-6kc.example.com');
    assert.notEqual(host.name, 'api.example.com');
    assert.ok(host.steps.includes('idna-mapped'));
  });

  it('egress-url-06: a percent-encoded dot makes a longer name, which a suffix match must not confuse', () => {
    const host = canon('api.example.com%2eevil.test');
    assert.ok(host.name.endsWith('.evil.test'));
  });
});

describe('domain names (egress-dom-*)', () => {
  table([
    {
      id: 'egress-dom-01',
      input: 'API.EXAMPLE.COM',
      expect: { name: 'api.example.com' },
      step: 'lowercased',
    },
    {
      id: 'egress-dom-02',
      input: 'api.example.com.',
      expect: { name: 'api.example.com' },
      step: 'trailing-dot-stripped',
    },
    { id: 'egress-dom-02', input: 'api.example.com..', expect: { error: 'malformed-host' } },
    { id: 'egress-dom-02', input: 'API.Example.COM.', expect: { name: 'api.example.com' } },
    {
      id: 'egress-dom-08',
      input: 'bücher.example',
      expect: { name: 'xn--bcher-kva.example' },
      step: 'idna-mapped',
    },
    { id: 'egress-dom-08', input: 'BÜCHER.example', expect: { name: 'xn--bcher-kva.example' } },
    { id: 'egress-dom-08', input: 'xn--bcher-kva.example', expect: { name: 'xn--bcher-kva.example' } },
    { id: 'egress-dom-08', input: 'XN--BCHER-KVA.EXAMPLE', expect: { name: 'xn--bcher-kva.example' } },
    { id: 'egress-dom-08', input: 'b%C3%BCcher.example', expect: { name: 'xn--bcher-kva.example' } },
    {
      id: 'egress-dom-10',
      input: '_acme-challenge.good.test',
      expect: { name: '_acme-challenge.good.test' },
    },
  ]);

  it('egress-dom-01: an upper-case name has the same canonical form as its lower-case twin', () => {
    assert.equal(canon('API.EXAMPLE.COM').name, canon('api.example.com').name);
  });

  it('leaves an already canonical name untouched and records no steps', () => {
    const host = canon('api.example.com');
    assert.equal(host.name, 'api.example.com');
    assert.deepEqual(host.steps, []);
  });

  it('refuses empty labels and lone dots', () => {
    for (const input of ['a..b', '.example.com', '.', '..']) {
      assert.equal(hostError(input), 'malformed-host', input);
    }
  });

  it('refuses the empty host', () => {
    assert.equal(hostError(''), 'empty-host');
  });

  it('accepts hyphens at the edge of a label, as the WHATWG profile (CheckHyphens off) does', () => {
    assert.equal(canon('-a.example.com').name, '-a.example.com');
    assert.equal(canon('a-.example.com').name, 'a-.example.com');
  });
});

describe('control characters are refused', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['NUL', 'evil.test\u0000.api.example.com'],
    ['CR', 'api.example.com\r'],
    ['LF', 'api.example.com\nHost: evil.test'],
    ['CR LF', 'api.example.com\r\n'],
    ['DEL', 'api\u007f.example.com'],
    ['tab', 'api\t.example.com'],
    ['a C1 control (NEL)', 'api\u0085.example.com'],
    ['an encoded NUL', 'api%00.example.com'],
    ['an encoded CR LF', 'api%0d%0a.example.com'],
    ['an encoded DEL', 'api%7F.example.com'],
    ['a NUL inside an IPv6 literal', '[::1\u0000]'],
  ];
  for (const [what, input] of cases) {
    it(`refuses a host containing ${what}`, () => {
      assert.equal(hostError(input), 'control-character');
    });
  }

  it('refuses an authority containing CR LF before it looks at the port', () => {
    const r = parseAuthority('api.example.com:443\r\nX: y');
    assert.ok('error' in r);
    assert.equal(r.error.code, 'control-character');
  });
});

describe('forbidden characters are refused', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['a space', 'a b.com'],
    ['a no-break space', 'a\u00A0b.com'],
    ['a byte-order mark', '\uFEFFexample.com'],
    ['a slash', 'a/b.com'],
    ['a backslash', 'a\\b.com'],
    ['a question mark', 'a?b.com'],
    ['a hash', 'a#b.com'],
    ['an at sign', 'user@example.com'],
    ['angle brackets', 'a<b>.com'],
    ['a caret', 'a^b.com'],
    ['a pipe', 'a|b.com'],
    ['an encoded slash', 'a%2fb.com'],
    ['an encoded space', 'a%20b.com'],
    ['an encoded percent sign', 'a%25b.com'],
    ['an encoded bracket', 'a%5Bb.com'],
  ];
  for (const [what, input] of cases) {
    it(`refuses a host containing ${what}`, () => {
      assert.equal(hostError(input), 'forbidden-character');
    });
  }

  it('refuses bad percent-encodings', () => {
    assert.equal(hostError('ex%zzample.com'), 'malformed-host');
    assert.equal(hostError('ex%4'), 'malformed-host');
    assert.equal(hostError('%FF.com'), 'malformed-host');
  });

  it('refuses a full-width solidus that IDNA maps to "/"', () => {
    hostError('evil.test\uFF0Fapi.example.com');
  });

  it('refuses an unclosed or empty IPv6 literal', () => {
    assert.equal(hostError('[::1'), 'malformed-ip');
    assert.equal(hostError('[]'), 'malformed-ip');
    assert.equal(hostError('[::1]x'), 'malformed-ip');
    assert.equal(hostError('example.com:443'), 'malformed-ip');
  });
});

describe('IDNA (UTS-46, the WHATWG profile)', () => {
  table([
    { id: 'idna', input: 'ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ', expect: { name: 'example.com' }, step: 'idna-mapped' },
    { id: 'idna', input: 'exa\u00ADmple.com', expect: { name: 'example.com' }, step: 'idna-mapped' },
    { id: 'idna', input: 'exa\u200Bmple.com', expect: { name: 'example.com' } },
    { id: 'idna', input: 'example。com', expect: { name: 'example.com' } },
    { id: 'idna', input: 'example.com。', expect: { name: 'example.com' } },
    { id: 'idna', input: 'ß.de', expect: { name: 'xn--zca.de' } },
    { id: 'idna', input: 'ς.gr', expect: { name: 'xn--3xa.gr' } },
    { id: 'idna', input: 'ｌｏｃａｌｈｏｓｔ', expect: { name: 'localhost' } },
    { id: 'idna', input: '\u05D0a.com', expect: { error: 'malformed-host' } },
    { id: 'idna', input: '\u00AD', expect: { error: 'malformed-host' } },
    { id: 'idna', input: 'xn--', expect: { error: 'malformed-host' } },
  ]);

  it('records idna-mapped when a non-ASCII letter (the Kelvin sign) is mapped, not only lowercased', () => {
    const host = canon('\u212Aelvin.example');
    assert.equal(host.name, 'kelvin.example');
    assert.ok(host.steps.includes('idna-mapped'), `steps: ${host.steps.join(',')}`);
  });
});

describe('length limits', () => {
  const label63 = 'a'.repeat(63);
  const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');

  it('accepts a 63-octet label and refuses a 64-octet one', () => {
    assert.equal(canon(`${label63}.example.com`).name, `${label63}.example.com`);
    assert.equal(hostError(`${'a'.repeat(64)}.example.com`), 'malformed-host');
  });

  it('accepts a 253-octet name, with or without its trailing dot, and refuses 254', () => {
    assert.equal(name253.length, 253);
    assert.equal(canon(name253).name, name253);
    assert.equal(canon(`${name253}.`).name, name253);
    assert.equal(hostError(`a${name253}`), 'malformed-host');
  });

  it('measures limits on the A-label, not on the Unicode text', () => {
    // 60 "ü" are 60 characters, under the limit, but their A-label (xn--…) is 66 octets.
    const label = 'ü'.repeat(60);
    assert.ok(label.length < 63);
    assert.equal(hostError(`${label}.example`), 'malformed-host');
  });

  it('refuses a raw host longer than 1024 characters before any processing', () => {
    assert.equal(hostError('a.'.repeat(600)), 'malformed-host');
    assert.equal(hostError('ü'.repeat(1025)), 'malformed-host');
  });
});

describe('authorities and ports', () => {
  function authority(raw: string, defaultPort?: number): { name: string; port: number; kind: string } {
    const r = parseAuthority(raw, defaultPort);
    if ('error' in r)
      assert.fail(`expected ${JSON.stringify(raw)} to parse, got ${r.error.code}: ${r.error.message}`);
    return { name: r.authority.host.name, port: r.authority.port, kind: r.authority.host.kind };
  }

  function authorityError(raw: string, defaultPort?: number): HostErrorCode {
    const r = parseAuthority(raw, defaultPort);
    if ('authority' in r) assert.fail(`expected ${JSON.stringify(raw)} to be refused`);
    return r.error.code;
  }

  it('egress-dom-01: reads API.EXAMPLE.COM:443 as api.example.com port 443', () => {
    assert.deepEqual(authority('API.EXAMPLE.COM:443'), { name: 'api.example.com', port: 443, kind: 'name' });
  });

  it('egress-dom-02: strips one trailing dot in an authority', () => {
    assert.deepEqual(authority('api.example.com.:443'), { name: 'api.example.com', port: 443, kind: 'name' });
    assert.equal(authorityError('api.example.com..:443'), 'malformed-host');
  });

  it('reads bracketed IPv6 with a port and unwraps a mapped address', () => {
    assert.deepEqual(authority('[::1]:80'), { name: '::1', port: 80, kind: 'ip' });
    assert.deepEqual(authority('[::ffff:127.0.0.1]:443'), { name: '127.0.0.1', port: 443, kind: 'ip' });
  });

  it('canonicalises a legacy IPv4 host in an authority', () => {
    assert.deepEqual(authority('0x7f.1:8080'), { name: '127.0.0.1', port: 8080, kind: 'ip' });
  });

  it('uses the default port only when none is written, and asks for one when there is no default', () => {
    assert.deepEqual(authority('example.com', 443), { name: 'example.com', port: 443, kind: 'name' });
    assert.deepEqual(authority('[::1]', 443), { name: '::1', port: 443, kind: 'ip' });
    assert.deepEqual(authority('::1', 443), { name: '::1', port: 443, kind: 'ip' });
    assert.deepEqual(authority('example.com:8443', 443), { name: 'example.com', port: 8443, kind: 'name' });
    assert.equal(authorityError('example.com'), 'missing-port');
  });

  const badPorts: readonly (readonly [string, string])[] = [
    ['localhost:+11211aaa', 'a sign and trailing junk (egress-url-09)'],
    ['localhost:00011211aaaa', 'leading zeros and junk (egress-url-09)'],
    ['localhost:-1', 'a negative port (egress-url-09)'],
    ['localhost:65536', 'a port above 65535 (egress-url-09)'],
    ['localhost:https', 'a service name (egress-url-09)'],
    ['localhost:0', 'port zero'],
    ['localhost:', 'an empty port'],
    ['localhost:080', 'a leading zero'],
    ['localhost: 80', 'a space'],
    ['localhost:80 ', 'trailing space'],
    ['localhost:1e3', 'exponent notation'],
    ['localhost:0x50', 'hex'],
    ['localhost:99999999999999999999', 'a huge number'],
    ['[::1]:', 'an empty port after IPv6'],
    ['[::1]80', 'no colon after the bracket'],
    ['[::1]:99999', 'a port above 65535 after IPv6'],
    ['api.example.com:443@evil.test', 'userinfo hiding behind a port'],
  ];
  for (const [raw, why] of badPorts) {
    it(`egress-url-09: refuses ${raw} as malformed-port: ${why}`, () => {
      assert.equal(authorityError(raw), 'malformed-port');
    });
  }

  it('refuses a zone id and an unclosed bracket in an authority', () => {
    assert.equal(authorityError('[fe80::1%25eth0]:443'), 'zone-id');
    assert.equal(authorityError('[::1:443'), 'malformed-ip');
  });

  it('refuses userinfo in an authority', () => {
    assert.equal(authorityError('user@example.com:443'), 'forbidden-character');
  });

  const ports: readonly (readonly [string, number | undefined])[] = [
    ['1', 1],
    ['80', 80],
    ['443', 443],
    ['65535', 65535],
    ['65536', undefined],
    ['0', undefined],
    ['00', undefined],
    ['0443', undefined],
    ['+443', undefined],
    ['-1', undefined],
    ['443 ', undefined],
    ['', undefined],
    ['https', undefined],
    ['123456', undefined],
    ['4.5', undefined],
    ['\u0664\u0664\u0663', undefined],
  ];
  for (const [text, expected] of ports) {
    it(`parsePort reads ${JSON.stringify(text)} as ${expected ?? 'not a port'}`, () => {
      assert.equal(parsePort(text), expected);
    });
  }
});
