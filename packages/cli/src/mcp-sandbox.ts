// Each stdio MCP server of the catalog in a sandbox of its own: the session sandbox of
// `perimeter run` (bubblewrap, every namespace, the mount plan, seccomp), built from the server's
// catalog entry (packages/mcp serverSandboxPolicy) instead of the agent's policy, with an egress
// proxy of its own that decides and audits every connection the server attempts. Remote servers are
// reached only through an egress proxy that allows their URL alone (the guard still vets every
// address: SSRF to the metadata service or private ranges is refused). Loaded only with the MCP
// gateway.

import { setMaxListeners } from 'node:events';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenPrivate } from './private-socket.js';
import type { AuditRecord } from '@perimeter/audit';
import {
  createEgressProxy,
  createRefusalAudit,
  createSocksProxy,
  connectionsClosed,
  type EgressOptions,
} from '@perimeter/egress';
import {
  SERVER_POLICY_NAME,
  remoteServerPolicy,
  serverSandboxPolicy,
  tunnelFetch,
  type UpstreamSpec,
} from '@perimeter/mcp';
import {
  compilePolicy,
  createEngine,
  type Engine,
  formatDiagnostic,
  type McpCatalogEntry,
  type PolicyDocument,
} from '@perimeter/policy';
import {
  SessionError,
  cleanupSessionAsync,
  prepareSession,
  spawnSandboxed,
  type PreparedSession,
} from '@perimeter/sandbox';

export interface UpstreamSandboxOptions {
  readonly sessionId: string;
  /** Canonical absolute paths. */
  readonly workspace: string;
  readonly home: string;
  /** Where each server's private home directory is kept (`<dir>/<server id>`), hidden from agents. */
  readonly homesDir: string;
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  /** Paths no server may write (Perimeter's own install, the policy files). */
  readonly readOnly: readonly string[];
  /** Paths no server may see (Perimeter's state directory, the session's audit spool and its lock). */
  readonly hidden: readonly string[];
  /** Receives the servers' network decisions, each tagged with its server. */
  readonly audit: (record: AuditRecord) => void;
}

export interface SandboxedUpstreams {
  /** The catalog's upstreams, stdio ones started in their sandboxes. */
  readonly specs: UpstreamSpec[];
  /** Stops the servers' proxies and removes their session directories (after the gateway closed). */
  close(): Promise<void>;
}

/** A server whose sandbox cannot be built: one sentence, and nothing of it started. */
export class UpstreamSandboxError extends Error {}

export async function sandboxUpstreams(
  catalog: readonly McpCatalogEntry[],
  specs: readonly UpstreamSpec[],
  options: UpstreamSandboxOptions,
): Promise<SandboxedUpstreams> {
  const prepared: PreparedSession[] = [];
  const proxies: Server[] = [];
  const scratch: string[] = [];
  const over = new AbortController();
  setMaxListeners(0, over.signal); // one listener per open connection, any number of them
  const connections = { open: 0 };
  const close = async (): Promise<void> => {
    over.abort(); // the servers' connections are closed, and their closes audited
    await connectionsClosed(connections);
    await Promise.all(
      proxies.map(
        (s) =>
          new Promise<void>((done) => {
            s.close(() => done());
            setTimeout(done, 1000).unref();
          }),
      ),
    );
    await Promise.all(prepared.map((p) => cleanupSessionAsync(p)));
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  };
  /** One server's proxy options: its front doors share one bound of refusals, reported on close. */
  const egressFor = (engine: Engine, token: string, id: string): EgressOptions => {
    const audit = (r: AuditRecord): void =>
      options.audit({ ...r, outcome: { ...(r.outcome ?? {}), mcp_server: id } });
    return {
      engine,
      sessionId: options.sessionId,
      token,
      signal: over.signal,
      connections,
      audit,
      refusals: createRefusalAudit({ audit, sessionId: options.sessionId, signal: over.signal }),
    };
  };
  /** Listens on a socket, 0600 in its 0700 directory, as the agent session's own (sandbox.md case 13). */
  const listen = (server: Server, path: string): Promise<void> => {
    proxies.push(server);
    return listenPrivate(server, path);
  };
  const out: UpstreamSpec[] = [];
  try {
    for (const spec of specs) {
      const t = spec.transport;
      const entry = catalog.find((c) => c.server.id === spec.id);
      // Every upstream comes from the catalog; one that does not is never started unconfined.
      if (entry === undefined)
        throw new UpstreamSandboxError(`the MCP server ${spec.id} is not in the catalog`);
      // A server that is never started (its credential cannot be given) needs no sandbox.
      if (spec.unavailable !== undefined) {
        out.push(spec);
        continue;
      }
      if (t.kind === 'http') {
        // A remote server: reached only through an egress proxy that allows its URL alone.
        const engine = createEngine([compileServerPolicy(remoteServerPolicy(entry.server), spec.id)], {
          context: { home: options.home, workspace: options.workspace },
        });
        const dir = mkdtempSync(join(options.hostEnv.XDG_RUNTIME_DIR ?? tmpdir(), 'perimeter-mcp-'));
        chmodSync(dir, 0o700);
        scratch.push(dir);
        const socket = join(dir, 'http.sock');
        const token = randomBytes(24).toString('base64url');
        await listen(createEgressProxy(egressFor(engine, token, spec.id)), socket);
        out.push({ ...spec, transport: { ...t, fetch: tunnelFetch(() => connect(socket), token) } });
        continue;
      }
      const home = join(options.homesDir, spec.id);
      mkdirSync(home, { recursive: true, mode: 0o700 });
      const policy = compileServerPolicy(serverSandboxPolicy(entry.server, home), spec.id);
      const engine = createEngine([policy], {
        context: { home: options.home, workspace: options.workspace },
      });
      let session: PreparedSession;
      try {
        session = await prepareSession({
          engine,
          sessionId: options.sessionId,
          workspace: options.workspace,
          home: options.home,
          homeEnv: home,
          // A server without the workspace starts in its home (the workspace is not there).
          ...(entry.server.sandbox?.workspace === 'none' ? { cwd: home } : {}),
          command: [t.command, ...t.args],
          hostEnv: options.hostEnv,
          // The entry's env and the server's credential, in bubblewrap's options (read from a
          // descriptor, never its command line).
          ...(entry.server.env ? { env: entry.server.env } : {}),
          ...(t.credentialEnv ? { credentialEnv: t.credentialEnv } : {}),
          readOnly: options.readOnly,
          hidden: options.hidden,
          // Its home is kept in Perimeter's state, which a workspace (or a grant) may hold.
          grantedInHidden: [home],
        });
      } catch (e) {
        if (e instanceof SessionError)
          throw new UpstreamSandboxError(
            `the MCP server ${spec.id} cannot be sandboxed: ${e.message} (${e.fix})`,
          );
        throw e;
      }
      prepared.push(session);
      const egress = egressFor(engine, session.token, spec.id);
      await listen(createEgressProxy(egress), join(session.sockets, 'http.sock'));
      await listen(createSocksProxy(egress), join(session.sockets, 'socks.sock'));
      out.push({
        ...spec,
        transport: { ...t, launch: () => spawnSandboxed(session), isolation: 'sandbox' },
      });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { specs: out, close };
}

function compileServerPolicy(doc: PolicyDocument, id: string): ReturnType<typeof compilePolicy>['policy'] {
  const { policy, diagnostics } = compilePolicy(doc);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    const first = errors[0];
    throw new UpstreamSandboxError(
      `the sandbox of the MCP server ${id} is not a valid policy (${SERVER_POLICY_NAME}): ${first ? formatDiagnostic(first) : ''}`,
    );
  }
  return policy;
}
