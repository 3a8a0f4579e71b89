// Bundle signing keys and bundles, for admins and for anyone who verifies: the organisation's
// public keys as a JWK set (no token: public keys are public), the rotation of its signing key,
// and the signed bundle a given user's devices get (what they will enforce, before any device asks).

import { z } from 'zod';
import { notFound } from '../http/api-error.js';
import { route } from '../http/route.js';
import { getUser, groupsOf } from '../store/directory.js';
import { getOrg } from '../store/orgs.js';
import { BundleView, KeySetView } from './schemas.js';
import { announcing, audited, found, idParam } from './support.js';

export const bundleRoutes = [
  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/keys',
    operationId: 'getSigningKeys',
    tag: 'bundles',
    summary: "The organisation's bundle signing keys, as a JWK set (the well-known URL devices verify with)",
    description:
      'The active key, and every retired key a bundle that has not expired yet may be signed with. A key made by a rotation carries an endorsement by the key it replaced.',
    access: 'public',
    response: KeySetView,
    handle: async ({ params, app }) => {
      const org = await getOrg(app.db, idParam('org', params.org, 'the organisation'));
      if (!org) throw notFound('the organisation');
      return app.keys.keySet(org.id, app.now());
    },
  }),

  route({
    method: 'POST',
    path: '/api/v1/orgs/{org}/keys/rotate',
    operationId: 'rotateSigningKey',
    tag: 'bundles',
    summary:
      'Rotate the bundle signing key: a new key signs from now on, endorsed by the old one, which stays published until its bundles expire',
    access: 'keys.write',
    response: z.strictObject({ kid: z.string(), replaced: z.string().nullable() }),
    handle: ({ auth, app }) =>
      announcing(
        app,
        auth.org.id,
        audited(app, auth, async (tx, now) => {
          const { kid, replaced } = await app.keys.rotate(tx, auth.org.id, now);
          return {
            result: { kid, replaced: replaced ?? null },
            action: {
              type: 'admin.key.rotate',
              reason: replaced
                ? `rotated the bundle signing key ${replaced} to ${kid}`
                : `made the bundle signing key ${kid}`,
              outcome: { kid, ...(replaced ? { replaced } : {}) },
            },
          };
        }),
      ),
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/users/{user}/bundle',
    operationId: 'getUserBundle',
    tag: 'bundles',
    summary: "The signed bundle a user's devices get now, and what it holds",
    access: 'devices.read',
    response: BundleView,
    handle: async ({ auth, params, app }) => {
      const user = found(
        await getUser(app.db, auth.org.id, idParam('user', params.user, 'the user')),
        'the user',
      );
      const bundle = await app.bundles.bundleFor(
        auth.org,
        await groupsOf(app.db, auth.org.id, user.id),
        app.now(),
      );
      return {
        jws: bundle.jws,
        etag: bundle.etag,
        kid: bundle.kid,
        payload: {
          ...bundle.payload,
          policies: bundle.payload.policies.map((p) => ({ ...p, document: { ...p.document } })),
        },
      };
    },
  }),
];
