// When the database cannot take a statement now (an overload), the API answers 503 with
// Retry-After, never 500: admins and devices alike, and devices back off and ask again. On
// PostgreSQL, no pooled connection comes free in time: the server here has a pool of one
// connection that waits 200 ms, and the test holds that connection in a transaction of its own.
// On SQLite, another process holds the database locked past the busy timeout.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { enrolDevice, seedOrg } from './bundle-support.js';
import { eachServer, type Harness } from './harness.js';

/** Runs `fn` while the test holds the pool's only connection. */
async function whileHeld<T>(h: Harness, fn: () => Promise<T>): Promise<T> {
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

/** Retry-After is 2–6 whole seconds. */
function assertRetryAfter(who: string, retryAfter: string | null): void {
  const seconds = Number(retryAfter);
  assert.ok(Number.isInteger(seconds) && seconds >= 2 && seconds <= 6, `${who}: Retry-After ${retryAfter}`);
}

eachServer(
  'a database that cannot take a statement now',
  (harness, backend) => {
    if (backend === 'postgres')
      it('with no pooled connection free, answers 503 with Retry-After to an admin and to a device, and serves them once one is free', async () => {
        const h = harness();
        const device = await enrolDevice(h, (await seedOrg(h)).users.alice);
        const [admin, poll] = await whileHeld(h, () =>
          Promise.all([
            h.owner.get(`${h.base}/devices`),
            fetch(`${h.server.url}/api/v1/device/bundle`, {
              headers: { authorization: `Bearer ${device.access_token}` },
            }),
          ]),
        );
        assert.equal(admin.status, 503, 'admin');
        assertRetryAfter('admin', admin.headers.get('retry-after'));
        assert.equal(admin.body.error.code, 'unavailable');
        assert.equal(poll.status, 503, 'device');
        assertRetryAfter('device', poll.headers.get('retry-after'));
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
    else
      it('with another process holding it locked, answers a write 503 with Retry-After once the busy timeout passes, and serves it after', async () => {
        const h = harness();
        // A backup tool, a second server started by mistake: another connection holds the write lock.
        const other = new BetterSqlite3(join(h.db.dataDir, 'perimeter.sqlite'));
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
        assertRetryAfter('admin', answer.headers.get('retry-after'));
        assert.equal(
          h.logs.filter((l) => l.event === 'http.error').length,
          0,
          'no error with a stack is logged',
        );
        assert.equal((await h.owner.post(`${h.base}/groups`, { name: 'eng' })).status, 201);
      });
  },
  { databasePool: { maxConnections: 1, connectionTimeoutMs: 200 } },
);
