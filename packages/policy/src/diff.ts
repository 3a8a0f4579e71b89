// The semantic diff of two revisions of one policy: which rules, MCP servers, settings and tests
// were added, removed or changed, keyed by the ids people write and never by position (moving a
// rule within its list is no change; moving it from allow to deny is). Also, per surface and
// effect, which patterns (hosts, paths, tools, commands, secrets) appear or disappear, so an admin
// sees "who loses access to what" before publishing. Pure: documents in, data out.

import type { DiagnosticPath } from './diagnostic.js';
import { SECTION_OF, SURFACES, type Effect, type PolicyDocument, type Surface } from './schema.js';

export type ChangeKind = 'added' | 'removed' | 'changed';

/** One field of a rule, server, setting or test that differs. */
export interface FieldChange {
  readonly field: string;
  /** For list fields: the items only the new revision has (strings as written, others as JSON). */
  readonly added?: readonly string[];
  /** For list fields: the items only the old revision has. */
  readonly removed?: readonly string[];
  /** For other fields: the old value as JSON; absent when the old revision does not set it. */
  readonly before?: string;
  /** For other fields: the new value as JSON; absent when the new revision does not set it. */
  readonly after?: string;
}

export interface PolicyChange {
  readonly kind: ChangeKind;
  readonly what: 'rule' | 'mcp-server' | 'setting' | 'test';
  /** The rule's surface (rules only). */
  readonly surface?: Surface;
  /** The rule's effect in the old and the new revision (rules only; absent on the side without it). */
  readonly effect?: { readonly before?: Effect; readonly after?: Effect };
  /** The rule or server id, the setting's dotted name, or the test's name. */
  readonly id: string;
  /** Where it is: in the new revision, or in the old one for a removal. */
  readonly path: DiagnosticPath;
  /** What differs (for a change), or what it holds (for an addition or a removal). */
  readonly fields: readonly FieldChange[];
  /** One line for a person: `network allow rule "github" changed: hosts +api.github.com`. */
  readonly summary: string;
}

export interface PatternDelta {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export interface PolicyDiff {
  /** Rules first (in surface order), then MCP servers, settings and tests. */
  readonly changes: readonly PolicyChange[];
  /**
   * Per surface and effect, the patterns present in the new revision's rules of that effect and in
   * none of the old one's, and the reverse: network hosts and CIDRs, filesystem paths, MCP
   * `server/tool` globs, exec command patterns, credential `secret → host`. Only non-empty deltas.
   */
  readonly patterns: Readonly<Partial<Record<Surface, Readonly<Partial<Record<Effect, PatternDelta>>>>>>;
  readonly isEmpty: boolean;
}

const EFFECTS: readonly Effect[] = ['allow', 'ask', 'deny'];
type Obj = Readonly<Record<string, unknown>>;

interface Located {
  readonly surface: Surface;
  readonly effect: Effect;
  readonly rule: Obj;
  readonly path: DiagnosticPath;
}

/** Every rule of a document, keyed `surface:id` (ids are unique within a policy). */
function rulesOf(doc: PolicyDocument | undefined): Map<string, Located> {
  const out = new Map<string, Located>();
  if (!doc) return out;
  for (const surface of SURFACES) {
    // The surface's section of the document (credential rules live under `credentials`).
    const section: Obj | undefined = doc[SECTION_OF[surface]];
    for (const effect of EFFECTS) {
      const list = section?.[effect];
      if (!Array.isArray(list)) continue;
      list.forEach((rule: Obj, i) => {
        out.set(`${surface}:${String(rule.id)}`, {
          surface,
          effect,
          rule,
          path: [SECTION_OF[surface], effect, i],
        });
      });
    }
  }
  return out;
}

/** JSON with sorted keys, so two equal values always print the same. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Obj)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const itemText = (item: unknown): string => (typeof item === 'string' ? item : stableJson(item));

function setDelta(before: readonly string[], after: readonly string[]): PatternDelta {
  const old = new Set(before);
  const now = new Set(after);
  return {
    added: [...now].filter((x) => !old.has(x)),
    removed: [...old].filter((x) => !now.has(x)),
  };
}

/** The fields that differ between two objects; lists compare as sets, anything else as a value. */
function fieldChanges(
  before: Obj | undefined,
  after: Obj | undefined,
  skip: readonly string[],
): FieldChange[] {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].filter(
    (k) => !skip.includes(k),
  );
  keys.sort();
  const out: FieldChange[] = [];
  for (const field of keys) {
    const b = before?.[field];
    const a = after?.[field];
    if (b === undefined && a === undefined) continue;
    if ((Array.isArray(b) || b === undefined) && (Array.isArray(a) || a === undefined)) {
      const { added, removed } = setDelta(
        ((b as unknown[] | undefined) ?? []).map(itemText),
        ((a as unknown[] | undefined) ?? []).map(itemText),
      );
      if (added.length > 0 || removed.length > 0)
        out.push({
          field,
          ...(added.length > 0 ? { added } : {}),
          ...(removed.length > 0 ? { removed } : {}),
        });
      continue;
    }
    const bj = b === undefined ? undefined : stableJson(b);
    const aj = a === undefined ? undefined : stableJson(a);
    if (bj !== aj)
      out.push({
        field,
        ...(bj !== undefined ? { before: bj } : {}),
        ...(aj !== undefined ? { after: aj } : {}),
      });
  }
  return out;
}

function describeField(f: FieldChange): string {
  if (f.added || f.removed) {
    const parts = [...(f.added ?? []).map((x) => `+${x}`), ...(f.removed ?? []).map((x) => `−${x}`)];
    return `${f.field} ${parts.join(' ')}`;
  }
  return `${f.field} ${f.before ?? '(unset)'} → ${f.after ?? '(unset)'}`;
}

function describeContents(fields: readonly FieldChange[]): string {
  const parts = fields.map((f) =>
    f.added || f.removed
      ? `${f.field}: ${[...(f.added ?? []), ...(f.removed ?? [])].join(', ')}`
      : `${f.field}: ${f.after ?? f.before ?? ''}`,
  );
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

function ruleChanges(before: PolicyDocument | undefined, after: PolicyDocument): PolicyChange[] {
  const old = rulesOf(before);
  const now = rulesOf(after);
  const out: PolicyChange[] = [];
  for (const [key, n] of now) {
    const o = old.get(key);
    const id = String(n.rule.id);
    const name = `${n.surface} ${n.effect} rule "${id}"`;
    if (!o) {
      const fields = fieldChanges(undefined, n.rule, ['id']);
      out.push({
        kind: 'added',
        what: 'rule',
        surface: n.surface,
        effect: { after: n.effect },
        id,
        path: n.path,
        fields,
        summary: `${name} added${describeContents(fields)}`,
      });
      continue;
    }
    const fields = fieldChanges(o.rule, n.rule, ['id']);
    if (o.effect === n.effect && fields.length === 0) continue;
    const effectText = o.effect !== n.effect ? [`effect ${o.effect} → ${n.effect}`] : [];
    out.push({
      kind: 'changed',
      what: 'rule',
      surface: n.surface,
      effect: { before: o.effect, after: n.effect },
      id,
      path: n.path,
      fields,
      summary: `${n.surface} rule "${id}" changed: ${[...effectText, ...fields.map(describeField)].join('; ')}`,
    });
  }
  for (const [key, o] of old) {
    if (now.has(key)) continue;
    const id = String(o.rule.id);
    const fields = fieldChanges(o.rule, undefined, ['id']);
    out.push({
      kind: 'removed',
      what: 'rule',
      surface: o.surface,
      effect: { before: o.effect },
      id,
      path: o.path,
      fields,
      summary: `${o.surface} ${o.effect} rule "${id}" removed${describeContents(fields)}`,
    });
  }
  const order = (c: PolicyChange): number => SURFACES.indexOf(c.surface ?? 'network');
  return out.sort((a, b) => order(a) - order(b));
}

/** Items keyed by a field (servers by id, tests by name), with their paths. */
function keyed(
  list: unknown,
  key: string,
  base: DiagnosticPath,
): Map<string, { item: Obj; path: DiagnosticPath }> {
  const out = new Map<string, { item: Obj; path: DiagnosticPath }>();
  if (!Array.isArray(list)) return out;
  list.forEach((item: Obj, i) => out.set(String(item[key]), { item, path: [...base, i] }));
  return out;
}

function keyedChanges(
  what: 'mcp-server' | 'test',
  before: Map<string, { item: Obj; path: DiagnosticPath }>,
  after: Map<string, { item: Obj; path: DiagnosticPath }>,
  key: string,
): PolicyChange[] {
  const label = what === 'mcp-server' ? 'MCP server' : 'test';
  const out: PolicyChange[] = [];
  for (const [id, n] of after) {
    const o = before.get(id);
    const fields = fieldChanges(o?.item, n.item, [key]);
    if (o && fields.length === 0) continue;
    out.push({
      kind: o ? 'changed' : 'added',
      what,
      id,
      path: n.path,
      fields,
      summary: o
        ? `${label} "${id}" changed: ${fields.map(describeField).join('; ')}`
        : `${label} "${id}" added${what === 'mcp-server' ? describeContents(fields) : ''}`,
    });
  }
  for (const [id, o] of before) {
    if (after.has(id)) continue;
    out.push({
      kind: 'removed',
      what,
      id,
      path: o.path,
      fields: fieldChanges(o.item, undefined, [key]),
      summary: `${label} "${id}" removed`,
    });
  }
  return out;
}

/** The policy-wide settings, by dotted name, with their document paths. */
const SETTINGS: readonly (readonly string[])[] = [
  ['mode'],
  ['metadata', 'layer'],
  ['metadata', 'groups'],
  ['metadata', 'org'],
  ['metadata', 'owner'],
  ['metadata', 'description'],
  ['network', 'secrets'],
  ['filesystem', 'default'],
  ['exec', 'default'],
  ['mcp', 'pinning'],
  ['mcp', 'secrets'],
  ['mcp', 'auditArguments'],
  ['mcp', 'promptInjection'],
  ['limits', 'processes'],
  ['limits', 'tmp'],
  ['limits', 'openFiles'],
  ['limits', 'memory'],
  ['limits', 'fileSize'],
];

function valueAt(doc: PolicyDocument | undefined, path: readonly string[]): unknown {
  let v: unknown = doc;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Obj)[p];
  }
  return v;
}

function settingChanges(before: PolicyDocument | undefined, after: PolicyDocument): PolicyChange[] {
  const out: PolicyChange[] = [];
  for (const path of SETTINGS) {
    const id = path.join('.');
    const fields = fieldChanges({ [id]: valueAt(before, path) }, { [id]: valueAt(after, path) }, []);
    const field = fields[0];
    if (!field) continue;
    const wasSet = valueAt(before, path) !== undefined;
    const isSet = valueAt(after, path) !== undefined;
    out.push({
      kind: wasSet && isSet ? 'changed' : isSet ? 'added' : 'removed',
      what: 'setting',
      id,
      path,
      fields,
      summary: `setting ${describeField(field)}`,
    });
  }
  return out;
}

/** The patterns a rule covers, as the aggregate view lists them. */
function patternsOf(surface: Surface, effect: Effect, rule: Obj): string[] {
  const list = (key: string): string[] =>
    Array.isArray(rule[key]) ? (rule[key] as unknown[]).map(itemText) : [];
  switch (surface) {
    case 'network':
      return [...list('hosts'), ...list('cidrs')];
    case 'filesystem':
      return list('paths');
    case 'exec':
      return list('commands');
    case 'mcp': {
      const server = String(rule.server);
      const tools = list('tools');
      return tools.length > 0 ? tools.map((t) => `${server}/${t}`) : [`${server}/*`];
    }
    case 'credential': {
      const secrets = effect === 'allow' ? [String(rule.secret)] : list('secrets');
      const inject = rule.inject as Obj | undefined;
      const hosts =
        effect === 'allow' ? (inject ? ((inject.hosts as string[] | undefined) ?? []) : []) : list('hosts');
      return hosts.length === 0 ? secrets : secrets.flatMap((s) => hosts.map((h) => `${s} → ${h}`));
    }
  }
}

function patternChanges(before: PolicyDocument | undefined, after: PolicyDocument): PolicyDiff['patterns'] {
  const collect = (doc: PolicyDocument | undefined): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    for (const r of rulesOf(doc).values()) {
      const key = `${r.surface}:${r.effect}`;
      out.set(key, [...(out.get(key) ?? []), ...patternsOf(r.surface, r.effect, r.rule)]);
    }
    return out;
  };
  const old = collect(before);
  const now = collect(after);
  const result: Partial<Record<Surface, Partial<Record<Effect, PatternDelta>>>> = {};
  for (const surface of SURFACES) {
    for (const effect of EFFECTS) {
      const key = `${surface}:${effect}`;
      const delta = setDelta(old.get(key) ?? [], now.get(key) ?? []);
      if (delta.added.length === 0 && delta.removed.length === 0) continue;
      result[surface] = { ...result[surface], [effect]: delta };
    }
  }
  return result;
}

/**
 * What changed from `before` to `after` (two revisions of one policy, as the schema checked them);
 * with no `before`, everything in `after` is added.
 */
export function diffPolicies(before: PolicyDocument | undefined, after: PolicyDocument): PolicyDiff {
  const changes = [
    ...ruleChanges(before, after),
    ...keyedChanges(
      'mcp-server',
      keyed(before?.mcp?.servers, 'id', ['mcp', 'servers']),
      keyed(after.mcp?.servers, 'id', ['mcp', 'servers']),
      'id',
    ),
    ...settingChanges(before, after),
    ...keyedChanges(
      'test',
      keyed(before?.tests, 'name', ['tests']),
      keyed(after.tests, 'name', ['tests']),
      'name',
    ),
  ];
  const patterns = patternChanges(before, after);
  return { changes, patterns, isEmpty: changes.length === 0 };
}
