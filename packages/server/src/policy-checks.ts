// What the server checks about a policy revision before it may be published, built on
// @perimeter/policy: validation (schema, patterns, and the server's own rules: one document per
// revision, its name is the policy's, its org is this organisation's), lint and the policies'
// own tests over the organisation's published set with this revision in its policy's place, the
// semantic diff, and replay of stored decisions. Pure: texts and events in, reports out; every
// problem carries the line and column of the revision it is in.

import type { AuditEvent } from '@perimeter/audit';
import {
  diffPolicies,
  formatPath,
  lintPolicies,
  loadPolicies,
  runPolicyTests,
  simulate,
  type CompiledPolicy,
  type Diagnostic,
  type DiagnosticPath,
  type PathContext,
  type PolicyDiff,
  type PolicyDocument,
  type Position,
  type RecordedDecision,
  type Severity,
} from '@perimeter/policy';
import { recordedDecisionOf } from './event-replay.js';

/**
 * The home and workspace that `~` and `${workspace}` patterns are read against when the server
 * checks a policy: no real session is involved, so fixed ones, as `perimeter policy test` uses.
 */
export const CHECK_CONTEXT: PathContext = { home: '/home/user', workspace: '/workspace' };

export interface RevisionText {
  readonly policy: string;
  readonly revision: number;
  readonly text: string;
}

/** A problem found in a revision, located in it. */
export interface Finding {
  readonly severity: Severity;
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  /** The policy and revision it is in. */
  readonly policy: string;
  readonly revision: number;
  readonly line: number;
  readonly col: number;
  /** Where in the document, as `network.allow[0].hosts[1]`. */
  readonly path?: string;
}

export interface Validation {
  readonly valid: boolean;
  readonly findings: readonly Finding[];
  /** The document as the schema checked it, when it is valid. */
  readonly document?: PolicyDocument;
}

/** The name diagnostics give a revision's text, so messages read `engineering@3:12:7`. */
export const sourceName = (r: Pick<RevisionText, 'policy' | 'revision'>): string =>
  `${r.policy}@${r.revision}`;

function findingOf(d: Diagnostic, r: RevisionText, at: Position | undefined): Finding {
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    ...(d.hint !== undefined ? { hint: d.hint } : {}),
    policy: r.policy,
    revision: r.revision,
    line: at?.line ?? 1,
    col: at?.col ?? 1,
    ...(d.path !== undefined && d.path.length > 0 ? { path: formatPath(d.path) } : {}),
  };
}

interface Loaded {
  readonly revision: RevisionText;
  readonly policy: CompiledPolicy;
  readonly document: PolicyDocument;
  readonly locate: (path: DiagnosticPath) => Position;
}

/** Loads one revision and applies the server's rules; `loaded` only when it has no error. */
function load(r: RevisionText, orgSlug: string): { findings: Finding[]; loaded?: Loaded } {
  const { policies, diagnostics } = loadPolicies([{ file: sourceName(r), text: r.text }]);
  const findings = diagnostics.map((d) => findingOf(d, r, d.at));
  const first = policies[0];
  if (policies.length > 1) {
    const extra = policies[1];
    findings.push(
      findingOf(
        {
          severity: 'error',
          code: 'one-document',
          message: 'a revision holds exactly one policy document, but this one has more',
          hint: 'make each document a policy of its own',
        },
        r,
        extra?.locate([]),
      ),
    );
  }
  if (first) {
    const meta = first.policy.source.metadata;
    const own = (code: string, path: DiagnosticPath, message: string, hint: string): void => {
      findings.push(findingOf({ severity: 'error', code, message, hint, path }, r, first.locate(path)));
    };
    if (meta.name !== r.policy)
      own(
        'name-mismatch',
        ['metadata', 'name'],
        `metadata.name is "${meta.name}", but this is a revision of policy "${r.policy}"`,
        `write name: ${r.policy}, or create a policy named ${meta.name}`,
      );
    if (meta.org !== undefined && meta.org !== orgSlug)
      own(
        'org-mismatch',
        ['metadata', 'org'],
        `metadata.org is "${meta.org}", but this organisation is "${orgSlug}"`,
        'remove metadata.org (the server fills it in) or correct it',
      );
    if (meta.revision !== undefined)
      own(
        'revision-set',
        ['metadata', 'revision'],
        'metadata.revision is assigned by the server when a revision is published',
        'remove metadata.revision',
      );
  }
  findings.sort((a, b) => a.line - b.line || a.col - b.col);
  const hasError = findings.some((f) => f.severity === 'error');
  if (hasError || !first) return { findings };
  // Policies of one organisation layer together only when they name the same org.
  const policy: CompiledPolicy = { ...first.policy, org: orgSlug };
  return {
    findings,
    loaded: { revision: r, policy, document: first.checked as PolicyDocument, locate: first.locate },
  };
}

export function validateRevision(r: RevisionText, orgSlug: string): Validation {
  const { findings, loaded } = load(r, orgSlug);
  if (findings.length === 0 && !loaded)
    return {
      valid: false,
      findings: [
        findingOf(
          {
            severity: 'error',
            code: 'empty',
            message: 'the revision holds no policy document',
            hint: 'a policy starts with apiVersion: perimeter/v1 and kind: Policy',
          },
          r,
          undefined,
        ),
      ],
    };
  return { valid: loaded !== undefined, findings, ...(loaded ? { document: loaded.document } : {}) };
}

/** A revision that did not validate, where a check needs a valid one. */
export class InvalidRevisionError extends Error {
  constructor(
    readonly revision: RevisionText,
    readonly findings: readonly Finding[],
  ) {
    super(`${revision.policy} revision ${revision.revision} is not a valid policy`);
    this.name = 'InvalidRevisionError';
  }
}

/**
 * The organisation's policy set as it would be with `draft` published: every published revision,
 * with the draft in place of its own policy's. Throws InvalidRevisionError for an invalid member.
 */
export class PolicySet {
  readonly members: readonly Loaded[];

  constructor(published: readonly RevisionText[], draft: RevisionText | undefined, orgSlug: string) {
    const texts = [...published.filter((p) => p.policy !== draft?.policy), ...(draft ? [draft] : [])];
    this.members = texts.map((r) => {
      const { findings, loaded } = load(r, orgSlug);
      if (!loaded) throw new InvalidRevisionError(r, findings);
      return loaded;
    });
  }

  get policies(): CompiledPolicy[] {
    return this.members.map((m) => m.policy);
  }

  private locate(
    policy: string | undefined,
    path: DiagnosticPath | undefined,
  ): { r?: RevisionText; at?: Position } {
    const member = this.members.find((m) => m.policy.name === policy);
    if (!member) return {};
    return { r: member.revision, at: member.locate(path ?? []) };
  }

  /** Lint findings over the whole set, each located in the revision it is about. */
  lint(): Finding[] {
    return lintPolicies(this.policies, { context: CHECK_CONTEXT }).map((d) => {
      const { r, at } = this.locate(d.policy, d.path);
      return findingOf(d, r ?? { policy: d.policy ?? '', revision: 0, text: '' }, at);
    });
  }

  /** Every test of every policy in the set (a change to one policy can break another's tests). */
  tests(): TestOutcome[] {
    return runPolicyTests(this.policies, CHECK_CONTEXT).map((t) => {
      const { r, at } = this.locate(t.policy, t.path);
      return {
        policy: t.policy,
        revision: r?.revision ?? 0,
        name: t.name,
        passed: t.passed,
        expect: t.expect,
        ...(t.decision ? { decision: t.decision.wouldDecision, reason: t.decision.reason } : {}),
        failure: t.failure,
        line: at?.line ?? 1,
        col: at?.col ?? 1,
      };
    });
  }

  /** Replays recorded decisions; subjects' groups come from the events, else from `groupsOf`. */
  simulate(events: readonly AuditEvent[], groupsOf: (user: string) => readonly string[] | undefined): Replay {
    const recorded: RecordedDecision[] = [];
    const sources: AuditEvent[] = [];
    const unreadable: { id: string; error: string }[] = [];
    for (const event of events) {
      const r = recordedDecisionOf(event, groupsOf);
      if ('error' in r) unreadable.push({ id: event.event_id, error: r.error });
      else {
        recorded.push(r.recorded);
        sources.push(event);
      }
    }
    const report = simulate(recorded, this.policies, CHECK_CONTEXT);
    for (const u of report.unreadable) unreadable.push({ id: u.id ?? '', error: u.error });
    const flips: Flip[] = report.flips.map((f) => {
      const event = sources[f.index];
      return {
        eventId: f.id ?? '',
        time: event?.time ?? '',
        user: event?.user?.email ?? event?.user?.id ?? null,
        surface: f.after.surface,
        resource: f.after.resource,
        before: f.before,
        after: f.after.decision,
        reason: f.after.reason,
        rules: f.after.rules.map((rule) => `${rule.policy}/${rule.rule}`),
      };
    });
    const byUser = new Map<string, Record<string, number>>();
    for (const f of flips) {
      const key = f.user ?? '(unknown)';
      const counts = byUser.get(key) ?? {};
      const change = `${f.before}→${f.after}`;
      counts[change] = (counts[change] ?? 0) + 1;
      byUser.set(key, counts);
    }
    return {
      replayed: report.total,
      unchanged: report.unchanged,
      unreadable,
      counts: { ...report.counts },
      flips,
      users: [...byUser.entries()]
        .map(([user, counts]) => ({ user, flips: Object.values(counts).reduce((a, b) => a + b, 0), counts }))
        .sort((a, b) => b.flips - a.flips || a.user.localeCompare(b.user)),
    };
  }
}

export interface TestOutcome {
  readonly policy: string;
  readonly revision: number;
  readonly name: string;
  readonly passed: boolean;
  readonly expect: string;
  /** The would-be decision the engine made, when the request could be read. */
  readonly decision?: string;
  readonly reason?: string;
  readonly failure: string;
  readonly line: number;
  readonly col: number;
}

export interface Flip {
  readonly eventId: string;
  readonly time: string;
  readonly user: string | null;
  readonly surface: string;
  readonly resource: string;
  readonly before: string;
  readonly after: string;
  readonly reason: string;
  readonly rules: readonly string[];
}

export interface Replay {
  readonly replayed: number;
  readonly unchanged: number;
  readonly unreadable: readonly { readonly id: string; readonly error: string }[];
  readonly counts: Readonly<Record<string, number>>;
  readonly flips: readonly Flip[];
  /** For whom: flips per user, most first. */
  readonly users: readonly {
    readonly user: string;
    readonly flips: number;
    readonly counts: Record<string, number>;
  }[];
}

/** The semantic diff between two valid revisions (`from` absent: against nothing). */
export function diffRevisions(from: RevisionText | undefined, to: RevisionText, orgSlug: string): PolicyDiff {
  const document = (r: RevisionText): PolicyDocument => {
    const v = validateRevision(r, orgSlug);
    if (!v.document) throw new InvalidRevisionError(r, v.findings);
    return v.document;
  };
  return diffPolicies(from ? document(from) : undefined, document(to));
}
