// The byte tunnel behind CONNECT and SOCKS5, written once: dial the vetted address, hold the
// client's first bytes until a TLS ClientHello (if that is what they are) is read, refuse a
// server name other than the requested host (domain fronting: research egress-proto-02), then
// relay both ways (in Node, then in perimeter-relay once a tunnel is bulk), count bytes and audit
// the close. The server's bytes are never held.

import { spawn, type ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { lifecycleRecord, type AuditRecord } from '@perimeter/audit';
import { canonicalHost } from '@perimeter/policy';
import { MAX_HELLO_BYTES, readClientHello } from './client-hello.js';

export interface TunnelRequest {
  readonly client: Duplex;
  /** The host as the client asked for it (name or IP literal). */
  readonly host: string;
  /** The canonical resource the decision was about, for audit. */
  readonly resource: string;
  /** The vetted address and the port to dial. */
  readonly address: string;
  readonly port: number;
  /** Bytes the client sent before the tunnel opened. */
  readonly early: Buffer;
  /** Writes the protocol's success reply (HTTP 200, SOCKS 0x00). */
  readonly onOpen: () => void;
  /** Writes the protocol's failure reply when the upstream cannot be reached. */
  readonly onFail: (message: string) => void;
}

export interface TunnelDeps {
  /** A connecting socket, or (through an upstream proxy) a promise of one already tunnelled. */
  readonly dial: (address: string, port: number) => Socket | Promise<Socket>;
  readonly audit: (record: AuditRecord) => void;
  readonly sessionId: string;
  readonly idleMs: number;
  /** Closes the tunnel when aborted. */
  readonly signal?: AbortSignal;
  /** Counts the connections in flight (see holdConnection); a tunnel leaves it once its close is audited. */
  readonly tracker?: { open: number };
  /** The native relay (native/relay.c) for established tunnels; without it, bytes move in Node. */
  readonly relay?: string;
}

/**
 * Counts one connection in `tracker` until the returned release runs (it runs once; later calls do
 * nothing). A connection is in flight from its request's arrival until its last audit record, so
 * a session that waits for the count to reach zero (connectionsClosed) has them all before its end.
 */
export function holdConnection(tracker: { open: number } | undefined): () => void {
  if (tracker === undefined) return () => undefined;
  tracker.open++;
  let isHeld = true;
  return () => {
    if (!isHeld) return;
    isHeld = false;
    tracker.open--;
  };
}

/**
 * Runs `stop` when the session's signal aborts (at once when it has). Returns what lets go of the
 * signal, for a connection that finishes first.
 */
export function onSessionEnd(signal: AbortSignal | undefined, stop: () => void): () => void {
  if (signal === undefined) return () => undefined;
  if (signal.aborted) {
    stop();
    return () => undefined;
  }
  signal.addEventListener('abort', stop, { once: true });
  return () => signal.removeEventListener('abort', stop);
}

/** The record of a finished connection: where to, and how much went each way. */
export function closedRecord(
  deps: Pick<TunnelDeps, 'sessionId'>,
  resource: string,
  address: string,
  started: number,
  bytesIn: number,
  bytesOut: number,
): AuditRecord {
  return lifecycleRecord(
    'network.closed',
    { sessionId: deps.sessionId },
    {
      resource,
      address,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      duration_ms: Date.now() - started,
    },
  );
}

/** Why the first bytes end the tunnel, or undefined when they may go upstream. */
function frontingProblem(host: string, resource: string, held: Buffer): string | undefined {
  const hello = readClientHello(held);
  if (hello.kind === 'not-tls' || (hello.kind === 'hello' && hello.serverName === undefined))
    return undefined;
  if (hello.kind !== 'hello') return 'the TLS ClientHello could not be read';
  const sni = canonicalHost(hello.serverName ?? '');
  const requested = canonicalHost(host);
  if ('error' in sni || 'error' in requested || sni.host.name !== requested.host.name) {
    return `the TLS server name "${hello.serverName ?? ''}" is not ${resource}`;
  }
  return undefined;
}

/** What `from` holds read and not yet taken, taken (reading it lets Node read more). */
function drained(from: Socket): Buffer {
  const out: Buffer[] = [];
  for (let chunk = from.read() as Buffer | null; chunk !== null; chunk = from.read() as Buffer | null)
    out.push(chunk);
  return Buffer.concat(out);
}

/**
 * Writes `bytes` on to `to`, then calls `done` once all written to it so far is out (or it has
 * gone). A side whose writing half has ended (its peer half-closed it) takes no write at all:
 * what is pending on it is out when it finishes.
 */
function writeOn(to: Socket, bytes: Buffer, done: () => void): void {
  if (!to.writableEnded) to.write(bytes, () => done());
  else if (to.writableFinished || to.destroyed) process.nextTick(done);
  else to.once('finish', done);
}

/** How long a relay told to stop may take to report its bytes before it is killed. */
const RELAY_STOP_MS = 1000;

/** Bytes a tunnel carries in Node before it is handed to the native relay. */
export const RELAY_AFTER_BYTES = 4 * 1024 * 1024;

export function openTunnel(t: TunnelRequest, deps: TunnelDeps): void {
  const started = Date.now();
  let bytesIn = 0;
  let bytesOut = 0;
  const release = holdConnection(deps.tracker);
  let upstream: Socket | undefined;
  let isSpliced = false;
  let isClientEnded = false;
  let isFinished = false;
  let letGo = (): void => undefined;
  const finish = (): void => {
    if (isFinished) return;
    isFinished = true;
    letGo();
    t.client.destroy();
    deps.audit(closedRecord(deps, t.resource, t.address, started, bytesIn, bytesOut));
    release();
  };
  let relay: ChildProcess | undefined;
  function stop(): void {
    if (relay) {
      // Its exit finishes the tunnel; told to stop, it reports the bytes it carried first.
      const child = relay;
      child.kill('SIGTERM');
      setTimeout(
        () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
        RELAY_STOP_MS,
      ).unref();
      return;
    }
    t.client.destroy();
    if (upstream) upstream.destroy();
    else finish();
  }
  letGo = onSessionEnd(deps.signal, stop);
  // A client that half-closes before its first bytes were judged (it gave up): end the upstream
  // too, so it closes and the tunnel with it, instead of both sides waiting forever. Bytes not yet
  // judged are dropped.
  const onClientEnd = (): void => {
    isClientEnded = true;
    if (!isSpliced) upstream?.end();
  };
  // A client of the SOCKS proxy may have ended while its request was decided.
  if (t.client.readableEnded) onClientEnd();
  else t.client.once('end', onClientEnd);
  const onClientClose = (): void => {
    if (upstream) upstream.destroy();
    else finish();
  };
  t.client.once('close', onClientClose);

  /** The bytes each way, counted as Node relays them (a tunnel turned bulk moves to the relay). */
  const fromUpstream = (data: Buffer): void => {
    bytesIn += data.length;
    if (isSpliced) considerRelay();
  };
  const fromClient = (data: Buffer): void => {
    bytesOut += data.length;
    considerRelay();
  };
  const onReady = (up: Socket): void => {
    t.onOpen();
    // The server's bytes flow at once (SSH and SMTP speak first); only the client's first bytes
    // are held, for the ClientHello check.
    up.on('data', fromUpstream);
    up.pipe(t.client);
    if (isClientEnded) {
      up.end();
      return;
    }
    let held = t.early;
    const inspect = (chunk: Buffer): void => {
      held = Buffer.concat([held, chunk]);
      if (readClientHello(held).kind === 'incomplete' && held.length < MAX_HELLO_BYTES) return;
      t.client.removeListener('data', inspect);
      t.client.pause();
      const problem = frontingProblem(t.host, t.resource, held);
      if (problem !== undefined) {
        deps.audit(
          lifecycleRecord(
            'network.fronting-refused',
            { sessionId: deps.sessionId },
            { resource: t.resource, reason: problem },
          ),
        );
        up.destroy();
        t.client.destroy();
        return;
      }
      isSpliced = true;
      bytesOut += held.length;
      up.write(held);
      t.client.on('data', fromClient);
      t.client.pipe(up);
      t.client.resume();
    };
    t.client.on('data', inspect);
    if (t.early.length > 0) inspect(Buffer.alloc(0));
  };
  /**
   * A tunnel that has carried RELAY_AFTER_BYTES is a bulk transfer: it moves to the native relay.
   * Short exchanges (most API calls) stay here, where a process per tunnel would cost more than
   * it saves.
   */
  let isRelayed = false;
  const considerRelay = (): void => {
    if (isRelayed || deps.relay === undefined || bytesIn + bytesOut < RELAY_AFTER_BYTES) return;
    const up = upstream;
    if (!(t.client instanceof Socket) || up === undefined) return;
    isRelayed = true;
    // After this chunk's 'data' listeners have run: the pipe writes it on after this one.
    const client = t.client;
    process.nextTick(() => handOff(client, up));
  };
  /**
   * Moves an established, checked tunnel into the native relay: what Node already read is passed
   * on first, then both sockets go to the relay process and this process lets go of them. Reading
   * what Node holds lets it read again, so what arrives while that is written is passed on too.
   * Each direction does so on its own, so a peer slow to read holds up only the bytes going to it
   * (and the move), never the other direction. When neither direction has anything read or still
   * being written, the sockets move in the same turn of the event loop, before Node can read
   * another byte. A relay that cannot start (its binary gone or busy, no process to spare) leaves
   * the tunnel in Node, which carries it on.
   */
  const handOff = (client: Socket, up: Socket): void => {
    up.unpipe(client);
    client.unpipe(up);
    up.removeAllListeners('data');
    client.removeAllListeners('data');
    /** The sides a direction is writing to, until what it wrote is out. */
    const writing = new Set<Socket>();
    let isMoving = false;
    const isIdle = (): boolean =>
      writing.size === 0 &&
      client.readableLength + up.readableLength + client.writableLength + up.writableLength === 0;
    const direction = (from: Socket, to: Socket, count: (n: number) => void): (() => void) => {
      const pass = (): void => {
        if (isFinished || isMoving || writing.has(to)) return;
        const bytes = drained(from);
        // Bytes Node is still writing would be overtaken by the relay's: they are waited for too.
        if (bytes.length === 0 && to.writableLength === 0) {
          if (!isIdle()) return; // the other direction, busy, looks again when it is done
          isMoving = true;
          client.removeListener('readable', toUpstream);
          up.removeListener('readable', toClient);
          start(client, up);
          return;
        }
        count(bytes.length);
        writing.add(to);
        writeOn(to, bytes, () => {
          writing.delete(to);
          pass();
        });
      };
      return pass;
    };
    const toUpstream = direction(client, up, (n) => (bytesOut += n));
    const toClient = direction(up, client, (n) => (bytesIn += n));
    client.on('readable', toUpstream);
    up.on('readable', toClient);
    toUpstream();
    toClient();
  };
  const start = (client: Socket, up: Socket): void => {
    // A side that went away while its last bytes were written: nothing is left to hand over.
    if (client.destroyed || up.destroyed) {
      client.destroy();
      up.destroy();
      finish();
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(deps.relay as string, [String(Math.ceil(deps.idleMs / 1000))], {
        // As fds 3 and 4: a child's fds 0-2 are made blocking, and so would the proxy's sockets be.
        stdio: ['ignore', 'ignore', 'pipe', client, up],
      });
    } catch (e) {
      // Node throws what it does not report as an 'error' event (a busy binary: ETXTBSY).
      unavailable(client, up, e as NodeJS.ErrnoException);
      return;
    }
    let report = '';
    child.stderr?.on('data', (chunk: Buffer) => (report += chunk.toString('latin1')));
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (relay === undefined) unavailable(client, up, e);
      else finish();
    });
    // The relay holds its own descriptors from here; closing these does not end the connections.
    child.once('spawn', () => {
      if (isFinished) {
        child.kill('SIGKILL');
        return;
      }
      relay = child;
      client.removeListener('close', onClientClose);
      up.removeListener('close', onUpstreamClose);
      up.setTimeout(0);
      child.once('close', () => {
        const [inBytes, outBytes] = report.trim().split(' ').map(Number);
        bytesIn += Number.isFinite(inBytes) ? (inBytes ?? 0) : 0;
        bytesOut += Number.isFinite(outBytes) ? (outBytes ?? 0) : 0;
        finish();
      });
      client.destroy();
      up.destroy();
    });
  };
  /** The relay could not start: said in the audit, and the tunnel carried on in Node. */
  const unavailable = (client: Socket, up: Socket, e: NodeJS.ErrnoException): void => {
    deps.audit(
      lifecycleRecord(
        'network.relay-unavailable',
        { sessionId: deps.sessionId },
        {
          resource: t.resource,
          relay: deps.relay as string,
          reason: `the native relay could not start (${e.code ?? e.message}); the tunnel stays in Node`,
        },
      ),
    );
    carryOn(client, up);
  };
  /** The tunnel relayed in Node again, as before the hand-off (which is not tried again). */
  const carryOn = (client: Socket, up: Socket): void => {
    if (isFinished) return;
    up.on('data', fromUpstream);
    client.on('data', fromClient);
    up.pipe(client);
    client.pipe(up);
  };
  /**
   * The upstream is gone: what Node still holds for a slow client is written before the tunnel
   * ends (destroying the client at once dropped it: a download cut short), for at most the idle
   * time.
   */
  const onUpstreamClose = (): void => {
    const client = t.client;
    if (isFinished || client.destroyed || client.writableLength === 0) {
      finish();
      return;
    }
    const cutOff = setTimeout(finish, deps.idleMs).unref();
    const done = (): void => {
      clearTimeout(cutOff);
      finish();
    };
    client.once('finish', done);
    client.once('close', done);
    client.end();
  };
  const wire = (up: Socket): void => {
    upstream = up;
    // Half-open: an upstream that ends its side first still gets the rest of what the client
    // sends (whoever dialled it: directly, through an upstream proxy, or a test's dial).
    up.allowHalfOpen = true;
    up.setTimeout(deps.idleMs, () => up.destroy());
    up.once('error', (e) => t.onFail(e.message));
    up.once('close', onUpstreamClose);
    if (t.client.destroyed || isFinished) up.destroy();
  };

  const dialled = deps.dial(t.address, t.port);
  if (dialled instanceof Promise) {
    // Through an upstream proxy: the socket comes back already tunnelled.
    dialled.then(
      (up) => {
        wire(up);
        if (!up.destroyed) onReady(up);
      },
      (e: Error) => {
        t.onFail(e.message);
        finish();
      },
    );
  } else {
    wire(dialled);
    dialled.once('connect', () => onReady(dialled));
  }
}
