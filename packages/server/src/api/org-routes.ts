// Routes for the organisation itself, its admins and their API tokens, and the one-time
// bootstrap that makes the first owner. An organisation always keeps at least one owner.

import { z } from 'zod';
import { ApiError, conflict } from '../http/api-error.js';
import { route, type Auth } from '../http/route.js';
import { canGrant, permissionsOf, type Role } from '../roles.js';
import { isSecretOf } from '../secrets.js';
import {
  claimBootstrapToken,
  countOwners,
  createAdmin,
  createToken,
  deleteAdmin,
  getAdmin,
  getToken,
  listAdmins,
  listTokens,
  revokeToken,
  updateAdmin,
} from '../store/admins.js';
import { recordAdminAction } from '../store/events.js';
import { getOrg, renameOrg } from '../store/orgs.js';
import {
  AdminCreate,
  AdminPatch,
  AdminView,
  adminView,
  BootstrapRequest,
  BootstrapResult,
  Me,
  NewToken,
  OrgPatch,
  OrgView,
  orgView,
  TokenCreate,
  TokenView,
  tokenView,
} from './schemas.js';
import { audited, found, idParam, unlessTaken } from './support.js';

const DAY = 24 * 60 * 60 * 1000;
/** How long a token issued without a lifetime lives, and the bootstrap owner's first token. */
const DEFAULT_TOKEN_DAYS = 90;

const ORG = '/api/v1/orgs/{org}';

export const orgRoutes = [
  route({
    method: 'POST',
    path: '/api/v1/bootstrap',
    operationId: 'bootstrap',
    tag: 'organisations',
    summary: "Claim an organisation as its first owner with the server's one-time bootstrap token",
    description:
      'The server prints a bootstrap token (and a link holding it) at its first start. Exchanging it creates the first owner and returns their first API token; the bootstrap token is then spent.',
    access: 'public',
    body: BootstrapRequest,
    response: BootstrapResult,
    status: 201,
    errors: [401, 409],
    handle: async ({ body, app }) => {
      const refused = new ApiError(
        401,
        'invalid-bootstrap-token',
        'the bootstrap token is not valid: it is unknown, already used, or expired',
        'while the organisation has no owner, each start of the server prints a new one',
      );
      if (!isSecretOf('bootstrap', body.token)) throw refused;
      return app.db.transaction(async (tx) => {
        const now = app.now();
        const orgId = await claimBootstrapToken(tx, body.token, now);
        if (orgId === undefined) throw refused;
        const org = found(await getOrg(tx, orgId), 'the organisation');
        const admin = await unlessTaken(
          createAdmin(tx, orgId, { email: body.email, name: body.name ?? '', role: 'owner' }, now),
          `${body.email} is already an admin of this organisation`,
          'sign in with that admin’s token instead',
        );
        const issued = await createToken(
          tx,
          {
            orgId,
            adminId: admin.id,
            name: 'bootstrap',
            role: 'owner',
            expiresAt: now + DEFAULT_TOKEN_DAYS * DAY,
          },
          now,
        );
        await recordAdminAction(
          tx,
          orgId,
          { id: admin.id, email: admin.email },
          {
            type: 'admin.bootstrap',
            reason: `${admin.email} claimed the organisation as its first owner`,
            outcome: { admin: admin.id, token: issued.token.id },
          },
          now,
        );
        return {
          org: orgView(org),
          admin: adminView(admin),
          token: { token: tokenView(issued.token, now), secret: issued.secret },
        };
      });
    },
  }),

  route({
    method: 'GET',
    path: '/api/v1/me',
    operationId: 'getMe',
    tag: 'organisations',
    summary: 'The calling token, its admin, organisation and permissions',
    access: 'org.read',
    response: Me,
    handle: ({ auth, app }) =>
      Promise.resolve({
        org: orgView(auth.org),
        admin: adminView(auth.admin),
        token: tokenView(auth.token, app.now()),
        permissions: [...auth.permissions].sort(),
      }),
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs',
    operationId: 'listOrgs',
    tag: 'organisations',
    summary: "The caller's organisations (a token belongs to one)",
    access: 'org.read',
    response: z.strictObject({ orgs: z.array(OrgView) }),
    handle: ({ auth }) => Promise.resolve({ orgs: [orgView(auth.org)] }),
  }),

  route({
    method: 'GET',
    path: ORG,
    operationId: 'getOrg',
    tag: 'organisations',
    summary: 'An organisation',
    access: 'org.read',
    response: OrgView,
    handle: ({ auth }) => Promise.resolve(orgView(auth.org)),
  }),

  route({
    method: 'PATCH',
    path: ORG,
    operationId: 'updateOrg',
    tag: 'organisations',
    summary: 'Rename the organisation',
    access: 'org.write',
    body: OrgPatch,
    response: OrgView,
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const org = found(await renameOrg(tx, auth.org.id, body.name, now), 'the organisation');
        return {
          result: orgView(org),
          action: {
            type: 'admin.org.update',
            reason: `renamed the organisation to "${body.name}"`,
            outcome: { org: org.id },
          },
        };
      }),
  }),

  // ------------------------------------------------------------------------------------------
  // Admins

  route({
    method: 'GET',
    path: `${ORG}/admins`,
    operationId: 'listAdmins',
    tag: 'admins',
    summary: 'The admins of the organisation and their roles',
    access: 'admins.read',
    response: z.strictObject({ admins: z.array(AdminView) }),
    handle: async ({ auth, app }) => ({ admins: (await listAdmins(app.db, auth.org.id)).map(adminView) }),
  }),

  route({
    method: 'POST',
    path: `${ORG}/admins`,
    operationId: 'createAdmin',
    tag: 'admins',
    summary: 'Add an admin with a role (issue them a token with POST …/tokens and adminId)',
    access: 'admins.write',
    body: AdminCreate,
    response: AdminView,
    status: 201,
    errors: [409],
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const admin = await unlessTaken(
          createAdmin(tx, auth.org.id, { email: body.email, name: body.name ?? '', role: body.role }, now),
          `${body.email} is already an admin of this organisation`,
          'change their role with PATCH …/admins/{admin} instead',
        );
        return {
          result: adminView(admin),
          action: {
            type: 'admin.admin.create',
            reason: `added ${admin.email} as ${admin.role}`,
            outcome: { admin: admin.id, role: admin.role },
          },
        };
      }),
  }),

  route({
    method: 'GET',
    path: `${ORG}/admins/{admin}`,
    operationId: 'getAdmin',
    tag: 'admins',
    summary: 'An admin',
    access: 'admins.read',
    response: AdminView,
    handle: async ({ auth, params, app }) =>
      adminView(
        found(await getAdmin(app.db, auth.org.id, idParam('admin', params.admin, 'the admin')), 'the admin'),
      ),
  }),

  route({
    method: 'PATCH',
    path: `${ORG}/admins/{admin}`,
    operationId: 'updateAdmin',
    tag: 'admins',
    summary: "Change an admin's name or role (the last owner stays an owner)",
    access: 'admins.write',
    body: AdminPatch,
    response: AdminView,
    errors: [409],
    handle: ({ auth, params, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const id = idParam('admin', params.admin, 'the admin');
        const before = found(await getAdmin(tx, auth.org.id, id, true), 'the admin');
        if (before.role === 'owner' && body.role !== undefined && body.role !== 'owner')
          await keepAnOwner(tx, auth, 'demoted');
        const admin = found(await updateAdmin(tx, auth.org.id, id, body, now), 'the admin');
        return {
          result: adminView(admin),
          action: {
            type: 'admin.admin.update',
            reason:
              before.role !== admin.role
                ? `changed ${admin.email}'s role from ${before.role} to ${admin.role}`
                : `updated ${admin.email}`,
            outcome: { admin: admin.id, role: admin.role },
          },
        };
      }),
  }),

  route({
    method: 'DELETE',
    path: `${ORG}/admins/{admin}`,
    operationId: 'deleteAdmin',
    tag: 'admins',
    summary: 'Remove an admin; their tokens stop working at once (the last owner cannot be removed)',
    access: 'admins.write',
    errors: [409],
    handle: ({ auth, params, app }) =>
      audited(app, auth, async (tx) => {
        const id = idParam('admin', params.admin, 'the admin');
        const admin = found(await getAdmin(tx, auth.org.id, id, true), 'the admin');
        if (admin.role === 'owner') await keepAnOwner(tx, auth, 'removed');
        await deleteAdmin(tx, auth.org.id, id);
        return {
          result: undefined,
          action: {
            type: 'admin.admin.delete',
            reason: `removed admin ${admin.email}`,
            outcome: { admin: id },
          },
        };
      }),
  }),

  // ------------------------------------------------------------------------------------------
  // API tokens

  route({
    method: 'GET',
    path: `${ORG}/tokens`,
    operationId: 'listTokens',
    tag: 'tokens',
    summary: "API tokens: your own, or every admin's for those who may manage admins",
    access: 'tokens.own',
    query: z.strictObject({ admin: z.string().optional().describe('Only this admin’s tokens.') }),
    response: z.strictObject({ tokens: z.array(TokenView) }),
    handle: async ({ auth, query, app }) => {
      const mayAll = auth.permissions.has('admins.write');
      const admin = mayAll ? query.admin : auth.admin.id;
      if (!mayAll && query.admin !== undefined && query.admin !== auth.admin.id)
        throw new ApiError(
          403,
          'forbidden',
          "this token may list only its own admin's tokens",
          'ask an owner',
        );
      const now = app.now();
      return { tokens: (await listTokens(app.db, auth.org.id, admin)).map((t) => tokenView(t, now)) };
    },
  }),

  route({
    method: 'POST',
    path: `${ORG}/tokens`,
    operationId: 'createToken',
    tag: 'tokens',
    summary: 'Issue an API token (its secret is shown once)',
    description:
      "A token's role is its scope: at most the role of the admin it is for, and never more than the calling token may do. Tokens expire (90 days by default, at most 365).",
    access: 'tokens.own',
    body: TokenCreate,
    response: NewToken,
    status: 201,
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const forOther = body.adminId !== undefined && body.adminId !== auth.admin.id;
        if (forOther && !auth.permissions.has('admins.write'))
          throw new ApiError(
            403,
            'forbidden',
            'this token may issue tokens only for its own admin',
            'ask an owner',
          );
        const admin = forOther
          ? found(
              await getAdmin(tx, auth.org.id, idParam('admin', body.adminId ?? '', 'the admin')),
              'the admin',
            )
          : auth.admin;
        const role: Role = body.role ?? (forOther ? admin.role : auth.token.role);
        if (!canGrant(permissionsOf(admin.role), role))
          throw new ApiError(
            403,
            'role-too-high',
            `a token for ${admin.email} (${admin.role}) cannot have the role ${role}`,
            `choose ${admin.role} or a narrower role`,
          );
        if (!canGrant(auth.permissions, role))
          throw new ApiError(
            403,
            'role-too-high',
            `this token may not issue a token with the role ${role}, which may do more than it`,
            'issue it with a token of that role, or choose a narrower one',
          );
        const issued = await createToken(
          tx,
          {
            orgId: auth.org.id,
            adminId: admin.id,
            name: body.name,
            role,
            expiresAt: now + (body.expiresInDays ?? DEFAULT_TOKEN_DAYS) * DAY,
          },
          now,
        );
        return {
          result: { token: tokenView(issued.token, now), secret: issued.secret },
          action: {
            type: 'admin.token.create',
            reason: `issued token "${body.name}" (${role}) for ${admin.email}`,
            outcome: { token: issued.token.id, admin: admin.id, role },
          },
        };
      }),
  }),

  route({
    method: 'DELETE',
    path: `${ORG}/tokens/{token}`,
    operationId: 'revokeToken',
    tag: 'tokens',
    summary: 'Revoke an API token: it stops working at once',
    access: 'tokens.own',
    response: TokenView,
    handle: ({ auth, params, app }) =>
      audited(app, auth, async (tx, now) => {
        const id = idParam('token', params.token, 'the token');
        const token = found(await getToken(tx, auth.org.id, id), 'the token');
        if (token.adminId !== auth.admin.id && !auth.permissions.has('admins.write'))
          throw new ApiError(
            403,
            'forbidden',
            "this token may revoke only its own admin's tokens",
            'ask an owner',
          );
        const revoked = found(await revokeToken(tx, auth.org.id, id, now), 'the token');
        return {
          result: tokenView(revoked, now),
          action: {
            type: 'admin.token.revoke',
            reason: `revoked token "${token.name}"`,
            outcome: { token: id },
          },
        };
      }),
  }),
];

/** Refuses to leave the organisation without an owner. */
async function keepAnOwner(
  tx: Parameters<typeof countOwners>[0],
  auth: Auth,
  what: 'demoted' | 'removed',
): Promise<void> {
  if ((await countOwners(tx, auth.org.id)) <= 1)
    throw conflict(`the last owner cannot be ${what}`, 'make another admin an owner first');
}
