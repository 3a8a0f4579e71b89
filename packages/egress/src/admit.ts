// Admission: the one path by which every front door (HTTP, CONNECT, SOCKS5) turns a target into
// a decision and a vetted address. The name is decided first (a denied name is never looked up),
// then every address it resolves to; only a vetted address is returned to dial. Every decision is
// audited through the session's refusal audit (refusals.ts), unreadable requests within its bound.

import { canonicalHost, type Decision, type Engine, type NetworkRequest } from '@perimeter/policy';
import type { HostRefusal } from './credentials.js';
import type { RefusalAudit } from '@perimeter/audit';
import { systemResolver, type Resolver } from './resolve.js';
import { onSessionEnd } from './tunnel.js';

export interface Admission {
  readonly decision: Decision;
  /** The vetted address to dial, when allowed. */
  readonly address?: string;
}

export interface AdmitterOptions {
  readonly engine: Engine;
  readonly resolver?: Resolver;
  /** Refuses names that carry a credential or a secret before they are decided or looked up. */
  readonly credentials?: {
    readonly guard: { checkHost(host: string, port: number): HostRefusal | undefined };
  };
  /**
   * The session's end: a lookup still under way then is not waited for (it has no deadline of its
   * own), and the request is denied at once, so its decision is recorded before the session's end.
   */
  readonly signal?: AbortSignal;
}

/** A lookup the session's end overtook. */
const SESSION_ENDED = Symbol('session ended');

/** The name's addresses (none when the lookup fails), or SESSION_ENDED when the session ends first. */
async function lookup(
  resolver: Resolver,
  name: string,
  signal: AbortSignal | undefined,
): Promise<readonly string[] | typeof SESSION_ENDED> {
  const answer = resolver(name).catch(() => []);
  let letGo = (): void => undefined;
  const ended = new Promise<typeof SESSION_ENDED>((stop) => {
    letGo = onSessionEnd(signal, () => stop(SESSION_ENDED));
  });
  try {
    return await Promise.race([answer, ended]);
  } finally {
    letGo();
  }
}

/** Admission for one front door; `refusals` is the session's, shared with its other front doors. */
export function createAdmitter(
  options: AdmitterOptions,
  refusals: RefusalAudit,
): (request: NetworkRequest) => Promise<Admission> {
  const resolver = options.resolver ?? systemResolver;
  /** Decides a request: the name first (no lookup for a denied name), then every resolved address. */
  return async function admit(request: NetworkRequest): Promise<Admission> {
    const leak = options.credentials?.guard.checkHost(request.host, request.port);
    if (leak !== undefined) {
      const refused: Decision = {
        surface: 'network',
        action: request.method ?? 'connect',
        // The name as the guard shows it: what it carries is never written to the audit.
        resource: `${leak.shown.slice(0, 200)}:${request.port}`,
        decision: 'deny',
        wouldDecision: 'deny',
        mode: 'enforce',
        rules: [],
        matched: [],
        code: 'guard',
        guard: { code: 'secret-in-name', what: 'the name carries a secret', isLocked: true },
        reason: leak.reason,
      };
      refusals.record(refused, request);
      return { decision: refused };
    }
    const first = options.engine.decide(request);
    refusals.record(first, request);
    if (first.decision !== 'allow') return { decision: first };
    const parsed = canonicalHost(request.host);
    if ('error' in parsed) return { decision: first };
    if (parsed.host.kind === 'ip') return { decision: first, address: parsed.host.name };
    const answer = await lookup(resolver, parsed.host.name, options.signal);
    const addresses = answer === SESSION_ENDED ? [] : answer;
    const resolved = { ...request, resolved: addresses };
    const decided = options.engine.decide(resolved);
    const second: Decision =
      answer === SESSION_ENDED
        ? {
            ...decided,
            ...(decided.guard
              ? { guard: { ...decided.guard, what: 'the session ended before it resolved' } }
              : {}),
            reason: `Denied: the session ended while ${parsed.host.name} was being resolved, so nothing was dialled.`,
          }
        : decided;
    if (second.decision !== 'allow' || addresses.length === 0) {
      refusals.record(second, resolved);
      return { decision: second };
    }
    // Every address passed; dial IPv4 first (the common reachable family), never re-resolving.
    const address = addresses.find((a) => !a.includes(':')) ?? addresses[0];
    return address === undefined ? { decision: second } : { decision: second, address };
  };
}
