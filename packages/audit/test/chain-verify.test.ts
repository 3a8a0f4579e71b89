// The hash chain shows every kind of tampering, at the line where it happened.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson } from '../src/canonical-json.js';
import { hashOf, newChain, seal } from '../src/chain.js';
import type { AuditEvent } from '../src/event.js';
import { lifecycleRecord } from '../src/record.js';
import { uuid7 } from '../src/uuid7.js';
import { verifySpool } from '../src/verify.js';

function chainOf(n: number, end = true): AuditEvent[] {
  let state = newChain('session-1');
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const type = i === 0 ? 'session.start' : end && i === n - 1 ? 'session.end' : 'network.connect';
    const sealed = seal(lifecycleRecord(type, { sessionId: 'session-1', now: 1_700_000_000_000 + i }), state);
    out.push(sealed.event);
    state = sealed.state;
  }
  return out;
}

const text = (events: readonly unknown[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys and drops whitespace, whatever the input order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1.5, y: -0 } }),
      '{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":1.5}}',
    );
  });

  it('writes numbers in their shortest ECMAScript form', () => {
    assert.equal(canonicalJson([1e21, 1e-7, 100, 0.1]), '[1e+21,1e-7,100,0.1]');
  });

  it('sorts integer-like keys as strings (JavaScript objects would put 9 before 10), and by UTF-16 code units', () => {
    assert.equal(
      canonicalJson({ b: 1, nested: { x: [{ '10': 1, '9': 2, a: 3 }] }, é: 1, Z: 2, gone: undefined }),
      '{"Z":2,"b":1,"nested":{"x":[{"10":1,"9":2,"a":3}]},"é":1}',
    );
    assert.equal(canonicalJson({ '\u{1F600}': 1, '\uFB33': 2 }), '{"\u{1F600}":1,"\uFB33":2}');
  });

  it('keeps a "__proto__" key, at the top and nested, as JSON.parse makes it (mcp-review F1)', () => {
    const value = JSON.parse('{"__proto__":{"x":1},"opts":{"__proto__":{"cmd":"rm -rf ~"}}}') as unknown;
    assert.equal(canonicalJson(value), '{"__proto__":{"x":1},"opts":{"__proto__":{"cmd":"rm -rf ~"}}}');
    assert.notEqual(canonicalJson(value), canonicalJson({ opts: {} }));
    const slow = JSON.parse('{"1":0,"opts":{"__proto__":{"cmd":1}}}') as unknown;
    assert.equal(canonicalJson(slow), '{"1":0,"opts":{"__proto__":{"cmd":1}}}');
  });

  it('refuses what JSON cannot say', () => {
    assert.throws(() => canonicalJson({ a: Number.NaN }), /NaN or Infinity/);
    assert.throws(() => canonicalJson({ '1': Infinity }), /NaN or Infinity/);
    assert.throws(() => canonicalJson({ f: () => 1 }), /no form for a function/);
  });
});

describe('UUIDv7', () => {
  it('is a version 7 UUID whose leading bits carry the time, so ids sort by time', () => {
    const a = uuid7(1_700_000_000_000);
    const b = uuid7(1_700_000_000_001);
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(a < b);
  });

  it('counts up within one millisecond, so events of the same millisecond sort in the order they were made', () => {
    const ids = Array.from({ length: 10_000 }, () => uuid7(1_700_000_000_002));
    for (const id of ids) assert.match(id, /^018bcfe5-6802-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(uuid7(1_700_000_000_003) > (ids.at(-1) ?? ''), 'the next millisecond sorts after');
  });
});

describe('UUIDv7 randomness', () => {
  it('gives each new millisecond fresh random bits, across refills of its random pool', () => {
    // 2,000 milliseconds draw 20,000 random bytes: the 4 KiB pool is refilled several times.
    const ids = Array.from({ length: 2000 }, (_, i) => uuid7(1_800_000_000_000 + i));
    const randomParts = ids.map((id) => id.slice(15).replace(/-/g, ''));
    assert.equal(new Set(randomParts).size, ids.length, 'no random part repeats');
    assert.deepEqual([...ids].sort(), ids);
  });
});

describe('sealing a record', () => {
  it("writes the line as the sealed event's canonical form, its hash the one verification recomputes, whatever keys sort around integrity", () => {
    // Integer-like keys and an own "__proto__" key (as JSON.parse makes them), in an event whose
    // top-level keys sort on both sides of integrity.
    const outcome = JSON.parse('{"10":1,"9":2,"__proto__":"x","é":true}') as Record<string, number>;
    const awkward = lifecycleRecord(
      'mcp.result',
      { sessionId: 'session-1', now: 1_700_000_000_000 },
      outcome,
    );
    let state = newChain('session-1');
    const lines: string[] = [];
    for (const record of [lifecycleRecord('session.start', { sessionId: 'session-1' }), awkward]) {
      const sealed = seal(record, state);
      assert.equal(sealed.line, canonicalJson(sealed.event));
      const { hash, ...unhashed } = sealed.event.integrity;
      assert.equal(hash, hashOf({ ...sealed.event, integrity: unhashed }));
      assert.deepEqual(JSON.parse(sealed.line), JSON.parse(JSON.stringify(sealed.event)));
      lines.push(sealed.line);
      state = sealed.state;
    }
    const v = verifySpool(lines.map((l) => `${l}\n`).join(''));
    assert.deepEqual(
      v.problems.filter((p) => p.kind !== 'unfinished'),
      [],
    );
    assert.equal(v.events, 2);
  });
});

describe('verifying a spool', () => {
  it('passes an untouched chain', () => {
    const v = verifySpool(text(chainOf(5)));
    assert.equal(v.events, 5);
    assert.deepEqual(v.problems, []);
    assert.equal(v.isIntact, true);
  });

  it('finds an edited event at its line', () => {
    const events = chainOf(5);
    const edited = { ...events[2], type: 'network.allowed-after-all' };
    const v = verifySpool(text([events[0], events[1], edited, events[3], events[4]]));
    assert.deepEqual(
      v.problems.map((p) => [p.kind, p.line, p.seq]),
      [['edited', 3, 2]],
    );
    assert.equal(v.isIntact, false);
  });

  it('finds a deleted event and names the missing positions', () => {
    const events = chainOf(5);
    const v = verifySpool(text([events[0], events[1], events[3], events[4]]));
    assert.deepEqual(
      v.problems.map((p) => [p.kind, p.line]),
      [['deleted', 3]],
    );
    assert.match(v.problems[0]?.message ?? '', /seq 2/);
  });

  it('finds a forged event inserted with a recomputed hash', () => {
    const events = chainOf(4);
    const forged = seal(lifecycleRecord('network.connect', { sessionId: 'session-1' }), {
      chainId: 'session-1',
      nextSeq: 2,
      lastHash: 'f'.repeat(64),
    }).event;
    const v = verifySpool(text([events[0], events[1], forged, events[2], events[3]]));
    assert.equal(v.problems[0]?.kind, 'inserted');
    assert.equal(v.problems[0]?.line, 3);
  });

  it('finds reordered events', () => {
    const events = chainOf(5);
    const v = verifySpool(text([events[0], events[2], events[1], events[3], events[4]]));
    assert.deepEqual(
      v.problems.map((p) => p.kind),
      ['deleted', 'reordered', 'deleted'],
    );
  });

  it('finds a last event cut off mid-line', () => {
    const full = text(chainOf(4));
    const v = verifySpool(full.slice(0, full.length - 40));
    assert.equal(v.problems.at(-1)?.kind, 'truncated');
  });

  it('says when the chain has no session end (cut off at an event boundary, or still running)', () => {
    const v = verifySpool(text(chainOf(3, false)));
    assert.deepEqual(
      v.problems.map((p) => p.kind),
      ['unfinished'],
    );
    assert.equal(v.isIntact, true);
  });

  it("finds an event from another session's chain", () => {
    const other = seal(
      lifecycleRecord('session.start', { sessionId: 'session-2' }),
      newChain('session-2'),
    ).event;
    const events = chainOf(3);
    const v = verifySpool(text([events[0], other, events[1], events[2]]));
    assert.equal(v.problems[0]?.kind, 'foreign');
  });

  it('reports a line that is not an event without stopping', () => {
    const events = chainOf(3);
    const v = verifySpool(
      `${JSON.stringify(events[0])}\nnot json\n${JSON.stringify(events[1])}\n${JSON.stringify(events[2])}\n`,
    );
    assert.deepEqual(
      v.problems.map((p) => [p.kind, p.line]),
      [['malformed', 2]],
    );
  });
});
