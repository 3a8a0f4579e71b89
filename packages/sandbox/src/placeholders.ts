// The empty directories sessions make on the host as mount points (placeholders): the masks of
// missing trust-handoff paths (`.git`, `.claude`, `.mcp.json`, … in a workspace or an MCP server's
// home) and the mount points of private directories. Each session records those it relies on in a
// ledger in its own session directory, as the inode each is (device, inode, change time), and
// holds a process lock there while it lives. A session that dies without cleaning up (SIGKILL, an
// out-of-memory abort) leaves its placeholders behind: the next start removes them, before it plans,
// where before a leftover `.git` was read as a repository, `.git/config` was made a directory, and
// every session after was refused (redteam-36-5). Until then a live session's placeholders are not
// taken for real files by other sessions, which mount on them too.
//
// It must never remove what a session did not make: only an empty directory that is still the
// inode a ledger recorded, and only once no live session relies on it (rmdir on the host detaches
// every mount on that directory in the other mount namespaces: a live sandbox would lose the mask).
// Every reading of the ledgers and every change to them is under one lock per runtime directory.

import { takeLock, type HeldLock, type LockRefusal } from '@perimeter/audit';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
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

/** Names in a session directory. */
const LEDGER = 'placeholders.json';
const OWNER_LOCK = 'session.lock';
/** Session directories are `<runtime dir>/perimeter-XXXXXX` (prepareSession's mkdtemp). */
const SESSION_DIR_NAME = /^perimeter-[A-Za-z0-9]{6}$/;
/** Longest wait for another start or end to finish with the ledgers (one plan of a large workspace). */
const REGISTRY_WAIT_MS = 30_000;

/** A ledger could not be kept, so the session is refused: one sentence, and how to fix it. */
export class PlaceholderError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** One session's placeholders, recorded in its directory (which it holds the lock of). */
export class PlaceholderLedger {
  private readonly held: Placeholder[] = [];

  private constructor(
    readonly dir: string,
    private readonly lock: HeldLock,
  ) {}

  /** Starts the ledger of the session directory `dir` (just made): its owner lock, taken for good. */
  static open(dir: string): PlaceholderLedger {
    const taken = takeLock(join(dir, OWNER_LOCK));
    if (taken.kind !== 'taken') throw lockRefused(taken);
    return new PlaceholderLedger(dir, taken.lock);
  }

  get paths(): readonly string[] {
    return this.held.map((p) => p.path);
  }

  /** Drops the owner lock (the session directory goes next): the ledger says nothing from now on. */
  close(): void {
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

  /** Written whole and renamed into place: a reader never sees half a ledger. */
  save(): void {
    const file = join(this.dir, LEDGER);
    if (this.held.length === 0) {
      rmSync(file, { force: true });
      return;
    }
    writeFileSync(`${file}.new`, `${JSON.stringify({ placeholders: this.held })}\n`, { mode: 0o600 });
    renameSync(`${file}.new`, file);
  }
}

/** The ledgers of one runtime directory, read under their lock. */
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
  /** Removes `ledger`'s placeholders that no other live session relies on, and its ledger. */
  release(ledger: PlaceholderLedger): void;
}

/**
 * Runs `fn` holding the ledgers' lock of `runtimeDir`, after the leftovers of every session there
 * that has certainly ended (its owner lock is held by no process) are removed with its directory.
 * Throws PlaceholderError when the lock cannot be taken.
 */
export function withPlaceholders<T>(runtimeDir: string, fn: (registry: PlaceholderRegistry) => T): T {
  const file = join(runtimeDir, `perimeter-${process.getuid?.() ?? 'user'}-placeholders.lock`);
  // Its name is known to all: in a directory others can write (/tmp), another user may have put
  // something there first, which the lock would wait for (a FIFO: forever).
  if (!isOwnFileOrNone(file))
    throw new PlaceholderError(
      `${file} is not a lock file of this user's (another user may have put it there)`,
      'set XDG_RUNTIME_DIR (or TMPDIR) to a directory only you can write',
    );
  const taken = takeLock(file, { waitMs: REGISTRY_WAIT_MS });
  if (taken.kind !== 'taken') throw lockRefused(taken);
  try {
    const live = reclaimEnded(runtimeDir);
    return fn(registryOf(live));
  } finally {
    taken.lock.release();
  }
}

/** Live sessions' ledgers, by session directory. */
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
    for (const [dir, entries] of live)
      if (dir !== ledger.dir) for (const p of entries) if (isStillAsMade(p)) out.set(p.path, p);
    return out;
  };
  return {
    viewFor(view, ledger) {
      const hidden = new Set(othersOf(ledger).keys());
      for (const path of ledger.paths) hidden.delete(path);
      return hidden.size === 0 ? view : withoutPaths(view, hidden);
    },
    claim(ledger, paths, mode) {
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
      ledger.save();
      live.set(ledger.dir, [...ledger.entries()]);
    },
    release(ledger) {
      removeAllAsMade(ledger.entries().filter((p) => !isReliedOn(live, p, ledger.dir)));
      ledger.forgetAll();
      ledger.save();
      live.delete(ledger.dir);
    },
  };
}

/**
 * Removes the leftovers of every session in `runtimeDir` that has ended (its owner lock taken:
 * its process is certainly gone) and its directory; returns the live sessions' ledgers.
 */
function reclaimEnded(runtimeDir: string): LiveLedgers {
  const live: LiveLedgers = new Map();
  const ended: { dir: string; entries: readonly Placeholder[]; lock: HeldLock }[] = [];
  let names: string[];
  try {
    names = readdirSync(runtimeDir).filter((n) => SESSION_DIR_NAME.test(n));
  } catch {
    return live;
  }
  for (const name of names) {
    const dir = join(runtimeDir, name);
    // Only this user's private session directories (a shared /tmp holds others').
    if (!isOwnPrivateDir(dir)) continue;
    // A session's lock is taken before its ledger is written and dropped only after it is removed,
    // or by its process's exit: a directory with neither is a session still being made (or not one).
    const ledger = join(dir, LEDGER);
    if (!exists(join(dir, OWNER_LOCK)) && !exists(ledger)) continue;
    const owner = takeLock(join(dir, OWNER_LOCK));
    // Read after the lock: the ledger of an ending session may have gone meanwhile.
    const entries = readLedger(ledger) ?? (exists(ledger) ? undefined : []);
    if (entries === undefined) {
      // Not a ledger this code wrote: nothing in it is removed, nor is it.
      if (owner.kind === 'taken') owner.lock.release();
      continue;
    }
    if (owner.kind === 'taken') ended.push({ dir, entries, lock: owner.lock });
    // Held by a live process, or one that cannot be looked at (another machine, pid namespace).
    else live.set(dir, entries);
  }
  for (const { dir, entries, lock } of ended) {
    removeAllAsMade(entries.filter((p) => !isReliedOn(live, p)));
    removeSessionDir(dir);
    lock.release();
  }
  return live;
}

/** Whether a live session (other than the one in `except`) records `p` as it is: it mounts on it. */
function isReliedOn(live: LiveLedgers, p: Placeholder, except?: string): boolean {
  for (const [dir, entries] of live) if (dir !== except && entries.some((e) => isSame(e, p))) return true;
  return false;
}

/** Why a lock of these sessions was not taken, in one sentence, and what to do. */
function lockRefused(refusal: LockRefusal): PlaceholderError {
  const { file } = refusal;
  switch (refusal.kind) {
    case 'held': {
      const since = `has held ${file} for over ${REGISTRY_WAIT_MS / 1000} s`;
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
        'set XDG_RUNTIME_DIR (or TMPDIR) to a writable directory of your own',
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

/** A ledger's placeholders; undefined when there is none, or it is not one (never guessed at). */
function readLedger(file: string): Placeholder[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const list = (v as { placeholders?: unknown } | null)?.placeholders;
  if (!Array.isArray(list)) return undefined;
  const out: Placeholder[] = [];
  for (const item of list as unknown[]) {
    const { path, dev, ino, ctime } = (item ?? {}) as Record<string, unknown>;
    if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
    if (![dev, ino, ctime].every((f) => typeof f === 'string' && /^\d+$/.test(f))) return undefined;
    out.push({ path, dev: dev as string, ino: ino as string, ctime: ctime as string });
  }
  return out;
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
 * Ends a session's ledger (its sandbox has ended): its placeholders that no other live session
 * relies on are removed, then its ledger and its lock. True when its directory may go; false when
 * the ledgers' lock could not be taken: the directory keeps its ledger, and the next start, which
 * finds no lock held, removes them. Never throws.
 */
export function releasePlaceholders(ledger: PlaceholderLedger): boolean {
  let isReleased = ledger.entries().length === 0; // nothing recorded, nothing to remove

  if (!isReleased) {
    try {
      withPlaceholders(dirname(ledger.dir), (registry) => registry.release(ledger));
      isReleased = true;
    } catch {
      // left to the next start
    }
  }
  ledger.close();
  return isReleased;
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

/** The session directory's own files: all but its ledger and its lock, which go last. */
export function sessionFilesOf(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => name !== OWNER_LOCK && !name.startsWith(LEDGER))
      .map((name) => join(dir, name));
  } catch {
    return [];
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
