// RFC 8785 JSON Canonicalization Scheme: one byte sequence per JSON value, so a hash over an
// event does not depend on key order or number spelling. Pure.
//
// Written in one pass: every object's keys sorted by UTF-16 code units (what Array#sort does by
// default), strings and numbers through JSON.stringify, whose forms are RFC 8785's (ECMAScript's
// Number-to-String is exactly §3.2.2.3). No copy is made: a copy's keys would come out in
// JavaScript's property order, integer-like keys ("7", "10") first whatever the insertion order,
// and an own "__proto__" key (JSON.parse makes one) would set a plain copy's prototype instead.
//
// Every audit event passes here twice (its hash, its line), so it allocates little: an object's
// few keys are sorted in place, by insertion, rather than by Array#sort, whose work array cost
// more than the event's whole text (a third of what the gateway allocated per call was here), and
// each key is quoted once and remembered (events use a few dozen names).

/** Keys with more members than this are sorted by Array#sort. */
const INSERTION_SORT_MAX = 24;
/** The most quoted keys remembered: events use a few dozen; a caller's own keys may be many. */
const QUOTED_MAX = 4_096;
const quotedKeys = new Map<string, string>();

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
      const source = value as Record<string, unknown>;
      const keys = sortedKeys(source);
      return `{${members(source, keys, 0, keys.length)}}`;
    }
    default:
      throw new Error(`canonical JSON has no form for a ${typeof value}`);
  }
}

/** An object's own enumerable keys in UTF-16 code unit order. */
function sortedKeys(source: Readonly<Record<string, unknown>>): string[] {
  const keys = Object.keys(source);
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

/** The canonical members (`"key":value`) of `keys[from..to)` of an object, comma-separated; undefined values left out. */
function members(
  source: Readonly<Record<string, unknown>>,
  keys: readonly string[],
  from: number,
  to: number,
): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const key = keys[i] as string;
    const v = source[key];
    if (v === undefined) continue;
    out += `${out === '' ? '' : ','}${quoted(key)}:${canonicalJson(v)}`;
  }
  return out;
}

function quoted(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotedKeys.size < QUOTED_MAX) quotedKeys.set(key, q);
  }
  return q;
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
  const keys = sortedKeys(source);
  let split = 0;
  while (split < keys.length && (keys[split] as string) < key) split++;
  const rest = split < keys.length && keys[split] === key ? split + 1 : split;
  return { before: members(source, keys, 0, split), after: members(source, keys, rest, keys.length) };
}
