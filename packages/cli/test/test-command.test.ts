// `perimeter policy test`: runs the tests embedded in policy documents. Every example's tests pass;
// a failing test exits 1 and points at itself with file:line:col; without files the embedded
// default's tests run.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXAMPLES, linesOf, policyHeader, positionOf, runCli, tempDir, writeFile } from './cli-harness.js';

/** examples/*.yaml examples/acme/*.yaml, as the shell would expand them (sorted, relative). */
function exampleFiles(): string[] {
  const yamlIn = (dir: string): string[] =>
    readdirSync(join(EXAMPLES, dir))
      .filter((n) => n.endsWith('.yaml'))
      .sort()
      .map((n) => `examples/${dir === '.' ? '' : `${dir}/`}${n}`);
  return [...yamlIn('.'), ...yamlIn('acme')];
}

function passedFailed(stdout: string): { passed: number; failed: number } {
  const last = linesOf(stdout).at(-1) ?? '';
  const m = /^(\d+) passed, (\d+) failed$/.exec(last);
  assert.ok(m, `the last line is "N passed, M failed": ${last}`);
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

void test('the embedded tests of every example pass, and the last line counts them', () => {
  const files = exampleFiles();
  assert.ok(files.length >= 7, `found the examples: ${files.join(' ')}`);
  const r = runCli(['policy', 'test', ...files]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const { passed, failed } = passedFailed(r.stdout);
  assert.equal(failed, 0);
  assert.ok(passed >= 90, `the examples hold about a hundred tests, ${passed} ran`);
  assert.ok(!r.stdout.includes('✗'), r.stdout);
});

void test('the results are grouped under the file each test comes from', () => {
  const files = exampleFiles();
  const r = runCli(['policy', 'test', ...files]);
  const headers = linesOf(r.stdout).filter((l) => !l.startsWith(' ') && !/ passed, /.test(l));
  assert.deepEqual([...headers].sort(), [...files].sort());
});

const FAILING = `${policyHeader('opens-metadata')}network:
  allow:
    - { id: link-local, cidrs: [169.254.0.0/16], ports: ["*"] }
tests:
  - { name: link-local is open, request: { network: "169.254.1.1:80" }, expect: allow, rule: link-local }
  - { name: metadata opens with the range, request: { network: "169.254.169.254:80" }, expect: allow }
`;

void test('a failing embedded test exits 1 and the last line counts it', (t) => {
  const file = writeFile(tempDir(t), 'failing.yaml', FAILING);
  const r = runCli(['policy', 'test', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.deepEqual(passedFailed(r.stdout), { passed: 1, failed: 1 });
});

void test('a failing embedded test prints what was expected, what came, and its file:line:col', (t) => {
  const file = writeFile(tempDir(t), 'failing.yaml', FAILING);
  const r = runCli(['policy', 'test', file]);
  const lines = linesOf(r.stdout);
  const i = lines.indexOf('  ✗ metadata opens with the range');
  assert.ok(i >= 0, r.stdout);
  assert.match(lines[i + 1] ?? '', /expected allow, got deny/);
  assert.match(lines[i + 1] ?? '', /metadata/);
  const { line, col } = positionOf(FAILING, '{ name: metadata opens');
  assert.equal(lines[i + 2]?.trim(), `at ${file}:${line}:${col}`);
});

void test('a test naming the wrong rule fails even when the decision is right', (t) => {
  const text = FAILING.replace('expect: allow, rule: link-local', 'expect: allow, rule: some-other-rule');
  const file = writeFile(tempDir(t), 'wrong-rule.yaml', text);
  const r = runCli(['policy', 'test', file]);
  assert.equal(r.code, 1);
  assert.ok(r.stdout.includes('  ✗ link-local is open'), r.stdout);
});

void test('--json reports the counts and every result', (t) => {
  const file = writeFile(tempDir(t), 'failing.yaml', FAILING);
  const r = runCli(['policy', 'test', file, '--json']);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as {
    passed: number;
    failed: number;
    results: { name: string; passed: boolean; failure?: string }[];
  };
  assert.equal(out.passed, 1);
  assert.equal(out.failed, 1);
  assert.deepEqual(
    out.results.map((x) => [x.name, x.passed]),
    [
      ['link-local is open', true],
      ['metadata opens with the range', false],
    ],
  );
  assert.match(out.results[1]?.failure ?? '', /expected allow, got deny/);
});

void test("without files the embedded default policy's tests run and pass", () => {
  const r = runCli(['policy', 'test']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(linesOf(r.stdout)[0] ?? '', /examples[/\\]balanced\.yaml$/);
  const byDefault = passedFailed(r.stdout);
  const explicit = passedFailed(runCli(['policy', 'test', 'examples/balanced.yaml']).stdout);
  assert.deepEqual(byDefault, explicit);
  assert.ok(byDefault.passed > 0);
});

void test('a policy without tests passes with "0 passed, 0 failed" and says no tests were found', (t) => {
  const file = writeFile(tempDir(t), 'no-tests.yaml', policyHeader('quiet'));
  const r = runCli(['policy', 'test', file]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^no tests found in 1 policy: quiet \(org\)$/m);
  assert.deepEqual(passedFailed(r.stdout), { passed: 0, failed: 0 });
});

void test('an invalid policy exits 3 and no tests run', (t) => {
  const file = writeFile(tempDir(t), 'broken.yaml', `${policyHeader('broken')}colour: blue\n`);
  const r = runCli(['policy', 'test', file]);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /unknown key "colour"/);
});
