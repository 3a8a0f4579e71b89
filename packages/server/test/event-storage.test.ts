// The events table on both backends: events stored before migration 3 survive it (on PostgreSQL,
// moved into monthly partitions) and stay append-only and idempotent, and migration 4 (SQLite's
// time index with the surface and decision, in place of the surface's own index); two replicas that insert into
// a month with no partition yet at the same moment both succeed, and the month gets one partition.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { newChain, SCHEMA_VERSION, seal, uuid7, type AuditEvent } from '@perimeter/audit';
import { insertEvents, migrate, MIGRATIONS, openPostgres, openSqlite, type Database } from '../src/index.js';
import { eachBackend, type TestDatabase } from './backends.js';

const DAY = 86_400_000;

async function open(db: TestDatabase): Promise<Database> {
  return db.url !== undefined ? openPostgres(db.url) : openSqlite(join(db.dataDir, 'perimeter.sqlite'));
}

/** One sealed event at `at`, in a chain of its own. */
function eventAt(at: number, session: string): AuditEvent {
  return seal(
    {
      event_id: uuid7(at),
      schema_version: SCHEMA_VERSION,
      time: new Date(at).toISOString(),
      category: 'system',
      type: 'session.start',
      session: { id: session },
    },
    newChain(session),
  ).event;
}

/** The partitions of the events table (PostgreSQL), by name. */
async function partitions(db: Database): Promise<string[]> {
  const rows = await db.all<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

const monthName = (t: number): string => `events_${new Date(t).toISOString().slice(0, 7).replace('-', '_')}`;

eachBackend('event storage', (testDb, backend) => {
  let db: Database;
  before(async () => {
    db = await open(testDb());
  });
  after(async () => {
    await db.close();
  });

  it('events stored before partitioning survive the migration, append-only and stored once', async () => {
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.version < 3),
    );
    await db.run(
      "INSERT INTO orgs (id, slug, name, created_at, updated_at) VALUES ('org_x', 'x', 'X', 0, 0)",
    );
    const now = Date.now();
    const old = [eventAt(now - 70 * DAY, 'm-1'), eventAt(now - 40 * DAY, 'm-2'), eventAt(now, 'm-3')];
    // As the server before this migration stored them.
    for (const e of old)
      await db.run(
        `INSERT INTO events (id, org_id, time_ms, received_ms, category, type, session_id, chain_id, seq, body)
         VALUES (?, 'org_x', ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          e.event_id,
          Date.parse(e.time),
          now,
          e.category,
          e.type,
          e.session?.id ?? null,
          e.integrity.chain_id,
          0,
          JSON.stringify(e),
        ],
      );
    assert.deepEqual(
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.version <= 3),
      ),
      [3],
    );
    const rows = await db.all<{ body: string }>('SELECT body FROM events ORDER BY time_ms');
    assert.deepEqual(
      rows.map((r) => JSON.parse(r.body) as AuditEvent),
      old,
    );
    if (backend === 'postgres')
      assert.deepEqual(
        await partitions(db),
        [...new Set(old.map((e) => monthName(Date.parse(e.time))))].sort(),
      );
    assert.equal(await insertEvents(db, 'org_x', old, now), 0, 'a resent event is still skipped');
    await assert.rejects(db.run("UPDATE events SET type = 'x'"), /immutable/);
  });

  it('on SQLite the time index carries surface and decision (migration 4): a filter on them reads it, a user filter its own', async () => {
    assert.deepEqual(
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.version <= 4),
      ),
      [4],
    );
    assert.equal((await db.all('SELECT id FROM events')).length, 3, 'stored events survive it');
    if (backend === 'postgres') return;
    const plan = async (where: string): Promise<string> =>
      (
        await db.all<{ detail: string }>(
          `EXPLAIN QUERY PLAN SELECT id, time_ms, body FROM events WHERE org_id = 'org_x' AND time_ms >= 0
           AND ${where} ORDER BY time_ms DESC, id DESC LIMIT 101`,
        )
      )
        .map((r) => r.detail)
        .join('; ');
    assert.match(await plan("surface = 'network' AND decision = 'deny'"), /INDEX events_org_time \(/);
    // The question that read every network event of the day through the surface's index.
    assert.match(await plan("user_id = 'u' AND surface = 'network'"), /INDEX events_org_user_time \(/);
    const indexes = await db.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name",
    );
    assert.deepEqual(
      indexes.map((i) => i.name),
      [
        'events_org_category_time',
        'events_org_device_time',
        'events_org_session_time',
        'events_org_time',
        'events_org_user_time',
      ],
    );
  });

  it(
    'two replicas inserting into a month with no partition yet both succeed; it is made once',
    {
      skip: backend === 'sqlite' && 'replicas share PostgreSQL; SQLite is one server process',
    },
    async () => {
      const second = await open(testDb());
      try {
        const months = [150, 120, 90].map((ago) => Date.now() - ago * DAY);
        const writes = months.flatMap((at, m) =>
          [db, second, db, second].map((replica, i) =>
            replica.transaction((tx) =>
              insertEvents(
                tx,
                'org_x',
                [eventAt(at + i, `race-${m}-${i}`), eventAt(at + i + 1, `race-${m}-${i}b`)],
                at,
              ),
            ),
          ),
        );
        const inserted = await Promise.all(writes);
        assert.deepEqual(
          inserted,
          writes.map(() => 2),
        );
        const count = await db.get<{ n: number }>(
          "SELECT COUNT(*) AS n FROM events WHERE session_id LIKE 'race-%'",
        );
        assert.equal(Number(count?.n), 24);
        const made = await partitions(db);
        for (const at of months) assert.equal(made.filter((p) => p === monthName(at)).length, 1);
      } finally {
        await second.close();
      }
    },
  );
});
