// `perimeter policy explain`: the policies in force for the subject, every matching rule with the
// deciding one marked, and an exit code that follows the decision.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STACK_FRAME, linesOf, runCli } from './cli-harness.js';

const ACME = 'examples/acme/';
const MCP_WRITE = '{"mcp":"github/create_issue","args":{"owner":"acme"}}';

function explain(request: string, ...more: string[]): ReturnType<typeof runCli> {
  return runCli(['policy', 'explain', ACME, '--request', request, ...more]);
}

/** The names listed under "Policies in force". */
function policiesInForce(stdout: string): string[] {
  const lines = linesOf(stdout);
  const start = lines.findIndex((l) => l.startsWith('Policies in force'));
  assert.ok(start >= 0, stdout);
  const names: string[] = [];
  for (const l of lines.slice(start + 1)) {
    const m = /^ {2}(guardrail|org|group|local)\s+(\S+)/.exec(l);
    if (!m) break;
    names.push(`${m[1]} ${m[2]}`);
  }
  return names;
}

void test("explain lists the policies in force for the subject's groups, guardrails first", () => {
  const r = explain(MCP_WRITE, '--groups', 'eng');
  assert.deepEqual(policiesInForce(r.stdout), [
    'guardrail acme-guardrails',
    'org acme-baseline',
    'group acme-eng',
  ]);
});

void test('explain lists every matching rule and marks the one that decided', () => {
  const r = explain(MCP_WRITE, '--groups', 'eng');
  const lines = linesOf(r.stdout);
  assert.ok(
    lines.some((l) => /^ {4}allow acme-eng\/github-issues-in-acme\b/.test(l)),
    r.stdout,
  );
  assert.ok(
    lines.some((l) => /^ {2}→ ask\s+acme-guardrails\/destructive-tools\b/.test(l)),
    r.stdout,
  );
});

void test('explain starts with the decision and its reason', () => {
  const r = explain(MCP_WRITE, '--groups', 'eng');
  const [first = '', second = ''] = linesOf(r.stdout);
  assert.equal(first, 'ASK  mcp call github/create_issue');
  assert.match(second, /"destructive-tools" of policy acme-guardrails/);
});

void test('a call only its arguments kept from an allow names that rule and its condition, and no rule as matching', () => {
  const r = runCli([
    'policy',
    'explain',
    'examples/mcp.yaml',
    '--request',
    '{"mcp":"filesystem/write_file","args":{"path":"/etc/x"}}',
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = linesOf(r.stdout);
  assert.equal(lines[0], 'DENY  mcp call filesystem/write_file');
  assert.match(
    lines[1] ?? '',
    /^ {2}Denied: rule "write-source" of policy mcp-gateway-example \(org\) matches the tool filesystem\/write_file, but its argument condition path: \{ glob: "\$\{workspace\}\/src\/\*\*" \} \(that is \/\S+\/src\/\*\*\) does not hold, so the call falls to the mcp default: deny\.$/,
  );
  // The decision is the default's, as before: the rule did not match the call.
  const matching = lines.indexOf('Matching rules (deny > ask > allow > default):');
  assert.deepEqual(lines.slice(matching + 1, matching + 3), ['  none', '  → default for mcp: deny']);
});

const EXIT_CODES: readonly { request: string; decision: string; code: number }[] = [
  { request: '{"network":"registry.npmjs.org:443"}', decision: 'allow', code: 0 },
  { request: '{"network":"pastebin.com:443"}', decision: 'deny', code: 1 },
  { request: MCP_WRITE, decision: 'ask', code: 2 },
];

for (const c of EXIT_CODES) {
  void test(`explain exits ${c.code} when the decision is ${c.decision}`, () => {
    const r = explain(c.request, '--groups', 'eng');
    assert.equal(r.code, c.code, r.stdout + r.stderr);
    assert.ok(r.stdout.startsWith(c.decision.toUpperCase()), r.stdout);
  });
}

void test('without --groups every group policy is in force, and explain says so', () => {
  const r = explain('{"network":"pastebin.com:443"}');
  assert.deepEqual(policiesInForce(r.stdout), [
    'guardrail acme-guardrails',
    'org acme-baseline',
    'group acme-data',
    'group acme-eng',
  ]);
  assert.match(r.stdout, /No --groups given, so every group policy applies\./);
});

void test('--json prints the decision, the policies in force and the surface default', () => {
  const r = explain('{"network":"registry.npmjs.org:443"}', '--groups', 'eng', '--json');
  assert.equal(r.code, 0);
  const out = JSON.parse(r.stdout) as {
    decision: { decision: string; rules: { rule: string }[] };
    policies: { name: string }[];
    surfaceDefault: string;
  };
  assert.equal(out.decision.decision, 'allow');
  assert.deepEqual(
    out.decision.rules.map((x) => x.rule),
    ['public-registries'],
  );
  assert.deepEqual(
    out.policies.map((p) => p.name),
    ['acme-guardrails', 'acme-baseline', 'acme-eng'],
  );
  assert.equal(out.surfaceDefault, 'deny');
});

void test('without files explain uses the embedded default policy', () => {
  const r = runCli(['policy', 'explain', '--request', '{"exec":"git push --force"}']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.deepEqual(policiesInForce(r.stdout), ['org balanced']);
});

const INVALID: readonly { what: string; args: readonly string[]; says: RegExp }[] = [
  {
    what: 'a missing --request',
    args: ['policy', 'explain', ACME, '--groups', 'eng'],
    says: /^perimeter: policy explain needs --request$/,
  },
  {
    what: 'a --request that is not JSON',
    args: ['policy', 'explain', ACME, '--request', '{network'],
    says: /^perimeter: --request is not valid JSON$/,
  },
  {
    what: 'a --request that is not a valid request',
    args: ['policy', 'explain', ACME, '--request', '{"network":"example.com"}'],
    says: /^perimeter: the request is invalid: .*no port/,
  },
  {
    what: 'a --request naming no surface',
    args: ['policy', 'explain', ACME, '--request', '{"owner":"acme"}'],
    says: /^perimeter: the request is invalid/,
  },
];

for (const c of INVALID) {
  void test(`explain refuses ${c.what} with exit 3 and one line on stderr`, () => {
    const r = runCli(c.args);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(linesOf(r.stderr)[0] ?? '', c.says);
    assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
  });
}

void test('the hint for --request that is not JSON shows a request, not MCP arguments', () => {
  const r = runCli(['policy', 'explain', ACME, '--request', '{network']);
  assert.ok(!r.stderr.includes('{"owner":"acme"}'), r.stderr);
});
