// The SQLite adapter (better-sqlite3): one file in the data directory, WAL, foreign keys on, every
// commit synced. better-sqlite3 is synchronous, and a transaction here spans awaits, so one
// asynchronous lock orders all work: a statement never lands inside another request's open
// transaction, and transactions never interleave.

import BetterSqlite3 from 'better-sqlite3';
import { DatabaseError, type Database, type Queryable, type SqlValue } from './database.js';
import { DIALECTS } from './dialect.js';

type Statement = BetterSqlite3.Statement<SqlValue[]>;

function wrap(error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const constraint = DIALECTS.sqlite.constraintOf(error);
  return new DatabaseError(error instanceof Error ? error.message : String(error), constraint, {
    cause: error,
  });
}

export function openSqlite(file: string): Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  // FULL: a committed admin action or audit event survives a power cut, not just a crash.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');

  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare<SqlValue[]>(sql);
      statements.set(sql, s);
    }
    return s;
  };
  const direct: Omit<Queryable, 'dialect'> = {
    all: <T extends object>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).all(...params) as T[]);
      } catch (e) {
        return Promise.reject(wrap(e));
      }
    },
    get: <T extends object>(sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).get(...params) as T | undefined);
      } catch (e) {
        return Promise.reject(wrap(e));
      }
    },
    run: (sql: string, params: readonly SqlValue[] = []) => {
      try {
        return Promise.resolve(prepare(sql).run(...params).changes);
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

  return {
    dialect: 'sqlite',
    description: `sqlite:${file}`,
    all: (sql, params) => exclusive(() => (open(), direct.all(sql, params))),
    get: (sql, params) => exclusive(() => (open(), direct.get(sql, params))),
    run: (sql, params) => exclusive(() => (open(), direct.run(sql, params))),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
      exclusive(async () => {
        open();
        let isActive = true;
        const guard = <R>(call: () => Promise<R>): Promise<R> =>
          isActive
            ? call()
            : Promise.reject(new DatabaseError('a transaction handle was used after its end'));
        const tx: Queryable = {
          dialect: 'sqlite',
          all: (sql, params) => guard(() => direct.all(sql, params)),
          get: (sql, params) => guard(() => direct.get(sql, params)),
          run: (sql, params) => guard(() => direct.run(sql, params)),
        };
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await fn(tx);
          db.exec('COMMIT');
          return result;
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw e;
        } finally {
          isActive = false;
        }
      }),
    close: () =>
      exclusive(() => {
        if (!isClosed) {
          isClosed = true;
          db.close();
        }
        return Promise.resolve();
      }),
  };
}
