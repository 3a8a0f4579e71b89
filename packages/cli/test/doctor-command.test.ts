// perimeter doctor on this machine: its verdict matches its checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './cli-harness.js';

void test('doctor lists every check and exits 0 exactly when sessions can start', () => {
  const r = runCli(['doctor']);
  for (const name of ['bubblewrap', 'user namespaces', 'seccomp', 'egress proxy'])
    assert.match(r.stdout, new RegExp(name));
  const canStart = /sessions can start here/.test(r.stdout);
  assert.equal(r.code, canStart ? 0 : 1);
});

void test('doctor --json gives the facts and the checks', () => {
  const r = runCli(['doctor', '--json']);
  const out = JSON.parse(r.stdout) as {
    facts: { arch: string };
    checks: unknown[];
    canStartSessions: boolean;
  };
  assert.equal(out.facts.arch, process.arch);
  assert.deepEqual(
    out.checks.map((c) => (c as { name: string }).name),
    ['bubblewrap', 'user namespaces', 'seccomp', 'sandbox helper', 'egress proxy', 'resource limits'],
  );
  assert.equal(r.code, out.canStartSessions ? 0 : 1);
});
