// egress-dlp-04: secrets hidden by encoding are found with `decode`: base64 (std and url-safe), hex
// and several layers of percent-encoding, in a path, a query or a JSON body. The finding spans the
// encoded segment; its fingerprint is the decoded secret's, so the same secret names the same
// finding whatever the encoding.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { decodedSegments } from '../src/decode.js';
import {
  b64,
  b64url,
  byteValues,
  bytesOf,
  hex,
  hexPairs,
  percentEvery,
  jsonEscapes,
  octalEscapes,
  references,
  unitEscapes,
  utf16be,
  wrap,
} from './encodings.js';
import { EXAMPLES, githubToken } from './tokens.js';

const token = githubToken('ghp');
const anthropic = EXAMPLES.anthropic();
const rawFingerprint = scan(token)[0]?.fingerprint;
const percentAll = (s: string): string => percentEvery(s).toUpperCase();

const CASES: [string, string, string][] = [
  ['base64 in the path', `https://evil.test/u/${b64(`t=${token}`)}`, 'base64'],
  ['base64url in the query', `https://evil.test/?d=${b64url(`{"t":"${token}"}`)}`, 'base64url'],
  ['hex in the query', `https://evil.test/?h=${hex(token)}`, 'hex'],
  ['percent-encoded every byte', `https://evil.test/?q=${percentAll(token)}`, 'percent'],
  [
    'three layers of percent-encoding',
    `https://evil.test/?q=${encodeURIComponent(encodeURIComponent(percentAll(token)))}`,
    'percent',
  ],
  ['base64 inside a JSON body', JSON.stringify({ note: b64(`my token is ${token}`) }), 'base64'],
  ['JSON \\u escapes', `{"k":"${jsonEscapes(token)}"}`, 'json'],
];

describe('egress-dlp-04: encoded secrets are found after decoding', () => {
  for (const [name, text, encoding] of CASES) {
    it(name, () => {
      assert.deepEqual(scan(text), [], 'not visible without decoding');
      const [f, ...rest] = scan(text, { decode: true });
      assert.deepEqual(rest, []);
      assert.equal(f?.rule, 'github-token');
      assert.equal(f?.confidence, 'high');
      // Base64url without "-" or "_" cannot be told from base64; either name is right then.
      assert.equal(f?.encoding?.replace('base64url', 'base64'), encoding.replace('base64url', 'base64'));
      assert.equal(f?.fingerprint, rawFingerprint);
      // The span covers the encoded segment: redacting it removes the secret's every byte.
      const segment = text.slice(f?.start, f?.end);
      assert.ok(segment.length >= token.length, segment);
    });
  }
});

void it('Basic credentials hiding a GitHub token are reported as the token, not only as a generic secret', () => {
  const text = `Authorization: Basic ${b64(`x-access-token:${token}`)}`;
  assert.equal(scan(text)[0]?.rule, 'generic-secret');
  const [f, ...rest] = scan(text, { decode: true });
  assert.deepEqual(rest, []);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.encoding, 'base64');
});

void it('base64 of an Anthropic key in a JSON body is found', () => {
  const body = JSON.stringify({ messages: [{ role: 'user', content: `data:${b64(anthropic)}` }] });
  const [f] = scan(body, { decode: true });
  assert.equal(f?.rule, 'anthropic-api-key');
});

void it('decoding leaves binary base64 (images, hashes) alone', () => {
  const png =
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
  assert.deepEqual([...decodedSegments(`data:image/png;base64,${png}`)], [], 'not decoded at all');
});

void it('a base64 run longer than 64 KiB (a file sent as a blob) is scanned in overlapping windows: a secret anywhere in it is found, one across a window edge too', () => {
  const line = 'log line: nothing to see here, all services nominal\n';
  // The first window ends 49,152 bytes in (64 KiB of base64), the second starts at 46,080: lines
  // are 52 bytes, so after 945 lines the secret spans the first window's end.
  for (const before of [10, 886, 945, 1_600, 2_300]) {
    const file = `${line.repeat(before)}TOKEN=${token}\n${line.repeat(300)}`;
    const found = scan(b64(file), { decode: true });
    assert.equal(found.length, 1, `a secret after ${before} lines`);
    assert.equal(found[0]?.fingerprint, rawFingerprint);
    assert.equal(found[0]?.encoding, 'base64');
  }
  // A long binary run (an image) is still left alone, window after window.
  const noise = Buffer.alloc(200_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  assert.deepEqual(scan(noise.toString('base64'), { decode: true }), []);
});

// redteam-30-2: base64 is decoded as text when it is text in any script or in UTF-16, and base64
// wrapped at a fixed width (MIME and `base64` at 76 columns, PEM at 64) is joined before decoding.
const env = `REGION=eu-west-1\nGITHUB_TOKEN=${token}\n`;

const TEXT_ENCODINGS: [string, string, string][] = [
  ['UTF-8 text whose first line has an accent', b64(`# café\n${env}`), 'base64'],
  [
    'UTF-8 text in Cyrillic',
    bytesOf(`# Конфигурация сервера для продакшена\n${env}`).toString('base64'),
    'base64',
  ],
  ['UTF-16LE text without a byte-order mark', bytesOf(env, 'utf16le').toString('base64'), 'base64'],
  [
    'UTF-16LE Cyrillic text with a byte-order mark',
    bytesOf(`\uFEFF# Сервер\n${env}`, 'utf16le').toString('base64'),
    'base64',
  ],
  ['UTF-16BE text with a byte-order mark', utf16be(`\uFEFF${env}`).toString('base64'), 'base64'],
  ['MIME base64 at 76 columns with CRLF', wrap(b64(`Subject: deploy\n\n${env}`), 76, '\r\n'), 'base64'],
  ['PEM-style base64 at 64 columns', wrap(b64(`${'#'.repeat(40)}\n${env}`), 64), 'base64'],
  ['wrapped base64 inside a raw JSON string', JSON.stringify({ blob: wrap(b64(`x\n${env}`), 76) }), 'base64'],
  ['wrapped base64 indented in YAML', `data: |\n  ${wrap(b64(`x\n${env}`), 64, '\n  ')}\n`, 'base64'],
  ['wrapped base64 after a short word on the line before', `ok\n${wrap(b64(`x\n${env}`), 20)}`, 'base64'],
  ['hex pairs separated by colons', hexPairs(env, ':'), 'hex'],
  ['hex pairs separated by spaces', hexPairs(env, ' '), 'hex'],
  ['hex pairs separated by dashes', hexPairs(env, '-'), 'hex'],
  ['hex after 0x', `0x${bytesOf(env).toString('hex')}`, 'hex'],
];

describe('redteam-30-2: base64 of text in any script or UTF-16, wrapped base64 and separated hex are decoded', () => {
  for (const [name, text, encoding] of TEXT_ENCODINGS) {
    it(name, () => {
      const found = scan(text, { decode: true });
      assert.deepEqual(
        found.map((f) => [f.rule, f.confidence, f.encoding, f.fingerprint]),
        [['github-token', 'high', encoding, rawFingerprint]],
      );
    });
  }
});

void it('redteam-30-2: a token is found wherever a 76- or 64-column line break falls in it, after LF or CRLF', () => {
  for (const [width, lineBreak] of [
    [76, '\n'],
    [76, '\r\n'],
    [64, '\n'],
  ] as const) {
    for (let pad = 0; pad < 57; pad++) {
      const file = `${'x'.repeat(pad)}\nGITHUB_TOKEN=${token}\n${'y'.repeat(100)}`;
      const found = scan(wrap(b64(file), width, lineBreak), { decode: true });
      assert.equal(found[0]?.fingerprint, rawFingerprint, `width ${width}, ${pad} bytes before`);
    }
  }
});

void it('redteam-30-2: lines of equal length that do not join into text are decoded one by one', () => {
  // Each line is base64url of its own 41 bytes (55 characters): joined, they decode to noise.
  const lines = [
    'line 01 of a log that says nothing at all',
    `=${token}`,
    'line 03 of a log that says nothing at all',
  ];
  const text = lines.map((l) => Buffer.from(l).toString('base64url')).join('\n');
  assert.deepEqual(
    scan(text, { decode: true }).map((f) => [f.fingerprint, text.slice(f.start, f.end)]),
    [[rawFingerprint, Buffer.from(`=${token}`).toString('base64url')]],
  );
});

void it('redteam-30-2: binary in any of the new shapes is still left alone', () => {
  const noise = Buffer.alloc(3000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  for (const text of [
    wrap(noise.toString('base64'), 76, '\r\n'),
    noise.toString('hex').replace(/(..)(?!$)/g, '$1:'),
    // SSH key fingerprints and MAC addresses are separated hex too.
    'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48 and 00:1a:2b:3c:4d:5e',
  ])
    assert.deepEqual([...decodedSegments(text)], [], text.slice(0, 40));
});

// detect-31: three more ways of writing a secret hid it from scan() and from the known-value
// matcher: JavaScript's escape() form `%uXXXX` (detect-31-1), HTML and XML character references
// (detect-31-2), and lists of byte values (detect-31-3). Cases: [name, text before, the encoded
// token, text after, encoding].

const REDTEAM_31: [string, string, string, string, string][] = [
  ['detect-31-1: every character as %uXXXX', '?q=', unitEscapes(token, true), '&x=1', 'percent'],
  [
    'detect-31-1: lower-case %u after a surrogate pair',
    'q=',
    `%ud83d%udd11${unitEscapes(` ${token}`)}`,
    '',
    'percent',
  ],
  [
    'detect-31-1: %u mixed with %XX',
    '?q=',
    unitEscapes(token, true).replace(/%u00/g, (e, i: number) => (i % 4 ? e : '%')),
    '',
    'percent',
  ],
  [
    'detect-31-1: %u escapes percent-encoded again',
    '?q=',
    encodeURIComponent(unitEscapes(token, true)),
    '',
    'percent',
  ],
  [
    'detect-31-2: decimal references in an attribute',
    '<input value="',
    references(token, (c) => `&#${c};`),
    '">',
    'html',
  ],
  ['detect-31-2: hex references', '<p>', references(token, (c) => `&#x${c.toString(16)};`), '</p>', 'html'],
  [
    'detect-31-2: hex references with X, upper-case digits and leading zeros',
    "<p title='",
    references(token, (c) => `&#X00${c.toString(16).toUpperCase()};`),
    "'>",
    'html',
  ],
  ['detect-31-2: one character as a reference', '<td>', token.replace('_', '&#95;'), '</td>', 'html'],
  [
    'detect-31-2: references escaped once more (&amp;#…;)',
    '<x>',
    references(token, (c) => `&amp;#${c};`),
    '</x>',
    'html',
  ],
  [
    'detect-31-3: Buffer.from([…]) in decimal',
    'Buffer.from([',
    byteValues(token, String, ', '),
    '])',
    'decimal',
  ],
  ['detect-31-3: a JSON array of numbers', '{"data":[', byteValues(token, String, ','), ']}', 'decimal'],
  [
    'detect-31-3: a JSON array printed one number a line',
    '{\n  "data": [\n    ',
    byteValues(token, String, ',\n    '),
    '\n  ]\n}',
    'decimal',
  ],
  [
    'detect-31-3: decimal values separated by spaces',
    'od: ',
    byteValues(token, String, ' '),
    '\n',
    'decimal',
  ],
  ['detect-31-3: Python bytes([…]) of a file', 'bytes([', byteValues(env, String, ', '), '])', 'decimal'],
  [
    'detect-31-3: a C array of 0x values',
    'unsigned char k[] = {',
    byteValues(token, (b) => `0x${b.toString(16)}`, ', '),
    '};',
    'hex',
  ],
  [
    'detect-31-3: 0X values separated by spaces',
    '',
    byteValues(token, (b) => `0X${b.toString(16).toUpperCase()}`, ' '),
    '',
    'hex',
  ],
  [
    "detect-31-3: Python's [hex(b) for b in …], quoted",
    '[',
    byteValues(token, (b) => `'0x${b.toString(16)}'`, ', '),
    ']',
    'hex',
  ],
];

/** Each case's encoded token is found once, as the raw token is, under its encoding, over all of it. */
function itFindsTokenIn(cases: readonly [string, string, string, string, string][]): void {
  for (const [name, before, encoded, after, encoding] of cases) {
    it(name, () => {
      const text = `${before}${encoded}${after}`;
      assert.deepEqual(scan(text), [], 'not visible without decoding');
      const found = scan(text, { decode: true });
      assert.deepEqual(
        found.map((f) => [f.rule, f.confidence, f.encoding, f.fingerprint]),
        [['github-token', 'high', encoding, rawFingerprint]],
      );
      // The span covers the encoded token: redacting it removes every byte of it.
      assert.ok((found[0]?.start ?? Infinity) <= before.length, JSON.stringify(found));
      assert.ok((found[0]?.end ?? 0) >= before.length + encoded.length, JSON.stringify(found));
    });
  }
}

describe('detect-31: %u escapes, character references and byte lists are decoded', () => {
  itFindsTokenIn(REDTEAM_31);
  it('detect-31-1: a surrogate pair written as two %u escapes is decoded as its one character', () => {
    assert.deepEqual(decodingsOf(`q=%ud83d%udd11${unitEscapes(' key')}`), [['percent', 'q=\u{1F511} key']]);
  });
});

/** The encodings and decodings decodedSegments() finds in a text. */
const decodingsOf = (text: string): [string, string][] =>
  [...decodedSegments(text)].map((s) => [s.encoding, s.decoded]);

void it('detect-31-2: a character reference counts only with its semicolon', () => {
  assert.deepEqual(decodingsOf('x=&#71;&#72;&#80;'), [['html', 'x=GHP']]);
  assert.deepEqual(decodingsOf('x=&#71&#72&#80 and &amp &lt'), []);
});

void it('detect-31-3, detect-32-3: a byte list is decoded from 8 values, decimal or 0x, each 0-255, standing on its own', () => {
  const eight = 'ABCDEFGH';
  const decimal = (s: string): string => byteValues(s, String, ', ');
  const hexList = (s: string): string => byteValues(s, (b) => `0x${b.toString(16)}`, ',');
  assert.deepEqual(decodingsOf(`[${decimal(eight)}]`), [['decimal', eight]]);
  assert.deepEqual(decodingsOf(`{${hexList(eight)}}`), [['hex', eight]]);
  // One value short (also too short for text); a value past 255; values glued to a word, a
  // decimal point or a minus sign.
  for (const text of [
    `[${decimal(eight.slice(1))}]`,
    `{${hexList(eight.slice(1))}}`,
    `[${decimal(eight).replace('68', '268')}]`,
    `[${byteValues(eight, (b) => `${b}.5`, ', ')}]`,
    `[${byteValues(eight, (b) => `-${b}`, ', ')}]`,
    `v${decimal(eight)}`,
    // Ordinary arrays of small numbers are no text.
    `[${Array.from({ length: 64 }, (_, i) => i % 7).join(', ')}]`,
  ])
    assert.deepEqual(
      decodingsOf(text).filter(([e]) => e === 'decimal' || e === 'hex'),
      [],
      text,
    );
});

describe('egress-dlp-07: values that are not secrets (except) are left out only where they are', () => {
  const other = githubToken('ghp', 'A'.repeat(30));
  it('a finding over an excepted value is left out, in the text and in a decoded layer', () => {
    assert.equal(scan(`t=${token}`, { except: [token] }).length, 0);
    assert.equal(scan(`d=${b64(`{"t":"${token}"}`)}`, { decode: true, except: [token] }).length, 0);
  });
  it('another secret in the same encoded segment is still found, spanning the segment', () => {
    const both = `d=${b64(`{"t":"${token}","n":"${other}"}`)}`;
    const found = scan(both, { decode: true, except: [token] });
    assert.equal(found.length, 1);
    assert.equal(found[0]?.fingerprint, scan(other)[0]?.fingerprint);
    assert.equal(found[0]?.encoding, 'base64');
  });
});

// detect-32: more ways of writing a secret that scan() missed. Cases: [name, text before, the
// encoded token, text after, encoding].
const REDTEAM_32: [string, string, string, string, string][] = [
  ['detect-32-1: octal escapes in a C string', 'const char *k = "', octalEscapes(token), '";', 'json'],
  [
    "detect-32-1: octal escapes in the shell's $'…'",
    "curl -H $'Authorization: token ",
    octalEscapes(token),
    "'",
    'json',
  ],
  [
    'detect-32-1: octal escapes as short as each value needs',
    "k = '",
    octalEscapes(token, true),
    "'",
    'json',
  ],
  ['detect-32-1: one character as an octal escape', '"', token.replace('_', '\\137'), '"', 'json'],
  [
    'detect-32-2: 0x values with commas, semicolons and spaces in turn',
    '{',
    byteValues(token, (b) => `0x${b.toString(16)}`, [', ', ';', ' ', ',\n  ']),
    '}',
    'hex',
  ],
  [
    'detect-32-2: decimal values with spaces and commas in turn',
    '[',
    byteValues(token, String, [' ', ', ']),
    ']',
    'decimal',
  ],
  [
    'detect-32-2: values in 0x and in decimal in turn',
    'char k[] = {',
    byteValues(token, (b, i) => (i % 2 ? String(b) : `0x${b.toString(16)}`)),
    '};',
    'hex',
  ],
];

describe('detect-32: octal escapes and byte lists written several ways at once are decoded', () => {
  itFindsTokenIn(REDTEAM_32);
});

void it('detect-32-1: a run is decoded only where it holds a three-digit octal escape', () => {
  // A backreference, a NUL, a digit that is no octal one: not decoded at all.
  for (const text of ['sed "s/\\(a\\)\\1/x/"', 'printf "%s\\0"', 'a\\899b'])
    assert.deepEqual(decodingsOf(text), [], text);
  // A Windows path's "\\2024" reads as an escape, and is decoded to nothing worth a finding.
  const path = 'C:\\Users\\build\\2024\\logs';
  assert.deepEqual(decodingsOf(path), [['json', 'C:\\Users\\build\x824\\logs']]);
  assert.deepEqual(scan(path, { decode: true }), []);
});

void it('detect-32-2: a list mixing separators or 0x and decimal is decoded from 8 values', () => {
  const eight = 'ABCDEFGH';
  const mixed = (s: string, isHex: (i: number) => boolean): string =>
    byteValues(s, (b, i) => (isHex(i) ? `0x${b.toString(16)}` : String(b)), [' ', ', ', ';']);
  assert.deepEqual(decodingsOf(`[${mixed(eight, () => false)}]`), [['decimal', eight]]);
  assert.deepEqual(decodingsOf(`{${mixed(eight, (i) => i % 2 === 0)}}`), [['hex', eight]]);
  // 7 values; values one a line with no comma; two punctuation marks in a row.
  for (const text of [
    `{${mixed(eight.slice(1), (i) => i % 2 === 1)}}`,
    byteValues(eight, String, '\n'),
    byteValues(eight, String, ',,'),
  ])
    assert.deepEqual(
      decodingsOf(text).filter(([e]) => e === 'decimal' || e === 'hex'),
      [],
      text,
    );
});

// detect-32-4: bytes that are not text as a whole (a few random bytes, a binary header) hid the
// text after them: the text runs inside such bytes are scanned.
const binaryThen = (prefix: number[], text: string): Buffer =>
  Buffer.concat([Buffer.from(prefix), bytesOf(text)]);
const NOISE = [
  0x8f, 0x03, 0xe1, 0x00, 0x9c, 0xff, 0x12, 0xd4, 0x07, 0xb3, 0x81, 0x00, 0xfe, 0x1a, 0xc0, 0x99,
];
const REDTEAM_32_4: [string, string, string, string, string][] = [
  [
    'detect-32-4: base64 of random bytes then a token',
    'd=',
    binaryThen(NOISE, token).toString('base64'),
    '',
    'base64',
  ],
  [
    'detect-32-4: base64url of a binary header then text holding a token',
    '?d=',
    binaryThen([...NOISE, ...NOISE, 0x1f, 0x8b, 0x08], `\nGITHUB_TOKEN=${token}\n`).toString('base64url'),
    '',
    'base64url',
  ],
  [
    'detect-32-4: hex of random bytes then a token',
    'h=',
    binaryThen(NOISE, token).toString('hex'),
    '',
    'hex',
  ],
  [
    // The lines of a wrapped block were decoded for their text runs one by one only, so a token
    // across a line break (where the bytes before it put it) was missed.
    'detect-32-4: base64 wrapped at 76 columns, random bytes then a token across a line break',
    'Content-Transfer-Encoding: base64\r\n\r\n',
    wrap(
      Buffer.concat([
        binaryThen(
          Array.from({ length: 7 }, () => NOISE)
            .flat()
            .slice(0, 100),
          token,
        ),
        Buffer.from(NOISE),
      ]).toString('base64'),
      76,
      '\r\n',
    ),
    '\r\n',
    'base64',
  ],
];

describe('detect-32-4: text after binary bytes is found', () => {
  itFindsTokenIn(REDTEAM_32_4);
});

// detect-32-5: UTF-16 without a byte-order mark was read only when mostly ASCII (every other byte
// zero), so a token in Cyrillic or Chinese text written in UTF-16LE or BE was missed. A secret is
// ASCII: its bytes alternate with zeros whatever the text around it, and that run shows the byte
// order.
const RUSSIAN = '# Конфигурация сервера для продакшена. Не публиковать!\nРегион: Европа\n';
const CHINESE = '# 服务器配置文件，请勿公开。\n区域：欧洲西部\n';
const utf16le = (s: string): Buffer => bytesOf(s, 'utf16le');
const REDTEAM_32_5: [string, string, string, string, string][] = [
  [
    'detect-32-5: base64 of UTF-16LE Cyrillic text',
    'd=',
    utf16le(`${RUSSIAN}${env}`).toString('base64'),
    '',
    'base64',
  ],
  [
    'detect-32-5: base64 of UTF-16BE Cyrillic text',
    'd=',
    utf16be(`${RUSSIAN}${env}`).toString('base64'),
    '',
    'base64',
  ],
  [
    'detect-32-5: base64 of UTF-16LE Chinese text',
    '',
    utf16le(`${CHINESE}${env}${CHINESE}`).toString('base64'),
    '',
    'base64',
  ],
  [
    'detect-32-5: base64url of UTF-16BE Chinese text',
    '?d=',
    utf16be(`${CHINESE}${env}`).toString('base64url'),
    '',
    'base64url',
  ],
  ['detect-32-5: hex of UTF-16LE Chinese text', 'h=', utf16le(`${CHINESE}${env}`).toString('hex'), '', 'hex'],
  [
    'detect-32-5: MIME base64 of UTF-16BE Chinese text at 76 columns',
    'Content-Transfer-Encoding: base64\r\n\r\n',
    wrap(utf16be(`${CHINESE.repeat(8)}${env}${CHINESE}`).toString('base64'), 76, '\r\n'),
    '',
    'base64',
  ],
  [
    'detect-32-5: base64 of a binary header then UTF-16LE Chinese text',
    'd=',
    Buffer.concat([
      Buffer.from([...NOISE, ...NOISE, ...NOISE, ...NOISE]),
      utf16le(`${CHINESE}${env}`),
    ]).toString('base64'),
    '',
    'base64',
  ],
  // Hex pairs and byte lists are decoded as text whole or not at all (no runs are taken from them):
  // the text itself must be read as UTF-16 in its script.
  [
    'detect-32-5: space-separated hex pairs of UTF-16LE Chinese text',
    'dump: ',
    [...utf16le(`${CHINESE}${env}`)].map((b) => b.toString(16).padStart(2, '0')).join(' '),
    '',
    'hex',
  ],
  [
    'detect-32-5: hex pairs of UTF-16LE Chinese text starting inside a character',
    'dump: ',
    [...utf16le(`${CHINESE}${env}${CHINESE}`).subarray(1)]
      .map((b) => b.toString(16).padStart(2, '0'))
      .join(' '),
    '',
    'hex',
  ],
  [
    'detect-32-5: a decimal byte list of UTF-16BE Cyrillic text',
    'bytes([',
    [...utf16be(`${RUSSIAN}${env}`)].join(', '),
    '])',
    'decimal',
  ],
];

describe('detect-32-5: UTF-16 text in any script is decoded without a byte-order mark', () => {
  itFindsTokenIn(REDTEAM_32_5);
  it('a token anywhere in UTF-16 text is found, in one run (read whole) or in windows (which start inside characters)', () => {
    for (const [encode, before] of [
      [utf16le, 100],
      [utf16le, 1_450],
      [utf16be, 1_451],
      [utf16be, 3_000],
    ] as const) {
      const file = `${CHINESE.repeat(before)}${env}${RUSSIAN.repeat(300)}`;
      const encoded = encode(file).toString('base64');
      const found = scan(encoded, { decode: true });
      assert.deepEqual(
        found.map((f) => [f.encoding, f.fingerprint]),
        [['base64', rawFingerprint]],
        `${before} lines before`,
      );
      // In one run (no windows), read whole as text in its script, not only as the ASCII runs
      // inside it. A window holding two scripts is read for its runs.
      if (encoded.length <= 64 * 1024)
        assert.ok(
          decodingsOf(encoded).some(([, d]) => d.includes('服务器配置文件')),
          `${before} lines before: read as text`,
        );
    }
  });
  it('binary holding a UTF-16 string is read as that string, not as text of random characters', () => {
    // An X.509 BMPString is UTF-16BE; Windows resources are UTF-16LE.
    const name = 'Microsoft Strong Cryptographic Provider';
    for (const encode of [utf16be, utf16le]) {
      const bytes = Buffer.concat([
        Buffer.from([...NOISE, ...NOISE, ...NOISE]),
        encode(name),
        Buffer.from(NOISE),
      ]);
      assert.deepEqual(decodingsOf(bytes.toString('base64')), [['base64', name]]);
    }
    // Noise alone, in either alignment, is no UTF-16 text.
    const noise = Buffer.alloc(3000);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
    for (const shift of [0, 1]) assert.deepEqual(decodingsOf(noise.subarray(shift).toString('base64')), []);
  });
});
