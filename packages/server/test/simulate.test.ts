// Impact replay: stored decisions (made the way devices make them: the engine decides, the audit
// package records and seals) decided again with a draft in place, reporting what would flip and
// for whom, with the subject's groups from the event or else from the directory.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { decisionRecord, newChain, seal, type AuditEvent } from '@perimeter/audit';
import { createEngine, loadPolicies, parseRequest } from '@perimeter/policy';
import { insertEvents } from '../src/index.js';
import { eachServer, policyYaml } from './harness.js';

interface Report {
  stored: number;
  replayed: number;
  unchanged: number;
  unreadable: { count: number; examples: { id: string; error: string }[] };
  counts: Record<string, number>;
  flipCount: number;
  flips: { user: string | null; resource: string; before: string; after: string; rules: string[] }[];
  users: { user: string; flips: number; counts: Record<string, number> }[];
}

const NET_V1 = policyYaml(
  'net',
  `network:
  allow:
    - { id: github, hosts: [api.github.com], ports: [443] }
    - { id: paste, hosts: [pastebin.com], ports: [443] }
    - { id: docs, hosts: [example.org], ports: [443] }
`,
);
const ENG = policyYaml(
  'eng',
  'network:\n  allow:\n    - { id: eng-docs, hosts: [example.org], ports: [443] }\n',
  'group',
).replace('layer: group', 'layer: group\n  groups: [eng]');

/** Decides requests under a policy text and records them as a device would, sealed in one chain. */
function deviceEvents(
  org: string,
  policies: string[],
  decisions: {
    user: { id: string; email: string; groups?: string[] };
    request: Record<string, unknown>;
    at: number;
  }[],
): AuditEvent[] {
  const loaded = loadPolicies(policies.map((text, i) => ({ file: `p${i}.yaml`, text })));
  assert.deepEqual(loaded.diagnostics, []);
  let chain = newChain('session-1');
  return decisions.map((d) => {
    const engine = createEngine(
      loaded.policies.map((p) => p.policy),
      { subject: { groups: d.user.groups ?? [] }, context: { home: '/home/user', workspace: '/workspace' } },
    );
    const parsed = parseRequest(d.request);
    if ('error' in parsed) throw new Error(parsed.error);
    const record = decisionRecord(engine.decide(parsed.request), parsed.request, {
      sessionId: 'session-1',
      org,
      user: d.user,
      now: d.at,
    });
    const sealed = seal(record, chain);
    chain = sealed.state;
    return sealed.event;
  });
}

eachServer('impact replay', (harness) => {
  const ids = { net: '', eng: '', carol: '', dave: '' };

  before(async () => {
    const h = harness();
    const net = await h.owner.post<{ policy: { id: string } }>(`${h.base}/policies`, {
      name: 'net',
      text: NET_V1,
    });
    ids.net = net.body.policy.id;
    const eng = await h.owner.post<{ policy: { id: string } }>(`${h.base}/policies`, {
      name: 'eng',
      text: ENG,
    });
    ids.eng = eng.body.policy.id;
    for (const id of [ids.net, ids.eng])
      assert.equal((await h.owner.post(`${h.base}/policies/${id}/revisions/1/publish`)).status, 200);
    ids.carol = (
      await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'carol@example.com' })
    ).body.id;
    ids.dave = (await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'dave@example.com' })).body.id;
    const group = await h.owner.post<{ id: string }>(`${h.base}/groups`, { name: 'eng' });
    await h.owner.put(`${h.base}/groups/${group.body.id}/members/${ids.carol}`);

    const now = h.clock.now();
    const alice = { id: 'alice', email: 'alice@example.com', groups: [] };
    const bob = { id: 'bob', email: 'bob@example.com', groups: [] };
    const carol = { id: ids.carol, email: 'carol@example.com' };
    const dave = { id: ids.dave, email: 'dave@example.com' };
    const events = deviceEvents(
      h.org.id,
      [NET_V1, ENG],
      [
        { user: alice, request: { network: 'api.github.com:443' }, at: now - 3_600_000 },
        { user: alice, request: { network: 'api.github.com:443' }, at: now - 3_500_000 },
        { user: bob, request: { network: 'pastebin.com:443' }, at: now - 3_400_000 },
        { user: bob, request: { network: 'pastebin.com:443' }, at: now - 3_300_000 },
        { user: bob, request: { network: 'pastebin.com:443' }, at: now - 3_200_000 },
        { user: carol, request: { network: 'example.org:443' }, at: now - 3_100_000 },
        { user: dave, request: { network: 'example.org:443' }, at: now - 3_000_000 },
        { user: alice, request: { filesystem: '/etc/shadow', access: 'read' }, at: now - 2_900_000 },
        // Eight days ago: outside the default window of seven.
        { user: bob, request: { network: 'pastebin.com:443' }, at: now - 8 * 86_400_000 },
      ],
    );
    // A refusal made before any rule (no session token) is recorded but is no policy decision.
    const refusal = structuredClone(events[0] as AuditEvent);
    const sealedRefusal = seal(
      { ...refusal, event_id: '01900000-0000-7000-8000-000000000001', decision_code: 'unauthenticated' },
      newChain('session-2'),
    ).event;
    assert.equal(
      await insertEvents(h.server.db, h.org.id, [...events, sealedRefusal], now),
      events.length + 1,
    );
    // Sending the same batch again stores nothing twice.
    assert.equal(await insertEvents(h.server.db, h.org.id, events, now), 0);
  });

  it('a draft that drops an allow shows which decisions flip, and for whom', async () => {
    const h = harness();
    const draft = await h.owner.post<{ revision: { number: number } }>(
      `${h.base}/policies/${ids.net}/revisions`,
      {
        text: NET_V1.replace('    - { id: paste, hosts: [pastebin.com], ports: [443] }\n', ''),
      },
    );
    const report = await h.owner.post<Report>(
      `${h.base}/policies/${ids.net}/revisions/${draft.body.revision.number}/simulate`,
      {},
    );
    assert.equal(report.status, 200, JSON.stringify(report.body));
    assert.equal(report.body.stored, 9, 'eight decisions in the window, and the refusal');
    assert.equal(report.body.replayed, 8);
    assert.deepEqual(report.body.counts, { 'allow→deny': 3 });
    assert.equal(report.body.flipCount, 3);
    assert.ok(
      report.body.flips.every((f) => f.user === 'bob@example.com' && f.resource === 'pastebin.com:443'),
    );
    assert.deepEqual(report.body.users, [{ user: 'bob@example.com', flips: 3, counts: { 'allow→deny': 3 } }]);
    assert.equal(report.body.unreadable.count, 1);
    assert.match(report.body.unreadable.examples[0]?.error ?? '', /unauthenticated/);
    assert.equal(report.body.unchanged, 5);
  });

  it("subjects without recorded groups get their directory groups: only the non-member's access flips", async () => {
    const h = harness();
    const draft = await h.owner.post<{ revision: { number: number } }>(
      `${h.base}/policies/${ids.net}/revisions`,
      {
        text: NET_V1.replace('    - { id: docs, hosts: [example.org], ports: [443] }\n', ''),
      },
    );
    const report = await h.owner.post<Report>(
      `${h.base}/policies/${ids.net}/revisions/${draft.body.revision.number}/simulate`,
      { limit: 1 },
    );
    assert.equal(report.status, 200);
    assert.deepEqual(
      report.body.users.map((u) => u.user),
      ['dave@example.com'],
    );
    assert.equal(report.body.flips.length, 1);
    assert.deepEqual(report.body.flips[0]?.rules, []);
  });

  it('a wider window takes in older decisions; a narrow one fewer', async () => {
    const h = harness();
    const wide = await h.owner.post<Report>(`${h.base}/policies/${ids.net}/revisions/1/simulate`, {
      since: '9d',
    });
    assert.equal(wide.body.replayed, 9);
    assert.deepEqual(wide.body.counts, {}, 'the published revision flips nothing');
    const narrow = await h.owner.post<Report>(`${h.base}/policies/${ids.net}/revisions/1/simulate`, {
      since: '49m',
    });
    assert.equal(narrow.body.replayed, 1);
    const capped = await h.owner.post<Report & { truncated: boolean }>(
      `${h.base}/policies/${ids.net}/revisions/1/simulate`,
      {
        maxEvents: 2,
      },
    );
    assert.equal(capped.body.replayed, 2);
    assert.equal(capped.body.truncated, true);
    const bad = await h.owner.post(`${h.base}/policies/${ids.net}/revisions/1/simulate`, {
      since: 'yesterday',
    });
    assert.equal(bad.status, 400);
  });

  it("a draft's simulation needs a valid draft", async () => {
    const h = harness();
    const draft = await h.owner.post<{ revision: { number: number } }>(
      `${h.base}/policies/${ids.net}/revisions`,
      {
        text: NET_V1.replace('network:', 'netwrk:'),
      },
    );
    const report = await h.owner.post(
      `${h.base}/policies/${ids.net}/revisions/${draft.body.revision.number}/simulate`,
      {},
    );
    assert.equal(report.status, 422);
    assert.equal(report.body.error.code, 'invalid-revision');
  });
});
