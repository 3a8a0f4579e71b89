// A token glued to the word before it (`s__sk_live_…`, `token=abcghp_…`, `MY_TOKEN_npm_…`) is still
// a token: found at its own span, when its rule validates it (a checksum, a PEM body, a JWT header)
// or its body reads as random. A word that merely ends in an anchor (`task_live_…`, `desk-…`,
// an AKIA inside a base32 blob) is not: those must stay unreported.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { scan } from '../src/index.js';
import { looksRandom } from '../src/provider-rules.js';
import { EXAMPLES, githubToken, npmToken, withWrongChecksum } from './tokens.js';

const AWS_KEY_ID = 'AKIA2DA4RTP5H6U2J74P';

const GLUED: readonly (readonly [before: string, token: string, rule: string])[] = [
  ['s__', EXAMPLES.stripe(), 'stripe-key'],
  ['token=abc', githubToken('ghp'), 'github-token'],
  ['MY_TOKEN_', npmToken(), 'npm-token'],
  ['key=xyz', AWS_KEY_ID, 'aws-access-key-id'],
  ['9', AWS_KEY_ID, 'aws-access-key-id'],
  ['deploy', EXAMPLES.gitlab(), 'gitlab-token'],
  ['q', EXAMPLES.slackBot(), 'slack-token'],
  ['cfg_', EXAMPLES.anthropic(), 'anthropic-api-key'],
  ['v', EXAMPLES.openai(), 'openai-api-key'],
  ['auth', EXAMPLES.jwt(), 'jwt'],
  ['x', EXAMPLES.sendgrid(), 'sendgrid-api-key'],
  ['maps_', EXAMPLES.gcpApiKey(), 'gcp-api-key'],
  ['gh_', EXAMPLES.githubFineGrained(), 'github-fine-grained-token'],
  ['hub', EXAMPLES.huggingface(), 'huggingface-token'],
  ['upload', EXAMPLES.pypi(), 'pypi-token'],
  ['key', EXAMPLES.rsaKey(), 'private-key'],
];

describe('a token glued to the word before it is found at its own span', () => {
  for (const [before, token, rule] of GLUED)
    it(`${JSON.stringify(before)} + ${rule}`, () => {
      const text = `${before}${token} and more`;
      const found = scan(text).filter((f) => f.confidence === 'high');
      assert.deepEqual(
        found.map((f) => [f.rule, text.slice(f.start, f.end)]),
        [[rule, token]],
      );
    });

  it('property: a GitHub token after any run of word characters is found, and only it', () => {
    const token = githubToken('ghp');
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_]{1,40}$/), (word) => {
        const text = `${word}${token}`;
        const found = scan(text).filter((f) => f.rule === 'github-token');
        assert.equal(found.length, 1);
        assert.equal(text.slice(found[0]?.start, found[0]?.end), token);
        assert.equal(found[0]?.confidence, 'high');
      }),
      { numRuns: 200 },
    );
  });
});

describe('a word that ends in an anchor is not a token', () => {
  const WORDS = [
    // Identifiers ending in a Stripe, OpenAI or Slack anchor, followed by more identifier.
    'const task_live_WebhookEventHandlerV3 = 1;',
    'disk_test_performanceBenchmark2024Results()',
    'risk_live_ProcessPaymentIntent4Customer',
    'task-proj-some-long-kebab-case-identifier-name-goes-here-too',
    'myxoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx',
    // AKIA inside an upper-case or base32 run: a TOTP secret, an identifier.
    'otpauth://totp/x?secret=JBSWY3DPEHPK3PXPAKIA2345ABCDEFGHIJKL',
    'DISKAKIA2DA4RTP5H6U2J74P',
    // After a lower-case letter, but without a digit: base32 text, not a key id.
    'keyAKIAABCDEFGHIJKLMNOP',
  ];
  for (const text of WORDS)
    it(JSON.stringify(text.slice(0, 60)), () => {
      assert.deepEqual(
        scan(text, { decode: true }).filter((f) => f.confidence === 'high'),
        [],
      );
    });

  it('a glued token with a wrong checksum is dropped, where an unglued one is reported as low', () => {
    const wrong = withWrongChecksum(githubToken('ghp'));
    assert.deepEqual(
      scan(`token=${wrong}`).map((f) => [f.rule, f.confidence]),
      [['github-token', 'low']],
    );
    assert.deepEqual(
      scan(`abc${wrong}`).filter((f) => f.rule === 'github-token'),
      [],
    );
  });

  it('rules whose anchor sits inside the token never take a glued match (Twilio SK…, Azure …Q~…)', () => {
    assert.deepEqual(scan(`xSK${EXAMPLES.hex(32)}`), []);
    assert.deepEqual(
      scan(`abc${EXAMPLES.azureClientSecret()}`).filter((f) => f.rule === 'azure-client-secret'),
      [],
    );
  });
});

describe('looksRandom: a body that reads as random, not as words', () => {
  for (const [body, expected] of [
    ['4eC39HqLyjWDarjtT1zdp7dc', true],
    ['aB3dE5fG7hI9jK1lM3nO5', true],
    ['WebhookEventHandlerV3', false],
    ['performanceBenchmark2024Results', false],
    ['ABC123DEF456GHI789JKL0', false],
    ['abcdefghijklmnopqrstuvwx', false],
  ] as const)
    it(`${body}: ${expected}`, () => assert.equal(looksRandom(body), expected));
});
