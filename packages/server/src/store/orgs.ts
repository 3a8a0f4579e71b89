// Organisations: the tenant every other row belongs to. A new organisation also gets its admin
// audit chain (audit_chains), so appending to it never has to create it under contention.

import { GENESIS_HASH } from '@perimeter/audit';
import type { Queryable } from '../db/database.js';
import { newId } from '../ids.js';
import { adminChainId } from './events.js';

export interface Org {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  /** How many publications the organisation has had; the next one gets this plus one. */
  readonly publishSeq: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface OrgRow {
  id: string;
  slug: string;
  name: string;
  publish_seq: number;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'id, slug, name, publish_seq, created_at, updated_at';

const toOrg = (r: OrgRow): Org => ({
  id: r.id,
  slug: r.slug,
  name: r.name,
  publishSeq: r.publish_seq,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** An organisation's columns as `o_…`, for a query that joins `orgs o` to a row it owns. */
export const JOINED_ORG_COLUMNS =
  'o.id AS o_id, o.slug AS o_slug, o.name AS o_name, o.publish_seq AS o_publish_seq, o.created_at AS o_created_at, o.updated_at AS o_updated_at';

export interface JoinedOrgRow {
  o_id: string;
  o_slug: string;
  o_name: string;
  o_publish_seq: number;
  o_created_at: number;
  o_updated_at: number;
}

/** The organisation a JOINED_ORG_COLUMNS query read. */
export const joinedOrg = (r: JoinedOrgRow): Org => ({
  id: r.o_id,
  slug: r.o_slug,
  name: r.o_name,
  publishSeq: r.o_publish_seq,
  createdAt: r.o_created_at,
  updatedAt: r.o_updated_at,
});

export async function getOrg(q: Queryable, id: string): Promise<Org | undefined> {
  const row = await q.get<OrgRow>(`SELECT ${COLUMNS} FROM orgs WHERE id = ?`, [id]);
  return row && toOrg(row);
}

/** The organisation made first (the one a first start creates), if any. */
export async function firstOrg(q: Queryable): Promise<Org | undefined> {
  const row = await q.get<OrgRow>(`SELECT ${COLUMNS} FROM orgs ORDER BY created_at, id LIMIT 1`);
  return row && toOrg(row);
}

export async function createOrg(
  q: Queryable,
  input: { readonly slug: string; readonly name: string },
  now: number,
): Promise<Org> {
  const id = newId('org', now);
  await q.run(
    'INSERT INTO orgs (id, slug, name, publish_seq, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)',
    [id, input.slug, input.name, now, now],
  );
  await q.run('INSERT INTO audit_chains (org_id, chain_id, next_seq, last_hash) VALUES (?, ?, 0, ?)', [
    id,
    adminChainId(id),
    GENESIS_HASH,
  ]);
  return { id, slug: input.slug, name: input.name, publishSeq: 0, createdAt: now, updatedAt: now };
}

export async function renameOrg(
  q: Queryable,
  id: string,
  name: string,
  now: number,
): Promise<Org | undefined> {
  const row = await q.get<OrgRow>(
    `UPDATE orgs SET name = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
    [name, now, id],
  );
  return row && toOrg(row);
}

/**
 * The organisation's next publication number. Taking it locks the organisation's row until the
 * transaction ends, so publications of one organisation happen one at a time, in number order.
 */
export async function nextPublishSeq(q: Queryable, orgId: string): Promise<number> {
  const row = await q.get<{ publish_seq: number }>(
    'UPDATE orgs SET publish_seq = publish_seq + 1 WHERE id = ? RETURNING publish_seq',
    [orgId],
  );
  if (!row) throw new Error(`organisation ${orgId} vanished during a publication`);
  return row.publish_seq;
}
