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
// positions), and both are bounded. Pure.

/** Longer templates (and templates of more parts) are not used: none of a real server comes near. */
export const MAX_TEMPLATE_LENGTH = 2_048;
export const MAX_TEMPLATE_PARTS = 64;
/** Longer URIs are matched by no template (a listed resource's URI is matched exactly, at any length). */
export const MAX_URI_LENGTH = 8_192;

type Piece =
  | { readonly kind: 'literal'; readonly text: string }
  /** `prefix` then one or more characters that `isIn` accepts. */
  | { readonly kind: 'run'; readonly prefix: string; readonly isIn: (c: string) => boolean };

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
  return { template, matches: (uri) => matches(pieces, uri) };
}

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
      return [{ kind: 'run', prefix: '', isIn: () => true }];
    case '.':
      return [{ kind: 'run', prefix: '.', isIn: (c) => c !== '/' && c !== ',' }];
    case '/':
      return [{ kind: 'run', prefix: '/', isIn: segment(isExploded) }];
    case '':
      return [{ kind: 'run', prefix: '', isIn: segment(isExploded) }];
  }
}

/** A path segment's characters; an exploded list may hold commas between its items. */
function segment(isExploded: boolean): (c: string) => boolean {
  return isExploded ? (c) => c !== '/' : (c) => c !== '/' && c !== ',';
}

/** Whether the pieces, in order, consume the whole URI: the reachable positions, piece by piece. */
function matches(pieces: readonly Piece[], uri: string): boolean {
  if (uri.length > MAX_URI_LENGTH) return false;
  let at = new Uint8Array(uri.length + 1);
  at[0] = 1;
  for (const piece of pieces) {
    const next = new Uint8Array(uri.length + 1);
    const prefix = piece.kind === 'literal' ? piece.text : piece.prefix;
    // Where the literal text (or the run's prefix) can end.
    const after = new Uint8Array(uri.length + 1);
    let any = false;
    for (let p = 0; p + prefix.length <= uri.length; p++)
      if (at[p] === 1 && uri.startsWith(prefix, p)) {
        after[p + prefix.length] = 1;
        any = true;
      }
    if (!any) return false;
    if (piece.kind === 'literal') {
      at = after;
      continue;
    }
    // One or more characters of the run's class from any reachable start: one sweep, since a start
    // stays alive until the first character outside the class.
    let isAlive = false;
    for (let i = 0; i < uri.length; i++) {
      if (after[i] === 1) isAlive = true;
      if (isAlive && piece.isIn(uri[i] ?? '')) next[i + 1] = 1;
      else isAlive = false;
    }
    at = next;
  }
  return at[uri.length] === 1;
}
