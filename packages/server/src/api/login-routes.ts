// Device login: the OAuth 2.0 device authorization grant (RFC 8628). A device asks for a code
// (device_authorization), shows its user code, and polls the token endpoint; the person approves
// at the verification page (/device) with the invitation token an admin gave them; the next poll
// gets the device its credential (pmd_…) and the organisation's signing keys to pin.
// Until an IdP signs people in (OIDC comes next), the invitation is what proves who approves.

import { z } from 'zod';
import { ApiError, OAuthError } from '../http/api-error.js';
import { route, type Answer, type App } from '../http/route.js';
import {
  authorizationByDeviceCode,
  authorizationByUserCode,
  countFailedAttempt,
  createAuthorization,
  createDevice,
  createInvitation,
  decideAuthorization,
  displayUserCode,
  invitationBySecret,
  issueCredential,
  MAX_FAILED_ATTEMPTS,
  normaliseUserCode,
  recordPoll,
  useInvitation,
  waitingLogins,
} from '../store/devices.js';
import { getUser } from '../store/directory.js';
import { recordAdminAction } from '../store/events.js';
import { getOrg } from '../store/orgs.js';
import { isSecretOf } from '../secrets.js';
import { InvitationCreate, KeySetView, NewInvitation, invitationView } from './schemas.js';
import { audited, found, idParam } from './support.js';

export const DEVICE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
const NoControl = /^\P{Cc}*$/u;
const iso = (ms: number): string => new Date(ms).toISOString();

/** RFC 6749 §3.1: unknown parameters are ignored, so these are z.object, not strict. */
const DeviceAuthorizationRequest = z.object({
  client_id: z
    .string()
    .min(1)
    .max(100)
    .regex(NoControl)
    .describe('The client: perimeter-cli for `perimeter login`.'),
  scope: z.string().max(1000).optional().describe('Ignored: a device credential has one scope.'),
  device_name: z
    .string()
    .min(1)
    .max(100)
    .regex(NoControl)
    .optional()
    .describe('What the device calls itself (its host name), shown to the person who approves it.'),
});

const DeviceAuthorizationResponse = z.strictObject({
  device_code: z.string().describe('The secret the device polls the token endpoint with.'),
  user_code: z.string().describe('What the person types at the verification page: XXXX-XXXX.'),
  verification_uri: z.string(),
  verification_uri_complete: z.string().describe('The verification page with the code filled in.'),
  expires_in: z.number().int().describe('Seconds until both codes expire.'),
  interval: z.number().int().describe('Seconds to wait between polls (RFC 8628 §3.5).'),
});

const TokenRequest = z.object({
  grant_type: z.string().min(1),
  device_code: z.string().max(200).optional(),
  client_id: z.string().max(100).optional(),
});

const TokenResponse = z.strictObject({
  access_token: z.string().describe('The device credential (pmd_…): keep it 0600; it does not expire.'),
  token_type: z.literal('Bearer'),
  device: z.strictObject({ id: z.string(), name: z.string() }),
  user: z.strictObject({ id: z.string(), email: z.string() }),
  org: z.strictObject({ id: z.string(), slug: z.string(), name: z.string() }),
  keys: KeySetView.describe("The organisation's bundle signing keys, for the device to pin."),
});

const VerificationRequest = z.strictObject({
  userCode: z
    .string()
    .max(20)
    .describe('The code the device shows (XXXX-XXXX; case and dashes do not matter).'),
  invitation: z.string().max(100).describe('The invitation token (pmi_…) an admin gave you.'),
  decision: z
    .enum(['approve', 'deny'])
    .optional()
    .describe('Absent: only show which device asks. approve enrols it; deny refuses its login.'),
});
const VerificationResult = z.strictObject({
  status: z.enum(['pending', 'approved', 'denied']),
  device: z.strictObject({
    id: z.string().optional().describe('Once approved.'),
    name: z.string(),
    requestedAt: z.string(),
  }),
  user: z.strictObject({ id: z.string(), email: z.string() }),
});

type Verified =
  | { readonly kind: 'ok'; readonly result: z.infer<typeof VerificationResult> }
  | { readonly kind: 'bad-code'; readonly code: string };

/** Approves or denies a pending login, or says which device asks; a wrong code counts against the invitation. */
async function verify(
  app: App,
  body: z.infer<typeof VerificationRequest>,
): Promise<z.infer<typeof VerificationResult>> {
  const refused = (message: string, hint: string): ApiError =>
    new ApiError(401, 'invalid-invitation', message, hint);
  const ask = 'ask your admin for a new invitation';
  if (!isSecretOf('invitation', body.invitation.trim()))
    throw refused(
      'that is not an invitation token (they start with pmi_)',
      'copy it exactly as your admin sent it',
    );
  const outcome = await app.db.transaction(async (tx): Promise<Verified> => {
    const now = app.now();
    const invitation = await invitationBySecret(tx, body.invitation.trim());
    if (!invitation) throw refused('the invitation token is not valid', ask);
    if (invitation.usedAt !== null) throw refused('the invitation was already used to enrol a device', ask);
    if (invitation.expiresAt <= now) throw refused('the invitation has expired', ask);
    if (invitation.failedAttempts >= MAX_FAILED_ATTEMPTS)
      throw refused('the invitation was locked after too many wrong codes', ask);
    const code = normaliseUserCode(body.userCode);
    const pending = code === undefined ? undefined : await authorizationByUserCode(tx, code);
    if (!pending || pending.status !== 'pending' || pending.expiresAt <= now) {
      // Counted under the invitation's row lock, so wrong codes sent at once cannot each see
      // the count before the others raise it; returned, not thrown, so the count commits.
      await countFailedAttempt(tx, invitation.id);
      return { kind: 'bad-code', code: body.userCode };
    }
    const user = await getUser(tx, invitation.orgId, invitation.userId);
    if (!user || !user.active)
      throw new ApiError(
        403,
        'user-inactive',
        'your user is not active in the organisation',
        'ask your admin',
      );
    const requested = { name: pending.deviceName, requestedAt: iso(pending.createdAt) };
    const who = { id: user.id, email: user.email };
    if (body.decision === undefined)
      return { kind: 'ok', result: { status: 'pending', device: requested, user: who } };
    if (body.decision === 'deny') {
      await decideAuthorization(tx, pending.deviceCodeHash, { status: 'denied' }, now);
      await recordAdminAction(
        tx,
        invitation.orgId,
        who,
        {
          category: 'identity',
          type: 'device.login.deny',
          reason: `${user.email} denied the login of device "${pending.deviceName}"`,
          outcome: { invitation: invitation.id },
        },
        now,
      );
      return { kind: 'ok', result: { status: 'denied', device: requested, user: who } };
    }
    const device = await createDevice(
      tx,
      { orgId: invitation.orgId, userId: user.id, name: pending.deviceName },
      now,
    );
    await decideAuthorization(
      tx,
      pending.deviceCodeHash,
      { status: 'approved', orgId: invitation.orgId, userId: user.id, deviceId: device.id },
      now,
    );
    await useInvitation(tx, invitation.id, device.id, now);
    await recordAdminAction(
      tx,
      invitation.orgId,
      who,
      {
        category: 'identity',
        type: 'device.enrol',
        reason: `${user.email} enrolled device "${device.name}" with an invitation`,
        outcome: { device: device.id, invitation: invitation.id },
      },
      now,
    );
    return { kind: 'ok', result: { status: 'approved', device: { ...requested, id: device.id }, user: who } };
  });
  if (outcome.kind === 'ok') return outcome.result;
  throw new ApiError(
    404,
    'not-found',
    `no device is waiting to log in with the code ${outcome.code}`,
    'check the code your terminal shows (it expires after 10 minutes; run perimeter login again for a new one)',
  );
}

/** The token endpoint for the device grant (RFC 8628 §3.4, §3.5). */
async function token(
  app: App,
  body: z.infer<typeof TokenRequest>,
): Promise<Answer<z.infer<typeof TokenResponse>>> {
  if (body.grant_type !== DEVICE_GRANT_TYPE)
    throw new OAuthError(400, 'unsupported_grant_type', `this server grants only ${DEVICE_GRANT_TYPE}`);
  if (body.device_code === undefined || body.client_id === undefined)
    throw new OAuthError(400, 'invalid_request', 'device_code and client_id are required');
  const deviceCode = body.device_code;
  const clientId = body.client_id;
  const outcome = await app.db.transaction(async (tx) => {
    const now = app.now();
    const grant = isSecretOf('device-code', deviceCode)
      ? await authorizationByDeviceCode(tx, deviceCode)
      : undefined;
    if (!grant || grant.clientId !== clientId)
      return new OAuthError(
        400,
        'invalid_grant',
        'the device code is not one this server issued to this client',
      );
    if (grant.status === 'issued')
      return new OAuthError(400, 'invalid_grant', 'the device code was already used');
    if (grant.status === 'denied') return new OAuthError(400, 'access_denied', 'the login was denied');
    if (grant.expiresAt <= now)
      return new OAuthError(400, 'expired_token', 'the device code expired before the login was approved');
    if (grant.status === 'pending') {
      // RFC 8628 §3.5: polling faster than the interval adds 5 s to it, for this and every later poll.
      // (A quarter second of grace for a client that waits exactly the interval.)
      const isTooSoon =
        grant.lastPolledAt !== null && now - grant.lastPolledAt < grant.intervalS * 1000 - 250;
      const interval = isTooSoon ? grant.intervalS + 5 : grant.intervalS;
      await recordPoll(tx, grant.deviceCodeHash, now, interval);
      return isTooSoon
        ? new OAuthError(400, 'slow_down', `poll at most every ${interval} seconds`)
        : new OAuthError(400, 'authorization_pending', 'the login has not been approved yet');
    }
    // Approved: the device collects its credential, once.
    if (grant.orgId === null || grant.userId === null || grant.deviceId === null)
      throw new Error('an approved device authorization has no device');
    const secret = await issueCredential(tx, grant.deviceId);
    if (secret === undefined) return new OAuthError(400, 'invalid_grant', 'the device code was already used');
    await decideAuthorization(tx, grant.deviceCodeHash, { status: 'issued' }, now);
    const org = await getOrg(tx, grant.orgId);
    const user = await getUser(tx, grant.orgId, grant.userId);
    if (!org || !user) return new OAuthError(400, 'invalid_grant', 'the user of this login was removed');
    return {
      access_token: secret,
      token_type: 'Bearer' as const,
      device: { id: grant.deviceId, name: grant.deviceName },
      user: { id: user.id, email: user.email },
      org: { id: org.id, slug: org.slug, name: org.name },
    };
  });
  // Pending and slow_down record the poll: their transaction commits, then the error is answered.
  if (outcome instanceof OAuthError) throw outcome;
  return { ...outcome, keys: await app.keys.keySet(outcome.org.id, app.now()) };
}

export const loginRoutes = [
  route({
    method: 'POST',
    path: '/api/v1/oauth/device_authorization',
    operationId: 'deviceAuthorization',
    tag: 'devices',
    summary: 'Start a device login (RFC 8628 §3.1): a device code to poll with and a user code to show',
    access: 'public',
    bodyType: 'form',
    errorStyle: 'oauth',
    body: DeviceAuthorizationRequest,
    response: DeviceAuthorizationResponse,
    errors: [429],
    handle: ({ body, app }) =>
      app.db.transaction(async (tx) => {
        const now = app.now();
        const limit = app.devices.maxWaitingLogins;
        if ((await waitingLogins(tx, now, limit)) >= limit)
          throw new OAuthError(
            429,
            'slow_down',
            `${limit} device logins are already waiting for approval; try again once some are approved or expire (within ${Math.ceil(app.devices.codeLifetimeMs / 60_000)} minutes)`,
          );
        const { deviceCode, userCode } = await createAuthorization(
          tx,
          {
            clientId: body.client_id,
            deviceName: body.device_name ?? 'a device',
            intervalS: app.devices.pollIntervalS,
          },
          now,
          now + app.devices.codeLifetimeMs,
        );
        const shown = displayUserCode(userCode);
        return {
          device_code: deviceCode,
          user_code: shown,
          verification_uri: `${app.publicUrl}/device`,
          verification_uri_complete: `${app.publicUrl}/device?code=${shown}`,
          expires_in: Math.round(app.devices.codeLifetimeMs / 1000),
          interval: app.devices.pollIntervalS,
        };
      }),
  }),

  route({
    method: 'POST',
    path: '/api/v1/oauth/token',
    operationId: 'token',
    tag: 'devices',
    summary:
      'Poll for the device credential (RFC 8628 §3.4): pending, slow_down, expired, denied, or the credential',
    description: `grant_type must be ${DEVICE_GRANT_TYPE}. Errors are OAuth's (400 with error = authorization_pending, slow_down, expired_token, access_denied or invalid_grant).`,
    access: 'public',
    bodyType: 'form',
    errorStyle: 'oauth',
    body: TokenRequest,
    response: TokenResponse,
    handle: ({ body, app }) => token(app, body),
  }),

  route({
    method: 'POST',
    path: '/api/v1/device/verification',
    operationId: 'verifyDeviceLogin',
    tag: 'devices',
    summary:
      'Approve or deny a device login with its user code and your invitation (what the /device page calls)',
    description:
      'Without decision it only says which device asks, so the person can check it is theirs (RFC 8628 §5.4). A wrong code counts against the invitation; after 5 it stops working.',
    access: 'public',
    body: VerificationRequest,
    response: VerificationResult,
    errors: [401, 403, 404],
    handle: ({ body, app }) => verify(app, body),
  }),

  route({
    method: 'POST',
    path: '/api/v1/orgs/{org}/users/{user}/invitations',
    operationId: 'inviteUser',
    tag: 'devices',
    summary: 'Invite a user to enrol a device: a one-time token they enter when approving their login',
    access: 'devices.write',
    body: InvitationCreate,
    response: NewInvitation,
    status: 201,
    errors: [409],
    handle: ({ auth, params, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const user = found(
          await getUser(tx, auth.org.id, idParam('user', params.user, 'the user')),
          'the user',
        );
        if (!user.active)
          throw new ApiError(409, 'conflict', `${user.email} is not active`, 'make the user active first');
        const { invitation, secret } = await createInvitation(
          tx,
          { orgId: auth.org.id, userId: user.id, createdBy: auth.admin.id },
          now,
          now + (body.expiresInDays ?? 7) * 86_400_000,
        );
        return {
          result: {
            invitation: invitationView(invitation),
            secret,
            verificationUri: `${app.publicUrl}/device`,
          },
          action: {
            type: 'admin.invitation.create',
            reason: `invited ${user.email} to enrol a device`,
            outcome: { user: user.id, invitation: invitation.id },
          },
        };
      }),
  }),
];
