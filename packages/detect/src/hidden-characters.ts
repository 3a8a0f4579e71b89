// Characters a reader does not see: zero-width spaces and joiners, bidi controls, the soft hyphen,
// tags, variation selectors, the grapheme joiner, Hangul fillers, and controls other than white
// space. A secret cut by one (`sk_live_4eC3<U+200B>9HqL…`) reads whole to a model and on a
// terminal, but no rule matches across it: decode.ts reads each run of text that holds one with
// them removed (with the line before it when a secret's name may stand there, with the whole key
// when it stands in a PEM private key: hiddenStretches()).
// The MCP gateway strips them itself and keeps those a script or an emoji needs
// (packages/mcp/src/poisoning.ts); here every one goes, as removing a joiner from an emoji or a
// Persian word makes no secret. The egress proxy reads bytes as Latin-1, one character a byte, so
// such a character also stands there as its UTF-8 bytes (U+200B as `â\x80\x8B`): read as the
// character they spell.
//
// A terminal control sequence (a colour code, a hyperlink) is hidden whole, not only its ESC
// (terminal-sequences.ts): a run holding one is read with every sequence removed whole, and, when
// one may have taken a token's characters for its own (detect-37-1: a CSI; detect-38-1: a colour
// code glued inside a word of a token's length; detect-38-2: an OSC of token characters), with
// those kept too.
//
// Tag characters (U+E0020–U+E007E) are more than hidden: each mirrors a printable ASCII character
// (U+E0041 is an invisible "A"), and a model reads them so. Text spelled in them is the "ASCII
// smuggling" of prompt injection and exfiltration (detect-gap-1): a run of them is also read as the
// ASCII it spells, and the stretch that holds it as a model reads it, visible and spelled text as
// one (decode.ts: spelledSegments(); detect-37-3), with the rest of its line when it spells a
// secret's name (detect-38-3: the value may be written visibly after a space; detect-39-4: or on
// the next line).
//
// Must stay linear whatever the text (redteam-30-1): candidates are looked for once, from the
// start, a run is stepped over once, and the line (or key) before it is read back no further than
// the stretch before it. Text without any costs one search, over printable ASCII
// a regex several times faster than a loop (and than a regex over the hidden characters' class).

import { KEYWORD_SOURCE } from './assignment-rules.js';
import { MARKER_REACH, MAX_PEM, PEM_BEGIN, PEM_END } from './pem.js';
import {
  type Beside,
  isColourCode,
  isIntroducer,
  isTokenCode,
  sequenceLength,
  takesTokenCharacters,
} from './terminal-sequences.js';

/**
 * The hidden characters: every format character (\p{Cf}: zero-width space, joiners, bidi controls,
 * the soft hyphen, the byte-order mark, tags, …), controls (\p{Cc}; white space among them, \t \n
 * \v \f \r, is told apart before any character is tested against the class), variation selectors,
 * the grapheme joiner, Hangul fillers (blank letters) and the unassigned tags. Selectors and the
 * joiner follow a property, not a character: after a character, lint would read them as one glyph.
 */
const HIDDEN_CLASS =
  /[\uFE00-\uFE0F\p{Cf}\u{E0100}-\u{E01EF}\p{Cc}\u034F\u115F\u1160\u3164\uFFA0\u{E0000}-\u{E007F}]/u;
/** Whether the character at lastIndex is hidden. */
const HIDDEN_AT = new RegExp(HIDDEN_CLASS.source, 'uy');

/** A character that is neither printable ASCII nor ASCII white space: where a candidate may be. */
const OUTSIDE_ASCII = /[^\t-\r\x20-\x7E]/g;
/**
 * How many printable ASCII characters in a row send the search back to the regex: a call of it per
 * character outside ASCII (a French word, a line of Chinese) would cost more than the loop.
 */
const ASCII_STRETCH = 16;

/** The code unit is a hidden character. */
const IS_HIDDEN = 1;
/**
 * The code unit may start one: a Latin-1 character that can be the first byte of a UTF-8 sequence
 * (C2-F4), or a high surrogate of which some pair is one (U+D804, U+D80D, U+D82F, U+D834: format
 * controls of historic scripts and music; U+DB40: tags and variation selectors).
 */
const MAY_START = 2;
/** A high surrogate not yet looked at: whether one of its 1,024 pairs is hidden is worked out once. */
const UNKNOWN = 4;

let unitTable: Uint8Array | undefined;

/**
 * Per UTF-16 code unit, IS_HIDDEN, MAY_START or UNKNOWN; built once, when text outside ASCII first
 * comes (2 ms). High surrogates are looked at one by one as they come: an emoji's are no candidates.
 */
function units(): Uint8Array {
  if (unitTable) return unitTable;
  const table = new Uint8Array(0x10000);
  // Every character of the BMP once (a surrogate stands in as a space: it is no character alone).
  const all = new Uint16Array(0x10000).map((_, c) => (c >= 0xd800 && c <= 0xdfff ? 0x20 : c));
  const everyUnit = new RegExp(HIDDEN_CLASS.source, 'gu');
  for (let from = 0; from < all.length; from += 8192) {
    const chunk = String.fromCharCode(...all.subarray(from, from + 8192));
    for (const m of chunk.matchAll(everyUnit)) table[from + m.index] = IS_HIDDEN;
  }
  for (let c = 0xc2; c <= 0xf4; c++) table[c] = (table[c] ?? 0) | MAY_START;
  table.fill(UNKNOWN, 0xd800, 0xdc00);
  unitTable = table;
  return table;
}

/** The flags of code unit `c` (c ≥ 0x80), a high surrogate's worked out the first time it comes. */
function flagsOf(c: number): number {
  const table = units();
  const flags = table[c] ?? 0;
  if (flags !== UNKNOWN) return flags;
  const pairs = new Uint16Array(2048).map((_, k) => (k % 2 === 0 ? c : 0xdc00 + (k >> 1)));
  const resolved = HIDDEN_CLASS.test(String.fromCharCode(...pairs)) ? MAY_START : 0;
  table[c] = resolved;
  return resolved;
}

/**
 * Where the first character from text[from] on that may be hidden stands (a candidate for
 * hiddenLength), or -1. Printable ASCII and white space are none.
 */
function nextHiddenCandidate(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    OUTSIDE_ASCII.lastIndex = i;
    if (!OUTSIDE_ASCII.test(text)) return -1;
    i = OUTSIDE_ASCII.lastIndex - 1;
    const table = units();
    for (let ascii = 0; i < text.length && ascii < ASCII_STRETCH; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x7f && (c >= 0x20 || (c >= 9 && c <= 13))) ascii++;
      else if (c < 0x80 || (table[c] !== 0 && flagsOf(c) !== 0)) return i;
      else ascii = 0;
    }
  }
  return -1;
}

/** The code point utf8Length() read last: one variable filled again, so reading allocates nothing. */
let lastCode = 0;

/**
 * The length of the UTF-8 sequence (RFC 3629 §4: shortest form, no surrogate) that the Latin-1
 * characters from text[at] spell, one byte each, or 0; its code point is left in lastCode.
 */
function utf8Length(text: string, at: number): number {
  const lead = text.charCodeAt(at);
  if (!(lead >= 0xc2 && lead <= 0xf4)) return 0;
  const tail = lead < 0xe0 ? 1 : lead < 0xf0 ? 2 : 3;
  let code = lead & (0x3f >> tail);
  for (let k = 1; k <= tail; k++) {
    const c = text.charCodeAt(at + k);
    if (!(c >= 0x80 && c <= 0xbf)) return 0;
    code = (code << 6) | (c & 0x3f);
  }
  const min = tail === 1 ? 0x80 : tail === 2 ? 0x800 : 0x10000;
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  lastCode = code;
  return tail + 1;
}

/**
 * What stands at text[at]: the length of a hidden character, written as itself or as UTF-8 read as
 * Latin-1; minus the length of a visible character written so (`Ã©` for é), to be stepped over
 * whole so that its bytes are not taken for controls (é's is \x89); 0 for any other character. A
 * byte-order mark at the text's start is none: it is how some editors start every file.
 */
export function hiddenLength(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c < 0x80) return (c < 0x20 && !(c >= 9 && c <= 13)) || c === 0x7f ? 1 : 0;
  const flags = flagsOf(c);
  if (flags === 0) return 0;
  const sequence = c <= 0xf4 ? utf8Length(text, at) : 0;
  if (sequence > 0) {
    const isHidden =
      lastCode < 0x10000
        ? ((units()[lastCode] ?? 0) & IS_HIDDEN) !== 0
        : HIDDEN_CLASS.test(String.fromCodePoint(lastCode));
    return isHidden && !(lastCode === 0xfeff && at === 0) ? sequence : -sequence;
  }
  if ((flags & IS_HIDDEN) !== 0) return c === 0xfeff && at === 0 ? 0 : 1;
  if (c < 0xd800 || c > 0xdbff) return 0;
  HIDDEN_AT.lastIndex = at;
  return HIDDEN_AT.test(text) ? 2 : 0;
}

/**
 * Whether text[start, end) holds a hidden character, or, with `isBesideToo`, one ends right before
 * it or starts right after it. Asked of every finding: the span alone is read, character by
 * character (a search for the next candidate reads on past it, to the text's end in text without
 * one: 4 MB of findings scanned 20 times slower). `work.visited` is added what was read.
 */
export function isCutByHidden(
  text: string,
  start: number,
  end: number,
  isBesideToo: boolean,
  work?: { visited: number },
): boolean {
  let at = start;
  for (; at < end; at++) {
    // One that starts inside and reaches past the end (a UTF-8 sequence read as Latin-1) counts.
    const length = hiddenLength(text, at);
    if (length > 0) break;
    // A visible character written in UTF-8 read as Latin-1 is stepped over whole.
    if (length < 0) at += -length - 1;
  }
  if (work) work.visited += at - start;
  if (at < end) return true;
  if (!isBesideToo) return false;
  if (end < text.length && hiddenLength(text, end) > 0) return true;
  // A surrogate pair, or UTF-8 read as Latin-1, is up to 4 units long.
  for (let k = 1; k <= 4 && k <= start; k++) if (hiddenLength(text, start - k) === k) return true;
  return false;
}

/**
 * White space, as JavaScript's \s reads it, but the byte-order mark: U+FEFF inside text is the
 * zero-width no-break space, a hidden character.
 */
export function isWhiteSpace(c: number): boolean {
  if (c < 0xa0) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/**
 * Text spelled in tag characters: the ASCII codes they mirror, and where each tag character starts
 * in the text (tagEnd() gives where it ends). Other hidden characters may stand between them.
 */
export interface TagRun {
  readonly codes: number[];
  readonly starts: number[];
}

/** A run of characters other than white space that holds hidden ones. */
export interface HiddenRun {
  readonly start: number;
  readonly end: number;
  /**
   * Where each hidden character starts and ends, in order: [start, end, start, end, …]. Of a
   * terminal control sequence, its introducer (an ESC with the "[" or "]" after it, and an OSC's
   * terminator) if it may have taken a token's characters (`fallbackFrom`), else the whole sequence.
   */
  readonly marks: readonly number[];
  /**
   * The same with each terminal control sequence whole (`ESC [ 0 m`, not its ESC alone;
   * terminal-sequences.ts): what a terminal shows is the rest. Undefined when the run holds none.
   */
  readonly sequenceMarks: readonly number[] | undefined;
  /**
   * Where the run is also read with `marks`, which keep what a sequence may have taken of a token,
   * as a receiver that strips introducers reads it; -1 when it holds no such sequence: one with an
   * 8-bit introducer (U+009B before "9H" is a cursor move), a CSI made after `ESC [` of
   * characters a token holds (detect-37-1), a colour code so made only inside a word of a token's
   * length (colourTakesToken(); detect-38-1), an OSC whose string is such characters (detect-38-2;
   * terminal-sequences.ts). From the first run that holds one, with the name before it if a
   * secret's keyword stands there: the rest of a line coloured or cursor-moved is not read twice.
   */
  readonly fallbackFrom: number;
  /** The text spelled in tag characters in it, in order (most runs: none). */
  readonly tagRuns: readonly TagRun[];
}

/**
 * The ASCII code the tag character at text[at] mirrors (U+E0020–U+E007E: 0x20–0x7E), written as a
 * surrogate pair or, read as Latin-1, as its UTF-8 bytes (`\xF3\xA0\x81\x81` for U+E0041); or -1.
 * `length` is the hidden character's there (hiddenLength()).
 */
function tagCodeAt(text: string, at: number, length: number): number {
  if (length === 2) {
    const low = text.charCodeAt(at + 1) - 0xdc00;
    return text.charCodeAt(at) === 0xdb40 && low >= 0x20 && low <= 0x7e ? low : -1;
  }
  if (length !== 4 || text.charCodeAt(at) !== 0xf3 || text.charCodeAt(at + 1) !== 0xa0) return -1;
  // U+E0020–U+E007E in UTF-8: F3 A0 80 A0–BF, F3 A0 81 80–BE.
  const code = ((text.charCodeAt(at + 2) & 0x3f) << 6) | (text.charCodeAt(at + 3) & 0x3f);
  return code >= 0x20 && code <= 0x7e ? code : -1;
}

/** Where the tag character starting at text[at] ends: a surrogate pair, or 4 bytes read as Latin-1. */
export const tagEnd = (text: string, at: number): number => at + (text.charCodeAt(at) === 0xdb40 ? 2 : 4);

/** A run as it is read, or a stretch of runs as it is gathered: fields its own to add runs to. */
interface Stretch extends HiddenRun {
  start: number;
  end: number;
  marks: number[];
  sequenceMarks: number[] | undefined;
  fallbackFrom: number;
  tagRuns: TagRun[];
  /**
   * Whether the run holds a "-" (a control sequence's may count): only such a run may hold a PEM
   * key's header or footer, so only it is read for one (keyEnd()).
   */
  hasDash: boolean;
}

/**
 * The run of characters other than white space around the hidden character at text[at], reaching
 * back no further than `from` (where the run before it ended), and the hidden characters in it. A
 * control sequence goes on over white space (a title, `ESC [ 2 SP q`), and so does the run.
 * `work.visited` is added what reading control sequences read.
 */
function hiddenRunAt(text: string, at: number, from: number, work: { visited: number }): Stretch {
  let start = at;
  // Whether the run holds a "-", as it is stepped over back to its start and on to its end.
  let hasDash = false;
  while (start > from) {
    const c = text.charCodeAt(start - 1);
    if (isWhiteSpace(c)) break;
    if (c === 0x2d) hasDash = true;
    start--;
  }
  const marks: number[] = [];
  let sequenceMarks: number[] | undefined;
  let mayTakeCharacters = false;
  // Where the last control sequence ends: the characters before it are inside it; and whether
  // `marks` keep its characters after the introducer (it may have taken a token's).
  let sequenceEnd = 0;
  let isBodyKept = false;
  // Where in `marks` each colour code that may take a token's "m" stands (detect-38-1).
  let colourMarks: number[] | undefined;
  // Where the sequence starts that colour codes glued before it wait on, and where those start in
  // `colourMarks`: they are read with it as one code, kept only if it may take characters too
  // (detect-40-2). -1: none waits.
  let gluedAt = -1;
  let gluedFrom = 0;
  let tagRuns: TagRun[] | undefined;
  // The tag run being read: it goes on over other hidden characters, and ends at a visible one.
  let tagRun: TagRun | undefined;
  let end = at;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c > 0x20 && c < 0x7f) {
      tagRun = undefined;
      if (c === 0x2d) hasDash = true;
      end++;
      continue;
    }
    if (isWhiteSpace(c)) {
      if (end >= sequenceEnd) break;
      end++;
      continue;
    }
    const length = hiddenLength(text, end);
    if (length > 0) {
      if (end >= sequenceEnd) {
        // Only an ESC, U+009B, U+009D or (in Latin-1) the first byte of the last two starts one.
        const whole =
          c === 0x1b || c === 0x9b || c === 0x9d || c === 0xc2 ? sequenceLength(text, end, work) : 0;
        let mark = length;
        const isGlued = end === gluedAt;
        // Whether the sequence may take a token's characters, and waits on the one glued after it.
        let isTaken = false;
        let isWaiting = false;
        if (whole > 0) {
          // The visible characters beside it (a space, a tab, a token's), as a receiver that
          // strips controls and format characters reads them: before it, past the hidden ones
          // right before it (detect-39-3), and after the last sequence a terminal hides (or its
          // introducer, if its body is kept), none after a sequence or a character that is not
          // visible; after it, past those right after it. And the one past each, found the same
          // way: a zero-width space between a "-" and the token's letter before or after it hides
          // nothing either (detect-40-1).
          const textTo = textBefore(marks, end, sequenceEnd);
          const before = textTo > 0 ? text.charCodeAt(textTo - 1) : 0;
          const isAfterVisible = before === 0x09 || (before >= 0x20 && before < 0x7f);
          const textFrom = isBodyKept || isGlued ? 0 : sequenceEnd;
          const thatTo = textBefore(marks, textTo - 1, sequenceEnd);
          BESIDE.before = isAfterVisible && textTo > textFrom ? textTo - 1 : -1;
          BESIDE.beforeThat = thatTo > textFrom ? thatTo - 1 : -1;
          sequenceMarks ??= marks.slice();
          sequenceEnd = end + whole;
          BESIDE.after = textAfter(text, sequenceEnd);
          BESIDE.afterThat = textAfter(text, BESIDE.after + 1);
          BESIDE.isGlued = isGlued;
          // The hidden characters stepped over either side.
          work.visited += end - thatTo - 1 + BESIDE.afterThat - 1 - sequenceEnd;
          isBodyKept = c !== 0x1b || takesTokenCharacters(text, end, whole, BESIDE);
          isTaken = isBodyKept;
          const isCsi = c === 0x1b && text.charCodeAt(end + 1) === 0x5b;
          if (isBodyKept && (isColourCode(text, end, whole) || (isGlued && isCsi))) {
            // Kept only if the run holds a token's length so read (colourTakesToken()), as is a
            // CSI glued after one; one glued before another sequence waits on it.
            (colourMarks ??= []).push(marks.length);
            isBodyKept = false;
            isWaiting = isIntroducer(text, BESIDE.after);
            if (isWaiting && !isGlued) gluedFrom = colourMarks.length - 1;
          }
          mayTakeCharacters ||= isBodyKept;
          mark = !isBodyKept ? whole : c === 0x1b ? 2 : length;
        }
        if (isGlued && !isTaken && colourMarks) colourMarks.length = gluedFrom;
        if (isWaiting || isGlued) gluedAt = isWaiting ? BESIDE.after : -1;
        sequenceMarks?.push(end, end + Math.max(whole, length));
        marks.push(end, end + mark);
      } else if (isBodyKept) {
        // Inside a sequence kept (an OSC's string: detect-38-2), its controls are hidden, and ST
        // written `ESC \` is an introducer a stripper removes whole.
        const isStringEnd = c === 0x1b && text.charCodeAt(end + 1) === 0x5c;
        marks.push(end, end + (isStringEnd ? 2 : length));
      }
      const code = tagCodeAt(text, end, length);
      if (code >= 0) {
        if (!tagRun) (tagRuns ??= []).push((tagRun = { codes: [], starts: [] }));
        tagRun.codes.push(code);
        tagRun.starts.push(end);
      }
    } else tagRun = undefined;
    end += length === 0 ? 1 : Math.abs(length);
  }
  if (colourMarks?.length === 0) colourMarks = undefined;
  if (colourMarks) work.visited += end - start;
  if (colourMarks && colourTakesToken(text, marks, colourMarks, start, end)) {
    for (const k of colourMarks) marks[k + 1] = (marks[k] ?? 0) + 2;
    mayTakeCharacters = true;
  }
  // One literal of one shape: a spread to add the sequences cost more than reading the run.
  const fallbackFrom = mayTakeCharacters ? start : -1;
  return { start, end, marks, sequenceMarks, fallbackFrom, tagRuns: tagRuns ?? [], hasDash };
}

/** Where the visible characters beside the sequence being read stand: one record filled again. */
const BESIDE: Beside = { before: -1, beforeThat: -1, after: 0, afterThat: 0, isGlued: false };

/**
 * Where the text before `at` ends, before the hidden characters right before it (the last of
 * `marks`, in order) but not before `floor` (where the last control sequence ends): what a receiver
 * that strips controls and format characters read last.
 */
function textBefore(marks: readonly number[], at: number, floor: number): number {
  let to = at;
  for (let k = marks.length - 2; k >= 0 && marks[k + 1] === to && (marks[k] ?? 0) >= floor; k -= 2)
    to = marks[k] ?? 0;
  return to;
}

/**
 * Where the text after text[at] starts, past the hidden characters there but not past a control
 * sequence: what a receiver that strips controls and format characters reads next.
 */
function textAfter(text: string, at: number): number {
  let i = at;
  for (
    let length = hiddenLength(text, i);
    length > 0 && !isIntroducer(text, i);
    length = hiddenLength(text, i)
  )
    i += length;
  return i;
}

/**
 * The fewest characters of a token in which a colour code may take an "m": every token format
 * with lower-case letters is longer (a GitLab token, the shortest, is 26), and is made of
 * characters a token holds.
 */
const TOKEN_WITH_M = 20;

/**
 * Whether text[start, end), read as a receiver that strips introducers reads it (`marks` removed,
 * the colour codes at `colourMarks` with their bodies kept), holds TOKEN_WITH_M characters a token
 * holds in a row with one of those codes among them: only then may a colour code glued inside a
 * word have taken a token's "m" (detect-38-1). Honest output colours parts of words too (grep's and
 * ripgrep's matches, a word diff), and such a run is read twice only when the word is that long.
 * Read once, only for a run holding such a code.
 */
function colourTakesToken(
  text: string,
  marks: readonly number[],
  colourMarks: readonly number[],
  start: number,
  end: number,
): boolean {
  // The token characters in a row so far, and whether a colour code stands among them.
  let inRow = 0;
  let isColoured = false;
  let k = 0;
  let colour = 0;
  for (let i = start; i < end; i++) {
    if (k < marks.length && i === marks[k]) {
      // A colour code's introducer is removed and its body read; any other mark is removed whole.
      const isColour = colourMarks[colour] === k;
      if (isColour) colour++;
      isColoured ||= isColour;
      i = (isColour ? i + 2 : (marks[k + 1] ?? i + 1)) - 1;
      k += 2;
      continue;
    }
    if (!isTokenCode(text.charCodeAt(i))) {
      inRow = 0;
      isColoured = false;
    } else if (++inRow >= TOKEN_WITH_M && isColoured) return true;
  }
  return false;
}

/**
 * How far before its first hidden character a stretch may be read, on its line: past the name of a
 * secret and the operator after it (a name is read up to 80 characters either side of its keyword,
 * assignment-rules.ts), so that a value cut by one is read with its name (detect-gap-3: in
 * `api_key = "ab<U+200B>cd…"` the run is the quoted value alone). Read so only when a secret's
 * keyword stands there: every rule the line could add a finding to is gated by one, and a log
 * coloured line by line is not read twice.
 */
const LINE_CONTEXT = 256;
/**
 * Runs this close on one line are one stretch: a name cut by a hidden character, the operator and
 * the value (`api<U+200B>_key = "ab<U+200B>cd…"`; the operator may have 8 blanks either side).
 */
const NEAR_RUNS = 24;

/** The secrets' keywords (assignment-rules.ts), looked for in the line before a run. */
const KEYWORD = new RegExp(KEYWORD_SOURCE, 'i');

const isLineBreak = (c: number): boolean => c === 10 || c === 13;

/**
 * The pieces of `text` joined: what a stretch reads there without its hidden characters (a tag
 * character as the ASCII it mirrors), a spaced token without its spaces (spaced-tokens.ts).
 */
export const joinedText = (text: string, pieces: readonly Piece[]): string =>
  pieces
    .map((piece) => (piece.length === 3 ? String.fromCharCode(piece[2]) : text.slice(piece[0], piece[1])))
    .join('');

/** `from` appended to `to`, one by one: a spread of a long array would overflow the stack. */
function append(to: number[], from: readonly number[]): void {
  for (const mark of from) to.push(mark);
}

/**
 * `stretch` grown to the end of `run`, a later run on its line or in its key: the characters
 * between are visible. `work.visited` is added what was read of the line for a name.
 */
function addRun(text: string, stretch: Stretch, run: Stretch, work: { visited: number }): void {
  if (run.sequenceMarks && !stretch.sequenceMarks) stretch.sequenceMarks = [...stretch.marks];
  if (stretch.sequenceMarks) append(stretch.sequenceMarks, run.sequenceMarks ?? run.marks);
  append(stretch.marks, run.marks);
  if (stretch.fallbackFrom < 0 && run.fallbackFrom >= 0) {
    const nameFrom = Math.max(stretch.start, run.fallbackFrom - LINE_CONTEXT);
    const isNamed = KEYWORD.test(text.slice(nameFrom, run.fallbackFrom));
    work.visited += run.fallbackFrom - nameFrom;
    stretch.fallbackFrom = isNamed ? nameFrom : run.fallbackFrom;
  }
  for (const tagRun of run.tagRuns) stretch.tagRuns.push(tagRun);
  stretch.end = Math.max(stretch.end, run.end);
}

/**
 * Where `marker` first starts in text[from, to), or -1, asked of ranges in order (each `from` and
 * `to` at or past the last's): what was searched is not searched again. `work.visited` is added
 * what was searched.
 */
function markerFinder(
  text: string,
  marker: string,
  work: { visited: number },
): (from: number, to: number) => number {
  // Every start of the marker before `known` is known: `found` is the first at or after the last
  // `from`, or -1 when there is none before `known`.
  let known = 0;
  let found = -1;
  return (from, to) => {
    if (found >= from) return found < to ? found : -1;
    const at = Math.max(from, known);
    if (at >= to) return -1;
    const hit = text.slice(at, Math.min(text.length, to + marker.length - 1)).indexOf(marker);
    found = hit < 0 ? -1 : at + hit;
    known = hit < 0 ? to : found + 1;
    work.visited += (hit < 0 ? to : found) - at;
    return found;
  };
}

/**
 * A character of a key's lines: base64 (of the characters a token holds), and the backslash of a
 * JSON string's `\n` escapes.
 */
const isKeyLineCode = (c: number): boolean => c === 0x5c || isTokenCode(c);

/** What a run may be of a PEM private key (keyShape()). */
const enum KeyShape {
  None,
  /** A line of its body: base64, the `\n` escapes of a JSON string. */
  Line,
  /** A marker: it holds a "-". */
  Marker,
  /** A marker that holds a key's header. */
  Header,
}

/** How many "-" start PEM_BEGIN: after more in a row, the last of them may still start it. */
const DASHES = 5;

/**
 * What text[start, end), read without the hidden characters `marks`, may be of a PEM private key.
 * Asked only of a run after a key's header as written (it must be a line of the key, or a marker,
 * to be in it) or holding a "-" (it may hold a header that hidden characters cut, looked for as it
 * is read): prose cut by hidden characters, or a log coloured word by word, is read in place.
 * `work.visited` is added what was read.
 */
function keyShape(
  text: string,
  marks: readonly number[],
  start: number,
  end: number,
  work: { visited: number },
): KeyShape {
  let shape = KeyShape.Line;
  // How many characters of PEM_BEGIN the characters read so far end with.
  let matched = 0;
  let k = 0;
  let i = start;
  for (; i < end && matched < PEM_BEGIN.length; i++) {
    while (k < marks.length && (marks[k + 1] ?? 0) <= i) k += 2;
    if (k < marks.length && (marks[k] ?? 0) <= i) {
      i = (marks[k + 1] ?? 0) - 1;
      continue;
    }
    const c = text.charCodeAt(i);
    if (c === PEM_BEGIN.charCodeAt(matched)) matched++;
    else matched = c !== 0x2d ? 0 : matched === DASHES ? DASHES : 1;
    if (c === 0x2d) shape = KeyShape.Marker;
    else if (shape === KeyShape.Line && !isKeyLineCode(c)) shape = KeyShape.None;
  }
  work.visited += Math.min(i, end) - start;
  return matched === PEM_BEGIN.length ? KeyShape.Header : shape;
}

/**
 * The stretches of `text` that hold hidden characters, in order: each run of characters other than
 * white space that holds one (hiddenRunAt()), with the runs after it on its line no more than
 * NEAR_RUNS characters apart, and read from up to LINE_CONTEXT characters before the first on its
 * line. A stretch inside a PEM private key is the whole key (detect-37-2: the private-key rule
 * reads a key over its lines, and a run is one line's): from its header, as written up to MAX_PEM
 * before or cut itself, to its footer as written (or MAX_PEM on, where a hidden character cuts
 * that). No character is in two stretches: runs are looked for once from the start, and a stretch
 * reaches back no further than the one before it. `work.visited` is added what was read.
 */
export function* hiddenStretches(text: string, work: { visited: number }): Generator<HiddenRun> {
  // Where the last run ended: the next one starts no earlier, so no character is in two runs.
  let runsFrom = 0;
  let from = 0;
  let stretch: Stretch | undefined;
  const begins = markerFinder(text, PEM_BEGIN, work);
  const ends = markerFinder(text, PEM_END, work);
  // The last key header as written found so far: headers are walked over once, in order.
  let lastBegin = -1;
  /**
   * Where the key whose block holds `run` ends (past the run's end), or -1 when it is in none: its
   * header stands as written at or after `floor`, or in the run read without its hidden characters.
   * The run is grown back to the header.
   */
  const keyEnd = (run: Stretch, floor: number): number => {
    // A header as written stands before the run, or in it only if it holds a "-" (a run starts
    // after white space, which a header holds none of): the text between runs is searched once,
    // and a run only if it holds one.
    const next = (at: number): number => begins(at, run.hasDash ? run.end : run.start);
    for (let at = next(Math.max(lastBegin + 1, floor)); at >= 0; at = next(at + 1)) lastBegin = at;
    const isAfterHeader = lastBegin >= floor;
    // Else only a run that holds a "-" may hold a header cut: the others (most runs of a coloured
    // log) are not read again for their shape.
    if (!isAfterHeader && !run.hasDash) return -1;
    const shape = keyShape(text, run.sequenceMarks ?? run.marks, run.start, run.end, work);
    if (shape === KeyShape.None) return -1;
    const keyStart = isAfterHeader ? lastBegin : shape === KeyShape.Header ? run.start : -1;
    if (keyStart < 0) return -1;
    const footer = ends(keyStart, keyStart + MAX_PEM);
    // A footer before the run ended the key.
    if (footer >= 0 && footer + MARKER_REACH <= run.start) return -1;
    work.visited += Math.max(0, run.start - keyStart);
    run.start = Math.min(run.start, keyStart);
    const end = footer >= 0 ? footer + MARKER_REACH : keyStart + MAX_PEM;
    return Math.max(run.end, Math.min(text.length, end));
  };
  // Where the line after a run that spells a secret's name was read to: no character twice.
  let namedTo = 0;
  /**
   * Where the line of `run` ends, up to LINE_CONTEXT characters past it, when the run spells a
   * secret's keyword in tag characters at its end, or -1: the name a model reads may be assigned
   * a value written visibly after white space (detect-38-3: `<tags "pwd:"> Zq8#…`), which is a run
   * of its own and no hidden one, or on the next line when only white space follows the name on
   * its own (detect-39-4), which is then read to its end too.
   */
  const spelledNameEnd = (run: Stretch): number => {
    if (run.tagRuns.length === 0 || !KEYWORD.test(spelledTail(text, run, work))) return -1;
    const limit = Math.min(text.length, run.end + LINE_CONTEXT);
    const from = Math.max(run.end, namedTo);
    let end = from;
    // Whether only white space stands after the name on its line, so far.
    let isNameAlone = true;
    for (; end < limit; end++) {
      const c = text.charCodeAt(end);
      if (isLineBreak(c)) {
        if (!isNameAlone) break;
        isNameAlone = false;
        if (c === 13 && text.charCodeAt(end + 1) === 10) end++;
      } else if (!isWhiteSpace(c)) isNameAlone = false;
    }
    work.visited += end - from;
    namedTo = end;
    return end;
  };
  for (let at = nextHiddenCandidate(text, from); at >= 0; at = nextHiddenCandidate(text, from)) {
    const length = hiddenLength(text, at);
    if (length <= 0) {
      // A candidate that is no hidden character: a letter, or a visible one written in UTF-8.
      from = at + Math.max(1, -length);
      work.visited += from - at;
      continue;
    }
    const run = hiddenRunAt(text, at, runsFrom, work);
    work.visited += run.end - run.start;
    runsFrom = from = run.end;
    // The runs in the line it then reads are added to its stretch (their start is before its end).
    const namedEnd = spelledNameEnd(run);
    // Inside the key the stretch reads, one stretch; on its line and near (the characters between
    // read once), one stretch, which may be in a key.
    if (stretch && run.start < stretch.end) {
      addRun(text, stretch, run, work);
      stretch.end = Math.max(stretch.end, namedEnd);
      continue;
    }
    let gap = stretch ? stretch.end : run.start;
    if (stretch && run.start - gap <= NEAR_RUNS)
      while (gap < run.start && !isLineBreak(text.charCodeAt(gap))) gap++;
    if (stretch) work.visited += Math.min(gap, run.start) - stretch.end;
    if (stretch && gap === run.start) {
      const end = keyEnd(run, stretch.start);
      addRun(text, stretch, run, work);
      stretch.end = Math.max(stretch.end, end, namedEnd);
      continue;
    }
    if (stretch) yield stretch;
    run.end = Math.max(run.end, keyEnd(run, Math.max(stretch?.end ?? 0, run.start - MAX_PEM)), namedEnd);
    // Back over its line, to no further than the stretch before it ended, if a keyword is there.
    const limit = Math.max(stretch?.end ?? 0, run.start - LINE_CONTEXT);
    let lineStart = run.start;
    while (lineStart > limit && !isLineBreak(text.charCodeAt(lineStart - 1))) lineStart--;
    work.visited += run.start - lineStart;
    if (lineStart < run.start && KEYWORD.test(text.slice(lineStart, run.start))) run.start = lineStart;
    if (run.fallbackFrom >= 0) run.fallbackFrom = run.start;
    stretch = run;
  }
  if (stretch) yield stretch;
}

/**
 * How much of a run's end spelledTail() reads: a name of 80 characters and its operator, spelled in
 * tag characters written in UTF-8 read as Latin-1 (4 characters each).
 */
const NAME_REACH = 4 * 96;

/**
 * The end of `run` (up to NAME_REACH characters) as a model reads it (spelledPieces()).
 * `work.visited` is added what was read.
 */
function spelledTail(text: string, run: HiddenRun, work: { visited: number }): string {
  const from = Math.max(run.start, run.end - NAME_REACH);
  work.visited += run.end - from;
  return joinedText(text, spelledPieces(text, run, from, run.end));
}

/**
 * The pieces of text[from, to) between the `marks` of a run (its hidden characters, or those and its
 * control sequences), in order, none empty, or undefined when it holds none (decode.ts joins them).
 * A mark the bounds cut (a surrogate pair, a UTF-8 sequence) is left out as far as it is inside them.
 */
export function keptPieces(
  marks: readonly number[],
  from: number,
  to: number,
): [number, number][] | undefined {
  // The first mark that ends after `from`.
  const lo = firstPast(marks.length >> 1, (k) => (marks[2 * k + 1] ?? 0) > from);
  if (lo === marks.length >> 1 || (marks[2 * lo] ?? 0) >= to) return undefined;
  const pieces: [number, number][] = [];
  let at = from;
  for (let k = lo; k < marks.length >> 1 && at < to; k++) {
    const markStart = Math.min(Math.max(marks[2 * k] ?? 0, from), to);
    if (markStart > at) pieces.push([at, markStart]);
    at = Math.max(at, Math.min(marks[2 * k + 1] ?? 0, to));
  }
  if (at < to) pieces.push([at, to]);
  return pieces;
}

/**
 * A piece of the text read as it is, text[start, end); or, with a third element, the one character
 * that text[start, end) spells (a tag character: the ASCII code it mirrors).
 */
export type Piece = readonly [number, number] | readonly [number, number, number];

/** The tag character at text[at], which mirrors the ASCII `code`, as a piece. */
export const tagPiece = (text: string, at: number, code: number): Piece => [at, tagEnd(text, at), code];

/**
 * text[from, to) of `run` as a model reads it, in pieces, in order (decode.ts joins them): its text
 * without its hidden characters and with its control sequences removed whole, as a terminal shows
 * it, and each of its tag characters there, in its place, as the ASCII it mirrors. A sequence
 * between tags is left out body and all (`<tags "tok"><ESC>[0m<tags "en:">` reads `token:`).
 */
export function spelledPieces(text: string, run: HiddenRun, from: number, to: number): Piece[] {
  const { tagRuns } = run;
  const pieces: Piece[] = [];
  // The first tag character at or after `from`: the tag runs are in order, and theirs in each.
  let r = firstPast(tagRuns.length, (i) => {
    const starts = tagRuns[i]?.starts ?? [];
    return (starts[starts.length - 1] ?? 0) >= from;
  });
  let k = firstPast(tagRuns[r]?.starts.length ?? 0, (i) => (tagRuns[r]?.starts[i] ?? 0) >= from);
  /** The tag characters before `at` that are not yet added, added. */
  const tagsBefore = (at: number): void => {
    for (let tagRun = tagRuns[r]; tagRun; tagRun = tagRuns[r]) {
      const { codes, starts } = tagRun;
      for (; k < starts.length && (starts[k] ?? 0) < at; k++)
        pieces.push(tagPiece(text, starts[k] ?? 0, codes[k] ?? 0));
      if (k < starts.length) return;
      r++;
      k = 0;
    }
  };
  for (const piece of keptPieces(run.sequenceMarks ?? run.marks, from, to) ?? [[from, to] as const]) {
    tagsBefore(piece[0]);
    pieces.push(piece);
  }
  tagsBefore(to);
  return pieces;
}

/** The first of the indices 0 to `count` at which `isPast` holds (`count` if none), given it holds from there on. */
function firstPast(count: number, isPast: (i: number) => boolean): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (isPast(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
