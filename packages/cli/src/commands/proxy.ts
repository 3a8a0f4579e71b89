// perimeter proxy: the egress proxy on its own, for agents that honour HTTP(S)_PROXY.

import type { AddressInfo } from 'node:net';
import { Spool, lifecycleRecord, uuid7 } from '@perimeter/audit';
import {
  createEgressProxy,
  createRefusalAudit,
  createSocksProxy,
  parseUpstreamProxy,
  systemResolver,
  type EgressOptions,
  type Resolver,
  type UpstreamProxy,
} from '@perimeter/egress';
import {
  canonicalHost,
  createEngine,
  formatIp,
  parseAuthority,
  parseIp,
  type CanonicalHost,
} from '@perimeter/policy';
import { isPolicyPath, pathContext, requireValidPolicies } from '../policy-files.js';
import { listFlag, parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
import { appendOrStop } from '../audit-or-stop.js';
import { paint, type Ui } from '../ui.js';
import { optimizeSooner } from '../v8-tuning.js';

/** A loopback host:port (port 0 picks a free one): the proxy must never be reachable from other machines. */
export function loopbackAddress(
  flag: string,
  text: string,
  what = 'the proxy',
): { host: CanonicalHost; port: number } {
  // Port 0 asks the system for a free port; the strict parser only knows 1–65535.
  const isAnyPort = text.endsWith(':0');
  const parsed = parseAuthority(isAnyPort ? `${text.slice(0, -2)}:1` : text);
  if ('error' in parsed)
    throw new UserError(`--${flag}: ${parsed.error.message}`, `for example --${flag} 127.0.0.1:3128`);
  const host = parsed.authority.host;
  if (host.kind !== 'ip' || !(host.name.startsWith('127.') || host.name === '::1')) {
    throw new UserError(
      `--${flag} ${host.name} is not a loopback address`,
      `listen on 127.0.0.1 or [::1]; ${what} must not be reachable from other machines`,
    );
  }
  return { host, port: isAnyPort ? 0 : parsed.authority.port };
}

export function runProxy(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(
    argv,
    {
      policy: { type: 'list', takes: isPolicyPath },
      listen: { type: 'string' },
      socks: { type: 'string' },
      audit: { type: 'string' },
      user: { type: 'string' },
      groups: { type: 'list' },
      workspace: { type: 'string' },
      home: { type: 'string' },
      upstream: { type: 'string' },
      resolve: { type: 'list' },
    },
    'proxy',
  );
  if (p.positionals.length > 0)
    throw new UserError(`unexpected argument "${p.positionals[0] ?? ''}"`, 'policy files go after --policy');
  const { host, port: listenPort } = loopbackAddress('listen', stringFlag(p, 'listen') ?? '127.0.0.1:3128');
  const socksText = stringFlag(p, 'socks');
  const socksAt = socksText === undefined ? undefined : loopbackAddress('socks', socksText);
  const loaded = requireValidPolicies(ui, listFlag(p, 'policy'));
  const groups = listFlag(p, 'groups');
  const user = stringFlag(p, 'user');
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    {
      subject: { ...(user !== undefined ? { user } : {}), ...(groups ? { groups } : {}) },
      context: pathContext(stringFlag(p, 'workspace'), stringFlag(p, 'home')),
    },
  );
  const sessionId = uuid7();
  const auditPath = stringFlag(p, 'audit');
  const spool =
    auditPath === undefined ? undefined : Spool.open(auditPath, { chainId: sessionId, flushDelayMs: 20 });
  spool?.append(lifecycleRecord('session.start', { sessionId }, { kind: 'proxy' }));
  const upstream = upstreamFlag(stringFlag(p, 'upstream'));
  const resolver = resolveFlag(listFlag(p, 'resolve'));
  const audit = spool ? { audit: appendOrStop(spool, ui, 'the proxy') } : {};
  // One bound of refusals for both front doors, flushed when the proxy stops.
  const refusals = createRefusalAudit({ sessionId, ...audit });
  const egressOptions: EgressOptions = {
    engine,
    sessionId,
    refusals,
    ...(upstream ? { upstream } : {}),
    ...(resolver ? { resolver } : {}),
    ...audit,
  };
  const server = createEgressProxy(egressOptions);
  const socks = socksAt === undefined ? undefined : createSocksProxy(egressOptions);
  return new Promise((resolve) => {
    server.on('error', (e: NodeJS.ErrnoException) => {
      spool?.close();
      ui.err(`perimeter: cannot listen on ${host.name}:${listenPort} (${e.code ?? e.message})`);
      resolve(3);
    });
    server.listen(listenPort, host.name, () => {
      const { port } = server.address() as AddressInfo;
      const url = `http://${host.name.includes(':') ? `[${host.name}]` : host.name}:${port}`;
      optimizeSooner();
      ui.out(`perimeter proxy listening on ${url}${auditPath ? `, auditing to ${auditPath}` : ''}`);
      ui.out(paint(ui, 'dim', `  export HTTPS_PROXY=${url} HTTP_PROXY=${url}`));
      if (socks && socksAt) {
        socks.on('error', (e: NodeJS.ErrnoException) =>
          ui.err(`perimeter: cannot listen for SOCKS5 (${e.code ?? e.message})`),
        );
        socks.listen(socksAt.port, socksAt.host.name, () => {
          const { port: socksPort } = socks.address() as AddressInfo;
          ui.out(`perimeter proxy SOCKS5 on ${socksAt.host.name}:${socksPort}`);
        });
      }
      if (groups === undefined && loaded.policies.some((l) => l.policy.layer === 'group')) {
        ui.out(paint(ui, 'dim', '  no --groups given: group policies do not apply'));
      }
    });
    const stop = (): void => {
      server.close();
      socks?.close();
      // Refusals counted in a window that has not ended would otherwise never be reported.
      refusals.flush();
      spool?.append(lifecycleRecord('session.end', { sessionId }));
      spool?.close();
      resolve(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `--upstream http://[user:pass@]host:port`: the corporate proxy every vetted connection goes through. */
export function upstreamFlag(text: string | undefined): UpstreamProxy | undefined {
  if (text === undefined) return undefined;
  const parsed = parseUpstreamProxy(text);
  if ('error' in parsed)
    throw new UserError(
      `--upstream: ${parsed.error}`,
      'for example --upstream http://proxy.corp.example:3128',
    );
  return parsed.upstream;
}

/**
 * --resolve NAME=IP,...: names the proxy answers itself instead of asking the system resolver
 * (like curl --resolve): development hosts, split-horizon names. The address is still judged
 * like any answer (the built-in guard, CIDR rules), so this cannot reach what the policy refuses.
 */
export function resolveFlag(entries: readonly string[] | undefined): Resolver | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const pinned = new Map<string, string[]>();
  for (const entry of entries) {
    const at = entry.indexOf('=');
    const name = canonicalHost(entry.slice(0, Math.max(at, 0)));
    const ip = parseIp(entry.slice(at + 1));
    if (at < 1 || 'error' in name || name.host.kind !== 'name' || !ip)
      throw new UserError(
        `--resolve ${entry}: expected NAME=IP`,
        'for example --resolve api.dev.test=127.0.0.2',
      );
    pinned.set(name.host.name, [...(pinned.get(name.host.name) ?? []), formatIp(ip)]);
  }
  return (name) => {
    const answer = pinned.get(name);
    return answer ? Promise.resolve(answer) : systemResolver(name);
  };
}
