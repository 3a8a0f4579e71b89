// Policy files → validated, compiled policies, with every problem reported at once as
// `file:line:col`. Pure: callers read the files and pass their text. YAML is parsed strictly
// (duplicate keys, unknown tags and alias bombs are errors) and the schema rejects unknown keys.

import {
  LineCounter,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';
import { z } from 'zod';
import { compilePolicy, type CompiledPolicy } from './compile.js';
import {
  formatPath,
  valueAtPath,
  type Diagnostic,
  type DiagnosticPath,
  type Position,
} from './diagnostic.js';
import { policySchemas, type PolicyDocument } from './schema.js';
import { MAX_POLICY_BYTES, nestingProblem, utf8Length } from './yaml-limits.js';

export interface PolicySource {
  /** A name for messages, usually the file path. */
  readonly file: string;
  readonly text: string;
  /**
   * The checked documents of an earlier load of exactly this text that had no diagnostics at all
   * (LoadedPolicy.checked, in order): parsing and schema checks are skipped. Only for a cache the
   * caller trusts as much as the text itself.
   */
  readonly checked?: readonly unknown[];
}

export interface LoadedPolicy {
  readonly policy: CompiledPolicy;
  readonly file: string;
  /** The document's index in its file (0-based). */
  readonly index: number;
  /** Maps a path in the document to its position in the file. */
  readonly locate: (path: DiagnosticPath) => Position;
  /** The document as the schema checked it (plain JSON data), for PolicySource.checked. */
  readonly checked: unknown;
}

export interface LoadResult {
  readonly policies: LoadedPolicy[];
  readonly diagnostics: Diagnostic[];
}

interface SchemaNode {
  readonly properties?: Record<string, SchemaNode>;
  readonly additionalProperties?: SchemaNode | boolean;
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly oneOf?: readonly SchemaNode[];
  readonly allOf?: readonly SchemaNode[];
  readonly $ref?: string;
  readonly $defs?: Record<string, SchemaNode>;
}

let documentSchema: SchemaNode | undefined;
function schema(): SchemaNode {
  documentSchema ??= z.toJSONSchema(policySchemas().PolicyDocument, {
    io: 'input',
    unrepresentable: 'any',
  }) as SchemaNode;
  return documentSchema;
}

/** A node with its alternatives and references opened up (a bounded depth: references may recurse). */
function expand(node: SchemaNode, depth = 0): SchemaNode[] {
  if (depth > 8) return [];
  const ref = node.$ref?.startsWith('#/$defs/') ? schema().$defs?.[node.$ref.slice(8)] : undefined;
  return [
    node,
    ...(ref ? expand(ref, depth + 1) : []),
    ...[...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])].flatMap((n) =>
      expand(n, depth + 1),
    ),
  ];
}

/** The keys the schema allows in the mapping at `path` (undefined when the path leads nowhere known). */
function keysAt(path: readonly (string | number)[]): string[] | undefined {
  let nodes = expand(schema());
  for (const part of path) {
    nodes = nodes
      .flatMap((n): SchemaNode[] => {
        if (typeof part === 'number') return n.items ? [n.items] : [];
        const named = n.properties?.[part];
        if (named) return [named];
        return typeof n.additionalProperties === 'object' ? [n.additionalProperties] : [];
      })
      .flatMap((n) => expand(n));
  }
  const keys = new Set(nodes.flatMap((n) => Object.keys(n.properties ?? {})));
  return keys.size > 0 ? [...keys] : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return `the string "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Zod issues → our diagnostics, in words a policy author reads. */
function issuesToDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  limit: number,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    if (out.length >= limit) break;
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const where = formatPath(path);
    const subject = where === '' ? 'the document' : where;
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = keysAt(path) ?? [];
        for (const key of issue.keys.slice(0, limit)) {
          const suggestion = suggestKey(key, known);
          out.push({
            severity: 'error',
            code: 'unknown-key',
            message: `unknown key "${key}"${where ? ` in ${where}` : ''}`,
            hint: suggestion
              ? `did you mean "${suggestion}"?`
              : known.length > 0
                ? `remove it; the keys here are ${known.join(', ')}`
                : 'remove it; see docs/policy-reference.md for the keys',
            path: [...path, key],
          });
        }
        break;
      }
      case 'invalid_type': {
        const got = valueAtPath(input, path);
        out.push(
          got === undefined
            ? { severity: 'error', code: 'missing-key', message: `${subject} is required`, path }
            : {
                severity: 'error',
                code: 'wrong-type',
                message: `${subject} should be ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}, not ${describeValue(got)}`,
                path,
              },
        );
        break;
      }
      case 'invalid_value':
        if (valueAtPath(input, path) === undefined) {
          const expected = issue.values.map((v) => JSON.stringify(v)).join(' or ');
          out.push({
            severity: 'error',
            code: 'missing-key',
            message: `${subject} is required (${expected})`,
            path,
          });
          break;
        }
        out.push({
          severity: 'error',
          code: 'bad-value',
          message: `${subject} is ${describeValue(valueAtPath(input, path))}; expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`,
          path,
        });
        break;
      case 'too_small':
        out.push({
          severity: 'error',
          code: 'too-small',
          message: `${subject} ${issue.origin === 'array' ? 'must not be empty' : `is too small (${issue.message})`}`,
          path,
        });
        break;
      case 'invalid_union':
        out.push({
          severity: 'error',
          code: 'wrong-type',
          message: `${subject} has the wrong type (${describeValue(valueAtPath(input, path))})`,
          path,
        });
        break;
      default:
        out.push({
          severity: 'error',
          code: issue.code === 'custom' ? 'invalid' : issue.code.replace(/_/g, '-'),
          message: `${subject}: ${issue.message}`,
          path,
        });
    }
  }
  return out;
}

function locator(
  doc: Document,
  lines: LineCounter,
  file: string,
  base: number,
): (path: DiagnosticPath) => Position {
  return (path) => {
    let node: unknown = doc.contents;
    let best = node as Node | null;
    let keyNode: Node | null = null;
    for (const step of path) {
      keyNode = null;
      if (isSeq(node) && typeof step === 'string') continue; // `credentials: [...]` is shorthand for `credentials: {allow: [...]}`
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof step === 'number') {
        node = node.items[step];
      } else break;
      if (node === null || node === undefined) break;
      best = node as Node;
    }
    const target = (keyNode && (!best || path.length > 0) ? keyNode : best) ?? null;
    const offset = target?.range?.[0] ?? best?.range?.[0] ?? base;
    const { line, col } = lines.linePos(offset);
    return { file, line, col };
  };
}

/** Past this many, a document's problems are counted rather than listed (and located). */
const MAX_DIAGNOSTICS_PER_DOCUMENT = 100;

/** `---` with nothing after it is an empty document, not a null policy. */
function isEmptyDocument(doc: Document.Parsed): boolean {
  const c = doc.contents;
  return (
    c === null ||
    (isScalar(c) && c.value === null && (c.source === undefined || c.source === '' || c.source === null))
  );
}

/** Keys that appear twice in one mapping, and `__proto__` keys, with their offsets: one pass, a set per mapping. */
function duplicateKeys(doc: Document.Parsed): { key: string; offset: number; isReserved?: boolean }[] {
  const out: { key: string; offset: number; isReserved?: boolean }[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (key === '__proto__') {
          // Converting to JS would set the prototype instead of a key: the rule would vanish.
          out.push({
            key,
            offset: pair.key && isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0,
            isReserved: true,
          });
        } else if (isScalar(pair.key) && seen.has(key)) {
          out.push({
            key: typeof key === 'string' ? key : JSON.stringify(key),
            offset: pair.key.range?.[0] ?? 0,
          });
        }
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** Loads every document of every source; returns what compiled and every problem found. */
export function loadPolicies(sources: readonly PolicySource[]): LoadResult {
  const policies: LoadedPolicy[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const { file, text, checked } of sources) {
    if (checked !== undefined) {
      const at = (): Position => ({ file, line: 1, col: 1 });
      checked.forEach((document, index) => {
        const { policy, diagnostics: found } = compilePolicy(document as PolicyDocument, { isChecked: true });
        for (const d of found) diagnostics.push({ ...d, policy: policy.name, at: at() });
        policies.push({ policy, file, index, locate: at, checked: document });
      });
      continue;
    }
    if (utf8Length(text) > MAX_POLICY_BYTES) {
      diagnostics.push({
        severity: 'error',
        code: 'file-too-large',
        message: 'the policy file is larger than 1 MiB',
        hint: 'split it into several files',
        at: { file, line: 1, col: 1 },
      });
      continue;
    }
    const lines = new LineCounter();
    const deep = nestingProblem(text);
    if (deep) {
      const before = text.slice(0, deep.offset);
      diagnostics.push({
        severity: 'error',
        code: 'too-deep',
        message: deep.message,
        hint: 'policies need only a few levels; flatten the structure',
        at: { file, line: before.split('\n').length, col: deep.offset - before.lastIndexOf('\n') },
      });
      continue;
    }
    let docs: Document.Parsed[];
    try {
      docs = parseAllDocuments(text, {
        lineCounter: lines,
        prettyErrors: false,
        // Duplicate keys are found below in one pass; the library's own check is quadratic.
        uniqueKeys: false,
        strict: true,
      }) as Document.Parsed[];
    } catch (e) {
      diagnostics.push({
        severity: 'error',
        code: 'yaml',
        message: `the file could not be read as YAML: ${(e as Error).message}`,
        at: { file, line: 1, col: 1 },
      });
      continue;
    }
    if (!Array.isArray(docs)) docs = [];
    let count = 0;
    docs.forEach((doc, index) => {
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length > 0) {
        for (const e of problems) {
          const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
          const message =
            e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'YAML error';
          diagnostics.push({
            severity: 'error',
            code: 'yaml',
            message: `YAML: ${message}`,
            at: { file, line: pos.line, col: pos.col },
          });
        }
        return;
      }
      if (isEmptyDocument(doc)) return;
      count++;
      const locate = locator(doc, lines, file, doc.range[0]);
      const duplicates = duplicateKeys(doc);
      if (duplicates.length > 0) {
        for (const { key, offset, isReserved } of duplicates.slice(0, MAX_DIAGNOSTICS_PER_DOCUMENT)) {
          const pos = lines.linePos(offset);
          diagnostics.push(
            isReserved
              ? {
                  severity: 'error',
                  code: 'reserved-key',
                  message: 'the key "__proto__" is not allowed',
                  hint: 'rename it',
                  at: { file, line: pos.line, col: pos.col },
                }
              : {
                  severity: 'error',
                  code: 'duplicate-key',
                  message: `the key "${key}" appears twice in the same mapping`,
                  hint: 'YAML keeps only one of them; remove or merge the other',
                  at: { file, line: pos.line, col: pos.col },
                },
          );
        }
        return;
      }
      let input: unknown;
      try {
        input = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        diagnostics.push({
          severity: 'error',
          code: 'yaml',
          message: `YAML: ${(e as Error).message}`,
          at: locate([]),
        });
        return;
      }
      const parsed = policySchemas().PolicyDocument.safeParse(input);
      if (!parsed.success) {
        const issues = parsed.error.issues;
        const total = issues.reduce((n, i) => n + (i.code === 'unrecognized_keys' ? i.keys.length : 1), 0);
        const found = issuesToDiagnostics(issues, input, MAX_DIAGNOSTICS_PER_DOCUMENT);
        for (const d of found) diagnostics.push({ ...d, at: locate(d.path ?? []) });
        if (total > found.length) {
          diagnostics.push({
            severity: 'error',
            code: 'too-many-problems',
            message: `and more problems in this document (${total} schema problems in all)`,
            at: locate([]),
          });
        }
        return;
      }
      const { policy, diagnostics: found } = compilePolicy(parsed.data);
      for (const d of found) diagnostics.push({ ...d, policy: policy.name, at: locate(d.path ?? []) });
      policies.push({ policy, file, index, locate, checked: parsed.data });
    });
    if (count === 0 && !diagnostics.some((d) => d.at?.file === file)) {
      diagnostics.push({
        severity: 'error',
        code: 'empty-file',
        message: 'the file holds no policy document',
        hint: 'a policy starts with apiVersion: perimeter/v1 and kind: Policy',
        at: { file, line: 1, col: 1 },
      });
    }
  }
  const byName = new Map<string, LoadedPolicy>();
  for (const p of policies) {
    const key = `${p.policy.org}/${p.policy.name}`;
    const first = byName.get(key);
    if (first) {
      const where = first.locate(['metadata', 'name']);
      diagnostics.push({
        severity: 'error',
        code: 'duplicate-policy-name',
        message: `policy name "${p.policy.name}" is used twice`,
        hint: `the first is at ${where.file}:${where.line}; policy names are unique within an organisation`,
        at: p.locate(['metadata', 'name']),
        policy: p.policy.name,
      });
    } else byName.set(key, p);
  }
  // In reading order: by file as given, then line and column.
  const fileOrder = new Map(sources.map((src, i) => [src.file, i]));
  const rank = (d: Diagnostic): [number, number, number] => [
    fileOrder.get(d.at?.file ?? '') ?? 0,
    d.at?.line ?? 0,
    d.at?.col ?? 0,
  ];
  diagnostics.sort((a, b) => {
    const [fa, la, ca] = rank(a);
    const [fb, lb, cb] = rank(b);
    return fa - fb || la - lb || ca - cb;
  });
  return { policies, diagnostics };
}
