// Routes for the directory: users and groups and who is in which group. Group names are what
// policies bind to (metadata.groups), so renaming a group changes which policies its members get:
// changes to users, groups and memberships wake the devices waiting for their bundle.

import { z } from 'zod';
import { route } from '../http/route.js';
import {
  addMember,
  createGroup,
  createUser,
  deleteGroup,
  deleteUser,
  getGroup,
  getUser,
  groupsOf,
  listGroups,
  listUsers,
  membersOf,
  removeMember,
  updateGroup,
  updateUser,
} from '../store/directory.js';
import {
  GroupCreate,
  GroupDetail,
  GroupPatch,
  GroupView,
  groupView,
  UserCreate,
  UserDetail,
  UserPatch,
  UserView,
  userView,
} from './schemas.js';
import { audited, auditedBundleChange, found, idParam, unlessTaken } from './support.js';

const ORG = '/api/v1/orgs/{org}';
const emailTaken = (email: string): [string, string] => [
  `a user with the email ${email} already exists`,
  'change that user instead, or use another email',
];
const groupTaken = (name: string): [string, string] => [
  `a group named "${name}" already exists`,
  'choose another name; group names are what policies bind to',
];

export const directoryRoutes = [
  route({
    method: 'GET',
    path: `${ORG}/users`,
    operationId: 'listUsers',
    tag: 'directory',
    summary: 'The users of the organisation',
    access: 'directory.read',
    response: z.strictObject({ users: z.array(UserView) }),
    handle: async ({ auth, app }) => ({ users: (await listUsers(app.db, auth.org.id)).map(userView) }),
  }),

  route({
    method: 'POST',
    path: `${ORG}/users`,
    operationId: 'createUser',
    tag: 'directory',
    summary: 'Add a user',
    access: 'directory.write',
    body: UserCreate,
    response: UserView,
    status: 201,
    errors: [409],
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const user = await unlessTaken(createUser(tx, auth.org.id, body, now), ...emailTaken(body.email));
        return {
          result: userView(user),
          action: {
            type: 'admin.user.create',
            reason: `added user ${user.email}`,
            outcome: { user: user.id },
          },
        };
      }),
  }),

  route({
    method: 'GET',
    path: `${ORG}/users/{user}`,
    operationId: 'getUser',
    tag: 'directory',
    summary: 'A user, with the names of their groups',
    access: 'directory.read',
    response: UserDetail,
    handle: async ({ auth, params, app }) => {
      const id = idParam('user', params.user, 'the user');
      const user = found(await getUser(app.db, auth.org.id, id), 'the user');
      return { ...userView(user), groups: await groupsOf(app.db, auth.org.id, id) };
    },
  }),

  route({
    method: 'PATCH',
    path: `${ORG}/users/{user}`,
    operationId: 'updateUser',
    tag: 'directory',
    summary: 'Change a user (email, name, external id, active)',
    access: 'directory.write',
    body: UserPatch,
    response: UserView,
    errors: [409],
    handle: ({ auth, params, body, app }) =>
      auditedBundleChange(app, auth, async (tx, now) => {
        const id = idParam('user', params.user, 'the user');
        const user = found(
          await unlessTaken(updateUser(tx, auth.org.id, id, body, now), ...emailTaken(body.email ?? '')),
          'the user',
        );
        return {
          result: userView(user),
          action: {
            type: 'admin.user.update',
            reason: `updated user ${user.email} (${Object.keys(body).join(', ') || 'no fields'})`,
            outcome: { user: id },
          },
        };
      }),
  }),

  route({
    method: 'DELETE',
    path: `${ORG}/users/{user}`,
    operationId: 'deleteUser',
    tag: 'directory',
    summary: 'Remove a user (and their group memberships)',
    access: 'directory.write',
    handle: ({ auth, params, app }) =>
      auditedBundleChange(app, auth, async (tx) => {
        const id = idParam('user', params.user, 'the user');
        const user = found(await getUser(tx, auth.org.id, id), 'the user');
        await deleteUser(tx, auth.org.id, id);
        return {
          result: undefined,
          action: { type: 'admin.user.delete', reason: `removed user ${user.email}`, outcome: { user: id } },
        };
      }),
  }),

  // ------------------------------------------------------------------------------------------
  // Groups

  route({
    method: 'GET',
    path: `${ORG}/groups`,
    operationId: 'listGroups',
    tag: 'directory',
    summary: 'The groups of the organisation',
    access: 'directory.read',
    response: z.strictObject({ groups: z.array(GroupView) }),
    handle: async ({ auth, app }) => ({ groups: (await listGroups(app.db, auth.org.id)).map(groupView) }),
  }),

  route({
    method: 'POST',
    path: `${ORG}/groups`,
    operationId: 'createGroup',
    tag: 'directory',
    summary: 'Add a group',
    access: 'directory.write',
    body: GroupCreate,
    response: GroupView,
    status: 201,
    errors: [409],
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const group = await unlessTaken(createGroup(tx, auth.org.id, body, now), ...groupTaken(body.name));
        return {
          result: groupView(group),
          action: {
            type: 'admin.group.create',
            reason: `added group "${group.name}"`,
            outcome: { group: group.id },
          },
        };
      }),
  }),

  route({
    method: 'GET',
    path: `${ORG}/groups/{group}`,
    operationId: 'getGroup',
    tag: 'directory',
    summary: 'A group, with its members',
    access: 'directory.read',
    response: GroupDetail,
    handle: async ({ auth, params, app }) => {
      const id = idParam('group', params.group, 'the group');
      const group = found(await getGroup(app.db, auth.org.id, id), 'the group');
      const members = await membersOf(app.db, auth.org.id, id);
      return {
        ...groupView(group),
        members: members.map((u) => ({ id: u.id, email: u.email, name: u.name })),
      };
    },
  }),

  route({
    method: 'PATCH',
    path: `${ORG}/groups/{group}`,
    operationId: 'updateGroup',
    tag: 'directory',
    summary: 'Rename a group or change its description',
    access: 'directory.write',
    body: GroupPatch,
    response: GroupView,
    errors: [409],
    handle: ({ auth, params, body, app }) =>
      auditedBundleChange(app, auth, async (tx, now) => {
        const id = idParam('group', params.group, 'the group');
        const before = found(await getGroup(tx, auth.org.id, id), 'the group');
        const group = found(
          await unlessTaken(updateGroup(tx, auth.org.id, id, body, now), ...groupTaken(body.name ?? '')),
          'the group',
        );
        return {
          result: groupView(group),
          action: {
            type: 'admin.group.update',
            reason:
              before.name !== group.name
                ? `renamed group "${before.name}" to "${group.name}"`
                : `updated group "${group.name}"`,
            outcome: { group: id },
          },
        };
      }),
  }),

  route({
    method: 'DELETE',
    path: `${ORG}/groups/{group}`,
    operationId: 'deleteGroup',
    tag: 'directory',
    summary: 'Remove a group (its members stay, outside it)',
    access: 'directory.write',
    handle: ({ auth, params, app }) =>
      auditedBundleChange(app, auth, async (tx) => {
        const id = idParam('group', params.group, 'the group');
        const group = found(await getGroup(tx, auth.org.id, id), 'the group');
        await deleteGroup(tx, auth.org.id, id);
        return {
          result: undefined,
          action: {
            type: 'admin.group.delete',
            reason: `removed group "${group.name}"`,
            outcome: { group: id },
          },
        };
      }),
  }),

  route({
    method: 'PUT',
    path: `${ORG}/groups/{group}/members/{user}`,
    operationId: 'addGroupMember',
    tag: 'directory',
    summary: 'Put a user in a group (again is no change)',
    access: 'directory.write',
    response: GroupView,
    handle: ({ auth, params, app }) =>
      auditedBundleChange(app, auth, async (tx, now) => {
        const groupId = idParam('group', params.group, 'the group');
        const userId = idParam('user', params.user, 'the user');
        const group = found(await getGroup(tx, auth.org.id, groupId), 'the group');
        const user = found(await getUser(tx, auth.org.id, userId), 'the user');
        const isNew = await addMember(tx, auth.org.id, groupId, userId, now);
        return {
          result: groupView(found(await getGroup(tx, auth.org.id, groupId), 'the group')),
          action: {
            type: 'admin.group.member.add',
            reason: isNew
              ? `added ${user.email} to group "${group.name}"`
              : `${user.email} was already in group "${group.name}"`,
            outcome: { group: groupId, user: userId, changed: isNew },
          },
        };
      }),
  }),

  route({
    method: 'DELETE',
    path: `${ORG}/groups/{group}/members/{user}`,
    operationId: 'removeGroupMember',
    tag: 'directory',
    summary: 'Take a user out of a group',
    access: 'directory.write',
    handle: ({ auth, params, app }) =>
      auditedBundleChange(app, auth, async (tx) => {
        const groupId = idParam('group', params.group, 'the group');
        const userId = idParam('user', params.user, 'the user');
        const group = found(await getGroup(tx, auth.org.id, groupId), 'the group');
        const user = found(await getUser(tx, auth.org.id, userId), 'the user');
        const wasMember = await removeMember(tx, auth.org.id, groupId, userId);
        if (!wasMember) found(undefined, 'the membership');
        return {
          result: undefined,
          action: {
            type: 'admin.group.member.remove',
            reason: `took ${user.email} out of group "${group.name}"`,
            outcome: { group: groupId, user: userId },
          },
        };
      }),
  }),
];
