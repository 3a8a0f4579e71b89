// Secrets split to evade a scanner: across hostname labels (egress-dlp-03, found before any DNS
// query is made) and across query parameters or headers (egress-dlp-05).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { scanHost, scanJoined } from '../src/index.js';
import { EXAMPLES, githubToken } from './tokens.js';

void it('egress-dlp-03: a GitHub token split across DNS labels is found in the hostname', () => {
  const token = githubToken('ghp');
  // "_" is not valid in a hostname: exfiltrators write it as "-".
  const labels = [token.slice(0, 14).replace('_', '-'), token.slice(14, 28), token.slice(28)];
  const host = `${labels.join('.')}.exfil.evil.test`;
  const [f, ...rest] = scanHost(host);
  assert.deepEqual(rest, []);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.confidence, 'high');
  assert.equal(host.slice(f?.start, f?.end), labels.join('.'));
});

void it('egress-dlp-03: a long high-entropy label is reported with low confidence', () => {
  const [f] = scanHost(`${EXAMPLES.alnum(40)}.tunnel.evil.test`);
  assert.equal(f?.rule, 'high-entropy-label');
  assert.equal(f?.confidence, 'low');
});

void it('ordinary hostnames are clean', () => {
  for (const host of [
    'api.github.com',
    'registry.npmjs.org',
    'd1a2b3c4d5e6f7.cloudfront.net',
    'storage.googleapis.com',
    'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6.r2.cloudflarestorage.com',
    'my-service-prod-eu-west-1.internal.example.com',
  ])
    assert.deepEqual(scanHost(host), [], host);
});

void it('egress-dlp-05: a key split across query parameters is found in their concatenation', () => {
  const key = EXAMPLES.anthropic();
  const parts = ['sk-', 'ant-', key.slice(7, 60), key.slice(60)];
  const [f] = scanJoined(parts);
  assert.equal(f?.rule, 'anthropic-api-key');
  assert.equal(f?.firstPart, 0);
  assert.equal(f?.lastPart, 3);
});

void it('egress-dlp-05: a token split across two headers is found', () => {
  const token = githubToken('gho');
  const [f] = scanJoined(['keep-alive', token.slice(0, 20), token.slice(20)]);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.confidence, 'high');
  assert.equal(f?.firstPart, 1);
  assert.equal(f?.lastPart, 2);
});
