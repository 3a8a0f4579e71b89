// The gateway: one MCP endpoint in front of the catalog's upstream servers. Every listing and every
// call goes through the same steps: the upstream's definition must be pinned (or trusted on first
// use) and free of poisoning, the policy decides on the final request (list: server, tool and
// annotations; call: arguments too), secrets are scanned both ways, and each step leaves an audit
// event. Prompts, resources and resource templates take the same steps, pinning included; a URI no
// listed resource has is read through the one template that produces it. An approval made while
// the gateway runs (`perimeter mcp pins approve` in another process) is seen on the next call and
// announced to the clients with list_changed. A tool the agent may not use and a tool that does not
// exist fail the same way. No text of an agent's request or of an
// upstream (argument keys, an error, a server's standard error) reaches the audit or the agent
// unredacted. A server's own credential (catalog.ts puts it in place) is recorded as the egress
// proxy records an injection, `credential.use`, at each start or connection, never its value.

import type { AuditRecord, RecordContext } from '@perimeter/audit';
import {
  alertRecord,
  createRefusalAudit,
  decisionRecord,
  lifecycleRecord,
  type RefusalAudit,
  type RefusalCode,
} from '@perimeter/audit';
import type { KnownValue } from '@perimeter/detect';
import type { Decision, Engine, McpCatalogEntry, McpRequest } from '@perimeter/policy';
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  inputRequired,
  inputResponse,
  ProtocolErrorCode,
  Server,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import {
  ErrorCode,
  McpError,
  type CallToolResult,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { definitionDiff, definitionDigest, PINNED_FIELDS, pinnedPart } from './definition.js';
import { collisions, exposedName, nameProblem, type NamedEntry } from './names.js';
import { HEADER_MISMATCH } from './param-headers.js';
import {
  approveCommand,
  type ApprovedPin,
  type KnownDefinition,
  MAX_DEFINITION_BYTES,
  pinKey,
  PinStoreError,
  type PendingDefinition,
  type PinChange,
  type PinStore,
  type PinView,
  tooLargeText,
} from './pins.js';
import { ProgressRelay } from './progress.js';
import {
  scanDefinition,
  withoutHidden,
  type InjectionFinding,
  type PoisoningFinding,
  type ResultScan,
} from './poisoning.js';
import {
  type DefinitionJob,
  type KeptScan,
  keptScan,
  ScanPool,
  scanOf,
  type ShownScan,
} from './scan-pool.js';
import { findingsByRule, scanValue, withoutCredentials, type SecretScan } from './secrets.js';
import type { ServerCredential } from './server-credential.js';
import { Upstream, UpstreamUnavailable, type ListKind, type UpstreamSpec } from './upstream.js';
import { uriTemplate, UriTemplateError, type UriTemplate } from './uri-template.js';

export interface GatewayOptions {
  readonly engine: Engine;
  readonly servers: readonly UpstreamSpec[];
  readonly pins: PinStore;
  readonly audit: (record: AuditRecord) => void;
  readonly context: RecordContext;
  readonly version?: string;
  /**
   * The real values of the credentials the policy binds, by binding id (host memory only). The
   * agent only ever holds placeholders, so one of them in arguments is a leak, refused whatever
   * `mcp.secrets` and the mode say, and one in a result never reaches the agent.
   */
  readonly credentials?: readonly KnownValue[];
}

type Definition = Tool | Prompt | Resource | ResourceTemplate;

/**
 * A tool or prompt (keyed by the exposed name the agent sees), a resource (keyed by its URI) or a
 * resource template (keyed by its URI template) as the gateway knows it. `held` says why the
 * gateway itself hides it (policy aside).
 */
interface Entry {
  readonly server: string;
  /** As the upstream listed it: what is pinned, decided on, scanned for poisoning, and called. */
  readonly definition: Definition;
  /** As the agent sees it: the definition with its secrets redacted (the same object when it has none). */
  readonly shown: Definition;
  readonly key: string;
  readonly held?: string;
  /**
   * The policy does not let the agent see it (its listing decision is deny): never shown, every
   * call denied, and so never pinned or held in the pin store for anyone to approve.
   */
  readonly hiddenByPolicy: boolean;
}

/** A listed definition after the secret scan: what the agent may see of it, and why it is hidden if it is. */
interface ListingScan {
  readonly shown: Definition;
  readonly hidden?: string;
  /** The scan, when it found anything (a clean definition keeps no copy of itself). */
  readonly found?: SecretScan;
}

/**
 * What the gateway works out of one listed definition, once (redteam-37-3): kept by the
 * definition's content, so the same definition listed again as another object (every list_changed
 * makes the upstream list anew) is neither scanned, hashed nor diffed again. One server's: its
 * poisoning scan depends on the other servers' tool names.
 */
interface DefinitionWork {
  /**
   * The SHA-256 of the definition's JSON as listed, whole: the pin's hash covers only the pinned
   * fields, and the scans read `_meta` and the rest too. A hash no server can make collide, so no
   * definition can pass for another that was scanned clean.
   */
  readonly content: string;
  /** The length of that JSON: what scanning the definition costs (where to scan it: ScanPool). */
  readonly size: number;
  /** definitionDigest: the pin's hash, and the size of what it hashes. */
  digest?: { readonly hash: string; readonly bytes: number };
  /** The secret scan of the definition (listingScan). */
  secrets?: KeptScan;
  /** Poisoning findings, with the generation of the other servers' tool names they were scanned against. */
  poisoning?: { readonly names: number; readonly findings: readonly PoisoningFinding[] };
  /**
   * What hold() made of it, and from what (`against`): made once, whether the pin store takes it
   * or not. One the store does not take is held again at every listing, and diffing it each time
   * made a refused server slow every listing.
   */
  hold?: { readonly against: string; readonly held: PendingDefinition; readonly diff: readonly string[] };
  /**
   * The last reason it was held for, as redacted (hold()): a held definition is held again at every
   * listing, and its reason was scanned each time (some 5 us each).
   */
  heldFor?: { readonly why: string; readonly reason: string };
  /** A resource template's parsed form, or why it cannot be used. */
  template?: UriTemplate | UriTemplateError;
  /** Its scans under way on the scan pool's worker (scanListed), for a look that comes meanwhile to wait for. */
  scanning?: Promise<unknown>;
}

/**
 * A result after its scans: what may reach the agent (undefined: withheld), the secret scan, and
 * what read as instructions to the agent.
 */
interface Screened<T> {
  readonly passed: T | undefined;
  readonly out: SecretScan;
  readonly injection: readonly InjectionFinding[];
}

/** A client request as the gateway serves it: the downstream server it came to, and the request. */
interface Session {
  readonly server: Server;
  /**
   * The request: its envelope (a 2026-07-28 request carries the client's identity and
   * capabilities in each request), the answers a retried request carries, and the way to ask the
   * user of a 2025-era connection as part of it (over Streamable HTTP, on that request's answer).
   */
  readonly request: ServerContext['mcpReq'];
}

/** The client's identity and capabilities in a 2026-07-28 request's `_meta` (checked by the SDK). */
interface Envelope {
  readonly [CLIENT_INFO_META_KEY]?: { readonly name: string; readonly version: string };
  readonly [CLIENT_CAPABILITIES_META_KEY]?: { readonly elicitation?: object };
}

/** What asking the user came to: approved, a denial (why), or a question to return to a 2026-07-28 client. */
type Answer =
  'approved' | { readonly denied: string } | { readonly question: InputRequiredResult; readonly why: string };

/** The capabilities the downstream server announces, to both eras. */
const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true },
};
/** How long a question put to a 2026-07-28 client's user may go unanswered. */
const QUESTION_TTL_MS = 10 * 60_000;
/**
 * How long a call's look at the lists waits for a server that cannot list the name called: a
 * server that has announced a change and not listed by then is left out of that look, and the
 * index is rebuilt once its listing is in (redteam-31-4: one that announced a change and never
 * listed held every other server's calls for the SDK's 60 s, again at every announcement).
 */
const BYSTANDER_WAIT_MS = 200;
/**
 * How long a client's listing waits for a server that is refreshing a list (it is up and has
 * listed that kind before): one still listing then is left out of the answer, and the listing is
 * rebuilt, and the clients told, once its list is in (redteam-32-2: one that announced a change and
 * never listed again held every client's tools/list for the SDK's 60 s). Longer than a call's
 * wait: what a listing leaves out, the client goes without until it lists again, so a server that
 * is only slow should seldom be left out; short next to the SDK's 60 s.
 */
const LIST_WAIT_MS = 1_000;
/**
 * How long after telling the clients that a list changed the gateway holds the next such notice of
 * that kind: what comes meanwhile is told once, when the time is over, so the last change is never
 * lost (redteam-32-1: an upstream that announced a change 500 times made the gateway send 500
 * notifications to every client, each of which lists again).
 */
const LIST_CHANGED_QUIET_MS = 100;
/**
 * The most methods of its own requests one server has audited (each once), past the protocol's:
 * then one alert says it sends more, and the rest go unaudited. Per server (redteam-37-5: one cap
 * for all let a server sending 300 made-up methods silence every other server's sampling request).
 */
const MAX_SERVER_METHODS_AUDITED = 32;
/**
 * The requests the protocol lets a server send its client (ping aside, which the SDK answers):
 * each audited once per server whatever else the server sent, since these ask for the agent's
 * model, the user or the client's files. 2026-07-28 has no requests of a server's own (it asks
 * within a result, input_required), so these are the 2025 revisions' (tasks: 2025-11-25).
 */
const PROTOCOL_SERVER_REQUESTS: ReadonlySet<string> = new Set([
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
]);
/**
 * Why a definition the policy hides is held: it was neither checked against a pin nor scanned for
 * poisoning (rebuild()). A call to it is denied by the policy, and audited as such.
 */
const HIDDEN_BY_POLICY = 'hidden by the policy (not checked against a pin)';
/**
 * How many characters of definitions not seen before a listing hashes (workOf) before it lets the
 * gateway serve other requests: some 5 ms' worth.
 */
const HASHED_AT_ONCE = 1024 * 1024;
/** The most questions waiting for an answer at once; past it, a new question is refused. */
const QUESTIONS_MAX = 256;
const ASK_SCHEMA = {
  type: 'object' as const,
  properties: { allow: { type: 'boolean' as const, title: 'Allow this call', default: false } },
  required: ['allow'],
};

/**
 * How a look at the lists waits for the upstreams: fully for those `waitsFor` names (given the kind
 * of list awaited), the others only `ms`; one still listing then is left out of the look as late.
 */
interface Patience {
  readonly waitsFor: (u: Upstream, kind: ListKind) => boolean;
  readonly ms: number;
}

/** What authorize() checks besides the policy and the arguments' secrets. */
interface Guard {
  /** Whether what was decided on is still shown as it was, once a user has answered a question about it. */
  readonly isStillShown: () => Promise<boolean>;
  /** Why the request is refused should the policy not deny it (it would be sent as something else). */
  readonly refusal?: string;
}

/**
 * What the checks of one listing leave for its end (rebuild()): the pin store's changes, written
 * at once; alerts, recorded; and notices, recorded unless the last listing of the kind had them
 * too (announce()).
 */
interface ListingOutput {
  readonly changes: PinChange[];
  readonly alerts: AuditRecord[];
  readonly notices: Map<string, () => AuditRecord>;
}

/** What a listing of one kind found (refresh()). */
interface Refreshed {
  readonly entries: Entry[];
  readonly unavailable: string[];
  readonly late: ReadonlySet<string>;
  readonly pending: ReadonlyMap<string, Promise<unknown>>;
}

/** Lists a downstream connection is told have changed (resources/list_changed covers templates). */
export interface ListChangeListener {
  toolsChanged(): void;
  promptsChanged(): void;
  resourcesChanged(): void;
}

/** The lists a client is told have changed (MCP has no notice for templates: resources covers them). */
type NoticeKind = 'tools' | 'prompts' | 'resources';

const LIST_KINDS: readonly ListKind[] = ['tools', 'prompts', 'resources', 'templates'];
const SINGULAR = { tools: 'tool', prompts: 'prompt', resources: 'resource', templates: 'template' } as const;
/** How long a string of an upstream's lifecycle event (a crash reason) may be in the audit. */
const DETAIL_MAX = 300;
/** Kinds named by URI (a resource) or URI template, rather than by a name the client rule covers. */
const BY_URI: ReadonlySet<ListKind> = new Set(['resources', 'templates']);

/** A definition's name as the audit and the pin store's readers know it: its name, URI or URI template. */
function labelOf(kind: ListKind, d: Definition): string {
  return kind === 'resources'
    ? (d as Resource).uri
    : kind === 'templates'
      ? (d as ResourceTemplate).uriTemplate
      : d.name;
}

/** What the index finds a definition by: the exposed name of a tool or prompt, a URI, a URI template. */
function keyOf(kind: ListKind, server: string, d: Definition): string {
  return BY_URI.has(kind) ? labelOf(kind, d) : exposedName(server, d.name);
}
/** An upstream's list of one kind. */
function listOf(u: Upstream, kind: ListKind, start: boolean): Promise<Definition[]> {
  switch (kind) {
    case 'tools':
      return u.listTools(start);
    case 'prompts':
      return u.listPrompts(start);
    case 'resources':
      return u.listResources(start);
    case 'templates':
      return u.listResourceTemplates(start);
  }
}

/** The request a listing is decided on: the definition's name in the tool's place, a tool's annotations too. */
function listRequest(kind: ListKind, server: string, definition: Definition): McpRequest {
  return {
    surface: 'mcp',
    server,
    tool: definition.name,
    action: 'list',
    ...(kind === 'tools' ? { annotations: hints(definition as Tool) } : {}),
  };
}

/** What entries show (the keys neither held nor hidden by the policy), to tell whether a list changed for the client. */
function shownKeys(entries: Iterable<Entry>): string {
  return [...entries]
    .filter((e) => e.held === undefined && !e.hiddenByPolicy)
    .map((e) => e.key)
    .sort()
    .join('\n');
}

/** Resources by the URI the agent is shown, where it is not the one listed (a secret in it, redacted). */
function byShownUri(entries: readonly Entry[]): Map<string, Entry[]> {
  const out = new Map<string, Entry[]>();
  for (const e of entries) {
    const uri = (e.shown as Resource).uri;
    if (uri === (e.definition as Resource).uri) continue;
    const same = out.get(uri);
    if (same) same.push(e);
    else out.set(uri, [e]);
  }
  return out;
}

/** Each server's part of a listing, `now`, with what a server left out as late had `before` (its list is still coming). */
function withLate<T>(
  now: Map<string, T>,
  before: ReadonlyMap<string, T>,
  late: ReadonlySet<string>,
): Map<string, T> {
  for (const id of late) {
    const had = before.get(id);
    if (had !== undefined && !now.has(id)) now.set(id, had);
  }
  return now;
}

/** Whether two lists of tool names by server name the same tools, in the same order. */
function isSameNames(
  a: ReadonlyMap<string, readonly string[]>,
  b: ReadonlyMap<string, readonly string[]>,
): boolean {
  if (a.size !== b.size) return false;
  for (const [server, names] of a) {
    const was = b.get(server);
    if (was === undefined || was.length !== names.length || names.some((n, i) => n !== was[i])) return false;
  }
  return true;
}

/** A trust on first use (mcp.pin by tofu) of a server whose changes the pin store did not write: no pin was made. */
function isUnwrittenTrust(alert: AuditRecord, unwritten: ReadonlyMap<string, string>): boolean {
  const server = alert.outcome?.server;
  return (
    alert.type === 'mcp.pin' &&
    alert.outcome?.by === 'tofu' &&
    typeof server === 'string' &&
    unwritten.has(server)
  );
}

/** An error of the file system (a pin store on a full or read-only disk), as Node raises them. */
function isFileError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/** A JSON-RPC error whose message goes on the wire as written (an McpError would prefix its own "MCP error" text). */
function rpcError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The answer to a denied and to an unknown tool alike: JSON-RPC invalid params, `Tool NAME not found`. */
function notFound(kind: 'Tool' | 'Prompt' | 'Resource', name: string): Error {
  return rpcError(ErrorCode.InvalidParams, `${kind} ${name} not found`);
}

function hints(tool: Tool): McpRequest['annotations'] {
  const a = tool.annotations;
  if (!a) return undefined;
  const out: Record<string, boolean> = {};
  for (const key of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
    if (typeof a[key] === 'boolean') out[key] = a[key];
  return out;
}

function sizeOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

export class Gateway {
  readonly upstreams: readonly Upstream[];
  private readonly catalog: Map<string, McpCatalogEntry>;
  /**
   * Where arguments, results and errors are scanned (a large one off this thread), with the bound
   * credentials' values in every rendering (its matcher; none when the policy binds none).
   */
  private readonly scanner: ScanPool;
  /**
   * The downstream servers told of list changes and closed with the gateway: one per stdio
   * connection or 2025-era HTTP session, from its first request on.
   */
  private readonly connections = new Set<Server>();
  /** Who else is told of list changes: the 2026-07-28 HTTP endpoint's subscriptions. */
  private readonly listeners = new Set<ListChangeListener>();
  /**
   * The kinds told of within the last LIST_CHANGED_QUIET_MS, each with whether another change
   * came meanwhile (told when the time is over).
   */
  private readonly quiet = new Map<NoticeKind, { readonly timer: NodeJS.Timeout; isOwed: boolean }>();
  /**
   * Per connection, the notices still being sent to it (a client that does not read holds them
   * up), each with whether another is owed once it is out: at most one of a kind is on its way.
   */
  private readonly sending = new WeakMap<Server, Map<NoticeKind, boolean>>();
  /**
   * The questions put to 2026-07-28 clients' users, by the state each was returned with: the call
   * it is about and when it lapses. An answer counts once, and only for that call.
   */
  private readonly questions = new Map<string, { readonly call: string; readonly expires: number }>();
  /**
   * Each kind's index as of its last refresh (clashing keys are left out): tools and prompts by
   * exposed name, resources by URI, templates by URI template.
   */
  private readonly index: Record<ListKind, Map<string, Entry>> = {
    tools: new Map(),
    prompts: new Map(),
    resources: new Map(),
    templates: new Map(),
  };
  /**
   * What each index leaves out because its key clashes (held, with the clash as the reason). A
   * read still counts them: a URI two servers list, or a URI template two servers list, is not
   * free for a third template to take (a server could list another's URI to shadow it).
   */
  private readonly clashing: Record<ListKind, readonly Entry[]> = {
    tools: [],
    prompts: [],
    resources: [],
    templates: [],
  };
  /** Listed resources (clashing ones too) by the URI the agent was shown, where a secret in it was redacted. */
  private shownUris = new Map<string, readonly Entry[]>();
  /**
   * The servers whose resources the last listing could not list (down, or a listing that was not
   * whole): their templates read nothing meanwhile, since a URI might name a resource of theirs
   * that the policy decides on by its own name.
   */
  private unlistedResources: ReadonlySet<string> = new Set();
  /**
   * The lists whose index may be out of date: an upstream said the list changed, crashed or came
   * back. A call looks at an index only after it is rebuilt. Everything is stale at first.
   */
  private readonly stale = new Set<ListKind>(LIST_KINDS);
  /** Why each kind's listing last failed, already alerted; gone once it lists again. */
  private readonly listErrors = new Map<ListKind, string>();
  /**
   * The servers each index was built without because their listing was still under way (a call's
   * look waits fully only for servers that could list the name called, a client's listing only for
   * servers listing a kind for the first time, a read only for the servers whose URI
   * it could be): a call to one of theirs, or a read of a URI that could be theirs, builds the index
   * again, waiting for them.
   */
  private readonly late = new Map<ListKind, ReadonlySet<string>>();
  /**
   * The servers whose listing of each kind has ended, listed or failed (a server down has listed
   * nothing: whether it is in its first start decides): a server is waited for fully only until
   * then (isFirstListing; redteam-32-6: one that never answered its first list held every listing
   * for the SDK's 60 s, at every listing, as it never came to have listed).
   */
  private readonly hasListed: Record<ListKind, Set<string>> = {
    tools: new Set(),
    prompts: new Set(),
    resources: new Set(),
    templates: new Set(),
  };
  /**
   * What the clients were last shown of each kind (shownKeys) where servers were late for it: the
   * listing is rebuilt when their lists come in, and the clients told if that changes what they see.
   */
  private readonly partial = new Map<ListKind, string>();
  /**
   * The kinds being rebuilt because a late server's list came in (lateListed), each with whether
   * another came meanwhile: one rebuild at a time, then one more (200 listings that went without
   * a server made 200 rebuilds at once when its list came).
   */
  private readonly rebuilding = new Map<ListKind, { isOwed: boolean }>();
  /**
   * A client's listing waits fully for a server that lists a kind for the first time (nothing of
   * it was ever shown: isFirstListing), and LIST_WAIT_MS for the others: a server refreshing its
   * list, restarting, or whose first start or listing failed or timed out.
   */
  private readonly listingPatience: Patience = {
    waitsFor: (u, kind) => this.isFirstListing(u, kind),
    ms: LIST_WAIT_MS,
  };
  /**
   * Each kind's rebuilds, numbered as they start, and the number of the one whose index is in
   * place: a rebuild that waited longer (its scans, the pin store's lock) than one started after
   * it does not put its older look in place of that one's newer.
   */
  private readonly rebuilds = new Map<ListKind, { started: number; inPlace: number }>();
  /**
   * The listings' pin writes under way, each until what it wrote is audited: close() waits for them
   * (PinStore.applyAsync may wait 5 s for the store's lock), so none lands after the session's end.
   */
  private readonly pinWrites = new Set<Promise<unknown>>();
  /** The pin store version each index was built from: another version (`pins approve`) makes it stale. */
  private readonly pinsSeen = new Map<ListKind, string>();
  /** Clients' names and versions as audited (auditedAgent), by what the client sent. */
  private readonly agents = new Map<string, Agent>();
  /**
   * Whether reading, and writing, the pin store is failing: alerted once while it fails (a
   * client listing in a loop must not fill the audit), again once it worked in between. Apart,
   * since a store that can be read and not written (a full or read-only disk) is read fine at the
   * start of every listing.
   */
  private readonly pinStoreBroken = { read: false, write: false };
  /** Stops watching the pin store (set by start()). */
  private unwatchPins: (() => void) | undefined;
  /** The pin store changes being looked at, one after the other. */
  private pinsChecked: Promise<void> = Promise.resolve();
  /** The work of each definition object: an upstream's cached list hands out the same objects until it changes. */
  private readonly works = new WeakMap<object, DefinitionWork>();
  /**
   * The work of each server's last listing of each kind, by content: what a definition listed
   * again takes over (redteam-37-3: each list_changed makes the upstream list anew, every
   * definition a new object, and each was scanned again). A server a listing goes without (down,
   * late) keeps its own, so its list coming back the same costs nothing either; a server's next
   * listing replaces it, so no more is kept than a listing per server and kind.
   */
  private readonly worksByContent: Record<ListKind, Map<string, ReadonlyMap<string, DefinitionWork>>> = {
    tools: new Map(),
    prompts: new Map(),
    resources: new Map(),
    templates: new Map(),
  };
  /**
   * Why the pin store last refused each server's changes (PinWrite.refused), and what it refused:
   * the store's version and the changes (changesSignature). The same changes against the same
   * version are refused without asking the store again, which would take its lock, read it and
   * measure the server's definitions at every listing of every client.
   */
  private readonly refusals = new Map<string, { readonly error: string; readonly signature: string }>();
  /** Numbers naming objects in changesSignature, and how many were given. */
  private readonly objectIds = new WeakMap<object, number>();
  private objectCount = 0;
  /** Tool names by server, from the last listing of tools. */
  private toolNames = new Map<string, readonly string[]>();
  /**
   * What a read may name of each server, from its last listings (kept while its list is late): the
   * URIs of its resources (as listed and as shown) and its resource templates. A read waits fully
   * only for the servers whose URI it could be (couldRead).
   */
  private readableUris = new Map<string, ReadonlySet<string>>();
  private readableTemplates = new Map<string, readonly Definition[]>();
  /** Per server, the other servers' tool names; the generation changes when the names do. */
  private readonly others = new Map<
    string,
    { signature: string; names: ReadonlySet<string>; generation: number }
  >();
  /** Which servers' entries in `others` are up to date with `toolNames`. */
  private readonly othersChecked = new Set<string>();
  private generations = 0;
  /** What each kind of listing holds back for its name, already audited. */
  private readonly announced = new Map<ListKind, ReadonlySet<string>>();
  /** What the secret scan of each listed definition object lets the agent see (listingScan). */
  private readonly listingScans = new WeakMap<object, ListingScan>();
  /**
   * The secrets in listings already audited, per kind and server: one event per definition hash
   * and finding, not one per listing. A server that is down keeps its set, so it is not audited
   * again when it comes back with the same definitions.
   */
  private readonly secretsAnnounced = new Map<ListKind, Map<string, ReadonlySet<string>>>();
  /** When this gateway began: an approval made since (`pins approve` while it runs) goes to its audit. */
  private readonly startedAt = new Date().toISOString();
  /**
   * The methods of the requests each server sent of its own, audited already (at most
   * MAX_SERVER_METHODS_AUDITED of them past the protocol's), and whether it was said to send more.
   */
  private readonly serverRequests = new Map<
    string,
    { readonly methods: Set<string>; others: number; isPastCap: boolean }
  >();
  /** The approvals recorded already, by server, key and hash. */
  private readonly approvalsRecorded = new Set<string>();
  /**
   * Requests the HTTP endpoint refused before asking the gateway (listenHttp): audited within the
   * bound of a refusal any client can provoke (REFUSALS_PER_SECOND, the rest counted in one
   * `mcp.refusals-suppressed` event), as the egress proxy audits its own.
   */
  private readonly endpointRefusals: RefusalAudit;

  constructor(private readonly options: GatewayOptions) {
    this.endpointRefusals = createRefusalAudit({
      audit: (record) => this.record(record),
      sessionId: options.context.sessionId,
      surface: 'mcp',
    });
    this.catalog = new Map(options.engine.mcpServers().map((e) => [e.server.id, e]));
    this.scanner = new ScanPool(options.credentials);
    this.upstreams = options.servers.map(
      (spec) =>
        new Upstream(spec, {
          onEvent: (id, event, detail) => {
            // A server that crashed or came back may list something else.
            if (event === 'crash' || event === 'ready') for (const kind of LIST_KINDS) this.stale.add(kind);
            const credential = this.catalog.get(id)?.server.credential;
            this.record(
              lifecycleRecord(`mcp.server.${event}`, this.options.context, {
                server: id,
                ...(credential !== undefined ? { credential } : {}),
                ...this.redactedDetail(detail),
              }),
            );
          },
          onCredential: (id, credential) => this.recordCredential(id, credential),
          onListChanged: (_id, kind) => {
            this.stale.add(kind);
            if (kind === 'resources') this.stale.add('templates');
            this.notify(kind);
          },
          onServerRequest: (id, method) => this.serverRequestAlert(id, method),
        }),
    );
  }

  /**
   * A server asked the client for something (a completion of the agent's model, the user's input,
   * the roots): refused, as every server's own request is, and audited once per server and method
   * (a server asking for the agent's model is worth a look; asking again adds nothing). A
   * protocol's method always is; of other methods, the first MAX_SERVER_METHODS_AUDITED of each
   * server are, then one alert says it sends more.
   */
  private serverRequestAlert(server: string, method: string): void {
    let sent = this.serverRequests.get(server);
    if (sent === undefined)
      this.serverRequests.set(server, (sent = { methods: new Set(), others: 0, isPastCap: false }));
    const isProtocol = PROTOCOL_SERVER_REQUESTS.has(method);
    // A server may send 100 requests a second, each method up to a message's size: past its bound
    // one is not looked at, and of the others only what the audit keeps and room past it is read.
    if (!isProtocol && sent.isPastCap) return;
    const shown = cut(this.redactedText(method.slice(0, AUDITED_TEXT_READ)), 64);
    if (sent.methods.has(shown)) return;
    if (!isProtocol && sent.others >= MAX_SERVER_METHODS_AUDITED) {
      sent.isPastCap = true;
      this.record(
        alertRecord(
          'mcp.server-request',
          this.options.context,
          'medium',
          `Refused: the MCP server ${server} sent requests of its own with more than ${MAX_SERVER_METHODS_AUDITED} methods (${JSON.stringify(shown)} the first past them); the gateway passes no server's requests on to the client, and audits no further method of this server but the protocol's (sampling, elicitation, roots, tasks).`,
          { server, method: shown, more: true },
        ),
      );
      return;
    }
    sent.methods.add(shown);
    if (!isProtocol) sent.others++;
    this.record(
      alertRecord(
        'mcp.server-request',
        this.options.context,
        'medium',
        `Refused: the MCP server ${server} sent a request of its own (${JSON.stringify(shown)}); the gateway passes no server's requests on to the client.`,
        { server, method: shown },
      ),
    );
  }

  /** Connects every upstream at once; one that fails is retried in the background, the others serve. */
  async start(): Promise<void> {
    this.unwatchPins ??= this.options.pins.watch(() => {
      this.pinsChecked = this.pinsChecked.then(() => this.pinsChanged());
    });
    await Promise.allSettled(this.upstreams.map((u) => u.connect()));
  }

  async close(): Promise<void> {
    this.unwatchPins?.();
    this.endpointRefusals.flush();
    for (const q of this.quiet.values()) clearTimeout(q.timer);
    this.quiet.clear();
    await this.pinsChecked;
    // A listing's pin write waiting for the store's lock lands, and is audited, before the end.
    await Promise.allSettled(this.pinWrites);
    await Promise.allSettled([...this.connections].map((s) => s.close()));
    await Promise.allSettled(this.upstreams.map((u) => u.close()));
    await this.scanner.close();
  }

  /**
   * The pin store changed on disk: an approval made by `perimeter mcp pins approve` in another
   * process (or the file repaired, removed, or written by this gateway's own listing). Every index
   * built from another version is rebuilt, starting no upstream; refresh() tells the clients of
   * each list whose shown definitions changed, so an approved tool appears without a reconnect.
   */
  private async pinsChanged(): Promise<void> {
    const version = this.pinsVersion();
    for (const kind of LIST_KINDS) {
      const seen = this.pinsSeen.get(kind);
      // Never listed (nothing to tell a client about), or built from this version already.
      if (seen === undefined || seen === version) continue;
      try {
        await this.refresh(kind, false, this.listingPatience);
      } catch (e) {
        const message = `the pin store changed, and the ${kind} could not be checked again: ${errorText(e)}`;
        this.record(
          alertRecord('mcp.pin-store-error', this.options.context, 'high', message, { error: message }),
        );
      }
    }
  }

  /**
   * A downstream MCP server bound to this gateway, serving both protocol eras with the same
   * handlers: one per stdio connection or 2025-era HTTP session (a `connection`, the default: told
   * of list changes from its first request on, and closed with the gateway), or one per 2026-07-28
   * HTTP request (`connection: false`: its endpoint's subscriptions are told, through addListener).
   */
  createServer(options: { readonly connection?: boolean } = {}): Server {
    return Gateway.server(() => this, {
      connection: options.connection ?? true,
      ...(this.options.version !== undefined ? { version: this.options.version } : {}),
    });
  }

  /**
   * createServer for a gateway that may not exist yet: each request awaits `gateway()`, so the
   * server answers `server/discover` and `initialize` at once and `perimeter mcp` starts its
   * sandboxes and upstreams only when a client asks for something (a client that only probes,
   * as a negotiating client does in a process of its own, starts nothing).
   */
  static server(
    gateway: () => Gateway | Promise<Gateway>,
    options: { readonly connection?: boolean; readonly version?: string },
  ): Server {
    const server = new GatewayServer(
      { name: 'perimeter', version: options.version ?? '0.1.0' },
      // The gateway asks 2025-era clients with elicitation/create itself (ask()): it never returns
      // input_required to them, and the SDK's stand-in for doing so stays off.
      { capabilities: CAPABILITIES, inputRequired: { legacyShim: false } },
    );
    let joined: Gateway | undefined;
    const at = async (): Promise<Gateway> => {
      const g = await gateway();
      if (options.connection === true && joined === undefined) {
        joined = g;
        g.connections.add(server);
        server.onclose = () => g.connections.delete(server);
      }
      return g;
    };
    const session = (ctx: ServerContext): Session => ({ server, request: ctx.mcpReq });
    // What upstreams send is typed by the v1 client's schemas, whose JSON Schema types are looser
    // than the v2 server's: the same JSON either way, so the answers pass as the server's types.
    const serve = <
      M extends
        | 'tools/list'
        | 'tools/call'
        | 'prompts/list'
        | 'prompts/get'
        | 'resources/list'
        | 'resources/templates/list'
        | 'resources/read',
    >(
      method: M,
      handle: (g: Gateway, s: Session, params: Record<string, unknown>) => Promise<unknown>,
    ): void =>
      server.setRequestHandler(
        method,
        async (req, ctx) =>
          (await handle(await at(), session(ctx), (req.params ?? {}) as Record<string, unknown>)) as never,
      );
    serve('tools/list', (g, s) => g.listTools(s));
    serve('tools/call', (g, s, p) =>
      g.callTool(s, p.name as string, p.arguments as Record<string, unknown> | undefined, s.request.signal),
    );
    serve('prompts/list', (g, s) => g.listPrompts(s));
    serve('prompts/get', (g, s, p) =>
      g.getPrompt(s, p.name as string, p.arguments as Record<string, string> | undefined),
    );
    serve('resources/list', (g, s) => g.listResources(s));
    serve('resources/templates/list', (g, s) => g.listTemplates(s));
    serve('resources/read', (g, s, p) => g.readResource(s, p.uri as string));
    return server;
  }

  /**
   * The input schema of the tool a client would call by `name`, as the gateway lists it (undefined
   * for a name it does not list): what a 2026-07-28 call's `Mcp-Param-*` headers are checked against.
   */
  async toolInputSchema(name: string): Promise<unknown> {
    const entry = (await this.lookup('tools', name)).found;
    // A tool the agent is not shown has no schema to check headers against: its call must fail
    // as an unknown tool's does, not on its headers (which would say that it exists).
    const isShown = entry !== undefined && entry.held === undefined && !entry.hiddenByPolicy;
    return isShown ? (entry.shown as Tool).inputSchema : undefined;
  }

  /**
   * Records a 2026-07-28 request refused over HTTP before the gateway was asked, because its
   * headers disagree with its body (`header` names the one that does): a denial of
   * the tool call, prompt or resource read the body asks for, on behalf of the client its envelope
   * names.
   */
  async recordHeaderRefusal(refused: RefusedRequest, header: string): Promise<void> {
    const { scan, audited } = await this.requested(refused.kind, refused.key, refused.args);
    const why = `the request's ${header} header and its body disagree; refused before it was decided`;
    this.recordCall(refused.agent, audited, gatewayDenial(audited, why), undefined, scan);
  }

  /**
   * Records a request the HTTP endpoint refused before the gateway was asked (a wrong Host, Origin
   * or token, a body too large, too slow or with no room left, a session it does not hold): an
   * `mcp.http` denial, `code` unauthenticated for a missing or wrong token, else invalid-request,
   * the endpoint's sentence as its reason. Bounded per second (endpointRefusals).
   */
  recordEndpointRefusal(code: RefusalCode, resource: string, why: string): void {
    this.endpointRefusals.refuse(code, 'http', resource, why);
  }

  /** Tells `listener` of every list change from now on; the returned function stops that. */
  addListener(listener: ListChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // -- tools -------------------------------------------------------------------------------------

  private async listTools(session: Session): Promise<{ tools: Tool[] }> {
    const shown = await this.list(session, 'tools');
    return { tools: shown.map((e) => ({ ...(e.shown as Tool), name: e.key })) };
  }

  private async callTool(
    session: Session,
    name: string,
    args: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<CallToolResult | InputRequiredResult> {
    const started = performance.now();
    // Scanned once, first: whatever becomes of the call (unknown, held, denied, refused, made),
    // the audit keeps only the redacted copy of its arguments, keys included.
    const scan = await this.scanArguments(args ?? {});
    const { found: entry, unknown } = await this.lookup('tools', name);
    const tool = entry?.definition as Tool | undefined;
    const request: McpRequest = {
      surface: 'mcp',
      server: entry?.server ?? '(unknown)',
      tool: tool?.name ?? name,
      action: 'call',
      // Decided on what would be sent (threat 13): redaction can change what an argument rule reads.
      args: this.sent(scan, args ?? {}),
      ...(tool ? { annotations: hints(tool) } : {}),
    };
    const audited = this.audited(request, scan, tool);
    if (entry === undefined || tool === undefined || entry.held !== undefined) {
      this.recordNotShown(
        session,
        entry,
        request,
        audited,
        scan,
        unknown ?? `no tool is exposed as ${audited.tool}`,
      );
      throw notFound('Tool', name);
    }
    const verdict = await this.authorize(
      session,
      request,
      audited,
      scan,
      `Allow the MCP tool ${name} (${entry.server}) to run with arguments: ${argumentKeys(audited)}?`,
      { isStillShown: () => this.isStillShown('tools', name, entry) },
    );
    if (verdict === 'denied') throw notFound('Tool', name);
    if (typeof verdict === 'object') return verdict.question;
    if (verdict !== 'allowed')
      return refusal(
        `Perimeter refused this call: ${refusedFor(verdict, scan)}. Nothing was sent to the tool.`,
      );
    const upstreamStarted = performance.now();
    const progress = this.progressRelay(session, audited);
    let result: CallToolResult;
    try {
      result = ownResult(
        await this.upstream(entry.server).callTool(
          tool.name,
          request.args ?? {},
          signal,
          progress?.onprogress,
        ),
      );
    } catch (e) {
      await progress?.end();
      throw await this.failed(session, audited, e, started);
    }
    const upstreamMs = performance.now() - upstreamStarted;
    await progress?.end();
    // The whole result: a server may put anything beside its content (`_meta`, fields of its own).
    const screened = await this.screen(session, audited, result);
    result = screened.passed ?? refusal(withheldText(screened));
    this.recordResult(session, audited, {
      latency_ms: round(performance.now() - started),
      upstream_ms: round(upstreamMs),
      gateway_ms: round(performance.now() - started - upstreamMs),
      result_bytes: sizeOf(result),
      is_error: result.isError === true,
      ...findingCounts(screened),
      ...progress?.counts(),
    });
    return result;
  }

  /**
   * The relay of a call's progress to the client, when the client asked for it with a progress
   * token: each message screened as the call's result is, joined after the end of those sent
   * before it. The first message with findings is alerted as a result's would be, the rest of the
   * call's not (a server reporting a secret as fast as it may made an alert of each); how many
   * were left out the call's mcp.result says.
   */
  private progressRelay(session: Session, request: McpRequest): ProgressRelay | undefined {
    const token = session.request._meta?.progressToken;
    if (token === undefined) return undefined;
    let isAlerted = false;
    return new ProgressRelay(
      token,
      async (message, before) => {
        const screened = await this.screen(session, request, { before, message }, isAlerted);
        isAlerted ||=
          screened.out.blocking.length > 0 || screened.out.leaks.length > 0 || screened.injection.length > 0;
        return screened.passed?.message;
      },
      (notification) => session.request.notify(notification),
    );
  }

  // -- prompts and resources: the tools' steps, the prompt or resource name in the tool's place ----

  private async listPrompts(session: Session): Promise<{ prompts: Prompt[] }> {
    const shown = await this.list(session, 'prompts');
    return { prompts: shown.map((e) => ({ ...(e.shown as Prompt), name: e.key })) };
  }

  private async getPrompt(
    session: Session,
    name: string,
    args: Record<string, string> | undefined,
  ): Promise<Awaited<ReturnType<Upstream['getPrompt']>> | InputRequiredResult> {
    return this.fetchItem(session, 'prompts', name, args ?? {}, (u, prompt, sent) =>
      u.getPrompt(prompt.name, args === undefined ? undefined : (sent as Record<string, string>)),
    );
  }

  private async listResources(session: Session): Promise<{ resources: Resource[] }> {
    const shown = await this.list(session, 'resources');
    return {
      resources: shown.map((e) => ({
        ...(e.shown as Resource),
        name: exposedName(e.server, e.shown.name),
      })),
    };
  }

  private async listTemplates(session: Session): Promise<{ resourceTemplates: ResourceTemplate[] }> {
    const shown = await this.list(session, 'templates');
    return {
      resourceTemplates: shown.map((e) => ({
        ...(e.shown as ResourceTemplate),
        name: exposedName(e.server, e.shown.name),
      })),
    };
  }

  /**
   * Reads a listed resource, or a URI that one resource template produces (decided on that
   * template). A listed resource is read by the URI its server listed: the agent may know it only
   * with a secret redacted, and the server gets back only what it sent.
   */
  private async readResource(
    session: Session,
    uri: string,
  ): Promise<Awaited<ReturnType<Upstream['readResource']>> | InputRequiredResult> {
    return this.fetchItem(session, 'resources', uri, { uri }, (u, definition, sent) =>
      u.readResource('uri' in definition ? definition.uri : String(sent.uri)),
    );
  }

  /**
   * Lists one kind of every upstream; shows what is not held and the policy does not deny (the
   * definition's name in the tool's place; a tool's annotations too).
   */
  private async list(session: Session, kind: ListKind): Promise<Entry[]> {
    const started = performance.now();
    const { entries, unavailable, late, pending } = await this.refresh(kind, true, this.listingPatience);
    const shown: Entry[] = [];
    let hiddenByPolicy = 0;
    let held = 0;
    for (const e of entries) {
      if (e.hiddenByPolicy) hiddenByPolicy++;
      else if (e.held !== undefined) held++;
      else shown.push(e);
    }
    this.record(
      this.withAgent(session, {
        ...lifecycleRecord('mcp.list', this.options.context, {
          ...(kind === 'tools' ? {} : { kind }),
          shown: shown.length,
          hidden_by_policy: hiddenByPolicy,
          held,
          upstreams_unavailable: unavailable.join(','),
          ...(late.size > 0 ? { upstreams_late: [...late].join(',') } : {}),
          latency_ms: round(performance.now() - started),
        }),
        category: 'evaluation',
      }),
    );
    // Set before the late servers' listings are watched: one that came in while others were still
    // waited for (or failed) rebuilds the listing at once, so the client is told of what it missed.
    if (late.size > 0) {
      this.partial.set(kind, shownKeys(shown));
      this.watchLate(kind, pending);
    } else this.partial.delete(kind);
    return shown;
  }

  /** Gets one prompt or reads one resource through the steps of a tool call; unknown, held and denied fail alike. */
  private async fetchItem<R extends object>(
    session: Session,
    kind: 'prompts' | 'resources',
    key: string,
    args: Record<string, unknown>,
    fetch: (u: Upstream, definition: Definition, args: Record<string, unknown>) => Promise<R>,
  ): Promise<R | InputRequiredResult> {
    const started = performance.now();
    const noun = kind === 'prompts' ? 'Prompt' : 'Resource';
    const { scan, found, unknown, request, audited } = await this.requested(kind, key, args);
    if (found === undefined || found.held !== undefined) {
      const notExposed = unknown ?? `no ${SINGULAR[kind]} is exposed as ${audited.tool}`;
      this.recordNotShown(session, found, request, audited, scan, notExposed);
      throw notFound(noun, key);
    }
    // A URI read through a template that `secrets: redact` would change names another resource
    // than the one matched and decided on: refused, not read under a name nobody asked for, once
    // the policy would allow the read (authorize). (A bound credential's value goes on to
    // authorize(), which refuses it as the leak it is.)
    const refusal =
      kind === 'resources' &&
      !('uri' in found.definition) &&
      request.args?.uri !== key &&
      scan.leaks.length === 0
        ? `the URI carries a secret (${fewOf(scan.blocking)}), and redacted it would name another resource`
        : undefined;
    const verdict = await this.authorize(
      session,
      request,
      audited,
      scan,
      kind === 'prompts'
        ? `Allow the MCP prompt ${key} (${found.server}) with arguments: ${argumentKeys(audited)}?`
        : `Allow reading the MCP resource ${quoted(this.redactedText(key), URI_SHOWN)} (${found.server})?`,
      { isStillShown: () => this.isStillShown(kind, key, found), ...(refusal ? { refusal } : {}) },
    );
    if (verdict === 'denied') throw notFound(noun, key);
    if (typeof verdict === 'object') return verdict.question;
    if (verdict !== 'allowed')
      throw rpcError(
        ErrorCode.InvalidParams,
        `Perimeter refused this request: ${refusedFor(verdict, scan, refusal)}. Nothing was sent to the server.`,
      );
    const upstreamStarted = performance.now();
    let result: R;
    try {
      result = ownResult(await fetch(this.upstream(found.server), found.definition, request.args ?? {}));
    } catch (e) {
      throw await this.failed(session, audited, e, started);
    }
    return await this.scanned(session, audited, result, started, performance.now() - upstreamStarted);
  }

  /**
   * Whether `key` still finds `entry`'s definition, shown, as it was (the same object, or the
   * same content listed again): what a user approved in answer to a question must be what runs.
   */
  private async isStillShown(
    kind: 'tools' | 'prompts' | 'resources',
    key: string,
    entry: Entry,
  ): Promise<boolean> {
    const { found } = await this.lookup(kind, key);
    return (
      found !== undefined &&
      found.held === undefined &&
      !found.hiddenByPolicy &&
      found.server === entry.server &&
      (found.definition === entry.definition ||
        canonicalJson(found.definition) === canonicalJson(entry.definition))
    );
  }

  /**
   * A request for what `key` names, its arguments scanned: the definition found, if any (or why
   * none is, for the audit), and the request on it as decided and as the audit keeps it.
   */
  private async requested(
    kind: 'tools' | 'prompts' | 'resources',
    key: string,
    args: Record<string, unknown>,
  ): Promise<{
    scan: SecretScan;
    found?: Entry;
    unknown?: string;
    request: McpRequest;
    audited: McpRequest;
  }> {
    const scan = await this.scanArguments(args);
    const { found, unknown } = await this.lookup(kind, key);
    const request: McpRequest = {
      surface: 'mcp',
      server: found?.server ?? '(unknown)',
      tool: found?.definition.name ?? key,
      action: 'call',
      // What would be sent, as for a tool call.
      args: this.sent(scan, args),
    };
    const audited: AuditedRequest = {
      ...this.audited(request, scan, found?.definition),
      // A prompt's get and a resource's read are decided as calls; the audit tells them apart.
      ...(kind === 'prompts' ? { item: 'prompt' as const } : {}),
      ...(kind === 'resources'
        ? { item: 'resource' as const, uri: cut(this.redactedText(key), URI_AUDITED) }
        : {}),
    };
    return { scan, found, unknown, request, audited };
  }

  /**
   * The tool or prompt a name exposes, or the resource a URI names: a listed resource (by the URI listed,
   * or as the agent was shown it with a secret redacted), else the one resource template that
   * produces the URI. A URI that resources or templates of more than one
   * server produce, or several templates of one server, is read through none of them (`unknown`
   * says why, for the audit): the gateway cannot tell which the agent means, nor decide on both.
   * Listings whose key clashed (held, and left out of the index) count among them.
   */
  private async lookup(
    kind: 'tools' | 'prompts' | 'resources',
    key: string,
  ): Promise<{ found?: Entry; unknown?: string }> {
    try {
      return await this.find(kind, key);
    } catch (e) {
      // The lists could not be looked at (audited by refresh()): nothing is found, so the request
      // fails as an unknown one does, and is audited with this reason.
      return { unknown: this.redactedText(`the ${kind} could not be looked at: ${errorText(e)}`) };
    }
  }

  /** lookup()'s work, which may throw. */
  private async find(
    kind: 'tools' | 'prompts' | 'resources',
    key: string,
  ): Promise<{ found?: Entry; unknown?: string }> {
    if (kind !== 'resources') {
      const exact = (await this.current(kind, key)).get(key);
      return exact ? { found: exact } : {};
    }
    await this.current('resources', key);
    await this.current('templates', key);
    // Read after both are current: a refresh while waiting replaces the index and what clashed.
    const listed = this.index.resources.get(key);
    const exact = [
      ...(listed ? [listed] : []),
      ...this.clashing.resources.filter((e) => e.key === key),
      ...(this.shownUris.get(key) ?? []),
    ];
    // A URI produced by a template is decided on the template, and must reach its server as the
    // same URI: one the server would parse into another (perhaps a resource of its own, denied)
    // is read through none.
    const readAs = exact.length === 0 ? otherReading(key) : undefined;
    if (readAs !== undefined)
      return {
        unknown: this.redactedText(
          `the URI ${JSON.stringify(key)} is not in the form its server reads it in (${readAs}); read it as listed, or as its template writes it`,
        ),
      };
    const produced = [...this.index.templates.values(), ...this.clashing.templates].filter((e) => {
      const t = this.templateOf(e.definition);
      return !(t instanceof UriTemplateError) && t.matches(key);
    });
    const blind = produced.find((t) => this.unlistedResources.has(t.server));
    if (blind !== undefined && !exact.some((e) => e.server === blind.server))
      return {
        unknown: this.redactedText(
          `the URI ${key} is produced by ${blind.server}'s template ${blind.key}, but ${blind.server}'s resources could not be listed`,
        ),
      };
    // A server's own listed resource comes before its templates.
    const candidates = [...exact, ...produced.filter((t) => !exact.some((e) => e.server === t.server))];
    if (candidates.length <= 1) return candidates[0] ? { found: candidates[0] } : {};
    const names = candidates.map((e) =>
      exact.includes(e) ? `${e.server}'s resource` : `${e.server}'s template ${e.key}`,
    );
    return { unknown: this.redactedText(`the URI ${key} is produced by ${names.join(' and ')}`) };
  }

  /** A resource template's parsed form, or why it cannot be matched; once per definition (workOf). */
  private templateOf(definition: Definition): UriTemplate | UriTemplateError {
    const work = this.workOf(definition);
    if (work.template === undefined) {
      try {
        work.template = uriTemplate((definition as ResourceTemplate).uriTemplate);
      } catch (e) {
        if (!(e instanceof UriTemplateError)) throw e;
        work.template = e;
      }
    }
    return work.template;
  }

  /** Prompt and resource contents: withheld whole, or passed changed in place, as screen() says. */
  private async scanned<T>(
    session: Session,
    request: McpRequest,
    result: T,
    started: number,
    upstreamMs: number,
  ): Promise<T> {
    const screened = await this.screen(session, request, result);
    this.recordResult(session, request, {
      latency_ms: round(performance.now() - started),
      upstream_ms: round(upstreamMs),
      gateway_ms: round(performance.now() - started - upstreamMs),
      result_bytes: sizeOf(result),
      ...findingCounts(screened),
    });
    if (screened.passed === undefined) throw rpcError(ErrorCode.InternalError, withheldText(screened));
    return screened.passed;
  }

  /**
   * What of a result may reach the agent, by the policy's `mcp.secrets`: `block` withholds a result
   * that carries a secret (undefined), `redact` replaces each secret, `audit` (audit mode) passes
   * it as it came, recorded. A bound credential's real value never passes: it is withheld under
   * block and replaced otherwise, in audit mode too (the proxy scrubs it from responses the same).
   */
  private async screen<T>(
    session: Session,
    request: McpRequest,
    value: T,
    isQuiet = false,
  ): Promise<Screened<T>> {
    const { scan: out, injected } = await this.scanShown(value);
    if (out.blocking.length === 0 && out.leaks.length === 0)
      return this.screenInstructions(session, request, value, out, injected, isQuiet);
    const action = this.options.engine.mcpSecretsAction();
    if (out.leaks.length > 0 && !isQuiet)
      this.leakAlert(session, request, 'result', out.leaks, action === 'block' ? 'Withheld' : 'Redacted');
    if (out.blocking.length > 0 && !isQuiet)
      this.secretAlert(session, request, 'result', out.blocking, action);
    const passed = this.passable(out, value, action, injected.stripped as T);
    if (passed === undefined) return { passed, out, injection: [] };
    // The screen's scan of the value serves its copy too: a copy is made from the value stripped
    // (a redaction or the credentials taken out), and a marker in a secret's place says nothing to
    // the agent. Screening it again cost a second pass on the gateway's thread, past the scan pool.
    return this.screenInstructions(
      session,
      request,
      passed,
      out,
      passed === value ? injected : { findings: injected.findings, stripped: passed },
      isQuiet,
    );
  }

  /**
   * What of a result that passed the secret scan may reach the agent, by the policy's
   * `mcp.promptInjection` (threat 4): `block` withholds a result with text that reads as
   * instructions to the agent, `strip` removes its hidden characters (the rest is recorded),
   * `flag` (and audit mode) passes it as it came, recorded.
   */
  private screenInstructions<T>(
    session: Session,
    request: McpRequest,
    value: T,
    out: SecretScan,
    scan: ResultScan,
    isQuiet = false,
  ): Screened<T> {
    if (scan.findings.length === 0) return { passed: value, out, injection: [] };
    const action = this.options.engine.mcpPromptInjection();
    const passed = action === 'block' ? undefined : action === 'strip' ? (scan.stripped as T) : value;
    if (!isQuiet) this.injectionAlert(session, request, scan.findings, action);
    return { passed, out, injection: scan.findings };
  }

  /**
   * A scanned value as `mcp.secrets` lets it pass: nothing under `block`, its redaction under
   * `redact`, and in audit mode the value as it came but for bound credentials' real values.
   * `shown` is the value as scanned, its hidden characters removed (scanShown()): what is redacted.
   */
  private passable<T>(
    scan: SecretScan,
    value: T,
    action: 'block' | 'redact' | 'audit',
    shown: T = value,
  ): T | undefined {
    switch (action) {
      case 'block':
        return undefined;
      case 'redact':
        return scan.redacted as T;
      case 'audit':
        return scan.leaks.length > 0 && this.scanner.matcher !== undefined
          ? (withoutCredentials(shown, this.scanner.matcher) as T)
          : value;
    }
  }

  /** The arguments sent upstream: redacted only under `secrets: redact` (block refused them; audit mode passes them). */
  private sent<T>(scan: SecretScan, args: T): T {
    return scan.blocking.length > 0 && this.options.engine.mcpSecretsAction() === 'redact'
      ? (scan.redacted as T)
      : args;
  }

  // -- one call's steps: decide, ask, scan the arguments ---------------------------------------------

  /**
   * The policy's decision on the final request, a person's answer when it says ask, then the
   * arguments' secrets: `denied` (audited; fail like an unknown name), `leak` (a bound
   * credential's real value: refused in every mode, as the egress proxy refuses it), `secret`
   * (refused under `secrets: block`), or `allowed` (audited; send() says what goes upstream). In
   * audit mode a secret is recorded as a would-be denial and the call goes on.
   */
  private async authorize(
    session: Session,
    request: McpRequest,
    audited: McpRequest,
    scan: SecretScan,
    question: string,
    guard: Guard,
  ): Promise<
    'denied' | 'leak' | 'secret' | 'refused' | 'allowed' | { readonly question: InputRequiredResult }
  > {
    let decision = this.decide(request, audited);
    // Only once the policy would let the request through: a denied one fails as an unknown one
    // does, whatever else is wrong with it (redteam-33-2).
    if (decision.decision !== 'deny' && guard.refusal !== undefined) {
      this.secretAlert(session, audited, 'arguments', scan.blocking, 'block');
      this.recordCall(session, audited, gatewayDenial(audited, guard.refusal), undefined, scan);
      return 'refused';
    }
    let approval: string | undefined;
    if (decision.decision === 'ask') {
      const answer = await this.ask(session, request, question);
      if (typeof answer === 'object' && 'question' in answer) {
        this.recordCall(session, audited, decision, answer.why, scan);
        return { question: answer.question };
      }
      // The user answered about the definition looked up before the question: one that changed
      // meanwhile (a drift, now held) is not what was approved (redteam-33-3).
      if (answer === 'approved' && !(await guard.isStillShown())) {
        const why = 'ask: approved, but what was asked about changed or went while the user was asked';
        this.recordCall(session, audited, gatewayDenial(audited, why), undefined, scan);
        return 'denied';
      }
      approval = answer === 'approved' ? answer : answer.denied;
      if (answer === 'approved') decision = { ...decision, decision: 'allow' };
    }
    const note = approval ? `ask: ${approval}` : undefined;
    if (decision.decision !== 'allow') {
      this.recordCall(session, audited, decision, note, scan);
      return 'denied';
    }
    const refused: Decision = { ...decision, decision: 'deny', wouldDecision: 'deny', mode: 'enforce' };
    if (scan.leaks.length > 0) {
      this.leakAlert(session, audited, 'arguments', scan.leaks, 'Refused');
      this.recordCall(session, audited, refused, `the arguments carry ${leakText(scan.leaks)}`, scan);
      return 'leak';
    }
    if (scan.blocking.length === 0) {
      this.recordCall(session, audited, decision, note, scan);
      return 'allowed';
    }
    const action = this.options.engine.mcpSecretsAction();
    this.secretAlert(session, audited, 'arguments', scan.blocking, action);
    const secret = `the arguments carry a secret: ${scan.blocking.join(', ')}`;
    switch (action) {
      case 'block':
        this.recordCall(session, audited, refused, secret, scan);
        return 'secret';
      case 'audit':
        this.recordCall(
          session,
          audited,
          { ...decision, wouldDecision: 'deny', mode: 'audit' },
          [note, `audit mode: ${secret}; would be refused, allowed for now`].filter(Boolean).join('; '),
          scan,
        );
        return 'allowed';
      case 'redact':
        this.recordCall(session, audited, decision, note, scan);
        return 'allowed';
    }
  }

  /**
   * An upstream's failure as the agent and the audit see it: its JSON-RPC code, its message with
   * secrets redacted and the SDK's "MCP error N:" prefix said once (each client on the way adds
   * one), and nothing else of what the upstream sent with it.
   */
  private async failed(session: Session, request: McpRequest, e: unknown, started: number): Promise<Error> {
    const given = e instanceof McpError ? e.code : ErrorCode.InternalError;
    // Codes the protocol between Perimeter and its client gives a meaning (a header mismatch, a
    // missing capability, an unsupported revision, a URL to open) are not the upstream's to send.
    const code = PROTOCOL_ERROR_CODES.has(given) ? ErrorCode.InternalError : given;
    // Redacted whatever mcp.secrets says (an error is no result to withhold), and audited as one.
    const sent = errorText(e).replace(/^(?:MCP error -?\d+: )+/, '');
    // The agent reads an error's message as it reads a result: screened for instructions alike.
    const { scan, injected } = await this.scanShown(sent);
    const hasSecret = scan.blocking.length > 0 || scan.leaks.length > 0;
    // A secret's redaction is made on the message as shown, its hidden characters removed.
    let message = hasSecret ? (scan.redacted as string) : sent;
    if (scan.leaks.length > 0) this.leakAlert(session, request, 'result', scan.leaks, 'Redacted');
    if (scan.blocking.length > 0) this.secretAlert(session, request, 'result', scan.blocking, 'redact');
    const injection = injected.findings;
    if (injection.length > 0) {
      const action = this.options.engine.mcpPromptInjection();
      this.injectionAlert(session, request, injection, action);
      if (action === 'block')
        message = `Perimeter withheld this error's message: it carried text that reads as instructions to the agent (${injectionText(injection)}).`;
      else if (action === 'strip' && !hasSecret) message = injected.stripped as string;
    }
    this.recordResult(session, request, {
      error: message,
      latency_ms: round(performance.now() - started),
      ...(scan.blocking.length > 0 ? { secret_findings: scan.blocking.length } : {}),
      ...(scan.leaks.length > 0 ? { credential_leaks: scan.leaks.length } : {}),
      ...(injection.length > 0 ? { injection_findings: injection.length } : {}),
    });
    return rpcError(code, message);
  }

  /** One `mcp.secret` event per call direction that carried a secret: rule and fingerprint, never the value. */
  private secretAlert(
    session: Session,
    request: McpRequest,
    direction: 'arguments' | 'result',
    findings: readonly string[],
    action: 'block' | 'redact' | 'audit',
  ): void {
    this.record(
      this.withAgent(
        session,
        alertRecord(
          'mcp.secret',
          this.options.context,
          'high',
          `${secretDone(direction, action)}: a secret in the ${direction} of ${request.server}/${request.tool} (${findings.join(', ')}).`,
          { server: request.server, tool: request.tool, direction, action },
        ),
      ),
    );
  }

  /** One `mcp.injection` event per result with text that reads as instructions to the agent. */
  private injectionAlert(
    session: Session,
    request: McpRequest,
    findings: readonly InjectionFinding[],
    action: 'block' | 'strip' | 'flag',
  ): void {
    const isStripped = action === 'strip' && findings.some((f) => f.kind === 'hidden-unicode');
    const done =
      action === 'block' ? 'Withheld' : isStripped ? 'Passed with its hidden characters removed' : 'Passed';
    const isHidden = findings.some((f) => f.kind === 'hidden-unicode' || f.kind === 'unscanned');
    this.record(
      this.withAgent(
        session,
        alertRecord(
          'mcp.injection',
          this.options.context,
          isHidden ? 'high' : 'medium',
          `${done}: the result of ${request.server}/${request.tool} carries text that reads as instructions to the agent (${injectionText(findings)}).`,
          {
            server: request.server,
            tool: request.tool,
            action,
            kinds: [...new Set(findings.map((f) => f.kind))].join(','),
            findings: findings.length,
          },
        ),
      ),
    );
  }

  /**
   * One `credential.leak` event (critical, as the egress proxy's) per call direction that carried
   * a bound credential's real value: the binding's id, never the value.
   */
  private leakAlert(
    session: Session,
    request: McpRequest,
    direction: 'arguments' | 'result',
    credentials: readonly string[],
    done: 'Refused' | 'Withheld' | 'Redacted',
  ): void {
    this.record(
      this.withAgent(
        session,
        alertRecord(
          'credential.leak',
          this.options.context,
          'critical',
          `${done}: the ${direction} of ${request.server}/${request.tool} carry ${leakText(credentials)}; a session only ever holds its placeholder.`,
          { credential: credentials.join(','), server: request.server, tool: request.tool, direction },
        ),
      ),
    );
  }

  // -- the indexes: names, pins, poisoning ---------------------------------------------------------

  /**
   * The index a call (a tool's call, a prompt's get, a resource's read) looks at: rebuilt first when its list
   * changed, an upstream crashed or came back, or the pin store changed (an approval), so a call
   * never runs a definition the index has not seen. It starts no upstream. It waits fully only for
   * the servers the `key` looked for could belong to; the others' listings, if still under way (a
   * starting server's too), only for BYSTANDER_WAIT_MS. A tool's or prompt's name belongs to the
   * servers whose id it starts with, then "__" (only their names can clash with it); a URI to those
   * whose last listings list it or have a template that produces it, and to those listing
   * resources, templates or tools for the first time (isFirstListing; the tool names count in the
   * poisoning check of what is read). redteam-32-3: a read waited for every server, and one that
   * announced a change and never listed held every read for the SDK's 60 s. A server whose new
   * listing would newly claim the URI is not waited for: the read goes as its last listing had
   * it, as it would have had the read come just before the announcement.
   */
  private async current(kind: ListKind, key: string): Promise<ReadonlyMap<string, Entry>> {
    const late = this.late.get(kind);
    // No late server, the common case: nothing is built.
    const isLate =
      late !== undefined && late.size > 0 && [...late].some((id) => this.couldHave(kind, id, key));
    if (isLate || this.stale.has(kind) || this.pinsVersion() !== this.pinsSeen.get(kind))
      await this.refresh(kind, false, {
        waitsFor: (u, listed) =>
          (BY_URI.has(kind) && this.isFirstListing(u, listed)) || this.couldHave(kind, u.id, key),
        ms: BYSTANDER_WAIT_MS,
      });
    return this.index[kind];
  }

  /** Whether `key` (a tool's or prompt's name, or a URI) could belong to the server `id` (current() says how). */
  private couldHave(kind: ListKind, id: string, key: string): boolean {
    return BY_URI.has(kind) ? this.couldRead(id, key) : couldList(id, key);
  }

  /** Whether the server `id`'s last listings list `uri` or have a template that produces it. */
  private couldRead(id: string, uri: string): boolean {
    if (this.readableUris.get(id)?.has(uri) === true) return true;
    return (this.readableTemplates.get(id) ?? []).some((d) => {
      const t = this.templateOf(d);
      return !(t instanceof UriTemplateError) && t.matches(uri);
    });
  }

  /**
   * Lists one kind of every upstream (cached per upstream) and works out what may be shown at all,
   * the same steps for every kind: keys that clash are held (a tool's or prompt's exposed name, a
   * resource's URI, a template's URI template), tool and prompt names must suit clients, a
   * template must be usable; then the definition must match its pin (or be trusted on first use)
   * and be free of poisoning, unless the policy hides it. What the listing changes in the pin store
   * is written at once. What is scanned is scanned first (scanListed), once per definition.
   * `start`: connect upstreams that are down (a listing does; a call's refresh does not).
   * `patience`: whose listings to wait for fully (current() and `listingPatience` say whose).
   *
   * A server left out as late contributes nothing of that kind but its tool names (learnToolNames),
   * and, for a read's wait (couldRead), the URIs and templates it last listed: it announced that
   * its list changed, so what it listed before is no longer its word, and an entry is only ever
   * shown or called as the server lists it now, checked against its pin and the other servers'
   * names. Its entries come back, checked, when its list is in; a call to one of its names, or a
   * read of a URI it last listed, waits for that list meanwhile (current()). `pending` settles,
   * per late server, when its listing ends, listed or failed.
   */
  private async refresh(kind: ListKind, start: boolean, patience: Patience): Promise<Refreshed> {
    this.stale.delete(kind); // a change announced while listing makes it stale again
    try {
      const refreshed = await this.rebuild(kind, start, patience);
      this.listErrors.delete(kind);
      return refreshed;
    } catch (e) {
      // An index not rebuilt is still out of date: the next look tries again, rather than go by
      // the old one (redteam-33-5: a listing that threw left a drifted tool callable).
      this.stale.add(kind);
      const message = `the ${kind} could not be listed: ${errorText(e)}`;
      // Alerted once while it keeps failing the same way: every look tries again, and a client
      // listing in a loop must not fill the audit with one alert per try.
      if (this.listErrors.get(kind) !== message) {
        this.listErrors.set(kind, message);
        this.record(alertRecord('mcp.list-error', this.options.context, 'high', message, { error: message }));
      }
      throw e;
    }
  }

  /** refresh()'s work, which may throw (refresh() then keeps the kind stale). */
  private async rebuild(kind: ListKind, start: boolean, patience: Patience): Promise<Refreshed> {
    let order = this.rebuilds.get(kind);
    if (order === undefined) this.rebuilds.set(kind, (order = { started: 0, inPlace: 0 }));
    const turn = ++order.started;
    const late = new Set<string>();
    const pending = new Map<string, Promise<unknown>>();
    const look = { kind, late, pending, patience };
    const [listed, tools] = await Promise.all([
      this.gather<Definition>((u) => listOf(u, kind, start), kind, look),
      kind === 'tools' ? undefined : this.gather((u) => u.listTools(start), 'tools', look),
    ]);
    const names = tools ?? (listed as Map<string, Tool[]>);
    this.learnToolNames(names, late);
    const hidden = this.hiddenByPolicy(kind, listed);
    await this.scanListed(kind, listed, hidden);
    // Learned again: another look may have learned other lists while this one's were scanned.
    this.learnToolNames(names, late);
    const unlisted = this.upstreams.filter((u) => !listed.has(u.id)).map((u) => u.id);
    // Audited apart from the late ones (upstreams_late); a late server's templates still read
    // nothing meanwhile (unlistedResources): its resources are not known as it lists them now.
    const unavailable = unlisted.filter((id) => !late.has(id));
    // A name is the one the agent sees (a secret in it redacted: then it breaks the client rule and
    // is held). A URI or URI template stays as listed: what two servers list clashes, and shadows
    // a template, whatever either shows; a read by the redacted URI finds it too (shownUris).
    const raw = [...listed].flatMap(([server, definitions]) =>
      definitions.map((definition) => {
        const listing = this.listingScan(definition);
        return {
          server,
          name: listing.shown.name,
          definition,
          listing,
          key: keyOf(kind, server, BY_URI.has(kind) ? definition : listing.shown),
        };
      }),
    );
    const clashes = collisions(raw, (r) => r.key);
    const view = this.pinView();
    const out: ListingOutput = { changes: [], alerts: [], notices: new Map() };
    const { changes, alerts, notices } = out;
    const entries: Entry[] = [];
    for (const r of raw) {
      // What the policy hides is neither checked against its pin nor scanned for poisoning
      // (redteam-37-3: a denied server's 30 MB of tools were, at every listing): nobody is asked to
      // approve what the agent may not use, and what the agent never reads cannot instruct it. It
      // is held all the same, so no call reaches it should the call's decision ever differ from
      // the listing's (it cannot: a call's decision is the listing's, or stricter).
      const hiddenByPolicy = hidden.has(r.definition);
      // Pinning goes first, on the definition as listed: a secret hides a definition, it does
      // not stand in for its drift or poisoning, nor keep a first use from being pinned.
      const held =
        this.nameHold(kind, r.key, r, clashes.get(r.key), notices) ??
        (hiddenByPolicy
          ? HIDDEN_BY_POLICY
          : typeof view === 'string'
            ? `the pin store cannot be read (${view})`
            : this.pinProblem(kind, r.server, r.definition, view, out)) ??
        r.listing.hidden;
      entries.push({
        server: r.server,
        definition: r.definition,
        shown: r.listing.shown,
        key: r.key,
        hiddenByPolicy,
        ...(held !== undefined ? { held } : {}),
      });
    }
    this.auditListingSecrets(kind, raw, listed, alerts);
    // A pin store that cannot be written approves nothing: what this listing would have shown of
    // a server rests on writes (a first-use pin) that did not happen. Only of the servers whose
    // writes failed (redteam-36-2): the others' shown definitions need nothing written, or were.
    const writing = typeof view === 'string' ? undefined : this.writePins(changes, view.version);
    if (writing !== undefined) {
      this.pinWrites.add(writing);
      writing.catch(() => this.pinWrites.delete(writing));
    }
    const unwritten = (await writing) ?? new Map<string, string>();
    const shown = entries.map((e) => {
      const error = unwritten.get(e.server);
      return e.held === undefined && error !== undefined
        ? { ...e, held: `the pin store cannot be written (${error})` }
        : e;
    });
    this.announce(kind, notices);
    for (const a of alerts) if (!isUnwrittenTrust(a, unwritten)) this.record(a);
    if (writing !== undefined) this.pinWrites.delete(writing);
    // Overtaken: a rebuild started later has put its index in place; this look answers its own
    // caller and changes nothing.
    if (turn < order.inPlace) return { entries: shown, unavailable, late, pending };
    order.inPlace = turn;
    if (kind === 'resources')
      this.readableUris = withLate(
        new Map(
          [...listed].map(([server, resources]) => [
            server,
            new Set(
              resources.flatMap((r) => [(r as Resource).uri, (this.listingScan(r).shown as Resource).uri]),
            ),
          ]),
        ),
        this.readableUris,
        late,
      );
    if (kind === 'templates')
      this.readableTemplates = withLate(new Map(listed), this.readableTemplates, late);
    // The pin store changed since this list was last built (an approval, wherever it was made):
    // clients are told when that changed what they may see (resources/list_changed covers
    // templates). Upstream changes are announced as they arrive, and a first listing has no one
    // to tell. What was shown is compared only then: most listings find the store as it was.
    const seen = this.pinsSeen.get(kind);
    const pinsMoved = seen !== undefined && seen !== (typeof view === 'string' ? '' : view.version);
    const before = pinsMoved ? shownKeys(this.index[kind].values()) : undefined;
    // The version this index reflects is the one read at the start. A listing that wrote leaves
    // a newer one, which the next call (or the watch) rebuilds from once: a fresh look here could
    // take in an approval made by another process just after the write, never having read it.
    this.pinsSeen.set(kind, typeof view === 'string' ? this.pinsVersion() : view.version);
    this.index[kind] = new Map(shown.filter((e) => !clashes.has(e.key)).map((e) => [e.key, e]));
    this.late.set(kind, late);
    this.clashing[kind] = shown.filter((e) => clashes.has(e.key));
    if (kind === 'resources') {
      this.shownUris = byShownUri(shown);
      this.unlistedResources = new Set(unlisted);
    }
    if (before !== undefined && shownKeys(this.index[kind].values()) !== before) this.notify(kind);
    return { entries: shown, unavailable, late, pending };
  }

  /** Calls lateListed for `kind` as each late server's listing ends (listed, failed or timed out). */
  private watchLate(kind: ListKind, pending: ReadonlyMap<string, Promise<unknown>>): void {
    for (const ended of pending.values()) void ended.then(() => this.lateListed(kind));
  }

  /**
   * A server's listing that a look went without has ended: the next look rebuilds the index, and
   * where a client was shown the listing without it, the listing is rebuilt now and the clients
   * are told if what they may see changed. One that failed or timed out is asked again by that
   * rebuild, LIST_WAIT_MS at most (isFirstListing); still late, it is watched again, so a client is
   * never left believing a listing that went without a server while nobody looks for its list.
   * One rebuild of a kind at a time: what ends meanwhile makes one more once it is done.
   */
  private lateListed(kind: ListKind): void {
    // The kind is stale already: the look that went without the server made it so as its listing ended (gather).
    if (!this.partial.has(kind)) return;
    const running = this.rebuilding.get(kind);
    if (running !== undefined) {
      running.isOwed = true;
      return;
    }
    const run = { isOwed: false };
    this.rebuilding.set(kind, run);
    void this.refresh(kind, false, this.listingPatience)
      .then(
        ({ late, pending }) => {
          const told = this.partial.get(kind);
          if (told === undefined) return; // a client listed whole meanwhile
          const isChanged = shownKeys(this.index[kind].values()) !== told;
          // Told, the client lists again; unchanged, it waits for the servers still late, if any.
          if (isChanged || late.size === 0) this.partial.delete(kind);
          if (isChanged) this.notify(kind);
          else this.watchLate(kind, pending);
        },
        () => undefined, // audited by refresh()
      )
      .finally(() => {
        this.rebuilding.delete(kind);
        if (run.isOwed) this.lateListed(kind);
      });
  }

  /**
   * Why a name cannot be shown: two (server, name) pairs that come out the same (both are held);
   * for tools and prompts, a name outside the client rule; for a resource template, a template
   * that cannot be matched. The hold is audited once.
   */
  private nameHold(
    kind: ListKind,
    key: string,
    r: NamedEntry & { readonly definition: Definition },
    clash: readonly NamedEntry[] | undefined,
    notices: Map<string, () => AuditRecord>,
  ): string | undefined {
    const what = kind === 'resources' ? 'URI' : kind === 'templates' ? 'URI template' : 'name';
    const template = kind === 'templates' ? this.templateOf(r.definition) : undefined;
    const problem = clash
      ? `the ${what} ${key} is produced by ${clash.map((c) => `${c.server}/${c.name}`).join(' and ')}; rename one server id`
      : template instanceof UriTemplateError
        ? `its URI template cannot be used: ${template.message}`
        : BY_URI.has(kind)
          ? undefined
          : nameProblem(r.server, r.name);
    if (problem === undefined) return undefined;
    // Redacted where the reason is made: it travels to audit events (`held: …` of a call). Names
    // and keys are redacted already unless audit mode lets a listing's secrets through.
    const reason = this.redactedText(problem);
    notices.set(`${r.server}\0${r.name}\0${key}\0${reason}`, () =>
      alertRecord(
        'mcp.name-held',
        this.options.context,
        'medium',
        `${r.server}/${this.redactedText(r.name)}: ${reason}; hidden`,
        { server: r.server, [SINGULAR[kind]]: this.redactedText(BY_URI.has(kind) ? key : r.name) },
      ),
    );
    return reason;
  }

  /** Records the notices of one listing that the last listing of the same kind did not already record. */
  private announce(kind: ListKind, notices: ReadonlyMap<string, () => AuditRecord>): void {
    const before = this.announced.get(kind);
    for (const [id, make] of notices) if (!before?.has(id)) this.record(make());
    this.announced.set(kind, new Set(notices.keys()));
  }

  /** The pin store, read once for a whole listing; its error message when it cannot be read (alerted once). */
  private pinView(): PinView | string {
    try {
      const view = this.options.pins.view();
      this.pinStoreBroken.read = false;
      return view;
    } catch (e) {
      if (!(e instanceof PinStoreError)) throw e;
      this.pinStoreFailed(e, 'read');
      return e.message;
    }
  }

  /**
   * Writes one listing's changes to the pin store (`version`: the one the listing read); returns,
   * for each server whose changes were not written, why. The store refuses one server's changes
   * alone when they would take too much of it (MAX_SERVER_BYTES), alerted once per server and
   * reason, and the same changes are not offered again while the store stays at that version
   * (refusals); a store that cannot be written at all fails every server that had something to
   * write, alerted once (pinStoreFailed). What the listing holds is audited once however often
   * it is held again unwritten (hold()'s notices). The store's lock is waited for on timers
   * (PinStore.applyAsync, up to 5 s while `pins approve` or another gateway writes): every other
   * client is served meanwhile; this listing answers once its changes are written or refused.
   */
  private async writePins(
    changes: readonly PinChange[],
    version: string,
  ): Promise<ReadonlyMap<string, string>> {
    const unwritten = new Map<string, string>();
    const byServer = new Map<string, PinChange[]>();
    for (const c of changes) {
      const theirs = byServer.get(c.server);
      if (theirs === undefined) byServer.set(c.server, [c]);
      else theirs.push(c);
    }
    const asked = new Map<string, string>();
    for (const [server, theirs] of byServer) {
      const signature = `${version}\n${this.changesSignature(theirs)}`;
      const was = this.refusals.get(server);
      if (was?.signature === signature) unwritten.set(server, was.error);
      else asked.set(server, signature);
    }
    if (asked.size === 0) return unwritten;
    let refused: ReadonlyMap<string, string>;
    try {
      refused = (await this.options.pins.applyAsync(changes.filter((c) => asked.has(c.server)))).refused;
      this.pinStoreBroken.write = false;
    } catch (e) {
      if (!(e instanceof PinStoreError) && !isFileError(e)) throw e;
      const error = e instanceof PinStoreError ? e : new PinStoreError(errorText(e));
      this.pinStoreFailed(error, 'write');
      for (const server of asked.keys()) unwritten.set(server, error.message);
      return unwritten;
    }
    for (const [server, signature] of asked) {
      const error = refused.get(server);
      if (error === undefined) {
        this.refusals.delete(server);
        continue;
      }
      if (this.refusals.get(server)?.error !== error)
        this.record(
          alertRecord('mcp.pin-store-error', this.options.context, 'high', `${server}: ${error}`, {
            server,
            error,
          }),
        );
      this.refusals.set(server, { error, signature });
      unwritten.set(server, error);
    }
    return unwritten;
  }

  /**
   * One server's changes of a listing as text, such that the same text makes the same changes to
   * the same pin store: what they would write, with a held entry named by its object (hold()
   * makes one per definition object and reason, and its contents, a definition up to 256 KiB
   * and its diff, are not written out for this) and its time left out.
   */
  private changesSignature(changes: readonly PinChange[]): string {
    const id = (o: object): number => {
      let n = this.objectIds.get(o);
      if (n === undefined) this.objectIds.set(o, (n = ++this.objectCount));
      return n;
    };
    return JSON.stringify(
      changes.map((c) => {
        switch (c.op) {
          case 'trust':
            return [c.op, c.key, c.hash, c.label ?? null];
          case 'remember':
            // Its definition is the pinned part of a definition of that hash, or none.
            return [c.op, c.key, c.known.hash, c.known.definition !== undefined];
          case 'hold':
            return [c.op, c.key, id(c.held)];
          case 'release':
            return [c.op, c.key];
        }
      }),
    );
  }

  /** The pin store's version now, or '' when it cannot be looked at. */
  private pinsVersion(): string {
    try {
      return this.options.pins.version();
    } catch {
      return '';
    }
  }

  private pinStoreFailed(e: PinStoreError, doing: 'read' | 'write'): void {
    if (this.pinStoreBroken[doing]) return;
    this.pinStoreBroken[doing] = true;
    this.record(
      alertRecord('mcp.pin-store-error', this.options.context, 'high', e.message, { error: e.message }),
    );
  }

  /**
   * Why a definition may not be shown yet (drift, a new definition waiting for approval,
   * poisoning), or undefined. What the pin store must change and what the audit must say go into
   * `out`, for the end of the listing; only when the view read at its start says so, so a listing
   * that changes nothing writes nothing.
   */
  private pinProblem(
    kind: ListKind,
    server: string,
    definition: Definition,
    view: PinView,
    out: ListingOutput,
  ): string | undefined {
    const { changes, alerts } = out;
    const record = definition as unknown as Record<string, unknown>;
    const key = pinKey(kind, record);
    const { hash, bytes } = this.digestOf(kind, definition);
    // redteam-36-2: a definition larger than the pin store keeps of one is kept by its hash alone.
    const isTooLarge = bytes > MAX_DEFINITION_BYTES;
    const policyPin = this.catalog.get(server)?.pins.get(key);
    const storePin = policyPin === undefined ? view.approved[server]?.[key] : undefined;
    const pinned = policyPin ?? storePin?.hash;
    const findings = this.findingsFor(server, definition);
    const held = { kind, server, definition, key, hash, bytes, previous: pinned, view, out };
    // An explicit approval of this exact definition (policy pin, or a person with `pins approve`)
    // outranks the poisoning heuristics: someone read it. Trust on first use never does. Nor does
    // an approval vouch for a field the pin does not cover (`_meta`, `icons`): the server may
    // change it at any time without drift.
    const approvedByPerson = pinned === hash && (policyPin !== undefined || storePin?.by === 'user');
    const standing = approvedByPerson ? findings.filter((f) => !isPinnedField(kind, f.where)) : findings;
    if (standing.length > 0)
      return this.hold(
        held,
        `quarantined: ${standing.map((f) => `${f.kind} in ${f.where}`).join('; ')}${
          approvedByPerson ? ' (a field no pin covers, which an approval cannot vouch for)' : ''
        }`,
        'mcp.quarantine',
      );
    if (pinned === hash) {
      if (storePin?.by === 'user' && storePin.at >= this.startedAt)
        this.recordApproval(kind, server, definition, key, storePin, alerts);
      if (view.pending[server]?.[key] !== undefined) changes.push({ op: 'release', server, key });
      if (view.known[server]?.[key]?.hash !== hash)
        changes.push({ op: 'remember', server, key, known: this.knownOf(kind, record, hash, isTooLarge) });
      return undefined;
    }
    if (pinned !== undefined)
      return this.hold(
        held,
        policyPin !== undefined ? 'differs from the policy pin' : 'differs from its approved pin',
        'mcp.drift',
      );
    // Too large to pin: never trusted on first use, held for a person, who approves it by its hash.
    if (isTooLarge)
      return this.hold(
        { ...held, previous: undefined },
        `too large to pin: ${tooLargeText(bytes)}`,
        `mcp.${SINGULAR[kind]}-held`,
      );
    if (this.options.engine.mcpPinning() === 'tofu') {
      changes.push(
        { op: 'trust', server, key, hash, ...this.pinLabel(key) },
        { op: 'remember', server, key, known: this.knownOf(kind, record, hash, false) },
      );
      alerts.push(
        lifecycleRecord('mcp.pin', this.options.context, {
          server,
          [SINGULAR[kind]]: this.auditedLabel(kind, definition),
          hash,
          by: 'tofu',
        }),
      );
      return undefined;
    }
    return this.hold(
      { ...held, previous: undefined },
      `new ${SINGULAR[kind]} waiting for approval`,
      `mcp.${SINGULAR[kind]}-held`,
    );
  }

  /**
   * What the pin store keeps of a definition that matched its pin, for the diff of a later drift:
   * its pinned part (what a diff compares), or its hash alone when that is too large to keep.
   */
  private knownOf(
    kind: ListKind,
    record: Record<string, unknown>,
    hash: string,
    isTooLarge: boolean,
  ): KnownDefinition {
    return isTooLarge ? { hash } : { hash, definition: pinnedPart(record, kind) };
  }

  /** An approval made while the gateway runs, into the audit once: what, by whom, when. */
  private recordApproval(
    kind: ListKind,
    server: string,
    definition: Definition,
    key: string,
    pin: ApprovedPin,
    alerts: AuditRecord[],
  ): void {
    const id = JSON.stringify([server, key, pin.hash, pin.at]);
    if (this.approvalsRecorded.has(id)) return;
    this.approvalsRecorded.add(id);
    alerts.push(
      lifecycleRecord('mcp.pin', this.options.context, {
        server,
        [SINGULAR[kind]]: this.auditedLabel(kind, definition),
        hash: pin.hash,
        by: 'user',
        ...(pin.user !== undefined ? { user: this.redactedText(pin.user) } : {}),
        approved_at: pin.at,
      }),
    );
  }

  /** Holds a definition back: kept in the pin store with what changed, audited once per definition and reason. */
  private hold(
    h: {
      readonly kind: ListKind;
      readonly server: string;
      readonly definition: Definition;
      readonly key: string;
      readonly hash: string;
      /** The size of its canonical pinned part: over MAX_DEFINITION_BYTES, it is not kept. */
      readonly bytes: number;
      /** The pinned hash it differs from (none for a definition never approved). */
      readonly previous: string | undefined;
      readonly view: PinView;
      readonly out: ListingOutput;
    },
    why: string,
    type: string,
  ): string {
    const { kind, server, key, hash, bytes, previous, view } = h;
    // What is held is printed by `pins list`, which cannot know the bound credentials' values:
    // the reason, the diff, the definition and the key are kept as this scan redacts them.
    const work = this.workOf(h.definition);
    if (work.heldFor?.why !== why) work.heldFor = { why, reason: this.redactedText(why) };
    const { reason } = work.heldFor;
    const was = view.pending[server]?.[key];
    // Held already, exactly so: nothing to write, nothing new to say.
    if (was?.hash === hash && was.reason === reason) return reason;
    const definition = h.definition as unknown as Record<string, unknown>;
    const known = view.known[server]?.[key];
    const shown = this.pinLabel(key);
    const against = JSON.stringify([
      kind,
      type,
      reason,
      previous,
      known?.hash,
      known?.definition !== undefined,
      shown,
    ]);
    let made = work.hold;
    if (made?.against !== against) {
      const diff =
        previous !== undefined && known?.hash !== previous
          ? ['differs from the pinned hash (the pinned definition itself is not on record here)']
          : previous !== undefined && known?.definition === undefined
            ? ['differs from the pinned hash (the pinned definition was too large to keep)']
            : definitionDiff(known?.definition, definition, kind).map((line) => this.redactedText(line));
      // Too large to keep (redteam-36-2): held by its hash, the definition left out, and why.
      const kept =
        bytes > MAX_DEFINITION_BYTES
          ? { omitted: tooLargeText(bytes) }
          : { definition: this.secretsOf(h.definition).redacted as Record<string, unknown> };
      made = {
        against,
        diff,
        held: {
          hash,
          ...kept,
          ...(type === 'mcp.quarantine' ? { quarantined: true } : {}),
          seenAt: new Date().toISOString(),
          ...(previous !== undefined ? { previous } : {}),
          reason,
          diff,
          ...shown,
        },
      };
      work.hold = made;
    }
    const { diff } = made;
    h.out.changes.push({ op: 'hold', server, key, held: made.held });
    // A notice: a hold the pin store did not write (a server past its share, a store that cannot
    // be written) comes again at every listing, and is audited once.
    h.out.notices.set(JSON.stringify(['held', server, key, hash, against]), () => {
      const label = this.auditedLabel(kind, h.definition);
      return alertRecord(
        type,
        this.options.context,
        type === 'mcp.drift' || type === 'mcp.quarantine' ? 'high' : 'low',
        `${server}/${label}: ${reason}; hidden until approved (${approveCommand(server, key, hash, () => shown.label ?? key)})`,
        {
          server,
          [SINGULAR[kind]]: label,
          hash,
          ...(previous !== undefined ? { pinned: previous } : {}),
          diff: auditedDiff(diff),
        },
      );
    });
    return reason;
  }

  /** definitionDigest (the hash, and the size of what it hashes), once per definition (workOf). */
  private digestOf(
    kind: ListKind,
    definition: Definition,
  ): { readonly hash: string; readonly bytes: number } {
    const work = this.workOf(definition);
    work.digest ??= definitionDigest(definition, kind);
    return work.digest;
  }

  /**
   * What is worked out once for a definition (DefinitionWork): its object's, else what `known`
   * (its server's last listing of its kind, by content) has for the same content, else new.
   */
  private workOf(definition: Definition, known?: ReadonlyMap<string, DefinitionWork>): DefinitionWork {
    let work = this.works.get(definition);
    if (work === undefined) {
      const json = JSON.stringify(definition);
      const content = createHash('sha256').update(json).digest('base64');
      work = known?.get(content) ?? { content, size: json.length };
      this.works.set(definition, work);
    }
    return work;
  }

  /** The listed definitions the policy hides from the agent (its listing decision is deny). */
  private hiddenByPolicy(
    kind: ListKind,
    listed: ReadonlyMap<string, readonly Definition[]>,
  ): Set<Definition> {
    const hidden = new Set<Definition>();
    for (const [server, definitions] of listed)
      for (const d of definitions)
        if (this.decide(listRequest(kind, server, d)).decision === 'deny') hidden.add(d);
    return hidden;
  }

  /**
   * Scans what a listing holds that no listing held before (by content: workOf), before the
   * listing is checked (which then finds every scan done): each definition's secret scan, and but
   * for what the policy hides, its poisoning scan and its pin's digest. The scan pool scans them on
   * its worker when they are large together (redteam-37-3: a listing's 30 MB held the gateway's
   * thread 13 s, every client's pings waiting), here when they are small. Scans already under way
   * for another look are waited for, not made again.
   */
  private async scanListed(
    kind: ListKind,
    listed: ReadonlyMap<string, readonly Definition[]>,
    hidden: ReadonlySet<Definition>,
  ): Promise<void> {
    const todo: { readonly work: DefinitionWork; readonly job: DefinitionJob; readonly names?: number }[] =
      [];
    const underWay = new Set<Promise<unknown>>();
    const byContent = this.worksByContent[kind];
    let hashed = 0;
    for (const [server, definitions] of listed) {
      const before = byContent.get(server);
      const now = new Map<string, DefinitionWork>();
      for (const definition of definitions) {
        const isNew = !this.works.has(definition);
        const work = this.workOf(definition, before);
        now.set(work.content, work);
        // Hashing is linear too (some 200 ms for 30 MB): other requests are served in between.
        if (isNew && (hashed += work.size) >= HASHED_AT_ONCE) {
          hashed = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (work.scanning !== undefined) {
          underWay.add(work.scanning);
          continue;
        }
        const others = hidden.has(definition) ? undefined : this.othersOf(server);
        const job: DefinitionJob = {
          definition,
          isSecretScanned: work.secrets === undefined,
          ...(others !== undefined && work.digest === undefined ? { digestOf: kind } : {}),
          ...(others !== undefined && work.poisoning?.names !== others.generation
            ? { others: others.names }
            : {}),
        };
        if (job.isSecretScanned || job.digestOf !== undefined || job.others !== undefined)
          todo.push({ work, job, ...(job.others !== undefined ? { names: others?.generation } : {}) });
      }
      byContent.set(server, now);
    }
    if (todo.length > 0) {
      const scanning = this.scanner
        .scanDefinitions(
          todo.map((t) => t.job),
          todo.map((t) => t.work.size),
        )
        .then((scans) =>
          scans.forEach((scan, i) => {
            const { work, names } = todo[i] as (typeof todo)[number];
            if (scan.secrets !== undefined) work.secrets = scan.secrets;
            if (scan.digest !== undefined) work.digest = scan.digest;
            if (scan.findings !== undefined && names !== undefined)
              work.poisoning = { names, findings: scan.findings };
          }),
        );
      for (const { work } of todo) work.scanning = scanning;
      try {
        await scanning;
      } finally {
        for (const { work } of todo) if (work.scanning === scanning) delete work.scanning;
      }
    }
    await Promise.allSettled(underWay);
  }

  /** Remembers which tool names each listed server has: what other servers' descriptions may not mention. */
  private learnToolNames(listed: ReadonlyMap<string, readonly Tool[]>, late: ReadonlySet<string>): void {
    const names = new Map<string, readonly string[]>(
      [...listed].map(([server, tools]) => [server, tools.map((t) => t.name)]),
    );
    // A server left out of a look only because its list is still coming keeps the names it had:
    // a description elsewhere that names one of its tools stays quarantined meanwhile (a server
    // cannot lift that by announcing a change and going quiet).
    const now = withLate(names, this.toolNames, late);
    // The same names as before (nearly every listing, and a look learning again what it learned
    // before its scans): each server's other names stand, not worked out again at every listing.
    if (!isSameNames(now, this.toolNames)) this.othersChecked.clear();
    this.toolNames = now;
  }

  /**
   * The other servers' tool names (plain and exposed), with a generation that changes when they do.
   * Only names a client accepts: a tool it refuses is never shown, so a description naming it
   * points the agent at nothing, while 10,000 such names (anything but one word) cost the mention
   * search a regular expression each time the names change (redteam-35-5).
   */
  private othersOf(server: string): { names: ReadonlySet<string>; generation: number } {
    const last = this.others.get(server);
    if (last && this.othersChecked.has(server)) return last;
    const names = new Set<string>();
    for (const [other, tools] of this.toolNames) {
      if (other === server) continue;
      for (const name of tools)
        if (nameProblem(other, name) === undefined) names.add(name).add(exposedName(other, name));
    }
    const signature = [...names].sort().join('\n');
    const now = last?.signature === signature ? last : { signature, names, generation: ++this.generations };
    this.others.set(server, now);
    this.othersChecked.add(server);
    return now;
  }

  /**
   * Poisoning findings for one definition (tool, prompt or resource). The scan of a definition
   * object is kept while the other servers' tool names stay the same: the cross-server check
   * depends on them, so a server that appears or changes its tools has every definition scanned again.
   */
  private findingsFor(server: string, definition: Definition): readonly PoisoningFinding[] {
    const others = this.othersOf(server);
    const work = this.workOf(definition);
    if (work.poisoning?.names === others.generation) return work.poisoning.findings;
    const findings = scanDefinition(definition, { names: others.names });
    work.poisoning = { names: others.generation, findings };
    return findings;
  }

  /**
   * The secret scan of one listed definition (scanned once per definition: secretsOf), with what the policy's
   * `mcp.secrets` makes of it, as of a result: `block` hides a definition that carries a secret or
   * a bound credential's value, `redact` shows it with each replaced, audit mode shows it as
   * listed but for a bound credential's value. Every string is scanned, `_meta` included: the
   * agent receives it all. Hidden, it is still known by its redacted form, so no name or URI in a
   * hold's reason or event carries the secret.
   *
   * Pins, drift and poisoning stay on the definition as the server listed it, never on what is
   * shown: a pin names what the server sends (a policy pin is computed from it), and a hash over
   * the redacted form would change with `mcp.secrets` and audit mode, and with every detector
   * update (the marker names the rule), each turning every such definition into a drift.
   */
  private listingScan(definition: Definition): ListingScan {
    let listing = this.listingScans.get(definition);
    if (listing === undefined) {
      listing = this.listingVerdict(definition, this.secretsOf(definition));
      this.listingScans.set(definition, listing);
    }
    return listing;
  }

  /** The secret scan of a listed definition, once per definition (workOf; scanListed makes most). */
  private secretsOf(definition: Definition): SecretScan {
    const work = this.workOf(definition);
    work.secrets ??= keptScan(this.scan(definition));
    return scanOf(work.secrets, definition);
  }

  private listingVerdict(definition: Definition, scan: SecretScan): ListingScan {
    if (scan.blocking.length === 0 && scan.leaks.length === 0) return { shown: definition };
    const action = this.options.engine.mcpSecretsAction();
    // A blocked definition is hidden, and named (held, audited) by its redaction.
    const shown = this.passable(scan, definition, action === 'block' ? 'redact' : action) as Definition;
    return action === 'block'
      ? { found: scan, shown, hidden: `its definition carries ${carriedText(scan)}` }
      : { found: scan, shown };
  }

  /**
   * The audit of the secrets in one listing, direction `listing`: one `mcp.secret` event per
   * definition and rule found in it, and one `credential.leak` per definition that carries a bound
   * credential's value; rule and fingerprint, never the value. Each once per definition hash and
   * finding, not at every listing.
   */
  private auditListingSecrets(
    kind: ListKind,
    raw: readonly {
      readonly server: string;
      readonly definition: Definition;
      readonly listing: ListingScan;
    }[],
    listed: ReadonlyMap<string, unknown>,
    alerts: AuditRecord[],
  ): void {
    const before = this.secretsAnnounced.get(kind) ?? new Map<string, ReadonlySet<string>>();
    const now = new Map<string, ReadonlySet<string>>([...before].filter(([server]) => !listed.has(server)));
    const action = this.options.engine.mcpSecretsAction();
    for (const server of listed.keys()) now.set(server, new Set());
    for (const { server, definition, listing } of raw) {
      const scan = listing.found;
      if (scan === undefined) continue;
      const { hash } = this.digestOf(kind, definition);
      const ids = now.get(server) as Set<string>;
      // Made only when the event is new: the label is scanned again to redact it.
      const once = (
        id: string,
        make: (label: string, outcome: Record<string, string>) => AuditRecord,
      ): void => {
        ids.add(id);
        if (before.get(server)?.has(id)) return;
        const label = this.auditedLabel(kind, definition);
        alerts.push(make(label, { server, [SINGULAR[kind]]: label, direction: 'listing' }));
      };
      for (const [rule, found] of findingsByRule(scan))
        once(`${hash}\0${rule}\0${found.join('\0')}`, (label, outcome) =>
          alertRecord(
            'mcp.secret',
            this.options.context,
            'high',
            `${secretDone('listing', action)}: a secret in the listing of ${server}/${label} (${found.join(', ')}).`,
            { ...outcome, action, hash },
          ),
        );
      if (scan.leaks.length > 0)
        once(`${hash}\0credential\0${scan.leaks.join('\0')}`, (label, outcome) =>
          alertRecord(
            'credential.leak',
            this.options.context,
            'critical',
            `${action === 'block' ? 'Hidden' : 'Redacted'}: the listing of ${server}/${label} carries ${leakText(scan.leaks)}.`,
            { ...outcome, credential: scan.leaks.join(',') },
          ),
        );
    }
    this.secretsAnnounced.set(kind, now);
  }

  // -- helpers -------------------------------------------------------------------------------------

  /** The secret scan, with the bound credentials' values. */
  private scan(value: unknown): SecretScan {
    return scanValue(value, this.scanner.matcher);
  }

  /**
   * The secret scan of arguments, a result or an error as a reader takes them, their hidden
   * characters removed first (redteam-34-1): a key cut by a zero-width space or a bidi control is
   * no key to the rules, but is one to the agent or the server reading it, and `promptInjection:
   * strip` would remove the cut and pass the key whole. `injected` is the instruction screen's
   * scan of the value as it came (which found its hidden characters), for the caller to reuse.
   */
  private scanShown(value: unknown): Promise<ShownScan> {
    return this.scanner.scan(value);
  }

  /** scanShown() of a request's arguments, which are stripped for the scan but not screened. */
  private async scanArguments(args: unknown): Promise<SecretScan> {
    return (await this.scanner.scan(args, true)).scan;
  }

  private redactedText(text: string): string {
    return this.scan(text).redacted as string;
  }

  /** A pin key's label for `pins list` (PinStore's shownKey), where this scan (which knows the bound values) changes the key. */
  private pinLabel(key: string): { readonly label?: string } {
    const label = this.redactedText(key);
    return label !== key ? { label } : {};
  }

  /** A definition's name, URI or URI template for an audit event: a URI may hold a password (`postgres://app:…@db/…`). */
  private auditedLabel(kind: ListKind, definition: Definition): string {
    return this.redactedText(labelOf(kind, definition));
  }

  /** An upstream's lifecycle detail for the audit: its text (a crash reason is the server's stderr) redacted, then shortened. */
  private redactedDetail(
    detail: Readonly<Record<string, string | number | boolean>>,
  ): Record<string, string | number | boolean> {
    const out: Record<string, string | number | boolean> = {};
    for (const [key, value] of Object.entries(detail))
      out[key] = typeof value === 'string' ? this.redactedText(value).slice(0, DETAIL_MAX) : value;
    return out;
  }

  /**
   * What the audit keeps of a request: its arguments as the secret scan left them (keys included),
   * and its name redacted too when it may hold a secret: a name the agent chose, or one whose
   * listing the scan found something in (audit mode lists it as it is). A listed definition the
   * scan found clean is not scanned again on every call.
   */
  private audited(request: McpRequest, scan: SecretScan, listed?: Definition): McpRequest {
    const isClean = listed !== undefined && this.listingScan(listed).found === undefined;
    return {
      ...request,
      tool: isClean ? request.tool : this.redactedText(request.tool),
      args: scan.redacted as Record<string, unknown>,
    };
  }

  /**
   * Records a request for what the agent is not shown: unknown (`notExposed` says why), held, or
   * hidden by the policy (held as such, never checked against a pin), where the policy's denial
   * says why better than a hold nobody is asked to lift.
   */
  private recordNotShown(
    session: Session,
    entry: Entry | undefined,
    request: McpRequest,
    audited: McpRequest,
    scan: SecretScan,
    notExposed: string,
  ): void {
    const decision = entry?.hiddenByPolicy === true ? this.decide(request, audited) : undefined;
    if (decision?.decision === 'deny') this.recordCall(session, audited, decision, undefined, scan);
    else
      this.recordCall(
        session,
        audited,
        undefined,
        entry === undefined ? notExposed : `held: ${entry.held}`,
        scan,
      );
  }

  /** The policy's decision; `audited` is what a denial made here says (a policy that cannot decide denies). */
  private decide(request: McpRequest, audited: McpRequest = request): Decision {
    try {
      return this.options.engine.decide(request);
    } catch (e) {
      // A policy that cannot decide denies (DESIGN.md: fail closed).
      return gatewayDenial(audited, `the policy could not decide: ${errorText(e)}`);
    }
  }

  /**
   * Asks the user whether `request` may go ahead, as its client's era allows. A 2025-era client is
   * asked with elicitation/create while the request waits. A 2026-07-28 client is handed the
   * question (input_required, with state naming this question) and retries the request with the
   * answer; the answer counts only with state Perimeter issued for this very call (method, server,
   * tool, action and canonical arguments), once, before it lapses. Anything else (no state, a
   * stale, forged or reused one, another call's) asks again, and the audit says so. The era is the
   * server's (what initialize or the request's revision settled), never what a request's `_meta`
   * claims: a 2025-era request carrying an envelope is still asked the 2025 way.
   */
  private async ask(session: Session, request: McpRequest, message: string): Promise<Answer> {
    const { request: r, server } = session;
    if (!isModernEra(server)) {
      if (!server.getClientCapabilities()?.elicitation)
        return { denied: 'denied: the client cannot ask its user (no elicitation)' };
      try {
        // Sent as part of the request (relatedRequestId): over Streamable HTTP the question
        // travels on that request's own answer stream.
        const answer = await server.elicitInput(
          { message, requestedSchema: ASK_SCHEMA },
          { relatedRequestId: r.id },
        );
        return verdict(answer.action, answer.content);
      } catch (e) {
        return { denied: `denied: asking failed (${errorText(e)})` };
      }
    }
    const call = canonicalJson([r.method, request.server, request.tool, request.action, request.args ?? {}]);
    // Lapsed questions go; the same call still waiting is asked again with its open state, so a
    // client that retries without answering does not fill the table.
    const now = Date.now();
    let open: string | undefined;
    for (const [issued, q] of this.questions)
      if (q.expires <= now) this.questions.delete(issued);
      else if (q.call === call) open = issued;
    const state = r.requestState();
    const asked = typeof state === 'string' ? this.questions.get(state) : undefined;
    if (asked !== undefined && asked.call === call) {
      const answer = inputResponse(r.inputResponses, 'allow');
      if (answer.kind === 'elicit') {
        this.questions.delete(state as string);
        return verdict(answer.action, answer.content);
      }
    }
    if (!((r.envelope ?? {}) as Envelope)[CLIENT_CAPABILITIES_META_KEY]?.elicitation)
      return { denied: 'denied: the client cannot ask its user (no elicitation)' };
    const why =
      state === undefined
        ? 'ask: the user is asked (input_required)'
        : asked === undefined
          ? 'ask: the request state is not one Perimeter has open (unknown, used or lapsed); the user is asked again (input_required)'
          : asked.call !== call
            ? 'ask: the request state was issued for another call; the user is asked again (input_required)'
            : 'ask: the retry carries no answer; the user is asked again (input_required)';
    if (open !== undefined) return { question: askResult(message, open), why };
    // Full: the new question is refused rather than an older one forgotten, so a flood of asks
    // cannot push out the question a user is reading.
    if (this.questions.size >= QUESTIONS_MAX)
      return {
        denied: `denied: ${QUESTIONS_MAX} questions already wait for an answer; answer them or let them lapse`,
      };
    const issued = randomBytes(18).toString('base64url');
    this.questions.set(issued, { call, expires: now + QUESTION_TTL_MS });
    return { question: askResult(message, issued), why };
  }

  /**
   * Whether `u` lists `kind` for the first time: no listing of it has ended, and the server is up
   * or in its very first start. One whose start failed or timed out, or one restarting, is not
   * waited for fully again (a server that never answered its handshake held every listing for its
   * whole start timeout, at each restart); the clients are told when it comes up.
   */
  private isFirstListing(u: Upstream, kind: ListKind): boolean {
    return !this.hasListed[kind].has(u.id) && (u.isReady || u.isFirstStart);
  }

  private upstream(id: string): Upstream {
    const u = this.upstreams.find((x) => x.id === id);
    if (!u) throw new McpError(ErrorCode.InternalError, `no upstream ${id}`);
    return u;
  }

  /**
   * Each upstream's list of `listed`, by server id; an unavailable upstream is left out (and
   * audited by Upstream). Whether a server's listing has ended is kept (hasListed): it decides how
   * long the next look waits for that server. An upstream whose listing takes longer than the
   * look's patience gives it (its time, or for one it waits for fully twice the server's start
   * timeout) is left out too, counted in `late`; its listing goes on (cached for the next look),
   * and when it ends the look's kind is made stale and `pending` has settled (a client's listing
   * rebuilds then: lateListed).
   */
  private async gather<T>(
    list: (u: Upstream) => Promise<T[]>,
    listed: ListKind,
    look: {
      readonly kind: ListKind;
      readonly late: Set<string>;
      readonly pending: Map<string, Promise<unknown>>;
      readonly patience: Patience;
    },
  ): Promise<Map<string, T[]>> {
    const waited = async (u: Upstream): Promise<T[]> => {
      // Asked before the listing starts: a listing may start the server.
      const isWaited = look.patience.waitsFor(u, listed);
      const listing = list(u);
      // A server down is not a failed listing: it is waited for as it starts again.
      const ended = listing.then(
        () => void this.hasListed[listed].add(u.id),
        (e: unknown) => void (e instanceof UpstreamUnavailable || this.hasListed[listed].add(u.id)),
      );
      // Waited for fully, a listing still has an end: its server's start and as long again for the
      // listing (redteam-33-6: a server answering each page of its first list in 59 s held every
      // listing for the SDK's 60 s a page); then it is not waited for fully again.
      const ms = isWaited ? 2 * u.startTimeoutMs : look.patience.ms;
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      });
      const first = await Promise.race([listing, gaveUp]).finally(() => clearTimeout(timer));
      if (first !== undefined) return first;
      if (isWaited) this.hasListed[listed].add(u.id);
      look.late.add(u.id);
      const stale = ended.then(() => void this.stale.add(look.kind));
      look.pending.set(u.id, Promise.all([look.pending.get(u.id), stale]));
      throw new UpstreamUnavailable(`the MCP server ${u.id} has not listed yet`);
    };
    const settled = await Promise.allSettled(
      this.upstreams.map(async (u) => [u.id, await waited(u)] as const),
    );
    const out = new Map<string, T[]>();
    for (const s of settled) if (s.status === 'fulfilled') out.set(s.value[0], s.value[1]);
    return out;
  }

  /**
   * Tells every client a list changed (resources/list_changed covers templates: MCP has no other),
   * at once unless it was told of that kind within LIST_CHANGED_QUIET_MS; then once when that time
   * is over, however many changes came meanwhile (redteam-32-1).
   */
  private notify(kind: ListKind): void {
    const notice: NoticeKind = kind === 'templates' ? 'resources' : kind;
    const quiet = this.quiet.get(notice);
    if (quiet !== undefined) {
      quiet.isOwed = true;
      return;
    }
    for (const s of this.connections) this.tell(s, notice);
    for (const l of this.listeners)
      if (notice === 'tools') l.toolsChanged();
      else if (notice === 'prompts') l.promptsChanged();
      else l.resourcesChanged();
    const period = {
      isOwed: false,
      timer: setTimeout(() => {
        this.quiet.delete(notice);
        if (period.isOwed) this.notify(notice);
      }, LIST_CHANGED_QUIET_MS),
    };
    period.timer.unref();
    this.quiet.set(notice, period);
  }

  /** Sends one connection a list_changed, or, while one of that kind is on its way to it, owes it one more. */
  private tell(s: Server, notice: NoticeKind): void {
    let sending = this.sending.get(s);
    if (sending === undefined) this.sending.set(s, (sending = new Map<NoticeKind, boolean>()));
    if (sending.has(notice)) {
      sending.set(notice, true);
      return;
    }
    sending.set(notice, false);
    const sent =
      notice === 'tools'
        ? s.sendToolListChanged()
        : notice === 'prompts'
          ? s.sendPromptListChanged()
          : s.sendResourceListChanged();
    void sent
      .catch(() => undefined) // a connection closing: it is told nothing more
      .then(() => {
        const isOwed = sending.get(notice) === true;
        sending.delete(notice);
        if (isOwed && this.connections.has(s)) this.tell(s, notice);
      });
  }

  /** An `mcp.call` event: `request` is the audited copy (its arguments redacted, keys included). */
  private recordCall(
    session: Session | Agent | undefined,
    request: AuditedRequest,
    decision: Decision | undefined,
    note: string | undefined,
    scan: SecretScan,
  ): void {
    const d = decision ?? gatewayDenial(request, note ?? 'unknown');
    const r = decisionRecord(d, request, this.options.context);
    const values = this.options.engine.mcpAuditArguments()
      ? JSON.stringify(request.args ?? {}).slice(0, 2_000)
      : undefined;
    const secrets = scan.blocking.length;
    const leaks = scan.leaks.length;
    const { item, uri } = request;
    // Set in place, not spread into a new record: two of these a call (spreading a record and
    // adding to it cost more than building it).
    if (note !== undefined && decision !== undefined) r.reason = `${d.reason}; ${note}`;
    if (values !== undefined || secrets + leaks > 0 || item !== undefined) {
      const outcome: NonNullable<AuditRecord['outcome']> = {};
      if (item !== undefined) outcome.item = item;
      if (uri !== undefined) outcome.uri = uri;
      if (values !== undefined) outcome.arguments = values;
      if (secrets > 0) outcome.secret_findings = secrets;
      if (leaks > 0) outcome.credential_leaks = leaks;
      if (secrets + leaks > 0) outcome.redacted = true;
      r.outcome = outcome;
    }
    this.record(this.withAgent(session, r));
  }

  private recordResult(
    session: Session,
    request: AuditedRequest,
    outcome: Record<string, string | number | boolean>,
  ): void {
    const facts: Record<string, string | number | boolean> = { server: request.server, tool: request.tool };
    if (request.item !== undefined) facts.item = request.item;
    const r = lifecycleRecord('mcp.result', this.options.context, Object.assign(facts, outcome));
    r.category = 'execution';
    this.record(this.withAgent(session, r));
  }

  /**
   * A server's credential put in place (or refused), as the egress proxy records a credential's
   * use: the decision on the secret toward the server, the binding, where the value went; never
   * the value.
   */
  private recordCredential(server: string, c: ServerCredential): void {
    const r = decisionRecord(c.decision, c.request, this.options.context);
    const isGiven = c.decision.decision === 'allow';
    this.record({
      ...r,
      ...(isGiven ? { severity: 'info' as const } : {}),
      outcome: {
        credential: c.binding,
        mcp_server: server,
        ...(isGiven ? { locations: c.location } : {}),
      },
    });
  }

  /** `record` with the client's name and version: a session's, or as a refused request named them. */
  private withAgent(from: Session | Agent | undefined, record: AuditRecord): AuditRecord {
    const agent = from !== undefined && 'server' in from ? agentOf(from) : from;
    if (!agent || !record.session) return record;
    record.session = { id: record.session.id, agent: this.auditedAgent(agent) };
    return record;
  }

  /**
   * The client's name and version as the audit keeps them: the client chose them and nothing
   * checks them but that they are strings, so a secret in them is redacted, half a character
   * replaced, and each is cut to MAX_AGENT_TEXT characters. Only the first AUDITED_TEXT_READ
   * characters of each are read at all (redteam-33-8: a name of 3.9 MB was scanned again at every
   * audit event, 190 ms each, and held every other client's calls). A client names itself the
   * same way on every request: the last few are remembered rather than scanned again.
   */
  private auditedAgent(agent: Agent): Agent {
    const name = agent.name?.slice(0, AUDITED_TEXT_READ);
    const version = agent.version?.slice(0, AUDITED_TEXT_READ);
    const key = JSON.stringify([name, version]);
    const seen = this.agents.get(key);
    if (seen !== undefined) return seen;
    const text = (s: string): string =>
      cut(this.redactedText(s).replace(LONE_SURROGATE, '\uFFFD'), MAX_AGENT_TEXT);
    const audited: Agent = {
      ...(name !== undefined ? { name: text(name) } : {}),
      ...(version !== undefined ? { version: text(version) } : {}),
    };
    if (this.agents.size >= MAX_AGENTS_REMEMBERED) this.agents.clear();
    this.agents.set(key, audited);
    return audited;
  }

  private record(record: AuditRecord): void {
    this.options.audit(record);
  }
}

/**
 * The SDK's Server, closed without a stack trace: a 2026-07-28 request over HTTP gets a server of
 * its own, closed once answered, and the SDK's close makes a "Connection closed" error for the
 * requests still waiting (none, after an answer) whose stack, captured at every close, cost
 * about 35 µs a request. The error still reaches what waits, with its message and code.
 */
class GatewayServer extends Server {
  protected override _onclose(): void {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super._onclose();
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}

/** The first protocol revision without sessions, whose requests each carry the client's envelope. */
const MODERN_REVISION = '2026-07-28';

/**
 * Whether `server` serves this request in the 2026-07-28 era: the revision the SDK settled (at
 * initialize for a 2025-era connection, from the checked request for a 2026-07-28 one). Revisions
 * are dates, so they compare as strings.
 */
function isModernEra(server: Server): boolean {
  const version = server.getNegotiatedProtocolVersion();
  return version !== undefined && version >= MODERN_REVISION;
}

/** A 2026-07-28 question: ask the user to allow, with `state` to come back with. */
function askResult(message: string, state: string): InputRequiredResult {
  return inputRequired({
    inputRequests: { allow: inputRequired.elicit({ message, requestedSchema: ASK_SCHEMA }) },
    requestState: state,
  });
}

/** What the user's answer to an ask comes to: only an accept with `allow: true` approves. */
function verdict(action: string, content: Record<string, unknown> | undefined): Answer {
  if (action !== 'accept') return { denied: `denied by the user (${action})` };
  if (content?.allow === true) return 'approved';
  if (content?.allow === false) return { denied: 'denied by the user (allow: false)' };
  return { denied: 'denied: the answer is neither yes nor no (an accept without a boolean allow)' };
}

/**
 * A tool call, prompt or resource read refused before it was decided: what it names (a tool's or
 * prompt's exposed name, a resource's URI), its arguments, and the client as its envelope names it.
 */
export interface RefusedRequest {
  readonly kind: 'tools' | 'prompts' | 'resources';
  readonly key: string;
  readonly args: Record<string, unknown>;
  readonly agent?: Agent;
}

/** The longest client name or version the audit keeps; a longer one is cut and ends with '…'. */
const MAX_AGENT_TEXT = 128;
/**
 * How much of a text the audit keeps the start of (a client's name or version, a server's method)
 * is read: what is kept, and room past it for a secret that starts inside what is kept (a PEM
 * private key of 4096 bits is about 3.2 KB), so that it is still found whole and redacted.
 */
const AUDITED_TEXT_READ = 8 * 1024;
/** Half of a character outside the BMP, without its other half: not text, shown as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** How many clients' audited names the gateway remembers (it forgets them all when more come). */
const MAX_AGENTS_REMEMBERED = 64;

/**
 * How a server may read `uri` other than as written, or undefined when it reads it as written. A
 * server on the MCP SDK parses the URI it is asked to read (WHATWG URL) before it looks it up,
 * which drops tabs and newlines, trims spaces, lowercases the scheme, resolves dot segments
 * (`%2e%2e` too) and encodes what a URL cannot carry. A URI that does not parse is read as it is,
 * unless it has spaces or control characters, which another server may drop as well.
 */
function otherReading(uri: string): string | undefined {
  let href: string;
  try {
    href = new URL(uri).href;
  } catch {
    return [...uri].some((c) => c <= ' ' || c === '\x7f') ? 'it has spaces or control characters' : undefined;
  }
  return href === uri ? undefined : href;
}

/** The client's name and version, as the audit records them. */
export interface Agent {
  readonly name?: string;
  readonly version?: string;
}

/**
 * The client as it names itself: in each request's envelope (2026-07-28), else at the
 * connection's initialize. Self-reported: audited, never decided on.
 */
function agentOf({ server, request }: Session): Agent | undefined {
  const v = isModernEra(server)
    ? ((request.envelope ?? {}) as Envelope)[CLIENT_INFO_META_KEY]
    : server.getClientVersion();
  return v ? { name: v.name, version: v.version } : undefined;
}

/**
 * What the protocol between Perimeter and its client uses in a result, which no upstream may set:
 * the result's kind (an upstream's `input_required` would have the client ask its user whatever
 * the upstream wrote), cache hints, and the reserved `_meta` keys (the serverInfo stamp names the
 * server the client talks to, which is Perimeter).
 */
const PROTOCOL_FIELDS = ['resultType', 'inputRequests', 'requestState', 'ttlMs', 'cacheScope'];
/** JSON-RPC error codes the MCP protocol itself assigns, which an upstream's error may not carry. */
const PROTOCOL_ERROR_CODES = new Set<number>([
  HEADER_MISMATCH,
  ProtocolErrorCode.MissingRequiredClientCapability,
  ProtocolErrorCode.UnsupportedProtocolVersion,
  ProtocolErrorCode.UrlElicitationRequired,
]);
const RESERVED_META = 'io.modelcontextprotocol/';

/** Whether a poisoning finding's place (`description`, `inputSchema.properties…`, `_meta.note`) is covered by the pin. */
function isPinnedField(kind: ListKind, where: string): boolean {
  if (where === '') return true; // a definition that is itself a string: all of it is hashed
  const field = /^[^.[]*/.exec(where)?.[0] ?? '';
  return PINNED_FIELDS[kind].includes(field);
}

/** An upstream's result without the fields of the protocol Perimeter speaks to its client. */
function ownResult<T extends object>(result: T): T {
  const out: Record<string, unknown> = { ...(result as Record<string, unknown>) };
  for (const key of PROTOCOL_FIELDS) delete out[key];
  const meta = out._meta;
  if (meta !== null && typeof meta === 'object')
    out._meta = Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith(RESERVED_META)));
  return out as T;
}

/** The most argument keys a question names, and how much of each (or of a URI) it shows. */
const KEYS_SHOWN = 10;
const KEY_SHOWN = 40;
const URI_SHOWN = 200;
/** How much of a read's URI its audit events keep. */
const URI_AUDITED = 1024;

/** A request as the audit keeps it, saying what a call was for when it was not a tool's. */
type AuditedRequest = McpRequest & { readonly item?: 'prompt' | 'resource'; readonly uri?: string };

/** Whether a tool or prompt of the upstream `id` could be exposed as `name` (only its names can clash with it). */
const couldList = (id: string, name: string): boolean => name.startsWith(exposedName(id, ''));

/** The most characters of a drift's diff an alert carries (`pins list` shows it whole). */
const DIFF_AUDITED = 1_000;

/**
 * A drift's diff as its alert carries it: whole lines while they fit in DIFF_AUDITED characters,
 * then how many were left out (redteam-34-4: a cut list must not read as a whole one).
 */
function auditedDiff(lines: readonly string[]): string {
  let out = '';
  let kept = 0;
  for (const line of lines) {
    const next = out === '' ? line : `${out}; ${line}`;
    if (next.length > DIFF_AUDITED) break;
    out = next;
    kept++;
  }
  if (kept === 0 && lines.length > 0) {
    out = cut(lines[0] ?? '', DIFF_AUDITED); // one line longer than the whole: its start
    kept = 1;
  }
  const left = lines.length - kept;
  return left === 0
    ? out
    : `${out}; …and ${left} more ${left === 1 ? 'line' : 'lines'} (perimeter mcp pins list)`;
}

/** `text` cut to `max` characters, with "…" when it was longer (never half of a character). */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 2] ?? '') ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/**
 * The argument keys as a question to the user names them: the agent wrote them, so each is quoted
 * (line breaks escaped), cut short and counted, and cannot pass for the question's own words.
 */
function argumentKeys(audited: McpRequest): string {
  const keys = Object.keys(audited.args ?? {});
  if (keys.length === 0) return 'none';
  const shown = keys.slice(0, KEYS_SHOWN).map((k) => quoted(k, KEY_SHOWN));
  return keys.length > KEYS_SHOWN
    ? `${shown.join(', ')} and ${keys.length - KEYS_SHOWN} more`
    : shown.join(', ');
}

/** Text from the agent or a server as a question shows it: hidden characters dropped, at most `max` characters, in JSON quotes. */
function quoted(text: string, max: number): string {
  const visible = withoutHidden(text);
  return JSON.stringify(visible.length > max ? `${visible.slice(0, max)}…` : visible);
}

/** `the real value of credential "a"` (or `of credentials "a", "b"`): what a leak carries. */
function leakText(credentials: readonly string[]): string {
  const names = credentials.map((c) => `"${c}"`).join(', ');
  return `the real value of ${credentials.length === 1 ? 'credential' : 'credentials'} ${names}`;
}

/** What became of a secret, as an `mcp.secret` event says it. */
function secretDone(
  direction: 'arguments' | 'result' | 'listing',
  action: 'block' | 'redact' | 'audit',
): string {
  if (action === 'audit') return 'Seen (audit mode)';
  if (action === 'redact') return 'Redacted';
  return direction === 'result' ? 'Withheld' : direction === 'listing' ? 'Hidden' : 'Refused';
}

/** Why a call was refused before it was made, for the agent. */
function refusedFor(verdict: 'leak' | 'secret' | 'refused', scan: SecretScan, refusal?: string): string {
  if (verdict === 'refused') return refusal ?? 'it would be sent as something else';
  return verdict === 'leak'
    ? `its arguments carry ${leakText(scan.leaks)}, which a session never holds`
    : `its arguments carry a secret (${fewOf(scan.blocking)})`;
}

/** What a withheld result carried, for the agent. */
function carriedText(out: SecretScan): string {
  return [
    ...(out.leaks.length > 0 ? [leakText(out.leaks)] : []),
    ...(out.blocking.length > 0 ? [`a secret (${fewOf(out.blocking)})`] : []),
  ].join(' and ');
}

/** Why a result was withheld, for the agent: its secrets, or its instructions. */
function withheldText({ out, injection }: Screened<unknown>): string {
  // Withheld for its secrets, the screen never ran (no findings); else for its instructions, even
  // when it also carried a secret that `redact` would have replaced.
  const carried =
    injection.length === 0
      ? carriedText(out)
      : `text that reads as instructions to the agent (${injectionText(injection)})`;
  return `Perimeter withheld this result: it carried ${carried}.`;
}

/** `kind in where` for the first few findings of a result's instruction scan. */
function injectionText(findings: readonly InjectionFinding[]): string {
  return fewOf(findings.map((f) => `${f.kind} in ${f.where === '' ? 'the result' : shownPlace(f.where)}`));
}

/**
 * The first five of a list of findings, for the agent: each secret finding carries 8 hex digits of
 * a hash a server can grind, so a result with a thousand made-up keys wrote 8,000 characters of
 * its choosing into the refusal that withheld it (rev35-5). The audit counts them all.
 */
function fewOf(findings: readonly string[]): string {
  const shown = findings.slice(0, 5).join(', ');
  return findings.length > 5 ? `${shown}, … (${findings.length} in all)` : shown;
}

/** The member names MCP gives results, prompts and resources: all of a place the agent is told. */
const PROTOCOL_MEMBERS = new Set([
  'content',
  'structuredContent',
  '_meta',
  'text',
  'resource',
  'resource_link',
  'uri',
  'blob',
  'data',
  'mimeType',
  'type',
  'name',
  'title',
  'description',
  'annotations',
  'messages',
  'role',
  'contents',
]);
/** One step of a place as poisoning.ts's childPath writes it: `.key`, `['odd key']` or `[3]`. */
const PLACE_STEP = /^(?:\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['(?:[^'\\]|\\.)*'\])/;

/**
 * A finding's place as the agent is told it: its steps up to the first member the protocol does
 * not name, then `…` (redteam-35-3). Keys under structured content are the upstream's to choose,
 * and a withheld result's refusal quoted them: 32 characters a key, 64 levels deep, five findings,
 * enough to carry the orders the result was withheld for. The audit says the same (no tool output
 * goes there).
 */
function shownPlace(where: string): string {
  let shown = '';
  let rest = where;
  while (rest !== '') {
    const step = PLACE_STEP.exec(rest);
    if (step === null || (step[2] === undefined && !PROTOCOL_MEMBERS.has(step[1] ?? ''))) return `${shown}…`;
    shown += step[2] !== undefined ? step[0] : shown === '' ? step[1] : `.${step[1]}`;
    rest = rest.slice(step[0].length);
  }
  return shown;
}

/** A result's finding counts for its `mcp.result` event: the scans ran, and what they found. */
function findingCounts({ out, injection }: Screened<unknown>): Record<string, number> {
  return {
    secret_findings: out.blocking.length,
    weak_findings: out.weak,
    ...(out.leaks.length > 0 ? { credential_leaks: out.leaks.length } : {}),
    injection_findings: injection.length,
  };
}

/** A denial the gateway makes before the policy is asked (unknown or held tool) or when it cannot answer. */
function gatewayDenial(request: McpRequest, reason: string): Decision {
  return {
    surface: 'mcp',
    action: request.action ?? 'call',
    resource: `${request.server}/${request.tool}`,
    decision: 'deny',
    wouldDecision: 'deny',
    mode: 'enforce',
    rules: [],
    matched: [],
    code: 'invalid-request',
    reason,
  };
}

function refusal(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
