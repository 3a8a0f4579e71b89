// Keeping a device's bundle current: one sync asks the server for the device's bundle with the
// ETag it last saw (a long poll: the server holds the request until something changes, then
// answers), verifies and activates what comes, learns a rotated key through its endorsement, and
// reports the outcome; the agent loop repeats it, backing off with jitter while the server is
// down. `perimeter run` makes one short sync before a session.

import type { KeySet } from '@perimeter/server';
import { offerBundle, type Active, type ActivationRefusal } from './active-bundle.js';
import { adoptEndorsedKeys } from './bundle-verify.js';
import { call, errorMessage, retryAfterMs, ServerUnreachable } from './control-plane.js';
import {
  readSyncState,
  readTrustedKeys,
  writeSyncState,
  writeTrustedKeys,
  type Enrolment,
  type SyncState,
} from './device-state.js';

export type SyncOutcome =
  | { readonly kind: 'activated'; readonly active: Active }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'refused'; readonly refusal: ActivationRefusal }
  /** The server could not be reached or failed; `retryAfterMs` when it said how long to wait. */
  | { readonly kind: 'unreachable'; readonly message: string; readonly retryAfterMs?: number }
  | { readonly kind: 'rejected'; readonly message: string };

export interface SyncOptions {
  /** Seconds the server may hold the request for a change (0: answer at once). */
  readonly waitS: number;
  /** The deadline for the whole exchange. */
  readonly timeoutMs: number;
  readonly now?: () => number;
  readonly signal?: AbortSignal;
  readonly cacheDir?: string;
}

const NETWORK_CODES = new Set(['unreachable', 'server-error']);

function update(dir: string, change: (s: SyncState) => SyncState): void {
  writeSyncState(dir, change(readSyncState(dir)));
}

async function report(
  e: Enrolment,
  body: Record<string, unknown>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await call(`${e.server}/api/v1/device/activation`, {
      method: 'POST',
      headers: { authorization: `Bearer ${e.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: Math.min(timeoutMs, 5000),
      ...(signal ? { signal } : {}),
    });
  } catch {
    // A lost report is sent again with the next activation; it never blocks enforcing.
  }
}

/** Fetches the key set and trusts the keys a trusted key endorsed; true when any was new. */
async function learnKeys(
  dir: string,
  e: Enrolment,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const answer = await call(`${e.server}/api/v1/orgs/${encodeURIComponent(e.org.id)}/keys`, {
    timeoutMs: Math.min(timeoutMs, 10_000),
    ...(signal ? { signal } : {}),
  });
  if (answer.status !== 200) return false;
  let set: KeySet;
  try {
    set = JSON.parse(answer.text) as KeySet;
  } catch {
    return false;
  }
  if (!Array.isArray(set.keys)) return false;
  const { trusted, adopted } = adoptEndorsedKeys(readTrustedKeys(dir), set.keys, e.org.id);
  if (adopted.length === 0) return false;
  writeTrustedKeys(dir, trusted);
  return true;
}

export async function syncOnce(dir: string, e: Enrolment, options: SyncOptions): Promise<SyncOutcome> {
  const now = options.now ?? Date.now;
  const at = (): string => new Date(now()).toISOString();
  // Every call of this exchange (the poll, the key set, the report) ends by one deadline.
  const deadline = Date.now() + options.timeoutMs;
  const left = (): number => Math.max(0, deadline - Date.now());
  const state = readSyncState(dir);
  let answer;
  try {
    answer = await call(`${e.server}/api/v1/device/bundle?wait=${options.waitS}`, {
      headers: {
        authorization: `Bearer ${e.credential}`,
        ...(state.etag !== undefined ? { 'if-none-match': state.etag } : {}),
      },
      timeoutMs: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (!(error instanceof ServerUnreachable)) throw error;
    update(dir, (s) => ({ ...s, lastError: { code: 'unreachable', message: error.message, at: at() } }));
    return { kind: 'unreachable', message: error.message };
  }
  if (answer.status === 304) {
    update(dir, (s) => {
      const { lastError, ...rest } = s;
      // A refusal stays on record until a good bundle comes; a network error is over.
      return {
        ...rest,
        lastContactAt: at(),
        ...(lastError && !NETWORK_CODES.has(lastError.code) ? { lastError } : {}),
      };
    });
    return { kind: 'unchanged' };
  }
  if (answer.status === 401 || answer.status === 403) {
    const message = `the server refused this device's credential (${errorMessage(answer)})`;
    update(dir, (s) => ({ ...s, lastError: { code: 'credential-refused', message, at: at() } }));
    return { kind: 'rejected', message };
  }
  if (answer.status !== 200) {
    const message = `the server answered ${answer.status} (${errorMessage(answer)})`;
    update(dir, (s) => ({ ...s, lastError: { code: 'server-error', message, at: at() } }));
    const wait = retryAfterMs(answer);
    return { kind: 'unreachable', message, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  const etag = typeof answer.headers.etag === 'string' ? answer.headers.etag : undefined;
  let offered = offerBundle(dir, e, answer.text, now(), options.cacheDir);
  if (!offered.ok && offered.code === 'unknown-key') {
    // A rotation: the new key is trusted if a key this device trusts endorsed it.
    try {
      if (await learnKeys(dir, e, left(), options.signal))
        offered = offerBundle(dir, e, answer.text, now(), options.cacheDir);
    } catch (error) {
      if (!(error instanceof ServerUnreachable)) throw error;
    }
  }
  if (!offered.ok) {
    const refusal = offered;
    // A key this device cannot trust yet may be trusted once the key set can be fetched: ask again
    // (the agent backs off) rather than wait past this bundle.
    const isFinal = refusal.code !== 'unknown-key';
    update(dir, (s) => ({
      ...s,
      ...(etag !== undefined && isFinal ? { etag } : {}),
      lastContactAt: at(),
      lastError: { code: refusal.code, message: refusal.message, at: at() },
    }));
    await report(
      e,
      {
        error: { code: refusal.code, message: refusal.message.slice(0, 500) },
        ...(refusal.revision !== undefined ? { revision: refusal.revision } : {}),
      },
      left(),
      options.signal,
    );
    return { kind: 'refused', refusal };
  }
  const active = offered;
  update(dir, (s) => {
    const { lastError: _, ...rest } = s;
    return { ...rest, ...(etag !== undefined ? { etag } : {}), lastContactAt: at() };
  });
  await report(
    e,
    { revision: active.payload.revision, issuedAt: active.payload.issuedAt, activatedAt: at() },
    left(),
    options.signal,
  );
  return { kind: 'activated', active };
}

/**
 * Exponential backoff (1 s doubling to 60 s) with jitter: a random wait between half and all of
 * it, so devices that lost the server together do not come back together. Never sooner than the
 * server's Retry-After, when it gave one (an overloaded server answers 503 with it).
 */
export function backoffMs(failures: number, random: () => number = Math.random, retryAfter = 0): number {
  const ceiling = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6));
  return Math.max(retryAfter, Math.round(ceiling * (0.5 + random() / 2)));
}
