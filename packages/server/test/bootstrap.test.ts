// The first start: one organisation, a one-time bootstrap token (and link) for its first owner,
// exchanged exactly once; an unclaimed organisation gets a fresh token at each start; a claimed
// one never prints one again.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eachBackend } from './backends.js';
import { claim, Client, serve, testClock, type BootstrapReply, type ErrorReply } from './harness.js';

eachBackend('bootstrap', (db) => {
  it('a first start makes one organisation and prints a one-time token and a link holding it', async () => {
    const logs: Record<string, unknown>[] = [];
    const server = await serve(db(), testClock(), logs);
    try {
      assert.ok(server.bootstrap, 'a bootstrap token was issued');
      assert.match(server.bootstrap.token, /^pmb_[A-Za-z0-9_-]{43}$/);
      assert.equal(server.bootstrap.link, `${server.url}/bootstrap#${server.bootstrap.token}`);
      assert.equal(server.org.slug, 'default');
      // The token is printed by the caller; the structured log never holds it.
      assert.ok(logs.some((l) => l.event === 'server.bootstrap-issued'));
      assert.ok(!JSON.stringify(logs).includes(server.bootstrap.token));
      // The link's page loads and keeps the token out of the request (it is in the fragment).
      const page = await fetch(`${server.url}/bootstrap`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    } finally {
      await server.close();
    }
  });

  it('an unclaimed organisation gets a new token at the next start, and the old one stops working', async () => {
    const clock = testClock();
    const first = await serve(db(), clock, []);
    const old = first.bootstrap?.token ?? '';
    await first.close();
    const second = await serve(db(), clock, []);
    try {
      assert.ok(second.bootstrap);
      assert.notEqual(second.bootstrap.token, old);
      assert.equal(second.org.id, first.org.id, 'the same organisation, not a second one');
      const stale = await new Client(second.url).post('/api/v1/bootstrap', {
        token: old,
        email: 'a@example.com',
      });
      assert.equal(stale.status, 401);
      assert.equal(stale.body.error.code, 'invalid-bootstrap-token');
    } finally {
      await second.close();
    }
  });

  it('a bootstrap token expires after a day', async () => {
    const clock = testClock();
    const server = await serve(db(), clock, []);
    try {
      clock.advance(24 * 60 * 60 * 1000 + 1000);
      const late = await new Client(server.url).post('/api/v1/bootstrap', {
        token: server.bootstrap?.token,
        email: 'late@example.com',
      });
      assert.equal(late.status, 401);
      assert.equal(late.body.error.code, 'invalid-bootstrap-token');
    } finally {
      await server.close();
    }
  });

  it('the token makes the first owner once; a second use, even concurrent, is refused', async () => {
    const clock = testClock();
    const server = await serve(db(), clock, []);
    let claimed: BootstrapReply;
    try {
      const token = server.bootstrap?.token ?? '';
      const anon = new Client(server.url);
      const [a, b] = await Promise.all([
        anon.post<BootstrapReply | ErrorReply>('/api/v1/bootstrap', { token, email: 'Owner@Example.com' }),
        anon.post<BootstrapReply | ErrorReply>('/api/v1/bootstrap', { token, email: 'rival@example.com' }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [201, 401]);
      claimed = (a.status === 201 ? a.body : b.body) as BootstrapReply;
      assert.equal(claimed.admin.role, 'owner');
      assert.match(claimed.token.secret, /^pmt_/);
      const me = await new Client(server.url, claimed.token.secret).get<{
        admin: { id: string };
        permissions: string[];
      }>('/api/v1/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.admin.id, claimed.admin.id);
      assert.ok(me.body.permissions.includes('admins.write'));
      const again = await anon.post('/api/v1/bootstrap', { token, email: 'third@example.com' });
      assert.equal(again.status, 401);
      // The claim is an admin action like any other, in the organisation's audit trail.
      const events = await new Client(server.url, claimed.token.secret).get<{
        events: { type: string; user?: { id?: string } }[];
      }>(`/api/v1/orgs/${claimed.org.id}/events?type=admin.bootstrap`);
      assert.equal(events.body.events.length, 1);
      assert.equal(events.body.events[0]?.user?.id, claimed.admin.id);
    } finally {
      await server.close();
    }
    const restarted = await serve(db(), clock, []);
    try {
      assert.equal(
        restarted.bootstrap,
        undefined,
        'a claimed organisation never gets another bootstrap token',
      );
    } finally {
      await restarted.close();
    }
  });

  it('a malformed bootstrap request is a 400 naming the field', async () => {
    const server = await serve(db(), testClock(), []);
    try {
      const reply = await new Client(server.url).post('/api/v1/bootstrap', {
        token: 'pmb_x',
        email: 'not-an-email',
      });
      assert.equal(reply.status, 400);
      assert.equal(reply.body.error.message, '"email": not an email address');
      await assert.rejects(claim(server.url, server.bootstrap?.token ?? ''), /bootstrap failed: 401/);
    } finally {
      await server.close();
    }
  });
});
