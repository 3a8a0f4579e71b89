// redact() replaces each finding with [REDACTED:<rule>:<fingerprint>]: the text keeps its shape,
// names what was removed, and never keeps a byte of the secret.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { fingerprint, redact, scan } from '../src/index.js';
import { EXAMPLES, githubToken } from './tokens.js';

void it('each finding becomes a labelled placeholder and the rest of the text is untouched', () => {
  const token = githubToken('ghp');
  const key = EXAMPLES.anthropic();
  const text = `GITHUB_TOKEN=${token}\nANTHROPIC_API_KEY=${key}\nDEBUG=1\n`;
  const out = redact(text, scan(text));
  assert.equal(
    out,
    `GITHUB_TOKEN=[REDACTED:github-token:${fingerprint(token)}]\nANTHROPIC_API_KEY=[REDACTED:anthropic-api-key:${fingerprint(key)}]\nDEBUG=1\n`,
  );
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
