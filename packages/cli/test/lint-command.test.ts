// `perimeter policy lint`, against its documented behaviour (help.ts): findings about over-broad
// patterns, multi-tenant hosts, rules no request can reach, group allows that overlap a guardrail
// and CIDRs that touch the built-in guard ranges; exit 0 normally, 1 with --strict when there are
// warnings, 3 for an invalid policy; --json prints {findings}. The tests assert where a finding
// points and which rule it names, not its exact wording or code, which the help does not promise.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  EXAMPLES,
  STACK_FRAME,
  linesOf,
  policyHeader,
  positionOf,
  runCli,
  tempDir,
  writeFile,
} from './cli-harness.js';

interface Finding {
  severity: string;
  message: string;
  at?: { file: string; line: number; col: number };
}

function lintJson(...args: string[]): { code: number; findings: Finding[] } {
  const r = runCli(['policy', 'lint', ...args, '--json']);
  assert.ok(r.code === 0 || r.code === 1, `lint ran (exit ${r.code}): ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { findings: unknown };
  assert.ok(Array.isArray(out.findings), 'findings is a list');
  return { code: r.code, findings: out.findings as Finding[] };
}

/** Findings located on the line of `needle` in `file`'s `text`. */
function findingsOnLineOf(
  findings: readonly Finding[],
  file: string,
  text: string,
  needle: string,
): Finding[] {
  const { line } = positionOf(text, needle);
  return findings.filter((f) => f.at?.file === file && f.at.line === line);
}

function policyFile(t: TestContext, name: string, text: string): string {
  return writeFile(tempDir(t), name, text);
}

const NARROW = `${policyHeader('narrow')}network:
  allow:
    - { id: anthropic, hosts: [api.anthropic.com], ports: [443] }
`;

void test('lint exits 0 on the acme policies, warnings and all', () => {
  const r = runCli(['policy', 'lint', 'examples/acme/']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

void test('lint without --strict exits 0 even when there are warnings', () => {
  const { findings } = lintJson('examples/open-internet.yaml');
  assert.ok(
    findings.some((f) => f.severity === 'warning'),
    'open-internet has warnings',
  );
  assert.equal(runCli(['policy', 'lint', 'examples/open-internet.yaml']).code, 0);
});

void test('lint --strict exits 1 when there are warnings', () => {
  const r = runCli(['policy', 'lint', '--strict', 'examples/open-internet.yaml']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
});

void test('lint --strict exits 0 on a narrow policy with nothing to warn about', (t) => {
  const file = policyFile(t, 'narrow.yaml', NARROW);
  const r = runCli(['policy', 'lint', '--strict', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(lintJson(file).findings, []);
});

void test('lint --json prints {findings}, each with a severity, a message and its file:line:col', () => {
  const { findings } = lintJson('examples/open-internet.yaml');
  assert.ok(findings.length > 0);
  for (const f of findings) {
    assert.ok(f.severity === 'warning' || f.severity === 'info', `lint only warns or informs: ${f.severity}`);
    assert.equal(typeof f.message, 'string');
    assert.equal(f.at?.file, 'examples/open-internet.yaml');
    assert.ok((f.at?.line ?? 0) > 0 && (f.at?.col ?? 0) > 0);
  }
});

void test('lint prints each finding on stderr as file:line:col: severity: message', () => {
  const r = runCli(['policy', 'lint', 'examples/open-internet.yaml']);
  const lines = linesOf(r.stderr);
  assert.ok(lines.length > 0, 'findings are printed');
  for (const l of lines) assert.match(l, /^examples\/open-internet\.yaml:\d+:\d+: (warning|info): /);
});

void test('an allow of every host ("**") is flagged as over-broad, at its pattern\'s line', () => {
  const { findings } = lintJson('examples/open-internet.yaml');
  const text = readExample('open-internet.yaml');
  const here = findingsOnLineOf(findings, 'examples/open-internet.yaml', text, 'hosts: ["**"]');
  assert.ok(
    here.some((f) => f.severity === 'warning' && f.message.includes('"**"')),
    JSON.stringify(findings, null, 2),
  );
});

void test("an allow of 0.0.0.0/0 is flagged as over-broad, at its pattern's line", () => {
  const { findings } = lintJson('examples/open-internet.yaml');
  const text = readExample('open-internet.yaml');
  const here = findingsOnLineOf(findings, 'examples/open-internet.yaml', text, 'cidrs: [0.0.0.0/0');
  assert.ok(
    here.some((f) => f.severity === 'warning' && f.message.includes('0.0.0.0/0')),
    JSON.stringify(findings, null, 2),
  );
});

void test('an allow of github.com, a multi-tenant host, is flagged', () => {
  const { findings } = lintJson('examples/balanced.yaml');
  assert.ok(
    findings.some(
      (f) =>
        f.severity === 'warning' && f.message.includes('"github.com"') && f.message.includes('code-hosts'),
    ),
    JSON.stringify(findings, null, 2),
  );
});

void test('an allow that a deny of the same policy always beats is flagged as unreachable', (t) => {
  const text = `${policyHeader('shadow')}network:
  allow:
    - { id: api-example, hosts: [api.example.com], ports: [443] }
  deny:
    - { id: all-example, hosts: ["**.example.com"] }
`;
  const file = policyFile(t, 'shadow.yaml', text);
  const { findings } = lintJson(file);
  const here = findingsOnLineOf(findings, file, text, 'id: api-example');
  assert.ok(
    here.some((f) => f.message.includes('api-example') && f.message.includes('all-example')),
    JSON.stringify(findings, null, 2),
  );
});

void test('a group allow that overlaps a guardrail deny is flagged, when the policies are linted together', (t) => {
  const guardrail = `${policyHeader('guard', 'test', 'guardrail')}network:
  deny:
    - { id: no-vault, hosts: ["**.vault.example"] }
`;
  const group = `${policyHeader('team', 'test', 'group')}  groups: [eng]
network:
  allow:
    - { id: vault-for-eng, hosts: [eu.vault.example], ports: [443] }
`;
  const dir = tempDir(t);
  writeFile(dir, 'guard.yaml', guardrail);
  const groupFile = writeFile(dir, 'team.yaml', group);
  const { findings } = lintJson(dir);
  const here = findingsOnLineOf(findings, groupFile, group, 'id: vault-for-eng');
  assert.ok(
    here.some((f) => f.message.includes('vault-for-eng') && f.message.includes('no-vault')),
    JSON.stringify(findings, null, 2),
  );
});

void test('a CIDR that touches a built-in guard range is flagged', (t) => {
  const text = `${policyHeader('link-local')}network:
  allow:
    - { id: link-local, cidrs: [169.254.0.0/16], ports: [80] }
`;
  const file = policyFile(t, 'link-local.yaml', text);
  const { findings } = lintJson(file);
  const here = findingsOnLineOf(findings, file, text, 'id: link-local');
  assert.ok(
    here.some((f) => f.message.includes('169.254.0.0/16')),
    JSON.stringify(findings, null, 2),
  );
});

void test('lint of an invalid policy exits 3 and prints its errors as file:line:col', (t) => {
  const text = `${policyHeader('broken')}network:\n  allow:\n    - { id: bad, cidrs: [10.0.0.0/33] }\n`;
  const file = policyFile(t, 'broken.yaml', text);
  const r = runCli(['policy', 'lint', file]);
  assert.equal(r.code, 3);
  const { line, col } = positionOf(text, '10.0.0.0/33');
  assert.ok(r.stderr.startsWith(`${file}:${line}:${col}: error: `), r.stderr);
  assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
});

void test('lint without files exits 3 and says it needs them', () => {
  const r = runCli(['policy', 'lint']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: policy lint needs policy files\n/);
});

function readExample(name: string): string {
  return readFileSync(join(EXAMPLES, name), 'utf8');
}
