// Policy lint: findings about policies that compile cleanly but probably do not say what their
// authors mean. Over-broad allows, multi-tenant destinations, wildcards without their apex, rules
// that never take effect or repeat another rule, allows a guardrail overrides, CIDRs that do not
// lift the built-in guard, dangling MCP references, HTTP rules that cannot see inside TLS, and
// guardrails left in audit mode (DESIGN.md; research/egress.md §7.3, §9; control-plane.md §6).
//
// Pure: compiled policies in, diagnostics out, no I/O. Lint only warns or informs; errors belong to
// the compiler. It claims that one rule hides or repeats another only when the pattern algebra
// proves it (host-pattern nesting, CIDR containment, port sets, path segments): a wrong
// "unreachable" would send an admin to delete a rule that matters.

import { getPublicSuffix } from 'tldts';
import { basename } from './command-line.js';
import { matchCommandPattern, type CommandPattern } from './command-pattern.js';
import type {
  ArgPredicateC,
  ArgTest,
  CompiledPolicy,
  CredentialBindingC,
  CredentialRuleC,
  ExecRuleC,
  FilesystemRuleC,
  McpRuleC,
  NetworkRuleC,
  RuleRef,
} from './compile.js';
import { valueAtPath, type Diagnostic, type DiagnosticPath } from './diagnostic.js';
import {
  compileHostPattern,
  hostPatternWithin,
  hostPatternsOverlap,
  matchHostPattern,
  type HostPattern,
} from './host-pattern.js';
import { cidrOverlaps, cidrWithin, formatCidr, parseCidr, type Cidr } from './ip.js';
import { compileNameGlob, isMatchAll, matchNameGlob, type NameGlob } from './name-glob.js';
import {
  expandPathPattern,
  matchPath,
  pathWitnesses,
  type ExpandedPathPattern,
  type PathContext,
  type PathSegment,
} from './path-pattern.js';
import { formatPorts, parsePortSpec, portsOverlap, portsWithin, type PortSet } from './ports.js';
import type { Effect, Surface, ToolAnnotations } from './schema.js';
import { SPECIAL_RANGES, specialNameOf, type SpecialRange } from './special-ranges.js';

export interface LintOptions {
  /** Home and workspace for expanding `~` and `${workspace}` in filesystem patterns. */
  readonly context?: PathContext;
}

/** A plausible session, so that `~/…` and `${workspace}/…` patterns can be compared. */
const DEFAULT_CONTEXT: PathContext = { home: '/home/user', workspace: '/workspace' };

/**
 * Lints a set of policies, usually the effective set of one organisation (guardrails, baseline
 * and group policies together), since most findings are about how rules of different policies
 * meet. Findings come back in a stable order: by policy as given, then by document path (the
 * sections in schema order: network, filesystem, credentials, mcp, exec).
 */
export function lintPolicies(policies: readonly CompiledPolicy[], options: LintOptions = {}): Diagnostic[] {
  const context = options.context ?? DEFAULT_CONTEXT;
  const rules = analysableRules(policies, context);
  const lint: Lint = { policies, context, rules, findings: [], shadows: new Map() };
  overBroadAllows(lint);
  wildcardCredentialHosts(lint);
  multiTenantHosts(lint);
  apexNotCovered(lint);
  unreachableRules(lint);
  redundantRules(lint);
  redundantPatterns(lint);
  partialOverlaps(lint);
  relaxedGuardrails(lint);
  cidrGuardRanges(lint);
  guardedNames(lint);
  mcpCatalogReferences(lint);
  ambiguousServerAddresses(lint);
  httpRulesOnTunnels(lint);
  auditModeGuardrails(lint);
  return inDocumentOrder(lint);
}

// ---------------------------------------------------------------------------------------------
// The model lint reasons over: every rule cut into pieces (one per pattern, and per access for
// filesystem rules), each of which the pattern algebra can compare with another.

interface Lint {
  readonly policies: readonly CompiledPolicy[];
  readonly context: PathContext;
  readonly rules: readonly LintRule[];
  readonly findings: Diagnostic[];
  /** `shadowsOf`, computed once per rule. */
  readonly shadows: Map<LintRule, readonly (LintRule | undefined)[]>;
}

/** The HTTP side of a network rule. */
interface Http {
  readonly methods?: ReadonlySet<string>;
  readonly paths?: readonly ExpandedPathPattern[];
  /** Opaque tunnels carry no method or path: unrestricted rules match them, and so do deny and ask rules with methods or paths. */
  readonly matchesTunnel: boolean;
}

interface PieceBase {
  /** The pattern as written, quoted, for "… in rule x" messages. */
  readonly text: string;
  /** What the piece covers, for "… has no effect for <label>" messages. */
  readonly label: string;
  readonly path: DiagnosticPath;
}
interface HostPiece extends PieceBase {
  readonly kind: 'host';
  readonly pattern: HostPattern;
  readonly ports: PortSet;
  readonly http: Http;
}
interface CidrPiece extends PieceBase {
  readonly kind: 'cidr';
  readonly cidr: Cidr;
  readonly ports: PortSet;
  readonly http: Http;
}
interface PathPiece extends PieceBase {
  readonly kind: 'path';
  readonly pattern: ExpandedPathPattern;
  readonly access: 'read' | 'write';
  /** Rooted at `**`: a by-name pattern (any `.env` file) that applies everywhere. */
  readonly isAnywhere: boolean;
}
interface ToolPiece extends PieceBase {
  readonly kind: 'tool';
  readonly server: NameGlob;
  readonly tool: NameGlob;
  readonly annotations?: ToolAnnotations;
  readonly args: readonly ArgPredicateC[];
  readonly effect: Effect;
}
interface CommandPiece extends PieceBase {
  readonly kind: 'command';
  readonly pattern: CommandPattern;
}
interface SecretPiece extends PieceBase {
  readonly kind: 'secret';
  readonly secret: NameGlob;
  /** Destinations; undefined means every destination. */
  readonly hosts?: readonly HostPattern[];
  /** Whether it matches a use with no destination (the placeholder handed out at session start). */
  readonly matchesNoHost: boolean;
}
type Piece = HostPiece | CidrPiece | PathPiece | ToolPiece | CommandPiece | SecretPiece;

interface LintRule {
  readonly policy: CompiledPolicy;
  readonly ref: RuleRef;
  readonly at: DiagnosticPath;
  readonly surface: Surface;
  /** A credential binding (`credentials.allow`), rather than a credential ask/deny rule. */
  readonly isBinding: boolean;
  readonly pieces: readonly Piece[];
  /** False when a pattern could not be analysed (`${workspace}/…` with no workspace): never called shadowed then. */
  readonly isComplete: boolean;
  /** Position in the input, for "the later of two equal rules" decisions. */
  readonly order: number;
}

const RANK: Record<Effect, number> = { allow: 0, ask: 1, deny: 2 };

/** The document path of each compiled item of a list, found by its text (compile drops bad items). */
function itemPaths(
  policy: CompiledPolicy,
  list: DiagnosticPath,
  items: readonly { readonly text: string }[],
): DiagnosticPath[] {
  const raw = valueAtPath(policy.source, list);
  return items.map((item, k) => {
    if (!Array.isArray(raw)) return [...list, k];
    const nth = items.slice(0, k).filter((other) => other.text === item.text).length;
    let seen = 0;
    for (let i = 0; i < raw.length; i++) if (raw[i] === item.text && seen++ === nth) return [...list, i];
    return [...list, k];
  });
}

/** The CIDRs of a network rule with their text as written and their document paths. */
function cidrsOf(
  policy: CompiledPolicy,
  rule: NetworkRuleC,
): { cidr: Cidr; text: string; path: DiagnosticPath }[] {
  const raw = valueAtPath(policy.source, [...rule.at, 'cidrs']);
  if (!Array.isArray(raw)) return [];
  const out: { cidr: Cidr; text: string; path: DiagnosticPath }[] = [];
  raw.forEach((text: unknown, k) => {
    if (typeof text !== 'string') return;
    const parsed = parseCidr(text);
    if ('cidr' in parsed) out.push({ cidr: parsed.cidr, text, path: [...rule.at, 'cidrs', k] });
  });
  return out;
}

function httpOf(rule: NetworkRuleC): Http {
  const isRestricted = rule.methods !== undefined || rule.paths !== undefined;
  return {
    ...(rule.methods ? { methods: rule.methods } : {}),
    ...(rule.paths ? { paths: rule.paths } : {}),
    matchesTunnel: !isRestricted || rule.ref.effect !== 'allow',
  };
}

function networkPieces(policy: CompiledPolicy, rule: NetworkRuleC): Piece[] {
  const http = httpOf(rule);
  const paths = itemPaths(policy, [...rule.at, 'hosts'], rule.hosts);
  const pieces: Piece[] = rule.hosts.map((pattern, k) => ({
    kind: 'host',
    pattern,
    ports: pattern.ports ?? rule.ports, // as the engine does: a port on the pattern wins
    http,
    text: `"${pattern.text}"`,
    label: `"${pattern.text}"`,
    path: paths[k] ?? rule.at,
  }));
  for (const c of cidrsOf(policy, rule)) {
    const text = `"${c.text}"`;
    pieces.push({ kind: 'cidr', cidr: c.cidr, ports: rule.ports, http, text, label: text, path: c.path });
  }
  return pieces;
}

/** Filesystem pieces, one per pattern and access; undefined for a pattern that cannot be expanded. */
function filesystemPieces(
  policy: CompiledPolicy,
  rule: FilesystemRuleC,
  context: PathContext,
): (Piece | undefined)[] {
  const paths = itemPaths(policy, [...rule.at, 'paths'], rule.paths);
  return rule.paths.flatMap((p, k) => {
    const pattern = expandPathPattern(p, context);
    if (pattern === undefined) return [undefined];
    const text = `"${p.text}"`;
    const base = {
      kind: 'path',
      pattern,
      isAnywhere: p.root === 'anywhere',
      text,
      path: paths[k] ?? rule.at,
    } as const;
    return [
      ...(rule.read ? [{ ...base, access: 'read', label: `reading ${text}` } as const] : []),
      ...(rule.write ? [{ ...base, access: 'write', label: `writing ${text}` } as const] : []),
    ];
  });
}

function mcpPieces(policy: CompiledPolicy, rule: McpRuleC): Piece[] {
  // Without `tools` the rule covers every tool; its pieces then point at the server.
  const isWritten = Array.isArray(valueAtPath(policy.source, [...rule.at, 'tools']));
  const paths = itemPaths(policy, [...rule.at, 'tools'], rule.tools);
  return rule.tools.map((tool, k) => ({
    kind: 'tool',
    server: rule.server,
    tool,
    ...(rule.annotations ? { annotations: rule.annotations } : {}),
    args: rule.args,
    effect: rule.ref.effect,
    text: `"${tool.text}"`,
    label: `"${rule.server.text}/${tool.text}"`,
    path: isWritten ? (paths[k] ?? rule.at) : [...rule.at, 'server'],
  }));
}

function execPieces(policy: CompiledPolicy, rule: ExecRuleC): Piece[] {
  const paths = itemPaths(policy, [...rule.at, 'commands'], rule.commands);
  return rule.commands.map((pattern, k) => ({
    kind: 'command',
    pattern,
    text: `"${pattern.text}"`,
    label: `"${pattern.text}"`,
    path: paths[k] ?? rule.at,
  }));
}

/** A binding matches its secret's placeholder (no destination) and its injection hosts. */
function bindingPieces(b: CredentialBindingC): Piece[] {
  const text = `secret "${b.secret}"`;
  const secret: NameGlob = compileNameGlob(b.secret);
  return [
    {
      kind: 'secret',
      secret,
      hosts: b.inject?.hosts ?? [],
      matchesNoHost: true,
      text,
      label: text,
      path: b.at,
    },
  ];
}

function credentialRulePieces(policy: CompiledPolicy, rule: CredentialRuleC): Piece[] {
  const paths = itemPaths(policy, [...rule.at, 'secrets'], rule.secrets);
  return rule.secrets.map((secret, k) => ({
    kind: 'secret',
    secret,
    ...(rule.hosts ? { hosts: rule.hosts } : {}),
    matchesNoHost: rule.hosts === undefined,
    text: `"${secret.text}"`,
    label: `secret "${secret.text}"`,
    path: paths[k] ?? rule.at,
  }));
}

function analysableRules(policies: readonly CompiledPolicy[], context: PathContext): LintRule[] {
  const out: LintRule[] = [];
  const add = (
    policy: CompiledPolicy,
    surface: Surface,
    rule: { ref: RuleRef; at: DiagnosticPath },
    pieces: readonly (Piece | undefined)[],
    isBinding = false,
  ): void => {
    const known = pieces.filter((p): p is Piece => p !== undefined);
    out.push({
      policy,
      ref: rule.ref,
      at: rule.at,
      surface,
      isBinding,
      pieces: known,
      isComplete: known.length === pieces.length,
      order: out.length,
    });
  };
  for (const policy of policies) {
    for (const rule of policy.network) add(policy, 'network', rule, networkPieces(policy, rule));
    for (const rule of policy.filesystem)
      add(policy, 'filesystem', rule, filesystemPieces(policy, rule, context));
    for (const rule of policy.mcp) add(policy, 'mcp', rule, mcpPieces(policy, rule));
    for (const rule of policy.exec) add(policy, 'exec', rule, execPieces(policy, rule));
    for (const b of policy.credentialBindings) add(policy, 'credential', b, bindingPieces(b), true);
    for (const rule of policy.credentialRules)
      add(policy, 'credential', rule, credentialRulePieces(policy, rule));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The pattern algebra: `pieceWithin` must be sound (true only when every request the inner piece
// matches, the outer matches too); `piecesOverlap` may miss an overlap but must not invent one.

/** Every path the inner segments match, the outer match too. Sound, not complete. */
function segmentsWithin(inner: readonly PathSegment[], outer: readonly PathSegment[]): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * 4096 + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const n = inner[i];
    const o = outer[j];
    let result: boolean;
    if (o === undefined) result = n === undefined;
    // An outer `**` matches nothing more, or swallows one more inner segment (an inner `**` too).
    else if (o.kind === 'any-depth') result = go(i, j + 1) || (n !== undefined && go(i + 1, j));
    else if (n === undefined || n.kind === 'any-depth') result = false;
    else result = segmentWithin(n, o) && go(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

function segmentWithin(inner: PathSegment, outer: PathSegment): boolean {
  if (outer.kind === 'any-depth') return true;
  if (inner.kind === 'any-depth') return false;
  if (outer.kind === 'literal') return inner.kind === 'literal' && inner.text === outer.text;
  if (inner.kind === 'literal') return outer.re.test(inner.text);
  return inner.text === outer.text || /^\*+$/.test(outer.text);
}

/**
 * Do two segment patterns match a common path? Witnesses (real members of one pattern, matched
 * by the other) answer most cases at once; a search over both patterns answers the rest (a
 * `build` directory under any project against one project's tree). Never invents an overlap; may
 * miss one between two globs in the same segment.
 */
function segmentsOverlap(a: ExpandedPathPattern, b: ExpandedPathPattern): boolean {
  if (witnessesOf(a).some((w) => matchPath(b, w)) || witnessesOf(b).some((w) => matchPath(a, w))) return true;
  const x = a.segments;
  const y = b.segments;
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * 4096 + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const s = x[i];
    const t = y[j];
    let result: boolean;
    if (s === undefined && t === undefined) result = true;
    else if (s?.kind === 'any-depth') result = go(i + 1, j) || (t !== undefined && go(i, j + 1));
    else if (t?.kind === 'any-depth') result = go(i, j + 1) || (s !== undefined && go(i + 1, j));
    else if (s === undefined || t === undefined) result = false;
    else result = segmentsMeet(s, t) && go(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

const witnessCache = new WeakMap<ExpandedPathPattern, string[][]>();

function witnessesOf(pattern: ExpandedPathPattern): string[][] {
  let w = witnessCache.get(pattern);
  if (!w) witnessCache.set(pattern, (w = pathWitnesses(pattern)));
  return w;
}

/** Can one path segment match both? Sure for literals; for two globs, only when a witness shows it. */
function segmentsMeet(s: PathSegment, t: PathSegment): boolean {
  if (s.kind === 'any-depth' || t.kind === 'any-depth') return true;
  if (s.kind === 'literal') return t.kind === 'literal' ? s.text === t.text : t.re.test(s.text);
  if (t.kind === 'literal') return s.re.test(t.text);
  const fill = (g: string): string[] =>
    [g.replace(/\*/g, ''), g.replace(/\*/g, 'x')].map((w) => w.replace(/\?/g, 'x'));
  return fill(s.text).some((w) => t.re.test(w)) || fill(t.text).some((w) => s.re.test(w));
}

function globWithin(inner: NameGlob, outer: NameGlob): boolean {
  if (isMatchAll(outer) || inner.text === outer.text) return true;
  return inner.exact !== undefined && matchNameGlob(outer, inner.exact);
}

function globsOverlap(a: NameGlob, b: NameGlob): boolean {
  if (globWithin(a, b) || globWithin(b, a)) return true;
  const witnesses = (g: NameGlob): string[] => [
    g.text.replace(/\*/g, '').replace(/\?/g, 'x'),
    g.text.replace(/\*/g, 'x').replace(/\?/g, 'x'),
  ];
  return witnesses(a).some((w) => matchNameGlob(b, w)) || witnesses(b).some((w) => matchNameGlob(a, w));
}

function commandWithin(inner: CommandPattern, outer: CommandPattern): boolean {
  if (inner.isPathProgram === outer.isPathProgram) return segmentsWithin(inner.segments, outer.segments);
  // A program name (`git`) matches argv[0] by basename; a path (`/usr/bin/git`) only as written.
  if (outer.isPathProgram) return false;
  const [program, ...rest] = inner.segments;
  if (program?.kind !== 'literal') return false;
  return segmentsWithin([{ kind: 'literal', text: basename(program.text) }, ...rest], outer.segments);
}

function commandWitness(pattern: CommandPattern): string[] {
  return pattern.segments.flatMap((s) =>
    s.kind === 'literal'
      ? [s.text]
      : s.kind === 'glob'
        ? [s.text.replace(/\*/g, 'x').replace(/\?/g, 'y')]
        : [],
  );
}

function commandsOverlap(a: CommandPattern, b: CommandPattern): boolean {
  return (
    commandWithin(a, b) ||
    commandWithin(b, a) ||
    matchCommandPattern(b, commandWitness(a)) ||
    matchCommandPattern(a, commandWitness(b))
  );
}

function httpWithin(inner: Http, outer: Http): boolean {
  if (outer.methods === undefined && outer.paths === undefined) return true;
  if (inner.methods === undefined && inner.paths === undefined) return false;
  if (inner.matchesTunnel && !outer.matchesTunnel) return false;
  const { methods, paths } = outer;
  const methodsOk =
    methods === undefined || (inner.methods !== undefined && [...inner.methods].every((m) => methods.has(m)));
  const pathsOk =
    paths === undefined ||
    (inner.paths !== undefined &&
      inner.paths.every((p) => paths.some((q) => segmentsWithin(p.segments, q.segments))));
  return methodsOk && pathsOk;
}

function httpOverlap(a: Http, b: Http): boolean {
  if (a.matchesTunnel && b.matchesTunnel) return true;
  const { methods } = b;
  if (a.methods !== undefined && methods !== undefined && ![...a.methods].some((m) => methods.has(m)))
    return false;
  const { paths } = b;
  if (
    a.paths !== undefined &&
    paths !== undefined &&
    !a.paths.some((p) => paths.some((q) => segmentsOverlap(p, q)))
  )
    return false;
  return true;
}

function annotationsWithin(inner: ToolAnnotations | undefined, outer: ToolAnnotations | undefined): boolean {
  if (outer === undefined) return true;
  return Object.entries(outer).every(
    ([k, v]) => v === undefined || inner?.[k as keyof ToolAnnotations] === v,
  );
}

function annotationsCompatible(a: ToolAnnotations | undefined, b: ToolAnnotations | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  return Object.entries(a).every(([k, v]) => {
    const w = b[k as keyof ToolAnnotations];
    return v === undefined || w === undefined || v === w;
  });
}

function argKey(p: ArgPredicateC): string {
  const t: ArgTest = p.test;
  const value = t.kind === 'glob' ? t.pattern.text : t.kind === 'regex' ? t.re.source : t;
  return `${p.key}\u0000${t.kind}\u0000${JSON.stringify(value)}`;
}

/**
 * Argument predicates: an outer rule without predicates covers any arguments. With predicates, the
 * inner must carry the same ones, and an allow is never covered by a deny or ask with arguments,
 * because at listing time (no arguments yet) the allow matches and they do not.
 */
function argsWithin(inner: ToolPiece, outer: ToolPiece): boolean {
  if (outer.args.length === 0) return true;
  if (inner.effect === 'allow' && outer.effect !== 'allow') return false;
  const have = new Set(inner.args.map(argKey));
  return outer.args.every((p) => have.has(argKey(p)));
}

function hostsWithin(inner: readonly HostPattern[], outer: readonly HostPattern[]): boolean {
  return inner.every((h) => outer.some((o) => hostPatternWithin(h, o)));
}

function pieceWithin(a: Piece, b: Piece): boolean {
  switch (a.kind) {
    case 'host':
      return (
        b.kind === 'host' &&
        hostPatternWithin(a.pattern, b.pattern) &&
        portsWithin(a.ports, b.ports) &&
        httpWithin(a.http, b.http)
      );
    case 'cidr':
      return (
        b.kind === 'cidr' &&
        cidrWithin(a.cidr, b.cidr) &&
        portsWithin(a.ports, b.ports) &&
        httpWithin(a.http, b.http)
      );
    case 'path':
      return (
        b.kind === 'path' && a.access === b.access && segmentsWithin(a.pattern.segments, b.pattern.segments)
      );
    case 'tool':
      return (
        b.kind === 'tool' &&
        globWithin(a.server, b.server) &&
        globWithin(a.tool, b.tool) &&
        annotationsWithin(a.annotations, b.annotations) &&
        argsWithin(a, b)
      );
    case 'command':
      return b.kind === 'command' && commandWithin(a.pattern, b.pattern);
    case 'secret':
      if (b.kind !== 'secret' || !globWithin(a.secret, b.secret)) return false;
      if (b.hosts === undefined) return true;
      return !a.matchesNoHost && a.hosts !== undefined && hostsWithin(a.hosts, b.hosts);
  }
}

function piecesOverlap(a: Piece, b: Piece): boolean {
  switch (a.kind) {
    case 'host':
      return (
        b.kind === 'host' &&
        hostPatternsOverlap(a.pattern, b.pattern) &&
        portsOverlap(a.ports, b.ports) &&
        httpOverlap(a.http, b.http)
      );
    case 'cidr':
      return (
        b.kind === 'cidr' &&
        cidrOverlaps(a.cidr, b.cidr) &&
        portsOverlap(a.ports, b.ports) &&
        httpOverlap(a.http, b.http)
      );
    case 'path':
      return b.kind === 'path' && a.access === b.access && segmentsOverlap(a.pattern, b.pattern);
    case 'tool':
      return (
        b.kind === 'tool' &&
        globsOverlap(a.server, b.server) &&
        globsOverlap(a.tool, b.tool) &&
        annotationsCompatible(a.annotations, b.annotations)
      );
    case 'command':
      return b.kind === 'command' && commandsOverlap(a.pattern, b.pattern);
    case 'secret': {
      if (b.kind !== 'secret' || !globsOverlap(a.secret, b.secret)) return false;
      if (a.matchesNoHost && b.matchesNoHost) return true;
      if (a.hosts === undefined) return b.hosts === undefined || b.hosts.length > 0;
      const other = b.hosts;
      if (other === undefined) return a.hosts.length > 0;
      return a.hosts.some((h) => other.some((o) => hostPatternsOverlap(h, o)));
    }
  }
}

/** True when `outer` is in force for every subject `inner` is: group policies bind to groups. */
function appliesWherever(outer: CompiledPolicy, inner: CompiledPolicy): boolean {
  if (outer === inner || outer.layer !== 'group') return true;
  const groups = outer.groups ?? [];
  return inner.layer === 'group' && (inner.groups ?? []).every((g) => groups.includes(g));
}

/** Can `outer` take the place of `inner`? Only if it applies to the same subjects and is enforced when `inner` is. */
function canStandIn(outer: LintRule, inner: LintRule): boolean {
  return (
    outer.surface === inner.surface &&
    appliesWherever(outer.policy, inner.policy) &&
    (outer.ref.mode === 'enforce' || inner.ref.mode === 'audit')
  );
}

/**
 * For each piece of an allow or ask rule, the first stronger rule that covers it. Guardrail rules
 * are left out for allows: `relaxedGuardrails` reports those, in the guardrail's words.
 */
function shadowsOf(lint: Lint, rule: LintRule): readonly (LintRule | undefined)[] {
  const known = lint.shadows.get(rule);
  if (known) return known;
  const stronger = lint.rules.filter(
    (r) =>
      RANK[r.ref.effect] > RANK[rule.ref.effect] &&
      canStandIn(r, rule) &&
      !(rule.ref.effect === 'allow' && r.ref.layer === 'guardrail'),
  );
  const shadows = rule.pieces.map((p) => stronger.find((r) => r.pieces.some((q) => pieceWithin(p, q))));
  lint.shadows.set(rule, shadows);
  return shadows;
}

function isUnreachable(lint: Lint, rule: LintRule): boolean {
  if (rule.ref.effect === 'deny' || !rule.isComplete || rule.pieces.length === 0) return false;
  return shadowsOf(lint, rule).every((r) => r !== undefined);
}

/** Groups a rule's pieces by document path: one group per pattern as written. */
function patternsOf(rule: LintRule): { path: DiagnosticPath; text: string; pieces: Piece[] }[] {
  const groups = new Map<string, { path: DiagnosticPath; text: string; pieces: Piece[] }>();
  for (const p of rule.pieces) {
    const key = JSON.stringify(p.path);
    const g = groups.get(key);
    if (g) g.pieces.push(p);
    else groups.set(key, { path: p.path, text: p.text, pieces: [p] });
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------------------------
// Wording

function ruleName(r: { ref: RuleRef; isBinding?: boolean }): string {
  return r.isBinding
    ? `credential "${r.ref.rule}" (policy ${r.ref.policy})`
    : `${r.ref.effect} rule "${r.ref.rule}" (policy ${r.ref.policy})`;
}

function listOf(items: readonly string[], max = 4): string {
  const unique = [...new Set(items)];
  const shown = unique.slice(0, max);
  const more = unique.length > max ? ` and ${unique.length - max} more` : '';
  if (shown.length <= 1) return `${shown[0] ?? ''}${more}`;
  if (more) return `${shown.join(', ')}${more}`;
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1] ?? ''}`;
}

interface Finding {
  readonly severity: 'warning' | 'info';
  readonly code: string;
  readonly policy: string;
  readonly path: DiagnosticPath;
  readonly message: string;
  readonly hint: string;
}

function report(lint: Lint, finding: Finding): void {
  lint.findings.push(finding);
}

/** The allow rules of the network surface, with their policy. */
function networkAllows(lint: Lint): { policy: CompiledPolicy; rule: NetworkRuleC }[] {
  return lint.policies.flatMap((policy) =>
    policy.network.filter((r) => r.ref.effect === 'allow').map((rule) => ({ policy, rule })),
  );
}

// ---------------------------------------------------------------------------------------------
// 1. Over-broad allows

const NARROW_V4_PREFIX = 8;
const NARROW_V6_PREFIX = 16;

function overBroadAllows(lint: Lint): void {
  overBroadNetworkAllows(lint);
  overBroadFilesystemAllows(lint);
  overBroadToolAllows(lint);
  overBroadProgramAllows(lint);
}

const OVER_BROAD = 'over-broad-allow';

function overBroadNetworkAllows(lint: Lint): void {
  for (const { policy, rule } of networkAllows(lint)) {
    const name = ruleName(rule);
    const hostPaths = itemPaths(policy, [...rule.at, 'hosts'], rule.hosts);
    rule.hosts.forEach((h, k) => {
      const path = hostPaths[k] ?? rule.at;
      if (h.kind === 'any') {
        report(lint, {
          severity: 'warning',
          code: OVER_BROAD,
          policy: policy.name,
          path,
          message: `${name} allows "${h.text}": every public host name`,
          hint: 'list the hosts the agent needs; "**" lets data out to any server on the internet',
        });
      } else if (h.ports && portsWithin([[1, 65535]], h.ports)) {
        report(lint, {
          severity: 'warning',
          code: OVER_BROAD,
          policy: policy.name,
          path,
          message: `${name} allows "${h.text}" on every port (1-65535)`,
          hint: 'name the ports the service listens on; without a port a host rule means 80 and 443',
        });
      }
    });
    for (const c of cidrsOf(policy, rule)) {
      const isV4 = c.cidr.ip.family === 4;
      const limit = isV4 ? NARROW_V4_PREFIX : NARROW_V6_PREFIX;
      if (c.cidr.prefix >= limit) continue;
      const space = isV4 ? 'IPv4' : 'IPv6';
      const what =
        c.cidr.prefix === 0
          ? `every ${space} address`
          : `1/${2 ** c.cidr.prefix} of the ${space} address space`;
      report(lint, {
        severity: 'warning',
        code: OVER_BROAD,
        policy: policy.name,
        path: c.path,
        message: `${name} allows "${c.text}": ${what}`,
        hint: `name the networks the agent needs; blocks wider than /${limit} are almost never meant`,
      });
    }
    if (portsWithin([[1, 65535]], rule.ports)) {
      const raw = valueAtPath(policy.source, [...rule.at, 'ports']);
      const k = Array.isArray(raw)
        ? raw.findIndex((s: unknown) => {
            const r = typeof s === 'string' || typeof s === 'number' ? parsePortSpec(s) : '';
            return typeof r !== 'string' && r[0] === 1 && r[1] === 65535;
          })
        : -1;
      report(lint, {
        severity: 'warning',
        code: OVER_BROAD,
        policy: policy.name,
        path: k >= 0 ? [...rule.at, 'ports', k] : [...rule.at, 'ports'],
        message: `${name} allows every port (1-65535) on its hosts and addresses`,
        hint: 'name the ports the service listens on; without ports a host rule means 80 and 443',
      });
    }
  }
}

function overBroadFilesystemAllows(lint: Lint): void {
  for (const policy of lint.policies) {
    for (const rule of policy.filesystem) {
      if (rule.ref.effect !== 'allow') continue;
      const access = rule.read && rule.write ? 'read and write' : rule.write ? 'write' : 'read';
      const paths = itemPaths(policy, [...rule.at, 'paths'], rule.paths);
      rule.paths.forEach((p, k) => {
        if (p.root === 'workspace') return;
        const expanded = expandPathPattern(p, lint.context);
        const what = expanded && wholeTreeOf(expanded, lint.context);
        if (what === undefined) return;
        report(lint, {
          severity: 'warning',
          code: OVER_BROAD,
          policy: policy.name,
          path: paths[k] ?? rule.at,
          message: `${ruleName(rule)} allows ${access} access to "${p.text}": ${what}`,
          hint: 'allow the directories the agent works in (${workspace}/**, a project path); home directories hold SSH keys and cloud credentials',
        });
      });
    }
  }
}

function overBroadToolAllows(lint: Lint): void {
  for (const policy of lint.policies) {
    for (const rule of policy.mcp) {
      if (rule.ref.effect !== 'allow' || !isMatchAll(rule.server) || !rule.tools.some(isMatchAll)) continue;
      if (rule.args.length > 0 || rule.annotations !== undefined) continue;
      report(lint, {
        severity: 'warning',
        code: OVER_BROAD,
        policy: policy.name,
        path: [...rule.at, 'server'],
        message: `${ruleName(rule)} allows every tool of every MCP server`,
        hint: 'allow servers by id and tools by name; new servers and tools then stay denied until someone looks at them',
      });
    }
  }
}

function overBroadProgramAllows(lint: Lint): void {
  for (const policy of lint.policies) {
    for (const rule of policy.exec) {
      if (rule.ref.effect !== 'allow') continue;
      const paths = itemPaths(policy, [...rule.at, 'commands'], rule.commands);
      rule.commands.forEach((c, k) => {
        const program = c.segments[0];
        if (program?.kind !== 'glob' || !/^\*+$/.test(program.text)) return;
        report(lint, {
          severity: 'warning',
          code: OVER_BROAD,
          policy: policy.name,
          path: paths[k] ?? rule.at,
          message: `${ruleName(rule)} allows "${c.text}": any program`,
          hint: 'name the program first (git, npm, …); a leading "*" allows every binary on the machine',
        });
      });
    }
  }
}

/**
 * What a filesystem pattern covers, when that is the whole file system or a whole home: literal
 * segments that are the home or one of its ancestors, followed only by `**` (and `*`).
 */
function wholeTreeOf(pattern: ExpandedPathPattern, context: PathContext): string | undefined {
  const home = context.home === '/' ? [] : context.home.slice(1).split('/');
  const segs = pattern.segments;
  if (segs.length === 0) return 'the root directory of the file system';
  const lead: string[] = [];
  let i = 0;
  for (; i < segs.length; i++) {
    const s = segs[i];
    if (s?.kind !== 'literal') break;
    lead.push(s.text);
  }
  const tail = segs.slice(i);
  const isAll =
    tail.some((s) => s.kind === 'any-depth') &&
    tail.every((s) => s.kind === 'any-depth' || /^\*+$/.test(s.text));
  if (!isAll || lead.length > home.length || lead.some((s, k) => s !== home[k])) return undefined;
  if (lead.length === 0) return 'the whole file system';
  if (lead.length === home.length) return 'the whole home directory, with its SSH keys and cloud credentials';
  return `everything under /${lead.join('/')}, the home directory included`;
}

function wildcardCredentialHosts(lint: Lint): void {
  for (const policy of lint.policies) {
    for (const b of policy.credentialBindings) {
      if (!b.inject) continue;
      const paths = itemPaths(policy, [...b.at, 'inject', 'hosts'], b.inject.hosts);
      b.inject.hosts.forEach((h, k) => {
        if (h.kind === 'exact') return;
        const who = h.kind === 'any' ? 'every host' : `every host under ${h.suffix}`;
        report(lint, {
          severity: 'warning',
          code: 'wildcard-credential-host',
          policy: policy.name,
          path: paths[k] ?? b.at,
          message: `credential "${b.ref.rule}" (policy ${policy.name}) injects secret "${b.secret}" into "${h.text}": ${who} receives the real secret`,
          hint: 'bind the secret to the exact API hosts that need it (api.example.com)',
        });
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Multi-tenant destinations (research/egress.md §9.2 item 7)

interface SharedHost {
  readonly pattern: string;
  readonly what: string;
  /** Whether the tenant, not only the operator, sees the requests (and so an injected secret). */
  readonly tenantSeesRequests: boolean;
}

/** Hosts where anyone can publish or receive data: an allow lets data out to any account there. */
const SHARED_HOSTS: readonly SharedHost[] = [
  {
    pattern: 'github.com',
    what: 'code hosting where anyone can push a repository',
    tenantSeesRequests: false,
  },
  { pattern: 'gist.github.com', what: 'a paste service', tenantSeesRequests: false },
  {
    pattern: 'raw.githubusercontent.com',
    what: 'raw files of any GitHub repository',
    tenantSeesRequests: false,
  },
  { pattern: 'gist.githubusercontent.com', what: 'raw files of any gist', tenantSeesRequests: false },
  {
    pattern: 'objects.githubusercontent.com',
    what: 'release assets and attachments of any GitHub repository',
    tenantSeesRequests: false,
  },
  { pattern: 'pastebin.com', what: 'a paste service', tenantSeesRequests: false },
  { pattern: 'transfer.sh', what: 'an anonymous file-upload service', tenantSeesRequests: false },
  {
    pattern: 'webhook.site',
    what: 'a request catcher that shows whatever is sent to it',
    tenantSeesRequests: true,
  },
  { pattern: 'requestbin.com', what: 'a request catcher', tenantSeesRequests: true },
  ...['ngrok.io', 'ngrok.app', 'ngrok-free.app', 'ngrok.dev', 'ngrok-free.dev'].map((suffix) => ({
    pattern: `**.${suffix}`,
    what: "an ngrok tunnel to someone's machine",
    tenantSeesRequests: true,
  })),
  {
    pattern: 'storage.googleapis.com',
    what: 'Google Cloud Storage, serving any bucket by path',
    tenantSeesRequests: false,
  },
  { pattern: 's3.amazonaws.com', what: 'Amazon S3, serving any bucket by path', tenantSeesRequests: false },
  {
    pattern: 'docs.google.com',
    what: 'Google Docs, where anyone can share a document or a form',
    tenantSeesRequests: false,
  },
  {
    pattern: 'drive.google.com',
    what: 'Google Drive, where anyone can share files',
    tenantSeesRequests: false,
  },
  { pattern: 'dropbox.com', what: 'file sharing', tenantSeesRequests: false },
  { pattern: 'www.dropbox.com', what: 'file sharing', tenantSeesRequests: false },
  { pattern: 'content.dropboxapi.com', what: 'Dropbox uploads and downloads', tenantSeesRequests: false },
];

let shared: readonly (SharedHost & { compiled: HostPattern })[] | undefined;

/** SHARED_HOSTS compiled, on first use: compiling a pattern starts tldts, which a session never needs. */
function sharedHosts(): readonly (SharedHost & { compiled: HostPattern })[] {
  return (shared ??= SHARED_HOSTS.flatMap((s) => {
    const r = compileHostPattern(s.pattern);
    return 'pattern' in r ? [{ ...s, compiled: r.pattern }] : [];
  }));
}

/** A label no public suffix rule singles out, to ask the PSL about names a wildcard matches. */
const PROBE_LABEL = 'perimeter-lint-probe';

/**
 * The PSL private-section suffix (github.io, s3.amazonaws.com, vercel.app) whose tenants a
 * pattern spans, if any. Each registrable name under such a suffix is a different tenant, so a
 * wildcard at or above the tenant label reaches all of them; an exact tenant name is one tenant.
 */
function sharedSuffixOf(pattern: HostPattern): string | undefined {
  if (pattern.kind === 'any') return undefined;
  const name = pattern.kind === 'exact' ? pattern.suffix : `${PROBE_LABEL}.${pattern.suffix}`;
  const withPrivate = getPublicSuffix(name, { allowPrivateDomains: true });
  const icannOnly = getPublicSuffix(name, { allowPrivateDomains: false });
  if (!withPrivate || withPrivate === icannOnly) return undefined;
  if (pattern.kind === 'exact') return withPrivate === pattern.suffix ? withPrivate : undefined;
  return withPrivate === pattern.suffix || withPrivate.endsWith(`.${pattern.suffix}`)
    ? withPrivate
    : undefined;
}

/**
 * Why a destination pattern is multi-tenant, as a clause, or undefined. For a secret only the
 * hosts whose tenants see requests count: a token injected into github.com reaches GitHub, not
 * the owner of some repository, while one injected into an ngrok name reaches whoever runs it.
 */
function multiTenancyOf(h: HostPattern, isSecret: boolean): string | undefined {
  if (h.kind === 'any') return undefined; // `**` is over-broad already, shared hosts or not
  const found = sharedHosts().find(
    (s) => (!isSecret || s.tenantSeesRequests) && hostPatternsOverlap(h, s.compiled),
  );
  if (found) {
    const host = found.compiled;
    if (h.kind === 'exact' && host.kind === 'exact') return found.what;
    if (hostPatternWithin(h, host)) return `a name under ${host.suffix}, ${found.what}`;
    return `which covers ${host.kind === 'exact' ? host.suffix : host.text}, ${found.what}`;
  }
  const suffix = sharedSuffixOf(h);
  if (suffix === undefined) return undefined;
  return h.kind === 'exact'
    ? `the shared suffix ${suffix} itself, where every name belongs to a different tenant`
    : `which spans every tenant of the shared suffix ${suffix}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function multiTenantHosts(lint: Lint): void {
  const code = 'multi-tenant-host';
  for (const { policy, rule } of networkAllows(lint)) {
    // Read-only access to named paths is the way to reach shared hosts safely: nothing to say.
    const isReadOnlyPaths =
      rule.paths !== undefined &&
      rule.methods !== undefined &&
      [...rule.methods].every((m) => SAFE_METHODS.has(m));
    if (isReadOnlyPaths) continue;
    const paths = itemPaths(policy, [...rule.at, 'hosts'], rule.hosts);
    rule.hosts.forEach((h, k) => {
      const why = multiTenancyOf(h, false);
      if (why === undefined) return;
      report(lint, {
        severity: 'warning',
        code,
        policy: policy.name,
        path: paths[k] ?? rule.at,
        message: `${ruleName(rule)} allows "${h.text}", ${why}: anyone can host content there, so this allow lets data out to any tenant`,
        hint: 'name the exact tenant host (acme.github.io), or restrict the rule to methods: [GET, HEAD] and paths naming your own content (needs TLS interception)',
      });
    });
  }
  for (const policy of lint.policies) {
    for (const b of policy.credentialBindings) {
      if (!b.inject) continue;
      const paths = itemPaths(policy, [...b.at, 'inject', 'hosts'], b.inject.hosts);
      b.inject.hosts.forEach((h, k) => {
        const why = multiTenancyOf(h, true);
        if (why === undefined) return;
        report(lint, {
          severity: 'warning',
          code,
          policy: policy.name,
          path: paths[k] ?? b.at,
          message: `credential "${b.ref.rule}" (policy ${policy.name}) injects secret "${b.secret}" into "${h.text}", ${why}: any tenant there receives the secret`,
          hint: 'inject the secret only into the API host that needs it (api.github.com), never into a host anyone can publish on',
        });
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Apex not covered (research/egress.md §9.1: peers disagree, so say ours loudly)

function apexNotCovered(lint: Lint): void {
  const named = (apex: string): boolean =>
    lint.rules.some(
      (r) =>
        r.surface === 'network' &&
        r.pieces.some((p) => p.kind === 'host' && matchHostPattern(p.pattern, apex)),
    );
  for (const { policy, rule } of networkAllows(lint)) {
    const seen = new Set<string>();
    const paths = itemPaths(policy, [...rule.at, 'hosts'], rule.hosts);
    rule.hosts.forEach((h, k) => {
      if ((h.kind !== 'one-label' && h.kind !== 'any-depth') || seen.has(h.suffix) || named(h.suffix)) return;
      seen.add(h.suffix);
      report(lint, {
        severity: 'info',
        code: 'apex-not-covered',
        policy: policy.name,
        path: paths[k] ?? rule.at,
        message: `${ruleName(rule)} allows "${h.text}" but no rule names "${h.suffix}" itself, and neither "*." nor "**." matches the apex`,
        hint: `add "${h.suffix}" to the hosts if the apex should be reachable too (Squid and pipelock include it; Perimeter does not)`,
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Unreachable rules: every request they match, a stronger rule matches too

function unreachableRules(lint: Lint): void {
  for (const rule of lint.rules) {
    if (rule.ref.effect === 'deny' || rule.pieces.length === 0) continue;
    const by = shadowsOf(lint, rule);
    const verb = rule.isBinding ? 'can never be used' : 'never takes effect';
    if (rule.isComplete && by.every((r) => r !== undefined)) {
      const coverers = [...new Set(by)].filter((r): r is LintRule => r !== undefined);
      report(lint, {
        severity: 'warning',
        code: 'unreachable-rule',
        policy: rule.policy.name,
        path: rule.at,
        message: `${ruleName(rule)} ${verb}: ${listOf(coverers.map(ruleName))} ${coverers.length > 1 ? 'together cover' : 'covers'} everything it matches`,
        hint: `remove it, or narrow ${coverers.length > 1 ? 'those rules' : 'that rule'} if it is meant to apply`,
      });
      continue;
    }
    for (const group of patternsOf(rule)) {
      const coverers = group.pieces.map((p) => by[rule.pieces.indexOf(p)]);
      if (!coverers.every((r) => r !== undefined) || patternsOf(rule).length < 2) continue;
      const unique = [...new Set(coverers)].filter((r): r is LintRule => r !== undefined);
      report(lint, {
        severity: 'warning',
        code: 'unreachable-pattern',
        policy: rule.policy.name,
        path: group.path,
        message: `${group.text} in ${ruleName(rule)} never takes effect: ${listOf(unique.map(ruleName))} ${unique.length > 1 ? 'together cover' : 'covers'} it`,
        hint: 'remove the pattern, or narrow the stronger rule if the pattern is meant to apply',
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Redundant rules and patterns: wholly inside another of the same effect

function redundantRules(lint: Lint): void {
  for (const a of lint.rules) {
    if (a.isBinding || !a.isComplete || a.pieces.length === 0 || isUnreachable(lint, a)) continue;
    const b = lint.rules.find((b) => {
      if (b === a || b.isBinding || b.ref.effect !== a.ref.effect || !canStandIn(b, a)) return false;
      if (!a.pieces.every((p) => b.pieces.some((q) => pieceWithin(p, q)))) return false;
      // Two equal rules: only the later one is reported.
      const isMutual =
        b.isComplete && canStandIn(a, b) && b.pieces.every((q) => a.pieces.some((p) => pieceWithin(q, p)));
      return !isMutual || a.order > b.order;
    });
    if (!b) continue;
    report(lint, {
      severity: 'info',
      code: 'redundant-rule',
      policy: a.policy.name,
      path: a.at,
      message: `${ruleName(a)} is redundant: ${ruleName(b)} already covers everything it matches`,
      hint: 'remove one of the two, keeping the one whose id says why the access exists',
    });
  }
}

function redundantPatterns(lint: Lint): void {
  for (const rule of lint.rules) {
    const groups = patternsOf(rule);
    groups.forEach((g, i) => {
      const within = (x: Piece[], y: Piece[]): boolean => x.every((p) => y.some((q) => pieceWithin(p, q)));
      const other = groups.find(
        (h, k) => k !== i && within(g.pieces, h.pieces) && !(k > i && within(h.pieces, g.pieces)),
      );
      if (!other) return;
      report(lint, {
        severity: 'info',
        code: 'redundant-pattern',
        policy: rule.policy.name,
        path: g.path,
        message: `${g.text} in ${ruleName(rule)} is redundant: ${other.text} in the same rule already covers it`,
        hint: `remove ${g.text}`,
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Partial allow/deny overlaps

/**
 * Deny pieces meant to cut across every allow: a deny for `**` on a port, for `.env` files
 * anywhere, for tools by annotation or argument, for any program or secret. Overlapping them is
 * the point.
 */
function cutsAcross(p: Piece): boolean {
  switch (p.kind) {
    case 'host':
      return p.pattern.kind === 'any';
    case 'cidr':
      return p.cidr.prefix === 0;
    case 'path':
      return p.isAnywhere;
    case 'tool':
      return p.annotations !== undefined || p.args.length > 0;
    case 'command':
      return p.pattern.segments[0]?.kind !== 'literal';
    case 'secret':
      return isMatchAll(p.secret);
  }
}

/**
 * Is the deny piece's pattern inside the allow piece's (ports, methods and access aside)? Then the
 * deny carves an exception out of the allow, which is what denies are for: deny rules cover every
 * port by default and allows only 80 and 443, so comparing ports would call every carve-out partial.
 */
function carvesOut(deny: Piece, allow: Piece): boolean {
  if (deny.kind === 'host' && allow.kind === 'host') return hostPatternWithin(deny.pattern, allow.pattern);
  if (deny.kind === 'cidr' && allow.kind === 'cidr') return cidrWithin(deny.cidr, allow.cidr);
  if (deny.kind === 'path' && allow.kind === 'path')
    return segmentsWithin(deny.pattern.segments, allow.pattern.segments);
  return pieceWithin(deny, allow);
}

function describePiece(p: Piece): string {
  return p.kind === 'host' || p.kind === 'cidr' ? `${p.label} on ${formatPorts(p.ports)}` : p.label;
}

function partialOverlaps(lint: Lint): void {
  for (const a of lint.rules) {
    if (a.ref.effect !== 'allow' || isUnreachable(lint, a)) continue;
    for (const d of lint.rules) {
      if (d.ref.effect !== 'deny' || d.surface !== a.surface) continue;
      let found: [Piece, Piece] | undefined;
      for (const p of a.pieces) {
        if (d.pieces.some((q) => pieceWithin(p, q))) continue;
        const q = d.pieces.find((q) => !cutsAcross(q) && piecesOverlap(p, q) && !carvesOut(q, p));
        if (q) {
          found = [p, q];
          break;
        }
      }
      if (!found) continue;
      const [p, q] = found;
      report(lint, {
        severity: 'info',
        code: 'partial-overlap',
        policy: a.policy.name,
        path: p.path,
        message: `${ruleName(a)} and ${ruleName(d)} overlap without either covering the other (${describePiece(p)} and ${describePiece(q)}): the deny wins where they meet`,
        hint: 'if that is the intent, nothing to do; otherwise narrow one rule so that the two no longer meet',
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 7. Allows that try to relax a guardrail (DESIGN.md: nothing below a guardrail can relax it)

function relaxedGuardrails(lint: Lint): void {
  for (const a of lint.rules) {
    if (a.ref.effect !== 'allow' || a.ref.layer === 'guardrail') continue;
    for (const g of lint.rules) {
      if (g.ref.layer !== 'guardrail' || g.ref.effect === 'allow' || g.surface !== a.surface) continue;
      const hit = a.pieces.filter((p) => g.pieces.some((q) => pieceWithin(p, q)));
      const first = hit[0];
      if (!first) continue;
      const isAll = a.isComplete && hit.length === a.pieces.length;
      const outcome = g.ref.effect === 'deny' ? 'denied' : 'held for approval';
      const scope = isAll
        ? `has no effect: everything it matches stays ${outcome}`
        : `has no effect for ${listOf(hit.map((p) => p.label))}, which ${hit.length > 1 ? 'stay' : 'stays'} ${outcome}`;
      const audit = g.ref.mode === 'audit' ? ' (once the guardrail leaves audit mode)' : '';
      report(lint, {
        severity: 'warning',
        code: 'relaxes-guardrail',
        policy: a.policy.name,
        path: first.path,
        message: `${ruleName(a)} overlaps ${g.ref.effect} rule "${g.ref.rule}" of guardrail policy ${g.ref.policy}: the guardrail wins${audit}, so this allow ${scope}`,
        hint: `remove the allow, or ask the owners of guardrail policy ${g.ref.policy} to change "${g.ref.rule}"`,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 8. CIDR allows and the built-in guard (research/egress.md §7.3, OpenShell PR #1032)

function rangeName(s: SpecialRange): string {
  return `${s.text} (${s.what})`;
}

/** "inside 10.0.0.0/8 (a private network)", or "which is …" when the block is the range itself. */
function placeIn(c: Cidr, s: SpecialRange): string {
  return `${formatCidr(c) === formatCidr(s.cidr) ? 'which is' : 'inside'} ${rangeName(s)}`;
}

/**
 * For an allow inside an IPv6 range that embeds IPv4 (NAT64, SIIT, IPv4-compatible), the IPv4
 * block it carries, when the embedding sits in the last 32 bits and the prefix reaches it.
 */
function embeddedV4(c: Cidr, range: SpecialRange): Cidr | undefined {
  if (c.ip.family !== 6 || range.cidr.ip.family !== 6 || range.cidr.prefix !== 96 || c.prefix < 96)
    return undefined;
  return { ip: { family: 4, v4: c.ip.w[3] }, prefix: c.prefix - 96 };
}

function cidrGuardRanges(lint: Lint): void {
  for (const { policy, rule } of networkAllows(lint)) {
    const name = ruleName(rule);
    for (const c of cidrsOf(policy, rule)) {
      const canonical = formatCidr(c.cidr);
      const shown = canonical === c.text ? `"${c.text}"` : `"${c.text}" (${canonical})`;
      const inside = SPECIAL_RANGES.filter((s) => cidrWithin(c.cidr, s.cidr));
      const across = SPECIAL_RANGES.filter(
        (s) => !cidrWithin(c.cidr, s.cidr) && cidrOverlaps(c.cidr, s.cidr),
      );
      const locked = inside.find((s) => s.isLocked);
      if (locked) {
        report(lint, {
          severity: 'warning',
          code: 'guard-locked',
          policy: policy.name,
          path: c.path,
          message: `${name} allows ${shown}, ${placeIn(c.cidr, locked)}, which no policy can open: this allow has no effect`,
          hint: 'remove it; metadata and platform endpoints hand out machine credentials and stay refused',
        });
        continue;
      }
      // Widest first: 10.0.0.0/8 says more to a reader than 192.0.2.0/24.
      const notLifted = across.filter((s) => !s.isLocked).sort((x, y) => x.cidr.prefix - y.cidr.prefix);
      if (notLifted.length > 0) {
        report(lint, {
          severity: 'warning',
          code: 'guard-not-lifted',
          policy: policy.name,
          path: c.path,
          message: `${name} allows ${shown}, which overlaps the guarded ${notLifted.length > 1 ? 'ranges' : 'range'} ${listOf(notLifted.map(rangeName))} without lying inside, so it does not open ${notLifted.length > 1 ? 'them' : 'it'}`,
          hint: 'only an allow inside a guarded range lifts the guard: add the exact block (10.1.0.0/16) if the agent must reach it, or narrow this one to public space',
        });
      }
      const range = inside[0];
      if (!range) continue;
      const stays = across.filter((s) => s.isLocked).map((s) => s.text);
      const staysNote =
        stays.length > 0 ? `; ${listOf(stays)} inside it ${stays.length > 1 ? 'stay' : 'stays'} refused` : '';
      const embedding = inside.find((s) => s.embedded !== undefined);
      if (embedding) {
        const v4 = embeddedV4(c.cidr, embedding);
        const reaches =
          v4 === undefined
            ? []
            : SPECIAL_RANGES.filter((s) => s.cidr.ip.family === 4 && cidrOverlaps(v4, s.cidr));
        if (v4 === undefined || reaches.length > 0) {
          const what =
            v4 === undefined ? 'any IPv4 address' : `IPv4 addresses in ${listOf(reaches.map(rangeName))}`;
          report(lint, {
            severity: 'warning',
            code: 'guard-embedding-opened',
            policy: policy.name,
            path: c.path,
            message: `${name} allows ${shown}, ${placeIn(c.cidr, embedding)}: it opens IPv6 addresses that carry ${what}`,
            hint: 'allow the exact embedded addresses you need (64:ff9b::808:808/128), never a whole translation prefix',
          });
          continue;
        }
      }
      report(lint, {
        severity: 'info',
        code: 'guard-opened',
        policy: policy.name,
        path: c.path,
        message: `${name} allows ${shown}, ${placeIn(c.cidr, range)}: it opens the built-in guard for that block${staysNote}`,
        hint: 'make sure the agent is meant to reach these internal addresses',
      });
    }
  }
}

/** The same question for special-use names (`*.internal`, `metadata.google.internal`). */
function guardedNames(lint: Lint): void {
  for (const { policy, rule } of networkAllows(lint)) {
    const name = ruleName(rule);
    const paths = itemPaths(policy, [...rule.at, 'hosts'], rule.hosts);
    rule.hosts.forEach((h, k) => {
      if (h.kind === 'any') return;
      const path = paths[k] ?? rule.at;
      const special = specialNameOf(h.kind === 'exact' ? h.suffix : `${PROBE_LABEL}.${h.suffix}`);
      if (!special) return;
      if (special.isLocked) {
        report(lint, {
          severity: 'warning',
          code: 'guard-locked',
          policy: policy.name,
          path,
          message: `${name} allows "${h.text}", ${special.what}, which no policy can open: this allow has no effect`,
          hint: 'remove it; metadata services hand out machine credentials and stay refused',
        });
      } else if (h.kind === 'exact') {
        report(lint, {
          severity: 'info',
          code: 'guard-opened',
          policy: policy.name,
          path,
          message: `${name} allows "${h.text}", ${special.what}: naming it exactly opens the built-in guard for it`,
          hint: 'make sure the agent is meant to reach this internal name',
        });
      } else {
        report(lint, {
          severity: 'warning',
          code: 'guard-not-lifted',
          policy: policy.name,
          path,
          message: `${name} allows "${h.text}", names under ${special.what}, but a wildcard does not lift the built-in guard for them`,
          hint: 'only an allow naming the host exactly opens a special-use name: list the hosts the agent needs',
        });
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// 9. MCP references: servers the catalog does not declare, credentials no binding provides

/**
 * An MCP server's `sandbox.network` entry such as `fd00::1:5432`: an IPv6 address holds colons of
 * its own, so this is the address fd00::1:5432 on ports 80 and 443, where port 5432 of fd00::1 was
 * most likely meant. Said when the last group reads as a port (decimal, 10 to 65535) and what
 * comes before it is an address too.
 */
function ambiguousServerAddresses(lint: Lint): void {
  for (const policy of lint.policies)
    policy.mcpServers.forEach((s, i) =>
      s.sandbox?.network?.forEach((text, j) => {
        const entry = text.trim();
        const colon = entry.lastIndexOf(':');
        const port = entry.slice(colon + 1);
        if (entry.startsWith('[') || entry.includes('/') || entry.split(':').length < 3) return;
        if (!/^[1-9][0-9]{1,4}$/.test(port) || Number(port) > 65_535) return;
        const address = entry.slice(0, colon);
        if ('error' in parseCidr(entry) || 'error' in parseCidr(address)) return;
        report(lint, {
          severity: 'warning',
          code: 'ambiguous-ipv6-port',
          policy: policy.name,
          path: ['mcp', 'servers', i, 'sandbox', 'network', j],
          message: `MCP server "${s.id}" (policy ${policy.name}) may reach "${entry}": the IPv6 address ${entry} on ports 80 and 443, not port ${port} of ${address}`,
          hint: `for the port, bracket the address: "[${address}]:${port}"; for the address itself (ports 80 and 443), bracket it: "[${entry}]"`,
        });
      }),
    );
}

function mcpCatalogReferences(lint: Lint): void {
  const servers = new Set(lint.policies.flatMap((p) => p.mcpServers.map((s) => s.id)));
  const credentials = new Set(lint.policies.flatMap((p) => p.credentialBindings.map((b) => b.ref.rule)));
  const declared =
    servers.size > 0 ? `declared: ${listOf([...servers].sort(), 6)}` : 'no policy declares any server';
  for (const policy of lint.policies) {
    for (const rule of policy.mcp) {
      const id = rule.server.exact;
      if (id === undefined || servers.has(id)) continue;
      report(lint, {
        severity: 'warning',
        code: 'unknown-mcp-server',
        policy: policy.name,
        path: [...rule.at, 'server'],
        message: `${ruleName(rule)} names MCP server "${id}", which no policy declares in mcp.servers`,
        hint: `fix the id or declare the server under mcp.servers (${declared})`,
      });
    }
    policy.mcpServers.forEach((s, i) => {
      if (s.credential === undefined || credentials.has(s.credential)) return;
      report(lint, {
        severity: 'warning',
        code: 'unknown-credential',
        policy: policy.name,
        path: ['mcp', 'servers', i, 'credential'],
        message: `MCP server "${s.id}" (policy ${policy.name}) uses credential "${s.credential}", which no credential binding declares`,
        hint: 'add a binding with that id under credentials, or fix the id',
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// 10. Network rules with methods or paths meet opaque HTTPS tunnels

function httpRulesOnTunnels(lint: Lint): void {
  // The proxy intercepts TLS only for hosts a credential is injected into (DESIGN.md, egress).
  const intercepted = lint.policies.flatMap((p) =>
    p.credentialBindings.flatMap((b) => b.inject?.hosts ?? []),
  );
  for (const policy of lint.policies) {
    for (const rule of policy.network) {
      if (rule.methods === undefined && rule.paths === undefined) continue;
      const opaque = rule.hosts
        .filter((h) => !intercepted.some((i) => hostPatternWithin(h, i)))
        .map((h) => `"${h.text}"`);
      opaque.push(...cidrsOf(policy, rule).map((c) => `"${c.text}"`));
      if (opaque.length === 0) continue;
      const path = [...rule.at, rule.methods !== undefined ? 'methods' : 'paths'];
      const to = listOf(opaque);
      if (rule.ref.effect === 'allow') {
        report(lint, {
          severity: 'info',
          code: 'http-allow-needs-interception',
          policy: policy.name,
          path,
          message: `${ruleName(rule)} matches methods or paths, so it never matches an opaque HTTPS tunnel to ${to}: it allows plain HTTP and intercepted HTTPS only`,
          hint: 'bind a credential to the host (the proxy then intercepts its TLS), or drop methods and paths to allow the tunnel',
        });
      } else {
        const verb = rule.ref.effect === 'deny' ? 'denies' : 'asks for';
        report(lint, {
          severity: 'warning',
          code: 'http-rule-blocks-tunnels',
          policy: policy.name,
          path,
          message: `${ruleName(rule)} matches methods or paths, which an opaque HTTPS tunnel does not show, so it ${verb} every HTTPS tunnel to ${to}, whatever the method and path`,
          hint: 'bind a credential to the host so the proxy intercepts its TLS and sees methods and paths, or drop them to say plainly that the whole host is meant',
        });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 11. Guardrails in audit mode

function auditModeGuardrails(lint: Lint): void {
  for (const policy of lint.policies) {
    if (policy.layer !== 'guardrail') continue;
    if (policy.mode === 'audit') {
      report(lint, {
        severity: 'info',
        code: 'audit-mode-guardrail',
        policy: policy.name,
        path: ['mode'],
        message: `guardrail policy ${policy.name} is in audit mode: its rules only record what they would decide, and nothing is enforced`,
        hint: 'set mode: enforce once the would-be decisions look right',
      });
      continue;
    }
    const rules = [
      ...policy.network,
      ...policy.filesystem,
      ...policy.mcp,
      ...policy.exec,
      ...policy.credentialRules,
    ];
    for (const rule of rules) {
      if (rule.ref.mode !== 'audit') continue;
      report(lint, {
        severity: 'info',
        code: 'audit-mode-guardrail',
        policy: policy.name,
        path: [...rule.at, 'mode'],
        message: `${ruleName(rule)} is in audit mode inside a guardrail: it only records what it would decide, and is not enforced`,
        hint: 'set mode: enforce (or remove the mode) once the would-be decisions look right',
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Order: by policy as given, then by document path (sections and keys in schema order).

const KEY_ORDER = [
  'apiVersion',
  'kind',
  'metadata',
  'mode',
  'network',
  'filesystem',
  'credentials',
  'mcp',
  'exec',
  'tests',
  'servers',
  'default',
  'allow',
  'ask',
  'deny',
  'id',
  'hosts',
  'cidrs',
  'ports',
  'methods',
  'paths',
  'access',
  'server',
  'tools',
  'annotations',
  'args',
  'secret',
  'env',
  'inject',
  'secrets',
  'commands',
  'credential',
];

function keyRank(k: string | number): number {
  if (typeof k === 'number') return -1;
  const i = KEY_ORDER.indexOf(k);
  return i >= 0 ? i : KEY_ORDER.length;
}

function comparePaths(a: DiagnosticPath, b: DiagnosticPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    const byRank = keyRank(x) - keyRank(y);
    if (byRank !== 0) return byRank;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

function inDocumentOrder(lint: Lint): Diagnostic[] {
  const index = new Map<string, number>();
  lint.policies.forEach((p, i) => {
    if (!index.has(p.name)) index.set(p.name, i);
  });
  return lint.findings
    .map((d, i) => ({ d, i }))
    .sort(
      (x, y) =>
        (index.get(x.d.policy ?? '') ?? 0) - (index.get(y.d.policy ?? '') ?? 0) ||
        comparePaths(x.d.path ?? [], y.d.path ?? []) ||
        x.i - y.i,
    )
    .map(({ d }) => d);
}
