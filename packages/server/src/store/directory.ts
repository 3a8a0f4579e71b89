// The directory: the people whose agents are governed (users) and the groups that policies bind
// to (metadata.groups names a group here). Kept by the API now, by SCIM later. Every lookup is
// scoped to one organisation.

import type { Queryable } from '../db/database.js';
import { newId } from '../ids.js';
import { normaliseEmail } from './admins.js';
import { lockDevicesOfUser } from './devices.js';

export interface User {
  readonly id: string;
  readonly orgId: string;
  readonly email: string;
  readonly name: string;
  readonly externalId: string | null;
  readonly active: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface UserRow {
  id: string;
  org_id: string;
  email: string;
  name: string;
  external_id: string | null;
  active: number;
  created_at: number;
  updated_at: number;
}

const USER_COLUMNS = 'id, org_id, email, name, external_id, active, created_at, updated_at';
const toUser = (r: UserRow): User => ({
  id: r.id,
  orgId: r.org_id,
  email: r.email,
  name: r.name,
  externalId: r.external_id,
  active: r.active !== 0,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface UserInput {
  readonly email: string;
  readonly name?: string;
  readonly externalId?: string | null;
  readonly active?: boolean;
}

export async function createUser(q: Queryable, orgId: string, input: UserInput, now: number): Promise<User> {
  const row = await q.get<UserRow>(
    `INSERT INTO users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${USER_COLUMNS}`,
    [
      newId('user', now),
      orgId,
      normaliseEmail(input.email),
      input.name ?? '',
      input.externalId ?? null,
      input.active === false ? 0 : 1,
      now,
      now,
    ],
  );
  if (!row) throw new Error('the new user was not returned');
  return toUser(row);
}

export async function getUser(q: Queryable, orgId: string, id: string): Promise<User | undefined> {
  const row = await q.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? AND id = ?`, [
    orgId,
    id,
  ]);
  return row && toUser(row);
}

export async function listUsers(q: Queryable, orgId: string): Promise<User[]> {
  const rows = await q.all<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY email`, [
    orgId,
  ]);
  return rows.map(toUser);
}

export async function updateUser(
  q: Queryable,
  orgId: string,
  id: string,
  change: Partial<UserInput>,
  now: number,
): Promise<User | undefined> {
  const hasExternalId = change.externalId !== undefined;
  const row = await q.get<UserRow>(
    `UPDATE users SET email = COALESCE(?, email), name = COALESCE(?, name),
       external_id = CASE WHEN ? = 1 THEN ? ELSE external_id END,
       active = COALESCE(?, active), updated_at = ?
     WHERE org_id = ? AND id = ? RETURNING ${USER_COLUMNS}`,
    [
      change.email !== undefined ? normaliseEmail(change.email) : null,
      change.name ?? null,
      hasExternalId ? 1 : 0,
      change.externalId ?? null,
      change.active === undefined ? null : change.active ? 1 : 0,
      now,
      orgId,
      id,
    ],
  );
  return row && toUser(row);
}

export async function deleteUser(q: Queryable, orgId: string, id: string): Promise<boolean> {
  // The user's devices go with them (ON DELETE CASCADE), locked in whatever order the cascade
  // meets them: they are locked first in id order, as every transaction that writes several
  // devices does, so this and a batch of device writes wait for each other rather than deadlock.
  await lockDevicesOfUser(q, orgId, id);
  return (await q.run('DELETE FROM users WHERE org_id = ? AND id = ?', [orgId, id])) > 0;
}

// ---------------------------------------------------------------------------------------------
// Groups

export interface Group {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly description: string;
  readonly memberCount: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

interface GroupRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  member_count: number;
  created_at: number;
  updated_at: number;
}

const GROUP_SELECT = `SELECT g.id, g.org_id, g.name, g.description, g.created_at, g.updated_at,
  (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) AS member_count
  FROM user_groups g`;
const toGroup = (r: GroupRow): Group => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  description: r.description,
  memberCount: Number(r.member_count),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export async function createGroup(
  q: Queryable,
  orgId: string,
  input: { readonly name: string; readonly description?: string },
  now: number,
): Promise<Group> {
  const id = newId('group', now);
  const description = input.description ?? '';
  await q.run(
    'INSERT INTO user_groups (id, org_id, name, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    [id, orgId, input.name, description, now, now],
  );
  return { id, orgId, name: input.name, description, memberCount: 0, createdAt: now, updatedAt: now };
}

export async function getGroup(q: Queryable, orgId: string, id: string): Promise<Group | undefined> {
  const row = await q.get<GroupRow>(`${GROUP_SELECT} WHERE g.org_id = ? AND g.id = ?`, [orgId, id]);
  return row && toGroup(row);
}

export async function listGroups(q: Queryable, orgId: string): Promise<Group[]> {
  const rows = await q.all<GroupRow>(`${GROUP_SELECT} WHERE g.org_id = ? ORDER BY g.name`, [orgId]);
  return rows.map(toGroup);
}

export async function updateGroup(
  q: Queryable,
  orgId: string,
  id: string,
  change: { readonly name?: string; readonly description?: string },
  now: number,
): Promise<Group | undefined> {
  const changed = await q.run(
    `UPDATE user_groups SET name = COALESCE(?, name), description = COALESCE(?, description), updated_at = ?
     WHERE org_id = ? AND id = ?`,
    [change.name ?? null, change.description ?? null, now, orgId, id],
  );
  return changed > 0 ? getGroup(q, orgId, id) : undefined;
}

export async function deleteGroup(q: Queryable, orgId: string, id: string): Promise<boolean> {
  return (await q.run('DELETE FROM user_groups WHERE org_id = ? AND id = ?', [orgId, id])) > 0;
}

/** Adds a member (adding one already there changes nothing); false when either is not in the org. */
export async function addMember(
  q: Queryable,
  orgId: string,
  groupId: string,
  userId: string,
  now: number,
): Promise<boolean> {
  const inserted = await q.run(
    `INSERT INTO group_members (org_id, group_id, user_id, added_at)
     SELECT ?, g.id, u.id, ? FROM user_groups g, users u
     WHERE g.org_id = ? AND g.id = ? AND u.org_id = ? AND u.id = ?
     ON CONFLICT (group_id, user_id) DO NOTHING`,
    [orgId, now, orgId, groupId, orgId, userId],
  );
  return inserted > 0;
}

export async function removeMember(
  q: Queryable,
  orgId: string,
  groupId: string,
  userId: string,
): Promise<boolean> {
  return (
    (await q.run('DELETE FROM group_members WHERE org_id = ? AND group_id = ? AND user_id = ?', [
      orgId,
      groupId,
      userId,
    ])) > 0
  );
}

export async function membersOf(q: Queryable, orgId: string, groupId: string): Promise<User[]> {
  const rows = await q.all<UserRow>(
    `SELECT ${USER_COLUMNS.split(', ')
      .map((c) => `u.${c}`)
      .join(', ')} FROM users u JOIN group_members m ON m.user_id = u.id
     WHERE m.org_id = ? AND m.group_id = ? ORDER BY u.email`,
    [orgId, groupId],
  );
  return rows.map(toUser);
}

/** The names of the groups a user is in. */
export async function groupsOf(q: Queryable, orgId: string, userId: string): Promise<string[]> {
  const rows = await q.all<{ name: string }>(
    `SELECT g.name FROM user_groups g JOIN group_members m ON m.group_id = g.id
     WHERE m.org_id = ? AND m.user_id = ? ORDER BY g.name`,
    [orgId, userId],
  );
  return rows.map((r) => r.name);
}

/** Every user's group names, keyed by user id and by email (for replaying events that name either). */
export async function membershipIndex(q: Queryable, orgId: string): Promise<Map<string, string[]>> {
  const rows = await q.all<{ id: string; email: string; name: string }>(
    `SELECT u.id, u.email, g.name FROM users u JOIN group_members m ON m.user_id = u.id
     JOIN user_groups g ON g.id = m.group_id WHERE u.org_id = ? ORDER BY g.name`,
    [orgId],
  );
  const out = new Map<string, string[]>();
  for (const r of rows) {
    for (const key of [r.id, r.email]) out.set(key, [...(out.get(key) ?? []), r.name]);
  }
  return out;
}
