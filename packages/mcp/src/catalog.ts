// From the policy's catalog to upstream connections: the command line and environment exactly as
// the policy writes them (`${workspace}` expanded), never anything from a request. A stdio server
// starts with a small environment (PATH, HOME, locale) plus what its entry sets, not the user's:
// tokens in the shell that started the gateway stay there.

import type { McpCatalogEntry } from '@perimeter/policy';
import type { UpstreamSpec } from './upstream.js';

export interface CatalogContext {
  readonly workspace?: string;
  /** The environment the base variables are taken from (defaults to this process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
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
  return catalog.map(({ server }) => {
    if (server.command !== undefined) {
      const [command, ...args] = server.command.map((part) => expand(part, server.id));
      const base: Record<string, string> = {};
      for (const key of BASE_ENV) {
        const value = env[key];
        if (value !== undefined) base[key] = value;
      }
      return {
        id: server.id,
        transport: {
          kind: 'stdio',
          command: command ?? '',
          args,
          env: { ...base, ...server.env },
          ...(ctx.workspace !== undefined ? { cwd: ctx.workspace } : {}),
        },
      };
    }
    return {
      id: server.id,
      transport: {
        kind: 'http',
        url: new URL(server.url ?? ''),
        headers: {},
      },
    };
  });
}
