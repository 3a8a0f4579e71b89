// The SQLite adapter (better-sqlite3): one file in the data directory, WAL, foreign keys on, every
// commit synced before it is reported. better-sqlite3 is synchronous, and a transaction here spans
// awaits, so one asynchronous lock orders all work: a statement never lands inside another
// request's open transaction, and transactions never interleave.
//
// Syncing the WAL after a commit is libuv's thread pool's (WalSync): SQLite syncing it in COMMIT
// (synchronous = FULL) held this thread for the fsync, about half of what a commit cost it. The
// lock is let go at COMMIT, so the next transaction runs while the fsync does; the caller hears of
// its write only once the fsync that began after its COMMIT has ended, and one fsync covers every
// commit before it. What another statement reads may be a commit whose fsync has not yet ended:
// after a power cut (not a crash of this process: the data is in the kernel by then) that write
// may be gone, but nobody was told it was made.
//
// Copying the WAL into the database (the checkpoint) is a worker thread's, on a connection of its
// own: done here, by the commit that filled the WAL, it cost this thread (which every request
// waits for) about 11 µs of the 55 that storing an uploaded event took (a million events, six
// indexes, measured with the database alone).

import BetterSqlite3 from 'better-sqlite3';
import { closeSync, fdatasync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { DatabaseError, type Database, type Queryable, type SqlValue } from './database.js';
import { DIALECTS } from './dialect.js';

/**
 * Parameters go to better-sqlite3 as one array, never spread: a multi-row INSERT has thousands,
 * and each spread copies them all onto the stack.
 */
type Statement = BetterSqlite3.Statement<[readonly SqlValue[]]>;

function wrap(error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const constraint = DIALECTS.sqlite.constraintOf(error);
  return new DatabaseError(error instanceof Error ? error.message : String(error), constraint, {
    cause: error,
    isUnavailable: DIALECTS.sqlite.isUnavailable(error),
  });
}

/**
 * How many frames (pages) the WAL may hold before a write waits for the checkpoint to catch up,
 * so that it starts the WAL over rather than growing it: while writes follow each other, the
 * worker is always a commit behind, and SQLite starts the WAL over only when all of it is copied.
 * 64 MiB: a few groups of uploads (store/device-chains.ts).
 */
const WAL_RESTART_FRAMES = 16_384;

/**
 * Pages of the database kept in memory (KiB; SQLite's default is 2 MiB). A group of uploads
 * changes thousands of index pages, and a transaction whose changed pages outgrow the cache
 * writes them to the WAL early, and again when they change again: measured with the database
 * alone, half a million events stored in groups of 4,000 took 40% longer with 2 MiB than 64 MiB.
 */
const CACHE_KIB = 256 * 1024;

/**
 * Checkpoints on a worker thread, one at a time, each after the commits that came before it. If
 * the worker fails, this connection checkpoints as SQLite does by default.
 */
class Checkpointer {
  private worker: Worker | undefined;
  private isRunning = false;
  private isDue = false;
  private isBroken = false;
  /** Frames in the WAL, and copied, as of the last checkpoint. */
  private walFrames = 0;
  private copiedFrames = 0;
  private waiting: (() => void)[] = [];

  constructor(
    private readonly file: string,
    private readonly db: BetterSqlite3.Database,
    private readonly restartFrames: number,
  ) {}

  /** After a commit: copy it, now or after the checkpoint under way. */
  wrote(): void {
    if (this.isBroken) return;
    if (this.isRunning) {
      this.isDue = true;
      return;
    }
    this.run();
  }

  /**
   * Before a write: when the WAL has grown past its bound, waits (without blocking the thread)
   * until all of it is copied, so this write starts it over; or until a checkpoint copies nothing
   * more (a reader holds an old snapshot): then the write goes ahead and the WAL grows.
   */
  beforeWrite(): Promise<void> | undefined {
    if (this.walFrames < this.restartFrames || this.isBroken) return undefined;
    if (!this.isRunning && this.copiedFrames === this.walFrames) return undefined;
    if (!this.isRunning) this.run();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.isBroken = true;
    this.release();
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref(); // until it has closed its connection
    worker.postMessage('close');
    await exited;
  }

  private run(): void {
    this.isRunning = true;
    this.isDue = false;
    (this.worker ??= this.start()).postMessage('checkpoint');
  }

  private start(): Worker {
    const worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url), {
      workerData: { file: this.file },
    });
    // The worker never holds the process open: a checkpoint cut short is one SQLite redoes.
    worker.unref();
    // This connection no longer checkpoints after its commits; the worker does.
    this.db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (m: { log: number; checkpointed: number }) => {
      if (this.isBroken) return;
      // Progress: more of this WAL copied, or a WAL started over.
      const isProgress = m.checkpointed > this.copiedFrames || m.log < this.walFrames;
      this.walFrames = m.log;
      this.copiedFrames = m.checkpointed;
      this.isRunning = false;
      if (this.isDue) this.run();
      else if (this.copiedFrames === this.walFrames || !isProgress) this.release();
      else if (this.waiting.length > 0) this.run();
    });
    const fail = (): void => {
      if (this.isBroken) return;
      this.isBroken = true;
      this.worker = undefined;
      this.db.pragma('wal_autocheckpoint = 1000');
      this.release();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    return worker;
  }

  private release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: DatabaseError) => void;
}

/**
 * fdatasync of the WAL on the thread pool, one at a time: a commit waits for the next one to
 * begin after it, which also covers every commit made while the one before ran. A failed sync is
 * final: Linux reports a lost write to one fsync only (the next may succeed over lost pages), so
 * no commit after it is reported durable again (every write then fails, as PostgreSQL stops).
 */
class WalSync {
  private fd: number | undefined;
  private isSyncing = false;
  private failure: DatabaseError | undefined;
  /** Covered by the fsync under way. */
  private covered: Waiter[] = [];
  /** Committed after it began: waiting for the next. */
  private waiting: Waiter[] = [];
  private idle: (() => void)[] = [];

  constructor(private readonly walFile: string) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  synced(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) reject(this.failure);
      else if (this.isSyncing) this.waiting.push({ resolve, reject });
      else {
        this.covered.push({ resolve, reject });
        this.start();
      }
    });
  }

  /** Closes the file once no fsync is under way or waited for. */
  async close(): Promise<void> {
    if (this.isSyncing) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    this.isSyncing = true;
    try {
      // The WAL exists from the first commit on, and SQLite only removes it when the last
      // connection closes; any descriptor of a file syncs all of it.
      this.fd ??= openSync(this.walFile, 'r');
    } catch (e) {
      this.finish(e);
      return;
    }
    fdatasync(this.fd, (e) => this.finish(e));
  }

  private finish(error: unknown): void {
    if (error !== null && error !== undefined)
      this.failure ??= new DatabaseError(
        `the database's write-ahead log could not be synced to disk (${error instanceof Error ? error.message : 'unknown error'}); restart the server once the disk is sound`,
        undefined,
        { cause: error },
      );
    const failure = this.failure;
    for (const w of [...this.covered.splice(0), ...(failure ? this.waiting.splice(0) : [])]) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
    this.isSyncing = false;
    if (this.waiting.length > 0) {
      this.covered = this.waiting.splice(0);
      this.start();
    } else for (const resolve of this.idle.splice(0)) resolve();
  }
}

export interface SqliteOptions {
  /** Frames the WAL may hold before writes wait for a checkpoint to start it over (tests make it small). */
  readonly walRestartFrames?: number;
}

export function openSqlite(file: string, options: SqliteOptions = {}): Database {
  const restartFrames = options.walRestartFrames ?? WAL_RESTART_FRAMES;
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  // A committed admin action or audit event survives a power cut, not just a crash: NORMAL, as
  // the WAL is synced after each commit by WalSync, before the commit is reported (FULL would have
  // SQLite do it on this thread). A checkpoint still syncs the WAL before it copies it, and the
  // database after.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma(`cache_size = -${CACHE_KIB}`);
  // A WAL grown under a long burst of writes shrinks back when it is started over.
  db.pragma(`journal_size_limit = ${restartFrames * 4096}`);
  const checkpointer = new Checkpointer(file, db, restartFrames);
  const walSync = new WalSync(`${file}-wal`);

  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare<[readonly SqlValue[]]>(sql);
      statements.set(sql, s);
    }
    return s;
  };
  const direct: Omit<Queryable, 'dialect'> = {
    all: <T extends object>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).all(params) as T[]);
      } catch (e) {
        return Promise.reject(wrap(e));
      }
    },
    get: <T extends object>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).get(params) as T | undefined);
      } catch (e) {
        return Promise.reject(wrap(e));
      }
    },
    run: (sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).run(params).changes);
      } catch (e) {
        return Promise.reject(wrap(e));
      }
    },
  };

  // The lock: a chain of promises; each holder runs when the one before it settles.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = tail.then(fn, fn);
    tail = result.catch(() => undefined);
    return result;
  };
  let isClosed = false;
  const open = (): void => {
    if (isClosed) throw new DatabaseError('the database is closed');
  };

  /** Whether a statement may write (one that does not prepare fails as it runs, wrapped). */
  const writes = (sql: string): boolean => {
    try {
      return !prepare(sql).readonly;
    } catch {
      return false;
    }
  };
  /** A statement outside a transaction; reported, when it wrote, once its commit is synced. */
  const single = async <R>(sql: string, call: () => Promise<R>): Promise<R> => {
    let isWrite = false;
    const result = await exclusive(async () => {
      open();
      isWrite = writes(sql);
      if (isWrite) await checkpointer.beforeWrite();
      return call();
    });
    if (isWrite) await afterCommit();
    return result;
  };
  /** After a commit, outside the lock: the WAL copied by the worker, and synced. */
  const afterCommit = (): Promise<void> => {
    checkpointer.wrote();
    return walSync.synced();
  };

  return {
    dialect: 'sqlite',
    description: `sqlite:${file}`,
    all: (sql, params) => single(sql, () => direct.all(sql, params)),
    get: (sql, params) => single(sql, () => direct.get(sql, params)),
    run: (sql, params) => single(sql, () => direct.run(sql, params)),
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>) => {
      let didWrite = false;
      const result = await exclusive(async () => {
        open();
        await checkpointer.beforeWrite();
        let isActive = true;
        const guard = <R>(sql: string, call: () => Promise<R>): Promise<R> => {
          if (!isActive)
            return Promise.reject(new DatabaseError('a transaction handle was used after its end'));
          if (!didWrite && writes(sql)) didWrite = true;
          return call();
        };
        const tx: Queryable = {
          dialect: 'sqlite',
          all: (sql, params) => guard(sql, () => direct.all(sql, params)),
          get: (sql, params) => guard(sql, () => direct.get(sql, params)),
          run: (sql, params) => guard(sql, () => direct.run(sql, params)),
        };
        db.exec('BEGIN IMMEDIATE');
        try {
          const value = await fn(tx);
          db.exec('COMMIT');
          return value;
        } catch (e) {
          didWrite = false;
          if (db.inTransaction) db.exec('ROLLBACK');
          throw e;
        } finally {
          isActive = false;
        }
      });
      if (didWrite) await afterCommit();
      return result;
    },
    close: () =>
      exclusive(async () => {
        if (!isClosed) {
          isClosed = true;
          // The worker's connection first: the last to close copies what is left and removes the WAL.
          await checkpointer.close();
          await walSync.close();
          db.close();
        }
      }),
  };
}
