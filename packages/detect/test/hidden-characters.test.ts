// redteam-34-1, for everything but the MCP gateway (which strips hidden characters itself): a secret
// cut by a character no reader sees (`sk_live_4eC3<U+200B>9HqL…`) reads whole to a model and on a
// terminal, so scan() with `decode` and the known-value matcher read each run of text that holds
// one without them. The finding spans the secret and the hidden characters inside it, its
// fingerprint is the whole secret's, its encoding `hidden`. The egress proxy reads bytes as
// Latin-1, so the same characters written in UTF-8 and read so are found as well.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { knownMatcher, redact, scan } from '../src/index.js';
import { hiddenLength } from '../src/hidden-characters.js';
import { KEY, assertCutKeyFound, cut, keyFingerprint } from './cut-key.js';
import { asLatin1, b64, jsonEscapes, percentEvery, tags } from './encodings.js';
import { EXAMPLES, githubToken } from './tokens.js';

const HIDDEN: [string, string][] = [
  ['zero-width space U+200B', '\u200B'],
  ['zero-width non-joiner U+200C', '\u200C'],
  ['zero-width joiner U+200D', '\u200D'],
  ['left-to-right mark U+200E', '\u200E'],
  ['word joiner U+2060', '\u2060'],
  ['invisible separator U+2063', '\u2063'],
  ['zero-width no-break space U+FEFF inside text', '\uFEFF'],
  ['bidi embedding U+202A', '\u202A'],
  ['bidi override U+202E', '\u202E'],
  ['bidi isolate U+2066', '\u2066'],
  ['pop directional isolate U+2069', '\u2069'],
  ['Arabic letter mark U+061C', '\u061C'],
  ['Mongolian vowel separator U+180E', '\u180E'],
  ['soft hyphen U+00AD', '\u00AD'],
  ['combining grapheme joiner U+034F', '\u034F'],
  ['Hangul choseong filler U+115F', '\u115F'],
  ['Hangul jungseong filler U+1160', '\u1160'],
  ['Hangul filler U+3164', '\u3164'],
  ['halfwidth Hangul filler U+FFA0', '\uFFA0'],
  ['variation selector U+FE00', '\uFE00'],
  ['variation selector U+FE0F', '\uFE0F'],
  ['variation selector supplement U+E0100', '\u{E0100}'],
  ['variation selector supplement U+E01EF', '\u{E01EF}'],
  ['language tag U+E0001', '\u{E0001}'],
  ['tag character U+E0041 (an invisible "A")', '\u{E0041}'],
  ['unassigned tag U+E0000', '\u{E0000}'],
  ['cancel tag U+E007F', '\u{E007F}'],
  ['Egyptian hieroglyph format control U+13430', '\u{13430}'],
  ['musical symbol begin beam U+1D173', '\u{1D173}'],
  ['NUL', '\0'],
  ['escape (an ANSI colour code left by itself)', '\x1B'],
  ['delete U+007F', '\x7F'],
  ['next line U+0085 (a C1 control)', '\x85'],
  ['several in a row', '\u200B\u200C\u200D\u2060\uFEFF'],
];

describe('redteam-34-1: a secret cut by a hidden character is found with decode', () => {
  for (const [name, hidden] of HIDDEN)
    it(`${name}: as written, and in UTF-8 read as Latin-1`, () => assertCutKeyFound(hidden));

  it('a hidden character between every two characters of a token, several kinds in turn', () => {
    const token = githubToken('ghp');
    const kinds = ['\u200B', '\u{E0041}', '\u00AD', '\u202E', '\x1B'];
    const text = `"${[...token].map((c, i) => `${c}${kinds[i % kinds.length]}`).join('')}"`;
    const [f, ...rest] = scan(text, { decode: true });
    assert.deepEqual(rest, []);
    assert.equal(f?.fingerprint, scan(token)[0]?.fingerprint);
    assert.equal(f?.encoding, 'hidden');
    assert.equal(text.slice(f?.start, f?.end), text.slice(1, -2), 'up to its last character');
  });

  it('white space is no hidden character: a key cut by a space, a tab or a line break stays cut', () => {
    for (const blank of [' ', '\t', '\n', '\u00A0', '\u2003', '\u3000'])
      assert.deepEqual(scan(`key: ${cut(KEY, `\u200B${blank}\u200B`)}`, { decode: true }), [], `${blank}`);
  });

  it('encodings cut by hidden characters are decoded a level below, and hidden characters inside encodings too', () => {
    const CASES: [string, string, string][] = [
      ['base64 cut every 5 characters', b64(`token=${KEY}`).replace(/(.{5})/g, '$1\u200B'), 'hidden'],
      ['a JSON \\u200b escape', `{"key":"${cut(KEY, '\\u200b')}"}`, 'json'],
      ['JSON escapes of the whole cut key', `{"key":"${jsonEscapes(cut(KEY, '\u2060'))}"}`, 'json'],
      ['percent-encoding of the cut key', `?k=${percentEvery(cut(KEY, '\u200B'))}`, 'percent'],
      ['base64 of the cut key', `blob: ${b64(cut(KEY, '\u{E0041}'))}`, 'base64'],
    ];
    for (const [name, text, encoding] of CASES) {
      const found = scan(text, { decode: true });
      assert.deepEqual(
        found.map((f) => [f.fingerprint, f.encoding]),
        [[keyFingerprint, encoding]],
        name,
      );
    }
    // Encoded text inside a run read without its hidden characters spans itself, mapped back.
    const blob = b64(`token=${KEY}`).replace(/(.{5})/g, '$1\u200B');
    const text = `{"blob":"${blob}"}`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => text.slice(f.start, f.end)),
      [blob.replace(/\u200B$/, '')],
    );
  });

  it('a byte-order mark, a colour code or an emoji beside a whole key changes nothing: the finding is the raw one', () => {
    for (const text of [
      `\uFEFFSTRIPE_KEY=${KEY}\n`,
      `\x1B[32mkey=${KEY}\x1B[0m`,
      `{"who":"\u{1F469}\u200D\u{1F4BB}","key":"${KEY}"}`,
      asLatin1(`\uFEFFkey=${KEY}\u200B.`),
    ]) {
      const at = text.indexOf(KEY);
      assert.deepEqual(
        scan(text, { decode: true }).map((f) => [f.start, f.end, f.encoding]),
        [[at, at + KEY.length, undefined]],
        JSON.stringify(text),
      );
    }
  });

  it('redaction replaces the secret with the hidden characters inside it, and only that', () => {
    const text = `{"note":"ok\u200B","key":"${cut(cut(KEY, '\u200B', 20), '\u{E0041}')}"}`;
    assert.equal(
      redact(text, scan(text, { decode: true })),
      `{"note":"ok\u200B","key":"[REDACTED:stripe-key:sk_l…${keyFingerprint?.slice(-10)}]"}`,
    );
  });

  it('a bound credential cut by hidden characters is found by the known-value matcher, as written and read as Latin-1', () => {
    const value = 'Tr0ub4dor&3-horse';
    const matcher = knownMatcher([{ id: 'db', value }]);
    for (const text of [
      `password=${cut(value, '\u200B', 6)} end`,
      asLatin1(`password=${cut(value, '\u2060', 6)} end`),
      `x ${cut(cut(value, '\u200C', 3), '\u{E0067}', 10)}`,
    ]) {
      const hits = matcher.find(text);
      assert.deepEqual(
        hits.map((h) => [h.id, h.encoding, text.slice(h.start, h.end).replace(/[^\x20-\x7E]+/g, '')]),
        [['db', 'hidden', value]],
        JSON.stringify(text),
      );
    }
    // The shortest value the matcher looks for, cut and standing alone.
    const short = knownMatcher([{ id: 'pin', value: 'a1b2c3d4' }]);
    assert.deepEqual(
      short.find('pin a1b2\u200Bc3d4 ok').map((h) => h.encoding),
      ['hidden'],
    );
  });
});

it('every format character, in any plane, is hidden, and no letter, emoji or symbol around them is', () => {
  // hidden-characters.ts works out which high surrogates start a hidden character as they come:
  // every plane is looked at here, and a Unicode version that adds a format character anywhere is
  // covered without a list to keep.
  const wrong: string[] = [];
  for (let from = 0; from < 0x110000; from += 0x1000) {
    const codes = Array.from({ length: 0x1000 }, (_, k) => from + k).filter((c) => c < 0xd800 || c > 0xdfff);
    for (const code of codes) {
      const char = String.fromCodePoint(code);
      const isFormat = /\p{Cf}/u.test(char);
      // After a letter: a byte-order mark at a text's start is none.
      const length = hiddenLength(`x${char}`, 1);
      if (
        isFormat
          ? length !== char.length
          : length > 0 &&
            !/[\p{Cc}\uFE00-\uFE0F\u034F\u115F\u1160\u3164\uFFA0\u{E0000}-\u{E01EF}]/u.test(char)
      )
        wrong.push(code.toString(16));
    }
  }
  assert.deepEqual(wrong, []);
});

describe('redteam-34-1: legitimate hidden characters make no finding', () => {
  // Text full of the characters scripts, emoji and typography need: joiners in emoji sequences
  // and in Persian and Indic words, soft hyphens in prose, byte-order marks, flag tags,
  // variation selectors, bidi marks around Arabic and Hebrew, colour codes in a log.
  const LINES = [
    '\uFEFF# Release notes',
    'Team: \u{1F469}\u200D\u{1F4BB} \u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466} \u{1F3F3}\uFE0F\u200D\u{1F308} \u2764\uFE0F \u{1F44D}\u{1F3FD}',
    'Flag: \u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Scotland',
    'Persian: \u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \u0646\u0627\u0645\u0647\u200C\u0647\u0627\u06CC \u0628\u0633\u06CC\u0627\u0631\u06CC',
    'Hindi: \u0915\u094D\u200D\u0937 \u0930\u094D\u200D\u092F \u0915\u094D\u200C\u0937',
    'Prose: incom\u00ADpre\u00ADhen\u00ADsi\u00ADbil\u00ADi\u00ADty, ex\u00ADtra\u00ADor\u00ADdi\u00ADnar\u00ADy, Donau\u00ADdampf\u00ADschiff\u00ADfahrts\u00ADgesell\u00ADschaft',
    'Mixed: \u200Fשלום\u200E (hello) \u061Cمرحبا and \u2066isolated\u2069 text',
    'Log: \x1B[32mPASS\x1B[0m src/scan.test.ts \x1B[2m(12 ms)\x1B[22m',
    'Zero-width spaces as line-break hints: https://example.com/very/\u200Blong/\u200Bpath/\u200Bto/\u200Bsomething',
    'Hangul: \u3164\u3164 \u115F\u1160 \uFFA0',
    'Math: x\u2062y \u2061f(x) a\u2063b',
  ];

  it('scan() finds nothing in such text, as written and as UTF-8 read as Latin-1', () => {
    for (const text of [LINES.join('\n'), asLatin1(LINES.join('\n'))])
      assert.deepEqual(scan(text, { decode: true }), []);
  });
});

describe('detect-37-2: a private key cut by hidden characters is found whole with decode', () => {
  // The private-key rule reads a key over its lines, and a run cut by a hidden character is one
  // line's: a key whose body or markers a zero-width space cut was not found (or only up to the
  // cut). A stretch inside a key is now read as the whole key, from its header to its footer.
  const key = EXAMPLES.rsaKey();
  const fingerprint = scan(key)[0]?.fingerprint;
  const lines = key.split('\n');
  /** The key with `hidden` put in the middle of each of the lines `which` picks. */
  const cutLines = (hidden: string, which: (line: number) => boolean): string =>
    lines.map((l, k) => (which(k) ? cut(l, hidden, l.length >> 1) : l)).join('\n');
  const last = lines.length - 1;
  const CASES: [string, string][] = [
    ['a zero-width space in the first line of the body', cutLines('\u200B', (k) => k === 1)],
    ['a zero-width space in a middle line', cutLines('\u200B', (k) => k === 6)],
    ['a zero-width space in the last line of the body', cutLines('\u200B', (k) => k === last - 1)],
    ['a zero-width space in every line of the body', cutLines('\u200B', (k) => k > 0 && k < last)],
    ['a byte-order mark and a word joiner in the body', cutLines('\uFEFF\u2060', (k) => k === 3 || k === 9)],
    ['a zero-width space in the header', cutLines('\u200B', (k) => k === 0)],
    ['a zero-width space in the footer', cutLines('\u200B', (k) => k === last)],
    ['a tag character in the header', key.replace('BEGIN RSA', `BEGIN${String.fromCodePoint(0xe0001)} RSA`)],
    ['tag characters between the header dashes', key.replace('-----BEGIN', `--${tags('x')}---BEGIN`)],
    ['zero-width spaces in the header, the body and the footer', cutLines('\u200B', () => true)],
    ['a colour code around the header', key.replace(lines[0] ?? '', `\x1B[1;31m${lines[0]}\x1B[0m`)],
  ];
  for (const [name, text] of CASES)
    it(`${name}: as written, and in UTF-8 read as Latin-1, over the whole key`, () => {
      for (const written of [`before\n${text}\nafter`, asLatin1(`before\n${text}\nafter`)]) {
        const found = scan(written, { decode: true });
        assert.deepEqual(
          found.map((f) => [f.rule, f.confidence, f.fingerprint, f.encoding]),
          [['private-key', 'high', fingerprint, 'hidden']],
          JSON.stringify(written.slice(0, 80)),
        );
        // Over the key, from its header's first dash to its footer's last, and nothing around it.
        const [f] = found;
        assert.deepEqual([f?.start, f?.end], [written.indexOf('-'), written.lastIndexOf('-') + 1]);
      }
    });

  it('in a JSON string, its line breaks escaped (a service-account file)', () => {
    const escaped = (s: string): string => `${s.replace(/\n/g, '\\n')}\\n`;
    const text = `{"type": "service_account", "private_key": "${escaped(cutLines('\u200B', (k) => k === 4))}"}`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [f.rule, f.fingerprint, f.encoding]),
      [['gcp-service-account-key', scan(`"private_key": "${escaped(key)}"`)[0]?.fingerprint, 'hidden']],
    );
  });

  it('a hidden character after a key that ended is no part of it: the key stays as written', () => {
    const text = `${key}\nnotes: see the re\u200Bdme for how to rotate it\n`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [f.fingerprint, f.encoding, f.start, f.end]),
      [[fingerprint, undefined, 0, key.length]],
    );
  });

  it('a key header without a body, and base64 lines cut by hidden characters without a header, make no finding', () => {
    const body = lines.slice(1, -1).map((l) => cut(l, '\u200B', 30));
    for (const text of [
      `-----BEG\u200BIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----`,
      body.join('\n'),
      `-----BEGIN CERTIFICATE-----\n${body.join('\n')}\n-----END CERTIFICATE-----`,
    ])
      assert.deepEqual(scan(text, { decode: true }), [], JSON.stringify(text.slice(0, 40)));
  });
});
