// perimeter agent: keeps a managed device's policy bundle current and ships its sessions' audit
// events. It holds a long poll to the control plane (about 55 s; the server answers at once when a
// publication, a group change or a key rotation changes this device's bundle), verifies and
// activates each new bundle, reports it, and retries with jittered backoff while the server cannot
// be reached. Next to it, every few seconds, it sends what the session spools hold past their
// cursors (audit-ship.ts), backing off the same way while the server is down. One line per change.
// SIGTERM or Ctrl-C stops it with 0; a refused credential (revoked device) stops it with 1.

import { join } from 'node:path';
import { boolFlag, parseArgs, stringFlag } from '../args.js';
import { shipAudit, type ShipOutcome } from '../device/audit-ship.js';
import { deviceDir, readEnrolment, type Enrolment } from '../device/device-state.js';
import { backoffMs, syncOnce, type SyncOutcome } from '../device/sync.js';
import { UserError } from '../errors.js';
import { stateDir } from '../secret-store.js';
import type { Ui } from '../ui.js';
import { sessionsDir } from './run.js';

/** How long the server may hold a poll: under common proxies' 60 s idle timeouts. */
const LONG_POLL_S = 55;
/** Seconds between audit shipments unless --ship-interval says otherwise. */
const SHIP_INTERVAL_S = 5;
/** The longest one shipment pass may take before the next bundle news or shutdown is heard. */
const SHIP_PASS_MS = 60_000;

function describe(outcome: SyncOutcome): string | undefined {
  switch (outcome.kind) {
    case 'activated': {
      const p = outcome.active.payload;
      return `revision ${p.revision} active (issued ${p.issuedAt}, valid until ${p.notAfter}; ${p.policies.map((x) => x.name).join(', ') || 'no policies'})`;
    }
    case 'refused':
      return `refused a bundle${outcome.refusal.revision !== undefined ? ` (revision ${outcome.refusal.revision})` : ''}: ${outcome.refusal.message}; the last good one stays`;
    case 'unreachable':
      return `${outcome.message}; retrying`;
    case 'rejected':
      return outcome.message;
    case 'unchanged':
      return undefined;
  }
}

/** The lines for what a shipment did: none when nothing changed, one for an outage (not per retry). */
function describeShipment(outcome: ShipOutcome, wasFailing: boolean): string[] {
  switch (outcome.kind) {
    case 'busy':
      return [];
    case 'rejected':
      return [outcome.message];
    case 'unreachable':
      return wasFailing ? [] : [`audit: ${outcome.message}; ${outcome.waiting} events wait, retrying`];
    case 'shipped': {
      const parts = [
        ...(outcome.stored > 0 || wasFailing
          ? [
              `audit: shipped ${outcome.stored} events${outcome.duplicates > 0 ? ` (${outcome.duplicates} the server already held)` : ''}`,
            ]
          : []),
        ...outcome.refused.map(
          (r) =>
            `audit: session spool ${r.file} is not shipped any more from event ${r.refused.seq}: ${r.refused.message}`,
        ),
      ];
      if (outcome.waiting > 0 && parts.length > 0) parts.push(`audit: ${outcome.waiting} events wait`);
      return parts;
    }
  }
}

function shipIntervalMs(text: string | undefined): number {
  if (text === undefined) return SHIP_INTERVAL_S * 1000;
  const s = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || s < 1 || s > 3600)
    throw new UserError(
      `--ship-interval ${text} is not a number of seconds from 1 to 3600`,
      'for example: perimeter agent --ship-interval 10',
    );
  return s * 1000;
}

export async function runAgent(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(argv, { once: { type: 'boolean' }, 'ship-interval': { type: 'string' } }, 'agent');
  if (p.positionals.length > 0)
    throw new UserError(
      `perimeter agent takes no arguments, but got "${p.positionals[0] ?? ''}"`,
      'run "perimeter agent --help"',
    );
  const interval = shipIntervalMs(stringFlag(p, 'ship-interval'));
  const dir = deviceDir();
  const enrolment = readEnrolment(dir);
  if (!enrolment)
    throw new UserError(
      'this device is not logged in to a control plane',
      'log in first: perimeter login --server URL',
    );
  const cacheDir = join(stateDir(), 'policy-cache');
  const say = (text: string): void => ui.out(`${new Date().toISOString()} ${text}`);

  if (boolFlag(p, 'once')) {
    const outcome = await syncOnce(dir, enrolment, { waitS: 0, timeoutMs: 15_000, cacheDir });
    say(describe(outcome) ?? 'the active bundle is current');
    const shipped = await shipAudit({ dir, sessions: sessionsDir(), enrolment, deadlineMs: SHIP_PASS_MS });
    for (const line of describeShipment(shipped, false)) say(line);
    const isShipped = shipped.kind === 'shipped' || shipped.kind === 'busy';
    return (outcome.kind === 'activated' || outcome.kind === 'unchanged') && isShipped ? 0 : 1;
  }

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  say(`following ${enrolment.server} for ${enrolment.user.email} (device ${enrolment.device.id})`);
  try {
    const [bundle, audit] = await Promise.all([
      followBundle(dir, enrolment, cacheDir, stop, say),
      shipContinuously(dir, enrolment, interval, stop, say),
    ]);
    if (bundle === 'rejected' || audit === 'rejected') {
      ui.err('perimeter: this device can no longer sync; log it in again: perimeter login --server URL');
      return 1;
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  say('stopped');
  return 0;
}

/** The bundle's long poll, until stopped or the credential is refused (which stops the agent). */
async function followBundle(
  dir: string,
  enrolment: Enrolment,
  cacheDir: string,
  stop: AbortController,
  say: (text: string) => void,
): Promise<'stopped' | 'rejected'> {
  let failures = 0;
  while (!stop.signal.aborted) {
    let outcome: SyncOutcome;
    try {
      outcome = await syncOnce(dir, enrolment, {
        waitS: LONG_POLL_S,
        timeoutMs: (LONG_POLL_S + 15) * 1000,
        signal: stop.signal,
        cacheDir,
      });
    } catch (e) {
      if (stop.signal.aborted) break;
      stop.abort();
      throw e;
    }
    if (stop.signal.aborted) break;
    const line = describe(outcome);
    if (line !== undefined) say(line);
    if (outcome.kind === 'rejected') {
      stop.abort();
      return 'rejected';
    }
    const isFailure =
      outcome.kind === 'unreachable' ||
      (outcome.kind === 'refused' && outcome.refusal.code === 'unknown-key');
    failures = isFailure ? failures + 1 : 0;
    const retryAfter = outcome.kind === 'unreachable' ? outcome.retryAfterMs : undefined;
    if (failures > 0) await sleep(backoffMs(failures, Math.random, retryAfter), stop.signal);
  }
  return 'stopped';
}

/**
 * Audit shipping: a pass every `interval`, or after a growing, jittered wait while the server
 * cannot take events (the bundle's backoff), until stopped or the credential is refused.
 */
async function shipContinuously(
  dir: string,
  enrolment: Enrolment,
  interval: number,
  stop: AbortController,
  say: (text: string) => void,
): Promise<'stopped' | 'rejected'> {
  let failures = 0;
  while (!stop.signal.aborted) {
    let outcome: ShipOutcome;
    try {
      outcome = await shipAudit({
        dir,
        sessions: sessionsDir(),
        enrolment,
        deadlineMs: SHIP_PASS_MS,
        signal: stop.signal,
      });
    } catch (e) {
      if (stop.signal.aborted) break;
      stop.abort();
      throw e;
    }
    for (const line of describeShipment(outcome, failures > 0)) say(line);
    if (outcome.kind === 'rejected') {
      stop.abort();
      return 'rejected';
    }
    failures = outcome.kind === 'unreachable' ? failures + 1 : 0;
    const retryAfter = outcome.kind === 'unreachable' ? outcome.retryAfterMs : undefined;
    await sleep(
      failures > 0 ? Math.max(interval, backoffMs(failures, Math.random, retryAfter)) : interval,
      stop.signal,
    );
  }
  return 'stopped';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
