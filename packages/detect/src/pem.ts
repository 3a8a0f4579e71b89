// The private-key rule: PEM private keys. The header, then an optional block of headers
// (Proc-Type, DEK-Info, PGP's Version/Comment), then base64 lines, then the footer. Lines may be
// real newlines or the two characters \n inside a JSON string (GCP service-account files). At
// least 64 base64 characters must follow, so libraries that only mention the header (every TLS
// and SSH library does) are not reported.
//
// A header line may hold another header (`a: -----BEGIN PRIVATE KEY-----`), and each anchor's
// body was read on for up to 64 KiB and its key judged anew: 1 MB of such lines took 8 s, and
// 40 s with `xxxxxxxx` in each (redteam-34-6). Now a body is a chain of tokens, each token's end
// depending only on where it starts, so chains that meet go on as one: a chain is read once, and
// an anchor whose chain meets it reads only up to the meeting. pemVerdict's placeholder test is
// worked out for every start in a window at once, from the window's end back (placeholders()).

import type { Matcher, ReadWork, Verdict } from './provider-rules.js';

const PEM_HEADER = /-----BEGIN[ A-Z0-9]{0,24} PRIVATE KEY(?: BLOCK)?-----/y;
const PEM_BODY = /(?:[A-Za-z-]{1,24}: [^\n\\]{0,200}|[A-Za-z0-9+/=]|\s|\\[nr])/y;
const PEM_FOOTER = /-----END[ A-Z0-9]{0,24} PRIVATE KEY(?: BLOCK)?-----/y;
/** How a key's header and footer start (hidden-characters.ts reads a key they hold whole). */
export const PEM_BEGIN = '-----BEGIN';
export const PEM_END = '-----END';
/** The longest key read from its header. */
export const MAX_PEM = 64 * 1024;
/** The most PEM_HEADER reads, and more than PEM_FOOTER does. */
export const MARKER_REACH = PEM_BEGIN.length + 24 + ' PRIVATE KEY BLOCK-----'.length;

/** The body's tokens from the start of one chain on: where it stopped, and what it holds. */
interface Chain {
  /** Where the chain stopped: no token starts there, or it is past `limit`. */
  stop: number;
  /** Base64 characters counted from the chain's first token to `stop`. */
  count: number;
  /** Whether `limit` stopped it (a later anchor's limit is further: it may be read on). */
  isCut: boolean;
  limit: number;
}

/** A token start read before: its chain, and the base64 characters counted before it on the chain. */
interface Seen {
  readonly chain: Chain;
  readonly count: number;
}

/**
 * Reads a body's tokens from `from` while before `limit`, counting base64 characters on from
 * `count`. `visit` is told of every token start kept (every 16th position, and where a token
 * longer than an escape starts: chains that meet are found within 16 characters of it, and
 * a body of base64 keeps few), with the count before it, and stops the reading by saying so.
 */
function readTokens(
  text: string,
  from: number,
  limit: number,
  count: number,
  visit: (start: number, count: number) => boolean,
): { readonly stop: number; readonly count: number } {
  let i = from;
  let counted = count;
  while (i < limit) {
    PEM_BODY.lastIndex = i;
    const m = PEM_BODY.exec(text);
    if (!m) break;
    const token = m[0];
    if (((i & 15) === 0 || token.length > 2) && visit(i, counted)) return { stop: i, count: counted };
    if (token.length === 1 && /[A-Za-z0-9+/]/.test(token)) counted++;
    i += token.length;
  }
  return { stop: i, count: counted };
}

/** Reads a chain's tokens from its stop up to `limit` (a later anchor's). */
function readOn(text: string, chain: Chain, limit: number, seen: Map<number, Seen>): void {
  const { stop, count } = readTokens(text, chain.stop, limit, chain.count, (start, before) => {
    seen.set(start, { chain, count: before });
    return false;
  });
  chain.stop = stop;
  chain.count = count;
  chain.isCut = stop >= limit;
  chain.limit = limit;
}

/**
 * The private-key rule's matcher for one text. The scan asks it at `-----BEGIN` in order, so each
 * anchor's limit is at or past the limits of the chains it meets, and token starts before the
 * anchor are of no more use.
 */
export function pemMatcher(text: string, work?: ReadWork): Matcher {
  let seen = new Map<number, Seen>();
  const count = (read: number): void => {
    if (work?.read !== undefined) work.read += read;
  };
  /** The run of characters a truncated key's end was last walked back over. */
  let trailing = { from: 0, to: 0 };
  let window: Placeholders | undefined;
  let exact: { readonly start: number; readonly end: number; readonly isPlaceholder: boolean } | undefined;

  /** Where a key whose base64 stops at `stop` ends: after its footer or, truncated, its last base64. */
  const keyEnd = (stop: number): number => {
    PEM_FOOTER.lastIndex = stop;
    const footer = PEM_FOOTER.exec(text);
    if (footer) return stop + footer[0].length;
    // Never back past the anchor: the dashes that end its header stop the walk.
    if (stop > trailing.from && stop <= trailing.to) return trailing.from;
    let from = stop;
    count(1);
    while (from > 0 && /[\s\\n]/.test(text[from - 1] ?? '')) {
      // On into the run walked last: it is not walked again.
      if (from === trailing.to) {
        from = trailing.from;
        break;
      }
      from--;
      count(1);
    }
    trailing = { from, to: stop };
    return from;
  };

  /** Whether pemVerdict refuses the key text[start, end) as a placeholder. */
  const isPlaceholderKey = (start: number, end: number): boolean => {
    if (window === undefined || start < window.from || end > window.to) {
      window = placeholders(text, start, Math.min(text.length, start + 2 * MAX_PEM + 1024));
      count(window.to - window.from);
    }
    // A marker that may span the key's end is cut in the key: worked out for that end alone.
    if ((window.markersReach[end - window.from] ?? 0) > end - window.from) {
      if (exact?.start !== start || exact.end !== end) {
        exact = { start, end, isPlaceholder: (placeholders(text, start, end).found[0] ?? 0) <= end - start };
        count(end - start);
      }
      return exact.isPlaceholder;
    }
    return (window.found[start - window.from] ?? 0) <= end - window.from;
  };

  /** The next anchor after one: only keys that hold another anchor need what is kept here. */
  let next = 0;
  const nextAnchor = (at: number): number => {
    if (next <= at) {
      const found = text.indexOf(PEM_BEGIN, at + 1);
      next = found < 0 ? text.length : found;
      count(next - at);
    }
    return next;
  };

  return (at) => {
    PEM_HEADER.lastIndex = at;
    const header = PEM_HEADER.exec(text);
    count(MARKER_REACH);
    if (!header) return undefined;
    // Only starts within reach of this anchor and those after it are kept.
    if (seen.size > 4 * MAX_PEM) seen = new Map([...seen].filter(([start]) => start >= at));
    const limit = Math.min(text.length, at + MAX_PEM);
    // This anchor's tokens kept, with the base64 characters before each, until a chain read before.
    const mine: number[] = [];
    let met: Seen | undefined;
    const read = readTokens(text, at + header[0].length, limit, 0, (start, before) => {
      met = seen.get(start);
      if (met === undefined) mine.push(start, before);
      return met !== undefined;
    });
    count(read.stop - at);
    let base64 = read.count;
    let chain: Chain;
    let shift = 0;
    if (met === undefined) chain = { stop: read.stop, count: base64, isCut: read.stop >= limit, limit };
    else {
      chain = met.chain;
      // The same tokens as the chain from here on, to the chain's stop, or on to this limit.
      if (chain.isCut && chain.stop < limit) {
        const from = chain.stop;
        readOn(text, chain, limit, seen);
        count(chain.stop - from);
      }
      shift = met.count - base64;
      base64 += chain.count - met.count;
    }
    // Kept for the anchors inside this body alone: no other anchor meets it.
    if (nextAnchor(at) < chain.stop)
      for (let k = 0; k < mine.length; k += 2)
        seen.set(mine[k] ?? 0, { chain, count: (mine[k + 1] ?? 0) + shift });
    if (base64 < 64) return undefined;
    const end = keyEnd(chain.stop);
    // A key that holds no other anchor is judged once, by pemVerdict; those that do, all at once.
    if (nextAnchor(at) >= end) return { start: at, end };
    return isPlaceholderKey(at, end) ? undefined : { start: at, end };
  };
}

/** Markers pemVerdict leaves out: `-----`, capitals and spaces, `-----`. */
const isMarkerLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || c === 0x20;
/** What `\s` matches, by code unit. */
const isSpace = (c: number): boolean =>
  c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c > 0x7f && /\s/.test(String.fromCharCode(c)));

/** For text[from, to): per start k (from + k), where the first placeholder in the key from k ends. */
interface Placeholders {
  readonly from: number;
  readonly to: number;
  /**
   * Per k, the end (from `from`) of the first `...`, or eight `x` or `X`, in what pemVerdict leaves
   * of text[from + k, to); past `to` if none.
   */
  readonly found: Int32Array;
  /** Per k, how far (from `from`) the markers starting before from + k reach, at most. */
  readonly markersReach: Int32Array;
}

/**
 * Where pemVerdict finds a placeholder in every text[from + k, to), worked out from `to` back.
 * pemVerdict leaves out markers, scanning from the start: what is left of text[k, to) is what is
 * left after k if no marker starts at k, and what is left after the marker if one does. Then it
 * leaves out whitespace and `\n` escapes, each where it stands. A key that ends before `to` is
 * left the same up to its end unless a marker spans its end (markersReach says where one may).
 */
function placeholders(text: string, from: number, to: number): Placeholders {
  const n = to - from;
  const at = (k: number): number => text.charCodeAt(from + k);
  // The run of marker letters from each position.
  const letters = new Int32Array(n + 1);
  for (let k = n - 1; k >= 0; k--) letters[k] = isMarkerLetter(at(k)) ? (letters[k + 1] ?? 0) + 1 : 0;
  const markerEnd = (k: number): number => {
    const run = letters[k + 5] ?? 0;
    const end = k + 10 + run;
    const isMarker =
      run > 0 && end <= n && text.startsWith('-----', from + k) && text.startsWith('-----', from + end - 5);
    return isMarker ? end : -1;
  };
  // Per k, of what is left of text[k, to) once markers are out: its first character and where the
  // rest starts; once whitespace and escapes are out too: where its first character is (-1: none),
  // the length of its first run of one character (up to 8), and where its first placeholder ends.
  const first = new Int32Array(n + 1).fill(-1);
  const rest = new Int32Array(n + 1).fill(n);
  const kept = new Int32Array(n + 1).fill(-1);
  const run = new Uint8Array(n + 1);
  const found = new Int32Array(n + 1).fill(n + 1);
  const markersReach = new Int32Array(n + 1);
  const copy = (k: number, j: number): void => {
    kept[k] = kept[j] ?? -1;
    run[k] = run[j] ?? 0;
    found[k] = found[j] ?? n + 1;
  };
  for (let k = n - 1; k >= 0; k--) {
    const end = markerEnd(k);
    if (end >= 0) {
      markersReach[k + 1] = end;
      first[k] = first[end] ?? -1;
      rest[k] = rest[end] ?? n;
      copy(k, end);
      continue;
    }
    const c = at(k);
    first[k] = c;
    rest[k] = k + 1;
    const next = first[k + 1];
    if (isSpace(c)) copy(k, k + 1);
    else if (c === 0x5c && (next === 0x6e || next === 0x72)) copy(k, rest[k + 1] ?? n);
    else {
      kept[k] = k;
      const after = kept[k + 1] ?? -1;
      const isRun = PLACEHOLDER_RUN.has(c) && after >= 0 && at(after) === c;
      run[k] = PLACEHOLDER_RUN.has(c) ? Math.min(8, isRun ? (run[k + 1] ?? 0) + 1 : 1) : 0;
      found[k] = found[k + 1] ?? n + 1;
      const needed = PLACEHOLDER_RUN.get(c) ?? 9;
      if ((run[k] ?? 0) >= needed) {
        // The run's needed-th character: each kept character's successor is the first kept after it.
        let last = k;
        for (let i = 1; i < needed; i++) last = kept[last + 1] ?? -1;
        found[k] = Math.min(found[k] ?? n + 1, last + 1);
      }
    }
  }
  for (let k = 1; k <= n; k++) markersReach[k] = Math.max(markersReach[k] ?? 0, markersReach[k - 1] ?? 0);
  return { from, to, found, markersReach };
}

/** The characters pemVerdict's placeholder runs are made of, and how many of each make one. */
const PLACEHOLDER_RUN = new Map([
  [0x2e, 3],
  [0x78, 8],
  [0x58, 8],
]);

export function pemVerdict(value: string, text: string, start: number): Verdict | undefined {
  const body = value.replace(/-----[A-Z ]+-----/g, '').replace(/\\[nr]|\s/g, '');
  if (/\.{3}|x{8,}|X{8,}/.test(body)) return undefined;
  // A service-account JSON puts the key under "private_key" (GCP's documented key file).
  const before = text.slice(Math.max(0, start - 40), start);
  if (/"private_key"\s*:\s*"$/.test(before))
    return { confidence: 'high', rule: 'gcp-service-account-key', family: 'gcp' };
  return 'high';
}
