// Real databases for the server's tests, one per test file and backend: SQLite in a fresh data
// directory, and PostgreSQL (127.0.0.1:5432, or PERIMETER_TEST_POSTGRES) in a fresh database
// named perimeter_test_<random>, dropped when the file's tests end. `eachBackend` runs the same
// suite against both, so the two stores pass one contract.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

/** The maintenance database the test databases are made from. */
export const POSTGRES_ADMIN_URL =
  process.env.PERIMETER_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly backend: Backend;
  /** The data directory (always made: the server keeps files there whatever the database). */
  readonly dataDir: string;
  /** The PostgreSQL URL, for the postgres backend. */
  readonly url?: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (e) {
    throw new Error(
      `the server tests need PostgreSQL at ${POSTGRES_ADMIN_URL} (${(e as Error).message}); start it (pg_ctlcluster 15 main start) or set PERIMETER_TEST_POSTGRES`,
      { cause: e },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function freshDatabase(backend: Backend): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'perimeter-server-test-'));
  const removeDir = (): void => rmSync(dataDir, { recursive: true, force: true });
  if (backend === 'sqlite') return { backend, dataDir, drop: () => Promise.resolve(removeDir()) };
  const name = `perimeter_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    backend,
    dataDir,
    url: url.toString(),
    drop: async () => {
      removeDir();
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Declares `suite` once per backend, each with its own fresh database (made before the suite's
 * tests, dropped after them). The suite reads the database through the getter it is given.
 */
export function eachBackend(title: string, suite: (db: () => TestDatabase, backend: Backend) => void): void {
  for (const backend of BACKENDS) {
    describe(`${title} (${backend})`, () => {
      let db: TestDatabase | undefined;
      before(async () => {
        db = await freshDatabase(backend);
      });
      after(async () => {
        await db?.drop();
      });
      suite(() => {
        if (!db) throw new Error('the test database is made in before()');
        return db;
      }, backend);
    });
  }
}
