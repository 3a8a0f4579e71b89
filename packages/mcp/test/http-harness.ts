// What the HTTP tests share: a gateway over one scripted server (fixtures/scripted-server.ts),
// every tool allowed and the tool `ask` asked (and `ask2`), listening on 127.0.0.1 with a bearer token; raw
// POSTs with the usual headers; raw 2026-07-28 tool calls; and a bounded wait.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import { listenHttp, type HttpListener, type HttpListenOptions } from '../src/http.js';
import type { Gateway } from '../src/gateway.js';
import type { ScriptedSpec } from './fixtures/scripted-server.js';
import { startGateway, writeSpec } from './gateway-harness.js';

export { tool, until } from './gateway-harness.js';

export const SCRIPTED = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/scripted-server.js');
export const TOKEN = 'http-test-token-0123456789abcdef';
export const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-http-')));
after(() => rmSync(root, { recursive: true, force: true }));

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
};
export const POST_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: `Bearer ${TOKEN}`,
};

export interface Harness {
  readonly url: string;
  readonly listener: HttpListener;
  readonly gateway: Gateway;
  readonly events: AuditRecord[];
  spec(s: ScriptedSpec): void;
  /** What reached the scripted server, one JSON line per request. */
  seen(): string;
  close(): Promise<void>;
}

let harnesses = 0;

/**
 * A gateway over one scripted server `s` (every tool allowed, `ask` asked), listening on 127.0.0.1
 * (or on `options.path`).
 */
export async function start(
  spec: ScriptedSpec,
  options: Pick<HttpListenOptions, 'maxSessions' | 'path' | 'bodyTimeoutMs' | 'maxConnections'> = {},
): Promise<Harness> {
  const dir = join(root, `h${++harnesses}`);
  mkdirSync(dir);
  const specFile = join(dir, 's.json');
  const write = (s: ScriptedSpec): void => writeSpec(specFile, s);
  write(spec);
  const q = JSON.stringify;
  const policy = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: http-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: s, command: [${q(process.execPath)}, ${q(SCRIPTED)}, ${q(specFile)}] }
  allow:
    - { id: all, server: s, tools: ["*"] }
  ask:
    - { id: ask-first, server: s, tools: [ask, ask2] }
`;
  const { gateway, events } = await startGateway(policy, {
    home: dir,
    workspace: dir,
    sessionId: `http-${harnesses}`,
  });
  const listener = await listenHttp(gateway, { host: '127.0.0.1', port: 0, token: TOKEN, ...options });
  return {
    url: listener.url,
    listener,
    gateway,
    events,
    spec: write,
    seen: () => (existsSync(`${specFile}.log`) ? readFileSync(`${specFile}.log`, 'utf8') : ''),
    close: async () => {
      await listener.close();
      await gateway.close();
    },
  };
}

/** A raw POST of `body` (JSON unless a string) with the usual headers, overridden by `headers`. */
export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { ...POST_HEADERS, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A tool that routes by region, its region and count mirrored in `Mcp-Param-*` headers. */
export const ROUTED = {
  name: 'route',
  description: 'Routes by region.',
  inputSchema: {
    type: 'object' as const,
    properties: {
      region: { type: 'string', 'x-mcp-header': 'Region' },
      count: { type: 'integer', 'x-mcp-header': 'Count' },
      text: { type: 'string' },
    },
  },
};

export const MODERN = '2026-07-28';
export const ENVELOPE_PREFIX = 'io.modelcontextprotocol/';

/** The per-request envelope of a 2026-07-28 client, named `raw-2026` unless `client` names it. */
export function envelope(
  capabilities: object = { elicitation: {} },
  client: { name: string; version: string } = { name: 'raw-2026', version: '1' },
): Record<string, unknown> {
  return {
    [`${ENVELOPE_PREFIX}protocolVersion`]: MODERN,
    [`${ENVELOPE_PREFIX}clientInfo`]: client,
    [`${ENVELOPE_PREFIX}clientCapabilities`]: capabilities,
  };
}

let ids = 0;
/** A request id not used before in this process. */
export const nextId = (): number => ++ids;

/** A JSON-RPC answer and the HTTP status it came with. */
export interface Answer {
  readonly status: number;
  readonly result?: Record<string, unknown>;
  readonly error?: { code: number; message: string };
}

/**
 * A raw 2026-07-28 tools/call of the tool exposed as `name`, with the headers a conforming client
 * sends (`headers` adds or overrides) and `params` beside the name and arguments.
 */
export async function callModern(
  url: string,
  name: string,
  args: Record<string, unknown>,
  options: {
    params?: object;
    headers?: Record<string, string>;
    capabilities?: object;
    client?: { name: string; version: string };
  } = {},
): Promise<Answer> {
  const r = await post(
    url,
    {
      jsonrpc: '2.0',
      id: nextId(),
      method: 'tools/call',
      params: {
        name,
        arguments: args,
        ...options.params,
        _meta: envelope(options.capabilities, options.client),
      },
    },
    { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': name, ...options.headers },
  );
  return answerOf(r);
}

/** The JSON-RPC answer of a response: its JSON body, or the last data line of its event stream. */
export async function answerOf(r: Response): Promise<Answer> {
  const text = await r.text();
  const json = r.headers.get('content-type')?.startsWith('text/event-stream')
    ? (text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .pop()
        ?.slice(6) ?? '{}')
    : text;
  return { status: r.status, ...(JSON.parse(json) as Omit<Answer, 'status'>) };
}
