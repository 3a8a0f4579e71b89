// The gateway over Streamable HTTP, for clients that connect to a URL: loopback by default, every
// request checked before any MCP is read — the Host must be the address we listen on and an Origin,
// when a browser sends one, must be ours (DNS rebinding, threat 10), and a bearer token is required
// (compared in constant time). Sessions exist only after authentication, are capped in number and
// expire when idle (threat 17). The client's Authorization header ends here: upstreams never see it.

import { randomUUID, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Gateway } from './gateway.js';

export interface HttpListenOptions {
  /** The address clients use: listened on, and expected in Host (and Origin). */
  readonly host: string;
  readonly port: number;
  /**
   * Listen on this Unix socket instead (the session sandbox's bridge relays 127.0.0.1:port to it):
   * `host` and `port` then only name the address clients use.
   */
  readonly path?: string;
  readonly token: string;
  /** Origins allowed besides the listening address itself (e.g. a local web client's). */
  readonly origins?: readonly string[];
  readonly maxSessions?: number;
  readonly idleMs?: number;
  readonly maxBodyBytes?: number;
}

export interface HttpListener {
  readonly url: string;
  readonly server: HttpServer;
  close(): Promise<void>;
}

interface Live {
  readonly transport: StreamableHTTPServerTransport;
  lastUsed: number;
}

const PATH = '/mcp';

export async function listenHttp(gateway: Gateway, options: HttpListenOptions): Promise<HttpListener> {
  const sessions = new Map<string, Live>();
  const maxSessions = options.maxSessions ?? 64;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const token = Buffer.from(options.token);
  let hosts = new Set<string>();
  let origins = new Set<string>();

  const refuse = (
    res: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
  };

  const isAuthorised = (req: IncomingMessage): boolean => {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    return given.length === token.length && timingSafeEqual(given, token);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!hosts.has((req.headers.host ?? '').toLowerCase()))
      return refuse(res, 403, 'Forbidden: unexpected Host');
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase()))
      return refuse(res, 403, 'Forbidden: unexpected Origin');
    if (url.pathname !== PATH) return refuse(res, 404, `Not found: the MCP endpoint is ${PATH}`);
    if (!isAuthorised(req))
      return refuse(res, 401, 'Unauthorized: a bearer token is required', { 'www-authenticate': 'Bearer' });
    const body = req.method === 'POST' ? await readJson(req, maxBody) : undefined;
    if (body && 'error' in body) return refuse(res, body.status, body.error);
    const id = req.headers['mcp-session-id'];
    const live = typeof id === 'string' ? sessions.get(id) : undefined;
    if (live) {
      live.lastUsed = Date.now();
      return live.transport.handleRequest(req, res, body?.value);
    }
    if (typeof id === 'string') return refuse(res, 404, 'Session not found: initialize again');
    if (req.method !== 'POST' || !isInitializeRequest(body?.value))
      return refuse(res, 400, 'Bad Request: no session; send initialize first');
    if (sessions.size >= maxSessions)
      return refuse(res, 503, `Too many sessions (${maxSessions}); close one first`);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, lastUsed: Date.now() });
      },
      onsessionclosed: (sid) => {
        sessions.delete(sid);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await gateway.createServer().connect(transport);
    await transport.handleRequest(req, res, body?.value);
    // The SDK refused the initialize (406 Accept, 415 Content-Type, 400): no session exists, so
    // nothing would ever close this transport and its gateway server; close them now.
    if (transport.sessionId === undefined) await transport.close();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) refuse(res, 500, `Internal error: ${e instanceof Error ? e.message : String(e)}`);
      else res.destroy();
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // SSE streams stay open

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (options.path !== undefined) server.listen(options.path, listening);
    else server.listen(options.port, options.host, listening);
  });
  const port = options.path !== undefined ? options.port : (server.address() as AddressInfo).port;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const names = [hostPart, ...(isLoopback(options.host) ? ['localhost', '127.0.0.1', '[::1]'] : [])];
  hosts = new Set(names.map((n) => `${n}:${port}`.toLowerCase()));
  origins = new Set([
    ...names.map((n) => `http://${n}:${port}`.toLowerCase()),
    ...(options.origins ?? []).map((o) => o.toLowerCase()),
  ]);

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [sid, live] of sessions) {
        if (now - live.lastUsed > idleMs) {
          sessions.delete(sid);
          live.transport.close().catch(() => undefined);
        }
      }
    },
    Math.min(idleMs, 60_000),
  );
  sweep.unref();

  return {
    url: `http://${hostPart}:${port}${PATH}`,
    server,
    close: async () => {
      clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((l) => l.transport.close()));
      sessions.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

async function readJson(
  req: IncomingMessage,
  limit: number,
): Promise<{ value: unknown } | { status: number; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return { status: 413, error: `Payload too large: more than ${limit} bytes` };
    chunks.push(chunk);
  }
  try {
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch {
    return { status: 400, error: 'Parse error: the body is not JSON' };
  }
}
