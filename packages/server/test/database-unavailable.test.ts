// When no pooled PostgreSQL connection comes free in time (an overload), the API answers 503 with
// Retry-After, never 500: admins and devices alike, and devices back off and ask again. The
// server here has a pool of one connection that waits 200 ms, and the test holds that connection
// in a transaction of its own. On SQLite the same answer comes when another process holds the
// database locked past the busy timeout.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { POSTGRES_ADMIN_URL, freshDatabase, type TestDatabase } from './backends.js';
import { enrolDevice, seedOrg, type TokenReply } from './bundle-support.js';
import { claim, harnessOf, serve, testClock, type Harness } from './harness.js';

async function unreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (e) {
    return `PostgreSQL does not answer at ${POSTGRES_ADMIN_URL} (${(e as Error).message}): start it or set PERIMETER_TEST_POSTGRES`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const skip = await unreachable();

describe('a PostgreSQL pool with no connection free', { skip: skip ?? false }, () => {
  let db: TestDatabase;
  let h: Harness;
  let device: TokenReply;

  before(async () => {
    db = await freshDatabase('postgres');
    const clock = testClock();
    const logs: Record<string, unknown>[] = [];
    const server = await serve(db, clock, logs, {
      databasePool: { maxConnections: 1, connectionTimeoutMs: 200 },
    });
    if (!server.bootstrap) throw new Error('a first start must print a bootstrap token');
    h = harnessOf(db, server, clock, logs, await claim(server.url, server.bootstrap.token));
    const org = await seedOrg(h);
    device = await enrolDevice(h, org.users.alice);
  });

  after(async () => {
    await h?.server.close();
    await db?.drop();
  });

  /** Runs `fn` while the test holds the pool's only connection. */
  async function whileHeld<T>(fn: () => Promise<T>): Promise<T> {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let isHeld: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (isHeld = resolve));
    const holding = h.server.db.transaction(async () => {
      isHeld();
      await released;
    });
    await held;
    try {
      return await fn();
    } finally {
      release();
      await holding;
    }
  }

  it('answers 503 with Retry-After, to an admin and to a device, and serves them once a connection is free', async () => {
    const [admin, poll] = await whileHeld(() =>
      Promise.all([
        h.owner.get(`${h.base}/devices`),
        fetch(`${h.server.url}/api/v1/device/bundle`, {
          headers: { authorization: `Bearer ${device.access_token}` },
        }),
      ]),
    );
    for (const [who, status, retryAfter] of [
      ['admin', admin.status, admin.headers.get('retry-after')],
      ['device', poll.status, poll.headers.get('retry-after')],
    ] as const) {
      assert.equal(status, 503, who);
      const seconds = Number(retryAfter);
      assert.ok(
        Number.isInteger(seconds) && seconds >= 2 && seconds <= 6,
        `${who}: Retry-After ${retryAfter}`,
      );
    }
    assert.equal(admin.body.error.code, 'unavailable');
    const body = (await poll.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'unavailable');
    assert.equal(
      h.logs.filter((l) => l.event === 'http.error').length,
      0,
      'an overload is no bug: no error with a stack is logged',
    );

    assert.equal((await h.owner.get(`${h.base}/devices`)).status, 200);
    const again = await fetch(`${h.server.url}/api/v1/device/bundle`, {
      headers: { authorization: `Bearer ${device.access_token}` },
    });
    assert.equal(again.status, 200);
  });
});

describe('a SQLite database another process holds locked', () => {
  let db: TestDatabase;
  let h: Harness;

  before(async () => {
    db = await freshDatabase('sqlite');
    const clock = testClock();
    const logs: Record<string, unknown>[] = [];
    const server = await serve(db, clock, logs);
    if (!server.bootstrap) throw new Error('a first start must print a bootstrap token');
    h = harnessOf(db, server, clock, logs, await claim(server.url, server.bootstrap.token));
  });

  after(async () => {
    await h?.server.close();
    await db?.drop();
  });

  it('answers a write 503 with Retry-After once the busy timeout passes (an overload, not a bug), and serves it after', async () => {
    // A backup tool, a second server started by mistake: another connection holds the write lock.
    const other = new BetterSqlite3(join(db.dataDir, 'perimeter.sqlite'));
    other.exec('BEGIN EXCLUSIVE');
    let answer;
    try {
      answer = await h.owner.post(`${h.base}/groups`, { name: 'eng' });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    assert.equal(answer.status, 503);
    assert.equal(answer.body.error.code, 'unavailable');
    const seconds = Number(answer.headers.get('retry-after'));
    assert.ok(Number.isInteger(seconds) && seconds >= 2 && seconds <= 6, `Retry-After ${seconds}`);
    assert.equal(h.logs.filter((l) => l.event === 'http.error').length, 0, 'no error with a stack is logged');
    assert.equal((await h.owner.post(`${h.base}/groups`, { name: 'eng' })).status, 201);
  });
});
