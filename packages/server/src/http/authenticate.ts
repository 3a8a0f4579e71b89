// Who is calling: the bearer token → its admin and organisation, and what the pair may do; or a
// device credential → the device, its user and organisation. A missing token, an unknown one, a
// revoked one and an expired one are all 401 with the same code (the caller holds the token and
// may learn which; nobody else learns anything).

import type { IncomingMessage } from 'node:http';
import { effectivePermissions } from '../roles.js';
import { isSecretOf } from '../secrets.js';
import { tokenBySecret, touchToken } from '../store/admins.js';
import { isTouchDue } from '../store/devices.js';
import { ApiError } from './api-error.js';
import type { App, Auth, DeviceAuth } from './route.js';

const HINT =
  'send "Authorization: Bearer pmt_…" with an API token; the first owner gets one from the bootstrap link the server printed at its first start';

export async function authenticate(app: App, req: IncomingMessage): Promise<Auth> {
  const header = req.headers.authorization;
  if (header === undefined || header.trim() === '')
    throw new ApiError(401, 'unauthenticated', 'this endpoint needs an API token', HINT);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const secret = match?.[1];
  const invalid = (why: string): ApiError => new ApiError(401, 'invalid-token', `the API token ${why}`, HINT);
  if (secret === undefined || !isSecretOf('api', secret)) throw invalid('is not one this server issues');
  const found = await tokenBySecret(app.db, secret);
  if (!found) throw invalid('is not valid (unknown, or its admin was removed)');
  const now = app.now();
  if (found.token.revokedAt !== null) throw invalid('was revoked');
  if (found.token.expiresAt <= now) throw invalid('has expired');
  await touchToken(app.db, found.token, now);
  return {
    org: found.org,
    admin: found.admin,
    token: found.token,
    permissions: effectivePermissions(found.admin.role, found.token.role),
    actor: { id: found.admin.id, email: found.admin.email },
  };
}

const DEVICE_HINT = 'log this device in again: perimeter login --server URL';

const invalidDevice = (why: string): ApiError =>
  new ApiError(401, 'invalid-device-credential', `the device credential ${why}`, DEVICE_HINT);

/** Why a device's credential no longer works, if it does not: the device revoked, its user inactive. */
function deviceRefusal(revokedAt: number | null, isUserActive: boolean): string | undefined {
  if (revokedAt !== null) return 'was revoked';
  if (!isUserActive) return 'belongs to a user who is not active';
  return undefined;
}

/**
 * A device calling with its credential (`Authorization: Bearer pmd_…`). Revoked devices and
 * devices of users that are inactive or gone are refused like unknown ones: 401.
 */
export async function authenticateDevice(app: App, req: IncomingMessage): Promise<DeviceAuth> {
  const header = req.headers.authorization;
  const secret = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (secret === undefined)
    throw new ApiError(401, 'unauthenticated', 'this endpoint needs a device credential', DEVICE_HINT);
  if (!isSecretOf('device', secret)) throw invalidDevice('is not one this server issues');
  const found = await app.deviceData.byCredential(secret);
  if (!found) throw invalidDevice('is not valid (unknown, or its user was removed)');
  const refusal = deviceRefusal(found.device.revokedAt, found.user.active);
  if (refusal !== undefined) throw invalidDevice(refusal);
  if (isTouchDue(found.device, app.now())) await app.deviceData.touch(found.device.id);
  return { org: found.org, user: found.user, device: found.device };
}

/**
 * The group names of an authenticated device's user as they are now, refused (401) as
 * authenticateDevice refuses once the device is revoked or its user deactivated or removed: a
 * long poll woken by such a change ends there, rather than wait on or get a fresh bundle.
 */
export async function currentDeviceGroups(app: App, auth: DeviceAuth): Promise<readonly string[]> {
  const standing = await app.deviceData.standing(auth.device.id);
  if (!standing) throw invalidDevice('is not valid (unknown, or its user was removed)');
  const refusal = deviceRefusal(standing.revokedAt, standing.isUserActive);
  if (refusal !== undefined) throw invalidDevice(refusal);
  return standing.groups;
}
