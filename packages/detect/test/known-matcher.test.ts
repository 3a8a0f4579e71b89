// The known-value matcher (egress-dlp-10): an injected secret, or its placeholder, in any rendering
// — raw, base64 (at every alignment, so inside Basic "user:VALUE"), base64url, hex, percent, JSON
// escapes — is found, with the encoding it was written in.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { knownMatcher, MIN_KNOWN_LENGTH, redact, renderingsOf, type KnownMatcher } from '../src/index.js';
import { base64Aligned } from '../src/known-values.js';
import {
  b64,
  b64url,
  byteValues,
  hex,
  hexPairs,
  jsonEscapes,
  percentEvery,
  references,
  unitEscapes,
  wrap,
} from './encodings.js';

const secret = 'S3cr3t-Value/With+Symbols=';
const matcher = knownMatcher([
  { id: 'github', value: secret },
  { id: 'placeholder', value: 'perimeter-placeholder-7f3a9c' },
]);

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
  ['base64url', b64url(`user:${secret}`), 'base64url'],
  ['hex lower case', hex(secret), 'hex'],
  ['hex upper case', hex(secret).toUpperCase(), 'hex'],
  ['percent-encoded', `?q=${encodeURIComponent(secret)}`, 'percent'],
  ['JSON \\u escapes', jsonEscapes(secret), 'json'],
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

// redteam-30-3: fixed spellings miss renderings other encoders make; the matcher also looks in what
// the decoder decodes, so any rendering that decodes to the value is found, and the hit spans the
// whole encoded segment. Cases: [name, text before, the encoded value, text after, encoding].
const quote = (s: string): string =>
  s.replace(/[+=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const mixedCase = (s: string): string => s.replace(/[a-f]/g, (c, i: number) => (i % 3 ? c : c.toUpperCase()));
const note = `note: ${'all services nominal; '.repeat(3)}key=${secret} end`;
const DECODED: [string, string, string, string, string][] = [
  [
    "percent-encoding that keeps '/' (Python's urllib.parse.quote)",
    'GET /v1/search?q=x&key=',
    quote(secret),
    ' 200',
    'percent',
  ],
  ['lower- and mixed-case percent-encoding', '?key=', mixedCase(percentEvery(secret)), '&x=1', 'percent'],
  ['"+" alone written as %2b', 'key=', secret.replace('+', '%2b'), '', 'percent'],
  ['a JSON string with one character escaped', '{"key":"', `\\u0053${secret.slice(1)}`, '"}', 'json'],
  ['base64 wrapped at 76 columns', 'blob:\n', wrap(b64(note), 76, '\r\n'), '\n', 'base64'],
  ['base64 wrapped at 20 columns', 'key=', wrap(b64(secret), 20), '', 'base64'],
  ['hex in mixed case', 'h=', mixedCase(hex(secret)), '', 'hex'],
  ['hex pairs separated by colons', '', hexPairs(secret, ':'), '', 'hex'],
  ['base64 of a percent-encoded value', 'd=', b64(`key=${quote(secret)}`), '', 'base64'],
];

/** Each case's encoded value is found by `known` once, under `id` and its encoding, over all of it. */
function itFindsEncoded(
  known: KnownMatcher,
  id: string,
  cases: readonly [string, string, string, string, string][],
): void {
  for (const [name, before, encoded, after, encoding] of cases) {
    it(name, () => {
      const text = `${before}${encoded}${after}`;
      const hits = known.find(text);
      assert.deepEqual(
        hits.map((h) => [h.id, h.encoding]),
        [[id, encoding]],
      );
      // The hit covers the encoded value, so redacting it leaves nothing of it.
      assert.ok((hits[0]?.start ?? Infinity) <= before.length, JSON.stringify(hits));
      assert.ok((hits[0]?.end ?? 0) >= before.length + encoded.length, JSON.stringify(hits));
      const findings = hits.map((h) => ({
        ...h,
        rule: 'credential',
        family: 'credential',
        confidence: 'high' as const,
        fingerprint: h.id,
      }));
      assert.equal(known.find(redact(text, findings)).length, 0);
    });
  }
}

describe('redteam-30-3: a known value is found in any rendering the decoder decodes to it', () => {
  itFindsEncoded(matcher, 'github', DECODED);
});

void it('findRaw() finds each rendering as written and nothing only decoding finds', () => {
  for (const [name, text, encoding] of CASES) {
    const hits = matcher.findRaw(text);
    assert.deepEqual(
      hits.map((h) => [h.id, h.encoding.replace('base64url', 'base64')]),
      [['github', encoding.replace('base64url', 'base64')]],
      name,
    );
  }
  // A case may happen to spell a rendering (mixed case that came out all lower): those are found.
  const renderings = renderingsOf(secret).map((r) => r.text);
  const decodedOnly = DECODED.filter(([, , encoded]) => !renderings.some((r) => encoded.includes(r)));
  assert.ok(decodedOnly.length >= DECODED.length - 2, 'the cases are still mostly decoded-only');
  for (const [name, before, encoded, after] of decodedOnly)
    assert.deepEqual(matcher.findRaw(`${before}${encoded}${after}`), [], name);
});

void it('redteam-30-3: a rendering found as written and again inside its decoded segment is one hit', () => {
  const text = `?a=%20x&key=${encodeURIComponent(secret)}&b=2`;
  assert.deepEqual(
    matcher.find(text).map((h) => [h.id, h.encoding, text.slice(h.start, h.end)]),
    [['github', 'percent', `key=${encodeURIComponent(secret)}`]],
  );
});

void it('redteam-30-3: encoded text that does not decode to a known value finds nothing', () => {
  const other = 'S3cr3t-Value/With+Symbolz=';
  for (const text of [quote(other), b64(`key=${other}`), `\\u0053${other.slice(1)}`, hex(other)])
    assert.deepEqual(matcher.find(text), [], text);
});

// detect-31: a bound credential written as JavaScript's escape() writes characters (%uXXXX,
// detect-31-1), as HTML or XML character references (detect-31-2), or as a list of its bytes
// (detect-31-3) was not found. Each is spelt here as no rendering of renderingsOf() is (upper-case
// digits, other separators), so it is found by decoding, not by the renderings pinned below.
const REDTEAM_31: [string, string, string, string, string][] = [
  ['detect-31-1: every character as %uXXXX', '?k=', unitEscapes(secret, true), '', 'percent'],
  [
    'detect-31-2: decimal character references',
    '<key>',
    references(secret, (c) => `&#${String(c).padStart(4, '0')};`),
    '</key>',
    'html',
  ],
  [
    'detect-31-2: hex character references',
    '<key>',
    references(secret, (c) => `&#X${c.toString(16).toUpperCase()};`),
    '</key>',
    'html',
  ],
  [
    'detect-31-3: a JSON array of its bytes, one a line',
    '{"key":[\n  ',
    byteValues(secret, String, ',\n  '),
    '\n]}',
    'decimal',
  ],
  [
    'detect-31-3: its bytes as 0X values',
    'char key[] = {',
    byteValues(secret, (b) => `0X${b.toString(16).toUpperCase()}`, ','),
    '};',
    'hex',
  ],
];

describe('detect-31: a known value is found as %u escapes, character references and byte lists', () => {
  itFindsEncoded(matcher, 'github', REDTEAM_31);
  // XML writes "&", "<", ">" and quotes in a value as named references.
  itFindsEncoded(knownMatcher([{ id: 'db', value: `p&ss<w>rd"x'y-1234` }]), 'db', [
    [
      'detect-31-2: a value with "&", "<", ">" and quotes, as XML writes it',
      '<password>',
      'p&amp;ss&lt;w&gt;rd&quot;x&apos;y-1234',
      '</password>',
      'html',
    ],
  ]);
});

// detect-32-3: a decimal byte list was decoded only from 16 values, so a bound credential of 8 to
// 15 characters (a short password) written as its bytes was not found.
describe('detect-32-3: a short known value is found as a list of its bytes', () => {
  itFindsEncoded(knownMatcher([{ id: 'db', value: 'hunter2-pw' }]), 'db', [
    ['detect-32-3: in decimal', 'Buffer.from([', byteValues('hunter2-pw'), '])', 'decimal'],
    [
      'detect-32-3: in 0x and decimal',
      '{',
      byteValues('hunter2-pw', (b, i) => (i % 3 ? String(b) : `0x${b.toString(16)}`)),
      '}',
      'hex',
    ],
  ]);
});

// detect-32-7: renderingsOf() lacked the forms detect-31 taught the decoder, so the proxy's response
// scrubber (which replaces each rendering of a secret by the same rendering of its placeholder,
// without decoding) let a secret echoed as %uXXXX, character references or a byte list through, and
// the matcher missed a byte list of the value inside a longer list of binary bytes.
const hexByte = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;
const NEWER_RENDERINGS: [string, string][] = [
  ['percent', unitEscapes(secret)],
  ['html', references(secret)],
  ['html', references(secret, (c) => `&#x${c.toString(16)};`)],
  ['hex', byteValues(secret, hexByte)],
  ['decimal', byteValues(secret)],
  ['decimal', byteValues(secret, String, ',')],
];

void it('detect-32-7: renderingsOf() writes %uXXXX, character references and byte lists, after the older forms', () => {
  const renderings = renderingsOf(secret).map((r): [string, string] => [r.encoding, r.text]);
  assert.deepEqual(renderings.slice(-NEWER_RENDERINGS.length), NEWER_RENDERINGS);
  // As many renderings for every value, however it is written: a secret's pair one to one with
  // its placeholder's.
  for (const value of ['abcdefgh', 'perimeter-placeholder-7f3a9c', 'pässwörd-😀-1234', secret])
    assert.equal(renderingsOf(value).length, renderings.length, value);
  // Fifteen older forms first (raw, base64 and base64url at three alignments, hex, percent, JSON).
  assert.equal(renderings.length, 15 + NEWER_RENDERINGS.length);
});

void it('a value past U+FFFF is rendered in every escape form by its code units, its references by code point', () => {
  // The \u escape kept only each astral character's high surrogate, so a value written with JSON's
  // escapes throughout was no rendering of it and the scrubber passed it back.
  const value = 'pw-\u{1F600}-abcdefgh';
  const texts = renderingsOf(value).map((r) => r.text);
  for (const form of [jsonEscapes(value), unitEscapes(value), references(value)])
    assert.ok(texts.includes(form), form);
  assert.ok(jsonEscapes(value).includes('\\ud83d\\ude00'), 'both halves of the pair');
  assert.ok(references(value).includes('&#128512;'), 'one reference for the character');
});

void it('detect-32-7: a byte list of a known value inside a longer list of binary bytes is found', () => {
  const noise = (n: number): string =>
    Array.from({ length: n }, (_, i) => hexByte((i * 37 + 200) % 256)).join(', ');
  const list = byteValues(secret, hexByte);
  const text = `static const uint8_t blob[] = {${noise(40)}, ${list}, ${noise(40)}};`;
  const hits = matcher.find(text);
  assert.deepEqual(
    hits.map((h) => [h.id, h.encoding, text.slice(h.start, h.end)]),
    [['github', 'hex', list]],
  );
});
