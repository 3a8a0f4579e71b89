// Each stdio MCP server of the catalog in a sandbox of its own: the session sandbox of
// `perimeter run` (bubblewrap, every namespace, the mount plan, seccomp), built from the server's
// catalog entry (packages/mcp serverSandboxPolicy) instead of the agent's policy, with an egress
// proxy of its own that decides and audits every connection the server attempts. Loaded only with
// the MCP gateway.

import { setMaxListeners } from 'node:events';
import { chmodSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import type { AuditRecord } from '@perimeter/audit';
import { createEgressProxy, createSocksProxy } from '@perimeter/egress';
import { SERVER_POLICY_NAME, serverSandboxPolicy, type UpstreamSpec } from '@perimeter/mcp';
import {
  compilePolicy,
  createEngine,
  formatDiagnostic,
  type McpCatalogEntry,
  type PolicyDocument,
} from '@perimeter/policy';
import {
  SessionError,
  cleanupSession,
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
  /** Paths no server may see (Perimeter's state directory). */
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
  const over = new AbortController();
  setMaxListeners(0, over.signal); // one listener per open tunnel, any number of them
  const close = async (): Promise<void> => {
    over.abort();
    await Promise.all(
      proxies.map(
        (s) =>
          new Promise<void>((done) => {
            s.close(() => done());
            setTimeout(done, 1000).unref();
          }),
      ),
    );
    for (const p of prepared) cleanupSession(p);
  };
  const out: UpstreamSpec[] = [];
  try {
    for (const spec of specs) {
      const t = spec.transport;
      const entry = catalog.find((c) => c.server.id === spec.id);
      if (t.kind !== 'stdio' || entry === undefined) {
        out.push(spec);
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
        session = prepareSession({
          engine,
          sessionId: options.sessionId,
          workspace: options.workspace,
          home: options.home,
          homeEnv: home,
          // A server without the workspace starts in its home (the workspace is not there).
          ...(entry.server.sandbox?.workspace === 'none' ? { cwd: home } : {}),
          command: [t.command, ...t.args],
          hostEnv: options.hostEnv,
          credentialEnv: entry.server.env ?? {},
          readOnly: options.readOnly,
          hidden: options.hidden,
        });
      } catch (e) {
        if (e instanceof SessionError)
          throw new UpstreamSandboxError(
            `the MCP server ${spec.id} cannot be sandboxed: ${e.message} (${e.fix})`,
          );
        throw e;
      }
      prepared.push(session);
      const egress = {
        engine,
        sessionId: options.sessionId,
        token: session.token,
        signal: over.signal,
        audit: (r: AuditRecord): void =>
          options.audit({ ...r, outcome: { ...(r.outcome ?? {}), mcp_server: spec.id } }),
      };
      for (const [name, server] of [
        ['http.sock', createEgressProxy(egress)],
        ['socks.sock', createSocksProxy(egress)],
      ] as const) {
        proxies.push(server);
        // 0600 in the 0700 session directory, as the agent session's own (sandbox.md case 13).
        await new Promise<void>((ok, fail) => {
          server.once('error', fail);
          server.listen(join(session.sockets, name), () => ok());
        });
        chmodSync(join(session.sockets, name), 0o600);
      }
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
