// Two server replicas on one PostgreSQL database behave as one: a change made through either wakes
// the devices waiting on the other (LISTEN/NOTIFY, pg-changes.ts), both issue the same bytes for
// the same state (so an ETag from one is current on the other), a listening connection the
// database kills is replaced (and a notification missed meanwhile still wakes its waiters), and a
// stopped replica leaves no connection behind. Replica B has its own data directory holding a copy
// of A's signing-keys.kek, as docs/server.md says to run them. PostgreSQL only: SQLite is one
// process's file.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { KEK_FILE, openPostgres, type BundlePayload, type Logger } from '../src/index.js';
import { LISTENER_NAME, PostgresChanges } from '../src/pg-changes.js';
import { POSTGRES_ADMIN_URL, freshDatabase, type TestDatabase } from './backends.js';
import { ENG, enrolDevice, publishPolicy, seedOrg, type Org } from './bundle-support.js';
import { claim, harnessOf, policyYaml, serve, testClock, until, type Harness } from './harness.js';

const DAY = 24 * 3_600_000;
/**
 * How long a test's long poll may wait. At the end of its wait a long poll reads once more, so it
 * answers a change 200 even unwoken: what tells a wake-up is an answer before the wait ends (the
 * only time bound here, and thousands of times what a wake-up takes).
 */
const WAIT_S = 30;

async function unreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (e) {
    return `replicas share PostgreSQL, and none answers at ${POSTGRES_ADMIN_URL} (${(e as Error).message}): start it or set PERIMETER_TEST_POSTGRES`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function admin<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

interface BundleReply {
  readonly status: number;
  readonly etag: string;
  readonly revision: number;
  readonly jws: string;
  readonly elapsedMs: number;
}

async function deviceBundle(
  url: string,
  credential: string,
  etag?: string,
  waitS?: number,
): Promise<BundleReply> {
  const started = performance.now();
  const r = await fetch(`${url}/api/v1/device/bundle${waitS !== undefined ? `?wait=${waitS}` : ''}`, {
    headers: {
      authorization: `Bearer ${credential}`,
      ...(etag !== undefined ? { 'if-none-match': etag } : {}),
    },
  });
  return {
    status: r.status,
    etag: r.headers.get('etag') ?? '',
    revision: Number(r.headers.get('x-perimeter-revision')),
    jws: await r.text(),
    elapsedMs: performance.now() - started,
  };
}

/** A long poll answered with a change when it was announced, before its wait ended. */
function assertWoken(reply: BundleReply): void {
  assert.equal(reply.status, 200);
  assert.ok(
    reply.elapsedMs < WAIT_S * 1000,
    `answered after ${Math.round(reply.elapsedMs)} ms: at the end of the wait, not at the change`,
  );
}

const payloadOf = (jws: string): BundlePayload =>
  JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as BundlePayload;

const logged = (h: Harness, event: string): number => h.logs.filter((l) => l.event === event).length;

const skip = await unreachable();

describe('two replicas on one PostgreSQL', { skip: skip ?? false }, () => {
  let db: TestDatabase;
  let dirB: string;
  let a: Harness;
  let b: Harness;
  let org: Org;
  let dbName: string;

  const listeners = async (): Promise<number[]> =>
    (
      await admin<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 ORDER BY pid',
        [dbName, LISTENER_NAME],
      )
    ).map((r) => r.pid);

  before(async () => {
    db = await freshDatabase('postgres');
    dbName = new URL(db.url ?? '').pathname.slice(1);
    // Mid-way through a day-long issue window, so no test straddles two.
    const clock = testClock();
    clock.advance(Math.floor(Date.now() / DAY) * DAY + DAY / 2 - Date.now());
    const logsA: Record<string, unknown>[] = [];
    const serverA = await serve(db, clock, logsA);
    if (!serverA.bootstrap) throw new Error('a first start must print a bootstrap token');
    const claimed = await claim(serverA.url, serverA.bootstrap.token);
    dirB = mkdtempSync(join(tmpdir(), 'perimeter-replica-b-'));
    copyFileSync(join(db.dataDir, KEK_FILE), join(dirB, KEK_FILE));
    const logsB: Record<string, unknown>[] = [];
    const serverB = await serve({ ...db, dataDir: dirB }, clock, logsB);
    assert.equal(serverB.bootstrap, undefined, 'the second replica finds the organisation and its owner');
    a = harnessOf(db, serverA, clock, logsA, claimed);
    b = harnessOf(db, serverB, clock, logsB, claimed);
    org = await seedOrg(a);
  });

  after(async () => {
    await b?.server.close();
    await a?.server.close();
    await db?.drop();
    if (dirB !== undefined) rmSync(dirB, { recursive: true, force: true });
  });

  it('a publication on A reaches a device long-polling B before its wait ends', async () => {
    const device = await enrolDevice(a, org.users.alice, 'alice-laptop');
    const held = await deviceBundle(b.server.url, device.access_token);
    assert.equal(held.status, 200);
    const polling = deviceBundle(b.server.url, device.access_token, held.etag, WAIT_S);
    await until('the long poll waiting on B', () => b.server.changes.waiters > 0);
    await publishPolicy(
      a,
      'baseline',
      policyYaml(
        'baseline',
        `network:\n  allow:\n    - { id: docs, hosts: [docs.example.com], ports: [443, 8443] }\n`,
      ),
      org.policies.baseline,
    );
    const woken = await polling;
    assertWoken(woken);
    assert.equal(woken.revision, held.revision + 1);
    assert.notEqual(woken.etag, held.etag);
  });

  it('both replicas issue the same bytes: an ETag from A is current on B, also after a rotation on B', async () => {
    const device = await enrolDevice(b, org.users.bob, 'bob-laptop');
    const fromA = await deviceBundle(a.server.url, device.access_token);
    const fromB = await deviceBundle(b.server.url, device.access_token);
    assert.equal(fromA.status, 200);
    assert.equal(fromB.jws, fromA.jws, 'the same signed bundle, byte for byte');
    assert.equal(fromB.etag, fromA.etag);
    const again = await deviceBundle(b.server.url, device.access_token, fromA.etag);
    assert.equal(again.status, 304, "A's ETag is current on B");

    const rotated = await b.owner.post<{ kid: string }>(`${b.base}/keys/rotate`);
    assert.equal(rotated.status, 200);
    const newA = await deviceBundle(a.server.url, device.access_token, fromA.etag);
    const newB = await deviceBundle(b.server.url, device.access_token, fromA.etag);
    assert.equal(newA.status, 200, 'A signs with the key B made');
    assert.equal(newB.jws, newA.jws);
    const header = JSON.parse(Buffer.from(newA.jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
      kid: string;
    };
    assert.equal(header.kid, rotated.body.kid);
    assert.equal(
      payloadOf(newA.jws).issuedAt,
      payloadOf(fromA.jws).issuedAt,
      'the same state, the same issue time: a device does not take it for a replay',
    );
  });

  it('a membership change on B wakes a device long-polling A', async () => {
    const device = await enrolDevice(a, org.users.carol, 'carol-laptop');
    const held = await deviceBundle(a.server.url, device.access_token);
    assert.deepEqual(payloadOf(held.jws).subject.groups, []);
    const polling = deviceBundle(a.server.url, device.access_token, held.etag, WAIT_S);
    await until('the long poll waiting on A', () => a.server.changes.waiters > 0);
    const added = await b.owner.put(`${b.base}/groups/${org.groups.eng}/members/${org.users.carol}`);
    assert.equal(added.status, 200);
    const woken = await polling;
    assertWoken(woken);
    assert.deepEqual(payloadOf(woken.jws).subject.groups, ['eng']);
    assert.ok(payloadOf(woken.jws).policies.some((p) => p.name === 'engineering'));
  });

  it('a device revoked on A is refused by B, even when a publication on B wakes it before A’s news arrives', async () => {
    const devices = [
      await enrolDevice(a, org.users.bob, 'bob-phone'),
      await enrolDevice(a, org.users.bob, 'bob-tablet'),
    ];
    const held = await Promise.all(devices.map((d) => deviceBundle(b.server.url, d.access_token)));
    const polling = devices.map((d, i) => deviceBundle(b.server.url, d.access_token, held[i]?.etag, WAIT_S));
    await until('both long polls waiting on B', () => b.server.changes.waiters >= 2);
    const [stolen, kept] = devices;
    assert.ok(stolen && kept);
    // The revocation is acknowledged by A; the publication on B follows at once, so B may well
    // wake its devices before it hears A's notification: B reads their standing afresh all the same.
    assert.equal((await a.owner.delete(`${a.base}/devices/${stolen.device.id}`)).status, 204);
    await publishPolicy(
      b,
      'baseline',
      policyYaml(
        'baseline',
        `network:\n  allow:\n    - { id: docs, hosts: [docs.example.com, replicas.example.com], ports: [443] }\n`,
      ),
      org.policies.baseline,
    );
    const [refused, woken] = await Promise.all(polling);
    assert.equal(refused?.status, 401, 'never a bundle after the revocation was acknowledged');
    assert.ok(woken);
    assertWoken(woken);
    assert.equal(woken.revision, (held[1]?.revision ?? 0) + 1);
  });

  it('a listening connection the database kills is replaced, and a publication after it still wakes waiters', async () => {
    const before = await listeners();
    assert.equal(before.length, 2, 'one listening connection per replica');
    const restored = [a, b].map((h) => logged(h, 'bundle-changes.listener-restored'));
    const killed = await admin<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM unnest($1::int[]) pid',
      [before],
    );
    assert.deepEqual(
      killed.map((k) => k.ok),
      [true, true],
    );
    await until(
      'both replicas listening again',
      () =>
        logged(a, 'bundle-changes.listener-restored') > (restored[0] ?? 0) &&
        logged(b, 'bundle-changes.listener-restored') > (restored[1] ?? 0),
    );
    assert.equal(logged(b, 'bundle-changes.listener-lost'), 1);
    const after = await listeners();
    assert.equal(after.length, 2);
    assert.ok(!after.some((pid) => before.includes(pid)), 'new connections');

    const device = await enrolDevice(a, org.users.alice, 'alice-desktop');
    const held = await deviceBundle(b.server.url, device.access_token);
    const polling = deviceBundle(b.server.url, device.access_token, held.etag, WAIT_S);
    await until('the long poll waiting on B', () => b.server.changes.waiters > 0);
    await publishPolicy(
      a,
      'engineering',
      ENG.replace('[api.github.com]', '[api.github.com, uploads.github.com]'),
      org.policies.engineering,
    );
    const woken = await polling;
    assertWoken(woken);
    assert.equal(woken.revision, held.revision + 1);
  });

  it('a notification sent while a listener was down still wakes its waiters once it listens again', async () => {
    const logs: Record<string, unknown>[] = [];
    const log: Logger = { log: (level, event, fields) => logs.push({ level, event, ...fields }) };
    const heard = (event: string): boolean => logs.some((l) => l.event === event);
    const pool = await openPostgres(db.url ?? '');
    const known = await listeners();
    // A slow first reconnect (0.75 to 1.5 s), so the NOTIFY below goes out while nobody listens.
    const feed = await PostgresChanges.open(db.url ?? '', pool, { log, reconnectMs: 1500 });
    try {
      const mine = (await listeners()).filter((pid) => !known.includes(pid));
      assert.equal(mine.length, 1, "the feed's own listening connection");
      const waiter = feed.next(a.org.id);
      let isWoken = false;
      void waiter.changed.then(() => (isWoken = true));
      await admin('SELECT pg_terminate_backend($1)', [mine[0]]);
      await until('the feed to notice its connection is gone', () => heard('bundle-changes.listener-lost'));
      a.server.changes.announce(a.org.id);
      await until('the waiter to wake', () => isWoken);
      assert.ok(heard('bundle-changes.listener-restored'), 'woken once the feed listened again, not before');
    } finally {
      await feed.close();
      await pool.close();
    }
  });

  it('a stopped replica leaves no connection behind, its listening one included', async () => {
    await b.server.close();
    await until('one listening connection left', async () => (await listeners()).length === 1);
    await a.server.close();
    await until(
      'no connection to the database left',
      async () =>
        (
          await admin<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [
            dbName,
          ])
        )[0]?.n === 0,
    );
  });
});
