// detect-gap-2: a terminal consumes an ANSI/VT control sequence whole and shows none of it, so a
// colour code or a hyperlink inside a token (`ghp_abc<ESC>[0mdef…`) hides nothing from the eye. A
// run cut by hidden characters was read with only the ESC removed, which left `[0m` inside the
// token and the secret unfound. Such a run is now also read with every CSI and OSC sequence
// removed whole, 7-bit and 8-bit, as written and as UTF-8 read as Latin-1.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact, scan } from '../src/index.js';
import { scanCounting, type ScanWork } from '../src/scan.js';
import { KEY, assertCutKeyFound, cut, keyFingerprint } from './cut-key.js';
import { asLatin1, repeat } from './encodings.js';
import { githubToken } from './tokens.js';

const SEQUENCES: [string, string][] = [
  ['CSI reset ESC [ 0 m', '\x1B[0m'],
  ['CSI colour ESC [ 1 ; 31 m', '\x1B[1;31m'],
  ['CSI 256-colour ESC [ 38 ; 5 ; 196 m', '\x1B[38;5;196m'],
  ['CSI truecolour with colons ESC [ 38 : 2 : : 255 : 0 : 0 m', '\x1B[38:2::255:0:0m'],
  ['CSI erase line ESC [ 2 K', '\x1B[2K'],
  ['CSI private mode ESC [ ? 25 l', '\x1B[?25l'],
  ['CSI with an intermediate space ESC [ 2 SP q', '\x1B[2 q'],
  ['CSI without parameters ESC [ H', '\x1B[H'],
  ['OSC title ended by BEL', '\x1B]0;build: ok\x07'],
  ['OSC hyperlink ended by ESC \\', '\x1B]8;;https://example.com/docs?x=1\x1B\\'],
  ['OSC hyperlink end, empty', '\x1B]8;;\x1B\\'],
  ['OSC ended by the 8-bit string terminator U+009C', '\x1B]2;title\x9C'],
  ['8-bit CSI U+009B 0 m', '\x9B0m'],
  ['8-bit CSI U+009B 1 ; 32 m', '\x9B1;32m'],
  ['8-bit OSC U+009D ended by BEL', '\x9D0;title\x07'],
  ['8-bit OSC U+009D ended by U+009C', '\x9D8;;https://example.com\x9C'],
  ['a colour code and a zero-width space', '\x1B[31m\u200B'],
  ['colour codes one after the other', '\x1B[0m\x1B[1m\x1B[38;5;2m'],
];

describe('detect-gap-2: a secret cut by a terminal control sequence is found with decode', () => {
  for (const [name, sequence] of SEQUENCES)
    it(`${name}: as written, and in UTF-8 read as Latin-1`, () => assertCutKeyFound(sequence));

  it('a GitHub token coloured in pieces, and wrapped in a hyperlink, is one finding redacted whole', () => {
    const token = githubToken('ghp');
    const pieces = [token.slice(0, 7), token.slice(7, 20), token.slice(20)];
    const coloured = `${pieces[0]}\x1B[0m\x1B[32m${pieces[1]}\x1B[0;1m${pieces[2]}`;
    const text = `token \x1B]8;;https://github.com/settings/tokens\x1B\\${coloured}\x1B]8;;\x1B\\ done`;
    const found = scan(text, { decode: true });
    assert.deepEqual(
      found.map((f) => [f.rule, f.fingerprint, f.encoding, text.slice(f.start, f.end)]),
      [['github-token', scan(token)[0]?.fingerprint, 'hidden', coloured]],
    );
    assert.equal(
      redact(text, found),
      `token \x1B]8;;https://github.com/settings/tokens\x1B\\[REDACTED:github-token:ghp_…${scan(token)[0]?.fingerprint.slice(-10)}]\x1B]8;;\x1B\\ done`,
    );
  });

  it('what is no whole sequence hides its introducer alone, as before: unterminated, too long, cut by a line', () => {
    // Read whole, each would leave the key uncut; read as before, what follows the introducer
    // stays in the key, and no rule matches it.
    const NONE: [string, string][] = [
      ['an OSC with no end', cut(KEY, '\x1B]0;noend')],
      ['a CSI of 80 parameter characters', cut(KEY, `\x1B[${'1;'.repeat(40)}m`)],
      ['an OSC of 5,000 characters', cut(KEY, `\x1B]0;${'t'.repeat(5000)}\x07`)],
      ['an OSC cut by a line break', cut(KEY, '\x1B]0;a\nb\x07')],
    ];
    for (const [name, cutKey] of NONE) assert.deepEqual(scan(`key: ${cutKey}\n`, { decode: true }), [], name);
    // An ESC before no "[" or "]" is cut as before: the key is found.
    assert.deepEqual(
      scan(`key: ${cut(KEY, '\x1B')}\n`, { decode: true }).map((f) => [f.fingerprint, f.encoding]),
      [[keyFingerprint, 'hidden']],
    );
  });

  it('a bare 8-bit CSI inside a token: read as a terminal shows it, or without the introducer alone', () => {
    // U+009B before the token's letters is a CSI that takes them: read so, the token's checksum
    // fails. A receiver that strips controls gets it whole, and so is it read too: found high.
    const token = githubToken('ghp');
    for (const introducer of ['\x9B', asLatin1('\x9B')]) {
      const text = `token: ${cut(token, introducer, 20)} end`;
      const found = scan(text, { decode: true });
      assert.deepEqual(
        found.map((f) => [f.rule, f.confidence, f.fingerprint, text.slice(f.start, f.end)]),
        [['github-token', 'high', scan(token)[0]?.fingerprint, cut(token, introducer, 20)]],
        JSON.stringify(introducer),
      );
    }
    // U+009B before the key's "9H" is a cursor move: a terminal shows the key without "9H", and
    // that is the finding kept over the span (a stripe key too, of another fingerprint).
    const text = `key: ${cut(KEY, '\x9B')}\n`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [
        f.rule,
        f.confidence,
        f.fingerprint,
        text.slice(f.start, f.end),
      ]),
      [['stripe-key', 'high', scan(KEY.replace('9H', ''))[0]?.fingerprint, text.slice(5, -1)]],
    );
  });

  it('a coloured log and hyperlinked text make no finding', () => {
    const log = [
      '\x1B[32m✓\x1B[0m src/scan.test.ts \x1B[2m(12 ms)\x1B[22m',
      '\x1B[1;31mFAIL\x1B[0m \x1B]8;;file:///work/src/a.ts\x1B\\src/a.ts\x1B]8;;\x1B\\:12:7',
      '\x1B]0;npm test\x07\x1B[?25l\x1B[2K\x1B[1G Running 42 tests\x1B[?25h',
      '\x9B32mPASS\x9B0m \x9D8;;https://example.com\x9Clink\x9D8;;\x9C',
    ].join('\n');
    for (const text of [log, asLatin1(log)]) assert.deepEqual(scan(text, { decode: true }), []);
  });
});

describe('detect-gap-2: reading control sequences costs a small multiple of the length', () => {
  // A run of them is stepped over by the search for hidden characters and again as a run, each
  // sequence's characters are read once more (reading one stops at the next control, so none is
  // read by two), and a run holding an 8-bit one is read two ways: one more than other hidden
  // characters cost.
  const KIB = 1024;
  const SHAPES: [string, (n: number) => string][] = [
    ['colour codes glued together', (n) => repeat('\x1B[38;5;196m', n)],
    ['unterminated OSC introducers', (n) => repeat(`\x1B]0;${'t'.repeat(30)}`, n)],
    ['OSC sequences of the longest length read', (n) => repeat(`\x1B]0;${'t'.repeat(4000)}\x07`, n)],
    ['one OSC introducer before a long title with no end', (n) => `\x1B]0;${repeat('title ', n - 4)}`],
    ['CSI introducers with too many parameters', (n) => repeat(`\x1B[${'?='.repeat(50)}`, n)],
    ['8-bit CSI and OSC in UTF-8 read as Latin-1', (n) => repeat(asLatin1('\x9B1m\x9D0;x\x9Cab'), n)],
  ];
  for (const [name, make] of SHAPES)
    it(`${name}: at most 5 times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
      for (const length of [256 * KIB, 1024 * KIB]) {
        const text = make(length);
        const work: ScanWork = { scanned: 0, visited: 0, decoded: 0 };
        scanCounting(text, { decode: true }, work);
        for (const [what, count] of Object.entries(work))
          assert.ok(count <= 5 * length, `${what}: ${count} for ${length} characters`);
      }
    });
});
