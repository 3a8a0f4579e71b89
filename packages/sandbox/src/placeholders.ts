// The empty directories sessions make on the host as mount points (placeholders): the masks of
// missing trust-handoff paths (`.git`, `.claude`, `.mcp.json`, … in a workspace or an MCP server's
// home) and the mount points of private directories. Each session records those it relies on in a
// ledger, as the inode each is (device, inode, change time), with the session directory it belongs
// to, and holds a process lock (its owner lock) while it lives. A session that dies without
// cleaning up (SIGKILL, an out-of-memory abort) leaves its placeholders behind: the next start
// removes them, before it plans, where before a leftover `.git` was read as a repository,
// `.git/config` was made a directory, and every session after was refused (redteam-36-5). Until
// then a live session's placeholders are not taken for real files by other sessions, which mount
// on them too.
//
// The ledgers, their owner locks and the lock over them all are in one registry per user, in
// Perimeter's state directory (<state dir>/placeholders, 0700): on disk, as the placeholders are,
// and the same whatever the environment. In the runtime directory, where the session directory
// is, a reboot or a logout lost them (the leftovers then stayed for good), and a `perimeter mcp`
// started by a client that passes no XDG_RUNTIME_DIR kept a registry of its own, blind to the
// terminal's sessions. An owner lock from before a reboot names no live process (its boot id).
// The ledgers an older Perimeter kept in its session directories (`perimeter-XXXXXX` in a runtime
// or temporary directory) are still read, under that directory's lock. While another Perimeter
// process holds these locks (a start planning a large workspace: seconds), a start or an end that
// can wait on timers does (withPlaceholdersAsync: prepareSession, cleanupSessionAsync), so a
// gateway goes on serving meanwhile; only a caller that cannot (an exit handler) blocks.
//
// It must never remove what a session did not make: only an empty directory that is still the
// inode a ledger recorded, and only once no live session relies on it (rmdir on the host detaches
// every mount on that directory in the other mount namespaces: a live sandbox would lose the mask);
// and a session directory only while it is still the one the ledger names, private and this user's.

import {
  replaceFile,
  stateDir,
  takeLock,
  takeLockAsync,
  type HeldLock,
  type LockAttempt,
  type LockRefusal,
} from '@perimeter/audit';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  rmdirSync,
  type Stats,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { HostView } from './mount-plan.js';

/** A directory a session made on the host, as it was once made. */
interface Placeholder {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
  /** Change time in nanoseconds: any entry made in it, or a chmod, changes it. */
  readonly ctime: string;
}

/** The session directory a ledger belongs to, as it was made. */
interface SessionDir {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
}

/** Where the ledgers are. */
export interface LedgerPlaces {
  /** This user's registry: every ledger, its owner lock, and the lock over them all. */
  readonly registry: string;
  /** Directories whose `perimeter-XXXXXX` session directories may hold an older Perimeter's ledger. */
  readonly legacy: readonly string[];
}

/** Names in the registry: the lock over it, `session-ID.json` a ledger, `session-ID.lock` its owner lock. */
const REGISTRY_LOCK = 'registry.lock';
const REGISTRY_ENTRY = /^(session-[0-9a-f]{12})\.(?:json|lock)$/;
/** An older Perimeter's ledger and owner lock, in its session directory. */
const LEGACY_LEDGER = 'placeholders.json';
const LEGACY_OWNER_LOCK = 'session.lock';
/** Session directories are `<runtime dir>/perimeter-XXXXXX` (prepareSession's mkdtemp). */
const SESSION_DIR_NAME = /^perimeter-[A-Za-z0-9]{6}$/;
/** Longest wait for another start or end to finish with the ledgers (one plan of a large workspace). */
const REGISTRY_WAIT_MS = 30_000;

/**
 * The ledgers' places for a session whose environment is `env` and whose session directory is
 * made in `sessionsDir`: the registry in Perimeter's state directory, and where older Perimeters
 * kept their ledgers (that directory, the runtime directory with or without XDG_RUNTIME_DIR, the
 * temporary directory).
 */
export function ledgerPlaces(
  env: Readonly<Record<string, string | undefined>>,
  sessionsDir: string,
): LedgerPlaces {
  const uid = process.getuid?.();
  const runtime = uid !== undefined ? `/run/user/${uid}` : undefined;
  const legacy = [sessionsDir, env.XDG_RUNTIME_DIR, runtime, tmpdir()];
  return {
    registry: join(stateDir(env), 'placeholders'),
    legacy: legacy.filter((d): d is string => d !== undefined && d.startsWith('/')),
  };
}

/** A ledger could not be kept, so the session is refused: one sentence, and how to fix it. */
export class PlaceholderError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** One session's placeholders, recorded in the registry (whose owner lock it holds). */
export class PlaceholderLedger {
  private readonly held: Placeholder[] = [];

  private constructor(
    readonly places: LedgerPlaces,
    /** The ledger's file, which names it among the ledgers. */
    readonly file: string,
    private readonly session: SessionDir,
    private readonly lock: HeldLock,
  ) {}

  /**
   * Starts the ledger of the session directory `sessionDir` (just made) in the registry: its owner
   * lock, taken for good, and the ledger naming the directory (so a start after this session died
   * removes it too). Throws PlaceholderError when the registry cannot be used.
   */
  static open(places: LedgerPlaces, sessionDir: string): PlaceholderLedger {
    makeRegistry(places.registry);
    const made = lstatSync(sessionDir, { bigint: true });
    const session = { path: sessionDir, dev: made.dev.toString(), ino: made.ino.toString() };
    const name = join(places.registry, `session-${randomBytes(6).toString('hex')}`);
    const taken = takeLock(`${name}.lock`);
    if (taken.kind !== 'taken') throw lockRefused(taken);
    const ledger = new PlaceholderLedger(places, `${name}.json`, session, taken.lock);
    try {
      // Not durable: it names only the session directory, which a power cut empties with the
      // runtime directory (one in a temporary directory on a disk stays: private, and harmless);
      // the start writes it again durably once it has made placeholders (claim).
      ledger.save({ isDurable: false });
    } catch (e) {
      taken.lock.release();
      throw e;
    }
    return ledger;
  }

  get paths(): readonly string[] {
    return this.held.map((p) => p.path);
  }

  /**
   * Ends the ledger, once its session directory is gone: removed when nothing is recorded in it
   * any more (else kept, for the next start to remove what it names), and its owner lock dropped.
   */
  close(): void {
    try {
      if (this.held.length === 0) rmSync(this.file, { force: true });
    } catch {
      // left to the next start, which finds its owner lock released
    }
    this.lock.release();
  }

  record(placeholder: Placeholder): void {
    this.held.push(placeholder);
  }

  forgetAll(): void {
    this.held.length = 0;
  }

  entries(): readonly Placeholder[] {
    return this.held;
  }

  /**
   * Written whole and renamed into place: a reader, or a start after this process was killed, sees
   * all of it. `isDurable` (fsync of the file and the registry: tens of µs on an idle disk, several
   * ms on a busy one) where a power cut would otherwise lose it: the callers say why.
   */
  save({ isDurable }: { readonly isDurable: boolean }): void {
    const text = `${JSON.stringify({ session: this.session, placeholders: this.held })}\n`;
    try {
      replaceFile(this.file, text, { isDurable });
    } catch (e) {
      throw new PlaceholderError(
        `cannot write the ledger ${this.file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        `check that ${dirname(this.file)} is writable and its disk has room`,
      );
    }
  }
}

/**
 * Makes the registry (and Perimeter's state directory, 0700, when missing) and checks it is a
 * directory of this user's that no one else can read or write: a ledger names what a start
 * removes, so another user's (or a symbolic link to one) would be a list of directories for this
 * user to remove. Throws PlaceholderError otherwise.
 */
function makeRegistry(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // Something at its name is judged below.
    if (lstatOf(dir) === undefined)
      throw new PlaceholderError(
        `cannot make the sessions' registry ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        `make ${dirname(dir)} a directory you can write, or set XDG_STATE_HOME to one`,
      );
  }
  const s = lstatOf(dir);
  const uid = process.getuid?.();
  const refuse = (what: string, fix: string): PlaceholderError =>
    new PlaceholderError(`the sessions' registry ${dir} ${what}`, fix);
  if (s === undefined) throw refuse('went while it was being made', 'try again');
  if (s.isSymbolicLink())
    throw refuse('is a symbolic link', 'remove the link (Perimeter makes the directory itself)');
  if (!s.isDirectory())
    throw refuse('is not a directory', `remove ${dir} (Perimeter makes the directory itself)`);
  if (uid !== undefined && s.uid !== uid)
    throw refuse(
      `belongs to another user (uid ${s.uid})`,
      `remove it, or set XDG_STATE_HOME to a directory of yours`,
    );
  if ((s.mode & 0o077) !== 0)
    throw refuse(
      `is open to other users (mode ${(s.mode & 0o777).toString(8).padStart(4, '0')})`,
      `make it private: chmod 700 ${dir}`,
    );
}

/** The ledgers of the registry (and of older Perimeters' session directories), read under their locks. */
export interface PlaceholderRegistry {
  /**
   * The host as `ledger`'s session plans it: other live sessions' placeholders (still as made) are
   * not there, unless this session relies on them too; they are mount points, never real files.
   */
  viewFor(view: HostView, ledger: PlaceholderLedger): HostView;
  /**
   * Makes each directory of `paths` that is missing, recorded in `ledger` (saved before this
   * returns), and takes on another live session's placeholder found at one of them. Anything else
   * there is the host's own: not recorded, never removed.
   */
  claim(ledger: PlaceholderLedger, paths: readonly string[], mode: number): void;
  /** Removes `ledger`'s placeholders that no other live session relies on (its ledger says none). */
  release(ledger: PlaceholderLedger): void;
}

/**
 * Runs `fn` holding the registry's lock, after the leftovers of every session that has certainly
 * ended (its owner lock is held by no process) are removed with its session directory and its
 * ledger. Throws PlaceholderError when the registry cannot be used or its lock taken.
 *
 * Waits for the lock blocking this process's event loop (up to 30 s, while another Perimeter
 * process starts in a large workspace): only for a caller that cannot wait otherwise (an exit
 * handler, a synchronous API). Any other waits with withPlaceholdersAsync.
 */
export function withPlaceholders<T>(places: LedgerPlaces, fn: (registry: PlaceholderRegistry) => T): T {
  const locks: HeldLock[] = [];
  try {
    const taking = lockedRecords(places, locks, REGISTRY_WAIT_MS);
    let step = taking.next();
    while (step.done !== true) step = taking.next(takeLock(step.value, { waitMs: REGISTRY_WAIT_MS }));
    return fn(registryOf(reclaimEnded(step.value)));
  } finally {
    for (const lock of locks.reverse()) lock.release();
  }
}

/**
 * withPlaceholders, its locks waited for on timers (takeLockAsync: tried again every 20–40 ms, up
 * to `waitMs`, 30 s by default; another session of this process holding one is waited for too),
 * so this process goes on meanwhile: a `perimeter mcp` serving other sessions, a `perimeter run`
 * its agent's proxies. The registry's lock is held across the waits for the older directories'
 * locks; `fn` runs in one turn once every lock is taken. At the deadline, the same refusal as
 * withPlaceholders's.
 */
export async function withPlaceholdersAsync<T>(
  places: LedgerPlaces,
  fn: (registry: PlaceholderRegistry) => T,
  waitMs = REGISTRY_WAIT_MS,
): Promise<T> {
  const locks: HeldLock[] = [];
  try {
    const taking = lockedRecords(places, locks, waitMs);
    let step = taking.next();
    while (step.done !== true) step = taking.next(await takeLockAsync(step.value, { waitMs }));
    return fn(registryOf(reclaimEnded(step.value)));
  } finally {
    for (const lock of locks.reverse()) lock.release();
  }
}

/**
 * The locks over the ledgers, in the order they are taken, and the records read under them: each
 * lock file is yielded for the caller to take (each waiting its own way: withPlaceholders blocking,
 * withPlaceholdersAsync on timers) and handed back as its attempt; a lock taken goes on `locks`,
 * for the caller to release, and one refused throws PlaceholderError.
 */
function* lockedRecords(
  places: LedgerPlaces,
  locks: HeldLock[],
  waitMs: number,
): Generator<string, SessionRecord[], LockAttempt> {
  const taken = (attempt: LockAttempt): HeldLock => {
    if (attempt.kind !== 'taken') throw lockRefused(attempt, waitMs);
    return attempt.lock;
  };
  makeRegistry(places.registry);
  locks.push(taken(yield join(places.registry, REGISTRY_LOCK)));
  const records = registryRecords(places.registry);
  for (const base of legacyBases(places.legacy)) {
    // An older Perimeter's sessions there: read, and changed, under that directory's lock, which
    // is held to the end as this one is (one of them may be starting meanwhile).
    if (legacyRecords(base).length === 0) continue;
    const lock = legacyLock(base);
    if (lock === undefined) continue;
    locks.push(taken(yield lock));
    records.push(...legacyRecords(base));
  }
  return records;
}

/** Live sessions' ledgers, by ledger file. */
type LiveLedgers = Map<string, readonly Placeholder[]>;

function registryOf(live: LiveLedgers): PlaceholderRegistry {
  // What is at each path of the live ledgers, looked at once: sessions in one workspace record
  // the same placeholders (a gateway's ten servers: hundreds of records of a few dozen paths).
  const found = new Map<string, Placeholder | undefined>();
  const isStillAsMade = (p: Placeholder): boolean => {
    if (!found.has(p.path)) found.set(p.path, placeholderAt(p.path));
    const now = found.get(p.path);
    return now !== undefined && isSame(now, p);
  };
  /** Placeholders of live sessions other than `ledger`'s, still as made, by path. */
  const othersOf = (ledger: PlaceholderLedger): Map<string, Placeholder> => {
    const out = new Map<string, Placeholder>();
    for (const [file, entries] of live)
      if (file !== ledger.file) for (const p of entries) if (isStillAsMade(p)) out.set(p.path, p);
    return out;
  };
  return {
    viewFor(view, ledger) {
      const hidden = new Set(othersOf(ledger).keys());
      for (const path of ledger.paths) hidden.delete(path);
      return hidden.size === 0 ? view : withoutPaths(view, hidden);
    },
    claim(ledger, paths, mode) {
      const before = ledger.entries().length;
      const others = othersOf(ledger);
      const made: string[] = [];
      for (const path of paths) {
        try {
          mkdirSync(path, { mode });
          made.push(path);
        } catch (e) {
          // Another live session's placeholder: relied on here too. Anything else is the host's.
          const other = others.get(path);
          if ((e as NodeJS.ErrnoException).code === 'EEXIST' && other !== undefined) ledger.record(other);
        }
      }
      // Recorded once all are made: one made inside another (nested private directories) changes
      // the other's change time.
      for (const path of made) {
        const placeholder = placeholderAt(path);
        if (placeholder) ledger.record(placeholder);
      }
      // Only when something was recorded, and durably: after a power cut, a placeholder made in a
      // workspace on another filesystem than the registry's (each commits its journal on its own)
      // whose record was lost would stay for good, and break every session there after
      // (redteam-36-5). On one filesystem the journal keeps them in order; this fsync commits both.
      if (ledger.entries().length > before) ledger.save({ isDurable: true });
      live.set(ledger.file, [...ledger.entries()]);
    },
    release(ledger) {
      removeAllAsMade(ledger.entries().filter((p) => !isReliedOn(live, p, ledger.file)));
      ledger.forgetAll();
      // Not durable: close removes it next (not durably either), and after a power cut either
      // version is right: a start removes only what is still as made (the rmdirs lost with it
      // included). An fsync here would keep this empty ledger past lost rmdirs on another disk.
      ledger.save({ isDurable: false });
      live.delete(ledger.file);
    },
  };
}

/**
 * A session's record as found: its owner lock and its ledger; `legacyDir` is the session
 * directory that holds both, an older Perimeter's.
 */
interface SessionRecord {
  readonly lock: string;
  readonly ledger: string;
  readonly legacyDir?: string;
}

/** The sessions of the registry, by the names of their ledgers and owner locks. */
function registryRecords(registry: string): SessionRecord[] {
  const ids = new Set<string>();
  for (const name of readdirSync(registry)) {
    const id = REGISTRY_ENTRY.exec(name)?.[1];
    if (id !== undefined) ids.add(id);
  }
  return [...ids].map((id) => ({ lock: join(registry, `${id}.lock`), ledger: join(registry, `${id}.json`) }));
}

/** The runtime and temporary directories older Perimeters kept ledgers in, each once (real paths). */
function legacyBases(dirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const dir of dirs) {
    try {
      out.add(realpathSync(dir));
    } catch {
      // not there: nothing was kept in it
    }
  }
  return [...out];
}

/** The session directories of an older Perimeter in `base` that hold its ledger or owner lock. */
function legacyRecords(base: string): SessionRecord[] {
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => SESSION_DIR_NAME.test(n));
  } catch {
    return [];
  }
  const out: SessionRecord[] = [];
  for (const name of names) {
    const dir = join(base, name);
    // Only this user's private session directories (a shared /tmp holds others'). This
    // Perimeter's session directories hold neither file: their records are in the registry.
    if (!isOwnPrivateDir(dir)) continue;
    const record = { lock: join(dir, LEGACY_OWNER_LOCK), ledger: join(dir, LEGACY_LEDGER), legacyDir: dir };
    if (exists(record.lock) || exists(record.ledger)) out.push(record);
  }
  return out;
}

/**
 * The lock older Perimeters took over the ledgers in `base`, to take; undefined when something that
 * is not this user's lock file is at its name. That name is known to all: in a directory others
 * can write (/tmp), another user may have put something there first, which the lock would wait
 * for (a FIFO: forever). Those older ledgers are then left where they are, unread.
 */
function legacyLock(base: string): string | undefined {
  const file = join(base, `perimeter-${process.getuid?.() ?? 'user'}-placeholders.lock`);
  return isOwnFileOrNone(file) ? file : undefined;
}

/**
 * Removes the leftovers of every session of `records` that has ended (its owner lock taken: its
 * process is certainly gone), its session directory and its ledger; returns the live sessions'
 * ledgers.
 */
function reclaimEnded(records: readonly SessionRecord[]): LiveLedgers {
  const live: LiveLedgers = new Map();
  const ended: { record: SessionRecord; ledger: Ledger; lock: HeldLock }[] = [];
  for (const record of records) {
    // A session's lock is taken before its ledger is written and dropped only after it is removed,
    // or by its process's exit: neither is a session still being made (or not one), or one gone.
    if (!exists(record.lock) && !exists(record.ledger)) continue;
    const owner = takeLock(record.lock);
    // Read after the lock: the ledger of an ending session may have gone meanwhile.
    const ledger = readLedger(record.ledger) ?? (exists(record.ledger) ? undefined : { placeholders: [] });
    if (ledger === undefined) {
      // Not a ledger this code wrote: nothing in it is removed, nor is it.
      if (owner.kind === 'taken') owner.lock.release();
      continue;
    }
    if (owner.kind === 'taken') ended.push({ record, ledger, lock: owner.lock });
    // Held by a live process, or one that cannot be looked at (another machine, pid namespace).
    else live.set(record.ledger, ledger.placeholders);
  }
  for (const { record, ledger, lock } of ended) {
    removeAllAsMade(ledger.placeholders.filter((p) => !isReliedOn(live, p)));
    if (record.legacyDir !== undefined) removeSessionDir(record.legacyDir);
    else {
      if (ledger.session !== undefined && isSessionDirAsMade(ledger.session))
        removeSessionDir(ledger.session.path);
      rmSync(record.ledger, { force: true });
    }
    lock.release();
  }
  return live;
}

/**
 * Still the session directory a ledger names: the same inode (a directory made since at that
 * name is another session's), a `perimeter-XXXXXX`, private and this user's.
 */
function isSessionDirAsMade(dir: SessionDir): boolean {
  if (!SESSION_DIR_NAME.test(basename(dir.path)) || !isOwnPrivateDir(dir.path)) return false;
  const now = placeholderAt(dir.path);
  return now !== undefined && now.dev === dir.dev && now.ino === dir.ino;
}

/** Whether a live session (other than the one of ledger `except`) records `p` as it is: it mounts on it. */
function isReliedOn(live: LiveLedgers, p: Placeholder, except?: string): boolean {
  for (const [file, entries] of live) if (file !== except && entries.some((e) => isSame(e, p))) return true;
  return false;
}

/** Why a lock of these sessions was not taken (after waiting up to `waitMs`), in one sentence, and what to do. */
function lockRefused(refusal: LockRefusal, waitMs = 0): PlaceholderError {
  const { file } = refusal;
  switch (refusal.kind) {
    case 'held': {
      const since = waitMs > 0 ? `has held ${file} for over ${waitMs / 1000} s` : `holds ${file}`;
      // Another session of this process, in the midst of its start or end (a synchronous wait
      // would wait for itself: takeLock refuses at once).
      if (refusal.holder === 'this-process')
        return new PlaceholderError(
          `another session of this process (pid ${refusal.owner.pid}) holds ${file}`,
          'try again once that session has started or ended',
        );
      // A process this machine cannot look at: whether it still runs cannot be told from here.
      if (refusal.holder === 'another-machine' || refusal.holder === 'another-pid-namespace')
        return new PlaceholderError(
          `a Perimeter session on ${refusal.holder === 'another-machine' ? 'another machine' : 'this machine in another pid namespace (a container)'} ${since}`,
          `if no session is starting there, remove ${file}`,
        );
      return new PlaceholderError(
        `another Perimeter session (pid ${refusal.owner.pid}) ${since}`,
        'wait for that session to finish starting, then try again',
      );
    }
    case 'unusable':
      return new PlaceholderError(
        `cannot take the lock ${file} (${refusal.code})`,
        `check that ${dirname(file)} is a writable directory of yours`,
      );
    case 'unsettled':
      return new PlaceholderError(
        `the lock ${file} kept changing hands`,
        'try again once the other Perimeter sessions have started',
      );
  }
}

/** Nothing at `path`, or a regular file of this user's. */
function isOwnFileOrNone(path: string): boolean {
  try {
    const s = lstatSync(path);
    return s.isFile() && s.uid === process.getuid?.();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function lstatOf(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isOwnPrivateDir(path: string): boolean {
  try {
    const s = lstatSync(path);
    return s.isDirectory() && s.uid === process.getuid?.() && (s.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** What a ledger says: the placeholders, and the session directory (an older Perimeter's: its own). */
interface Ledger {
  readonly placeholders: readonly Placeholder[];
  readonly session?: SessionDir;
}

/** A ledger as written; undefined when there is none, or it is not one (never guessed at). */
function readLedger(file: string): Ledger | undefined {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const { placeholders: list, session } = (v ?? {}) as { placeholders?: unknown; session?: unknown };
  if (!Array.isArray(list)) return undefined;
  const isNumber = (f: unknown): f is string => typeof f === 'string' && /^\d+$/.test(f);
  const isPath = (f: unknown): f is string => typeof f === 'string' && f.startsWith('/');
  const placeholders: Placeholder[] = [];
  for (const item of list as unknown[]) {
    const { path, dev, ino, ctime } = (item ?? {}) as Record<string, unknown>;
    if (!isPath(path) || !isNumber(dev) || !isNumber(ino) || !isNumber(ctime)) return undefined;
    placeholders.push({ path, dev, ino, ctime });
  }
  if (session === undefined) return { placeholders };
  const { path, dev, ino } = (session ?? {}) as Record<string, unknown>;
  if (!isPath(path) || !isNumber(dev) || !isNumber(ino)) return undefined;
  return { placeholders, session: { path, dev, ino } };
}

/** The directory at `path` as a placeholder record; undefined when it is not a directory. */
function placeholderAt(path: string): Placeholder | undefined {
  try {
    const s = lstatSync(path, { bigint: true });
    if (!s.isDirectory()) return undefined;
    return { path, dev: s.dev.toString(), ino: s.ino.toString(), ctime: s.ctimeNs.toString() };
  } catch {
    return undefined;
  }
}

function isSame(a: Placeholder, b: Placeholder): boolean {
  return a.path === b.path && a.dev === b.dev && a.ino === b.ino && a.ctime === b.ctime;
}

/** Still the directory that was made, untouched since: nothing made in it, not replaced. */
function isAsMade(p: Placeholder): boolean {
  const now = placeholderAt(p.path);
  return now !== undefined && isSame(now, p);
}

/**
 * Removes the placeholders that are still as made (rmdir: only ever an empty directory), deepest
 * first. Removing one changes its parent's change time: a parent that was as made before its
 * placeholders inside went is judged by its inode alone.
 */
function removeAllAsMade(placeholders: readonly Placeholder[]): void {
  const depth = (p: Placeholder): number => p.path.split('/').length;
  const emptied = new Set<string>();
  for (const p of placeholders.filter(isAsMade).sort((a, b) => depth(b) - depth(a))) {
    const now = placeholderAt(p.path);
    if (now === undefined) continue;
    if (!(emptied.has(p.path) ? now.dev === p.dev && now.ino === p.ino : isSame(now, p))) continue;
    try {
      rmdirSync(p.path);
      emptied.add(dirname(p.path));
    } catch {
      // not empty after all, or gone: leave it
    }
  }
}

/**
 * Removes the placeholders of a session whose sandbox has ended, those no other live session relies
 * on; its ledger then records none (PlaceholderLedger.close removes it). When the registry's lock
 * cannot be taken they stay recorded, and the next start, which finds the owner lock released,
 * removes them. Never throws.
 */
export function releasePlaceholders(ledger: PlaceholderLedger): void {
  if (ledger.entries().length === 0) return; // nothing recorded, nothing to remove
  try {
    withPlaceholders(ledger.places, (registry) => registry.release(ledger));
  } catch {
    // left to the next start
  }
}

/** releasePlaceholders, the registry's lock waited for on timers (withPlaceholdersAsync). Never rejects. */
export async function releasePlaceholdersAsync(ledger: PlaceholderLedger): Promise<void> {
  if (ledger.entries().length === 0) return;
  try {
    await withPlaceholdersAsync(ledger.places, (registry) => registry.release(ledger));
  } catch {
    // left to the next start
  }
}

/**
 * Makes a session directory removable: its masks and its credentials directory are mode 0000 and
 * 0555, which a recursive removal by anyone but root cannot go through.
 */
export function unlockSessionDir(dir: string): void {
  for (const locked of ['masks/mask-dir', 'masks/empty-dir', 'credentials']) {
    try {
      chmodSync(join(dir, locked), 0o700);
    } catch {
      // not there
    }
  }
}

export function removeSessionDir(dir: string): void {
  unlockSessionDir(dir);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `view` without the entries at `hidden` and below them. The plan asks of every entry it walks (a
 * workspace's node_modules: tens of thousands): hidden paths are looked up by their directories,
 * a few (the workspace, a home), and the name below one.
 */
function withoutPaths(view: HostView, hidden: ReadonlySet<string>): HostView {
  const namesIn = new Map<string, Set<string>>();
  for (const path of hidden) {
    const names = namesIn.get(dirname(path)) ?? new Set();
    namesIn.set(dirname(path), names.add(basename(path)));
  }
  const isHidden = (path: string): boolean => {
    for (const [dir, names] of namesIn) {
      const prefix = dir === '/' ? dir : `${dir}/`;
      if (!path.startsWith(prefix)) continue;
      const end = path.indexOf('/', prefix.length);
      if (names.has(path.slice(prefix.length, end === -1 ? undefined : end))) return true;
    }
    return false;
  };
  return {
    lstat: (path) => (isHidden(path) ? undefined : view.lstat(path)),
    realpath: (path) => (isHidden(path) ? undefined : view.realpath(path)),
    readlink: (path) => (isHidden(path) ? undefined : view.readlink(path)),
    list: (path) => {
      if (isHidden(path)) return undefined;
      const names = namesIn.get(path);
      const entries = view.list(path);
      return names ? entries?.filter((e) => !names.has(e.name)) : entries;
    },
    readText: (path) => (isHidden(path) ? undefined : view.readText(path)),
    userHome: (user) => view.userHome(user),
  };
}
