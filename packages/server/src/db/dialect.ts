// Everything that differs between SQLite and PostgreSQL, in one place. The rest of the server writes
// SQL that both accept: TEXT and BIGINT columns, `?` placeholders, INSERT … ON CONFLICT,
// RETURNING, times as epoch milliseconds, JSON as TEXT, no booleans.

export type Dialect = 'sqlite' | 'postgres';

/** Keys of the PostgreSQL advisory locks the server takes (transaction-scoped). */
export const LOCKS = {
  /** Held while migrations run, so two replicas starting at once migrate one after the other. */
  migrations: 7_372_001,
  /** Held while the first organisation is made, so two first starts make only one. */
  firstOrg: 7_372_002,
} as const;

export interface DialectRules {
  /** SQL with `?` placeholders → the dialect's own. */
  placeholders(sql: string): string;
  /** Appended to a SELECT that reads a row the transaction then writes. */
  readonly forUpdate: string;
  /**
   * Appended to a text column in ORDER BY: rows in byte order, as JavaScript sorts ASCII keys,
   * whatever the database's collation (locks taken in one order by every transaction).
   */
  readonly byteOrder: string;
  /** A statement that serialises transactions holding `key`, or undefined where the write lock does. */
  lock(key: number): string | undefined;
  /** Which constraint a driver error reports, if it is a constraint violation. */
  constraintOf(error: unknown): 'unique' | 'foreign-key' | undefined;
  /** Whether a driver error says the database cannot take a statement now (503, to retry). */
  isUnavailable(error: unknown): boolean;
}

const codeOf = (error: unknown): unknown =>
  error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;

/**
 * What says the database cannot take a statement now: pg-pool's messages when no connection came
 * free within connectionTimeoutMillis, or a new one could not be opened in time; PostgreSQL's
 * too_many_connections and cannot_connect_now; a refused connection.
 */
const PG_POOL_TIMEOUTS = new Set([
  'timeout exceeded when trying to connect',
  'Connection terminated due to connection timeout',
]);
/**
 * Not among them: deadlock_detected (40P01). Transactions that write several devices or chain
 * heads lock them in key order first (lockDevices in store/devices.ts, lockHeads in
 * store/device-chains.ts), so a deadlock is a bug in that order, to be logged with its stack (500)
 * and mended, not an overload to retry. Nor serialization_failure (40001): it does not happen at
 * READ COMMITTED, which every transaction here runs at.
 */
const PG_UNAVAILABLE_CODES = new Set(['53300', '57P03', 'ECONNREFUSED']);

/** `?` → `$1, $2, …`, leaving quoted strings and identifiers alone. */
function numbered(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else out += ch === '?' ? `$${++n}` : ch;
  }
  return out;
}

export const DIALECTS: Readonly<Record<Dialect, DialectRules>> = {
  sqlite: {
    placeholders: (sql) => sql,
    // SQLite has one writer at a time: BEGIN IMMEDIATE already holds the lock a row lock would take.
    forUpdate: '',
    byteOrder: '', // BINARY, SQLite's default: byte order
    lock: () => undefined,
    constraintOf: (error) => {
      const code = codeOf(error);
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key';
      return undefined;
    },
    // Busy past busy_timeout (another process, or a checkpoint, holds the database) or locked: an
    // overload to retry, not a failure of this request.
    isUnavailable: (error) => {
      const code = codeOf(error);
      return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
    },
  },
  postgres: {
    placeholders: numbered,
    forUpdate: ' FOR UPDATE',
    byteOrder: ' COLLATE "C"',
    lock: (key) => `SELECT pg_advisory_xact_lock(${key})`,
    constraintOf: (error) => {
      const code = codeOf(error);
      if (code === '23505') return 'unique';
      if (code === '23503') return 'foreign-key';
      return undefined;
    },
    isUnavailable: (error) => {
      const code = codeOf(error);
      return (
        (error instanceof Error && PG_POOL_TIMEOUTS.has(error.message)) ||
        (typeof code === 'string' && PG_UNAVAILABLE_CODES.has(code))
      );
    },
  },
};
