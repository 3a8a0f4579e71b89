// Audit records from decisions and lifecycle facts: the one place that decides what an event
// says, so every part of Perimeter records the same shape. Metadata only.

import type { Decision, Request } from '@perimeter/policy';
import { cutText } from './event-cut.js';
import type { AuditRecord } from './event.js';
import { SCHEMA_VERSION } from './event.js';
import { uuid7 } from './uuid7.js';

/** The most argument names an event keeps: tools take a few dozen at most. */
export const MAX_ARGUMENT_KEYS = 100;
/** The longest argument name kept whole, in characters. */
export const MAX_ARGUMENT_KEY = 128;

export interface RecordContext {
  readonly sessionId: string;
  readonly org?: string;
  readonly user?: { readonly id?: string; readonly email?: string; readonly groups?: readonly string[] };
  readonly now?: number;
}

function base(ctx: RecordContext, category: AuditRecord['category'], type: string): AuditRecord {
  const now = ctx.now ?? Date.now();
  // Built by assignment, not by spreading optional parts: every audit event starts here, and an
  // object spread into one with properties after it cost more than the rest of the record.
  const record: AuditRecord = {
    event_id: uuid7(now),
    schema_version: SCHEMA_VERSION,
    time: new Date(now).toISOString(),
    category,
    type,
  };
  if (ctx.org !== undefined) record.org = ctx.org;
  if (ctx.user !== undefined) {
    const user: NonNullable<AuditRecord['user']> = {};
    if (ctx.user.id !== undefined) user.id = ctx.user.id;
    if (ctx.user.email !== undefined) user.email = ctx.user.email;
    if (ctx.user.groups !== undefined) user.groups = [...ctx.user.groups];
    record.user = user;
  }
  record.session = { id: ctx.sessionId };
  return record;
}

/**
 * A policy decision as an audit event (`<surface>.<action>`). Argument values never leave. The
 * request is read only for an MCP call's argument names; a refusal made before any request could
 * be read (an unreadable target, a missing token) has none.
 */
export function decisionRecord(
  decision: Decision,
  request: Request | undefined,
  ctx: RecordContext,
): AuditRecord {
  const keys = request?.surface === 'mcp' ? argumentKeys(request.args ?? {}) : undefined;
  const record = base(ctx, 'evaluation', `${decision.surface}.${decision.action.toLowerCase()}`);
  record.request = { surface: decision.surface, action: decision.action, resource: decision.resource };
  if (keys && keys.names.length > 0) record.request.argument_keys = keys.names;
  record.decision = decision.decision;
  record.would_decision = decision.wouldDecision;
  record.enforcement_mode = decision.mode;
  record.decision_code = decision.code;
  record.matched = decision.rules.map((r) => ({ ...r }));
  record.reason = decision.reason;
  if (keys?.cut) record.cut = keys.cut;
  return record;
}

/**
 * An MCP call's argument names as the audit keeps them: the first MAX_ARGUMENT_KEYS in sorted
 * order, each cut to MAX_ARGUMENT_KEY characters, and what was cut. The agent chooses them:
 * redteam-31-1 sent 30,000 keys, a 1.28 MB event (the spool would cut it too, but this is common
 * enough to be cut where it starts, and the event keeps its other fields whole).
 */
function argumentKeys(args: Readonly<Record<string, unknown>>): {
  names: string[];
  cut?: NonNullable<AuditRecord['cut']>;
} {
  const all = Object.keys(args).sort();
  const names = all.slice(0, MAX_ARGUMENT_KEYS).map((k) => cutText(k, MAX_ARGUMENT_KEY));
  const strings = names.filter((k, i) => k !== all[i]).length;
  const left = all.length - names.length;
  if (strings === 0 && left === 0) return { names };
  return {
    names,
    cut: {
      ...(strings > 0 ? { strings } : {}),
      ...(left > 0 ? { items: { 'request.argument_keys': left } } : {}),
    },
  };
}

/** A lifecycle fact: session.start, session.end, … with metadata only. */
export function lifecycleRecord(
  type: string,
  ctx: RecordContext,
  outcome?: Record<string, string | number | boolean>,
): AuditRecord {
  const record = base(ctx, 'system', type);
  if (outcome) record.outcome = outcome;
  return record;
}

/**
 * A fact a security team acts on, with a severity: a credential used (which binding, where, in
 * which position) or a leak refused. Names and places only, never a value.
 */
export function alertRecord(
  type: string,
  ctx: RecordContext,
  severity: NonNullable<AuditRecord['severity']>,
  reason: string,
  outcome: Record<string, string | number | boolean>,
): AuditRecord {
  const record = base(ctx, 'evaluation', type);
  record.severity = severity;
  record.reason = reason;
  record.outcome = outcome;
  return record;
}
