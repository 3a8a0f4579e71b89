// Reading devices' events (GET /api/v1/orgs/{org}/events), on both backends over real HTTP: times
// given as ISO or as "that long ago", a user by id or email, a device, a session, lists of types,
// surfaces and decisions, pages that follow the filter, and the three questions a security team
// asks, each one query. Filters that cannot mean anything are a 400 that names them.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { AuditEvent } from '@perimeter/audit';
import { adminWith, eachServer, type Harness } from './harness.js';
import { chain, deviceOf, send, type Shape, type TestDevice } from './audit-support.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

interface Page {
  events: AuditEvent[];
  next: string | null;
}

eachServer('audit queries', (harness) => {
  let alice: TestDevice;
  let bob: TestDevice;
  /** Event ids by name, to compare answers with. */
  const ids: Record<string, string> = {};

  /** The names of the events a query answers, in its order. */
  async function names(h: Harness, query: string): Promise<string[]> {
    const r = await h.owner.get<Page>(`${h.base}/events?${query}`);
    assert.equal(r.status, 200, `${query}: ${JSON.stringify(r.body)}`);
    const byId = new Map(Object.entries(ids).map(([name, id]) => [id, name]));
    return r.body.events.map((e) => byId.get(e.event_id) ?? `other:${e.type}`);
  }

  before(async () => {
    const h = harness();
    alice = await deviceOf(h, 'alice@example.com', 'alice-laptop');
    bob = await deviceOf(h, 'bob@example.com', 'bob-laptop');
    const now = h.clock.now();
    const aliceShapes: [string, Shape][] = [
      ['a-github', { at: now - 3 * HOUR, resource: 'api.github.com:443' }],
      [
        'a-token',
        {
          at: now - 2 * HOUR,
          surface: 'credential',
          action: 'inject',
          type: 'credential.use',
          resource: 'github-token → api.github.com',
        },
      ],
      [
        'a-passwd',
        {
          at: now - 30 * MIN,
          surface: 'filesystem',
          action: 'read',
          resource: '/etc/passwd',
          decision: 'deny',
        },
      ],
      ['a-issue', { at: now - 10 * MIN, surface: 'mcp', action: 'invoke', resource: 'github/create_issue' }],
    ];
    const bobShapes: [string, Shape][] = [
      ['b-paste', { at: now - 2 * 24 * HOUR, resource: 'pastebin.com:443', decision: 'deny' }],
      ['b-upload', { at: now - 20 * MIN, resource: 'upload.example:443', outcome: { bytes_out: 5_000_000 } }],
      ['b-curl', { at: now - 5 * MIN, surface: 'exec', action: 'run', resource: '/usr/bin/curl' }],
    ];
    for (const [device, session, named] of [
      [alice, 'q-a1', aliceShapes],
      [bob, 'q-b1', bobShapes],
    ] as const) {
      const { events } = chain(
        session,
        named.map(([, s]) => s),
      );
      events.forEach((e, i) => (ids[named[i]?.[0] ?? ''] = e.event_id));
      await send(h, device, events);
    }
  });

  it('since and until take ISO times or durations that far back', async () => {
    const h = harness();
    assert.deepEqual(await names(h, 'category=evaluation&since=1h'), [
      'b-curl',
      'a-issue',
      'b-upload',
      'a-passwd',
    ]);
    assert.deepEqual(await names(h, 'category=evaluation&since=45m'), [
      'b-curl',
      'a-issue',
      'b-upload',
      'a-passwd',
    ]);
    assert.deepEqual(await names(h, 'category=evaluation&since=1d&until=1h'), ['a-token', 'a-github']);
    assert.deepEqual(await names(h, 'category=evaluation&since=1w&until=1d'), ['b-paste']);
    const iso = new Date(h.clock.now() - 15 * MIN).toISOString();
    assert.deepEqual(await names(h, `category=evaluation&since=${iso}`), ['b-curl', 'a-issue']);
    assert.deepEqual(await names(h, 'category=evaluation&since=900s'), ['b-curl', 'a-issue']);
  });

  it('a user is named by id or by email (any case); an email nobody has matches nothing', async () => {
    const h = harness();
    const all = ['a-issue', 'a-passwd', 'a-token', 'a-github'];
    assert.deepEqual(await names(h, `user=${alice.userId}&category=evaluation`), all);
    assert.deepEqual(await names(h, 'user=ALICE@Example.com&category=evaluation'), all);
    assert.deepEqual(await names(h, 'user=nobody@example.com'), []);
    // An admin's actions are theirs by email too.
    const owner = await names(h, 'user=owner@example.com&category=management');
    assert.ok(owner.length > 0 && owner.every((n) => n.startsWith('other:admin.')));
  });

  it('a device and a session select their own events', async () => {
    const h = harness();
    assert.deepEqual(await names(h, `device=${bob.id}`), ['b-curl', 'b-upload', 'b-paste']);
    assert.deepEqual(await names(h, 'session=q-a1&since=1h'), ['a-issue', 'a-passwd']);
    assert.deepEqual(await names(h, `session=q-a1&device=${bob.id}`), []);
  });

  it('type, surface and decision take comma-separated lists', async () => {
    const h = harness();
    assert.deepEqual(await names(h, `surface=network,credential&user=${alice.userId}`), [
      'a-token',
      'a-github',
    ]);
    assert.deepEqual(await names(h, 'decision=deny'), ['a-passwd', 'b-paste']);
    assert.deepEqual(await names(h, 'type=exec.run,mcp.invoke'), ['b-curl', 'a-issue']);
    assert.deepEqual(await names(h, 'surface=network&decision=allow,ask'), ['b-upload', 'a-github']);
  });

  it('pages follow the filter, newest first, to the end', async () => {
    const h = harness();
    const seen: string[] = [];
    let next: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: { body: Page } = await h.owner.get<Page>(
        `${h.base}/events?surface=network&limit=1${next ? `&before=${next}` : ''}`,
      );
      seen.push(...page.body.events.map((e) => e.event_id));
      next = page.body.next;
      if (next === null) break;
    }
    assert.equal(next, null);
    assert.deepEqual(seen, [ids['b-upload'], ids['a-github'], ids['b-paste']]);
  });

  it('the three questions are one query each', async () => {
    const h = harness();
    // What did this agent touch? Everything its session recorded.
    assert.deepEqual(await names(h, 'session=q-a1'), ['a-issue', 'a-passwd', 'a-token', 'a-github']);
    // Which credentials did it use?
    assert.deepEqual(await names(h, 'session=q-a1&surface=credential'), ['a-token']);
    // Where did the data go? What the network let out.
    const out = await h.owner.get<Page>(`${h.base}/events?surface=network&decision=allow&since=1h`);
    assert.deepEqual(
      out.body.events.map((e) => [e.request?.resource, e.outcome?.bytes_out]),
      [['upload.example:443', 5_000_000]],
    );
  });

  it('filters that cannot mean anything are a 400 naming them', async () => {
    const h = harness();
    for (const [query, message] of [
      ['surface=network,dns', /surface "dns" is not one of network, filesystem, mcp, exec, credential/],
      ['decision=maybe', /decision "maybe" is not one of allow, ask, deny/],
      ['decision=,', /decision is empty/],
      ['since=yesterday', /since is neither an ISO 8601 time nor a duration/],
      ['until=5y', /until is neither/],
      ['category=audit', /"category" must be one of/],
      ['before=nonsense', /before is not a cursor/],
    ] as const) {
      const r = await h.owner.get(`${h.base}/events?${query}`);
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.code, 'invalid-query', query);
      assert.match(r.body.error.message, message, query);
    }
  });

  it('only roles with events.read may read events', async () => {
    const h = harness();
    const viewer = await adminWith(h, 'viewer');
    const r = await viewer.client.get(`${h.base}/events?session=q-a1`);
    assert.equal(r.status, 403);
    const auditor = await adminWith(h, 'auditor');
    assert.equal((await auditor.client.get<Page>(`${h.base}/events?session=q-a1`)).body.events.length, 4);
    assert.equal((await h.client().get(`${h.base}/events`)).status, 401);
    assert.equal(
      (await h.client(alice.credential).get(`${h.base}/events`)).status,
      401,
      'a device credential reads nothing',
    );
  });
});
