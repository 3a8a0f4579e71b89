// The encoded segments of a text and what they decode to: percent-encoding (several layers, as in
// `%255F`, and JavaScript's `%uXXXX`), base64 and base64url (also wrapped at a fixed width, as MIME
// and PEM write it), hex (also as separated pairs, `de:ad:be:ef`), string-literal escapes (JSON's
// \u, \x, octal `\147`), HTML and XML character references (`&#103;`, `&#x67;`, `&amp;`), and lists
// of byte values (`0x67, 0x68`, `[103, 104, …]`); also runs of text cut by hidden characters
// (hidden-characters.ts: `sk_live_4eC3<U+200B>9HqL…`), read with them removed, and text spelled in
// Unicode tag characters, read as the ASCII they mirror. An agent exfiltrating
// a secret rarely sends it raw twice (research egress.md §11.7, egress-dlp-04); scan() with `decode`
// and the known-value matcher look inside these segments and report a finding over the whole
// encoded segment (over the secret itself in a run read without its hidden characters, whose
// offsets map back). Only decodings that are text (UTF-8 or UTF-16 in any script, or mostly ASCII)
// are scanned, so hashes, integrity strings and images cost one failed check.
//
// Finding the segments must stay linear in the text's length whatever the text is (redteam-30-1):
// every character is stepped over a bounded number of times, a run longer than MAX_SEGMENT is cut
// into overlapping windows, and nothing ever looks back past the run it is in; what segments decode
// to is decoded again within a budget (DEEP_DECODE_BUDGET), as one text can be read in many ways.

import type { Encoding } from './finding.js';
import {
  hiddenStretches,
  isWhiteSpace,
  joinedText,
  keptPieces,
  spelledPieces,
  tagPiece,
  type HiddenRun,
  type Piece,
  type TagRun,
} from './hidden-characters.js';
import { isWordCode } from './terminal-sequences.js';

export interface DecodedSegment {
  readonly start: number;
  readonly end: number;
  readonly encoding: Encoding;
  readonly decoded: string;
  /**
   * Where a span of `decoded` stands in the text, for a run read without its hidden characters
   * (nothing else is decoded, so offsets map back); without it, a finding covers the segment.
   */
  readonly spanOf?: (start: number, end: number) => readonly [number, number];
  /**
   * Whether this reads a run with characters a terminal hides kept (those a control sequence may
   * have taken from a token: hidden-characters.ts): what is found in it gives way to what is found
   * as surely (as confident, as specific) over the same characters read as a terminal shows them.
   */
  readonly isFallback?: boolean;
}

/**
 * What finding and decoding segments cost, in characters: `visited` counts those stepped over while
 * finding segments, `decoded` those handed to a decoder. Tests bound both by the text's length.
 */
export interface DecodeWork {
  visited: number;
  decoded: number;
}

/**
 * How many encodings deep scan() and the known-value matcher look (`base64(percent(json(…)))`);
 * percent-encoding's own layers (`%2525`) count once. Three covers the nestings of real traffic
 * (base64 in JSON in a query); a fourth base64 layer is deliberate hiding, and whoever hides on
 * purpose can add a fifth or XOR.
 */
const MAX_DECODE_DEPTH = 3;

/**
 * What decoding below the first level may cost, in characters stepped over or decoded per character
 * of the text. The first level is linear by construction: each character is in at most one run of
 * each kind (percent, string escapes, character references, base64 and hex), windows share at most
 * 7 %, and decoding-cost.test.ts measures at most about 4 per character. But one run can be read in
 * several ways, and each reading is decoded again in several: escapes of three kinds in one run
 * (`%41\u0041&#65;`), each left alone by the other two decoders, made the three levels cost 18 times
 * the text's length; written to survive their own decoding once too (`%2525252541`, `\\u0041`,
 * `&amp;#65;`), 36; base64 of such text, 55. Nestings of real traffic cost at most 2 below the first
 * level (a token three deep in every order of the encodings above: 1.9; the bench corpus and 3000
 * node_modules files: 0.5). So the levels below the first are decoded one after the other, segment
 * by segment, until this is spent: what text built to branch then leaves undecoded is hidden on
 * purpose, as a fourth layer is, and every segment of the first level is still decoded.
 */
const DEEP_DECODE_BUDGET = 6;

const MIN_ENCODED = 16;
/**
 * Fewest characters a run cut by hidden characters must keep to be read: the shortest value the
 * known-value matcher looks for (MIN_KNOWN_LENGTH), so that a bound credential cut so is found.
 */
const MIN_UNCUT = 8;
const MAX_SEGMENT = 64 * 1024;
/** How much windows of a longer run share: a secret shorter than this is whole in one of them. */
const WINDOW_OVERLAP = 4 * 1024;
/**
 * Narrowest line width at which wrapped base64 or hex is joined before decoding: below any encoder's
 * default (76, 64). Lines joined by mistake cost one failed decode, and are then decoded one by one.
 */
const MIN_WRAP_WIDTH = 8;
/** Fewest bytes that may be text: fewer decode to nothing (textOf). */
const MIN_TEXT_BYTES = 8;
/**
 * Fewest separated hex pairs (`41:42:…`) or values of a byte list (`0x67, 0x68, …`, `[103, 104, …]`)
 * decoded: a MAC address (6) is not a payload. The floor of decoded text, so that a shorter list is
 * not even read. Decimal lists were held to 16 values, as arrays of small numbers are everywhere;
 * but most decode to no text (a byte under 32 or past 126 is one too many in 8), and those that do
 * are too short for any rule to match by chance (detect-32-3: in 212 MiB of node_modules, Python's
 * library and /usr/share/doc, 52 lists of 8 or more decode to text against 9 of 16 or more, and
 * none holds a finding), while a short password written as its bytes was missed.
 */
const MIN_HEX_PAIRS = MIN_TEXT_BYTES;

/** Fewest printable bytes in a row that make a run of text inside binary: shorter ones hold no token. */
const MIN_TEXT_RUN = 16;

/** A printable ASCII byte, a tab or a line break: what a run of text inside binary is made of. */
const isTextByte = (b: number): boolean => (b >= 0x20 && b < 0x7f) || b === 9 || b === 10 || b === 13;

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf16le = new TextDecoder('utf-16le', { fatal: false });
const utf8Encoder = new TextEncoder();

/** Whether a character of decoded text is one a reader would see: not a C0 or C1 control, not U+FFFD. */
function isPrintableCode(c: number): boolean {
  if (c < 0x20) return c === 9 || c === 10 || c === 13;
  return c !== 0x7f && !(c >= 0x80 && c < 0xa0) && c !== 0xfffd;
}

/** Whether at least 90 % of a string's characters are printable, in any script. */
function isPrintable(text: string): boolean {
  if (text.length === 0) return false;
  const allowed = Math.floor(text.length * 0.1);
  let bad = 0;
  for (let i = 0; i < text.length; i++)
    if (!isPrintableCode(text.charCodeAt(i)) && ++bad > allowed) return false;
  return true;
}

/**
 * Whether bytes[from, to) are valid UTF-8 (RFC 3629 §4: no overlong form, no surrogate, nothing past
 * U+10FFFF) of which at least 90 % of the characters are printable. Checked here rather than by a
 * fatal TextDecoder: most runs are binary, and a thrown error per run costs more than the check.
 */
function isUtf8Text(bytes: Uint8Array, from: number, to: number): boolean {
  const allowed = Math.floor((to - from) * 0.1);
  let chars = 0;
  let bad = 0;
  for (let i = from; i < to;) {
    const b = bytes[i] ?? 0;
    chars++;
    if (b < 0x80) {
      if (!isPrintableCode(b) && ++bad > allowed) return false;
      i++;
      continue;
    }
    const [tail, min] =
      b >= 0xc2 && b <= 0xdf ? [1, 0x80] : b >= 0xe0 && b <= 0xef ? [2, 0x800] : [3, 0x10000];
    if (b < 0xc2 || b > 0xf4 || i + tail >= to) return false;
    let code = b & (0x3f >> tail);
    for (let k = 1; k <= tail; k++) {
      const c = bytes[i + k] ?? 0;
      if ((c & 0xc0) !== 0x80) return false;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    if (!isPrintableCode(code) && ++bad > allowed) return false;
    i += tail + 1;
  }
  return chars > 0 && bad <= chars * 0.1;
}

/**
 * UTF-8 text, any script (redteam-30-2: a file starting "# café" or written in Cyrillic is text).
 * A window may cut a character in two: up to three continuation bytes at its start, and a sequence
 * its end leaves unfinished, are dropped before the bytes must be valid UTF-8.
 */
function utf8Text(bytes: Uint8Array): string | undefined {
  let from = 0;
  while (from < 3 && from < bytes.length && ((bytes[from] ?? 0) & 0xc0) === 0x80) from++;
  let to = bytes.length;
  for (let back = 1; back <= 3 && to - back >= from; back++) {
    const b = bytes[to - back] ?? 0;
    if ((b & 0xc0) === 0x80) continue;
    const length = b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (length > back) to -= back;
    break;
  }
  return isUtf8Text(bytes, from, to) ? utf8.decode(bytes.subarray(from, to)) : undefined;
}

/**
 * Whether bytes hold at least `count` zeros. Most decoded runs that are no text are words of code
 * read as base64 (`getElementsByTagName`), with no zero at all: indexOf() rules them out at a
 * fraction of the cost of a loop looking for UTF-16.
 */
function hasZeros(bytes: Uint8Array, count: number): boolean {
  let at = -1;
  for (let k = 0; k < count; k++) if ((at = bytes.indexOf(0, at + 1)) < 0) return false;
  return true;
}

/**
 * Where UTF-16 text in one byte order shows itself: MIN_TEXT_RUN printable ASCII characters in a
 * row, each byte beside a zero (detect-32-5). A secret is ASCII, so even inside Cyrillic or Chinese
 * text its bytes alternate with zeros; in random bytes such a run comes about once in 10^45. The
 * parity of the printable bytes, or -1 when there is no such run.
 */
function utf16AsciiRunParity(bytes: Uint8Array): number {
  if (bytes.length < 2 * MIN_TEXT_RUN || !hasZeros(bytes, MIN_TEXT_RUN)) return -1;
  const runs = [0, 0];
  for (let i = 0; i + 1 < bytes.length; i++) {
    const parity = i & 1;
    if (bytes[i + 1] === 0 && isTextByte(bytes[i] ?? 0)) {
      if (++(runs[parity] as number) >= MIN_TEXT_RUN) return parity;
    } else runs[parity] = 0;
  }
  return -1;
}

/** bytes[from…] read as UTF-16 in the byte order given, when that is printable text. */
function utf16Decode(bytes: Uint8Array, from: number, isBigEndian: boolean): string | undefined {
  let body = bytes.subarray(from, from + ((bytes.length - from) & ~1));
  if (isBigEndian) {
    const swapped = new Uint8Array(body.length);
    for (let i = 0; i + 1 < body.length; i += 2) {
      swapped[i] = body[i + 1] ?? 0;
      swapped[i + 1] = body[i] ?? 0;
    }
    body = swapped;
  }
  const text = utf16le.decode(body);
  return isPrintable(text) ? text : undefined;
}

/**
 * The blocks of the BMP text is written in, [first, last, script]: script 0 is shared by every
 * writing system (ASCII, Latin-1, combining marks, punctuation and symbols, the halves of a
 * surrogate pair, which the decoder leaves only in pairs); the others are one script or family
 * (Japanese's kana and kanji are one, as are Korean's jamo and syllables). Nearly every unit is in
 * some block (64 % of random ones), but text keeps to one script, random units do not.
 */
const SCRIPT_BLOCKS: readonly (readonly [number, number, number])[] = [
  [0x0009, 0x000d, 0],
  [0x0020, 0x007e, 0],
  [0x00a0, 0x00ff, 0],
  [0x0100, 0x024f, 1],
  [0x0300, 0x036f, 0],
  [0x0370, 0x03ff, 2],
  [0x0400, 0x052f, 3],
  [0x0530, 0x05ff, 4],
  [0x0600, 0x077f, 5],
  [0x0900, 0x0dff, 6],
  [0x0e00, 0x0eff, 7],
  [0x10a0, 0x10ff, 8],
  [0x1100, 0x11ff, 10],
  [0x1e00, 0x1eff, 1],
  [0x1f00, 0x1fff, 2],
  [0x2000, 0x2bff, 0],
  [0x3000, 0x30ff, 9],
  [0x3130, 0x318f, 10],
  [0x4e00, 0x9fff, 9],
  [0xac00, 0xd7af, 10],
  [0xd800, 0xdfff, 0],
  [0xff00, 0xffef, 9],
];

/** Whether at least 90 % of a text's characters are shared ones or of its most frequent script. */
function isOneScript(text: string): boolean {
  const counts = new Array<number>(11).fill(0);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const block = SCRIPT_BLOCKS.find(([first, last]) => c >= first && c <= last);
    if (block) counts[block[2]] = (counts[block[2]] ?? 0) + 1;
  }
  return (counts[0] ?? 0) + Math.max(...counts.slice(1)) >= text.length * 0.9;
}

/**
 * UTF-16 text (redteam-30-2: Windows tools write it): with a byte-order mark in any script. Without
 * one, when it is mostly ASCII, every other byte zero; or, in any script, when it holds a run of
 * ASCII (utf16AsciiRunParity) and reads as printable text of one script (isOneScript) in the byte
 * order the run gives. So binary is not read as CJK, nor a binary file holding a UTF-16 string (its
 * runs are read instead).
 */
function utf16Text(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return utf16Decode(bytes, 2, true);
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return utf16Decode(bytes, 2, false);
  const units = bytes.length >> 1;
  const allowed = Math.floor(units * 0.1);
  let notLow = 0;
  let notHigh = 0;
  for (let i = 0; i < units && (notLow <= allowed || notHigh <= allowed); i++) {
    if (bytes[2 * i + 1] !== 0) notLow++;
    if (bytes[2 * i] !== 0) notHigh++;
  }
  if (notLow <= allowed || notHigh <= allowed) return utf16Decode(bytes, 0, notLow > allowed);
  // Printable bytes at even offsets are little-endian, at odd ones big-endian. Read from the first
  // byte whatever the alignment: a window that starts inside a character reads its other
  // characters wrongly but its ASCII, what a secret is written in, rightly.
  const parity = utf16AsciiRunParity(bytes);
  if (parity < 0) return undefined;
  const text = utf16Decode(bytes, 0, parity === 1);
  return text !== undefined && isOneScript(text) ? text : undefined;
}

/** Mostly printable ASCII with a few other bytes (Latin-1 text, a stray byte): read as UTF-8 anyway. */
function asciiText(bytes: Uint8Array): string | undefined {
  const allowed = Math.floor(bytes.length * 0.1);
  let bad = 0;
  for (const b of bytes) if ((b >= 0x80 || !isPrintableCode(b)) && ++bad > allowed) return undefined;
  return utf8.decode(bytes);
}

/** The text decoded bytes hold, if they hold text; undefined for binary (images, hashes, keys). */
function textOf(bytes: Uint8Array): string | undefined {
  if (bytes.length < MIN_TEXT_BYTES) return undefined;
  return utf8Text(bytes) ?? utf16Text(bytes) ?? asciiText(bytes);
}

/**
 * The runs of printable ASCII at least MIN_TEXT_RUN long inside bytes that are not text as a whole,
 * one a line, or undefined (detect-32-4: a few random bytes, or a binary header, then `ghp_…`); also
 * such runs written in UTF-16, each character a byte beside a zero, in either byte order
 * (detect-32-5: a binary header, then UTF-16 text). In random bytes such a run comes once in
 * millions of bytes (in UTF-16, once in 10^45), so images and hashes still decode to nothing.
 */
function textRunsOf(bytes: Uint8Array): string | undefined {
  // Most runs are words of code (`getElementsByTagName`): too short to hold a run at all.
  if (bytes.length < MIN_TEXT_RUN) return undefined;
  const runs: string[] = [];
  let from = 0;
  let zeros = 0;
  for (let i = 0; i <= bytes.length; i++) {
    const b = i < bytes.length ? (bytes[i] ?? 0) : -1;
    if (isTextByte(b)) continue;
    if (b === 0) zeros++;
    if (i - from >= MIN_TEXT_RUN) runs.push(utf8.decode(bytes.subarray(from, i)));
    from = i + 1;
  }
  // A run is found as characters each followed by a zero. One whose first character follows a zero
  // is read as big-endian: its last character is the one after the last zero.
  for (let parity = 0; parity < 2 && zeros >= MIN_TEXT_RUN - 1; parity++) {
    let wideFrom = parity;
    for (let i = parity; i <= bytes.length; i += 2) {
      if (i + 1 < bytes.length && bytes[i + 1] === 0 && isTextByte(bytes[i] ?? 0)) continue;
      const isBigEndian = bytes[wideFrom - 1] === 0 && i < bytes.length && isTextByte(bytes[i] ?? 0);
      const to = isBigEndian ? i + 2 : i;
      if (to - wideFrom >= 2 * MIN_TEXT_RUN) runs.push(wideRun(bytes, wideFrom, to));
      wideFrom = i + 2;
    }
  }
  return runs.length > 0 ? runs.join('\n') : undefined;
}

/** The characters of a UTF-16 run of ASCII, bytes[from, to): every other byte, from the first. */
function wideRun(bytes: Uint8Array, from: number, to: number): string {
  const chars = new Uint8Array((to - from) >> 1);
  for (let k = 0; k < chars.length; k++) chars[k] = bytes[from + 2 * k] ?? 0;
  return utf8.decode(chars);
}

/** The value of a hex digit's character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The UTF-16 code unit of a `%uXXXX` escape at bytes[at], or -1. JavaScript's escape() writes every
 * character past U+00FF so, and an agent can write any (detect-31-1: `%u0067%u0068%u0070`).
 */
function unitEscapeAt(bytes: Uint8Array, at: number): number {
  if (bytes[at] !== 37 || (bytes[at + 1] !== 117 && bytes[at + 1] !== 85)) return -1;
  let unit = 0;
  for (let k = at + 2; k < at + 6; k++) {
    const digit = hexValue(bytes[k] ?? 0);
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

const isByteEscapeAt = (bytes: Uint8Array, at: number): boolean =>
  bytes[at] === 37 && hexValue(bytes[at + 1] ?? 0) >= 0 && hexValue(bytes[at + 2] ?? 0) >= 0;

/** Whether bytes hold a %XX or %uXXXX escape. */
function hasPercentEscape(bytes: Uint8Array): boolean {
  for (let i = 0; i + 2 < bytes.length; i++)
    if (isByteEscapeAt(bytes, i) || unitEscapeAt(bytes, i) >= 0) return true;
  return false;
}

/** Writes `code`'s UTF-8 bytes (RFC 3629 §3) into out[at…]; returns where they end. */
function putUtf8(out: Uint8Array, at: number, code: number): number {
  if (code < 0x80) {
    out[at] = code;
    return at + 1;
  }
  const tail = code < 0x800 ? 1 : code < 0x10000 ? 2 : 3;
  // The lead byte: as many high bits set as the sequence has bytes (110…, 1110…, 11110…).
  out[at] = ((0xff00 >> (tail + 1)) & 0xff) | (code >> (6 * tail));
  for (let k = 1; k <= tail; k++) out[at + k] = 0x80 | ((code >> (6 * (tail - k))) & 0x3f);
  return at + tail + 1;
}

/**
 * One layer of percent-decoding, on bytes: %XX is a byte, %uXXXX a character written as UTF-8 (two
 * of them when they are a surrogate pair, U+FFFD for half of one); what is neither stays as it is.
 * The output is never longer than the input: six bytes of escape make at most three of UTF-8.
 */
function percentDecodeBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    const unit = unitEscapeAt(bytes, i);
    if (isByteEscapeAt(bytes, i)) {
      out[n++] = hexValue(bytes[i + 1] ?? 0) * 16 + hexValue(bytes[i + 2] ?? 0);
      i += 2;
    } else if (unit >= 0) {
      const low = unit >= 0xd800 && unit < 0xdc00 ? unitEscapeAt(bytes, i + 6) : -1;
      const isPair = low >= 0xdc00 && low <= 0xdfff;
      const isHalf = !isPair && unit >= 0xd800 && unit <= 0xdfff;
      const code = isPair ? 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00) : isHalf ? 0xfffd : unit;
      n = putUtf8(out, n, code);
      i += isPair ? 11 : 5;
    } else out[n++] = b;
  }
  return out.subarray(0, n);
}

/**
 * Decodes percent-encoding until no %XX or %uXXXX is left (at most 4 layers: `%25255F` → `_`).
 * Layers are decoded as bytes and read as UTF-8 once, so a multi-byte character split across
 * escapes survives.
 */
export function percentDecode(s: string): string {
  let bytes: Uint8Array = utf8Encoder.encode(s);
  for (let layer = 0; layer < 4 && hasPercentEscape(bytes); layer++) bytes = percentDecodeBytes(bytes);
  return utf8.decode(bytes);
}

function hexDecode(s: string): Uint8Array {
  const bytes = new Uint8Array(s.length >> 1);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = hexValue(s.charCodeAt(2 * i)) * 16 + hexValue(s.charCodeAt(2 * i + 1));
  return bytes;
}

/** The bytes base64 (or base64url) `s` decodes to; a last character left over is dropped. */
export function base64Decode(s: string, isUrlSafe: boolean): Uint8Array | undefined {
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

/**
 * Decodes the escapes of string literals: JSON's `\uXXXX`, `\xXX` and octal `\147` (C, Python and
 * the shell's `$'…'`: one to three digits, at most `\377`), and a backslash before a quote, a
 * backslash or "/". Octal and `\x` escapes are bytes, read as Latin-1 as JavaScript reads `\x`.
 */
function jsonUnescape(s: string): string {
  return s.replace(
    /\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})|\\([0-3][0-7]{2}|[0-7]{1,2})|\\(["\\/])/g,
    (_, u?: string, x?: string, octal?: string, c?: string) =>
      u !== undefined
        ? String.fromCharCode(parseInt(u, 16))
        : x !== undefined
          ? String.fromCharCode(parseInt(x, 16))
          : octal !== undefined
            ? String.fromCharCode(parseInt(octal, 8))
            : (c ?? ''),
  );
}

/**
 * The named references decoded: XML's five, for the characters markup must escape in a value (a
 * password with "&" or "<" in an XML body). HTML's two thousand others name letters and symbols.
 */
const NAMED_REFERENCES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

/**
 * Decodes HTML and XML character references (XML 1.0 §4.1, and the HTML standard's character
 * reference states): decimal `&#103;`, hex `&#x67;` or `&#X67;`, with any number of leading zeros,
 * and the five named ones. Only references ended by ";" count: HTML also reads `&#103` without it
 * (as a parse error), but no encoder writes that, and text such as `?id=1&#2` is no markup. A
 * number that is no character (0, a surrogate, past U+10FFFF) reads as U+FFFD, as a browser reads it.
 */
function referencesDecode(s: string): string {
  return s.replace(
    /&#([0-9]+);|&#[xX]([0-9A-Fa-f]+);|&(amp|lt|gt|quot|apos);/g,
    (_, decimal?: string, hex?: string, name?: string) => {
      if (name !== undefined) return NAMED_REFERENCES[name] ?? '';
      const code = decimal !== undefined ? parseInt(decimal, 10) : parseInt(hex ?? '', 16);
      const isCharacter = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
      return isCharacter ? String.fromCodePoint(code) : '\uFFFD';
    },
  );
}

/**
 * The windows [from, to) that cover [start, end): at most MAX_SEGMENT long, sharing at least
 * WINDOW_OVERLAP - unit characters, every bound a whole number of `unit`s (a base64 quantum, a hex
 * pair with its separator) from `start`. A secret anywhere in a long run is whole in one window,
 * and the windows' lengths add up to at most 1.07 times the run's.
 */
function* windows(start: number, end: number, unit: number): Generator<readonly [number, number]> {
  const size = MAX_SEGMENT - (MAX_SEGMENT % unit);
  const step = size - WINDOW_OVERLAP - ((size - WINDOW_OVERLAP) % unit);
  for (let from = start; ; from += step) {
    const to = Math.min(end, from + size);
    yield [from, to];
    if (to === end) return;
  }
}

/** A character-class table over ASCII: the characters a run of one encoding is made of. */
function asciiClass(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

// The characters of a URL component that percent-encoding leaves or makes. "&" and "?" are not:
// each query parameter's value is decoded on its own.
const PERCENT_PART = asciiClass(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%._~+!*'():/=@$,;-",
);
const isPercentPart = (c: number): boolean => c < 128 && PERCENT_PART[c] === 1;

/**
 * The segments of `text` made by an escape `escape` finds, each the run of characters `isPart`
 * accepts around an escape, decoded window by window. A run is stepped over once, from its start,
 * and the search resumes after it; a window without an escape is not decoded. Escapes are looked
 * for where their first character, `lead`, is: indexOf() finds it several times faster than a
 * regex finds the escape, and most text has none or few.
 */
function* escapedSegments(
  text: string,
  lead: string,
  escape: RegExp,
  isPart: (c: number) => boolean,
  encoding: Encoding,
  decode: (s: string) => string,
  work: DecodeWork,
): Generator<DecodedSegment> {
  let at = text.indexOf(lead);
  // Most texts decoded at the deeper levels are short and have none: they build no regex.
  if (at < 0) return;
  const escapeAt = new RegExp(escape.source, 'y');
  const probe = new RegExp(escape.source);
  for (; at >= 0; at = text.indexOf(lead, at + 1)) {
    escapeAt.lastIndex = at;
    if (!escapeAt.test(text)) continue;
    // The run containing this escape. The previous run ended at a character isPart refuses, so
    // stepping back never crosses it: every character is stepped over at most twice.
    let start = at;
    while (start > 0 && isPart(text.charCodeAt(start - 1))) start--;
    let end = escapeAt.lastIndex;
    while (end < text.length && isPart(text.charCodeAt(end))) end++;
    work.visited += end - start;
    at = end - 1;
    for (const [from, to] of windows(start, end, 1)) {
      const raw = text.slice(from, to);
      work.decoded += raw.length;
      if (!probe.test(raw)) continue;
      const decoded = decode(raw);
      if (decoded !== raw) yield { start: from, end: to, encoding, decoded };
    }
  }
}

function* percentSegments(text: string, work: DecodeWork): Generator<DecodedSegment> {
  const escape = /%(?:[0-9A-Fa-f]{2}|[uU][0-9A-Fa-f]{4})/;
  yield* escapedSegments(text, '%', escape, isPercentPart, 'percent', percentDecode, work);
}

/** Whether a character can be part of a JSON-escaped run: all but quotes and white space (as trim() reads it). */
const isJsonPart = (c: number): boolean => c !== 34 && c !== 39 && c !== 0xfeff && !isWhiteSpace(c);

/**
 * Whether text holds an octal escape of three digits (`\147`, detect-32-1). Only those start a
 * run: shorter ones are a regex's backreference (`\1`) or a NUL (`\0`) far more often than text.
 */
function hasOctalEscape(text: string): boolean {
  for (let at = text.indexOf('\\'); at >= 0; at = text.indexOf('\\', at + 1)) {
    const first = text.charCodeAt(at + 1);
    if (
      first >= 48 &&
      first <= 51 &&
      isOctalCode(text.charCodeAt(at + 2)) &&
      isOctalCode(text.charCodeAt(at + 3))
    )
      return true;
  }
  return false;
}

const isOctalCode = (c: number): boolean => c >= 48 && c <= 55;

/** Runs of string-literal escapes: JSON's `\u`, `\x` and octal (jsonUnescape). */
function* jsonSegments(text: string, work: DecodeWork): Generator<DecodedSegment> {
  if (!text.includes('\\u') && !text.includes('\\x') && !hasOctalEscape(text)) return;
  const escape = /\\(?:[ux][0-9A-Fa-f]{2}|[0-3][0-7]{2})/;
  yield* escapedSegments(text, '\\', escape, isJsonPart, 'json', jsonUnescape, work);
}

/** A character of a run of markup text: not white space, a quote, "<" or ">" (an element's or attribute's bounds). */
const isMarkupPart = (c: number): boolean => c !== 60 && c !== 62 && isJsonPart(c);

/** Runs of text with HTML or XML character references (detect-31-2: `&#103;&#104;&#112;&#95;…`). */
function* referenceSegments(text: string, work: DecodeWork): Generator<DecodedSegment> {
  const escape = /&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|amp|lt|gt|quot|apos);/;
  yield* escapedSegments(text, '&', escape, isMarkupPart, 'html', referencesDecode, work);
}

const isAlphanumeric = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isHexPairAt = (text: string, at: number): boolean =>
  hexValue(text.charCodeAt(at)) >= 0 && hexValue(text.charCodeAt(at + 1)) >= 0;

/**
 * Where hex written as separated pairs from `start` ends (`de:ad:be:ef`, `de ad be ef`,
 * `de-ad-be-ef`, as hexdump, xxd, Wireshark and certificate tools print bytes): one separator
 * throughout, the last pair not glued to a word. `start` itself when there is none.
 */
function separatedHexEnd(text: string, start: number): number {
  const separator = text.charCodeAt(start + 2);
  if ((separator !== 58 && separator !== 32 && separator !== 45) || !isHexPairAt(text, start)) return start;
  let end = start + 2;
  while (text.charCodeAt(end) === separator && isHexPairAt(text, end + 1)) end += 3;
  if (end < text.length && isAlphanumeric(text.charCodeAt(end))) end -= 3;
  return end;
}

/** What separated hex pairs, text[start, end), decode to, when that is text. */
function* separatedHexSegments(
  text: string,
  start: number,
  end: number,
  work: DecodeWork,
): Generator<DecodedSegment> {
  for (const [from, to] of windows(start, end, 3)) {
    work.decoded += to - from;
    const bytes = new Uint8Array(Math.floor((to - from + 1) / 3));
    for (let k = 0; k < bytes.length; k++)
      bytes[k] = hexValue(text.charCodeAt(from + 3 * k)) * 16 + hexValue(text.charCodeAt(from + 3 * k + 1));
    const decoded = textOf(bytes);
    if (decoded !== undefined) yield { start: from, end: to, encoding: 'hex', decoded };
  }
}

// Base64 and base64url characters (1), and "=" padding (2); a plain loop over this table finds the
// runs several times faster than a regex over the same class.
const BASE64_CHAR = (() => {
  const table = asciiClass('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-');
  table[61] = 2;
  return table;
})();
const isBase64Char = (c: number): boolean => c < 128 && BASE64_CHAR[c] === 1;

/** A run of base64 characters from `start`: where its characters end, and where its "=" padding does. */
function base64RunAt(text: string, start: number): { readonly dataEnd: number; readonly end: number } {
  let i = start;
  while (i < text.length && isBase64Char(text.charCodeAt(i))) i++;
  const dataEnd = i;
  while (i < text.length && text.charCodeAt(i) === 61) i++;
  return { dataEnd, end: i };
}

/**
 * The length of the line break at `at` and the indentation after it, or 0: LF or CRLF, or their
 * JSON escapes (`\n`, `\r\n`, as a wrapped blob appears in a raw JSON body).
 */
function lineBreakAt(text: string, at: number): number {
  let i = at;
  if (text.charCodeAt(i) === 10) i += 1;
  else if (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10) i += 2;
  else if (text.startsWith('\\n', i)) i += 2;
  else if (text.startsWith('\\r\\n', i)) i += 4;
  else return 0;
  while (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9) i++;
  return i - at;
}

type Line = readonly [number, number];

/** Pieces of the text read as one: a block's lines, a run's characters between hidden ones. */
interface JoinedPieces {
  readonly decoded: string;
  /** Where the span [start, end) of `decoded` stands in the text: its first character to after its last. */
  readonly spanOf: (start: number, end: number) => readonly [number, number];
}

/** The pieces (in order, none empty) joined, and a map of spans of the join back to the text. */
function joinedPieces(text: string, pieces: readonly Piece[]): JoinedPieces {
  // Where each piece starts in the join.
  const offsets: number[] = [];
  let length = 0;
  for (const piece of pieces) {
    offsets.push(length);
    length += piece.length === 3 ? 1 : piece[1] - piece[0];
  }
  /** Where the character at `offset` of the join starts in the text, or with `isEnd` ends. */
  const textOffset = (offset: number, isEnd: boolean): number => {
    let lo = 0;
    let hi = offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((offsets[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const piece = pieces[lo] ?? [0, 0];
    if (piece.length === 3) return isEnd ? piece[1] : piece[0];
    return piece[0] + offset - (offsets[lo] ?? 0) + (isEnd ? 1 : 0);
  };
  // One piece alone would be a slice of the text (V8 keeps a view into it, and the text alive):
  // the decoders' loops, compiled for flat strings, slowed down by a fifth for every text scanned
  // after one such view (bench corpus). Joined from two, it is a string of its own.
  const joined = joinedText(text, pieces);
  const decoded = pieces.length === 1 ? [joined.slice(0, 1), joined.slice(1)].join('') : joined;
  return { decoded, spanOf: (start, end) => [textOffset(start, false), textOffset(end - 1, true)] };
}

/**
 * The lines of a block wrapped at a fixed width that starts with the run [start, end), or undefined
 * (redteam-30-2: MIME and `base64` wrap at 76 columns, PEM and OpenSSL at 64, so a secret can span
 * a break). Every line but the first and the last is exactly the width; the first may be shorter
 * (text before it on its line), the last too, and only the last may carry "=" padding.
 */
function wrappedLines(text: string, start: number, end: number, work: DecodeWork): Line[] | undefined {
  const lines: Line[] = [[start, end]];
  let width = 0;
  for (let at = end; ;) {
    const lineBreak = lineBreakAt(text, at);
    if (lineBreak === 0) break;
    const from = at + lineBreak;
    const { dataEnd, end: to } = base64RunAt(text, from);
    work.visited += to - at;
    const length = to - from;
    if (dataEnd === from) break;
    // Whether this line can be a middle one: unpadded and followed by another line of data.
    const isFull = to === dataEnd && lineBreakAt(text, to) > 0;
    if (width === 0) {
      // The second line sets the width, unless it is the last one; then the first line does.
      width = isFull ? length : end - start;
      if (width < MIN_WRAP_WIDTH || end - start > width) return undefined;
    }
    if (length > width) break;
    lines.push([from, to]);
    if (!isFull || length < width) break;
    at = to;
  }
  return lines.length >= 2 ? lines : undefined;
}

/**
 * The segments of a wrapped block: its lines joined, decoded like one run, mapped back to the text;
 * with `isOnItsOwn`, also the text runs inside a block that decodes to binary.
 */
function* blockSegments(
  lines: readonly Line[],
  text: string,
  work: DecodeWork,
  isOnItsOwn = false,
): Generator<DecodedSegment> {
  const { decoded: joined, spanOf } = joinedPieces(text, lines);
  for (const segment of runOrWindows(joined, 0, joined.length, work, isOnItsOwn)) {
    const [start, end] = spanOf(segment.start, segment.end);
    yield { ...segment, start, end };
  }
}

/**
 * What a block wrapped at a fixed width, starting with the run text[start, end), decodes to: its
 * segments and where the block ends, or undefined when the run starts no block. A block that
 * decodes to nothing is retried without its first line, which may be a shorter word that happens
 * to precede it.
 */
function blockAt(
  text: string,
  start: number,
  end: number,
  work: DecodeWork,
):
  { readonly segments: DecodedSegment[]; readonly runs: DecodedSegment[]; readonly end: number } | undefined {
  const lines = wrappedLines(text, start, end, work);
  if (!lines) return undefined;
  const segments = [...blockSegments(lines, text, work)];
  const [, second] = lines;
  if (segments.length === 0 && lines.length > 2 && second && end - start < second[1] - second[0])
    segments.push(...blockSegments(lines.slice(1), text, work));
  // A block of binary (a token after random bytes, as MIME and PEM wrap them) gives the text runs
  // of the whole, since the bytes before a token can put it across a line break; its lines are
  // still decoded one by one as well (equal lines that are no block together).
  const runs = segments.length === 0 ? [...blockSegments(lines, text, work, true)] : [];
  return { segments, runs, end: (lines[lines.length - 1] as Line)[1] };
}

const isDigitCode = (c: number): boolean => c >= 48 && c <= 57;

/** Whether a byte value written at text[at] (inside its quote) is in hex after `0x` or `0X`. */
const isHexValueAt = (text: string, at: number): boolean =>
  text.charCodeAt(at) === 48 && (text.charCodeAt(at + 1) | 0x20) === 120;

/**
 * The value byteValueEnd() read last, and whether it was written in hex: one object filled again for
 * every value, so that a list's values are read once and reading them allocates nothing.
 */
const lastByteValue = { value: 0, isHex: false };

/**
 * Where the byte value written at text[at] ends (`0x67`, `0x7`, `103`, inside `quote` when it is
 * not 0), or -1; the value is left in lastByteValue. A value glued to a word or to a decimal point
 * (`1.5`, `0x414`, `103px`) is none.
 */
function byteValueEnd(text: string, at: number, quote: number): number {
  let i = at;
  if (quote !== 0 && text.charCodeAt(i++) !== quote) return -1;
  const isHex = isHexValueAt(text, i);
  if (isHex) i += 2;
  const radix = isHex ? 16 : 10;
  const maxDigits = isHex ? 2 : 3;
  const from = i;
  let value = 0;
  for (let d = hexValue(text.charCodeAt(i)); d >= 0 && d < radix && i - from < maxDigits;) {
    value = value * radix + d;
    d = hexValue(text.charCodeAt(++i));
  }
  if (i === from || value > 255) return -1;
  lastByteValue.value = value;
  lastByteValue.isHex = isHex;
  const next = text.charCodeAt(i);
  if (quote !== 0) return next === quote ? i + 1 : -1;
  return isWordCode(next) || (next === 46 && isDigitCode(text.charCodeAt(i + 1))) ? -1 : i;
}

/**
 * Where a separator of a byte list at text[at] ends, or -1: a comma or semicolon with any white
 * space around it (a JSON array printed one value a line), or spaces and tabs. Each separator of a
 * list may be another of these (detect-32-2: `0x67, 0x68;0x70`, `[103 104, 112]`); a line break
 * alone is none, as columns of numbers are everywhere.
 */
function byteSeparatorEnd(text: string, at: number): number {
  let i = at;
  while (isListBlank(text.charCodeAt(i))) i++;
  const mark = text.charCodeAt(i);
  if (mark === 44 || mark === 59) {
    i++;
    while (isListBlank(text.charCodeAt(i))) i++;
    return i;
  }
  for (i = at; text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9;) i++;
  return i > at ? i : -1;
}

/** Spaces, tabs and line breaks. */
const isListBlank = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

interface ByteList {
  /** Whether any value is written in hex after `0x` (the others in decimal). */
  readonly isHex: boolean;
  /** The bytes the values are. */
  readonly values: readonly number[];
  /** Where each value starts and ends in the text, with its quotes. */
  readonly starts: readonly number[];
  readonly ends: readonly number[];
  /** How far reading went: to where the next separator or value failed. */
  readonly read: number;
}

/**
 * The byte list whose first value's digits start at text[at] (detect-31-3): `0x67, 0x68, …` as C,
 * Java and Python's hex() write bytes, `[103, 104, …]` as Buffer.from([…]), Python's bytes([…]) and
 * list(…) and a JSON array of numbers do; each value 0-255 (a signed Java byte past 127 ends a
 * list), in the same quotes or none. Values may mix `0x` and decimal, as a C array may, and
 * separators may change from one value to the next (detect-32-2). Decoded when it has at least
 * MIN_HEX_PAIRS values. Undefined, at the cost of a few characters and nothing allocated, where no
 * value followed by a separator starts: most numbers in text.
 */
function byteListAt(text: string, at: number): ByteList | undefined {
  const mark = text.charCodeAt(at - 1);
  const quote = mark === 34 || mark === 39 ? mark : 0;
  const start = quote !== 0 ? at - 1 : at;
  // The first value stands on its own: not the end of a word, a number, a version or a negative.
  const before = text.charCodeAt(start - 1);
  if (isWordCode(before) || before === 46 || before === 45) return undefined;
  let end = byteValueEnd(text, start, quote);
  let from = end < 0 ? -1 : byteSeparatorEnd(text, end);
  if (from < 0) return undefined;
  let isHex = lastByteValue.isHex;
  const values = [lastByteValue.value];
  const starts = [start];
  const ends = [end];
  let read = end;
  while (from >= 0) {
    read = from;
    end = byteValueEnd(text, from, quote);
    if (end < 0) break;
    isHex ||= lastByteValue.isHex;
    values.push(lastByteValue.value);
    starts.push(from);
    ends.push(end);
    read = end;
    from = byteSeparatorEnd(text, end);
  }
  return { isHex, values, starts, ends, read };
}

/** What a byte list decodes to where that is text, in windows of MAX_SEGMENT values. */
function* byteListWindows(list: ByteList, work: DecodeWork): Generator<DecodedSegment> {
  for (const [from, to] of windows(0, list.values.length, 1)) {
    const start = list.starts[from] ?? 0;
    const end = list.ends[to - 1] ?? 0;
    work.decoded += end - start;
    const decoded = textOf(new Uint8Array(list.values.slice(from, to)));
    if (decoded !== undefined) yield { start, end, encoding: list.isHex ? 'hex' : 'decimal', decoded };
  }
}

/**
 * Base64 and hex runs (wrapped or not), hex written as separated pairs, and lists of byte values
 * (each value is a short run: a list is looked for where a run starts with a digit, which costs
 * text without lists nothing more than the loop over runs it already has).
 */
function* base64AndHexSegments(text: string, work: DecodeWork): Generator<DecodedSegment> {
  const n = text.length;
  // No wrapped block is looked for before this offset: the lines of one already looked at are
  // never taken for the start of another, so each line is stepped over a bounded number of times.
  let blocksFrom = 0;
  // Likewise no byte list: none starts inside one already read, so each value is read once.
  let listsFrom = 0;
  let i = 0;
  while (i < n) {
    if (!isBase64Char(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    // A list of two-digit values separated by spaces is also separated hex pairs: both are tried.
    const list =
      start >= listsFrom && isDigitCode(text.charCodeAt(start)) ? byteListAt(text, start) : undefined;
    if (list) {
      work.visited += list.read - (list.starts[0] ?? start);
      // Separators and 0x or decimal may change between values: a list ends where no value can
      // follow, so none starts inside it.
      listsFrom = list.ends[list.ends.length - 1] ?? start;
      if (list.starts.length >= MIN_HEX_PAIRS) yield* byteListWindows(list, work);
    }
    // Separated hex pairs start a run: "de" before ":" or " ", or a base64url run "de-ad-…".
    const pairsEnd = separatedHexEnd(text, start);
    if (pairsEnd - start + 1 >= 3 * MIN_HEX_PAIRS) {
      work.visited += pairsEnd - start;
      yield* separatedHexSegments(text, start, pairsEnd, work);
      i = pairsEnd;
      continue;
    }
    const { dataEnd, end } = base64RunAt(text, start);
    i = end;
    work.visited += end - start;
    const next = text.charCodeAt(end);
    const isLineEnd = dataEnd === end && (next === 10 || next === 13 || next === 92);
    const block = start >= blocksFrom && isLineEnd ? blockAt(text, start, end, work) : undefined;
    if (block) blocksFrom = block.end;
    if (block && block.segments.length > 0) {
      yield* block.segments;
      i = block.end;
      continue;
    }
    if (block) yield* block.runs;
    if (end - start >= MIN_ENCODED) {
      // A run on its own, or the first line of what was no block after all (the loop reaches the others).
      yield* runOrWindows(text, start, end, work, true);
    }
  }
}

/**
 * What the run text[start, end) decodes to. A run longer than MAX_SEGMENT (a file delivered as a
 * blob) is decoded in overlapping windows, each on its own, so what it carries is scanned as any
 * other text's is and no secret falls between two windows.
 */
function runOrWindows(
  text: string,
  start: number,
  end: number,
  work: DecodeWork,
  isOnItsOwn = false,
): Iterable<DecodedSegment> {
  if (end - start <= MAX_SEGMENT) return runSegments(text, start, end, work, isOnItsOwn);
  return (function* () {
    for (const [from, to] of windows(start, end, 4)) yield* runSegments(text, from, to, work, isOnItsOwn);
  })();
}

const HEX_RUN = /^(?:0x)?[0-9A-Fa-f]+$/;

/**
 * What one run of base64 or hex characters, text[start, end), decodes to, when that is text. A run
 * on its own that decodes to binary gives the text runs inside it; the lines of a wrapped block do
 * not, as a block that decodes to no text is decoded again line by line.
 */
function* runSegments(
  text: string,
  start: number,
  end: number,
  work: DecodeWork,
  isOnItsOwn: boolean,
): Generator<DecodedSegment> {
  work.decoded += end - start;
  const run = text.slice(start, end);
  if (HEX_RUN.test(run)) {
    const digits = run.startsWith('0x') ? run.slice(2) : run;
    const bytes = hexDecode(digits);
    const decoded = textOf(bytes) ?? (isOnItsOwn ? textRunsOf(bytes) : undefined);
    if (decoded !== undefined) yield { start, end, encoding: 'hex', decoded };
    return;
  }
  const isUrlSafe = /[-_]/.test(run);
  // A run with both alphabets is a path or an identifier, not base64.
  if (isUrlSafe && /[+/]/.test(run)) return;
  const encoding = isUrlSafe ? 'base64url' : 'base64';
  const whole = decodeRun(run, isUrlSafe, isOnItsOwn);
  if (whole !== undefined) {
    yield { start, end, encoding, decoded: whole };
    return;
  }
  // Not base64 as a whole: maybe a path whose last segments are (`/u/<base64>`).
  if (isUrlSafe || !run.includes('/')) return;
  let from = start;
  for (const piece of run.split('/')) {
    const decoded = piece.length >= MIN_ENCODED ? decodeRun(piece, false, isOnItsOwn) : undefined;
    if (decoded !== undefined) yield { start: from, end: from + piece.length, encoding, decoded };
    from += piece.length + 1;
  }
}

/** The text a base64 run decodes to, or the text runs inside it when it decodes to binary. */
function decodeRun(run: string, isUrlSafe: boolean, isOnItsOwn: boolean): string | undefined {
  const bytes = base64Decode(run, isUrlSafe);
  return bytes && (textOf(bytes) ?? (isOnItsOwn ? textRunsOf(bytes) : undefined));
}

/**
 * The stretches of text that hold hidden characters (hidden-characters.ts: runs of characters other
 * than white space that hold one, with the line before them), read without them, in windows as a
 * long base64 run is. Each is looked for once from the start and stepped over once; text with no
 * hidden character costs one search.
 */
function* hiddenSegments(text: string, work: DecodeWork): Generator<DecodedSegment> {
  for (const run of hiddenStretches(text, work)) {
    // Read without its hidden characters, or, if it holds control sequences, without them whole
    // as a terminal shows it (detect-gap-2): `ESC [ 0 m` with its ESC alone removed leaves "[0m",
    // and "[" cuts any token. One may take a token's characters (U+009B before "9H" is a cursor
    // move, `ESC [` inside "ghp_…" takes the letter after it: detect-37-1): a stretch holding one
    // is also read with them kept, from the first run that holds one, as a fallback (scan.ts: the
    // generic rules do not read it, and what it finds gives way to one alike read as a terminal
    // shows the text).
    const { marks, sequenceMarks, fallbackFrom } = run;
    const readings: (readonly [readonly number[], number])[] = [[sequenceMarks ?? marks, run.start]];
    if (sequenceMarks && fallbackFrom >= 0) readings.push([marks, fallbackFrom]);
    for (const [reading, from] of readings)
      for (const [start, end] of windows(from, run.end, 1)) {
        work.decoded += end - start;
        const pieces = keptPieces(reading, start, end);
        const uncut = pieces && joinedPieces(text, pieces);
        if (uncut && uncut.decoded.length >= MIN_UNCUT)
          yield {
            start,
            end,
            encoding: 'hidden',
            ...uncut,
            isFallback: sequenceMarks !== undefined && reading === marks,
          };
      }
    // Each tag run alone, as the ASCII it spells, and the stretch as a model reads it.
    for (const tagRun of run.tagRuns)
      if (tagRun.codes.length >= MIN_UNCUT) yield* tagSegments(text, tagRun, work);
    if (run.tagRuns.length > 0) yield* spelledSegments(text, run, work);
  }
}

/**
 * The ASCII a run of tag characters spells (detect-gap-1), in windows as a long base64 run is;
 * what is found in it spans the tag characters that spell it (hiddenSegments reads no run shorter
 * than MIN_UNCUT: the tags of a flag emoji, `gbsct` for Scotland).
 */
function* tagSegments(text: string, run: TagRun, work: DecodeWork): Generator<DecodedSegment> {
  const { codes, starts } = run;
  for (const [from, to] of windows(0, codes.length, 1)) {
    const spelled: Piece[] = [];
    for (let k = from; k < to; k++) spelled.push(tagPiece(text, starts[k] ?? 0, codes[k] ?? 0));
    const start = spelled[0]?.[0] ?? 0;
    const end = spelled[spelled.length - 1]?.[1] ?? start;
    work.decoded += end - start;
    yield { start, end, encoding: 'unicode-tags', ...joinedPieces(text, spelled) };
  }
}

/**
 * A stretch that holds tag characters as a model reads it, in windows as a long base64 run is:
 * without its other hidden characters (and control sequences), its tag characters read as the ASCII
 * they mirror, visible and spelled text as one. A value spelled in tags is judged with the secret's
 * name written visibly before it (`password = `, `AWS_SECRET_ACCESS_KEY=`; the stretch holds the
 * line before its first run when a keyword stands there: detect-37-3), and a token written partly
 * in tags (`ghp_abc` and the rest spelled, or every other character) is read whole.
 */
function* spelledSegments(text: string, run: HiddenRun, work: DecodeWork): Generator<DecodedSegment> {
  const marks = run.sequenceMarks ?? run.marks;
  // A stretch of hidden characters alone: its tag runs are read alone (tagSegments), and no more.
  let hidden = 0;
  for (let k = 0; k < marks.length; k += 2) hidden += (marks[k + 1] ?? 0) - (marks[k] ?? 0);
  if (hidden >= run.end - run.start) return;
  for (const [start, end] of windows(run.start, run.end, 1)) {
    const pieces = spelledPieces(text, run, start, end);
    work.decoded += end - start;
    // A window of hidden characters alone is read so already (tagSegments), one without tag
    // characters as a terminal shows it (hiddenSegments).
    const isMixed = pieces.some((p) => p.length === 3) && pieces.some((p) => p.length === 2);
    const spelled = isMixed ? joinedPieces(text, pieces) : undefined;
    if (spelled && spelled.decoded.length >= MIN_UNCUT)
      yield { start, end, encoding: 'unicode-tags', ...spelled };
  }
}

/**
 * Every encoded segment of `text` whose decoding is text. `work`, when given, is added what finding
 * and decoding them cost.
 */
export function* decodedSegments(
  text: string,
  work: DecodeWork = { visited: 0, decoded: 0 },
): Generator<DecodedSegment> {
  yield* percentSegments(text, work);
  yield* jsonSegments(text, work);
  yield* referenceSegments(text, work);
  yield* base64AndHexSegments(text, work);
  yield* hiddenSegments(text, work);
}

/** The last text decodedLayers() decoded without counting, and its layers. */
let remembered: { readonly text: string; readonly layers: readonly DecodedSegment[] } | undefined;

/**
 * What `text` decodes to, MAX_DECODE_DEPTH encodings deep: each segment decodedSegments() finds in
 * it, and in what those decode to, with its decoding but the span and encoding of the outermost
 * segment in `text` (what a finding inside it covers; inside a run read without its hidden
 * characters, the inner segment's own span, mapped back). Decoded level by level, the levels below
 * the first within DEEP_DECODE_BUDGET. scan() and the known-value matcher both ask, one after the
 * other, about the same text (a request body, an argument): the last text's layers are kept, so it
 * is decoded once. `work`, when given, is added what it cost, and the text decoded afresh.
 */
export function decodedLayers(text: string, work?: DecodeWork): readonly DecodedSegment[] {
  if (work === undefined && remembered?.text === text) return remembered.layers;
  const counted = work ?? { visited: 0, decoded: 0 };
  let level = [...decodedSegments(text, counted)];
  const layers = [...level];
  const budget = DEEP_DECODE_BUDGET * text.length;
  const { visited, decoded } = counted;
  const isSpent = (): boolean => counted.visited - visited > budget || counted.decoded - decoded > budget;
  for (let depth = 1; depth < MAX_DECODE_DEPTH; depth++) {
    const next: DecodedSegment[] = [];
    for (const outer of level) {
      if (isSpent()) break;
      for (const segment of decodedSegments(outer.decoded, counted)) {
        const [start, end] = outer.spanOf?.(segment.start, segment.end) ?? [outer.start, outer.end];
        const isFallback = outer.isFallback === true || segment.isFallback === true;
        next.push({ start, end, encoding: outer.encoding, decoded: segment.decoded, isFallback });
      }
    }
    layers.push(...next);
    level = next;
  }
  if (work === undefined) remembered = { text, layers };
  return layers;
}
