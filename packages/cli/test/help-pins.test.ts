// Pins the --help text of every command (and --version, and the unknown-command error). Users,
// docs and scripts depend on these texts, so changing one must be a deliberate edit: the test
// compares the output byte for byte with packages/cli/test/pins/help-<name>.txt.
//
// To accept a deliberate change, rewrite the pins and review the diff:
//   npx tsc -b && UPDATE_PINS=1 node --test packages/cli/dist/test/help-pins.test.js
// With UPDATE_PINS=1 each test writes its pin instead of comparing (and still checks the exit code).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HELP } from '../src/help.js';
import { STACK_FRAME, linesOf, runCli } from './cli-harness.js';

/** The pins live next to the test's source, not in dist: packages/cli/test/pins. */
const PINS = fileURLToPath(new URL('../../test/pins/', import.meta.url));
const isUpdating = process.env.UPDATE_PINS === '1';

/** The pin file for a HELP key: '' is the top level, 'policy validate' → help-policy-validate.txt. */
function pinName(command: string): string {
  return `help-${command === '' ? 'perimeter' : command.replace(/ /g, '-')}.txt`;
}

function matchesPin(name: string, actual: string): void {
  const file = join(PINS, name);
  if (isUpdating) {
    mkdirSync(PINS, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(
    existsSync(file),
    `no pin ${file}; create it with UPDATE_PINS=1 (see the header of help-pins.test.ts)`,
  );
  assert.equal(
    actual,
    readFileSync(file, 'utf8'),
    `${name} changed; if that is deliberate, run with UPDATE_PINS=1 and review the diff`,
  );
}

const COMMANDS = Object.keys(HELP);

void test('HELP covers the top level, the policy group and every command', () => {
  assert.deepEqual([...COMMANDS].sort(), [
    '',
    'agent',
    'audit',
    'audit query',
    'audit tail',
    'audit verify',
    'check',
    'doctor',
    'login',
    'mcp',
    'mcp pins',
    'mcp pins approve',
    'mcp pins list',
    'policy',
    'policy explain',
    'policy lint',
    'policy simulate',
    'policy test',
    'policy validate',
    'proxy',
    'run',
    'scan',
    'secret',
    'secret ls',
    'secret rm',
    'secret set',
    'server',
    'status',
  ]);
});

for (const command of COMMANDS) {
  const argv = [...(command === '' ? [] : command.split(' ')), '--help'];
  void test(`"perimeter ${argv.join(' ')}" prints its pinned help and exits 0`, () => {
    const r = runCli(argv);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    matchesPin(pinName(command), r.stdout);
  });
}

void test('-h prints the same top-level help as --help', () => {
  const r = runCli(['-h']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, runCli(['--help']).stdout);
  assert.equal(r.stdout, `${HELP['']}\n`);
});

void test("-h after a command prints that command's help", () => {
  const r = runCli(['check', '-h']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${HELP.check}\n`);
});

void test("--help anywhere among a command's options prints its help rather than running it", () => {
  const r = runCli(['check', 'network', 'example.com:443', '--policy', 'examples/nope.yaml', '--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${HELP.check}\n`);
});

void test('perimeter without arguments prints the top-level help and exits 0', () => {
  const r = runCli([]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${HELP['']}\n`);
});

void test('every pin file belongs to a command in HELP', { skip: isUpdating }, () => {
  const expected = new Set(COMMANDS.map(pinName));
  const stale = readdirSync(PINS).filter((n) => n.startsWith('help-') && !expected.has(n));
  assert.deepEqual(stale, [], 'remove the pins of commands that no longer exist');
});

void test('--version prints the version in packages/cli/package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${pkg.version}\n`);
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
});

void test('-V prints the version too', () => {
  assert.equal(runCli(['-V']).stdout, runCli(['--version']).stdout);
});

void test('an unknown command exits 3 with one line naming it and a hint', () => {
  const r = runCli(['frobnicate']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  assert.deepEqual(linesOf(r.stderr), [
    'perimeter: unknown command "frobnicate"',
    '  run "perimeter --help" for the commands',
  ]);
});

void test('an unknown policy subcommand exits 3 and names it', () => {
  const r = runCli(['policy', 'frobnicate']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: unknown command "policy frobnicate"\n/);
  assert.ok(!r.stderr.includes(STACK_FRAME));
});
