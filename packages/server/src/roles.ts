// Admin roles and what each may do: the one table the API's authorisation reads. Pure. A token's
// role is its scope: a request may do what both the token's role and its admin's current role
// allow, so demoting an admin narrows their existing tokens at once.

export const ROLES = ['owner', 'policy-admin', 'auditor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  'org.read': 'see the organisation',
  'org.write': 'rename the organisation',
  'admins.read': 'list admins and their roles',
  'admins.write': 'add, change and remove admins, and issue tokens for them',
  'tokens.own': 'issue, list and revoke your own API tokens',
  'directory.read': 'list users and groups',
  'directory.write': 'add, change and remove users, groups and memberships',
  'policies.read': 'read policies, revisions, diffs, lint and test results',
  'policies.write': 'create policies and draft revisions, and simulate them',
  'policies.publish': 'publish and roll back policy revisions',
  'events.read': 'read stored audit events',
  'devices.read': "list devices and the bundle revision each runs, and see a user's effective bundle",
  'devices.write': 'invite users to enrol devices, and revoke devices',
  'keys.write': "rotate the organisation's bundle signing key",
} as const;
export type Permission = keyof typeof PERMISSIONS;

const GRANTS: Readonly<Record<Role, readonly Permission[]>> = {
  owner: Object.keys(PERMISSIONS) as Permission[],
  'policy-admin': [
    'org.read',
    'tokens.own',
    'directory.read',
    'directory.write',
    'policies.read',
    'policies.write',
    'policies.publish',
    'devices.read',
    'devices.write',
  ],
  auditor: [
    'org.read',
    'admins.read',
    'tokens.own',
    'directory.read',
    'policies.read',
    'events.read',
    'devices.read',
  ],
  viewer: ['org.read', 'tokens.own', 'directory.read', 'policies.read', 'devices.read'],
};

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text);
}

export function permissionsOf(role: Role): ReadonlySet<Permission> {
  return new Set(GRANTS[role]);
}

/** What a token may do: what both its own role and its admin's role allow. */
export function effectivePermissions(adminRole: Role, tokenRole: Role): ReadonlySet<Permission> {
  const admin = permissionsOf(adminRole);
  return new Set(GRANTS[tokenRole].filter((p) => admin.has(p)));
}

/** May an admin with `granter`'s role issue a token (or give a role) of `role`? Only a subset of their own. */
export function canGrant(granter: ReadonlySet<Permission>, role: Role): boolean {
  return GRANTS[role].every((p) => granter.has(p));
}

/** The roles that hold a permission, for documentation and error messages. */
export function rolesWith(permission: Permission): Role[] {
  return ROLES.filter((r) => GRANTS[r].includes(permission));
}
