// The empty directories sessions make on the host as mount points (placeholders.ts): a session
// that dies without cleaning up (SIGKILL) leaves them, and the next start removes them before it
// plans, never taking them for real files; a user's own file of the same name is never removed;
// and a live session's are neither removed nor read as real by another session, in another process
// or in this one. Their ledgers are in one registry per user in Perimeter's state directory,
// whatever the runtime directory, and outlive it (a logout, a reboot); an older Perimeter's, in its
// session directories, are still read; a registry that is not this user's private directory
// refuses the start. While another process holds the registry's lock, a start or an end that can
// wait on timers leaves this process's event loop free, and the refusal at the deadline names the
// holder (placeholder-lock-1). Real bubblewrap, real helper, real processes killed with SIGKILL.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import {
  SessionError,
  cleanupSession,
  cleanupSessionAsync,
  prepareSession,
  spawnSandboxed,
  type PreparedSession,
} from '../src/session.js';
import { PlaceholderError, ledgerPlaces, withPlaceholdersAsync } from '../src/placeholders.js';
import { CANNOT_LAUNCH, WORKSPACE_POLICY, workspaceEngine } from './workspace-session.js';

const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-placeholders-')));
after(() => rmSync(scratch, { recursive: true, force: true }));
/** The sessions' directories (and ledgers) of these tests: their own, apart from the machine's. */
const runtimeDir = join(scratch, 'run');
mkdirSync(runtimeDir, { mode: 0o700 });
const home = join(scratch, 'home');
/** Perimeter's state directory of these tests (XDG_STATE_HOME): the registry is in it. */
const stateHome = join(scratch, 'state');
const registryOf = (xdgStateHome: string): string => join(xdgStateHome, 'perimeter', 'placeholders');
/** The host environment of these tests' sessions. */
const hostEnv = { PATH: '/usr/bin:/bin', XDG_STATE_HOME: stateHome };

/** Private directories, one inside the other: both made on the host as mount points. */
const NESTED_PRIVATE =
  '    - { id: caches, paths: ["~/.cache/**", "~/.cache/pip/**"], access: rw, private: true }\n';

function prepare(
  workspace: string,
  command = 'true',
  policy = { home, extra: '' },
  where: Where = { runtimeDir, hostEnv },
): Promise<PreparedSession> {
  return prepareSession({
    engine: workspaceEngine(workspace, policy.home, policy.extra),
    sessionId: 'placeholders-test',
    workspace,
    home: policy.home,
    ...(where.runtimeDir !== undefined ? { runtimeDir: where.runtimeDir } : {}),
    cgroupTargets: [],
    command: ['/bin/sh', '-c', command],
    hostEnv: where.hostEnv,
  });
}

/** Where a session's directory goes (runtimeDir, else hostEnv's XDG_RUNTIME_DIR, else TMPDIR). */
interface Where {
  readonly runtimeDir?: string;
  readonly hostEnv: Readonly<Record<string, string>>;
}

/** Resolves once `stream` has said `what` (bounded: rejects after 20 s, with what it did say). */
function said(stream: NodeJS.ReadableStream, what: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`never said ${what}: ${text}`)), 20_000);
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const m = what.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

const require = createRequire(import.meta.url);
/** Another process holding a sandboxed session in `workspace` (a gateway and its server, in short). */
const CHILD = `
import { createEngine, loadPolicies } from ${JSON.stringify(pathToFileURL(require.resolve('@perimeter/policy')).href)};
import { prepareSession, spawnSandboxed } from ${JSON.stringify(new URL('../src/session.js', import.meta.url).href)};
const { workspace, home, where, policy } = JSON.parse(process.env.PLACEHOLDERS_TEST);
const loaded = loadPolicies([{ file: 'p.yaml', text: policy }]);
const engine = createEngine(loaded.policies.map((l) => l.policy), { subject: {}, context: { home, workspace } });
let prepared;
try {
  prepared = await prepareSession({
    engine, sessionId: 'killed', workspace, home, ...where, cgroupTargets: [],
    command: ['/bin/sh', '-c', 'echo up; exec sleep 60'],
  });
} catch (e) {
  process.stdout.write('refused: ' + e.message + ' (' + e.fix + ')\\n');
  process.exit(0);
}
const server = spawnSandboxed(prepared);
server.stderr.pipe(process.stderr);
server.stdout.on('data', (d) => { if (String(d).includes('up')) process.stdout.write('ready ' + prepared.dir + '\\n'); });
`;

/** A session in another process, its sandbox running; `dir` is its session directory. */
function startElsewhere(
  workspace: string,
  policy = { home, extra: '' },
  where: Where = { runtimeDir, hostEnv },
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      ...process.env,
      PLACEHOLDERS_TEST: JSON.stringify({
        workspace,
        home: policy.home,
        where,
        policy: WORKSPACE_POLICY + policy.extra,
      }),
    },
  });
}

async function sessionElsewhere(
  workspace: string,
  policy = { home, extra: '' },
  where: Where = { runtimeDir, hostEnv },
): Promise<{ child: ChildProcessWithoutNullStreams; dir: string }> {
  const child = startElsewhere(workspace, policy, where);
  let errors = '';
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  try {
    const [, dir] = await said(child.stdout, /^ready (.+)\n/m);
    return { child, dir: dir as string };
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message} ${errors}`, { cause: e });
  }
}

/** SIGKILL: no cleanup at all (an out-of-memory abort, a client that escalates to kill). */
async function kill(child: ChildProcessWithoutNullStreams): Promise<void> {
  const gone = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await gone;
}

/** A workload that, once told to go, tries to make .git/hooks in its workspace and says how it went. */
const MAKES_GIT_HOOKS =
  'echo up; read go; if mkdir -p .git/hooks 2>/dev/null; then echo unmasked; else echo masked; fi';

/** Runs `prepared` (its workload MAKES_GIT_HOOKS) and, once it is up, `meanwhile`; then its answer. */
async function gitHooksAfter(
  prepared: PreparedSession,
  meanwhile: () => void | Promise<void>,
): Promise<'masked' | 'unmasked'> {
  const child = spawnSandboxed(prepared);
  try {
    await said(child.stdout, /up/);
    await meanwhile();
    const answer = said(child.stdout, /unmasked|masked/);
    child.stdin.end('go\n');
    const [word] = await answer;
    await new Promise((done) => child.once('close', done));
    return word as 'masked' | 'unmasked';
  } finally {
    child.kill('SIGKILL');
  }
}

const isEmptyDir = (path: string): boolean => lstatSync(path).isDirectory() && readdirSync(path).length === 0;

/**
 * `prepared` takes `workspace`'s .git for missing, not for a repository (a leftover or another
 * session's placeholder read as one): it makes .git a mount point, and plans nothing below it.
 */
function assertGitMissing(prepared: PreparedSession, workspace: string): void {
  const git = join(workspace, '.git');
  const made = prepared.plan.createsOnHost;
  assert.ok(made.includes(git), `${git} is missing to it, not a repository`);
  assert.deepEqual(
    made.filter((p) => p.startsWith(`${git}/`)),
    [],
    'nothing is planned below it',
  );
}

/**
 * An owner lock naming pid 1 as this boot knows it (its start time), but in the boot before: a
 * lock left by a session that ran before a reboot, whose pid a live process has now.
 */
function ownerBeforeReboot(): string {
  const stat = readFileSync('/proc/1/stat', 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const machine = existsSync('/etc/machine-id') ? readFileSync('/etc/machine-id', 'utf8').trim() : undefined;
  return `${JSON.stringify({ pid: 1, host: hostname(), ...(machine ? { machine } : {}), boot: 'the-boot-before', start })}\n`;
}

/**
 * A session directory of an older Perimeter in `base` (it kept its ledger and owner lock there),
 * whose session died before a reboot, having made `placeholders` (made here); its directory.
 */
function olderSession(base: string, placeholders: readonly string[]): string {
  const dir = mkdtempSync(join(base, 'perimeter-'));
  chmodSync(dir, 0o700);
  const recorded = placeholders.map((path) => {
    mkdirSync(path);
    const s = lstatSync(path, { bigint: true });
    return { path, dev: `${s.dev}`, ino: `${s.ino}`, ctime: `${s.ctimeNs}` };
  });
  writeFileSync(join(dir, 'placeholders.json'), `${JSON.stringify({ placeholders: recorded })}\n`);
  writeFileSync(join(dir, 'session.lock'), ownerBeforeReboot());
  return dir;
}

describe('placeholders left by a session that died (redteam-36-5)', { skip: CANNOT_LAUNCH }, () => {
  it('redteam-36-5: a session killed with SIGKILL leaves mount points that the next start removes; every later session starts', async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const first = await sessionElsewhere(workspace);
    assert.ok(isEmptyDir(join(workspace, '.git')), 'the session made its mask of .git on the host');
    await kill(first.child);
    assert.ok(isEmptyDir(join(workspace, '.git')), 'SIGKILL left it');
    // The second one dies too: it started after the first's leftovers were removed.
    const second = await sessionElsewhere(workspace);
    assert.equal(existsSync(first.dir), false, "the dead session's directory is removed");
    assert.ok(isEmptyDir(join(workspace, '.git')), 'not read as a repository: nothing was made in it');
    await kill(second.child);
    // The third (here) is planned as the first was: a bare workspace, nothing of the others'.
    const third = await prepare(workspace);
    try {
      assert.equal(existsSync(second.dir), false);
      assert.equal(existsSync(join(workspace, '.git', 'config')), false);
      assertGitMissing(third, workspace);
      assert.ok(third.plan.createsOnHost.every((p) => isEmptyDir(p)));
    } finally {
      cleanupSession(third);
    }
    assert.deepEqual(readdirSync(workspace), [], 'the workspace is as it was before the first session');
    assert.deepEqual(
      readdirSync(runtimeDir).filter((n) => n.startsWith('perimeter-') && !n.endsWith('.lock')),
      [],
    );
  });

  it("redteam-36-5: a user's own file or directory where a leftover was is never removed", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    // A directory of a protected name the user had before any session: never a placeholder.
    mkdirSync(join(workspace, '.idea'));
    const killed = await sessionElsewhere(workspace);
    await kill(killed.child);
    // After the crash the user puts real things where leftovers were: a file in place of one, a
    // file in one, and an empty directory of their own in place of one.
    rmdirSync(join(workspace, '.envrc'));
    writeFileSync(join(workspace, '.envrc'), 'export A=1\n');
    mkdirSync(join(workspace, '.claude', 'skills'), { recursive: true });
    writeFileSync(join(workspace, '.claude', 'skills', 'mine.md'), 'mine\n');
    rmdirSync(join(workspace, '.vscode'));
    mkdirSync(join(workspace, '.vscode'));
    const mine = ['.claude', '.envrc', '.idea', '.vscode'];
    const next = await prepare(workspace);
    try {
      for (const name of mine) assert.ok(existsSync(join(workspace, name)), `${name} is kept`);
    } finally {
      cleanupSession(next);
    }
    assert.deepEqual(
      readdirSync(workspace).sort(),
      mine,
      "only the leftovers are gone, every one of the user's stays",
    );
    assert.equal(readFileSync(join(workspace, '.envrc'), 'utf8'), 'export A=1\n');
    assert.equal(readFileSync(join(workspace, '.claude', 'skills', 'mine.md'), 'utf8'), 'mine\n');
    assert.ok(isEmptyDir(join(workspace, '.vscode')));
    assert.ok(isEmptyDir(join(workspace, '.idea')));
  });

  it('redteam-36-5: private directories made one inside the other go, at the end and after SIGKILL', async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const policy = { home: mkdtempSync(join(scratch, 'home-')), extra: NESTED_PRIVATE };
    const cache = join(policy.home, '.cache');
    const ended = await prepare(workspace, 'true', policy);
    assert.deepEqual(readdirSync(policy.home), ['.cache'], 'made on the host as mount points');
    assert.deepEqual(readdirSync(cache), ['pip']);
    assert.ok(isEmptyDir(join(cache, 'pip')));
    cleanupSession(ended);
    assert.deepEqual(readdirSync(policy.home), [], 'both are gone at the end of the session');
    const killed = await sessionElsewhere(workspace, policy);
    assert.ok(isEmptyDir(join(cache, 'pip')));
    await kill(killed.child);
    cleanupSession(await prepare(workspace, 'true', { home: policy.home, extra: '' }));
    assert.deepEqual(readdirSync(policy.home), [], 'both are gone once the next session has started');
  });

  it("redteam-36-5: an older Perimeter's ledgers, in its session directories in a runtime directory, are still read: its leftovers are removed, with its directory", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    // Where older sessions went: this session's directory's place, and XDG_RUNTIME_DIR.
    const xdgRun = mkdtempSync(join(scratch, 'run-older-'));
    const olders = [
      olderSession(runtimeDir, [join(workspace, '.git')]),
      olderSession(xdgRun, [join(workspace, '.claude'), join(workspace, '.vscode')]),
    ];
    writeFileSync(join(workspace, '.envrc'), 'mine\n');
    const next = await prepare(workspace, 'true', undefined, {
      runtimeDir,
      hostEnv: { ...hostEnv, XDG_RUNTIME_DIR: xdgRun },
    });
    try {
      for (const dir of olders) assert.equal(existsSync(dir), false, `${dir} is removed`);
      assertGitMissing(next, workspace);
    } finally {
      cleanupSession(next);
    }
    assert.deepEqual(
      readdirSync(workspace),
      ['.envrc'],
      "only the leftovers are gone, the user's file stays",
    );
  });

  it("redteam-36-5: where an older Perimeter's ledgers' lock goes, another user's file or a FIFO leaves them unread, and is never waited for", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    // A directory anyone can write, as /tmp: the lock's name is known to every user.
    const shared = mkdtempSync(join(scratch, 'shared-'));
    chmodSync(shared, 0o1777);
    const elsewhere = mkdtempSync(join(scratch, 'ws-'));
    const older = olderSession(shared, [join(elsewhere, '.git')]);
    const lock = join(shared, `perimeter-${process.getuid?.()}-placeholders.lock`);
    const squats: [string, () => void][] = [['a FIFO', () => execFileSync('mkfifo', [lock])]];
    // Naming a live process: the lock would be waited for. Only root can make a file another's.
    if (process.getuid?.() === 0)
      squats.push([
        "another user's file",
        () => {
          writeFileSync(lock, `${JSON.stringify({ pid: 1, host: hostname() })}\n`);
          chownSync(lock, 65534, 65534);
        },
      ]);
    for (const [what, squat] of squats) {
      rmSync(lock, { force: true });
      squat();
      // In another process: reading a FIFO with no writer would block it for good.
      const started = await sessionElsewhere(workspace, undefined, { runtimeDir: shared, hostEnv });
      await kill(started.child);
      assert.ok(existsSync(older), `${what}: the older session's directory is left as it is`);
      assert.ok(isEmptyDir(join(elsewhere, '.git')), `${what}: and what its ledger records`);
    }
    cleanupSession(await prepare(workspace));
    assert.deepEqual(readdirSync(workspace), []);
  });

  it("redteam-36-5: a session started with XDG_RUNTIME_DIR (a terminal) and one without (an MCP client) keep one registry: the second takes the live first's .git for a mount point, and removes what it left once killed", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const terminalRun = mkdtempSync(join(scratch, 'run-user-'));
    const terminal: Where = { hostEnv: { ...hostEnv, XDG_RUNTIME_DIR: terminalRun } };
    // The environment an MCP client gives a server it starts: no XDG_RUNTIME_DIR (so TMPDIR).
    const client: Where = { hostEnv };
    const first = await sessionElsewhere(workspace, undefined, terminal);
    assert.ok(first.dir.startsWith(`${terminalRun}/`));
    try {
      const here = await prepare(workspace, 'true', undefined, client);
      try {
        assert.ok(!here.dir.startsWith(`${terminalRun}/`), 'its session directory is elsewhere');
        assertGitMissing(here, workspace);
      } finally {
        cleanupSession(here);
      }
      assert.ok(isEmptyDir(join(workspace, '.git')), 'the first still mounts on it: kept');
    } finally {
      await kill(first.child);
    }
    cleanupSession(await prepare(workspace, 'true', undefined, client));
    assert.deepEqual(readdirSync(workspace), [], 'the killed session left nothing');
    assert.equal(
      existsSync(first.dir),
      false,
      'its session directory, in the other runtime directory, is removed',
    );
  });

  it('redteam-36-5: the ledgers outlive the runtime directory: after a logout emptied it, and a reboot, the leftovers of a session killed before are removed', async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const xdgRun = mkdtempSync(join(scratch, 'run-user-'));
    const state = mkdtempSync(join(scratch, 'state-'));
    const where: Where = { hostEnv: { ...hostEnv, XDG_STATE_HOME: state, XDG_RUNTIME_DIR: xdgRun } };
    const killed = await sessionElsewhere(workspace, undefined, where);
    await kill(killed.child);
    assert.ok(isEmptyDir(join(workspace, '.git')), 'SIGKILL left it');
    // The logout: the runtime directory is emptied, the killed session's directory with it.
    for (const name of readdirSync(xdgRun)) rmSync(join(xdgRun, name), { recursive: true, force: true });
    // The reboot: its owner lock names a process of the boot before, whose pid and start time a
    // process of this boot has (pid 1): only the boot id says it is gone.
    const registry = registryOf(state);
    const locks = readdirSync(registry).filter((n) => /^session-[0-9a-f]+\.lock$/.test(n));
    assert.equal(locks.length, 1);
    writeFileSync(join(registry, locks[0] as string), ownerBeforeReboot());
    const next = await prepare(workspace, 'true', undefined, where);
    try {
      assertGitMissing(next, workspace);
    } finally {
      cleanupSession(next);
    }
    assert.deepEqual(readdirSync(workspace), [], 'the leftovers are gone');
    assert.deepEqual(readdirSync(registry), [], 'and their ledger, its lock, and the registry lock');
    assert.deepEqual(readdirSync(xdgRun), []);
  });

  it("redteam-36-5: a killed session's directory is removed only while it is the one its ledger names: one made since at that name stays", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const killed = await sessionElsewhere(workspace);
    await kill(killed.child);
    // Moved away (so its inode is not free to be given again), and the name taken again.
    renameSync(killed.dir, `${killed.dir}.moved`);
    mkdirSync(killed.dir, { mode: 0o700 });
    writeFileSync(join(killed.dir, 'sockets'), '');
    cleanupSession(await prepare(workspace));
    assert.deepEqual(readdirSync(workspace), [], 'the leftovers are gone');
    assert.deepEqual(readdirSync(killed.dir), ['sockets'], 'the directory made since is kept');
    rmSync(killed.dir, { recursive: true });
    rmSync(`${killed.dir}.moved`, { recursive: true });
  });

  it("a registry that is not this user's private directory, or cannot be made, refuses the start: nothing is made", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const cases: [string, (registry: string) => void, (registry: string) => string][] = [
      [
        'a symbolic link',
        (registry) => {
          const target = mkdtempSync(join(scratch, 'elsewhere-'));
          mkdirSync(dirname(registry), { recursive: true });
          symlinkSync(target, registry);
        },
        (registry) =>
          `the sessions' registry ${registry} is a symbolic link (remove the link (Perimeter makes the directory itself))`,
      ],
      [
        'open to others',
        (registry) => {
          mkdirSync(registry, { recursive: true });
          chmodSync(registry, 0o755);
        },
        (registry) =>
          `the sessions' registry ${registry} is open to other users (mode 0755) (make it private: chmod 700 ${registry})`,
      ],
      [
        'in a state directory that is a file',
        (registry) => writeFileSync(dirname(dirname(registry)), ''),
        (registry) =>
          `cannot make the sessions' registry ${registry} (ENOTDIR) (make ${dirname(registry)} a directory you can write, or set XDG_STATE_HOME to one)`,
      ],
    ];
    // Only root can make a directory another's.
    if (process.getuid?.() === 0)
      cases.push([
        "another user's",
        (registry) => {
          mkdirSync(registry, { recursive: true, mode: 0o700 });
          chownSync(registry, 65534, 65534);
        },
        (registry) =>
          `the sessions' registry ${registry} belongs to another user (uid 65534) (remove it, or set XDG_STATE_HOME to a directory of yours)`,
      ]);
    for (const [what, make, refusal] of cases) {
      const state = join(mkdtempSync(join(scratch, 'state-')), 'xdg');
      const registry = registryOf(state);
      make(registry);
      const sessions = mkdtempSync(join(scratch, 'run-'));
      await assert.rejects(
        () =>
          prepare(workspace, 'true', undefined, {
            runtimeDir: sessions,
            hostEnv: { ...hostEnv, XDG_STATE_HOME: state },
          }),
        (e: SessionError) => e instanceof SessionError && `${e.message} (${e.fix})` === refusal(registry),
        what,
      );
      assert.deepEqual(readdirSync(workspace), [], `${what}: nothing was made`);
      assert.deepEqual(readdirSync(sessions), [], `${what}: no session directory is left`);
    }
  });

  it("a live session's mount points stay while it runs, in another process, and are not read as real files", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const live = await sessionElsewhere(workspace);
    try {
      const here = await prepare(workspace);
      try {
        assert.ok(existsSync(live.dir), "a live session's directory is kept");
        assertGitMissing(here, workspace);
      } finally {
        cleanupSession(here);
      }
      assert.ok(isEmptyDir(join(workspace, '.git')), 'the live session still mounts on it: kept');
    } finally {
      await kill(live.child);
    }
    cleanupSession(await prepare(workspace));
    assert.deepEqual(readdirSync(workspace), []);
  });

  it("redteam-36-5: a session's end never removes a mount point another session's mask lies on", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const first = await prepare(workspace);
    const second = await prepare(workspace, MAKES_GIT_HOOKS);
    try {
      // rmdir on the host would detach the mask in the second session's namespace: .git would be
      // the workload's to make, hooks and all.
      assert.equal(await gitHooksAfter(second, () => cleanupSession(first)), 'masked');
      assert.ok(isEmptyDir(join(workspace, '.git')));
    } finally {
      cleanupSession(second);
    }
    assert.deepEqual(readdirSync(workspace), []);
  });

  it("redteam-36-5: a dead session's mount point that a live session took on stays until that one ends", async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const killed = await sessionElsewhere(workspace);
    // Started while the other lived: it mounts on the other's .git, which it took on.
    const live = await prepare(workspace, MAKES_GIT_HOOKS);
    try {
      const answer = await gitHooksAfter(live, async () => {
        await kill(killed.child);
        // The next start removes the dead session's leftovers, not one the live session relies on.
        cleanupSession(await prepare(workspace));
      });
      assert.equal(existsSync(killed.dir), false, "the dead session's directory is removed");
      assert.equal(answer, 'masked');
      assert.ok(isEmptyDir(join(workspace, '.git')));
    } finally {
      cleanupSession(live);
    }
    assert.deepEqual(readdirSync(workspace), []);
  });
});

/** Another process holding the registry's lock when told to (a start planning a large workspace). */
const LOCK_HOLDER = `
import { takeLock } from ${JSON.stringify(pathToFileURL(require.resolve('@perimeter/audit')).href)};
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
const file = process.env.REGISTRY_LOCK;
mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
let lock;
let fallback;
const release = (how) => {
  lock?.release();
  lock = undefined;
  clearTimeout(fallback);
  process.stdout.write('released ' + how + '\\n');
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  for (const line of text.split('\\n')) {
    if (line === 'take') {
      const taken = takeLock(file, { waitMs: 10_000 });
      if (taken.kind !== 'taken') process.stdout.write('refused ' + taken.kind + '\\n');
      else {
        lock = taken.lock;
        // Bounded: a caller that never lets this process know goes on after 10 s all the same.
        fallback = setTimeout(() => release('on its own'), 10_000);
        process.stdout.write('held\\n');
      }
    }
    if (line === 'release') release('when told');
  }
});
process.stdin.on('end', () => process.exit(0));
`;

interface LockHolder {
  readonly pid: number;
  /** Takes the lock; resolves once it holds it. */
  take(): Promise<void>;
  /** Lets it go; resolves with how it was let go (`when told`, or `on its own` after 10 s). */
  release(): Promise<string>;
  stop(): Promise<void>;
}

function lockHolder(registry: string): LockHolder {
  const child = spawn(process.execPath, ['--input-type=module', '-e', LOCK_HOLDER], {
    env: { ...process.env, REGISTRY_LOCK: join(registry, 'registry.lock') },
  });
  let released = said(child.stdout, /^released (.+)\n/m);
  return {
    pid: child.pid ?? 0,
    take: async () => {
      const taken = said(child.stdout, /^(held|refused .*)\n/m);
      child.stdin.write('take\n');
      assert.equal((await taken)[1], 'held');
      released = said(child.stdout, /^released (.+)\n/m);
    },
    release: async () => {
      child.stdin.write('release\n');
      return (await released)[1] as string;
    },
    stop: async () => {
      const gone = new Promise((done) => child.once('exit', done));
      child.stdin.end();
      await gone;
    },
  };
}

describe("the registry's lock, held by another process (placeholder-lock-1)", { skip: CANNOT_LAUNCH }, () => {
  const options = (workspace: string): Parameters<typeof prepareSession>[0] => ({
    engine: workspaceEngine(workspace, home),
    sessionId: 'placeholder-lock-1',
    workspace,
    home,
    runtimeDir,
    cgroupTargets: [],
    command: ['/bin/sh', '-c', 'echo up'],
    hostEnv,
  });

  it('placeholder-lock-1: a start and an end wait for it on timers: this process goes on meanwhile, and each finishes once it is let go', async () => {
    const workspace = mkdtempSync(join(scratch, 'ws-'));
    const holder = lockHolder(registryOf(stateHome));
    try {
      const order: string[] = [];
      let letGo: Promise<string> | undefined;
      // The lock held, then a start; a timer of this process lets it go: it runs only if the
      // start's wait leaves the event loop free.
      await holder.take();
      const starting = prepareSession(options(workspace)).then((p) => {
        order.push('started');
        return p;
      });
      setTimeout(() => {
        order.push('a timer ran');
        letGo = holder.release();
      }, 0);
      const prepared = await starting;
      assert.deepEqual(order, ['a timer ran', 'started']);
      assert.equal(await letGo, 'when told');
      assertGitMissing(prepared, workspace);
      const server = spawnSandboxed(prepared);
      await said(server.stdout, /up/);
      await new Promise((done) => server.once('close', done));
      assert.ok(isEmptyDir(join(workspace, '.git')));

      // The same for its end.
      order.length = 0;
      await holder.take();
      const ending = cleanupSessionAsync(prepared).then(() => order.push('ended'));
      setTimeout(() => {
        order.push('a timer ran');
        letGo = holder.release();
      }, 0);
      await ending;
      assert.deepEqual(order, ['a timer ran', 'ended']);
      // (The end goes on with the thread pool's removals: the lock let go when told is the proof.)
      assert.equal(await letGo, 'when told');
      assert.deepEqual(readdirSync(workspace), [], 'its mount points are removed');
      assert.equal(existsSync(prepared.dir), false);
    } finally {
      await holder.stop();
    }
  });

  it('placeholder-lock-1: at the deadline, the refusal names the process that holds it, and nothing ran under it', async () => {
    const registry = registryOf(stateHome);
    const holder = lockHolder(registry);
    try {
      await holder.take();
      const order: string[] = [];
      setTimeout(() => order.push('a timer ran'), 0);
      const refused = await withPlaceholdersAsync(
        ledgerPlaces(hostEnv, runtimeDir),
        () => order.push('ran under the lock'),
        300,
      ).then(
        () => assert.fail('the lock was held throughout'),
        (e: unknown) => e,
      );
      assert.ok(refused instanceof PlaceholderError);
      assert.equal(
        refused.message,
        `another Perimeter session (pid ${holder.pid}) has held ${join(registry, 'registry.lock')} for over 0.3 s`,
      );
      assert.equal(refused.fix, 'wait for that session to finish starting, then try again');
      assert.deepEqual(order, ['a timer ran']);
      assert.equal(await holder.release(), 'when told');
    } finally {
      await holder.stop();
    }
  });
});
