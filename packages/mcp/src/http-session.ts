// One MCP session over Streamable HTTP (2025-03-26 / 2025-06-18 / 2025-11-25), as the SDK's
// `Transport` the gateway's Server is connected to, written straight onto node:http responses.
// http.ts has already checked the token, Host, Origin, headers and body of every request it hands
// over, and validated each message as JSON-RPC.
//
// A POST that carries requests is answered lazily: while only its responses come back, they go
// out as one application/json body (one write, no stream); the first message the server sends
// for one of its requests before answering it (an elicitation, a progress or log notification)
// turns the answer into a text/event-stream, which then carries everything up to the last
// response. The spec lets the server choose either per POST, and clients must accept both.
// Messages that belong to no open request go on the session's GET stream, if the client opened
// one. No event store: a stream that breaks is not resumed (the spec makes resumption optional).

import type { ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  type JSONRPCMessage,
  type MessageExtraInfo,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** How often an open event stream gets a comment line, so idle timeouts on the way keep it (the SDK's value). */
const KEEP_ALIVE_MS = 15_000;

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

/** One POST's requests and the HTTP response that answers them. */
interface Exchange {
  readonly res: ServerResponse;
  /** The ids of its requests not answered yet. */
  readonly waiting: Set<RequestId>;
  /** Responses held for the JSON body (a batch answers with all of them at once). */
  readonly answers: JSONRPCMessage[];
  readonly isBatch: boolean;
  keepAlive?: NodeJS.Timeout;
  /** Its client went away: the requests still run, their ids stay taken, their messages are dropped. */
  isGone?: boolean;
  /** Called once its last request is answered, or the session closes (the client's or not). */
  readonly done: () => void;
}

export const isRequest = (m: JSONRPCMessage): boolean => 'method' in m && 'id' in m;
const isResponse = (m: JSONRPCMessage): m is JSONRPCMessage & { id?: RequestId } =>
  'result' in m || 'error' in m;

export class HttpSession implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  /**
   * When the session was last used (performance.now()): its last request or event stream came,
   * or its last answer went. Idle sessions are closed least recently used first.
   */
  lastUsed = performance.now();
  private readonly exchanges = new Map<RequestId, Exchange>();
  private stream: ServerResponse | undefined;
  private streamKeepAlive: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly sessionId: string) {}

  async start(): Promise<void> {}

  /**
   * Whether nothing holds the session: no request in flight (an elicitation the gateway waits on
   * is asked within one) and no event stream open. Only such a session may be closed for room or
   * age: a client that is listening or waiting for an answer keeps its session.
   */
  get isIdle(): boolean {
    return this.exchanges.size === 0 && this.stream === undefined;
  }

  /** Whether a request with this id is in flight (the client must not reuse an id). */
  isPending(id: RequestId): boolean {
    return this.exchanges.has(id);
  }

  /**
   * A POST's validated messages: 202 at once when it carries no request (notifications, the
   * client's answers to our requests), else the answer stays open until every request has its
   * response. `done` is called once none of its requests runs any more, its client there or
   * gone (http.ts holds the body's share of memory until then: redteam-37-4).
   */
  post(
    res: ServerResponse,
    messages: readonly JSONRPCMessage[],
    isBatch: boolean,
    extra: MessageExtraInfo,
    done: () => void,
  ): void {
    this.lastUsed = performance.now();
    const ids = messages.filter(isRequest).map((m) => (m as { id: RequestId }).id);
    if (ids.length === 0) {
      res.writeHead(202, { 'mcp-session-id': this.sessionId }).end();
    } else {
      const exchange: Exchange = { res, waiting: new Set(ids), answers: [], isBatch, done };
      for (const id of ids) this.exchanges.set(id, exchange);
      // A client that goes away before its answer: the requests still run (the spec: a
      // disconnection is no cancellation) and are audited; their messages are dropped.
      res.once('close', () => this.forget(exchange));
    }
    for (const m of messages) {
      this.onmessage?.(m, extra);
      // The SDK stops a cancelled request in a notification handler it runs a microtask later: the
      // id stays taken until then, so a request reusing it is refused as in use meanwhile. Let go
      // at once, a request with that id that reached the SDK first took the old one's place, the
      // cancellation stopped it instead, and the old call, left running, answered it (redteam-38-2).
      const cancelled = cancelledId(m);
      if (cancelled !== undefined) queueMicrotask(() => this.cancelled(cancelled));
    }
    if (ids.length === 0) done();
  }

  /** A GET: the session's own event stream, for messages that belong to no request. */
  openStream(res: ServerResponse): 'opened' | 'conflict' {
    if (this.stream !== undefined) return 'conflict';
    this.lastUsed = performance.now();
    res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    res.flushHeaders();
    this.stream = res;
    this.streamKeepAlive = keepAlive(res);
    res.once('close', () => {
      if (this.stream !== res) return;
      clearInterval(this.streamKeepAlive);
      this.stream = undefined;
      this.lastUsed = performance.now();
    });
    return 'opened';
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.deliver(message, options?.relatedRequestId);
    return Promise.resolve();
  }

  /** Ends every open answer and stream; requests still running are answered with an error. */
  close(): Promise<void> {
    this.end();
    return Promise.resolve();
  }

  private deliver(message: JSONRPCMessage, relatedRequestId: RequestId | undefined): void {
    const answer = isResponse(message);
    const id = answer ? message.id : relatedRequestId;
    const exchange = id === undefined ? undefined : this.exchanges.get(id);
    if (exchange === undefined) {
      // Anything but a response the session's stream carries when it is open (the spec lets the
      // server drop it when it is not).
      if (!answer && this.stream !== undefined) writeEvent(this.stream, message);
      return;
    }
    if (answer && id !== undefined) {
      exchange.waiting.delete(id);
      this.exchanges.delete(id);
      this.lastUsed = performance.now();
      if (exchange.waiting.size === 0) exchange.done();
    }
    // Its client went away: the message has nowhere to go (and its id is free again only now).
    if (exchange.isGone) return;
    if (exchange.res.headersSent) writeEvent(exchange.res, message);
    else if (!answer) this.toStream(exchange, message);
    else exchange.answers.push(message);
    if (exchange.waiting.size === 0) this.finish(exchange);
  }

  /**
   * The client cancelled one of its requests: the SDK drops its answer, so it counts as answered
   * here (else its exchange, the body's share and the session were held for good: redteam-37-4).
   * An exchange left with nothing to answer ends with 202, as a POST without requests does.
   */
  private cancelled(id: RequestId): void {
    const exchange = this.exchanges.get(id);
    if (exchange === undefined) return;
    exchange.waiting.delete(id);
    this.exchanges.delete(id);
    this.lastUsed = performance.now();
    if (exchange.waiting.size > 0) return;
    exchange.done();
    if (!exchange.isGone) this.finish(exchange);
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    for (const exchange of new Set(this.exchanges.values())) {
      exchange.done();
      if (exchange.isGone) continue;
      for (const id of exchange.waiting)
        exchange.answers.push({
          jsonrpc: '2.0',
          id,
          error: { code: ErrorCode.ConnectionClosed, message: 'the MCP session was closed' },
        });
      exchange.waiting.clear();
      if (exchange.res.headersSent) for (const a of exchange.answers) writeEvent(exchange.res, a);
      this.finish(exchange);
    }
    this.exchanges.clear();
    clearInterval(this.streamKeepAlive);
    this.stream?.end();
    this.stream = undefined;
    this.onclose?.();
  }

  /** The first message before the last response: the answer becomes an event stream. */
  private toStream(exchange: Exchange, first: JSONRPCMessage): void {
    exchange.res.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': this.sessionId });
    for (const held of exchange.answers.splice(0)) writeEvent(exchange.res, held);
    writeEvent(exchange.res, first);
    exchange.keepAlive = keepAlive(exchange.res);
  }

  private finish(exchange: Exchange): void {
    clearInterval(exchange.keepAlive);
    const { res } = exchange;
    if (res.headersSent) {
      res.end();
      return;
    }
    if (exchange.answers.length === 0) {
      res.writeHead(202, { 'mcp-session-id': this.sessionId }).end();
      return;
    }
    const body = JSON.stringify(exchange.isBatch ? exchange.answers : exchange.answers[0]);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'mcp-session-id': this.sessionId,
    });
    res.end(body);
  }

  /**
   * Its client went away before every answer: the ids stay in flight until the gateway answers
   * them (a new request reusing one would otherwise get the old call's answer).
   */
  private forget(exchange: Exchange): void {
    clearInterval(exchange.keepAlive);
    if (exchange.waiting.size > 0) exchange.isGone = true;
  }
}

/** The request a notifications/cancelled names, if `m` is one. */
function cancelledId(m: JSONRPCMessage): RequestId | undefined {
  if (!('method' in m) || 'id' in m || m.method !== 'notifications/cancelled') return undefined;
  const id = (m.params as { requestId?: unknown } | undefined)?.requestId;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

function writeEvent(res: ServerResponse, message: JSONRPCMessage): void {
  // JSON.stringify escapes every line break, so the message is one data line.
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

function keepAlive(res: ServerResponse): NodeJS.Timeout {
  const timer = setInterval(() => res.write(': keepalive\n\n'), KEEP_ALIVE_MS);
  timer.unref();
  return timer;
}
