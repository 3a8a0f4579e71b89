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
  /** A statement that serialises transactions holding `key`, or undefined where the write lock does. */
  lock(key: number): string | undefined;
  /** Which constraint a driver error reports, if it is a constraint violation. */
  constraintOf(error: unknown): 'unique' | 'foreign-key' | undefined;
}

const codeOf = (error: unknown): unknown =>
  error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;

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
    lock: () => undefined,
    constraintOf: (error) => {
      const code = codeOf(error);
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
      if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key';
      return undefined;
    },
  },
  postgres: {
    placeholders: numbered,
    forUpdate: ' FOR UPDATE',
    lock: (key) => `SELECT pg_advisory_xact_lock(${key})`,
    constraintOf: (error) => {
      const code = codeOf(error);
      if (code === '23505') return 'unique';
      if (code === '23503') return 'foreign-key';
      return undefined;
    },
  },
};
