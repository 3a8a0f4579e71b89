// Admins, their API tokens and the bootstrap token that makes an organisation's first owner.
// Secrets are never stored: only their SHA-256 (secrets.ts). Every lookup is scoped to one
// organisation, so another organisation's id finds nothing.

import type { Queryable } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import { newId } from '../ids.js';
import { isRole, type Role } from '../roles.js';
import { hashSecret, newSecret } from '../secrets.js';
import { JOINED_ORG_COLUMNS, joinedOrg, type JoinedOrgRow, type Org } from './orgs.js';

export interface Admin {
  readonly id: string;
  readonly orgId: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface AdminRow {
  id: string;
  org_id: string;
  email: string;
  name: string;
  role: string;
  created_at: number;
  updated_at: number;
}

function roleOf(text: string): Role {
  // A role the code does not know is a damaged row: refuse rather than guess a weaker or stronger one.
  if (!isRole(text)) throw new Error(`stored role "${text}" is not a role this server knows`);
  return text;
}

const ADMIN_COLUMNS = 'id, org_id, email, name, role, created_at, updated_at';
const toAdmin = (r: AdminRow): Admin => ({
  id: r.id,
  orgId: r.org_id,
  email: r.email,
  name: r.name,
  role: roleOf(r.role),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Emails compare without case: one person, one admin. */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase();

export async function createAdmin(
  q: Queryable,
  orgId: string,
  input: { readonly email: string; readonly name: string; readonly role: Role },
  now: number,
): Promise<Admin> {
  const id = newId('admin', now);
  const email = normaliseEmail(input.email);
  await q.run(`INSERT INTO admins (${ADMIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
    id,
    orgId,
    email,
    input.name,
    input.role,
    now,
    now,
  ]);
  return { id, orgId, email, name: input.name, role: input.role, createdAt: now, updatedAt: now };
}

export async function getAdmin(
  q: Queryable,
  orgId: string,
  id: string,
  lock = false,
): Promise<Admin | undefined> {
  const row = await q.get<AdminRow>(
    `SELECT ${ADMIN_COLUMNS} FROM admins WHERE org_id = ? AND id = ?${lock ? DIALECTS[q.dialect].forUpdate : ''}`,
    [orgId, id],
  );
  return row && toAdmin(row);
}

export async function listAdmins(q: Queryable, orgId: string): Promise<Admin[]> {
  const rows = await q.all<AdminRow>(
    `SELECT ${ADMIN_COLUMNS} FROM admins WHERE org_id = ? ORDER BY created_at, id`,
    [orgId],
  );
  return rows.map(toAdmin);
}

export async function updateAdmin(
  q: Queryable,
  orgId: string,
  id: string,
  change: { readonly name?: string; readonly role?: Role },
  now: number,
): Promise<Admin | undefined> {
  const row = await q.get<AdminRow>(
    `UPDATE admins SET name = COALESCE(?, name), role = COALESCE(?, role), updated_at = ?
     WHERE org_id = ? AND id = ? RETURNING ${ADMIN_COLUMNS}`,
    [change.name ?? null, change.role ?? null, now, orgId, id],
  );
  return row && toAdmin(row);
}

export async function deleteAdmin(q: Queryable, orgId: string, id: string): Promise<boolean> {
  return (await q.run('DELETE FROM admins WHERE org_id = ? AND id = ?', [orgId, id])) > 0;
}

/**
 * How many owners the organisation has, counted under a lock on those rows, so two requests cannot
 * each remove "the other" owner and leave none.
 */
export async function countOwners(q: Queryable, orgId: string): Promise<number> {
  const rows = await q.all<{ id: string }>(
    `SELECT id FROM admins WHERE org_id = ? AND role = 'owner'${DIALECTS[q.dialect].forUpdate}`,
    [orgId],
  );
  return rows.length;
}

// ---------------------------------------------------------------------------------------------
// API tokens

export interface ApiToken {
  readonly id: string;
  readonly orgId: string;
  readonly adminId: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

interface TokenRow {
  id: string;
  org_id: string;
  admin_id: string;
  name: string;
  role: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

const TOKEN_COLUMNS = 'id, org_id, admin_id, name, role, created_at, expires_at, revoked_at, last_used_at';
const toToken = (r: TokenRow): ApiToken => ({
  id: r.id,
  orgId: r.org_id,
  adminId: r.admin_id,
  name: r.name,
  role: roleOf(r.role),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

/** Issues a token; the secret is in the result and nowhere else, ever. */
export async function createToken(
  q: Queryable,
  input: {
    readonly orgId: string;
    readonly adminId: string;
    readonly name: string;
    readonly role: Role;
    readonly expiresAt: number;
  },
  now: number,
): Promise<{ token: ApiToken; secret: string }> {
  const id = newId('token', now);
  const secret = newSecret('api');
  await q.run(
    `INSERT INTO api_tokens (id, org_id, admin_id, name, role, token_hash, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [id, input.orgId, input.adminId, input.name, input.role, hashSecret(secret), now, input.expiresAt],
  );
  return {
    token: {
      id,
      orgId: input.orgId,
      adminId: input.adminId,
      name: input.name,
      role: input.role,
      createdAt: now,
      expiresAt: input.expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    },
    secret,
  };
}

/** The token a secret stands for, with its admin and organisation, if the secret is known (valid or not). */
export async function tokenBySecret(
  q: Queryable,
  secret: string,
): Promise<{ token: ApiToken; admin: Admin; org: Org } | undefined> {
  const row = await q.get<
    TokenRow &
      JoinedOrgRow & { a_email: string; a_name: string; a_role: string; a_created: number; a_updated: number }
  >(
    `SELECT t.id, t.org_id, t.admin_id, t.name, t.role, t.created_at, t.expires_at, t.revoked_at,
            t.last_used_at, a.email AS a_email, a.name AS a_name, a.role AS a_role,
            a.created_at AS a_created, a.updated_at AS a_updated, ${JOINED_ORG_COLUMNS}
     FROM api_tokens t JOIN admins a ON a.id = t.admin_id AND a.org_id = t.org_id
     JOIN orgs o ON o.id = t.org_id
     WHERE t.token_hash = ?`,
    [hashSecret(secret)],
  );
  if (!row) return undefined;
  return {
    token: toToken(row),
    admin: toAdmin({
      id: row.admin_id,
      org_id: row.org_id,
      email: row.a_email,
      name: row.a_name,
      role: row.a_role,
      created_at: row.a_created,
      updated_at: row.a_updated,
    }),
    org: joinedOrg(row),
  };
}

/**
 * Records use, at most once a minute per token: a write per request would cost more than it tells.
 * The token as authentication read it says whether this request is due one, so most write nothing.
 */
export async function touchToken(
  q: Queryable,
  token: Pick<ApiToken, 'id' | 'lastUsedAt'>,
  now: number,
): Promise<void> {
  if (token.lastUsedAt !== null && token.lastUsedAt >= now - 60_000) return;
  await q.run(
    'UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    [now, token.id, now - 60_000],
  );
}

export async function getToken(q: Queryable, orgId: string, id: string): Promise<ApiToken | undefined> {
  const row = await q.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE org_id = ? AND id = ?`, [
    orgId,
    id,
  ]);
  return row && toToken(row);
}

/** An organisation's tokens, or one admin's; newest first. */
export async function listTokens(q: Queryable, orgId: string, adminId?: string): Promise<ApiToken[]> {
  const rows = await q.all<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE org_id = ?${adminId !== undefined ? ' AND admin_id = ?' : ''}
     ORDER BY created_at DESC, id DESC`,
    adminId !== undefined ? [orgId, adminId] : [orgId],
  );
  return rows.map(toToken);
}

/** Revokes a token (a second revocation keeps the first time). */
export async function revokeToken(
  q: Queryable,
  orgId: string,
  id: string,
  now: number,
): Promise<ApiToken | undefined> {
  const row = await q.get<TokenRow>(
    `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ?
     RETURNING ${TOKEN_COLUMNS}`,
    [now, orgId, id],
  );
  return row && toToken(row);
}

// ---------------------------------------------------------------------------------------------
// Bootstrap tokens

/** How long a printed bootstrap token stays valid. */
export const BOOTSTRAP_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** A fresh bootstrap token for an organisation, replacing any earlier unused one. */
export async function issueBootstrapToken(
  q: Queryable,
  orgId: string,
  now: number,
): Promise<{ secret: string; expiresAt: number }> {
  const secret = newSecret('bootstrap');
  const expiresAt = now + BOOTSTRAP_LIFETIME_MS;
  await q.run('DELETE FROM bootstrap_tokens WHERE org_id = ?', [orgId]);
  await q.run(
    'INSERT INTO bootstrap_tokens (org_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)',
    [orgId, hashSecret(secret), now, expiresAt],
  );
  return { secret, expiresAt };
}

/**
 * Spends a bootstrap token: true only for the one call that finds it unused and unexpired. The
 * update is the check, so two concurrent claims cannot both succeed. Returns the organisation.
 */
export async function claimBootstrapToken(
  q: Queryable,
  secret: string,
  now: number,
): Promise<string | undefined> {
  const row = await q.get<{ org_id: string }>(
    `UPDATE bootstrap_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
     RETURNING org_id`,
    [now, hashSecret(secret), now],
  );
  return row?.org_id;
}
