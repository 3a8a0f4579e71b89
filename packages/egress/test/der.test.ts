// The DER encoder against known encodings (X.690's own examples and ones any X.509 dump shows),
// a property test for INTEGER, and OpenSSL's parser reading a nested structure back.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bitString,
  boolean,
  explicit,
  ia5String,
  implicit,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from '../src/der.js';
import { findOnPath } from './compat-fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('DER primitives', () => {
  const cases: ReadonlyArray<readonly [string, () => Buffer, string]> = [
    ['INTEGER 0', () => integer(0), '020100'],
    ['INTEGER 127', () => integer(127), '02017f'],
    ['INTEGER 128 gets a leading zero to stay positive', () => integer(128), '02020080'],
    ['INTEGER 256', () => integer(256), '02020100'],
    ['INTEGER -1', () => integer(-1), '0201ff'],
    ['INTEGER -128', () => integer(-128), '020180'],
    ['INTEGER -129', () => integer(-129), '0202ff7f'],
    [
      'INTEGER 2^128-1 (a serial with the top bit set)',
      () => integer(2n ** 128n - 1n),
      `021100${'ff'.repeat(16)}`,
    ],
    ['unsigned bytes with the top bit set', () => unsignedInteger(Buffer.from('ffff', 'hex')), '020300ffff'],
    [
      'unsigned bytes with leading zeros are minimal',
      () => unsignedInteger(Buffer.from('000001', 'hex')),
      '020101',
    ],
    ['OID rsadsi (X.690 example)', () => oid('1.2.840.113549'), '06062a864886f70d'],
    ['OID commonName', () => oid('2.5.4.3'), '0603550403'],
    ['OID ecdsa-with-SHA256', () => oid('1.2.840.10045.4.3.2'), '06082a8648ce3d040302'],
    ['OID 2.999.3: first subidentifier above 127 (X.690 §8.19.5)', () => oid('2.999.3'), '0603883703'],
    ['BOOLEAN TRUE is 0xFF', () => boolean(true), '0101ff'],
    ['BOOLEAN FALSE', () => boolean(false), '010100'],
    ['UTF8String', () => utf8String('é'), '0c02c3a9'],
    ['IA5String', () => ia5String('a.b'), '1603612e62'],
    ['BIT STRING, no unused bits', () => bitString(Buffer.of(0x04, 0xab)), '03030004ab'],
    ['KeyUsage digitalSignature: trailing zero bits dropped', () => namedBits([0]), '03020780'],
    ['KeyUsage keyCertSign+cRLSign', () => namedBits([5, 6]), '03020106'],
    ['named bits across an octet', () => namedBits([8]), '0303070080'],
    ['no named bits', () => namedBits([]), '030100'],
    ['OCTET STRING, short length', () => octetString(Buffer.alloc(127)), `047f${'00'.repeat(127)}`],
    ['OCTET STRING, long length 0x81', () => octetString(Buffer.alloc(128)), `048180${'00'.repeat(128)}`],
    ['OCTET STRING, long length 0x82', () => octetString(Buffer.alloc(256)), `04820100${'00'.repeat(256)}`],
    ['empty SEQUENCE', () => sequence(), '3000'],
    ['SET OF sorts its elements', () => set(integer(2), integer(1)), '3106020101020102'],
    ['[0] EXPLICIT INTEGER 2 (the v3 version field)', () => explicit(0, integer(2)), 'a003020102'],
    ['[2] IMPLICIT IA5String (dNSName)', () => implicit(2, ia5String('a')), '820161'],
    ['[0] IMPLICIT SEQUENCE stays constructed', () => implicit(0, sequence()), 'a000'],
    [
      'UTCTime up to 2049',
      () => time(new Date('2049-12-31T23:59:59.999Z')),
      `170d${hex(Buffer.from('491231235959Z'))}`,
    ],
    [
      'UTCTime from 1950',
      () => time(new Date('1950-01-01T00:00:00Z')),
      `170d${hex(Buffer.from('500101000000Z'))}`,
    ],
    [
      'GeneralizedTime from 2050',
      () => time(new Date('2050-01-01T00:00:00Z')),
      `180f${hex(Buffer.from('20500101000000Z'))}`,
    ],
    [
      'GeneralizedTime before 1950',
      () => time(new Date('1949-12-31T23:59:59Z')),
      `180f${hex(Buffer.from('19491231235959Z'))}`,
    ],
  ];
  for (const [name, encode, expected] of cases) {
    it(name, () => assert.equal(hex(encode()), expected));
  }

  const refusals: ReadonlyArray<readonly [string, () => Buffer]> = [
    ['an OID with one arc', () => oid('1')],
    ['an OID with a first arc above 2', () => oid('3.1')],
    ['an OID with a second arc above 39 under arc 1', () => oid('1.40')],
    ['an OID with a non-numeric or padded arc', () => oid('1.02')],
    ['IA5String with a non-ASCII character', () => ia5String('é')],
    ['BIT STRING whose unused bits are not zero', () => bitString(Buffer.of(0x81), 1)],
    ['BIT STRING with 8 unused bits', () => bitString(Buffer.of(0), 8)],
    ['a context tag above 30', () => explicit(31, integer(0))],
    ['an invalid date', () => time(new Date(Number.NaN))],
  ];
  for (const [name, encode] of refusals) {
    it(`refuses ${name}`, () => assert.throws(encode, RangeError));
  }
});

describe('DER INTEGER', () => {
  it('is the minimal two’s complement of any value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), (n) => {
        const der = integer(n);
        const content = der.subarray(2);
        assert.equal(der[1], content.length);
        assert.equal(BigInt.asIntN(content.length * 8, BigInt(`0x${hex(content)}`)), n);
        // Minimal (X.690 §8.3.2): the first nine bits are never all zero or all one.
        if (content.length > 1) {
          const nine = ((content[0] ?? 0) << 1) | ((content[1] ?? 0) >> 7);
          assert.ok(nine !== 0 && nine !== 0x1ff, `not minimal: ${hex(content)}`);
        }
      }),
    );
  });
});

describe('DER read back by OpenSSL', () => {
  const openssl = findOnPath('openssl');
  it('parses a nested structure as written', { skip: openssl === undefined }, () => {
    const der = sequence(
      explicit(0, integer(2)),
      unsignedInteger(Buffer.alloc(16, 0xff)),
      set(sequence(oid('2.5.4.3'), utf8String('Perimeter'))),
      implicit(2, ia5String('api.example.com')),
      time(new Date('2030-05-06T07:08:09Z')),
      octetString(Buffer.alloc(300, 1)),
    );
    const out = execFileSync(openssl ?? 'openssl', ['asn1parse', '-inform', 'DER'], {
      input: der,
      encoding: 'utf8',
    });
    assert.match(out, /cons: cont \[ 0 \]/);
    assert.match(out, /prim: INTEGER\s+:02/);
    assert.match(out, /l= {2}17 prim: INTEGER\s+:(?:FF){16}\s*\n/); // 17 octets: the leading zero
    assert.match(out, /prim: OBJECT\s+:commonName/);
    assert.match(out, /prim: UTF8STRING\s+:Perimeter/);
    assert.match(out, /prim: cont \[ 2 \]/);
    assert.match(out, /prim: UTCTIME\s+:300506070809Z/);
    assert.match(out, /hl=4 l= 300 prim: OCTET STRING/); // 04 82 01 2c: long-form length
    assert.match(out, /d=0 {2}hl=4 l= 380 cons: SEQUENCE/);
  });
});
