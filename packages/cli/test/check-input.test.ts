// Input that would otherwise be silently ignored is refused with exit 3.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './cli-harness.js';

void test('a flag of another surface is refused, not ignored', () => {
  const r = runCli(['check', 'network', 'example.com:443', '--access', 'write']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /--access does not apply to network requests/);
  assert.equal(r.stdout, '');
});

void test('check exec with both a command line and an argv after -- is refused', () => {
  const r = runCli(['check', 'exec', 'ls', '--', 'rm', '-rf', '/']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /not both/);
});

void test('an unusable DNS answer is a deny (exit 1), not invalid input', () => {
  const r = runCli([
    'check',
    'network',
    'example.com:443',
    '--resolved',
    'fe80::1%eth0',
    '--policy',
    'examples/open-internet.yaml',
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /no vetted address to dial/);
});
