// A lock between processes: one holder at a time of something on disk (an audit spool, the pin
// store, the secret store, the device's shipping cursors, the sandbox's placeholder registry).
// Node has no flock, so the lock is a file
// created exclusively (O_EXCL), naming the process that holds it: pid, host, machine id, the
// kernel's boot id, the process's start time and its pid namespace. A lock whose process is
// certainly gone (dead, from before a restart, or a pid given again to a process started since) is
// taken over, under a guard so that of several takers exactly one wins; a live holder is never
// broken, however long it holds (age says nothing about whether a process is alive). Release
// removes only a lock file that is still the one this process wrote. It must never let two live
// processes hold one lock, and never keep a lock for a process that it can see is gone. One it
// cannot see is kept, and the caller's refusal names the lock file: a process on another machine
// (over a shared disk), or in another pid namespace (a `perimeter run` session's sandbox, a
// container), where its pid names another process or none. No zod here: the CLI starts without
// loading it.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** An unreadable lock or takeover guard this old was left by a process that died writing it. */
const STALE_MS = 5_000;
const WAIT_MS = 20;

/** The process that holds a lock, as its lock file says. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /**
   * The machine's id (/etc/machine-id): two machines that share a disk may share a host name too
   * (cloned virtual machines, a fleet's default), and then only this tells them apart.
   */
  readonly machine?: string;
  /** The kernel's boot id: a lock from before a restart names no running process. */
  readonly boot?: string;
  /** When the process started (clock ticks since boot): a pid reused since is another process. */
  readonly start?: string;
  /**
   * Its pid namespace (`pid:[INODE]`, /proc/self/ns/pid): `pid` names a process only there. A
   * session's sandbox has its own, where the first processes are pids 1 and 2.
   */
  readonly pidNamespace?: string;
}

/** A lock this process holds. */
export interface HeldLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file, only while it is still the one this process wrote. A second call is nothing. */
  release(): void;
}

/** Why a lock was not taken. */
export type LockRefusal =
  /** A live process holds it (still, after waiting as long as the caller allowed). */
  | {
      readonly kind: 'held';
      readonly file: string;
      readonly owner: LockOwner;
      /**
       * This process (its holder must release it first), another on this machine, one on this
       * machine in another pid namespace (a sandbox, a container: its pid means nothing here), or
       * one on another machine.
       */
      readonly holder: 'this-process' | 'this-machine' | 'another-pid-namespace' | 'another-machine';
    }
  /** The lock file (or its takeover guard, `file`) cannot be created or read: `code` says why. */
  | { readonly kind: 'unusable'; readonly file: string; readonly code: string }
  /** The lock file kept changing: taken over and taken again by others, attempt after attempt. */
  | { readonly kind: 'unsettled'; readonly file: string };

export type LockAttempt = { readonly kind: 'taken'; readonly lock: HeldLock } | LockRefusal;

/**
 * The live process holding a lock, as a refusal names it: `another Perimeter process (pid N)`, or
 * where one runs that this machine cannot look at (`isOutOfSight`: whether it still runs cannot be
 * told from here, so removing the lock is the fix once it has stopped).
 */
export function lockHolder(r: Extract<LockRefusal, { kind: 'held' }>): {
  readonly who: string;
  readonly isOutOfSight: boolean;
} {
  switch (r.holder) {
    case 'this-process':
      return { who: `this process (pid ${r.owner.pid})`, isOutOfSight: false };
    case 'this-machine':
      return { who: `another Perimeter process (pid ${r.owner.pid})`, isOutOfSight: false };
    case 'another-pid-namespace':
      return {
        who: `a Perimeter process in another pid namespace, a sandbox or a container (pid ${r.owner.pid} there)`,
        isOutOfSight: true,
      };
    case 'another-machine':
      return { who: `a Perimeter process on ${r.owner.host} (pid ${r.owner.pid})`, isOutOfSight: true };
  }
}

export interface LockOptions {
  /**
   * How long to wait for a live holder to release it; 0 (the default) refuses at once. A lock
   * being written, or one whose writer died writing it, is waited for whatever this says (it is
   * readable in an instant, or stale after a few seconds).
   */
  readonly waitMs?: number;
}

/**
 * The locks this process holds, by lock file, with the text each was written with. One registry
 * per process, shared by every copy of this module (the CLI's MCP commands are a bundle of their
 * own, with their own copy): a lock this process holds is never taken again in it, whichever copy
 * took it. (A worker thread has a registry of its own: to it, a lock naming this pid and start time
 * is held by another thread.)
 */
interface Registry {
  readonly locks: Map<string, string>;
  isReleasedOnExit: boolean;
}
const REGISTRY = Symbol.for('perimeter.audit.process-locks');
const registry: Registry = ((globalThis as unknown as Record<symbol, Registry | undefined>)[REGISTRY] ??= {
  locks: new Map(),
  isReleasedOnExit: false,
});

/**
 * Takes the lock file `file` for this process, waiting up to `waitMs` for a live holder. A lock
 * this process holds already is refused at once, whatever `waitMs` (a synchronous caller would wait
 * for itself forever). Never throws for the lock's sake: a refusal says why, for the caller's own
 * error. Its waits block the thread (for a short critical section); takeLockAsync waits on timers.
 */
export function takeLock(file: string, options: LockOptions = {}): LockAttempt {
  const steps = lockSteps(file, options, false);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return step.value;
    sleep(step.value);
  }
}

/**
 * takeLock, waiting on timers: the thread serves other work meanwhile, and a lock another part of
 * this process holds is waited for as another process's is (up to `waitMs`). Every wait is a timer,
 * the wait for a lock being written or taken over too (takeLock's blocked the thread up to 5 s on
 * an unreadable lock, whatever `waitMs` said).
 */
export function takeLockAsync(file: string, options: LockOptions = {}): Promise<LockAttempt> {
  return lockedAsync(file, options, (attempt) => attempt);
}

/**
 * withLock, the lock waited for on timers (takeLockAsync): `fn` runs in the same turn the lock is
 * taken, so nothing else of this process runs between (a synchronous withLock there was refused as
 * this process's own lock).
 */
export function withLockAsync<T>(
  file: string,
  options: LockOptions & { readonly refuse: (refusal: LockRefusal) => Error },
  fn: () => T,
): Promise<T> {
  return lockedAsync(file, options, (attempt) => holding(attempt, options.refuse, fn));
}

/** Drives lockSteps on timers; `then` is given what came of it at once, in the same turn. */
async function lockedAsync<T>(
  file: string,
  options: LockOptions,
  then: (attempt: LockAttempt) => T,
): Promise<T> {
  const steps = lockSteps(file, options, true);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done === true) return then(step.value);
    await new Promise((resolve) => setTimeout(resolve, step.value));
  }
}

/**
 * The taking of a lock, as the waits it needs (milliseconds to wait before the next look) and
 * then what came of it: one loop for takeLock, which sleeps, and takeLockAsync, which sets timers.
 * `waitsForThisProcess`: a lock this process holds is waited for (only an asynchronous caller can:
 * the holder must run meanwhile) rather than refused at once.
 */
function* lockSteps(
  file: string,
  options: LockOptions,
  waitsForThisProcess: boolean,
): Generator<number, LockAttempt, void> {
  const lock = realPath(file);
  const me = thisProcess();
  const waitMs = Math.max(0, options.waitMs ?? 0);
  const deadline = Date.now() + waitMs;
  const text = `${JSON.stringify({ ...me, token: randomBytes(8).toString('hex') })}\n`;
  // Enough waits for the holder to go, and for a lock being written or a takeover guard to finish
  // or go stale; each wait is at least WAIT_MS.
  const attempts = Math.ceil((waitMs + STALE_MS) / WAIT_MS) + 50;
  // Spread out, so that waiters do not all come back at the same instant.
  const spread = (): number => WAIT_MS + Math.floor(Math.random() * WAIT_MS);
  let live: LockOwner | undefined;
  try {
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (registry.locks.has(lock)) {
        if (!waitsForThisProcess || Date.now() >= deadline)
          return { kind: 'held', file: lock, owner: me, holder: 'this-process' };
        yield spread();
        continue;
      }
      if (create(lock, text)) {
        registry.locks.set(lock, text);
        releaseOnExit();
        return { kind: 'taken', lock: { file: lock, release: () => release(lock, text) } };
      }
      const found = readLock(lock, me);
      live = undefined;
      if (found.kind === 'none') continue; // released meanwhile: create it now
      if (isStale(found, me)) {
        const wait = takeOver(lock, text, me);
        if (wait > 0) yield wait;
        continue;
      }
      if (found.kind === 'owner') {
        live = found.owner;
        if (Date.now() >= deadline) return held(lock, live, me);
      }
      yield spread();
    }
  } catch (e) {
    if (e instanceof Unusable) return { kind: 'unusable', file: e.file, code: e.code };
    throw e;
  }
  return live !== undefined ? held(lock, live, me) : { kind: 'unsettled', file: lock };
}

/**
 * Runs `fn` holding the lock file `file` (a short critical section: read, change, replace), and
 * releases it after, whatever `fn` does. Waits up to `waitMs` for a live holder; throws what
 * `refuse` makes of a refusal (the caller's own error, in its words).
 */
export function withLock<T>(
  file: string,
  options: LockOptions & { readonly refuse: (refusal: LockRefusal) => Error },
  fn: () => T,
): T {
  return holding(takeLock(file, options), options.refuse, fn);
}

/** Runs `fn` holding the lock `attempt` took, releasing it after; throws `refuse`'s error if none was. */
function holding<T>(attempt: LockAttempt, refuse: (refusal: LockRefusal) => Error, fn: () => T): T {
  if (attempt.kind !== 'taken') throw refuse(attempt);
  try {
    return fn();
  } finally {
    attempt.lock.release();
  }
}

function held(lock: string, owner: LockOwner, me: LockOwner): LockRefusal {
  const holder = !isSameMachine(owner, me)
    ? 'another-machine'
    : !isSamePidNamespace(owner, me)
      ? 'another-pid-namespace'
      : owner.pid === me.pid
        ? 'this-process'
        : 'this-machine';
  return { kind: 'held', file: lock, owner, holder };
}

/** One kernel runs both: the boot id says so where both have one (a sandbox has a host name of its own). */
function isSameMachine(owner: LockOwner, me: LockOwner): boolean {
  if (isOtherMachineId(owner, me)) return false;
  return owner.boot !== undefined && me.boot !== undefined ? owner.boot === me.boot : owner.host === me.host;
}

/**
 * Whether the owner's pid names a process here. A lock that does not say (a bare pid, an earlier
 * Perimeter's) is taken to; one that says while this process cannot tell its own is not.
 */
function isSamePidNamespace(owner: LockOwner, me: LockOwner): boolean {
  return owner.pidNamespace === undefined || owner.pidNamespace === me.pidNamespace;
}

/** A lock file or guard that cannot be made or read, on its way to a refusal. */
class Unusable extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
  ) {
    super(`${file}: ${code}`);
  }
}

function unusable(file: string, e: unknown): Unusable {
  return new Unusable(file, (e as NodeJS.ErrnoException).code ?? String(e));
}

/**
 * The lock's path with its directory's symbolic links resolved, so that two names of one lock are
 * one entry of the registry. A directory that does not exist leaves it as it is: creating it says so.
 */
function realPath(file: string): string {
  try {
    return join(realpathSync(dirname(file)), basename(file));
  } catch {
    return resolve(file);
  }
}

/** Makes the lock file with this process's name in it; false when it exists already. */
function create(lock: string, text: string): boolean {
  let fd: number;
  try {
    // O_EXCL: of two openers only one creates it (and a symbolic link in its place is never followed).
    fd = openSync(lock, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw unusable(lock, e);
  }
  try {
    writeSync(fd, text);
  } catch (e) {
    // A lock that does not say whose it is would hold for nobody until it went stale.
    closeSync(fd);
    rmSync(lock, { force: true });
    throw unusable(lock, e);
  }
  closeSync(fd);
  return true;
}

/** A lock file as read: `text` is what it held, for removing that one only. */
type Found =
  | { readonly kind: 'none' }
  | { readonly kind: 'owner'; readonly owner: LockOwner; readonly text: string }
  /** Being written (made an instant ago), or left half written by a process that died. */
  | { readonly kind: 'unreadable'; readonly ageMs: number; readonly text: string };

function readLock(lock: string, me: LockOwner): Found {
  let text: string;
  let mtimeMs: number;
  try {
    ({ text, mtimeMs } = readRegular(lock));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' }; // released meanwhile
    throw unusable(lock, e);
  }
  const owner = ownerIn(text, me);
  return owner ? { kind: 'owner', owner, text } : { kind: 'unreadable', ageMs: Date.now() - mtimeMs, text };
}

/** More than a lock file ever holds: what is past it is not read (such a file names nobody). */
const MAX_LOCK_BYTES = 64 * 1024;

/**
 * The text of the regular file at `path` and when it last changed, read without blocking or
 * following a link: a FIFO or a device put at a lock's name (in a directory others may write,
 * between one look and the next) hung every taker that opened it to read. Neither a FIFO nor a
 * link is any Perimeter's lock (one is made with O_EXCL, which follows no link): unusable.
 */
function readRegular(path: string): { readonly text: string; readonly mtimeMs: number } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile())
      throw Object.assign(new Error(`${path} is not a regular file`), { code: 'not a regular file' });
    const bytes = Buffer.alloc(Math.min(stat.size, MAX_LOCK_BYTES));
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    return { text: bytes.toString('utf8', 0, read), mtimeMs: stat.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/** The owner a lock file names, if it names one. */
function ownerIn(text: string, me: LockOwner): LockOwner | undefined {
  // An earlier Perimeter wrote the secret store's and the shipper's locks as a bare pid: a process
  // on this machine, which only the pid tells about (no start time: a reused pid looks alive).
  if (/^[1-9]\d{0,9}\n?$/.test(text)) return { pid: Number(text.trim()), host: me.host };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { pid, host, machine, boot, start, pidNamespace } = v as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || typeof host !== 'string')
    return undefined;
  if (![machine, boot, start, pidNamespace].every((f) => f === undefined || typeof f === 'string'))
    return undefined;
  return {
    pid,
    host,
    ...(typeof machine === 'string' ? { machine } : {}),
    ...(typeof boot === 'string' ? { boot } : {}),
    ...(typeof start === 'string' ? { start } : {}),
    ...(typeof pidNamespace === 'string' ? { pidNamespace } : {}),
  };
}

function isStale(found: Found, me: LockOwner): boolean {
  switch (found.kind) {
    case 'none':
      return false;
    case 'owner':
      return isGone(found.owner, me);
    case 'unreadable':
      return found.ageMs > STALE_MS;
  }
}

/** Whether the process a lock names has certainly stopped (else it may still be working). */
function isGone(owner: LockOwner, me: LockOwner): boolean {
  // A process on another machine (a lock on a shared disk) cannot be looked at from here.
  if (!isThisMachine(owner, me)) return false;
  if (owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) return true;
  // Its pid names another process here, or none: whether it lives cannot be told from here.
  if (!isSamePidNamespace(owner, me)) return false;
  // This pid is this process, whose registry does not hold the lock (takeLock looked first): an
  // earlier process had the pid, unless the start time says it is this one (another thread).
  if (owner.pid === me.pid) return owner.start === undefined || owner.start !== me.start;
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
 * Removes a stale lock so the next attempt can create one. Under a guard file, itself a
 * lock naming its taker (`text`): two takers that both found the same stale lock would otherwise
 * both remove it, and the second would remove the first one's new lock. A guard is judged as a
 * lock is: one whose taker is gone (killed while at it) is removed at once, one whose taker lives
 * is waited for however old (it may have been stopped a while between its look and its removal).
 * Returns how long to wait before looking again: WAIT_MS while another live taker is at it, else 0.
 */
function takeOver(lock: string, text: string, me: LockOwner): number {
  const guard = `${lock}.takeover`;
  if (!create(guard, text)) {
    const other = readLock(guard, me);
    if (other.kind === 'none') return 0; // that taker is done
    if (!isStale(other, me)) return WAIT_MS;
    removeIfStill(guard, other.text);
    return 0;
  }
  try {
    // Judged again under the guard: another taker may have taken it over since it was read.
    const found = readLock(lock, me);
    if (found.kind !== 'none' && isStale(found, me)) removeIfStill(lock, found.text);
  } finally {
    removeIfStill(guard, text);
  }
  return 0;
}

/** Removes the lock when it is still the one this process wrote (never another's). */
function release(lock: string, text: string): void {
  if (registry.locks.get(lock) !== text) return;
  registry.locks.delete(lock);
  removeIfStill(lock, text);
}

/** Removes the file at `path` when it still holds `text`, the version judged (never another's). */
function removeIfStill(path: string, text: string): void {
  try {
    if (readRegular(path).text === text) rmSync(path, { force: true });
  } catch {
    // Gone already, or unreadable: one left behind is stale once its process has ended.
  }
}

/** A process that exits holding a lock (an error, process.exit) leaves no lock behind. */
function releaseOnExit(): void {
  if (registry.isReleasedOnExit) return;
  registry.isReleasedOnExit = true;
  process.on('exit', () => {
    for (const [lock, text] of [...registry.locks]) release(lock, text);
  });
}

let thisOne: LockOwner | undefined;

/** This process as its locks name it. */
function thisProcess(): LockOwner {
  if (thisOne !== undefined) return thisOne;
  const start = processStart(process.pid)?.start;
  const machine = machineId();
  const boot = bootId();
  const pidNamespace = ownPidNamespace();
  thisOne = {
    pid: process.pid,
    host: hostname(),
    ...(machine !== undefined ? { machine } : {}),
    ...(boot !== undefined ? { boot } : {}),
    ...(start !== undefined ? { start } : {}),
    ...(pidNamespace !== undefined ? { pidNamespace } : {}),
  };
  return thisOne;
}

/**
 * The fields of /proc/PID/stat after the command name, which may hold spaces and ")": proc(5)'s
 * field 3 (the state) first, 5 (the process group) third, 22 (the start time) twentieth. Undefined
 * elsewhere than Linux, or when the process is gone.
 */
export function procStat(pid: number | string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process's state and start time from /proc/PID/stat (undefined where procStat() is). */
function processStart(pid: number): { state: string; start: string | undefined } | undefined {
  const fields = procStat(pid);
  return fields && { state: fields[0] ?? '', start: fields[19] };
}

/**
 * Whether the owner ran on this machine, in this boot or another: by the machine id where both
 * have one (a session's sandbox has a host name of its own), else by the host name.
 */
function isThisMachine(owner: LockOwner, me: LockOwner): boolean {
  return owner.machine !== undefined && me.machine !== undefined
    ? owner.machine === me.machine
    : owner.host === me.host;
}

/** Whether both name their machine's id and the ids differ. */
function isOtherMachineId(owner: LockOwner, me: LockOwner): boolean {
  return owner.machine !== undefined && me.machine !== undefined && owner.machine !== me.machine;
}

function machineId(): string | undefined {
  try {
    return readFileSync('/etc/machine-id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** This process's pid namespace, `pid:[INODE]` (Linux; undefined elsewhere). */
function ownPidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
