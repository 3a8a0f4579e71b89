// The known-value matcher (egress-dlp-10): an injected secret, or its placeholder, in any rendering
// — raw, base64 (at every alignment, so inside Basic "user:VALUE"), base64url, hex, percent, JSON
// escapes — is found, with the encoding it was written in.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { knownMatcher, MIN_KNOWN_LENGTH } from '../src/index.js';
import { base64Aligned } from '../src/known-values.js';

const secret = 'S3cr3t-Value/With+Symbols=';
const matcher = knownMatcher([
  { id: 'github', value: secret },
  { id: 'placeholder', value: 'perimeter-placeholder-7f3a9c' },
]);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

const CASES: [string, string, string][] = [
  ['raw', `token ${secret} end`, 'raw'],
  ['base64', `x=${b64(secret)}`, 'base64'],
  [
    'base64 after one byte (Basic "u:VALUE" alignment)',
    `Authorization: Basic ${b64(`u:${secret}`)}`,
    'base64',
  ],
  ['base64 after two bytes', b64(`ab${secret}`), 'base64'],
  ['base64 after three bytes', b64(`abc${secret}`), 'base64'],
  ['base64url', Buffer.from(`user:${secret}`).toString('base64url'), 'base64url'],
  ['hex lower case', Buffer.from(secret).toString('hex'), 'hex'],
  ['hex upper case', Buffer.from(secret).toString('hex').toUpperCase(), 'hex'],
  ['percent-encoded', `?q=${encodeURIComponent(secret)}`, 'percent'],
  [
    'JSON \\u escapes',
    [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    'json',
  ],
];

describe('egress-dlp-10: every rendering of a known value is found', () => {
  for (const [name, text, encoding] of CASES) {
    it(name, () => {
      const hits = matcher.find(text);
      assert.equal(hits.length, 1, JSON.stringify(hits));
      assert.equal(hits[0]?.id, 'github');
      // A base64url rendering without "-" or "_" is also the base64 one; either name is right.
      assert.equal(
        hits[0]?.encoding?.replace('base64url', 'base64'),
        encoding.replace('base64url', 'base64'),
      );
    });
  }
});

void it('the placeholder is found too, and text without either finds nothing', () => {
  assert.deepEqual(
    matcher.find('Bearer perimeter-placeholder-7f3a9c').map((h) => [h.id, h.encoding, h.start, h.end]),
    [['placeholder', 'raw', 7, 35]],
  );
  assert.deepEqual(matcher.find('nothing to see here'.repeat(100)), []);
});

void it('values too short to match safely are ignored', () => {
  const m = knownMatcher([{ id: 'short', value: 'abc' }]);
  assert.ok('abc'.length < MIN_KNOWN_LENGTH);
  assert.deepEqual(m.find('abc abc'), []);
});

void it('base64Aligned keeps only the characters that depend on the value alone', () => {
  // "Man" is "TWFu"; after one byte of prefix the characters fully inside the value shift.
  assert.equal(base64Aligned(new TextEncoder().encode('Man'), 0), 'TWFu');
  for (const shift of [0, 1, 2] as const) {
    const aligned = base64Aligned(new TextEncoder().encode(secret), shift);
    assert.ok(b64('xyz'.slice(0, shift) + secret).includes(aligned), `shift ${shift}`);
  }
});
