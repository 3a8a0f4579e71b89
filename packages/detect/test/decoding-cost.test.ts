// redteam-30-1: decoding costs a small multiple of the text's length, whatever the text holds. A
// long run of percent-encoding or \u escapes used to make scan() re-read a 64 KiB window behind
// every escape while moving three characters on (80 KiB took 18 s and stalled the MCP gateway for
// every client). The work is counted, not timed: the characters the rules run over at every depth,
// those stepped over while finding encoded segments, and those handed to a decoder. Long hostile
// runs must still give up a secret anywhere in them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { hiddenStretches } from '../src/hidden-characters.js';
import { scanCounting, type ScanWork } from '../src/scan.js';
import { scanJoinedCounting } from '../src/split-secrets.js';
import {
  asLatin1,
  b64,
  byteValues,
  hexPairs,
  jsonEscapes,
  percentEvery,
  references,
  repeat,
  tags,
  unitEscapes,
  wrap,
} from './encodings.js';
import { githubToken } from './tokens.js';
import { cut } from './cut-key.js';

const KIB = 1024;
const token = githubToken('ghp');
const rawFingerprint = scan(token)[0]?.fingerprint;

/** Layers of percent-encoding, JSON escapes and base64 in each other, as deep as the decoder looks. */
function nested(length: number, padding = 15_000, levels = 6): string {
  let t = 'A'.repeat(padding);
  for (let k = 0; k < levels; k++) t = `%41.${b64(t)}.\\u0041`;
  return repeat(t, length);
}

/** Byte lists of %u escapes with character references in them, as deep as the decoder looks. */
function nestedLists(length: number): string {
  let t = 'A'.repeat(20);
  for (let k = 0; k < 3; k++) t = `&#65; ${byteValues(unitEscapes(t))} %u0041`;
  return repeat(t, length);
}

/**
 * Escapes of three kinds in one run, each left alone by the other two decoders, so that every text
 * decoded from the run is decoded again three ways; written to survive their own decoder once
 * (`%25` four times, as percent is decoded four layers at once, a doubled backslash, `&amp;`), and
 * the last two twice.
 */
const SURVIVING_ONCE = `%${'25'.repeat(4)}41${'\\'.repeat(2)}u0041&amp;#65;`;
const SURVIVING_TWICE = `%${'25'.repeat(4)}41${'\\'.repeat(4)}u0041&amp;amp;#65;`;

// Texts of one encoding: each character is stepped over, decoded and scanned a few times at most.
const ONE_ENCODING: [string, (n: number) => string][] = [
  ['percent-encoding', (n) => repeat('%41', n)],
  ['lower-case percent-encoding', (n) => repeat('%4a', n)],
  ['percent-encoding with one escape in a thousand characters', (n) => repeat(`${'A'.repeat(997)}%41`, n)],
  ['JSON \\u escapes', (n) => repeat('\\u0041', n)],
  ['\\x escapes', (n) => repeat('\\x41', n)],
  ['detect-32-1: octal escapes', (n) => repeat('\\101', n)],
  ['base64 of text', (n) => repeat('QUFB', n)],
  ['base64 of binary', (n) => repeat('AAAA', n)],
  [
    'detect-32-4: base64 of binary bytes and text runs in turn',
    (n) =>
      repeat(
        Buffer.concat([
          Buffer.from([0, 0x8f, 1, 0xff, 2, 0xc0]),
          Buffer.from('text run of some length'),
        ]).toString('base64'),
        n,
      ),
  ],
  ['hex', (n) => repeat('41', n)],
  ['hex pairs separated by spaces', (n) => repeat('41 ', n)],
  ['hex pairs separated by colons', (n) => repeat('41:', n)],
  ['base64 wrapped at 76 columns', (n) => repeat(`${'QUFB'.repeat(19)}\n`, n)],
  ['base64 wrapped at 8 columns', (n) => repeat('QUFBQUFB\r\n', n)],
  ['lines of equal length that are not base64 of text', (n) => repeat('AAAAAAAAAAAAAAAAAAAA\n', n)],
  ['detect-31-1: %u escapes', (n) => repeat('%u0041', n)],
  ['detect-31-1: %u escapes of surrogate pairs', (n) => repeat('%uD83D%uDE00', n)],
  ['detect-31-1: %u escapes of half surrogate pairs', (n) => repeat('%uD83D', n)],
  ['detect-31-2: decimal character references', (n) => repeat('&#65;', n)],
  ['detect-31-2: hex character references', (n) => repeat('&#x41;', n)],
  ['detect-31-2: named character references', (n) => repeat('&amp;', n)],
  ['detect-31-3: 0x byte values', (n) => repeat('0x41, ', n)],
  ['detect-31-3: decimal byte values', (n) => repeat('65,', n)],
  ['detect-31-3: decimal byte values separated by spaces', (n) => repeat('103 ', n)],
  ['detect-31-3: quoted decimal byte values a line each', (n) => repeat('"65",\n  ', n)],
  ['detect-32-2: byte values mixing 0x, decimal and separators', (n) => repeat('0x41;65 0x42,\n66 ', n)],
  [
    'detect-31-3: decimal lists of 16 values and lists switching separators',
    (n) => repeat(`x ${'65, '.repeat(15)}65 y 65 66, 67 68, `, n),
  ],
];
// Texts that mix encodings: a segment may be decoded in several ways at each of the three levels.
// 16 times the length: the first level costs at most about 4 (each character is in one run of each
// of four kinds), the levels below stop once they have cost 6 (decode.ts's DEEP_DECODE_BUDGET),
// having begun at most one segment's decoding (at most 64 KiB decoded, about 1 more at 256 KiB).
const MIXED: [string, (n: number) => string][] = [
  ['percent, JSON escapes, base64 and hex back to back', (n) => repeat('%41\\u0041QUFB41', n)],
  ['base64 with a percent and a JSON escape in each run', (n) => repeat(`${'QUFB'.repeat(20)}%41\\u0041`, n)],
  ['encodings nested three deep', nested],
  // A reviewer's variant: 17.9 times before decoding below the first level had a budget.
  ['encodings nested three deep, 1000 characters at the bottom', (n) => nested(n, 1000, 4)],
  // 36 and 52 times before.
  [
    'escapes of three kinds that survive each other in long runs',
    (n) => repeat(`${'A'.repeat(1000)}${SURVIVING_TWICE}`, n),
  ],
  [
    'base64 of escapes of three kinds that survive each other',
    (n) => repeat(`${b64(repeat(`${'A'.repeat(100)}${SURVIVING_ONCE}`, 16 * KIB))}${SURVIVING_TWICE}`, n),
  ],
  [
    'detect-31: %u escapes, character references and byte lists back to back',
    (n) => repeat('%u0041&#65;&#x41;0x41, 65, ', n),
  ],
  ['detect-31: byte lists of %u escapes with character references, nested three deep', nestedLists],
];

const workOf = (text: string): ScanWork => {
  const work = { scanned: 0, visited: 0, decoded: 0 };
  scanCounting(text, { decode: true }, work);
  return work;
};

/** Asserts that each count of `work` is at most `bound` times `length`, the characters of the text. */
function assertWorkAtMost(work: Partial<ScanWork>, bound: number, length: number): void {
  for (const [what, count] of Object.entries(work))
    assert.ok(count <= bound * length, `${what}: ${count} for ${length} characters`);
}

/**
 * Asserts, of the text `make` gives at 256 KiB and at 1 MiB, that each count of a scan's work is at
 * most `bound` times its length, and what `also` asserts of it.
 */
function assertLinear(
  make: (length: number) => string,
  bound: number,
  also: (text: string, work: ScanWork) => void,
): void {
  for (const length of [256 * KIB, 1024 * KIB]) {
    const text = make(length);
    const work = workOf(text);
    assertWorkAtMost(work, bound, text.length);
    also(text, work);
  }
}

describe('redteam-30-1: decoding work is a small multiple of the text length', () => {
  for (const [cases, bound] of [
    [ONE_ENCODING, 4],
    [MIXED, 16],
  ] as const) {
    for (const [name, make] of cases) {
      it(`${name}: at most ${bound} times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
        assertLinear(make, bound, (text, work) => {
          // Counted at all: every character of a text of one encoding is scanned, stepped over and
          // decoded; a mix's is decoded too, not left alone, where the decoders must find its segments.
          for (const [what, count] of Object.entries(work))
            if (cases === ONE_ENCODING || what === 'decoded')
              assert.ok(count >= text.length / 2, `${what}: only ${count} for ${text.length} characters`);
        });
      });
    }
  }
});

describe('redteam-30-1: runs of equal pieces, joined for the provider rules, cost a small multiple too', () => {
  // spaced-tokens.ts: no piece is in two runs, and a run is read at most 3 times (its anchor test,
  // and joined with and without its tail), so spaced runs add at most 3 times the length to the
  // text's own scan. Runs that shared pieces (a run's tail the next one's first piece,
  // its last piece the next one's prefix), each joined four ways, cost 8 times the length.
  const SPACED: [string, string][] = [
    ['an anchor in groups of four', 'ghp_ '],
    ['an anchor a character at a time', 'g h p _ '],
    ['hex pairs', '41 '],
    ['groups of 8 and 7 alternating, an anchor in each', 'ghp_abc. ghp_abcd ghp_ab. ghp_abc '],
    ['a 64-character prefix, 4 groups and a tail', `${'x'.repeat(60)}ghp_ ghp_ ghp_ ghp_ ghp_ x. `],
  ];
  for (const [name, unit] of SPACED)
    it(`${name}, repeated: at most 4 times the length scanned, at 1 MiB`, () => {
      const text = repeat(unit, 1024 * KIB);
      assertWorkAtMost(workOf(text), 4, text.length);
    });
});

describe('redteam-30-1: a secret deep in a long encoded run is still found', () => {
  const CASES: [string, string, string][] = [
    [
      'percent-encoding',
      `?q=${repeat('%41', 300 * KIB)}${percentEvery(` ${token} `)}${repeat('%41', 300 * KIB)}`,
      'percent',
    ],
    [
      'JSON \\u escapes',
      `"${repeat('\\u0041', 300 * KIB)}${jsonEscapes(` ${token} `)}${repeat('\\u0041', 300 * KIB)}"`,
      'json',
    ],
    [
      'hex pairs separated by spaces',
      hexPairs(`${'A'.repeat(100 * KIB)} ${token} ${'A'.repeat(100 * KIB)}`, ' '),
      'hex',
    ],
    [
      'base64 wrapped at 76 columns',
      wrap(
        b64(`${'log line, all nominal\n'.repeat(9000)}TOKEN=${token}\n${'tail\n'.repeat(9000)}`),
        76,
        '\r\n',
      ),
      'base64',
    ],
    [
      'detect-31-1: %u escapes',
      `?q=${repeat('%u0041', 300 * KIB)}${unitEscapes(` ${token} `)}${repeat('%u0041', 300 * KIB)}`,
      'percent',
    ],
    [
      'detect-31-2: character references',
      `<p>${repeat('&#65;', 300 * KIB)}${references(` ${token} `)}${repeat('&#65;', 300 * KIB)}</p>`,
      'html',
    ],
    [
      'detect-31-3: decimal byte values',
      `[${byteValues(`${'A'.repeat(100 * KIB)} ${token} ${'A'.repeat(100 * KIB)}`)}]`,
      'decimal',
    ],
    [
      'base64 after escapes of three kinds that survive each other (the first level is always decoded)',
      `${repeat(`${'A'.repeat(1000)}${SURVIVING_TWICE}`, 300 * KIB)} ${b64(`TOKEN=${token}`)}`,
      'base64',
    ],
    [
      'base64 of Cyrillic text',
      b64(`${'Конфигурация сервера. '.repeat(3000)}\nTOKEN=${token}\n${'Не публиковать. '.repeat(3000)}`),
      'base64',
    ],
    [
      'redteam-34-1: a run with a zero-width space after every character',
      `${repeat('a\u200B', 600 * KIB)}=${[...token].join('\u200B')};${repeat('a\u200B', 600 * KIB)}`,
      'hidden',
    ],
    [
      'detect-gap-1: a token spelled in tag characters among 1 MiB of them',
      `${repeat(tags('A'), 600 * KIB)}${tags(` ${token} `)}${repeat(tags('b'), 600 * KIB)}`,
      'unicode-tags',
    ],
  ];
  for (const [name, text, encoding] of CASES) {
    it(`${name}, ${Math.round(text.length / KIB)} KiB long`, () => {
      const found = scan(text, { decode: true });
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.equal(found[0]?.fingerprint, rawFingerprint);
      assert.equal(found[0]?.encoding, encoding);
    });
  }
});

describe('redteam-34-1: runs cut by hidden characters cost a small multiple of the length', () => {
  // Each character is stepped over once by the search for candidates, once more in a run that
  // holds one (back to its start, on to its end), and decoded once (1.07 times in windows).
  const HIDDEN: [string, (n: number) => string][] = [
    ['zero-width spaces', (n) => repeat('\u200B', n)],
    ['a letter and a zero-width space in turn', (n) => repeat('a\u200B', n)],
    [
      'one zero-width space in a run of the whole length',
      (n) => `${repeat('lorem.ipsum,', n / 2)}\u200B${repeat('dolor;', n / 2 - 1)}`,
    ],
    ['a zero-width space in each of many short runs', (n) => repeat('ab\u200Bcdefghij ', n)],
    ['tag characters (surrogate pairs)', (n) => repeat('\u{E0041}', n)],
    ['detect-gap-1: prose spelled in tag characters', (n) => repeat(tags('lorem ipsum, dolor 42. '), n)],
    [
      'detect-gap-1: tag characters in UTF-8 read as Latin-1',
      (n) => repeat(asLatin1(tags('lorem ipsum ')), n),
    ],
    ['detect-gap-1: tag characters and zero-width spaces in turn', (n) => repeat('\u{E0041}\u200B', n)],
    ['colour codes in a log', (n) => repeat('\x1B[32mPASS\x1B[0m test ', n)],
    ['detect-gap-3: a secret name before every run, near', (n) => repeat('token = a\u200Bb ', n)],
    [
      'detect-gap-3: a secret name before every run, far (each read with its line)',
      (n) => repeat(`password: ${'x'.repeat(30)} a\u200Bb `, n),
    ],
    [
      'detect-gap-3: runs with a name before them, one a line',
      (n) => repeat(`${'api_key '.repeat(40)}= "Xk9mQ2\u200BvL8pR4tZ7wB3nY6cF1"\n`, n),
    ],
    ['zero-width spaces in UTF-8 read as Latin-1', (n) => repeat('\u00E2\x80\x8B', n)],
    ['visible characters in UTF-8 read as Latin-1 (each a candidate)', (n) => repeat('\u00C3\u00A9', n)],
    ['letters that may start UTF-8 in Latin-1 text (each a candidate)', (n) => repeat('\u00E9t\u00E9 ', n)],
  ];
  for (const [name, make] of HIDDEN)
    it(`${name}: at most 4 times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
      assertLinear(make, 4, (text, work) => {
        // Counted at all: every character is stepped over, in a run or as a candidate.
        assert.ok(
          work.visited >= text.length / 2,
          `visited: only ${work.visited} for ${text.length} characters`,
        );
      });
    });
});

describe('detect-37-2, detect-37-3, detect-38-3: keys and names read around hidden runs cost a small multiple of the length', () => {
  // A stretch that may stand in a private key looks for its header back to the stretch before it
  // (the text between runs searched once) and is read on to the key's footer, once; a run is read
  // again for a key's shape only after a header or when it holds a "-", which a header cut holds;
  // a stretch that holds tag characters is read once more with them as ASCII, name and all,
  // windows of tags alone aside (read so already), and a run whose tags spell a secret's name with
  // the rest of its line. Base64 lines cost up to 4.6 already (a wrapped block is decoded a level
  // below: 4.1 for a key with no hidden character), so 6.
  // Each shape is also checked to make the reading it is there for (under its bound, it could
  // read nothing): its stretches grow over the keys and lines read around runs, or the reads
  // it makes are counted (the walk for a key's shape, a spelled reading's decoding).
  type Check = (text: string, work: ScanWork) => void;
  /** The stretches hold `share` of the text at least: what is read around runs grew them. */
  const holds =
    (share: number): Check =>
    (text) => {
      let held = 0;
      for (const s of hiddenStretches(text, { visited: 0 })) held += s.end - s.start;
      assert.ok(held >= share * text.length, `the stretches hold ${held} of ${text.length} characters`);
    };
  /** The first stretch is grown back to the key header at the text's start. */
  const fromHeader: Check = (text) => {
    const [first] = hiddenStretches(text, { visited: 0 });
    assert.equal(first?.start, 0, 'the first stretch starts at the header');
  };
  /** `what` counts `times` the length at least: the reading the shape makes is counted. */
  const counts =
    (what: 'visited' | 'decoded', times: number): Check =>
    (text, work) =>
      assert.ok(
        work[what] >= times * text.length,
        `${what}: only ${work[what]} for ${text.length} characters`,
      );
  const KEY_BODY = 'MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Bq2h1mZ8aRvXnUe';
  const AROUND: [string, number, (n: number) => string, Check][] = [
    // No header, no "-": each line is read as its run, and not again.
    [
      'base64 lines each cut by a zero-width space, no header',
      6,
      (n) => repeat(`${cut(KEY_BODY, '\u200B')}\n`, n),
      holds(0.9),
    ],
    // A "-" in each: each line is read again for a header cut (5.1 times the length, 3.2 without).
    [
      'base64 lines each cut by a zero-width space and holding a "-", no header',
      6,
      (n) => repeat(`${cut(KEY_BODY, '\u200B')}-x\n`, n),
      counts('visited', 4.5),
    ],
    [
      'key headers each cut by a zero-width space',
      5,
      (n) => repeat('-----BEG\u200BIN RSA PRIVATE KEY-----\n', n),
      holds(0.9),
    ],
    [
      'key headers, each before a line cut by a zero-width space, and no footer',
      6,
      (n) => repeat(`-----BEGIN RSA PRIVATE KEY-----\n${cut(KEY_BODY, '\u200B')}\n`, n),
      holds(0.9),
    ],
    [
      'one key header, then lines cut by zero-width spaces past 64 KiB',
      6,
      (n) => `-----BEGIN RSA PRIVATE KEY-----\n${repeat(`${cut(KEY_BODY, '\u200B')}\n`, n - 32)}`,
      fromHeader,
    ],
    // Each read again for a header cut (3.6 times the length, 2.3 without).
    [
      'key footers each cut by a zero-width space',
      5,
      (n) => repeat('-----EN\u200BD RSA PRIVATE KEY-----\n', n),
      counts('visited', 3),
    ],
    // Each decoded once more as a model reads it (1.4 to 2.7 times the length without).
    [
      'a value spelled in tags after a secret name, again and again',
      5,
      (n) => repeat(`password = ${tags('abcdefgh12')} `, n),
      counts('decoded', 2),
    ],
    ['tags after a secret name, one each', 5, (n) => repeat(`token${tags('x')}`, n), counts('decoded', 2)],
    ['visible and tag characters in turn', 5, (n) => repeat(`A${tags('A')}`, n), counts('decoded', 2)],
    [
      'base64 with every other group spelled in tags',
      5,
      (n) => repeat(`QUFB${tags('QUFB')}`, n),
      counts('decoded', 2),
    ],
    [
      'one visible character, then tag characters',
      5,
      (n) => `x${repeat(tags('A'), n - 1)}`,
      counts('decoded', 3),
    ],
    // detect-38-3: a run that spells a secret's name is read with its line, to 256 characters on,
    // each character once: runs this near are one stretch anyway, decoded once more as a model
    // reads it (1.1 times the length without); 30 characters apart, the line read makes them one.
    [
      'a secret name spelled in tags before every value, one line',
      5,
      (n) => repeat(`${tags('pwd:')} abcdefgh12 `, n),
      counts('decoded', 2),
    ],
    [
      'a secret name spelled in tags before every value, 30 characters apart, one line',
      5,
      (n) => repeat(`${tags('pwd:')} abcdefgh12 ${'x'.repeat(20)} `, n),
      holds(0.9),
    ],
    [
      'a secret name spelled in tags before every value, a line each',
      5,
      (n) => repeat(`${tags('pwd:')} abcdefgh12\n`, n),
      holds(0.9),
    ],
    [
      'a secret name spelled in tags, then a long line',
      5,
      (n) => repeat(`${tags('token=')} ${'a b '.repeat(200)}\n`, n),
      holds(0.3),
    ],
  ];
  for (const [name, bound, make, check] of AROUND)
    it(`${name}: at most ${bound} times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
      assertLinear(make, bound, check);
    });
});

describe('redteam-34-1: text with many findings and no hidden character is read for them once', () => {
  // A finding read with a hidden character inside it gives way to the reading without (scan.ts):
  // each finding's span was checked by a search for the next candidate, which read on to the text's
  // end where there is none, so 4 MB of findings scanned 20 times slower. Each span is read alone.
  const FINDINGS: [string, (n: number) => string][] = [
    ['GitHub tokens, one a line', (n) => repeat(`token ${token}\n`, n)],
    ['secrets assigned, one a line', (n) => repeat('password = "Xk9mQ2vL8pR4tZ7wB3nY6cF1"\n', n)],
    ['GitHub tokens in Chinese text', (n) => repeat(`令牌 ${token} 不要公开\n`, n)],
  ];
  for (const [name, make] of FINDINGS)
    it(`${name}: at most 4 times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
      assertLinear(make, 4, (text) => assert.ok(scan(text, { decode: true }).length >= text.length / 64));
    });
});

describe('review-33-1: the joined scan of many short parts costs a small multiple of their length', () => {
  // A run of up to 16 parts was scanned from every part's start: each part read 16 times, and one
  // 4 MiB tool call of 168,000 short strings held the MCP gateway for 32 s. The joined text is now
  // read once, and again from a part's start only where a token may start glued to the part before,
  // by two scans at most: three times the length, however short the parts and dense the starts.
  const PARTS: [string, (i: number) => string][] = [
    ['glued assignments', (i) => `password=hunter${i}x`],
    ['URLs', (i) => `https://example.com/items/${i}`],
    ['glued anchors', (i) => `ghp_${i}x`],
    ['one character each', (i) => 'sk-ant-x'.charAt(i % 8)],
    ['empty parts between anchors', (i) => (i % 2 === 0 ? '' : `xsk_live_${i}`)],
  ];
  for (const [name, part] of PARTS)
    it(`${name}: at most 3 times the length scanned, and a token cut among them found`, () => {
      const parts = Array.from({ length: 20_000 }, (_, i) => part(i));
      parts.splice(10_000, 0, `x${token.slice(0, 12)}`, token.slice(12, 30), `${token.slice(30)} `);
      const length = parts.join('').length;
      const work: ScanWork = { scanned: 0, visited: 0, decoded: 0 };
      const found = scanJoinedCounting(parts, {}, work);
      assertWorkAtMost({ scanned: work.scanned }, 3, length);
      const cut = found.find((f) => f.rule === 'github-token' && f.firstPart !== f.lastPart);
      assert.equal(cut?.fingerprint, rawFingerprint);
    });
});
