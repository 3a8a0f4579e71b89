// Devices and how they get enrolled: invitations an admin gives a user, RFC 8628 device
// authorizations (a device code the device polls with, a user code the person types), and the
// enrolled devices with their credential and the bundle revision they last reported active.
// Every secret here (invitation, device code, device credential) is stored as SHA-256 only.

import { randomInt } from 'node:crypto';
import type { Queryable, SqlValue } from '../db/database.js';
import { DatabaseError } from '../db/database.js';
import { DIALECTS } from '../db/dialect.js';
import { newId } from '../ids.js';
import { hashSecret, newSecret } from '../secrets.js';
import type { User } from './directory.js';
import { JOINED_ORG_COLUMNS, joinedOrg, type JoinedOrgRow, type Org } from './orgs.js';
import { marks, padded, slices } from './lists.js';

// ---------------------------------------------------------------------------------------------
// Invitations

export interface Invitation {
  readonly id: string;
  readonly orgId: string;
  readonly userId: string;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usedAt: number | null;
  readonly deviceId: string | null;
  readonly failedAttempts: number;
}

interface InvitationRow {
  id: string;
  org_id: string;
  user_id: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  device_id: string | null;
  failed_attempts: number;
}

const INVITATION_COLUMNS =
  'id, org_id, user_id, created_by, created_at, expires_at, used_at, device_id, failed_attempts';
const toInvitation = (r: InvitationRow): Invitation => ({
  id: r.id,
  orgId: r.org_id,
  userId: r.user_id,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  deviceId: r.device_id,
  failedAttempts: r.failed_attempts,
});

/** Wrong user codes an invitation survives; the next one burns it (RFC 8628 §5.1). */
export const MAX_FAILED_ATTEMPTS = 5;

export async function createInvitation(
  q: Queryable,
  input: { readonly orgId: string; readonly userId: string; readonly createdBy: string },
  now: number,
  expiresAt: number,
): Promise<{ invitation: Invitation; secret: string }> {
  const secret = newSecret('invitation');
  const id = newId('invitation', now);
  await q.run(
    `INSERT INTO invitations (id, org_id, user_id, token_hash, created_by, created_at, expires_at, used_at, device_id, failed_attempts)
     VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0)`,
    [id, input.orgId, input.userId, hashSecret(secret), input.createdBy, now, expiresAt],
  );
  return {
    secret,
    invitation: {
      id,
      orgId: input.orgId,
      userId: input.userId,
      createdBy: input.createdBy,
      createdAt: now,
      expiresAt,
      usedAt: null,
      deviceId: null,
      failedAttempts: 0,
    },
  };
}

export async function invitationBySecret(q: Queryable, secret: string): Promise<Invitation | undefined> {
  const row = await q.get<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE token_hash = ?${DIALECTS[q.dialect].forUpdate}`,
    [hashSecret(secret)],
  );
  return row && toInvitation(row);
}

export async function countFailedAttempt(q: Queryable, id: string): Promise<void> {
  await q.run('UPDATE invitations SET failed_attempts = failed_attempts + 1 WHERE id = ?', [id]);
}

export async function useInvitation(q: Queryable, id: string, deviceId: string, now: number): Promise<void> {
  await q.run('UPDATE invitations SET used_at = ?, device_id = ? WHERE id = ? AND used_at IS NULL', [
    now,
    deviceId,
    id,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Device authorizations (RFC 8628)

export type AuthorizationStatus = 'pending' | 'approved' | 'denied' | 'issued';

export interface DeviceAuthorization {
  readonly deviceCodeHash: string;
  /** 8 letters of USER_CODE_ALPHABET, without the dash people see. */
  readonly userCode: string;
  readonly clientId: string;
  readonly deviceName: string;
  readonly status: AuthorizationStatus;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly intervalS: number;
  readonly lastPolledAt: number | null;
  readonly orgId: string | null;
  readonly userId: string | null;
  readonly deviceId: string | null;
}

interface AuthorizationRow {
  device_code_hash: string;
  user_code: string;
  client_id: string;
  device_name: string;
  status: string;
  created_at: number;
  expires_at: number;
  interval_s: number;
  last_polled_at: number | null;
  org_id: string | null;
  user_id: string | null;
  device_id: string | null;
}

const AUTHORIZATION_COLUMNS =
  'device_code_hash, user_code, client_id, device_name, status, created_at, expires_at, interval_s, last_polled_at, org_id, user_id, device_id';
const STATUSES: readonly AuthorizationStatus[] = ['pending', 'approved', 'denied', 'issued'];
const toAuthorization = (r: AuthorizationRow): DeviceAuthorization => ({
  deviceCodeHash: r.device_code_hash,
  userCode: r.user_code,
  clientId: r.client_id,
  deviceName: r.device_name,
  status: STATUSES.find((s) => s === r.status) ?? 'denied',
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  intervalS: r.interval_s,
  lastPolledAt: r.last_polled_at,
  orgId: r.org_id,
  userId: r.user_id,
  deviceId: r.device_id,
});

/**
 * RFC 8628 §6.1: base-20 letters with no vowels (no words) and no look-alikes; 8 of them hold
 * about 34.5 bits, and an invitation survives only a few wrong ones.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** What a person typed → the stored form: case and dashes and spaces do not matter. */
export function normaliseUserCode(text: string): string | undefined {
  const code = text.toUpperCase().replace(/[\s-]/g, '');
  return new RegExp(`^[${USER_CODE_ALPHABET}]{8}$`).test(code) ? code : undefined;
}

/** The form people see: XXXX-XXXX. */
export const displayUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

function newUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return code;
}

/** Starts a device authorization; returns the device code (shown once) and the user code. */
export async function createAuthorization(
  q: Queryable,
  input: { readonly clientId: string; readonly deviceName: string; readonly intervalS: number },
  now: number,
  expiresAt: number,
): Promise<{ deviceCode: string; userCode: string }> {
  // Old rows only take up user codes: a day after they expired nobody can ask about them.
  await q.run('DELETE FROM device_authorizations WHERE expires_at < ?', [now - 86_400_000]);
  for (let attempt = 0; ; attempt++) {
    const deviceCode = newSecret('device-code');
    const userCode = newUserCode();
    try {
      await q.run(
        `INSERT INTO device_authorizations (${AUTHORIZATION_COLUMNS}, decided_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, NULL, NULL, NULL, NULL, NULL)`,
        [hashSecret(deviceCode), userCode, input.clientId, input.deviceName, now, expiresAt, input.intervalS],
      );
      return { deviceCode, userCode };
    } catch (e) {
      // Two live logins drew the same user code (one in billions): draw again.
      if (!(e instanceof DatabaseError && e.constraint === 'unique') || attempt >= 3) throw e;
    }
  }
}

/** How many logins wait for approval now (pending, unexpired), counted up to `limit`. */
export async function waitingLogins(q: Queryable, now: number, limit: number): Promise<number> {
  const row = await q.get<{ n: number | string }>(
    `SELECT COUNT(*) AS n FROM (SELECT 1 FROM device_authorizations
       WHERE status = 'pending' AND expires_at > ? LIMIT ?) waiting`,
    [now, limit],
  );
  return Number(row?.n ?? 0);
}

export async function authorizationByUserCode(
  q: Queryable,
  userCode: string,
): Promise<DeviceAuthorization | undefined> {
  const row = await q.get<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM device_authorizations WHERE user_code = ?${DIALECTS[q.dialect].forUpdate}`,
    [userCode],
  );
  return row && toAuthorization(row);
}

export async function authorizationByDeviceCode(
  q: Queryable,
  deviceCode: string,
): Promise<DeviceAuthorization | undefined> {
  const row = await q.get<AuthorizationRow>(
    `SELECT ${AUTHORIZATION_COLUMNS} FROM device_authorizations WHERE device_code_hash = ?${DIALECTS[q.dialect].forUpdate}`,
    [hashSecret(deviceCode)],
  );
  return row && toAuthorization(row);
}

export async function recordPoll(q: Queryable, hash: string, now: number, intervalS: number): Promise<void> {
  await q.run(
    'UPDATE device_authorizations SET last_polled_at = ?, interval_s = ? WHERE device_code_hash = ?',
    [now, intervalS, hash],
  );
}

export async function decideAuthorization(
  q: Queryable,
  hash: string,
  decision:
    | { readonly status: 'denied' }
    | {
        readonly status: 'approved';
        readonly orgId: string;
        readonly userId: string;
        readonly deviceId: string;
      }
    | { readonly status: 'issued' },
  now: number,
): Promise<void> {
  if (decision.status === 'approved')
    await q.run(
      `UPDATE device_authorizations SET status = 'approved', org_id = ?, user_id = ?, device_id = ?, decided_at = ?
       WHERE device_code_hash = ?`,
      [decision.orgId, decision.userId, decision.deviceId, now, hash],
    );
  else
    await q.run(
      `UPDATE device_authorizations SET status = ?, decided_at = COALESCE(decided_at, ?) WHERE device_code_hash = ?`,
      [decision.status, now, hash],
    );
}

// ---------------------------------------------------------------------------------------------
// Devices

export interface Device {
  readonly id: string;
  readonly orgId: string;
  readonly userId: string;
  readonly name: string;
  readonly createdAt: number;
  readonly lastSeenAt: number | null;
  readonly revokedAt: number | null;
  /** Whether the device has collected its credential. */
  readonly isEnrolled: boolean;
  /** The bundle revision the device last reported active, and its issue time. */
  readonly activeRevision: number | null;
  readonly activeIssuedAt: number | null;
  readonly activatedAt: number | null;
  /** The device's last reported error (a bundle it refused, a fetch that failed), if its last report had one. */
  readonly activationError: string | null;
  readonly reportedAt: number | null;
}

interface DeviceRow {
  id: string;
  org_id: string;
  user_id: string;
  name: string;
  credential_hash: string | null;
  created_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
  active_revision: number | null;
  active_issued_at: number | null;
  activated_at: number | null;
  activation_error: string | null;
  reported_at: number | null;
}

const DEVICE_COLUMNS =
  'id, org_id, user_id, name, credential_hash, created_at, last_seen_at, revoked_at, active_revision, active_issued_at, activated_at, activation_error, reported_at';
const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  orgId: r.org_id,
  userId: r.user_id,
  name: r.name,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  revokedAt: r.revoked_at,
  isEnrolled: r.credential_hash !== null,
  activeRevision: r.active_revision,
  activeIssuedAt: r.active_issued_at,
  activatedAt: r.activated_at,
  activationError: r.activation_error,
  reportedAt: r.reported_at,
});

export async function createDevice(
  q: Queryable,
  input: { readonly orgId: string; readonly userId: string; readonly name: string },
  now: number,
): Promise<Device> {
  const row = await q.get<DeviceRow>(
    `INSERT INTO devices (${DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
     RETURNING ${DEVICE_COLUMNS}`,
    [newId('device', now), input.orgId, input.userId, input.name, now],
  );
  if (!row) throw new Error('the new device was not returned');
  return toDevice(row);
}

/** Gives a device its credential (once: a device that has one keeps it). */
export async function issueCredential(q: Queryable, deviceId: string): Promise<string | undefined> {
  const secret = newSecret('device');
  const changed = await q.run(
    'UPDATE devices SET credential_hash = ? WHERE id = ? AND credential_hash IS NULL',
    [hashSecret(secret), deviceId],
  );
  return changed === 1 ? secret : undefined;
}

/** A device as its credential finds it: the device, its user and organisation. */
export interface CredentialHolder {
  readonly device: Device;
  readonly user: User;
  readonly org: Org;
}

type CredentialRow = DeviceRow &
  JoinedOrgRow & {
    u_email: string;
    u_name: string;
    u_external_id: string | null;
    u_active: number;
    u_created_at: number;
    u_updated_at: number;
  };

const CREDENTIAL_SELECT = `SELECT ${DEVICE_COLUMNS.split(', ')
  .map((c) => `d.${c}`)
  .join(', ')}, u.email AS u_email, u.name AS u_name, u.external_id AS u_external_id,
       u.active AS u_active, u.created_at AS u_created_at, u.updated_at AS u_updated_at, ${JOINED_ORG_COLUMNS}
     FROM devices d JOIN users u ON u.id = d.user_id AND u.org_id = d.org_id
     JOIN orgs o ON o.id = d.org_id`;

const toHolder = (row: CredentialRow): CredentialHolder => ({
  device: toDevice(row),
  user: {
    id: row.user_id,
    orgId: row.org_id,
    email: row.u_email,
    name: row.u_name,
    externalId: row.u_external_id,
    active: row.u_active !== 0,
    createdAt: row.u_created_at,
    updatedAt: row.u_updated_at,
  },
  org: joinedOrg(row),
});

/**
 * The devices these credentials stand for (by their SHA-256, as hashSecret gives it), with their
 * users and organisations: one entry per credential known.
 */
export async function devicesByCredentialHash(
  q: Queryable,
  hashes: readonly string[],
): Promise<Map<string, CredentialHolder>> {
  const found = new Map<string, CredentialHolder>();
  for (const slice of slices(hashes)) {
    const list = padded(slice);
    const rows = await q.all<CredentialRow>(
      `${CREDENTIAL_SELECT} WHERE d.credential_hash IN (${marks(list)})`,
      list,
    );
    for (const row of rows) if (row.credential_hash !== null) found.set(row.credential_hash, toHolder(row));
  }
  return found;
}

/** Whether a device may still fetch its bundle, with its user's group names. */
export interface DeviceStanding {
  readonly revokedAt: number | null;
  readonly isUserActive: boolean;
  readonly groups: readonly string[];
}

/**
 * The standing of each of these devices (a long poll reads it again after every wake-up); a
 * device that is gone, or whose user is, has none.
 */
export async function deviceStandings(
  q: Queryable,
  deviceIds: readonly string[],
): Promise<Map<string, DeviceStanding>> {
  const found = new Map<string, { revokedAt: number | null; isUserActive: boolean; groups: string[] }>();
  for (const slice of slices(deviceIds)) {
    const list = padded(slice);
    const rows = await q.all<{ id: string; revoked_at: number | null; active: number; name: string | null }>(
      `SELECT d.id, d.revoked_at, u.active, g.name FROM devices d
       JOIN users u ON u.id = d.user_id AND u.org_id = d.org_id
       LEFT JOIN group_members m ON m.user_id = u.id AND m.org_id = u.org_id
       LEFT JOIN user_groups g ON g.id = m.group_id
       WHERE d.id IN (${marks(list)})`,
      list,
    );
    for (const row of rows) {
      let standing = found.get(row.id);
      if (standing === undefined) {
        standing = { revokedAt: row.revoked_at, isUserActive: row.active !== 0, groups: [] };
        found.set(row.id, standing);
      }
      if (row.name !== null) standing.groups.push(row.name);
    }
  }
  return found;
}

/**
 * Locks these devices' rows for writing until the transaction ends, in id order (byte order, as
 * JavaScript sorts, whatever the database's collation), on PostgreSQL: a transaction that writes
 * several devices takes them all this way first, so two that share devices wait for each other
 * rather than deadlock. An UPDATE locks its rows in the order its plan visits them (a hash join
 * visits the table's order), and a transaction's second statement may want a row that another's
 * first holds. The lock is the one an UPDATE of these columns takes (FOR NO KEY UPDATE): it does
 * not hold up an insert that refers to the device. SQLite's write lock already serialises.
 */
export async function lockDevices(q: Queryable, deviceIds: readonly string[]): Promise<void> {
  for (const slice of slices([...new Set(deviceIds)].sort())) {
    const list = padded(slice);
    await lockInOrder(q, `id IN (${marks(list)})`, list, 'FOR NO KEY UPDATE');
  }
}

/** A user's devices, locked as lockDevices locks, for deleting (FOR UPDATE: the rows go). */
export async function lockDevicesOfUser(q: Queryable, orgId: string, userId: string): Promise<void> {
  await lockInOrder(q, 'org_id = ? AND user_id = ?', [orgId, userId], 'FOR UPDATE');
}

async function lockInOrder(
  q: Queryable,
  where: string,
  params: readonly SqlValue[],
  strength: 'FOR UPDATE' | 'FOR NO KEY UPDATE',
): Promise<void> {
  if (q.dialect !== 'postgres') return; // SQLite's write lock already serialises
  await q.all(
    `SELECT id FROM devices WHERE ${where} ORDER BY id${DIALECTS[q.dialect].byteOrder} ${strength}`,
    params,
  );
}

/**
 * Records that these devices called, for those not seen in the last minute. With other devices'
 * writes in one transaction, lock them all first (lockDevices).
 */
export async function touchDevices(q: Queryable, deviceIds: readonly string[], now: number): Promise<void> {
  for (const slice of slices(deviceIds)) {
    const list = padded(slice);
    await q.run(
      `UPDATE devices SET last_seen_at = ? WHERE id IN (${marks(list)}) AND (last_seen_at IS NULL OR last_seen_at < ?)`,
      [now, ...list, now - 60_000],
    );
  }
}

/** Whether a device's last call was long enough ago to be recorded (at most once a minute). */
export const isTouchDue = (device: Pick<Device, 'lastSeenAt'>, now: number): boolean =>
  device.lastSeenAt === null || device.lastSeenAt < now - 60_000;

export async function getDevice(q: Queryable, orgId: string, id: string): Promise<Device | undefined> {
  const row = await q.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE org_id = ? AND id = ?`, [
    orgId,
    id,
  ]);
  return row && toDevice(row);
}

export async function listDevices(q: Queryable, orgId: string, userId?: string): Promise<Device[]> {
  const rows = await q.all<DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE org_id = ?${userId !== undefined ? ' AND user_id = ?' : ''}
     ORDER BY created_at DESC, id DESC`,
    userId !== undefined ? [orgId, userId] : [orgId],
  );
  return rows.map(toDevice);
}

export async function revokeDevice(
  q: Queryable,
  orgId: string,
  id: string,
  now: number,
): Promise<Device | undefined> {
  const row = await q.get<DeviceRow>(
    `UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ? AND id = ? RETURNING ${DEVICE_COLUMNS}`,
    [now, orgId, id],
  );
  return row && toDevice(row);
}

/** What a device reports after it activated a bundle, or failed to. */
export type ActivationReport =
  | { readonly revision: number; readonly issuedAt: number; readonly activatedAt: number }
  | { readonly error: string };

/**
 * Stores devices' reports, each received at its `now`: a device's active revision, or its last
 * error (an error leaves the active revision as it was). A device reporting twice keeps its later
 * report. One statement for up to LIST_MAX reports; run it in a transaction to commit them once,
 * after locking the devices (lockDevices).
 */
export async function recordActivations(
  q: Queryable,
  reports: readonly { readonly deviceId: string; readonly report: ActivationReport; readonly now: number }[],
): Promise<void> {
  const latest = new Map(reports.map((r) => [r.deviceId, r]));
  for (const slice of slices([...latest.values()])) {
    const rows = padded(slice);
    const row = '(?, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), ?, CAST(? AS BIGINT))';
    await q.run(
      `WITH v (id, revision, issued_at, activated_at, error, at) AS (VALUES ${marks(rows, row)})
       UPDATE devices SET
         active_revision = COALESCE(v.revision, devices.active_revision),
         active_issued_at = COALESCE(v.issued_at, devices.active_issued_at),
         activated_at = COALESCE(v.activated_at, devices.activated_at),
         activation_error = v.error, reported_at = v.at, last_seen_at = v.at
       FROM v WHERE devices.id = v.id`,
      rows.flatMap(({ deviceId, report, now }) =>
        'error' in report
          ? [deviceId, null, null, null, report.error, now]
          : [deviceId, report.revision, report.issuedAt, report.activatedAt, null, now],
      ),
    );
  }
}
