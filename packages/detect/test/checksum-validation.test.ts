// GitHub and npm tokens carry a CRC32 checksum: a right one is a near-certain leak and is reported
// with high confidence (the proxy blocks), a wrong one is a look-alike reported with low confidence
// (the proxy audits) — research egress.md §8.3 and §11.7.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { scan } from '../src/index.js';
import { base62, crc32, tokenChecksum } from '../src/checksum.js';
import { githubToken, npmToken, withWrongChecksum } from './tokens.js';

void it('crc32 and base62 agree with their references', () => {
  // CRC-32/ISO-HDLC check value for "123456789".
  assert.equal(crc32('123456789'), 0xcbf43926);
  assert.equal(base62(0, 6), '000000');
  assert.equal(base62(61, 1), 'z');
  assert.equal(base62(62, 2), '10');
  assert.equal(tokenChecksum('123456789'), base62(0xcbf43926, 6));
});

void it('egress-dlp-01: a GitHub token with a valid checksum in a URL query is high confidence', () => {
  const token = githubToken('ghp');
  const [f, ...rest] = scan(`https://x.good.test/?t=${token}`);
  assert.deepEqual(rest, []);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.confidence, 'high');
});

void it('egress-dlp-02: the same token with a wrong checksum is low confidence (audit, not block)', () => {
  const token = withWrongChecksum(githubToken('ghp'));
  const [f] = scan(`https://x.good.test/?t=${token}`);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.confidence, 'low');
});

void it('npm tokens use the same checksum scheme', () => {
  const token = npmToken();
  assert.equal(scan(token)[0]?.confidence, 'high');
  assert.equal(scan(withWrongChecksum(token))[0]?.confidence, 'low');
});

void it('every classic GitHub prefix is checked, not only ghp_', () => {
  for (const prefix of ['ghp', 'gho', 'ghu', 'ghs', 'ghr']) {
    assert.equal(scan(githubToken(prefix))[0]?.confidence, 'high', prefix);
    assert.equal(scan(withWrongChecksum(githubToken(prefix)))[0]?.confidence, 'low', prefix);
  }
});
