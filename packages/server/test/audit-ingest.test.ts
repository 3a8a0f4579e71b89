// Devices upload their sealed audit events (POST /api/v1/device/events), on both backends over real
// HTTP: a batch is stored once however often it is sent, gzipped or not, several chains at once;
// a gap is a 409 naming where each chain stands; a changed, relinked, reordered, shortened or
// rewritten chain is a 422 and one high-severity audit.ingest.refused event; nothing of a refused
// batch is stored; a device owns its chains; oversized, bomb-like and unreadable bodies are
// refused before anything is stored.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { before, it } from 'node:test';
import { hashOf, newChain, seal, type AuditEvent } from '@perimeter/audit';
import {
  chain,
  countRows,
  deviceOf,
  ndjson,
  recordOf,
  refusals,
  send,
  sessionEvents,
  shapes,
  upload,
  type TestDevice,
} from './audit-support.js';
import { eachServer } from './harness.js';

const DAY = 86_400_000;

/** An event changed and sealed again on its own: its hash is right for what it now says. */
function resealed(e: AuditEvent, change: Partial<AuditEvent['integrity']>): AuditEvent {
  const integrity = { ...e.integrity, ...change };
  const unsealed = { ...e, integrity };
  return { ...unsealed, integrity: { ...integrity, hash: hashOf(unsealed) } };
}

eachServer('audit ingest', (harness) => {
  let alice: TestDevice;
  let bob: TestDevice;

  before(async () => {
    const h = harness();
    alice = await deviceOf(h, 'alice@example.com', 'alice-laptop');
    bob = await deviceOf(h, 'bob@example.com', 'bob-laptop');
  });

  it('a batch sent twice, gzipped then as it is, is stored once', async () => {
    const h = harness();
    const { events } = chain('s-twice', shapes(h, 5));
    const first = await upload(h, alice.credential, ndjson(events));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body, {
      stored: 5,
      duplicates: 0,
      chains: [{ chain_id: 's-twice', next_seq: 5 }],
    });
    const again = await upload(h, alice.credential, ndjson(events), { gzip: false });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body, {
      stored: 0,
      duplicates: 5,
      chains: [{ chain_id: 's-twice', next_seq: 5 }],
    });
    const stored = await sessionEvents(h, 's-twice');
    assert.deepEqual(stored, events, 'each event is stored whole, once');
    const rows = await h.server.db.all<{ user_id: string; device_id: string; org_id: string }>(
      'SELECT org_id, user_id, device_id FROM events WHERE session_id = ?',
      ['s-twice'],
    );
    assert.equal(rows.length, 5);
    assert.ok(
      rows.every((r) => r.org_id === h.org.id && r.user_id === alice.userId && r.device_id === alice.id),
    );
  });

  it('the same batch sent three times at once is stored once', async () => {
    const h = harness();
    const { events } = chain('s-race', shapes(h, 50));
    const body = ndjson(events);
    const replies = await Promise.all([1, 2, 3].map(() => upload(h, alice.credential, body)));
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200],
    );
    assert.equal(
      replies.reduce((n, r) => n + r.body.stored, 0),
      50,
    );
    assert.equal(
      replies.reduce((n, r) => n + r.body.duplicates, 0),
      100,
    );
    assert.equal(await countRows(h, 'session_id = ?', ['s-race']), 50);
  });

  it('a resend that goes on stores only what is new; several chains share a batch', async () => {
    const h = harness();
    const a = chain('s-a', shapes(h, 6));
    const b = chain('s-b', shapes(h, 3));
    await send(h, alice, a.events.slice(0, 2));
    // Interleaved: a resend of a's first two, the rest of a, and all of b.
    const mixed = [
      a.events[0],
      b.events[0],
      a.events[1],
      a.events[2],
      b.events[1],
      ...a.events.slice(3),
      b.events[2],
    ];
    const r = await send(h, alice, mixed as AuditEvent[]);
    assert.deepEqual(r, {
      stored: 7,
      duplicates: 2,
      chains: [
        { chain_id: 's-a', next_seq: 6 },
        { chain_id: 's-b', next_seq: 3 },
      ],
    });
    assert.deepEqual(await sessionEvents(h, 's-a'), a.events);
    assert.deepEqual(await sessionEvents(h, 's-b'), b.events);
  });

  it('a gap is a 409 with the heads of the batch’s chains, and nothing of the batch is stored', async () => {
    const h = harness();
    const d = chain('s-gap', shapes(h, 5));
    await send(h, alice, d.events.slice(0, 2));
    const e = chain('s-new', shapes(h, 3));
    const r = await upload(h, alice.credential, ndjson([...e.events, ...d.events.slice(3)]));
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'chain-gap');
    assert.match(r.body.error.message, /s-gap.*seq 3.*seq 2/);
    assert.ok(r.body.error.hint);
    assert.deepEqual(r.body.chains, [
      { chain_id: 's-new', next_seq: 0 },
      { chain_id: 's-gap', next_seq: 2 },
    ]);
    assert.equal(await countRows(h, 'session_id = ?', ['s-new']), 0, 'the good chain of the batch waits too');
    const heads = await h.server.db.all('SELECT chain_id FROM audit_chains WHERE chain_id LIKE ?', [
      '%:s-new',
    ]);
    assert.deepEqual(heads, [], 'no head was kept for a chain of a refused batch');
    // Resent from the heads, all of it goes in.
    assert.equal((await send(h, alice, [...e.events, ...d.events.slice(2)])).stored, 6);
    // A deleted middle event that the sender did not renumber is a gap as well.
    const f = chain('s-hole', shapes(h, 4));
    const hole = await upload(h, alice.credential, ndjson([f.events[0], f.events[1], f.events[3]]));
    assert.equal(hole.status, 409);
    assert.deepEqual(hole.body.chains, [{ chain_id: 's-hole', next_seq: 0 }]);
  });

  it('a changed, relinked, reordered or shortened chain is refused (422), stores nothing, and leaves one refusal event', async () => {
    const h = harness();
    const cases: [string, (events: AuditEvent[]) => AuditEvent[], number, RegExp][] = [
      [
        'a field changed after sealing',
        (ev) =>
          ev.map((e, i) =>
            i === 2 ? { ...e, request: { ...e.request!, resource: 'evil.example:443' } } : e,
          ),
        2,
        /hash/,
      ],
      [
        'a prev_hash that skips an event',
        (ev) => ev.map((e, i) => (i === 2 ? resealed(e, { prev_hash: ev[0]!.integrity.hash }) : e)),
        2,
        /prev_hash/,
      ],
      [
        'two events swapped and renumbered',
        (ev) => [ev[0]!, resealed(ev[2]!, { seq: 1 }), resealed(ev[1]!, { seq: 2 }), ev[3]!],
        1,
        /prev_hash/,
      ],
      [
        'a middle event deleted and the rest renumbered',
        (ev) => [ev[0]!, ev[1]!, resealed(ev[3]!, { seq: 2 })],
        2,
        /prev_hash/,
      ],
      [
        'an event that is not an audit event',
        (ev) => ev.map((e, i) => (i === 1 ? ({ ...e, extra: 'field' } as AuditEvent) : e)),
        1,
        /not a valid audit event/,
      ],
    ];
    for (const [name, tamper, seq, why] of cases) {
      const session = `s-tamper-${seq}-${name.length}`;
      const { events } = chain(session, shapes(h, 4));
      const good = chain(`${session}-good`, shapes(h, 2));
      const refusedBefore = (await refusals(h)).length;
      const r = await upload(h, alice.credential, ndjson([...good.events, ...tamper(events)]));
      assert.equal(r.status, 422, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'chain-refused', name);
      assert.equal(r.body.chain_id, session, name);
      assert.equal(r.body.seq, seq, name);
      assert.match(r.body.error.message, why, name);
      assert.equal(await countRows(h, 'session_id IN (?, ?)', [session, `${session}-good`]), 0, name);
      const after = await refusals(h);
      assert.equal(after.length, refusedBefore + 1, `${name}: one refusal event`);
      const refusal = after.at(-1)!;
      assert.equal(refusal.category, 'system');
      assert.equal(refusal.severity, 'high');
      assert.equal(refusal.integrity.chain_id, `admin:${h.org.id}`, 'in the organisation’s own chain');
      assert.equal(refusal.device?.id, alice.id);
      assert.equal(refusal.user?.id, alice.userId);
      assert.deepEqual(
        [refusal.outcome?.device, refusal.outcome?.chain, refusal.outcome?.seq],
        [alice.id, session, seq],
      );
      assert.match(refusal.reason ?? '', why);
    }
  });

  it('redteam-31-1: a refusal quotes the first characters of a megabyte-long key or time the device sent, its length and hash, not the whole', async () => {
    const h = harness();
    const MB = 1024 * 1024;
    const key = `k${'x'.repeat(MB)}`;
    const sealedAt = (session: string, time: string): AuditEvent =>
      seal({ ...recordOf(session, { at: h.clock.now() }), time }, newChain(session)).event;
    const cases: [string, (session: string) => unknown, RegExp][] = [
      [
        'an unknown key',
        (s) => ({ ...chain(s, shapes(h, 1)).events[0], [key]: 1 }),
        /^chain "s-long-0" is refused at seq 0: it is not a valid audit event \(event: Unrecognized key: "kx{39}…\[cut: 1048577 bytes, sha256 [0-9a-f]{16}\]"\)$/,
      ],
      [
        'thousands of unknown keys',
        (s) => ({
          ...chain(s, shapes(h, 1)).events[0],
          ...Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`${i}${'y'.repeat(50)}`, 1])),
        }),
        /\(event: Unrecognized keys: "0y{39}…\[cut: 51 bytes, sha256 [0-9a-f]{16}\]", "1y{39}…\[cut: 51 bytes, sha256 [0-9a-f]{16}\]", "2y{39}…\[cut: 51 bytes, sha256 [0-9a-f]{16}\]" and 19997 more\)$/,
      ],
      [
        'an outcome key whose value is no scalar',
        (s) => ({ ...chain(s, shapes(h, 1)).events[0], outcome: { [key]: { nested: true } } }),
        /\(outcome\.kx{39}…\[cut: 1048577 bytes, sha256 [0-9a-f]{16}\]: Invalid input\)$/,
      ],
      [
        'a time that is no time',
        (s) => sealedAt(s, 'z'.repeat(MB)),
        /its time "z{40}…\[cut: 1048576 bytes, sha256 [0-9a-f]{16}\]" is not an ISO 8601 time$/,
      ],
      [
        // V8 reads a date and skips what is in brackets: this one parses, ten years too early.
        'a time that parses, far outside the clock',
        (s) => sealedAt(s, `Jan 1 1990 (${'w'.repeat(MB)})`),
        /its time "Jan 1 1990 \(w{28}…\[cut: 1048589 bytes, sha256 [0-9a-f]{16}\]" is more than ten years before/,
      ],
    ];
    for (const [i, [name, event, message]] of cases.entries()) {
      const session = `s-long-${i}`;
      const body = ndjson([event(session)]);
      assert.ok(body.length > MB, `${name}: the upload carries a megabyte`);
      const r = await upload(h, alice.credential, body);
      assert.equal(r.status, 422, `${name}: ${JSON.stringify(r.body).slice(0, 300)}`);
      assert.equal(r.body.error.code, 'chain-refused', name);
      assert.match(r.body.error.message, message, name);
      assert.ok(JSON.stringify(r.body).length < 1000, `${name}: the reply is short`);
      // The organisation's trail quotes the same problem, whole: nothing left for its bound to cut.
      const refusal = (await refusals(h)).at(-1);
      assert.equal(refusal?.outcome?.chain, session, name);
      assert.ok(r.body.error.message.endsWith(`: ${String(refusal?.outcome?.why)}`), name);
      assert.equal(refusal?.cut, undefined, `${name}: the refusal event is whole`);
      assert.ok(JSON.stringify(refusal).length < 2000, `${name}: the refusal event is short`);
    }
    assert.ok(
      h.logs.every((l) => JSON.stringify(l).length < 1000),
      'no log line quotes what the device sent',
    );
  });

  it("redteam-31-1: a refused chain's id is quoted in the reply and the refusal event with its quotes and control characters escaped", async () => {
    const h = harness();
    const session = 's-"odd\u001b[2J\u202e';
    const [event] = chain(session, shapes(h, 1)).events;
    const r = await upload(
      h,
      alice.credential,
      ndjson([{ ...event, reason: 'changed after it was sealed' }]),
    );
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.chain_id, session, 'the chain as sent, in its own field');
    // Before, the id was written between the quotes as sent: a quote closed them, ESC reached a terminal.
    assert.equal(
      r.body.error.message,
      'chain "s-\\"odd\\u001b[2J\\u202e" is refused at seq 0: its hash is not the hash of its content (it was changed after it was sealed)',
    );
    const refusal = (await refusals(h)).at(-1);
    assert.match(refusal?.reason ?? '', /^refused chain "s-\\"odd\\u001b\[2J\\u202e" of device "/);
  });

  it('a stored seq sent again as a different event is refused: history cannot be rewritten', async () => {
    const h = harness();
    const { events } = chain('s-rewrite', shapes(h, 3));
    await send(h, alice, events);
    const forged = chain('s-rewrite', [{ at: Date.parse(events[1]!.time), resource: 'other.example:443' }], {
      chainId: 's-rewrite',
      nextSeq: 1,
      lastHash: events[0]!.integrity.hash,
    }).events[0]!;
    const r = await upload(h, alice.credential, ndjson([forged]));
    assert.equal(r.status, 422);
    assert.equal(r.body.seq, 1);
    assert.match(r.body.error.message, /stored already, as a different event/);
    assert.deepEqual(await sessionEvents(h, 's-rewrite'), events, 'the stored chain is untouched');
  });

  it('a device owns its chains: another cannot extend one, collide with one, or replay its events', async () => {
    const h = harness();
    const mine = chain('s-owned', shapes(h, 4));
    await send(h, alice, mine.events.slice(0, 2));
    // Bob continuing Alice's chain finds his own chain of that name empty.
    const extend = await upload(h, bob.credential, ndjson(mine.events.slice(2)));
    assert.equal(extend.status, 409);
    assert.deepEqual(extend.body.chains, [{ chain_id: 's-owned', next_seq: 0 }]);
    // Bob replaying Alice's stored events as his own is refused: their ids are taken.
    const replay = await upload(h, bob.credential, ndjson(mine.events.slice(0, 2)));
    assert.equal(replay.status, 422, JSON.stringify(replay.body));
    assert.match(replay.body.error.message, /id of another stored event/);
    // Bob's own chain of the same name is his, apart from hers.
    const his = chain('s-owned', shapes(h, 3));
    assert.equal((await send(h, bob, his.events)).stored, 3);
    assert.equal((await send(h, alice, mine.events.slice(2))).stored, 2);
    assert.equal(await countRows(h, 'session_id = ? AND device_id = ?', ['s-owned', alice.id]), 4);
    assert.equal(await countRows(h, 'session_id = ? AND device_id = ?', ['s-owned', bob.id]), 3);
  });

  it('the stored rows name the device, user and organisation of the credential, whatever the events claim', async () => {
    const h = harness();
    const { events } = chain(
      's-claims',
      shapes(h, 2).map((s) => ({
        ...s,
        claims: {
          org: 'org_someone_else',
          user: { id: bob.userId, email: 'bob@example.com' },
          device: { id: bob.id },
        },
      })),
    );
    await send(h, alice, events);
    const byBob = await h.owner.get<{ events: AuditEvent[] }>(
      `${h.base}/events?session=s-claims&device=${bob.id}`,
    );
    assert.deepEqual(byBob.body.events, []);
    const byAlice = await h.owner.get<{ events: AuditEvent[] }>(
      `${h.base}/events?session=s-claims&user=${alice.userId}`,
    );
    assert.equal(byAlice.body.events.length, 2);
  });

  it('an event months old is stored (on PostgreSQL in a new partition of its month); one far outside the clock is refused', async () => {
    const h = harness();
    const at = h.clock.now() - 150 * DAY;
    const { events } = chain('s-old', [{ at }, { at: at + 1000 }]);
    await send(h, alice, events);
    const again = await send(h, alice, events);
    assert.deepEqual(
      [again.stored, again.duplicates],
      [0, 2],
      'a resent event is skipped in its partition too',
    );
    assert.equal(await countRows(h, 'session_id = ?', ['s-old']), 2);
    if (h.backend === 'postgres') {
      const month = new Date(at).toISOString().slice(0, 7).replace('-', '_');
      const where = await h.server.db.all<{ part: string }>(
        'SELECT DISTINCT tableoid::regclass::text AS part FROM events WHERE session_id = ?',
        ['s-old'],
      );
      assert.deepEqual(where, [{ part: `events_${month}` }]);
    } else {
      const tables = await h.server.db.all<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'events%'",
      );
      assert.deepEqual(tables, [{ name: 'events' }], 'SQLite keeps one table');
    }
    for (const [session, time] of [
      ['s-ancient', h.clock.now() - 20 * 365 * DAY],
      ['s-future', h.clock.now() + 30 * DAY],
    ] as const) {
      const r = await upload(h, alice.credential, ndjson(chain(session, [{ at: time }]).events));
      assert.equal(r.status, 422, session);
      assert.match(r.body.error.message, /ten years before or seven days after/);
    }
  });

  it('a revoked device is refused (401) and stores nothing', async () => {
    const h = harness();
    const carol = await deviceOf(h, 'carol@example.com', 'carol-laptop');
    assert.equal((await h.owner.delete(`${h.base}/devices/${carol.id}`)).status, 204);
    const r = await upload(h, carol.credential, ndjson(chain('s-revoked', shapes(h, 1)).events));
    assert.equal(r.status, 401);
    assert.match(r.body.error.message, /revoked/);
    const none = await upload(h, undefined, ndjson(chain('s-anon', shapes(h, 1)).events));
    assert.equal(none.status, 401);
    const admin = await upload(h, h.owner.token, ndjson(chain('s-admin', shapes(h, 1)).events));
    assert.equal(admin.status, 401, 'an API token is no device credential');
    assert.equal(await countRows(h, 'session_id IN (?, ?, ?)', ['s-revoked', 's-anon', 's-admin']), 0);
  });

  it('too large a body, a gzip bomb and too many events are 413; nothing is stored', async () => {
    const h = harness();
    const wire = await upload(h, alice.credential, randomBytes(4 * 1024 * 1024 + 1), { gzip: false });
    assert.equal(wire.status, 413);
    assert.equal(wire.body.error.code, 'payload-too-large');
    assert.match(wire.body.error.hint ?? '', /halve/);
    // 128 MiB of newlines gzips to about 128 KiB: inflating stops at 32 MiB.
    const bomb = gzipSync(Buffer.alloc(128 * 1024 * 1024, 0x0a), { level: 9 });
    assert.ok(bomb.length < 4 * 1024 * 1024);
    const inflated = await upload(h, alice.credential, bomb, {
      gzip: false,
      headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(inflated.status, 413);
    assert.match(inflated.body.error.message, /inflates to more than/);
    const many = chain('s-many', shapes(h, 10_001));
    const tooMany = await upload(h, alice.credential, ndjson(many.events));
    assert.equal(tooMany.status, 413);
    assert.match(tooMany.body.error.message, /more than 10000 events/);
    assert.equal(await countRows(h, 'session_id = ?', ['s-many']), 0);
    const most = await upload(h, alice.credential, ndjson(many.events.slice(0, 10_000)));
    assert.equal(most.status, 200, 'ten thousand are fine');
    assert.equal(most.body.stored, 10_000);
  });

  it('an upload is read line by line: CRLF, blank lines and a byte order mark are fine; bytes that are not UTF-8 are 400', async () => {
    const h = harness();
    const { events } = chain('s-lines', shapes(h, 3));
    const [first, second, third] = events.map((e) => JSON.stringify(e));
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`${first}\r\n\n  \r\n${second}\n${third}`),
    ]);
    const r = await upload(h, alice.credential, body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.stored, r.body.duplicates], [3, 0]);
    assert.deepEqual(await sessionEvents(h, 's-lines'), events);
    const numbered = await upload(h, alice.credential, `${first}\n\n\r\n{"event_id": \n`);
    assert.equal(numbered.status, 400);
    assert.match(numbered.body.error.message, /line 4 is not JSON/, 'blank lines are counted');
    for (const bad of [
      [0xff, 0x0a],
      [0xc0, 0xaf, 0x0a], // an overlong '/'
      [0xed, 0xa0, 0x80, 0x0a], // a UTF-16 surrogate
    ]) {
      const r2 = await upload(
        h,
        alice.credential,
        Buffer.concat([Buffer.from(`${first}\n`), Buffer.from(bad)]),
      );
      assert.equal(r2.status, 400, JSON.stringify(bad));
      assert.match(r2.body.error.message, /not UTF-8/);
    }
  });

  it('unreadable gzip, a line that is not JSON or not a sealed event is 400; another media type 415', async () => {
    const h = harness();
    const good = ndjson(chain('s-bad', shapes(h, 2)).events);
    const garbage = await upload(h, alice.credential, Buffer.from('not gzip at all'), {
      gzip: false,
      headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(garbage.status, 400);
    assert.equal(garbage.body.error.code, 'invalid-body');
    for (const [body, message] of [
      [`${good}{"event_id": \n`, /line 3 is not JSON/],
      [`${good}[1, 2]\n`, /line 3 is not a sealed audit event/],
      [`${good}{"integrity": {"chain_id": "x"}}\n`, /line 3 is not a sealed audit event/],
    ] as const) {
      const r = await upload(h, alice.credential, body);
      assert.equal(r.status, 400, body);
      assert.equal(r.body.error.code, 'invalid-body');
      assert.match(r.body.error.message, message);
    }
    const json = await upload(h, alice.credential, good, { headers: { 'content-type': 'application/json' } });
    assert.equal(json.status, 415);
    const brotli = await upload(h, alice.credential, good, {
      gzip: false,
      headers: { 'content-encoding': 'br' },
    });
    assert.equal(brotli.status, 415);
    assert.equal(await countRows(h, 'session_id = ?', ['s-bad']), 0);
    assert.deepEqual(await refusals(h).then((r) => r.filter((e) => e.outcome?.chain === 's-bad')), []);
  });
});
