// detect-gap-2: a terminal consumes an ANSI/VT control sequence whole and shows none of it, so a
// colour code or a hyperlink inside a token (`ghp_abc<ESC>[0mdef…`) hides nothing from the eye. A
// run cut by hidden characters was read with only the ESC removed, which left `[0m` inside the
// token and the secret unfound. Such a run is now also read with every CSI and OSC sequence
// removed whole, 7-bit and 8-bit, as written and as UTF-8 read as Latin-1.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact, scan } from '../src/index.js';
import { hiddenStretches } from '../src/hidden-characters.js';
import { scanCounting, type ScanWork } from '../src/scan.js';
import { KEY, assertCutKeyFound, cut, keyFingerprint } from './cut-key.js';
import { asLatin1, repeat } from './encodings.js';
import { found } from './found.js';
import { EXAMPLES, githubToken } from './tokens.js';

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
    assert.deepEqual(found(text), [
      ['stripe-key', 'high', scan(KEY.replace('9H', ''))[0]?.fingerprint, 'hidden', text.slice(5, -1)],
    ]);
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

const KIB = 1024;

/** Where each stretch of `text` is read again with what a sequence may take kept (-1: never). */
const fallbacks = (text: string): number[] =>
  [...hiddenStretches(text, { visited: 0 })].map((stretch) => stretch.fallbackFrom);

/**
 * That `see <written> end`, as written and in UTF-8 read as Latin-1, holds no finding without
 * decoding, and with it `token` high under `hidden`, with its own fingerprint, over `spanned` (the
 * token as written, what cuts it inside).
 */
function assertFoundWhole(written: string, token: string, spanned = written, after = ''): void {
  const [expected] = scan(token);
  for (const [text, span] of [
    [`see ${written}${after} end`, spanned],
    [asLatin1(`see ${written}${after} end`), asLatin1(spanned)],
  ] as const) {
    assert.deepEqual(scan(text), [], 'nothing without decoding');
    assert.deepEqual(
      found(text),
      [[expected?.rule, 'high', expected?.fingerprint, 'hidden', span]],
      JSON.stringify(text),
    );
  }
}

/**
 * A test that a scan with decode of what `make` gives at 256 KiB and at 1 MiB counts at most
 * `bound` times the length of each work: scanned, stepped over, decoded.
 */
function itCostsAtMost(name: string, bound: number, make: (n: number) => string): void {
  it(`${name}: at most ${bound} times the length scanned, stepped over and decoded, at 256 KiB and 1 MiB`, () => {
    for (const length of [256 * KIB, 1024 * KIB]) {
      const text = make(length);
      const work: ScanWork = { scanned: 0, visited: 0, decoded: 0 };
      scanCounting(text, { decode: true }, work);
      for (const [what, count] of Object.entries(work))
        assert.ok(count <= bound * length, `${what}: ${count} for ${length} characters`);
    }
  });
}

describe('detect-gap-2: reading control sequences costs a small multiple of the length', () => {
  // A run of them is stepped over by the search for hidden characters and again as a run, each
  // sequence's characters are read once more (reading one stops at the next control, so none is
  // read by two), and a run holding an 8-bit one is read two ways: one more than other hidden
  // characters cost.
  const SHAPES: [string, (n: number) => string][] = [
    ['colour codes glued together', (n) => repeat('\x1B[38;5;196m', n)],
    ['unterminated OSC introducers', (n) => repeat(`\x1B]0;${'t'.repeat(30)}`, n)],
    ['OSC sequences of the longest length read', (n) => repeat(`\x1B]0;${'t'.repeat(4000)}\x07`, n)],
    ['one OSC introducer before a long title with no end', (n) => `\x1B]0;${repeat('title ', n - 4)}`],
    ['CSI introducers with too many parameters', (n) => repeat(`\x1B[${'?='.repeat(50)}`, n)],
    ['8-bit CSI and OSC in UTF-8 read as Latin-1', (n) => repeat(asLatin1('\x9B1m\x9D0;x\x9Cab'), n)],
    // detect-37-1: a stretch holding a CSI that may take a token's characters is read once more
    // with them kept, from the first run that holds one.
    ['detect-37-1: CSI introducers glued together', (n) => repeat('\x1B[', n)],
    ['detect-37-1: a CSI introducer before every letter', (n) => repeat('\x1B[a', n)],
    ['detect-37-1: a CSI introducer inside every word', (n) => repeat('ab\x1B[9Hcd ', n)],
    ['detect-37-1: an erasure after every word, one line', (n) => repeat('word\x1B[K ', n)],
    [
      'detect-37-1: an erasure at the end of every line, after a secret name',
      (n) => repeat('token = abcdefgh\x1B[K\n', n),
    ],
  ];
  for (const [name, make] of SHAPES) itCostsAtMost(name, 5, make);
});

describe('detect-37-1: a CSI introducer that takes a token character is read with the character kept', () => {
  // `ESC [` put before a token's letter makes the letter the CSI's final byte, and before "9H" both
  // (digits are parameters): a terminal shows the token without them, a receiver that strips the
  // introducer has it whole. Read as a terminal shows it, the token was not found; it is now also
  // read with what such a sequence takes kept, by the rules bound to a provider's format.
  const github = githubToken('ghp');
  const aws = EXAMPLES.awsAccessKeyId();
  const awsSecret = EXAMPLES.awsSecretAccessKey();
  /** The token with `ESC [` put before its character at `at`. */
  const taken = (token: string, at: number): string => cut(token, '\x1B[', at);
  /** Where a digit followed by a letter stands in `token`: `ESC [` there takes both. */
  const digitThenLetter = (token: string): number => token.search(/\d[A-Za-z]/);
  const CASES: [string, string, string, string][] = [
    ['before a GitHub token second letter', taken(github, 1), github, 'github-token'],
    ['inside a GitHub token', taken(github, 20), github, 'github-token'],
    ['before a GitHub token last letter', taken(github, github.length - 1), github, 'github-token'],
    [
      'before a digit and a letter of a GitHub token',
      taken(github, digitThenLetter(github)),
      github,
      'github-token',
    ],
    ['inside an AWS access key id', taken(aws, 4), aws, 'aws-access-key-id'],
    ['before an AWS access key id last letter', taken(aws, aws.length - 1), aws, 'aws-access-key-id'],
  ];
  for (const [name, written, token, rule] of CASES)
    it(`${name}: found high, with its own fingerprint, over the token and the introducer`, () => {
      const after = written.slice(written.indexOf('\x1B[') + 2);
      assert.match(after, /^[0-9]*[A-Za-z]/, 'the introducer takes a token character');
      const text = `see ${written} end`;
      assert.deepEqual(scan(text), [], 'nothing without decoding');
      assert.deepEqual(found(text), [[rule, 'high', scan(token)[0]?.fingerprint, 'hidden', written]]);
    });

  it('before the first letter of a value assigned to a secret name: judged with the name, high', () => {
    const text = `aws_secret_access_key = \x1B[${awsSecret}\n`;
    const visible = scan(`aws_secret_access_key = ${awsSecret}`)[0]?.fingerprint;
    assert.deepEqual(found(text), [['aws-secret-access-key', 'high', visible, 'hidden', awsSecret]]);
  });

  it('before a token as written changes nothing: the text shows it whole', () => {
    for (const token of [github, aws]) {
      const text = `key \x1B[${token} end`;
      assert.deepEqual(found(text), [
        [scan(token)[0]?.rule, 'high', scan(token)[0]?.fingerprint, undefined, token],
      ]);
    }
  });

  it('a token a cursor move or an erasure follows keeps the finding as written', () => {
    const stripe = EXAMPLES.stripe();
    for (const sequence of ['\x1B[K', '\x1B[2K', '\x1B[1A']) {
      const text = `STRIPE_KEY=${stripe}${sequence}\n`;
      const expected = [['stripe-key', 'high', scan(stripe)[0]?.fingerprint, undefined, stripe]];
      assert.deepEqual(found(text), expected, JSON.stringify(sequence));
    }
  });

  it('progress displays, grep colours and sequences inside placeholders make no finding', () => {
    const log = [
      '\x1B[2K\x1B[1G\x1B[1A\x1B[2K\x1B[32m✔\x1B[39m Installed 120 packages\x1B[K',
      'downloading 50%\x1B[K\r\x1B[2Kdownloading 100%\x1B[K',
      'config.py\x1B[m\x1B[K\x1B[36m\x1B[K:\x1B[m\x1B[Kapi_key = "your-\x1B[01;31m\x1B[Kapi\x1B[m\x1B[K-key-here"',
      'api_key = "you\x1B[2Kr-api-key-here" password: $\x1B[1ADB_PASSWORD token: ghp_x\x1B[Hxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'The\x1B[Hquick\x1B[Jbrown\x1B[Afox jumps over 13 lazy dogs',
    ].join('\n');
    assert.deepEqual(scan(log, { decode: true }), []);
  });
});

describe('detect-38-1: a colour code whose "m" is a token\'s own is read with it kept', () => {
  // `ESC [` put right before a token's "m" (or before digits then "m": "31m") makes a colour code
  // (SGR) of it: a terminal shows the token without the "m", a receiver that strips `ESC [` has it
  // whole. Colour codes were never read so (honest output colours words); one glued inside a word
  // of a token's length, or before a value's first "m", now is, by the rules bound to a format.
  const github = githubToken('ghp', 'aB3dmQ7xK9pL2vR8tY4wZ6nC1eF5gH');
  const githubWith31m = githubToken('ghp', 'aB3d31mQ7xK9pL2vR8tY4wZ6nC1eF5');
  const gitlab = 'glpat-Yi8ZLVNpfmI2grPFAlQc';
  const huggingface = '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';
  const awsSecret = 'mGA4jXf7O9p0S/4ezx5b5rbxavhBR7nxI0Q/QrJe';
  /** `token` with `ESC [` put before its first `before` ("m", "31m") after its first 3 characters. */
  const taken = (token: string, before: string): string => cut(token, '\x1B[', token.indexOf(before, 3));
  const CASES: [string, string, string][] = [
    ['inside a GitHub token, letters on both sides', taken(github, 'm'), github],
    ['inside a GitHub token, before its "31m"', taken(githubWith31m, '31m'), githubWith31m],
    ['inside a GitLab token', taken(gitlab, 'm'), gitlab],
    ['right after a Hugging Face token prefix', taken(huggingface, 'm'), huggingface],
  ];
  for (const [name, written, token] of CASES)
    it(`${name}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () => {
      // A terminal shows the token without what the code takes: no finding read so.
      const at = written.indexOf('\x1B[');
      const shown = `${written.slice(0, at)}${written.slice(at).replace(/^.\[[0-9]*m/, '')}`;
      assert.deepEqual(scan(`see ${shown} end`, { decode: true }), [], `as a terminal shows it: ${shown}`);
      assertFoundWhole(written, token);
    });

  it('before the first letter of a value assigned to a secret name, "m": judged with the name, high', () => {
    const [expected] = scan(`aws_secret_access_key = ${awsSecret}`);
    const text = `aws_secret_access_key = \x1B[${awsSecret}\n`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [f.rule, f.confidence, f.fingerprint, f.encoding]),
      [['aws-secret-access-key', 'high', expected?.fingerprint, 'hidden']],
    );
  });

  it('a token coloured honestly inside keeps its finding as a terminal shows it', () => {
    for (const sequence of ['\x1B[31m', '\x1B[0m', '\x1B[m', '\x1B[1;31m']) {
      const text = `token ${cut(github, sequence, 20)} end`;
      assert.deepEqual(
        scan(text, { decode: true }).map((f) => [f.rule, f.confidence, f.fingerprint]),
        [['github-token', 'high', scan(github)[0]?.fingerprint]],
        JSON.stringify(sequence),
      );
    }
  });

  it('coloured logs make no finding: grep, ripgrep and word diffs inside words, resets before dots', () => {
    const log = [
      // ripgrep: its reset glued between the match and the rest of a long word or path.
      '\x1B[0m\x1B[35msrc/api.ts\x1B[0m:12:/api/v1/or\x1B[0m\x1B[1m\x1B[31mder\x1B[0ms/c1c2e858-8284-4ac2-aa6d-f7aeca30aae5',
      '\x1B[0m\x1B[35mlib.d.ts\x1B[0m:HT\x1B[0m\x1B[1m\x1B[31mMLS\x1B[0melectElement.disabledFormControlsCollection',
      // GNU grep, a match inside a word.
      '\x1B[35m\x1B[Kconfig.py\x1B[m\x1B[K\x1B[36m\x1B[K:\x1B[m\x1B[Kpass\x1B[01;31m\x1B[Kword\x1B[m\x1B[K_reset_link_expiry_minutes = 30',
      // git status -sb, git diff --color-words, chalk and a 16-colour highlighter.
      '## \x1B[32mmain\x1B[m...\x1B[31morigin/main\x1B[m',
      'const \x1B[31mmaxRetries\x1B[m\x1B[32mmaximumRetryCountForRequests\x1B[m = 3;',
      '\x1B[2msrc/\x1B[22m\x1B[1mscan.test.ts\x1B[22m \x1B[33mprocess\x1B[39m.\x1B[33menv\x1B[39m.\x1B[33mNODE_ENV\x1B[39m',
      // Placeholders a sequence cuts: the database rule reads no password with what it takes kept.
      'redis://:xx\x1B[0mx@cache:6379 postgres://user:chan\x1B[0mgeme@db:5432/app api_key = "your-\x1B[0mapi-key-here"',
      'redis://:xx\x1B[2Kx@cache:6379 postgres://app:exa\x1B[0mmple-password-for-local-dev@db:5432/app',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPx\x1B[0mRfiCYEXAMPLEKEY',
    ].join('\n');
    for (const text of [log, asLatin1(log)]) assert.deepEqual(scan(text, { decode: true }), []);
  });

  it("an honest colour code inside a word is read twice only where the word is a token's length", () => {
    // Resets before a dot or a slash, codes after one, a match in a short word: read once.
    for (const text of [
      '\x1B[2msrc/\x1B[22m\x1B[1mscan.test.ts\x1B[22m',
      '\x1B[33mprocess\x1B[39m.\x1B[33menv\x1B[39m.\x1B[33mNODE_ENV\x1B[39m',
      'cr\x1B[0m\x1B[1m\x1B[31meat\x1B[0meElement(tagName)',
      '## \x1B[32mmain\x1B[m...\x1B[31morigin/main\x1B[m',
    ])
      assert.deepEqual(fallbacks(text), [-1], JSON.stringify(text));
    assert.deepEqual(fallbacks(`see ${taken(github, 'm')} end`), [4]);
  });
});

/**
 * That the lines of an honest coloured `log` make no finding, as written and in UTF-8 read as
 * Latin-1, and that each of `readOnce` is read once (no stretch of it again with a sequence's
 * characters kept).
 */
function assertHonest(log: readonly string[], readOnce: readonly string[]): void {
  const text = log.join('\n');
  for (const written of [text, asLatin1(text)]) assert.deepEqual(scan(written, { decode: true }), []);
  for (const line of readOnce) assert.deepEqual(fallbacks(line), [-1], JSON.stringify(line));
}

/** The first `n` characters of a random-looking token body. */
const fill = (n: number): string => 'pL2vR8tY4wZ6nC1eF5gHaB3dQ7xK9qJ0sU4oW8iE6rT2yN5kM7bV1cX3zA9'.slice(0, n);

/**
 * That `token` with `ESC [` put before its first `taken` (a colour code's body: "31m") holds no
 * finding as a terminal shows it, and is found whole (assertFoundWhole()).
 */
function assertTakenFound(token: string, taken: string): void {
  const at = token.indexOf(taken);
  const shown = `${token.slice(0, at)}${token.slice(at + taken.length)}`;
  assert.deepEqual(scan(`see ${shown} end`, { decode: true }), [], `as a terminal shows it: ${shown}`);
  assertFoundWhole(cut(token, '\x1B[', at), token);
}

describe('detect-39-1: a colour code after a "-" or "." inside a token is read with what it takes kept', () => {
  // detect-38-1 kept a colour code's body only where a letter, a digit or "_" stood before it:
  // `ESC [` put after a "-" or "." of a token, before its "31m", hid the "31m" from a terminal and
  // the token from every reading. A "-" or "." glued to a word's character counts as inside the
  // word; one right after another sequence (`<ESC>[39m.<ESC>[33menv`, a highlighter's) does not.
  const CASES: [string, string][] = [
    ['after the second "." of a SendGrid key', `SG.${fill(22)}.31m${fill(40)}`],
    ['after a "-" inside a Google Cloud API key', `AIza${fill(14)}-31m${fill(17)}`],
    ['after a "-" inside a GitLab token', `glpat-${fill(5)}-31m${fill(11)}`],
  ];
  for (const [name, token] of CASES)
    it(`${name}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () =>
      assertTakenFound(token, '31m'));

  it('honest codes after punctuation make no finding, and short words are read once', () => {
    assertHonest(
      [
        'this.props.\x1B[33monChangeHandler\x1B[39m.bind(this) README.\x1B[1mmd\x1B[0m',
        'kubectl logs user-service-\x1B[31mdeployment-7d9f8b-x2k4p\x1B[0m --since=1h',
        '2024-11-\x1B[1m24\x1B[0m v1.\x1B[32m4.2\x1B[0m --\x1B[1mverbose\x1B[0m',
      ],
      [
        '2024-11-\x1B[1m24\x1B[0m',
        'README.\x1B[1mmd\x1B[0m',
        '\x1B[33mprocess\x1B[39m.\x1B[33menvironmentVariables\x1B[39m',
      ],
    );
  });
});

describe('detect-39-2: a colour code whose "m" a "-" or "." follows inside a token is read with it kept', () => {
  // The other side of detect-39-1: `ESC [` put before a token's "1m" that a "-" or "." follows hid
  // the "1m". A "-" or "." with a word's character after it counts as inside the word; one before
  // another sequence (`env<ESC>[39m.<ESC>[33mNODE_ENV`, or a reset at a word's end) does not.
  const CASES: [string, string][] = [
    ['before the first "." of a SendGrid key', `SG.${fill(20)}1m.${fill(43)}`],
    ['before a "-" inside a Google Cloud API key', `AIza${fill(14)}31m-${fill(17)}`],
    ['before a "-" inside a GitLab token', `glpat-${fill(5)}1m-${fill(12)}`],
  ];
  for (const [name, token] of CASES)
    it(`${name}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () =>
      assertTakenFound(token, /[0-9]*m[-.]/.exec(token)?.[0].slice(0, -1) ?? ''));

  it('honest resets before punctuation make no finding, and are read once', () => {
    assertHonest(
      [
        '\x1B[1mREADME\x1B[0m.md \x1B[33mconfig\x1B[39m.\x1B[33mdatabaseConnectionString\x1B[39m',
        '\x1B[31muser\x1B[0m-service-deployment-7d9f8b-x2k4p \x1B[2mv1\x1B[22m.4.2-rc.1',
        // A highlighter's reset before a "-" in an integrity string, a package file and code.
        '"\x1B[2msha512\x1B[22m-8gYiL8R2nPgBHceTKC9kAojUhm34k/1A1kdPGiL8+\x1B[2mXSY5pt2OA3mPlqF2ZNf\x1B[22m+W0Ow=="',
        '\x1B[38;5;81mregistry\x1B[39m.\x1B[38;5;81mnpmjs\x1B[39m.\x1B[38;5;81morg\x1B[39m/-/\x1B[38;5;81mpkg\x1B[39m-1.2.3.tgz',
        '\x1B[2mthis\x1B[22m.\x1B[2mstack\x1B[22m[\x1B[2mthis\x1B[22m.\x1B[2mstack\x1B[22m.\x1B[2mlength\x1B[22m-1]',
      ],
      [
        '\x1B[1mREADME\x1B[0m.md',
        '\x1B[33mconfig\x1B[39m.\x1B[33mdb\x1B[39m.url',
        '\x1B[33mprocessEnvironmentVariables\x1B[39m.\x1B[33mNODE_ENV\x1B[39m',
        // A reset ends a coloured word, however long what follows it.
        '"\x1B[2msha512\x1B[22m-8gYiL8R2nPgBHceTKC9kAojUhm34k/1A1kdPGiL8+W0Ow=="',
        '\x1B[38;5;81mregistry\x1B[39m.\x1B[38;5;81mnpmjs\x1B[39m.\x1B[38;5;81morg\x1B[39m/-/\x1B[38;5;81mpkg\x1B[39m-1.2.3.tgz',
      ],
    );
  });
});

describe('detect-39-3: a colour code beside other hidden characters inside a token is read with what it takes kept', () => {
  // detect-38-1 wanted a word's character right beside the code: a zero-width space or a soft
  // hyphen between them (a terminal shows neither, a receiver that strips controls and format
  // characters neither) hid the "31m" and the token, however long the word. The code is now judged
  // by the characters past the hidden ones beside it (not past another sequence).
  const token = githubToken('ghp', 'aB3d31mQ7xK9pL2vR8tY4wZ6nC1eF5');
  const at = token.indexOf('31m');
  /** `token` with ESC [ before its "31m", and `before` and `after` either side of the code. */
  const taken = (before: string, after: string): string =>
    `${token.slice(0, at)}${before}\x1B[${token.slice(at, at + 3)}${after}${token.slice(at + 3)}`;
  /** `s` with a zero-width space after every 4 of its characters: pieces shorter than 20. */
  const everyFour = (s: string): string => s.replace(/.{4}(?=.)/g, '$&\u200B');
  const CASES: [string, string, string][] = [
    ['a zero-width space right before the code', taken('\u200B', ''), token],
    ['a soft hyphen right after the code', taken('', '\u00AD'), token],
    ['a zero-width joiner and a word joiner either side', taken('\u200D', '\u2060'), token],
    [
      'zero-width spaces every 4 characters, one right before the code',
      `${everyFour(token.slice(0, at))}\x1B[${everyFour(token.slice(at))}`,
      token,
    ],
    [
      'a zero-width space between a "." and the code (detect-39-1)',
      `SG.${fill(22)}.\u200B\x1B[31m${fill(40)}`,
      `SG.${fill(22)}.31m${fill(40)}`,
    ],
  ];
  for (const [name, written, whole] of CASES)
    it(`${name}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () =>
      assertFoundWhole(written, whole));

  it('honest codes beside hidden characters make no finding, and short words are read once', () => {
    assertHonest(
      [
        '\x1B[32m\u2714\uFE0F\x1B[0m\u200Bpassed\u200B\x1B[1mscanAllTheFilesInTheRepository\x1B[0m',
        'soft\u00AD\x1B[1mhyphen\x1B[0m\u00ADated\u00ADword\u00ADthat\u00ADis\u00ADlong',
      ],
      ['ab\u200B\x1B[1mcd\x1B[0m\u200Bef', '\x1B[0m\u200B\x1B[31mlongWordAfterAResetAndASpace\x1B[0m'],
    );
  });
});

describe('detect-40-1: a hidden character between a "-" or "." glued to a colour code and the token\'s letter past it hides nothing', () => {
  // detect-39-1 and detect-39-2 read a "-" or "." beside a colour code as inside a word when a
  // word's character stands past it. A zero-width space (or another format character) between the
  // two, which neither a terminal nor a receiver that strips such characters shows, hid the code's
  // "31m" and the token from every reading: the letter was looked for right past the punctuation.
  // It is now looked for past the hidden characters there, as the text beside the code is.
  const CASES: [string, string, string, string][] = [
    [
      'a zero-width space before the "." a colour code follows, in a SendGrid key',
      'sendgrid-api-key',
      `SG.${fill(22)}\u200B.\x1B[31m${fill(40)}`,
      `SG.${fill(22)}.31m${fill(40)}`,
    ],
    [
      'a zero-width space after the "." a colour code precedes, in a SendGrid key',
      'sendgrid-api-key',
      `SG.${fill(20)}\x1B[1m.\u200B${fill(43)}`,
      `SG.${fill(20)}1m.${fill(43)}`,
    ],
    [
      'a soft hyphen before the "-" a colour code follows, in a Google Cloud API key',
      'gcp-api-key',
      `AIza${fill(14)}\u00AD-\x1B[31m${fill(17)}`,
      `AIza${fill(14)}-31m${fill(17)}`,
    ],
    [
      'a word joiner after the "-" a colour code precedes, in a GitLab token',
      'gitlab-token',
      `glpat-${fill(5)}\x1B[1m-\u2060${fill(12)}`,
      `glpat-${fill(5)}1m-${fill(12)}`,
    ],
  ];
  for (const [name, rule, written, whole] of CASES)
    it(`${name}: found high as ${rule}, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () => {
      assert.equal(scan(whole)[0]?.rule, rule);
      assertFoundWhole(written, whole);
    });

  it('honest codes beside punctuation and hidden characters make no finding, and short words are read once', () => {
    assertHonest(
      [
        '\x1B[33mprocess\x1B[39m\u200B.\x1B[33menvironmentVariables\x1B[39m.\u200B\x1B[33mNODE_ENV\x1B[39m',
        '\x1B[1mREADME\x1B[0m.\u200Bmd kubectl logs user-service\u200B-\x1B[31mdeployment-7d9f8b-x2k4p\x1B[0m',
      ],
      [
        'README\u200B.\x1B[1mmd\x1B[0m',
        '\x1B[1mREADME\x1B[0m.\u200Bmd',
        '\x1B[33mprocess\x1B[39m\u200B.\x1B[33menvironmentVariables\x1B[39m',
      ],
    );
  });
});

describe('detect-40-2: colour codes glued one to the next inside a token are read as one code', () => {
  // A colour code was read with what it takes kept only with a word's character right after it,
  // and one right after another sequence never: `ESC [` put before each of a token's "m"s in "mm"
  // made two codes glued together, and the token was in no reading (a terminal shows it without
  // "mm", a receiver that strips introducers has it whole). A run of them inside a word is now
  // read as one code, with the word before the first and the word after the last.
  const github = githubToken('ghp', 'aB3dmmQ7xK9pL2vR8tY4wZ6nC1eF5g');
  const github31 = githubToken('ghp', 'aB3d31mmQ7xK9pL2vR8tY4wZ6nC1eF');
  const githubMK = githubToken('ghp', 'aB3dmKQ7xK9pL2vR8tY4wZ6nC1eF5g');
  const gitlab = `glpat-${fill(5)}1m2mm${fill(10)}`;
  /**
   * `token` with `ESC [` put before each of `bodies`, which stand in it one after another (and
   * `between` between the codes), what a terminal shows of it (the token without them), and the token.
   */
  const glued = (token: string, bodies: readonly string[], between = ''): [string, string, string] => {
    const at = token.indexOf(bodies.join(''), 3);
    const rest = token.slice(at + bodies.join('').length);
    const codes = bodies.map((b) => `\x1B[${b}`).join(between);
    return [`${token.slice(0, at)}${codes}${rest}`, `${token.slice(0, at)}${rest}`, token];
  };
  const CASES: [string, [string, string, string]][] = [
    ['two codes without parameters before a GitHub token\'s "mm"', glued(github, ['m', 'm'])],
    ['a colour and a code without parameters before "31mm"', glued(github31, ['31m', 'm'])],
    ['three codes before a GitLab token\'s "1m2mm"', glued(gitlab, ['1m', '2m', 'm'])],
    ['two codes with a zero-width space between them', glued(github, ['m', 'm'], '\u200B')],
    ['a code without parameters, then an erasure that takes the "K" after it', glued(githubMK, ['m', 'K'])],
  ];
  for (const [name, [written, shown, token]] of CASES)
    it(`${name}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () => {
      assert.equal(scan(token).length, 1, 'the token is found as written');
      assert.deepEqual(scan(`see ${shown} end`, { decode: true }), [], `as a terminal shows it: ${shown}`);
      assertFoundWhole(written, token);
    });

  it('codes glued together that take nothing of a token: found as a terminal shows it', () => {
    const at = github.indexOf('mm');
    assertFoundWhole(`${github.slice(0, at)}\x1B[m\x1B[31m${github.slice(at)}`, github);
  });

  it('honest glued codes make no finding, and short words and separators are read once', () => {
    const grep = (separator: string): string =>
      `\x1B[35m\x1B[Kpackages/detect/src/hidden-characters.ts\x1B[m\x1B[K\x1B[36m\x1B[K${separator}\x1B[m\x1B[K12\x1B[m\x1B[K\x1B[36m\x1B[K${separator}\x1B[m\x1B[K  const x = 1`;
    assertHonest(
      [
        grep(':'),
        grep('-'),
        // A match inside a long word, a word diff of two long words: read twice, found nothing.
        'pass\x1B[01;31m\x1B[Kword\x1B[m\x1B[K_reset_link_expiry_minutes = 30',
        'const \x1B[31mmaxRetries\x1B[m\x1B[32mmaximumRetryCountForRequests\x1B[m = 3;',
        'ok \x1B[0m\x1B[31mFAILED\x1B[0m\x1B[1m build\x1B[m\x1B[m \x1B[1m\x1B[31mFAIL\x1B[39m\x1B[22m src/a.test.ts',
      ],
      [
        grep(':'),
        grep('-'),
        'pass\x1B[01;31m\x1B[Kword\x1B[m\x1B[K_reset = 30',
        'const \x1B[31mmax\x1B[m\x1B[32mmaximum\x1B[m = 3;',
        '\x1B[33mprocessEnvironmentVariables\x1B[39m\x1B[33mNODE_ENV\x1B[39m',
        'longFileNameForTheTest\x1B[39m\x1B[22m.ts longFileNameForTheTest\x1B[1m\x1B[22m.ts',
        '\x1B[1m\x1B[31mFAIL\x1B[39m\x1B[22m src/longFileNameForTheTest.test.ts',
      ],
    );
  });

  const SHAPES: [string, (n: number) => string][] = [
    ['two codes glued inside every long word', (n) => repeat('abcdefghij\x1B[m\x1B[mklmnopqrstuvwxyz ', n)],
    ['one long run of glued codes inside a word', (n) => `ab${repeat('\x1B[m', n - 4)}cd`],
    ['glued codes and zero-width spaces, no word after', (n) => `ab${repeat('\x1B[31m\u200B', n - 2)}`],
  ];
  for (const [name, make] of SHAPES) itCostsAtMost(name, 6, make);
});

describe("detect-38-2: an OSC whose string is a token's characters is read with them kept", () => {
  // A terminal ignores an OSC it does not know (`ESC ] cd BEL`), so put inside a token it hides the
  // characters it holds; a receiver that strips `ESC ]` and controls has the token whole. An OSC
  // was read only as a terminal shows it; one whose string is characters a token holds (an honest
  // one names what it sets before a ";") is now also read with them kept.
  const github = githubToken('ghp');
  const TERMINATORS: [string, string][] = [
    ['BEL', '\x07'],
    ['ESC \\', '\x1B\\'],
    ['U+009C', '\x9C'],
  ];
  for (const [name, end] of TERMINATORS) {
    // What is written, and what the finding spans: the token and the sequence inside it (not the
    // terminator after it).
    const CASES: [string, string, string][] = [
      [
        `an OSC ended by ${name} inside a GitHub token`,
        `${github.slice(0, 10)}\x1B]${github.slice(10, 14)}${end}${github.slice(14)}`,
        '',
      ],
      [
        `an OSC ended by ${name} that holds the rest of a GitHub token`,
        `${github.slice(0, 10)}\x1B]${github.slice(10)}`,
        end,
      ],
    ];
    for (const [what, spanned, after] of CASES)
      it(`${what}: found high, with its own fingerprint, as written and in UTF-8 read as Latin-1`, () =>
        assertFoundWhole(spanned, github, spanned, after));
  }

  it('an 8-bit OSC ended by ESC \\ inside a token: read with the whole terminator removed', () => {
    const written = `${github.slice(0, 10)}\x9D${github.slice(10, 14)}\x1B\\${github.slice(14)}`;
    const text = `see ${written} end`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [f.rule, f.confidence, f.fingerprint]),
      [['github-token', 'high', scan(github)[0]?.fingerprint]],
    );
  });

  it('a value assigned to a secret name inside an OSC: judged with the name, high', () => {
    const awsSecret = EXAMPLES.awsSecretAccessKey();
    const [expected] = scan(`aws_secret_access_key = ${awsSecret}`);
    const text = `aws_secret_access_key = \x1B]${awsSecret}\x07\n`;
    assert.deepEqual(
      scan(text, { decode: true }).map((f) => [f.rule, f.confidence, f.fingerprint, f.encoding]),
      [['aws-secret-access-key', 'high', expected?.fingerprint, 'hidden']],
    );
  });

  it('hyperlinks, titles, prompt marks and colour resets make no finding and are read once', () => {
    const log = [
      'see \x1B]8;;https://github.com/settings/tokens?type=beta\x1B\\token settings\x1B]8;;\x1B\\ for ghp_ tokens',
      '\x1B]133;A\x1B\\\x1B]0;npm test: packages/detect\x07$ npm test\x1B]133;C\x07',
      '\x1B]7;file://host/work/main\x1B\\\x1B]104\x07\x1B]8;id=x1;https://example.com/a_b-c\x07link\x1B]8;;\x07',
    ].join('\n');
    for (const text of [log, asLatin1(log)]) {
      assert.deepEqual(scan(text, { decode: true }), [], JSON.stringify(text));
      for (const stretch of hiddenStretches(text, { visited: 0 })) assert.equal(stretch.fallbackFrom, -1);
    }
  });
});

describe("detect-38-1, detect-38-2: the sequences that may take a token's characters cost a small multiple", () => {
  // A run holding a colour code glued inside a word is read once more to measure the word, and a
  // stretch holding one that may take a token's "m", or an OSC of token characters, once more from
  // that run: a long word, codes glued in one, or a base64 value after every secret name cost 6.
  const SHAPES: [string, number, (n: number) => string][] = [
    ['a colour code glued inside every long word', 6, (n) => repeat('abcdefghij\x1B[mklmnopqrstuvwxyz ', n)],
    ['colour codes glued one after another in one word', 6, (n) => repeat('ab\x1B[31mcd', n)],
    [
      'a colour code before every base64 value of a secret name',
      6,
      (n) => repeat('token = \x1B[mabcdefghijklmnopqrstu\n', n),
    ],
    ['an OSC of token characters inside every word', 5, (n) => repeat('abcdef\x1B]ghij\x07klmnop ', n)],
    ['OSC sequences of token characters glued together', 5, (n) => repeat('a\x1B]bcdefgh\x1B\\', n)],
    // detect-39-3: the hidden characters beside a sequence are read past once more.
    [
      'detect-39-3: hidden characters either side of every colour code in a long word',
      6,
      (n) => repeat('abcdefghij\u200B\x1B[31m\u2060klmnopqrstuvwxyz ', n),
    ],
    [
      'detect-39-3: zero-width spaces between colour codes',
      6,
      (n) => repeat('a\u200B\u200B\x1B[m\u200B\u200B', n),
    ],
  ];
  for (const [name, bound, make] of SHAPES) itCostsAtMost(name, bound, make);
});
