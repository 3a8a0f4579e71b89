// From the policy's catalog to upstream connections: the command line and environment exactly as
// the policy writes them (`${workspace}` expanded), never anything from a request. A stdio server
// starts with a small environment (PATH, HOME, locale) plus what its entry sets, not the user's:
// tokens in the shell that started the gateway stay there. A server's credential comes from the
// binding its entry names (server-credential.ts), with the values the caller read from the secret
// store: in the server's environment (stdio) or its request headers (remote); a credential that
// cannot be given leaves the server unavailable, with the reason.

import type { Engine, McpCatalogEntry } from '@perimeter/policy';
import { serverCredential, type CredentialOutcome } from './server-credential.js';
import type { UpstreamSpec } from './upstream.js';

export interface CatalogContext {
  readonly workspace?: string;
  /** The environment the base variables are taken from (defaults to this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The policy in force: it decides each server's credential (servers that name none need no engine). */
  readonly engine?: Engine;
  /** The real values of the bound secrets the store holds, by secret name (host memory only). */
  readonly secrets?: ReadonlyMap<string, string>;
}

const BASE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SHELL', 'TERM'];

export class CatalogError extends Error {}

export function upstreamSpecs(catalog: readonly McpCatalogEntry[], ctx: CatalogContext = {}): UpstreamSpec[] {
  const env = ctx.env ?? process.env;
  const expand = (text: string, server: string): string => {
    if (!text.includes('${workspace}')) return text;
    if (ctx.workspace === undefined)
      throw new CatalogError(`the MCP server ${server} needs \${workspace}, and there is no workspace`);
    return text.split('${workspace}').join(ctx.workspace);
  };
  return catalog.map((entry): UpstreamSpec => {
    const { server } = entry;
    const credential: CredentialOutcome =
      ctx.engine !== undefined
        ? serverCredential(entry, ctx.engine, ctx.secrets ?? new Map())
        : server.credential === undefined
          ? { kind: 'none' }
          : { kind: 'refused', reason: `its credential "${server.credential}" was not given to the gateway` };
    const outcome =
      credential.kind === 'given'
        ? { credential: credential.credential }
        : credential.kind === 'refused'
          ? {
              ...(credential.credential ? { credential: credential.credential } : {}),
              unavailable: credential.reason,
            }
          : {};
    // How the server is spoken to: its revision and how long its handshake may take.
    const connection = {
      ...(server.protocol === '2026-07-28' ? { protocol: server.protocol } : {}),
      ...(server.start_timeout !== undefined ? { startTimeoutMs: server.start_timeout * 1000 } : {}),
    };
    if (server.command !== undefined) {
      const [command, ...args] = server.command.map((part) => expand(part, server.id));
      const base: Record<string, string> = {};
      for (const key of BASE_ENV) {
        const value = env[key];
        if (value !== undefined) base[key] = value;
      }
      const secretEnv = credential.kind === 'given' ? (credential.env ?? {}) : {};
      return {
        id: server.id,
        transport: {
          kind: 'stdio',
          command: command ?? '',
          args,
          env: { ...base, ...server.env, ...secretEnv },
          ...(Object.keys(secretEnv).length > 0 ? { credentialEnv: secretEnv } : {}),
          ...(ctx.workspace !== undefined ? { cwd: ctx.workspace } : {}),
        },
        ...connection,
        ...outcome,
      };
    }
    return {
      id: server.id,
      transport: {
        kind: 'http',
        url: new URL(server.url ?? ''),
        // Only the binding's header: nothing of the client's request is ever forwarded.
        headers: credential.kind === 'given' ? { ...credential.headers } : {},
      },
      ...connection,
      ...outcome,
    };
  });
}
