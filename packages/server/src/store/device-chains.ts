// Devices' hash chains as the server keeps them: where each chain stands (audit_chains, under
// `device:<device id>:<chain id>`, so a device can never extend or collide with another device's
// chain), and a device's batch stored against them in one transaction: all of it, or none.
//
// Each event, in order: the next seq of its chain must link to the chain's last hash; a seq
// already stored must be the very event stored (a resend, skipped); a seq beyond the next is a
// gap. The first problem decides the answer, and nothing of the batch is stored.

import type { Database, Queryable } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import type { ReceivedEvent } from '../device-batch.js';
import { GENESIS_HASH } from '@perimeter/audit';
import { insertRows, storedRows, type EventRow } from './events.js';

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

/** How many keys one statement names at most. */
const CHUNK = 500;

function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let at = 0; at < items.length; at += CHUNK) yield items.slice(at, at + CHUNK);
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
  for (const part of chunks(sorted))
    await tx.run(
      `INSERT INTO audit_chains (org_id, chain_id, next_seq, last_hash)
       VALUES ${part.map(() => '(?, ?, 0, ?)').join(', ')} ON CONFLICT DO NOTHING`,
      part.flatMap((key) => [orgId, key, GENESIS_HASH]),
    );
  const heads = new Map<string, { next: number; last: string }>();
  for (const part of chunks(sorted)) {
    const rows = await tx.all<{ chain_id: string; next_seq: number; last_hash: string }>(
      `SELECT chain_id, next_seq, last_hash FROM audit_chains
       WHERE org_id = ? AND chain_id IN (${part.map(() => '?').join(', ')})
       ORDER BY chain_id${DIALECTS[tx.dialect].forUpdate}`,
      [orgId, ...part],
    );
    for (const r of rows) heads.set(r.chain_id, { next: r.next_seq, last: r.last_hash });
  }
  return heads;
}

const hashInBody = (body: string): unknown =>
  (JSON.parse(body) as { integrity?: { hash?: unknown } }).integrity?.hash;

async function storeIn(
  tx: Queryable,
  owner: BatchOwner,
  batch: readonly ReceivedEvent[],
  now: number,
): Promise<BatchOutcome> {
  const names = [...new Set(batch.map((e) => e.chainId))];
  const keyOf = (name: string): string => deviceChainId(owner.deviceId, name);
  const committed = await lockHeads(tx, owner.orgId, names.map(keyOf));
  const headOf = (heads: Map<string, { next: number; last: string }>, name: string) => {
    const head = heads.get(keyOf(name));
    if (!head) throw new Error(`the head of chain ${keyOf(name)} was not made`);
    return head;
  };
  const reported = (heads: Map<string, { next: number; last: string }>): ChainHead[] =>
    names.map((name) => ({ chain_id: name, next_seq: headOf(heads, name).next }));

  const heads = new Map([...committed].map(([k, h]) => [k, { ...h }]));
  /** Events new in this batch, by chain and seq, so a resend within the batch is recognised. */
  const accepted = new Map<string, { id: string; hash: string }>();
  const fresh: { name: string; row: EventRow }[] = [];
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
    const key = keyOf(e.chainId);
    const head = headOf(heads, e.chainId);
    const { hash, time } = event;
    if (e.seq === head.next) {
      if (event.prevHash !== head.last) {
        stop = refusal(
          e,
          e.seq === 0
            ? 'the first event of a chain must link to 64 zeros'
            : `its prev_hash is not the hash of seq ${e.seq - 1} (an event was removed, inserted or reordered)`,
        );
        break;
      }
      fresh.push({
        name: e.chainId,
        row: {
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
          chainId: key,
          seq: e.seq,
          body: e.text,
        },
      });
      accepted.set(`${key}#${e.seq}`, { id: event.id, hash });
      head.next += 1;
      head.last = hash;
    } else if (e.seq < head.next) {
      const earlier = accepted.get(`${key}#${e.seq}`);
      if (earlier === undefined) resends.push({ name: e.chainId, key, id: event.id, time, hash, seq: e.seq });
      else if (earlier.id === event.id && earlier.hash === hash) duplicates += 1;
      else {
        stop = refusal(e, `it is a second, different event at seq ${e.seq}`);
        break;
      }
    } else {
      stop = {
        kind: 'gap',
        chainId: e.chainId,
        seq: e.seq,
        expected: head.next,
        chains: reported(committed),
      };
      break;
    }
  }

  // A resend must be the very event stored at its place: one query for all of them. (Each came
  // before the first problem, if any: a refused resend is the earlier problem.)
  if (resends.length > 0) {
    const stored = new Map((await storedRows(tx, resends)).map((s) => [`${s.time}:${s.id}`, s] as const));
    for (const r of resends) {
      const s = stored.get(`${r.time}:${r.id}`);
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

  const rows = fresh.map((f) => f.row);
  if ((await insertRows(tx, rows)) < rows.length) {
    // An (id, time) already stored elsewhere, or twice in this batch: the event it skipped is refused.
    const found = new Set(
      (await storedRows(tx, rows)).map((s) => `${s.time}:${s.id}:${s.orgId}:${s.chainId}:${s.seq}`),
    );
    const lost = fresh.find(
      (f) => !found.has(`${f.row.time}:${f.row.id}:${owner.orgId}:${f.row.chainId}:${f.row.seq}`),
    );
    throw new Stop({
      kind: 'refused',
      chainId: lost?.name ?? names[0] ?? '',
      seq: lost?.row.seq ?? 0,
      why: 'its event id is the id of another stored event',
    });
  }
  for (const [key, head] of heads)
    if (head.next !== committed.get(key)?.next)
      await tx.run('UPDATE audit_chains SET next_seq = ?, last_hash = ? WHERE org_id = ? AND chain_id = ?', [
        head.next,
        head.last,
        owner.orgId,
        key,
      ]);
  return { kind: 'stored', stored: rows.length, duplicates, chains: reported(heads) };
}

/** Stores a device's batch against its chains, all or nothing; says what became of it. */
export async function storeDeviceBatch(
  db: Database,
  owner: BatchOwner,
  batch: readonly ReceivedEvent[],
  now: number,
): Promise<BatchOutcome> {
  if (batch.length === 0) return { kind: 'stored', stored: 0, duplicates: 0, chains: [] };
  try {
    return await db.transaction((tx) => storeIn(tx, owner, batch, now));
  } catch (e) {
    if (e instanceof Stop) return e.outcome;
    throw e;
  }
}
