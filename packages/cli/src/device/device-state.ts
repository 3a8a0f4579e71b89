// What a managed device keeps, in <state dir>/device (0700, hidden from every session like the
// rest of the state directory): its enrolment with the credential (`login.json`, 0600), the keys
// it trusts to sign bundles (`keys.json`), the last good bundle exactly as the server signed it
// (`bundle.jws`), how its syncing goes (`sync.json`: the revision it holds, its last contact
// with the server, its last error), and how far each session spool is shipped to the server
// (`audit-ship.json`). Every file is replaced atomically (write, fsync, rename,
// fsync the directory), so a crash leaves the old file or the new one, never half of one.

import { lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFile } from '@perimeter/audit';
import { UserError } from '../errors.js';
import { stateDir } from '../secret-store.js';
import type { Held, TrustedKey } from './bundle-verify.js';

export interface Enrolment {
  /** The control plane's URL, as given to perimeter login (no trailing slash). */
  readonly server: string;
  readonly org: { readonly id: string; readonly slug: string; readonly name: string };
  readonly user: { readonly id: string; readonly email: string };
  readonly device: { readonly id: string; readonly name: string };
  /** The device credential (pmd_…): a bearer secret. */
  readonly credential: string;
  readonly enrolledAt: string;
}

export interface SyncState {
  /** The ETag of the last bundle the server sent (even one refused): the next poll waits past it. */
  readonly etag?: string;
  /** The bundle in bundle.jws: its revision and issue time, and when it was activated. */
  readonly held?: Held & { readonly activatedAt: string };
  /** The last time the server answered (200 or 304). */
  readonly lastContactAt?: string;
  /** The last failure: a refused bundle, an unreachable server. Cleared by the next success. */
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string };
}

/** Where shipping one session spool stands. */
export interface SpoolCursor {
  /** The spool's chain (its session id), once its first event was read. */
  readonly chainId?: string;
  /** Bytes of the spool the server holds, always at the end of a line. */
  readonly offset: number;
  /** The seq of the first event past `offset`. */
  readonly seq: number;
  /** Events the server took from this device (stored or already held). */
  readonly shipped: number;
  /** Its session.end is shipped: nothing more comes. */
  readonly isEnded?: boolean;
  /** Never shipped: recorded when this device was not managed by this enrolment. */
  readonly isForeign?: boolean;
  /**
   * The server refused the chain from this seq on (422) in a batch that held events before it:
   * those are still shipped, then the spool is refused (`refused`).
   */
  readonly refusedFrom?: { readonly seq: number; readonly message: string };
  /** Never sent again: the server refused the chain, or the spool is damaged past `offset`. */
  readonly refused?: {
    readonly seq: number;
    readonly by: 'server' | 'device';
    readonly message: string;
    readonly at: string;
  };
}

export interface AuditShipState {
  /** By the spool's file name in the sessions directory. */
  readonly spools: Readonly<Record<string, SpoolCursor>>;
  /** The last time the server took a batch. */
  readonly lastShippedAt?: string;
  /** The last failure to reach the server; cleared by the next batch it takes. */
  readonly lastError?: { readonly message: string; readonly at: string };
}

/** The device's directory: <state dir>/device. */
export function deviceDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'device');
}

const FILES = {
  login: 'login.json',
  keys: 'keys.json',
  bundle: 'bundle.jws',
  sync: 'sync.json',
  auditShip: 'audit-ship.json',
} as const;

/**
 * Replaces dir/name (replaceFile of @perimeter/audit), creating the directory 0700. A failure (a
 * full disk, a read-only state directory) leaves the old file and no temporary, and is said as one
 * sentence naming the file.
 */
function writeAtomic(dir: string, name: string, text: string): void {
  const path = join(dir, name);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    replaceFile(path, text);
  } catch (e) {
    throw new UserError(
      `cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      'check the free space and the permissions of the state directory',
    );
  }
}

function readText(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(
      `cannot read ${join(dir, name)} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      'check the permissions of the state directory',
    );
  }
}

function readJson<T>(dir: string, name: string): T | undefined {
  const text = readText(dir, name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(
      `${join(dir, name)} is damaged (not JSON)`,
      name === FILES.login
        ? 'log in again: perimeter login --server URL'
        : 'remove it; the next sync rewrites it',
    );
  }
}

/**
 * The device's enrolment, or undefined when the device is not managed. A credential file others
 * can read is refused (like ssh does with a private key), never used.
 */
export function readEnrolment(dir: string): Enrolment | undefined {
  const text = readText(dir, FILES.login);
  if (text === undefined) return undefined;
  const mode = lstatSync(join(dir, FILES.login)).mode;
  if ((mode & 0o077) !== 0)
    throw new UserError(
      `${join(dir, FILES.login)} holds this device's credential but others may read it (mode ${(mode & 0o777).toString(8)})`,
      `make it private: chmod 600 ${join(dir, FILES.login)}`,
    );
  const value = readJson<Enrolment>(dir, FILES.login);
  if (
    !value ||
    typeof value.server !== 'string' ||
    typeof value.credential !== 'string' ||
    typeof value.org?.id !== 'string' ||
    typeof value.device?.id !== 'string' ||
    typeof value.user?.email !== 'string'
  )
    throw new UserError(`${join(dir, FILES.login)} is damaged`, 'log in again: perimeter login --server URL');
  return value;
}

export const writeEnrolment = (dir: string, e: Enrolment): void =>
  writeAtomic(dir, FILES.login, `${JSON.stringify(e, null, 2)}\n`);

export function readTrustedKeys(dir: string): TrustedKey[] {
  const value = readJson<{ keys?: unknown }>(dir, FILES.keys);
  if (!value || !Array.isArray(value.keys)) return [];
  return value.keys.filter(
    (k): k is TrustedKey =>
      k !== null &&
      typeof k === 'object' &&
      typeof (k as TrustedKey).kid === 'string' &&
      typeof (k as TrustedKey).x === 'string',
  );
}

export const writeTrustedKeys = (dir: string, keys: readonly TrustedKey[]): void =>
  writeAtomic(
    dir,
    FILES.keys,
    `${JSON.stringify({ keys: keys.map((k) => ({ kid: k.kid, x: k.x })) }, null, 2)}\n`,
  );

export const readActiveBundle = (dir: string): string | undefined => readText(dir, FILES.bundle);
export const writeActiveBundle = (dir: string, jws: string): void => writeAtomic(dir, FILES.bundle, jws);

export const readSyncState = (dir: string): SyncState => readJson<SyncState>(dir, FILES.sync) ?? {};
export const writeSyncState = (dir: string, s: SyncState): void =>
  writeAtomic(dir, FILES.sync, `${JSON.stringify(s, null, 2)}\n`);

export function readAuditShipState(dir: string): AuditShipState {
  const value = readJson<Partial<AuditShipState>>(dir, FILES.auditShip);
  return { ...value, spools: value?.spools ?? {} };
}
export const writeAuditShipState = (dir: string, s: AuditShipState): void =>
  writeAtomic(dir, FILES.auditShip, `${JSON.stringify(s, null, 2)}\n`);

/** Forgets the enrolment and everything that came with it (a new login replaces it). */
export function clearDevice(dir: string): void {
  for (const name of Object.values(FILES)) rmSync(join(dir, name), { force: true });
}
