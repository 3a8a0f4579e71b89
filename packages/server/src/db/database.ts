// The data-access layer every store module speaks: SQL text with `?` placeholders, plain rows
// back, transactions as callbacks. Two adapters implement it (db-sqlite.ts, db-postgres.ts); what
// differs between the two SQL dialects is kept in dialect.ts, so the queries are written once.

import type { Dialect } from './dialect.js';

/** What a query parameter or column may hold: no booleans, no bigints, no blobs, in either dialect. */
export type SqlValue = string | number | null;

export interface Queryable {
  readonly dialect: Dialect;
  /** Every row the statement returns (SELECT, or INSERT/UPDATE … RETURNING). */
  all<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T extends object>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface Database extends Queryable {
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. The
   * handle it gets is valid only until then. SQLite transactions take the write lock at once
   * (BEGIN IMMEDIATE); PostgreSQL's run at READ COMMITTED, so code that reads then writes a row
   * locks it first (`dialect.forUpdate`).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Where the data lives, without any password: for logs and messages. */
  readonly description: string;
  close(): Promise<void>;
}

/** A constraint the database refused a write for, as data (unique or foreign key). */
export type ConstraintKind = 'unique' | 'foreign-key';

export class DatabaseError extends Error {
  /**
   * The database could not take the statement now, though nothing is wrong with it: no pooled
   * connection came free in time, or the database refused more connections or is unreachable.
   * The caller may ask again later (the API answers 503 with Retry-After).
   */
  readonly isUnavailable: boolean;

  constructor(
    message: string,
    readonly constraint?: ConstraintKind,
    options?: { cause?: unknown; isUnavailable?: boolean },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'DatabaseError';
    this.isUnavailable = options?.isUnavailable ?? false;
  }
}
