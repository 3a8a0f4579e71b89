// What enrolled devices call, with their credential: their bundle (a long poll with ETag and
// If-None-Match: answered at once when the device's ETag is not current, else held until a change
// is announced or the wait ends, then 304), and their activation reports. And what admins call
// about devices: the list (which revision each runs, its last error) and revocation.

import { z } from 'zod';
import { ApiError } from '../http/api-error.js';
import { currentDeviceGroups } from '../http/authenticate.js';
import { RawReply, route, type App, type DeviceAuth } from '../http/route.js';
import { getDevice, listDevices, revokeDevice } from '../store/devices.js';
import { DeviceView, deviceView, Time } from './schemas.js';
import { announcing, audited, found, idParam } from './support.js';

/** The media type of a compact JWS (RFC 7515 §9.2.1). */
export const JOSE_TYPE = 'application/jose';

/** Does If-None-Match name this ETag (RFC 9110 §13.1.2: a list, or *)? */
function isCurrent(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** Resolves after `ms`, at the change, or when the client leaves, whichever is first. */
function waitFor(changed: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
    void changed.then(done);
  });
}

async function bundleReply(
  app: App,
  auth: DeviceAuth,
  ifNoneMatch: string | undefined,
  waitMs: number,
  signal: AbortSignal,
): Promise<RawReply> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    // The waiter first: a change that commits while the bundle is read still wakes it.
    const waiter = app.changes.next(auth.org.id);
    try {
      // Read again at every wake-up: a revoked device or a deactivated user is refused here.
      const groups = await currentDeviceGroups(app, auth);
      const bundle = await app.bundles.bundleFor(auth.org, groups, app.now());
      const headers = {
        etag: bundle.etag,
        'x-perimeter-revision': String(bundle.payload.revision),
        'cache-control': 'no-store',
      };
      if (!isCurrent(ifNoneMatch, bundle.etag))
        return new RawReply(200, { ...headers, 'content-type': JOSE_TYPE }, bundle.bytes);
      const remaining = deadline - performance.now();
      // Out of time, the device gone, or the server stopping: "no change", and the device asks again.
      if (remaining <= 0 || signal.aborted || app.changes.isClosed) return new RawReply(304, headers);
      await waitFor(waiter.changed, remaining, signal);
    } finally {
      waiter.cancel();
    }
  }
}

const ActivationReport = z
  .strictObject({
    revision: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('The revision now active (with issuedAt), or the one refused.'),
    issuedAt: Time.optional().describe("The active bundle's issue time."),
    activatedAt: Time.optional().describe('When the device activated it (default: now).'),
    error: z
      .strictObject({
        code: z
          .string()
          .min(1)
          .max(64)
          .regex(/^[a-z0-9-]+$/),
        message: z.string().min(1).max(500),
      })
      .optional()
      .describe('Why the device could not activate a bundle (it keeps its last good one).'),
  })
  .describe('Either revision and issuedAt (a bundle is active), or error.');

export const deviceRoutes = [
  route({
    method: 'GET',
    path: '/api/v1/device/bundle',
    operationId: 'getDeviceBundle',
    tag: 'devices',
    summary: "This device's signed policy bundle; a long poll with If-None-Match",
    description:
      "Answers 200 with the compact JWS (application/jose) and its ETag when If-None-Match does not name the current one. Otherwise waits up to `wait` seconds (at most 55) for a change — a publication, a change of the user's groups, a key rotation — and answers 304 if none came.",
    access: 'device',
    query: z.strictObject({
      wait: z
        .string()
        .regex(/^[0-9]{1,3}$/, { message: 'wait is a number of seconds' })
        .optional()
        .describe(
          'Seconds to hold the request for a change when the ETag is current (default 0, at most 55).',
        ),
    }),
    raw: { contentTypes: [JOSE_TYPE], statuses: [200, 304] },
    handle: ({ auth, query, headers, signal, app }) => {
      const waitMs = Math.min(Number(query.wait ?? '0') * 1000, app.devices.longPollMaxMs);
      const ifNoneMatch = headers['if-none-match'];
      return bundleReply(
        app,
        auth,
        typeof ifNoneMatch === 'string' ? ifNoneMatch : undefined,
        waitMs,
        signal,
      );
    },
  }),

  route({
    method: 'POST',
    path: '/api/v1/device/activation',
    operationId: 'reportActivation',
    tag: 'devices',
    summary: 'Report the bundle this device activated, or why it could not',
    access: 'device',
    body: ActivationReport,
    handle: async ({ auth, body, app }) => {
      const now = app.now();
      if (body.error !== undefined) {
        const error = `${body.error.code}: ${body.error.message}${body.revision !== undefined ? ` (revision ${body.revision})` : ''}`;
        await app.deviceData.report(auth.device.id, { error }, now);
        app.log.log('warn', 'device.activation-failed', {
          org: auth.org.id,
          device: auth.device.id,
          code: body.error.code,
          revision: body.revision ?? null,
        });
        return undefined;
      }
      if (body.revision === undefined || body.issuedAt === undefined)
        throw new ApiError(
          400,
          'invalid-body',
          'a report needs revision and issuedAt, or error',
          'send one of them',
        );
      const activatedAt = body.activatedAt !== undefined ? Date.parse(body.activatedAt) : now;
      const issuedAt = Date.parse(body.issuedAt);
      if (!Number.isFinite(activatedAt) || !Number.isFinite(issuedAt))
        throw new ApiError(
          400,
          'invalid-body',
          'issuedAt and activatedAt must be ISO times',
          'send ISO 8601 UTC times',
        );
      await app.deviceData.report(auth.device.id, { revision: body.revision, issuedAt, activatedAt }, now);
      app.log.log('info', 'device.activated', {
        org: auth.org.id,
        device: auth.device.id,
        revision: body.revision,
        // From the bundle's issue time: the publication for a new revision; for a reissue (a group
        // change, a key rotation) the start of its issue window, so not a propagation lag then.
        sinceIssuedMs: now - issuedAt,
      });
      return undefined;
    },
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/devices',
    operationId: 'listDevices',
    tag: 'devices',
    summary: 'Enrolled devices, with the bundle revision each last reported active and its last error',
    access: 'devices.read',
    query: z.strictObject({ user: z.string().optional().describe("Only this user's devices.") }),
    response: z.strictObject({ devices: z.array(DeviceView) }),
    handle: async ({ auth, query, app }) => ({
      devices: (
        await listDevices(
          app.db,
          auth.org.id,
          query.user !== undefined ? idParam('user', query.user, 'the user') : undefined,
        )
      ).map(deviceView),
    }),
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/devices/{device}',
    operationId: 'getDevice',
    tag: 'devices',
    summary: 'A device',
    access: 'devices.read',
    response: DeviceView,
    handle: async ({ auth, params, app }) =>
      deviceView(
        found(
          await getDevice(app.db, auth.org.id, idParam('device', params.device, 'the device')),
          'the device',
        ),
      ),
  }),

  route({
    method: 'DELETE',
    path: '/api/v1/orgs/{org}/devices/{device}',
    operationId: 'revokeDevice',
    tag: 'devices',
    summary:
      'Revoke a device: its credential stops working at once (it keeps enforcing its last bundle until that expires)',
    access: 'devices.write',
    handle: async ({ auth, params, app }) => {
      await announcing(
        app,
        auth.org.id,
        audited(app, auth, async (tx, now) => {
          const device = found(
            await revokeDevice(tx, auth.org.id, idParam('device', params.device, 'the device'), now),
            'the device',
          );
          return {
            result: undefined,
            action: {
              type: 'admin.device.revoke',
              reason: `revoked device "${device.name}"`,
              outcome: { device: device.id, user: device.userId },
            },
          };
        }),
      );
      return undefined;
    },
  }),
];
