// The JWT rule: three runs of base64url joined by dots, the first from `eyJ` (`{"` encoded) to a
// header that decodes to JSON with "alg". Read by hand rather than by one regex at each anchor:
// `eyJ[A-Za-z0-9_-]{8,2000}\.…` read up to 2,000 characters at every `eyJ` and backtracked over
// them, and 4 MB of `eyJ` repeated (1.3 M anchors) took 8 s (redteam-34-6). A run of base64url is
// read once for all the anchors in it, and so are the two parts after it; of the anchors, only
// those whose header decodes to one JSON object are candidates, found for all at once
// (json-suffixes.ts). What is found is what the regex and the header check found.

import { base64Decode } from './decode.js';
import { jsonObjectSuffixes } from './json-suffixes.js';
import { isPlaceholder } from './placeholder.js';
import type { Matcher, ReadWork, Verdict } from './provider-rules.js';

/** The bounds of each part as the rule has always read them: header after eyJ, payload, signature. */
const HEADER = { min: 8, max: 2000 };
const PAYLOAD = { min: 2, max: 8000 };
const SIGNATURE_MAX = 2000;

/** The next character that is not base64url; a part ends there. */
const NOT_BASE64URL = /[^A-Za-z0-9_-]/g;

function runEnd(text: string, from: number): number {
  NOT_BASE64URL.lastIndex = from;
  return NOT_BASE64URL.exec(text)?.index ?? text.length;
}

/** The bytes a part, all base64url, decodes to; undefined for a length that leaves 1 over. */
function partBytes(part: string): Uint8Array | undefined {
  return part.length % 4 === 1 ? undefined : base64Decode(part, true);
}

/**
 * A run of base64url and what follows it. Every anchor in [from, headerEnd) has its header end at
 * headerEnd, and the same payload and signature after it: `end`, where the token ends, or
 * undefined when they do not make one.
 */
interface Run {
  readonly from: number;
  readonly headerEnd: number;
  readonly end: number | undefined;
  /**
   * Per anchor position modulo 4, the first anchor asked and the anchors from it whose header is
   * one JSON object. Headers that start 4k characters apart decode to bytes 3k apart of one
   * decoding: each such class is decoded and parsed once.
   */
  readonly classes: ({ readonly from: number; readonly valid: readonly number[] } | undefined)[];
}

function readRun(text: string, at: number, work: ReadWork | undefined): Run {
  const headerEnd = runEnd(text, at + 3);
  const end = tokenEnd(text, headerEnd);
  if (work?.read !== undefined) work.read += (end ?? headerEnd) - at + 1;
  return { from: at, headerEnd, end, classes: [] };
}

/** Where a token whose header ends at `headerEnd` ends, if a payload and a signature follow. */
function tokenEnd(text: string, headerEnd: number): number | undefined {
  if (text[headerEnd] !== '.') return undefined;
  const payloadEnd = runEnd(text, headerEnd + 1);
  const payload = payloadEnd - headerEnd - 1;
  if (payload < PAYLOAD.min || payload > PAYLOAD.max || text[payloadEnd] !== '.') return undefined;
  const end = runEnd(text, payloadEnd + 1);
  return end - payloadEnd - 1 > SIGNATURE_MAX ? undefined : end;
}

/** The anchors from `from`, 4 characters apart, whose header (to `headerEnd`) is one JSON object. */
function validHeaders(
  text: string,
  from: number,
  headerEnd: number,
  work: ReadWork | undefined,
): readonly number[] {
  const bytes = partBytes(text.slice(from, headerEnd));
  if (bytes === undefined) return [];
  const starts: number[] = [];
  for (let at = from; at <= headerEnd - 3 - HEADER.min; at += 4)
    if (text.startsWith('eyJ', at)) starts.push(((at - from) / 4) * 3);
  const valid = jsonObjectSuffixes(bytes, starts, work);
  if (work?.read !== undefined) work.read += headerEnd - from;
  return valid.map((byte) => from + (byte / 3) * 4);
}

/**
 * The JWT rule's matcher for one text. The scan asks it at anchors in order; it keeps the run it
 * read last, so the anchors inside a run cost nothing more to reject.
 */
export function jwtMatcher(text: string, work?: ReadWork): Matcher {
  let run: Run | undefined;
  return (at) => {
    if (!text.startsWith('eyJ', at)) return undefined;
    if (run === undefined || at < run.from || at >= run.headerEnd) run = readRun(text, at, work);
    const header = run.headerEnd - at - 3;
    if (run.end === undefined || header < HEADER.min || header > HEADER.max) return undefined;
    const c = at % 4;
    let known = run.classes[c];
    if (known === undefined || at < known.from) {
      known = { from: at, valid: validHeaders(text, at, run.headerEnd, work) };
      run.classes[c] = known;
    }
    return known.valid.includes(at) ? { start: at, end: run.end } : undefined;
  };
}

/** High for a signed token whose header is JSON with "alg", low for an unsigned one; else none. */
export function jwtVerdict(value: string): Verdict | undefined {
  if (isPlaceholder(value)) return undefined;
  const [header, , signature] = value.split('.');
  const bytes = partBytes(header ?? '');
  if (bytes === undefined) return undefined;
  let parsed: unknown;
  try {
    // Read as Latin-1, a character a byte, as json-suffixes.ts reads a header.
    parsed = JSON.parse(String.fromCharCode(...bytes));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !('alg' in parsed)) return undefined;
  const alg = parsed.alg;
  // An unsigned token (alg "none", no signature) proves nothing to a server that checks signatures.
  const isSigned = typeof alg === 'string' && alg.toLowerCase() !== 'none' && (signature ?? '').length >= 16;
  return isSigned ? 'high' : 'low';
}
