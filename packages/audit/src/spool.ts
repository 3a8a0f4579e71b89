// The local spool: one JSON-lines file per session chain, appended to and never rewritten.
// Opening an existing spool continues its chain from the last event; a spool that ends in a
// partial line or a broken event is refused, so nothing is ever chained onto damage. One process
// writes a spool at a time: two writers each continue the chain from the last event they read, so
// the chain forks and verification calls the spool damaged (redteam-35-4: two `perimeter mcp
// --audit FILE` started by two client windows that share one configuration). The writer lock is a
// process lock (process-lock.ts) beside the spool, FILE.lock, held while the spool is open: the
// only file the spool keeps next to it (besides the lock's takeover guard, FILE.lock.takeover,
// which lives only while a dead holder's lock is being taken over). At each flush the spool checks
// that its path still names the file it writes: one renamed, removed or replaced while open (by
// whatever could write its directory, redteam-37-1) is recorded in the file it writes, and said.
// It looks again before session.end, so the alert is never after the session's last event.

import {
  closeSync,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  realpathSync,
  statSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { newChain, type ChainState } from './chain.js';
import { sealBounded } from './event-cut.js';
import type { AuditEvent, AuditRecord } from './event.js';
import { alertRecord } from './record.js';
import { lockHolder, takeLock, type HeldLock, type LockRefusal } from './process-lock.js';
import { verifySpool } from './verify.js';

/** The spool's error: one sentence for a person and a hint, printed by the CLI without a stack. */
export class SpoolError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SpoolError';
  }
}

export interface SpoolOptions {
  /** The chain id for a new spool (the session id). */
  readonly chainId: string;
  /** fsync after every event: an event is on disk before the action it records goes ahead. */
  readonly isDurable?: boolean;
  /**
   * Group commit: with a value, events are still written to the file at once (a crash of the
   * process loses nothing), but the flush to disk waits up to this long so one fsync covers many
   * events, and runs on libuv's thread pool, so no connection waits for the disk (an fsync takes
   * up to milliseconds). close() and flush() flush what is pending before they return. A flush
   * that fails makes every later append fail (the disk may have lost what was written).
   */
  readonly flushDelayMs?: number;
  /**
   * Told, once, when the spool's path no longer names the file it writes (renamed, removed or
   * replaced meanwhile; checked at each flush and before session.end, never at other appends),
   * after the spool recorded an `audit.spool-moved` alert in the file it writes. Default: a
   * process warning.
   */
  readonly onMoved?: (message: string) => void;
}

export class Spool {
  private state: ChainState;
  private fd: number | undefined;
  private flushDelayMs: number | undefined;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** The file's length after the last whole write. */
  private size: number;
  /** A group-commit fsync is on the thread pool (one at a time: a slow disk must not fill the pool). */
  private isFlushing = false;
  /** Events were written while that fsync ran: another follows when it calls back. */
  private isFlushDue = false;
  /**
   * What close() or closeAsync() left for the running fsync to do when it calls back: close the
   * descriptor it holds (never under it, where its number could be reused by another file).
   */
  private afterFlush: (() => void) | undefined;
  /** Why the spool cannot go on (a failed fsync, a partial write not cut back): nothing more is appended. */
  private failure: string | undefined;
  /** The file it writes, as opened: its path must go on naming it. */
  private readonly opened: BigIntStats;
  /** Where that file was when opened, every symbolic link on the way resolved. */
  private readonly realPath: string;
  private onMoved: (message: string) => void = (m) => process.emitWarning(m);
  /** Its path was found naming another file, or none: said once. */
  private isMoved = false;

  private constructor(
    readonly path: string,
    state: ChainState,
    fd: number,
    private readonly isDurable: boolean,
    private readonly lock: HeldLock,
  ) {
    this.state = state;
    this.fd = fd;
    this.opened = fstatSync(fd, { bigint: true });
    this.size = Number(this.opened.size);
    try {
      this.realPath = realpathSync(path);
    } catch {
      this.realPath = path;
    }
  }

  /**
   * Opens (or creates) the spool at `path` and takes its writer lock. Throws SpoolError when it
   * cannot be continued safely, or another process (or this one) has it open.
   */
  static open(path: string, options: SpoolOptions): Spool {
    // Locked before it is read: the chain is continued from the last event, which no other
    // process may append after meanwhile (redteam-35-4).
    const lock = lockSpool(path);
    try {
      const state = Spool.continuedChain(path, options.chainId);
      let fd: number;
      try {
        fd = openSync(path, 'a', 0o600);
      } catch (e) {
        throw new SpoolError(
          `cannot open the audit spool ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
          'check that its directory exists and is writable',
        );
      }
      const spool = new Spool(path, state, fd, options.isDurable ?? true, lock);
      spool.flushDelayMs = options.flushDelayMs;
      if (options.onMoved) spool.onMoved = options.onMoved;
      return spool;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** Where the chain goes on: after the last event of an intact spool, or a new chain. */
  private static continuedChain(path: string, chainId: string): ChainState {
    if (!existsSync(path)) return newChain(chainId);
    const text = readFileSync(path, 'utf8');
    const check = verifySpool(text);
    if (!check.isIntact) {
      const first = check.problems.find((p) => p.kind !== 'unfinished');
      throw new SpoolError(
        `the audit spool ${path} is damaged at line ${first?.line ?? 0}: ${first?.message ?? ''}`,
        'run "perimeter audit verify" on it, keep it as evidence, and start a new spool',
      );
    }
    const lines = text.trimEnd().split('\n');
    const last = lines[lines.length - 1];
    if (last === undefined || last === '') return newChain(chainId);
    const event = JSON.parse(last) as AuditEvent;
    if (event.type === 'session.end') {
      throw new SpoolError(
        `the audit spool ${path} belongs to a session that has ended`,
        'start a new spool for a new session',
      );
    }
    return {
      chainId: event.integrity.chain_id,
      nextSeq: event.integrity.seq + 1,
      lastHash: event.integrity.hash,
    };
  }

  get chainState(): ChainState {
    return this.state;
  }

  /**
   * Every file the spool keeps, by real path: itself and its writer lock. What a sandbox must not
   * replace, and an MCP server's must not show.
   */
  get files(): readonly string[] {
    return [this.realPath, this.lock.file];
  }

  /** Chains and writes one event; returns it as written (cut, when it was over MAX_EVENT_BYTES). */
  append(record: AuditRecord): AuditEvent {
    const [event] = this.appendAll([record]);
    return event as AuditEvent;
  }

  /** Chains and writes several events with one write and one flush to disk (a session's mount plan). */
  appendAll(records: readonly AuditRecord[]): AuditEvent[] {
    if (this.fd === undefined)
      throw new SpoolError(`the audit spool ${this.path} is closed`, 'open it again');
    this.refuseAfterFailure();
    // The last event of a session: nothing may follow it, so an alert of a moved spool comes first.
    if (records.some((r) => r.type === 'session.end')) this.checkPath();
    const events: AuditEvent[] = [];
    let text = '';
    let state = this.state;
    for (const record of records) {
      // Every producer's events pass here: none is longer than the shipper and the server take.
      const sealed = sealBounded(record, state);
      events.push(sealed.event);
      text += `${sealed.line}\n`;
      state = sealed.state;
    }
    if (events.length === 0) return events;
    this.write(Buffer.from(text, 'utf8'));
    if (this.isDurable) this.scheduleFlush();
    this.state = state;
    return events;
  }

  /**
   * Writes whole lines or nothing: a short write (a full disk) is cut back to where the spool
   * ended, so the chain is never continued after half an event and the state stays where it was.
   */
  private write(bytes: Buffer): void {
    const fd = this.fd as number;
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      this.size += done;
    } catch (e) {
      if (done > 0) this.cutBack(fd);
      throw new SpoolError(
        `cannot write the audit spool ${this.path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
        'free space on its disk (or fix its permissions); what needs an audit event is refused until it can be written',
      );
    }
  }

  /** Removes half an event; when even that fails, the spool refuses everything after it. */
  private cutBack(fd: number): void {
    try {
      ftruncateSync(fd, this.size);
    } catch (e) {
      this.failure ??= `a partly written event could not be removed (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
    }
  }

  private scheduleFlush(): void {
    if (this.fd === undefined) return;
    if (this.flushDelayMs === undefined) {
      fsyncSync(this.fd);
      return;
    }
    this.flushTimer ??= setTimeout(() => this.flushInBackground(), this.flushDelayMs);
  }

  /** The group commit's fsync, on the thread pool: appends go on meanwhile, the next fsync covers them. */
  private flushInBackground(): void {
    // While this timer still counts as pending: an alert it appends is flushed by this flush.
    this.checkPath();
    this.flushTimer = undefined;
    const fd = this.fd;
    if (fd === undefined) return;
    if (this.isFlushing) {
      this.isFlushDue = true;
      return;
    }
    this.isFlushing = true;
    fsync(fd, (e) => {
      this.isFlushing = false;
      if (e) this.failure ??= `cannot flush it to disk (${e.code ?? e.message})`;
      if (this.afterFlush) {
        const then = this.afterFlush;
        this.afterFlush = undefined;
        then();
      } else if (this.isFlushDue) {
        this.isFlushDue = false;
        this.flushInBackground();
      }
    });
  }

  /**
   * Whether the path still names the file the spool writes: a stat per flush (a few microseconds,
   * once per group commit) and before session.end, none per append. Renamed, removed or replaced (a sandbox that could
   * write its directory moved it aside and put a forged chain there, redteam-37-1): an alert goes
   * into the file the spool writes, the real record, and the owner is told, once.
   */
  private checkPath(): void {
    if (this.isMoved || this.fd === undefined) return;
    let now: BigIntStats | undefined;
    try {
      now = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    } catch {
      now = undefined; // a directory on the way replaced by a file, or made unreadable
    }
    if (now !== undefined && now.dev === this.opened.dev && now.ino === this.opened.ino) return;
    this.isMoved = true;
    const what = now === undefined ? 'was renamed or removed' : 'was replaced by another file';
    const message = `the audit spool ${this.path} ${what} while it was being written: its events go on in the file opened there (${this.realPath} then, device ${this.opened.dev}, inode ${this.opened.ino}), and what that name holds now is not its record`;
    try {
      this.appendAll([
        alertRecord('audit.spool-moved', { sessionId: this.state.chainId }, 'critical', message, {
          path: this.path,
          real_path: this.realPath,
          device: String(this.opened.dev),
          inode: String(this.opened.ino),
          replaced: now !== undefined,
        }),
      ]);
    } catch {
      // The spool cannot be written: the next append says so; the owner is told all the same.
    }
    this.onMoved(message);
  }

  private refuseAfterFailure(): void {
    if (this.failure !== undefined) throw this.failed(this.failure);
  }

  private failed(why: string): SpoolError {
    return new SpoolError(
      `the audit spool ${this.path} cannot go on: ${why}`,
      'check its disk; the events written since the last good flush may be lost, so start a new spool',
    );
  }

  /** Flushes written events to disk now. */
  flush(): void {
    this.checkPath();
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.fd !== undefined && this.isDurable) fsyncSync(this.fd);
    this.refuseAfterFailure();
  }

  /**
   * close(), with the last flush on the thread pool, so the caller can do other work while the
   * disk catches up (a session removes its sandbox's files). Resolves once every event written is
   * on disk; rejects with a SpoolError when that cannot be said. Nothing is appended after it.
   */
  closeAsync(): Promise<void> {
    this.checkPath();
    const fd = this.fd;
    if (fd === undefined) return Promise.resolve();
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.fd = undefined;
    // Every event is in the file already (the flush only makes it durable): the next writer may start.
    this.lock.release();
    const flushAndClose = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const settle = (e?: NodeJS.ErrnoException | null): void => {
          if (e) this.failure ??= `cannot flush it to disk (${e.code ?? e.message})`;
          try {
            closeSync(fd);
          } catch (closing) {
            this.failure ??= `cannot close it (${(closing as NodeJS.ErrnoException).code ?? String(closing)})`;
          }
          if (this.failure === undefined) resolve();
          else reject(this.failed(this.failure));
        };
        if (this.isDurable) fsync(fd, settle);
        else settle();
      });
    // A group-commit fsync still running: the last flush follows it (it may not cover the last events).
    if (!this.isFlushing) return flushAndClose();
    return new Promise<void>((resolve) => (this.afterFlush = resolve)).then(flushAndClose);
  }

  close(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    try {
      this.flush();
    } finally {
      this.fd = undefined;
      this.lock.release();
      if (!this.isFlushing) closeSync(fd);
      else
        this.afterFlush = () => {
          // Closed meanwhile: no later append can say the flush failed, so it is said here.
          if (this.failure !== undefined)
            process.emitWarning(`the audit spool ${this.path}: events may be lost: ${this.failure}`);
          closeSync(fd);
        };
    }
  }
}

/**
 * Takes the writer lock of the spool at `spool` for this process, FILE.lock beside the file it
 * names (a link's target: two names of one spool share one lock). Throws SpoolError, in one
 * sentence with a hint, when a live process holds it (this one included) or it cannot be made. A
 * lock held on another machine (over a shared disk) or in another pid namespace (a session's
 * sandbox) cannot be looked at: the refusal names its lock file.
 */
function lockSpool(spool: string): HeldLock {
  let file: string;
  try {
    file = realpathSync(spool);
  } catch {
    file = spool; // not made yet: takeLock resolves its directory
  }
  const taken = takeLock(`${file}.lock`);
  if (taken.kind === 'taken') return taken.lock;
  throw lockRefusal(spool, taken);
}

function lockRefusal(spool: string, r: LockRefusal): SpoolError {
  switch (r.kind) {
    case 'held':
      return heldBy(spool, r);
    case 'unusable':
      return new SpoolError(
        `cannot open the audit spool ${spool}: cannot create its lock ${r.file} (${r.code})`,
        'check that its directory exists and is writable',
      );
    case 'unsettled':
      return new SpoolError(
        `the audit spool ${spool} could not be locked: its lock ${r.file} kept changing`,
        `if no other Perimeter process writes this spool, remove ${r.file}`,
      );
  }
}

function heldBy(spool: string, r: Extract<LockRefusal, { kind: 'held' }>): SpoolError {
  if (r.holder === 'this-process')
    return new SpoolError(
      `the audit spool ${spool} is already open in this process (pid ${r.owner.pid})`,
      'close it before opening it again',
    );
  const { who, isOutOfSight } = lockHolder(r);
  return new SpoolError(
    `the audit spool ${spool} is being written by ${who}`,
    `give this one its own --audit FILE, or stop that one${isOutOfSight ? ` (if it has stopped already, remove ${r.file})` : ''}`,
  );
}
