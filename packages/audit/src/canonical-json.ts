// RFC 8785 JSON Canonicalization Scheme: one byte sequence per JSON value, so a hash over an
// event does not depend on key order or number spelling. Pure.
//
// Written in one pass: every object's keys sorted by UTF-16 code units (what Array#sort does by
// default), strings and numbers through JSON.stringify, whose forms are RFC 8785's (ECMAScript's
// Number-to-String is exactly §3.2.2.3). No copy is made: a copy's keys would come out in
// JavaScript's property order, integer-like keys ("7", "10") first whatever the insertion order,
// and an own "__proto__" key (JSON.parse makes one) would set a plain copy's prototype instead.

const EVERY = (): boolean => true;

/** Serialises a JSON value canonically: keys sorted by UTF-16 code units, no whitespace, ES number form. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('canonical JSON has no form for NaN or Infinity');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
        return `${out}]`;
      }
      return `{${members(value as Record<string, unknown>, EVERY)}}`;
    }
    default:
      throw new Error(`canonical JSON has no form for a ${typeof value}`);
  }
}

/** The canonical members (`"key":value`) of an object whose keys `keep` keeps, sorted and comma-separated. */
function members(source: Readonly<Record<string, unknown>>, keep: (key: string) => boolean): string {
  let out = '';
  for (const key of Object.keys(source).sort()) {
    const v = source[key];
    if (v === undefined || !keep(key)) continue;
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return out;
}

/**
 * The canonical members of an object but one key, split where that key would sort: the object's
 * canonical form with any value in that place is `{before,"key":value,after}` (with the commas
 * that empty halves leave out), so it can be written with two values for one cost.
 */
export function canonicalAround(
  source: Readonly<Record<string, unknown>>,
  key: string,
): { readonly before: string; readonly after: string } {
  return { before: members(source, (k) => k < key), after: members(source, (k) => k > key) };
}
