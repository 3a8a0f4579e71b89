// Tokens written with spaces inside them: broken into groups of equal length (`ghp_abcd efgh ijkl
// …`, as a token is read out, or shown by a form in groups) or one character at a time (`g h p _ a
// …`). Such a run, its pieces joined, is handed to the provider rules alone (scan.ts): prose and
// code are words of unequal length, so runs of equal pieces are rare in them, and a provider's
// format (an anchor, a length, a checksum) must still match the joined text. Never the generic
// rules: joined words read as a long random value after any keyword.

import { joinedText } from './hidden-characters.js';
import { ANCHOR_SOURCE, PROVIDER_RULES } from './provider-rules.js';
import { isWordCode } from './terminal-sequences.js';

/** Pieces of a group this long at most: tokens are grouped in fours or fives, rarely past eight. */
const MAX_GROUP = 8;
/** Fewest characters the equal pieces of a run and its tail hold: a shorter run holds no token. */
const MIN_JOINED = 16;
/** The first piece of a run may carry a prefix (`TOKEN=ghp_abcd efgh …`) at most this long. */
const MAX_FIRST = 64;
/** Most pieces joined at once: a longer run is joined in windows that share OVERLAP pieces. */
const MAX_PIECES = 1024;
const OVERLAP = 128;
/** Where a provider's token may start: at one of its anchors, or `lead` characters before one. */
const ANCHORS = new RegExp(ANCHOR_SOURCE, 'g');
const MAX_LEAD = Math.max(0, ...PROVIDER_RULES.map((r) => r.lead ?? 0));

/** Pieces of text, [start, end) each, read as one: a way of joining a run. */
export type Pieces = readonly (readonly [number, number])[];

/** A piece of text, [start, end), or none. */
type Piece = readonly [number, number] | undefined;

/** A run of `count` equal pieces of `group` characters from `from`, one space apart. */
interface EqualRun {
  readonly before: Piece;
  readonly from: number;
  readonly group: number;
  readonly count: number;
  readonly tail: Piece;
}

/**
 * Every run of `text` that may be a spaced token, as the ways of joining it to try in turn: with
 * the shorter piece after its equal pieces (the token's tail), then without it (a word after the
 * token). The piece before the equal pieces is joined to them only where a provider's token may
 * start in it (`ghp_ abcd …`, `TOKEN=ghp_ abcd …`), and left out otherwise (a word before the
 * token would be glued to it). Each piece is separated from the next by one space.
 *
 * The cost is bounded for any text: no piece is in two runs (a run's tail that is the next run's
 * first equal piece is left to that run; a piece before a run that is the last run's is not
 * joined), and scan.ts reads a run at most three times (its anchor test and two joins), so spaced
 * runs cost at most 3 times the text's length (runs that shared pieces, each joined four
 * ways, cost 8).
 */
export function* spacedRuns(text: string): Generator<readonly Pieces[]> {
  for (const run of equalRuns(text)) yield* windowsOf(text, run);
}

/**
 * The runs of at least MIN_JOINED characters in equal pieces of at most MAX_GROUP. Linear, and
 * nothing is kept per piece: a run is where its pieces start, how long each is and how many. A
 * piece is what lies between spaces, tabs, line breaks and other control characters.
 */
function equalRuns(text: string): EqualRun[] {
  const runs: EqualRun[] = [];
  const n = text.length;
  // The run under way: its first piece's start, their length, how many; the piece before it in the
  // chain, if any; the last piece read, and whether one space followed it; the piece being read.
  let from = 0;
  let group = 0;
  let count = 0;
  let beforeStart = -1;
  let beforeEnd = -1;
  let lastStart = -1;
  let lastEnd = -1;
  let isOpen = false;
  let start = -1;
  // Tuples are made only for a run that is kept: a piece ends a run of prose every few characters.
  const close = (tailStart: number, tailEnd: number): void => {
    const tailLength = tailStart >= 0 ? tailEnd - tailStart : 0;
    if (count < 2 || group > MAX_GROUP || count * group + tailLength < MIN_JOINED) return;
    const last = runs[runs.length - 1];
    // No piece in two runs: the last run gives up its tail if it is this run's first piece, and
    // this run its piece before if that is the last run's.
    if (last?.tail?.[0] === from) runs[runs.length - 1] = { ...last, tail: undefined };
    const isLastRuns = last !== undefined && beforeStart < (last.tail?.[1] ?? endOf(last));
    const before: Piece = beforeStart >= 0 && !isLastRuns ? [beforeStart, beforeEnd] : undefined;
    const tail: Piece = tailStart >= 0 ? [tailStart, tailEnd] : undefined;
    runs.push({ before, from, group, count, tail });
  };
  for (let i = 0; i <= n; i++) {
    // Past the end reads as a line break: it ends the last piece and the chain.
    const c = i < n ? text.charCodeAt(i) : 10;
    if (c > 32) {
      if (start < 0) start = i;
      continue;
    }
    if (start < 0) {
      isOpen = false;
      continue;
    }
    const length = i - start;
    if (isOpen && length === group) count++;
    else {
      close(isOpen && isTail(text, start, i, group) ? start : -1, i);
      beforeStart = isOpen && lastEnd - lastStart <= MAX_FIRST ? lastStart : -1;
      beforeEnd = lastEnd;
      from = start;
      group = length;
      count = 1;
    }
    lastStart = start;
    lastEnd = i;
    isOpen = c === 32;
    start = -1;
  }
  close(-1, -1);
  return runs;
}

/**
 * Whether text[start, end), after a run of pieces of `group` characters, may be the end of its
 * token: shorter than a group, or a group with a quote or a mark after it (`…wxyz"`, `…wxyz.`).
 */
function isTail(text: string, start: number, end: number, group: number): boolean {
  const length = end - start;
  return length < group || (length <= group + 2 && !isWordCode(text.charCodeAt(end - 1)));
}

/** Where the last equal piece of a run ends. */
const endOf = ({ from, group, count }: EqualRun): number => from + count * (group + 1) - 1;

/**
 * Whether a provider's token may start in the piece before a run: an anchor starts in it, or
 * within MAX_LEAD characters after it, read on into the run's first MAX_FIRST characters and its
 * tail (an anchor may span them: `…=gh p_ab …`, or be a pattern as long as `SK` and 32 hex digits).
 */
function mayStartIn(text: string, [start, end]: readonly [number, number], run: EqualRun): boolean {
  const to = Math.min(run.count, Math.ceil(MAX_FIRST / run.group));
  const after = joinedText(text, [
    ...piecesOf(run, 0, to),
    ...(to === run.count && run.tail ? [run.tail] : []),
  ]);
  ANCHORS.lastIndex = 0;
  const m = ANCHORS.exec(text.slice(start, end) + after);
  return m !== null && m.index < end - start + MAX_LEAD;
}

/** The equal pieces of a run from the k-th to before the to-th. */
function piecesOf({ from, group }: EqualRun, k: number, to: number): [number, number][] {
  const pieces: [number, number][] = [];
  for (let p = k; p < to; p++) pieces.push([from + p * (group + 1), from + p * (group + 1) + group]);
  return pieces;
}

/** The ways of joining a run, with its head and tail, in windows of MAX_PIECES pieces. */
function* windowsOf(text: string, run: EqualRun): Generator<readonly Pieces[]> {
  const { before, count, tail } = run;
  const head = before && mayStartIn(text, before, run) ? [before] : [];
  for (let k = 0; ; k += MAX_PIECES - OVERLAP) {
    const to = Math.min(count, k + MAX_PIECES);
    const pieces = [...(k === 0 ? head : []), ...piecesOf(run, k, to)];
    yield to === count && tail ? [[...pieces, tail], pieces] : [pieces];
    if (to === count) return;
  }
}

/** Where the character at `at` of pieces joined is in the text. */
export function textAt(pieces: Pieces, at: number): number {
  let rest = at;
  for (const [start, end] of pieces) {
    if (rest < end - start) return start + rest;
    rest -= end - start;
  }
  return (pieces[pieces.length - 1]?.[1] ?? 0) + rest;
}
