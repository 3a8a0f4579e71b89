// Shipping a managed device's session spools to a real control plane (audit-ship.ts): everything
// complete is stored once, a partial last line waits until it is complete, a crash between the
// server's answer and the cursor's write sends the batch again and the server dedupes it, a 409
// rewinds a chain to where the server stands, a refused (tampered) chain is never sent again while
// the others go on, spools recorded before the device was managed stay home. Faults the real
// server does not make on demand (413, 503, an answer that never comes) come from a small proxy
// in front of it; a server that is down is the real one, stopped and started again.

import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import {
  auditEventSchema,
  type AuditEvent,
  MAX_EVENT_BYTES,
  seal,
  uuid7,
  type AuditRecord,
} from '@perimeter/audit';
import { auditBacklog } from '../src/device/audit-ship.js';
import { readAuditShipState } from '../src/device/device-state.js';
import {
  managedDevice,
  recordSession,
  seqs,
  ship,
  shipped,
  spoolLines,
  startAgain,
  stored,
  upTo,
  type Device,
  type Session,
} from './audit-ship-harness.js';
import { holdLock, runCli, spawnCli, waitForOutput } from './cli-harness.js';
import { policy, publish, startControlPlane } from './control-plane-harness.js';

/** The next event of a spool's chain, sealed but not written. */
function nextEvent(s: Session, record: Partial<AuditRecord> = {}): AuditEvent {
  const all = spoolLines(s.path).map((l) => auditEventSchema().parse(JSON.parse(l)));
  const last = all[all.length - 1];
  assert.ok(last);
  const { integrity: _, ...base } = last;
  return seal(
    { ...base, event_id: uuid7(), ...record },
    { chainId: s.id, nextSeq: last.integrity.seq + 1, lastHash: last.integrity.hash },
  ).event;
}

describe('audit shipping to a real control plane', () => {
  it('ships every event of a spool once, moves its cursor to the end, and leaves the spool on disk', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 12, { isEnded: true });
    assert.equal(auditBacklog(d.dir, d.sessions, d.enrolment).waiting, 12);
    const outcome = shipped(await ship(d));
    assert.equal(outcome.stored, 12);
    assert.equal(outcome.duplicates, 0);
    assert.equal(outcome.waiting, 0);
    const held = await stored(d.cp, s.id);
    assert.deepEqual(
      held.map((e) => JSON.stringify(e)),
      spoolLines(s.path).map((l) => JSON.stringify(auditEventSchema().parse(JSON.parse(l)))),
      'the server holds the events as the spool does',
    );
    const cursor = readAuditShipState(d.dir).spools[s.file];
    assert.equal(cursor?.offset, readFileSync(s.path).length);
    assert.equal(cursor?.seq, 12);
    assert.equal(cursor?.isEnded, true);
    assert.ok(existsSync(s.path), 'the spool stays as local evidence');
    const backlog = auditBacklog(d.dir, d.sessions, d.enrolment);
    assert.equal(backlog.waiting, 0);
    assert.ok(backlog.lastShippedAt !== undefined);
    const again = shipped(await ship(d));
    assert.equal(again.stored + again.duplicates, 0, 'a second pass has nothing to send');
  });

  it('ships in batches within the limits, several spools in one batch', async (t) => {
    const d = await managedDevice(t);
    const a = recordSession(d, 7);
    const b = recordSession(d, 2);
    const outcome = shipped(await ship(d, { limits: { events: 3, bytes: 1024 * 1024 } }));
    assert.equal(outcome.stored, 9);
    assert.deepEqual(seqs(await stored(d.cp, a.id)), upTo(7));
    assert.deepEqual(seqs(await stored(d.cp, b.id)), upTo(2));
  });

  it('after a crash between the server’s answer and the cursor’s write, sends the batch again and nothing is duplicated', async (t) => {
    const d = await managedDevice(t);
    const earlier = recordSession(d, 4);
    shipped(await ship(d));
    const s = recordSession(d, 6);
    const cursors = join(d.dir, 'audit-ship.json');
    const beforeTheBatch = readFileSync(cursors);
    assert.equal(shipped(await ship(d)).stored, 6);
    // The crash: the server took the batch, but the cursors on disk are still those from before it.
    writeFileSync(cursors, beforeTheBatch);
    assert.equal(auditBacklog(d.dir, d.sessions, d.enrolment).waiting, 6);
    const resent = shipped(await ship(d));
    assert.equal(resent.stored, 0);
    assert.equal(resent.duplicates, 6, 'the batch is sent again and the server knows each event of it');
    assert.deepEqual(seqs(await stored(d.cp, s.id)), upTo(6), 'each event is held once');
    assert.deepEqual(seqs(await stored(d.cp, earlier.id)), upTo(4));
    assert.equal(readAuditShipState(d.dir).spools[s.file]?.seq, 6);
  });

  it('does not ship a partial last line until it is complete', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 3);
    // The next event as a spool being written may hold it for a moment: half of its line.
    const line = `${JSON.stringify(nextEvent(s))}\n`;
    appendFileSync(s.path, line.slice(0, 40));
    assert.equal(auditBacklog(d.dir, d.sessions, d.enrolment).waiting, 3, 'the partial line does not count');
    assert.equal(shipped(await ship(d)).stored, 3);
    assert.equal(readAuditShipState(d.dir).spools[s.file]?.seq, 3);
    appendFileSync(s.path, line.slice(40));
    assert.equal(shipped(await ship(d)).stored, 1);
    assert.deepEqual(seqs(await stored(d.cp, s.id)), upTo(4));
  });

  it('rewinds a chain to where the server stands when it answers 409', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 10);
    // This device's cursor says events 0-4 are shipped, but the server holds none of them (a
    // restored database, say): it answers 409 with its head, and the device goes on from there.
    const offset = spoolLines(s.path)
      .slice(0, 5)
      .reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    writeFileSync(
      join(d.dir, 'audit-ship.json'),
      JSON.stringify({ spools: { [s.file]: { chainId: s.id, offset, seq: 5, shipped: 5 } } }),
    );
    const outcome = shipped(await ship(d));
    assert.equal(outcome.stored, 10);
    assert.deepEqual(seqs(await stored(d.cp, s.id)), upTo(10));
    assert.equal(readAuditShipState(d.dir).spools[s.file]?.seq, 10);
  });

  it('marks a chain the server refuses (422) as refused for good from the refused event, and ships what came before it and the others', async (t) => {
    const d = await managedDevice(t);
    const good = recordSession(d, 4);
    const tampered = recordSession(d, 6);
    const other = recordSession(d, 3);
    // Someone edits event 2 of a spool: its hash no longer matches.
    const all = spoolLines(tampered.path);
    all[2] = (all[2] ?? '').replace('"step":2', '"step":20');
    writeFileSync(tampered.path, `${all.join('\n')}\n`);

    const outcome = shipped(await ship(d));
    assert.deepEqual(
      outcome.refused.map((r) => [r.file, r.refused.by, r.refused.seq]),
      [[tampered.file, 'server', 2]],
    );
    assert.deepEqual(seqs(await stored(d.cp, good.id)), upTo(4));
    assert.deepEqual(seqs(await stored(d.cp, other.id)), upTo(3));
    assert.deepEqual(
      seqs(await stored(d.cp, tampered.id)),
      upTo(2),
      'the events before the refused one are shipped again without it, and stored',
    );
    assert.equal(readAuditShipState(d.dir).spools[tampered.file]?.seq, 2);
    const backlog = auditBacklog(d.dir, d.sessions, d.enrolment);
    assert.equal(backlog.refused.length, 1);
    assert.equal(backlog.refused[0]?.chainId, tampered.id);
    assert.equal(backlog.waiting, 0, 'a refused spool does not wait');

    // Never sent again: the server records one refusal only, however often the device ships.
    recordSession(d, 1);
    shipped(await ship(d));
    const refusals = await d.cp.api<{ events: AuditEvent[] }>(
      'GET',
      `${d.cp.base}/events?type=audit.ingest.refused`,
    );
    assert.equal(refusals.body.events.length, 1, JSON.stringify(refusals.body));
    assert.ok(existsSync(tampered.path), 'the refused spool stays as evidence');
  });

  it('never ships a spool recorded before this device was managed', async (t) => {
    const d = await managedDevice(t);
    const unmanaged = recordSession(d, 5, { isManaged: false });
    const managed = recordSession(d, 2);
    assert.equal(auditBacklog(d.dir, d.sessions, d.enrolment).waiting, 2);
    assert.equal(shipped(await ship(d)).stored, 2);
    assert.deepEqual(seqs(await stored(d.cp, unmanaged.id)), []);
    assert.deepEqual(seqs(await stored(d.cp, managed.id)), upTo(2));
    assert.equal(readAuditShipState(d.dir).spools[unmanaged.file]?.isForeign, true);
  });

  it('refuses a spool damaged on this device at the damage, and ships what came before it and the others', async (t) => {
    const d = await managedDevice(t);
    const damaged = recordSession(d, 5);
    const other = recordSession(d, 2);
    const all = spoolLines(damaged.path);
    all[3] = 'not an event';
    writeFileSync(damaged.path, `${all.join('\n')}\n`);
    const outcome = shipped(await ship(d));
    assert.equal(outcome.stored, 5);
    assert.deepEqual(seqs(await stored(d.cp, damaged.id)), upTo(3));
    assert.deepEqual(seqs(await stored(d.cp, other.id)), upTo(2));
    const refused = auditBacklog(d.dir, d.sessions, d.enrolment).refused;
    assert.deepEqual(
      refused.map((r) => [r.file, r.refused.by, r.refused.seq]),
      [[damaged.file, 'device', 3]],
    );
    assert.match(refused[0]?.refused.message ?? '', /the line of event 3 is not JSON/);
  });

  it('is busy while another live process ships, however old its lock, and takes over a lock whose process died', async (t) => {
    const d = await managedDevice(t);
    recordSession(d, 2);
    const lock = join(d.dir, 'audit-ship.lock');
    const other = await holdLock(t, lock);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(lock, hourAgo, hourAgo);
    const before = readFileSync(lock, 'utf8');
    assert.equal((await ship(d)).kind, 'busy');
    assert.equal(readFileSync(lock, 'utf8'), before, 'the live shipper keeps its lock');
    // Killed with SIGKILL mid-pass: its lock is left behind, and taken over.
    await other.kill();
    assert.equal(shipped(await ship(d)).stored, 2);
    assert.ok(!existsSync(lock), 'the lock is released');
    // An earlier perimeter's lock: a bare pid, here one that is not running (above the kernel's pid_max).
    recordSession(d, 1);
    writeFileSync(lock, '99999999');
    assert.equal(shipped(await ship(d)).stored, 1);
    assert.ok(!existsSync(lock));
  });

  it('a second pass in the same process while one ships is busy', async (t) => {
    const d = await managedDevice(t);
    recordSession(d, 2);
    const outcomes = await Promise.all([ship(d), ship(d)]);
    assert.deepEqual(outcomes.map((o) => o.kind).sort(), ['busy', 'shipped']);
    assert.ok(!existsSync(join(d.dir, 'audit-ship.lock')));
  });

  it('stops with "rejected" when the server refuses the device’s credential', async (t) => {
    const d = await managedDevice(t);
    recordSession(d, 2);
    const devices = await d.cp.api<{ devices: { id: string }[] }>('GET', `${d.cp.base}/devices`);
    assert.equal(
      (await d.cp.api('DELETE', `${d.cp.base}/devices/${devices.body.devices[0]?.id ?? ''}`)).status,
      204,
    );
    const outcome = await ship(d);
    assert.equal(outcome.kind, 'rejected', JSON.stringify(outcome));
    assert.ok(outcome.kind === 'rejected');
    assert.match(outcome.message, /the server refused this device's credential/);
    assert.ok(
      Object.values(readAuditShipState(d.dir).spools).every((c) => c.seq === 0),
      'no cursor moved',
    );
  });
});

/** What the proxy does with a batch: answer this status itself, hang, or pass it on. */
type Fault = (batch: { events: number; text: string }) => number | 'hang' | 'forward';

/**
 * A proxy in front of the real server that injects what it cannot be made to do on demand; every
 * batch it sees is logged. Anything but POST /api/v1/device/events is passed on.
 */
async function faultProxy(
  t: TestContext,
  target: string,
  fault: Fault,
): Promise<{ url: string; batches: { events: number; answer: number | 'hang' }[] }> {
  const batches: { events: number; answer: number | 'hang' }[] = [];
  const read = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
    });
  const server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      let decision: number | 'hang' | 'forward' = 'forward';
      if (req.method === 'POST' && req.url === '/api/v1/device/events') {
        const text = gunzipSync(body).toString('utf8');
        const events = text.split('\n').filter((l) => l !== '').length;
        decision = fault({ events, text });
        batches.push({ events, answer: decision === 'forward' ? 200 : decision });
      }
      if (decision === 'hang') return;
      if (decision !== 'forward') {
        // An overloaded server says when to come back (the real one does on a pool timeout).
        res.writeHead(decision, {
          'content-type': 'application/json',
          ...(decision === 503 ? { 'retry-after': '3' } : {}),
        });
        res.end(JSON.stringify({ error: { code: 'injected', message: `injected ${decision}`, hint: '' } }));
        return;
      }
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          (e): e is [string, string] =>
            typeof e[1] === 'string' && e[0] !== 'host' && e[0] !== 'content-length',
        ),
      );
      const answer = await fetch(`${target}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(Buffer.from(await answer.arrayBuffer()));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, batches };
}

const through = (d: Device, url: string): Device => ({ ...d, enrolment: { ...d.enrolment, server: url } });

/** `perimeter status` (`--json` with `json`) of the device, in-process. */
function status(d: Device, json = false): ReturnType<typeof runCli> {
  const saved = process.env.XDG_STATE_HOME;
  process.env.XDG_STATE_HOME = d.state;
  try {
    return runCli(['status', ...(json ? ['--json'] : [])]);
  } finally {
    if (saved === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = saved;
  }
}

describe('redteam-31-1: no event keeps the rest of a session from the control plane', () => {
  it('redteam-31-1: a session with a 1.2 MB tool name, 30,000 argument keys and a 1.2 MB upstream name ships whole, each cut event saying so', async (t) => {
    const d = await managedDevice(t);
    const huge = 'A'.repeat(1_200_000);
    const keys = Array.from({ length: 30_000 }, (_, i) => `key_${i}_${'k'.repeat(30)}`);
    const cuts: Record<number, Partial<AuditRecord>> = {
      1: {
        type: 'mcp.call',
        request: { surface: 'mcp', action: 'call', resource: `s/${huge}` },
        decision: 'deny',
        reason: `no tool named ${huge}`,
      },
      2: {
        type: 'mcp.call',
        request: { surface: 'mcp', action: 'call', resource: 's/danger', argument_keys: keys },
        decision: 'deny',
      },
      3: { type: 'mcp.name-held', outcome: { server: 's', tool: huge, resource: `file:///${huge}` } },
    };
    const s = recordSession(d, 6, { isEnded: true, event: (i) => cuts[i] ?? {} });
    const lines = spoolLines(s.path);
    assert.ok(
      lines.every((l) => Buffer.byteLength(l) <= MAX_EVENT_BYTES),
      'every line is under the bound',
    );
    const verified = runCli(['audit', 'verify', s.path]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /6 events, chain intact/);

    const outcome = shipped(await ship(d));
    assert.equal(outcome.stored, 6);
    assert.deepEqual(outcome.refused, []);
    const held = await stored(d.cp, s.id);
    assert.deepEqual(seqs(held), upTo(6), 'the events after the cut ones reach the server');
    assert.deepEqual(
      held.map((e) => e.cut !== undefined),
      [false, true, true, true, false, false],
    );
    assert.equal(held[1]?.cut?.strings, 2);
    assert.ok(held[1]?.request?.resource.startsWith('s/AAAA'));
    assert.match(held[1]?.request?.resource ?? '', /…\[cut: 1200002 bytes, sha256 [0-9a-f]{16}\]$/);
    assert.deepEqual(held[2]?.cut?.items, { 'request.argument_keys': 29_900 });
    assert.equal(held[2]?.request?.argument_keys?.length, 100);
    assert.equal(held[3]?.cut?.strings, 2);
    assert.ok((held[3]?.cut?.bytes ?? 0) > 2_400_000);
    assert.equal(held[5]?.type, 'session.end');
    assert.deepEqual(
      held.map((e) => JSON.stringify(e)),
      lines.map((l) => JSON.stringify(auditEventSchema().parse(JSON.parse(l)))),
      'the server holds the events as the spool does',
    );
  });

  it('redteam-31-1: an event over 1 MiB of a spool written before events were bounded ships whole, and so does the rest of its session', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 2);
    const big = nextEvent(s, {
      type: 'mcp.call',
      request: { surface: 'mcp', action: 'call', resource: `s/${'A'.repeat(1_200_000)}` },
      reason: `no tool named ${'A'.repeat(1_200_000)}`,
    });
    appendFileSync(s.path, `${JSON.stringify(big)}\n`);
    assert.ok(
      Buffer.byteLength(spoolLines(s.path)[2] ?? '') > 2_400_000,
      'the old spool holds a 2.4 MB line',
    );
    appendFileSync(s.path, `${JSON.stringify(nextEvent(s, { type: 'mcp.call', decision: 'deny' }))}\n`);
    appendFileSync(s.path, `${JSON.stringify(nextEvent(s, { type: 'session.end' }))}\n`);

    const outcome = shipped(await ship(d));
    assert.deepEqual(outcome.refused, []);
    assert.equal(outcome.stored, 5);
    const held = await stored(d.cp, s.id);
    assert.deepEqual(seqs(held), upTo(5));
    assert.equal(
      held[2]?.integrity.hash,
      big.integrity.hash,
      'the old event is stored whole, its hash checked',
    );
    assert.equal(held[4]?.type, 'session.end');
  });

  it('redteam-31-1: a line longer than the server takes stops its spool there, saying what to do, and the rest ships', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 2);
    const other = recordSession(d, 2);
    const end = nextEvent(s, { type: 'session.end' });
    appendFileSync(s.path, `${'x'.repeat(32 * 1024 * 1024)}\n${JSON.stringify(end)}\n`);
    const outcome = shipped(await ship(d));
    assert.deepEqual(seqs(await stored(d.cp, s.id)), upTo(2));
    assert.deepEqual(seqs(await stored(d.cp, other.id)), upTo(2));
    assert.deepEqual(
      outcome.refused.map((r) => [r.file, r.refused.by, r.refused.seq]),
      [[s.file, 'device', 2]],
    );
    assert.match(
      outcome.refused[0]?.refused.message ?? '',
      /^event 2 is longer than the server takes \(32 MiB\): it and the events after it stay on this device only: keep the spool as evidence \(perimeter audit verify FILE checks it\)$/,
    );
  });
});

describe('perimeter status shows audit shipping', () => {
  it('says how many events wait, when the last batch went, and which spools are not shipped', async (t) => {
    const d = await managedDevice(t);
    assert.match(status(d).stdout, /^audit: +nothing to ship yet$/m);
    recordSession(d, 3);
    assert.match(status(d).stdout, /^audit: +3 events wait to be shipped; none shipped yet$/m);
    const tampered = recordSession(d, 4);
    const all = spoolLines(tampered.path);
    all[1] = (all[1] ?? '').replace('"step":1', '"step":10');
    writeFileSync(tampered.path, `${all.join('\n')}\n`);
    shipped(await ship(d));
    recordSession(d, 2);
    const text = status(d).stdout;
    assert.match(text, /^audit: +2 events wait to be shipped; last shipped \S+Z \(\d+ s ago\)$/m);
    assert.match(
      text,
      new RegExp(`^not shipped: +${tampered.file} from event 1: the server refused it: .+ \\(\\S+Z\\)$`, 'm'),
    );
    const json = JSON.parse(status(d, true).stdout) as {
      audit: {
        waiting: number;
        lastShippedAt: string | null;
        refused: { file: string; seq: number; by: string }[];
      };
    };
    assert.equal(json.audit.waiting, 2);
    assert.ok(json.audit.lastShippedAt !== null);
    assert.deepEqual(
      json.audit.refused.map((r) => [r.file, r.seq, r.by]),
      [[tampered.file, 1, 'server']],
    );
  });
});

describe('audit shipping through faults', () => {
  it('halves a batch the server finds too large (413) until it fits, and ships everything', async (t) => {
    const d = await managedDevice(t);
    const a = recordSession(d, 10);
    const b = recordSession(d, 3);
    const proxy = await faultProxy(t, d.cp.url, (batch) => (batch.events > 3 ? 413 : 'forward'));
    const outcome = shipped(await ship(through(d, proxy.url)));
    assert.equal(outcome.stored, 13);
    assert.deepEqual(seqs(await stored(d.cp, a.id)), upTo(10));
    assert.deepEqual(seqs(await stored(d.cp, b.id)), upTo(3));
    assert.deepEqual(
      proxy.batches.slice(0, 3).map((x) => x.events),
      [13, 6, 3],
      'each 413 halves the batch',
    );
    assert.ok(proxy.batches.every((x) => x.answer === 413 || x.events <= 3));
  });

  it('refuses a spool whose single event the server finds too large, and ships the others', async (t) => {
    const d = await managedDevice(t);
    const big = recordSession(d, 1);
    const small = recordSession(d, 2);
    const proxy = await faultProxy(t, d.cp.url, (batch) => (batch.text.includes(big.id) ? 413 : 'forward'));
    const outcome = shipped(await ship(through(d, proxy.url)));
    assert.deepEqual(
      outcome.refused.map((r) => [r.file, r.refused.seq]),
      [[big.file, 0]],
    );
    assert.match(
      outcome.refused[0]?.refused.message ?? '',
      /takes no event this large \(event 0, \d+ bytes\): it and the events after it stay on this device only/,
    );
    assert.deepEqual(seqs(await stored(d.cp, small.id)), upTo(2));
  });

  it('keeps its cursors while the server fails (503, with its Retry-After) or never answers, and catches up later', async (t) => {
    const d = await managedDevice(t);
    const s = recordSession(d, 4);
    let mode: 'fail' | 'hang' | 'forward' = 'fail';
    const proxy = await faultProxy(t, d.cp.url, () => (mode === 'fail' ? 503 : mode));
    const failed = await ship(through(d, proxy.url));
    assert.equal(failed.kind, 'unreachable');
    assert.ok(failed.kind === 'unreachable');
    assert.match(failed.message, /the server answered 503 \(injected 503\)/);
    assert.equal(failed.retryAfterMs, 3000, "the server's Retry-After is passed on to the agent's wait");
    assert.equal(failed.waiting, 4);
    assert.equal(readAuditShipState(d.dir).spools[s.file]?.seq, 0);
    assert.match(auditBacklog(d.dir, d.sessions, d.enrolment).lastError?.message ?? '', /503/);

    mode = 'hang';
    const hung = await ship(through(d, proxy.url), { deadlineMs: 500 });
    assert.equal(hung.kind, 'unreachable', 'the pass ends by its deadline');
    assert.equal(readAuditShipState(d.dir).spools[s.file]?.seq, 0);

    mode = 'forward';
    assert.equal(shipped(await ship(through(d, proxy.url))).stored, 4);
    assert.deepEqual(seqs(await stored(d.cp, s.id)), upTo(4));
    assert.equal(
      auditBacklog(d.dir, d.sessions, d.enrolment).lastError,
      undefined,
      'a success clears the error',
    );
  });
});

describe('perimeter agent ships audit events', () => {
  it('backs off while the server is down and catches up when it is back', async (t) => {
    const cp = await startControlPlane(t);
    await publish(
      cp,
      'baseline',
      policy('baseline', 'network:\n  allow:\n    - { id: docs, hosts: [docs.example.com] }\n'),
    );
    const d = await managedDevice(t, cp);
    const agent = spawnCli(t, ['agent', '--ship-interval', '1'], { XDG_STATE_HOME: d.state });
    await waitForOutput(agent, /revision \d+ active/);
    const s = recordSession(d, 5, { isEnded: true });
    await waitForOutput(agent, /audit: shipped 5 events/);
    assert.deepEqual(seqs(await stored(cp, s.id)), upTo(5));

    await cp.server.close();
    const later = recordSession(d, 3, { isEnded: true });
    await waitForOutput(
      agent,
      /audit: cannot reach 127\.0\.0\.1:\d+ \(connection refused\); 3 events wait, retrying/,
    );
    await startAgain(t, cp);
    await waitForOutput(agent, /audit: shipped 3 events/, 60_000);
    assert.deepEqual(seqs(await stored(cp, later.id)), upTo(3));
    assert.equal(
      (agent.stdout.match(/audit: cannot reach/g) ?? []).length,
      1,
      `one line for the outage, not one per retry:\n${agent.stdout}`,
    );
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
  });
});
