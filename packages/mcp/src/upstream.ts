// One upstream MCP server, kept warm: connected once and reused by every call, its lists cached
// until it says they changed, restarted with backoff when it dies. A dead upstream fails only its
// own calls. The command line and environment come from the policy catalog, never from a request.
// One that cannot be started at all (its credential cannot be given) stays unavailable, with its
// reason, and is never tried.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  MODERN_REVISION,
  ModernClient,
  modernHttpTransport,
  UNCHECKED_OUTPUT,
  type UpstreamClient,
} from './modern-client.js';
import { ProcessTransport, spawnServer, type ServerProcess } from './process-transport.js';
import type { ServerCredential } from './server-credential.js';
import {
  ErrorCode,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type CallToolResult,
  type GetPromptResult,
  type JSONRPCMessage,
  type Progress,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

export type UpstreamTransport =
  | {
      readonly kind: 'stdio';
      readonly command: string;
      readonly args: readonly string[];
      readonly env: Readonly<Record<string, string>>;
      /**
       * The variables that hold the server's credential (in `env` too), for a launcher that builds
       * the environment itself (its sandbox): host memory and that environment only.
       */
      readonly credentialEnv?: Readonly<Record<string, string>>;
      readonly cwd?: string;
      /**
       * Starts the server process itself (its sandbox around the command); without it the command
       * is spawned directly, with `env` over the few variables the SDK's stdio transport passes on
       * (HOME, LOGNAME, PATH, SHELL, TERM, USER).
       */
      readonly launch?: () => ServerProcess;
      /** What the audit says the server runs in (`sandbox`, `none`). */
      readonly isolation?: string;
    }
  | {
      readonly kind: 'http';
      readonly url: URL;
      /** Sent on every request to the server: its credential's header, nothing of the client's. */
      readonly headers: Readonly<Record<string, string>>;
      /** How to reach it (the egress proxy's tunnel); default: the global fetch, directly. */
      readonly fetch?: FetchLike;
    };

export interface UpstreamSpec {
  readonly id: string;
  readonly transport: UpstreamTransport;
  /** The credential the server is given (never its value), audited at each start or connection. */
  readonly credential?: ServerCredential;
  /** Why the server cannot be started or reached at all: it is unavailable, and never tried. */
  readonly unavailable?: string;
  /** `2026-07-28`: spoken to in that revision only (a server that refuses initialize); default the handshake. */
  readonly protocol?: '2026-07-28';
  /** How long the server has to answer the handshake at each start (connection); default 30 s. */
  readonly startTimeoutMs?: number;
}

export type UpstreamEvent = 'spawn' | 'ready' | 'crash' | 'unavailable' | 'list-failed';
/** What an upstream lists. Resource templates change with resources (one notification for both). */
export type ListKind = 'tools' | 'prompts' | 'resources' | 'templates';

export interface UpstreamHooks {
  /**
   * Lifecycle facts for the audit trail (spawn, ready, crash with its reason, unavailable). The
   * reason is the server's own text (its standard error, an error message), whole and unscanned:
   * the hook redacts and shortens it.
   */
  onEvent(
    id: string,
    event: UpstreamEvent,
    detail: Readonly<Record<string, string | number | boolean>>,
  ): void;
  /**
   * The upstream said one of its lists changed (its cache is already dropped); `resources` stands
   * for resource templates too.
   */
  onListChanged(id: string, kind: ListKind): void;
  /**
   * The server is about to be started or connected with its credential (or, when the policy did
   * not allow it, would have been): once per attempt, before the value goes anywhere.
   */
  onCredential?(id: string, credential: ServerCredential): void;
  /**
   * The server sent a request of its own (sampling, elicitation, roots, …): refused, since the
   * gateway passes no server's requests on to the client; told so the audit can say it asked.
   */
  onServerRequest?(id: string, method: string): void;
}

export class UpstreamUnavailable extends Error {}

const START_TIMEOUT_MS = 30_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/**
 * The largest message a remote server may send: one JSON body, or one event of an event stream
 * (the SDK's own bound on a stdio server's line). Without it a server's answer was read whole
 * into memory, however long.
 */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/**
 * The most requests of its own (pings included) a server may send in one second of the clock.
 * Each is answered by the gateway (a ping) or refused; past this the server is flooding, and it is
 * ended as misbehaving: a server that sent pings as fast as its pipe took them kept the gateway
 * answering them, its event loop starved, every other server's call timed out (redteam-36-1). Far
 * past what any server asks of a client (a keep-alive ping every few seconds, a sampling request
 * per call). What a server has asked and not been answered is bounded by what is owed to it:
 * answers are queued to it at once, and ProcessTransport bounds the queue.
 */
const MAX_SERVER_REQUESTS_PER_SECOND = 100;
/**
 * The most notifications a server may send in one second of the clock. Each costs the gateway its
 * parsing and checking (the SDK's schemas) though none but list changes is used: a server sending
 * logging notifications as fast as its pipe took them, while answering calls, held every other
 * server's call up to 200 ms and took most of a core. Far past what servers send: the reference
 * server (server-everything) logs once every 5 s, and reports a call's progress only when asked.
 */
const MAX_SERVER_NOTICES_PER_SECOND = 1_000;
/**
 * The most answers a server may send in one second to no request of the gateway's (or to one
 * answered already). An honest server sends none; each costs the SDK's client an error it makes
 * and drops, with the answer written into it: a server sending them as fast as its pipe took them
 * held every other call up to 170 ms and took a whole core, past the bounds above (upstream-flood-4).
 */
const MAX_STRAY_ANSWERS_PER_SECOND = 100;
/**
 * The most faults a server's connection may report in one second: a remote server's event that is
 * not a JSON-RPC message is reported and skipped by both SDKs' HTTP transports (a stdio server's
 * line ends it), each after JSON.parse and the SDK's schema made their error. An honest connection
 * reports a few (a stream cut, a reconnection failed); a server sending unreadable events as fast
 * as its socket took them held every other call up to 650 ms and took a whole core
 * (upstream-flood-5).
 */
const MAX_FAULTS_PER_SECOND = 100;
/**
 * The most lines an event stream may carry in one second that are no message's data: comments,
 * the lines of events that are no message (of another type, or without data, which both SDKs'
 * HTTP transports skip), and the names, ids and blank lines of those that are. Each is parsed and
 * dropped: a remote server sending such events as fast as its socket took them took most of a
 * core, every other call held up to 340 ms, for as long as it liked (upstream-flood-7). An honest
 * stream carries 2 or 3 of them with each message (1,000 notifications a second make 3,000), 4 with
 * each request's priming event, and a keep-alive comment (2 lines) every 15 s (the SDK's
 * servers); 10,000 such lines cost the gateway's thread some 4 ms.
 */
const MAX_EVENT_LINES_PER_SECOND = 10_000;
/**
 * The most bytes a server may send in one second of the clock besides its answers to the
 * gateway's requests (each of which may take up to MAX_MESSAGE_BYTES uncounted): notifications,
 * its own requests, stray answers, what cannot be read, an event stream's comments, and a stdio
 * server's standard error (upstream-flood-10: at pipe speed it took the thread too). The bounds
 * above count messages, and a server sending notifications of 4 MiB as fast as its pipe or socket
 * took them (a few hundred a second) took half a core parsing them, every other call held up to
 * 100-190 ms, for as long as it liked (upstream-flood-6). Far past honest use: 1,000
 * notifications of 16 KiB (the count bound, each larger than any log line or progress report)
 * fit; the reference server logs a line every 5 s.
 */
const MAX_UNASKED_BYTES_PER_SECOND = 16 * 1024 * 1024;
/**
 * The most event streams a remote server may have the gateway open in STREAM_WINDOW_SECONDS (its
 * GET requests accepting text/event-stream, the gateway's own first among them): each one after
 * the first is a reconnection, which both SDKs' clients make whenever a server ends a stream it
 * may resume (the standalone GET stream, a POST's stream after a priming event), after as long as
 * the server's `retry:` field says, 0 included. A server ending its stream at once, again and
 * again, had the gateway reconnect some 500 times a second for as long as it liked, half a core
 * busy (11 % at 45 a second; upstream-flood-11); no other bound saw it, since an empty stream
 * carries no line and few bytes. Counted over 10 s, not one: an honest server may end many streams
 * at once (every call's stream cut by a restart behind a load balancer, each resumed, and tried
 * again up to twice: STREAMS_PER_REQUEST more for each request waiting for its answer), and
 * reconnects each after a second or more (the SDKs' own delay when no `retry:` is given); 10 a
 * second kept up costs the gateway some 2.5 % of a core.
 */
const MAX_STREAMS_PER_WINDOW = 100;
const STREAMS_PER_REQUEST = 3;
const STREAM_WINDOW_SECONDS = 10;
/**
 * What a server sends that the gateway did not ask for, by kind, bounded per second of the clock
 * (per `seconds` of it when said; Unasked): past its bound the server is flooding, and is ended
 * saying so, in the words of `verb` (`sent` when not said), `amount` (the bound when not said) and
 * `what`.
 */
interface UnaskedBound {
  readonly max: number;
  readonly what: string;
  readonly amount?: string;
  readonly seconds?: number;
  readonly verb?: string;
  /**
   * How many more each of the gateway's requests allows that was waiting for its answer during
   * the window (sent in it, or unanswered when it began).
   */
  readonly perAsked?: number;
}

const UNASKED = {
  request: { max: MAX_SERVER_REQUESTS_PER_SECOND, what: 'requests of its own (pings included)' },
  notice: { max: MAX_SERVER_NOTICES_PER_SECOND, what: 'notifications' },
  stray: { max: MAX_STRAY_ANSWERS_PER_SECOND, what: 'answers to requests the gateway did not make' },
  fault: {
    max: MAX_FAULTS_PER_SECOND,
    what: 'unreadable messages (or other faults its connection reported)',
  },
  line: {
    max: MAX_EVENT_LINES_PER_SECOND,
    what: 'lines of event streams carrying no message (comments, events of another type or without data)',
  },
  byte: {
    max: MAX_UNASKED_BYTES_PER_SECOND,
    amount: `${MAX_UNASKED_BYTES_PER_SECOND / 1024 / 1024} MiB`,
    what: "besides its answers to the gateway's requests",
  },
  stream: {
    max: MAX_STREAMS_PER_WINDOW,
    perAsked: STREAMS_PER_REQUEST,
    seconds: STREAM_WINDOW_SECONDS,
    verb: 'had the gateway open',
    what: `event streams (a reconnection each time it ended one), and ${STREAMS_PER_REQUEST} more for each request it was sent,`,
  },
} as const satisfies Record<string, UnaskedBound>;
/**
 * The most of the gateway's requests to one connection whose ids are kept until answered: past it
 * the oldest is let go (a server that answers it after all is sent one stray answer).
 */
const MAX_ASKED = 10_000;
/**
 * How many reasons a kind's failed listings are audited for (list-failed) until one succeeds. A
 * reason may be the server's own words (its error's message), which it can change at each listing:
 * kept to the last reason, a server failing with a count in its message had one event written per
 * listing (list-failed-1).
 */
const MAX_LIST_FAILURES_SAID = 3;
/** A connection that lived this long resets the backoff. */
const HEALTHY_MS = 60_000;
const CLIENT_INFO = { name: 'perimeter-mcp-gateway', version: '0.1.0' };
/** How much of a server's standard error is kept for the reason of a crash. */
const STDERR_KEPT = 2_000;
/** The most pages one listing may take (the v2 SDK's own bound), and the most definitions of a kind. */
const MAX_PAGES = 64;
const MAX_LISTED = 10_000;
/**
 * How deeply a definition may nest (objects and arrays in its schemas): far past any real schema,
 * and shallow enough for every recursive reading of it (its pin's canonical JSON, its diff, the
 * scans) to stay within the stack (redteam-33-5: a schema 15,000 levels deep overflowed the pin's
 * hash, and every listing of every client failed).
 */
const MAX_DEFINITION_DEPTH = 64;
/**
 * The most text one listing of a kind may hold, all its pages together: its strings and keys, in
 * UTF-16 code units (16 MiB of ASCII). Every definition listed is scanned, hashed and kept, so a
 * server listing four pages of 7.7 MB held every other server's calls for seconds at each of its
 * list changes (redteam-37-3); a real server's definitions take a few hundred KB.
 */
const MAX_LISTING_TEXT = 16 * 1024 * 1024;
/** Why a listing past MAX_LISTING_TEXT fails. */
const TOO_MUCH_TEXT = `with more than ${MAX_LISTING_TEXT / 1024 / 1024} MiB of text in all`;
/** A list request's parameters: the first page has no cursor. */
const at = (cursor: string | undefined): { cursor?: string } => (cursor === undefined ? {} : { cursor });

export class Upstream {
  private client: UpstreamClient | undefined;
  private connecting: Promise<UpstreamClient> | undefined;
  /** The client open() is connecting, until it is connected or has failed. */
  private opening: UpstreamClient | undefined;
  private failures = 0;
  private connectedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastError = '';
  /** A server that is never started (spec.unavailable) has said so. */
  private hasSaidUnavailable = false;
  private readonly cache = new Map<ListKind, Promise<unknown[]>>();
  /** Why each kind's listings failed since one last succeeded, each said once (list-failed). */
  private readonly listFailures = new Map<ListKind, Set<string>>();
  /** The calls whose progress a client follows, by the progress token their server was sent. */
  private readonly progress: ProgressTaps = new Map();
  private progressTokens = 0;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly hooks: UpstreamHooks,
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get isReady(): boolean {
    return this.client !== undefined;
  }

  /**
   * No attempt to start or connect the server has ended yet: its first start is under way or to
   * come. Once one has ended, every later start is a restart (after a crash or a failed start).
   */
  get isFirstStart(): boolean {
    // Connected once, or failed (and so waiting to restart, or restarted): not the first.
    return this.connectedAt === 0 && this.failures === 0;
  }

  /** How long the server has to answer its handshake at each start (the catalog's start_timeout). */
  get startTimeoutMs(): number {
    return this.spec.startTimeoutMs ?? START_TIMEOUT_MS;
  }

  /** The connected client; connects (once, shared by concurrent callers) when there is none. */
  connect(): Promise<UpstreamClient> {
    if (this.closed) return Promise.reject(new UpstreamUnavailable(`${this.id} is shut down`));
    const never = this.spec.unavailable;
    if (never !== undefined) {
      // Said once (the credential's refused use with it), not at every listing that finds it so.
      if (!this.hasSaidUnavailable) {
        this.hasSaidUnavailable = true;
        this.lastError = never;
        if (this.spec.credential) this.hooks.onCredential?.(this.id, this.spec.credential);
        this.hooks.onEvent(this.id, 'unavailable', { reason: never });
      }
      return Promise.reject(new UpstreamUnavailable(`the MCP server ${this.id} is unavailable: ${never}`));
    }
    if (this.client) return Promise.resolve(this.client);
    // Waiting out its backoff, it is down until its restart: nothing starts it early (redteam-33-4:
    // 40 listings started a server that failed every start 41 times in 8 s).
    if (this.restartTimer !== undefined && this.connecting === undefined)
      return Promise.reject(
        new UpstreamUnavailable(
          `the MCP server ${this.id} is unavailable: ${this.lastError}; it is restarted shortly`,
        ),
      );
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * The lists, cached until the server says they changed. With `start` false a server that is not
   * connected and not connecting (waiting to restart) is unavailable at once: a call's look at the
   * lists never waits for a server to start, nor starts one.
   */
  async listTools(start = true): Promise<Tool[]> {
    return this.listed('tools', start, (c) =>
      this.pages('tools', async (cursor) => {
        const page = await c.listTools(at(cursor));
        return { items: page.tools, nextCursor: page.nextCursor };
      }),
    );
  }

  async listPrompts(start = true): Promise<Prompt[]> {
    if (!(await this.ready(start)).getServerCapabilities()?.prompts) return [];
    return this.listed('prompts', start, (c) =>
      this.pages('prompts', async (cursor) => {
        const page = await c.listPrompts(at(cursor));
        return { items: page.prompts, nextCursor: page.nextCursor };
      }),
    );
  }

  async listResources(start = true): Promise<Resource[]> {
    if (!(await this.ready(start)).getServerCapabilities()?.resources) return [];
    return this.listed('resources', start, (c) =>
      this.pages('resources', async (cursor) => {
        const page = await c.listResources(at(cursor));
        return { items: page.resources, nextCursor: page.nextCursor };
      }),
    );
  }

  async listResourceTemplates(start = true): Promise<ResourceTemplate[]> {
    if (!(await this.ready(start)).getServerCapabilities()?.resources) return [];
    return this.listed('templates', start, (c) =>
      this.pages('resource templates', async (cursor) => {
        const page = await c.listResourceTemplates(at(cursor));
        return { items: page.resourceTemplates, nextCursor: page.nextCursor };
      }),
    );
  }

  /**
   * Every page of one listing, in order. A listing that is not whole is no listing: past
   * MAX_PAGES pages or MAX_LISTED definitions, at a cursor the server gave before (it would never
   * end), with more text than MAX_LISTING_TEXT, or with a definition nested deeper than
   * MAX_DEFINITION_DEPTH or holding a number JSON cannot hold, it fails, and the server lists nothing of that kind until it is asked again. A
   * partial list would let a name the policy denies on a later page be reached another way.
   */
  private async pages<T>(
    what: string,
    page: (cursor: string | undefined) => Promise<{ items: readonly T[]; nextCursor?: string | undefined }>,
  ): Promise<T[]> {
    const out: T[] = [];
    const seen = new Set<string>();
    const room = { text: MAX_LISTING_TEXT };
    let cursor: string | undefined;
    for (let pages = 1; ; pages++) {
      const next = await page(cursor);
      for (const item of next.items) {
        const problem = jsonProblem(item, MAX_DEFINITION_DEPTH, room);
        if (problem !== undefined) throw new Error(`the MCP server ${this.id} lists ${what} ${problem}`);
      }
      out.push(...next.items);
      if (out.length > MAX_LISTED)
        throw new Error(`the MCP server ${this.id} lists more than ${MAX_LISTED} ${what}`);
      cursor = next.nextCursor;
      if (cursor === undefined) return out;
      if (pages === MAX_PAGES)
        throw new Error(`the MCP server ${this.id} lists its ${what} in more than ${MAX_PAGES} pages`);
      if (seen.has(cursor))
        throw new Error(`the MCP server ${this.id} gave the same page of its ${what} twice`);
      seen.add(cursor);
    }
  }

  async callTool(
    name: string,
    args: Record<string, unknown> | undefined,
    signal?: AbortSignal,
    onprogress?: (progress: Progress) => void,
  ): Promise<CallToolResult> {
    const c = await this.connect();
    // Progress is taken off the transport as it is read, not through the SDK's client, which
    // hands a notification to its handler a turn after reading it but settles an answer at once:
    // the last report, read with the answer, was dropped. The server is sent a progress token
    // only for a client that asked for progress.
    let token: string | undefined;
    if (onprogress) {
      token = `perimeter-${++this.progressTokens}`;
      this.progress.set(token, onprogress);
    }
    // The client's signal reaches the upstream call only while the call is under way: the SDK's
    // client never lets go of a signal it was given, and a client request's signal aborted once
    // its exchange is over (the 2026-07-28 handler does so) would still cancel the finished call
    // upstream.
    const during = new AbortController();
    const cancel = (): void => during.abort(signal?.reason);
    signal?.addEventListener('abort', cancel, { once: true });
    if (signal?.aborted) cancel();
    try {
      const params = {
        name,
        ...(args ? { arguments: args } : {}),
        ...(token ? { _meta: { progressToken: token } } : {}),
      };
      return (await c.callTool(params, undefined, {
        signal: during.signal,
        timeout: 10 * 60_000,
      })) as CallToolResult;
    } finally {
      signal?.removeEventListener('abort', cancel);
      if (token) this.progress.delete(token);
    }
  }

  async getPrompt(name: string, args: Record<string, string> | undefined): Promise<GetPromptResult> {
    return (await this.connect()).getPrompt({ name, ...(args ? { arguments: args } : {}) });
  }

  async readResource(uri: string): Promise<ReadResourceResult> {
    return (await this.connect()).readResource({ uri });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    // A connection under way is closed too (a server still starting, an npx still downloading),
    // and its end awaited, so no server process outlives the gateway and nothing waits for it.
    await this.opening?.close().catch(() => undefined);
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }

  /** connect(), or with `start` false only a connection that is there or under way. */
  private ready(start: boolean): Promise<UpstreamClient> {
    if (start || this.client || this.connecting) return this.connect();
    return Promise.reject(new UpstreamUnavailable(`the MCP server ${this.id} is not connected`));
  }

  private listed<T>(kind: ListKind, start: boolean, load: (c: UpstreamClient) => Promise<T[]>): Promise<T[]> {
    let p = this.cache.get(kind) as Promise<T[]> | undefined;
    if (!p) {
      p = this.ready(start).then(async (c) => {
        try {
          const items = await load(c);
          this.listFailures.delete(kind);
          return items;
        } catch (e) {
          // The server is up and what it listed is no list (past a bound, not as the protocol
          // has it, not in time): said once per kind and reason, or its definitions would be
          // missing with nothing but `upstreams_unavailable` to say why. A connection lost
          // meanwhile is its crash, audited as such.
          const reason = e instanceof Error ? e.message : String(e);
          const said = this.listFailures.get(kind) ?? new Set<string>();
          this.listFailures.set(kind, said);
          if (this.client === c && !said.has(reason) && said.size < MAX_LIST_FAILURES_SAID) {
            said.add(reason);
            this.hooks.onEvent(this.id, 'list-failed', { kind, reason });
          }
          throw e;
        }
      });
      this.cache.set(kind, p);
      // A failed listing is not remembered: the next list asks again.
      p.catch(() => this.cache.delete(kind));
    }
    return p;
  }

  private async open(): Promise<UpstreamClient> {
    const client = this.newClient();
    this.opening = client;
    try {
      return await this.connectClient(client);
    } finally {
      this.opening = undefined;
    }
  }

  /** A client for the revision the catalog names, told of its server's list changes. */
  private newClient(): UpstreamClient {
    const dropped = (kind: ListKind): void => {
      this.cache.delete(kind);
      // MCP has no notification of its own for templates: resources/list_changed covers both.
      if (kind === 'resources') this.cache.delete('templates');
      this.hooks.onListChanged(this.id, kind);
    };
    if (this.spec.protocol === MODERN_REVISION) return new ModernClient(CLIENT_INFO, dropped);
    const client = new GatewayClient(CLIENT_INFO, {
      capabilities: {},
      jsonSchemaValidator: UNCHECKED_OUTPUT,
    });
    // What the SDK answers a method it has no handler for, told to the gateway first (pings are the
    // SDK's own to answer). How many a server may ask is bounded by boundInbound.
    client.fallbackRequestHandler = (request) => {
      this.hooks.onServerRequest?.(this.id, request.method);
      return Promise.reject(new McpError(ErrorCode.MethodNotFound, 'Method not found'));
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => dropped('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => dropped('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => dropped('resources'));
    return client;
  }

  private async connectClient(client: UpstreamClient): Promise<UpstreamClient> {
    const t = this.spec.transport;
    if (this.spec.credential) this.hooks.onCredential?.(this.id, this.spec.credential);
    try {
      if (t.kind === 'stdio') {
        // The server's own diagnostics are kept short and go nowhere near the agent's stream.
        let stderr = '';
        const keep = (chunk: Buffer): void => {
          // Counted with what it sends unasked: written at pipe speed, it took the gateway's
          // thread as a flood of messages does, and nothing ended it (upstream-flood-10).
          if (!unasked.isWithin('byte', chunk.length)) return;
          stderr += chunk.toString('utf8');
          // The last lines only, each whole: a line cut in two could hold half a secret, which
          // no scanner recognises.
          if (stderr.length > STDERR_KEPT) stderr = stderr.slice(-STDERR_KEPT).replace(/^[^\n]*(\n|$)/, '');
        };
        // One transport for every stdio server, sandboxed or not, so each is owed a bounded queue
        // (the SDK's own stdio transport waits for a pipe that is never read, without end).
        const transport = new ProcessTransport(
          // Unsandboxed, a server leads a process group of its own, so what it started is
          // stopped with it (upstream-stop-1); a sandbox's pid namespace does that for the others.
          t.launch ??
            (() =>
              spawnServer(t.command, t.args, {
                env: { ...getDefaultEnvironment(), ...t.env },
                ...(t.cwd !== undefined ? { cwd: t.cwd } : {}),
              })),
          keep,
        );
        // A flooding server is read no more, and what waits for it fails, at once (upstream-flood-8);
        // why is the transport's to tell, as for its own ends (a line that is no message, input not
        // taken).
        const unasked = new Unasked((why) => transport.endMisbehaving(why));
        transport.onread = (bytes) => unasked.read(bytes);
        this.hooks.onEvent(this.id, 'spawn', {
          command: t.command,
          args: t.args.length,
          isolation: t.isolation ?? 'none',
        });
        await this.answered(
          client.connect(boundInbound(transport, unasked, this.progress)).catch((e: unknown) => {
            // Ended by its transport while starting: that is why it is unavailable.
            if (transport.endedBecause !== undefined) client.endedBecause ??= transport.endedBecause;
            const last = lastProblem(stderr);
            throw last ? new Error(`${e instanceof Error ? e.message : String(e)} (${last})`) : e;
          }),
          this.id,
        );
        client.onclose = () => this.lost(client, transport.endedBecause ?? lastProblem(stderr));
      } else {
        await this.connectHttp(client, t.url, t.headers, t.fetch);
      }
    } catch (e) {
      await client.close().catch(() => undefined);
      // Shut down while connecting: the failure is the shutdown's, not the server's.
      if (this.closed) throw new UpstreamUnavailable(`${this.id} is shut down`);
      this.lastError = client.endedBecause ?? (e instanceof Error ? e.message : String(e));
      if (this.spec.protocol === undefined && /-32022|unsupported protocol version/i.test(this.lastError))
        this.lastError += `; if it speaks only ${MODERN_REVISION}, set protocol: ${MODERN_REVISION} in its catalog entry`;
      this.hooks.onEvent(this.id, 'unavailable', { reason: this.lastError });
      this.scheduleRestart();
      throw new UpstreamUnavailable(`the MCP server ${this.id} is unavailable: ${this.lastError}`);
    }
    if (this.closed) {
      // Shut down while connecting: this connection must not outlive the gateway.
      await client.close().catch(() => undefined);
      throw new UpstreamUnavailable(`${this.id} is shut down`);
    }
    this.client = client;
    this.connectedAt = Date.now();
    this.lastError = '';
    const info = client.getServerVersion();
    this.hooks.onEvent(this.id, 'ready', {
      server_name: info?.name ?? '',
      server_version: info?.version ?? '',
    });
    return client;
  }

  /** `connected`, or an error naming `who` once the server's start timeout is over. */
  private answered(
    connected: Promise<void>,
    who: string,
    deadline = Date.now() + this.startTimeoutMs,
  ): Promise<void> {
    // What the connection opens with, for a server that never answers it.
    const handshake =
      this.spec.protocol === MODERN_REVISION ? `server/discover (${MODERN_REVISION})` : 'initialize';
    return withTimeout(
      connected,
      Math.max(0, deadline - Date.now()),
      `${who} did not answer ${handshake} within ${this.startTimeoutMs / 1000} s`,
    );
  }

  /**
   * Streamable HTTP first; a server that refuses it gets the legacy SSE transport. A 2026-07-28
   * server gets that revision's Streamable HTTP only (it has no SSE transport).
   */
  private async connectHttp(
    client: UpstreamClient,
    url: URL,
    headers: Readonly<Record<string, string>>,
    fetch: FetchLike | undefined,
  ): Promise<void> {
    // One start timeout for the whole start: Streamable HTTP, then legacy SSE in what is left
    // (each had the whole of it, so a start could take twice as long as the catalog says).
    const deadline = Date.now() + this.startTimeoutMs;
    // One count for the connection, whichever transport makes it: its bytes and event streams'
    // lines are counted as they are read (boundedFetch), its messages as they are passed on.
    const unasked = new Unasked((why) => {
      client.endedBecause ??= why;
      void client.close();
    });
    const handshake = (transport: Transport): Promise<void> =>
      this.answered(client.connect(boundInbound(transport, unasked, this.progress)), url.host, deadline);
    // A message past the bound ends the connection, so what waits for an answer fails at once.
    const limited = boundedFetch(fetch ?? globalThis.fetch, unasked, (why) => {
      client.endedBecause ??= `${url.host} ${why}`;
      void client.close();
    });
    client.onclose = () => this.lost(client, 'the connection closed');
    if (this.spec.protocol === MODERN_REVISION) {
      await handshake(modernHttpTransport(url, headers, limited));
      return;
    }
    const requestInit = { headers: { ...headers } };
    try {
      await handshake(new StreamableHTTPClientTransport(url, { requestInit, fetch: limited }));
    } catch (first) {
      try {
        await handshake(
          new SSEClientTransport(url, { requestInit, fetch: limited, eventSourceInit: { fetch: limited } }),
        );
      } catch {
        throw first;
      }
    }
  }

  /** The connection of `client` is over: `reason` unless the client said why it ended it. */
  private lost(client: UpstreamClient, reason: string): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.cache.clear();
    if (this.closed) return;
    if (Date.now() - this.connectedAt > HEALTHY_MS) this.failures = 0;
    this.lastError = client.endedBecause ?? (reason || 'the server exited');
    this.hooks.onEvent(this.id, 'crash', { reason: this.lastError });
    this.scheduleRestart();
    // Listings change when a server comes back: clients are told then.
  }

  private scheduleRestart(): void {
    if (this.closed || this.restartTimer) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.failures++);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.connect().then(
        // Back, it may list anything: a listing made while it was down left all of it out
        // (resources/list_changed covers templates).
        () => {
          for (const kind of ['tools', 'prompts', 'resources'] as const)
            this.hooks.onListChanged(this.id, kind);
        },
        () => undefined, // recorded as unavailable; the next restart is scheduled
      );
    }, delay);
    this.restartTimer.unref();
  }
}

/**
 * Why `value`, as parsed from JSON, is no value a definition may be (undefined if it may): nested
 * more than `max` levels deep, holding a number out of range (JSON.parse reads 1e400 as Infinity,
 * which has no canonical JSON, so no pin), or with more text (strings and an object's keys; an
 * array's indices are no text) than is left in `room`, which its text is taken from. Walked
 * without recursion, a scalar checked where it is met: only objects and arrays wait on the stack
 * (a listed array of 4 million zeros took 2.7-3.5 s of the gateway's thread when each element
 * went through Object.entries, its index made a string and counted as text).
 */
function jsonProblem(value: unknown, max: number, room: { text: number }): string | undefined {
  const stack: [object, number][] = [];
  /** What is wrong with `v`, at `depth`, that is known without looking inside it. */
  const problemOf = (v: unknown, depth: number): string | undefined => {
    if (typeof v === 'string') return (room.text -= v.length) < 0 ? TOO_MUCH_TEXT : undefined;
    if (typeof v === 'number') return Number.isFinite(v) ? undefined : 'with a number out of range';
    if (v === null || typeof v !== 'object') return undefined;
    if (depth === max) return `nested more than ${max} levels deep`;
    stack.push([v, depth]);
    return undefined;
  };
  let problem = problemOf(value, 0);
  for (let next = stack.pop(); problem === undefined && next !== undefined; next = stack.pop()) {
    const [v, depth] = next;
    if (Array.isArray(v))
      for (let i = 0; i < v.length && problem === undefined; i++) problem = problemOf(v[i], depth + 1);
    else
      for (const key of Object.keys(v)) {
        problem =
          (room.text -= key.length) < 0
            ? TOO_MUCH_TEXT
            : problemOf((v as Record<string, unknown>)[key], depth + 1);
        if (problem !== undefined) break;
      }
  }
  return problem;
}

/**
 * What one connection's server sends that the gateway did not ask for, counted per second of the
 * clock (UNASKED): its own requests, its notifications, answers to no request of the gateway's
 * (the ids of the requests sent are kept until answered), the faults its connection reports, the
 * lines of its event streams that carry no message, and the bytes it sends besides its answers.
 * Past a bound the server is flooding, and `end` ends it, saying why; nothing more from it is read.
 */
interface UnaskedCount {
  window: number;
  n: number;
  asked: number;
}

class Unasked {
  /**
   * Each kind's count, the window of the clock (its second, or its `seconds`) it is for, and the
   * gateway's requests that waited for their answers during that window (`perAsked`).
   */
  private readonly counts = Object.fromEntries(
    Object.keys(UNASKED).map((kind) => [kind, { window: 0, n: 0, asked: 0 }]),
  ) as Record<keyof typeof UNASKED, UnaskedCount>;
  /** The ids of the gateway's requests not answered yet (as strings: the SDK's client takes "1" for 1). */
  private readonly asked = new Set<string>();
  /**
   * The bytes answers may still take uncounted: MAX_MESSAGE_BYTES more with each request sent,
   * never more than that for each request not answered yet. Bytes are counted as they are read,
   * before anyone knows which message they hold, so an answer is known by the room its request made.
   */
  private room = 0;
  isOver = false;

  constructor(private readonly end: (why: string) => void) {}

  /** Whether the server is within its bounds with `n` more of `kind`; ended if not. */
  isWithin(kind: keyof typeof UNASKED, n = 1): boolean {
    if (this.isOver) return false;
    const bound: UnaskedBound = UNASKED[kind];
    const count = this.counted(kind);
    if ((count.n += n) <= bound.max + (bound.perAsked ?? 0) * count.asked) return true;
    this.isOver = true;
    const during = bound.seconds === undefined ? 'one second' : `${bound.seconds} seconds`;
    this.end(
      `${bound.verb ?? 'sent'} more than ${bound.amount ?? bound.max} ${bound.what} in ${during}, and was ended`,
    );
    return false;
  }

  /** `kind`'s count, a new one when the clock has left its window. */
  private counted(kind: keyof typeof UNASKED): UnaskedCount {
    const seconds = (UNASKED[kind] as UnaskedBound).seconds ?? 1;
    const window = Math.floor(Date.now() / 1000 / seconds);
    const count = this.counts[kind];
    if (window !== count.window) {
      count.window = window;
      count.n = 0;
      count.asked = this.asked.size;
    }
    return count;
  }

  /** `bytes` read from the server, whatever they hold: the room left for answers first. */
  read(bytes: number): boolean {
    const answering = Math.min(bytes, this.room);
    this.room -= answering;
    return this.isWithin('byte', bytes - answering);
  }

  /** The gateway sends its request `id`. */
  ask(id: string | number): void {
    if (this.asked.size >= MAX_ASKED) this.asked.delete(this.asked.values().next().value ?? '');
    this.counted('stream').asked++;
    this.asked.add(String(id));
    this.room = Math.min(this.room + MAX_MESSAGE_BYTES, this.asked.size * MAX_MESSAGE_BYTES);
  }

  /** Whether `id` is that of a request of the gateway's not answered yet, which it now is. */
  isAnswer(id: string | number | undefined): boolean {
    if (!this.asked.delete(String(id))) return false;
    this.room = Math.min(this.room, this.asked.size * MAX_MESSAGE_BYTES);
    return true;
  }
}

/**
 * `transport` with what its server sends unasked counted by `unasked`: its own requests, its
 * notifications, answers to no request of the gateway's, and the faults its connection reports (a
 * message it could not read). Counted where the client's handlers are set (both SDKs' clients set
 * them on the transport, after calling any already there), so it covers either client on any
 * transport: after the transport has read a message as JSON-RPC, before the client's schemas and
 * handlers look at it. Nothing more is passed on once the server is past a bound.
 */
function boundInbound(transport: Transport, unasked: Unasked, progress: ProgressTaps): Transport {
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if ('method' in message && 'id' in message) unasked.ask(message.id);
    return send(message, options);
  };
  interpose(
    transport,
    'onmessage',
    (message) =>
      !unasked.isOver &&
      ('method' in message
        ? unasked.isWithin('id' in message ? 'request' : 'notice') && !isTapped(message, progress)
        : ('id' in message && unasked.isAnswer(message.id)) || unasked.isWithin('stray')),
  );
  interpose(transport, 'onerror', () => unasked.isWithin('fault'));
  return transport;
}

/** Listeners of the progress of calls under way, by the progress token each call's server was sent. */
type ProgressTaps = Map<string, (progress: Progress) => void>;

/**
 * Whether `message` is a report of progress of a call that `progress` follows, then handed to its
 * listener as it is read (the client is not given it): its numbers as numbers, its message as
 * text, nothing else of it. A report of no call followed goes on to the client, which drops it.
 */
function isTapped(message: JSONRPCMessage, progress: ProgressTaps): boolean {
  if (progress.size === 0 || !('method' in message) || message.method !== 'notifications/progress')
    return false;
  const params = (message.params ?? {}) as Record<string, unknown>;
  const listener = progress.get(String(params.progressToken));
  const { progress: done, total, message: text } = params;
  if (listener === undefined || typeof done !== 'number' || !Number.isFinite(done)) return false;
  listener({
    progress: done,
    ...(typeof total === 'number' && Number.isFinite(total) ? { total } : {}),
    ...(typeof text === 'string' ? { message: text } : {}),
  });
  return true;
}

/**
 * Has `transport[key]` call the handler a client sets there only when `isPassed` says so. Unset
 * until a client sets one: a client keeps the handler it finds and calls it first, which would be
 * this one calling the client's again.
 */
function interpose<K extends 'onmessage' | 'onerror'>(
  transport: Transport,
  key: K,
  isPassed: (...args: Parameters<NonNullable<Transport[K]>>) => boolean,
): void {
  let handler: Transport[K];
  const checked = (...args: Parameters<NonNullable<Transport[K]>>): void => {
    if (isPassed(...args)) (handler as ((...a: typeof args) => void) | undefined)?.(...args);
  };
  Object.defineProperty(transport, key, {
    configurable: true,
    enumerable: true,
    get: () => (handler === undefined ? undefined : checked),
    set: (set: Transport[K]) => {
      handler = set;
    },
  });
}

/**
 * `fetch`, whose response bodies fail once one message passes MAX_MESSAGE_BYTES (a JSON body counted
 * whole, an event stream from each event's end to the next; `onOversize` is told why, once per
 * response) or once the server is past a bound of `unasked`: every byte of every body is counted as
 * read, and every line of an event stream that carries no message (EventLines). Every event stream
 * the client opens (a GET accepting one: the SDKs' clients open no other) is counted before it is
 * asked for, and none is asked for once the server is past a bound.
 */
function boundedFetch(fetch: FetchLike, unasked: Unasked, onOversize: (why: string) => void): FetchLike {
  return async (input, init) => {
    if (isEventStreamOpening(init) ? !unasked.isWithin('stream') : unasked.isOver)
      throw new Error('the MCP server was ended for misbehaving');
    const response = await fetch(input, init);
    if (response.body === null) return response;
    const events = (response.headers.get('content-type') ?? '').includes('text/event-stream')
      ? new EventLines()
      : undefined;
    let size = 0;
    const limit = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const isWithin = unasked.read(chunk.length) && unasked.isWithin('line', events?.read(chunk) ?? 0);
        if (!isWithin) return controller.error(new Error('the MCP server sent too much, and was ended'));
        size = events ? events.pending : size + chunk.length;
        if (size <= MAX_MESSAGE_BYTES) return controller.enqueue(chunk);
        const why = `sent a message larger than ${MAX_MESSAGE_BYTES / 1024 / 1024} MiB`;
        onOversize(why);
        controller.error(new Error(`the MCP server ${why}`));
      },
    });
    return new Response(response.body.pipeThrough(limit), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** Whether a request is for an event stream: a GET (what fetch sends when not told) accepting one. */
function isEventStreamOpening(init: RequestInit | undefined): boolean {
  return (
    (init?.method ?? 'GET').toUpperCase() === 'GET' &&
    (new Headers(init?.headers).get('accept') ?? '').includes('text/event-stream')
  );
}

const LF = 0x0a;
const CR = 0x0d;
/** How much of a line EventLines keeps to read it: room for `event: message` and more. */
const LINE_HEAD = 16;

/**
 * An event stream read as it passes, for what it costs (the HTML standard's format, which both
 * SDKs' parsers follow): its lines, split at CR LF, LF or CR, each looked at for its field only.
 * Counts the lines that carry no message's data (comments, every line of an event that is no
 * message, the other lines of one that is), and the bytes since the last event ended.
 */
class EventLines {
  /** The first bytes of the line being read, and its length. */
  private head: number[] = [];
  private length = 0;
  /** The last chunk ended with CR: an LF first in the next is the same line break. */
  private isAfterCr = false;
  /** The event being read: its lines, its data lines, whether its data is not empty, its type's. */
  private lines = 0;
  private dataLines = 0;
  private hasData = false;
  private isOtherType = false;
  /** Bytes read since the last event ended (a blank line). */
  pending = 0;

  /** How many of the lines `chunk` ends carry no message's data. */
  read(chunk: Uint8Array): number {
    let counted = 0;
    let from = this.isAfterCr && chunk[0] === LF ? 1 : 0;
    this.isAfterCr = false;
    this.pending += chunk.length;
    let lf = chunk.indexOf(LF, from);
    let cr = chunk.indexOf(CR, from);
    while (from < chunk.length) {
      if (lf >= 0 && lf < from) lf = chunk.indexOf(LF, from);
      if (cr >= 0 && cr < from) cr = chunk.indexOf(CR, from);
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (end < 0) {
        this.take(chunk, from, chunk.length);
        break;
      }
      this.take(chunk, from, end);
      from = end + 1;
      if (chunk[end] === CR) {
        if (from === chunk.length) this.isAfterCr = true;
        else if (chunk[from] === LF) from++;
      }
      const isBlank = this.length === 0;
      counted += this.ended();
      if (isBlank) this.pending = chunk.length - from;
    }
    return counted;
  }

  private take(chunk: Uint8Array, from: number, to: number): void {
    for (let i = from; i < to && this.head.length < LINE_HEAD; i++) this.head.push(chunk[i] ?? 0);
    this.length += to - from;
  }

  /** The line read is over: how many lines it counts for (an event's are counted as it ends). */
  private ended(): number {
    const line = String.fromCharCode(...this.head);
    const length = this.length;
    this.head = [];
    this.length = 0;
    if (length === 0) {
      // A blank line ends the event: a message (data, of type message or none) has its data lines
      // free; anything else is dropped whole by the client, every line of it.
      const lines = this.lines + 1 - (this.hasData && !this.isOtherType ? this.dataLines : 0);
      this.lines = this.dataLines = 0;
      this.hasData = this.isOtherType = false;
      return lines;
    }
    if (line.startsWith(':')) return 1; // a comment
    this.lines++;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    // The value, past one space, as far as it was kept.
    const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    const isWhole = length <= LINE_HEAD;
    if (field === 'data') {
      this.dataLines++;
      // Two data lines make data of a line break, however empty each.
      this.hasData ||= value !== '' || !isWhole || this.dataLines > 1;
    } else if (field === 'event') this.isOtherType = !isWhole || (value !== '' && value !== 'message');
    return 0;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lines that point elsewhere for the reason rather than give it (npm's log file, "run with --verbose"). */
const POINTER =
  /complete log of this run|--verbose|for more (details|information)|^npm (error|ERR!) \d{3}\s*$/i;

/** npm's lines of detail after its error code (`npm error syscall getaddrinfo`), not its summary. */
const NPM_DETAIL = /^npm (error|ERR!) (code|syscall|errno|path|dest|signal|command|cwd) /;

/**
 * The line of a server's standard error that best says why it stopped: npm's summary (the first line
 * of its own after `npm error code E404`, naming what it fetched) when npm (npx) failed, else the last line naming
 * an error that is not a pointer to somewhere else, else the last line.
 */
export function lastProblem(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const code = lines.findLastIndex((l) => /^npm (error|ERR!) code \S+$/.test(l));
  const summary =
    code >= 0
      ? lines
          .slice(code + 1)
          .find((l) => /^npm (error|ERR!) /.test(l) && !NPM_DETAIL.test(l) && !POINTER.test(l))
      : undefined;
  if (summary !== undefined) return summary;
  return (
    lines.findLast((l) => /error|cannot|denied|not found/i.test(l) && !POINTER.test(l)) ?? lines.at(-1) ?? ''
  );
}

/** The SDK's client, which can say why the gateway ended its connection (a server that flooded it). */
class GatewayClient extends Client {
  endedBecause: string | undefined;
}
