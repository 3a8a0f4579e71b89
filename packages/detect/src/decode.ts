// The encoded segments of a text and what they decode to: percent-encoding (several layers, as in
// `%255F`), base64 and base64url, hex, and JSON \u escapes. An agent exfiltrating a secret rarely
// sends it raw twice (research egress.md §11.7, egress-dlp-04); scan() with `decode` looks inside
// these segments and reports a finding over the whole encoded segment. Only decodings that are
// mostly printable text are scanned, so hashes, integrity strings and images cost one failed check.

import type { Encoding } from './finding.js';

export interface DecodedSegment {
  readonly start: number;
  readonly end: number;
  readonly encoding: Encoding;
  readonly decoded: string;
}

const MIN_ENCODED = 16;
const MAX_SEGMENT = 64 * 1024;
/** How much windows of a longer base64 or hex run share: a secret shorter than this is whole in one. */
const WINDOW_OVERLAP = 4 * 1024;
const PERCENT = /%[0-9A-Fa-f]{2}/g;
const PERCENT_CHAR = /[A-Za-z0-9%._~+!*'():/=@$,;-]/;
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Whether decoded bytes are text worth scanning: at least 90 % printable ASCII or whitespace. */
function isMostlyText(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  let printable = 0;
  for (const b of bytes) if ((b >= 0x20 && b < 0x7f) || b === 9 || b === 10 || b === 13) printable++;
  return printable >= bytes.length * 0.9;
}

function percentDecodeOnce(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of new TextEncoder().encode(s[i] ?? '')) bytes.push(b);
  }
  return utf8.decode(new Uint8Array(bytes));
}

/** Decodes percent-encoding until no %XX is left (at most 4 layers: `%25255F` → `_`). */
export function percentDecode(s: string): string {
  let current = s;
  for (let layer = 0; layer < 4 && /%[0-9A-Fa-f]{2}/.test(current); layer++)
    current = percentDecodeOnce(current);
  return current;
}

function hexDecode(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function base64Decode(s: string, isUrlSafe: boolean): Uint8Array | undefined {
  let body = s.replace(/=+$/, '');
  if (isUrlSafe) body = body.replace(/-/g, '+').replace(/_/g, '/');
  if (body.length % 4 === 1) body = body.slice(0, -1);
  try {
    const binary = atob(body.padEnd(Math.ceil(body.length / 4) * 4, '='));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

function jsonUnescape(s: string): string {
  return s.replace(
    /\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|\\(["\\/])/g,
    (_, u?: string, x?: string, c?: string) =>
      u !== undefined
        ? String.fromCharCode(parseInt(u, 16))
        : x !== undefined
          ? String.fromCharCode(parseInt(x, 16))
          : (c ?? ''),
  );
}

/** Grows [start, end) over characters `isPart` accepts, up to MAX_SEGMENT. */
function grow(text: string, start: number, end: number, isPart: (c: string) => boolean): [number, number] {
  let s = start;
  let e = end;
  while (s > 0 && end - s < MAX_SEGMENT && isPart(text[s - 1] ?? '')) s--;
  while (e < text.length && e - s < MAX_SEGMENT && isPart(text[e] ?? '')) e++;
  return [s, e];
}

function* percentSegments(text: string): Generator<DecodedSegment> {
  if (!text.includes('%')) return;
  const re = new RegExp(PERCENT.source, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    // The segment stops at query separators: each parameter's value is decoded on its own.
    const [start, end] = grow(text, m.index, m.index + 3, (c) => PERCENT_CHAR.test(c) && c !== '&');
    re.lastIndex = end;
    const decoded = percentDecode(text.slice(start, end));
    if (decoded !== text.slice(start, end)) yield { start, end, encoding: 'percent', decoded };
  }
}

function* jsonSegments(text: string): Generator<DecodedSegment> {
  if (!text.includes('\\u') && !text.includes('\\x')) return;
  const re = /\\[ux][0-9A-Fa-f]{2}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const [start, end] = grow(text, m.index, m.index + 2, (c) => c !== '"' && c !== "'" && !/\s/.test(c));
    re.lastIndex = end;
    yield { start, end, encoding: 'json', decoded: jsonUnescape(text.slice(start, end)) };
  }
}

// Base64 and base64url characters (1), and "=" padding (2); a plain loop over this table finds the
// runs several times faster than a regex over the same class.
const BASE64_CHAR = (() => {
  const table = new Uint8Array(128);
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-')
    table[c.charCodeAt(0)] = 1;
  table[61] = 2;
  return table;
})();

/** Whether the first few characters of a base64 run already decode to binary (most runs do). */
function startsAsText(run: string, isUrlSafe: boolean): boolean {
  const head = base64Decode(run.slice(0, 12), isUrlSafe);
  return head !== undefined && isMostlyText(head);
}

/** The text a base64 run decodes to, if it decodes to text. */
function decodeRun(run: string, isUrlSafe: boolean): string | undefined {
  if (!startsAsText(run, isUrlSafe)) return undefined;
  const bytes = base64Decode(run, isUrlSafe);
  return bytes && isMostlyText(bytes) ? utf8.decode(bytes) : undefined;
}

function* base64AndHexSegments(text: string): Generator<DecodedSegment> {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || BASE64_CHAR[c] !== 1) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && text.charCodeAt(i) < 128 && BASE64_CHAR[text.charCodeAt(i)] === 1) i++;
    while (i < n && i - start < MAX_SEGMENT && text.charCodeAt(i) === 61) i++;
    const end = i;
    if (end - start < MIN_ENCODED) continue;
    if (end - start <= MAX_SEGMENT) {
      yield* runSegments(text, start, end);
      continue;
    }
    // A longer run (a file delivered as a blob) is decoded in windows that overlap by WINDOW_OVERLAP,
    // each on its own, so what it carries is scanned as any other text's is and no secret falls
    // between two windows. Both bounds are whole base64 quanta (and hex bytes) from the run's start.
    for (let from = start; ; from += MAX_SEGMENT - WINDOW_OVERLAP) {
      const to = Math.min(end, from + MAX_SEGMENT);
      yield* runSegments(text, from, to);
      if (to === end) break;
    }
  }
}

/** What one run of base64 or hex characters, text[start, end), decodes to, when that is text. */
function* runSegments(text: string, start: number, end: number): Generator<DecodedSegment> {
  const run = text.slice(start, end);
  if (/^[0-9A-Fa-f]+$/.test(run)) {
    if (run.length % 2 === 0) {
      const bytes = hexDecode(run);
      if (isMostlyText(bytes)) yield { start, end, encoding: 'hex', decoded: utf8.decode(bytes) };
    }
    return;
  }
  const isUrlSafe = /[-_]/.test(run);
  // A run with both alphabets is a path or an identifier, not base64.
  if (isUrlSafe && /[+/]/.test(run)) return;
  const encoding = isUrlSafe ? 'base64url' : 'base64';
  const whole = decodeRun(run, isUrlSafe);
  if (whole !== undefined) {
    yield { start, end, encoding, decoded: whole };
    return;
  }
  // Not base64 as a whole: maybe a path whose last segments are (`/u/<base64>`).
  if (isUrlSafe || !run.includes('/')) return;
  let from = start;
  for (const piece of run.split('/')) {
    const decoded = piece.length >= MIN_ENCODED ? decodeRun(piece, false) : undefined;
    if (decoded !== undefined) yield { start: from, end: from + piece.length, encoding, decoded };
    from += piece.length + 1;
  }
}

/** Every encoded segment of `text` whose decoding is text. */
export function* decodedSegments(text: string): Generator<DecodedSegment> {
  yield* percentSegments(text);
  yield* jsonSegments(text);
  yield* base64AndHexSegments(text);
}
