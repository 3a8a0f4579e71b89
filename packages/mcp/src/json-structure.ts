// How much structure a client's JSON message holds, told from its text before it is parsed: how
// many values it makes (arrays, objects and their members) and how deep they nest. Bytes alone do
// not bound what parsing costs: 4 MiB of `[],[],…` parses into 1.4 million arrays, some 100 MB of
// heap once the SDK and the gateway have each walked and copied it, and a few such requests at
// once took the gateway past 1.6 GB, over HTTP or stdio alike (redteam-37-4). This is one pass over
// the text, strings skipped whole with indexOf: cheap next to JSON.parse, and it never parses,
// throws or allocates per value. Shared by every reader of a client's messages (http.ts,
// agent-transport.ts); the upstreams' own messages are not bounded here (a server's result may
// honestly hold a large table).

/**
 * Far past any client's honest message (an agent's tool arguments hold a few thousand values;
 * a file's contents are one string), near what one message costs the gateway's heap at most:
 * 100,000 values are some 4-10 MB parsed. The gateway refuses arguments nested more than 64
 * levels anyway (secrets.ts), and the envelope adds a few.
 */
export const CLIENT_MESSAGE_BOUNDS = { maxValues: 100_000, maxDepth: 128 } as const;

/**
 * What the text of a message makes: `values` counts each `[`, `{` and `,` outside strings (a
 * member is one value, a container one more); `problem`, when a bound is passed, says which in
 * words that follow "the message"; `requestId` is the id of a request, read off the text's top
 * level when it has a method and a string or number id, so that its refusal can be answered.
 */
export interface JsonStructure {
  readonly values: number;
  readonly problem?: string;
  readonly requestId?: string | number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
/** Which characters (below 0x7e) mean something to the measure: quotes, brackets, braces, commas. */
const STRUCTURAL = new Uint8Array(CLOSE_BRACE + 1);
for (const c of [QUOTE, COMMA, OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE]) STRUCTURAL[c] = 1;

/** The structure of `text`, a message from a client; text that is not JSON is measured as far as it goes. */
export function jsonStructure(text: string): JsonStructure {
  const bounds = CLIENT_MESSAGE_BOUNDS;
  let values = 0;
  let depth = 0;
  let deepest = 0;
  // The top level, when it is an object: whether a key or the `id` key's value comes next, and
  // what the `id` and `method` keys held.
  let isTopObject = false;
  let isKeyNext = false;
  let isIdNext = false;
  let id: string | number | undefined;
  let hasMethod = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > CLOSE_BRACE || STRUCTURAL[c] === 0) {
      // Anything else matters only as a number given for `id`.
      if (isIdNext && c > 0x20 && c !== COLON) {
        const end = scalarEnd(text, i);
        const n = Number(text.slice(i, end));
        id = Number.isFinite(n) ? n : undefined;
        isIdNext = false;
        i = end - 1;
      }
      continue;
    }
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && isKeyNext) {
        const key = end - i <= 7 ? text.slice(i + 1, end) : '';
        if (key === 'method') hasMethod = true;
        isIdNext = key === 'id';
        isKeyNext = false;
      } else if (depth === 1 && isIdNext) {
        id = stringValue(text.slice(i, end + 1));
        isIdNext = false;
      }
      i = end;
    } else if (c === COMMA) {
      values++;
      if (depth === 1) isKeyNext = isTopObject;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      values++;
      if (depth === 0 && c === OPEN_BRACE) isTopObject = isKeyNext = true;
      if (++depth > deepest) deepest = depth;
      isIdNext = false;
    } else {
      depth--;
    }
  }
  const requestId = hasMethod && id !== undefined ? { requestId: id } : {};
  if (values > bounds.maxValues)
    return {
      values,
      problem: `holds more than ${bounds.maxValues.toLocaleString('en')} JSON values (arrays, objects and their members); send large data as one string`,
      ...requestId,
    };
  if (deepest > bounds.maxDepth)
    return { values, problem: `nests JSON more than ${bounds.maxDepth} levels deep`, ...requestId };
  return { values };
}

/** The index of the quote that ends the string whose opening quote is at `start` (or the text's length). */
function stringEnd(text: string, start: number): number {
  for (let q = text.indexOf('"', start + 1); q >= 0; q = text.indexOf('"', q + 1)) {
    let slashes = 0;
    while (text.charCodeAt(q - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q;
  }
  return text.length;
}

/** The index just past the scalar (number or literal) that starts at `start`. */
function scalarEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) break;
    i++;
  }
  return i;
}

/** A JSON string literal's value, or undefined when it is not one. */
function stringValue(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
