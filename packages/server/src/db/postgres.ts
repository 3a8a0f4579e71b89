// The PostgreSQL adapter (node-postgres): a pool; a transaction holds one client from BEGIN to
// COMMIT. BIGINT columns come back as numbers (epoch milliseconds and counters stay far below
// 2^53; a larger value is an error, never a silently rounded number).

import pg from 'pg';
import { DatabaseError, type Database, type Queryable, type SqlValue } from './database.js';
import { DIALECTS } from './dialect.js';

const INT8_OID = 20;

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new DatabaseError(`the integer ${text} is too large for this server`);
  return n;
}

// pg-types declares its parsers as returning any; they return what the column holds.
const builtinParser = pg.types.getTypeParser as (
  oid: number,
  format?: 'text' | 'binary',
) => (value: string) => unknown;

const TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? parseInt8 : builtinParser(oid, format),
};

function wrap(error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  return new DatabaseError(
    error instanceof Error ? error.message : String(error),
    DIALECTS.postgres.constraintOf(error),
    { cause: error, isUnavailable: DIALECTS.postgres.isUnavailable(error) },
  );
}

/** The URL with any password replaced by `***`, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unreadable URL)';
  }
}

type Runner = Pick<pg.Pool, 'query'> | pg.PoolClient;

function queryable(runner: () => Runner): Queryable {
  const query = async (sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> => {
    try {
      return await runner().query(DIALECTS.postgres.placeholders(sql), params as SqlValue[]);
    } catch (e) {
      throw wrap(e);
    }
  };
  return {
    dialect: 'postgres',
    all: async <T extends object>(sql: string, params?: readonly SqlValue[]) =>
      (await query(sql, params)).rows as T[],
    get: async <T extends object>(sql: string, params?: readonly SqlValue[]) =>
      (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql, params) => (await query(sql, params)).rowCount ?? 0,
  };
}

export interface PostgresOptions {
  /** Called with errors of idle pooled connections (a restarted database), which have no caller. */
  readonly onIdleError?: (error: Error) => void;
  /**
   * The pool's size (default 10). Each replica holds this many connections and one more to listen
   * for changes, so at PostgreSQL's default max_connections of 100 (3 kept for superusers) nine
   * replicas fit. More rarely helps: the server batches what thousands of devices ask at once
   * into a few statements, and the database's own cores do the work.
   */
  readonly maxConnections?: number;
  /**
   * How long a statement waits for a pooled connection (or a new one to open) before it fails as
   * unavailable (default 5 s), which the API answers 503 with Retry-After.
   */
  readonly connectionTimeoutMs?: number;
}

/** Opens a pool and checks that the database answers. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'perimeter-server',
    types: TYPES,
  });
  pool.on('error', (e) => options.onIdleError?.(e));
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw wrap(e);
  }
  const base = queryable(() => pool);
  return {
    ...base,
    description: redactUrl(url),
    transaction: async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw wrap(e);
      }
      let isActive = true;
      const tx = queryable(() => {
        if (!isActive) throw new DatabaseError('a transaction handle was used after its end');
        return client;
      });
      let isBroken = false;
      try {
        await tx.run('BEGIN');
        const result = await fn(tx);
        await tx.run('COMMIT');
        return result;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch {
          isBroken = true; // the connection itself failed: do not hand it to the next caller
        }
        throw e;
      } finally {
        isActive = false;
        client.release(isBroken);
      }
    },
    close: () => pool.end(),
  };
}
