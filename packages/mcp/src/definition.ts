// A tool's definition as the gateway pins it: the fields that tell an agent what the tool does and
// what it takes (name, title, description, input and output schema, annotations), in RFC 8785
// canonical JSON, hashed with SHA-256. Anything else a server sends (`_meta`, icons) can change
// without re-approval; none of it reaches the agent's idea of the tool. Pure but for the hash.

import { createHash } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';

/** The pinned fields, in the order they are listed. */
export const PINNED_FIELDS = [
  'name',
  'title',
  'description',
  'inputSchema',
  'outputSchema',
  'annotations',
] as const;

/** The part of a definition a pin covers. */
export function pinnedPart(definition: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) if (definition[field] !== undefined) out[field] = definition[field];
  return out;
}

/** `sha256:` and the hex SHA-256 of the canonical pinned part. */
export function definitionHash(definition: Readonly<Record<string, unknown>>): string {
  return `sha256:${createHash('sha256')
    .update(canonicalJson(pinnedPart(definition)))
    .digest('hex')}`;
}

/**
 * What changed between two definitions, as JSON paths with `added`, `removed` or `changed`:
 * `inputSchema.properties.bcc added`, `description changed`. At most `limit` entries.
 */
export function definitionDiff(
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>>,
  limit = 20,
): string[] {
  if (before === undefined) return ['new tool'];
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (a === undefined) out.push(`${path} added`);
    else if (b === undefined) out.push(`${path} removed`);
    else if (isObject(a) && isObject(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
        walk(a[key], b[key], path === '' ? key : `${path}.${key}`);
    } else if (canonicalJson(a) !== canonicalJson(b)) out.push(`${path} changed`);
  };
  walk(pinnedPart(before), pinnedPart(after), '');
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
