// The audit event: one shape for every decision and lifecycle fact (DESIGN.md "Audit event"),
// mapped later to OCSF, HEC, syslog/CEF and OTLP. Metadata only: no prompt text, no tool output,
// no argument values, no secrets (argument keys are fine).

import { configureZod } from '@perimeter/policy';
import { z } from 'zod';

export const SCHEMA_VERSION = '1';

/**
 * The schema, built on first use (auditEventSchema): zod takes milliseconds to start and to
 * construct it, which every `perimeter run` would pay at start although only verification and
 * the server read it.
 */
function buildAuditEvent() {
  configureZod();
  const Effect = z.enum(['allow', 'ask', 'deny']);

  const MatchedRule = z.strictObject({
    policy: z.string(),
    revision: z.number().int(),
    rule: z.string(),
    layer: z.enum(['guardrail', 'org', 'group', 'local']),
    effect: Effect,
    mode: z.enum(['enforce', 'audit']),
  });

  const Scalar = z.union([z.string(), z.number(), z.boolean()]);

  const Integrity = z.strictObject({
    chain_id: z.string().describe('The chain: one per session spool.'),
    seq: z.number().int().min(0).describe('Gap-free position in the chain, from 0.'),
    prev_hash: z.string().describe('The hash of the event before (64 zeros for the first).'),
    hash: z.string().describe('SHA-256 (hex) of the RFC 8785 form of this event without integrity.hash.'),
  });

  const Cut = z.strictObject({
    bytes: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        "The length in bytes (UTF-8) of the line the event would have been, over the spool's bound of 64 KiB (absent when only its source cut it: argument keys).",
      ),
    strings: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'How many strings were cut: each to its first characters and "…[cut: N bytes, sha256 H]", N its length and H the first 16 hex digits of its SHA-256.',
      ),
    items: z
      .record(z.string(), z.number().int().min(0))
      .optional()
      .describe('Items (or record keys) left out, by where they were: {"request.argument_keys": 29900}.'),
    stand_in: z
      .literal(true)
      .optional()
      .describe(
        'Still too long once cut: only who, when and what type are kept (request, decision, reason and outcome are not).',
      ),
  });

  return z.strictObject({
    event_id: z.string().describe('UUIDv7: time-ordered.'),
    schema_version: z.literal(SCHEMA_VERSION),
    time: z.string().describe('ISO 8601, UTC, milliseconds.'),
    category: z.enum(['evaluation', 'execution', 'management', 'identity', 'system']),
    type: z.string().describe('What happened: session.start, network.connect, filesystem.mount, …'),
    org: z.string().optional(),
    user: z
      .strictObject({
        id: z.string().optional(),
        email: z.string().optional(),
        groups: z.array(z.string()).optional(),
      })
      .optional(),
    device: z
      .strictObject({ id: z.string().optional(), hostname: z.string().optional(), os: z.string().optional() })
      .optional(),
    session: z
      .strictObject({
        id: z.string(),
        agent: z.strictObject({ name: z.string().optional(), version: z.string().optional() }).optional(),
      })
      .optional(),
    request: z
      .strictObject({
        surface: z.enum(['network', 'filesystem', 'mcp', 'exec', 'credential']),
        action: z.string(),
        resource: z
          .string()
          .describe('Canonical: host:port, absolute path, server/tool, argv, secret → host.'),
        argument_keys: z.array(z.string()).optional().describe('MCP argument keys; never their values.'),
      })
      .optional(),
    decision: Effect.optional(),
    would_decision: Effect.optional(),
    enforcement_mode: z.enum(['enforce', 'audit']).optional(),
    decision_code: z
      .enum(['rule', 'default', 'guard', 'invalid-request', 'unauthenticated'])
      .optional()
      .describe(
        'Why: a rule, the default, the built-in guard, an unreadable request, or a client without the session token.',
      ),
    matched: z.array(MatchedRule).optional(),
    bundle: z.strictObject({ revision: z.number().int().optional(), hash: z.string().optional() }).optional(),
    reason: z.string().optional(),
    severity: z
      .enum(['info', 'low', 'medium', 'high', 'critical'])
      .optional()
      .describe('How urgently a person should look: high for a refused credential leak.'),
    outcome: z
      .record(z.string(), Scalar)
      .optional()
      .describe('Execution metadata: bytes, duration, exit code.'),
    cut: Cut.optional().describe(
      'Present when the event was cut down to size (at the source, or by the spool: redteam-31-1). Absent: the event is whole.',
    ),
    integrity: Integrity,
  });
}

let built: ReturnType<typeof buildAuditEvent> | undefined;

/** The audit event's schema (built, and zod started, on the first call). */
export function auditEventSchema(): ReturnType<typeof buildAuditEvent> {
  return (built ??= buildAuditEvent());
}
export type AuditEvent = z.infer<ReturnType<typeof buildAuditEvent>>;

/** An event before it is chained: everything but `integrity`. */
export type AuditRecord = Omit<AuditEvent, 'integrity'>;
