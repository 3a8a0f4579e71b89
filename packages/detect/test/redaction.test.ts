// redact() replaces each finding with [REDACTED:<rule>:<fingerprint>]: the text keeps its shape,
// names what was removed, and never keeps a byte of the secret; the marker's fingerprint shows at
// most 4 characters of a provider's public prefix.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { fingerprint, redact, scan } from '../src/index.js';
import { EXAMPLES, githubToken } from './tokens.js';

/** The hash part of a fingerprint: `…(3f2a9c1b)`. */
const hashOf = (fp: string): string => fp.slice(fp.lastIndexOf('…('));

void it('each finding becomes a labelled placeholder and the rest of the text is untouched', () => {
  const token = githubToken('ghp');
  const key = EXAMPLES.anthropic();
  const text = `GITHUB_TOKEN=${token}\nANTHROPIC_API_KEY=${key}\nDEBUG=1\n`;
  const out = redact(text, scan(text));
  assert.equal(
    out,
    `GITHUB_TOKEN=[REDACTED:github-token:ghp_${hashOf(fingerprint(token))}]\nANTHROPIC_API_KEY=[REDACTED:anthropic-api-key:sk-a${hashOf(fingerprint(key))}]\nDEBUG=1\n`,
  );
});

void it('a marker shows at most 4 characters of the public prefix and none of the rest of the secret', () => {
  const tokens = [
    EXAMPLES.stripe(),
    EXAMPLES.anthropicAdmin(),
    EXAMPLES.githubFineGrained(),
    EXAMPLES.openai(),
    EXAMPLES.gitlab(),
    EXAMPLES.slackBot(),
    EXAMPLES.pypi(),
    EXAMPLES.jwt(),
    EXAMPLES.awsAccessKeyId(),
    githubToken('ghp'),
  ];
  for (const token of tokens) {
    const text = `value: ${token}\n`;
    const out = redact(text, scan(text));
    const marker = /\[REDACTED:[^:\]]+:([^\]]*)\]/.exec(out);
    assert.ok(marker, `${token.slice(0, 8)}… is redacted: ${out}`);
    const shown = (marker[1] ?? '').split('…(')[0] ?? '';
    assert.ok(shown.length <= 4, `"${shown}" is over 4 characters`);
    assert.ok(token.startsWith(shown), `"${shown}" is the token's own prefix`);
    // Nothing of the token past those characters: no 5 of its characters in a row.
    for (let i = 0; i + 5 <= token.length; i++)
      assert.ok(!marker[1]?.includes(token.slice(i, i + 5)), `${token.slice(i, i + 5)} shown`);
    // The marker and the fingerprint name the same secret (the audit keeps the fingerprint).
    assert.equal(hashOf(marker[1] ?? ''), hashOf(fingerprint(token)));
  }
});

void it('overlapping findings are merged into one replacement', () => {
  const text = 'abcdefghij';
  const base = { family: 'generic', confidence: 'low' as const, fingerprint: '…(00000000)' };
  const out = redact(text, [
    { ...base, rule: 'a', start: 2, end: 6 },
    { ...base, rule: 'b', start: 4, end: 8 },
  ]);
  assert.equal(out, 'ab[REDACTED:a:…(00000000)]ij');
});

void it('fingerprints are stable, short and show only a public prefix', () => {
  const token = githubToken('ghp');
  assert.equal(fingerprint(token), fingerprint(token));
  assert.match(fingerprint(token), /^ghp_…\([0-9a-f]{8}\)$/);
  assert.match(fingerprint('correct horse battery staple'), /^…\([0-9a-f]{8}\)$/);
  assert.notEqual(fingerprint(token), fingerprint(githubToken('ghp')));
});

void it('property: a token placed anywhere in arbitrary text is found at its span and redaction removes it', () => {
  const token = githubToken('ghp');
  // Separators around the token, as any format would have them.
  const filler = fc.string({ maxLength: 200 }).map((s) => s.replace(/[A-Za-z0-9_]$/, ' '));
  fc.assert(
    fc.property(filler, fc.string({ maxLength: 200 }), (before, after) => {
      const sep = /^[A-Za-z0-9_]/.test(after) ? ' ' : '';
      const text = `${before} ${token}${sep}${after}`;
      const found = scan(text).filter((f) => f.rule === 'github-token');
      assert.equal(found.length, 1);
      assert.equal(text.slice(found[0]?.start, found[0]?.end), token);
      assert.ok(!redact(text, scan(text)).includes(token.slice(4)));
    }),
    { numRuns: 300 },
  );
});
