// The role matrix: what each admin role may do through the API, and that a token is scoped to at
// most its own role and its admin's current role.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { adminWith, eachServer, policyYaml, type Client, type Harness } from './harness.js';

const ROLES = ['owner', 'policy-admin', 'auditor', 'viewer'] as const;
type Role = (typeof ROLES)[number];

interface Case {
  readonly name: string;
  readonly allowed: readonly Role[];
  /** Makes the request; returns its status. */
  readonly call: (c: Client, h: Harness, ids: Ids) => Promise<number>;
}

interface Ids {
  policy: string;
  user: string;
  group: string;
}

let n = 0;
const unique = (): string => `${Date.now().toString(36)}${(n++).toString(36)}`;

const CASES: readonly Case[] = [
  { name: 'read the organisation', allowed: ROLES, call: async (c, h) => (await c.get(h.base)).status },
  {
    name: 'rename the organisation',
    allowed: ['owner'],
    call: async (c, h) => (await c.patch(h.base, { name: 'Acme' })).status,
  },
  {
    name: 'list admins',
    allowed: ['owner', 'auditor'],
    call: async (c, h) => (await c.get(`${h.base}/admins`)).status,
  },
  {
    name: 'add an admin',
    allowed: ['owner'],
    call: async (c, h) =>
      (await c.post(`${h.base}/admins`, { email: `a${unique()}@example.com`, role: 'viewer' })).status,
  },
  { name: 'list users', allowed: ROLES, call: async (c, h) => (await c.get(`${h.base}/users`)).status },
  {
    name: 'add a user',
    allowed: ['owner', 'policy-admin'],
    call: async (c, h) => (await c.post(`${h.base}/users`, { email: `u${unique()}@example.com` })).status,
  },
  {
    name: 'put a user in a group',
    allowed: ['owner', 'policy-admin'],
    call: async (c, h, ids) => (await c.put(`${h.base}/groups/${ids.group}/members/${ids.user}`)).status,
  },
  { name: 'list policies', allowed: ROLES, call: async (c, h) => (await c.get(`${h.base}/policies`)).status },
  {
    name: 'read a revision and its tests',
    allowed: ROLES,
    call: async (c, h, ids) => (await c.get(`${h.base}/policies/${ids.policy}/revisions/1/tests`)).status,
  },
  {
    name: 'draft a revision',
    allowed: ['owner', 'policy-admin'],
    call: async (c, h, ids) =>
      (
        await c.post(`${h.base}/policies/${ids.policy}/revisions`, {
          text: policyYaml('matrix', 'mode: audit\n'),
        })
      ).status,
  },
  {
    name: 'simulate a revision',
    allowed: ['owner', 'policy-admin'],
    call: async (c, h, ids) =>
      (await c.post(`${h.base}/policies/${ids.policy}/revisions/1/simulate`, {})).status,
  },
  {
    name: 'publish a revision',
    allowed: ['owner', 'policy-admin'],
    // Each allowed call drafts and publishes its own new revision, so every one can succeed.
    call: async (c, h, ids) => {
      const draft = await h.owner.post<{ revision: { number: number } }>(
        `${h.base}/policies/${ids.policy}/revisions`,
        {
          text: policyYaml('matrix', `mode: enforce\n# ${unique()}\n`),
        },
      );
      return (
        await c.post(`${h.base}/policies/${ids.policy}/revisions/${draft.body.revision.number}/publish`)
      ).status;
    },
  },
  {
    name: 'read audit events',
    allowed: ['owner', 'auditor'],
    call: async (c, h) => (await c.get(`${h.base}/events`)).status,
  },
  { name: 'list own tokens', allowed: ROLES, call: async (c, h) => (await c.get(`${h.base}/tokens`)).status },
];

eachServer('role matrix', (harness) => {
  const clients = new Map<Role, Client>();
  const adminIds = new Map<Role, string>();
  const ids: Ids = { policy: '', user: '', group: '' };

  before(async () => {
    const h = harness();
    for (const role of ROLES) {
      const made = await adminWith(h, role);
      clients.set(role, made.client);
      adminIds.set(role, made.adminId);
    }
    const policy = await h.owner.post<{ policy: { id: string } }>(`${h.base}/policies`, {
      name: 'matrix',
      text: policyYaml('matrix', 'mode: enforce\n'),
    });
    ids.policy = policy.body.policy.id;
    ids.user = (
      await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'member@example.com' })
    ).body.id;
    ids.group = (await h.owner.post<{ id: string }>(`${h.base}/groups`, { name: 'eng' })).body.id;
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.allowed.join(', ')} may; the others get 403`, async () => {
      for (const role of ROLES) {
        const status = await c.call(clients.get(role) as Client, harness(), ids);
        if (c.allowed.includes(role))
          assert.ok(status >= 200 && status < 300, `${role} should be allowed, got ${status}`);
        else assert.equal(status, 403, `${role} should be refused`);
      }
    });
  }

  it('a 403 says which role the token has and which roles may', async () => {
    const h = harness();
    const reply = await (clients.get('viewer') as Client).patch(h.base, { name: 'x' });
    assert.equal(reply.body.error.code, 'forbidden');
    assert.equal(
      reply.body.error.message,
      'this token (role viewer, admin role viewer) may not rename the organisation',
    );
    assert.equal(reply.body.error.hint, 'roles that may: owner');
  });

  it("an owner's token scoped to viewer can only do what a viewer can", async () => {
    const h = harness();
    const scoped = await h.owner.post<{ secret: string }>(`${h.base}/tokens`, {
      name: 'read-only',
      role: 'viewer',
    });
    assert.equal(scoped.status, 201);
    const c = h.client(scoped.body.secret);
    assert.equal((await c.get(`${h.base}/policies`)).status, 200);
    assert.equal((await c.post(`${h.base}/users`, { email: 'x@example.com' })).status, 403);
    // …and cannot mint itself a stronger token.
    const escalate = await c.post(`${h.base}/tokens`, { name: 'escalate', role: 'owner' });
    assert.equal(escalate.status, 403);
    assert.equal(escalate.body.error.code, 'role-too-high');
  });

  it('a token for an admin cannot have a role above the admin’s', async () => {
    const h = harness();
    const viewer = await adminWith(h, 'viewer');
    const reply = await h.owner.post(`${h.base}/tokens`, {
      name: 'too much',
      role: 'owner',
      adminId: viewer.adminId,
    });
    assert.equal(reply.status, 403);
    assert.equal(reply.body.error.code, 'role-too-high');
  });

  it('demoting an admin narrows their existing tokens at once', async () => {
    const h = harness();
    const pa = await adminWith(h, 'policy-admin');
    assert.equal(
      (await pa.client.post(`${h.base}/users`, { email: `d${unique()}@example.com` })).status,
      201,
    );
    assert.equal((await h.owner.patch(`${h.base}/admins/${pa.adminId}`, { role: 'viewer' })).status, 200);
    assert.equal(
      (await pa.client.post(`${h.base}/users`, { email: `d${unique()}@example.com` })).status,
      403,
    );
    assert.equal((await pa.client.get(`${h.base}/users`)).status, 200);
  });

  it('removing an admin stops their tokens', async () => {
    const h = harness();
    const gone = await adminWith(h, 'auditor');
    assert.equal((await gone.client.get(`${h.base}/events`)).status, 200);
    assert.equal((await h.owner.delete(`${h.base}/admins/${gone.adminId}`)).status, 204);
    const after = await gone.client.get(`${h.base}/events`);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'invalid-token');
  });

  it('the last owner can be neither demoted nor removed', async () => {
    const h = harness();
    // The matrix's second owner steps down first, leaving one.
    assert.equal(
      (await h.owner.patch(`${h.base}/admins/${adminIds.get('owner')}`, { role: 'auditor' })).status,
      200,
    );
    const demote = await h.owner.patch(`${h.base}/admins/${h.ownerId}`, { role: 'viewer' });
    assert.equal(demote.status, 409);
    assert.equal(demote.body.error.message, 'the last owner cannot be demoted');
    const remove = await h.owner.delete(`${h.base}/admins/${h.ownerId}`);
    assert.equal(remove.status, 409);
    // With a second owner again, the first may step down.
    const second = await adminWith(h, 'owner');
    assert.equal(
      (await second.client.patch(`${h.base}/admins/${h.ownerId}`, { role: 'viewer' })).status,
      200,
    );
  });
});
