// Device batches that come at the same time share one transaction on SQLite (store/device-chains.ts,
// DeviceBatches), each under a savepoint: each batch still gets the answer it would have got alone (a
// batch stored, a resend counted as duplicates, a gap, a tampered chain refused), a refused batch is
// undone alone, and every good batch of the group is stored. On both backends, over real HTTP and
// against the store itself.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { AuditEvent } from '@perimeter/audit';
import { checkLines } from '../src/batch-checking.js';
import { assembleBatch, splitUpload } from '../src/device-batch.js';
import {
  DeviceBatches,
  storeTogether,
  type BatchOutcome,
  type DeviceBatch,
} from '../src/store/device-chains.js';
import {
  chain,
  countRows,
  deviceOf,
  ndjson,
  send,
  sessionEvents,
  shapes,
  upload,
  type TestDevice,
} from './audit-support.js';
import { countingTransactions, eachServer, type Harness } from './harness.js';

/** Events as the ingest route hands them to storage: split, checked and assembled by its own code. */
async function received(h: Harness, device: TestDevice, events: readonly AuditEvent[]): Promise<DeviceBatch> {
  const now = h.clock.now();
  const split = splitUpload(Buffer.from(ndjson(events)));
  return {
    owner: { orgId: h.org.id, userId: device.userId, deviceId: device.id },
    events: assembleBatch(split, await checkLines(split.lines, now)),
    now,
  };
}

/** An event whose content changed after it was sealed. */
const tampered = (events: readonly AuditEvent[]): AuditEvent[] =>
  events.map((e, i) => (i === 1 ? { ...e, reason: 'rewritten afterwards' } : e));

async function headOf(h: Harness, device: TestDevice, session: string): Promise<number | undefined> {
  const row = await h.server.db.get<{ next_seq: number }>(
    'SELECT next_seq FROM audit_chains WHERE org_id = ? AND chain_id = ?',
    [h.org.id, `device:${device.id}:${session}`],
  );
  return row === undefined ? undefined : Number(row.next_seq);
}

eachServer('device batches grouped into one transaction', (harness) => {
  let alice: TestDevice;
  let bob: TestDevice;

  before(async () => {
    const h = harness();
    alice = await deviceOf(h, 'alice@example.com', 'alice-laptop');
    bob = await deviceOf(h, 'bob@example.com', 'bob-laptop');
  });

  /** Four batches of four kinds, and a second good one after the failures; `tag` names their chains. */
  async function fiveKinds(h: Harness, tag: string) {
    const good = chain(`${tag}-good`, shapes(h, 4));
    const resent = chain(`${tag}-resent`, shapes(h, 3));
    await send(h, alice, resent.events);
    const gap = chain(`${tag}-gap`, shapes(h, 4));
    const forged = chain(`${tag}-forged`, shapes(h, 3));
    const later = chain(`${tag}-later`, shapes(h, 2));
    return {
      good,
      resent,
      batches: [
        { device: alice, events: good.events },
        { device: alice, events: resent.events },
        { device: bob, events: gap.events.slice(2) },
        { device: bob, events: tampered(forged.events) },
        { device: bob, events: later.events },
      ],
    };
  }

  /** The answers the five batches must get, whoever stores them and however grouped. */
  function assertAnswers(tag: string, outcomes: readonly BatchOutcome[]): void {
    assert.deepEqual(outcomes[0], {
      kind: 'stored',
      stored: 4,
      duplicates: 0,
      chains: [{ chain_id: `${tag}-good`, next_seq: 4 }],
    });
    assert.deepEqual(outcomes[1], {
      kind: 'stored',
      stored: 0,
      duplicates: 3,
      chains: [{ chain_id: `${tag}-resent`, next_seq: 3 }],
    });
    assert.deepEqual(outcomes[2], {
      kind: 'gap',
      chainId: `${tag}-gap`,
      seq: 2,
      expected: 0,
      chains: [{ chain_id: `${tag}-gap`, next_seq: 0 }],
    });
    assert.equal(outcomes[3]?.kind, 'refused');
    assert.deepEqual(outcomes[3] && 'seq' in outcomes[3] ? [outcomes[3].chainId, outcomes[3].seq] : [], [
      `${tag}-forged`,
      1,
    ]);
    assert.deepEqual(outcomes[4], {
      kind: 'stored',
      stored: 2,
      duplicates: 0,
      chains: [{ chain_id: `${tag}-later`, next_seq: 2 }],
    });
  }

  /** Every good batch stored whole, nothing of a refused one, no head for a chain that was refused. */
  async function assertStored(h: Harness, tag: string, good: readonly AuditEvent[]): Promise<void> {
    assert.deepEqual(await sessionEvents(h, `${tag}-good`), good);
    assert.equal(await countRows(h, 'session_id = ?', [`${tag}-resent`]), 3, 'the resend is stored once');
    assert.equal(
      await countRows(h, 'session_id = ?', [`${tag}-later`]),
      2,
      'a good batch after a refused one is stored',
    );
    assert.equal(await countRows(h, 'session_id = ?', [`${tag}-gap`]), 0);
    assert.equal(await countRows(h, 'session_id = ?', [`${tag}-forged`]), 0);
    assert.equal(await headOf(h, bob, `${tag}-gap`), undefined, 'no head kept for a batch with a gap');
    assert.equal(await headOf(h, bob, `${tag}-forged`), undefined, 'no head kept for a refused batch');
    assert.equal(await headOf(h, bob, `${tag}-later`), 2);
  }

  it('stored together, each batch gets the outcome it would have got alone, and every good one is kept', async () => {
    const h = harness();
    const { good, batches } = await fiveKinds(h, 'g-together');
    const group = await Promise.all(batches.map((b) => received(h, b.device, b.events)));
    const counted = countingTransactions(h.server.db);
    const settled = await storeTogether(counted.db, group);
    assert.equal(counted.transactions(), 1, 'one transaction for the five');
    assertAnswers(
      'g-together',
      settled.map((one) => ('outcome' in one ? one.outcome : assert.fail(String(one.error)))),
    );
    await assertStored(h, 'g-together', good.events);
  });

  it('batches that come in the same turn share a transaction on SQLite, and each hears its own answer', async () => {
    const h = harness();
    const { good, batches } = await fiveKinds(h, 'g-turn');
    const group = await Promise.all(batches.map((b) => received(h, b.device, b.events)));
    const counted = countingTransactions(h.server.db);
    const deviceBatches = new DeviceBatches(counted.db);
    const outcomes = await Promise.all(group.map((b) => deviceBatches.store(b)));
    // PostgreSQL stores each in its own transaction, side by side.
    assert.equal(counted.transactions(), h.backend === 'sqlite' ? 1 : 5);
    assertAnswers('g-turn', outcomes);
    await assertStored(h, 'g-turn', good.events);
  });

  it('uploads sent at once get 200, 200 with duplicates, 409 and 422, and the good ones are stored', async () => {
    const h = harness();
    const { good, batches } = await fiveKinds(h, 'g-http');
    const replies = await Promise.all(batches.map((b) => upload(h, b.device.credential, ndjson(b.events))));
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 409, 422, 200],
    );
    assert.deepEqual(replies[0]?.body, {
      stored: 4,
      duplicates: 0,
      chains: [{ chain_id: 'g-http-good', next_seq: 4 }],
    });
    assert.deepEqual(replies[1]?.body, {
      stored: 0,
      duplicates: 3,
      chains: [{ chain_id: 'g-http-resent', next_seq: 3 }],
    });
    assert.equal(replies[2]?.body.error.code, 'chain-gap');
    assert.deepEqual(replies[2]?.body.chains, [{ chain_id: 'g-http-gap', next_seq: 0 }]);
    assert.equal(replies[3]?.body.error.code, 'chain-refused');
    assert.deepEqual([replies[3]?.body.chain_id, replies[3]?.body.seq], ['g-http-forged', 1]);
    assert.deepEqual(replies[4]?.body, {
      stored: 2,
      duplicates: 0,
      chains: [{ chain_id: 'g-http-later', next_seq: 2 }],
    });
    await assertStored(h, 'g-http', good.events);
  });
});
