// Secrets in tool arguments and results: every string in a JSON value (object keys included) is
// scanned with @perimeter/detect, decoding base64, hex, percent and JSON escapes. Two shapes no
// single string shows are read too (redteam-33-1): an array of numbers is read as the bytes it
// lists (`{"data": [115, 107, …]}`: detect finds the same bytes written as text, but an array is
// no string; a value that is no byte breaks the run; `{"0": 115, …}` is read as the array it was),
// and the values, byte lists included, are scanned joined, as the egress proxy joins split query
// values and headers, so a secret cut in two (`{"a": "sk_live_4eC…", "b": "…p7dc"}`, two text
// blocks, two arrays) is found; keys and values are also joined (a secret cut across two keys). Only high-confidence findings are acted on (block or redact);
// low-confidence ones are counted for the audit event. The real values of the credentials the
// policy binds are matched exactly, in every rendering detect knows: one in a request can only be a
// leak (a session holds placeholders), so the gateway refuses it whatever the policy's secrets
// action. A finding carries a fingerprint, never the value; a credential is named by its binding's
// id. Pure: no I/O.

import {
  redact,
  scan,
  scanJoined,
  type Finding,
  type JoinedFinding,
  type KnownHit,
  type KnownMatcher,
} from '@perimeter/detect';

export interface SecretScan {
  /**
   * High-confidence findings, as `rule (fingerprint)` for the audit event, each once (a result can
   * carry one secret in its text and again in its structured content).
   */
  readonly blocking: readonly string[];
  /** The rule of each of `blocking`, index for index (`nesting` for a value too deep to scan). */
  readonly rules: readonly string[];
  /** Low-confidence findings (generic keyword or entropy rules): recorded, not acted on. */
  readonly weak: number;
  /** The bound credentials whose real value is in the value, by binding id (each once). */
  readonly leaks: readonly string[];
  /**
   * The value with every high-confidence secret replaced by `[REDACTED:rule:fingerprint]` and
   * every bound credential's value by `[REDACTED:credential:ID]`.
   */
  readonly redacted: unknown;
}

const MAX_DEPTH = 64;
/**
 * Fewest numbers in an array with other values in it read as bytes: detect's own floor for a byte
 * list written out (a MAC address, 6, is no payload). An array of numbers alone is read whatever
 * its length, as a part of the joined scan (a secret's bytes in arrays of 7).
 */
const MIN_BYTE_LIST = 8;

export function scanValue(value: unknown, known?: KnownMatcher): SecretScan {
  const blocking: string[] = [];
  const rules: string[] = [];
  const seen = new Set<string>();
  const strongFinding = (rule: string, text: string): void => {
    if (seen.has(text)) return;
    seen.add(text);
    blocking.push(text);
    rules.push(rule);
  };
  const secret = (f: Finding): void => strongFinding(f.rule, `${f.rule} (${f.fingerprint})`);
  const leaks = new Set<string>();
  let weak = 0;
  const joined = joinedFindings(stringsOf(value), known, true);
  const redacted = redactedStrings(
    value,
    joined,
    (s) => {
      const found = scan(s, { decode: true });
      const strong = found.filter((f: Finding) => f.confidence === 'high');
      weak += found.length - strong.length;
      strong.forEach(secret);
      const credentials = credentialFindings(s, known);
      for (const c of credentials) leaks.add(c.fingerprint);
      // A credential first: where a finding covers the same span, the marker names the credential.
      return [...credentials, ...strong];
    },
    () => {
      // Not scanned is not clean: too deep to look at counts as a finding.
      strongFinding('nesting', `nesting deeper than ${MAX_DEPTH} levels (not scanned)`);
    },
  );
  joined.secrets.forEach(secret);
  for (const id of joined.credentials) leaks.add(id);
  return {
    blocking,
    rules,
    weak,
    leaks: [...leaks],
    redacted,
  };
}

/**
 * A scan's high-confidence findings by rule, each once. Only a listing's audit groups them, so the
 * scan of every call's arguments and result does not.
 */
export function findingsByRule(scan: SecretScan): Map<string, string[]> {
  const byRule = new Map<string, Set<string>>();
  scan.blocking.forEach((text, i) => {
    const rule = scan.rules[i] as string;
    const texts = byRule.get(rule);
    if (texts) texts.add(text);
    else byRule.set(rule, new Set([text]));
  });
  return new Map([...byRule].map(([rule, texts]) => [rule, [...texts]]));
}

/** The value with only the bound credentials' values replaced (`[REDACTED:credential:ID]`). */
export function withoutCredentials(value: unknown, known: KnownMatcher): unknown {
  const joined = joinedFindings(stringsOf(value), known, false);
  return redactedStrings(
    value,
    joined,
    (s) => credentialFindings(s, known),
    () => undefined,
  );
}

/** The bound credentials' values in one string, as findings that redact() names `credential:ID`. */
function credentialFindings(s: string, known: KnownMatcher | undefined): Finding[] {
  return known === undefined ? [] : known.find(s).map(credentialFinding);
}

function credentialFinding(hit: KnownHit): Finding {
  return {
    rule: 'credential',
    family: 'credential',
    confidence: 'high',
    start: hit.start,
    end: hit.end,
    fingerprint: hit.id,
  };
}

/** A part of a value, for the joined scan. */
interface Part {
  readonly text: string;
  /** Its number among the value's parts (string values, object keys, byte lists) in walk order. */
  readonly index: number;
  /** Whether it is the value of a `text` key (a text block, a prompt message, a resource's text). */
  readonly isText: boolean;
  readonly isKey: boolean;
}

/**
 * A copy of a JSON value with what `findingsOf` finds in each string (object keys included) and
 * its shares of `joined` findings redacted; too deep becomes null. An array of numbers is also
 * read as the byte list it spells (`115,107,…`, which detect decodes), and an object whose keys
 * are `"0"`, `"1"`, … with number values (JSON.stringify of a Uint8Array) as the array it was;
 * one of them is replaced whole by the marker of what is found in it: a secret's bytes cannot be
 * redacted in place and stay numbers. A list shorter than MIN_BYTE_LIST is not given to
 * `findingsOf`: detect reads runs of 8 bytes or more, and a bound credential is 8 or more, so
 * only its share of a joined finding (a secret's bytes in arrays of 7) can be found in it. Every
 * part is numbered whatever is found, as stringsOf() numbers them.
 */
function redactedStrings(
  value: unknown,
  joined: Joined,
  findingsOf: (s: string) => readonly Finding[],
  tooDeep: () => void,
): unknown {
  let parts = 0;
  const redacted = (s: string): string => {
    const found = withShares(findingsOf(s), joined.shares.get(parts++));
    return found.length > 0 ? redact(s, found) : s;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redacted(v);
    if (typeof v !== 'object' || v === null) return v;
    if (depth > MAX_DEPTH) {
      tooDeep();
      return null;
    }
    const list = Array.isArray(v) ? (v as unknown[]) : indexedValues(v);
    let marker: string | undefined;
    if (list !== undefined && isByteList(list)) {
      const shares = joined.shares.get(parts++);
      const isShort = list.length < MIN_BYTE_LIST;
      if (!isShort || shares !== undefined) {
        const written = byteListWritten(list);
        const found = withShares(isShort ? [] : findingsOf(written), shares);
        // One marker for the whole list, named by its first finding (a credential first).
        if (found.length > 0)
          marker = redact(
            written,
            found.map((f) => ({ ...f, start: 0, end: written.length })),
          );
      }
    }
    if (list !== undefined && !Array.isArray(v)) return marker ?? v;
    let out: unknown;
    if (Array.isArray(v)) out = v.map((x) => walk(x, depth + 1));
    else {
      const copy: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) copy[redacted(k)] = walk(x, depth + 1);
      out = copy;
    }
    return marker ?? out;
  };
  return walk(value, 0);
}

/**
 * Whether an array may spell bytes (redteam-33-1): one of numbers (and nulls, as JSON writes NaN),
 * or any with MIN_BYTE_LIST numbers or more. Each whole number 0-255 is a byte; any other value
 * (-1, 0.5, 300, null, a string) breaks the run, written `_` (detect reads runs of 8 bytes or more
 * between breaks), so a value appended or put between hides nothing.
 */
function isByteList(list: readonly unknown[]): boolean {
  let numbers = 0;
  let isNumbers = true;
  for (const x of list) {
    if (typeof x === 'number') numbers++;
    else if (x !== null) isNumbers = false;
  }
  return numbers > 0 && (isNumbers || numbers >= MIN_BYTE_LIST);
}

const isByte = (x: unknown): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255;

/** A byte list's numbers written as detect reads a byte list. */
const byteListWritten = (list: readonly unknown[]): string =>
  list.map((x) => (isByte(x) ? String(x) : '_')).join(',');

/** A byte list's bytes as characters, a value that is no byte a space. */
const byteListSpelled = (list: readonly unknown[]): string =>
  list.map((x) => (isByte(x) ? String.fromCharCode(x) : ' ')).join('');

/** The values of an object keyed `"0"`, `"1"`, … in order, all numbers or null; else undefined. */
function indexedValues(v: object): unknown[] | undefined {
  const entries: [string, unknown][] = Object.entries(v);
  if (entries.length === 0) return undefined;
  const isIndexed = entries.every(([k, x], i) => k === String(i) && (x === null || typeof x === 'number'));
  return isIndexed ? entries.map(([, x]) => x) : undefined;
}

/**
 * The parts of a value in walk order, as redactedStrings() numbers them (a byte list as the
 * characters it spells), but the values of a `type` key: a discriminator (a content block's
 * `"text"`), never free text, which would stand between two text blocks and be read into a token
 * cut across them.
 */
function stringsOf(value: unknown): Part[] {
  const parts: Part[] = [];
  let index = 0;
  const part = (text: string, key: string | undefined, isKey: boolean): void => {
    if (key !== 'type') parts.push({ text, index, isText: key === 'text', isKey });
    index++;
  };
  // The walk of redactedStrings(), without copying: the same parts, numbered alike.
  const walk = (v: unknown, depth: number, key: string | undefined): void => {
    if (typeof v === 'string') return part(v, key, false);
    if (typeof v !== 'object' || v === null || depth > MAX_DEPTH) return;
    const list = Array.isArray(v) ? (v as unknown[]) : indexedValues(v);
    if (list !== undefined && isByteList(list)) part(byteListSpelled(list), key, false);
    if (Array.isArray(v)) for (const x of v as unknown[]) walk(x, depth + 1, undefined);
    else if (list === undefined)
      for (const [k, x] of Object.entries(v)) {
        part(k, undefined, true);
        walk(x, depth + 1, k);
      }
  };
  walk(value, 0, undefined);
  return parts;
}

/** What the joined scan found across strings, that no one of them holds whole. */
interface Joined {
  /** Each part's share of such a finding, by its number (Part.index). */
  readonly shares: Map<number, Finding[]>;
  /** The high-confidence secrets among them. */
  readonly secrets: Finding[];
  /** The bound credentials among them, by binding id. */
  readonly credentials: string[];
}

/**
 * How much of each end of a string the joined scan reads: the longest token detect reads, a PEM
 * private key, is at most 64 KiB, so a token cut across strings lies within this of the cut. A
 * longer string (a file sent as base64) costs the joined scan this much, not its length again.
 */
const JOIN_EDGE = 64 * 1024;

/** What the joined scan reads of a string: all of it, or one end, from `at`. */
interface Piece {
  readonly text: string;
  /** Its string's Part.index. */
  readonly index: number;
  readonly at: number;
  readonly isKey: boolean;
}

/**
 * Secrets cut across consecutive strings (redteam-33-1), as the egress proxy finds them across
 * query values and headers (egress-dlp-05), in three orders: every value (strings and byte lists),
 * the `text` values alone (text blocks and a resource's contents, as the agent reads them: no `uri`
 * between), and keys and values together (a secret cut across two keys, or a key and its value).
 * A string longer than twice JOIN_EDGE is read only at its ends: the strings before it are joined
 * with its head, and its tail with those after it. Each string a finding spans is given its share,
 * which is redacted in place under `secrets: redact`: the proxy refuses such a request instead,
 * since it redacts a request by scanning it again.
 */
function joinedFindings(parts: readonly Part[], known: KnownMatcher | undefined, withRules: boolean): Joined {
  const joined: Joined = { shares: new Map(), secrets: [], credentials: [] };
  const values = parts.filter((p) => !p.isKey);
  const texts = values.filter((p) => p.isText);
  const orders: (readonly Part[])[] = [values];
  if (texts.length > 1 && texts.length < values.length) orders.push(texts);
  orders.push(...nearKeys(parts));
  for (const order of orders) {
    const withKeys = order.some((p) => p.isKey);
    let group: Piece[] = [];
    for (const p of order) {
      if (p.text.length <= 2 * JOIN_EDGE) {
        group.push({ text: p.text, index: p.index, at: 0, isKey: p.isKey });
        continue;
      }
      group.push({ text: p.text.slice(0, JOIN_EDGE), index: p.index, at: 0, isKey: p.isKey });
      scanGroup(group, known, { withRules, withKeys }, joined);
      const at = p.text.length - JOIN_EDGE;
      group = [{ text: p.text.slice(at), index: p.index, at, isKey: p.isKey }];
    }
    scanGroup(group, known, { withRules, withKeys }, joined);
  }
  return joined;
}

/**
 * How far either side of a key the joined scan of keys and values reads: more than any token's
 * length but a PEM private key's. Near keys only, that scan costs what the keys do, not a third
 * scan of every value (one `items` key before 4 MiB of strings).
 */
const KEY_REACH = 4 * 1024;

/** The runs of parts, keys and the values within KEY_REACH characters of one, in order. */
function nearKeys(parts: readonly Part[]): Part[][] {
  const isNear = parts.map((p) => p.isKey);
  // Each walk stops at the next key, which walks on its own: every part is stepped on twice at most.
  const walk = (from: number, step: number): void => {
    let reach = 0;
    for (let i = from + step; reach < KEY_REACH && parts[i] !== undefined && !parts[i]?.isKey; i += step) {
      isNear[i] = true;
      reach += parts[i]?.text.length ?? 0;
    }
  };
  parts.forEach((p, i) => {
    if (!p.isKey) return;
    walk(i, 1);
    walk(i, -1);
  });
  const runs: Part[][] = [];
  let run: Part[] = [];
  parts.forEach((p, i) => {
    if (isNear[i]) run.push(p);
    else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  });
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * The findings of one run of pieces joined that span two or more of them (one string's own are
 * found alone), and not where the first holds the token whole, ended before its end
 * (isWholeInFirst). A token read on into the next string (the Stripe rule takes every letter that
 * follows) has that string redacted too: more than the secret, never less. Detect's rules run on
 * the raw text as the proxy's do (scanJoined reads the pieces joined three times at most, however
 * short they are: review-33-1; decoding them too would cost several times the scan of the strings
 * one by one), and only for high-confidence findings over two pieces or more: a hostile value of
 * many strings holds a low one in each, which the join found again and fingerprinted only to
 * drop (168,000 `password=…` strings: most of a 10 s scan); a bound credential's value, which
 * needs no boundary around it, is looked for in all of them joined, in every rendering written
 * out, raw too (findRaw: decoding the join three levels deep cost a 12 KB base64 result three
 * times its scan). Where keys are joined with the values, only a finding that begins or ends in a
 * key, with no key inside it but among keys alone, is new (isOverKey): one that
 * runs from a value through keys is a token read on, which the values alone hold, or one cut across
 * values with a key read between.
 */
function scanGroup(
  group: readonly Piece[],
  known: KnownMatcher | undefined,
  { withRules, withKeys }: { readonly withRules: boolean; readonly withKeys: boolean },
  joined: Joined,
): void {
  if (group.length < 2) return;
  const strings = group.map((p) => p.text);
  const starts: number[] = [];
  let length = 0;
  for (const s of strings) {
    starts.push(length);
    length += s.length;
  }
  /** The index of the piece an offset of the joined text is in. */
  const pieceAt = (offset: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  /**
   * Whether a finding of pieces first to last is one the keys hold part of (always, without keys):
   * it begins or ends in a key, and no key stands strictly inside it unless keys alone make it (a
   * secret cut across three keys). A token of the values read on through `type`, `text`, … into a
   * key after them is none (review-33-1: it redacted each key, so a text block's keys became one
   * marker and the block collapsed).
   */
  const isOverKey = (first: number, last: number): boolean => {
    if (!withKeys) return true;
    const isKey = (j: number): boolean => group[j]?.isKey === true;
    if (!isKey(first) && !isKey(last)) return false;
    let keysInside = 0;
    for (let j = first + 1; j < last; j++) if (isKey(j)) keysInside++;
    return keysInside === 0 || (isKey(first) && isKey(last) && keysInside === last - first - 1);
  };
  const share = (f: Finding, first: number, last: number): void => {
    for (let j = first; j <= last; j++) {
      const from = starts[j] ?? 0;
      const piece = group[j] ?? { text: '', index: 0, at: 0, isKey: false };
      const shared = {
        ...f,
        start: piece.at + Math.max(f.start - from, 0),
        end: piece.at + Math.min(f.end - from, piece.text.length),
      };
      const list = joined.shares.get(piece.index);
      if (list) list.push(shared);
      else joined.shares.set(piece.index, [shared]);
    }
  };
  for (const hit of known?.findRaw(strings.join('')) ?? []) {
    const first = pieceAt(hit.start);
    const last = pieceAt(Math.max(hit.start, hit.end - 1));
    if (first === last || !isOverKey(first, last)) continue;
    joined.credentials.push(hit.id);
    share(credentialFinding(hit), first, last);
  }
  if (!withRules) return;
  const alone = new Map<number, readonly Finding[]>();
  /**
   * Whether the first piece holds the token on its own and ends it before its end: read on, a
   * rule took in what follows (`glpat-….` then `glpat-…` reads as one GitLab token: the dot may
   * not end one, but may stand inside it).
   */
  const isWholeInFirst = (f: JoinedFinding): boolean => {
    const first = strings[f.firstPart] ?? '';
    const own = alone.get(f.firstPart) ?? scan(first);
    alone.set(f.firstPart, own);
    const start = f.start - (starts[f.firstPart] ?? 0);
    // With keys, a token a value holds whole read on into the key after it is no new one either.
    return own.some((g) => g.rule === f.rule && g.start === start && (withKeys || g.end < first.length));
  };
  for (const f of scanJoined(strings, { spanning: true, confidence: 'high' })) {
    if (!isOverKey(f.firstPart, f.lastPart) || isWholeInFirst(f)) continue;
    joined.secrets.push(f);
    share(f, f.firstPart, f.lastPart);
  }
}

/**
 * A part's own findings and its shares of joined ones, credentials first: a marker over both
 * names the credential.
 */
function withShares(found: readonly Finding[], shares: readonly Finding[] | undefined): readonly Finding[] {
  if (shares === undefined) return found;
  const rank = (f: Finding): number => (f.family === 'credential' ? 0 : 1);
  return [...found, ...shares].sort((a, b) => rank(a) - rank(b));
}
