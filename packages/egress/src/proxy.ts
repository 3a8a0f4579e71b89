// The session's egress proxy: HTTP forward (absolute-form) and CONNECT. Every target is parsed by
// the policy package's one canonical parser and decided by the engine; names are resolved here,
// after the name is allowed, every answer is judged again, and only a vetted address is dialled
// (no second lookup). Denials are answered in-protocol, so the agent learns why, and every refusal
// is audited: a target no parser reads and a missing token too, within the bound of refusals.ts.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect, Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import { createRefusalAudit, type AuditRecord, type RefusalAudit } from '@perimeter/audit';
import {
  canonicalHost,
  canonicalHttpPath,
  hasControlCharacter,
  parseAuthority,
  parseRequest,
  type Decision,
  type Engine,
  type NetworkRequest,
} from '@perimeter/policy';
import { createAdmitter } from './admit.js';
import {
  HOP_BY_HOP,
  auditedTarget,
  rawRefusal,
  readInspectableBody,
  refuseResponse,
  requestLineOf,
} from './http-message.js';
import type { SessionCa } from './ca.js';
import type { CredentialGuard } from './credentials.js';
import { createInterceptor } from './intercept.js';
import { http } from './lazy-builtins.js';
import { tokenRefusal } from './token.js';
import { authorityOf, dialThroughUpstream, type UpstreamProxy } from './upstream.js';
import { RELAY_PATH, isRelayBuilt } from './relay.js';
import { closedRecord, holdConnection, onSessionEnd, openTunnel, type TunnelDeps } from './tunnel.js';
import type { Resolver } from './resolve.js';

export interface EgressOptions {
  readonly engine: Engine;
  readonly resolver?: Resolver;
  /** Opens the upstream connection to a vetted address (tests point it at loopback servers). */
  readonly dial?: (address: string, port: number) => Socket;
  /** Receives one record per decision and per closed connection (bind it to a spool). */
  readonly audit?: (record: AuditRecord) => void;
  readonly sessionId?: string;
  /**
   * The session's audit of decisions and of refusals before any rule (unreadable targets, missing
   * or wrong tokens), from createRefusalAudit: every decision is written through it, to its own
   * `audit`; at most its `refusalsPerSecond` (default 20) refusals a second, the rest counted in
   * one `network.refusals-suppressed` event.
   * Give the same object to every front door of a session (HTTP and CONNECT, SOCKS5) so they share
   * that bound, and flush() it when the session ends. Without it, each proxy makes one of its own,
   * writing to `audit` and flushed when `signal` aborts: front doors then never share a bound,
   * even when built from one options object.
   */
  readonly refusals?: RefusalAudit;
  /**
   * When set, clients must present the session's token: `Proxy-Authorization: Bearer <token>`, or
   * Basic with the token as password (what `http://user:TOKEN@host` proxy URLs send); SOCKS5
   * clients use username/password authentication with the token as password.
   */
  readonly token?: string;
  /** Largest request head accepted (bytes); larger heads get 431. */
  readonly maxHeaderBytes?: number;
  /** Idle connections are closed after this long. */
  readonly idleMs?: number;
  /** How long a client may take to send a request head before it gets 408 (default 30 s). */
  readonly headersTimeoutMs?: number;
  /** Client connections open at once; further ones are closed on arrival. */
  readonly maxConnections?: number;
  /**
   * When aborted (the session is over), every open tunnel and forwarded request is closed, and its
   * close audited.
   */
  readonly signal?: AbortSignal;
  /**
   * Kept up to date with the number of connections in flight: requests being decided, tunnels
   * (CONNECT, SOCKS5, inspected) and forwarded requests, each until its last audit record.
   */
  readonly connections?: { open: number };
  /** Reach every vetted address through this upstream (corporate) proxy. */
  readonly upstream?: UpstreamProxy;
  /**
   * The native relay for established tunnels (RELAY_PATH when built); `false` keeps the bytes in
   * Node. Default: the relay when it is built.
   */
  readonly relay?: string | false;
  /**
   * Credentials and inspection: the guard checks every request the proxy can read (plain HTTP,
   * and HTTPS to hosts that need inspection, whose TLS is terminated with a leaf of `ca`).
   */
  readonly credentials?: {
    readonly guard: CredentialGuard;
    readonly ca: SessionCa;
    /** TLS options for upstream connections of inspected requests (tests: their CA). */
    readonly upstreamTls?: Pick<ConnectionOptions, 'ca'>;
  };
}

function refusal(decision: Decision): string {
  return decision.decision === 'ask'
    ? `${decision.reason} Approvals are not available to this session yet, so it is refused.`
    : decision.reason;
}

/**
 * Resolves once every connection `connections` counts has finished, its last record audited, or
 * after `limitMs`: the records come a few ticks after the session's signal aborts the connections
 * (or a decision still being made lands), and belong in the spool before `session.end`.
 */
export async function connectionsClosed(
  connections: { readonly open: number },
  limitMs = 1000,
): Promise<void> {
  const from = Date.now();
  while (connections.open > 0 && Date.now() - from < limitMs) await new Promise((ok) => setTimeout(ok, 5));
}

/** A missing or wrong session token: the reason the client reads (never the audit's sentence). */
const TOKEN_REFUSED = 'missing or wrong session token';
/** With it, clients such as git retry with the credentials of the proxy URL. */
const ASK_FOR_TOKEN = { 'Proxy-Authenticate': 'Basic realm="perimeter"' };

export function createEgressProxy(options: EgressOptions): Server {
  const refusals = refusalAuditFor(options);
  const admit = createAdmitter(options, refusals);
  const dial = directDial(options);
  const audit = (record: AuditRecord): void => options.audit?.(record);
  const tunnelDeps = tunnelDepsOf(options);
  const credentials = options.credentials;
  const interceptor = credentials
    ? createInterceptor({
        engine: options.engine,
        ca: credentials.ca,
        guard: credentials.guard,
        dial: tunnelDeps.dial,
        audit,
        sessionId: tunnelDeps.sessionId,
        idleMs: tunnelDeps.idleMs,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.connections ? { connections: options.connections } : {}),
        ...(credentials.upstreamTls ? { upstreamTls: credentials.upstreamTls } : {}),
        ...(options.maxHeaderBytes !== undefined ? { maxHeaderBytes: options.maxHeaderBytes } : {}),
      })
    : undefined;

  /**
   * Whether a request is refused for a missing or wrong session token (redteam-13). A refusal is
   * audited, `unauthenticated`, naming the target but never the value offered.
   */
  function isRefusedForToken(req: IncomingMessage, action: string): boolean {
    if (options.token === undefined) return false;
    const problem = tokenRefusal(req.headers['proxy-authorization'], options.token);
    if (problem === undefined) return false;
    refusals.refuse('unauthenticated', action, auditedTarget(req.url ?? '').shown, problem);
    return true;
  }

  /**
   * A target no parser reads (redteam-11): an audited denial, `invalid-request`, as the engine
   * makes for a host it cannot read (and SOCKS5 targets get). A target with user info gets no
   * quote of the parser's sentence, which would repeat the credentials.
   */
  function refuseUnreadable(action: string, target: string, error: string): Decision {
    const { shown, hasUserInfo } = auditedTarget(target);
    const why = hasUserInfo
      ? `the target "${shown}" carries user info before "@", which parsers read differently`
      : error;
    return refusals.refuse('invalid-request', action, shown, why);
  }

  // The request target decides, never the Host header (research egress-url-10), so a missing Host
  // is not an error here.
  const headersTimeout = options.headersTimeoutMs ?? 30_000;
  const server = http().createServer(
    {
      maxHeaderSize: options.maxHeaderBytes ?? 16384,
      requireHostHeader: false,
      // A client that never finishes its request head (slowloris) is answered 408 and audited.
      headersTimeout,
      connectionsCheckingInterval: Math.min(5000, Math.max(50, headersTimeout / 4)),
    },
    (req, res) => {
      void held(() => forward(req, res, false));
    },
  );
  // A client that asks before sending its body (Expect: 100-continue) is invited to send it only
  // once the request is allowed: a refusal then reaches it before any body is on the wire.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    void held(() => forward(req, res, true));
  });

  /** Counts a request in flight while it is decided; what it opens holds its own count. */
  async function held(work: () => Promise<void>): Promise<void> {
    const release = holdConnection(options.connections);
    try {
      await work();
    } finally {
      release();
    }
  }

  async function forward(req: IncomingMessage, res: ServerResponse, isWaiting: boolean): Promise<void> {
    const deny = (status: number, reason: string): void => refuseResponse(res, status, reason);
    const method = req.method ?? 'GET';
    if (isRefusedForToken(req, method)) {
      refuseResponse(res, 407, TOKEN_REFUSED, ASK_FOR_TOKEN);
      return;
    }
    const url = req.url ?? '';
    if (!url.startsWith('http://')) {
      const refused = refuseUnreadable(
        method,
        url,
        url.startsWith('https://')
          ? 'send HTTPS through CONNECT, not as an absolute-form request'
          : 'this is a proxy: send absolute-form requests (http://host/path) or CONNECT',
      );
      deny(400, refused.reason);
      return;
    }
    const parsed = parseRequest({ network: url, method });
    if ('error' in parsed || parsed.request.surface !== 'network') {
      const refused = refuseUnreadable(
        method,
        url,
        'error' in parsed ? parsed.error : 'the request target is not a network request',
      );
      deny(400, refused.reason);
      return;
    }
    const request = parsed.request;
    const { decision, address } = await admit(request);
    if (address === undefined) {
      deny(decision.code === 'invalid-request' ? 400 : 403, refusal(decision));
      return;
    }
    if (isWaiting) res.writeContinue();
    // Forward exactly what was judged: the canonical path, the original query.
    const segments = canonicalHttpPath(request.path ?? '/') ?? [];
    const query = url.includes('?') ? url.slice(url.indexOf('?')).split('#')[0] : '';
    let headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers.host = decision.resource.split('/')[0] ?? '';
    const started = Date.now();
    let bytesOut = 0;
    let bytesIn = 0;
    let path = `/${segments.join('/')}${query ?? ''}`;
    // With credentials in the session, the whole request is read and checked before it leaves.
    let body: Buffer | undefined;
    if (credentials) {
      const read = await readInspectableBody(req);
      if ('status' in read) {
        deny(read.status, read.reason);
        return;
      }
      bytesOut += read.raw.length;
      const canonical = canonicalHost(request.host);
      const inspection = credentials.guard.inspect(
        {
          method: request.method ?? 'GET',
          target: path,
          headers: Object.entries(headers).flatMap(([k, v]) =>
            Array.isArray(v) ? v.map((x) => [k, x] as const) : [[k, v] as const],
          ),
        },
        read.decoded,
        {
          host: 'error' in canonical ? request.host : canonical.host.name,
          port: request.port,
          isVerifiedTls: false,
        },
      );
      if (inspection.refusal) {
        deny(inspection.refusal.status, inspection.refusal.reason);
        return;
      }
      path = inspection.head.target;
      headers = {};
      for (const [k, v] of inspection.head.headers) {
        const prior = headers[k];
        headers[k] = prior === undefined ? v : [...(Array.isArray(prior) ? prior : [prior]), v];
      }
      // A body the guard rewrote goes out decoded; an untouched one goes out as it came.
      const isRewritten = inspection.body !== read.decoded;
      body = isRewritten ? inspection.body : read.raw;
      if (isRewritten) delete headers['content-encoding'];
      if (req.headers['content-length'] !== undefined || body.length > 0)
        headers['content-length'] = String(body.length);
    }
    const via = options.upstream;
    const upstream = via
      ? // Through the upstream proxy: absolute-form to the vetted address, the name in Host.
        http().request({
          host: via.host,
          port: via.port,
          method: request.method,
          path: `http://${authorityOf(address, request.port)}${path}`,
          headers: { ...headers, ...(via.authorization ? { 'proxy-authorization': via.authorization } : {}) },
        })
      : http().request({
          method: request.method,
          path,
          headers,
          createConnection: () => dial(address, request.port),
        });
    // The forward is in flight until its close is audited: when the exchange ends, fails, the
    // client goes away or the session ends, whichever comes first.
    const release = holdConnection(options.connections);
    upstream.once('close', () => {
      letGo();
      audit(closedRecord(tunnelDeps, decision.resource, address, started, bytesIn, bytesOut));
      release();
    });
    res.once('close', () => upstream.destroy());
    const letGo = onSessionEnd(options.signal, () => upstream.destroy(new Error('the session is over')));
    upstream.on('response', (up) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(up.statusCode ?? 502, out);
      up.on('data', (chunk: Buffer) => (bytesIn += chunk.length));
      up.on('error', () => res.destroy());
      up.pipe(res);
    });
    upstream.on('error', (e) => deny(502, `the upstream connection failed: ${e.message}`));
    if (body !== undefined) {
      upstream.end(body);
      return;
    }
    req.on('data', (chunk: Buffer) => (bytesOut += chunk.length));
    req.pipe(upstream);
  }

  server.maxConnections = options.maxConnections ?? 512;

  // Node's parser refuses some requests before any handler runs (a raw NUL or space in the target,
  // a request line that is not HTTP), a head too large (431) or too slow (408): audited like every
  // other unreadable target (redteam-11), within the session's bound on such refusals.
  server.on('clientError', (error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
    const code = error.code ?? '';
    let status = 400;
    let reason = 'the request is not HTTP the proxy can read';
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      const { action, target } = requestLineOf(error.rawPacket);
      reason = refuseUnreadable(
        action,
        target,
        `the request head is larger than the proxy reads (${options.maxHeaderBytes ?? 16384} bytes)`,
      ).reason;
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      reason = refuseUnreadable('request', '', 'the request head did not arrive in time').reason;
    } else if (code.startsWith('HPE_')) {
      const { action, target } = requestLineOf(error.rawPacket);
      const why = hasControlCharacter(target)
        ? 'the request target contains a control character (NUL, CR, LF, …)'
        : `the request is not HTTP the proxy can read (${code})`;
      reason = refuseUnreadable(action, target, why).reason;
    }
    const isUnanswered = socket instanceof Socket && socket.bytesWritten === 0;
    if (socket.writable && isUnanswered && code !== 'ECONNRESET') socket.write(rawRefusal(status, reason));
    socket.destroy();
  });

  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    void held(() => tunnel(req, client, head));
  });

  async function tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const answer = (status: number, reason: string, extraHeaders?: Readonly<Record<string, string>>): void =>
      void client.end(rawRefusal(status, reason, extraHeaders));
    client.on('error', () => client.destroy());
    if (isRefusedForToken(req, 'connect')) {
      answer(407, TOKEN_REFUSED, ASK_FOR_TOKEN);
      return;
    }
    const authority = parseAuthority(req.url ?? '');
    if ('error' in authority) {
      answer(400, refuseUnreadable('connect', req.url ?? '', authority.error.message).reason);
      return;
    }
    const host = req.url?.slice(0, (req.url ?? '').lastIndexOf(':')) ?? '';
    const port = authority.authority.port;
    const canonical = canonicalHost(host);
    const name = !('error' in canonical) && canonical.host.kind === 'name' ? canonical.host.name : undefined;
    const isInspected =
      interceptor !== undefined &&
      name !== undefined &&
      options.engine.inspectionReason(name, port) !== undefined;
    const request: NetworkRequest = {
      surface: 'network',
      host,
      port,
      ...(isInspected ? { inspected: true } : {}),
    };
    const { decision, address } = await admit(request);
    if (address === undefined) {
      // Bytes the client sent early (research egress-proto-06) are never read as a request.
      answer(decision.code === 'invalid-request' ? 400 : 403, refusal(decision));
      return;
    }
    if (isInspected && interceptor && name !== undefined) {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      interceptor.serve({ client, early: head, host: name, port, resource: decision.resource, address });
      return;
    }
    openTunnel(
      {
        client,
        host: request.host,
        resource: decision.resource,
        address,
        port: request.port,
        early: head,
        onOpen: () => client.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
        onFail: (message) => answer(502, `the upstream connection failed: ${message}`),
      },
      tunnelDeps,
    );
  }

  return server;
}

/** How a vetted address is reached without an upstream proxy (tests point it at loopback). */
export function directDial(options: EgressOptions): (address: string, port: number) => Socket {
  return options.dial ?? ((address: string, port: number) => connect({ host: address, port }));
}

/**
 * The refusal audit a front door records to: the session's when given, else one of its own
 * (library users and tests), reported when the session's signal aborts.
 */
export function refusalAuditFor(options: EgressOptions): RefusalAudit {
  return (
    options.refusals ??
    createRefusalAudit({
      ...(options.audit ? { audit: options.audit } : {}),
      ...(options.sessionId !== undefined ? { sessionId: options.sessionId } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
  );
}

/** What every tunnel of a proxy needs, for both front doors (CONNECT and SOCKS5). */
export function tunnelDepsOf(options: EgressOptions): TunnelDeps {
  // The relay: the one given, none (`false`), or the built one by default.
  const relay =
    options.relay === false ? undefined : (options.relay ?? (isRelayBuilt() ? RELAY_PATH : undefined));
  return {
    dial: options.upstream ? dialThroughUpstream(options.upstream) : directDial(options),
    audit: (record) => options.audit?.(record),
    sessionId: options.sessionId ?? 'proxy',
    idleMs: options.idleMs ?? 300_000,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.connections ? { tracker: options.connections } : {}),
    ...(relay !== undefined ? { relay } : {}),
  };
}
