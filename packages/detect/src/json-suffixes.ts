// Which suffixes of some bytes, each starting at a `{`, JSON.parse accepts (read as Latin-1, as atob
// gives them): the JWT rule asks it of every `eyJ` (a header's encoded `{"`) in a run of base64url,
// and a header of 2,000 characters may hold 500 of them. JSON.parse on each would read the run once
// per start, and throw each time, which costs more than the reading (redteam-34-6). Here no
// character is read by more than two parses:
//
// - A parse that meets a later start outside a string, where a value may stand, reads the object
//   there as its own nested value, in the state a parse from that start would be in: the later
//   start's suffix is one JSON text if that object closes at the last byte that is not a space,
//   and none if it closes earlier or the parse fails inside it. It is not parsed again.
// - A later start met inside a string is parsed on its own. Its `{` is a character of the string
//   and its `"` closes it, where the later parse opens one: the two are in opposite states (one in
//   a string where the other is not) until one fails, as a backslash outside a string fails the
//   parse that reads it. So at most two parses read any one character.
//
// Nothing else is judged here (the caller parses the few that pass to read them). Grammar: RFC 8259
// (ECMA-404), which V8's JSON.parse follows; the tests hold the two equal on generated texts.

const OBJECT = 0;
const ARRAY = 1;

// A start's fate (0: no start there).
const UNKNOWN = 1;
const VALID = 2;
const INVALID = 3;

// What the parse expects next.
const VALUE = 0;
const VALUE_OR_END = 1; // after `[`
const KEY_OR_END = 2; // after `{`
const KEY = 3; // after `,` in an object
const COLON = 4;
const NEXT = 5; // after a value: `,` or its container's end

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** What may follow a backslash in a string, but `u`: " \ / b f n r t. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

// The readers below return where a value ends or, if it is none, ~ where they stopped reading.

/** Where the string opened at `at` ends (after its closing quote). */
function stringEnd(bytes: Uint8Array, at: number): number {
  let i = at + 1;
  while (i < bytes.length) {
    const c = bytes[i] ?? 0;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return ~i;
    if (c !== 0x5c) {
      i++;
      continue;
    }
    const escaped = bytes[i + 1] ?? -1;
    if (escaped === 0x75) {
      for (let k = i + 2; k < i + 6; k++) if (!isHex(bytes[k] ?? -1)) return ~k;
      i += 6;
    } else if (ESCAPES.has(escaped)) i += 2;
    else return ~i;
  }
  return ~i;
}

/** Where the number at `at` ends. */
function numberEnd(bytes: Uint8Array, at: number): number {
  const digitsEnd = (from: number): number => {
    let i = from;
    while (isDigit(bytes[i] ?? -1)) i++;
    return i;
  };
  let i = at;
  if (bytes[i] === 0x2d) i++;
  if (bytes[i] === 0x30) i++;
  else if (isDigit(bytes[i] ?? -1)) i = digitsEnd(i);
  else return ~i;
  if (bytes[i] === 0x2e) {
    if (!isDigit(bytes[++i] ?? -1)) return ~i;
    i = digitsEnd(i);
  }
  if (((bytes[i] ?? 0) | 0x20) === 0x65) {
    const sign = bytes[++i];
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(bytes[i] ?? -1)) return ~i;
    i = digitsEnd(i);
  }
  return i;
}

const LITERALS = ['true', 'false', 'null'].map((word) => [...word].map((c) => c.charCodeAt(0)));

/** Where the scalar (string, number, true, false, null) at `at` ends. */
function scalarEnd(bytes: Uint8Array, at: number): number {
  const c = bytes[at] ?? -1;
  if (c === 0x22) return stringEnd(bytes, at);
  if (c === 0x2d || isDigit(c)) return numberEnd(bytes, at);
  for (const literal of LITERALS)
    if (literal.every((code, k) => bytes[at + k] === code)) return at + literal.length;
  return ~at;
}

/**
 * The offsets of `starts` (ascending) whose suffix, bytes.subarray(start), is one JSON text that is
 * an object: JSON.parse accepts it (read as Latin-1) and returns an object.
 */
export function jsonObjectSuffixes(
  bytes: Uint8Array,
  starts: readonly number[],
  work?: { read?: number },
): number[] {
  let last = bytes.length - 1;
  while (last >= 0 && isSpace(bytes[last] ?? 0)) last--;
  // Per byte: not a start, a start not yet known, one that is one JSON object, one that is not.
  const fate = new Uint8Array(bytes.length);
  for (const start of starts) fate[start] = UNKNOWN;
  const open: Open = { containers: [], starts: [] };
  for (const start of starts) {
    if (fate[start] !== UNKNOWN) continue;
    if (bytes[start] !== 0x7b) fate[start] = INVALID;
    else {
      const end = parseFrom(bytes, start, last, fate, open);
      if (work?.read !== undefined) work.read += end - start;
    }
  }
  return starts.filter((s) => fate[s] === VALID);
}

/** The containers a parse is in, outermost first, and per container the start it began at (or -1). */
interface Open {
  readonly containers: number[];
  readonly starts: number[];
}

/**
 * Parses the object at `start` and sets its fate, and that of every start it reads as a nested
 * object (one JSON text if that object ends at `last`, the last non-space byte). Returns where it
 * stopped reading.
 */
function parseFrom(bytes: Uint8Array, start: number, last: number, fate: Uint8Array, open: Open): number {
  const { containers, starts } = open;
  containers.length = 0;
  starts.length = 0;
  let expect = VALUE;
  let i = start;
  for (;;) {
    while (i < bytes.length && isSpace(bytes[i] ?? 0)) i++;
    const c = i < bytes.length ? (bytes[i] ?? 0) : -1;
    const top = containers[containers.length - 1];
    if (c === 0x7d && (expect === KEY_OR_END || (expect === NEXT && top === OBJECT))) {
      // An object ends: so does the suffix that starts at it, if one does.
      containers.pop();
      const at = starts.pop() ?? -1;
      if (at >= 0) fate[at] = i === last ? VALID : INVALID;
      if (containers.length === 0) return i + 1;
      expect = NEXT;
      i++;
    } else if (c === 0x5d && (expect === VALUE_OR_END || (expect === NEXT && top === ARRAY))) {
      containers.pop();
      starts.pop();
      expect = NEXT;
      i++;
    } else if (expect === NEXT && c === 0x2c) {
      expect = top === OBJECT ? KEY : VALUE;
      i++;
    } else if (expect === COLON && c === 0x3a) {
      expect = VALUE;
      i++;
    } else if ((expect === KEY || expect === KEY_OR_END) && c === 0x22) {
      i = stringEnd(bytes, i);
      if (i < 0) {
        i = ~i;
        break;
      }
      expect = COLON;
    } else if ((expect === VALUE || expect === VALUE_OR_END) && c === 0x7b) {
      containers.push(OBJECT);
      starts.push(fate[i] === UNKNOWN ? i : -1);
      expect = KEY_OR_END;
      i++;
    } else if ((expect === VALUE || expect === VALUE_OR_END) && c === 0x5b) {
      containers.push(ARRAY);
      starts.push(-1);
      expect = VALUE_OR_END;
      i++;
    } else if ((expect === VALUE || expect === VALUE_OR_END) && c >= 0) {
      i = scalarEnd(bytes, i);
      if (i < 0) {
        i = ~i;
        break;
      }
      expect = NEXT;
    } else break;
  }
  // The parse fails (or the bytes end) inside every object still open: so do the suffixes at them.
  for (const at of starts) if (at >= 0) fate[at] = INVALID;
  return i + 1;
}
