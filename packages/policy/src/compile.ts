// One policy document → compiled rules, once, with every pattern checked. Pure. Errors come back
// as diagnostics with a document path; the loader turns paths into file:line:col. Nothing here
// depends on the session (home, workspace) or the subject: that is the engine's job.

import type { Diagnostic, DiagnosticPath } from './diagnostic.js';
import { compileHostPattern, type HostPattern, type HostPatternOptions } from './host-pattern.js';
import { parseCidr, type Cidr } from './ip.js';
import { cidrProblem, parseNetworkEntry } from './network-entry.js';
import { compileNameGlob, type NameGlob } from './name-glob.js';
import { compilePathPattern, type PathPattern } from './path-pattern.js';
import { ANY_PORT, WEB_PORTS, mergePorts, parsePortSpec, type PortSet } from './ports.js';
import { compileCommandPattern, type CommandPattern } from './command-pattern.js';
import { compileGuardedRegex } from './regex-guard.js';
import { formatSize, parseSize } from './size.js';
import type {
  ArgPredicate,
  CredentialBinding,
  Effect,
  Layer,
  McpServer,
  Mode,
  PolicyDocument,
  PolicyTest,
  ToolAnnotations,
} from './schema.js';

/** Where a rule comes from: the four facts every decision reports about each determining rule. */
export interface RuleRef {
  readonly policy: string;
  readonly revision: number;
  readonly rule: string;
  readonly layer: Layer;
  readonly effect: Effect;
  readonly mode: Mode;
}

interface RuleCommon {
  readonly ref: RuleRef;
  /** The document path of the rule, for lint findings. */
  readonly at: DiagnosticPath;
  readonly description?: string;
}

export interface NetworkRuleC extends RuleCommon {
  readonly hosts: readonly HostPattern[];
  readonly cidrs: readonly Cidr[];
  /** The rule's ports; a port written on a host pattern (`host:8443`) replaces them for that pattern. */
  readonly ports: PortSet;
  readonly methods?: ReadonlySet<string>;
  readonly paths?: readonly PathPattern[];
}

export interface FilesystemRuleC extends RuleCommon {
  readonly paths: readonly PathPattern[];
  readonly read: boolean;
  readonly write: boolean;
  /** `private: true`: a session gets an empty directory of its own there, not the host's. */
  readonly isPrivate?: true;
}

export type ArgTest =
  | { readonly kind: 'equals'; readonly value: string | number | boolean | null }
  | { readonly kind: 'oneOf'; readonly values: readonly (string | number | boolean | null)[] }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'glob'; readonly pattern: PathPattern }
  | { readonly kind: 'range'; readonly min?: number; readonly max?: number }
  | { readonly kind: 'regex'; readonly re: RegExp };

export interface ArgPredicateC {
  readonly key: string;
  readonly path: readonly string[];
  readonly test: ArgTest;
}

export interface McpRuleC extends RuleCommon {
  readonly server: NameGlob;
  readonly tools: readonly NameGlob[];
  readonly annotations?: ToolAnnotations;
  readonly args: readonly ArgPredicateC[];
}

export interface ExecRuleC extends RuleCommon {
  readonly commands: readonly CommandPattern[];
}

export interface CredentialBindingC extends RuleCommon {
  readonly secret: string;
  readonly env?: string;
  /** The name of the file (under /run/perimeter/credentials) that holds the placeholder. */
  readonly file?: string;
  readonly inject?: {
    readonly hosts: readonly HostPattern[];
    readonly ports: PortSet;
    readonly header: string;
    readonly format: string;
    /** Replace the placeholder anywhere in the request, not just in `header`. */
    readonly anywhere: boolean;
  };
}

export interface CredentialRuleC extends RuleCommon {
  readonly secrets: readonly NameGlob[];
  readonly hosts?: readonly HostPattern[];
}

export interface CompiledPolicy {
  readonly name: string;
  /** The organisation; '' when the document names none. Policies layer only within one org. */
  readonly org: string;
  readonly layer: Layer;
  readonly groups?: readonly string[];
  readonly revision: number;
  readonly mode: Mode;
  readonly network: readonly NetworkRuleC[];
  readonly filesystem: readonly FilesystemRuleC[];
  readonly filesystemDefault?: Effect;
  /** network.secrets: what the proxy does with a secret found in a request. */
  readonly networkSecrets?: 'block' | 'redact' | 'audit';
  readonly mcp: readonly McpRuleC[];
  readonly mcpServers: readonly McpServer[];
  /** mcp.pinning, mcp.secrets, mcp.auditArguments as written (absent when the policy is silent). */
  readonly mcpPinning?: 'approve' | 'tofu';
  readonly mcpSecrets?: 'block' | 'redact';
  readonly mcpAuditArguments?: boolean;
  /** mcp.promptInjection as written. */
  readonly mcpPromptInjection?: 'block' | 'strip' | 'flag';
  readonly exec: readonly ExecRuleC[];
  readonly execDefault?: Effect;
  /** limits, sizes in bytes (absent keys: the policy is silent). */
  readonly limits?: SessionLimits;
  readonly credentialBindings: readonly CredentialBindingC[];
  readonly credentialRules: readonly CredentialRuleC[];
  readonly tests: readonly PolicyTest[];
  /** The document as written (normalised by the schema), kept for lint and for bundles. */
  readonly source: PolicyDocument;
}

/** Resource limits of a sandboxed session; sizes in bytes. */
export interface SessionLimits {
  readonly processes?: number;
  readonly tmpBytes?: number;
  readonly openFiles?: number;
  readonly fileSizeBytes?: number;
  readonly memoryBytes?: number;
}

const EFFECTS: readonly Effect[] = ['allow', 'ask', 'deny'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class Collector {
  readonly diagnostics: Diagnostic[] = [];
  /** Whether host patterns are checked against the public suffix list (see compilePolicy). */
  constructor(readonly patternOptions: HostPatternOptions) {}
  error(path: DiagnosticPath, code: string, message: string, hint?: string): void {
    this.diagnostics.push({ severity: 'error', code, message, path, ...(hint ? { hint } : {}) });
  }
}

function ports(
  c: Collector,
  written: readonly (number | string)[] | undefined,
  fallback: PortSet,
  at: DiagnosticPath,
): PortSet {
  if (written === undefined) return fallback;
  const ranges: (readonly [number, number])[] = [];
  written.forEach((spec, i) => {
    const parsed = parsePortSpec(spec);
    if (typeof parsed === 'string') c.error([...at, i], 'bad-port', parsed, 'write 443, "8000-8999" or "*"');
    else ranges.push(parsed);
  });
  return mergePorts(ranges);
}

function hostPatterns(c: Collector, list: readonly string[] | undefined, at: DiagnosticPath): HostPattern[] {
  const out: HostPattern[] = [];
  list?.forEach((text, i) => {
    const r = compileHostPattern(text, c.patternOptions);
    if ('error' in r) c.error([...at, i], 'bad-host-pattern', r.error.message, r.error.hint);
    else out.push(r.pattern);
  });
  return out;
}

function pathPatterns(
  c: Collector,
  list: readonly string[],
  at: DiagnosticPath,
  httpOnly = false,
): PathPattern[] {
  const out: PathPattern[] = [];
  list.forEach((text, i) => {
    const r = compilePathPattern(text);
    if ('error' in r) c.error([...at, i], 'bad-path-pattern', r.error.message, r.error.hint);
    else if (httpOnly && (r.pattern.root === 'home' || r.pattern.root === 'workspace')) {
      c.error(
        [...at, i],
        'bad-path-pattern',
        `"${text}" is a file path, not an HTTP path`,
        'HTTP paths start with "/"',
      );
    } else out.push(r.pattern);
  });
  return out;
}

function compileArgs(
  c: Collector,
  args: Record<string, ArgPredicate> | undefined,
  effect: Effect,
  at: DiagnosticPath,
): ArgPredicateC[] {
  const out: ArgPredicateC[] = [];
  for (const [key, p] of Object.entries(args ?? {})) {
    const here = [...at, key];
    const path = key.split('.');
    if (
      path.some(
        (part) => part === '' || part === '__proto__' || part === 'constructor' || part === 'prototype',
      )
    ) {
      c.error(here, 'bad-arg-key', `"${key}" is not an argument name or dotted path`);
      continue;
    }
    let test: ArgTest | undefined;
    if (p.equals !== undefined) test = { kind: 'equals', value: p.equals };
    else if (p.oneOf !== undefined) test = { kind: 'oneOf', values: p.oneOf };
    else if (p.prefix !== undefined) test = { kind: 'prefix', prefix: p.prefix };
    else if (p.range !== undefined) {
      if (p.range.min === undefined && p.range.max === undefined) {
        c.error([...here, 'range'], 'bad-range', 'a range needs min, max or both');
      } else if (p.range.min !== undefined && p.range.max !== undefined && p.range.min > p.range.max) {
        c.error([...here, 'range'], 'bad-range', `the range ${p.range.min}..${p.range.max} is empty`);
      } else test = { kind: 'range', ...p.range };
    } else if (p.glob !== undefined) {
      // NFC, as the engine compares argument paths (redteam-34-5): `privé` typed as e + U+0301
      // names the same directory for a server that folds Unicode-equivalent names.
      const r = compilePathPattern(p.glob.normalize('NFC'));
      if ('error' in r) c.error([...here, 'glob'], 'bad-path-pattern', r.error.message, r.error.hint);
      else test = { kind: 'glob', pattern: r.pattern };
    } else if (p.regex !== undefined) {
      if (effect === 'allow') {
        c.error(
          [...here, 'regex'],
          'regex-in-allow',
          'regular expressions are allowed in deny and ask rules only',
          'allow rules use equals, oneOf, prefix, glob or range, so that overlaps stay analysable',
        );
      } else {
        const r = compileGuardedRegex(p.regex);
        if ('error' in r) c.error([...here, 'regex'], 'bad-regex', r.error.message, r.error.hint);
        else test = { kind: 'regex', re: r.re };
      }
    }
    if (test) out.push({ key, path, test });
  }
  return out;
}

/** `dir/**` with a literal `dir` under a fixed root: what a private grant may name. */
function isWholeDirectory(p: PathPattern): boolean {
  const last = p.segments.length - 1;
  return (
    p.root !== 'anywhere' &&
    last >= 0 &&
    p.segments[last]?.kind === 'any-depth' &&
    p.segments.slice(0, last).every((s) => s.kind === 'literal')
  );
}

/**
 * What a server sandbox can mount: one exact path, or a whole directory (`dir/**`), under a fixed
 * root. Bind mounts take concrete paths, so any other wildcard would grant nothing.
 */
function isMountable(p: PathPattern): boolean {
  return p.root !== 'anywhere' && (isWholeDirectory(p) || p.segments.every((s) => s.kind === 'literal'));
}

/** The limits section, sizes parsed; a size that is not one is an error naming its key. */
function compileLimits(c: Collector, doc: PolicyDocument): SessionLimits | undefined {
  const l = doc.limits;
  if (l === undefined) return undefined;
  const size = (key: 'tmp' | 'fileSize' | 'memory', min: number): number | undefined => {
    const written = l[key];
    if (written === undefined) return undefined;
    const bytes = parseSize(written);
    if (bytes === undefined || bytes < min)
      c.error(
        ['limits', key],
        'bad-size',
        bytes === undefined
          ? `"${written}" is not a size`
          : `limits.${key} is ${formatSize(bytes)}, below the least it may be (${formatSize(min)})`,
        bytes === undefined
          ? 'write bytes, or a number with a unit: 512MiB, 2GiB, 1G'
          : `use at least ${formatSize(min)}`,
      );
    return bytes;
  };
  const tmpBytes = size('tmp', 2 ** 20);
  const fileSizeBytes = size('fileSize', 2 ** 20);
  const memoryBytes = size('memory', 64 * 2 ** 20);
  return {
    ...(l.processes !== undefined ? { processes: l.processes } : {}),
    ...(tmpBytes !== undefined ? { tmpBytes } : {}),
    ...(l.openFiles !== undefined ? { openFiles: l.openFiles } : {}),
    ...(fileSizeBytes !== undefined ? { fileSizeBytes } : {}),
    ...(memoryBytes !== undefined ? { memoryBytes } : {}),
  };
}

function checkLayer(c: Collector, doc: PolicyDocument): void {
  const layer = doc.metadata.layer;
  if (layer === 'group' && doc.metadata.groups === undefined) {
    c.error(
      ['metadata', 'layer'],
      'group-without-groups',
      'a group policy must name the groups it binds to',
      'add metadata.groups: [your-idp-group]',
    );
  }
  if (layer !== 'group' && doc.metadata.groups !== undefined) {
    c.error(
      ['metadata', 'groups'],
      'groups-outside-group-layer',
      `a ${layer} policy applies to everyone and cannot bind to groups`,
      'set metadata.layer: group, or remove groups',
    );
  }
  if (layer !== 'guardrail' && layer !== 'local') return;
  const why =
    layer === 'guardrail'
      ? 'guardrails are locked: they may only deny or ask'
      : 'local device policy may only add deny or ask rules';
  const sections = [['network'], ['filesystem'], ['mcp'], ['exec'], ['credentials']] as const;
  for (const [section] of sections) {
    const s = doc[section] as { allow?: unknown[]; default?: Effect } | undefined;
    if (s?.allow !== undefined && s.allow.length > 0)
      c.error([section, 'allow'], 'allow-in-locked-layer', `a ${layer} policy cannot allow`, why);
    if (s?.default === 'allow')
      c.error(
        [section, 'default'],
        'allow-in-locked-layer',
        `a ${layer} policy cannot set an allow default`,
        why,
      );
  }
  // The gateway's settings loosen only where every policy that says anything agrees; a locked
  // layer saying the looser value alone would loosen them for everyone it binds.
  if (doc.mcp?.pinning === 'tofu')
    c.error(
      ['mcp', 'pinning'],
      'loosens-in-locked-layer',
      `a ${layer} policy cannot trust definitions on first use (pinning: tofu)`,
      `${why}: remove it, or say pinning: approve`,
    );
  if (doc.mcp?.secrets === 'redact')
    c.error(
      ['mcp', 'secrets'],
      'loosens-in-locked-layer',
      `a ${layer} policy cannot let calls with secrets through redacted (secrets: redact)`,
      `${why}: remove it, or say secrets: block`,
    );
  if (doc.mcp?.promptInjection === 'flag')
    c.error(
      ['mcp', 'promptInjection'],
      'loosens-in-locked-layer',
      `a ${layer} policy cannot let hidden characters in results through (promptInjection: flag)`,
      `${why}: remove it, or say promptInjection: strip or block`,
    );
  if (doc.mcp?.servers !== undefined) {
    c.error(
      ['mcp', 'servers'],
      'catalog-in-locked-layer',
      `a ${layer} policy cannot add MCP servers`,
      'declare servers in an org or group policy',
    );
  }
}

/**
 * Compiles one validated document. The result is usable even when there are diagnostics (bad
 * patterns are left out), but callers must not enforce a policy that has errors. A document that
 * compiled without diagnostics before (the checked-policy cache's) may skip the public-suffix
 * check of its wildcards (`isChecked`): its answer cannot have changed, and asking starts the list.
 */
export function compilePolicy(
  doc: PolicyDocument,
  options: { readonly isChecked?: boolean } = {},
): { policy: CompiledPolicy; diagnostics: Diagnostic[] } {
  const c = new Collector({ checksPublicSuffix: options.isChecked !== true });
  checkLayer(c, doc);
  const name = doc.metadata.name;
  const revision = doc.metadata.revision ?? 0;
  const policyMode = doc.mode ?? 'enforce';
  const seen = new Map<string, DiagnosticPath>();
  const ref = (id: string, effect: Effect, mode: Mode | undefined, at: DiagnosticPath): RuleRef => {
    const first = seen.get(id);
    if (first) {
      c.error(
        [...at, 'id'],
        'duplicate-rule-id',
        `rule id "${id}" is used twice in policy ${name}`,
        `the first is at ${first.join('.')}; rule ids must be unique within a policy`,
      );
    } else seen.set(id, at);
    return { policy: name, revision, rule: id, layer: doc.metadata.layer, effect, mode: mode ?? policyMode };
  };
  const common = (
    r: { id: string; mode?: Mode; description?: string },
    effect: Effect,
    at: DiagnosticPath,
  ): RuleCommon => ({
    ref: ref(r.id, effect, r.mode, at),
    at,
    ...(r.description !== undefined ? { description: r.description } : {}),
  });

  const network: NetworkRuleC[] = [];
  const filesystem: FilesystemRuleC[] = [];
  const mcp: McpRuleC[] = [];
  const exec: ExecRuleC[] = [];
  const credentialRules: CredentialRuleC[] = [];
  for (const effect of EFFECTS) {
    doc.network?.[effect]?.forEach((r, i) => {
      const at = ['network', effect, i];
      if (r.hosts === undefined && r.cidrs === undefined) {
        c.error(
          at,
          'empty-network-rule',
          `network rule "${r.id}" names no hosts and no cidrs`,
          'add hosts: [...] or cidrs: [...]',
        );
      }
      const cidrs: Cidr[] = [];
      r.cidrs?.forEach((text, k) => {
        const parsed = parseCidr(text);
        if ('error' in parsed) {
          const problem = cidrProblem(text, parsed.error);
          c.error([...at, 'cidrs', k], 'bad-cidr', problem.message, problem.hint);
        } else cidrs.push(parsed.cidr);
      });
      const methods = r.methods?.map((m, k) => {
        if (!TOKEN.test(m)) c.error([...at, 'methods', k], 'bad-method', `"${m}" is not an HTTP method`);
        return m.toUpperCase();
      });
      network.push({
        ...common(r, effect, at),
        hosts: hostPatterns(c, r.hosts, [...at, 'hosts']),
        cidrs,
        ports: ports(c, r.ports, effect === 'allow' ? WEB_PORTS : ANY_PORT, [...at, 'ports']),
        ...(methods ? { methods: new Set(methods) } : {}),
        ...(r.paths ? { paths: pathPatterns(c, r.paths, [...at, 'paths'], true) } : {}),
      });
    });
    doc.filesystem?.[effect]?.forEach((r, i) => {
      const at = ['filesystem', effect, i];
      const access = r.access ?? (effect === 'allow' ? 'read' : 'rw');
      if (r.private === true && (effect !== 'allow' || access === 'read'))
        c.error(
          [...at, 'private'],
          'bad-private',
          effect !== 'allow'
            ? `private applies to allow rules, not ${effect} rules`
            : 'a private directory is one the session writes, and this rule only grants reading',
          effect !== 'allow' ? 'remove private from this rule' : 'add access: rw, or remove private',
        );
      const paths = pathPatterns(c, r.paths, [...at, 'paths']);
      // Only a whole directory can be replaced by the session's own: anything else would have to
      // fall back to the host's, silently shared.
      if (r.private === true)
        for (const p of paths)
          if (!isWholeDirectory(p))
            c.error(
              [...at, 'paths', r.paths.indexOf(p.text)],
              'bad-private',
              `"${p.text}" is not a whole directory, so it cannot be private`,
              'write a directory followed by /** (~/.npm/**), or remove private',
            );
      filesystem.push({
        ...common(r, effect, at),
        paths,
        read: access !== 'write',
        write: access !== 'read',
        ...(r.private === true ? { isPrivate: true as const } : {}),
      });
    });
    doc.mcp?.[effect]?.forEach((r, i) => {
      const at = ['mcp', effect, i];
      mcp.push({
        ...common(r, effect, at),
        server: compileNameGlob(r.server),
        tools: (r.tools ?? ['*']).map(compileNameGlob),
        ...(r.annotations ? { annotations: r.annotations } : {}),
        args: compileArgs(c, r.args, effect, [...at, 'args']),
      });
    });
    doc.exec?.[effect]?.forEach((r, i) => {
      const at = ['exec', effect, i];
      const commands: CommandPattern[] = [];
      r.commands.forEach((text, k) => {
        const p = compileCommandPattern(text);
        if ('error' in p)
          c.error([...at, 'commands', k], 'bad-command-pattern', p.error.message, p.error.hint);
        else commands.push(p.pattern);
      });
      exec.push({ ...common(r, effect, at), commands });
    });
    if (effect !== 'allow') {
      doc.credentials?.[effect]?.forEach((r, i) => {
        const at = ['credentials', effect, i];
        credentialRules.push({
          ...common(r, effect, at),
          secrets: r.secrets.map(compileNameGlob),
          ...(r.hosts ? { hosts: hostPatterns(c, r.hosts, [...at, 'hosts']) } : {}),
        });
      });
    }
  }

  const credentialBindings = (doc.credentials?.allow ?? []).map(
    (b: CredentialBinding, i): CredentialBindingC => {
      const at = ['credentials', 'allow', i];
      const format = b.inject?.format ?? 'Bearer {secret}';
      if (b.inject && !format.includes('{secret}')) {
        c.error(
          [...at, 'inject', 'format'],
          'format-without-secret',
          `the format "${format}" has no {secret}`,
          'write for example "Bearer {secret}"',
        );
      }
      const header = b.inject?.header ?? 'Authorization';
      if (!TOKEN.test(header))
        c.error([...at, 'inject', 'header'], 'bad-header', `"${header}" is not a header name`);
      if (b.env === undefined && b.file === undefined && b.inject === undefined) {
        c.error(
          at,
          'empty-binding',
          `credential "${b.id}" has no env, file or inject`,
          'add env: VAR (or file: NAME) for a placeholder, inject: {...} for the destinations',
        );
      }
      return {
        ...common(b, 'allow', at),
        secret: b.secret,
        ...(b.env !== undefined ? { env: b.env } : {}),
        ...(b.file !== undefined ? { file: b.file } : {}),
        ...(b.inject
          ? {
              inject: {
                hosts: hostPatterns(c, b.inject.hosts, [...at, 'inject', 'hosts']),
                ports: ports(c, b.inject.ports, [[443, 443]], [...at, 'inject', 'ports']),
                header,
                format,
                anywhere: b.inject.anywhere ?? false,
              },
            }
          : {}),
      };
    },
  );

  const serverIds = new Set<string>();
  doc.mcp?.servers?.forEach((s, i) => {
    if (serverIds.has(s.id))
      c.error(
        ['mcp', 'servers', i, 'id'],
        'duplicate-server-id',
        `MCP server id "${s.id}" is declared twice`,
      );
    serverIds.add(s.id);
    if (s.url !== undefined && !/^https:\/\/|^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/)/.test(s.url)) {
      c.error(
        ['mcp', 'servers', i, 'url'],
        'insecure-mcp-url',
        `the MCP server URL "${s.url}" is not https`,
        'use https:// (plain http only on localhost)',
      );
    }
    // The server's sandbox: the same patterns network and filesystem rules take.
    const box = s.sandbox;
    if (box !== undefined && s.command === undefined)
      c.error(
        ['mcp', 'servers', i, 'sandbox'],
        'sandbox-of-remote-server',
        `the MCP server "${s.id}" is remote, so it has no sandbox to set`,
        'sandbox applies to stdio servers (command); remove it',
      );
    // A remote server's environment is not ours to set: its credential travels in a header.
    if (s.env !== undefined && s.command === undefined)
      c.error(
        ['mcp', 'servers', i, 'env'],
        'env-of-remote-server',
        `the MCP server "${s.id}" is remote, so it has no environment to set`,
        'remove env; a remote server gets its secret in a header: set credential: to a binding whose inject names it',
      );
    box?.network?.forEach((text, j) => {
      const r = parseNetworkEntry(text, c.patternOptions);
      if ('error' in r)
        c.error(['mcp', 'servers', i, 'sandbox', 'network', j], r.error.code, r.error.message, r.error.hint);
    });
    for (const key of ['read', 'write'] as const) {
      const at = ['mcp', 'servers', i, 'sandbox', key];
      const list = box?.[key] ?? [];
      for (const p of pathPatterns(c, list, at))
        if (!isMountable(p))
          c.error(
            [...at, list.indexOf(p.text)],
            'unmountable-sandbox-path',
            `"${p.text}" has a wildcard other than a trailing /**, so the sandbox would mount nothing for it`,
            'write one exact path, or a whole directory ending in /**, under /, ~/ or ${workspace}/',
          );
    }
  });

  const limits = compileLimits(c, doc);

  const testNames = new Set<string>();
  doc.tests?.forEach((t, i) => {
    if (testNames.has(t.name))
      c.error(['tests', i, 'name'], 'duplicate-test-name', `test "${t.name}" is defined twice`);
    testNames.add(t.name);
  });

  return {
    policy: {
      name,
      org: doc.metadata.org ?? '',
      layer: doc.metadata.layer,
      ...(doc.metadata.groups ? { groups: doc.metadata.groups } : {}),
      revision,
      mode: policyMode,
      network,
      filesystem,
      ...(doc.filesystem?.default ? { filesystemDefault: doc.filesystem.default } : {}),
      ...(doc.network?.secrets ? { networkSecrets: doc.network.secrets } : {}),
      mcp,
      mcpServers: doc.mcp?.servers ?? [],
      ...(doc.mcp?.pinning ? { mcpPinning: doc.mcp.pinning } : {}),
      ...(doc.mcp?.secrets ? { mcpSecrets: doc.mcp.secrets } : {}),
      ...(doc.mcp?.auditArguments !== undefined ? { mcpAuditArguments: doc.mcp.auditArguments } : {}),
      ...(doc.mcp?.promptInjection ? { mcpPromptInjection: doc.mcp.promptInjection } : {}),
      exec,
      ...(doc.exec?.default ? { execDefault: doc.exec.default } : {}),
      ...(limits ? { limits } : {}),
      credentialBindings,
      credentialRules,
      tests: doc.tests ?? [],
      source: doc,
    },
    diagnostics: c.diagnostics,
  };
}
