// perimeter agent: keeps a managed device's policy bundle current. It holds a long poll to the
// control plane (about 55 s; the server answers at once when a publication, a group change or a
// key rotation changes this device's bundle), verifies and activates each new bundle, reports it,
// and retries with jittered backoff while the server cannot be reached. One line per change.
// SIGTERM or Ctrl-C stops it with 0; a refused credential (revoked device) stops it with 1.

import { join } from 'node:path';
import { boolFlag, parseArgs } from '../args.js';
import { deviceDir, readEnrolment } from '../device/device-state.js';
import { backoffMs, syncOnce, type SyncOutcome } from '../device/sync.js';
import { UserError } from '../errors.js';
import { stateDir } from '../secret-store.js';
import type { Ui } from '../ui.js';

/** How long the server may hold a poll: under common proxies' 60 s idle timeouts. */
const LONG_POLL_S = 55;

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

export async function runAgent(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(argv, { once: { type: 'boolean' } }, 'agent');
  if (p.positionals.length > 0)
    throw new UserError(
      `perimeter agent takes no arguments, but got "${p.positionals[0] ?? ''}"`,
      'run "perimeter agent --help"',
    );
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
    return outcome.kind === 'activated' || outcome.kind === 'unchanged' ? 0 : 1;
  }

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  say(`following ${enrolment.server} for ${enrolment.user.email} (device ${enrolment.device.id})`);
  let failures = 0;
  try {
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
        throw e;
      }
      if (stop.signal.aborted) break;
      const line = describe(outcome);
      if (line !== undefined) say(line);
      if (outcome.kind === 'rejected') {
        ui.err('perimeter: this device can no longer sync; log it in again: perimeter login --server URL');
        return 1;
      }
      const isFailure =
        outcome.kind === 'unreachable' ||
        (outcome.kind === 'refused' && outcome.refusal.code === 'unknown-key');
      failures = isFailure ? failures + 1 : 0;
      if (failures > 0) await sleep(backoffMs(failures), stop.signal);
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  say('stopped');
  return 0;
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
