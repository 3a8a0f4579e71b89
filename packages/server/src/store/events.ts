// Stored audit events, and the server's own hash chain per organisation (admin actions, and what
// the server itself records: a device's refused chain). An admin action and its event are written
// in the same transaction: there is no action without its event, and no event for an action that
// did not happen. Events are append-only (the database refuses an UPDATE) and inserted
// idempotently by id and time, so a batch sent twice is stored once.

import {
  auditEventSchema,
  type AuditEvent,
  SCHEMA_VERSION,
  sealBounded,
  uuid7,
  type AuditRecord,
} from '@perimeter/audit';
import type { Queryable, SqlValue } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import { normaliseEmail } from './admins.js';
import { marks, slices } from './lists.js';

/** The id of an organisation's own chain: admin actions and the server's own facts. */
export function adminChainId(orgId: string): string {
  return `admin:${orgId}`;
}

/** Who an event of the organisation's chain names: an admin, a user, or a user's device. */
export interface Actor {
  readonly id: string;
  readonly email: string;
  /** The device that acted or was acted on, for what the server records about a device. */
  readonly device?: { readonly id: string };
}

export interface AdminAction {
  /** `admin.<thing>.<verb>`, `device.enrol`, `audit.ingest.refused`, … */
  readonly type: string;
  /** One sentence for a person reading the trail. */
  readonly reason: string;
  /** The ids and numbers the action touched (names and numbers only, never a secret). */
  readonly outcome: Readonly<Record<string, string | number | boolean>>;
  /**
   * `management` (the default: admins changing the system), `identity` (a user enrolling a
   * device) or `system` (what the server itself found, such as a device's refused chain).
   */
  readonly category?: 'management' | 'identity' | 'system';
  /** How urgently a person should look (absent for routine actions). */
  readonly severity?: NonNullable<AuditEvent['severity']>;
}

/** Appends an event to the organisation's own chain and stores it; returns the event. */
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
    ...(actor.device ? { device: { id: actor.device.id } } : {}),
    ...(action.severity ? { severity: action.severity } : {}),
    reason: action.reason,
    outcome: { ...action.outcome },
  };
  // Bounded as a device's spool bounds its events (redteam-31-1): a reason may quote more than an
  // event holds, and the trail must stay exportable.
  const { event, state } = sealBounded(record, {
    chainId: adminChainId(orgId),
    nextSeq: head.next_seq,
    lastHash: head.last_hash,
  });
  // Fail closed: an event that does not fit the schema is a bug, and the action does not happen.
  auditEventSchema().parse(event);
  await insertEvents(tx, orgId, [event], now);
  await tx.run('UPDATE audit_chains SET next_seq = ?, last_hash = ? WHERE org_id = ? AND chain_id = ?', [
    state.nextSeq,
    state.lastHash,
    orgId,
    adminChainId(orgId),
  ]);
  return event;
}

/** One row of the events table: the columns queries filter on, and the whole event as JSON. */
export interface EventRow {
  readonly id: string;
  readonly orgId: string;
  readonly time: number;
  readonly receivedAt: number;
  readonly category: string;
  readonly type: string;
  readonly userId: string | null;
  readonly deviceId: string | null;
  readonly sessionId: string | null;
  readonly surface: string | null;
  readonly decision: string | null;
  readonly chainId: string;
  readonly seq: number;
  readonly body: string;
}

const COLUMNS = `id, org_id, time_ms, received_ms, category, type, user_id, device_id, session_id,
  surface, decision, chain_id, seq, body`;
const PER_ROW = 14;

/** Rows per INSERT at most. Statements of 256, 128, … 1 rows: few texts to prepare, few round trips. */
const INSERT_ROWS = 256;
const insertSql = new Map<number, string>();
function insertStatement(rows: number): string {
  let sql = insertSql.get(rows);
  if (sql === undefined) {
    const one = `(${Array.from({ length: PER_ROW }, () => '?').join(', ')})`;
    // No conflict target: the primary key is id on SQLite, (id, time_ms) on partitioned PostgreSQL.
    sql = `INSERT INTO events (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}
      ON CONFLICT DO NOTHING`;
    insertSql.set(rows, sql);
  }
  return sql;
}

/** The calendar month (UTC) of a time, as a number that orders months. */
function monthOf(time: number): number {
  const d = new Date(time);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/**
 * Makes sure the events table can hold rows of these times: on PostgreSQL, each month's partition
 * exists (made now, race-safe, if it did not). SQLite has one table.
 */
async function ensurePartitions(q: Queryable, times: Iterable<number>): Promise<void> {
  if (q.dialect !== 'postgres') return;
  const months = new Map<number, number>();
  for (const t of times) if (!months.has(monthOf(t))) months.set(monthOf(t), t);
  for (const t of months.values()) await q.run('SELECT perimeter_event_partition(?)', [t]);
}

/** Stores rows; a row whose (id, time) is stored already is skipped. Returns how many were new. */
export async function insertRows(q: Queryable, rows: readonly EventRow[]): Promise<number> {
  await ensurePartitions(
    q,
    rows.map((r) => r.time),
  );
  let inserted = 0;
  for (let at = 0; at < rows.length;) {
    let n = INSERT_ROWS;
    while (n > rows.length - at) n >>= 1;
    const values: SqlValue[] = [];
    for (const r of rows.slice(at, at + n))
      values.push(
        r.id,
        r.orgId,
        r.time,
        r.receivedAt,
        r.category,
        r.type,
        r.userId,
        r.deviceId,
        r.sessionId,
        r.surface,
        r.decision,
        r.chainId,
        r.seq,
        r.body,
      );
    inserted += await q.run(insertStatement(n), values);
    at += n;
  }
  return inserted;
}

/** Stores events as they name themselves (admin actions, tests); an event stored already is skipped. */
export async function insertEvents(
  q: Queryable,
  orgId: string,
  events: readonly AuditEvent[],
  receivedAt: number,
): Promise<number> {
  return insertRows(
    q,
    events.map((e) => {
      const time = Date.parse(e.time);
      if (!Number.isFinite(time)) throw new Error(`event ${e.event_id} has an unreadable time`);
      return {
        id: e.event_id,
        orgId,
        time,
        receivedAt,
        category: e.category,
        type: e.type,
        userId: e.user?.id ?? null,
        deviceId: e.device?.id ?? null,
        sessionId: e.session?.id ?? null,
        surface: e.request?.surface ?? null,
        decision: e.decision ?? null,
        chainId: e.integrity.chain_id,
        seq: e.integrity.seq,
        body: JSON.stringify(e),
      };
    }),
  );
}

/** A stored event as a resend is compared with it. */
export interface StoredRow {
  readonly id: string;
  readonly time: number;
  readonly orgId: string;
  readonly chainId: string | null;
  readonly seq: number | null;
  readonly body: string;
}

/** The stored events with these ids and times, whatever their organisation. */
export async function storedRows(
  q: Queryable,
  keys: readonly { readonly id: string; readonly time: number }[],
): Promise<StoredRow[]> {
  const out: StoredRow[] = [];
  for (const part of slices(keys)) {
    const times = part.map((p) => p.time);
    // The time range lets PostgreSQL read only the months the events are in.
    const rows = await q.all<{
      id: string;
      time_ms: number;
      org_id: string;
      chain_id: string | null;
      seq: number | null;
      body: string;
    }>(
      `SELECT id, time_ms, org_id, chain_id, seq, body FROM events
       WHERE time_ms >= ? AND time_ms <= ? AND id IN (${marks(part)})`,
      [Math.min(...times), Math.max(...times), ...part.map((p) => p.id)],
    );
    for (const r of rows)
      out.push({ id: r.id, time: r.time_ms, orgId: r.org_id, chainId: r.chain_id, seq: r.seq, body: r.body });
  }
  return out;
}

export interface EventFilter {
  readonly since?: number;
  readonly until?: number;
  readonly category?: string;
  /** Any of these types (and so for the other lists). */
  readonly types?: readonly string[];
  /** User ids (for admin actions, admin ids). */
  readonly users?: readonly string[];
  readonly device?: string;
  readonly session?: string;
  readonly surfaces?: readonly string[];
  readonly decisions?: readonly string[];
}

export interface StoredEvent {
  readonly id: string;
  readonly time: number;
  readonly event: AuditEvent;
}

function parseBody(body: string): AuditEvent {
  return JSON.parse(body) as AuditEvent;
}

/** The WHERE clause of a filter, and its parameters. */
function whereOf(orgId: string, f: EventFilter): { sql: string; params: SqlValue[] } {
  const where: string[] = ['org_id = ?'];
  const params: SqlValue[] = [orgId];
  const add = (sql: string, ...values: SqlValue[]): void => {
    where.push(sql);
    params.push(...values);
  };
  const anyOf = (column: string, values: readonly string[] | undefined): void => {
    if (values === undefined) return;
    if (values.length === 1) add(`${column} = ?`, values[0] ?? '');
    else add(`${column} IN (${marks(values)})`, ...values);
  };
  if (f.since !== undefined) add('time_ms >= ?', f.since);
  if (f.until !== undefined) add('time_ms < ?', f.until);
  // The second term is the condition of the index of rare categories (migrations.ts): written out,
  // so that SQLite and PostgreSQL both see the index applies.
  if (f.category !== undefined)
    add(
      f.category === 'evaluation' ? 'category = ?' : "category = ? AND category <> 'evaluation'",
      f.category,
    );
  anyOf('type', f.types);
  anyOf('user_id', f.users);
  if (f.device !== undefined) add('device_id = ?', f.device);
  if (f.session !== undefined) add('session_id = ?', f.session);
  anyOf('surface', f.surfaces);
  anyOf('decision', f.decisions);
  return { sql: where.join(' AND '), params };
}

/** An organisation's events matching the filter, newest first, `limit` of them after `before`. */
export async function queryEvents(
  q: Queryable,
  orgId: string,
  f: EventFilter & {
    readonly before?: { readonly time: number; readonly id: string };
    readonly limit: number;
  },
): Promise<StoredEvent[]> {
  // A filter that matches nothing (a user named by an email nobody has) asks the database nothing.
  if (f.users?.length === 0) return [];
  const where = whereOf(orgId, f);
  const after = f.before ? ' AND (time_ms, id) < (?, ?)' : '';
  const rows = await q.all<{ id: string; time_ms: number; body: string }>(
    `SELECT id, time_ms, body FROM events WHERE ${where.sql}${after}
     ORDER BY time_ms DESC, id DESC LIMIT ?`,
    [...where.params, ...(f.before ? [f.before.time, f.before.id] : []), f.limit],
  );
  return rows.map((r) => ({ id: r.id, time: r.time_ms, event: parseBody(r.body) }));
}

/** A stored event as an export reads it: the columns the server vouches for, and the body as stored. */
export interface ExportRow {
  readonly id: string;
  readonly time: number;
  readonly userId: string | null;
  readonly deviceId: string | null;
  readonly sessionId: string | null;
  readonly body: string;
}

/**
 * Every event matching the filter, oldest first, `pageSize` at a time: each page is its own
 * query after the last row of the one before, so no transaction (nor, on SQLite, the write lock)
 * is held while a client reads an export at its own pace.
 */
export async function* exportEvents(
  q: Queryable,
  orgId: string,
  f: EventFilter,
  pageSize = 1000,
): AsyncGenerator<ExportRow[]> {
  if (f.users?.length === 0) return;
  const where = whereOf(orgId, f);
  let last: { time: number; id: string } | undefined;
  for (;;) {
    const rows = await q.all<{
      id: string;
      time_ms: number;
      user_id: string | null;
      device_id: string | null;
      session_id: string | null;
      body: string;
    }>(
      `SELECT id, time_ms, user_id, device_id, session_id, body FROM events
       WHERE ${where.sql}${last ? ' AND (time_ms, id) > (?, ?)' : ''}
       ORDER BY time_ms, id LIMIT ?`,
      [...where.params, ...(last ? [last.time, last.id] : []), pageSize],
    );
    if (rows.length > 0)
      yield rows.map((r) => ({
        id: r.id,
        time: r.time_ms,
        userId: r.user_id,
        deviceId: r.device_id,
        sessionId: r.session_id,
        body: r.body,
      }));
    const end = rows[rows.length - 1];
    if (rows.length < pageSize || !end) return;
    last = { time: end.time_ms, id: end.id };
  }
}

/**
 * The ids a `user` filter means: the text itself when it is an id; for an email, the user (and
 * admin) of the organisation with that email, or none.
 */
export async function actorIds(q: Queryable, orgId: string, text: string): Promise<string[]> {
  if (!text.includes('@')) return [text];
  const email = normaliseEmail(text);
  const rows = await q.all<{ id: string }>(
    `SELECT id FROM users WHERE org_id = ? AND email = ? UNION SELECT id FROM admins WHERE org_id = ? AND email = ?`,
    [orgId, email, orgId, email],
  );
  return rows.map((r) => r.id);
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
