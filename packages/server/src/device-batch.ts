// A device's upload of audit events (docs/server.md "Audit from devices"): the ndjson split into
// lines, and each line checked on its own, before any storage is asked: it must be JSON naming its
// chain and seq, an AuditEvent whose hash is the hash of what it says, with a time the server can
// file. Where each event stands in its chain is store/device-chains.ts's to judge. Pure: the
// checks of a large upload run on worker threads (batch-checking.ts), so what they answer is data.

import { isUtf8 } from 'node:buffer';
import { auditEventSchema, hashOf, type AuditEvent } from '@perimeter/audit';
import type { z } from 'zod';
import { ApiError } from './http/api-error.js';
import { quoted, quotedPath, someKeys } from './quoting.js';

/** The most events in one upload: a device sends more in several. */
export const MAX_BATCH_EVENTS = 10_000;

/** The longest chain id a device may name (its session id). */
const MAX_CHAIN_ID = 200;

/**
 * How far from the server's clock an event's time may be. A device clock some days ahead is
 * tolerated; beyond that, and more than ten years back, a time is refused: every month an event
 * names gets a partition of its own on PostgreSQL, and a device must not make thousands of them.
 */
export const TIME_WINDOW = { pastMs: 3653 * 86_400_000, futureMs: 7 * 86_400_000 } as const;

/** What storage needs of an event that stands on its own. */
export interface CheckedEvent {
  readonly id: string;
  readonly time: number;
  readonly category: string;
  readonly type: string;
  readonly sessionId: string | undefined;
  readonly surface: string | undefined;
  readonly decision: string | undefined;
  readonly prevHash: string;
  readonly hash: string;
}

/** One line, checked: an event (sound, or why not), or a line that is no sealed event at all. */
export type LineCheck =
  | {
      readonly kind: 'event';
      /** The chain as the device names it (its session id). */
      readonly chainId: string;
      readonly seq: number;
      readonly check: CheckedEvent | { readonly problem: string };
    }
  | { readonly kind: 'unreadable'; readonly why: 'not JSON' | 'no chain' };

/** One event of an upload, in order. */
export interface ReceivedEvent {
  /** The line as sent: what is stored. */
  readonly text: string;
  readonly chainId: string;
  readonly seq: number;
  /** The event, when it stands on its own; otherwise why it does not (and so its chain is refused). */
  readonly check: CheckedEvent | { readonly problem: string };
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A schema issue: where (its path) and why. What the device wrote (a key, an outcome's key) is
 * quoted as every error quotes a client (quoting.ts): the problem is the 422's message, the
 * refusal event's reason and whatever logs them, and a device chooses how long its keys are.
 */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = quotedPath(issue.path) || 'event';
  // zod's own words, which quote nothing of the event.
  if (issue.code !== 'unrecognized_keys') return `${where}: ${issue.message}`;
  return `${where}: Unrecognized key${issue.keys.length === 1 ? '' : 's'}: ${someKeys(issue.keys, (k) => `"${quoted(k)}"`)}`;
}

function checkEvent(input: Record<string, unknown>, now: number): CheckedEvent | { problem: string } {
  const parsed = auditEventSchema().safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `it is not a valid audit event (${issue ? describeIssue(issue) : 'schema'})` };
  }
  const event = parsed.data;
  // Over the event as sent, not the schema's copy of it (which drops an own "__proto__" key).
  if (hashOf(input as AuditEvent) !== event.integrity.hash)
    return { problem: 'its hash is not the hash of its content (it was changed after it was sealed)' };
  const time = Date.parse(event.time);
  if (!Number.isFinite(time)) return { problem: `its time "${quoted(event.time)}" is not an ISO 8601 time` };
  if (time < now - TIME_WINDOW.pastMs || time > now + TIME_WINDOW.futureMs)
    return {
      problem: `its time "${quoted(event.time)}" is more than ten years before or seven days after the server's clock`,
    };
  return {
    id: event.event_id,
    time,
    category: event.category,
    type: event.type,
    sessionId: event.session?.id,
    surface: event.request?.surface,
    decision: event.decision,
    prevHash: event.integrity.prev_hash,
    hash: event.integrity.hash,
  };
}

/** Checks one line (not blank) on its own. */
export function checkLine(line: string, now: number): LineCheck {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'unreadable', why: 'not JSON' };
  }
  const integrity = isRecord(value) ? value.integrity : undefined;
  const chainId = isRecord(integrity) ? integrity.chain_id : undefined;
  const seq = isRecord(integrity) ? integrity.seq : undefined;
  if (
    !isRecord(value) ||
    typeof chainId !== 'string' ||
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq)
  )
    return { kind: 'unreadable', why: 'no chain' };
  const check =
    chainId === '' || chainId.length > MAX_CHAIN_ID
      ? { problem: `its chain id is empty or longer than ${MAX_CHAIN_ID} characters` }
      : checkEvent(value, now);
  return { kind: 'event', chainId, seq, check };
}

/** A UTF-8 byte order mark, which a decoder drops. */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * The lines of an upload that are not blank, with their line numbers; 400 if not UTF-8, 413 if
 * too many. Each line is decoded on its own, from the bytes between newlines (a newline byte is
 * never inside a character): decoding the whole upload into one string and splitting that took
 * twice as long, and made a string of the whole upload for the collector.
 */
export function splitUpload(upload: Buffer): { lines: string[]; numbers: number[] } {
  if (!isUtf8(upload))
    throw new ApiError(
      400,
      'invalid-body',
      'the body is not UTF-8 text',
      'send one sealed audit event per line, as the spool holds them',
    );
  const lines: string[] = [];
  const numbers: number[] = [];
  let number = 0;
  for (let at = upload.subarray(0, 3).equals(BOM) ? 3 : 0; at < upload.length;) {
    const newline = upload.indexOf(0x0a, at);
    const end = newline === -1 ? upload.length : newline;
    number += 1;
    const line = upload.toString('utf8', at, end > at && upload[end - 1] === 0x0d ? end - 1 : end);
    at = end + 1;
    if (line.trim() === '') continue;
    if (lines.length === MAX_BATCH_EVENTS)
      throw new ApiError(
        413,
        'payload-too-large',
        `the body holds more than ${MAX_BATCH_EVENTS} events`,
        'send at most 10,000 events at a time (halve the batch)',
      );
    lines.push(line);
    numbers.push(number);
  }
  return { lines, numbers };
}

/** The events of an upload from its lines' checks; the first line that is no sealed event is a 400. */
export function assembleBatch(
  split: { readonly lines: readonly string[]; readonly numbers: readonly number[] },
  checks: readonly LineCheck[],
): ReceivedEvent[] {
  const out: ReceivedEvent[] = [];
  for (const [i, c] of checks.entries()) {
    if (c.kind === 'unreadable')
      throw new ApiError(
        400,
        'invalid-body',
        c.why === 'not JSON'
          ? `line ${split.numbers[i] ?? 0} is not JSON`
          : `line ${split.numbers[i] ?? 0} is not a sealed audit event: it has no integrity.chain_id and seq`,
        'send one sealed audit event per line, as the spool holds them',
      );
    out.push({ text: split.lines[i] ?? '', chainId: c.chainId, seq: c.seq, check: c.check });
  }
  return out;
}
