// Admission: the one path by which every front door (HTTP, CONNECT, SOCKS5) turns a target into
// a decision and a vetted address. The name is decided first (a denied name is never looked up),
// then every address it resolves to; only a vetted address is returned to dial. Every decision is
// audited through the session's refusal audit (refusals.ts), unreadable requests within its bound.

import { canonicalHost, type Decision, type Engine, type NetworkRequest } from '@perimeter/policy';
import type { HostRefusal } from './credentials.js';
import type { RefusalAudit } from './refusals.js';
import { systemResolver, type Resolver } from './resolve.js';

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
    let addresses: readonly string[];
    try {
      addresses = await resolver(parsed.host.name);
    } catch {
      addresses = [];
    }
    const resolved = { ...request, resolved: addresses };
    const second = options.engine.decide(resolved);
    if (second.decision !== 'allow' || addresses.length === 0) {
      refusals.record(second, resolved);
      return { decision: second };
    }
    // Every address passed; dial IPv4 first (the common reachable family), never re-resolving.
    const address = addresses.find((a) => !a.includes(':')) ?? addresses[0];
    return address === undefined ? { decision: second } : { decision: second, address };
  };
}
