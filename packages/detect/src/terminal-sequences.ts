// ANSI/VT control sequences a terminal consumes whole and never shows (ECMA-48 §5.4 and §8.3.89,
// xterm's ctlseqs): CSI, `ESC [` or the 8-bit U+009B, then parameter bytes 0x30–0x3F, intermediate
// bytes 0x20–0x2F and one final byte 0x40–0x7E (`ESC [ 1 ; 31 m`); OSC, `ESC ]` or U+009D, then a
// string ended by BEL, ST (`ESC \`) or the 8-bit ST U+009C (`ESC ] 8 ; ; https://… ESC \`, a
// hyperlink). A colour code inside a token (`ghp_abc<ESC>[0mdef…`) hides nothing from the eye, but
// removing only its ESC, as hidden-characters.ts does with any control, left `[0m` inside the token
// (detect-gap-2). The egress proxy reads bytes as Latin-1: the 8-bit forms written in UTF-8
// (`\xC2\x9B`) count too.
//
// Read without a regex, and bounded: a sequence longer than its cap is none (only its introducer is
// hidden then, as before), and reading one stops at the first character that cannot continue it.
// A CSI's characters are printable ASCII, an OSC's anything but a control, and every introducer
// starts with a control: so no character is read by two sequences, and the text once at most.

/** The longest CSI read, introducer included: parameters are a few numbers (xterm keeps 30). */
const MAX_CSI = 64;
/**
 * The longest OSC read: an OSC 8 hyperlink carries a URL, which terminals hold to about 2,000
 * characters (VTE: 2,083).
 */
const MAX_OSC = 4096;

const ESC = 0x1b;
const CSI = 0x9b;
const OSC = 0x9d;
const ST = 0x9c;
const BEL = 0x07;

/** Whether a CSI or OSC introducer starts at text[at]: `ESC [`, `ESC ]`, or the 8-bit forms. */
export function isIntroducer(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  const next = text.charCodeAt(at + 1);
  if (c === ESC) return next === 0x5b || next === 0x5d;
  // The 8-bit forms, and those in UTF-8 read as Latin-1.
  return c === CSI || c === OSC || (c === 0xc2 && (next === CSI || next === OSC));
}

/** What the introducer at text[at] is, and where its body starts: [CSI or OSC, body], or undefined. */
function introducerAt(text: string, at: number): readonly [number, number] | undefined {
  if (!isIntroducer(text, at)) return undefined;
  const c = text.charCodeAt(at);
  const next = text.charCodeAt(at + 1);
  if (c === ESC) return [next === 0x5b ? CSI : OSC, at + 2];
  return c === 0xc2 ? [next, at + 2] : [c, at + 1];
}

/** Where csiEnd() or oscEnd() last stopped reading: one variable filled again, nothing allocated. */
let stoppedAt = 0;

/** Where the CSI whose body starts at text[from] ends, or -1. */
function csiEnd(text: string, at: number, from: number): number {
  const limit = Math.min(text.length, at + MAX_CSI);
  let i = from;
  while (i < limit && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x3f) i++;
  while (i < limit && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i++;
  stoppedAt = i + 1;
  const final = text.charCodeAt(i);
  return i < limit && final >= 0x40 && final <= 0x7e ? i + 1 : -1;
}

/** Where the OSC whose body starts at text[from] ends, its terminator included, or -1. */
function oscEnd(text: string, at: number, from: number): number {
  const limit = Math.min(text.length, at + MAX_OSC);
  let end = -1;
  let i = from;
  for (; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === BEL || c === ST) end = i + 1;
    else if (c === ESC) end = text.charCodeAt(i + 1) === 0x5c ? i + 2 : -1;
    else if (c === 0xc2 && text.charCodeAt(i + 1) === ST) end = i + 2;
    else if (c >= 0x20 && c !== 0x7f) continue;
    break;
  }
  stoppedAt = i + 1;
  return end;
}

/**
 * The length of the whole CSI or OSC sequence starting at text[at], or 0 when none starts there
 * (no introducer, an unterminated or over-long one). `work.visited` is added the characters read.
 */
export function sequenceLength(text: string, at: number, work: { visited: number }): number {
  const introducer = introducerAt(text, at);
  if (!introducer) return 0;
  const [kind, from] = introducer;
  const end = kind === CSI ? csiEnd(text, at, from) : oscEnd(text, at, from);
  work.visited += Math.min(stoppedAt, text.length) - at;
  return end < 0 ? 0 : end - at;
}

/**
 * A letter, a digit or "_": what stands on both sides of a token's "m" in most token formats; a
 * token or value after one is glued to a word (scan.ts, spaced-tokens.ts, decode.ts).
 */
export const isWordCode = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || c === 0x5f;

/** A character a token holds: a letter, a digit, or one of base64's, base64url's and JWTs' `+/=-_.~`. */
export const isTokenCode = (c: number): boolean =>
  isWordCode(c) || c === 0x2b || c === 0x2f || c === 0x3d || c === 0x2d || c === 0x2e || c === 0x7e;

/**
 * Where the visible characters beside a sequence stand, as a receiver that strips controls and
 * format characters reads the text (hidden-characters.ts finds them past those): the one right
 * before it and the one before that, the one right after it and the one after that; -1 where none
 * stands (at a line's start, or inside a sequence a terminal hides whole). And whether colour codes
 * glued right before it wait on it, to be read with it as one code (detect-40-2).
 */
export interface Beside {
  before: number;
  beforeThat: number;
  after: number;
  afterThat: number;
  isGlued: boolean;
}

/**
 * Whether the 7-bit sequence of `length` characters at text[at] may have taken characters of a
 * token for its own: a terminal shows the token without them, a receiver that strips the
 * introducers (`ESC [`, `ESC ]`, `ESC \`) and controls has it whole. Asked only of one after
 * visible text on its line (none at a line's start, or right after another sequence: cursor moves
 * and erasures start every line of a progress display); `beside` says where that text stands, past
 * the hidden characters between (detect-39-3: a zero-width space between a token's characters and
 * the code hides nothing from either reader).
 * - A CSI made, after `ESC [`, of characters a token holds (detect-37-1): put before a token's
 *   letter (`ghp_a<ESC>[bc…`, `key = <ESC>[wJ…`) it takes the letter as its final byte, and before
 *   "9Hq" the "9H". Not one of several parameters (`ESC [ 1 ; 31 m`) or a private mode
 *   (`ESC [ ? 25 l`), which take nothing a token holds.
 * - A colour code (SGR, final byte "m") so made only where it may stand inside a token
 *   (detect-38-1): inside a word on both sides (isInWord(): `ghp_ab<ESC>[mcd…` or
 *   `ghp_ab<ESC>[31mcd…` shows `ghp_abcd…`, the token without "m" or "31m"), or, without
 *   parameters, before one (`key = <ESC>[mQx…`: a value that starts with "m"); hidden-characters.ts
 *   keeps it only inside a word of a token's length. Honest output colours words: a code stands
 *   after a space, a dot, a slash or another code, or at a line's start, and a reset before one
 *   (reading every coloured run twice cost a third of a coloured log's speed); inside a word only
 *   where grep, ripgrep or a word diff mark part of it.
 * - Colour codes glued one to the next (past hidden characters only), read as one code
 *   (detect-40-2): `ab<ESC>[m<ESC>[mcd…` shows `abcd…`, and a stripper reads `abmmcd…`. A code
 *   before another sequence is asked of the word before it alone (`beside.isGlued` of the next is
 *   set, and hidden-characters.ts keeps it only if that one takes characters too); a CSI so glued
 *   after one is asked as a colour code is, of the word after it (`<ESC>[m<ESC>[Kcd…` takes "mK").
 *   Honest output glues a reset before a code (ripgrep's `<ESC>[0m<ESC>[1m<ESC>[31m` inside a word,
 *   chalk's `<ESC>[39m<ESC>[33m`), which is none of these; grep's `<ESC>[m<ESC>[K` ends a file
 *   name before a ":", and follows its "-" separator (no word before it); inside a word it is read
 *   as one code, and twice where the word is a token's length.
 * - An OSC whose string is characters a token holds, and not empty (detect-38-2):
 *   `ghp_ab<ESC>]cd<BEL>ef…` shows `ghp_abef…` (a terminal ignores an OSC it does not know), and
 *   `ghp_ab<ESC>]cdef…<BEL>` only `ghp_ab`. An honest one names what it sets before a ";" (`0;` a
 *   title, `8;;` a hyperlink, `133;A` a prompt mark), which no token holds.
 */
export function takesTokenCharacters(text: string, at: number, length: number, beside: Beside): boolean {
  if (beside.before < 0 || text.charCodeAt(at) !== ESC) return false;
  const kind = text.charCodeAt(at + 1);
  if (kind === 0x5d) {
    // The terminator: BEL or U+009C, one character; ESC \ or U+009C in UTF-8 read as Latin-1, two.
    const last = text.charCodeAt(at + length - 1);
    const body =
      length - (last === BEL || (last === ST && text.charCodeAt(at + length - 2) !== 0xc2) ? 3 : 4);
    return body > 0 && isTokenRun(text, at + 2, at + 2 + body);
  }
  if (kind !== 0x5b || !isTokenRun(text, at + 2, at + length)) return false;
  const isColour = text.charCodeAt(at + length - 1) === 0x6d;
  if (!isColour && !beside.isGlued) return true;
  // Before punctuation, a reset ends a coloured word, as honest output does (detect-39-2), and
  // before another sequence too: then the word before the first of them counts, not a value's
  // first letter (grep's `-<ESC>[m<ESC>[K12`: a separator, then a line number).
  const isReset = isColour && isResetCode(text, at + 2, at + length - 1);
  const isBeforeSequence = !isReset && isIntroducer(text, beside.after);
  if (!isBeforeSequence && !isInWord(text, beside.after, beside.afterThat, !isReset)) return false;
  return (length === 3 && !isBeforeSequence) || isInWord(text, beside.before, beside.beforeThat, true);
}

/**
 * Whether text[i], beside a colour code, stands inside a word as a token's characters do: a letter,
 * a digit or "_", or, if `mayBePunctuation`, a "-" or "." glued to one at text[that], the visible
 * character past it (detect-39-1: `SG.…<ESC>[31m…` takes a SendGrid key's "31m"; detect-39-2:
 * `glpat-…<ESC>[1m-…` a GitLab token's "1m"; detect-40-1: a zero-width space between the "." and
 * the key's character before it hides nothing). Not a dot after another sequence
 * (`<ESC>[39m.<ESC>[33menv`: a highlighter's between two words; `that` is -1 there), nor one after
 * a reset (isResetCode()).
 */
function isInWord(text: string, i: number, that: number, mayBePunctuation: boolean): boolean {
  const c = text.charCodeAt(i);
  if (isWordCode(c)) return true;
  return mayBePunctuation && (c === 0x2d || c === 0x2e) && isWordCode(text.charCodeAt(that));
}

/**
 * Whether text[from, to) are a colour code's parameters that turn an attribute off, and nothing
 * else: 0 (every one), 22–29 (bold, italic, underline, blink, …), 39 and 49 (the default colours).
 * A highlighter ends a coloured word with one, and a "-" or "." often follows (`sha512<ESC>[22m-…`,
 * `pkg<ESC>[39m-1.2.3`: read twice, they cost the bench's coloured log 6 to 10 % of its speed). A
 * token holds such digits before an "m-" rarely (about 1 in 6,000 of 40 base64url characters): that is left
 * as a limit. `ESC [ m` is no such code here: every token with an "m-" could hide behind it.
 */
function isResetCode(text: string, from: number, to: number): boolean {
  const first = text.charCodeAt(from);
  const second = text.charCodeAt(from + 1);
  if (to - from === 1) return first === 0x30;
  if (to - from !== 2) return false;
  return (
    (first === 0x32 && second >= 0x32 && second <= 0x39) ||
    ((first === 0x33 || first === 0x34) && second === 0x39)
  );
}

/** Whether the sequence of `length` characters at text[at] is a 7-bit colour code (SGR: `ESC [ … m`). */
export const isColourCode = (text: string, at: number, length: number): boolean =>
  text.charCodeAt(at) === ESC &&
  text.charCodeAt(at + 1) === 0x5b &&
  text.charCodeAt(at + length - 1) === 0x6d;

/** Whether text[from, to) is made of characters a token holds. */
function isTokenRun(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isTokenCode(text.charCodeAt(i))) return false;
  return true;
}
