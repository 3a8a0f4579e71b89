// IP parsing, formatting and containment (src/ip.ts). Table-driven: every IPv4 spelling that
// inet_aton and the WHATWG URL parser accept must land on one number, every overflow or malformed
// form must fail (a failed parse is a deny, never a name sent to DNS), IPv6 must print in RFC 5952
// form, and CIDR blocks must be exact. Case ids refer to research/egress.md §11.1.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cidrContains,
  cidrOverlaps,
  cidrWithin,
  endsInNumber,
  formatCidr,
  formatIp,
  ipv4,
  ipv6,
  parseCidr,
  parseIp,
  parseIpv4,
  type Cidr,
  type Ip,
} from '../src/ip.js';

/** Parses or fails the test with the input named. */
function ip(text: string): Ip {
  const parsed = parseIp(text);
  if (parsed === undefined) assert.fail(`expected ${JSON.stringify(text)} to parse as an IP address`);
  return parsed;
}

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if ('error' in parsed)
    assert.fail(`expected ${JSON.stringify(text)} to parse as a CIDR, got ${parsed.error}`);
  return parsed.cidr;
}

describe('IPv4: every numeric spelling lands on one address', () => {
  const cases: readonly (readonly [input: string, expected: string, why: string])[] = [
    ['127.0.0.1', '127.0.0.1', 'dotted decimal'],
    ['127.127.127.127', '127.127.127.127', 'dotted decimal (egress-ip-01)'],
    ['0.0.0.0', '0.0.0.0', 'the unspecified address'],
    ['255.255.255.255', '255.255.255.255', 'broadcast'],
    ['2130706433', '127.0.0.1', 'dotless decimal (egress-ip-06)'],
    ['3232235521', '192.168.0.1', 'dotless decimal (egress-ip-06)'],
    ['3232235777', '192.168.1.1', 'dotless decimal (egress-ip-06)'],
    ['2852039166', '169.254.169.254', 'dotless decimal metadata (egress-ip-06)'],
    ['4294967295', '255.255.255.255', 'the largest dotless decimal'],
    ['0x7f000001', '127.0.0.1', 'dotless hex (egress-ip-07)'],
    ['0X7F000001', '127.0.0.1', 'dotless hex with an upper-case prefix'],
    ['0xA9FEA9FE', '169.254.169.254', 'dotless hex metadata (egress-ip-09)'],
    ['0xffffffff', '255.255.255.255', 'the largest dotless hex'],
    ['017700000001', '127.0.0.1', 'dotless octal (egress-ip-08)'],
    ['037777777777', '255.255.255.255', 'the largest dotless octal'],
    ['0177.0.0.1', '127.0.0.1', 'dotted octal (egress-ip-08)'],
    ['127.000.000.1', '127.0.0.1', 'zero-padded parts are octal zero (egress-ip-08)'],
    ['0251.0376.0251.0376', '169.254.169.254', 'dotted octal metadata (egress-ip-09)'],
    ['0251.00376.000251.0000376', '169.254.169.254', 'padded dotted octal (egress-ip-09)'],
    ['0xA9.0xFE.0xA9.0xFE', '169.254.169.254', 'dotted hex (egress-ip-09)'],
    ['0x7f.0.0.1', '127.0.0.1', 'hex first part (egress-ip-07)'],
    ['0x7f.0x0.0x00000000.0x01', '127.0.0.1', 'dotted hex with padding (egress-ip-07)'],
    ['0x0000007f.0x00000000.0x00000000.0x00000001', '127.0.0.1', 'long padded hex (egress-ip-07)'],
    ['0177.0x0.0x0.0x1', '127.0.0.1', 'octal and hex mixed (egress-ip-08)'],
    ['0251.254.169.254', '169.254.169.254', 'octal then decimal (egress-ip-09)'],
    ['127.1', '127.0.0.1', 'two parts: the last fills three bytes (egress-ip-05)'],
    ['127.0.1', '127.0.0.1', 'three parts: the last fills two bytes (egress-ip-05)'],
    ['0x7f.1', '127.0.0.1', 'hex short form (egress-ip-07)'],
    ['0177.1', '127.0.0.1', 'octal short form'],
    ['192.168.257', '192.168.1.1', 'a last part above 255 fills the remaining bytes'],
    ['192.11010305', '192.168.1.1', 'two parts, decimal tail of three bytes'],
    ['169.254.43518', '169.254.169.254', 'three parts, metadata'],
    ['169.0xfea9fe', '169.254.169.254', 'two parts, hex tail'],
    ['0', '0.0.0.0', 'a lone zero (egress-ip-03)'],
    ['0x', '0.0.0.0', 'an empty hex number is zero, as WHATWG says'],
    ['0x0', '0.0.0.0', 'hex zero'],
    ['127.0.0.1.', '127.0.0.1', 'one trailing dot (egress-ip-11)'],
    ['2130706433.', '127.0.0.1', 'dotless decimal with a trailing dot'],
  ];
  for (const [input, expected, why] of cases) {
    it(`reads ${input} as ${expected}: ${why}`, () => {
      const parsed = ip(input);
      assert.equal(parsed.family, 4);
      assert.equal(formatIp(parsed), expected);
    });
  }

  it('gives the same number from parseIpv4 as from parseIp for a legacy form', () => {
    assert.equal(parseIpv4('0x7f.1'), 0x7f000001);
    assert.equal(parseIpv4('017700000001'), 0x7f000001);
  });

  it('accepts zero-padded parts longer than 12 digits, as the WHATWG URL parser does', () => {
    assert.equal(formatIp(ip('0x00000000000000007f.1')), '127.0.0.1');
    assert.equal(formatIp(ip('000000000000127.0.0.1')), '87.0.0.1');
  });
});

describe('IPv4: overflow and malformed forms fail', () => {
  const failures: readonly (readonly [input: string, why: string])[] = [
    ['425.510.425.510', 'every part above 255 (egress-ip-10, AWS WAF evasion)'],
    ['7147006462', 'dotless decimal above 2^32 (egress-ip-10)'],
    ['0x41414141A9FEA9FE', 'dotless hex above 2^32, must not wrap to 169.254.169.254 (egress-ip-10)'],
    ['08.0.0.1', '8 is not an octal digit (egress-ip-10)'],
    ['1.2.3.4.5', 'five parts (egress-ip-10)'],
    ['0x7f.0.0.256', 'a last part of 256 with three before it (egress-ip-10)'],
    ['4294967296', '2^32'],
    ['0x100000000', '2^32 in hex'],
    ['040000000000', '2^32 in octal'],
    ['256.0.0.1', 'a first part above 255'],
    ['1.256.0.1', 'a middle part above 255'],
    ['1.2.65536', 'a three-part tail above 16 bits'],
    ['1.16777216', 'a two-part tail above 24 bits'],
    ['09', 'a lone invalid octal'],
    ['0xg.0.0.1', 'a bad hex digit'],
    ['1..2', 'an empty part'],
    ['1.2.3.4..', 'two trailing dots'],
    ['', 'the empty string'],
    ['.', 'a lone dot'],
    ['1.2.3.-4', 'a sign'],
    ['+1.2.3.4', 'a plus sign'],
    ['1.2.3.4 ', 'trailing space'],
    ['1e3', 'exponent notation'],
    ['0o177.0.0.1', 'the 0o prefix is not an IPv4 form'],
    ['q177.0.0.1', 'the q prefix is not an IPv4 form'],
    ['\u0661\u0662\u0667.0.0.1', 'Arabic-Indic digits are not ASCII digits'],
    ['example.com', 'a name'],
    ['1.2.3.4a', 'a name that starts with digits'],
  ];
  for (const [input, why] of failures) {
    it(`refuses ${JSON.stringify(input)}: ${why}`, () => {
      assert.equal(parseIp(input), undefined);
    });
  }

  it('refuses overflow forms in parseIpv4 directly, not only through parseIp', () => {
    for (const input of ['425.510.425.510', '7147006462', '0x41414141A9FEA9FE', '0x7f.0.0.256']) {
      assert.equal(parseIpv4(input), undefined, input);
    }
  });
});

describe('endsInNumber decides when a host is an IPv4 literal (WHATWG "ends in a number")', () => {
  const cases: readonly (readonly [string, boolean])[] = [
    ['example.com', false],
    ['1.2.3.4', true],
    ['a.1', true],
    ['a.1.', true],
    ['foo.0x', true],
    ['foo.0x1f', true],
    ['foo.09', true],
    ['1.a', false],
    ['1.2.3.4a', false],
    ['.', false],
    ['', false],
  ];
  for (const [input, expected] of cases) {
    it(`says ${JSON.stringify(input)} ${expected ? 'ends' : 'does not end'} in a number`, () => {
      assert.equal(endsInNumber(input), expected);
    });
  }
});

describe('IPv6: parsing and RFC 5952 formatting', () => {
  const cases: readonly (readonly [input: string, expected: string, why: string])[] = [
    ['::', '::', 'the unspecified address (egress-ip-04)'],
    ['::1', '::1', 'loopback'],
    ['[::1]', '::1', 'brackets are stripped'],
    ['0000::1', '::1', 'padded group (egress-ip-04)'],
    ['0:0:0:0:0:0:0:1', '::1', 'full form (egress-ip-04)'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1', 'fully padded'],
    ['2001:DB8::1', '2001:db8::1', 'lower case (RFC 5952 §4.3)'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1', 'leading zeros dropped (§4.1)'],
    ['2001:db8:00ab::', '2001:db8:ab::', 'leading zeros dropped inside a group'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 'one zero group is not shortened (§4.2.2)'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1', 'the longest zero run is shortened (§4.2.3)'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 'on a tie the first run is shortened (§4.2.3)'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0', ':: standing for one group is written out'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8', ':: standing for one leading group is written out'],
    ['1::', '1::', 'trailing run'],
    ['ABCD:EF01::', 'abcd:ef01::', 'upper-case hex'],
    ['fe80::1', 'fe80::1', 'link-local'],
    ['::127.0.0.1', '::7f00:1', 'IPv4-compatible with dotted tail (egress-ip-14)'],
    ['::169.254.169.254', '::a9fe:a9fe', 'IPv4-compatible metadata (egress-ip-14)'],
    ['64:ff9b::169.254.169.254', '64:ff9b::a9fe:a9fe', 'NAT64 with dotted tail'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304', 'six groups and a dotted tail'],
    ['::ffff:0:7f00:1', '::ffff:0:7f00:1', 'SIIT stays IPv6 (it is judged by the guard, egress-ip-15)'],
    ['64:ff9b::808:808', '64:ff9b::808:808', 'NAT64 of a public address (egress-ip-16)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (egress-ip-17)'],
  ];
  for (const [input, expected, why] of cases) {
    it(`reads ${input} as ${expected}: ${why}`, () => {
      const parsed = ip(input);
      assert.equal(parsed.family, 6);
      assert.equal(formatIp(parsed), expected);
    });
  }

  const mapped: readonly (readonly [string, string])[] = [
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['[::ffff:127.0.0.1]', '127.0.0.1'],
    ['0:0:0:0:0:ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['::FFFF:A9FE:A9FE', '169.254.169.254'],
    ['0:0:0:0:0:ffff:169.254.169.254', '169.254.169.254'],
    ['::ffff:8.8.8.8', '8.8.8.8'],
  ];
  for (const [input, expected] of mapped) {
    it(`unwraps the IPv4-mapped ${input} to the IPv4 address ${expected} (egress-ip-13)`, () => {
      const parsed = ip(input);
      assert.equal(parsed.family, 4);
      assert.equal(formatIp(parsed), expected);
    });
  }

  const failures: readonly (readonly [string, string])[] = [
    [':::', 'three colons'],
    ['1::2::3', 'two ::'],
    ['1:2:3:4:5:6:7:8:9', 'nine groups'],
    ['1:2:3:4:5:6:7', 'seven groups without ::'],
    [':1:2:3:4:5:6:7', 'a leading single colon'],
    ['1:2:3:4:5:6:7:', 'a trailing single colon'],
    ['12345::', 'a five-digit group'],
    ['::g', 'a non-hex digit'],
    ['::1.2.3', 'a three-part dotted tail'],
    ['::1.2.3.4.5', 'a five-part dotted tail'],
    ['::256.0.0.1', 'a dotted tail above 255'],
    ['::01.2.3.4', 'a dotted tail with a leading zero (only plain decimal inside IPv6)'],
    ['::0x7f.0.0.1', 'a hex dotted tail'],
    ['::1.2.3.4:5', 'a group after the dotted tail'],
    ['1:2:3:4:5:6:7:1.2.3.4', 'seven groups and a dotted tail'],
    ['1:2:3:4:5:6:7::1.2.3.4', 'too many groups with :: and a dotted tail'],
    ['fe80::1%eth0', 'a zone id (egress-ip-18)'],
    ['fe80::1%25eth0', 'a percent-encoded zone id (egress-ip-18)'],
    ['[::1', 'an unclosed bracket'],
    ['::1]', 'an unopened bracket'],
    ['[[::1]]', 'double brackets'],
  ];
  for (const [input, why] of failures) {
    it(`refuses ${JSON.stringify(input)}: ${why}`, () => {
      assert.equal(parseIp(input), undefined);
    });
  }

  it('formats an IPv4 number outside 0..2^32-1 by its low 32 bits, never as a negative number', () => {
    assert.equal(formatIp(ipv4(-1)), '255.255.255.255');
    assert.equal(formatIp(ipv4(0)), '0.0.0.0');
  });

  it('formats raw IPv6 words with the longest zero run compressed', () => {
    assert.equal(formatIp(ipv6([0x20010db8, 0, 0, 1])), '2001:db8::1');
    assert.equal(formatIp(ipv6([0, 0, 0, 0])), '::');
    assert.equal(
      formatIp(ipv6([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff])),
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    );
  });
});

describe('CIDR blocks', () => {
  const valid: readonly (readonly [input: string, expected: string, family: 4 | 6])[] = [
    ['10.0.0.0/8', '10.0.0.0/8', 4],
    ['10.0.0.0/7', '10.0.0.0/7', 4],
    ['0.0.0.0/0', '0.0.0.0/0', 4],
    ['169.254.169.254/32', '169.254.169.254/32', 4],
    ['1.2.3.4', '1.2.3.4/32', 4],
    ['::/0', '::/0', 6],
    ['fd00:ec2::254', 'fd00:ec2::254/128', 6],
    ['fd00:ec2::254/128', 'fd00:ec2::254/128', 6],
    ['2001:DB8::/32', '2001:db8::/32', 6],
    ['fe80::/10', 'fe80::/10', 6],
    ['::ffff:0:0:0/96', '::ffff:0:0:0/96', 6],
    ['::/80', '::/80', 6],
  ];
  for (const [input, expected, family] of valid) {
    it(`parses ${input} as ${expected}`, () => {
      const c = cidr(input);
      assert.equal(c.ip.family, family);
      assert.equal(formatCidr(c), expected);
    });
  }

  const mapped: readonly (readonly [string, string])[] = [
    ['::ffff:169.254.0.0/112', '169.254.0.0/16'],
    ['::ffff:168.0.0.0/103', '168.0.0.0/7'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:1.2.3.4', '1.2.3.4/32'],
    ['::ffff:1.2.3.4/128', '1.2.3.4/32'],
    ['::ffff:a00:0/104', '10.0.0.0/8'],
  ];
  for (const [input, expected] of mapped) {
    it(`converts the IPv4-mapped block ${input} to the IPv4 block ${expected}`, () => {
      const c = cidr(input);
      assert.equal(c.ip.family, 4);
      assert.equal(formatCidr(c), expected);
    });
  }

  const errors: readonly (readonly [input: string, error: string])[] = [
    ['10.0.0.1/8', 'host-bits-set'],
    ['192.168.1.0/23', 'host-bits-set'],
    ['2001:db8::1/32', 'host-bits-set'],
    ['::ffff:0:0/95', 'host-bits-set'],
    ['10.0.0.0/33', 'bad-prefix'],
    ['10.0.0.0/08', 'bad-prefix'],
    ['10.0.0.0/', 'bad-prefix'],
    ['10.0.0.0/-1', 'bad-prefix'],
    ['10.0.0.0/+8', 'bad-prefix'],
    ['10.0.0.0/ 8', 'bad-prefix'],
    ['10.0.0.0/8/8', 'bad-prefix'],
    ['10.0.0.0/1e1', 'bad-prefix'],
    ['2001:db8::/129', 'bad-prefix'],
    ['10.1/16', 'not-an-address'],
    ['0x0a.0.0.0/8', 'not-an-address'],
    ['010.0.0.0/8', 'not-an-address'],
    ['10.0.0.0.0/8', 'not-an-address'],
    ['example.com/8', 'not-an-address'],
    ['fe80::%eth0/64', 'not-an-address'],
    ['', 'not-an-address'],
  ];
  for (const [input, error] of errors) {
    it(`refuses ${JSON.stringify(input)} with ${error}`, () => {
      assert.deepEqual(parseCidr(input), { error });
    });
  }
});

describe('containment', () => {
  const contains: readonly (readonly [block: string, address: string, expected: boolean])[] = [
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['172.16.0.0/12', '172.15.255.255', false],
    ['172.16.0.0/12', '172.16.0.0', true],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['100.64.0.0/10', '100.63.255.255', false],
    ['100.64.0.0/10', '100.127.255.255', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['169.254.169.254/32', '169.254.169.254', true],
    ['169.254.169.254/32', '169.254.169.255', false],
    ['127.0.0.0/8', '0x7f.1', true],
    ['127.0.0.0/8', '::ffff:127.0.0.1', true],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['0.0.0.0/0', '::1', false],
    ['::/0', '1.2.3.4', false],
    ['::/0', '::1', true],
    ['fc00::/7', 'fbff:ffff::', false],
    ['fc00::/7', 'fc00::', true],
    ['fc00::/7', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['fc00::/7', 'fe00::', false],
    ['2001::/32', '2001:0:ffff::1', true],
    ['2001::/32', '2001:1::1', false],
    ['64:ff9b::/96', '64:ff9b::a9fe:a9fe', true],
    ['64:ff9b::/96', '64:ff9b:0:0:0:1::', false],
  ];
  for (const [block, address, expected] of contains) {
    it(`says ${block} ${expected ? 'contains' : 'does not contain'} ${address}`, () => {
      assert.equal(cidrContains(cidr(block), ip(address)), expected);
    });
  }

  const within: readonly (readonly [inner: string, outer: string, isWithin: boolean, overlaps: boolean])[] = [
    ['10.1.0.0/16', '10.0.0.0/8', true, true],
    ['10.0.0.0/8', '10.0.0.0/8', true, true],
    ['0.0.0.0/0', '10.0.0.0/8', false, true],
    ['10.0.0.0/7', '10.0.0.0/8', false, true],
    ['11.0.0.0/8', '10.0.0.0/8', false, false],
    ['168.0.0.0/7', '169.254.0.0/16', false, true],
    ['::/0', '0.0.0.0/0', false, false],
    ['fd00:ec2::254/128', 'fc00::/7', true, true],
  ];
  for (const [inner, outer, isWithin, overlaps] of within) {
    it(`says ${inner} is ${isWithin ? '' : 'not '}within ${outer} and they ${overlaps ? '' : 'do not '}overlap`, () => {
      assert.equal(cidrWithin(cidr(inner), cidr(outer)), isWithin);
      assert.equal(cidrOverlaps(cidr(inner), cidr(outer)), overlaps);
      assert.equal(cidrOverlaps(cidr(outer), cidr(inner)), overlaps);
    });
  }
});
