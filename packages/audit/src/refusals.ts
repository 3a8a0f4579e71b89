// The audit of refusals a client can provoke at will, before any rule is consulted: a target no
// parser can read (`invalid-request`, redteam-11) and a missing or wrong session token
// (`unauthenticated`, redteam-13) at the egress proxy; a request the MCP gateway's HTTP endpoint
// refuses before the gateway is asked (a wrong Host or token, a body too large or too slow). Each
// is a deny event like any other decision, but a client hammering a front door must not flood the
// audit trail: per session and surface, at most `perSecond` of them are written in each one-second
// window, and the rest are counted and reported by one summary event when the window ends (or the
// session does: its owner flushes it). One audit per session and surface, shared by every front
// door because the session's owner hands them the same object, never by chance. Never records a
// token: callers pass the target and a sentence, never a credential.

import { refusalDecision, type Decision, type Request, type Surface } from '@perimeter/policy';
import type { AuditRecord } from './event.js';
import { alertRecord, decisionRecord } from './record.js';

/** Refusal events written per session and second before the rest are only counted. */
export const REFUSALS_PER_SECOND = 20;

const WINDOW_MS = 1000;

export type RefusalCode = 'invalid-request' | 'unauthenticated';

/** What a window counted without writing. */
export interface Suppressed {
  /** When the first refusal was dropped (ms since the epoch). */
  readonly since: number;
  readonly byCode: Readonly<Record<RefusalCode, number>>;
}

function isRefusalCode(code: Decision['code']): code is RefusalCode {
  return code === 'invalid-request' || code === 'unauthenticated';
}

/**
 * The bound, pure: a window opens at the first refusal after the last one ended; its first
 * `perSecond` refusals are written, the others counted until `drain` reports them.
 */
export class RefusalWindow {
  private opened = Number.NEGATIVE_INFINITY;
  private written = 0;
  private since: number | undefined;
  private dropped: Record<RefusalCode, number> = { 'invalid-request': 0, unauthenticated: 0 };

  constructor(private readonly perSecond: number) {}

  /** When the current window ends: the time to report what it dropped. */
  get endsAt(): number {
    return this.opened + WINDOW_MS;
  }

  /**
   * Whether a refusal at `now` is written (else it is counted), and what the window it closed,
   * if it closed one, dropped: that report comes before the refusal that opened the next window.
   */
  take(code: RefusalCode, now: number): { readonly isWritten: boolean; readonly closed?: Suppressed } {
    let closed: Suppressed | undefined;
    if (now >= this.endsAt) {
      closed = this.drain();
      this.opened = now;
      this.written = 0;
    }
    const isWritten = this.written < this.perSecond;
    if (isWritten) this.written += 1;
    else {
      this.since ??= now;
      this.dropped[code] += 1;
    }
    return closed ? { isWritten, closed } : { isWritten };
  }

  /** What was dropped since the last drain, or undefined when nothing was; counts restart at 0. */
  drain(): Suppressed | undefined {
    if (this.since === undefined) return undefined;
    const out: Suppressed = { since: this.since, byCode: this.dropped };
    this.since = undefined;
    this.dropped = { 'invalid-request': 0, unauthenticated: 0 };
    return out;
  }
}

/** The front doors that refuse before any rule: the egress proxy's and the MCP endpoint's. */
export type RefusalSurface = Extract<Surface, 'network' | 'mcp'>;

/** What each front door's refusals are, and what a client hammering it probes, in the summary's words. */
const SUMMARY: Record<RefusalSurface, { readonly what: string; readonly probed: string }> = {
  network: {
    what: 'refusals before any rule (unreadable targets, missing or wrong tokens)',
    probed: 'the proxy',
  },
  mcp: {
    what: 'requests refused by the MCP endpoint before the gateway was asked (wrong Host, Origin or token, unreadable, too large, too slow, no room)',
    probed: 'the MCP endpoint',
  },
};

/** The summary event for refusals that were counted but not written one by one. */
export function suppressedRecord(
  s: Suppressed,
  perSecond: number,
  sessionId: string,
  surface: RefusalSurface = 'network',
): AuditRecord {
  const total = s.byCode['invalid-request'] + s.byCode.unauthenticated;
  return alertRecord(
    `${surface}.refusals-suppressed`,
    { sessionId },
    'medium',
    `${total} more ${SUMMARY[surface].what} came within a second of the first ${perSecond}; they were counted, not recorded one by one: a client may be probing ${SUMMARY[surface].probed}.`,
    {
      suppressed: total,
      invalid_request: s.byCode['invalid-request'],
      unauthenticated: s.byCode.unauthenticated,
      since: new Date(s.since).toISOString(),
      limit_per_second: perSecond,
    },
  );
}

export interface RefusalAuditOptions {
  readonly audit?: (record: AuditRecord) => void;
  readonly sessionId?: string;
  /** When aborted (the session is over), what the current window counted is reported at once. */
  readonly signal?: AbortSignal;
  /** Refusal events written per second before the rest are counted (default REFUSALS_PER_SECOND). */
  readonly refusalsPerSecond?: number;
  /** Whose front door refuses: the egress proxy's (`network`, the default) or the MCP endpoint's. */
  readonly surface?: RefusalSurface;
}

/**
 * The audit of refusals of one session. Its owner (`perimeter run`, `perimeter proxy`, the MCP
 * sandbox) creates it once and gives the same object to every front door of the session
 * (EgressOptions.refusals), so HTTP, CONNECT and SOCKS5 share one bound; and flushes it when the
 * session ends, before its spool closes.
 */
export interface RefusalAudit {
  /** Audits a decision; refusals before any rule count against the bound, others pass straight. */
  record(decision: Decision, request: Request): void;
  /** A request refused before any rule, on the audit's surface: the decision, audited (bounded) and returned. */
  refuse(code: RefusalCode, action: string, target: string, error: string): Decision;
  /**
   * Reports at once what the current window counted but has not reported yet (the session is
   * ending: the window's own report may never come). The window keeps its bound.
   */
  flush(): void;
}

export function createRefusalAudit(options: RefusalAuditOptions = {}): RefusalAudit {
  const perSecond = options.refusalsPerSecond ?? REFUSALS_PER_SECOND;
  const sessionId = options.sessionId ?? 'proxy';
  const surface = options.surface ?? 'network';
  const audit = (record: AuditRecord): void => options.audit?.(record);
  const window = new RefusalWindow(perSecond);
  let timer: NodeJS.Timeout | undefined;

  const report = (s: Suppressed | undefined): void => {
    if (s !== undefined) audit(suppressedRecord(s, perSecond, sessionId, surface));
  };
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    report(window.drain());
  };
  // Timers may fire a little early: the report waits until the window has really ended, so each
  // window gets one summary at most. Unref'd, so an idle proxy can exit: whoever ends the session
  // flushes what is still pending.
  const atWindowEnd = (): void => {
    const wait = window.endsAt - Date.now();
    if (wait > 0) timer = setTimeout(atWindowEnd, wait).unref();
    else flush();
  };
  options.signal?.addEventListener('abort', flush, { once: true });

  /** A refusal before any rule: its event written within the bound, else counted. */
  function bounded(code: RefusalCode, event: () => AuditRecord): void {
    const taken = window.take(code, Date.now());
    if (taken.closed !== undefined) {
      clearTimeout(timer);
      timer = undefined;
      report(taken.closed);
    }
    if (taken.isWritten) audit(event());
    else if (timer === undefined) atWindowEnd();
  }

  return {
    record(decision, request) {
      const event = (): AuditRecord => decisionRecord(decision, request, { sessionId });
      if (isRefusalCode(decision.code)) bounded(decision.code, event);
      else audit(event());
    },
    refuse(code, action, target, error) {
      const decision = refusalDecision(code, surface, action, target, error);
      bounded(code, () => decisionRecord(decision, undefined, { sessionId }));
      return decision;
    },
    flush,
  };
}
