// A device's upload of audit events (docs/server.md "Audit from devices"): the ndjson read line by
// line, and each event checked on its own, before any storage is asked: it must be an AuditEvent,
// its hash must be the hash of what it says, and its time must be one the server can file. Where
// each event stands in its chain is store/device-chains.ts's to judge. Pure.

import { AuditEvent, hashOf } from '@perimeter/audit';
import { ApiError } from './http/api-error.js';

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

/** One line of an upload. */
export interface ReceivedEvent {
  /** The line number in the upload, from 1. */
  readonly line: number;
  /** The line as sent: what is stored. */
  readonly text: string;
  /** The chain as the device names it (its session id). */
  readonly chainId: string;
  readonly seq: number;
  /** The event, when it stands on its own; otherwise why it does not (and so its chain is refused). */
  readonly check: { readonly event: AuditEvent; readonly time: number } | { readonly problem: string };
}

const invalid = (message: string): ApiError =>
  new ApiError(400, 'invalid-body', message, 'send one sealed audit event per line, as the spool holds them');

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** Why an event cannot be stored whatever its chain holds, or undefined when it can. */
function problemOf(input: Record<string, unknown>, now: number): ReceivedEvent['check'] {
  const parsed = AuditEvent.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      problem: `it is not a valid audit event (${issue ? `${issue.path.join('.') || 'event'}: ${issue.message}` : 'schema'})`,
    };
  }
  const event = parsed.data;
  if (hashOf(event) !== event.integrity.hash)
    return { problem: 'its hash is not the hash of its content (it was changed after it was sealed)' };
  const time = Date.parse(event.time);
  if (!Number.isFinite(time)) return { problem: `its time "${event.time}" is not an ISO 8601 time` };
  if (time < now - TIME_WINDOW.pastMs || time > now + TIME_WINDOW.futureMs)
    return {
      problem: `its time ${event.time} is more than ten years before or seven days after the server's clock`,
    };
  return { event, time };
}

/**
 * The events of an upload, in order. A body that is not UTF-8, a line that is not JSON, or an event
 * that does not even say its chain and place in it is a 400; too many events is a 413.
 */
export function readBatch(upload: Buffer, now: number): ReceivedEvent[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(upload);
  } catch {
    throw invalid('the body is not UTF-8 text');
  }
  const lines = text.split('\n');
  const count = lines.length <= MAX_BATCH_EVENTS ? lines.length : lines.filter((l) => l.trim() !== '').length;
  if (count > MAX_BATCH_EVENTS)
    throw new ApiError(
      413,
      'payload-too-large',
      `the body holds more than ${MAX_BATCH_EVENTS} events`,
      'send at most 10,000 events at a time (halve the batch)',
    );
  const out: ReceivedEvent[] = [];
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw invalid(`line ${i + 1} is not JSON`);
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
      throw invalid(`line ${i + 1} is not a sealed audit event: it has no integrity.chain_id and seq`);
    const check: ReceivedEvent['check'] =
      chainId === '' || chainId.length > MAX_CHAIN_ID
        ? { problem: `its chain id is empty or longer than ${MAX_CHAIN_ID} characters` }
        : problemOf(value, now);
    out.push({ line: i + 1, text: line, chainId, seq, check });
  }
  return out;
}
