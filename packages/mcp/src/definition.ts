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
 * What changed between two definitions, as JSON paths with `added`, `removed` or `changed`:
 * `inputSchema.properties.bcc added`, `description changed`; `new tool` (`new prompt`, …) when
 * there was none before. At most `limit` entries.
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
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (a === undefined) out.push(`${path} added`);
    else if (b === undefined) out.push(`${path} removed`);
    else if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
        walk(own(a, key), own(b, key), childPath(path, key, Infinity));
    } else if (canonicalJson(a) !== canonicalJson(b)) out.push(`${path} changed`);
  };
  walk(pinnedPart(before, kind), pinnedPart(after, kind), '');
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `o[key]` when it is `o`'s own ("__proto__" would otherwise read the prototype). */
function own(o: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}
