// Tenants never meet: another organisation's ids are answered exactly like ids that do not exist
// (404, the same body), whatever the caller's role, and nothing of one organisation shows in
// another's lists.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { AuditEvent } from '@perimeter/audit';
import { createOrganisation } from '../src/index.js';
import { chain, send, shapes } from './audit-support.js';
import { enrolDevice } from './bundle-support.js';
import {
  claim,
  Client,
  eachServer,
  policyYaml,
  type ErrorReply,
  type Harness,
  type Reply,
} from './harness.js';

interface Other {
  client: Client;
  base: string;
  orgId: string;
  adminId: string;
  tokenId: string;
  userId: string;
  groupId: string;
  policyId: string;
}

/** The parts of an error a client could compare; the request id differs on every request. */
const shape = (r: Reply<ErrorReply>): unknown => [r.status, r.body.error.code, r.body.error.message];

eachServer('organisation isolation', (harness) => {
  const other = {} as Other;

  before(async () => {
    const h = harness();
    const made = await createOrganisation(h.server.db, { slug: 'globex', name: 'Globex' }, h.clock.now());
    const claimed = await claim(h.server.url, made.bootstrap.secret, 'boss@globex.example');
    const client = new Client(h.server.url, claimed.token.secret);
    const base = `/api/v1/orgs/${claimed.org.id}`;
    Object.assign(other, {
      client,
      base,
      orgId: claimed.org.id,
      adminId: claimed.admin.id,
      tokenId: claimed.token.token.id,
      userId: (await client.post<{ id: string }>(`${base}/users`, { email: 'secret-user@globex.example' }))
        .body.id,
      groupId: (await client.post<{ id: string }>(`${base}/groups`, { name: 'globex-eng' })).body.id,
      policyId: (
        await client.post<{ policy: { id: string } }>(`${base}/policies`, {
          name: 'globex',
          text: policyYaml('globex', 'mode: enforce\n'),
        })
      ).body.policy.id,
    });
  });

  it("another organisation's path is not found, for reading and for writing", async () => {
    const h = harness();
    for (const [method, path, body] of [
      ['GET', other.base, undefined],
      ['PATCH', other.base, { name: 'pwned' }],
      ['GET', `${other.base}/users`, undefined],
      ['POST', `${other.base}/users`, { email: 'intruder@example.com' }],
      ['GET', `${other.base}/policies/${other.policyId}`, undefined],
      ['POST', `${other.base}/policies/${other.policyId}/revisions/1/publish`, {}],
      ['GET', `${other.base}/events`, undefined],
      ['GET', `${other.base}/events/export`, undefined],
      ['GET', `${other.base}/events/export?format=csv&session=globex-session`, undefined],
    ] as const) {
      const reply = await h.owner.request(method, path, body);
      assert.equal(reply.status, 404, `${method} ${path}`);
      assert.equal(reply.body.error.code, 'not-found');
    }
    const globex = await other.client.get<{ name: string }>(other.base);
    assert.equal(globex.body.name, 'Globex', 'nothing was changed');
  });

  it("another organisation's ids under one's own organisation answer exactly like unknown ids", async () => {
    const h = harness();
    const unknown = (prefix: string): string => `${prefix}_${'0'.repeat(32)}`;
    const pairs: [string, string][] = [
      [`${h.base}/users/${other.userId}`, `${h.base}/users/${unknown('usr')}`],
      [`${h.base}/groups/${other.groupId}`, `${h.base}/groups/${unknown('grp')}`],
      [`${h.base}/admins/${other.adminId}`, `${h.base}/admins/${unknown('adm')}`],
      [`${h.base}/policies/${other.policyId}`, `${h.base}/policies/${unknown('pol')}`],
      [
        `${h.base}/policies/${other.policyId}/revisions/1`,
        `${h.base}/policies/${unknown('pol')}/revisions/1`,
      ],
      [`${h.base}/users/${other.userId}/bundle`, `${h.base}/users/${unknown('usr')}/bundle`],
    ];
    for (const [theirs, nobodys] of pairs) {
      const a = await h.owner.get(theirs);
      const b = await h.owner.get(nobodys);
      assert.equal(a.status, 404, theirs);
      assert.deepEqual(shape(a), shape(b), `${theirs} must not reveal that it exists`);
    }
    for (const [method, path, body] of [
      ['PATCH', `${h.base}/users/${other.userId}`, { name: 'x' }],
      ['DELETE', `${h.base}/users/${other.userId}`, undefined],
      ['DELETE', `${h.base}/groups/${other.groupId}`, undefined],
      ['PUT', `${h.base}/groups/${other.groupId}/members/${other.userId}`, undefined],
      ['DELETE', `${h.base}/tokens/${other.tokenId}`, undefined],
      ['DELETE', `${h.base}/admins/${other.adminId}`, undefined],
      ['POST', `${h.base}/users/${other.userId}/invitations`, {}],
      [
        'POST',
        `${h.base}/policies/${other.policyId}/revisions`,
        { text: policyYaml('globex', 'mode: audit\n') },
      ],
      ['POST', `${h.base}/policies/${other.policyId}/rollback`, { to: 1 }],
    ] as const) {
      const reply = await h.owner.request(method, path, body);
      assert.equal(reply.status, 404, `${method} ${path}`);
    }
  });

  it("one's own user cannot join another organisation's group, nor the reverse", async () => {
    const h = harness();
    const mine = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'local@example.com' });
    const group = await h.owner.post<{ id: string }>(`${h.base}/groups`, { name: 'local' });
    assert.equal(
      (await h.owner.put(`${h.base}/groups/${group.body.id}/members/${other.userId}`)).status,
      404,
    );
    assert.equal(
      (await other.client.put(`${other.base}/groups/${other.groupId}/members/${mine.body.id}`)).status,
      404,
    );
  });

  it("lists hold only one's own organisation", async () => {
    const h = harness();
    const users = await h.owner.get<{ users: { email: string }[] }>(`${h.base}/users`);
    assert.ok(!users.body.users.some((u) => u.email.endsWith('globex.example')));
    const orgs = await h.owner.get<{ orgs: { id: string }[] }>('/api/v1/orgs');
    assert.deepEqual(
      orgs.body.orgs.map((o) => o.id),
      [h.org.id],
    );
    const events = await h.owner.get<{ events: { org?: string }[] }>(`${h.base}/events?limit=1000`);
    assert.ok(events.body.events.length > 0);
    assert.ok(events.body.events.every((e) => e.org === h.org.id));
    const tokens = await other.client.get<{ tokens: { adminId: string }[] }>(`${other.base}/tokens`);
    assert.ok(tokens.body.tokens.every((t) => t.adminId === other.adminId));
  });

  it("one organisation's policies never join another's checks", async () => {
    const h = harness();
    // Globex publishes a policy whose test would fail against anything but its own rules.
    const text = policyYaml(
      'globex-guard',
      'network:\n  deny:\n    - { id: no-example, hosts: [example.com] }\ntests:\n  - { name: blocked, request: { network: "example.com:443" }, expect: deny }\n',
      'guardrail',
    );
    const made = await other.client.post<{ policy: { id: string } }>(`${other.base}/policies`, {
      name: 'globex-guard',
      text,
    });
    assert.equal(
      (await other.client.post(`${other.base}/policies/${made.body.policy.id}/revisions/1/publish`)).status,
      200,
    );
    const mine = await h.owner.post<{ policy: { id: string } }>(`${h.base}/policies`, {
      name: 'open',
      text: policyYaml('open', 'network:\n  allow:\n    - { id: example, hosts: [example.com] }\n'),
    });
    const tests = await h.owner.get<{ results: { policy: string }[] }>(
      `${h.base}/policies/${mine.body.policy.id}/revisions/1/tests`,
    );
    assert.equal(tests.status, 200);
    assert.deepEqual(tests.body.results, [], "Globex's tests are not run for this organisation");
  });

  it("a device's events belong to its own organisation, whatever they claim, and only it reads them", async () => {
    const h = harness();
    const theirs: Harness = { ...h, owner: other.client, base: other.base };
    const token = await enrolDevice(theirs, other.userId, 'globex-laptop');
    const globexDevice = { id: token.device.id, userId: other.userId, credential: token.access_token };
    // The events claim to be Acme's, of an Acme admin: the server files them under Globex.
    const { events } = chain(
      'globex-session',
      shapes(h, 3).map((s) => ({ ...s, claims: { org: h.org.id, user: { id: h.ownerId } } })),
    );
    await send(h, globexDevice, events);
    for (const query of [
      'session=globex-session',
      `device=${globexDevice.id}`,
      `user=${other.userId}`,
      'user=secret-user@globex.example',
      `user=${h.ownerId}&category=evaluation`,
    ]) {
      const mine = await h.owner.get<{ events: AuditEvent[] }>(`${h.base}/events?${query}`);
      assert.deepEqual(mine.body.events, [], query);
      const exported = await fetch(`${h.server.url}${h.base}/events/export?${query}`, {
        headers: { authorization: `Bearer ${h.owner.token ?? ''}` },
      });
      assert.equal(await exported.text(), '', query);
    }
    const globex = await other.client.get<{ events: AuditEvent[] }>(
      `${other.base}/events?session=globex-session`,
    );
    assert.equal(globex.body.events.length, 3);
    const rows = await h.server.db.all<{ org_id: string; user_id: string }>(
      'SELECT DISTINCT org_id, user_id FROM events WHERE session_id = ?',
      ['globex-session'],
    );
    assert.deepEqual(rows, [{ org_id: other.orgId, user_id: other.userId }]);
  });
});
