// The pre-filter: rules run only where one of their anchors or keywords occurs. These tests pin
// what that must not cost in findings: an anchor far from the start, several anchors sharing a
// start (sk-ant- and sk-), a rule whose anchor sits inside the match (Azure's "Q~"), and a
// database URL found from its "://".

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { scan } from '../src/index.js';
import { EXAMPLES } from './tokens.js';

void it('text without any anchor or keyword has no findings', () => {
  const text = 'function add(a, b) { return a + b; }\n'.repeat(1000);
  assert.deepEqual(scan(text), []);
});

void it('a secret after a megabyte of clean text is found at its offset', () => {
  const key = EXAMPLES.anthropic();
  const padding = 'lorem ipsum dolor sit amet, '.repeat(40_000);
  const [f] = scan(`${padding}${key}\n`);
  assert.equal(f?.start, padding.length);
  assert.equal(f?.rule, 'anthropic-api-key');
});

void it('rules sharing an anchor start each get their turn', () => {
  const anthropic = EXAMPLES.anthropic();
  const openai = EXAMPLES.openai();
  const rules = scan(`${anthropic} ${openai}`).map((f) => f.rule);
  assert.deepEqual(rules, ['anthropic-api-key', 'openai-api-key']);
});

void it('a rule whose anchor is inside the token (Azure "Q~") finds the whole token', () => {
  const secret = EXAMPLES.azureClientSecret();
  const [f] = scan(`value ${secret} end`);
  assert.equal(f?.start, 6);
  assert.equal(f?.end, 6 + secret.length);
});

void it('long runs of anchor-like text stay linear (no catastrophic backtracking)', () => {
  const hostile = `eyJ${'a'.repeat(200_000)}`;
  const started = Date.now();
  assert.deepEqual(
    scan(`${hostile} ${'postgres://'.repeat(20_000)} ${'-----BEGIN PRIVATE KEY-----'.repeat(2000)}`),
    [],
  );
  // A generous bound: this is a hang detector, not a benchmark.
  assert.ok(Date.now() - started < 20_000);
});
