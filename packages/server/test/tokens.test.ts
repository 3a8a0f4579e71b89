// API tokens: random, shown once, stored only as a hash, refused at once when revoked or expired;
// and every endpoint refuses a request without a valid one.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import { API_ROUTES } from '../src/index.js';
import { adminWith, eachServer, type ErrorReply, type Reply } from './harness.js';

interface Issued {
  token: { id: string; status: string; expiresAt: string; role: string };
  secret: string;
}

const DAY = 24 * 60 * 60 * 1000;

eachServer('API tokens', (harness) => {
  it('every non-public endpoint refuses a request without a token or credential, and with a wrong one', async () => {
    const h = harness();
    const anonymous = h.client();
    const forged = h.client(`pmt_${'A'.repeat(43)}`);
    const garbage = h.client('hunter2');
    for (const route of API_ROUTES) {
      if (route.access === 'public') continue;
      const path = route.path
        .replace('{org}', h.org.id)
        .replace(/\{[a-z]+\}/g, (m) => (m === '{revision}' ? '1' : 'x'));
      // Device endpoints take a device credential, and say so.
      const invalid = route.access === 'device' ? 'invalid-device-credential' : 'invalid-token';
      for (const [client, code] of [
        [anonymous, 'unauthenticated'],
        [forged, invalid],
        [garbage, invalid],
      ] as const) {
        const reply = await client.request(route.method, path, route.body ? {} : undefined);
        assert.equal(reply.status, 401, `${route.method} ${route.path}`);
        assert.equal(reply.body.error.code, code);
        assert.equal(reply.headers.get('www-authenticate'), 'Bearer');
      }
    }
  });

  it('a token is shown once and stored only as its SHA-256', async () => {
    const h = harness();
    const issued = await h.owner.post<Issued>(`${h.base}/tokens`, { name: 'ci' });
    assert.equal(issued.status, 201);
    assert.match(issued.body.secret, /^pmt_[A-Za-z0-9_-]{43}$/);
    const listed = await h.owner.get<{ tokens: Record<string, unknown>[] }>(`${h.base}/tokens`);
    assert.ok(!JSON.stringify(listed.body).includes(issued.body.secret), 'a list never shows a secret');
    const rows = await h.server.db.all<Record<string, unknown>>('SELECT * FROM api_tokens WHERE id = ?', [
      issued.body.token.id,
    ]);
    assert.equal(rows.length, 1);
    assert.ok(
      !JSON.stringify(rows).includes(issued.body.secret.slice(4)),
      'the database holds no part of the secret',
    );
    assert.equal(rows[0]?.token_hash, createHash('sha256').update(issued.body.secret).digest('hex'));
  });

  it('a revoked token stops working at once', async () => {
    const h = harness();
    const issued = await h.owner.post<Issued>(`${h.base}/tokens`, { name: 'laptop' });
    const c = h.client(issued.body.secret);
    assert.equal((await c.get(`${h.base}/policies`)).status, 200);
    const revoked = await c.delete<{ status: string; revokedAt: string | null }>(
      `${h.base}/tokens/${issued.body.token.id}`,
    );
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.status, 'revoked');
    const after: Reply<ErrorReply> = await c.get(`${h.base}/policies`);
    assert.equal(after.status, 401);
    assert.equal(after.body.error.message, 'the API token was revoked');
  });

  it('a token expires when its days are up', async () => {
    const h = harness();
    const issued = await h.owner.post<Issued>(`${h.base}/tokens`, { name: 'short', expiresInDays: 1 });
    assert.equal(Date.parse(issued.body.token.expiresAt) - h.clock.now() <= DAY, true);
    const c = h.client(issued.body.secret);
    assert.equal((await c.get(h.base)).status, 200);
    h.clock.advance(DAY + 1000);
    try {
      const late = await c.get(h.base);
      assert.equal(late.status, 401);
      assert.equal(late.body.error.message, 'the API token has expired');
      const listed = await h.owner.get<{ tokens: { id: string; status: string }[] }>(`${h.base}/tokens`);
      assert.equal(listed.body.tokens.find((t) => t.id === issued.body.token.id)?.status, 'expired');
    } finally {
      h.clock.advance(-(DAY + 1000));
    }
  });

  it('a token records its last use, at most once a minute', async () => {
    const h = harness();
    const issued = await h.owner.post<Issued>(`${h.base}/tokens`, { name: 'used' });
    const lastUsed = async (): Promise<string | null | undefined> =>
      (
        await h.owner.get<{ tokens: { id: string; lastUsedAt: string | null }[] }>(`${h.base}/tokens`)
      ).body.tokens.find((t) => t.id === issued.body.token.id)?.lastUsedAt;
    assert.equal(await lastUsed(), null, 'never used yet');
    const c = h.client(issued.body.secret);
    assert.equal((await c.get(h.base)).status, 200);
    const first = await lastUsed();
    assert.ok(typeof first === 'string');
    h.clock.advance(30_000);
    assert.equal((await c.get(h.base)).status, 200);
    assert.equal(await lastUsed(), first, 'half a minute later: not written again');
    h.clock.advance(31_000);
    try {
      assert.equal((await c.get(h.base)).status, 200);
      const later = await lastUsed();
      const moved = Date.parse(later ?? '') - Date.parse(first);
      assert.ok(moved >= 61_000 && moved < 70_000, `a minute later: written again (moved ${moved} ms)`);
    } finally {
      h.clock.advance(-61_000);
    }
  });

  it('a token may not outlive a year', async () => {
    const h = harness();
    const reply = await h.owner.post(`${h.base}/tokens`, { name: 'forever', expiresInDays: 3650 });
    assert.equal(reply.status, 400);
    assert.match(reply.body.error.message, /^"expiresInDays" is too large/);
  });

  it("an admin revokes only their own tokens; an owner may revoke anyone's", async () => {
    const h = harness();
    const a = await adminWith(h, 'policy-admin');
    const b = await adminWith(h, 'viewer');
    const refused = await b.client.delete(`${h.base}/tokens/${a.tokenId}`);
    assert.equal(refused.status, 403);
    assert.equal((await a.client.get(`${h.base}/policies`)).status, 200);
    assert.equal((await h.owner.delete(`${h.base}/tokens/${a.tokenId}`)).status, 200);
    assert.equal((await a.client.get(`${h.base}/policies`)).status, 401);
    const own = await b.client.get<{ tokens: { adminId: string }[] }>(`${h.base}/tokens`);
    assert.ok(own.body.tokens.length > 0 && own.body.tokens.every((t) => t.adminId === b.adminId));
  });
});
