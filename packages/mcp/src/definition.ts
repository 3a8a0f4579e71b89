// A definition as the gateway pins it: the fields that tell an agent what a tool, prompt, resource
// or resource template is and what it takes (a tool's name, title, description, input and output
// schema and annotations; a prompt's arguments; a resource's URI and MIME type), in RFC 8785
// canonical JSON, hashed with SHA-256. Anything else a server sends (`_meta`, icons, a resource's
// size or last-modified time) can change without re-approval; none of it is the agent's idea of
// what the definition does. Pure but for the hash.

import { createHash } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';
import { childPath } from './poisoning.js';

/** What an upstream lists, each kind pinned on its own fields. */
export type DefinitionKind = 'tools' | 'prompts' | 'resources' | 'templates';

/** The pinned fields of each kind, in the order they are listed. */
export const PINNED_FIELDS: Readonly<Record<DefinitionKind, readonly string[]>> = {
  tools: ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'],
  prompts: ['name', 'title', 'description', 'arguments'],
  resources: ['uri', 'name', 'title', 'description', 'mimeType'],
  templates: ['uriTemplate', 'name', 'title', 'description', 'mimeType'],
};

const NOUN: Readonly<Record<DefinitionKind, string>> = {
  tools: 'tool',
  prompts: 'prompt',
  resources: 'resource',
  templates: 'resource template',
};

/** The part of a definition a pin covers. */
export function pinnedPart(
  definition: Readonly<Record<string, unknown>>,
  kind: DefinitionKind = 'tools',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS[kind])
    if (definition[field] !== undefined) out[field] = definition[field];
  return out;
}

/** `sha256:` and the hex SHA-256 of the canonical pinned part. */
export function definitionHash(
  definition: Readonly<Record<string, unknown>>,
  kind: DefinitionKind = 'tools',
): string {
  return definitionDigest(definition, kind).hash;
}

/**
 * definitionHash, and the size in UTF-8 bytes of the canonical pinned part it hashes: what a pin
 * store would keep of the definition (redteam-36-2: the gateway holds one too large to keep), from
 * the one serialisation the hash needs.
 */
export function definitionDigest(
  definition: Readonly<Record<string, unknown>>,
  kind: DefinitionKind = 'tools',
): { readonly hash: string; readonly bytes: number } {
  const canonical = canonicalJson(pinnedPart(definition, kind));
  return {
    hash: `sha256:${createHash('sha256').update(canonical).digest('hex')}`,
    bytes: Buffer.byteLength(canonical),
  };
}

/**
 * Schema keywords: what an argument may be, what it defaults to, what a model reads of it. Keys a
 * schema holds besides them (`$comment`, a key of the server's own) change nothing.
 */
const KEYWORDS = new Set([
  'type',
  'required',
  'default',
  'const',
  'enum',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'properties',
  'patternProperties',
  'additionalProperties',
  'propertyNames',
  'dependentRequired',
  'dependentSchemas',
  'unevaluatedProperties',
  'items',
  'prefixItems',
  'contains',
  'unevaluatedItems',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'if',
  'then',
  'else',
  '$ref',
  '$defs',
  'definitions',
  'description',
  'title',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
]);
/** Keywords whose value is anything: a change within it is a change to it. */
const VALUE_KEYWORDS = new Set(['default', 'const']);
/**
 * Keywords whose keys are names, each of a schema (a parameter's, under `properties`) or of a list
 * of names (`dependentRequired`: `{to: ["bcc"]}` makes bcc required whenever to is given).
 */
const NAMING_KEYWORDS = new Set([
  'properties',
  'patternProperties',
  'dependentSchemas',
  'dependentRequired',
  '$defs',
  'definitions',
]);
/** Where a schema keeps definitions for `$ref`: a new one applies to nothing yet. */
const DEFINITIONS = new Set(['$defs', 'definitions']);
const SCHEMAS = new Set(['inputSchema', 'outputSchema']);
/** What a tool's annotations say (MCP's ToolAnnotations). */
const ANNOTATIONS = new Set(['title', 'readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint']);

/**
 * How soon the person reviewing a drift must see the change at `keys` (redteam-34-4), 0 first:
 * 0, a field, or a parameter (a name under a schema's `properties`), added, removed or replaced;
 * 1, a change at a path of keys that all mean something: schema keywords (and, within a
 * `default` or a `const`, anything), the names under the keywords that take names, MCP's
 * annotations; 2, the rest (`$comment`, a key of the server's own, a definition added to `$defs`,
 * which nothing refers to yet). Padding is made of the rest, so it cannot push out a new
 * parameter or a changed default, wherever its keys are put (beside the schema's keywords, in
 * another parameter, in the annotations).
 */
function rank(keys: readonly string[]): 0 | 1 | 2 {
  const [field = '', ...path] = keys;
  if (path.length === 0) return 0;
  if (!SCHEMAS.has(field)) return path.length === 1 && ANNOTATIONS.has(path[0] ?? '') ? 1 : 2;
  // The keyword whose name the key at hand is, if it is one; the key after a name is a keyword.
  let namedBy: string | undefined;
  for (const [i, key] of path.entries()) {
    if (namedBy !== undefined) {
      if (i === path.length - 1) return namedBy === 'properties' ? 0 : DEFINITIONS.has(namedBy) ? 2 : 1;
      namedBy = undefined;
    } else if (VALUE_KEYWORDS.has(key)) return 1;
    else if (!KEYWORDS.has(key)) return 2;
    else if (NAMING_KEYWORDS.has(key)) namedBy = key;
  }
  return 1;
}

/**
 * What changed between two definitions, as JSON paths with `added`, `removed` or `changed`:
 * `inputSchema.properties.bcc added`, `description changed`; `new tool` (`new prompt`, …) when
 * there was none before. At most `limit` entries, and then one more that says how many were left
 * out (`…and 12 more changes`). Ordered by rank(), then by path: twenty `$comment` keys added
 * beside a new `bcc` parameter do not push `bcc` out of the list (redteam-34-4), and a cut list
 * never reads as a whole one.
 *
 * redteam-33-7: the upstream names the keys, and `pins list` prints these lines to the person
 * who approves. An odd key is quoted with its control characters escaped (childPath, as the
 * poisoning scan names places), so a property named `bcc<ESC>[1A<ESC>[2K…` cannot erase the
 * lines that say what changed. Not clipped: the gateway redacts each line after, and a clipped
 * secret would no longer be recognised.
 */
export function definitionDiff(
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>>,
  kind: DefinitionKind = 'tools',
  limit = 20,
): string[] {
  if (before === undefined) return [`new ${NOUN[kind]}`];
  // redteam-36-2: a definition can hold millions of keys, each a change; only the first `limit`
  // of each rank can be shown, so only they are kept, and the rest counted.
  const ranked: [string[], string[], string[]] = [[], [], []];
  let changes = 0;
  const walk = (a: unknown, b: unknown, path: string, keys: readonly string[]): void => {
    const change = (what: string): void => {
      changes++;
      const lines = ranked[rank(keys)];
      if (lines.length < limit) lines.push(`${path} ${what}`);
    };
    if (a === undefined) change('added');
    else if (b === undefined) change('removed');
    else if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
        walk(own(a, key), own(b, key), childPath(path, key, Infinity), [...keys, key]);
    } else if (canonicalJson(a) !== canonicalJson(b)) change('changed');
  };
  walk(pinnedPart(before, kind), pinnedPart(after, kind), '', []);
  const all = ranked.flat();
  if (changes <= limit) return all;
  const left = changes - limit;
  return [...all.slice(0, limit), `…and ${left} more ${left === 1 ? 'change' : 'changes'}`];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `o[key]` when it is `o`'s own ("__proto__" would otherwise read the prototype). */
function own(o: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}
