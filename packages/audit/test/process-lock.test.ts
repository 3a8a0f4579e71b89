// The lock between processes (process-lock.ts), with real child processes holding it: a live
// holder is never broken, however old its lock file; a holder that died (SIGKILL), one from before
// a restart and one whose pid now belongs to a process started since are taken over, and of
// several takers exactly one wins; a waiter gets the lock once its holder lets go; release never
// removes a lock that is not its own.

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  takeLock,
  takeLockAsync,
  withLock,
  withLockAsync,
  type LockAttempt,
  type LockRefusal,
} from '../src/process-lock.js';
import { startChild, type Child as Holder } from './child-harness.js';

const MODULE = new URL('../src/process-lock.js', import.meta.url).href;

/**
 * A child that takes the lock named by its first argument (waiting up to its second, in ms) and
 * says, one JSON line, whether it took it. Then commands on standard input: `release` (releases,
 * says so, exits), `release-in MS` (holds MS more, then the same), `exit` (exits holding it).
 */
const HOLDER = `
  import { takeLock } from ${JSON.stringify(MODULE)};
  import { createInterface } from 'node:readline';
    const say = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
  const taken = takeLock(process.argv[1], { waitMs: Number(process.argv[2]) });
  if (taken.kind !== 'taken') {
    say(taken.kind === 'held' ? { held: taken.owner.pid, holder: taken.holder } : { refused: taken.kind });
    process.exit(0);
  }
  say({ taken: process.pid });
  const done = () => { taken.lock.release(); say({ released: true }); process.exit(0); };
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, ms] = line.split(' ');
    if (command === 'release') done();
    else if (command === 'release-in') setTimeout(done, Number(ms));
    else if (command === 'exit') process.exit(0);
  }
`;

function startHolder(t: TestContext, lock: string, waitMs = 0, wrapper: readonly string[] = []): Holder {
  return startChild(t, ['--input-type=module', '-e', HOLDER, lock, String(waitMs)], wrapper);
}

/** A pid namespace of its own, as a session's sandbox has: its first process is pid 1 there. */
const OWN_PID_NAMESPACE = [
  'unshare',
  '--user',
  '--map-root-user',
  '--pid',
  '--mount-proc',
  '--kill-child',
  '--',
];
const pidNamespaceSkip = ((): string | false => {
  const r = spawnSync(OWN_PID_NAMESPACE[0] as string, [...OWN_PID_NAMESPACE.slice(1), 'true']);
  return r.status === 0 ? false : 'needs unshare and user namespaces';
})();

function lockPath(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-process-lock-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'thing.lock');
}

function taken(attempt: LockAttempt): Extract<LockAttempt, { kind: 'taken' }> {
  assert.equal(attempt.kind, 'taken', JSON.stringify(attempt));
  return attempt;
}

function heldBy(attempt: LockAttempt): Extract<LockRefusal, { kind: 'held' }> {
  assert.equal(attempt.kind, 'held', JSON.stringify(attempt));
  return attempt;
}

/** A holder killed with SIGKILL while it held the lock, and collected: its lock is left behind. */
async function killedHolder(t: TestContext, lock: string): Promise<number> {
  const holder = startHolder(t, lock);
  assert.deepEqual(await holder.next(), { taken: holder.pid });
  holder.kill();
  await holder.exited;
  assert.equal((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid, holder.pid);
  return holder.pid;
}

const LONG_AGO = new Date(Date.now() - 3_600_000);

describe('a lock between processes', () => {
  it('a live holder keeps its lock however old the lock file is, and its lock file is left as it was', async (t) => {
    const lock = lockPath(t);
    const holder = startHolder(t, lock);
    assert.deepEqual(await holder.next(), { taken: holder.pid });
    utimesSync(lock, LONG_AGO, LONG_AGO);
    const before = readFileSync(lock, 'utf8');
    const refusal = heldBy(takeLock(lock));
    assert.equal(refusal.owner.pid, holder.pid);
    assert.equal(refusal.holder, 'this-machine');
    assert.equal(readFileSync(lock, 'utf8'), before);
    holder.send('release');
    assert.deepEqual(await holder.next(), { released: true });
    assert.equal(existsSync(lock), false, 'its holder removed it');
  });

  it('a waiter takes the lock once its live holder lets go', async (t) => {
    const lock = lockPath(t);
    const holder = startHolder(t, lock);
    assert.deepEqual(await holder.next(), { taken: holder.pid });
    holder.send('release-in 200');
    // Synchronous: this process waits while the holder goes on, then holds it.
    const mine = taken(takeLock(lock, { waitMs: 60_000 })).lock;
    assert.equal((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid, process.pid);
    mine.release();
    assert.equal(existsSync(lock), false);
  });

  it('a lock whose holder was killed with SIGKILL is taken over', async (t) => {
    const lock = lockPath(t);
    await killedHolder(t, lock);
    taken(takeLock(lock)).lock.release();
    assert.equal(existsSync(lock), false);
  });

  it('of several processes that find the same stale lock at once, exactly one takes it', async (t) => {
    const lock = lockPath(t);
    await killedHolder(t, lock);
    const racers = Array.from({ length: 6 }, () => startHolder(t, lock));
    const said = await Promise.all(racers.map((r) => r.next()));
    const winners = racers.filter((r, i) => said[i]?.taken === r.pid);
    assert.equal(winners.length, 1, JSON.stringify(said));
    const winner = winners[0] as Holder;
    for (const [i, r] of racers.entries())
      if (r !== winner) assert.deepEqual(said[i], { held: winner.pid, holder: 'this-machine' });
    winner.send('release');
    assert.deepEqual(await winner.next(), { released: true });
    assert.equal(existsSync(lock), false);
  });

  it(
    'a lock from before a restart, or naming a pid that a process started since has, is taken over',
    { skip: existsSync('/proc/self/stat') ? false : 'needs /proc for start times and the boot id' },
    async (t) => {
      const lock = lockPath(t);
      // A live process that is not this one.
      const other = startHolder(t, `${lock}.other`);
      assert.deepEqual(await other.next(), { taken: other.pid });
      const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const lockOf = (b: string, s: string): string =>
        JSON.stringify({ pid: other.pid, host: hostname(), boot: b, start: s });
      writeFileSync(lock, lockOf(boot, start));
      assert.equal(heldBy(takeLock(lock)).owner.pid, other.pid);
      for (const text of [lockOf(boot, `${start}0`), lockOf(`${boot.slice(0, -1)}x`, start)]) {
        writeFileSync(lock, text);
        taken(takeLock(lock)).lock.release();
        assert.equal(existsSync(lock), false, text);
      }
    },
  );

  it("a FIFO or a symbolic link at the lock's name is refused as unusable at once, never opened to read (it hung every taker)", (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'perimeter-lock-fifo-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'fifo.lock');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return t.skip('mkfifo is not available');
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'link.lock'));
    // In a child with a time limit: a taker that opens the FIFO to read never returns.
    const code = `import(${JSON.stringify(import.meta.resolve('../src/process-lock.js'))}).then((m) => {
      for (const f of process.argv.slice(1)) { const r = m.takeLock(f, { waitMs: 0 }); process.stdout.write(r.kind + ' ' + (r.code ?? '') + '\\n'); }
    })`;
    const r = spawnSync(process.execPath, ['-e', code, fifo, join(dir, 'link.lock')], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.signal, null, 'the taker returned');
    assert.deepEqual(r.stdout.trim().split('\n'), ['unusable not a regular file', 'unusable ELOOP']);
  });

  it('a lock naming a process on another machine is kept: it cannot be looked at from here', (t) => {
    const lock = lockPath(t);
    writeFileSync(lock, JSON.stringify({ pid: 1, host: `not-${hostname()}`, boot: 'b', start: '1' }));
    utimesSync(lock, LONG_AGO, LONG_AGO);
    const refusal = heldBy(takeLock(lock));
    assert.equal(refusal.holder, 'another-machine');
    assert.equal(refusal.owner.host, `not-${hostname()}`);
    assert.equal(refusal.file, lock);
  });

  it(
    'a lock from before a restart is taken over though it names another host name, when it names this machine id (a sandbox has a host name of its own)',
    { skip: existsSync('/etc/machine-id') ? false : 'needs /etc/machine-id' },
    (t) => {
      const lock = lockPath(t);
      const machine = readFileSync('/etc/machine-id', 'utf8').trim();
      writeFileSync(
        lock,
        JSON.stringify({ pid: 2, host: `not-${hostname()}`, machine, boot: 'before', start: '1' }),
      );
      taken(takeLock(lock)).lock.release();
      assert.equal(existsSync(lock), false);
    },
  );

  it(
    'a lock naming this host name but another machine id is kept, though its boot id differs: two machines on one disk may share a name',
    { skip: existsSync('/etc/machine-id') ? false : 'needs /etc/machine-id' },
    (t) => {
      const lock = lockPath(t);
      const text = JSON.stringify({
        pid: 1,
        host: hostname(),
        machine: 'another-machine-id',
        boot: 'b',
        start: '1',
      });
      writeFileSync(lock, text);
      utimesSync(lock, LONG_AGO, LONG_AGO);
      const refusal = heldBy(takeLock(lock));
      assert.equal(refusal.holder, 'another-machine');
      assert.equal(refusal.owner.machine, 'another-machine-id');
      assert.equal(readFileSync(lock, 'utf8'), text, 'kept as it was');
    },
  );

  it(
    'a lock held in another pid namespace (a sandbox) is never taken over, from outside it or from another: its pid names another process there',
    { skip: pidNamespaceSkip },
    async (t) => {
      const lock = lockPath(t);
      const inside = startHolder(t, lock, 0, OWN_PID_NAMESPACE);
      assert.deepEqual(await inside.next(), { taken: 1 });
      utimesSync(lock, LONG_AGO, LONG_AGO);
      const before = readFileSync(lock, 'utf8');
      // Here pid 1 is init, alive and started at another time; in another sandbox it is the taker.
      const refusal = heldBy(takeLock(lock));
      assert.equal(refusal.holder, 'another-pid-namespace');
      assert.equal(refusal.owner.pid, 1);
      const other = startHolder(t, lock, 0, OWN_PID_NAMESPACE);
      assert.deepEqual(await other.next(), { held: 1, holder: 'another-pid-namespace' });
      // Gone, but no process here can tell: kept for someone to remove, never taken over.
      inside.kill();
      await inside.exited;
      assert.equal(heldBy(takeLock(lock)).holder, 'another-pid-namespace');
      assert.equal(readFileSync(lock, 'utf8'), before);
    },
  );

  it('a takeover guard whose taker was killed is removed at once, however new it looks', async (t) => {
    const lock = lockPath(t);
    await killedHolder(t, lock);
    // A taker killed while at it left its guard, naming it (this dead holder will do).
    writeFileSync(`${lock}.takeover`, readFileSync(lock, 'utf8'));
    const later = new Date(Date.now() + 3_600_000);
    utimesSync(`${lock}.takeover`, later, later);
    taken(takeLock(lock)).lock.release();
    assert.equal(existsSync(lock), false);
    assert.equal(existsSync(`${lock}.takeover`), false);
  });

  it('a takeover guard whose taker lives is never removed, however old: the stale lock waits for it', async (t) => {
    const lock = lockPath(t);
    await killedHolder(t, lock);
    const taker = startHolder(t, `${lock}.other`);
    assert.deepEqual(await taker.next(), { taken: taker.pid });
    const guard = readFileSync(`${lock}.other`, 'utf8');
    writeFileSync(`${lock}.takeover`, guard);
    utimesSync(`${lock}.takeover`, LONG_AGO, LONG_AGO);
    const stale = readFileSync(lock, 'utf8');
    // Bounded: the attempts run out while the guard's taker lives.
    assert.equal(takeLock(lock).kind, 'unsettled');
    assert.equal(readFileSync(`${lock}.takeover`, 'utf8'), guard);
    assert.equal(readFileSync(lock, 'utf8'), stale);
  });

  it('a lock an earlier Perimeter wrote as a bare pid is held while that pid lives, taken over once it is gone', async (t) => {
    const lock = lockPath(t);
    const other = startHolder(t, `${lock}.other`);
    assert.deepEqual(await other.next(), { taken: other.pid });
    writeFileSync(lock, `${other.pid}\n`);
    assert.equal(heldBy(takeLock(lock)).owner.pid, other.pid);
    other.kill();
    await other.exited;
    taken(takeLock(lock)).lock.release();
    assert.equal(existsSync(lock), false);
  });

  it('a lock that names no process is waited for while it may be being written, and taken over once old', (t) => {
    const lock = lockPath(t);
    writeFileSync(lock, '');
    utimesSync(lock, LONG_AGO, LONG_AGO);
    taken(takeLock(lock)).lock.release();
    assert.equal(existsSync(lock), false);
  });

  it('takeLockAsync waits for a lock being written on timers: this process goes on meanwhile (takeLock blocked it up to 5 s, whatever waitMs said)', async (t) => {
    const lock = lockPath(t);
    writeFileSync(lock, ''); // a writer between creating it and writing it
    const order: string[] = [];
    const taking = takeLockAsync(lock, { waitMs: 300 }).then((attempt) => {
      order.push('taken');
      return attempt;
    });
    // The writer, in this process's turn: its lock goes once it is done.
    setTimeout(() => {
      order.push('a timer ran');
      rmSync(lock);
    }, 0);
    taken(await taking).lock.release();
    assert.deepEqual(order, ['a timer ran', 'taken']);
  });

  it('takeLockAsync waits for a lock another part of this process holds, up to waitMs, and takes it once let go', async (t) => {
    const lock = lockPath(t);
    const mine = taken(takeLock(lock)).lock;
    assert.equal(heldBy(await takeLockAsync(lock, { waitMs: 50 })).holder, 'this-process');
    setTimeout(() => mine.release(), 20);
    taken(await takeLockAsync(lock, { waitMs: 5_000 })).lock.release();
    assert.equal(existsSync(lock), false);
  });

  it('withLockAsync runs its function in the turn it takes the lock: nothing else of this process finds the lock held meanwhile (pins-lock-5)', async (t) => {
    const lock = lockPath(t);
    const refuse = (r: LockRefusal): Error => new Error(`refused: ${r.kind}`);
    let isInside = false;
    const writing = withLockAsync(lock, { refuse }, () => {
      isInside = true;
      return existsSync(lock);
    });
    // Free, the lock is taken, used and let go at once: a synchronous writer queued after finds it free.
    assert.equal(isInside, true, 'run in the turn the lock was taken');
    const after = new Promise((done) =>
      queueMicrotask(() => done(withLock(lock, { refuse }, () => 'taken after'))),
    );
    assert.equal(await writing, true, 'run holding the lock');
    assert.equal(await after, 'taken after');
    // Held by this process, it is waited for on timers, as takeLockAsync waits.
    const mine = taken(takeLock(lock)).lock;
    setTimeout(() => mine.release(), 20);
    assert.equal(await withLockAsync(lock, { refuse, waitMs: 5_000 }, () => existsSync(lock)), true);
    assert.equal(existsSync(lock), false);
  });

  it('release removes only the lock this process wrote, never one another process holds now', (t) => {
    const lock = lockPath(t);
    const mine = taken(takeLock(lock)).lock;
    // Someone removed it and another process took it meanwhile.
    const theirs = JSON.stringify({ pid: 1, host: hostname() });
    writeFileSync(lock, theirs);
    mine.release();
    assert.equal(readFileSync(lock, 'utf8'), theirs);
    mine.release();
    assert.equal(readFileSync(lock, 'utf8'), theirs, 'a second release is nothing');
  });

  it('this process never takes a lock it holds again, under any name of its directory, whatever its file says meanwhile', (t) => {
    const lock = lockPath(t);
    const alias = join(lockPath(t), '..', 'alias');
    symlinkSync(join(lock, '..'), alias);
    const mine = taken(takeLock(lock)).lock;
    // Its file now names a process that is gone (above pid_max): judged by the file, it would be
    // taken over (or, left as it was, waited for as long as the taker allows). This process's own
    // record of what it holds refuses it, at once.
    writeFileSync(lock, '99999999\n');
    const again = heldBy(takeLock(join(alias, 'thing.lock'), { waitMs: 60_000 }));
    assert.equal(again.holder, 'this-process');
    assert.equal(again.owner.pid, process.pid);
    assert.equal(readFileSync(lock, 'utf8'), '99999999\n', 'its file is left as it was');
    mine.release();
    taken(takeLock(join(alias, 'thing.lock'))).lock.release();
    assert.equal(existsSync(lock), false);
  });

  it('withLock releases the lock after its function, whether it returns or throws, and throws the caller’s refusal', async (t) => {
    const lock = lockPath(t);
    const refuse = (r: LockRefusal): Error => new Error(`refused: ${r.kind}`);
    assert.equal(
      withLock(lock, { refuse }, () => existsSync(lock)),
      true,
    );
    assert.equal(existsSync(lock), false);
    assert.throws(
      () =>
        withLock(lock, { refuse }, () => {
          throw new Error('inside');
        }),
      /^Error: inside$/,
    );
    assert.equal(existsSync(lock), false);
    const holder = startHolder(t, lock);
    assert.deepEqual(await holder.next(), { taken: holder.pid });
    let ran = false;
    assert.throws(
      () =>
        withLock(lock, { refuse, waitMs: 50 }, () => {
          ran = true;
        }),
      /^Error: refused: held$/,
    );
    assert.equal(ran, false);
    const missing = join(lock, '..', 'no-such-dir', 'x.lock');
    assert.throws(() => withLock(missing, { refuse }, () => 0), /^Error: refused: unusable$/);
  });

  it('a process that exits holding a lock leaves no lock behind', async (t) => {
    const lock = lockPath(t);
    const holder = startHolder(t, lock);
    assert.deepEqual(await holder.next(), { taken: holder.pid });
    holder.send('exit');
    await holder.exited;
    assert.equal(existsSync(lock), false);
  });
});
