// Activation reports are group-committed (device-queries.ts): reports that arrive together are
// stored by one transaction on either backend, and each caller hears back only once its report is
// committed. A device that reports twice in one batch keeps its later report; an error report
// keeps the device's active revision beside the error. On PostgreSQL, two replicas whose batches
// write the same devices in crossed order (one reports a device the other touches, and the
// reverse) wait for each other rather than deadlock.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Database, Queryable } from '../src/db/database.js';
import { openPostgres } from '../src/db/postgres.js';
import { DeviceQueries } from '../src/device-queries.js';
import { getDevice } from '../src/store/devices.js';
import { enrolDevice, seedOrg, type TokenReply } from './bundle-support.js';
import { countingTransactions, eachServer, until } from './harness.js';

const ISSUED = Date.parse('2026-11-01T00:00:00.000Z');

/**
 * The database, each of whose transactions stops after its first statement until `released`
 * settles; `paused` counts the transactions that got there.
 */
function pausedAfterFirstStatement(
  db: Database,
  released: Promise<void>,
): { db: Database; paused: () => number } {
  let paused = 0;
  return {
    db: {
      ...db,
      transaction: (fn) =>
        db.transaction((tx) => {
          let isFirst = true;
          const gate = async <R>(statement: Promise<R>): Promise<R> => {
            const result = await statement;
            if (isFirst) {
              isFirst = false;
              paused += 1;
              await released;
            }
            return result;
          };
          const gated: Queryable = {
            dialect: tx.dialect,
            all: (sql, params) => gate(tx.all(sql, params)),
            get: (sql, params) => gate(tx.get(sql, params)),
            run: (sql, params) => gate(tx.run(sql, params)),
          };
          return fn(gated);
        }),
    },
    paused: () => paused,
  };
}

eachServer('activation reports', (harness, backend) => {
  let devices: TokenReply[];

  before(async () => {
    const h = harness();
    const org = await seedOrg(h);
    devices = [];
    for (let i = 0; i < 6; i++) devices.push(await enrolDevice(h, org.users.alice, `laptop-${i}`));
  });

  it('reports sent together are stored by one transaction, each answered once it is stored', async () => {
    const h = harness();
    const counted = countingTransactions(h.server.db);
    const queries = new DeviceQueries(counted.db, () => h.clock.now());
    const now = h.clock.now();
    const stored = await Promise.all(
      devices.map(async (d, i) => {
        await queries.report(d.device.id, { revision: 10 + i, issuedAt: ISSUED, activatedAt: now }, now);
        // Read as soon as this caller hears back: its report is there.
        return (await getDevice(h.server.db, h.org.id, d.device.id))?.activeRevision;
      }),
    );
    assert.deepEqual(
      stored,
      devices.map((_, i) => 10 + i),
    );
    assert.equal(counted.transactions(), 1, 'one commit for the six reports');
  });

  it('a device reporting twice in one batch keeps the later report; an error keeps the active revision', async () => {
    const h = harness();
    const queries = new DeviceQueries(h.server.db, () => h.clock.now());
    const [first, second] = devices;
    assert.ok(first && second);
    const now = h.clock.now();
    await Promise.all([
      queries.report(first.device.id, { revision: 20, issuedAt: ISSUED, activatedAt: now }, now),
      queries.report(first.device.id, { revision: 21, issuedAt: ISSUED, activatedAt: now }, now),
      queries.report(second.device.id, { error: 'bad-signature: it does not verify' }, now),
    ]);
    const a = await getDevice(h.server.db, h.org.id, first.device.id);
    const b = await getDevice(h.server.db, h.org.id, second.device.id);
    assert.deepEqual([a?.activeRevision, a?.activationError], [21, null]);
    assert.deepEqual(
      [b?.activeRevision, b?.activationError, b?.reportedAt],
      [11, 'bad-signature: it does not verify', now],
      'the revision of the first test stays, with the error beside it',
    );
  });

  it('reports posted at once over HTTP are all answered 204 and all stored', async () => {
    const h = harness();
    const answers = await Promise.all(
      devices.map((d, i) =>
        fetch(`${h.server.url}/api/v1/device/activation`, {
          method: 'POST',
          headers: { authorization: `Bearer ${d.access_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ revision: 30 + i, issuedAt: new Date(ISSUED).toISOString() }),
        }).then((r) => r.status),
      ),
    );
    assert.deepEqual(
      answers,
      devices.map(() => 204),
    );
    const listed = await h.owner.get<{ devices: { id: string; revision: number | null }[] }>(
      `${h.base}/devices`,
    );
    assert.deepEqual(
      devices.map((d) => listed.body.devices.find((v) => v.id === d.device.id)?.revision),
      devices.map((_, i) => 30 + i),
    );
  });

  it(
    'two replicas writing the same devices in crossed order wait for each other, and both batches commit',
    {
      skip: backend === 'sqlite' && "SQLite's one write lock serialises transactions: no row locks to order",
    },
    async () => {
      const h = harness();
      const [low, high] = [devices[0]?.device.id ?? '', devices[1]?.device.id ?? ''].sort();
      assert.ok(low && high && low < high);
      // Two replicas: each a pool of its own, each transaction held after its first statement.
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      const url = h.db.url ?? assert.fail('a PostgreSQL test database has a URL');
      const pools = [await openPostgres(url), await openPostgres(url)];
      try {
        const [a, b] = pools.map((pool) => pausedAfterFirstStatement(pool, released));
        assert.ok(a && b);
        // A touch is written only when the last is a minute old: these replicas' clock is later.
        const at = h.clock.now() + 120_000;
        const replicaA = new DeviceQueries(a.db, () => at);
        const replicaB = new DeviceQueries(b.db, () => at);
        const report = (revision: number) => ({ revision, issuedAt: ISSUED, activatedAt: at });

        // Each replica's batch, one transaction: A reports `high` and touches `low`; B the reverse.
        const doneA = Promise.all([replicaA.report(high, report(40), at), replicaA.touch(low)]);
        await until('replica A stopped after its first statement', () => a.paused() === 1);
        const doneB = Promise.all([replicaB.report(low, report(41), at), replicaB.touch(high)]);
        const waitingForRowLocks = async (): Promise<number> =>
          Number(
            (
              await h.server.db.get<{ n: number }>(
                `SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
                 WHERE NOT l.granted AND s.datname = current_database()`,
              )
            )?.n,
          );
        await until(
          'replica B stopped after its first statement, or waiting for a row A holds',
          async () => b.paused() === 1 || (await waitingForRowLocks()) > 0,
        );
        release();
        // Crossed, each replica's second statement would wait for a row the other's first holds.
        await Promise.all([doneA, doneB]);

        const [lowNow, highNow] = await Promise.all(
          [low, high].map((id) => getDevice(h.server.db, h.org.id, id)),
        );
        assert.deepEqual(
          [lowNow?.activeRevision, highNow?.activeRevision, lowNow?.lastSeenAt, highNow?.lastSeenAt],
          [41, 40, at, at],
          "each replica's report and touch are stored",
        );
      } finally {
        release();
        await Promise.all(pools.map((pool) => pool.close()));
      }
    },
  );
});
