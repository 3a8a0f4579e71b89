// Audit records from decisions and lifecycle facts: the one place that decides what an event
// says, so every part of Perimeter records the same shape. Metadata only.

import type { Decision, Request } from '@perimeter/policy';
import type { AuditRecord } from './event.js';
import { SCHEMA_VERSION } from './event.js';
import { uuid7 } from './uuid7.js';

export interface RecordContext {
  readonly sessionId: string;
  readonly org?: string;
  readonly user?: { readonly id?: string; readonly email?: string; readonly groups?: readonly string[] };
  readonly now?: number;
}

function base(ctx: RecordContext, category: AuditRecord['category'], type: string): AuditRecord {
  const now = ctx.now ?? Date.now();
  return {
    event_id: uuid7(now),
    schema_version: SCHEMA_VERSION,
    time: new Date(now).toISOString(),
    category,
    type,
    ...(ctx.org !== undefined ? { org: ctx.org } : {}),
    ...(ctx.user !== undefined
      ? {
          user: {
            ...(ctx.user.id !== undefined ? { id: ctx.user.id } : {}),
            ...(ctx.user.email !== undefined ? { email: ctx.user.email } : {}),
            ...(ctx.user.groups !== undefined ? { groups: [...ctx.user.groups] } : {}),
          },
        }
      : {}),
    session: { id: ctx.sessionId },
  };
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
  const keys = request?.surface === 'mcp' ? Object.keys(request.args ?? {}).sort() : undefined;
  return {
    ...base(ctx, 'evaluation', `${decision.surface}.${decision.action.toLowerCase()}`),
    request: {
      surface: decision.surface,
      action: decision.action,
      resource: decision.resource,
      ...(keys && keys.length > 0 ? { argument_keys: keys } : {}),
    },
    decision: decision.decision,
    would_decision: decision.wouldDecision,
    enforcement_mode: decision.mode,
    decision_code: decision.code,
    matched: decision.rules.map((r) => ({ ...r })),
    reason: decision.reason,
  };
}

/** A lifecycle fact: session.start, session.end, … with metadata only. */
export function lifecycleRecord(
  type: string,
  ctx: RecordContext,
  outcome?: Record<string, string | number | boolean>,
): AuditRecord {
  return { ...base(ctx, 'system', type), ...(outcome ? { outcome } : {}) };
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
  return { ...base(ctx, 'evaluation', type), severity, reason, outcome };
}
