// Which resource template produced a URI: RFC 6570 URI templates (`file:///{path}`,
// `demo://resource/dynamic/text/{resourceId}`, `search://{?q,limit}`) matched against a URI the agent
// asks to read, so the gateway knows which server and which template the read belongs to, before
// the policy decides on it. Only membership is computed, never the variables: the upstream parses
// its own URI. Expressions are read as the MCP SDK reads them (its `UriTemplate`), so a server
// built on the SDK accepts what matches here.
//
// A template comes from an upstream server, which may be hostile: the SDK's matcher builds one
// backtracking regex per read, and `{+a}` six times then `!` took 35 s on a URI of 160 characters
// that does not end in `!` (n^6; measured with SDK 1.32.2), stalling every upstream behind the
// gateway. Here a match walks the URI once per part of the template (a set of reachable
// positions; literal text found with Knuth-Morris-Pratt, so a long repetitive literal costs no
// more than a short one), and both are bounded. Pure.

/** Longer templates (and templates of more parts) are not used: none of a real server comes near. */
export const MAX_TEMPLATE_LENGTH = 2_048;
export const MAX_TEMPLATE_PARTS = 64;
/** Longer URIs are matched by no template (a listed resource's URI is matched exactly, at any length). */
export const MAX_URI_LENGTH = 8_192;

type Piece =
  | { readonly kind: 'literal'; readonly text: string }
  /**
   * `prefix` then one or more characters that `isIn` accepts; in a list (an exploded `{v*}`),
   * items of them joined by single commas.
   */
  | {
      readonly kind: 'run';
      readonly prefix: string;
      readonly isIn: (c: string) => boolean;
      readonly isList?: boolean;
    };

/**
 * A piece as a match walks it: its literal text (a run's prefix), with that text's border table
 * (the Knuth-Morris-Pratt failure function, made once per template), then the run's class if any.
 */
interface Step {
  readonly word: string;
  readonly border: Int32Array;
  readonly run?: { readonly isIn: (c: string) => boolean; readonly isList: boolean };
}

export interface UriTemplate {
  readonly template: string;
  matches(uri: string): boolean;
}

export class UriTemplateError extends Error {}

const OPERATORS = ['+', '#', '.', '/', '?', '&'] as const;

/**
 * The template parsed into pieces. Throws UriTemplateError for one that cannot be matched: an
 * unclosed or empty expression, or one past the bounds above.
 */
export function uriTemplate(template: string): UriTemplate {
  if (template.length > MAX_TEMPLATE_LENGTH)
    throw new UriTemplateError(`the template is longer than ${MAX_TEMPLATE_LENGTH} characters`);
  const pieces: Piece[] = [];
  let literal = '';
  for (let i = 0; i < template.length;) {
    const c = template[i] ?? '';
    if (c === '}') throw new UriTemplateError(`"}" without "{" at character ${i + 1}`);
    if (c !== '{') {
      literal += c;
      i++;
      continue;
    }
    const end = template.indexOf('}', i);
    if (end === -1) throw new UriTemplateError(`"{" at character ${i + 1} is never closed`);
    if (literal !== '') pieces.push({ kind: 'literal', text: literal });
    literal = '';
    pieces.push(...expression(template.slice(i + 1, end)));
    i = end + 1;
  }
  if (literal !== '') pieces.push({ kind: 'literal', text: literal });
  if (pieces.length > MAX_TEMPLATE_PARTS)
    throw new UriTemplateError(`the template has more than ${MAX_TEMPLATE_PARTS} parts`);
  const steps = pieces.map((p): Step => {
    const word = p.kind === 'literal' ? p.text : p.prefix;
    const run = p.kind === 'run' ? { run: { isIn: p.isIn, isList: p.isList === true } } : {};
    return { word, border: borderOf(word), ...run };
  });
  return { template, matches: (uri) => matches(steps, uri) };
}

/** Not a line terminator: what a regex's dot (the SDK's `.+`) accepts. */
const isNotLineEnd = (c: string): boolean => c !== '\n' && c !== '\r' && c !== '\u2028' && c !== '\u2029';

/** A path segment's characters (an exploded list's item's): no "/", no ",". */
const isInSegment = (c: string): boolean => c !== '/' && c !== ',';

/** One `{…}` expression as the SDK matches it: a prefix and a run of characters per variable. */
function expression(body: string): Piece[] {
  const operator = OPERATORS.find((op) => body.startsWith(op)) ?? '';
  const names = body
    .slice(operator.length)
    .split(',')
    .map((n) => n.replace('*', '').trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw new UriTemplateError(`the expression {${body}} names no variable`);
  const isExploded = body.includes('*');
  switch (operator) {
    case '?':
    case '&':
      return names.map((name, i) => ({
        kind: 'run',
        prefix: `${i === 0 ? operator : '&'}${name}=`,
        isIn: (c) => c !== '&',
      }));
    case '+':
    case '#':
      return [{ kind: 'run', prefix: '', isIn: isNotLineEnd }];
    case '.':
      return [{ kind: 'run', prefix: '.', isIn: isInSegment }];
    case '/':
    case '':
      return [{ kind: 'run', prefix: operator, isIn: isInSegment, isList: isExploded }];
  }
}

/** Whether the steps, in order, consume the whole URI: the reachable positions, step by step. */
function matches(steps: readonly Step[], uri: string): boolean {
  if (uri.length > MAX_URI_LENGTH) return false;
  let at: Uint8Array = new Uint8Array(uri.length + 1);
  at[0] = 1;
  for (const step of steps) {
    const after = afterWord(step, at, uri);
    if (after === undefined) return false;
    at = step.run === undefined ? after : afterRun(step.run, after, uri);
  }
  return at[uri.length] === 1;
}

/**
 * Where the step's word ends when it starts at a reachable position (undefined: nowhere). One
 * Knuth-Morris-Pratt pass: comparing the word at every reachable position instead costs their
 * product (2,000 `a`s after a `{+x}`, against 8,000 `a`s: 30 ms per template and read).
 */
function afterWord({ word, border }: Step, at: Uint8Array, uri: string): Uint8Array | undefined {
  if (word === '') return at.includes(1) ? at : undefined;
  const out = new Uint8Array(uri.length + 1);
  let any = false;
  // From the first reachable start, until the match under way starts past the last one.
  const last = at.lastIndexOf(1);
  for (let i = at.indexOf(1), k = 0; i !== -1 && i < uri.length && i - k <= last; i++) {
    while (k > 0 && uri[i] !== word[k]) k = border[k - 1] ?? 0;
    if (uri[i] === word[k]) k++;
    if (k === word.length) {
      if (at[i + 1 - k] === 1) {
        out[i + 1] = 1;
        any = true;
      }
      k = border[k - 1] ?? 0;
    }
  }
  return any ? out : undefined;
}

/**
 * One or more characters of the run's class from any reachable start (a list: items of them
 * joined by single commas): one sweep, since a start stays alive until the first character that
 * cannot follow.
 */
function afterRun(
  { isIn, isList }: { readonly isIn: (c: string) => boolean; readonly isList: boolean },
  after: Uint8Array,
  uri: string,
): Uint8Array {
  const next = new Uint8Array(uri.length + 1);
  // A run under way that may end here; a list's run that has just read a comma (it needs an item).
  let isAlive = false;
  let isAfterComma = false;
  for (let i = 0; i < uri.length; i++) {
    const c = uri[i] ?? '';
    if (isIn(c)) {
      isAlive = isAlive || isAfterComma || after[i] === 1;
      isAfterComma = false;
    } else {
      isAfterComma = isList && c === ',' && isAlive;
      isAlive = false;
    }
    if (isAlive) next[i + 1] = 1;
  }
  return next;
}

/** The word's border table: for each prefix, the length of its longest proper prefix that is also its suffix. */
function borderOf(word: string): Int32Array {
  const border = new Int32Array(word.length);
  for (let i = 1, k = 0; i < word.length; i++) {
    while (k > 0 && word[i] !== word[k]) k = border[k - 1] ?? 0;
    if (word[i] === word[k]) k++;
    border[i] = k;
  }
  return border;
}
