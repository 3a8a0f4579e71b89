// SQLite's WAL is kept near its bound by waiting, before a write, for the checkpoint worker to
// start it over. A reader holding an old snapshot (a backup, another process) stops a checkpoint
// from copying all of it: writes then go ahead and the WAL grows, rather than wait (and spin)
// until that reader lets go.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../src/db/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'perimeter-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('writes go on past the WAL bound while a reader holds an old snapshot, and the WAL grows', async () => {
  const file = join(dir, 'db.sqlite');
  const db = openSqlite(file, { walRestartFrames: 32 });
  try {
    await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)');
    await db.run('INSERT INTO t (blob) VALUES (zeroblob(8192))');
    const reader = new BetterSqlite3(file, { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM t').get(); // the snapshot is taken at the first read
      // Each write adds a few pages: 100 of them take the WAL far past 32 frames.
      const writes = (async () => {
        for (let i = 0; i < 100; i++)
          await db.transaction((tx) => tx.run('INSERT INTO t (blob) VALUES (zeroblob(8192))'));
      })();
      const stalled = new Promise<'stalled'>((resolve) =>
        setTimeout(() => resolve('stalled'), 20_000).unref(),
      );
      assert.equal(await Promise.race([writes.then(() => 'done' as const), stalled]), 'done');
      assert.ok(statSync(`${file}-wal`).size > 32 * 4096, 'the WAL grew past its bound meanwhile');
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    const row = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t');
    assert.equal(Number(row?.n), 101);
  } finally {
    await db.close();
  }
});
