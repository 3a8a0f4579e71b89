// A provider token written with spaces inside it, in groups of equal length (`ghp_abcd efgh …`, as
// one is read out or a form shows it) or a character at a time (`g h p _ …`), is found with
// decoding, over what it spans as written and with the fingerprint of the token itself. Prose,
// code, hex dumps and tables, whose runs of equal pieces join into no provider's format, stay
// unreported.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { EXAMPLES, githubToken } from './tokens.js';

/** `token` with a space after every `group` characters. */
const spaced = (token: string, group: number): string =>
  token.match(new RegExp(`.{1,${group}}`, 'g'))?.join(' ') ?? token;

const isProviderHigh = (token: string): boolean =>
  scan(token).some((f) => f.confidence === 'high' && f.family !== 'generic' && f.family !== 'password');

const TOKENS = Object.entries(EXAMPLES)
  .map(([name, make]) => [name, typeof make === 'function' ? make(32) : make] as const)
  .filter((entry): entry is readonly [string, string] => typeof entry[1] === 'string')
  .filter(([, token]) => !/\s/.test(token) && isProviderHigh(token));

describe('a provider token written with spaces inside it is found', () => {
  for (const [name, token] of TOKENS)
    // Two groups of equal length at least, the first and last pieces apart: a token of three.
    for (const group of [1, 4, 5, 8].filter((g) => token.length >= 3 * g))
      it(`${name} in groups of ${group}, in a sentence`, () => {
        const written = spaced(token, group);
        const text = `please use "${written}" in the deploy`;
        const found = scan(text, { decode: true });
        assert.equal(found.length, 1, JSON.stringify(found));
        // Over what the token's own finding covers (a Slack webhook's from its host on).
        const [raw] = scan(token);
        const writtenAt = (i: number): number => text.indexOf(written) + i + Math.floor(i / group);
        assert.equal(found[0]?.start, writtenAt(raw?.start ?? 0));
        assert.equal(found[0]?.end, writtenAt((raw?.end ?? 0) - 1) + 1);
        assert.equal(found[0]?.fingerprint, raw?.fingerprint);
        assert.equal(found[0]?.encoding, undefined);
      });

  const token = githubToken('ghp');
  const FORMS: [string, string][] = [
    ['after a name, glued to its first group', `GITHUB_TOKEN=${spaced(token, 4)}`],
    [
      'its prefix apart from groups of the rest',
      `token: ${token.slice(0, 4)} ${spaced(token.slice(4), 6)} ok`,
    ],
    ['a word before and after', `the ${spaced(token, 4)} is it`],
    ['a word before, a shorter last group', `the ${spaced(token, 6)}. ok`],
    ['at the end of a line', `key\n${spaced(token, 5)}\nnext`],
  ];
  for (const [name, text] of FORMS)
    it(name, () => {
      const found = scan(text, { decode: true });
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.equal(found[0]?.fingerprint, scan(token)[0]?.fingerprint);
    });

  it('only with decoding', () => assert.deepEqual(scan(`use ${spaced(token, 4)}`), []));
});

describe('runs of equal pieces in prose, code and data are not reported', () => {
  const BENIGN = [
    'this will make sure that each test runs with none left over from last time',
    'de ad be ef 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff',
    '0 0 0 1 0 1 1 0 1 0 0 1 1 1 0 1 0 1 0 0 1',
    'a + b - c * d / e + f - g * h / i + j - k * l',
    'ghp_ is the prefix of a GitHub token, and AKIA that of an AWS key id',
    'AKIA ABCD EFGH IJKL MNOP QRST',
    `g h p _ ${'x '.repeat(36)}`,
    '1234 5678 9012 3456 7890 1234 5678',
  ];
  for (const text of BENIGN)
    it(JSON.stringify(text.slice(0, 60)), () => assert.deepEqual(scan(text, { decode: true }), []));
});
