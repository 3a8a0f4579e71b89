// The data-access layer and its migrations, one contract for SQLite and PostgreSQL: the same SQL
// gives the same rows, transactions commit whole or not at all and never interleave, constraint
// violations are reported as data, and migrations are numbered, forward-only, applied once (even
// by two servers at once) and all-or-nothing.

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, before, it } from 'node:test';
import {
  DatabaseError,
  migrate,
  MigrationError,
  MIGRATIONS,
  openPostgres,
  openSqlite,
  type Database,
  type Migration,
} from '../src/index.js';
import { eachBackend, type TestDatabase } from './backends.js';

async function open(db: TestDatabase): Promise<Database> {
  return db.url !== undefined ? openPostgres(db.url) : openSqlite(join(db.dataDir, 'perimeter.sqlite'));
}

/** The version of a migration made up by these tests, after every real one. */
const NEXT = (MIGRATIONS.at(-1)?.version ?? 0) + 1;

eachBackend('storage', (testDb, backend) => {
  let db: Database;
  before(async () => {
    db = await open(testDb());
  });
  after(async () => {
    await db.close();
  });

  it('a fresh database gets every migration once; a second run applies none', async () => {
    assert.deepEqual(
      await migrate(db),
      MIGRATIONS.map((m) => m.version),
    );
    assert.deepEqual(await migrate(db), []);
    const rows = await db.all<{ version: number; name: string }>(
      'SELECT version, name FROM schema_migrations',
    );
    assert.deepEqual(
      rows,
      MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
    );
  });

  it('two servers migrating one database at once apply each migration once', async () => {
    const t = testDb();
    const run = (): Promise<{ applied?: number[]; error?: string }> =>
      new Promise((resolve, reject) => {
        const worker = new Worker(new URL('./migrate-worker.js', import.meta.url), {
          workerData: { url: t.url, file: join(t.dataDir, 'perimeter.sqlite') },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    const results = await Promise.all([run(), run(), run()]);
    assert.deepEqual(
      results.map((r) => r.error),
      [undefined, undefined, undefined],
    );
    assert.deepEqual(
      results.flatMap((r) => r.applied ?? []),
      [NEXT],
      'one of them applied it, the others found it done',
    );
  });

  it('a database migrated by a newer server is refused, not touched', async () => {
    await assert.rejects(
      migrate(db, MIGRATIONS),
      (e: unknown) =>
        e instanceof MigrationError &&
        e.message ===
          `the database's schema is at version ${NEXT}, newer than this server knows (${NEXT - 1})`,
    );
  });

  it('a migration that fails leaves the schema as it was', async () => {
    const broken: Migration[] = [
      ...MIGRATIONS,
      { version: NEXT, name: 'two', statements: ['CREATE TABLE two (id TEXT PRIMARY KEY)'] },
      {
        version: NEXT + 1,
        name: 'three',
        statements: ['CREATE TABLE three (id TEXT)', 'CREATE TABLE three (id TEXT)'],
      },
    ];
    await assert.rejects(migrate(db, broken));
    const versions = await db.all<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      versions.map((v) => v.version),
      [...MIGRATIONS.map((m) => m.version), NEXT],
    );
    // Table three was created by the first statement, then rolled back with the second.
    await assert.rejects(db.all('SELECT * FROM three'));
  });

  it('a transaction commits whole, or rolls back whole when it throws', async () => {
    await db.run('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)');
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['a', 1]);
      await tx.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['b', 2]);
    });
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['c', 3]);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    const rows = await db.all<{ k: string; v: number }>('SELECT k, v FROM kv ORDER BY k');
    assert.deepEqual(rows, [
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
    ]);
  });

  it('concurrent read-modify-write transactions never lose an update', async () => {
    const forUpdate = db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    await db.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['counter', 0]);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const row = await tx.get<{ v: number }>(`SELECT v FROM kv WHERE k = ?${forUpdate}`, ['counter']);
          await new Promise((resolve) => setImmediate(resolve));
          await tx.run('UPDATE kv SET v = ? WHERE k = ?', [(row?.v ?? 0) + 1, 'counter']);
        }),
      ),
    );
    const row = await db.get<{ v: number }>('SELECT v FROM kv WHERE k = ?', ['counter']);
    assert.equal(row?.v, 20);
  });

  it('big integers come back as numbers; a constraint violation is reported as data', async () => {
    await db.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['big', 1_700_000_000_000]);
    const row = await db.get<{ v: number }>('SELECT v FROM kv WHERE k = ?', ['big']);
    assert.equal(row?.v, 1_700_000_000_000);
    const count = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM kv');
    assert.equal(typeof count?.n, 'number');
    await assert.rejects(
      db.run('INSERT INTO kv (k, v) VALUES (?, ?)', ['a', 9]),
      (e: unknown) => e instanceof DatabaseError && e.constraint === 'unique',
    );
  });

  it('a question mark inside a quoted string is not a parameter', async () => {
    const row = await db.get<{ q: string; p: string }>("SELECT 'why?' AS q, ? AS p", ['x']);
    assert.deepEqual(row, { q: 'why?', p: 'x' });
  });

  it(
    "SQLite's WAL is copied into the database by a worker thread, not by the connection that commits",
    { skip: backend === 'postgres' && 'PostgreSQL checkpoints itself' },
    async () => {
      const file = join(testDb().dataDir, 'perimeter.sqlite');
      const before = statSync(file).size;
      await db.run('CREATE TABLE copied (id BIGINT PRIMARY KEY, body TEXT NOT NULL)');
      await db.transaction(async (tx) => {
        for (let i = 0; i < 500; i++) await tx.run('INSERT INTO copied VALUES (?, ?)', [i, 'x'.repeat(4000)]);
      });
      assert.deepEqual(await db.get('PRAGMA wal_autocheckpoint'), { wal_autocheckpoint: 0 });
      // The 2 MB committed reach the database file without another statement of this connection.
      for (let i = 0; i < 100 && statSync(file).size < before + 2_000_000; i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(statSync(file).size >= before + 2_000_000, 'the WAL was copied into the database');
      assert.equal((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM copied'))?.n, 500);
    },
  );
});
