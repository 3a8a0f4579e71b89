// Stored audit events, and the server's own hash chain of admin actions. An admin action and its
// event are written in the same transaction: there is no action without its event, and no event
// for an action that did not happen. Events are append-only (the database refuses an UPDATE) and
// inserted idempotently by id, so a device that sends a batch twice stores it once.

import { AuditEvent, SCHEMA_VERSION, seal, uuid7, type AuditRecord } from '@perimeter/audit';
import type { Queryable, SqlValue } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';

/** The id of an organisation's chain of admin events (device session chains have their own ids). */
export function adminChainId(orgId: string): string {
  return `admin:${orgId}`;
}

export interface Actor {
  readonly id: string;
  readonly email: string;
}

export interface AdminAction {
  /** `admin.<thing>.<verb>`: admin.policy.publish, admin.token.revoke, … */
  readonly type: string;
  /** One sentence for a person reading the trail. */
  readonly reason: string;
  /** The ids and numbers the action touched (names and numbers only, never a secret). */
  readonly outcome: Readonly<Record<string, string | number | boolean>>;
  /** `management` (the default: admins changing the system) or `identity` (a user enrolling a device). */
  readonly category?: 'management' | 'identity';
}

/** Appends an admin action to the organisation's admin chain and stores it; returns the event. */
export async function recordAdminAction(
  tx: Queryable,
  orgId: string,
  actor: Actor,
  action: AdminAction,
  now: number,
): Promise<AuditEvent> {
  const head = await tx.get<{ next_seq: number; last_hash: string }>(
    `SELECT next_seq, last_hash FROM audit_chains WHERE org_id = ? AND chain_id = ?${DIALECTS[tx.dialect].forUpdate}`,
    [orgId, adminChainId(orgId)],
  );
  if (!head) throw new Error(`organisation ${orgId} has no admin audit chain`);
  const record: AuditRecord = {
    event_id: uuid7(now),
    schema_version: SCHEMA_VERSION,
    time: new Date(now).toISOString(),
    // The audit schema's category for actions on the governance system itself (or, for a device
    // enrolment, on who may act).
    category: action.category ?? 'management',
    type: action.type,
    org: orgId,
    user: { id: actor.id, email: actor.email },
    reason: action.reason,
    outcome: { ...action.outcome },
  };
  const { event, state } = seal(record, {
    chainId: adminChainId(orgId),
    nextSeq: head.next_seq,
    lastHash: head.last_hash,
  });
  // Fail closed: an event that does not fit the schema is a bug, and the action does not happen.
  AuditEvent.parse(event);
  await insertEvents(tx, orgId, [event], now);
  await tx.run('UPDATE audit_chains SET next_seq = ?, last_hash = ? WHERE org_id = ? AND chain_id = ?', [
    state.nextSeq,
    state.lastHash,
    orgId,
    adminChainId(orgId),
  ]);
  return event;
}

/** Stores events; an id already stored is skipped. Returns how many were new. */
export async function insertEvents(
  q: Queryable,
  orgId: string,
  events: readonly AuditEvent[],
  receivedAt: number,
): Promise<number> {
  let inserted = 0;
  for (const e of events) {
    const time = Date.parse(e.time);
    if (!Number.isFinite(time)) throw new Error(`event ${e.event_id} has an unreadable time`);
    const values: SqlValue[] = [
      e.event_id,
      orgId,
      time,
      receivedAt,
      e.category,
      e.type,
      e.user?.id ?? null,
      e.device?.id ?? null,
      e.session?.id ?? null,
      e.request?.surface ?? null,
      e.decision ?? null,
      e.integrity.chain_id,
      e.integrity.seq,
      JSON.stringify(e),
    ];
    inserted += await q.run(
      `INSERT INTO events (id, org_id, time_ms, received_ms, category, type, user_id, device_id,
         session_id, surface, decision, chain_id, seq, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      values,
    );
  }
  return inserted;
}

export interface EventFilter {
  readonly since?: number;
  readonly until?: number;
  readonly category?: string;
  readonly type?: string;
  readonly user?: string;
  readonly surface?: string;
  readonly decision?: string;
  /** Continue after this event (the `next` of an earlier page): newest first. */
  readonly before?: { readonly time: number; readonly id: string };
  readonly limit: number;
}

export interface StoredEvent {
  readonly id: string;
  readonly time: number;
  readonly event: AuditEvent;
}

function parseBody(body: string): AuditEvent {
  return JSON.parse(body) as AuditEvent;
}

/** An organisation's events matching the filter, newest first. */
export async function queryEvents(q: Queryable, orgId: string, f: EventFilter): Promise<StoredEvent[]> {
  const where: string[] = ['org_id = ?'];
  const params: SqlValue[] = [orgId];
  const add = (sql: string, ...values: SqlValue[]): void => {
    where.push(sql);
    params.push(...values);
  };
  if (f.since !== undefined) add('time_ms >= ?', f.since);
  if (f.until !== undefined) add('time_ms < ?', f.until);
  if (f.category !== undefined) add('category = ?', f.category);
  if (f.type !== undefined) add('type = ?', f.type);
  if (f.user !== undefined) add('user_id = ?', f.user);
  if (f.surface !== undefined) add('surface = ?', f.surface);
  if (f.decision !== undefined) add('decision = ?', f.decision);
  if (f.before !== undefined)
    add('(time_ms < ? OR (time_ms = ? AND id < ?))', f.before.time, f.before.time, f.before.id);
  const rows = await q.all<{ id: string; time_ms: number; body: string }>(
    `SELECT id, time_ms, body FROM events WHERE ${where.join(' AND ')}
     ORDER BY time_ms DESC, id DESC LIMIT ?`,
    [...params, f.limit],
  );
  return rows.map((r) => ({ id: r.id, time: r.time_ms, event: parseBody(r.body) }));
}

/**
 * Recorded policy decisions of an organisation in a window, oldest first, for impact replay. At
 * most `max` (the newest `max` when there are more); `total` says how many the window holds.
 */
export async function decisionsToReplay(
  q: Queryable,
  orgId: string,
  since: number,
  until: number,
  max: number,
): Promise<{ events: AuditEvent[]; total: number }> {
  const scope = `org_id = ? AND time_ms >= ? AND time_ms < ? AND category = 'evaluation'
     AND surface IS NOT NULL AND decision IS NOT NULL`;
  const count = await q.get<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE ${scope}`, [
    orgId,
    since,
    until,
  ]);
  const rows = await q.all<{ body: string }>(
    `SELECT body FROM events WHERE ${scope} ORDER BY time_ms DESC, id DESC LIMIT ?`,
    [orgId, since, until, max],
  );
  return { events: rows.map((r) => parseBody(r.body)).reverse(), total: count?.n ?? 0 };
}
