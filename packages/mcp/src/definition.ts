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
  return `sha256:${createHash('sha256')
    .update(canonicalJson(pinnedPart(definition, kind)))
    .digest('hex')}`;
}

/**
 * What a reviewer of a drift must see first: a change to a parameter (anything under a schema's
 * `properties`), to a keyword that changes what an argument may be or defaults to, or to a
 * top-level field other than a schema (the description, the annotations, a prompt's arguments).
 * Everything else (`$comment`, a key of the server's own) can be padding (redteam-34-4).
 */
const WEIGHTY_KEYWORDS = new Set([
  'type',
  'required',
  'default',
  'enum',
  'const',
  'items',
  'pattern',
  'format',
  'description',
  'title',
  'additionalProperties',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
]);
const SCHEMAS = new Set(['inputSchema', 'outputSchema']);

function isWeighty(keys: readonly string[]): boolean {
  const [field] = keys;
  if (field !== undefined && !SCHEMAS.has(field)) return true;
  const last = keys[keys.length - 1];
  return keys.includes('properties') || (last !== undefined && WEIGHTY_KEYWORDS.has(last));
}

/**
 * What changed between two definitions, as JSON paths with `added`, `removed` or `changed`:
 * `inputSchema.properties.bcc added`, `description changed`; `new tool` (`new prompt`, …) when
 * there was none before. At most `limit` entries, and then one more that says how many were left
 * out (`…and 12 more changes`). Changes to parameters, to what they may be, and to the fields
 * outside the schemas come first, each group in the order of its paths: twenty `$comment` keys
 * added beside a new `bcc` parameter do not push `bcc` out of the list (redteam-34-4), and a cut
 * list never reads as a whole one.
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
  const weighty: string[] = [];
  const rest: string[] = [];
  const walk = (a: unknown, b: unknown, path: string, keys: readonly string[]): void => {
    const change = (what: string): void => {
      (isWeighty(keys) ? weighty : rest).push(`${path} ${what}`);
    };
    if (a === undefined) change('added');
    else if (b === undefined) change('removed');
    else if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
        walk(own(a, key), own(b, key), childPath(path, key, Infinity), [...keys, key]);
    } else if (canonicalJson(a) !== canonicalJson(b)) change('changed');
  };
  walk(pinnedPart(before, kind), pinnedPart(after, kind), '', []);
  const all = [...weighty, ...rest];
  if (all.length <= limit) return all;
  const left = all.length - limit;
  return [...all.slice(0, limit), `…and ${left} more ${left === 1 ? 'change' : 'changes'}`];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `o[key]` when it is `o`'s own ("__proto__" would otherwise read the prototype). */
function own(o: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}
