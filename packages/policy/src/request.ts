// Requests: what a part of Perimeter asks the engine about. Pure. `parseRequest` also reads the
// short forms people write in policy tests and on the command line
// ({network: "api.github.com:443"}, {mcp: "github/create_issue", args: {...}}, …).

import { parsePort } from './host.js';
import type { Surface, ToolAnnotations } from './schema.js';
import { policySchemas } from './schema.js';

export interface NetworkRequest {
  readonly surface: 'network';
  /** The host as received: a name or an IP literal in any spelling; canonicalised by the engine. */
  readonly host: string;
  readonly port: number;
  /** HTTP method, for plain or intercepted HTTP; absent for an opaque tunnel. */
  readonly method?: string;
  /** HTTP path (no query), for plain or intercepted HTTP. */
  readonly path?: string;
  /** Addresses the name resolved to, judged by the built-in guard after the name is allowed. */
  readonly resolved?: readonly string[];
  /**
   * A connection whose HTTP requests the proxy will see (TLS it terminates) and judge one by one:
   * rules about methods or paths are left to those requests, so an allow of some paths admits the
   * connection and a deny of some paths does not refuse all of it.
   */
  readonly inspected?: boolean;
}

export interface FilesystemRequest {
  readonly surface: 'filesystem';
  readonly path: string;
  readonly access: 'read' | 'write';
}

export interface McpRequest {
  readonly surface: 'mcp';
  readonly server: string;
  readonly tool: string;
  /** `list`: may the tool be shown at all (argument rules cannot be judged yet); `call` (default). */
  readonly action?: 'list' | 'call';
  readonly args?: Readonly<Record<string, unknown>>;
  /** The tool's annotations as the server declared them (MCP defaults apply to missing ones). */
  readonly annotations?: ToolAnnotations;
}

export interface ExecRequest {
  readonly surface: 'exec';
  /** Either an argv as passed to execve, or a shell command line (split into commands). */
  readonly argv?: readonly string[];
  readonly command?: string;
}

export interface CredentialRequest {
  readonly surface: 'credential';
  readonly secret: string;
  /** The destination the secret would be sent to; absent to ask whether the session may hold it at all. */
  readonly host?: string;
  readonly port?: number;
  /**
   * The MCP catalog server the gateway sends it to: a remote server's entry binds the credential it
   * names to the server's own URL (Engine.catalogBinding). Only the gateway asks with it; a request
   * from the sandbox's egress proxy never does, so the entry widens nothing there.
   */
  readonly server?: string;
}

export type Request = NetworkRequest | FilesystemRequest | McpRequest | ExecRequest | CredentialRequest;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function fail(error: string): { error: string } {
  return { error };
}

function splitHostPort(
  text: string,
  defaultPort?: number,
): { host: string; port: number } | { error: string } {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    host = close >= 0 ? text.slice(0, close + 1) : text;
    if (close >= 0 && text.length > close + 1) {
      if (text[close + 1] !== ':') return fail(`unexpected text after "${host}"`);
      portText = text.slice(close + 2);
    }
  } else if (text.split(':').length === 2) {
    const at = text.indexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
  }
  if (portText === undefined) {
    if (defaultPort === undefined)
      return fail(`"${text}" has no port; write host:port, for example example.com:443`);
    return { host, port: defaultPort };
  }
  // The same port rule as parseAuthority: no sign, no leading zero, 1–65535.
  const port = parsePort(portText);
  if (port === undefined) return fail(`"${portText}" is not a port number (1–65535)`);
  return { host, port };
}

const SCHEME_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };

function networkFromUrl(url: string): { host: string; port: number; path: string } | { error: string } {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(url);
  if (!m) return fail(`"${url}" is not a URL`);
  const scheme = (m[1] ?? '').toLowerCase();
  const defaultPort = SCHEME_PORTS[scheme];
  if (defaultPort === undefined)
    return fail(`the URL scheme "${scheme}" is not supported; use http, https, ws or wss`);
  const authority = m[2] ?? '';
  if (authority.includes('@') || authority.includes('\\')) {
    return fail(`"${url}" carries user info or a backslash in its authority, which parsers read differently`);
  }
  const hp = splitHostPort(authority, defaultPort);
  if ('error' in hp) return hp;
  return { ...hp, path: m[3] === '' ? '/' : (m[3] ?? '/') };
}

function strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * Reads a request from JSON-like input: either the full form (`{surface: "network", host, port}`)
 * or a short form keyed by the surface. Returns one sentence on what is wrong.
 */
export function parseRequest(raw: unknown): { request: Request } | { error: string } {
  if (!isObj(raw)) return fail('a request is a JSON object such as {"network": "example.com:443"}');
  let input: Obj = raw;
  const surfaces: Surface[] = ['network', 'filesystem', 'mcp', 'exec', 'credential'];
  const keyed = surfaces.filter((s) => s in input);
  const surface: string | undefined =
    typeof input.surface === 'string' ? input.surface : keyed.length === 1 ? keyed[0] : undefined;
  if (surface === undefined) {
    return fail(
      keyed.length > 1
        ? `a request names one surface, not ${keyed.join(' and ')}`
        : 'a request names a surface: network, filesystem, mcp, exec or credential',
    );
  }
  const short = input[surface];
  switch (surface) {
    case 'network': {
      let host: string;
      let port: number;
      let path = typeof input.path === 'string' ? input.path : undefined;
      if (typeof short === 'string') {
        const r = short.includes('://') ? networkFromUrl(short) : splitHostPort(short);
        if ('error' in r) return r;
        host = r.host;
        port = r.port;
        if ('path' in r && typeof r.path === 'string' && path === undefined) path = r.path;
      } else {
        const src = isObj(short) ? short : input;
        if (typeof src.host !== 'string') return fail('a network request needs a host');
        if (typeof src.port !== 'number' || !Number.isInteger(src.port))
          return fail('a network request needs a port number');
        host = src.host;
        port = src.port;
        if (typeof src.path === 'string') path = src.path;
        if (typeof src.method === 'string' && typeof input.method !== 'string')
          input = { ...input, method: src.method };
      }
      const method = typeof input.method === 'string' ? input.method : undefined;
      if (input.resolved !== undefined && !strings(input.resolved))
        return fail('resolved must be a list of addresses');
      return {
        request: {
          surface,
          host,
          port,
          ...(method !== undefined ? { method } : path !== undefined ? { method: 'GET' } : {}),
          ...(path !== undefined ? { path } : {}),
          ...(input.resolved !== undefined ? { resolved: input.resolved } : {}),
        },
      };
    }
    case 'filesystem': {
      const path = typeof short === 'string' ? short : input.path;
      if (typeof path !== 'string') return fail('a filesystem request needs a path');
      const access = input.access ?? 'read';
      if (access !== 'read' && access !== 'write') return fail('access is "read" or "write"');
      return { request: { surface, path, access } };
    }
    case 'mcp': {
      let server = input.server;
      let tool = input.tool;
      if (typeof short === 'string') {
        const slash = short.indexOf('/');
        if (slash <= 0 || slash === short.length - 1)
          return fail(`"${short}" should be server/tool, for example github/create_issue`);
        server = short.slice(0, slash);
        tool = short.slice(slash + 1);
      }
      if (typeof server !== 'string' || typeof tool !== 'string')
        return fail('an MCP request needs a server and a tool');
      const args = input.args ?? input.arguments;
      if (args !== undefined && !isObj(args)) return fail('args must be a JSON object');
      let annotations: ToolAnnotations | undefined;
      if (input.annotations !== undefined) {
        const a = policySchemas().ToolAnnotations.safeParse(input.annotations);
        if (!a.success)
          return fail(
            'annotations take readOnlyHint, destructiveHint, idempotentHint and openWorldHint, each true or false',
          );
        annotations = a.data;
      }
      const action = input.action ?? 'call';
      if (action !== 'call' && action !== 'list') return fail('action is "call" or "list"');
      return {
        request: {
          surface,
          server,
          tool,
          action,
          ...(args ? { args } : {}),
          ...(annotations ? { annotations } : {}),
        },
      };
    }
    case 'exec': {
      const value = short ?? input.command ?? input.argv;
      if (typeof value === 'string') return { request: { surface, command: value } };
      if (strings(value)) return { request: { surface, argv: value } };
      return fail('an exec request is a command line (string) or an argv (list of strings)');
    }
    case 'credential': {
      const secret = typeof short === 'string' ? short : input.secret;
      if (typeof secret !== 'string') return fail('a credential request names the secret');
      if (input.server !== undefined && typeof input.server !== 'string')
        return fail('server must be a string (the id of an MCP catalog server)');
      const server = typeof input.server === 'string' ? { server: input.server } : {};
      if (input.host === undefined) return { request: { surface, secret, ...server } };
      if (typeof input.host !== 'string') return fail('host must be a string');
      const hp = splitHostPort(input.host, typeof input.port === 'number' ? input.port : 443);
      if ('error' in hp) return hp;
      return { request: { surface, secret, host: hp.host, port: hp.port, ...server } };
    }
    default:
      return fail(`"${surface}" is not a surface; use network, filesystem, mcp, exec or credential`);
  }
}

/** The resource a request is about, as written in audit events and explanations (before canonicalisation). */
export function describeRequest(r: Request): string {
  switch (r.surface) {
    case 'network':
      return `${r.method ? `${r.method} ` : ''}${r.host}:${r.port}${r.path ?? ''}`;
    case 'filesystem':
      return `${r.access} ${r.path}`;
    case 'mcp':
      return `${r.server}/${r.tool}`;
    case 'exec':
      return r.command ?? (r.argv ?? []).join(' ');
    case 'credential':
      return r.host ? `${r.secret} → ${r.host}:${r.port ?? 443}` : r.secret;
  }
}
