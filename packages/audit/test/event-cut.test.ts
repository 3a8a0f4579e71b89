// redteam-31-1: no producer can write an event the shipper or the control plane refuses. An
// agent's 1.2 MB tool name, its 30,000 argument keys, an upstream's 1.2 MB tool name or URI, a
// huge string anywhere: the spool writes the event under MAX_EVENT_BYTES, still chained and
// verifiable, saying what was cut and how long it was; an event under the bound is written byte
// for byte as sealed.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { createEngine, loadPolicies, type Request } from '@perimeter/policy';
import { seal } from '../src/chain.js';
import { MAX_EVENT_BYTES } from '../src/event-cut.js';
import { auditEventSchema, type AuditEvent, type AuditRecord } from '../src/event.js';
import {
  alertRecord,
  decisionRecord,
  lifecycleRecord,
  MAX_ARGUMENT_KEY,
  MAX_ARGUMENT_KEYS,
} from '../src/record.js';
import { Spool } from '../src/spool.js';
import { verifySpool } from '../src/verify.js';

const ctx = { sessionId: 's-1', org: 'org_1', user: { id: 'u1', email: 'u@example.com', groups: ['dev'] } };

const engine = createEngine(
  loadPolicies([
    {
      file: 'p.yaml',
      text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: p, layer: org }\nmcp:\n  allow:\n    - { id: any-db, server: db, tools: ["*"] }\n  deny:\n    - { id: no-danger, server: db, tools: [danger] }\n',
    },
  ]).policies.map((p) => p.policy),
  { context: { home: '/h', workspace: '/w' } },
);

/** An `mcp.call` event as the gateway records it: the decision, and a note naming the tool in the reason. */
function callRecord(request: Extract<Request, { surface: 'mcp' }>): AuditRecord {
  const r = decisionRecord(engine.decide(request), request, ctx);
  return { ...r, reason: `${r.reason}; no tool named ${request.tool}` };
}

function spoolPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-audit-cut-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'session.jsonl');
}

/** Appends the records to a new spool and returns its lines, after checking the spool verifies. */
function written(t: TestContext, records: readonly AuditRecord[]): string[] {
  const path = spoolPath(t);
  const spool = Spool.open(path, { chainId: 's-1', isDurable: false });
  spool.appendAll(records);
  spool.close();
  const text = readFileSync(path, 'utf8');
  const v = verifySpool(text);
  assert.deepEqual(
    v.problems.filter((p) => p.kind !== 'unfinished'),
    [],
    'the spool verifies',
  );
  assert.equal(v.events, records.length);
  return text.split('\n').filter((l) => l !== '');
}

/** The one event of a line, checked against the schema and the bound. */
function eventOf(line: string): AuditEvent {
  assert.ok(
    Buffer.byteLength(line) <= MAX_EVENT_BYTES,
    `the line is ${Buffer.byteLength(line)} bytes, over ${MAX_EVENT_BYTES}`,
  );
  return auditEventSchema().parse(JSON.parse(line));
}

/** The marker a string cut by the spool ends with. */
const markerOf = (text: string): string =>
  `…[cut: ${Buffer.byteLength(text)} bytes, sha256 ${createHash('sha256').update(text).digest('hex').slice(0, 16)}]`;

describe('events over the bound are cut (redteam-31-1)', () => {
  it('redteam-31-1: a call with a 1.2 MB tool name is written under the bound, verifies, and says what was cut', (t) => {
    const name = 'A'.repeat(1_200_000);
    const [line] = written(t, [callRecord({ surface: 'mcp', server: 'db', tool: name, args: {} })]);
    const event = eventOf(line ?? '');
    assert.equal(event.type, 'mcp.call');
    assert.equal(event.decision, 'deny', 'the decision is kept whole');
    assert.equal(event.decision_code, 'invalid-request');
    assert.ok(event.request?.resource.startsWith('db/AAAA'));
    assert.ok(event.request?.resource.endsWith(markerOf(`db/${name}`)), event.request?.resource.slice(-80));
    assert.ok(
      event.reason?.startsWith(
        'Denied: the server or tool name is empty, too long, or contains a control character.; no tool named AAAA',
      ),
    );
    assert.ok(event.cut !== undefined && (event.cut.bytes ?? 0) > 2_400_000, JSON.stringify(event.cut));
    assert.equal(event.cut.strings, 2);
    assert.equal(event.cut.stand_in, undefined);
  });

  it('redteam-31-1: 30,000 argument keys are capped where the record is made, saying how many were left out', (t) => {
    const args = Object.fromEntries(
      Array.from({ length: 30_000 }, (_, i) => [`key_${i}_${'k'.repeat(30)}`, 1]),
    );
    const long = `z${'y'.repeat(300)}`;
    const record = decisionRecord(
      engine.decide({ surface: 'mcp', server: 'db', tool: 'danger', args }),
      { surface: 'mcp', server: 'db', tool: 'danger', args: { ...args, [long]: 2 } },
      ctx,
    );
    assert.equal(record.request?.argument_keys?.length, MAX_ARGUMENT_KEYS);
    assert.deepEqual(record.cut, { items: { 'request.argument_keys': 30_001 - MAX_ARGUMENT_KEYS } });
    const [line] = written(t, [record]);
    assert.ok((line ?? '').length < 10_000, 'capped at the source, far under the bound');
    const event = eventOf(line ?? '');
    assert.equal(event.decision, 'deny');
    assert.deepEqual(event.request?.argument_keys, Object.keys(args).sort().slice(0, MAX_ARGUMENT_KEYS));
    assert.equal(event.cut?.bytes, undefined, 'the spool did not have to cut it');

    // A key longer than MAX_ARGUMENT_KEY is cut, with its length and hash.
    const few = decisionRecord(
      engine.decide({ surface: 'mcp', server: 'db', tool: 'q', args: { [long]: 1, b: 2 } }),
      { surface: 'mcp', server: 'db', tool: 'q', args: { [long]: 1, b: 2 } },
      ctx,
    );
    assert.deepEqual(few.request?.argument_keys, [
      'b',
      `${long.slice(0, MAX_ARGUMENT_KEY)}${markerOf(long)}`,
    ]);
    assert.deepEqual(few.cut, { strings: 1 });
  });

  it('redteam-31-1: a huge string anywhere, or a huge list, is cut under the bound, each saying how long it was', (t) => {
    const huge = (c: string): string => c.repeat(1_200_000);
    const base = lifecycleRecord('mcp.name-held', ctx, { server: 's' });
    const cases: { name: string; record: AuditRecord; check: (e: AuditEvent) => void }[] = [
      {
        // An upstream's listing: the name in the outcome and the reason, three times over.
        name: "an upstream's 1.2 MB tool name (mcp.name-held)",
        record: alertRecord('mcp.name-held', ctx, 'medium', `${huge('n')} clashes with ${huge('n')}`, {
          server: 's',
          tool: huge('n'),
        }),
        check: (e) => {
          assert.equal(e.outcome?.tool, `${'n'.repeat(2048)}${markerOf(huge('n'))}`);
          assert.equal(e.severity, 'medium');
          assert.equal(e.cut?.strings, 2);
        },
      },
      {
        name: "an upstream's 1.2 MB resource URI (mcp.quarantine)",
        record: {
          ...base,
          type: 'mcp.quarantine',
          outcome: { server: 's', resource: `file:///${huge('u')}` },
        },
        check: (e) => assert.ok(String(e.outcome?.resource).endsWith(markerOf(`file:///${huge('u')}`))),
      },
      {
        name: 'a user email',
        record: { ...base, user: { id: 'u1', email: huge('e') } },
        check: (e) => assert.ok(e.user?.email?.endsWith(markerOf(huge('e')))),
      },
      {
        name: "the agent's name",
        record: { ...base, session: { id: 's-1', agent: { name: huge('a'), version: '1' } } },
        check: (e) => assert.deepEqual(e.session?.agent?.version, '1'),
      },
      {
        name: 'a matched rule',
        record: {
          ...base,
          matched: [
            { policy: huge('p'), revision: 1, rule: 'r', layer: 'org', effect: 'deny', mode: 'enforce' },
          ],
        },
        check: (e) => assert.equal(e.matched?.[0]?.rule, 'r'),
      },
      {
        name: 'an outcome key',
        record: { ...base, outcome: { [huge('k')]: 1, ok: true } },
        check: (e) => assert.equal(e.outcome?.ok, true),
      },
      {
        name: 'characters of four bytes in UTF-8, never split',
        // One character first, so every cut width (even) falls inside a pair.
        record: { ...base, reason: `a${'\u{1F600}'.repeat(300_000)}` },
        check: (e) => {
          assert.ok(e.reason?.endsWith(markerOf(`a${'\u{1F600}'.repeat(300_000)}`)));
          assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(e.reason ?? ''), 'no half character');
        },
      },
      {
        name: '100,000 groups',
        record: { ...base, user: { groups: Array.from({ length: 100_000 }, (_, i) => `group-${i}`) } },
        check: (e) => {
          assert.equal(e.user?.groups?.length, 100);
          assert.deepEqual(e.cut?.items, { 'user.groups': 99_900 });
        },
      },
      {
        name: 'an outcome of 100,000 keys',
        record: {
          ...base,
          outcome: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])),
        },
        check: (e) => assert.deepEqual(e.cut?.items, { outcome: 99_900 }),
      },
    ];
    for (const c of cases) {
      const [line] = written(t, [c.record]);
      const event = eventOf(line ?? '');
      assert.equal(event.type, c.record.type, c.name);
      assert.ok(event.cut?.bytes !== undefined && event.cut.bytes > MAX_EVENT_BYTES, `${c.name}: marked`);
      assert.equal(event.cut.stand_in, undefined, c.name);
      assert.equal(event.event_id, c.record.event_id, `${c.name}: the same event`);
      c.check(event);
    }
  });

  it('redteam-31-1: many long strings at once are cut harder, and a source cut is added to', (t) => {
    const rules = Array.from({ length: 300 }, (_, i) => ({
      policy: `p${i}-${'x'.repeat(3000)}`,
      revision: i,
      rule: `r${i}`,
      layer: 'org' as const,
      effect: 'allow' as const,
      mode: 'enforce' as const,
    }));
    const record: AuditRecord = {
      ...lifecycleRecord('mcp.call', ctx),
      matched: rules,
      cut: { strings: 1, items: { 'request.argument_keys': 5 } },
    };
    const event = eventOf(written(t, [record])[0] ?? '');
    assert.equal(event.matched?.length, 10, 'the second pass keeps ten items');
    assert.equal(
      event.matched?.[0]?.policy,
      `${rules[0]?.policy.slice(0, 128)}${markerOf(rules[0]?.policy ?? '')}`,
    );
    assert.deepEqual(event.cut?.items, { 'request.argument_keys': 5, matched: 290 });
    assert.equal(event.cut?.strings, 11);
  });

  it('redteam-31-1: nesting no type allows ends in a stand-in of the same type, with who and when', (t) => {
    const nest = (depth: number): unknown =>
      depth === 0
        ? 'v'.repeat(100)
        : Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, nest(depth - 1)]));
    const record = {
      ...lifecycleRecord('mcp.result', ctx),
      session: { id: 's-1', agent: { name: 'agent', version: '1' } },
      outcome: nest(4),
    } as unknown as AuditRecord;
    const event = eventOf(written(t, [record])[0] ?? '');
    assert.equal(event.type, 'mcp.result');
    assert.equal(event.event_id, record.event_id);
    assert.deepEqual(event.user, ctx.user);
    assert.deepEqual(event.session, { id: 's-1', agent: { name: 'agent', version: '1' } });
    assert.equal(event.outcome, undefined);
    assert.equal(event.cut?.stand_in, true);
    assert.ok((event.cut?.bytes ?? 0) > MAX_EVENT_BYTES);
  });

  it('redteam-31-1: around a cut event, events under the bound are written byte for byte as sealed, and the chain goes on', (t) => {
    const request = { surface: 'mcp' as const, server: 'db', tool: 'query', args: { table: 't', limit: 2 } };
    // Exactly at the bound: whole.
    const atBound = { ...lifecycleRecord('mcp.result', ctx), reason: '' };
    const empty = seal(atBound, { chainId: 's-1', nextSeq: 3, lastHash: '0'.repeat(64) }).line;
    atBound.reason = 'r'.repeat(MAX_EVENT_BYTES - empty.length);
    const records: AuditRecord[] = [
      lifecycleRecord('session.start', ctx, { command: 'agent' }),
      callRecord(request),
      callRecord({ ...request, tool: 'B'.repeat(1_200_000) }),
      atBound,
      lifecycleRecord('session.end', ctx, { exit_code: 0 }),
    ];
    const lines = written(t, records);
    const events = lines.map(eventOf);
    assert.ok(events[2]?.cut !== undefined);
    let state = { chainId: 's-1', nextSeq: 0, lastHash: '0'.repeat(64) };
    for (const [i, record] of records.entries()) {
      const sealed = seal(record, state);
      if (i !== 2) {
        assert.equal(lines[i], sealed.line, `event ${i} is written as sealed`);
        assert.equal(events[i]?.cut, undefined);
      }
      state = { ...sealed.state, lastHash: events[i]?.integrity.hash ?? '' };
    }
    assert.equal(lines[3]?.length, MAX_EVENT_BYTES);
  });

  it('redteam-31-1: whatever a producer puts in its strings and lists, the line is under the bound and verifies', (t) => {
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc
        .tuple(fc.string({ minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 50_000 }))
        .map(([s, n]) => s.repeat(n)),
    );
    fc.assert(
      fc.property(
        fc.record({
          resource: text,
          reason: text,
          keys: fc.array(text, { maxLength: 10 }),
          groups: fc.array(text, { maxLength: 10 }),
          outcome: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean()), { maxKeys: 10 }),
        }),
        ({ resource, reason, keys, groups, outcome }) => {
          const record: AuditRecord = {
            ...lifecycleRecord('mcp.call', { ...ctx, user: { groups } }, outcome),
            request: { surface: 'mcp', action: 'call', resource, argument_keys: keys },
            reason,
          };
          const [line] = written(t, [record]);
          const event = eventOf(line ?? '');
          const whole = seal(record, { chainId: 's-1', nextSeq: 0, lastHash: '0'.repeat(64) }).line;
          if (Buffer.byteLength(whole) <= MAX_EVENT_BYTES) assert.equal(line, whole);
          else assert.ok(event.cut?.bytes === Buffer.byteLength(whole));
        },
      ),
      { numRuns: 60 },
    );
  });
});
