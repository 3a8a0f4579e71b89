// Cutting an audit event down to size (redteam-31-1). Every producer's event goes through the
// spool, which seals it and measures the line; only a line over MAX_EVENT_BYTES is cut here and
// sealed again. Without a bound, a tool call with a 1.2 MB name, one with 30,000 argument keys
// or an upstream listing a 1.2 MB name wrote events of 1.3 to 3.6 MB, which the device's shipper
// refused, and with them the rest of the session's audit. Nothing is cut silently: a cut string
// keeps its length and a short SHA-256, a shortened list the number left out, the event a `cut`
// block; an event is never dropped. Must never change an event under the bound.

import { hash } from 'node:crypto';
import { seal, type ChainState } from './chain.js';
import type { AuditEvent, AuditRecord } from './event.js';

/**
 * The longest line an event may be, in bytes: well under the shipper's 1 MiB a line and the
 * server's 4 MiB (gzip'd) and 32 MiB an upload. Events are a few hundred bytes.
 */
export const MAX_EVENT_BYTES = 64 * 1024;

/** How far a pass cuts: strings to `text` characters, lists and records to `items` entries. */
interface Reach {
  readonly text: number;
  readonly items: number;
}

/**
 * The passes, gentlest first. 2,048 characters keeps whole what producers already cut to 2,000
 * (MCP argument values, diffs); the second pass is for many long strings at once (100 matched
 * rules of 2 KiB each), and also bounds the stand-in's fields.
 */
const GENTLE: Reach = { text: 2048, items: 100 };
const HARD: Reach = { text: 128, items: 10 };

type Cut = NonNullable<AuditRecord['cut']>;

/** What a pass cut: how many strings, and by path how many items it left out. */
interface Tally {
  strings: number;
  readonly items: Map<string, number>;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * `text` itself when at most `max` characters; else its first `max` characters and a marker with
 * its length in bytes (UTF-8) and the first 16 hex digits of its SHA-256, so whoever holds the
 * original (an upstream's listing, the agent's request) can show it was this one.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  // Half a surrogate pair is not text: the cut falls before the pair.
  const end = isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
  const digest = hash('sha256', text, 'hex').slice(0, 16);
  return `${text.slice(0, end)}…[cut: ${Buffer.byteLength(text, 'utf8')} bytes, sha256 ${digest}]`;
}

/**
 * What an event's `cut` block says, in words: `[cut: from 3200000 bytes, 2 strings shortened,
 * 29900 of request.argument_keys left out]`, or for a stand-in that only who, when and what type
 * were kept. `show` writes each path (the event's own keys: a terminal makes them printable).
 */
export function cutSummary(cut: Cut, show: (path: string) => string = (path) => path): string {
  const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;
  const parts: string[] = [];
  if (cut.bytes !== undefined) parts.push(`from ${plural(cut.bytes, 'byte')}`);
  if (cut.stand_in === true) parts.push('only who, when and what type kept');
  if (cut.strings !== undefined) parts.push(`${plural(cut.strings, 'string')} shortened`);
  for (const [path, n] of Object.entries(cut.items ?? {})) parts.push(`${n} of ${show(path)} left out`);
  return `[cut${parts.length > 0 ? `: ${parts.join(', ')}` : ''}]`;
}

/** Sets an own member, whatever its name: a plain assignment of "__proto__" would set the prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function leftOut(tally: Tally, path: string, n: number): void {
  tally.items.set(path, (tally.items.get(path) ?? 0) + n);
}

/** `value` with every string, list and record cut to `reach`; what was cut is counted in `tally`. */
function cutValue(value: unknown, reach: Reach, path: string, tally: Tally): unknown {
  if (typeof value === 'string') {
    const cut = cutText(value, reach.text);
    if (cut !== value) tally.strings++;
    return cut;
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (value.length > reach.items) leftOut(tally, path, value.length - reach.items);
    return value.slice(0, reach.items).map((v, i) => cutValue(v, reach, `${path}.${i}`, tally));
  }
  // A record (outcome): its first keys in canonical order are kept.
  const source = value as Readonly<Record<string, unknown>>;
  const keys = Object.keys(source).sort();
  if (keys.length > reach.items) leftOut(tally, path, keys.length - reach.items);
  const out: Record<string, unknown> = {};
  for (const key of keys.slice(0, reach.items)) {
    const name = cutValue(key, reach, path, tally) as string;
    define(out, name, cutValue(source[key], reach, `${path}.${name}`, tally));
  }
  return out;
}

/**
 * The record cut to `reach`, with its `cut` block (the source's, such as capped argument keys,
 * added to). Its own members are never left out: they are the schema's, fewer than any reach.
 */
function cutRecord(record: AuditRecord, reach: Reach, bytes: number): AuditRecord {
  const { cut: before, ...rest } = record;
  const tally: Tally = { strings: before?.strings ?? 0, items: new Map(Object.entries(before?.items ?? {})) };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) define(out, key, cutValue(value, reach, key, tally));
  const cut: Cut = {
    bytes,
    ...(tally.strings > 0 ? { strings: tally.strings } : {}),
    ...(tally.items.size > 0 ? { items: Object.fromEntries(tally.items) } : {}),
  };
  // Cutting keeps every value's type (a string stays a string, a list a list, a record a record
  // with fewer keys; no strict object of the schema has as many keys as a reach leaves), so the
  // record is still an AuditRecord.
  return { ...(out as AuditRecord), cut };
}

/**
 * The last resort, for a record still over the bound once cut hard (deep nesting, which no
 * producer's type allows): who (the agent included), when and what type only, each cut hard, and
 * the marker. Its size is bounded by construction.
 */
function standIn(record: AuditRecord, bytes: number): AuditRecord {
  const text = (s: string): string => cutText(s, HARD.text);
  const { user, device, session } = record;
  return {
    event_id: text(record.event_id),
    schema_version: record.schema_version,
    time: text(record.time),
    category: record.category,
    type: text(record.type),
    ...(record.org !== undefined ? { org: text(record.org) } : {}),
    ...(user
      ? {
          user: {
            ...(user.id !== undefined ? { id: text(user.id) } : {}),
            ...(user.email !== undefined ? { email: text(user.email) } : {}),
            ...(user.groups ? { groups: user.groups.slice(0, HARD.items).map(text) } : {}),
          },
        }
      : {}),
    ...(device
      ? {
          device: {
            ...(device.id !== undefined ? { id: text(device.id) } : {}),
            ...(device.hostname !== undefined ? { hostname: text(device.hostname) } : {}),
            ...(device.os !== undefined ? { os: text(device.os) } : {}),
          },
        }
      : {}),
    ...(session
      ? {
          session: {
            id: text(session.id),
            ...(session.agent
              ? {
                  agent: {
                    ...(session.agent.name !== undefined ? { name: text(session.agent.name) } : {}),
                    ...(session.agent.version !== undefined ? { version: text(session.agent.version) } : {}),
                  },
                }
              : {}),
          },
        }
      : {}),
    cut: { bytes, stand_in: true },
  };
}

/** Over the bound? UTF-8 takes at most 3 bytes per UTF-16 unit, so a short line is not even counted. */
function isOverBound(line: string): boolean {
  return line.length > MAX_EVENT_BYTES / 3 && Buffer.byteLength(line, 'utf8') > MAX_EVENT_BYTES;
}

/**
 * seal(), but the line is at most MAX_EVENT_BYTES: a record whose line would be longer is cut
 * (gently, then hard, then to a stand-in) and sealed in its place, at the same position of the
 * chain. A record under the bound is sealed as it is, at the cost of one comparison.
 */
export function sealBounded(
  record: AuditRecord,
  state: ChainState,
): { event: AuditEvent; line: string; state: ChainState } {
  const sealed = seal(record, state);
  if (!isOverBound(sealed.line)) return sealed;
  const bytes = Buffer.byteLength(sealed.line, 'utf8');
  for (const reach of [GENTLE, HARD]) {
    const cut = seal(cutRecord(record, reach, bytes), state);
    if (!isOverBound(cut.line)) return cut;
  }
  return seal(standIn(record, bytes), state);
}
