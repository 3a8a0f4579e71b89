// Shipping a managed device's session spools to its control plane (POST /api/v1/device/events,
// docs/devices.md "Audit shipping"). Each spool in the sessions directory is read past its cursor
// (byte offset and seq, in audit-ship.json), complete lines only, and sent byte for byte in gzip'd
// batches; a cursor moves only after the server took the batch, so a crash in between sends it
// again and the server counts it as duplicates (at least once, never lost). Spools stay on disk:
// they are the device's own evidence. This module never changes a spool, and never sends a spool
// recorded while the device was not managed by this enrolment (its events name no device, or
// another one): logging in does not hand a person's earlier unmanaged sessions to the organisation.

import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Zlib from 'node:zlib';
import { takeLock, type HeldLock } from '@perimeter/audit';
import { call, errorMessage, retryAfterMs, ServerUnreachable, type Answer } from './control-plane.js';
import {
  readAuditShipState,
  writeAuditShipState,
  type AuditShipState,
  type Enrolment,
  type SpoolCursor,
} from './device-state.js';

/** node:zlib when first needed (not `import()`: see control-plane.ts), off `perimeter run`'s start-up. */
const load = createRequire(import.meta.url);

/** One batch at most: the server takes 10,000 events and 32 MiB; this leaves room and keeps a retry cheap. */
export const BATCH_LIMITS = { events: 5000, bytes: 1024 * 1024 } as const;
/**
 * The longest line sent: the server inflates an upload to 32 MiB at most, newline included. The
 * spool cuts every event to 64 KiB (MAX_EVENT_BYTES of @perimeter/audit); a longer line was
 * written before it did (redteam-31-1) and goes alone, whole, and the server checks it as any
 * other: refusing it here kept every later event of its session from the server.
 */
const MAX_LINE_BYTES = 32 * 1024 * 1024 - 1;
/** What a refusal of a spool tells its user: nothing of it after the refused event leaves the device. */
const KEEP_SPOOL =
  'it and the events after it stay on this device only: keep the spool as evidence (perimeter audit verify FILE checks it)';
/** Answers a pass may take (each at least one batch): bounds a pass whatever the server says. */
const MAX_ROUNDS = 10_000;
/** A 409 that does not settle after this many rewinds in one pass is the server's fault. */
const MAX_REWINDS = 3;
/** No single call waits longer than this, whatever the pass's deadline. */
const CALL_TIMEOUT_MS = 30_000;
const LOCK = 'audit-ship.lock';

export interface ShipOptions {
  /** The device directory: the cursors and the lock. */
  readonly dir: string;
  /** Where the sessions' spools are (sessionsDir()). */
  readonly sessions: string;
  readonly enrolment: Enrolment;
  /** The whole pass ends within this. */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  /** A spool's file name to ship before the others (the session that just ended). */
  readonly first?: string;
  /** Batch limits (tests make them small). */
  readonly limits?: { readonly events: number; readonly bytes: number };
  readonly now?: () => number;
}

/** A spool that is never sent again, and why. */
export interface RefusedSpool {
  readonly file: string;
  readonly chainId?: string;
  readonly refused: NonNullable<SpoolCursor['refused']>;
}

interface Tally {
  /** Events the server stored in this pass. */
  readonly stored: number;
  /** Events the server already held (sent again after a crash or a rewind). */
  readonly duplicates: number;
  /** Spools refused in this pass. */
  readonly refused: readonly RefusedSpool[];
  /** Complete events still unsent after the pass. */
  readonly waiting: number;
}

export type ShipOutcome =
  | ({ readonly kind: 'shipped' } & Tally)
  /** The server could not be reached, or failed (5xx): try again later, backing off. */
  | ({ readonly kind: 'unreachable'; readonly message: string; readonly retryAfterMs?: number } & Tally)
  /** Another process (the agent) is shipping right now. */
  | { readonly kind: 'busy' }
  /** The server refused this device's credential (revoked). */
  | { readonly kind: 'rejected'; readonly message: string };

/** One spool's share of a batch: complete lines, each one event of its chain in order. */
interface Part {
  /** The spool's file name in the sessions directory. */
  readonly file: string;
  readonly chainId: string;
  readonly firstSeq: number;
  readonly lines: readonly Buffer[];
  /** The offset just past the last line. */
  readonly end: number;
  readonly isEnded: boolean;
}

/** What reading a spool past its cursor found. */
type Read =
  | { readonly kind: 'lines'; readonly part: Part; readonly cursor: SpoolCursor }
  | { readonly kind: 'nothing' }
  | { readonly kind: 'foreign' }
  | { readonly kind: 'damaged'; readonly seq: number; readonly message: string; readonly by?: 'server' };

/** The fields of an event the shipper reads; the server checks the rest. */
interface EventHead {
  readonly type?: unknown;
  readonly org?: unknown;
  readonly device?: { readonly id?: unknown };
  readonly integrity?: { readonly chain_id?: unknown; readonly seq?: unknown };
}

function parseHead(line: Buffer): EventHead | undefined {
  try {
    const value = JSON.parse(line.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Reads `length` bytes of the file from `offset` (fewer at its end). */
function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The complete lines from `offset`: at most `events`, and `bytes` unless the first line alone is longer. */
function completeLines(
  path: string,
  offset: number,
  size: number,
  limits: { readonly events: number; readonly bytes: number },
): { lines: Buffer[]; end: number } | 'oversized' {
  let window = readAt(path, offset, Math.min(size - offset, limits.bytes));
  if (!window.includes(0x0a)) {
    // One line longer than the byte budget: it goes alone, if it is an event at all.
    window = readAt(path, offset, Math.min(size - offset, MAX_LINE_BYTES + 1));
    if (!window.includes(0x0a))
      return size - offset > MAX_LINE_BYTES ? 'oversized' : { lines: [], end: offset };
  }
  const lines: Buffer[] = [];
  let at = 0;
  while (lines.length < limits.events) {
    const nl = window.indexOf(0x0a, at);
    if (nl < 0) break;
    lines.push(window.subarray(at, nl));
    at = nl + 1;
  }
  return { lines, end: offset + at };
}

/**
 * Reads a spool past its cursor, checking that each line is the next event of the spool's chain:
 * a line that is not (damage, an edit) stops the read there, and one at the cursor refuses the
 * spool, so a damaged spool never blocks the others.
 */
function readSpool(
  sessions: string,
  file: string,
  cursor: SpoolCursor | undefined,
  enrolment: Enrolment,
  limits: { readonly events: number; readonly bytes: number },
): Read {
  const path = join(sessions, file);
  const at: SpoolCursor = cursor ?? { offset: 0, seq: 0, shipped: 0 };
  const size = statSync(path).size;
  if (size < at.offset)
    return {
      kind: 'damaged',
      seq: at.seq,
      message: `the spool is shorter than what was already shipped from it (${size} < ${at.offset} bytes): it was cut or replaced`,
    };
  if (size === at.offset) return { kind: 'nothing' };
  const read = completeLines(path, at.offset, size, limits);
  if (read === 'oversized')
    return {
      kind: 'damaged',
      seq: at.seq,
      message: `event ${at.seq} is longer than the server takes (32 MiB): ${KEEP_SPOOL}`,
    };
  const stop = at.refusedFrom;
  if (stop !== undefined && at.seq >= stop.seq)
    return { kind: 'damaged', seq: stop.seq, by: 'server', message: stop.message };
  let chainId = at.chainId;
  let isEnded = false;
  let end = at.offset;
  const lines: Buffer[] = [];
  for (const line of read.lines) {
    const seq = at.seq + lines.length;
    if (stop !== undefined && seq >= stop.seq) break; // what comes before the refusal ships
    const head = parseHead(line);
    if (chainId === undefined && head !== undefined) {
      // The spool's first event says whether this enrolment recorded it.
      if (head.device?.id !== enrolment.device.id || head.org !== enrolment.org.id)
        return { kind: 'foreign' };
      if (typeof head.integrity?.chain_id === 'string') chainId = head.integrity.chain_id;
    }
    if (
      head === undefined ||
      head.integrity?.chain_id !== chainId ||
      head.integrity?.seq !== seq ||
      chainId === undefined
    ) {
      if (lines.length > 0) break; // ship what comes before it; the next read stops here
      return {
        kind: 'damaged',
        seq,
        message:
          head === undefined
            ? `the line of event ${seq} is not JSON`
            : `the line of event ${seq} is not event ${seq} of chain ${chainId ?? '(unknown)'}`,
      };
    }
    lines.push(line);
    end += line.length + 1;
    isEnded = head.type === 'session.end';
  }
  if (lines.length === 0 || chainId === undefined) return { kind: 'nothing' };
  return {
    kind: 'lines',
    cursor: { ...at, chainId },
    part: { file, chainId, firstSeq: at.seq, lines, end, isEnded },
  };
}

/** The byte offset where event `seq` of a spool starts (line `seq`: seq is gap-free from 0), or its last whole line's end. */
function offsetOf(path: string, seq: number): { offset: number; seq: number } {
  const text = readFileSync(path);
  let offset = 0;
  let n = 0;
  while (n < seq) {
    const nl = text.indexOf(0x0a, offset);
    if (nl < 0) break;
    offset = nl + 1;
    n++;
  }
  return { offset, seq: n };
}

/** Complete lines of the file past `offset`. */
function linesAfter(path: string, offset: number): number {
  let count = 0;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1024 * 1024);
    for (let at = offset; ;) {
      const n = readSync(fd, buf, 0, buf.length, at);
      if (n === 0) break;
      for (let i = buf.indexOf(0x0a); i >= 0 && i < n; i = buf.indexOf(0x0a, i + 1)) count++;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return count;
}

function spoolFiles(sessions: string): string[] {
  try {
    return readdirSync(sessions, { withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.jsonl'))
      .map((d) => d.name)
      .sort(); // session ids are UUIDv7: oldest session first
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Spools that may still have something to send (not ended, refused or foreign). */
const isOpen = (c: SpoolCursor | undefined): boolean =>
  c === undefined || (!c.isEnded && !c.isForeign && c.refused === undefined);

/** The server's heads, from a 200 or a 409. */
function chainsOf(answer: Answer): Map<string, number> {
  const heads = new Map<string, number>();
  try {
    const body = JSON.parse(answer.text) as { chains?: { chain_id?: unknown; next_seq?: unknown }[] };
    for (const c of body.chains ?? [])
      if (typeof c.chain_id === 'string' && typeof c.next_seq === 'number' && Number.isInteger(c.next_seq))
        heads.set(c.chain_id, c.next_seq);
  } catch {
    // no heads: the caller treats the answer as a failure
  }
  return heads;
}

function numberField(answer: Answer, name: string): number {
  try {
    const value = (JSON.parse(answer.text) as Record<string, unknown>)[name];
    return typeof value === 'number' ? value : 0;
  } catch {
    return 0;
  }
}

/**
 * Takes the shipping lock (one shipper per device at a time: the agent, or a session that just
 * ended), a process lock of @perimeter/audit held for the pass; undefined when a live process (this
 * one included) holds it. A lock whose process is gone is taken over, by exactly one of those
 * that find it. Throws when the lock cannot be made at all (the caller reports the state
 * directory's trouble).
 */
function lock(dir: string): HeldLock | undefined {
  const taken = takeLock(join(dir, LOCK));
  switch (taken.kind) {
    case 'taken':
      return taken.lock;
    case 'held':
      return undefined;
    case 'unusable':
      throw new Error(`cannot take the audit shipping lock ${taken.file} (${taken.code})`);
    case 'unsettled':
      throw new Error(
        `the audit shipping lock ${taken.file} kept changing; if no perimeter ships, remove it`,
      );
  }
}

/**
 * One shipping pass: batches until every spool is shipped up to its last complete line, the
 * deadline passes, or the server cannot take more now. Never throws for the server's answers.
 */
export async function shipAudit(options: ShipOptions): Promise<ShipOutcome> {
  const { dir, sessions, enrolment } = options;
  const now = options.now ?? Date.now;
  const deadline = Date.now() + options.deadlineMs;
  const held = lock(dir);
  if (held === undefined) return { kind: 'busy' };
  try {
    let state = readAuditShipState(dir);
    const files = spoolFiles(sessions);
    // Cursors of spools that are gone are dropped: nothing is left to ship from them.
    const present = new Set(files);
    const spools: Record<string, SpoolCursor> = Object.fromEntries(
      Object.entries(state.spools).filter(([name]) => present.has(name)),
    );
    const save = (change: Partial<AuditShipState> = {}): void => {
      state = { ...state, ...change, spools: { ...spools } };
      writeAuditShipState(dir, state);
    };
    const newlyRefused: RefusedSpool[] = [];
    const refuse = (file: string, seq: number, by: 'server' | 'device', message: string): void => {
      const cursor = spools[file] ?? { offset: 0, seq: 0, shipped: 0 };
      const refused = { seq, by, message, at: new Date(now()).toISOString() };
      spools[file] = { ...cursor, refused };
      newlyRefused.push({ file, ...(cursor.chainId ? { chainId: cursor.chainId } : {}), refused });
    };
    const order =
      options.first !== undefined && present.has(options.first)
        ? [options.first, ...files.filter((f) => f !== options.first)]
        : files;
    let limits = options.limits ?? BATCH_LIMITS;
    let stored = 0;
    let duplicates = 0;
    let rewinds = 0;
    const tally = (): Tally => ({
      stored,
      duplicates,
      refused: newlyRefused,
      waiting: waitingIn(sessions, order, spools, enrolment),
    });
    const failed = (message: string, retryAfter?: number): ShipOutcome => {
      save({ lastError: { message, at: new Date(now()).toISOString() } });
      return {
        kind: 'unreachable',
        message,
        ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
        ...tally(),
      };
    };

    for (let round = 0; round < MAX_ROUNDS; round++) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      // The batch: each open spool's next lines, oldest session first, within the limits.
      const parts: Part[] = [];
      let events = 0;
      let bytes = 0;
      for (const file of order) {
        if (events >= limits.events || bytes >= limits.bytes) break;
        if (!isOpen(spools[file])) continue;
        const read = readSpool(sessions, file, spools[file], enrolment, {
          events: limits.events - events,
          // Past the first part, a spool's next line must fit what is left of the budget.
          bytes: parts.length === 0 ? limits.bytes : limits.bytes - bytes,
        });
        if (read.kind === 'foreign') spools[file] = { offset: 0, seq: 0, shipped: 0, isForeign: true };
        else if (read.kind === 'damaged') refuse(file, read.seq, read.by ?? 'device', read.message);
        else if (read.kind === 'lines') {
          const lineBytes = read.part.lines.reduce((n, l) => n + l.length + 1, 0);
          if (parts.length > 0 && bytes + lineBytes > limits.bytes) break;
          spools[file] = read.cursor;
          parts.push(read.part);
          events += read.part.lines.length;
          bytes += lineBytes;
        }
      }
      if (parts.length === 0) break;

      const body = Buffer.concat(parts.flatMap((p) => p.lines.flatMap((l) => [l, Buffer.from('\n')])));
      const gzipped = (load('node:zlib') as typeof Zlib).gzipSync(body);
      let answer: Answer;
      try {
        answer = await call(`${enrolment.server}/api/v1/device/events`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${enrolment.credential}`,
            'content-type': 'application/x-ndjson',
            'content-encoding': 'gzip',
          },
          body: gzipped,
          timeoutMs: Math.min(left, CALL_TIMEOUT_MS),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (e) {
        if (!(e instanceof ServerUnreachable)) throw e;
        return failed(e.message);
      }
      const at = new Date(now()).toISOString();
      switch (answer.status) {
        case 200: {
          for (const p of parts) {
            const cursor = spools[p.file] ?? { offset: 0, seq: 0, shipped: 0 };
            spools[p.file] = {
              ...cursor,
              chainId: p.chainId,
              offset: p.end,
              seq: p.firstSeq + p.lines.length,
              shipped: cursor.shipped + p.lines.length,
              ...(p.isEnded ? { isEnded: true } : {}),
            };
          }
          stored += numberField(answer, 'stored');
          duplicates += numberField(answer, 'duplicates');
          const { lastError: _, ...rest } = state;
          state = rest;
          save({ lastShippedAt: at });
          break;
        }
        case 409: {
          // The server holds a chain up to another point (it lost events, or this device's
          // cursors are not its own): each chain goes on from where the server stands.
          const heads = chainsOf(answer);
          if (++rewinds > MAX_REWINDS || !parts.some((p) => heads.has(p.chainId)))
            return failed(
              `the server keeps refusing where this device's chains stand (${errorMessage(answer)})`,
            );
          for (const p of parts) {
            const next = heads.get(p.chainId);
            const cursor = spools[p.file];
            if (next === undefined || !cursor) continue;
            const moved = offsetOf(join(sessions, p.file), next);
            spools[p.file] = { ...cursor, offset: moved.offset, seq: moved.seq };
          }
          save();
          break;
        }
        case 422: {
          // A refused chain is never sent again; the others go on.
          let refusal: { chain_id?: unknown; seq?: unknown } = {};
          try {
            refusal = JSON.parse(answer.text) as typeof refusal;
          } catch {
            // handled below: no chain named
          }
          const part = parts.find((p) => p.chainId === refusal.chain_id);
          if (!part)
            return failed(`the server refused a batch without naming the chain (${errorMessage(answer)})`);
          const seq = typeof refusal.seq === 'number' ? refusal.seq : part.firstSeq;
          const cursor = spools[part.file];
          if (cursor && seq > part.firstSeq && seq < part.firstSeq + part.lines.length)
            // The events before the refused one were sound: the next batches ship them first.
            spools[part.file] = { ...cursor, refusedFrom: { seq, message: errorMessage(answer) } };
          else refuse(part.file, seq, 'server', errorMessage(answer));
          save();
          break;
        }
        case 400:
        case 413: {
          // Too large, or a line the server cannot read: halve until the culprit is alone, then
          // refuse its spool (it would block every batch after it).
          if (events > 1) {
            limits = {
              events: Math.max(1, Math.floor(events / 2)),
              bytes: Math.max(1, Math.floor(bytes / 2)),
            };
            break;
          }
          const only = parts[0] as Part;
          refuse(
            only.file,
            only.firstSeq,
            'server',
            answer.status === 413
              ? `the server takes no event this large (event ${only.firstSeq}, ${only.lines[0]?.length ?? 0} bytes): ${KEEP_SPOOL}`
              : `the server cannot read event ${only.firstSeq} (${errorMessage(answer)})`,
          );
          save();
          break;
        }
        case 401:
        case 403: {
          const message = `the server refused this device's credential (${errorMessage(answer)})`;
          save({ lastError: { message, at } });
          return { kind: 'rejected', message };
        }
        default:
          return failed(
            `the server answered ${answer.status} (${errorMessage(answer)})`,
            retryAfterMs(answer),
          );
      }
    }
    save();
    return { kind: 'shipped', ...tally() };
  } finally {
    held.release();
  }
}

/** Complete events not yet shipped from the open spools (a spool not yet read counts if this enrolment recorded it). */
function waitingIn(
  sessions: string,
  files: readonly string[],
  spools: Readonly<Record<string, SpoolCursor>>,
  enrolment: Enrolment,
): number {
  let waiting = 0;
  for (const file of files) {
    const cursor = spools[file];
    if (!isOpen(cursor)) continue;
    try {
      if (cursor === undefined) {
        const first = readSpool(sessions, file, undefined, enrolment, {
          events: 1,
          bytes: BATCH_LIMITS.bytes,
        });
        if (first.kind === 'foreign' || first.kind === 'damaged') continue;
      }
      const after = linesAfter(join(sessions, file), cursor?.offset ?? 0);
      // Past a refusal nothing will be sent.
      waiting += cursor?.refusedFrom
        ? Math.min(after, Math.max(0, cursor.refusedFrom.seq - cursor.seq))
        : after;
    } catch {
      // gone meanwhile
    }
  }
  return waiting;
}

export interface AuditBacklog {
  /** Complete events recorded on this device and not yet shipped. */
  readonly waiting: number;
  readonly lastShippedAt?: string;
  readonly lastError?: { readonly message: string; readonly at: string };
  readonly refused: readonly RefusedSpool[];
}

/** Where shipping stands, from the device's state and spools alone (no server asked). */
export function auditBacklog(dir: string, sessions: string, enrolment: Enrolment): AuditBacklog {
  const state = readAuditShipState(dir);
  const files = spoolFiles(sessions);
  const refused: RefusedSpool[] = [];
  for (const file of files) {
    const c = state.spools[file];
    if (c?.refused) refused.push({ file, ...(c.chainId ? { chainId: c.chainId } : {}), refused: c.refused });
  }
  return {
    waiting: waitingIn(sessions, files, state.spools, enrolment),
    ...(state.lastShippedAt !== undefined ? { lastShippedAt: state.lastShippedAt } : {}),
    ...(state.lastError !== undefined ? { lastError: state.lastError } : {}),
    refused,
  };
}
