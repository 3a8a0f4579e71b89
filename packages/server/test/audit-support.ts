// What the audit ingest, query and export tests share: real hash chains sealed by @perimeter/audit,
// an enrolled device that uploads them over real HTTP (ndjson, gzipped or not), and the admin
// trail's refusals.

import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import {
  newChain,
  SCHEMA_VERSION,
  seal,
  uuid7,
  type AuditEvent,
  type AuditRecord,
  type ChainState,
} from '@perimeter/audit';
import { enrolDevice } from './bundle-support.js';
import type { ErrorReply, Harness } from './harness.js';

/** An enrolled device: its id, its user's id, and its credential. */
export interface TestDevice {
  readonly id: string;
  readonly userId: string;
  readonly credential: string;
}

/** A user (made now) with an enrolled device. */
export async function deviceOf(h: Harness, email: string, name = 'laptop'): Promise<TestDevice> {
  const existing = await h.owner.get<{ users: { id: string; email: string }[] }>(`${h.base}/users`);
  let userId = existing.body.users.find((u) => u.email === email)?.id;
  if (userId === undefined) {
    const made = await h.owner.post<{ id: string }>(`${h.base}/users`, { email });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    userId = made.body.id;
  }
  const token = await enrolDevice(h, userId, name);
  return { id: token.device.id, userId, credential: token.access_token };
}

/** What an event says beyond what every event says; the time is `at` (epoch ms). */
export interface Shape {
  readonly at: number;
  readonly type?: string;
  readonly category?: AuditRecord['category'];
  readonly surface?: NonNullable<AuditRecord['request']>['surface'];
  readonly action?: string;
  readonly resource?: string;
  readonly decision?: AuditRecord['decision'];
  readonly reason?: string;
  readonly outcome?: AuditRecord['outcome'];
  /** A fact without a request (network.closed, session.start): category system, no decision. */
  readonly isFact?: boolean;
  /** What was cut of it (an event the spool cut down to size). */
  readonly cut?: AuditRecord['cut'];
  /** What the event claims about who sent it (the server stores what the credential says). */
  readonly claims?: Pick<AuditRecord, 'org' | 'user' | 'device'>;
}

export function recordOf(session: string, s: Shape): AuditRecord {
  const surface = s.surface ?? 'network';
  if (s.isFact)
    return {
      event_id: uuid7(s.at),
      schema_version: SCHEMA_VERSION,
      time: new Date(s.at).toISOString(),
      category: 'system',
      type: s.type ?? 'session.start',
      session: { id: session },
      ...(s.outcome ? { outcome: s.outcome } : {}),
    };
  return {
    event_id: uuid7(s.at),
    schema_version: SCHEMA_VERSION,
    time: new Date(s.at).toISOString(),
    category: s.category ?? 'evaluation',
    type: s.type ?? `${surface}.${s.action ?? 'connect'}`,
    ...s.claims,
    session: { id: session },
    request: { surface, action: s.action ?? 'connect', resource: s.resource ?? 'api.github.com:443' },
    decision: s.decision ?? 'allow',
    enforcement_mode: 'enforce',
    reason: s.reason ?? 'allowed by rule github',
    ...(s.outcome ? { outcome: s.outcome } : {}),
    ...(s.cut ? { cut: s.cut } : {}),
  };
}

/** A session's chain: sealed events, in order, continuing `from` (a new chain by default). */
export function chain(
  session: string,
  shapes: readonly Shape[],
  from: ChainState = newChain(session),
): { events: AuditEvent[]; state: ChainState } {
  const events: AuditEvent[] = [];
  let state = from;
  for (const s of shapes) {
    const sealed = seal(recordOf(session, s), state);
    events.push(sealed.event);
    state = sealed.state;
  }
  return { events, state };
}

/** `n` plain network events, a second apart, ending `endAgoMs` before now. */
export function shapes(h: Harness, n: number, endAgoMs = 60_000): Shape[] {
  const end = h.clock.now() - endAgoMs;
  return Array.from({ length: n }, (_, i) => ({ at: end - (n - 1 - i) * 1000 }));
}

export const ndjson = (events: readonly unknown[]): string =>
  events.map((e) => `${JSON.stringify(e)}\n`).join('');

export interface IngestReply {
  stored: number;
  duplicates: number;
  chains: { chain_id: string; next_seq: number }[];
}

export type IngestError = ErrorReply & {
  chains?: { chain_id: string; next_seq: number }[];
  chain_id?: string;
  seq?: number;
};

/** POSTs a body to the ingest endpoint as a device does (gzipped unless told otherwise). */
export async function upload<T = IngestReply>(
  h: Harness,
  credential: string | undefined,
  body: string | Uint8Array,
  options: { gzip?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: T & IngestError }> {
  const isGzip = options.gzip ?? true;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const r = await fetch(`${h.server.url}/api/v1/device/events`, {
    method: 'POST',
    headers: {
      ...(credential !== undefined ? { authorization: `Bearer ${credential}` } : {}),
      'content-type': 'application/x-ndjson',
      ...(isGzip ? { 'content-encoding': 'gzip' } : {}),
      ...options.headers,
    },
    body: isGzip ? gzipSync(bytes) : bytes,
  });
  return { status: r.status, body: (await r.json()) as T & IngestError };
}

/** Sends events; asserts they were accepted; returns the answer. */
export async function send(
  h: Harness,
  device: TestDevice,
  events: readonly AuditEvent[],
): Promise<IngestReply> {
  const r = await upload(h, device.credential, ndjson(events));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** The organisation's audit.ingest.refused events, oldest first. */
export async function refusals(h: Harness): Promise<AuditEvent[]> {
  const r = await h.owner.get<{ events: AuditEvent[] }>(
    `${h.base}/events?type=audit.ingest.refused&limit=1000`,
  );
  assert.equal(r.status, 200);
  return r.body.events.reverse();
}

/** The organisation's events of one session, oldest first. */
export async function sessionEvents(h: Harness, session: string): Promise<AuditEvent[]> {
  const r = await h.owner.get<{ events: AuditEvent[] }>(
    `${h.base}/events?session=${encodeURIComponent(session)}&limit=1000`,
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events.reverse();
}

/** Stored events matching `where` (an SQL condition on the events table). */
export async function countRows(h: Harness, where: string, params: (string | number)[]): Promise<number> {
  const row = await h.server.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM events WHERE ${where}`, params);
  return Number(row?.n ?? 0);
}
