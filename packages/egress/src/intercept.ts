// TLS interception for the connections that need it (research egress §6): hosts with a credential
// binding or a rule about HTTP methods or paths. The proxy answers the CONNECT, terminates the
// client's TLS with a leaf from the session CA (refusing a server name other than the CONNECT
// host), reads each HTTP/1.1 request, refuses a Host that names another host (domain fronting),
// judges the method and path, runs the credential guard, and sends the request on over TLS that
// it verifies itself against the public roots for that name, dialling only the vetted address.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import type { ConnectionOptions, SecureContext, TLSSocket } from 'node:tls';
import { http, tls as tlsModule } from './lazy-builtins.js';
import { decisionRecord, lifecycleRecord, type AuditRecord } from '@perimeter/audit';
import { canonicalHost, parseAuthority, type Engine, type NetworkRequest } from '@perimeter/policy';
import type { SessionCa } from './ca.js';
import type { CredentialGuard, HttpHead } from './credentials.js';
import {
  HOP_BY_HOP,
  auditedTarget,
  headerSafe,
  rawRefusal,
  readInspectableBody,
  refuseResponse,
  responseDecoders,
} from './http-message.js';
import { closedRecord, holdConnection, onSessionEnd } from './tunnel.js';

export interface InterceptOptions {
  readonly engine: Engine;
  readonly ca: SessionCa;
  readonly guard: CredentialGuard;
  /** Opens a connection to a vetted address (directly or through the upstream proxy). */
  readonly dial: (address: string, port: number) => Socket | Promise<Socket>;
  readonly audit?: (record: AuditRecord) => void;
  readonly sessionId?: string;
  /** Extra TLS options for upstream connections (tests pass their CA; default: Node's roots). */
  readonly upstreamTls?: Pick<ConnectionOptions, 'ca'>;
  readonly maxHeaderBytes?: number;
  readonly idleMs?: number;
  /** When aborted (the session is over), every inspected connection is closed, its close audited. */
  readonly signal?: AbortSignal;
  /** Counts each inspected connection until its close is audited (see holdConnection). */
  readonly connections?: { open: number };
}

export interface InterceptedConnection {
  readonly client: Duplex;
  /** Bytes the client sent after the CONNECT head. */
  readonly early: Buffer;
  /** Canonical host name, port, the decision's resource and the vetted address. */
  readonly host: string;
  readonly port: number;
  readonly resource: string;
  readonly address: string;
}

interface Connection extends InterceptedConnection {
  readonly started: number;
  bytesIn: number;
  bytesOut: number;
}

export function createInterceptor(options: InterceptOptions): { serve(c: InterceptedConnection): void } {
  const ctx = { sessionId: options.sessionId ?? 'proxy' };
  const audit = (record: AuditRecord): void => options.audit?.(record);
  const connections = new WeakMap<object, Connection>();

  const fronting = (c: InterceptedConnection, reason: string): void =>
    audit(lifecycleRecord('network.fronting-refused', ctx, { resource: c.resource, reason }));

  const server = http().createServer(
    { maxHeaderSize: options.maxHeaderBytes ?? 16384, requireHostHeader: false },
    (req, res) => {
      const c = connections.get(req.socket);
      if (c === undefined) {
        res.destroy();
        return;
      }
      void handle(c, req, res);
    },
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    const reason = 'protocol upgrades (WebSocket) on an inspected connection are not supported yet';
    // The target as the audit keeps it: its query (tokens travel there) replaced by ***.
    audit(lifecycleRecord('network.refused', ctx, { target: auditedTarget(req.url ?? '').shown, reason }));
    socket.end(rawRefusal(501, reason));
  });

  function serve(c: InterceptedConnection): void {
    const conn: Connection = { ...c, started: Date.now(), bytesIn: 0, bytesOut: 0 };
    if (c.early.length > 0) c.client.unshift(c.early);
    let context: SecureContext;
    try {
      context = options.ca.contextFor(c.host);
    } catch (e) {
      // The session CA has expired (sessions outlive it only past its validity): refuse, audited.
      audit(lifecycleRecord('network.refused', ctx, { target: c.resource, reason: (e as Error).message }));
      c.client.destroy();
      return;
    }
    const release = holdConnection(options.connections);
    const tls = new (tlsModule().TLSSocket)(c.client, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (name, done) => {
        const sni = canonicalHost(name);
        if ('error' in sni || sni.host.name !== c.host) {
          fronting(c, `the TLS server name "${headerSafe(name)}" is not ${c.resource}`);
          done(new Error('server name mismatch'));
          return;
        }
        done(null, context);
      },
    });
    tls.setTimeout(options.idleMs ?? 300_000, () => tls.destroy());
    tls.on('error', () => tls.destroy());
    // A server name other than the CONNECT host fails the handshake in SNICallback: 'secure' is
    // only ever reached with the right name or with none.
    tls.once('secure', () => {
      // A name was asked for in CONNECT; a client that names none in TLS is not the one vetted.
      if (!tls.servername) {
        fronting(c, 'the TLS ClientHello names no server');
        tls.destroy();
        return;
      }
      connections.set(tls, conn);
      server.emit('connection', tls);
    });
    tls.once('close', () => {
      letGo();
      c.client.destroy();
      audit(closedRecord(ctx, c.resource, c.address, conn.started, conn.bytesIn, conn.bytesOut));
      release();
    });
    const letGo = onSessionEnd(options.signal, () => tls.destroy());
  }

  async function handle(c: Connection, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refuse = (status: number, reason: string): void => refuseResponse(res, status, reason);
    // After each wait: a client gone or a session over (its connection already closed and audited)
    // sends nothing on, credentials least of all.
    const isOver = (): boolean => res.destroyed || options.signal?.aborted === true;
    // The Host header must name the host the client connected to (domain fronting).
    const hostHeader = req.headers.host ?? '';
    const authority = parseAuthority(hostHeader, c.port);
    if (
      'error' in authority ||
      authority.authority.host.name !== c.host ||
      authority.authority.port !== c.port
    ) {
      const reason = `the Host header "${headerSafe(hostHeader)}" is not ${c.resource}`;
      fronting(c, reason);
      refuse(421, `Refused: ${reason}.`);
      return;
    }
    const target = req.url ?? '';
    if (!target.startsWith('/')) {
      refuse(400, 'send origin-form requests (/path) on this connection');
      return;
    }
    const path = target.split('?')[0] ?? '/';
    const request: NetworkRequest = {
      surface: 'network',
      host: c.host,
      port: c.port,
      method: req.method ?? 'GET',
      path,
      resolved: [c.address],
    };
    const decision = options.engine.decide(request);
    audit(decisionRecord(decision, request, ctx));
    if (decision.decision !== 'allow') {
      refuse(403, decision.reason);
      return;
    }

    const read = await readInspectableBody(req);
    if (isOver()) return;
    if ('status' in read) {
      refuse(read.status, read.reason);
      return;
    }
    c.bytesOut += read.raw.length;
    const decoded = read.decoded;
    const head: HttpHead = { method: req.method ?? 'GET', target, headers: pairsOf(req.rawHeaders) };
    const inspection = options.guard.inspect(head, decoded, {
      host: c.host,
      port: c.port,
      isVerifiedTls: true,
    });
    if (inspection.refusal) {
      refuse(inspection.refusal.status, inspection.refusal.reason);
      return;
    }
    // A body the guard rewrote goes out decoded; an untouched one goes out as it came.
    const isRewritten = inspection.body !== decoded;
    const body = isRewritten ? inspection.body : read.raw;
    const headers: [string, string][] = [];
    for (const [k, v] of inspection.head.headers) {
      const lower = k.toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower === 'content-length') continue;
      if (isRewritten && lower === 'content-encoding') continue;
      // The response must be readable to scrub the injected value from it.
      if (inspection.injected.length > 0 && lower === 'accept-encoding') continue;
      headers.push([k, v]);
    }
    if (inspection.injected.length > 0) headers.push(['Accept-Encoding', 'identity']);
    if (body.length > 0 || req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH')
      headers.push(['Content-Length', String(body.length)]);

    let upstream: TLSSocket;
    try {
      const socket = await options.dial(c.address, c.port);
      if (isOver()) {
        socket.destroy();
        return;
      }
      upstream = tlsModule().connect({
        socket,
        servername: c.host,
        ALPNProtocols: ['http/1.1'],
        ...(options.upstreamTls ?? {}),
      });
    } catch (e) {
      refuse(502, `the upstream connection failed: ${(e as Error).message}`);
      return;
    }
    const up = http().request({
      method: inspection.head.method,
      path: inspection.head.target,
      headers: headers.flat(),
      createConnection: () => upstream,
      setHost: false,
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      const reason =
        e.code?.startsWith('ERR_TLS') || /certificate|self.signed|hostname/i.test(e.message)
          ? `the upstream certificate for ${c.host} is not valid: ${e.message}`
          : `the upstream connection failed: ${e.message}`;
      refuse(502, reason);
    });
    res.once('close', () => up.destroy()); // the client went away, or the session ended
    up.on('response', (answer) => {
      const injected = inspection.injected;
      const isScrubbed = injected.length > 0;
      // The scrubber reads the bytes as they travel: an answer compressed despite the identity
      // asked for is decoded first, and goes to the agent decoded; one whose coding cannot be
      // undone is refused, never passed on unscrubbed.
      const status = answer.statusCode ?? 502;
      const hasBody =
        inspection.head.method.toUpperCase() !== 'HEAD' &&
        status >= 200 &&
        status !== 204 &&
        status !== 304 &&
        answer.headers['content-length'] !== '0';
      const decoders = isScrubbed && hasBody ? responseDecoders(answer.headers['content-encoding']) : [];
      if (decoders === undefined) {
        answer.on('error', () => undefined);
        answer.destroy();
        refuse(
          502,
          `Refused: the answer from ${c.resource} is in a content coding the proxy cannot decode ("${headerSafe(answer.headers['content-encoding'] ?? '')}"), so the credential put in place could not be scrubbed from it.`,
        );
        return;
      }
      const out: [string, string][] = [];
      for (let i = 0; i + 1 < answer.rawHeaders.length; i += 2) {
        const k = answer.rawHeaders[i] ?? '';
        const v = answer.rawHeaders[i + 1] ?? '';
        const lower = k.toLowerCase();
        if (HOP_BY_HOP.has(lower)) continue;
        // What the agent gets is the scrubbed, decoded body: neither its length nor coding holds.
        if (isScrubbed && (lower === 'content-length' || lower === 'content-encoding')) continue;
        out.push([k, isScrubbed ? options.guard.scrubText(v, injected) : v]);
      }
      res.writeHead(status, out.flat());
      answer.on('data', (chunk: Buffer) => (c.bytesIn += chunk.length));
      if (isScrubbed) {
        pipeline([answer, ...decoders, options.guard.scrubber(injected), res], (e) => {
          if (e) res.destroy();
        });
      } else {
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      }
    });
    up.end(body);
  }

  return { serve };
}

/** rawHeaders (a flat list) as name/value pairs. */
function pairsOf(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] ?? '', raw[i + 1] ?? '']);
  return out;
}
