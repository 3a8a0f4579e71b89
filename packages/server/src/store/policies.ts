// Policies, their immutable numbered revisions and the organisation's publications. A revision's
// text is never changed (the database refuses an UPDATE of policy_revisions); a policy's
// published revision only ever grows, and every publish or rollback takes the organisation's next
// publication number.

import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import { newId } from '../ids.js';

export interface Policy {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly description: string;
  readonly latestRevision: number;
  readonly publishedRevision: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface PolicyRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  latest_revision: number;
  published_revision: number | null;
  created_at: number;
  updated_at: number;
}

const POLICY_COLUMNS =
  'id, org_id, name, description, latest_revision, published_revision, created_at, updated_at';
const toPolicy = (r: PolicyRow): Policy => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  description: r.description,
  latestRevision: r.latest_revision,
  publishedRevision: r.published_revision,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function createPolicy(
  q: Queryable,
  orgId: string,
  input: { readonly name: string; readonly description?: string },
  now: number,
): Promise<Policy> {
  const id = newId('policy', now);
  const description = input.description ?? '';
  await q.run(`INSERT INTO policies (${POLICY_COLUMNS}) VALUES (?, ?, ?, ?, 0, NULL, ?, ?)`, [
    id,
    orgId,
    input.name,
    description,
    now,
    now,
  ]);
  return {
    id,
    orgId,
    name: input.name,
    description,
    latestRevision: 0,
    publishedRevision: null,
    createdAt: now,
    updatedAt: now,
  };
}

export async function getPolicy(
  q: Queryable,
  orgId: string,
  id: string,
  lock = false,
): Promise<Policy | undefined> {
  const row = await q.get<PolicyRow>(
    `SELECT ${POLICY_COLUMNS} FROM policies WHERE org_id = ? AND id = ?${lock ? DIALECTS[q.dialect].forUpdate : ''}`,
    [orgId, id],
  );
  return row && toPolicy(row);
}

export async function listPolicies(q: Queryable, orgId: string): Promise<Policy[]> {
  const rows = await q.all<PolicyRow>(
    `SELECT ${POLICY_COLUMNS} FROM policies WHERE org_id = ? ORDER BY name`,
    [orgId],
  );
  return rows.map(toPolicy);
}

// ---------------------------------------------------------------------------------------------
// Revisions

export interface Revision {
  readonly policyId: string;
  readonly number: number;
  readonly sha256: string;
  /** Set on a revision a rollback made: the revision whose text it copies. */
  readonly rolledBackFrom: number | null;
  readonly createdBy: string;
  readonly createdAt: number;
}

export interface RevisionWithText extends Revision {
  readonly text: string;
}

interface RevisionRow {
  policy_id: string;
  number: number;
  sha256: string;
  rolled_back_from: number | null;
  created_by: string;
  created_at: number;
  text?: string;
}

const REVISION_COLUMNS = 'policy_id, number, sha256, rolled_back_from, created_by, created_at';
const toRevision = (r: RevisionRow): Revision => ({
  policyId: r.policy_id,
  number: r.number,
  sha256: r.sha256,
  rolledBackFrom: r.rolled_back_from,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

/** Adds the policy's next revision. The counter update locks the policy row, so numbers never repeat. */
export async function addRevision(
  q: Queryable,
  orgId: string,
  policyId: string,
  input: { readonly text: string; readonly createdBy: string; readonly rolledBackFrom?: number },
  now: number,
): Promise<RevisionWithText | undefined> {
  const counter = await q.get<{ latest_revision: number }>(
    `UPDATE policies SET latest_revision = latest_revision + 1, updated_at = ?
     WHERE org_id = ? AND id = ? RETURNING latest_revision`,
    [now, orgId, policyId],
  );
  if (!counter) return undefined;
  const sha256 = createHash('sha256').update(input.text, 'utf8').digest('hex');
  const revision: RevisionWithText = {
    policyId,
    number: counter.latest_revision,
    sha256,
    rolledBackFrom: input.rolledBackFrom ?? null,
    createdBy: input.createdBy,
    createdAt: now,
    text: input.text,
  };
  await q.run(
    `INSERT INTO policy_revisions (policy_id, number, org_id, text, sha256, rolled_back_from, created_by, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [policyId, revision.number, orgId, input.text, sha256, revision.rolledBackFrom, input.createdBy, now],
  );
  return revision;
}

export async function getRevision(
  q: Queryable,
  orgId: string,
  policyId: string,
  number: number,
): Promise<RevisionWithText | undefined> {
  const row = await q.get<RevisionRow & { text: string }>(
    `SELECT ${REVISION_COLUMNS}, text FROM policy_revisions WHERE org_id = ? AND policy_id = ? AND number = ?`,
    [orgId, policyId, number],
  );
  return row && { ...toRevision(row), text: row.text };
}

export async function listRevisions(q: Queryable, orgId: string, policyId: string): Promise<Revision[]> {
  const rows = await q.all<RevisionRow>(
    `SELECT ${REVISION_COLUMNS} FROM policy_revisions WHERE org_id = ? AND policy_id = ? ORDER BY number DESC`,
    [orgId, policyId],
  );
  return rows.map(toRevision);
}

/** The revision numbers of a policy that have ever been published. */
export async function publishedNumbers(q: Queryable, orgId: string, policyId: string): Promise<Set<number>> {
  const rows = await q.all<{ revision: number }>(
    'SELECT DISTINCT revision FROM publications WHERE org_id = ? AND policy_id = ?',
    [orgId, policyId],
  );
  return new Set(rows.map((r) => r.revision));
}

/** The published revision of every policy of the organisation, with its text. */
export async function publishedSet(
  q: Queryable,
  orgId: string,
): Promise<{ policy: Policy; revision: RevisionWithText }[]> {
  const rows = await q.all<
    PolicyRow & {
      r_sha256: string;
      r_rolled_back_from: number | null;
      r_created_by: string;
      r_created_at: number;
      r_text: string;
    }
  >(
    `SELECT p.id, p.org_id, p.name, p.description, p.latest_revision, p.published_revision, p.created_at,
            p.updated_at, r.sha256 AS r_sha256, r.rolled_back_from AS r_rolled_back_from,
            r.created_by AS r_created_by, r.created_at AS r_created_at, r.text AS r_text
     FROM policies p JOIN policy_revisions r ON r.policy_id = p.id AND r.number = p.published_revision
     WHERE p.org_id = ? ORDER BY p.name`,
    [orgId],
  );
  return rows.map((r) => ({
    policy: toPolicy(r),
    revision: {
      policyId: r.id,
      number: r.published_revision ?? 0,
      sha256: r.r_sha256,
      rolledBackFrom: r.r_rolled_back_from,
      createdBy: r.r_created_by,
      createdAt: r.r_created_at,
      text: r.r_text,
    },
  }));
}

// ---------------------------------------------------------------------------------------------
// Publications

export type PublicationKind = 'publish' | 'rollback';

export interface Publication {
  readonly seq: number;
  readonly policyId: string;
  readonly revision: number;
  readonly kind: PublicationKind;
  readonly publishedBy: string;
  readonly publishedAt: number;
}

interface PublicationRow {
  seq: number;
  policy_id: string;
  revision: number;
  kind: string;
  published_by: string;
  published_at: number;
}

const toPublication = (r: PublicationRow): Publication => ({
  seq: r.seq,
  policyId: r.policy_id,
  revision: r.revision,
  kind: r.kind === 'rollback' ? 'rollback' : 'publish',
  publishedBy: r.published_by,
  publishedAt: r.published_at,
});

/**
 * Makes `revision` the policy's published one and records the publication. The caller has locked
 * the organisation (nextPublishSeq) and checked that the revision is newer than the published one.
 */
export async function recordPublication(
  q: Queryable,
  orgId: string,
  input: {
    readonly policyId: string;
    readonly revision: number;
    readonly kind: PublicationKind;
    readonly by: string;
  },
  seq: number,
  now: number,
): Promise<Publication> {
  const changed = await q.run(
    `UPDATE policies SET published_revision = ?, updated_at = ?
     WHERE org_id = ? AND id = ? AND (published_revision IS NULL OR published_revision < ?)`,
    [input.revision, now, orgId, input.policyId, input.revision],
  );
  if (changed !== 1) throw new Error(`revision ${input.revision} is not newer than the published one`);
  await q.run(
    `INSERT INTO publications (org_id, seq, policy_id, revision, kind, published_by, published_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
    [orgId, seq, input.policyId, input.revision, input.kind, input.by, now],
  );
  return {
    seq,
    policyId: input.policyId,
    revision: input.revision,
    kind: input.kind,
    publishedBy: input.by,
    publishedAt: now,
  };
}

export async function listPublications(q: Queryable, orgId: string, limit: number): Promise<Publication[]> {
  const rows = await q.all<PublicationRow>(
    `SELECT seq, policy_id, revision, kind, published_by, published_at FROM publications
     WHERE org_id = ? ORDER BY seq DESC LIMIT ?`,
    [orgId, limit],
  );
  return rows.map(toPublication);
}
