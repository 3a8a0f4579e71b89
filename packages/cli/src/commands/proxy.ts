// perimeter proxy: the egress proxy on its own, for agents that honour HTTP(S)_PROXY.

import type { AddressInfo } from 'node:net';
import { Spool, lifecycleRecord, uuid7 } from '@perimeter/audit';
import { createEgressProxy } from '@perimeter/egress';
import { createEngine, parseAuthority } from '@perimeter/policy';
import { isPolicyPath, pathContext, requireValidPolicies } from '../policy-files.js';
import { listFlag, parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
import { paint, type Ui } from '../ui.js';

export function runProxy(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(
    argv,
    {
      policy: { type: 'list', takes: isPolicyPath },
      listen: { type: 'string' },
      audit: { type: 'string' },
      user: { type: 'string' },
      groups: { type: 'list' },
      workspace: { type: 'string' },
      home: { type: 'string' },
    },
    'proxy',
  );
  if (p.positionals.length > 0)
    throw new UserError(`unexpected argument "${p.positionals[0] ?? ''}"`, 'policy files go after --policy');
  const listenText = stringFlag(p, 'listen') ?? '127.0.0.1:3128';
  // Port 0 asks the system for a free port; the strict parser only knows 1–65535.
  const isAnyPort = listenText.endsWith(':0');
  const listen = parseAuthority(isAnyPort ? `${listenText.slice(0, -2)}:1` : listenText);
  if ('error' in listen)
    throw new UserError(`--listen: ${listen.error.message}`, 'for example --listen 127.0.0.1:3128');
  const host = listen.authority.host;
  const listenPort = isAnyPort ? 0 : listen.authority.port;
  // The proxy carries a session's traffic and decides by its policy: never offer it to the network.
  if (host.kind !== 'ip' || !(host.name.startsWith('127.') || host.name === '::1')) {
    throw new UserError(
      `--listen ${host.name} is not a loopback address`,
      'listen on 127.0.0.1 or [::1]; the proxy must not be reachable from other machines',
    );
  }
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
  const spool = auditPath === undefined ? undefined : Spool.open(auditPath, { chainId: sessionId });
  spool?.append(lifecycleRecord('session.start', { sessionId }, { kind: 'proxy' }));
  const server = createEgressProxy({
    engine,
    sessionId,
    ...(spool ? { audit: (r) => void spool.append(r) } : {}),
  });
  return new Promise((resolve) => {
    server.on('error', (e: NodeJS.ErrnoException) => {
      spool?.close();
      ui.err(`perimeter: cannot listen on ${host.name}:${listenPort} (${e.code ?? e.message})`);
      resolve(3);
    });
    server.listen(listenPort, host.name, () => {
      const { port } = server.address() as AddressInfo;
      const url = `http://${host.ip.family === 6 ? `[${host.name}]` : host.name}:${port}`;
      ui.out(`perimeter proxy listening on ${url}${auditPath ? `, auditing to ${auditPath}` : ''}`);
      ui.out(paint(ui, 'dim', `  export HTTPS_PROXY=${url} HTTP_PROXY=${url}`));
      if (groups === undefined && loaded.policies.some((l) => l.policy.layer === 'group')) {
        ui.out(paint(ui, 'dim', '  no --groups given: group policies do not apply'));
      }
    });
    const stop = (): void => {
      server.close();
      spool?.append(lifecycleRecord('session.end', { sessionId }));
      spool?.close();
      resolve(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
