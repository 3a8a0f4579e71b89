// Users and groups through the API: create, list, get, change, delete, and membership.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eachServer } from './harness.js';

interface User {
  id: string;
  email: string;
  name: string;
  externalId: string | null;
  active: boolean;
  groups?: string[];
}
interface Group {
  id: string;
  name: string;
  description: string;
  memberCount: number;
  members?: { id: string; email: string }[];
}

eachServer('directory', (harness) => {
  it('a user is created, read, changed and deleted; emails compare without case', async () => {
    const h = harness();
    const made = await h.owner.post<User>(`${h.base}/users`, {
      email: 'Ada@Example.com',
      name: 'Ada',
      externalId: 'okta-1',
    });
    assert.equal(made.status, 201);
    assert.deepEqual(
      {
        email: made.body.email,
        name: made.body.name,
        externalId: made.body.externalId,
        active: made.body.active,
      },
      { email: 'ada@example.com', name: 'Ada', externalId: 'okta-1', active: true },
    );
    const dup = await h.owner.post(`${h.base}/users`, { email: 'ADA@example.com' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.message, 'a user with the email ADA@example.com already exists');

    const changed = await h.owner.patch<User>(`${h.base}/users/${made.body.id}`, {
      active: false,
      externalId: null,
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.active, false);
    assert.equal(changed.body.externalId, null);
    assert.equal(changed.body.name, 'Ada', 'fields not given stay as they were');

    const listed = await h.owner.get<{ users: User[] }>(`${h.base}/users`);
    assert.deepEqual(
      listed.body.users.map((u) => u.email),
      ['ada@example.com'],
    );
    assert.equal((await h.owner.delete(`${h.base}/users/${made.body.id}`)).status, 204);
    assert.equal((await h.owner.get(`${h.base}/users/${made.body.id}`)).status, 404);
    assert.equal((await h.owner.delete(`${h.base}/users/${made.body.id}`)).status, 404);
  });

  it('groups hold members; a user lists their groups; removing either ends the membership', async () => {
    const h = harness();
    const grace = await h.owner.post<User>(`${h.base}/users`, { email: 'grace@example.com' });
    const alan = await h.owner.post<User>(`${h.base}/users`, { email: 'alan@example.com' });
    const eng = await h.owner.post<Group>(`${h.base}/groups`, { name: 'eng', description: 'Engineering' });
    const ops = await h.owner.post<Group>(`${h.base}/groups`, { name: 'ops' });
    assert.equal(eng.status, 201);
    assert.equal((await h.owner.post(`${h.base}/groups`, { name: 'eng' })).status, 409);

    for (const [g, u] of [
      [eng, grace],
      [eng, alan],
      [ops, grace],
      [ops, grace],
    ] as const) {
      const reply = await h.owner.put<Group>(`${h.base}/groups/${g.body.id}/members/${u.body.id}`);
      assert.equal(reply.status, 200);
    }
    const detail = await h.owner.get<Group>(`${h.base}/groups/${eng.body.id}`);
    assert.equal(detail.body.memberCount, 2);
    assert.deepEqual(
      detail.body.members?.map((m) => m.email),
      ['alan@example.com', 'grace@example.com'],
    );
    const user = await h.owner.get<User>(`${h.base}/users/${grace.body.id}`);
    assert.deepEqual(user.body.groups, ['eng', 'ops']);

    const renamed = await h.owner.patch<Group>(`${h.base}/groups/${ops.body.id}`, { name: 'sre' });
    assert.equal(renamed.body.name, 'sre');
    assert.deepEqual((await h.owner.get<User>(`${h.base}/users/${grace.body.id}`)).body.groups, [
      'eng',
      'sre',
    ]);

    assert.equal(
      (await h.owner.delete(`${h.base}/groups/${eng.body.id}/members/${alan.body.id}`)).status,
      204,
    );
    assert.equal(
      (await h.owner.delete(`${h.base}/groups/${eng.body.id}/members/${alan.body.id}`)).status,
      404,
    );
    assert.equal((await h.owner.delete(`${h.base}/users/${grace.body.id}`)).status, 204);
    const after = await h.owner.get<Group>(`${h.base}/groups/${eng.body.id}`);
    assert.equal(after.body.memberCount, 0);
    assert.equal((await h.owner.delete(`${h.base}/groups/${ops.body.id}`)).status, 204);
    const groups = await h.owner.get<{ groups: Group[] }>(`${h.base}/groups`);
    assert.deepEqual(
      groups.body.groups.map((g) => g.name),
      ['eng'],
    );
  });
});
