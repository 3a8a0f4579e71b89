// A hostile value of many small findings (168,000 `password=…` strings, 4 MiB, in one MCP tool
// call) took the gateway ~10 s of one core, stalling every client: the joined scan found each
// string's low finding again three times, judged it by every generic rule and fingerprinted it
// with a SHA-256 in plain TypeScript, only for the gateway to drop it. The work is counted, not
// timed: assignments judged by every rule, and fingerprints computed. What is found must not change.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { scanJoined } from '../src/index.js';
import { scanCounting, type ScanWork } from '../src/scan.js';
import { sha256Hex } from '../src/sha256.js';
import { scanJoinedCounting } from '../src/split-secrets.js';
import { repeat } from './encodings.js';
import { EXAMPLES, githubToken, random } from './tokens.js';

const r = random(20260301);
const PRINTABLE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!@#%^*';
const newWork = (): ScanWork => ({ scanned: 0, visited: 0, decoded: 0 });

/** Parts that each hold a password assignment, a low finding, and end as `end` says. */
const passwords = (count: number, end: string): string[] =>
  Array.from({ length: count }, () => `password=${r(PRINTABLE, 16)}${end}`);

/** A joined scan's findings as a caller that keeps only high ones over two parts filters them. */
const spanningHigh = (parts: readonly string[]): ReturnType<typeof scanJoined> =>
  scanJoined(parts).filter((f) => f.confidence === 'high' && f.firstPart !== f.lastPart);

describe('a hostile value of many small findings', () => {
  void it('a scan fingerprints each finding it reports once, and none it drops as overlapped', () => {
    // `api_key=ghp_…` is both a generic assignment and a GitHub token: the token is reported.
    const text = Array.from({ length: 500 }, () => `api_key=${githubToken()} password=${r(PRINTABLE, 16)}`);
    const work = newWork();
    const found = scanCounting(text.join('\n'), { decode: true }, work);
    assert.equal(found.filter((f) => f.rule === 'github-token').length, 500);
    assert.equal(found.filter((f) => f.rule === 'generic-secret').length, 0);
    assert.equal(work.fingerprinted, found.length);
  });

  const token = githubToken('ghp');
  for (const [shape, end] of [
    ['glued to the next', ''],
    ['each ended', ';'],
  ] as const)
    void it(`${shape}: the joined scan for spanning high findings judges each assignment by every rule once at most, and fingerprints what it returns`, () => {
      const parts = passwords(5_000, end);
      parts.splice(2_500, 0, `x${token.slice(0, 12)}`, token.slice(12, 30), `${token.slice(30)} `);
      const work = newWork();
      const found = scanJoinedCounting(parts, { spanning: true, confidence: 'high' }, work);
      assert.deepEqual(
        found.map((f) => [f.rule, f.firstPart, f.lastPart]),
        [['github-token', 2_500, 2_502]],
      );
      assert.deepEqual(found, spanningHigh(parts));
      // Before: the whole join and two scans from the parts' starts judged each one (3 × 5,000).
      assert.ok((work.judged ?? 0) <= parts.length, `${work.judged} judged`);
      assert.equal(work.fingerprinted, found.length);
    });

  void it('the joined scan for spanning high findings finds what the full one does, cut anywhere', () => {
    const secrets = Object.values(EXAMPLES).map((example) => example(32));
    const lines = secrets.flatMap((s, i) => [
      `password=${s}`,
      `aws_secret_access_key = "${EXAMPLES.awsSecretAccessKey()}"`,
      `${i % 2 === 0 ? 'x' : ' '}${s}`,
      `token: ${r(PRINTABLE, 24)},`,
    ]);
    const text = lines.join(' ');
    let spanning = 0;
    for (const width of [1, 3, 7, 16, 40, 97]) {
      const parts: string[] = [];
      for (let at = 0; at < text.length; at += width) parts.push(text.slice(at, at + width));
      const found = scanJoined(parts, { spanning: true, confidence: 'high' });
      assert.deepEqual(found, spanningHigh(parts), `cut every ${width}`);
      spanning += found.length;
    }
    assert.ok(spanning > secrets.length, `${spanning} found across parts`);
  });
});

void it('sha256Hex is SHA-256 across block boundaries, for any text, long and short in turn', () => {
  const texts = ['', 'abc', 'a'.repeat(2 * 1024 * 1024), 'é€😀\ud800', 'x'];
  for (let n = 0; n < 200; n++) texts.push(r(`${PRINTABLE}éß€😀`, n));
  for (const text of texts)
    assert.equal(sha256Hex(text), createHash('sha256').update(text, 'utf8').digest('hex'), `${text.length}`);
});

// redteam-34-6: the JWT rule's pattern (`eyJ[A-Za-z0-9_-]{8,2000}\.…`) read up to 2,000 characters
// at every `eyJ`, and 4 MB of `eyJ` took scan() 8 s and the MCP gateway 23 s; other rules read on
// from anchors that stand inside what they read the same way. Counted, not timed: the characters
// the rules read from their anchors and keywords (a pattern for as far as it may read).
describe('redteam-34-6: anchors inside what a rule reads cost it one reading, not one each', () => {
  /** A header that decodes to `{"a":[{"a":[…"alg":1}`: a JSON object's start every 8 characters. */
  const nested = `${'eyJhIjpb'.repeat(250)}${btoa('"alg":1}').replace(/=+$/, '')}.ab. `;
  const read = (text: string): number => {
    const work: ScanWork = { ...newWork(), read: 0 };
    assert.deepEqual(scanCounting(text, {}, work), []);
    return work.read ?? 0;
  };
  const N = 300_000;
  for (const [shape, unit, bound] of [
    ['eyJ repeated', 'eyJ', 2],
    ['eyJ repeated, each run then a payload and a signature', `${'eyJ'.repeat(666)}.ab.`, 10],
    ['headers that decode to nested objects', nested, 10],
    [
      'PEM headers in header lines, a placeholder after each',
      `a: -----BEGIN PRIVATE KEY-----\nxxxxxxxx${'A'.repeat(70)}\n`,
      8,
    ],
    ['<password> repeated', '<password>', 60],
    ['sk- repeated', 'sk-', 4],
  ] as const)
    void it(`redteam-34-6: ${shape}: at most ${bound} characters read per character, at ${N} and 4 times that`, () => {
      const once = read(repeat(unit, N));
      assert.ok(once <= bound * N, `${once} read for ${N} characters`);
      const four = read(repeat(unit, 4 * N));
      assert.ok(four <= bound * 4 * N, `${four} read for ${4 * N} characters`);
      // Counted at all, and growing with the text as the text does.
      assert.ok(
        once >= N / 2 && four <= 4.5 * once,
        `${once} read for ${N} characters, ${four} for ${4 * N}`,
      );
    });
});
