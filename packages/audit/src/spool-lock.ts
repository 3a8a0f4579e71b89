// The spool's writer lock: one process appends to a spool file at a time. Two writers each
// continue the chain from the last event they read, so the chain forks and verification calls the
// spool damaged (redteam-35-4: two `perimeter mcp --audit FILE` started by two client windows that
// share one configuration). Node has no flock, so the lock is a file beside the spool
// (FILE.lock), created exclusively, naming the process that holds it. A lock whose process is gone
// (killed, crashed, the machine restarted) is taken over. It must never let two live processes
// hold one spool, and never keep a spool locked for a process on this machine that is gone (one on
// another machine, over a shared disk, cannot be looked at: the refusal names its lock file).

import { closeSync, openSync, readFileSync, realpathSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { SpoolError } from './spool-error.js';

/** An unreadable lock or a takeover guard this old was left by a process that died writing it. */
const STALE_MS = 5_000;
const WAIT_MS = 20;
/** Enough waits for a lock being written, or a takeover guard, to finish or go stale. */
const MAX_ATTEMPTS = Math.ceil(STALE_MS / WAIT_MS) + 50;

/** The process that holds a lock, as its lock file says. */
interface Owner {
  readonly pid: number;
  readonly host: string;
  /** The kernel's boot id: a lock from before a restart names no running process. */
  readonly boot?: string;
  /** When the process started (clock ticks since boot): a pid reused since is another process. */
  readonly start?: string;
}

/** The owner a lock file names, if it names one. (No zod here: the CLI starts without loading it.) */
function ownerIn(text: string): Owner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { pid, host, boot, start } = v as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || typeof host !== 'string')
    return undefined;
  if ((boot !== undefined && typeof boot !== 'string') || (start !== undefined && typeof start !== 'string'))
    return undefined;
  return { pid, host, ...(boot !== undefined ? { boot } : {}), ...(start !== undefined ? { start } : {}) };
}

/**
 * The locks this process holds, by lock path, with the text each was written with. One registry
 * per process, shared by every copy of this module (the CLI's MCP commands are a bundle of their
 * own, with their own copy): a second open in the same process is refused whichever copy made it.
 */
interface Registry {
  readonly locks: Map<string, string>;
  isReleasedOnExit: boolean;
}
const REGISTRY = Symbol.for('perimeter.audit.spool-locks');
const registry: Registry = ((globalThis as unknown as Record<symbol, Registry | undefined>)[REGISTRY] ??= {
  locks: new Map(),
  isReleasedOnExit: false,
});

export interface SpoolLock {
  /** Removes the lock file (only while it is still this process's). A second call is nothing. */
  release(): void;
}

/**
 * Takes the writer lock of the spool at `spool` for this process. Throws SpoolError, in one
 * sentence with a hint, when a live process holds it (this one included) or it cannot be made.
 */
export function lockSpool(spool: string): SpoolLock {
  const lock = `${realPath(spool)}.lock`;
  const me = thisProcess();
  if (registry.locks.has(lock))
    throw new SpoolError(
      `the audit spool ${spool} is already open in this process (pid ${me.pid})`,
      'close it before opening it again',
    );
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (create(lock, text, spool)) {
      registry.locks.set(lock, text);
      releaseOnExit();
      return { release: () => release(lock, text) };
    }
    const found = readLock(lock, spool);
    if (isStale(found, me)) takeOver(lock, spool, me);
    else if (found.kind === 'owner') throw heldBy(spool, lock, found.owner, me);
    else if (found.kind === 'unreadable') sleep(WAIT_MS); // its process is writing it this moment
  }
  throw new SpoolError(
    `the audit spool ${spool} could not be locked: its lock ${lock} kept changing`,
    `if no other Perimeter process writes this spool, remove ${lock}`,
  );
}

/**
 * The spool's path with symbolic links resolved, so that two names of one file share one lock.
 * A spool not made yet is named by its directory's real path.
 */
function realPath(spool: string): string {
  try {
    return realpathSync(spool);
  } catch {
    try {
      return join(realpathSync(dirname(spool)), basename(spool));
    } catch {
      return resolve(spool); // no directory: creating the lock says so
    }
  }
}

/** Makes the lock file with this process's name in it; false when it exists already. */
function create(lock: string, text: string, spool: string): boolean {
  let fd: number;
  try {
    // O_EXCL: of two openers only one creates it (and a symbolic link in its place is never followed).
    fd = openSync(lock, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw cannotLock(spool, lock, e);
  }
  try {
    writeSync(fd, text);
  } catch (e) {
    // A lock that does not say whose it is would hold the spool for nobody until it went stale.
    closeSync(fd);
    rmSync(lock, { force: true });
    throw cannotLock(spool, lock, e);
  }
  closeSync(fd);
  return true;
}

type Found =
  | { readonly kind: 'none' }
  | { readonly kind: 'owner'; readonly owner: Owner }
  /** Being written (made an instant ago), or left half written by a process that died. */
  | { readonly kind: 'unreadable'; readonly ageMs: number };

function readLock(lock: string, spool: string): Found {
  let text: string;
  let mtimeMs: number;
  try {
    text = readFileSync(lock, 'utf8');
    mtimeMs = statSync(lock).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' }; // released meanwhile
    throw cannotLock(spool, lock, e);
  }
  const owner = ownerIn(text);
  return owner ? { kind: 'owner', owner } : { kind: 'unreadable', ageMs: Date.now() - mtimeMs };
}

function isStale(found: Found, me: Owner): boolean {
  switch (found.kind) {
    case 'none':
      return false;
    case 'owner':
      return isGone(found.owner, me);
    case 'unreadable':
      return found.ageMs > STALE_MS;
  }
}

/** Whether the process a lock names has certainly stopped (else it may still be writing). */
function isGone(owner: Owner, me: Owner): boolean {
  // A process on another machine (a spool on a shared disk) cannot be looked at from here.
  if (owner.host !== me.host) return false;
  if (owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) return true;
  // This pid is this process, which does not hold the lock (lockSpool refused that before it
  // looked): an earlier process had the pid. Said here too where /proc gives no start times.
  if (owner.pid === me.pid) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    // EPERM: the process exists under another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return true;
  }
  const now = processStart(owner.pid);
  if (now === undefined) return false;
  // A zombie has exited (SIGKILL) and waits only for its parent to collect its status.
  if (now.state === 'Z' || now.state === 'X') return true;
  return owner.start !== undefined && now.start !== undefined && owner.start !== now.start;
}

/**
 * Removes a stale lock so the next attempt can create one. Under a guard file: two openers that
 * both found the same stale lock would otherwise both remove it, and the second would remove the
 * first one's new lock.
 */
function takeOver(lock: string, spool: string, me: Owner): void {
  const guard = `${lock}.takeover`;
  try {
    closeSync(openSync(guard, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotLock(spool, guard, e);
    // Another opener is taking it over; a guard left by one that died doing so goes once stale.
    if (ageMs(guard) > STALE_MS) rmSync(guard, { force: true });
    else sleep(WAIT_MS);
    return;
  }
  try {
    // Judged again under the guard: another opener may have taken it over since it was read.
    if (isStale(readLock(lock, spool), me)) rmSync(lock, { force: true });
  } finally {
    rmSync(guard, { force: true });
  }
}

/** Removes the lock when it is still the one this process wrote (never another's). */
function release(lock: string, text: string): void {
  if (registry.locks.get(lock) !== text) return;
  registry.locks.delete(lock);
  try {
    if (readFileSync(lock, 'utf8') === text) rmSync(lock, { force: true });
  } catch {
    // Gone already, or unreadable: a lock left behind is stale once this process has ended.
  }
}

/** A process that exits without closing its spool (an error, process.exit) leaves no lock behind. */
function releaseOnExit(): void {
  if (registry.isReleasedOnExit) return;
  registry.isReleasedOnExit = true;
  process.on('exit', () => {
    for (const [lock, text] of [...registry.locks]) release(lock, text);
  });
}

function heldBy(spool: string, lock: string, owner: Owner, me: Owner): SpoolError {
  if (owner.host !== me.host)
    return new SpoolError(
      `the audit spool ${spool} is being written by a Perimeter process on ${owner.host} (pid ${owner.pid})`,
      `give this one its own --audit FILE, or stop that one (if it has stopped already, remove ${lock})`,
    );
  return new SpoolError(
    `the audit spool ${spool} is being written by another Perimeter process (pid ${owner.pid})`,
    'give this one its own --audit FILE, or stop that one',
  );
}

function cannotLock(spool: string, lock: string, e: unknown): SpoolError {
  return new SpoolError(
    `cannot open the audit spool ${spool}: cannot create its lock ${lock} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    'check that its directory exists and is writable',
  );
}

/** This process as its locks name it. */
function thisProcess(): Owner {
  const start = processStart(process.pid)?.start;
  const boot = bootId();
  return {
    pid: process.pid,
    host: hostname(),
    ...(boot !== undefined ? { boot } : {}),
    ...(start !== undefined ? { start } : {}),
  };
}

/**
 * A process's state and start time from /proc/PID/stat (Linux; undefined elsewhere or when it is
 * gone). Fields 3 and 22 (proc(5)), counted after the command name, which may hold spaces and ")".
 */
function processStart(pid: number): { state: string; start: string | undefined } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', start: fields[19] };
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0; // gone: the next attempt finds out
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
