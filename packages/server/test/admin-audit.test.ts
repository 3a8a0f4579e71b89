// Every admin action is an audit event: stored in the same transaction as the action, in the
// organisation's own hash chain, readable by owners and auditors only. A refused action leaves no
// event; nothing secret is ever in one.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  auditEventSchema,
  canonicalJson,
  MAX_EVENT_BYTES,
  type AuditEvent,
  verifySpool,
} from '@perimeter/audit';
import { adminChainId } from '../src/index.js';
import { recordAdminAction } from '../src/store/events.js';
import { deviceOf, refusals } from './audit-support.js';
import { adminWith, eachServer, policyYaml, type Harness } from './harness.js';

interface Page {
  events: AuditEvent[];
  next: string | null;
}

async function allEvents(h: Harness): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let next: string | null = null;
  do {
    const page: { body: Page } = await h.owner.get<Page>(
      `${h.base}/events?category=management&limit=7${next ? `&before=${next}` : ''}`,
    );
    out.push(...page.body.events);
    next = page.body.next;
  } while (next !== null);
  // Pages are newest first by time; the chain's own order is its sequence numbers.
  return out.sort((a, b) => a.integrity.seq - b.integrity.seq);
}

eachServer('admin audit trail', (harness) => {
  it('each kind of admin action leaves one event naming who did what', async () => {
    const h = harness();
    const before = (await allEvents(h)).length;
    const user = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'u@example.com' });
    const group = await h.owner.post<{ id: string }>(`${h.base}/groups`, { name: 'eng' });
    await h.owner.put(`${h.base}/groups/${group.body.id}/members/${user.body.id}`);
    const policy = await h.owner.post<{ policy: { id: string } }>(`${h.base}/policies`, {
      name: 'audited',
      text: policyYaml('audited', 'mode: enforce\n'),
    });
    await h.owner.post(`${h.base}/policies/${policy.body.policy.id}/revisions`, {
      text: policyYaml('audited', 'mode: audit\n'),
    });
    await h.owner.post(`${h.base}/policies/${policy.body.policy.id}/revisions/1/publish`);
    await h.owner.post(`${h.base}/policies/${policy.body.policy.id}/revisions/2/publish`);
    await h.owner.post(`${h.base}/policies/${policy.body.policy.id}/rollback`, { to: 1 });
    const token = await h.owner.post<{ token: { id: string }; secret: string }>(`${h.base}/tokens`, {
      name: 'ci',
    });
    await h.owner.delete(`${h.base}/tokens/${token.body.token.id}`);
    await h.owner.patch(h.base, { name: 'Acme' });

    const events = await allEvents(h);
    const types = events.slice(before).map((e) => e.type);
    assert.deepEqual(types, [
      'admin.user.create',
      'admin.group.create',
      'admin.group.member.add',
      'admin.policy.create',
      'admin.policy.revision.create',
      'admin.policy.publish',
      'admin.policy.publish',
      'admin.policy.rollback',
      'admin.token.create',
      'admin.token.revoke',
      'admin.org.update',
    ]);
    for (const e of events) {
      assert.equal(e.category, 'management');
      assert.equal(e.org, h.org.id);
      assert.ok(e.user?.id && e.user.email, 'the actor is named');
      assert.ok(auditEventSchema().safeParse(e).success);
    }
    const publish = events.find((e) => e.type === 'admin.policy.publish');
    assert.equal(publish?.user?.id, h.ownerId);
    assert.equal(publish?.outcome?.policy, policy.body.policy.id);
    // The token's secret never appears in the trail.
    assert.ok(!JSON.stringify(events).includes(token.body.secret));
  });

  it("the organisation's admin events form one intact hash chain", async () => {
    const h = harness();
    const events = await allEvents(h);
    assert.ok(events.length > 5);
    assert.ok(events.every((e) => e.integrity.chain_id === adminChainId(h.org.id)));
    const text = events.map((e) => `${JSON.stringify(e)}\n`).join('');
    const verified = verifySpool(text);
    assert.equal(verified.isIntact, true, JSON.stringify(verified.problems));
    // Tampering with a stored event shows: the chain no longer verifies.
    const edited = text.replace('"admin.org.update"', '"admin.org.delete"');
    assert.equal(verifySpool(edited).isIntact, false);
  });

  it('concurrent admin actions still make one gap-free chain', async () => {
    const h = harness();
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        h.owner.post(`${h.base}/users`, { email: `burst-${i}@example.com` }),
      ),
    );
    assert.ok(replies.every((r) => r.status === 201));
    const events = await allEvents(h);
    assert.deepEqual(
      events.map((e) => e.integrity.seq),
      events.map((_, i) => i),
    );
    assert.equal(verifySpool(events.map((e) => `${JSON.stringify(e)}\n`).join('')).isIntact, true);
  });

  it('an action that is refused leaves no event', async () => {
    const h = harness();
    const count = (await allEvents(h)).length;
    const viewer = await adminWith(h, 'viewer');
    const afterSetup = (await allEvents(h)).length;
    assert.equal(afterSetup, count + 2, 'adding the admin and issuing their token are two events');
    assert.equal((await viewer.client.post(`${h.base}/users`, { email: 'x@example.com' })).status, 403);
    assert.equal((await h.owner.post(`${h.base}/users`, { email: 'u@example.com' })).status, 409);
    assert.equal((await allEvents(h)).length, afterSetup);
  });

  it('redteam-31-1: a refusal quoting megabytes is cut to the bound and stays in the intact chain', async () => {
    const h = harness();
    const device = await deviceOf(h, 'mallory@example.com', 'mallory-laptop');
    // A device's upload no longer makes one (a refusal quotes the first characters of a key:
    // audit-ingest.test.ts); the trail is bounded all the same, for whatever quotes more.
    const key = 'k'.repeat(1024 * 1024);
    const problem = `it is not a valid audit event (event: Unrecognized key: "${key}")`;
    await h.server.db.transaction((tx) =>
      recordAdminAction(
        tx,
        h.org.id,
        { id: device.userId, email: 'mallory@example.com', device: { id: device.id } },
        {
          category: 'system',
          severity: 'high',
          type: 'audit.ingest.refused',
          reason: `refused chain "s-huge-key" of device "mallory-laptop" at seq 1: ${problem}`,
          outcome: { device: device.id, chain: 's-huge-key', seq: 1, why: problem },
        },
        h.clock.now(),
      ),
    );

    const refusal = (await refusals(h)).at(-1);
    assert.ok(refusal, 'the refusal is in the trail');
    assert.equal(refusal.device?.id, device.id);
    assert.equal(refusal.outcome?.chain, 's-huge-key');
    assert.equal(refusal.outcome?.seq, 1);
    // Uncut, these are megabytes: a failure shows their first characters only.
    const reason = refusal.reason ?? '';
    const why = String(refusal.outcome?.why);
    const marker = /…\[cut: \d+ bytes, sha256 [0-9a-f]{16}\]$/;
    assert.ok(
      /^refused chain "s-huge-key" of device "mallory-laptop" at seq 1: .*Unrecognized key/.test(reason),
      reason.slice(0, 200),
    );
    assert.ok(marker.test(reason), `the reason is cut: ${reason.length} characters`);
    assert.ok(marker.test(why), `the why is cut: ${why.length} characters`);
    assert.equal(refusal.cut?.strings, 2, 'the reason and the why were cut');
    assert.ok((refusal.cut?.bytes ?? 0) > 2 * key.length, 'the cut block says how long it would have been');
    assert.ok(auditEventSchema().safeParse(refusal).success);

    // As stored: the line is within the bound, and the organisation's whole chain still verifies.
    const rows = await h.server.db.all<{ body: string }>(
      'SELECT body FROM events WHERE org_id = ? AND chain_id = ? ORDER BY seq',
      [h.org.id, adminChainId(h.org.id)],
    );
    const stored = rows.map((row) => JSON.parse(row.body) as AuditEvent);
    const last = stored.at(-1);
    assert.equal(last?.event_id, refusal.event_id);
    assert.ok(Buffer.byteLength(canonicalJson(last), 'utf8') <= MAX_EVENT_BYTES);
    assert.ok(rows.every((row) => Buffer.byteLength(row.body, 'utf8') <= MAX_EVENT_BYTES));
    const verified = verifySpool(stored.map((e) => `${canonicalJson(e)}\n`).join(''));
    assert.equal(verified.isIntact, true, JSON.stringify(verified.problems));
    assert.equal(verified.events, stored.length);

    // The chain goes on after it: the next admin action links to the cut event.
    await h.owner.patch(h.base, { name: 'After the cut' });
    const next = (await allEvents(h)).at(-1);
    assert.equal(next?.type, 'admin.org.update');
    assert.equal(next?.integrity.prev_hash, refusal.integrity.hash);
  });

  it('stored events cannot be changed, even by hand', async () => {
    const h = harness();
    await assert.rejects(
      h.server.db.run("UPDATE events SET body = '{}' WHERE org_id = ?", [h.org.id]),
      /immutable/,
    );
  });

  it('owners and auditors read the trail; others may not', async () => {
    const h = harness();
    const auditor = await adminWith(h, 'auditor');
    const admin = await adminWith(h, 'policy-admin');
    assert.equal((await auditor.client.get(`${h.base}/events`)).status, 200);
    assert.equal((await admin.client.get(`${h.base}/events`)).status, 403);
    const filtered = await auditor.client.get<Page>(`${h.base}/events?type=admin.org.update`);
    assert.ok(filtered.body.events.length >= 1);
    assert.ok(filtered.body.events.every((e) => e.type === 'admin.org.update'));
    const badCursor = await auditor.client.get(`${h.base}/events?before=nonsense`);
    assert.equal(badCursor.status, 400);
  });
});
