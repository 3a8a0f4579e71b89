// `perimeter policy validate`: valid files print a summary and exit 0; invalid ones exit 3 with
// `file:line:col: error: ...` lines whose positions point at the offending text. Positions are
// computed from the fixture text itself, so a fixture edit cannot silently desynchronise them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STACK_FRAME, linesOf, policyHeader, positionOf, runCli, tempDir, writeFile } from './cli-harness.js';

void test('a valid file exits 0 with a summary naming its policy and layer', () => {
  const r = runCli(['policy', 'validate', 'examples/balanced.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '✓ valid: 1 policy: balanced (org)\n');
  assert.equal(r.stderr, '');
});

void test('a directory validates every policy file in it', () => {
  const r = runCli(['policy', 'validate', 'examples/acme/']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^✓ valid: 4 policies: /);
  for (const name of [
    'acme-data (group)',
    'acme-eng (group)',
    'acme-guardrails (guardrail)',
    'acme-baseline (org)',
  ]) {
    assert.ok(r.stdout.includes(name), `${name} in ${r.stdout}`);
  }
});

void test('every example policy file is valid', () => {
  const r = runCli([
    'policy',
    'validate',
    'examples/balanced.yaml',
    'examples/locked-down.yaml',
    'examples/open-internet.yaml',
    'examples/acme',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^✓ valid: 7 policies: /);
});

// One file with three compile errors (they are reported together) ...
const COMPILE_ERRORS = `${policyHeader('bad')}mode: enforce
network:
  allow:
    - id: a
      hosts: ["exa mple.com"]
      ports: [443]
    - id: b
      cidrs: [10.0.0.0/33]
    - id: a
      hosts: [example.org]
`;

// ... and files with one error each: an unknown key, two YAML syntax errors, an error in a second document.
const UNKNOWN_KEY = `${policyHeader('unknown-key')}mode: enforce\ncolour: blue\n`;
const YAML_COMPACT_MAPPING = `${policyHeader('yaml').replace('  org: test', '  org: a: b')}`;
const YAML_DUPLICATE_KEY = `${policyHeader('yaml')}metadata:\n  name: again\n`;
const SECOND_DOCUMENT = `${policyHeader('one')}---\n${policyHeader('two')}network:\n  allow:\n    - id: a\n      cidrs: [300.0.0.0/8]\n`;

interface ErrorCase {
  readonly what: string;
  readonly text: string;
  /** The text the error points at, and which occurrence of it. */
  readonly at: string;
  readonly occurrence?: number;
  readonly says: RegExp;
}

const ERRORS: readonly ErrorCase[] = [
  { what: 'an unknown key', text: UNKNOWN_KEY, at: 'colour:', says: /unknown key "colour"/ },
  {
    what: 'a bad host pattern',
    text: COMPILE_ERRORS,
    at: '"exa mple.com"',
    says: /exa mple\.com.*not allowed in a host name/,
  },
  {
    what: 'a bad CIDR',
    text: COMPILE_ERRORS,
    at: '10.0.0.0/33',
    says: /"10\.0\.0\.0\/33" is not a valid IP address or CIDR/,
  },
  {
    what: 'a duplicate rule id',
    text: COMPILE_ERRORS,
    at: 'id: a',
    occurrence: 2,
    says: /rule id "a" is used twice/,
  },
  { what: 'a YAML syntax error', text: YAML_COMPACT_MAPPING, at: 'a: b', says: /YAML: / },
  {
    what: 'a duplicate YAML key',
    text: YAML_DUPLICATE_KEY,
    at: 'metadata:',
    occurrence: 2,
    says: /the key "metadata" appears twice in the same mapping/,
  },
  {
    what: 'an error in a second document of the file',
    text: SECOND_DOCUMENT,
    at: '300.0.0.0/8',
    says: /"300\.0\.0\.0\/8" is not a valid/,
  },
];

for (const c of ERRORS) {
  void test(`${c.what} is reported at its file:line:col and exits 3`, (t) => {
    const file = writeFile(tempDir(t), 'policy.yaml', c.text);
    const { line, col } = positionOf(c.text, c.at, c.occurrence);
    const r = runCli(['policy', 'validate', file]);
    assert.equal(r.code, 3);
    const prefix = `${file}:${line}:${col}: error: `;
    const reported = linesOf(r.stderr).find((l) => l.startsWith(prefix));
    assert.ok(reported, `expected a line starting ${prefix} in:\n${r.stderr}`);
    assert.match(reported, c.says);
    assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
  });
}

void test('every compile error of a file is reported at once, with a count', (t) => {
  const file = writeFile(tempDir(t), 'policy.yaml', COMPILE_ERRORS);
  const r = runCli(['policy', 'validate', file]);
  assert.equal(r.code, 3);
  const lines = linesOf(r.stderr);
  assert.equal(lines.filter((l) => l.startsWith(`${file}:`) && l.includes(': error: ')).length, 3, r.stderr);
  assert.equal(lines.at(-1), '✗ 3 errors in 1 file');
  assert.equal(r.stdout, '');
});

void test('schema problems are reported first; pattern and rule problems once the shape is right', (t) => {
  const dir = tempDir(t);
  const withUnknownKey = runCli([
    'policy',
    'validate',
    writeFile(dir, 'a.yaml', COMPILE_ERRORS.replace('mode: enforce\n', 'mode: enforce\ncolour: blue\n')),
  ]);
  assert.equal(withUnknownKey.code, 3);
  const first = linesOf(withUnknownKey.stderr).filter((l) => l.includes(': error: '));
  assert.equal(first.length, 1, withUnknownKey.stderr);
  assert.match(first[0] ?? '', /unknown key "colour"/);
  const fixed = runCli(['policy', 'validate', writeFile(dir, 'b.yaml', COMPILE_ERRORS)]);
  assert.equal(linesOf(fixed.stderr).filter((l) => l.includes(': error: ')).length, 3, fixed.stderr);
});

void test('an empty file exits 3: it holds no policy document', (t) => {
  const file = writeFile(tempDir(t), 'empty.yaml', '');
  const r = runCli(['policy', 'validate', file]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`^${escape(file)}:1:1: error: the file holds no policy document`));
});

void test('--json prints {valid, files, policies, diagnostics} for valid files', () => {
  const r = runCli(['policy', 'validate', 'examples/acme/', '--json']);
  assert.equal(r.code, 0);
  const out = JSON.parse(r.stdout) as {
    valid: unknown;
    files: unknown;
    policies: unknown;
    diagnostics: unknown;
  };
  assert.equal(out.valid, true);
  assert.deepEqual(out.files, [
    'examples/acme/data.yaml',
    'examples/acme/eng.yaml',
    'examples/acme/guardrails.yaml',
    'examples/acme/org.yaml',
  ]);
  assert.deepEqual(out.policies, [
    { name: 'acme-data', layer: 'group', file: 'examples/acme/data.yaml' },
    { name: 'acme-eng', layer: 'group', file: 'examples/acme/eng.yaml' },
    { name: 'acme-guardrails', layer: 'guardrail', file: 'examples/acme/guardrails.yaml' },
    { name: 'acme-baseline', layer: 'org', file: 'examples/acme/org.yaml' },
  ]);
  assert.deepEqual(out.diagnostics, []);
  assert.equal(r.stderr, '');
});

void test('--json reports each diagnostic with severity, code, message and position, and exits 3', (t) => {
  const file = writeFile(tempDir(t), 'policy.yaml', UNKNOWN_KEY);
  const r = runCli(['policy', 'validate', file, '--json']);
  assert.equal(r.code, 3);
  const out = JSON.parse(r.stdout) as {
    valid: boolean;
    diagnostics: { severity: string; code: string; message: string; at: unknown }[];
  };
  assert.equal(out.valid, false);
  assert.equal(out.diagnostics.length, 1);
  const [d] = out.diagnostics;
  assert.equal(d?.severity, 'error');
  assert.equal(d?.code, 'unknown-key');
  assert.match(d?.message ?? '', /colour/);
  assert.deepEqual(d?.at, { file, ...positionOf(UNKNOWN_KEY, 'colour:') });
});

void test('a missing file exits 3 with a one-sentence error and no stack trace', () => {
  const r = runCli(['policy', 'validate', 'examples/does-not-exist.yaml']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  const [first = ''] = linesOf(r.stderr);
  assert.equal(first, 'perimeter: cannot read policy file examples/does-not-exist.yaml: it does not exist');
  assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
});

void test('the hint for a missing file fits validate, which has no --policy flag', () => {
  const r = runCli(['policy', 'validate', 'examples/does-not-exist.yaml']);
  assert.ok(!r.stderr.includes('--policy'), r.stderr);
});

void test('validate without files exits 3 and says it needs them', () => {
  const r = runCli(['policy', 'validate']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: policy validate needs policy files\n/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
