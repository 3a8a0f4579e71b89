// The in-process harness for the CLI's tests: runs `main` with a capturing Ui (no colour), in the
// repository root or a given directory, and real temporary directories for the policy files a test
// writes; and the built binary as a child process, for commands that keep running (a server, an
// agent, a login waiting for approval). It never mocks the filesystem and never touches the
// examples or the source.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../src/main.js';
import type { Ui } from '../src/ui.js';

/** The repository root. The compiled harness runs from packages/cli/dist/test/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const EXAMPLES = join(REPO_ROOT, 'examples');
/** The built `perimeter` binary. */
export const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');

export interface CliResult {
  readonly code: number;
  /** Everything written with ui.out, each call ending in a newline, as the terminal Ui writes it. */
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `perimeter ARGS...` in-process. Relative paths resolve against `cwd` (default: the
 * repository root, so `examples/...` works as it does in the docs).
 */
export function runCli(args: readonly string[], options: { cwd?: string } = {}): CliResult {
  const out: string[] = [];
  const err: string[] = [];
  const ui: Ui = {
    out: (text) => out.push(`${text}\n`),
    err: (text) => err.push(`${text}\n`),
    isColor: false,
  };
  const previous = process.cwd();
  process.chdir(options.cwd ?? REPO_ROOT);
  try {
    const code = main(args, ui);
    // Only commands that keep running (audit tail --follow) return a promise; tests use the rest.
    if (typeof code !== 'number')
      throw new Error('runCli: the command kept running; spawn the binary instead');
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.chdir(previous);
  }
}

/** A `perimeter` child process that keeps running, and what it has written so far. */
export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  readonly stdout: string;
  readonly stderr: string;
  /**
   * Its exit code, null when a signal ended it; resolves once its output is all read (the 'close'
   * event: at 'exit' the last writes may still be in the pipes).
   */
  readonly exited: Promise<number | null>;
  /** Whether it has exited and its output is all read: nothing more will arrive. */
  readonly isDone: boolean;
}

/**
 * Spawns the binary with `env` over this process's environment; it is killed (SIGKILL) when the
 * test ends, if it is still running.
 */
export function spawnCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  let isDone = false;
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      isDone = true;
      resolve(code);
    }),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    get isDone() {
      return isDone;
    },
  };
}

/**
 * Waits until its standard output matches `pattern`; fails if it ends (its output all read) or
 * `ms` passes first. What a test asserts on must be what it waited for: a line the child writes
 * separately may not have arrived yet.
 */
export async function waitForOutput(
  running: RunningCli,
  pattern: RegExp,
  ms = 15_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = pattern.exec(running.stdout);
    if (m) return m;
    if (running.isDone || Date.now() > deadline)
      throw new Error(`no ${pattern} in the output:\n${running.stdout}\n${running.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `perimeter secret set NAME` with the value on standard input, the key in a file (no keyring);
 * `env` is the whole environment (its XDG_STATE_HOME or HOME says which store).
 */
export function storeSecret(env: NodeJS.ProcessEnv, name: string, value: string): void {
  const r = spawnSync(process.execPath, [BIN, 'secret', 'set', name], {
    input: `${value}\n`,
    env: { ...env, PERIMETER_SECRET_KEY_BACKEND: 'file' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
}

/** A fresh directory under the OS temp dir, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-cli-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Another process holding the lock file `file` as a writer of what it guards does (takeLock of
 * @perimeter/audit), until `kill()` ends it with SIGKILL and leaves its lock behind.
 */
export async function holdLock(
  t: TestContext,
  file: string,
): Promise<{ readonly pid: number; kill(): Promise<void> }> {
  const code = `import(${JSON.stringify(import.meta.resolve('@perimeter/audit'))}).then((m) => {
    const taken = m.takeLock(process.argv[1]);
    process.stdout.write(taken.kind + '\\n');
    if (taken.kind === 'taken') setInterval(() => {}, 60_000);
  })`;
  const holder = spawn(process.execPath, ['-e', code, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((done) => holder.once('exit', done));
  const kill = async (): Promise<void> => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  const said = await new Promise((done) =>
    holder.stdout.once('data', (b: Buffer) => done(b.toString().trim())),
  );
  assert.equal(said, 'taken', `the holder could not take ${file}`);
  return { pid: holder.pid as number, kill };
}

/** Writes `text` to `dir/name` and returns the full path. */
export function writeFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** 1-based line and column of the `occurrence`-th (1-based) appearance of `needle` in `text`. */
export function positionOf(text: string, needle: string, occurrence = 1): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i < occurrence; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`"${needle}" occurs fewer than ${occurrence} times in the fixture`);
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const col = at - before.lastIndexOf('\n');
  return { line, col };
}

/** The lines of an output, without the final newline. */
export function linesOf(output: string): string[] {
  return output === '' ? [] : output.replace(/\n$/, '').split('\n');
}

/** A Node stack frame as printed by Error.stack: four spaces, then "at ". */
export const STACK_FRAME = '    at ';

/** The smallest valid policy header; rules follow it. */
export function policyHeader(name: string, org = 'test', layer = 'org'): string {
  return [
    'apiVersion: perimeter/v1',
    'kind: Policy',
    'metadata:',
    `  name: ${name}`,
    `  org: ${org}`,
    `  layer: ${layer}`,
    '',
  ].join('\n');
}

/** Fails if any file in `dir` holds `value` as it is, in base64 or in hex. */
export function assertNoPlaintext(dir: string, value: string): void {
  const forms = [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')];
  for (const name of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, name));
    for (const form of forms)
      assert.ok(!bytes.includes(form), `${name} holds the value in plaintext (${form.slice(0, 8)}…)`);
  }
}
