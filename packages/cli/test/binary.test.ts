// The real binary: `node packages/cli/bin/perimeter.js` spawned from the repository root with an
// argv array (no shell), stdout a pipe (not a TTY) and NO_COLOR unset. It checks what the
// in-process harness cannot: the entry point runs main, the exit code reaches the process, and
// no colour escapes are written when stdout is not a terminal.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, STACK_FRAME } from './cli-harness.js';

const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');
// eslint-disable-next-line no-control-regex -- matching the escape character is the point
const ANSI = /\u001b\[/;

function perimeter(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

void test('the binary exits 1 for hex loopback under open-internet and writes no colour to a pipe', () => {
  const r = perimeter('check', 'network', '0x7f.1:80', '--policy', 'examples/open-internet.yaml');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^deny {2}network 127\.0\.0\.1:80 .*loopback/);
  assert.doesNotMatch(r.stdout, ANSI);
  assert.equal(r.stderr, '');
});

void test("the binary exits 2 when an engineer's MCP write needs approval, and writes no colour to a pipe", () => {
  const r = perimeter(
    'check',
    'mcp',
    'github/create_issue',
    '--args',
    '{"owner":"acme"}',
    '--policy',
    'examples/acme',
    '--groups',
    'eng',
  );
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /^ask {2}mcp github\/create_issue /);
  assert.doesNotMatch(r.stdout, ANSI);
});

void test('the binary reports invalid input with exit 3 on stderr, without colour or a stack trace', () => {
  const r = perimeter('check', 'network', 'example.com');
  assert.equal(r.status, 3);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^perimeter: the request is invalid: .*no port/);
  assert.doesNotMatch(r.stderr, ANSI);
  assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
});
