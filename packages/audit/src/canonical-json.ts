// RFC 8785 JSON Canonicalization Scheme: one byte sequence per JSON value, so a hash over an
// event does not depend on key order or number spelling. Pure.
//
// Fast path: a copy with every object's keys inserted in sorted order, then one JSON.stringify
// (which keeps insertion order, and whose number and string forms are RFC 8785's). JavaScript
// objects put integer-like keys ("7", "10") first in numeric order whatever the insertion order,
// so a value with such a key anywhere takes the slow path, which writes every part itself.

const INTEGER_LIKE = /^(?:0|[1-9][0-9]*)$/;

class SlowPath extends Error {}

function sortedCopy(value: unknown): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new Error('canonical JSON has no form for NaN or Infinity');
      return value;
    case 'object': {
      if (Array.isArray(value)) return value.map(sortedCopy);
      const source = value as Record<string, unknown>;
      // No prototype: a "__proto__" key (JSON.parse makes it an own key) is then a key like any
      // other, where on a plain object it would set the copy's prototype and vanish from the text.
      const out = Object.create(null) as Record<string, unknown>;
      for (const key of Object.keys(source).sort()) {
        const v = source[key];
        if (v === undefined) continue;
        if (INTEGER_LIKE.test(key)) throw new SlowPath();
        out[key] = sortedCopy(v);
      }
      return out;
    }
    default:
      throw new Error(`canonical JSON has no form for a ${typeof value}`);
  }
}

function writeCanonical(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Error('canonical JSON has no form for NaN or Infinity');
      // ECMAScript's Number-to-String is exactly RFC 8785 §3.2.2.3.
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(writeCanonical).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${writeCanonical(v)}`).join(',')}}`;
    }
    default:
      throw new Error(`canonical JSON has no form for a ${typeof value}`);
  }
}

/** Serialises a JSON value canonically: keys sorted by UTF-16 code units, no whitespace, ES number form. */
export function canonicalJson(value: unknown): string {
  try {
    return JSON.stringify(sortedCopy(value));
  } catch (e) {
    if (e instanceof SlowPath) return writeCanonical(value);
    throw e;
  }
}
