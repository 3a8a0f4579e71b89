// The gateway over Streamable HTTP, for clients that connect to a URL: loopback by default, every
// request checked before any MCP is read — the Host must be the address we listen on and an Origin,
// when a browser sends one, must be ours (DNS rebinding, threat 10), and a bearer token is required
// (compared in constant time). Sessions exist only after authentication, are capped in number and
// expire when idle (threat 17); at the cap, the least recently used idle one makes room for a new
// one (redteam-34-3). Connections are capped too, a POST body must arrive within a
// deadline, and a refusal made before the body arrived closes its connection: nobody, with a token
// or without, holds sockets by trickling bodies (redteam-31-7). What bodies hold of the gateway's
// memory at once, across connections, is bounded, and so is how many JSON values one body makes
// (redteam-37-4). The client's Authorization header ends here: upstreams never see it.
//
// One endpoint serves both protocol eras. A 2025-era client (initialize, then a session) is served
// by HttpSession; a 2026-07-28 request (sessionless: each carries the client's identity and
// capabilities) by the SDK's per-request handler, which checks that its headers agree with its body
// (threat 11) and serves subscriptions/listen for list changes. The SDK's own classifier decides
// which is which, after the same gate, Content-Type and body limit.

import { randomUUID, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  classifyInboundRequest,
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  PROTOCOL_VERSION_META_KEY,
} from '@modelcontextprotocol/server';
import {
  ErrorCode,
  isInitializeRequest,
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { Gateway, RefusedRequest } from './gateway.js';
import { HttpSession, isRequest } from './http-session.js';
import { jsonStructure } from './json-structure.js';
import { HEADER_MISMATCH, paramHeaderMismatch } from './param-headers.js';

export interface HttpListenOptions {
  /** The address clients use: listened on, and expected in Host (and Origin). */
  readonly host: string;
  readonly port: number;
  /**
   * Listen on this Unix socket instead (the session sandbox's bridge relays 127.0.0.1:port to it):
   * `host` and `port` then only name the address clients use. The socket is made 0600.
   */
  readonly path?: string;
  readonly token: string;
  /** Origins allowed besides the listening address itself (e.g. a local web client's). */
  readonly origins?: readonly string[];
  readonly maxSessions?: number;
  readonly idleMs?: number;
  readonly maxBodyBytes?: number;
  /**
   * The most request bodies may hold of the gateway's memory at once, across every connection
   * (at least `maxBodyBytes`): past it a request is refused (503). See BodyBudget.
   */
  readonly maxBodiesBytes?: number;
  /** How long a POST body may take to arrive, whole, before the request is refused (408). */
  readonly bodyTimeoutMs?: number;
  /** The most connections open at once: past it, a new connection is closed as it comes. */
  readonly maxConnections?: number;
}

export interface HttpListener {
  readonly url: string;
  readonly server: HttpServer;
  close(): Promise<void>;
}

const PATH = '/mcp';
/** The most messages one POST may carry (the SDK's own limit). */
const MAX_BATCH = 100;
/** The largest subscriptions/listen request (redteam-37-4: open streams held what they were opened with). */
const MAX_LISTEN_BYTES = 64 * 1024;
/** The id of `value`, a request, to name in its refusal (none when it has no usable one). */
const requestIdOf = (value: unknown): { id?: RequestId } => {
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? { id } : {};
};
/** Whether `value` is a subscriptions/listen request. */
const isListen = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  (value as { method?: unknown }).method === 'subscriptions/listen';
/** The most 2026-07-28 requests served at once, subscription streams included. */
const MAX_MODERN_IN_FLIGHT = 256;
/**
 * The most connections open at once, by default: room for every 2026-07-28 request in flight and
 * every session's event stream and calls beside them, not for a client that opens sockets and
 * holds them (redteam-31-7).
 */
const MAX_CONNECTIONS = 512;
/** What request bodies may hold at once, by default: eight times the most one body may be. */
const MAX_BODIES_BYTES = 32 * 1024 * 1024;
/**
 * What one JSON value of a body is counted as holding, once parsed: about what V8 takes for an
 * empty array (some 40 bytes) and the copies the SDK's schemas and the gateway's scan make.
 */
const VALUE_BYTES = 64;
/** A session id we do not hold (never given, ended, expired or closed for room): initialize again. */
const SESSION_NOT_FOUND: Refusal = {
  status: 404,
  code: -32001,
  message: 'Session not found: initialize again',
};
/** A POST body that is not JSON: the 2025-era path answers it with a parse error. */
const NOT_JSON = Symbol('not JSON');

/** A refusal: HTTP status, JSON-RPC error code, one sentence. */
interface Refusal {
  readonly status: number;
  readonly code?: number;
  readonly message: string;
  /** The id of the request refused, when there is one to name. */
  readonly id?: RequestId;
  readonly headers?: Record<string, string>;
  /** Recorded already, as the denial of the call it asked for (headers that disagree with its body). */
  readonly isAudited?: boolean;
}

export async function listenHttp(gateway: Gateway, options: HttpListenOptions): Promise<HttpListener> {
  const sessions = new Map<string, HttpSession>();
  const maxSessions = options.maxSessions ?? 64;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;
  const bodies = new BodyBudget(options.maxBodiesBytes ?? MAX_BODIES_BYTES);
  const noRoom: Refusal = {
    status: 503,
    message: `Service Unavailable: request bodies already hold all the gateway gives them (${bodies.limit} bytes); retry shortly`,
    headers: { 'retry-after': '1' },
  };
  const token = Buffer.from(options.token);
  let hosts = new Set<string>();
  let origins = new Set<string>();
  // 2026-07-28: a server of the gateway per request (not a connection: list changes reach the
  // client through its subscriptions/listen stream, which this handler serves).
  const modern = createMcpHandler(() => gateway.createServer({ connection: false }), {
    legacy: 'reject',
    maxSubscriptions: maxSessions,
  });
  const unlisten = gateway.addListener(modern.notify);
  let modernInFlight = 0;

  const isAuthorised = (req: IncomingMessage): boolean => {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    return given.length === token.length && timingSafeEqual(given, token);
  };

  /** Who may talk to us at all: checked before any MCP is read. */
  const gate = (req: IncomingMessage): Refusal | undefined => {
    if (!hosts.has((req.headers.host ?? '').toLowerCase()))
      return { status: 403, message: 'Forbidden: unexpected Host' };
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase()))
      return { status: 403, message: 'Forbidden: unexpected Origin' };
    if (pathOf(req.url) !== PATH) return { status: 404, message: `Not found: the MCP endpoint is ${PATH}` };
    if (!isAuthorised(req))
      return {
        status: 401,
        message: 'Unauthorized: a bearer token is required',
        headers: { 'www-authenticate': 'Bearer' },
      };
    return undefined;
  };

  /**
   * A new session on a new server of the gateway. At the cap, the least recently used idle session
   * is closed to make room, and only when every session is busy is the client refused
   * (redteam-34-3: the SDK's 2025-era client never sends DELETE when it closes, so 64 clients that
   * connected, listed and left locked out every new one until the idle sweep). Closed as DELETE
   * and the sweep close one (no session end is audited); its client's next request gets 404, the
   * spec's word to initialize again. Every client holds the same token, so one opening sessions in
   * a loop can close idle sessions, never one whose client is listening or waiting for an answer.
   */
  const open = async (): Promise<HttpSession | Refusal> => {
    if (sessions.size >= maxSessions) {
      const idle = leastRecentlyUsedIdle();
      if (idle === undefined)
        return {
          status: 503,
          message: `Too many sessions (${maxSessions}), each listening or answering; close one first`,
        };
      // It leaves the map at once (the promise is the Transport interface's), so the new session
      // takes its place before any other initialize is looked at.
      idle.close().catch(() => undefined);
    }
    const session = new HttpSession(randomUUID());
    // Counted from now, so sessions opened together keep to the cap; one that fails to connect
    // gives its place back at once rather than at the idle sweep.
    sessions.set(session.sessionId, session);
    session.onclose = () => sessions.delete(session.sessionId);
    try {
      await gateway.createServer().connect(session);
    } catch (e) {
      await session.close();
      throw e;
    }
    return session;
  };

  const leastRecentlyUsedIdle = (): HttpSession | undefined => {
    let oldest: HttpSession | undefined;
    for (const s of sessions.values())
      if (s.isIdle && (oldest === undefined || s.lastUsed < oldest.lastUsed)) oldest = s;
    return oldest;
  };

  /**
   * A tools/call whose `Mcp-Param-*` headers disagree with its arguments, as the listed tool
   * declares them (the SDK checks the standard headers itself, but the tools are the gateway's).
   */
  const paramMismatch = async (req: IncomingMessage, body: unknown): Promise<Refusal | undefined> => {
    const call = body as {
      method?: unknown;
      id?: RequestId;
      params?: { name?: unknown; arguments?: unknown };
    };
    if (call === null || typeof call !== 'object' || call.method !== 'tools/call') return undefined;
    if (typeof call.params?.name !== 'string') return undefined;
    const schema = await gateway.toolInputSchema(call.params.name);
    const mismatch = paramHeaderMismatch(
      schema,
      call.params.arguments,
      (h) => req.headersDistinct[h.toLowerCase()] ?? [],
    );
    if (mismatch === undefined) return undefined;
    await recordRefusal(body, mismatch.header);
    return {
      isAudited: true,
      status: 400,
      code: HEADER_MISMATCH,
      message: `Bad Request: the request headers and body disagree: ${mismatch.reason}`,
      ...(call.id !== undefined ? { id: call.id } : {}),
    };
  };

  /**
   * The SDK's own refusal of a request whose standard headers (`MCP-Protocol-Version`,
   * `Mcp-Method`, `Mcp-Name`) disagree with its body, recorded as the gateway's denial: the
   * request never reaches the gateway, but the audit keeps one event per decision.
   */
  const recordSdkRefusal = async (req: IncomingMessage, answer: Buffer, body: unknown): Promise<void> => {
    let error: { code?: unknown } | undefined;
    try {
      error = (JSON.parse(answer.toString('utf8')) as { error?: typeof error }).error;
    } catch {
      return;
    }
    if (error?.code !== HEADER_MISMATCH) return;
    await recordRefusal(body, disagreeingHeader(req, body));
  };

  /**
   * A refusal for disagreeing headers, recorded as a denial of the call, prompt or read the body
   * asks for (lists decide nothing and are not recorded). The audit is waited for, but one that
   * cannot be written (a spool that failed, a listing that could not be refreshed) still lets the
   * refusal go out, as nothing was done; a spool that failed refuses every later call on its own.
   */
  const recordRefusal = async (body: unknown, header: string): Promise<void> => {
    const refused = refusedRequest(body);
    if (refused === undefined) return;
    try {
      await gateway.recordHeaderRefusal(refused, header);
    } catch (e) {
      // The refusal stands (see above); the operator still hears why it was not audited.
      unaudited(e);
    }
  };

  /** A 2026-07-28 request, answered by the SDK's per-request handler; its answer streamed back. */
  const serveModern = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    share: BodyShare,
  ): Promise<Refusal | undefined> => {
    if (modernInFlight >= MAX_MODERN_IN_FLIGHT)
      return { status: 503, message: `Too many requests in flight (${MAX_MODERN_IN_FLIGHT}); retry shortly` };
    // The place is taken before the first wait, so requests arriving together keep to the cap; and
    // a client that goes away before its answer, even while its tool's schema is looked up, cancels
    // its request (and ends its subscription stream). 'close' after the answer is just the end of
    // the exchange. The body's share is held until the request is done, answered or cancelled, or
    // its answer becomes an event stream (redteam-37-4).
    modernInFlight++;
    const letGo = share.keep();
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    try {
      const mismatch = await paramMismatch(req, body);
      if (mismatch !== undefined) return mismatch;
      if (gone.signal.aborted) return undefined;
      const response = await modern.fetch(webRequest(req, options.host, gone.signal), { parsedBody: body });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body === null) res.end();
      else if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
        // The SDK has its request and we no longer need the body: a stream (a subscription
        // lives as long as its client likes) does not hold its body's share, nor its body.
        share.release();
        body = undefined;
        await pipeline(Readable.fromWeb(response.body as never), res).catch(() => undefined);
      } else {
        const answer = await bytesOf(response.body);
        if (response.status === 400) await recordSdkRefusal(req, answer, body);
        res.end(answer);
      }
    } finally {
      modernInFlight--;
      letGo();
    }
    return undefined;
  };

  const post = async (
    req: IncomingMessage,
    res: ServerResponse,
    session: HttpSession | undefined,
  ): Promise<Refusal | undefined> => {
    if (!isJsonType(req.headers['content-type']))
      return { status: 415, message: 'Unsupported Media Type: the body must be application/json' };
    // Held from its first byte until the request is done: its response closed (answered, refused or
    // its client gone) and whatever else holds it let go (serveModern, a session's exchange).
    const share = new BodyShare(bodies);
    res.once('close', share.keep());
    const body = await readBody(req, maxBody, bodyTimeoutMs, (bytes) => share.take(bytes));
    // Any refusal closes the connection when the body was not read to its end (refuse()).
    if (body === TOO_SLOW)
      return {
        status: 408,
        message: `Request Timeout: the body did not arrive within ${bodyTimeoutMs / 1000} s`,
      };
    if (body === TOO_LARGE) return { status: 413, message: `Payload too large: more than ${maxBody} bytes` };
    if (body === NO_ROOM) return noRoom;
    // Closed while its body arrived (DELETE, the sweep, room for a new session).
    if (session !== undefined && sessions.get(session.sessionId) !== session) return SESSION_NOT_FOUND;
    const repeated = repeatedMcpHeader(req);
    if (repeated !== undefined)
      return {
        status: 400,
        code: HEADER_MISMATCH,
        message: `Bad Request: the ${repeated} header is sent more than once; send it once`,
      };
    // Measured before it is parsed (redteam-37-4), and its values counted against the budget.
    const structure = jsonStructure(body);
    if (structure.problem !== undefined)
      return {
        status: 413,
        code: ErrorCode.InvalidRequest,
        message: `Payload too large: the body ${structure.problem}`,
        ...(structure.requestId !== undefined ? { id: structure.requestId } : {}),
      };
    if (!share.take(structure.values * VALUE_BYTES)) return noRoom;
    const value = jsonOf(body);
    // A subscription lives as long as its client likes, and what it was opened with stays in
    // memory the budget no longer counts (about its size again): its request is a filter and an
    // envelope, a few hundred bytes, so one larger than MAX_LISTEN_BYTES is refused.
    if (body.length > MAX_LISTEN_BYTES && isListen(value))
      return {
        status: 413,
        code: ErrorCode.InvalidRequest,
        message: `Payload too large: a subscriptions/listen request of more than ${MAX_LISTEN_BYTES} bytes`,
        ...requestIdOf(value),
      };
    if (value !== NOT_JSON && !isLegacy(req, value)) return serveModern(req, res, value, share);
    // A 2025-era request has no headers that mirror its body: ones that claim to would show
    // whatever reads them a call other than the one run.
    const mirror = mirrorHeader(req);
    if (mirror !== undefined)
      return {
        status: 400,
        code: HEADER_MISMATCH,
        message: `Bad Request: the ${mirror} header belongs to MCP 2026-07-28 requests (with the _meta envelope); a 2025-era request must not carry it`,
      };
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream'))
      return { status: 406, message: 'Not Acceptable: accept both application/json and text/event-stream' };
    const parsed = messagesOf(value);
    if ('status' in parsed) return parsed;
    const { messages, isBatch } = parsed;
    // The method first: the schema check is a full parse, wanted only for what claims to be initialize.
    const isInitialize = messages.some(
      (m) => 'method' in m && m.method === 'initialize' && isInitializeRequest(m),
    );
    if (session === undefined) {
      if (!isInitialize) return { status: 400, message: 'Bad Request: no session; send initialize first' };
      if (isBatch)
        return { status: 400, code: ErrorCode.InvalidRequest, message: 'Invalid Request: initialize alone' };
      const opened = await open();
      if (!(opened instanceof HttpSession)) return opened;
      opened.post(res, messages, false, { requestInfo: { headers: req.headers } }, share.keep());
      return undefined;
    }
    if (isInitialize)
      return { status: 400, code: ErrorCode.InvalidRequest, message: 'Invalid Request: already initialized' };
    const refused = versionRefusal(req);
    if (refused) return refused;
    const reused = reusedId(session, messages);
    if (reused !== undefined)
      return {
        status: 400,
        code: ErrorCode.InvalidRequest,
        message: `Invalid Request: request id ${JSON.stringify(reused)} is already in use`,
      };
    session.post(res, messages, isBatch, { requestInfo: { headers: req.headers } }, share.keep());
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<Refusal | undefined> => {
    const refused = gate(req);
    if (refused) return refused;
    const method = req.method ?? '';
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE')
      return {
        status: 405,
        message: 'Method not allowed: use POST, GET or DELETE',
        headers: { allow: 'GET, POST, DELETE' },
      };
    const id = req.headers['mcp-session-id'];
    const session = typeof id === 'string' ? sessions.get(id) : undefined;
    if (id !== undefined && session === undefined) return SESSION_NOT_FOUND;
    if (method === 'POST') return post(req, res, session);
    // Nothing reads a GET's or DELETE's body, so one that is declared is refused before it is
    // waited for (refuse() closes the connection): trickled, it held its socket, or an event
    // stream, as long as it kept coming (redteam-32-4).
    if (declaresBody(req))
      return { status: 400, message: `Bad Request: a ${method} carries no body; send it without one` };
    if (session === undefined)
      return { status: 400, message: 'Bad Request: no session; send initialize first' };
    const wrongVersion = versionRefusal(req);
    if (wrongVersion) return wrongVersion;
    if (method === 'DELETE') {
      await session.close();
      res.writeHead(200).end();
      return undefined;
    }
    if (!(req.headers.accept ?? '').includes('text/event-stream'))
      return { status: 406, message: 'Not Acceptable: accept text/event-stream' };
    if (session.openStream(res) === 'conflict')
      return { status: 409, message: 'Conflict: this session already has its event stream open' };
    return undefined;
  };

  /**
   * A refusal made here, before the gateway was asked, goes to the audit (redteam-38-1: a token
   * holder filling the body budget, a client without the token, a page of another origin trying
   * its luck were answered and left no trace). The audit is bounded per second; one that cannot be
   * written lets the refusal go out all the same (nothing was done) and the operator hears why.
   */
  const auditRefusal = (req: IncomingMessage, r: Refusal): void => {
    if (r.isAudited === true) return;
    const method = req.method ?? 'UNKNOWN';
    const resource = pathOf(req.url) === PATH ? `${method} ${PATH}` : `${method} (a path other than ${PATH})`;
    try {
      gateway.recordEndpointRefusal(
        r.status === 401 ? 'unauthenticated' : 'invalid-request',
        resource,
        `HTTP ${r.status}: ${r.message}`,
      );
    } catch (e) {
      unaudited(e);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).then(
      (refused) => {
        if (!refused) return;
        auditRefusal(req, refused);
        refuse(req, res, refused);
      },
      (e: unknown) => {
        // The detail is the operator's (it may name files or upstream internals), not the client's.
        process.stderr.write(
          `perimeter mcp: internal error answering a request: ${e instanceof Error ? e.message : String(e)}\n`,
        );
        if (!res.headersSent)
          refuse(req, res, {
            status: 500,
            code: ErrorCode.InternalError,
            message: 'Internal error: the gateway could not answer this request',
          });
        else res.destroy();
      },
    );
  });
  server.headersTimeout = 30_000;
  // A POST body has its own deadline (readBody), answered with a JSON-RPC 408 at once; Node's
  // requestTimeout would answer without one, and only at its next check (30 s apart by default).
  server.requestTimeout = 0;
  server.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (options.path === undefined) server.listen(options.port, options.host, listening);
    else {
      // A socket is born 0600: listen binds at once, inside this umask.
      const umask = process.umask(0o177);
      try {
        server.listen(options.path, listening);
      } finally {
        process.umask(umask);
      }
    }
  });
  const port = options.path !== undefined ? options.port : (server.address() as AddressInfo).port;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const names = [hostPart, ...(isLoopback(options.host) ? ['localhost', '127.0.0.1', '[::1]'] : [])];
  hosts = new Set(names.map((n) => `${n}:${port}`.toLowerCase()));
  origins = new Set([
    ...names.map((n) => `http://${n}:${port}`.toLowerCase()),
    ...(options.origins ?? []).map((o) => o.toLowerCase()),
  ]);

  // Only idle sessions expire: a client listening on its stream, or waiting on a long call, keeps
  // its session however long it lasts (its connection counts against the cap on connections).
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const session of sessions.values())
        if (session.isIdle && now - session.lastUsed > idleMs) session.close().catch(() => undefined);
    },
    Math.min(idleMs, 60_000),
  );
  sweep.unref();

  return {
    url: `http://${hostPart}:${port}${PATH}`,
    server,
    close: async () => {
      clearInterval(sweep);
      unlisten();
      await Promise.allSettled([modern.close(), ...[...sessions.values()].map((s) => s.close())]);
      sessions.clear();
      // Connections still open (idle keep-alive, a body still arriving) would hold close() forever.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Answers a refusal. One made before the request's body was read (the gate's 401, 403 and 404, a
 * 405, a 415) closes the connection once it is written: Node would read the rest of the body to
 * reach the next request, and a client that declared a large body and trickled it kept its socket
 * as long as it liked, token or not (redteam-31-7). A refused body is not worth waiting for.
 */
function refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): void {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    error: { code: r.code ?? -32000, message: r.message },
    id: r.id ?? null,
  });
  const close = isBodyPending(req) ? { connection: 'close' } : {};
  res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers, ...close });
  res.end(body);
}

/**
 * Whether some of the request's body is still to be parsed. The headers are asked too: a refusal
 * made in the request handler itself, before the parser is done, would find even a request with
 * no body incomplete (refusals made after a promise step find it complete).
 */
function isBodyPending(req: IncomingMessage): boolean {
  return !req.complete && declaresBody(req);
}

/** Whether the request's headers say a body follows them. */
function declaresBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** The path of a request target, without its query. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** Tells the operator a refusal, which still goes out, could not be audited, and why. */
function unaudited(e: unknown): void {
  process.stderr.write(
    `perimeter mcp: could not audit a refused request: ${e instanceof Error ? e.message : String(e)}\n`,
  );
}

/** Whether a Content-Type header's media type is application/json (parameters aside). */
function isJsonType(header: string | undefined): boolean {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() === 'application/json';
}

/** An MCP-Protocol-Version header the SDK does not speak (absent is fine: the negotiated one). */
function versionRefusal(req: IncomingMessage): Refusal | undefined {
  const version = req.headers['mcp-protocol-version'];
  if (version === undefined || SUPPORTED_PROTOCOL_VERSIONS.includes(String(version))) return undefined;
  return {
    status: 400,
    message: `Bad Request: unsupported protocol version ${String(version)} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
  };
}

/** A request id of `messages` that is in flight in the session or twice in the batch (ids route answers). */
function reusedId(session: HttpSession, messages: readonly JSONRPCMessage[]): RequestId | undefined {
  const seen = new Set<RequestId>();
  for (const m of messages) {
    if (!isRequest(m)) continue;
    const { id } = m as { id: RequestId };
    if (seen.has(id) || session.isPending(id)) return id;
    seen.add(id);
  }
  return undefined;
}

/**
 * Whether the SDK's handler would serve this POST as 2025-era traffic: its own classifier (what
 * `isLegacyRequest` runs), read straight off Node's headers, so a 2025-era call builds no web
 * Request. Ladder rejections count as modern: the SDK's handler answers those.
 */
function isLegacy(req: IncomingMessage, body: unknown): boolean {
  if (claimsEnvelope(body)) return false;
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  return (
    classifyInboundRequest({
      httpMethod: 'POST',
      protocolVersionHeader: header('mcp-protocol-version'),
      mcpMethodHeader: header('mcp-method'),
      mcpNameHeader: header('mcp-name'),
      body,
    }).kind === 'legacy'
  );
}

/**
 * A single message, not initialize and no response, whose params carry the 2026-07-28 envelope's
 * protocol-version key: never 2025-era traffic by the SDK's classifier (it serves such a message
 * as 2026-07-28 or refuses it), told here without the classifier's schema checks, which the
 * handler runs anyway (about 25 us a call).
 */
function claimsEnvelope(body: unknown): boolean {
  if (!isPlainObject(body) || 'result' in body || 'error' in body) return false;
  if (body.jsonrpc !== '2.0' || typeof body.method !== 'string' || body.method === 'initialize') return false;
  const params = body.params;
  return isPlainObject(params) && isPlainObject(params._meta) && PROTOCOL_VERSION_META_KEY in params._meta;
}

/**
 * The standard header the SDK refused a request for. It compares the headers a request carries
 * with its body first — `MCP-Protocol-Version`, then `Mcp-Method` — and only then looks for the
 * ones it lacks, in the same order, then at `Mcp-Name`. Told from the request itself: the
 * refusal's message quotes the body's and the headers' values, which may spell another header's
 * name.
 */
function disagreeingHeader(req: IncomingMessage, message: unknown): string {
  const body = isPlainObject(message) ? message : {};
  const meta = isPlainObject(body.params) && isPlainObject(body.params._meta) ? body.params._meta : {};
  const version = req.headers['mcp-protocol-version'];
  const claimed = meta[PROTOCOL_VERSION_META_KEY];
  if (version !== undefined && claimed !== undefined && version !== claimed) return 'MCP-Protocol-Version';
  const method = req.headers['mcp-method'];
  if (method !== undefined && method !== body.method) return 'Mcp-Method';
  if (version === undefined) return 'MCP-Protocol-Version';
  if (method === undefined) return 'Mcp-Method';
  return 'Mcp-Name';
}

/**
 * What a refused request's body asks for, named as the client named it, and the client its
 * envelope names (unchecked by the SDK, which refused it: kept only when both are strings). A
 * notification (no id) asks for nothing: it is never served, so its refusal denies nothing.
 */
function refusedRequest(message: unknown): RefusedRequest | undefined {
  if (!isPlainObject(message) || !isPlainObject(message.params) || !('id' in message)) return undefined;
  const { method, params: p } = message;
  const info = isPlainObject(p._meta) ? p._meta[CLIENT_INFO_META_KEY] : undefined;
  const agent =
    isPlainObject(info) && typeof info.name === 'string' && typeof info.version === 'string'
      ? { name: info.name, version: info.version }
      : undefined;
  const args = isPlainObject(p.arguments) ? p.arguments : {};
  if (method === 'tools/call' && typeof p.name === 'string')
    return { kind: 'tools', key: p.name, args, agent };
  if (method === 'prompts/get' && typeof p.name === 'string')
    return { kind: 'prompts', key: p.name, args, agent };
  if (method === 'resources/read' && typeof p.uri === 'string')
    return { kind: 'resources', key: p.uri, args: { uri: p.uri }, agent };
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Whether `name` (lower case) is a header that mirrors the body of an MCP 2026-07-28 request. */
function isMirrorHeader(name: string): boolean {
  return name === 'mcp-method' || name === 'mcp-name' || name.startsWith('mcp-param-');
}

/** The first of the headers that mirror an MCP request's body which `req` carries. */
function mirrorHeader(req: IncomingMessage): string | undefined {
  return Object.keys(req.headers).find(isMirrorHeader);
}

/** An MCP header sent on more than one line (Node would join them: each reader would see another value). */
function repeatedMcpHeader(req: IncomingMessage): string | undefined {
  // Read off the raw lines (names as sent, values between them): headersDistinct builds an array
  // for every header of every request, and only MCP's own matter here.
  const raw = req.rawHeaders;
  let seen: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (((raw[i] as string).charCodeAt(0) | 0x20) !== 0x6d) continue; // not m… or M…
    const name = (raw[i] as string).toLowerCase();
    if (name !== 'mcp-protocol-version' && !isMirrorHeader(name)) continue;
    if (seen?.has(name) === true) return name;
    (seen ??= new Set()).add(name);
  }
  return undefined;
}

/** A POST body's JSON value, or NOT_JSON. */
function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** Headers that belong to one hop, not to the request a web handler sees. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

/**
 * The web Request the SDK's classifier and handler read: the method, URL and headers of `req`; its
 * body, already read and parsed, goes beside it.
 */
function webRequest(req: IncomingMessage, host: string, signal: AbortSignal): Request {
  // Pairs, not a Headers object: the Request copies them into its own either way.
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(req.headers))
    if (value !== undefined && !HOP_HEADERS.has(name))
      headers.push([name, Array.isArray(value) ? value.join(', ') : value]);
  const authority = host.includes(':') ? `[${host}]` : host;
  return new Request(`http://${authority}${req.url ?? PATH}`, {
    method: req.method ?? 'POST',
    headers,
    signal,
  });
}

/**
 * A web response's whole body, read off its stream: a JSON answer is one chunk, taken as it is
 * (what arrayBuffer() would copy into a new buffer, through more steps).
 */
async function bytesOf(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** A POST body's JSON-RPC messages, each checked against the protocol's schema. */
function messagesOf(value: unknown): { messages: JSONRPCMessage[]; isBatch: boolean } | Refusal {
  if (value === NOT_JSON)
    return { status: 400, code: ErrorCode.ParseError, message: 'Parse error: the body is not JSON' };
  const isBatch = Array.isArray(value);
  const items: unknown[] = Array.isArray(value) ? value : [value];
  if (items.length === 0 || items.length > MAX_BATCH)
    return {
      status: 400,
      code: ErrorCode.InvalidRequest,
      message: `Invalid Request: a batch holds 1 to ${MAX_BATCH} messages`,
    };
  const messages: JSONRPCMessage[] = [];
  for (const item of items) {
    const checked = JSONRPCMessageSchema.safeParse(item);
    if (!checked.success)
      return { status: 400, code: ErrorCode.ParseError, message: 'Parse error: not a JSON-RPC message' };
    messages.push(checked.data);
  }
  return { messages, isBatch };
}

/** How much of an oversized body is read and dropped (times the limit) before the connection is cut. */
const DRAIN_FACTOR = 4;
/** A body that did not arrive, whole, within its deadline. */
const TOO_SLOW = Symbol('too slow');
/** A body longer than the limit. */
const TOO_LARGE = Symbol('too large');
/** A body the budget of all bodies had no room for. */
const NO_ROOM = Symbol('no room');

/**
 * The body as text, TOO_LARGE when it is longer than `limit` bytes, TOO_SLOW when it is still
 * arriving `deadlineMs` after it began (a body trickled a byte at a time would otherwise hold its
 * connection forever: redteam-31-7), NO_ROOM when `take` refuses its bytes (taken as its
 * Content-Length declares them, before any arrive, or as they come). An oversized body, or one
 * without room, is read to its end and dropped, nothing of it kept, before the caller answers:
 * closing a socket with unread data resets it, and the client would lose the answer mid-send.
 * Past `DRAIN_FACTOR` times the limit, declared or read, or at the same deadline, reading stops;
 * the caller's refusal then closes the connection, as it does for any body not read to its end
 * (refuse(), isBodyPending()).
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  deadlineMs: number,
  take: (bytes: number) => boolean,
): Promise<string | typeof TOO_SLOW | typeof TOO_LARGE | typeof NO_ROOM> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit * DRAIN_FACTOR) {
      resolve(TOO_LARGE);
      return;
    }
    let chunks: Buffer[] = [];
    let size = 0;
    /** Why the body is read and dropped, once that is known. */
    let dropped = declared > limit ? TOO_LARGE : take(declared) ? undefined : NO_ROOM;
    const refusal = (): typeof TOO_LARGE | typeof NO_ROOM | undefined =>
      size > limit ? TOO_LARGE : dropped === NO_ROOM ? NO_ROOM : undefined;
    const stop = (why: typeof TOO_LARGE | typeof TOO_SLOW | typeof NO_ROOM): void => {
      clearTimeout(deadline);
      req.removeAllListeners('data');
      req.pause();
      resolve(why);
    };
    // Past the limit, the body is refused as too large however slowly the rest comes.
    const deadline = setTimeout(() => stop(refusal() ?? TOO_SLOW), deadlineMs);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit * DRAIN_FACTOR) {
        stop(TOO_LARGE);
        return;
      }
      if (size > limit) dropped = TOO_LARGE;
      // Bytes past what was declared (a chunked body declares none) are taken as they come.
      else if (dropped === undefined && size > declared && !take(Math.min(chunk.length, size - declared)))
        dropped = NO_ROOM;
      if (dropped === undefined) chunks.push(chunk);
      else chunks = [];
    });
    req.once('end', () => {
      clearTimeout(deadline);
      resolve(refusal() ?? Buffer.concat(chunks, size).toString('utf8'));
      // The listener above lives as long as the request (an event stream's, for hours).
      chunks = [];
    });
    // An upload that ends early (the client went away) must not keep the timer alive.
    req.once('close', () => clearTimeout(deadline));
    req.once('error', reject);
  });
}

/**
 * What request bodies hold of the gateway's memory, across every connection (redteam-37-4). One
 * body was bounded (4 MiB) and so were requests and connections, but not their product: 16
 * tools/calls of 4 MiB of `[],[],…` at once took the gateway to 1.7 GB, held every other client
 * seconds, and the huge arguments went on to an honest server until its pipe backed up; anyone
 * with the token (in `perimeter run`, every process in the sandbox) could. A request holds its
 * body's bytes (declared, or as they come) and, once they are read, VALUE_BYTES for each JSON
 * value they make, until nothing holds the request (BodyShare); one that finds no room is
 * refused (503), and retrying once others are done succeeds.
 */
class BodyBudget {
  held = 0;
  constructor(readonly limit: number) {}
}

/** One request's share of the BodyBudget: given back whole when the last of its holders lets go. */
class BodyShare {
  private taken = 0;
  private holders = 0;
  private isReleased = false;
  constructor(private readonly budget: BodyBudget) {}

  /**
   * Takes `bytes` more of the budget; false, and nothing taken, when it has no room or the share
   * was already given back (nothing would give those bytes back again).
   */
  take(bytes: number): boolean {
    if (this.isReleased || this.budget.held + bytes > this.budget.limit) return false;
    this.budget.held += bytes;
    this.taken += bytes;
    return true;
  }

  /** One more thing that holds the request; the function returned lets go of it (once). */
  keep(): () => void {
    this.holders++;
    let isLet = false;
    return () => {
      if (isLet) return;
      isLet = true;
      if (--this.holders === 0) this.release();
    };
  }

  /** Gives the whole share back now, whoever still holds it (once; later takes are refused). */
  release(): void {
    if (this.isReleased) return;
    this.isReleased = true;
    this.budget.held -= this.taken;
    this.taken = 0;
  }
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}
