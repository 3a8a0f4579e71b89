// Devices' hash chains as the server keeps them: where each chain stands (audit_chains, under
// `device:<device id>:<chain id>`, so a device can never extend or collide with another device's
// chain), and a device's batch stored against them: all of it, or none (in a transaction of its
// own, or under a savepoint in one it shares with other devices' batches that came at once).
//
// Each event, in order: the next seq of its chain must link to the chain's last hash; a seq
// already stored must be the very event stored (a resend, skipped); a seq beyond the next is a
// gap. The first problem decides the answer, and nothing of the batch is stored.

import { batched, Failure } from '../batched.js';
import type { Database, Queryable } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import { MAX_BATCH_EVENTS, type ReceivedEvent } from '../device-batch.js';
import { GENESIS_HASH } from '@perimeter/audit';
import { insertRows, storedRows, type EventRow } from './events.js';
import { marks, slices } from './lists.js';

/** Who sent a batch, from its credential: what the stored rows say, whatever the events claim. */
export interface BatchOwner {
  readonly orgId: string;
  readonly userId: string;
  readonly deviceId: string;
}

/** A chain as the device names it, and the seq the server expects next. */
export interface ChainHead {
  readonly chain_id: string;
  readonly next_seq: number;
}

export type BatchOutcome =
  | {
      readonly kind: 'stored';
      readonly stored: number;
      readonly duplicates: number;
      readonly chains: readonly ChainHead[];
    }
  /** An event beyond its chain's next seq: the heads of the batch's chains, to resend from. */
  | {
      readonly kind: 'gap';
      readonly chainId: string;
      readonly seq: number;
      readonly expected: number;
      readonly chains: readonly ChainHead[];
    }
  /** A chain that cannot go on: an event changed, relinked, rewritten or invalid. */
  | { readonly kind: 'refused'; readonly chainId: string; readonly seq: number; readonly why: string };

/** The server's id of a device's chain. */
export const deviceChainId = (deviceId: string, chainId: string): string => `device:${deviceId}:${chainId}`;

/** Ends the batch's transaction (rolled back) with an outcome that is not a failure of the server. */
class Stop extends Error {
  constructor(readonly outcome: BatchOutcome) {
    super(outcome.kind);
  }
}

/**
 * The batch's chains' heads, locked until the transaction ends (on PostgreSQL; SQLite's write lock
 * already serialises). A chain new to the server gets its head first, with INSERT … ON CONFLICT DO
 * NOTHING, so two replicas starting the same chain at once both lock the one row. Rows are made
 * and locked in key order, so two batches over the same chains cannot deadlock.
 */
async function lockHeads(
  tx: Queryable,
  orgId: string,
  keys: readonly string[],
): Promise<Map<string, { next: number; last: string }>> {
  const sorted = [...keys].sort();
  for (const part of slices(sorted))
    await tx.run(
      `INSERT INTO audit_chains (org_id, chain_id, next_seq, last_hash)
       VALUES ${marks(part, '(?, ?, 0, ?)')} ON CONFLICT DO NOTHING`,
      part.flatMap((key) => [orgId, key, GENESIS_HASH]),
    );
  const heads = new Map<string, { next: number; last: string }>();
  for (const part of slices(sorted)) {
    const rows = await tx.all<{ chain_id: string; next_seq: number; last_hash: string }>(
      `SELECT chain_id, next_seq, last_hash FROM audit_chains
       WHERE org_id = ? AND chain_id IN (${marks(part)})
       ORDER BY chain_id${DIALECTS[tx.dialect].byteOrder}${DIALECTS[tx.dialect].forUpdate}`,
      [orgId, ...part],
    );
    for (const r of rows) heads.set(r.chain_id, { next: r.next_seq, last: r.last_hash });
  }
  return heads;
}

const hashInBody = (body: string): unknown =>
  (JSON.parse(body) as { integrity?: { hash?: unknown } }).integrity?.hash;

/** A chain of a batch while it is checked: where it stood, and where this batch has taken it. */
interface ChainState {
  readonly key: string;
  /** The next seq as stored before this batch. */
  readonly storedNext: number;
  next: number;
  last: string;
  /** This batch's new events, from storedNext on: a resend within the batch is checked against them. */
  readonly accepted: { readonly id: string; readonly hash: string }[];
}

async function storeIn(
  tx: Queryable,
  owner: BatchOwner,
  batch: readonly ReceivedEvent[],
  now: number,
): Promise<BatchOutcome> {
  const names = [...new Set(batch.map((e) => e.chainId))];
  const stored = await lockHeads(
    tx,
    owner.orgId,
    names.map((name) => deviceChainId(owner.deviceId, name)),
  );
  // One state per chain, found by the name the events carry: no key is built per event.
  const chains = new Map<string, ChainState>();
  for (const name of names) {
    const key = deviceChainId(owner.deviceId, name);
    const head = stored.get(key);
    if (!head) throw new Error(`the head of chain ${key} was not made`);
    chains.set(name, { key, storedNext: head.next, next: head.next, last: head.last, accepted: [] });
  }
  const stateOf = (name: string): ChainState => chains.get(name) as ChainState;
  const reported = (which: 'storedNext' | 'next'): ChainHead[] =>
    names.map((name) => ({ chain_id: name, next_seq: stateOf(name)[which] }));

  const rows: EventRow[] = [];
  /** The chain name of each row. */
  const rowChains: string[] = [];
  const resends: {
    name: string;
    key: string;
    id: string;
    time: number;
    hash: string;
    seq: number;
  }[] = [];
  let duplicates = 0;
  /** The first problem: it decides the answer. */
  let stop: BatchOutcome | undefined;
  const refusal = (e: ReceivedEvent, why: string): BatchOutcome => ({
    kind: 'refused',
    chainId: e.chainId,
    seq: e.seq,
    why,
  });

  for (const e of batch) {
    if ('problem' in e.check) {
      stop = refusal(e, e.check.problem);
      break;
    }
    const event = e.check;
    const chain = stateOf(e.chainId);
    const { hash, time } = event;
    if (e.seq === chain.next) {
      if (event.prevHash !== chain.last) {
        stop = refusal(
          e,
          e.seq === 0
            ? 'the first event of a chain must link to 64 zeros'
            : `its prev_hash is not the hash of seq ${e.seq - 1} (an event was removed, inserted or reordered)`,
        );
        break;
      }
      rows.push({
        id: event.id,
        orgId: owner.orgId,
        time,
        receivedAt: now,
        category: event.category,
        type: event.type,
        userId: owner.userId,
        deviceId: owner.deviceId,
        sessionId: event.sessionId ?? e.chainId,
        surface: event.surface ?? null,
        decision: event.decision ?? null,
        chainId: chain.key,
        seq: e.seq,
        body: e.text,
      });
      rowChains.push(e.chainId);
      chain.accepted.push({ id: event.id, hash });
      chain.next += 1;
      chain.last = hash;
    } else if (e.seq < chain.storedNext) {
      resends.push({ name: e.chainId, key: chain.key, id: event.id, time, hash, seq: e.seq });
    } else if (e.seq < chain.next) {
      // A resend of an event earlier in this batch.
      const earlier = chain.accepted[e.seq - chain.storedNext];
      if (earlier?.id === event.id && earlier.hash === hash) duplicates += 1;
      else {
        stop = refusal(e, `it is a second, different event at seq ${e.seq}`);
        break;
      }
    } else {
      stop = {
        kind: 'gap',
        chainId: e.chainId,
        seq: e.seq,
        expected: chain.next,
        chains: reported('storedNext'),
      };
      break;
    }
  }

  // A resend must be the very event stored at its place: one query for all of them. (Each came
  // before the first problem, if any: a refused resend is the earlier problem.)
  if (resends.length > 0) {
    const found = new Map((await storedRows(tx, resends)).map((s) => [`${s.time}:${s.id}`, s] as const));
    for (const r of resends) {
      const s = found.get(`${r.time}:${r.id}`);
      if (
        s &&
        s.orgId === owner.orgId &&
        s.chainId === r.key &&
        s.seq === r.seq &&
        hashInBody(s.body) === r.hash
      )
        duplicates += 1;
      else {
        stop = {
          kind: 'refused',
          chainId: r.name,
          seq: r.seq,
          why: `seq ${r.seq} is stored already, as a different event (the chain's history was rewritten)`,
        };
        break;
      }
    }
  }
  if (stop) throw new Stop(stop);

  if ((await insertRows(tx, rows)) < rows.length) {
    // An (id, time) already stored elsewhere, or twice in this batch: the event it skipped is refused.
    const found = new Set(
      (await storedRows(tx, rows)).map((s) => `${s.time}:${s.id}:${s.orgId}:${s.chainId}:${s.seq}`),
    );
    const lost = rows.findIndex((r) => !found.has(`${r.time}:${r.id}:${owner.orgId}:${r.chainId}:${r.seq}`));
    throw new Stop({
      kind: 'refused',
      chainId: rowChains[lost] ?? names[0] ?? '',
      seq: rows[lost]?.seq ?? 0,
      why: 'its event id is the id of another stored event',
    });
  }
  for (const chain of chains.values())
    if (chain.next !== chain.storedNext)
      await tx.run('UPDATE audit_chains SET next_seq = ?, last_hash = ? WHERE org_id = ? AND chain_id = ?', [
        chain.next,
        chain.last,
        owner.orgId,
        chain.key,
      ]);
  return { kind: 'stored', stored: rows.length, duplicates, chains: reported('next') };
}

/** A device's batch as the ingest route hands it over: who sent it, its events, when it came. */
export interface DeviceBatch {
  readonly owner: BatchOwner;
  readonly events: readonly ReceivedEvent[];
  readonly now: number;
}

/** One batch in a transaction of its own: all of it, or none. */
async function storeAlone(db: Database, batch: DeviceBatch): Promise<BatchOutcome> {
  try {
    return await db.transaction((tx) => storeIn(tx, batch.owner, batch.events, batch.now));
  } catch (e) {
    if (e instanceof Stop) return e.outcome;
    throw e;
  }
}

/** What became of one batch of a group: its outcome, or the error that undid it alone. */
export type Settled = { readonly outcome: BatchOutcome } | { readonly error: unknown };

/**
 * Several batches in one transaction, one after another as if each had its own: each under a
 * savepoint, so a batch that is refused, has a gap or fails is undone alone and the others go on.
 * What each came to holds once the transaction has committed (and its WAL is synced), which is
 * when this resolves; a failure of the transaction itself (BEGIN, COMMIT, the sync) rejects it.
 */
export async function storeTogether(db: Database, batches: readonly DeviceBatch[]): Promise<Settled[]> {
  return db.transaction(async (tx) => {
    const settled: Settled[] = [];
    for (const b of batches) {
      await tx.run('SAVEPOINT device_batch');
      try {
        settled.push({ outcome: await storeIn(tx, b.owner, b.events, b.now) });
      } catch (e) {
        await tx.run('ROLLBACK TO SAVEPOINT device_batch');
        settled.push(e instanceof Stop ? { outcome: e.outcome } : { error: e });
      }
      await tx.run('RELEASE SAVEPOINT device_batch');
    }
    return settled;
  });
}

/**
 * How batches that come at the same time share transactions on SQLite. It has one writer, and each
 * commit there writes the pages the transaction changed to the WAL, then waits for its fsync (a
 * page that several batches changed is written once, and one fsync serves them all). Its
 * statements are synchronous, so a transaction runs from start to COMMIT without letting this
 * thread read another request: batches that became ready meanwhile, or in the same turn of the
 * event loop, are stored together in the next one, up to MAX_BATCH_EVENTS. Two transactions at most:
 * one waiting for its fsync while the next is stored (measured, 500,000 events at load 2: about
 * 20,600 events/s against 16,900 with one, and no better with four). Nothing waits for company on
 * a timer: a group starts at the end of the turn in which its first batch came (batched.ts),
 * after the requests that turn brought have had their say. PostgreSQL stores each batch in its
 * own transaction, side by side, as many as come: its row locks let them, and it syncs commits
 * that come together at once itself.
 */
const MAX_IN_FLIGHT = 2;

/** Stores devices' batches in one database; the server holds one (App.deviceBatches). */
export class DeviceBatches {
  private readonly grouped: ((batch: DeviceBatch) => Promise<BatchOutcome>) | undefined;

  constructor(private readonly db: Database) {
    this.grouped =
      db.dialect === 'sqlite'
        ? batched((group) => storeGroup(db, group), {
            maxBatch: MAX_BATCH_EVENTS,
            sizeOf: (batch) => batch.events.length,
            maxInFlight: MAX_IN_FLIGHT,
          })
        : undefined;
  }

  /**
   * Stores a device's batch against its chains, all or nothing; says what became of it once the
   * transaction that holds it has committed (on SQLite perhaps shared with other devices' batches).
   */
  store(batch: DeviceBatch): Promise<BatchOutcome> {
    if (batch.events.length === 0)
      return Promise.resolve({ kind: 'stored', stored: 0, duplicates: 0, chains: [] });
    return this.grouped ? this.grouped(batch) : storeAlone(this.db, batch);
  }
}

/**
 * Stores a group; each request is answered after the commit that made its batch durable. A
 * failure of the transaction itself (BEGIN, COMMIT, the WAL's sync) fails every batch of it: none
 * is known to be stored, and none is stored again here (after a failed sync, a resend would look
 * stored).
 */
async function storeGroup(
  db: Database,
  group: readonly DeviceBatch[],
): Promise<readonly (BatchOutcome | Failure)[]> {
  const [only] = group;
  if (only !== undefined && group.length === 1) return [await storeAlone(db, only)];
  const settled = await storeTogether(db, group);
  return settled.map((one) => ('error' in one ? new Failure(one.error) : one.outcome));
}
