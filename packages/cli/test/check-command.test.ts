// `perimeter check SURFACE TARGET`: one request on each surface against the example policies, the
// exit code by decision (0 allow, 1 deny, 2 ask, 3 invalid), the one-line and --json outputs, and
// how invalid input is refused: one line on stderr, never a stack trace.

import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  REPO_ROOT,
  STACK_FRAME,
  linesOf,
  policyHeader,
  positionOf,
  runCli,
  tempDir,
  writeFile,
} from './cli-harness.js';

const OPEN = 'examples/open-internet.yaml';
const BALANCED = 'examples/balanced.yaml';

/** One `perimeter check` run: its exit code and what its one line on stdout must say. */
interface DecisionCase {
  readonly name: string;
  readonly args: readonly string[];
  /** 0 allow, 1 deny, 2 ask. */
  readonly code: 0 | 1 | 2;
  /** Each must match stdout. */
  readonly says?: readonly RegExp[];
  /** When given, stderr must be exactly this. */
  readonly stderr?: string;
}

/** A test per case, named by the case. */
function decides(cases: readonly DecisionCase[]): void {
  for (const c of cases) {
    void test(c.name, () => {
      const r = runCli(['check', ...c.args]);
      assert.equal(r.code, c.code, r.stdout + r.stderr);
      for (const says of c.says ?? []) assert.match(r.stdout, says);
      if (c.stderr !== undefined) assert.equal(r.stderr, c.stderr);
    });
  }
}

// Network

decides([
  {
    name: 'a loopback address spelt in hex is denied as loopback under open-internet',
    args: ['network', '0x7f.1:80', '--policy', OPEN],
    code: 1,
    says: [/^deny\s+network 127\.0\.0\.1:80\s/, /loopback/],
    stderr: '',
  },
  {
    name: 'a public host is allowed under open-internet',
    args: ['network', 'example.com:443', '--policy', OPEN],
    code: 0,
    says: [/^allow\s+network example\.com:443\s/, /"any-public-destination"/],
  },
]);

const LINK_LOCAL = `${policyHeader('opens-link-local')}network:
  allow:
    - id: link-local
      cidrs: [169.254.0.0/16]
      ports: ["*"]
`;

void test('a policy that allows the link-local range opens an ordinary link-local address', (t) => {
  const file = writeFile(tempDir(t), 'link-local.yaml', LINK_LOCAL);
  const r = runCli(['check', 'network', '169.254.1.1:80', '--policy', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /"link-local"/);
});

void test('the cloud metadata address stays denied even when a policy allows its range', (t) => {
  const file = writeFile(tempDir(t), 'link-local.yaml', LINK_LOCAL);
  const r = runCli(['check', 'network', '169.254.169.254:80', '--policy', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /^deny\s+network 169\.254\.169\.254:80\s/);
  assert.match(r.stdout, /metadata/);
});

// Filesystem

void test('an ssh key in the home directory is unreadable under balanced', (t) => {
  const workspace = tempDir(t);
  const r = runCli([
    'check',
    'filesystem',
    '~/.ssh/id_rsa',
    '--access',
    'read',
    '--workspace',
    workspace,
    '--policy',
    BALANCED,
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(
    r.stdout.includes(join(homedir(), '.ssh/id_rsa')),
    `~ expands to the home directory: ${r.stdout}`,
  );
  assert.match(r.stdout, /"home-secrets"/);
});

void test('--home sets the directory that ~ stands for', (t) => {
  const home = tempDir(t);
  const r = runCli(['check', 'filesystem', '~/.ssh/id_rsa', '--home', home, '--policy', BALANCED]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(join(home, '.ssh/id_rsa')), r.stdout);
});

void test('a file in the --workspace directory is writable under balanced', (t) => {
  const workspace = tempDir(t);
  const r = runCli([
    'check',
    'filesystem',
    join(workspace, 'src/index.ts'),
    '--access',
    'write',
    '--workspace',
    workspace,
    '--policy',
    BALANCED,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /"workspace"/);
});

void test('without --workspace the current directory is the workspace', (t) => {
  const cwd = tempDir(t);
  const r = runCli(
    [
      'check',
      'filesystem',
      '.git/hooks/pre-commit',
      '--access',
      'write',
      '--policy',
      join(REPO_ROOT, BALANCED),
    ],
    { cwd },
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(` ${join(cwd, '.git/hooks/pre-commit')} `), r.stdout);
  assert.match(r.stdout, /"trust-handoff"/);
});

void test('a relative --policy path is read from the current directory', (t) => {
  const cwd = tempDir(t);
  writeFile(cwd, 'link-local.yaml', LINK_LOCAL);
  const r = runCli(['check', 'network', '169.254.1.1:80', '--policy', 'link-local.yaml'], { cwd });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /"link-local" of policy opens-link-local/);
});

// MCP

const ACME_ISSUE = ['mcp', 'github/create_issue', '--args', '{"owner":"acme"}'];

decides([
  {
    name: 'an MCP write for an engineer asks, held by the guardrail',
    args: [...ACME_ISSUE, '--policy', 'examples/acme', '--groups', 'eng'],
    code: 2,
    says: [/^ask\s+mcp github\/create_issue\s/, /"destructive-tools"/],
  },
  {
    name: '--annotations reach the decision: a non-destructive MCP write in acme is allowed for an engineer',
    args: [
      ...ACME_ISSUE,
      '--annotations',
      '{"destructiveHint":false}',
      '--policy',
      'examples/acme',
      '--groups',
      'eng',
    ],
    code: 0,
    says: [/"github-issues-in-acme"/],
  },
  {
    // The rule names the tool; only its argument predicate failed: "no rule matches" would mislead.
    name: 'an MCP write outside src is denied by default, naming the rule whose argument condition failed',
    args: ['mcp', 'filesystem/write_file', '--args', '{"path":"/etc/x"}', '--policy', 'examples/mcp.yaml'],
    code: 1,
    says: [
      /^deny\s+mcp filesystem\/write_file\s+Denied: rule "write-source" of policy mcp-gateway-example \(org\) matches the tool filesystem\/write_file, but its argument condition path: \{ glob: "\$\{workspace\}\/src\/\*\*" \} \(that is \/\S+\/src\/\*\*\) does not hold, so the call falls to the mcp default: deny\.$/m,
    ],
  },
]);

const PRIVATE_DIR = `${policyHeader('private-dir')}mcp:
  allow:
    - { id: fs-all, server: fs }
  deny:
    - { id: no-private, server: fs, args: { path: { glob: "\${workspace}/privé/**" } } }
`;

void test('redteam-34-5: check mcp denies the NFD spelling of a denied path, as the NFC one', (t) => {
  const file = writeFile(tempDir(t), 'private-dir.yaml', PRIVATE_DIR);
  const check = (path: string) =>
    runCli([
      'check',
      'mcp',
      'fs/read_text_file',
      '--args',
      JSON.stringify({ path }),
      '--workspace',
      '/ws',
      '--policy',
      file,
    ]);
  const nfc = check('/ws/privé/x');
  assert.equal(nfc.code, 1, nfc.stdout + nfc.stderr);
  assert.match(nfc.stdout, /"no-private"/);
  const nfd = check('/ws/prive\u0301/x');
  assert.equal(nfd.code, 1, nfd.stdout + nfd.stderr);
  assert.match(nfd.stdout, /^deny\s+mcp fs\/read_text_file\s.*"no-private"/);
  const elsewhere = check('/ws/café/x');
  assert.equal(elsewhere.code, 0, elsewhere.stdout + elsewhere.stderr);
});

// Exec

decides([
  {
    name: 'a force push given as one command line is denied by the default policy',
    args: ['exec', 'git push --force'],
    code: 1,
    says: [/^deny\s+exec git push --force\s/, /"no-force-push"/],
  },
  {
    name: 'a force push given as argv after -- is denied by the default policy',
    args: ['exec', '--', 'git', 'push', '--force'],
    code: 1,
    says: [/"no-force-push"/],
  },
  {
    name: 'an ordinary command given as argv after -- is allowed by the default policy',
    args: ['exec', '--', 'git', 'status'],
    code: 0,
    says: [/^allow\s+exec git status\s/],
  },
  {
    name: '--help after -- is part of the command, not a request for help',
    args: ['exec', '--', 'git', 'push', '--help'],
    code: 0,
    says: [/^allow\s+exec git push --help\s/],
  },
]);

void test('--debug after -- is part of the command, not the CLI flag', () => {
  const r = runCli(['check', 'exec', '--json', '--', 'node', '--debug', 'app.js']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const decision = JSON.parse(r.stdout) as { resource: string };
  assert.equal(decision.resource, 'node --debug app.js');
});

// Credentials

decides([
  {
    name: 'the GitHub token may go to api.github.com under the default policy',
    args: ['credential', 'github-token', '--host', 'api.github.com'],
    code: 0,
    says: [/^allow\s+credential github-token → api\.github\.com:443\s/, /"github"/],
  },
  {
    name: 'the GitHub token may not go to another host',
    args: ['credential', 'github-token', '--host', 'evil.example'],
    code: 1,
    says: [/^deny\s+credential github-token → evil\.example:443\s/],
  },
]);

// Output

interface DecisionJson {
  decision: string;
  wouldDecision: string;
  mode: string;
  rules: unknown[];
  reason: string;
}

function parseDecision(stdout: string): DecisionJson {
  const value = JSON.parse(stdout) as Record<string, unknown>;
  assert.equal(typeof value.decision, 'string');
  assert.equal(typeof value.wouldDecision, 'string');
  assert.equal(typeof value.mode, 'string');
  assert.ok(Array.isArray(value.rules), 'rules is a list');
  assert.equal(typeof value.reason, 'string');
  return value as unknown as DecisionJson;
}

void test('--json prints one parseable decision object with decision, wouldDecision, mode, rules and reason', () => {
  const r = runCli(['check', 'network', 'pastebin.com:443', '--json']);
  assert.equal(r.code, 1);
  const d = parseDecision(r.stdout);
  assert.equal(d.decision, 'deny');
  assert.equal(d.wouldDecision, 'deny');
  assert.equal(d.mode, 'enforce');
  assert.deepEqual(
    d.rules.map((x) => (x as { rule: string }).rule),
    ['paste-and-drop-sites'],
  );
  assert.match(d.reason, /paste-and-drop-sites/);
});

void test('the human output is one line holding the decision and the same reason --json gives', () => {
  const args = ['check', 'network', '0x7f.1:80', '--policy', OPEN];
  const human = runCli(args);
  const json = parseDecision(runCli([...args, '--json']).stdout);
  const lines = linesOf(human.stdout);
  assert.equal(lines.length, 1, human.stdout);
  assert.ok(lines[0]?.startsWith(json.decision), human.stdout);
  assert.ok(lines[0]?.includes(json.reason), `${human.stdout} should hold: ${json.reason}`);
});

decides([
  {
    name: 'without --policy the embedded default (balanced) decides',
    args: ['network', 'api.anthropic.com:443'],
    code: 0,
    says: [/"model-apis" of policy balanced/],
  },
]);

// Several files, directories, groups

const ACME_FILES = ['examples/acme/guardrails.yaml', 'examples/acme/eng.yaml'];

decides([
  {
    name: 'several policy files after one --policy layer together',
    args: ['network', 'registry.npmjs.org:443', '--policy', ...ACME_FILES, '--groups', 'eng'],
    code: 0,
    says: [/"public-registries" of policy acme-eng/],
  },
  {
    name: 'the guardrail given first after --policy still applies when a second file follows',
    args: ['network', 'pastebin.com:443', '--policy', ...ACME_FILES],
    code: 1,
    says: [/"exfil-endpoints" of policy acme-guardrails/],
  },
  {
    name: 'a directory after --policy stands for the policies in it',
    args: ['network', 'llm.acme.internal:443', '--policy', 'examples/acme'],
    code: 0,
    says: [/"llm-gateway" of policy acme-baseline/],
  },
  {
    name: "--groups limits the group policies: the data team does not get the engineers' registries",
    args: ['network', 'registry.npmjs.org:443', '--policy', 'examples/acme', '--groups', 'data'],
    code: 1,
    // Denied by the default, not by some other rule: no rule of the remaining policies matches.
    says: [/^deny\s+network registry\.npmjs\.org:443\s/, /no rule matches/],
  },
]);

void test('policies of several organisations are refused with exit 3 and the organisations named', () => {
  const r = runCli([
    'check',
    'network',
    'example.com:443',
    '--policy',
    'examples/balanced.yaml',
    'examples/locked-down.yaml',
    'examples/open-internet.yaml',
  ]);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  const [first = ''] = linesOf(r.stderr);
  assert.match(first, /^perimeter: the policy files belong to 3 organisations/);
  for (const org of ['example-balanced', 'example-locked-down', 'example-open-internet'])
    assert.ok(first.includes(org), first);
  assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
});

void test('an invalid policy file stops check with exit 3 and its file:line:col', (t) => {
  const text = `${policyHeader('broken')}network:\n  allow:\n    - { id: bad, cidrs: [10.0.0.0/33] }\n`;
  const file = writeFile(tempDir(t), 'broken.yaml', text);
  const r = runCli(['check', 'network', 'example.com:443', '--policy', file]);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  const at = positionOf(text, '10.0.0.0/33');
  assert.ok(r.stderr.startsWith(`${file}:${at.line}:${at.col}: error: `), r.stderr);
});

// Invalid input: exit 3, one clear line on stderr (then at most a hint), no stack trace.

interface InvalidCase {
  readonly what: string;
  readonly args: readonly string[];
  readonly says: RegExp;
  readonly todo?: string;
}

const INVALID: readonly InvalidCase[] = [
  {
    what: 'an IPv4 address with five parts',
    args: ['check', 'network', '1.2.3.4.5:80'],
    says: /1\.2\.3\.4\.5/,
  },
  { what: 'a network target without a port', args: ['check', 'network', 'example.com'], says: /no port/ },
  {
    what: '--args that are not JSON',
    args: ['check', 'mcp', 'github/create_issue', '--args', '{owner:acme'],
    says: /--args is not valid JSON/,
  },
  { what: 'an unknown surface', args: ['check', 'telepathy', 'x'], says: /"telepathy" is not a surface/ },
  {
    what: 'an unknown flag',
    args: ['check', 'network', 'example.com:443', '--bogus'],
    says: /unknown option --bogus/,
  },
  {
    what: 'an access that is neither read nor write',
    args: ['check', 'filesystem', '/etc/hosts', '--access', 'execute'],
    says: /"read" or "write"/,
  },
  { what: 'a surface without a target', args: ['check', 'network'], says: /needs a target/ },
  {
    what: 'a second target',
    args: ['check', 'network', 'a.example:443', 'b.example:443'],
    says: /unexpected argument "b\.example:443"/,
  },
  {
    what: 'a policy file that does not exist',
    args: ['check', 'network', 'example.com:443', '--policy', 'examples/nope.yaml'],
    says: /examples\/nope\.yaml.*does not exist/,
  },
];

for (const c of INVALID) {
  void test(`check refuses ${c.what} with exit 3`, () => {
    assert.equal(runCli(c.args).code, 3);
  });
  void test(
    `check reports ${c.what} in one line on stderr, without a stack trace`,
    c.todo ? { todo: c.todo } : {},
    () => {
      const r = runCli(c.args);
      assert.equal(r.stdout, '', 'nothing on stdout');
      const lines = linesOf(r.stderr);
      assert.ok(lines.length >= 1 && lines.length <= 2, `one line, then at most a hint:\n${r.stderr}`);
      assert.match(lines[0] ?? '', /^perimeter: /);
      assert.match(lines[0] ?? '', c.says);
      assert.ok(!r.stderr.includes(STACK_FRAME), r.stderr);
    },
  );
}
