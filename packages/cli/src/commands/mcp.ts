// perimeter mcp: the MCP gateway, over stdio (an agent starts it as its one MCP server) or over
// Streamable HTTP on loopback; and `perimeter mcp pins list|approve`, where a person reviews the
// definitions the gateway holds back: tools by name, prompts, resources and resource templates as
// `prompt:NAME`, `resource:URI` and `template:URI_TEMPLATE`.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Spool, lifecycleRecord, uuid7, type AuditRecord, type RecordContext } from '@perimeter/audit';
import {
  approveCommand,
  boundValues,
  Gateway,
  PinStore,
  PinStoreError,
  listenHttp,
  printablePins,
  resolvedPath,
  serveGatewayStdio,
  shownKey,
  upstreamSpecs,
  withoutSecrets,
  type ApprovedPin,
  type HttpListenOptions,
  type UpstreamSpec,
} from '@perimeter/mcp';
import {
  configureZod,
  createEngine,
  escapeUnprintable,
  type Engine,
  type McpCatalogEntry,
} from '@perimeter/policy';
import { BRIDGE_PORTS, BWRAP_PATH } from '@perimeter/sandbox';
import { UpstreamSandboxError, sandboxUpstreams, type SandboxedUpstreams } from '../mcp-sandbox.js';
import { canonicalHome, ownAssets, sessionsDir, workspaceDir } from './run.js';
import { boolFlag, listFlag, numberFlag, parseArgs, stringFlag, type Parsed } from '../args.js';
import { UserError } from '../errors.js';
import { isPolicyPath, pathContext, requireValidPolicies } from '../policy-files.js';
import { stateDir } from '../secret-store.js';
import { boundSecretValues } from '../session-credentials.js';
import { paint, type Ui } from '../ui.js';
import { optimizeSooner } from '../v8-tuning.js';
import { loopbackAddress } from './proxy.js';

/** For `perimeter run`'s and `perimeter check`'s engines: argument globs judge real paths too. */
export { resolvedPath };

// The gateway parses every message with zod (the SDK's schemas): set up as everywhere in Perimeter.
configureZod();

/** Where the gateway keeps approved and held definitions. */
export function pinStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'mcp-pins.json');
}

/** How long the requests that waited for a session that could not start have to be answered. */
const ANSWER_GRACE_MS = 100;

/** What the HTTP listener may hold open: how many connections, and how long a body may take. */
type ListenerLimits = Pick<HttpListenOptions, 'maxConnections' | 'bodyTimeoutMs'>;

/**
 * --max-connections and --body-timeout, checked; only with --listen, as over stdio there is no
 * listener for them to bound. Absent, the listener's defaults hold (512 connections, 30 s).
 */
function listenerLimits(p: Parsed, isListening: boolean): ListenerLimits {
  const maxConnections = numberFlag(p, 'max-connections', { min: 1, max: 100_000, example: 64 });
  const bodyTimeout = numberFlag(p, 'body-timeout', { min: 1, max: 3600, unit: 'seconds', example: 10 });
  if (!isListening && (maxConnections !== undefined || bodyTimeout !== undefined))
    throw new UserError(
      `--${maxConnections !== undefined ? 'max-connections' : 'body-timeout'} applies only with --listen`,
      'over stdio there is no HTTP listener to bound: add --listen 127.0.0.1:PORT, or leave it out',
    );
  return {
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(bodyTimeout !== undefined ? { bodyTimeoutMs: Math.round(bodyTimeout * 1000) } : {}),
  };
}

export async function runMcp(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(
    argv,
    {
      policy: { type: 'list', takes: isPolicyPath },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      'max-connections': { type: 'string' },
      'body-timeout': { type: 'string' },
      origin: { type: 'list' },
      audit: { type: 'string' },
      workspace: { type: 'string' },
      home: { type: 'string' },
      user: { type: 'string' },
      groups: { type: 'list' },
    },
    'mcp',
  );
  if (p.positionals[0] === 'pins')
    throw new UserError(
      p.positionals[1] === undefined
        ? `"perimeter mcp pins" needs a command: list or approve`
        : `unknown command "mcp pins ${p.positionals[1]}"`,
      'perimeter mcp pins list; perimeter mcp pins approve SERVER [KEY]',
    );
  if (p.positionals.length > 0)
    throw new UserError(`unexpected argument "${p.positionals[0] ?? ''}"`, 'policy files go after --policy');
  const listen = stringFlag(p, 'listen');
  const limits = listenerLimits(p, listen !== undefined);
  // Over stdio, standard output is the MCP channel: everything for people goes to standard error.
  const say: Ui = listen === undefined ? { ...ui, out: (text) => ui.err(text) } : ui;
  const loaded = requireValidPolicies(say, listFlag(p, 'policy'));
  const groups = listFlag(p, 'groups');
  const user = stringFlag(p, 'user');
  // One workspace path, real and checked once (as run.ts does), for the policy, the catalog and the
  // sandboxes; checked before anything starts or the spool opens.
  const workspace = workspaceDir(
    stringFlag(p, 'workspace'),
    'name the project directory with --workspace DIR (an MCP client that starts perimeter in / needs it among the arguments)',
  );
  const context = { ...pathContext(workspace, stringFlag(p, 'home')), workspace };
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    {
      subject: { ...(user !== undefined ? { user } : {}), ...(groups ? { groups } : {}) },
      context,
      resolvePath: resolvedPath,
    },
  );
  const catalog = engine.mcpServers();
  if (catalog.length === 0)
    throw new UserError(
      'the policy declares no MCP servers, so the gateway would serve nothing',
      'declare them under mcp.servers (docs/mcp.md), then allow their tools under mcp.allow',
    );

  // Everything that can refuse the command line is checked before an upstream starts or the spool
  // opens: a refusal after that point would leave the upstreams running and the process hanging.
  const served =
    listen === undefined
      ? undefined
      : { ...loopbackAddress('listen', listen, 'the gateway'), token: tokenFor(stringFlag(p, 'token-file')) };

  // A damaged pin store would fail every listing; say so now rather than serve nothing.
  const pins = pinStore();
  pinStoreAnswer(() => pins.snapshot());
  // So is a secret store that cannot be read, when the policy binds credentials. It is read once:
  // the servers' credentials and the secret scan's known values both come from what it held.
  const secrets = boundSecretValues(engine);
  const specs = upstreamSpecs(catalog, { workspace: context.workspace, engine, secrets });

  // The session: its spool, the servers' sandboxes and the upstreams. Over stdio it starts with
  // the first request that needs it: a client negotiating the protocol revision may first start
  // perimeter mcp only to ask it `server/discover`, and that process starts and records nothing.
  const startSession = async (): Promise<McpSession> => {
    const sessionId = uuid7();
    const auditPath = resolve(stringFlag(p, 'audit') ?? join(sessionsDir(), `${sessionId}.jsonl`));
    try {
      mkdirSync(dirname(auditPath), { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new UserError(
        `cannot make the directory of the audit file ${auditPath} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        'give --audit a path in a directory you can write',
      );
    }
    const spool = Spool.open(auditPath, {
      chainId: sessionId,
      flushDelayMs: 20,
      onMoved: (message) => say.err(paint(say, 'red', `perimeter mcp: ${message}`)),
    });
    const ctx = {
      sessionId,
      ...(user !== undefined ? { user: { id: user, ...(groups ? { groups } : {}) } } : {}),
    };
    let isEnded = false;
    const tellHeld = heldNotice(say);
    const reasons = recordedReasons();
    const audit = (r: AuditRecord): void => {
      if (isEnded) return;
      spool.append(r);
      tellHeld(r);
      reasons.note(r);
    };
    audit(lifecycleRecord('session.start', ctx, { kind: 'mcp', servers: catalog.length }));

    // Whatever fails from here on is recorded as the session's refusal, and what was started
    // (the servers' sandboxes, the gateway) is stopped before the spool closes.
    let sandboxes: SandboxedUpstreams | undefined;
    let gateway: Gateway | undefined;
    try {
      sandboxes = await serverSandboxes(catalog, specs, {
        sessionId,
        workspace: context.workspace,
        home: context.home,
        audit,
        readOnly: loaded.files.map((f) => resolve(f)),
        spool: spool.files,
      });
      gateway = new Gateway({
        engine,
        servers: sandboxes.specs,
        pins,
        audit,
        context: ctx,
        credentials: boundValues(engine, secrets),
      });
      await gateway.start();
    } catch (e) {
      await gateway?.close().catch(() => undefined);
      await sandboxes?.close().catch(() => undefined);
      audit(lifecycleRecord('session.refused', ctx, { reason: (e as Error).message }));
      isEnded = true;
      spool.close();
      throw e;
    }
    // Serving from here on; outside the try above, which records what fails as the session's refusal.
    optimizeSooner();
    const down = gateway.upstreams.filter((u) => !u.isReady);
    for (const u of down)
      say.err(
        paint(
          say,
          'yellow',
          u.spec.unavailable !== undefined
            ? `perimeter mcp: ${u.id} is unavailable: ${escapeUnprintable(u.spec.unavailable)}`
            : `perimeter mcp: ${u.id} is unavailable (${escapeUnprintable(reasons.of(u.id) ?? 'no reason recorded')}); retrying`,
        ),
      );
    return {
      gateway,
      auditPath,
      ready: catalog.length - down.length,
      finish: async (refused) => {
        await gateway.close();
        await sandboxes.close();
        audit(
          refused === undefined
            ? lifecycleRecord('session.end', ctx)
            : lifecycleRecord('session.refused', ctx, { reason: refused }),
        );
        isEnded = true;
        spool.close();
      },
    };
  };

  if (served === undefined) {
    let session: Promise<McpSession> | undefined;
    let isClosing = false;
    let refused: (e: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (refused = reject));
    const begin = (): Promise<McpSession> =>
      // A request that arrives as the connection closes starts nothing (nobody would finish it).
      isClosing && session === undefined
        ? Promise.reject(new Error('perimeter mcp is closing'))
        : (session ??= startSession().then(
            (s) => {
              say.err(
                paint(
                  say,
                  'dim',
                  `perimeter mcp: ${s.ready} of ${catalog.length} servers ready; serving over stdio; audit: ${s.auditPath}`,
                ),
              );
              return s;
            },
            (e: unknown) => {
              refused(e);
              throw e;
            },
          ));
    const closed = new Promise<void>((done) => {
      process.stdin.once('end', () => done());
      process.stdin.once('close', () => done());
    });
    const stdio = serveGatewayStdio(async () => (await begin()).gateway);
    try {
      await Promise.race([closed, signalled(), failed]);
    } catch {
      // The session could not start: the requests that waited for it are answered with why
      // before the connection ends.
      await new Promise((done) => setTimeout(done, ANSWER_GRACE_MS));
    } finally {
      isClosing = true;
      await stdio.close();
    }
    // A start that failed, even after the client left, ends the command with its one sentence.
    if (session !== undefined) await (await session).finish();
    return 0;
  }

  const { host, port, token } = served;
  // A port in use refuses the command line before an upstream starts or the spool opens; one
  // taken in the moment between is refused after, and the session records why it ended.
  const busy = await cannotListen(host.name, port);
  if (busy !== undefined) throw busy;
  const session = await startSession();
  const { gateway, auditPath, ready } = session;
  let http;
  try {
    http = await listenHttp(gateway, {
      host: host.name,
      port,
      token: token.value,
      origins: listFlag(p, 'origin') ?? [],
      ...limits,
    });
  } catch (e) {
    const refusal = listenRefusal(host.name, port, e);
    await session.finish(refusal.message);
    throw refusal;
  }
  ui.out(`perimeter mcp listening on ${http.url} (${ready} of ${catalog.length} servers ready)`);
  ui.out(
    paint(
      ui,
      'dim',
      `  clients send Authorization: Bearer <the token in ${token.file}>; audit: ${auditPath}`,
    ),
  );
  await signalled();
  await http.close();
  await session.finish();
  return 0;
}

/** The audit's holds: a definition new under `pinning: approve`, changed from its pin, or quarantined. */
const HELD = /^mcp\.((tool|prompt|resource|template)-held|drift|quarantine)$/;

/** Which definition an audit record holds back (server, name, hash), or undefined for any other record. */
function heldDefinition(r: AuditRecord): string | undefined {
  if (!HELD.test(r.type)) return undefined;
  const o = r.outcome ?? {};
  return JSON.stringify([o.server, o.tool ?? o.prompt ?? o.resource ?? o.template, o.hash]);
}

/** What the person who started the gateway is told of held definitions: N, then this. */
function heldText(n: number): string {
  return `${n} ${n === 1 ? 'definition is' : 'definitions are'} hidden until approved (new, changed or quarantined); review them with "perimeter mcp pins list"`;
}

/**
 * Why each server last failed, as the gateway recorded it (mcp.server.unavailable and .crash): its
 * scan redacted the reason, which is the server's own stderr and may print the credential bound to
 * it (redteam-36-3: the CLI never reads bound values, so its own scan could not), and which is
 * cut to the audit's length. Shown with its control characters escaped.
 */
function recordedReasons(): {
  readonly note: (r: AuditRecord) => void;
  of(server: string): string | undefined;
} {
  const reasons = new Map<string, string>();
  return {
    note: (r) => {
      if (r.type !== 'mcp.server.unavailable' && r.type !== 'mcp.server.crash') return;
      const { server, reason } = r.outcome ?? {};
      if (typeof server === 'string' && typeof reason === 'string') reasons.set(server, reason);
    },
    of: (server) => reasons.get(server),
  };
}

/**
 * Tells the person who started the gateway, on standard error, when definitions are held for
 * approval: a client shows only the rest and says nothing of them (a first run under
 * `pinning: approve` lists nothing at all). One line per listing that held something.
 */
function heldNotice(say: Ui): (r: AuditRecord) => void {
  const held = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  return (r) => {
    const definition = heldDefinition(r);
    if (definition === undefined) return;
    held.add(definition);
    timer ??= setTimeout(() => {
      say.err(paint(say, 'yellow', `perimeter mcp: ${heldText(held.size)}`));
      held.clear();
      timer = undefined;
    }, 50);
    timer.unref();
  };
}

/**
 * The definitions a session's gateway held, each counted once (every listing holds it again): said
 * when a `perimeter run` session ends, where a line in the middle would land in the agent's screen.
 */
function heldTally(): { readonly note: (r: AuditRecord) => void; readonly count: () => number } {
  const seen = new Set<string>();
  return {
    note: (r) => {
      const definition = heldDefinition(r);
      if (definition !== undefined) seen.add(definition);
    },
    count: () => seen.size,
  };
}

/** A running gateway session of `perimeter mcp`, and how to end it (the spool closed last). */
interface McpSession {
  readonly gateway: Gateway;
  readonly auditPath: string;
  /** How many of the catalog's servers were ready when it started. */
  readonly ready: number;
  /** Stops it; `refused` says why it could not serve at all (session.refused, not session.end). */
  finish(refused?: string): Promise<void>;
}

/** The refusal of a --listen address that cannot be listened on. */
function listenRefusal(host: string, port: number, e: unknown): UserError {
  return new UserError(
    `cannot listen on ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    'pick a free port with --listen 127.0.0.1:PORT',
  );
}

/** listenRefusal when HOST:PORT cannot be listened on now (port 0, any free port, always can). */
function cannotListen(host: string, port: number): Promise<UserError | undefined> {
  if (port === 0) return Promise.resolve(undefined);
  return new Promise((done) => {
    const probe = createNetServer();
    probe.once('error', (e) => done(listenRefusal(host, port, e)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => done(undefined)));
  });
}

/**
 * The catalog's stdio servers, each in a sandbox of its own, and its remote servers behind an
 * egress proxy of their own (mcp-sandbox.ts); a server whose sandbox cannot be built stops the
 * gateway before anything starts.
 */
async function serverSandboxes(
  catalog: readonly McpCatalogEntry[],
  specs: readonly UpstreamSpec[],
  o: {
    readonly sessionId: string;
    /** The real path of the workspace (workspaceDir). */
    readonly workspace: string;
    readonly home: string;
    readonly audit: (r: AuditRecord) => void;
    readonly readOnly: readonly string[];
    /** The session's audit spool and its lock (Spool.files): no server sees them (redteam-37-1). */
    readonly spool: readonly string[];
  },
): Promise<SandboxedUpstreams> {
  if (specs.some((s) => s.transport.kind === 'stdio') && !existsSync(BWRAP_PATH))
    throw new UserError(
      `the policy's stdio MCP servers run sandboxed, and bubblewrap is not installed (${BWRAP_PATH})`,
      'install it: apt-get install bubblewrap (perimeter doctor checks the rest)',
      125,
    );
  try {
    return await sandboxUpstreams(catalog, specs, {
      sessionId: o.sessionId,
      workspace: o.workspace,
      home: canonicalHome(o.home),
      homesDir: join(stateDir(), 'mcp-servers'),
      hostEnv: process.env,
      readOnly: [...ownAssets(), ...o.readOnly],
      // The spool wherever --audit put it: masked, and each directory on its way in a writable
      // grant bound onto itself, so none can be renamed away and replaced either (redteam-37-1).
      hidden: [stateDir(), ...o.spool],
      audit: o.audit,
    });
  } catch (e) {
    if (e instanceof UpstreamSandboxError)
      throw new UserError(
        e.message,
        'fix the server\'s catalog entry (docs/mcp.md, "Sandboxed servers"); nothing started',
        125,
      );
    throw e;
  }
}

/** The session's gateway, started by `perimeter run` when the policy has an MCP catalog. */
export interface SessionGateway {
  /** Servers that will not start (a credential that cannot be given), with the reason of each. */
  readonly unavailable: readonly { readonly server: string; readonly reason: string }[];
  /** Closes the endpoint, the upstreams and their sandboxes. */
  close(): Promise<void>;
  /** What to tell the person when the session ends, if anything: the definitions held for approval. */
  heldNotice(): string | undefined;
}

/**
 * Serves the session's MCP gateway on a Unix socket (the sandbox's bridge relays 127.0.0.1:3130
 * to it) with a bearer token of its own. Upstreams warm up in the background: the agent starts at
 * once, and its first listing waits for them.
 */
export async function startSessionGateway(o: {
  readonly engine: Engine;
  readonly sessionId: string;
  readonly workspace: string;
  readonly home: string;
  readonly socket: string;
  readonly token: string;
  readonly audit: (r: AuditRecord) => void;
  readonly context: RecordContext;
  readonly readOnly: readonly string[];
  /** The session's audit spool and its lock (Spool.files), hidden from every server. */
  readonly spool: readonly string[];
  /**
   * The real values of the bound secrets the store holds, by secret name, as the session read them
   * (the gateway does not read the store again): its servers' credentials, and what the secret
   * scan keeps from the agent.
   */
  readonly secrets: ReadonlyMap<string, string>;
}): Promise<SessionGateway> {
  const catalog = o.engine.mcpServers();
  const specs = upstreamSpecs(catalog, { workspace: o.workspace, engine: o.engine, secrets: o.secrets });
  const pins = pinStore();
  pinStoreAnswer(() => pins.snapshot());
  const sandboxes = await serverSandboxes(catalog, specs, o);
  const held = heldTally();
  const gateway = new Gateway({
    engine: o.engine,
    servers: sandboxes.specs,
    pins,
    audit: (r) => {
      o.audit(r);
      held.note(r);
    },
    context: o.context,
    credentials: boundValues(o.engine, o.secrets),
  });
  let http;
  try {
    http = await listenHttp(gateway, {
      host: '127.0.0.1',
      port: BRIDGE_PORTS.mcp,
      path: o.socket,
      token: o.token,
    });
  } catch (e) {
    await gateway.close();
    await sandboxes.close();
    throw e;
  }
  void gateway.start();
  return {
    unavailable: specs.flatMap((s) =>
      s.unavailable === undefined ? [] : [{ server: s.id, reason: s.unavailable }],
    ),
    close: async () => {
      await http.close();
      await gateway.close();
      await sandboxes.close();
    },
    heldNotice: () => (held.count() === 0 ? undefined : `the MCP gateway: ${heldText(held.count())}`),
  };
}

/** The bearer token: read from --token-file, else a fresh random one written (0600) to the state directory. */
function tokenFor(file: string | undefined): { value: string; file: string } {
  if (file !== undefined) {
    let value: string;
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new UserError(
        `cannot read the token file ${file} (${(e as NodeJS.ErrnoException).code ?? ''})`,
        'name a readable file with --token-file',
      );
    }
    if (value.length < 16)
      throw new UserError(
        `the token in ${file} is shorter than 16 characters`,
        'use a long random token, e.g. openssl rand -hex 32',
      );
    return { value, file };
  }
  const path = join(stateDir(), 'mcp-token');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString('base64url');
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return { value, file: path };
}

function signalled(): Promise<void> {
  return new Promise((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
}

/**
 * Text from the pin store as `pins list` and `approve` print it: each secret redacted, then each
 * control character escaped as `audit tail` escapes it. redteam-33-7: an upstream chooses a key
 * (a resource's URI), and the schema keys a reason or diff line names; one with escape sequences
 * in it moved the reviewer's cursor up and erased the lines saying what changed.
 */
function shown(text: string): string {
  return escapeUnprintable(withoutSecrets(text));
}

/** A key as shown() shows text, from the gateway's redaction of it where it recorded one (shownKey). */
function shownPinKey(key: string, entry: { readonly label?: string } | undefined): string {
  return escapeUnprintable(shownKey(key, entry));
}

/**
 * Lists the pin store. A key can hold a secret (a resource's URI with a token in it), and so can a
 * reason, a diff line or a held definition: every string printed, in text and in JSON, is
 * redacted, and a key that holds a secret is approved by its hash (approveCommand). A key is
 * printed as the gateway recorded it (shownKey): only the gateway knows the bound credentials'
 * values, and it redacts those itself in what it holds. Text has its control characters escaped
 * (shown); JSON escapes those below U+0020 itself. A key with one is approved by its hash too: escaped, it is
 * no longer the key.
 */
export function runMcpPinsList(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'mcp pins list');
  if (p.positionals.length > 0)
    throw new UserError(
      `unexpected argument "${p.positionals[0] ?? ''}"`,
      'perimeter mcp pins list [--json]',
    );
  const snapshot = pinStoreAnswer(() => pinStore().snapshot());
  if (boolFlag(p, 'json')) {
    ui.out(JSON.stringify(printablePins(snapshot), null, 2));
    return 0;
  }
  const pending = Object.entries(snapshot.pending).flatMap(([server, held]) =>
    Object.entries(held).map(([key, definition]) => ({ server, key, held: definition })),
  );
  if (pending.length === 0) ui.out('nothing is waiting for approval');
  else {
    ui.out(paint(ui, 'bold', `waiting for approval (${pending.length}):`));
    for (const { server, key, held } of pending) {
      ui.out(`  ${paint(ui, 'yellow', `${shown(server)}/${shownPinKey(key, held)}`)}  ${shown(held.reason)}`);
      ui.out(
        paint(
          ui,
          'dim',
          escapeUnprintable(
            `    ${held.hash}, seen ${held.seenAt}${held.previous ? `, pinned ${held.previous}` : ''}`,
          ),
        ),
      );
      for (const line of held.diff ?? []) ui.out(`    ${shown(line)}`);
      // redteam-36-2: too large to keep, the definition is not in the store to review.
      if (held.omitted !== undefined && !held.reason.includes(held.omitted))
        ui.out(`    not kept: ${shown(held.omitted)}`);
      const command = approveCommand(server, key, held.hash, (k) => shownPinKey(k, held));
      ui.out(paint(ui, 'dim', `    approve: ${escapeUnprintable(command)}`));
    }
  }
  const approved = Object.entries(snapshot.approved).flatMap(([server, pins]) =>
    Object.entries(pins).map(([key, pin]) => ({ server, key, pin })),
  );
  if (approved.length > 0) {
    ui.out(paint(ui, 'bold', `approved (${approved.length}):`));
    for (const { server, key, pin } of approved)
      ui.out(
        `  ${shown(server)}/${shownPinKey(key, pin)}  ${escapeUnprintable(`${pin.hash}  ${pinSource(pin)} ${pin.at}`)}`,
      );
  }
  return 0;
}

export function runMcpPinsApprove(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { hash: { type: 'string' } }, 'mcp pins approve');
  // Words after "--" are positionals too: a key that starts with "-" (an upstream names its tools)
  // is approved as `approve SERVER -- KEY`, the way approveCommand prints it.
  const [server, tool, ...extra] = [...p.positionals, ...(p.rest ?? [])];
  if (server === undefined || extra.length > 0)
    throw new UserError(
      'name the server, and optionally one tool',
      'perimeter mcp pins approve SERVER [KEY] [--hash sha256:…]',
    );
  // redteam-31-2: Perimeter once suggested `approve s --` for a tool named "--", and audit logs
  // and printouts of then still do; read as no key, it approved every held definition of s. An
  // approval of everything is spelled without "--".
  const hash = stringFlag(p, 'hash');
  if (p.rest !== undefined && tool === undefined && hash === undefined)
    throw new UserError(
      '"--" must be followed by the KEY to approve',
      `perimeter mcp pins approve ${server} -- KEY approves one key; without "--", perimeter mcp pins approve ${server} approves every held definition of ${server}`,
    );
  const done = pinStoreAnswer(() => pinStore().approve(server, tool, hash, approver()));
  if (done.length === 0) ui.out(`nothing from ${escapeUnprintable(server)} is waiting for approval`);
  // A key that holds a secret (approved by its hash) is printed redacted, as "pins list" printed it.
  for (const d of done)
    ui.out(`approved ${shown(server)}/${shownPinKey(d.tool, d)} ${escapeUnprintable(d.hash)}`);
  return 0;
}

/** How a pin came to be: trusted on first use, or approved (by whom, where the store knows). */
function pinSource(pin: ApprovedPin): string {
  if (pin.by === 'tofu') return 'trusted on first use';
  return pin.user !== undefined ? `approved by ${withoutSecrets(pin.user)}` : 'approved';
}

/** Who approves, as the pin store and the audit keep it: the account's login name, else its uid. */
function approver(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function pinStore(): PinStore {
  return new PinStore(pinStorePath());
}

/** What to do about a pin store error, by its fault (a lock's message says that itself). */
function pinStoreHint(fault: PinStoreError['fault']): string | undefined {
  switch (fault) {
    case 'request':
      return 'run "perimeter mcp pins list" to see what is waiting';
    case 'store':
      return `repair or remove ${pinStorePath()} (removing it forgets every approval)`;
    case 'lock':
      return undefined;
  }
}

/** Runs a pin store operation; its refusals (nothing held, a wrong hash, a damaged file, a lock) are the user's to fix. */
function pinStoreAnswer<T>(operation: () => T): T {
  try {
    return operation();
  } catch (e) {
    if (e instanceof PinStoreError) throw new UserError(escapeUnprintable(e.message), pinStoreHint(e.fault));
    throw e;
  }
}
