// The gateway: one MCP endpoint in front of the catalog's upstream servers. Every listing and every
// call goes through the same steps: the upstream's definition must be pinned (or trusted on first
// use) and free of poisoning, the policy decides on the final request (list: server, tool and
// annotations; call: arguments too), secrets are scanned both ways, and each step leaves an audit
// event. A tool the agent may not use and a tool that does not exist fail the same way.

import type { AuditRecord, RecordContext } from '@perimeter/audit';
import { alertRecord, decisionRecord, lifecycleRecord } from '@perimeter/audit';
import type { Decision, Engine, McpCatalogEntry, McpRequest } from '@perimeter/policy';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type CallToolResult,
  type Prompt,
  type Resource,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { definitionDiff, definitionHash } from './definition.js';
import { collisions, exposedName, nameProblem } from './names.js';
import { PinStoreError, type PinStore } from './pins.js';
import { scanDefinition, type PoisoningFinding } from './poisoning.js';
import { scanValue } from './secrets.js';
import { Upstream, UpstreamUnavailable, type ListKind, type UpstreamSpec } from './upstream.js';

export interface GatewayOptions {
  readonly engine: Engine;
  readonly servers: readonly UpstreamSpec[];
  readonly pins: PinStore;
  readonly audit: (record: AuditRecord) => void;
  readonly context: RecordContext;
  readonly version?: string;
}

/** A tool as the gateway knows it. `held` says why the gateway itself hides it (policy aside). */
interface ToolEntry {
  readonly server: string;
  readonly tool: Tool;
  readonly exposed: string;
  readonly held?: string;
}

interface Session {
  readonly server: Server;
  agent(): { name?: string; version?: string } | undefined;
}

/**
 * The answer to a denied and to an unknown tool alike: JSON-RPC invalid params, `Tool NAME not
 * found` on the wire (an McpError would prefix its own "MCP error" text to the message it sends).
 */
function notFound(kind: 'Tool' | 'Prompt' | 'Resource', name: string): Error {
  return Object.assign(new Error(`${kind} ${name} not found`), { code: ErrorCode.InvalidParams });
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
  private readonly sessions = new Set<Session>();
  private index = new Map<string, ToolEntry>();
  private pinStoreBroken = false;
  private readonly poisoning = new Map<string, readonly PoisoningFinding[]>();
  private readonly prompts = new Map<string, { server: string; item: Prompt }>();
  private readonly resources = new Map<string, { server: string; item: Resource }>();

  constructor(private readonly options: GatewayOptions) {
    this.catalog = new Map(options.engine.mcpServers().map((e) => [e.server.id, e]));
    this.upstreams = options.servers.map(
      (spec) =>
        new Upstream(spec, {
          onEvent: (id, event, detail) =>
            this.record(
              lifecycleRecord(`mcp.server.${event}`, this.options.context, { server: id, ...detail }),
            ),
          onListChanged: (_id, kind) => this.notify(kind),
        }),
    );
  }

  /** Connects every upstream at once; one that fails is retried in the background, the others serve. */
  async start(): Promise<void> {
    await Promise.allSettled(this.upstreams.map((u) => u.connect()));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sessions].map((s) => s.server.close()));
    await Promise.allSettled(this.upstreams.map((u) => u.close()));
  }

  /** A downstream MCP server bound to this gateway: one per client connection. */
  createServer(): Server {
    const server = new Server(
      { name: 'perimeter', version: this.options.version ?? '0.1.0' },
      {
        capabilities: {
          tools: { listChanged: true },
          prompts: { listChanged: true },
          resources: { listChanged: true },
        },
      },
    );
    const session: Session = {
      server,
      agent: () => {
        const v = server.getClientVersion();
        return v ? { name: v.name, version: v.version } : undefined;
      },
    };
    this.sessions.add(session);
    server.onclose = () => this.sessions.delete(session);
    server.setRequestHandler(ListToolsRequestSchema, () => this.listTools(session));
    server.setRequestHandler(CallToolRequestSchema, (req, extra) =>
      this.callTool(session, req.params.name, req.params.arguments, extra.signal),
    );
    server.setRequestHandler(ListPromptsRequestSchema, () => this.listPrompts(session));
    server.setRequestHandler(GetPromptRequestSchema, (req) =>
      this.getPrompt(session, req.params.name, req.params.arguments),
    );
    server.setRequestHandler(ListResourcesRequestSchema, () => this.listResources(session));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: [] }));
    server.setRequestHandler(ReadResourceRequestSchema, (req) => this.readResource(session, req.params.uri));
    return server;
  }

  // -- tools -------------------------------------------------------------------------------------

  private async listTools(session: Session): Promise<{ tools: Tool[] }> {
    const started = performance.now();
    const { entries, unavailable } = await this.refreshIndex();
    const tools: Tool[] = [];
    let hiddenByPolicy = 0;
    let held = 0;
    for (const e of entries) {
      if (e.held !== undefined) {
        held++;
        continue;
      }
      const d = this.decide({
        surface: 'mcp',
        server: e.server,
        tool: e.tool.name,
        action: 'list',
        annotations: hints(e.tool),
      });
      if (d.decision === 'deny') hiddenByPolicy++;
      else tools.push({ ...e.tool, name: e.exposed });
    }
    this.record(
      this.withAgent(session, {
        ...lifecycleRecord('mcp.list', this.options.context, {
          shown: tools.length,
          hidden_by_policy: hiddenByPolicy,
          held,
          upstreams_unavailable: unavailable.join(','),
          latency_ms: round(performance.now() - started),
        }),
        category: 'evaluation',
      }),
    );
    return { tools };
  }

  private async callTool(
    session: Session,
    name: string,
    args: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<CallToolResult> {
    const started = performance.now();
    let entry = this.index.get(name);
    if (entry === undefined && this.index.size === 0)
      entry = (await this.refreshIndex(), this.index.get(name));
    const request: McpRequest = {
      surface: 'mcp',
      server: entry?.server ?? '(unknown)',
      tool: entry?.tool.name ?? name,
      action: 'call',
      args: args ?? {},
      ...(entry ? { annotations: hints(entry.tool) } : {}),
    };
    if (entry === undefined || entry.held !== undefined) {
      this.recordCall(
        session,
        request,
        undefined,
        entry === undefined ? `no tool is exposed as ${name}` : `held: ${entry.held}`,
      );
      throw notFound('Tool', name);
    }
    let decision = this.decide(request);
    let approval: string | undefined;
    if (decision.decision === 'ask') {
      approval = await this.ask(
        session,
        `Allow the MCP tool ${name} (${entry.server}) to run with arguments: ${Object.keys(args ?? {}).join(', ') || 'none'}?`,
      );
      if (approval === 'approved') decision = { ...decision, decision: 'allow' };
    }
    if (decision.decision !== 'allow') {
      this.recordCall(session, request, decision, approval ? `ask: ${approval}` : undefined);
      throw notFound('Tool', name);
    }
    const scanned = scanValue(args ?? {});
    const secrets = this.options.engine.mcpSecretsAction();
    if (scanned.blocking.length > 0)
      this.secretAlert(session, request, 'arguments', scanned.blocking, secrets);
    if (scanned.blocking.length > 0 && secrets === 'block') {
      this.recordCall(
        session,
        request,
        { ...decision, decision: 'deny' },
        `the arguments carry a secret: ${scanned.blocking.join(', ')}`,
      );
      return refusal(
        `Perimeter refused this call: its arguments carry a secret (${scanned.blocking.join(', ')}). Nothing was sent to the tool.`,
      );
    }
    this.recordCall(session, request, decision, approval ? `ask: ${approval}` : undefined, scanned.blocking);
    const upstream = this.upstream(entry.server);
    const upstreamStarted = performance.now();
    let result: CallToolResult;
    try {
      result = await upstream.callTool(
        entry.tool.name,
        scanned.blocking.length > 0 ? (scanned.redacted as Record<string, unknown>) : args,
        signal,
      );
    } catch (e) {
      this.recordResult(session, request, {
        error: errorText(e),
        latency_ms: round(performance.now() - started),
      });
      if (e instanceof UpstreamUnavailable) throw new McpError(ErrorCode.InternalError, e.message);
      throw e;
    }
    const upstreamMs = performance.now() - upstreamStarted;
    const out = scanValue({ content: result.content, structuredContent: result.structuredContent });
    if (out.blocking.length > 0) {
      this.secretAlert(session, request, 'result', out.blocking, secrets);
      if (secrets === 'block')
        result = refusal(`Perimeter withheld this result: it carried a secret (${out.blocking.join(', ')}).`);
      else result = { ...result, ...(out.redacted as Pick<CallToolResult, 'content' | 'structuredContent'>) };
    }
    this.recordResult(session, request, {
      latency_ms: round(performance.now() - started),
      upstream_ms: round(upstreamMs),
      gateway_ms: round(performance.now() - started - upstreamMs),
      result_bytes: sizeOf(result),
      is_error: result.isError === true,
      secret_findings: out.blocking.length,
      weak_findings: out.weak,
    });
    return result;
  }

  // -- prompts and resources: the same predicate, the prompt or resource name in the tool's place --

  private async listPrompts(session: Session): Promise<{ prompts: Prompt[] }> {
    const prompts = await this.listNamed(
      session,
      'prompts',
      (u) => u.listPrompts(),
      this.prompts,
      (server, p) => exposedName(server, p.name),
    );
    return { prompts };
  }

  private async getPrompt(
    session: Session,
    name: string,
    args: Record<string, string> | undefined,
  ): Promise<Awaited<ReturnType<Upstream['getPrompt']>>> {
    if (this.prompts.size === 0) await this.listPrompts(session);
    return this.fetchNamed(session, 'Prompt', name, this.prompts.get(name), args ?? {}, (u, p) =>
      u.getPrompt(p.name, args),
    );
  }

  private async listResources(session: Session): Promise<{ resources: Resource[] }> {
    const resources = await this.listNamed(
      session,
      'resources',
      (u) => u.listResources(),
      this.resources,
      (_s, r) => r.uri,
    );
    return { resources };
  }

  private async readResource(
    session: Session,
    uri: string,
  ): Promise<Awaited<ReturnType<Upstream['readResource']>>> {
    if (this.resources.size === 0) await this.listResources(session);
    return this.fetchNamed(session, 'Resource', uri, this.resources.get(uri), { uri }, (u) =>
      u.readResource(uri),
    );
  }

  /** Lists prompts or resources of every upstream, indexed by `keyOf`, shown as SERVER__NAME where the policy allows. */
  private async listNamed<T extends { name: string }>(
    session: Session,
    kind: 'prompts' | 'resources',
    load: (u: Upstream) => Promise<T[]>,
    index: Map<string, { server: string; item: T }>,
    keyOf: (server: string, item: T) => string,
  ): Promise<T[]> {
    const shown: T[] = [];
    index.clear();
    for (const [server, list] of await this.gather(load)) {
      for (const item of list) {
        if (nameProblem(server, item.name) !== undefined) continue;
        index.set(keyOf(server, item), { server, item });
        if (this.decide({ surface: 'mcp', server, tool: item.name, action: 'list' }).decision !== 'deny')
          shown.push({ ...item, name: exposedName(server, item.name) });
      }
    }
    this.record(
      this.withAgent(session, {
        ...lifecycleRecord('mcp.list', this.options.context, { kind, shown: shown.length }),
        category: 'evaluation',
      }),
    );
    return shown;
  }

  /** Gets one prompt or reads one resource after the same decision as a tool call; unknown and denied fail alike. */
  private async fetchNamed<T extends { name: string }, R>(
    session: Session,
    kind: 'Prompt' | 'Resource',
    key: string,
    found: { server: string; item: T } | undefined,
    args: Record<string, unknown>,
    fetch: (u: Upstream, item: T) => Promise<R>,
  ): Promise<R> {
    const request: McpRequest = {
      surface: 'mcp',
      server: found?.server ?? '(unknown)',
      tool: found?.item.name ?? key,
      action: 'call',
      args,
    };
    const decision = found ? this.decide(request) : undefined;
    this.recordCall(
      session,
      request,
      decision,
      found ? undefined : `no ${kind.toLowerCase()} is exposed as ${key}`,
    );
    if (!found || decision?.decision !== 'allow') throw notFound(kind, key);
    return this.scanned(session, request, await fetch(this.upstream(found.server), found.item));
  }

  /** Prompt and resource contents: a secret blocks the whole result or is redacted in place. */
  private scanned<T>(session: Session, request: McpRequest, result: T): T {
    const out = scanValue(result);
    if (out.blocking.length > 0) {
      const action = this.options.engine.mcpSecretsAction();
      this.secretAlert(session, request, 'result', out.blocking, action);
      if (action === 'block')
        throw new McpError(
          ErrorCode.InternalError,
          `Perimeter withheld this result: it carried a secret (${out.blocking.join(', ')}).`,
        );
      return out.redacted as T;
    }
    this.recordResult(session, request, { result_bytes: sizeOf(result) });
    return result;
  }

  /** One `mcp.secret` event per call direction that carried a secret: rule and fingerprint, never the value. */
  private secretAlert(
    session: Session,
    request: McpRequest,
    direction: 'arguments' | 'result',
    findings: readonly string[],
    action: 'block' | 'redact',
  ): void {
    const done = action === 'redact' ? 'Redacted' : direction === 'result' ? 'Withheld' : 'Refused';
    this.record(
      this.withAgent(
        session,
        alertRecord(
          'mcp.secret',
          this.options.context,
          'high',
          `${done}: a secret in the ${direction} of ${request.server}/${request.tool} (${findings.join(', ')}).`,
          { server: request.server, tool: request.tool, direction, action },
        ),
      ),
    );
  }

  // -- the tool index: names, pins, poisoning ------------------------------------------------------

  /** Lists every upstream's tools (cached per upstream) and works out which ones may be shown at all. */
  private async refreshIndex(): Promise<{ entries: ToolEntry[]; unavailable: string[] }> {
    const listed = await this.gather((u) => u.listTools());
    const unavailable = this.upstreams.filter((u) => !listed.has(u.id)).map((u) => u.id);
    const raw = [...listed].flatMap(([server, tools]) =>
      tools.map((tool) => ({ server, name: tool.name, tool })),
    );
    const clashes = collisions(raw);
    // What a description may not talk about: the other servers' tools, by plain and exposed name.
    const othersOf = new Map<string, Set<string>>();
    for (const server of listed.keys())
      othersOf.set(
        server,
        new Set(
          raw.filter((r) => r.server !== server).flatMap((r) => [r.name, exposedName(r.server, r.name)]),
        ),
      );
    const entries: ToolEntry[] = [];
    for (const r of raw) {
      const exposed = exposedName(r.server, r.name);
      const hash = definitionHash(r.tool);
      const clash = clashes.get(exposed);
      const held = clash
        ? `the name ${exposed} is produced by ${clash.map((c) => `${c.server}/${c.name}`).join(' and ')}; rename one server id`
        : (nameProblem(r.server, r.name) ?? this.pinState(r.server, r.tool, hash, othersOf.get(r.server)));
      entries.push({
        server: r.server,
        tool: r.tool,
        exposed,
        ...(held !== undefined ? { held } : {}),
      });
    }
    this.index = new Map(entries.filter((e) => !clashes.has(e.exposed)).map((e) => [e.exposed, e]));
    return { entries, unavailable };
  }

  /** pinProblem, failing closed: a pin store that cannot be read approves nothing. */
  private pinState(server: string, tool: Tool, hash: string, others = new Set<string>()): string | undefined {
    try {
      const problem = this.pinProblem(server, tool, hash, others);
      this.pinStoreBroken = false;
      return problem;
    } catch (e) {
      if (!(e instanceof PinStoreError)) throw e;
      if (!this.pinStoreBroken) {
        this.pinStoreBroken = true;
        this.record(
          alertRecord('mcp.pin-store-error', this.options.context, 'high', e.message, { error: e.message }),
        );
      }
      return `the pin store cannot be read (${e.message})`;
    }
  }

  /** Why a definition may not be shown yet (drift, a new tool awaiting approval, poisoning), or undefined. */
  private pinProblem(
    server: string,
    tool: Tool,
    hash: string,
    others: ReadonlySet<string>,
  ): string | undefined {
    const definition = tool as unknown as Record<string, unknown>;
    const policyPin = this.catalog.get(server)?.pins.get(tool.name);
    const storePin = policyPin === undefined ? this.options.pins.approved(server, tool.name) : undefined;
    const pinned = policyPin ?? storePin?.hash;
    const findings = this.findingsFor(server, tool, hash, others);
    // An explicit approval of this exact definition (policy pin, or a person with `pins approve`)
    // outranks the poisoning heuristics: someone read it. Trust on first use never does.
    const approvedByPerson = pinned === hash && (policyPin !== undefined || storePin?.by === 'user');
    if (findings.length > 0 && !approvedByPerson) {
      return this.hold(
        server,
        tool,
        hash,
        pinned,
        `quarantined: ${findings.map((f) => `${f.kind} in ${f.where}`).join('; ')}`,
        'mcp.quarantine',
      );
    }
    if (pinned === hash) {
      this.options.pins.release(server, tool.name);
      this.options.pins.remember(server, tool.name, { hash, definition });
      return undefined;
    }
    if (pinned !== undefined)
      return this.hold(
        server,
        tool,
        hash,
        pinned,
        policyPin !== undefined ? 'differs from the policy pin' : 'differs from its approved pin',
        'mcp.drift',
      );
    if (this.options.engine.mcpPinning() === 'tofu') {
      this.options.pins.trustOnFirstUse(server, tool.name, hash);
      this.options.pins.remember(server, tool.name, { hash, definition });
      this.record(
        lifecycleRecord('mcp.pin', this.options.context, { server, tool: tool.name, hash, by: 'tofu' }),
      );
      return undefined;
    }
    return this.hold(server, tool, hash, undefined, 'new tool waiting for approval', 'mcp.tool-held');
  }

  private hold(
    server: string,
    tool: Tool,
    hash: string,
    previous: string | undefined,
    reason: string,
    type: 'mcp.quarantine' | 'mcp.drift' | 'mcp.tool-held',
  ): string {
    const definition = tool as unknown as Record<string, unknown>;
    const known = this.options.pins.known(server, tool.name);
    const diff =
      previous !== undefined && known?.hash !== previous
        ? ['differs from the pinned hash (the pinned definition itself is not on record here)']
        : definitionDiff(known?.definition, definition);
    const isNew = this.options.pins.hold(server, tool.name, {
      hash,
      definition,
      seenAt: new Date().toISOString(),
      ...(previous !== undefined ? { previous } : {}),
      reason,
      diff,
    });
    if (isNew) {
      this.record(
        alertRecord(
          type,
          this.options.context,
          type === 'mcp.tool-held' ? 'low' : 'high',
          `${server}/${tool.name}: ${reason}; hidden until approved (perimeter mcp pins approve ${server} ${tool.name})`,
          {
            server,
            tool: tool.name,
            hash,
            ...(previous !== undefined ? { pinned: previous } : {}),
            diff: diff.join('; ').slice(0, 1_000),
          },
        ),
      );
    }
    return reason;
  }

  /** Poisoning findings for one definition, remembered by hash (a definition is scanned once). */
  private findingsFor(
    server: string,
    tool: Tool,
    hash: string,
    others: ReadonlySet<string>,
  ): readonly PoisoningFinding[] {
    const key = `${server}\0${hash}`;
    const cached = this.poisoning.get(key);
    if (cached) return cached;
    const found = scanDefinition(tool, { names: others });
    this.poisoning.set(key, found);
    return found;
  }

  // -- helpers -------------------------------------------------------------------------------------

  private decide(request: McpRequest): Decision {
    try {
      return this.options.engine.decide(request);
    } catch (e) {
      // A policy that cannot decide denies (DESIGN.md: fail closed).
      return gatewayDenial(request, `the policy could not decide: ${errorText(e)}`);
    }
  }

  private async ask(session: Session, message: string): Promise<string> {
    if (!session.server.getClientCapabilities()?.elicitation)
      return 'denied: the client cannot ask its user (no elicitation)';
    try {
      const answer = await session.server.elicitInput({
        message,
        requestedSchema: {
          type: 'object',
          properties: { allow: { type: 'boolean', title: 'Allow this call', default: false } },
          required: ['allow'],
        },
      });
      return answer.action === 'accept' && answer.content?.allow === true
        ? 'approved'
        : `denied by the user (${answer.action})`;
    } catch (e) {
      return `denied: asking failed (${errorText(e)})`;
    }
  }

  private upstream(id: string): Upstream {
    const u = this.upstreams.find((x) => x.id === id);
    if (!u) throw new McpError(ErrorCode.InternalError, `no upstream ${id}`);
    return u;
  }

  /** Each upstream's list, by server id; an unavailable upstream is left out (and audited by Upstream). */
  private async gather<T>(list: (u: Upstream) => Promise<T[]>): Promise<Map<string, T[]>> {
    const settled = await Promise.allSettled(this.upstreams.map(async (u) => [u.id, await list(u)] as const));
    const out = new Map<string, T[]>();
    for (const s of settled) if (s.status === 'fulfilled') out.set(s.value[0], s.value[1]);
    return out;
  }

  private notify(kind: ListKind): void {
    for (const s of this.sessions) {
      const send =
        kind === 'tools'
          ? s.server.sendToolListChanged()
          : kind === 'prompts'
            ? s.server.sendPromptListChanged()
            : s.server.sendResourceListChanged();
      send.catch(() => undefined);
    }
  }

  private recordCall(
    session: Session,
    request: McpRequest,
    decision: Decision | undefined,
    note?: string,
    secrets: readonly string[] = [],
  ): void {
    const d = decision ?? gatewayDenial(request, note ?? 'unknown');
    const r = decisionRecord(d, request, this.options.context);
    const values = this.options.engine.mcpAuditArguments()
      ? JSON.stringify(scanValue(request.args ?? {}).redacted).slice(0, 2_000)
      : undefined;
    this.record(
      this.withAgent(session, {
        ...r,
        ...(note !== undefined && decision !== undefined ? { reason: `${d.reason}; ${note}` } : {}),
        ...(values !== undefined || secrets.length > 0
          ? {
              outcome: {
                ...(values !== undefined ? { arguments: values } : {}),
                ...(secrets.length > 0 ? { secret_findings: secrets.length, redacted: true } : {}),
              },
            }
          : {}),
      }),
    );
  }

  private recordResult(
    session: Session,
    request: McpRequest,
    outcome: Record<string, string | number | boolean>,
  ): void {
    this.record(
      this.withAgent(session, {
        ...lifecycleRecord('mcp.result', this.options.context, {
          server: request.server,
          tool: request.tool,
          ...outcome,
        }),
        category: 'execution',
      }),
    );
  }

  private withAgent(session: Session, record: AuditRecord): AuditRecord {
    const agent = session.agent();
    if (!agent || !record.session) return record;
    return { ...record, session: { ...record.session, agent } };
  }

  private record(record: AuditRecord): void {
    this.options.audit(record);
  }
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
