// A managed device for the audit shipping and query tests: enrolled with a real control plane
// (control-plane-harness.ts), its state in a temporary XDG_STATE_HOME, and session spools written
// as `perimeter run` on it writes them (each event naming the device), shipped with shipAudit.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  auditEventSchema,
  type AuditEvent,
  Spool,
  lifecycleRecord,
  uuid7,
  type AuditRecord,
} from '@perimeter/audit';
import { startServer } from '@perimeter/server';
import { shipAudit, type ShipOptions, type ShipOutcome } from '../src/device/audit-ship.js';
import type { Enrolment } from '../src/device/device-state.js';
import { tempDir } from './cli-harness.js';
import { addUser, enrol, startControlPlane, type ControlPlane } from './control-plane-harness.js';

export interface Device {
  readonly cp: ControlPlane;
  /** Its XDG_STATE_HOME: the device's state is in perimeter/device, its spools in perimeter/sessions. */
  readonly state: string;
  readonly dir: string;
  readonly sessions: string;
  readonly enrolment: Enrolment;
}

/** A device of a new user (`email`, or a fresh one) enrolled with `cp` (or a new control plane). */
export async function managedDevice(t: TestContext, cp?: ControlPlane, email?: string): Promise<Device> {
  const plane = cp ?? (await startControlPlane(t));
  const user = await addUser(plane, email ?? `alice-${uuid7().slice(-6)}@example.com`);
  const state = tempDir(t);
  const dir = join(state, 'perimeter', 'device');
  const enrolment = await enrol(plane, user, dir);
  return { cp: plane, state, dir, sessions: join(state, 'perimeter', 'sessions'), enrolment };
}

/**
 * Starts `cp`'s server again after it was closed, on the same address with the same data (a server
 * that was down and is back); it is closed when the test ends.
 */
export async function startAgain(t: TestContext, cp: ControlPlane): Promise<void> {
  const back = await startServer({
    dataDir: cp.dataDir,
    listen: { host: '127.0.0.1', port: Number(new URL(cp.url).port) },
    log: { log: () => undefined },
    shutdownGraceMs: 1000,
    devices: { pollIntervalS: 1 },
  });
  t.after(() => back.close());
}

export interface Session {
  readonly id: string;
  /** The spool's file name in the sessions directory. */
  readonly file: string;
  readonly path: string;
}

/**
 * A session spool as `perimeter run` on this device writes it: `n` events naming the organisation,
 * user and device (the last one session.end when `isEnded`; `event(i)` adds to the i-th); with
 * `isManaged: false`, as an unmanaged run writes it. It appears in the sessions directory whole
 * (written beside it under a name the agent does not read, then renamed), so an agent running
 * meanwhile ships all `n` events in one pass, never the first few.
 */
export function recordSession(
  d: Device,
  n: number,
  options: { isEnded?: boolean; isManaged?: boolean; event?: (i: number) => Partial<AuditRecord> } = {},
): Session {
  const id = uuid7();
  const file = `${id}.jsonl`;
  const path = join(d.sessions, file);
  const writing = `${path}.partial`;
  mkdirSync(d.sessions, { recursive: true });
  const spool = Spool.open(writing, { chainId: id, isDurable: false });
  const e = d.enrolment;
  const isManaged = options.isManaged ?? true;
  const ctx = {
    sessionId: id,
    ...(isManaged ? { org: e.org.id, user: { id: e.user.id, email: e.user.email } } : {}),
  };
  // A millisecond apart: the server orders events by time, and UUIDv7s of one millisecond by chance.
  const start = Date.now() - n;
  for (let i = 0; i < n; i++)
    spool.append({
      ...lifecycleRecord(
        i === n - 1 && options.isEnded ? 'session.end' : 'session.step',
        { ...ctx, now: start + i },
        { step: i },
      ),
      ...(isManaged ? { device: { id: e.device.id, hostname: 'test-host', os: 'Linux 6' } } : {}),
      ...options.event?.(i),
    });
  spool.close();
  renameSync(writing, path);
  return { id, file, path };
}

export const ship = (d: Device, options: Partial<ShipOptions> = {}): Promise<ShipOutcome> =>
  shipAudit({ dir: d.dir, sessions: d.sessions, enrolment: d.enrolment, deadlineMs: 20_000, ...options });

/** The outcome of a pass that shipped (fails the test otherwise). */
export function shipped(outcome: ShipOutcome): Extract<ShipOutcome, { kind: 'shipped' }> {
  assert.equal(outcome.kind, 'shipped', JSON.stringify(outcome));
  return outcome;
}

/** The events the server holds of one session, in chain order. */
export async function stored(cp: ControlPlane, session: string): Promise<AuditEvent[]> {
  const r = await cp.api<{ events: unknown[] }>('GET', `${cp.base}/events?session=${session}&limit=1000`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events
    .map((e) => auditEventSchema().parse(e))
    .sort((a, b) => a.integrity.seq - b.integrity.seq);
}

export const seqs = (events: readonly AuditEvent[]): number[] => events.map((e) => e.integrity.seq);
export const upTo = (n: number): number[] => [...Array(n).keys()];
export const spoolLines = (path: string): string[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
