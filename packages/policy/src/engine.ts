// The decision engine: the effective policies of one subject, indexed once, and `decide()`, which
// answers with lookups. Pure. Semantics (DESIGN.md): per surface, every matching rule of every
// effective policy is collected; deny > ask > allow > the surface default; order never matters;
// audit-mode rules record what they would decide without blocking; the built-in guard refuses
// special addresses and names unless an allow rule names them explicitly.

import { canonicalHost, formatAuthority, hasControlCharacter, type CanonicalHost } from './host.js';
import { canonicalHttpPath } from './http-path.js';
import { pushTo } from './multimap.js';
import { NetworkIndex, type CidrEntry, type HostEntry } from './network-index.js';
import { PathTrie, type FsEntry } from './path-index.js';
import { otherReading } from './path-argument.js';
import { effectiveAnnotations } from './tool-annotations.js';
import { matchHostPattern } from './host-pattern.js';
import { cidrWithin, formatIp, ipv4, parseIp, type Cidr, type Ip } from './ip.js';
import { matchNameGlob } from './name-glob.js';
import {
  canonicalPath,
  expandPathPattern,
  literalPrefix,
  matchPath,
  matchSegment,
  matchSegments,
  type ExpandedPathPattern,
  type PathContext,
} from './path-pattern.js';
import { formatPorts, portIn } from './ports.js';
import { matchCommandPattern, programKey, type CommandPattern } from './command-pattern.js';
import {
  PRIVILEGE_WRAPPERS,
  basename,
  displayArgv,
  isComputedWord,
  commandsOfArgv,
  parseCommandLine,
  type SimpleCommand,
} from './command-line.js';
import { REGEX_INPUT_LIMIT } from './regex-guard.js';
import { describeArgMisses, type ArgMiss } from './arg-condition.js';
import { describeSpecial, specialNameOf, specialRangesOf } from './special-ranges.js';
import type {
  ArgPredicateC,
  CompiledPolicy,
  CredentialBindingC,
  CredentialRuleC,
  ExecRuleC,
  McpRuleC,
  NetworkRuleC,
  RuleRef,
  SessionLimits,
} from './compile.js';
import type {
  CredentialRequest,
  ExecRequest,
  FilesystemRequest,
  McpRequest,
  NetworkRequest,
  Request,
} from './request.js';
import type { Effect, McpServer, Mode, Surface, ToolAnnotations } from './schema.js';
import { SECRET_NAME } from './secret-name.js';

export interface Subject {
  readonly user?: string;
  /**
   * The subject's IdP groups. Absent means none: only guardrail, org and local policies apply.
   * `'all'` applies every group policy (a what-if view for tools, never for enforcement).
   */
  readonly groups?: readonly string[] | 'all';
}

export interface EngineOptions {
  readonly subject?: Subject;
  readonly context: PathContext;
  /**
   * Where the filesystem takes an absolute path (symbolic links followed, a tail that does not
   * exist yet kept as written), or undefined when it cannot say (a loop, no permission). Given,
   * an MCP argument glob must judge a path as written and as it resolves alike, else the
   * predicate is an evaluation error (redteam-35-2: a server follows a link in the workspace, and
   * a deny on `secrets/**` did not see `docs/key` through `docs -> secrets`). The engine does no
   * I/O itself: whoever runs a gateway passes one (@perimeter/mcp's resolvedPath).
   */
  readonly resolvePath?: (path: string) => string | undefined;
}

/** A filesystem pattern as a sandbox sees it (see Engine.filesystemAnchors). */
export interface FilesystemAnchor {
  readonly ref: RuleRef;
  readonly read: boolean;
  readonly write: boolean;
  /** The pattern as written. */
  readonly text: string;
  /** Canonical absolute directory (or file) named by the pattern's literal segments. */
  readonly dir: string;
  readonly shape: 'subtree' | 'exact' | 'glob';
  /** The rule says `private: true`: the session gets an empty directory of its own there. */
  readonly isPrivate: boolean;
  /**
   * For a walk that looks for what a `glob` pattern names: false when no path with this last name
   * can match (the pattern's last segment other than a trailing `**` rejects it). A pattern that
   * ends in `**` also matches everything below a match, so a walk keeps deciding there.
   */
  readonly mayMatchName: (name: string) => boolean;
  /** The pattern ends in `**`: everything below a directory it matches matches too. */
  readonly coversBelowMatch: boolean;
}

/** A pin two policies give different values: no definition hashes to it, so the tool stays hidden. */
export const CONFLICTING_PINS = 'conflicting-pins';

/** One server of the MCP catalog in force (Engine.mcpServers). */
export interface McpCatalogEntry {
  readonly server: McpServer;
  /** The policy that declared it. */
  readonly policy: string;
  /** Pinned definition hashes (`sha256:…`) by tool name, from every policy that declares the server. */
  readonly pins: ReadonlyMap<string, string>;
}

/**
 * Why the decision came out as it did: a rule, the surface default, the built-in guard, a request
 * that cannot be read (`invalid-request`), or a client that did not prove it belongs to the
 * session (`unauthenticated`: the egress proxy's token; no rule is consulted for it).
 */
export type DecisionCode = 'rule' | 'default' | 'guard' | 'invalid-request' | 'unauthenticated';

export interface Decision {
  readonly surface: Surface;
  /** What was done: connect or an HTTP method, read/write, call/list, exec, use. */
  readonly action: string;
  /** The canonical resource (host:port, absolute path, server/tool, argv, secret → host). */
  readonly resource: string;
  /** The enforced answer. */
  readonly decision: Effect;
  /** What the policies say when every rule is enforced. Differs from `decision` only in audit mode. */
  readonly wouldDecision: Effect;
  /** `audit` when audit-mode rules made the enforced answer differ from the would-be one. */
  readonly mode: Mode;
  /** Every rule that determined `wouldDecision` (empty when the default or the guard decided). */
  readonly rules: readonly RuleRef[];
  /** Every rule that matched, whatever its effect. */
  readonly matched: readonly RuleRef[];
  readonly code: DecisionCode;
  /** One sentence for a person. */
  readonly reason: string;
  /** For code `guard`: which special range or name refused it. */
  readonly guard?: {
    readonly code: string;
    readonly what: string;
    readonly range?: string;
    readonly isLocked: boolean;
  };
  /** How the request was read (`0x7f.1 → 127.0.0.1`, the commands a line runs) and where an allow came from that no rule text shows (a catalog entry binding a credential to its URL). */
  readonly notes?: readonly string[];
}

/**
 * A denial made before any rule is consulted, because there is nothing a rule could judge: a
 * request that cannot be read (`invalid-request`) or a client that is not the session's
 * (`unauthenticated`). The engine makes the first kind; the egress proxy makes both for what its
 * front doors refuse before a request exists (redteam-11, redteam-13). `resource` is the request
 * as received; `error` is one sentence without its full stop.
 */
export function refusalDecision(
  code: 'invalid-request' | 'unauthenticated',
  surface: Surface,
  action: string,
  resource: string,
  error: string,
): Decision {
  return {
    surface,
    action,
    resource,
    decision: 'deny',
    wouldDecision: 'deny',
    mode: 'enforce',
    rules: [],
    matched: [],
    code,
    reason: `Denied: ${error}.`,
  };
}

/** Said when a command line has words the shell computes at run time (redteam-65). */
const COMPUTED_NOTE =
  'words computed at run time ($X, $(…), globs, {a,b}) may be anything: deny and ask rules are assumed to match them';

const RANK: Record<Effect, number> = { allow: 0, ask: 1, deny: 2 };
const BY_RANK: readonly Effect[] = ['allow', 'ask', 'deny'];

interface DefaultEffect {
  readonly effect: Effect;
  readonly isAudit: boolean;
}

interface Outcome {
  decision: Effect;
  would: Effect;
  rules: readonly RuleRef[];
}

const NO_RULES: readonly RuleRef[] = Object.freeze([]);

/** deny > ask > allow > default, over enforce-mode rules for the decision and all rules for the would-be. */
function settle(hits: readonly RuleRef[], dflt: DefaultEffect): Outcome {
  let wouldRank = -1;
  let enforcedRank = -1;
  for (const h of hits) {
    const r = RANK[h.effect];
    if (r > wouldRank) wouldRank = r;
    if (h.mode === 'enforce' && r > enforcedRank) enforcedRank = r;
  }
  const would = wouldRank >= 0 ? (BY_RANK[wouldRank] as Effect) : dflt.effect;
  const decision =
    enforcedRank >= 0 ? (BY_RANK[enforcedRank] as Effect) : dflt.isAudit ? 'allow' : dflt.effect;
  let rules: readonly RuleRef[] = NO_RULES;
  if (wouldRank >= 0) {
    // Usually every hit has the winning effect (one rule, or several of one kind): no copy then.
    let isUniform = true;
    for (const h of hits) if (RANK[h.effect] !== wouldRank) isUniform = false;
    rules = isUniform ? hits : hits.filter((h) => RANK[h.effect] === wouldRank);
  }
  return { decision, would, rules };
}

function mostRestrictive(effects: readonly (Effect | undefined)[], fallback: Effect): Effect {
  let rank = -1;
  for (const e of effects) if (e !== undefined && RANK[e] > rank) rank = RANK[e];
  return rank >= 0 ? (BY_RANK[rank] as Effect) : fallback;
}

const VERB: Record<Effect, string> = { allow: 'Allowed', ask: 'Needs approval', deny: 'Denied' };
const PAST: Record<Effect, string> = { allow: 'allowed', ask: 'held for approval', deny: 'denied' };

/**
 * Whether an argument predicate's result keeps its rule from matching the call: an argument absent
 * or not matching, or one that cannot be evaluated for an allow (an ask then matches: fail closed).
 */
function keepsRuleOut(result: ArgResult | 'missing', isAllow: boolean): boolean {
  return result === 'missing' || result === 'no' || (result === 'error' && isAllow);
}

function ruleName(r: RuleRef): string {
  return `"${r.rule}" of policy ${r.policy} (${r.layer}${r.mode === 'audit' ? ', audit' : ''})`;
}

/**
 * Why a rule's annotations condition does not hold for a tool (`its annotations condition
 * readOnlyHint: true does not hold: the tool's readOnlyHint is false, MCP's default, as it does not
 * say`), or undefined when it holds or the rule has none.
 */
function annotationMisses(
  rule: McpRuleC,
  r: McpRequest,
  annotations: Required<ToolAnnotations>,
): string | undefined {
  if (!rule.annotations) return undefined;
  const wanted = Object.entries(rule.annotations).filter(([, want]) => want !== undefined);
  const failed = wanted.filter(([key, want]) => annotations[key as keyof ToolAnnotations] !== want);
  if (failed.length === 0) return undefined;
  const condition = wanted.map(([key, want]) => `${key}: ${String(want)}`).join(', ');
  const actual = failed
    .map(([key]) => {
      const value = String(annotations[key as keyof ToolAnnotations]);
      const said = r.annotations?.[key as keyof ToolAnnotations] !== undefined;
      return `the tool's ${key} is ${value}${said ? '' : ", MCP's default, as the tool does not say"}`;
    })
    .join('; ');
  return `its annotations condition ${condition} does not hold: ${actual}`;
}

function ruleList(rules: readonly RuleRef[]): string {
  if (rules.length === 1 && rules[0]) return `rule ${ruleName(rules[0])}`;
  const shown = rules.slice(0, 3).map(ruleName);
  const more = rules.length > 3 ? ` and ${rules.length - 3} more` : '';
  return `rules ${shown.join(', ')}${more}`;
}

function auditSuffix(o: Outcome): string {
  return o.decision === o.would ? '' : ` Audit mode: would be ${PAST[o.would]}, ${PAST[o.decision]} for now.`;
}

type HttpMatch = 'match' | 'no' | 'unknown';

type ArgResult = 'match' | 'no' | 'error';

function sameScalarType(value: unknown, written: string | number | boolean | null): boolean {
  return written === null ? value === null : typeof value === typeof written;
}

function argAt(args: Readonly<Record<string, unknown>> | undefined, path: readonly string[]): unknown {
  let v: unknown = args;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(v, p)) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/**
 * The strictest `network.secrets` said (block, then redact, then audit), block when none says. In
 * audit mode a secret is only recorded, never blocked or redacted (leaks of bound credentials still
 * are: the credential guard decides those).
 */
function strictestSecretsAction(
  said: readonly ('block' | 'redact' | 'audit')[],
  isAudit: boolean,
): 'block' | 'redact' | 'audit' {
  if (isAudit) return 'audit';
  if (said.length === 0 || said.includes('block')) return 'block';
  return said.includes('redact') ? 'redact' : 'audit';
}

// ---------------------------------------------------------------------------------------------

interface ExecEntry {
  readonly rule: ExecRuleC;
  readonly pattern: CommandPattern;
}

/** A `..` segment: the kernel takes it after following the link before it, not as written. */
const DOT_DOT_SEGMENT = /(?:^|\/)\.\.(?:\/|$)/;

/**
 * `pattern` with its leading literal segments (a home, a workspace, a directory written out) as
 * `resolve` takes them, when it changes them: what a resolved path is compared with.
 */
function withRealPrefix(
  pattern: ExpandedPathPattern,
  resolve: (path: string) => string | undefined,
): ExpandedPathPattern {
  const prefix = literalPrefix(pattern);
  if (prefix.length === 0) return pattern;
  const written = `/${prefix.join('/')}`;
  const real = resolve(written)?.normalize('NFC');
  if (real === undefined || real === written || !real.startsWith('/')) return pattern;
  const segments = real === '/' ? [] : real.slice(1).split('/');
  return {
    text: pattern.text,
    segments: [
      ...segments.map((text) => ({ kind: 'literal' as const, text })),
      ...pattern.segments.slice(prefix.length),
    ],
  };
}

export class Engine {
  /** The policies in force for this subject, in the order given. */
  readonly policies: readonly CompiledPolicy[];
  readonly context: PathContext;
  /** The context in NFC, for MCP argument globs. */
  private readonly argContext: PathContext;
  private readonly resolvePath: ((path: string) => string | undefined) | undefined;
  private readonly network: NetworkIndex;
  private readonly fsTrie = new PathTrie();
  private readonly mcpByServer = new Map<string, McpRuleC[]>();
  private readonly mcpServerGlobs: McpRuleC[] = [];
  private readonly mcpArgGlobs = new Map<ArgPredicateC, ExpandedPathPattern | undefined>();
  /**
   * Each argument glob with its leading directories where the filesystem takes them (resolvePath):
   * what a path's resolved readings are judged by, so that a home or workspace reached through a
   * link (`/home -> /var/home`) judges its resolved paths as its written ones. Worked out when a
   * call first needs it: an engine that decides no call (a sandbox's, `perimeter check network`)
   * never asks the filesystem, nor loads whoever answers.
   */
  private readonly mcpArgGlobsReal = new Map<ArgPredicateC, ExpandedPathPattern>();
  /** Where each path of the decision being made resolves (resolvePath): emptied as each begins. */
  private readonly resolved = new Map<string, readonly string[] | undefined>();
  private readonly execByProgram = new Map<string, ExecEntry[]>();
  private readonly execGlobs: ExecEntry[] = [];
  private readonly bindingsBySecret = new Map<string, CredentialBindingC[]>();
  private readonly credentialRules: CredentialRuleC[] = [];
  private readonly defaults: Record<Surface, DefaultEffect>;
  /** The session-wide settings of the policies in force, combined once (the gateway asks per call). */
  private readonly settings: {
    readonly secretsAction: 'block' | 'redact' | 'audit';
    readonly mcpPinning: 'approve' | 'tofu';
    readonly mcpSecretsAction: 'block' | 'redact' | 'audit';
    readonly mcpAuditArguments: boolean;
    readonly mcpPromptInjection: 'block' | 'strip' | 'flag';
    readonly sessionLimits: SessionLimits;
  };

  constructor(policies: readonly CompiledPolicy[], options: EngineOptions) {
    const orgs = new Set(policies.map((p) => p.org));
    if (orgs.size > 1) {
      throw new Error(
        `policies of ${orgs.size} organisations cannot be layered together (${[...orgs].map((o) => o || '(none)').join(', ')})`,
      );
    }
    const groups = options.subject?.groups;
    this.policies = policies.filter(
      (p) =>
        p.layer !== 'group' || groups === 'all' || (p.groups ?? []).some((g) => groups?.includes(g) === true),
    );
    this.context = options.context;
    this.resolvePath = options.resolvePath;
    // redteam-34-5: argument globs compare in NFC (patterns are NFC from compile, a value that is
    // not is an evaluation error), so the directories they expand to are made NFC too.
    const { home, workspace } = options.context;
    this.argContext = {
      home: home.normalize('NFC'),
      ...(workspace !== undefined ? { workspace: workspace.normalize('NFC') } : {}),
    };
    this.network = new NetworkIndex(this.policies.flatMap((p) => p.network));
    for (const p of this.policies) {
      for (const rule of p.filesystem) {
        for (const pattern of rule.paths) {
          const expanded = expandPathPattern(pattern, this.context);
          if (expanded) this.fsTrie.insert({ rule, pattern: expanded });
        }
      }
      for (const rule of p.mcp) {
        if (rule.server.exact !== undefined) pushTo(this.mcpByServer, rule.server.exact, rule);
        else this.mcpServerGlobs.push(rule);
        for (const a of rule.args)
          if (a.test.kind === 'glob')
            this.mcpArgGlobs.set(a, expandPathPattern(a.test.pattern, this.argContext));
      }
      for (const rule of p.exec) {
        for (const pattern of rule.commands) {
          const key = programKey(pattern);
          if (key !== undefined) pushTo(this.execByProgram, key, { rule, pattern });
          else this.execGlobs.push({ rule, pattern });
        }
      }
      for (const b of p.credentialBindings) pushTo(this.bindingsBySecret, b.secret, b);
      this.credentialRules.push(...p.credentialRules);
    }
    const isAudit = this.policies.length > 0 && this.policies.every((p) => p.mode === 'audit');
    this.defaults = {
      network: { effect: 'deny', isAudit },
      mcp: { effect: 'deny', isAudit },
      credential: { effect: 'deny', isAudit },
      filesystem: {
        effect: mostRestrictive(
          this.policies.map((p) => p.filesystemDefault),
          'deny',
        ),
        isAudit,
      },
      exec: {
        effect: mostRestrictive(
          this.policies.map((p) => p.execDefault),
          'allow',
        ),
        isAudit,
      },
    };
    const secrets = this.said((p) => p.networkSecrets);
    const pinning = this.said((p) => p.mcpPinning);
    const mcpSecrets = this.said((p) => p.mcpSecrets);
    const auditArguments = this.said((p) => p.mcpAuditArguments);
    const promptInjection = this.said((p) => p.mcpPromptInjection);
    const limits: { -readonly [K in keyof SessionLimits]: number } = {};
    for (const key of ['processes', 'tmpBytes', 'openFiles', 'fileSizeBytes', 'memoryBytes'] as const) {
      const values = this.said((p) => p.limits?.[key]);
      if (values.length > 0) limits[key] = Math.min(...values);
    }
    this.settings = {
      secretsAction: strictestSecretsAction(secrets, isAudit),
      mcpPinning: pinning.length > 0 && pinning.every((a) => a === 'tofu') ? 'tofu' : 'approve',
      mcpSecretsAction: isAudit
        ? 'audit'
        : mcpSecrets.length > 0 && mcpSecrets.every((a) => a === 'redact')
          ? 'redact'
          : 'block',
      mcpAuditArguments: auditArguments.length > 0 && auditArguments.every((a) => a),
      mcpPromptInjection:
        isAudit || (promptInjection.length > 0 && promptInjection.every((a) => a === 'flag'))
          ? 'flag'
          : promptInjection.includes('block')
            ? 'block'
            : 'strip',
      sessionLimits: limits,
    };
  }

  /** What the policies in force say of one setting, in policy order; those that say nothing left out. */
  private said<T>(of: (p: CompiledPolicy) => T | undefined): T[] {
    return this.policies.map(of).filter((v): v is T => v !== undefined);
  }

  /**
   * Every filesystem pattern in force, root expanded, with the directory a sandbox would mount for
   * it: the pattern's leading literal segments. `shape` says how much of that directory the pattern
   * covers: all of it (`dir/**`), exactly that path, or only some names in it (a glob further down).
   */
  filesystemAnchors(): FilesystemAnchor[] {
    const out: FilesystemAnchor[] = [];
    for (const p of this.policies) {
      for (const rule of p.filesystem) {
        for (const pattern of rule.paths) {
          const expanded = expandPathPattern(pattern, this.context);
          if (!expanded) continue;
          const prefix = literalPrefix(expanded);
          const rest = expanded.segments.slice(prefix.length);
          const shape =
            rest.length === 0
              ? 'exact'
              : rest.length === 1 && rest[0]?.kind === 'any-depth'
                ? 'subtree'
                : 'glob';
          let end = rest.length;
          while (end > 0 && rest[end - 1]?.kind === 'any-depth') end--;
          const last = end > 0 ? rest[end - 1] : undefined;
          out.push({
            ref: rule.ref,
            read: rule.read,
            write: rule.write,
            text: pattern.text,
            dir: `/${prefix.join('/')}`,
            shape,
            isPrivate: rule.isPrivate === true,
            mayMatchName: last === undefined ? () => true : (name) => matchSegment(last, name),
            coversBelowMatch: end < rest.length,
          });
        }
      }
    }
    return out;
  }

  /**
   * What the egress proxy does with a secret it finds in a request: the strictest `network.secrets`
   * of the policies in force (block, then redact, then audit); block when none says; audit when
   * every policy in force is in audit mode.
   */
  secretsAction(): 'block' | 'redact' | 'audit' {
    return this.settings.secretsAction;
  }

  /**
   * The MCP server catalog in force: every server an org or group policy declares (the locked
   * layers cannot), by id. A server declared twice takes the org's declaration, else the first
   * group's, and its pins are the union: a tool pinned differently by two policies matches neither.
   */
  mcpServers(): McpCatalogEntry[] {
    const byId = new Map<string, McpCatalogEntry>();
    const orgFirst = [...this.policies].sort((a, b) => Number(a.layer !== 'org') - Number(b.layer !== 'org'));
    for (const p of orgFirst) {
      for (const server of p.mcpServers) {
        const seen = byId.get(server.id);
        const pins = new Map(seen?.pins ?? []);
        for (const [tool, hash] of Object.entries(server.pins ?? {})) {
          const had = pins.get(tool);
          pins.set(tool, had === undefined || had === hash ? hash : CONFLICTING_PINS);
        }
        byId.set(server.id, { server: seen?.server ?? server, policy: seen?.policy ?? p.name, pins });
      }
    }
    return [...byId.values()];
  }

  /**
   * The resource limits of a sandboxed session: for each limit, the smallest value of the policies
   * in force (a layer can only tighten); absent when no policy sets it (the sandbox's default).
   */
  sessionLimits(): SessionLimits {
    return { ...this.settings.sessionLimits };
  }

  /** What the gateway does with a tool no pin covers: the strictest `mcp.pinning` (approve unless all say tofu). */
  mcpPinning(): 'approve' | 'tofu' {
    return this.settings.mcpPinning;
  }

  /**
   * What the gateway does with a secret in arguments or results: block unless every policy that
   * says, says redact; audit (record only) when every policy in force is in audit mode, as
   * secretsAction() says for the proxy (leaks of bound credentials are refused all the same).
   */
  mcpSecretsAction(): 'block' | 'redact' | 'audit' {
    return this.settings.mcpSecretsAction;
  }

  /**
   * What the gateway does with text in a result that reads as instructions to the agent: `block`
   * when any policy in force says so, `flag` when every policy that says anything says `flag` or
   * every policy is in audit mode, else `strip` (the default).
   */
  mcpPromptInjection(): 'block' | 'strip' | 'flag' {
    return this.settings.mcpPromptInjection;
  }

  /** Whether audit events may carry (redacted) argument values: only when some policy says so and none says no. */
  mcpAuditArguments(): boolean {
    return this.settings.mcpAuditArguments;
  }

  /** Every credential binding in force for this subject, in policy order. */
  credentialBindings(): CredentialBindingC[] {
    return this.policies.flatMap((p) => p.credentialBindings);
  }

  /**
   * The credential binding an MCP catalog entry's `credential` names: the one its own policy
   * declares, else the only one in force with that id. Undefined when the entry names none; one
   * sentence saying why when there is no binding to use.
   */
  catalogBinding(entry: McpCatalogEntry): CredentialBindingC | string | undefined {
    const id = entry.server.credential;
    if (id === undefined) return undefined;
    const named = this.credentialBindings().filter((b) => b.ref.rule === id);
    const own = named.filter((b) => b.ref.policy === entry.policy);
    const candidates = own.length > 0 ? own : named;
    const only = candidates[0];
    if (only === undefined)
      return `its credential "${id}" names no credential binding in force (perimeter policy lint shows where)`;
    if (candidates.length > 1)
      return `its credential "${id}" names ${candidates.length} bindings (policies ${[...new Set(candidates.map((b) => b.ref.policy))].join(', ')}), and it cannot tell which is meant`;
    return only;
  }

  /**
   * Why the egress proxy must see inside HTTPS to this canonical host name and port, or undefined
   * when a tunnel may stay opaque: a credential is injected there, or a rule about HTTP methods or
   * paths covers it.
   */
  inspectionReason(host: string, port: number): 'credential' | 'http-rule' | undefined {
    for (const b of this.credentialBindings()) {
      if (b.inject && portIn(b.inject.ports, port) && b.inject.hosts.some((h) => matchHostPattern(h, host)))
        return 'credential';
    }
    const entries: HostEntry[] = [];
    this.network.hostEntries(host, entries);
    for (const e of entries) {
      if (
        (e.rule.methods !== undefined || e.rule.paths !== undefined) &&
        portIn(e.pattern.ports ?? e.rule.ports, port)
      )
        return 'http-rule';
    }
    return undefined;
  }

  /** The default effect of a surface for this subject. */
  defaultOf(surface: Surface): Effect {
    return this.defaults[surface].effect;
  }

  decide(request: Request): Decision {
    switch (request.surface) {
      case 'network':
        return this.decideNetwork(request);
      case 'filesystem':
        return this.decideFilesystem(request);
      case 'mcp':
        return this.decideMcp(request);
      case 'exec':
        return this.decideExec(request);
      case 'credential':
        return this.decideCredential(request);
    }
  }

  private invalid(surface: Surface, action: string, resource: string, error: string): Decision {
    return refusalDecision('invalid-request', surface, action, resource, error);
  }

  private finish(
    surface: Surface,
    action: string,
    resource: string,
    hits: readonly RuleRef[],
    notes?: readonly string[],
    /** How the reason names the resource when no rule matched (exec quotes its command). */
    named: string = resource,
  ): Decision {
    const unique = hits.length > 1 ? [...new Set(hits)] : hits;
    const o = settle(unique, this.defaults[surface]);
    const reason =
      o.rules.length > 0
        ? `${VERB[o.would]} by ${ruleList(o.rules)}.${auditSuffix(o)}`
        : `${VERB[o.would]}: no rule matches ${named}, and the ${surface} default is ${o.would}.${auditSuffix(o)}`;
    const decision: { -readonly [K in keyof Decision]: Decision[K] } = {
      surface,
      action,
      resource,
      decision: o.decision,
      wouldDecision: o.would,
      mode: o.decision === o.would ? 'enforce' : 'audit',
      rules: o.rules,
      matched: unique,
      code: o.rules.length > 0 ? 'rule' : 'default',
      reason,
    };
    if (notes && notes.length > 0) decision.notes = notes;
    return decision;
  }

  /** A guard refusal: the guard is always enforced, and deny rules that also matched are named. */
  private guarded(
    base: Pick<Decision, 'surface' | 'action' | 'resource' | 'matched' | 'notes'>,
    guard: NonNullable<Decision['guard']>,
    subject: string,
    /** An allow rule that names the address for other ports only: said instead of the usual hint. */
    namedFor?: string,
  ): Decision {
    const denyRules = base.matched.filter((r) => r.effect === 'deny');
    const lift = guard.isLocked
      ? 'no policy can open it'
      : (namedFor ??
        `the built-in guard refuses it unless an allow rule names ${guard.range ? `an address inside ${guard.range}` : 'it exactly'}`);
    return {
      surface: base.surface,
      action: base.action,
      resource: base.resource,
      decision: 'deny',
      wouldDecision: 'deny',
      mode: 'enforce',
      rules: denyRules,
      matched: base.matched,
      code: denyRules.length > 0 ? 'rule' : 'guard',
      reason:
        denyRules.length > 0
          ? `Denied by ${ruleList(denyRules)}; ${subject} is also ${guard.what}.`
          : `Denied: ${subject} is ${guard.what}; ${lift}.`,
      guard,
      ...(base.notes ? { notes: base.notes } : {}),
    };
  }

  // -- network ---------------------------------------------------------------------------------

  private httpMatch(
    rule: NetworkRuleC,
    method: string | undefined,
    segments: readonly string[] | undefined,
  ): HttpMatch {
    if (rule.methods === undefined && rule.paths === undefined) return 'match';
    if (method === undefined) return 'unknown';
    if (rule.methods !== undefined && !rule.methods.has(method)) return 'no';
    const paths = this.network.httpPaths.get(rule);
    if (paths !== undefined) {
      if (segments === undefined) return 'unknown';
      if (!paths.some((p) => matchSegments(p, segments))) return 'no';
    }
    return 'match';
  }

  private ruleApplies(
    rule: NetworkRuleC,
    ports: typeof rule.ports,
    port: number,
    method: string | undefined,
    segs: readonly string[] | undefined,
    inspected = false,
  ): boolean {
    if (!portIn(ports, port)) return false;
    const http = this.httpMatch(rule, method, segs);
    // A rule about methods or paths cannot be checked inside an opaque tunnel: an allow does not
    // match, a deny or ask does (an evaluation that cannot complete counts as matched if it denies).
    // Into a connection whose requests will each be judged, an allow of some requests admits, and
    // a deny of some waits for them.
    if (http === 'unknown' && inspected) return rule.ref.effect === 'allow';
    return http === 'match' || (http === 'unknown' && rule.ref.effect !== 'allow');
  }

  private decideNetwork(r: NetworkRequest): Decision {
    const action = r.method ?? 'connect';
    // The request as received, for messages about invalid input only.
    const raw = (): string => `${r.host}:${r.port}`;
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535)
      return this.invalid('network', action, raw(), `${r.port} is not a port number (1–65535)`);
    const parsed = canonicalHost(r.host);
    if ('error' in parsed) return this.invalid('network', action, raw(), parsed.error.message);
    const host: CanonicalHost = parsed.host;
    let method: string | undefined;
    let segs: string[] | undefined;
    if (r.method !== undefined) {
      if (!/^[A-Za-z]{1,20}$/.test(r.method))
        return this.invalid('network', action, raw(), `"${r.method}" is not an HTTP method`);
      method = r.method.toUpperCase();
    }
    if (r.path !== undefined) {
      segs = canonicalHttpPath(r.path);
      if (segs === undefined)
        return this.invalid('network', action, raw(), `"${r.path}" is not an HTTP path`);
    }
    const authority = formatAuthority(host, r.port);
    const resource = segs !== undefined ? `${authority}/${segs.join('/')}` : authority;
    const notes = host.steps.length > 0 ? [`${r.host} → ${host.name} (${host.steps.join(', ')})`] : undefined;
    const hits: RuleRef[] = [];
    let guard: NonNullable<Decision['guard']> | undefined;
    let namedFor: string | undefined;

    if (host.kind === 'name') {
      const entries: HostEntry[] = [];
      this.network.hostEntries(host.name, entries);
      let namedExactly = false;
      for (const e of entries) {
        const ports = e.pattern.ports ?? e.rule.ports;
        if (!this.ruleApplies(e.rule, ports, r.port, method, segs, r.inspected)) continue;
        hits.push(e.rule.ref);
        if (e.rule.ref.effect === 'allow' && e.pattern.kind === 'exact') namedExactly = true;
      }
      const special = specialNameOf(host.name);
      if (special && (special.isLocked || !namedExactly)) {
        guard = { code: special.code, what: special.what, isLocked: special.isLocked };
      }
    } else {
      const entries: CidrEntry[] = [];
      this.network.cidrEntries(host.ip, entries);
      const lifting: Cidr[] = [];
      for (const e of entries) {
        if (!this.ruleApplies(e.rule, e.rule.ports, r.port, method, segs, r.inspected)) continue;
        hits.push(e.rule.ref);
        if (e.rule.ref.effect === 'allow') lifting.push(e.cidr);
      }
      guard = this.ipGuard(host.ip, lifting);
      // An allow rule that names the address for other ports: the refusal says so, not only that
      // an address must be named.
      const otherPorts =
        guard && !guard.isLocked
          ? entries.find(
              (e) =>
                e.rule.ref.effect === 'allow' &&
                !portIn(e.rule.ports, r.port) &&
                // on this port it would apply (a rule for other methods or paths would not)
                this.ruleApplies(e.rule, [[r.port, r.port]], r.port, method, segs, r.inspected) &&
                this.ipGuard(host.ip, [e.cidr]) === undefined,
            )
          : undefined;
      if (otherPorts) {
        const ports = formatPorts(otherPorts.rule.ports);
        namedFor = `${ruleList([otherPorts.rule.ref])} names it, but for ${/[,-]/.test(ports) ? 'ports' : 'port'} ${ports} only: add ${r.port} to its ports`;
      }
    }

    if (guard) {
      const matched = hits.length > 1 ? [...new Set(hits)] : hits;
      return this.guarded(
        { surface: 'network', action, resource, matched, ...(notes ? { notes } : {}) },
        guard,
        host.name,
        namedFor,
      );
    }
    const base = this.finish('network', action, resource, hits, notes);
    if (r.resolved === undefined || base.wouldDecision === 'deny') return base;
    return this.judgeResolved(base, r, host.name, method, segs);
  }

  /** The guard's verdict on an address, given the CIDRs of the allow rules that matched it. */
  private ipGuard(ip: Ip, lifting: readonly Cidr[]): Decision['guard'] {
    const ranges = specialRangesOf(ip);
    if (ranges.length === 0) return undefined;
    // An IPv6 form that carries IPv4 (NAT64, 6to4, Teredo, SIIT, compatible) reaches that IPv4
    // address on a translating network: a special address inside it is refused whatever the IPv6
    // allows say, and a locked one (metadata) is refused as locked (research egress §4.1).
    // Only the most specific range counts (`::1` is loopback, not an IPv4-compatible 0.0.0.1).
    const most = ranges[0];
    if (ip.family === 6 && most?.embedded) {
      const inner = ipv4(most.embedded(ip));
      const innerRanges = specialRangesOf(inner);
      const innerFirst = innerRanges.find((s) => s.isLocked) ?? innerRanges[0];
      if (innerFirst) {
        return {
          code: most.code,
          what: `${most.what}, carrying ${formatIp(inner)}, ${innerFirst.what}`,
          range: most.text,
          isLocked: true,
        };
      }
    }
    const locked = ranges.find((s) => s.isLocked);
    const first = locked ?? ranges[0];
    if (!first) return undefined;
    const guard = {
      code: first.code,
      what: describeSpecial(ip, first),
      range: first.text,
      isLocked: first.isLocked,
    };
    if (locked) return guard;
    const lifted = lifting.some((c) => ranges.every((s) => cidrWithin(c, s.cidr)));
    return lifted ? undefined : guard;
  }

  /**
   * After a name is allowed and resolved: every address must pass the guard (lifted only by an
   * explicit CIDR allow) and no deny rule; one bad address denies the whole answer, since a
   * client may connect to any of them (research egress-dns-03).
   */
  private judgeResolved(
    base: Decision,
    r: NetworkRequest,
    name: string,
    method: string | undefined,
    segs: readonly string[] | undefined,
  ): Decision {
    const resolved = r.resolved ?? [];
    // The request was fine; the answer is unusable. The guard refuses it (never invalid input).
    const unresolvable = (why: string): Decision => ({
      ...base,
      decision: 'deny',
      wouldDecision: 'deny',
      mode: 'enforce',
      rules: [],
      code: 'guard',
      guard: { code: 'unusable-answer', what: why, isLocked: true },
      reason: `Denied: ${name} ${why}, so there is no vetted address to dial.`,
    });
    if (resolved.length === 0) return unresolvable('resolved to no address');
    const extra: RuleRef[] = [];
    for (const text of resolved) {
      const ip = parseIp(text);
      if (!ip) return unresolvable(`resolved to "${text}", which is not an IP address`);
      const entries: CidrEntry[] = [];
      this.network.cidrEntries(ip, entries);
      const lifting: Cidr[] = [];
      for (const e of entries) {
        if (!this.ruleApplies(e.rule, e.rule.ports, r.port, method, segs, r.inspected)) continue;
        if (e.rule.ref.effect === 'allow') lifting.push(e.cidr);
        else extra.push(e.rule.ref);
      }
      const guard = this.ipGuard(ip, lifting);
      if (guard) {
        return this.guarded(base, { ...guard, what: `resolved to ${formatIp(ip)}, ${guard.what}` }, name);
      }
    }
    if (extra.length === 0) return base;
    return this.finish('network', base.action, base.resource, [...base.matched, ...extra], base.notes);
  }

  // -- filesystem ------------------------------------------------------------------------------

  private decideFilesystem(r: FilesystemRequest): Decision {
    const path = canonicalPath(r.path, this.context);
    if ('error' in path) return this.invalid('filesystem', r.access, r.path, path.error);
    const entries: FsEntry[] = [];
    this.fsTrie.candidates(path.segments, entries);
    const hits: RuleRef[] = [];
    for (const e of entries) {
      if (r.access === 'read' ? !e.rule.read : !e.rule.write) continue;
      if (matchPath(e.pattern, path.segments)) hits.push(e.rule.ref);
    }
    const notes = path.path !== r.path ? [`${r.path} → ${path.path}`] : undefined;
    return this.finish('filesystem', r.access, path.path, hits, notes);
  }

  // -- mcp -------------------------------------------------------------------------------------

  private argTest(p: ArgPredicateC, value: unknown): ArgResult {
    const t = p.test;
    switch (t.kind) {
      case 'equals':
        // A value of another type than the one written ("true" for true, ["main"] for "main") is
        // an evaluation error, not a mismatch: a deny then matches (fail closed).
        if (!sameScalarType(value, t.value)) return 'error';
        return value === t.value ? 'match' : 'no';
      case 'oneOf':
        if (!t.values.some((v) => sameScalarType(value, v))) return 'error';
        return t.values.includes(value as string) ? 'match' : 'no';
      case 'prefix':
        if (typeof value !== 'string') return 'error';
        return value.startsWith(t.prefix) ? 'match' : 'no';
      case 'range':
        if (typeof value !== 'number' || Number.isNaN(value)) return 'error';
        return (t.min === undefined || value >= t.min) && (t.max === undefined || value <= t.max)
          ? 'match'
          : 'no';
      case 'regex':
        if (typeof value !== 'string' || value.length > REGEX_INPUT_LIMIT) return 'error';
        return t.re.test(value) ? 'match' : 'no';
      case 'glob': {
        // A value a server may read as another path (a URI, `~`, `${…}`, not NFC, …) is an
        // evaluation error rather than a guess.
        if (typeof value !== 'string' || otherReading(value) !== undefined) return 'error';
        const pattern = this.mcpArgGlobs.get(p);
        const path = canonicalPath(value, this.argContext);
        if (pattern === undefined || 'error' in path) return 'error';
        const isMatch = matchPath(pattern, path.segments);
        if (this.resolvePath === undefined) return isMatch ? 'match' : 'no';
        // Where the server may open it: the canonical path resolved, and, when `..` follows a
        // link, the value as written, whose `..` the kernel takes after the link (rev35-1).
        let real = this.mcpArgGlobsReal.get(p);
        if (real === undefined)
          this.mcpArgGlobsReal.set(p, (real = withRealPrefix(pattern, this.resolvePath)));
        const readings = [path.path, ...(DOT_DOT_SEGMENT.test(value) ? [value] : [])];
        for (const reading of readings) {
          const segments = this.resolvedSegments(reading);
          if (segments === undefined || matchPath(real, segments) !== isMatch) return 'error';
        }
        return isMatch ? 'match' : 'no';
      }
    }
  }

  /**
   * The segments of an absolute path as the filesystem resolves it (resolvePath), compared as
   * argument globs compare (NFC); undefined when it cannot be said. Asked once per path in a
   * decision, however many rules' globs read it.
   */
  private resolvedSegments(path: string): readonly string[] | undefined {
    if (this.resolved.has(path)) return this.resolved.get(path);
    const real = this.resolvePath?.(path);
    let segments: readonly string[] | undefined;
    // A name on disk may be in NFD (as macOS writes it); a run of marks is not normalized at all.
    if (real !== undefined && otherReading(real) !== 'mark-run') {
      const canonical = canonicalPath(real.normalize('NFC'), this.argContext);
      segments = 'error' in canonical ? undefined : canonical.segments;
    }
    this.resolved.set(path, segments);
    return segments;
  }

  private mcpRuleMatches(rule: McpRuleC, r: McpRequest, annotations: Required<ToolAnnotations>): boolean {
    if (!rule.tools.some((t) => matchNameGlob(t, r.tool))) return false;
    if (rule.annotations) {
      for (const [key, want] of Object.entries(rule.annotations)) {
        if (want !== undefined && annotations[key as keyof ToolAnnotations] !== want) return false;
      }
    }
    if (rule.args.length === 0) return true;
    const isAllow = rule.ref.effect === 'allow';
    // Listing: arguments are not known yet. A tool with an argument-bound allow or ask may still
    // be called with the right arguments (the user asked, for an ask), so it is listed as the
    // rule says; an argument-bound deny hides nothing. The gateway holds what its listing hides,
    // so a tool an argument-bound ask alone let through was refused at every call.
    if (r.action === 'list') return rule.ref.effect !== 'deny';
    for (const p of rule.args) {
      const value = argAt(r.args, p.path);
      if (keepsRuleOut(value === undefined ? 'missing' : this.argTest(p, value), isAllow)) return false;
    }
    return true;
  }

  /** Every MCP rule whose server (a name or a glob) covers `server`. */
  private forEachMcpRule(server: string, visit: (rule: McpRuleC) => void): void {
    this.mcpByServer.get(server)?.forEach(visit);
    for (const rule of this.mcpServerGlobs) if (matchNameGlob(rule.server, server)) visit(rule);
  }

  private decideMcp(r: McpRequest): Decision {
    const action = r.action ?? 'call';
    const resource = `${r.server}/${r.tool}`;
    if (r.server === '' || r.tool === '' || hasControlCharacter(resource) || resource.length > 512) {
      return this.invalid(
        'mcp',
        action,
        resource,
        'the server or tool name is empty, too long, or contains a control character',
      );
    }
    const annotations = effectiveAnnotations(r.annotations);
    const hits: RuleRef[] = [];
    this.resolved.clear();
    this.forEachMcpRule(r.server, (rule) => {
      if (this.mcpRuleMatches(rule, r, annotations)) hits.push(rule.ref);
    });
    const d = this.finish('mcp', action, resource, hits);
    // Only a call that fell to the default is explained further: the allow path pays nothing.
    return d.code === 'default' && action === 'call' ? this.explainNearMisses(d, r, annotations) : d;
  }

  /**
   * A call no rule decided, where an allow or ask rule names the tool (its server and tool globs
   * match) and only its annotations or argument predicates failed: the reason names each such
   * rule and the conditions that did not hold, since "no rule matches" would send the reader
   * looking for a missing rule rather than at the tool's annotations or the arguments. The
   * decision itself is unchanged.
   */
  private explainNearMisses(d: Decision, r: McpRequest, annotations: Required<ToolAnnotations>): Decision {
    // Rules kept by the tool's annotations are named only where no rule was kept by the
    // arguments alone: a catch-all such as read-only tools would otherwise be named on every call.
    const byArgs: string[] = [];
    const byAnnotations: string[] = [];
    const consider = (rule: McpRuleC): void => {
      // Only an allow or an ask could have spared the call the default; a deny that missed explains nothing.
      if (rule.ref.effect === 'deny' || !rule.tools.some((t) => matchNameGlob(t, r.tool))) return;
      const unlike = annotationMisses(rule, r, annotations);
      if (unlike !== undefined) {
        byAnnotations.push(`rule ${ruleName(rule.ref)} matches the tool ${d.resource}, but ${unlike}`);
        return;
      }
      if (rule.args.length === 0) return;
      const misses: ArgMiss[] = [];
      for (const p of rule.args) {
        const value = argAt(r.args, p.path);
        const result = value === undefined ? 'missing' : this.argTest(p, value);
        if (result !== 'match' && keepsRuleOut(result, rule.ref.effect === 'allow'))
          misses.push({ predicate: p, shortfall: result, value });
      }
      if (misses.length === 0) return;
      const conditions = describeArgMisses(misses, (p) => this.mcpArgGlobs.get(p));
      byArgs.push(`rule ${ruleName(rule.ref)} matches the tool ${d.resource}, but ${conditions}`);
    };
    this.forEachMcpRule(r.server, consider);
    const named = byArgs.length > 0 ? byArgs : byAnnotations;
    if (named.length === 0) return d;
    const clauses = named.slice(0, 3);
    const more = named.length - clauses.length;
    if (more > 0)
      clauses.push(`${more} more ${more === 1 ? 'rule matches' : 'rules match'} the tool but not this call`);
    const o: Outcome = { decision: d.decision, would: d.wouldDecision, rules: d.rules };
    return {
      ...d,
      reason: `${VERB[o.would]}: ${clauses.join('; ')}, so the call falls to the mcp default: ${o.would}.${auditSuffix(o)}`,
    };
  }

  // -- exec ------------------------------------------------------------------------------------

  private execHits(argv: readonly string[], effect: Effect | 'any', out: RuleRef[]): boolean {
    const program = argv[0];
    if (program === undefined) return false;
    let found = false;
    const name = basename(program);
    const hasComputed = argv.some(isComputedWord);
    const consider = (e: ExecEntry): void => {
      const ruleEffect = e.rule.ref.effect;
      if (
        (effect === 'any' || ruleEffect === effect) &&
        matchCommandPattern(e.pattern, argv, name, ruleEffect !== 'allow', hasComputed)
      ) {
        out.push(e.rule.ref);
        found = true;
      }
    };
    if (hasComputed && isComputedWord(program)) {
      // The program itself is computed at run time: it could be any of them.
      for (const entries of this.execByProgram.values()) entries.forEach(consider);
    } else {
      this.execByProgram.get(name)?.forEach(consider);
      if (program.includes('/')) this.execByProgram.get(program)?.forEach(consider);
    }
    this.execGlobs.forEach(consider);
    return found;
  }

  /**
   * One simple command → the hit lists to decide, strictest wins. Denies and asks match at every
   * wrapper layer; allows must cover the command itself. A privilege wrapper (`sudo`, `doas`, …)
   * is also decided on its own: it must be allowed in its own right.
   */
  private commandHits(cmd: SimpleCommand): { argv: readonly string[]; hits: RuleRef[] }[] {
    const hits: RuleRef[] = [];
    const lists = [{ argv: cmd.argv, hits }];
    for (const layer of cmd.via) {
      this.execHits(layer, 'deny', hits);
      this.execHits(layer, 'ask', hits);
      if (PRIVILEGE_WRAPPERS.has(basename(layer[0] ?? ''))) {
        const own: RuleRef[] = [];
        this.execHits(layer, 'any', own);
        lists.push({ argv: layer, hits: own });
      }
    }
    this.execHits(cmd.argv, 'any', hits);
    return lists;
  }

  private decideExec(r: ExecRequest): Decision {
    const text = r.command ?? (r.argv ?? []).join(' ');
    const parsed = r.command !== undefined ? parseCommandLine(r.command) : commandsOfArgv(r.argv ?? []);
    if ('error' in parsed)
      return this.invalid('exec', 'exec', text, `${parsed.error}, so it cannot be checked`);
    if (parsed.commands.length === 0) return this.finish('exec', 'exec', text, []);
    const decided: (readonly string[])[] = [];
    const hitsPer: RuleRef[][] = [];
    for (const cmd of parsed.commands) {
      for (const { argv, hits } of this.commandHits(cmd)) {
        decided.push(argv);
        hitsPer.push(hits);
      }
    }
    return this.finishExec(text, parsed.commands, decided, hitsPer);
  }

  /** Several commands: each is decided alone and the strictest answer wins, for decision and would-be alike. */
  private finishExec(
    text: string,
    commands: readonly SimpleCommand[],
    decided: readonly (readonly string[])[],
    hitsPer: readonly RuleRef[][],
  ): Decision {
    const dflt = this.defaults.exec;
    const only = hitsPer.length === 1 ? hitsPer[0] : undefined;
    const onlyCommand = commands.length === 1 ? commands[0] : undefined;
    if (only !== undefined && onlyCommand !== undefined) {
      // The common case, one command and no privilege wrapper: decided like any other surface.
      const resource = displayArgv(onlyCommand.argv);
      const notes = onlyCommand.via.length > 0 || resource !== text ? [`runs: ${resource}`] : undefined;
      const computed = onlyCommand.argv.some(isComputedWord) ? [COMPUTED_NOTE] : [];
      const allNotes = [...(notes ?? []), ...computed];
      return this.finish(
        'exec',
        'exec',
        resource,
        only,
        allNotes.length > 0 ? allNotes : undefined,
        `"${resource}"`,
      );
    }
    let decisionRank = -1;
    let wouldRank = -1;
    const outcomes: Outcome[] = [];
    for (const hits of hitsPer) {
      const o = settle(hits, dflt);
      outcomes.push(o);
      if (RANK[o.decision] > decisionRank) decisionRank = RANK[o.decision];
      if (RANK[o.would] > wouldRank) wouldRank = RANK[o.would];
    }
    const decision = BY_RANK[decisionRank] as Effect;
    const would = BY_RANK[wouldRank] as Effect;
    const ruleSet = new Set<RuleRef>();
    const matchedSet = new Set<RuleRef>();
    const decidedBy: string[] = [];
    outcomes.forEach((o, i) => {
      for (const h of hitsPer[i] ?? []) matchedSet.add(h);
      if (o.would !== would) return;
      for (const r of o.rules) ruleSet.add(r);
      if (o.rules.length === 0) decidedBy.push(`"${displayArgv(decided[i] ?? [])}"`);
    });
    const rules = [...ruleSet];
    const matched = [...matchedSet];
    let resource = '';
    let hasWrapper = false;
    for (const c of commands) {
      resource = resource === '' ? displayArgv(c.argv) : `${resource} ; ${displayArgv(c.argv)}`;
      if (c.via.length > 0) hasWrapper = true;
    }
    const reason =
      rules.length > 0
        ? `${VERB[would]} by ${ruleList(rules)}.${auditSuffix({ decision, would, rules })}`
        : `${VERB[would]}: no rule matches ${decidedBy.join(', ') || resource}, and the exec default is ${would}.${auditSuffix({ decision, would, rules })}`;
    const notes = commands.length > 1 || hasWrapper || resource !== text ? [`runs: ${resource}`] : [];
    if (commands.some((c) => c.argv.some(isComputedWord))) notes.push(COMPUTED_NOTE);
    return {
      surface: 'exec',
      action: 'exec',
      resource,
      decision,
      wouldDecision: would,
      mode: decision === would ? 'enforce' : 'audit',
      rules,
      matched,
      code: rules.length > 0 ? 'rule' : 'default',
      reason,
      ...(notes.length > 0 ? { notes } : {}),
    };
  }

  // -- credential ------------------------------------------------------------------------------

  private decideCredential(r: CredentialRequest): Decision {
    if (!SECRET_NAME.test(r.secret))
      return this.invalid('credential', 'use', r.secret, `"${r.secret}" is not a secret name`);
    let name: string | undefined;
    let port = r.port ?? 443;
    if (r.host !== undefined) {
      const parsed = canonicalHost(r.host);
      if ('error' in parsed)
        return this.invalid('credential', 'use', `${r.secret} → ${r.host}`, parsed.error.message);
      name = parsed.host.kind === 'name' ? parsed.host.name : undefined;
      if (name === undefined) {
        // Secrets are bound to names, never to addresses: an IP literal matches no binding.
        name = parsed.host.name;
        port = -1;
      }
    }
    const resource = name !== undefined ? `${r.secret} → ${name}:${r.port ?? 443}` : r.secret;
    const hits: RuleRef[] = [];
    for (const b of this.bindingsBySecret.get(r.secret) ?? []) {
      if (name === undefined) hits.push(b.ref);
      else if (
        b.inject &&
        portIn(b.inject.ports, port) &&
        b.inject.hosts.some((h) => matchHostPattern(h, name ?? ''))
      )
        hits.push(b.ref);
    }
    // A remote server's catalog entry binds the credential it names to the server's own URL, for
    // the gateway's requests to that server (they name it): where no rule speaks of that
    // destination the binding allows it, and a rule that denies or asks still wins.
    const notes: string[] = [];
    const byUrl = r.server !== undefined && name !== undefined ? this.urlBinding(r.server) : undefined;
    if (
      byUrl?.secret === r.secret &&
      byUrl.host === name &&
      byUrl.port === port &&
      !hits.includes(byUrl.ref)
    ) {
      hits.push(byUrl.ref);
      notes.push(`the catalog entry of the MCP server ${r.server ?? ''} binds it to its URL`);
    }
    for (const rule of this.credentialRules) {
      if (!rule.secrets.some((g) => matchNameGlob(g, r.secret))) continue;
      if (
        rule.hosts === undefined ||
        (name !== undefined && rule.hosts.some((h) => matchHostPattern(h, name ?? '')))
      )
        hits.push(rule.ref);
    }
    return this.finish('credential', 'use', resource, hits, notes);
  }

  /** The binding a remote catalog server's entry ties to its https URL: secret, host name and port. */
  private urlBinding(
    server: string,
  ):
    | { readonly secret: string; readonly host: string; readonly port: number; readonly ref: RuleRef }
    | undefined {
    const entry = this.mcpServers().find((e) => e.server.id === server);
    const binding = entry ? this.catalogBinding(entry) : undefined;
    if (entry?.server.url === undefined || binding === undefined || typeof binding === 'string')
      return undefined;
    let url: URL;
    try {
      url = new URL(entry.server.url);
    } catch {
      return undefined;
    }
    if (url.protocol !== 'https:') return undefined;
    const parsed = canonicalHost(url.hostname.replace(/^\[|\]$/g, ''));
    if ('error' in parsed || parsed.host.kind !== 'name') return undefined; // bound to names, never addresses
    return {
      secret: binding.secret,
      host: parsed.host.name,
      port: Number(url.port || 443),
      ref: binding.ref,
    };
  }
}

/** Builds the engine for one subject and session from compiled policies. Cheap: call it per session. */
export function createEngine(policies: readonly CompiledPolicy[], options: EngineOptions): Engine {
  return new Engine(policies, options);
}
