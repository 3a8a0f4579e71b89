// SQLite's WAL is kept near its bound by waiting, before a write, for the checkpoint worker to
// start it over: with the worker a commit behind, writes that follow each other would otherwise
// never find all of it copied, and the WAL would grow with every write. A reader holding an old
// snapshot (a backup, another process) stops a checkpoint from copying all of it: writes then go
// ahead and the WAL grows, rather than wait (and spin) until that reader lets go.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../src/db/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'perimeter-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The WAL's size in frames (a 32-byte header, then per frame a 24-byte header and a 4 KiB page). */
function walFrames(file: string): number {
  try {
    return Math.max(0, (statSync(`${file}-wal`).size - 32) / (24 + 4096));
  } catch {
    return 0; // no WAL yet
  }
}

it('with no reader in the way, the WAL file stays near its bound through hundreds of writes one after another', async () => {
  const file = join(dir, 'bounded.sqlite');
  const bound = 32;
  const db = openSqlite(file, { walRestartFrames: bound });
  try {
    await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)');
    // Each write adds a few frames (its 8 KiB row takes three pages or more).
    const write = (): Promise<number> =>
      db.transaction((tx) => tx.run('INSERT INTO t (blob) VALUES (zeroblob(8192))'));
    // The checkpoint worker starts at the first commit, and until it reports, nothing holds the
    // WAL back: write until it has been started over once (its file cut back to the bound).
    let hasGrown = false;
    let writes = 0;
    for (; writes < 1000; writes++) {
      await write();
      if (walFrames(file) > bound) hasGrown = true;
      else if (hasGrown) break;
    }
    assert.ok(hasGrown && writes < 1000, `the WAL was started over within ${writes} writes`);
    let most = 0;
    for (let i = 0; i < 600; i++) {
      await write();
      most = Math.max(most, walFrames(file));
    }
    // The worker copies while writes go on, so the WAL passes its bound by what is written during
    // one checkpoint: a few writes, a few dozen on a loaded machine. Without the wait it grows by
    // nearly every write's frames until the worker happens to catch up: hundreds to thousands here
    // (767-1,942 frames in five runs on an idle machine; up to ~190 with the wait, CPU saturated).
    assert.ok(
      most <= 12 * bound,
      `the WAL file held ${Math.round(most)} frames at most, over 12 times its bound of ${bound}`,
    );
  } finally {
    await db.close();
  }
});

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
