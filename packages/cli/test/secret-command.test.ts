// perimeter secret set|ls|rm as a user meets them: the real binary with a value piped in or typed
// at a real pseudo-terminal, ls and rm in-process. The store is always in a temporary
// XDG_STATE_HOME, with no D-Bus bus (so the key is in a file), never the machine's own. Above all:
// a value never comes out again, on any stream, in any failure, or on disk in plaintext.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { REPO_ROOT, STACK_FRAME, assertNoPlaintext, linesOf, runCli, tempDir } from './cli-harness.js';
import { openSecretStore } from '../src/secret-store.js';

const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');
const VALUE = 'pm-cli-Hq4mW8xT2vN6kR9pZ3yB';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A private state directory for one test; in-process commands use it too while the test runs. */
function stateHome(t: TestContext): { state: string; dir: string } {
  const state = tempDir(t);
  const saved = { xdg: process.env.XDG_STATE_HOME, bus: process.env.DBUS_SESSION_BUS_ADDRESS };
  process.env.XDG_STATE_HOME = state;
  delete process.env.DBUS_SESSION_BUS_ADDRESS;
  t.after(() => {
    if (saved.xdg === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved.xdg;
    if (saved.bus !== undefined) process.env.DBUS_SESSION_BUS_ADDRESS = saved.bus;
  });
  return { state, dir: join(state, 'perimeter/secrets') };
}

function childEnv(state: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: state, XDG_STATE_HOME: state, NO_COLOR: '1' };
}

/** The real binary, standard input a pipe holding `input` (or /dev/null). */
function perimeter(state: string, args: readonly string[], input?: string | Buffer): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(state),
    encoding: 'utf8',
    ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }),
    timeout: 20_000,
  });
  // EPIPE: the command stopped reading an oversized value early, as it should.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const valueOf = (dir: string, name: string): string | undefined =>
  openSecretStore({ dir, env: {} }).get(name);

/** The value must not be on either stream, nor a stack trace. */
function assertClean(r: Run | { stdout: string; stderr: string }, value = VALUE): void {
  for (const text of [r.stdout, r.stderr]) {
    assert.ok(!text.includes(value), `the value was printed:\n${text}`);
    assert.ok(!text.includes(STACK_FRAME), text);
  }
}

void test('secret set reads the value from standard input and drops exactly one trailing newline', (t) => {
  const { state, dir } = stateHome(t);
  let r = perimeter(state, ['secret', 'set', 'github-token'], `${VALUE}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(linesOf(r.stdout)[0], 'stored secret github-token');
  assert.match(r.stdout, /created the secret store .*; its key is in the key file .*\/secrets\/key/);
  assert.match(r.stdout, /no OS keyring: there is no D-Bus session bus/);
  assertClean(r);
  assert.equal(valueOf(dir, 'github-token'), VALUE);

  for (const [input, stored] of [
    ['crlf\r\n', 'crlf'],
    ['two\n\n', 'two\n'],
    ['none', 'none'],
    ['multi\nline\n', 'multi\nline'],
    ['  spaced  \n', '  spaced  '],
  ] as const) {
    r = perimeter(state, ['secret', 'set', 'x'], input);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(valueOf(dir, 'x'), stored, JSON.stringify(input));
  }
  assert.equal(linesOf(r.stdout)[0], 'replaced secret x');
  assert.equal(linesOf(r.stdout).length, 1, 'the key is only announced when it is created');
});

void test('secret set refuses a value on the command line, says why, and never repeats it', (t) => {
  const { state, dir } = stateHome(t);
  for (const args of [
    ['github-token', VALUE],
    ['github-token', '--', VALUE],
    ['github-token', `--value=${VALUE}`],
    [`-${VALUE}`],
    ['github-token', '--value', VALUE],
  ]) {
    const r = perimeter(state, ['secret', 'set', ...args], 'from-stdin\n');
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /takes one NAME and no options: the value is read from a prompt or standard input/,
    );
    assert.match(r.stderr, /argv is visible to every process on this machine and lands in shell history/);
    assertClean(r);
  }
  assert.ok(!existsSync(dir), 'nothing was stored');
});

void test('secret set: no name, an invalid name (not repeated), empty, too long or non-UTF-8 input exit 3, storing nothing', (t) => {
  const { state, dir } = stateHome(t);
  let r = perimeter(state, ['secret', 'set'], 'v');
  assert.equal(r.code, 3);
  assert.match(r.stderr, /needs the secret's NAME/);
  r = perimeter(state, ['secret', 'set', VALUE + ':x'], 'v');
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: that is not a valid secret name\n {2}a name is 1 to 128 letters/);
  assertClean(r);
  for (const [input, message] of [
    ['', /the value is empty; nothing was stored/],
    ['\n', /the value is empty; nothing was stored/],
    ['x'.repeat(64 * 1024 + 1), /the value is longer than 64 KiB; nothing was stored/],
    ['x'.repeat(1024 * 1024), /the value is longer than 64 KiB; nothing was stored/],
    [Buffer.from([0x61, 0xff, 0x62]), /not UTF-8 text; nothing was stored/],
  ] as const) {
    r = perimeter(state, ['secret', 'set', 'a'], input);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, message);
  }
  r = perimeter(state, ['secret', 'set', 'a']); // standard input is /dev/null
  assert.equal(r.code, 3);
  assert.equal(r.stdout, '');
  // The only values stored are none: the directory may exist, but holds no secret.
  assert.deepEqual(openSecretStore({ dir, env: {} }).names(), []);
  // Exactly 64 KiB (and its newline) is fine.
  r = perimeter(state, ['secret', 'set', 'a'], `${'x'.repeat(64 * 1024)}\r\n`);
  assert.equal(r.code, 0, r.stderr);
});

void test('secret ls prints names and times, never values; --json is [{name, updatedAt}]', (t) => {
  const { state, dir } = stateHome(t);
  let r = runCli(['secret', 'ls']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `no secrets stored (${dir})\n  add one with: perimeter secret set NAME\n`);
  assert.deepEqual(JSON.parse(runCli(['secret', 'ls', '--json']).stdout), []);

  perimeter(state, ['secret', 'set', 'npm-token'], 'n');
  perimeter(state, ['secret', 'set', 'github-token'], VALUE);
  r = runCli(['secret', 'ls']);
  assert.equal(r.code, 0);
  const lines = linesOf(r.stdout);
  assert.match(lines[0] ?? '', /^github-token {2}\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  assert.match(lines[1] ?? '', /^npm-token {5}\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  assert.equal(lines[2], `2 secrets in ${dir}; key in the key file ${dir}/key`);
  assert.equal(lines.length, 3);
  assertClean(r);

  r = runCli(['secret', 'ls', '--json']);
  const listed = JSON.parse(r.stdout) as Record<string, unknown>[];
  assert.deepEqual(
    listed.map((e) => Object.keys(e)),
    [
      ['name', 'updatedAt'],
      ['name', 'updatedAt'],
    ],
  );
  assert.deepEqual(
    listed.map((e) => e.name),
    ['github-token', 'npm-token'],
  );
  assertClean(r);

  r = runCli(['secret', 'ls', 'github-token']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /takes no arguments/);
});

void test('secret rm deletes (0), reports a missing secret (1) and an invalid name (3)', (t) => {
  const { state, dir } = stateHome(t);
  perimeter(state, ['secret', 'set', 'github-token'], VALUE);
  perimeter(state, ['secret', 'set', 'npm-token'], 'n');
  let r = runCli(['secret', 'rm', 'github-token']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'removed secret github-token\n');
  r = runCli(['secret', 'rm', 'github-token']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'perimeter: there is no secret github-token\n  perimeter secret ls lists the stored secrets\n',
  );
  r = runCli(['secret', 'rm', 'bad name']);
  assert.equal(r.code, 3);
  assert.ok(!r.stderr.includes('bad name'));
  assert.equal(runCli(['secret', 'rm']).code, 3);
  assert.equal(runCli(['secret', 'rm', 'a', 'b']).code, 3);
  assert.deepEqual(
    openSecretStore({ dir, env: {} })
      .names()
      .map((e) => e.name),
    ['npm-token'],
  );
});

void test('a store open to other users is refused by every command, with the chmod that fixes it', (t) => {
  const { state, dir } = stateHome(t);
  perimeter(state, ['secret', 'set', 'github-token'], VALUE);
  chmodSync(dir, 0o755);
  for (const r of [
    runCli(['secret', 'ls']),
    runCli(['secret', 'rm', 'github-token']),
    perimeter(state, ['secret', 'set', 'other'], 'v'),
  ]) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is open to other users \(mode 0755\), so the secret store will not use it/);
    assert.match(r.stderr, new RegExp(`make it private: chmod 700 ${dir}`));
  }
  chmodSync(dir, 0o700);
});

void test('the value appears in no output of any command, failure paths included, and nowhere on disk in plaintext', (t) => {
  const { state, dir } = stateHome(t);
  const runs: Run[] = [];
  const run = (r: Run): Run => (runs.push(r), r);
  run(perimeter(state, ['secret', 'set', 'github-token'], `${VALUE}\n`));
  run(perimeter(state, ['secret', 'set', 'github-token'], VALUE)); // replace
  run(perimeter(state, ['secret', 'set', 'github-token', VALUE]));
  run(perimeter(state, ['secret', 'set', 'github-token', '--debug'], VALUE));
  run(perimeter(state, ['secret', 'set', 'github-token', '--help'], VALUE));
  run(perimeter(state, ['secret', 'set', `${VALUE}!`], VALUE));
  run(perimeter(state, ['secret', 'set', 'big'], `${VALUE}${'x'.repeat(70_000)}`));
  run(perimeter(state, ['secret', 'ls']));
  run(perimeter(state, ['secret', 'ls', '--json']));
  run(perimeter(state, ['secret', 'ls', '--debug', '--json']));
  run(perimeter(state, ['secret', 'rm', 'absent']));
  assert.equal(valueOf(dir, 'github-token'), VALUE);
  assertNoPlaintext(dir, VALUE);

  // A foreign key: set must fail (it cannot mix keys), and say so without a value.
  const keyFile = join(dir, 'key');
  const key = readFileSync(keyFile);
  writeFileSync(keyFile, `${Buffer.alloc(32, 9).toString('base64')}\n`);
  let r = run(perimeter(state, ['secret', 'set', 'other', '--debug'], VALUE));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the secret store key \(the key file .*\) does not match the stored secrets/);
  assert.match(r.stderr, /restore the key file from a backup, or remove the secret/);
  writeFileSync(keyFile, key);

  // A damaged store file.
  const storeFile = join(dir, 'store.json');
  const good = readFileSync(storeFile);
  writeFileSync(storeFile, good.toString('utf8').replace('"secrets"', '"secretz"'));
  r = run(perimeter(state, ['secret', 'ls', '--json']));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is damaged \(it has no secrets table\)/);
  writeFileSync(storeFile, good);

  run(perimeter(state, ['secret', 'rm', 'github-token']));
  for (const each of runs) assertClean(each);
  assertNoPlaintext(dir, VALUE);
});

// --- at a real terminal ---------------------------------------------------------------------------

// Drives argv in a pseudo-terminal: waits for each expected prompt before typing (as a person
// does), then prints the exit code and everything the terminal showed.
const PTY_DRIVER = `
import json, os, pty, select, sys, time
argv, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen = b''
def read_until(needle):
    global seen
    end = time.time() + 20
    while needle.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not ready:
            sys.exit('timed out waiting for ' + repr(needle) + ' in ' + repr(seen))
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b''
        if not data:
            sys.exit('the terminal closed before ' + repr(needle) + ': ' + repr(seen))
        seen += data
for expect, send in steps:
    read_until(expect)
    os.write(fd, send.encode())
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
_, status = os.waitpid(pid, 0)
print(json.dumps({'code': os.waitstatus_to_exitcode(status), 'screen': seen.decode('utf-8', 'replace')}))
`;

const hasPython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

function atTerminal(
  state: string,
  args: readonly string[],
  steps: [string, string][],
): { code: number; screen: string } {
  const r = spawnSync(
    'python3',
    ['-c', PTY_DRIVER, JSON.stringify([process.execPath, BIN, ...args]), JSON.stringify(steps)],
    { env: { ...childEnv(state), TERM: 'xterm' }, encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { code: number; screen: string };
}

const ttySkip = hasPython ? false : 'needs python3 (its pty module drives a real pseudo-terminal)';
const FIRST = 'Value (not echoed): ';
const AGAIN = 'Again, to confirm: ';

void test(
  'at a terminal, set asks twice without echo; Backspace, Ctrl-U and arrow keys edit, not store',
  { skip: ttySkip },
  (t) => {
    const { state, dir } = stateHome(t);
    const typed = `${VALUE}X\u007f`; // a typo, then Backspace
    const r = atTerminal(
      state,
      ['secret', 'set', 'github-token'],
      [
        [FIRST, `junk\u0015${typed}\u001b[D\r`], // Ctrl-U clears "junk"; ← is dropped
        [AGAIN, `${VALUE}\r`],
      ],
    );
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /Value \(not echoed\): \r?\nAgain, to confirm: \r?\n/);
    assert.match(r.screen, /stored secret github-token/);
    assert.ok(!r.screen.includes(VALUE) && !r.screen.includes('junk'), `echoed: ${r.screen}`);
    assert.equal(valueOf(dir, 'github-token'), VALUE);
  },
);

void test('at a terminal, Ctrl-C at either prompt exits 130 and stores nothing', { skip: ttySkip }, (t) => {
  const { state, dir } = stateHome(t);
  let r = atTerminal(state, ['secret', 'set', 'github-token'], [[FIRST, `${VALUE}\u0003`]]);
  assert.equal(r.code, 130, r.screen);
  assert.match(r.screen, /cancelled; nothing was stored/);
  r = atTerminal(
    state,
    ['secret', 'set', 'github-token'],
    [
      [FIRST, `${VALUE}\r`],
      [AGAIN, '\u0003'],
    ],
  );
  assert.equal(r.code, 130, r.screen);
  assert.ok(!r.screen.includes(VALUE));
  assert.deepEqual(openSecretStore({ dir, env: {} }).names(), []);
});

void test(
  'at a terminal, two different entries or an empty one exit 3 and store nothing',
  { skip: ttySkip },
  (t) => {
    const { state, dir } = stateHome(t);
    let r = atTerminal(
      state,
      ['secret', 'set', 'github-token'],
      [
        [FIRST, `${VALUE}\r`],
        [AGAIN, `${VALUE}-typo\r`],
      ],
    );
    assert.equal(r.code, 3, r.screen);
    assert.match(r.screen, /the two entries differ; nothing was stored/);
    assert.ok(!r.screen.includes(VALUE));
    r = atTerminal(state, ['secret', 'set', 'github-token'], [[FIRST, '\r']]);
    assert.equal(r.code, 3, r.screen);
    assert.match(r.screen, /the value is empty; nothing was stored/);
    assert.deepEqual(openSecretStore({ dir, env: {} }).names(), []);
  },
);
