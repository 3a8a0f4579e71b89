// scan(): every rule over one text. Text without secrets is the common case (source files,
// package metadata, API traffic), so it must cost almost nothing: one pass of one regex over the
// provider anchors and one over the secret keywords, and a rule's own pattern runs only where its
// anchor or keyword occurs. Overlapping findings are resolved to the most specific one. A token
// glued to the word before it is kept only as its rule's `glued` test allows (provider-rules.ts).

import { KEYWORD_SOURCE, assignmentJudge, assignmentReader } from './assignment-rules.js';
import { decodedLayers, type DecodeWork } from './decode.js';
import type { Encoding, Finding, ScanOptions } from './finding.js';
import { fingerprint } from './fingerprint.js';
import { isCutByHidden, joinedText } from './hidden-characters.js';
import { ANCHOR_SOURCE, PROVIDER_RULES, firstOf, type Matcher, type ProviderRule } from './provider-rules.js';
import { spacedRuns, textAt } from './spaced-tokens.js';
import { isWordCode } from './terminal-sequences.js';

const ANCHORS = new RegExp(ANCHOR_SOURCE, 'g');

/**
 * A rule as a hit is tried by it: whether one of its anchors starts there, and the fields read at
 * every hit, in one shape for all rules (the rules' own objects differ in shape, and reading them
 * at every hit of a text of anchors cost more than the rest of the loop).
 */
interface Tried {
  readonly index: number;
  readonly rule: ProviderRule;
  readonly starts: RegExp;
  readonly lead: number;
  readonly glued: ProviderRule['glued'];
  readonly isFormatless: boolean;
}

/**
 * Per character an anchor may start with, the rules (in order) with an anchor that does: a hit is
 * tried by these alone, not by every rule.
 */
const TRIED_BY_FIRST: Tried[][] = [];
PROVIDER_RULES.forEach((rule, index) => {
  const tried = {
    index,
    rule,
    starts: new RegExp(rule.anchors.join('|'), 'y'),
    lead: rule.lead ?? 0,
    glued: rule.glued,
    isFormatless: rule.isFormatless === true,
  };
  for (const c of new Set(rule.anchors.map((a) => firstOf(a).slice(-1).charCodeAt(0))))
    (TRIED_BY_FIRST[c] ??= []).push(tried);
});
const NONE: readonly Tried[] = [];
const KEYWORDS = new RegExp(KEYWORD_SOURCE, 'gi');

interface Raw {
  readonly rule: string;
  readonly family: string;
  readonly confidence: 'high' | 'low';
  readonly start: number;
  readonly end: number;
  /** Found in a reading that keeps what a terminal hides (decode.ts' DecodedSegment.isFallback). */
  readonly isFallback?: boolean;
}

/**
 * Which rules read a text: every one; those that can make a high finding (not the generic rules,
 * all low); or those bound to a format (nor the database URL's, whose password has none), for a
 * reading that keeps what a terminal hides (decode.ts' isFallback).
 */
type Rules = 'every' | 'high' | 'formats';

function providerFindings(text: string, out: Raw[], work: ScanWork | undefined, rules: Rules): void {
  const re = ANCHORS;
  re.lastIndex = 0;
  // Each rule's matcher for this text, made when its anchor first occurs.
  const matchers: (Matcher | undefined)[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const hit = m.index;
    // Several rules may share an anchor's start (sk-ant- and sk-): the first that matches wins.
    for (const { index, rule, starts, lead, glued: gluedTest, isFormatless } of TRIED_BY_FIRST[
      text.charCodeAt(hit)
    ] ?? NONE) {
      if (isFormatless && rules === 'formats') continue;
      starts.lastIndex = hit;
      const at = hit - lead;
      if (at < 0) continue;
      if (!starts.test(text)) continue;
      const anchorEnd = starts.lastIndex;
      const glued = gluedTest === 'any' ? undefined : at > 0 && isWordCode(text.charCodeAt(at - 1));
      if (glued === true && gluedTest === undefined) continue;
      const candidate = (matchers[index] ??= rule.matcher(text, work))(at);
      if (!candidate) continue;
      const verdict = rule.check(text.slice(candidate.start, candidate.end), text, candidate.start);
      if (verdict === undefined) continue;
      if (glued === true) {
        const isHigh = (typeof verdict === 'string' ? verdict : verdict.confidence) === 'high';
        const body = text.slice(anchorEnd, candidate.end);
        if (!isHigh || typeof gluedTest !== 'function' || !gluedTest(body, text[at - 1] ?? '')) continue;
      }
      out.push(
        typeof verdict === 'string'
          ? { rule: rule.id, family: rule.family, confidence: verdict, ...candidate }
          : { ...verdict, ...candidate },
      );
      re.lastIndex = Math.max(hit + 1, candidate.end);
      break;
    }
  }
}

function assignmentFindings(text: string, out: Raw[], work: ScanWork | undefined, isHighOnly: boolean): void {
  const re = KEYWORDS;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  let after = 0;
  const assignmentAt = assignmentReader(text, work);
  const judge = assignmentJudge();
  while ((m = re.exec(text)) !== null) {
    if (m.index < after) continue;
    const a = assignmentAt(m.index, m.index + m[0].length);
    if (!a) continue;
    // Every keyword inside one name is the same assignment.
    after = a.valueStart;
    if (work && !isHighOnly) work.judged = (work.judged ?? 0) + 1;
    const hit = judge(a, isHighOnly);
    if (hit) out.push(hit);
  }
}

const isProvider = (f: Raw): boolean => f.family !== 'generic' && f.family !== 'password';
const rank = (f: Raw): number =>
  (f.confidence === 'high' ? 4 : 0) + (isProvider(f) ? 2 : 0) + (f.isFallback === true ? 0 : 1);

/**
 * Keeps, of every group of overlapping findings, the most specific (high, provider, read as a
 * terminal shows it, longer).
 */
function resolveOverlaps<T extends Raw>(findings: T[]): T[] {
  findings.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: T[] = [];
  for (const f of findings) {
    const last = kept[kept.length - 1];
    if (last && f.start < last.end) {
      const better =
        rank(f) > rank(last) || (rank(f) === rank(last) && f.end - f.start > last.end - last.start);
      if (better) kept[kept.length - 1] = f;
      continue;
    }
    kept.push(f);
  }
  return kept;
}

/**
 * What a scan cost: in characters, those the rules ran over at every depth, and decoding's work;
 * if `read` is given (a number to add to), those the rules read from their anchors and keywords (a
 * pattern counted for as far as it may read); in calls (absent: none yet), the assignments judged
 * by every rule (a scan for high findings alone runs only the rules bound to a provider's name on
 * them, and counts none) and the fingerprints computed.
 */
export interface ScanWork extends DecodeWork {
  scanned: number;
  read?: number;
  judged?: number;
  fingerprinted?: number;
}

/**
 * A finding before its fingerprint, with what it covers (`secret`, in the layer it was found in).
 * A SHA-256 costs more than finding what it names: only a finding that is reported gets one, not
 * one dropped as overlapped or as already found (a hostile value holds one every few characters).
 */
export interface Pending extends Raw {
  readonly secret: string;
  readonly encoding?: Encoding;
}

/** A pending finding as reported: the same fields, in the same order, with its fingerprint. */
export function fingerprinted(pending: Pending, work: ScanWork | undefined): Finding {
  if (work) work.fingerprinted = (work.fingerprinted ?? 0) + 1;
  const { secret, encoding, isFallback: _, ...found } = pending;
  const named = { ...found, fingerprint: fingerprint(secret) };
  return encoding === undefined ? named : { ...named, encoding };
}

/**
 * The findings of `rules` in `text` itself, each with what it covers ('high': for a caller that
 * keeps only high findings).
 */
function findingsIn(
  text: string,
  work: ScanWork | undefined,
  except: readonly string[],
  rules: Rules,
): Pending[] {
  if (work) work.scanned += text.length;
  const raw: Raw[] = [];
  providerFindings(text, raw, work, rules);
  assignmentFindings(text, raw, work, rules !== 'every');
  const kept = except.length === 0 ? raw : raw.filter((r) => !except.some((v) => overlaps(text, r, v)));
  return kept.map((r) => ({ ...r, secret: text.slice(r.start, r.end) }));
}

/**
 * Whether `value` occurs in `text` over any of the span [start, end). Only the span and a value's
 * length either side are searched: a search to the end of the text for every finding would make a
 * long text of many findings quadratic.
 */
function overlaps(text: string, span: Raw, value: string): boolean {
  if (value === '') return false;
  return text.slice(Math.max(0, span.start - value.length + 1), span.end + value.length - 1).includes(value);
}

/**
 * Provider tokens written with spaces inside them (spaced-tokens.ts), reported over what they span
 * as written. Only high-confidence provider findings count; the first way of joining a run that
 * gives one is taken.
 */
function spacedFindings(text: string, work: ScanWork | undefined, except: readonly string[]): Pending[] {
  const found: Pending[] = [];
  for (const ways of spacedRuns(text)) {
    // The first way is the widest: a run whose widest join holds no anchor holds no token.
    const widest = joinedText(text, ways[0] ?? []);
    if (work) work.scanned += widest.length;
    ANCHORS.lastIndex = 0;
    if (!ANCHORS.test(widest)) continue;
    for (const pieces of ways) {
      const hits = findingsIn(joinedText(text, pieces), work, except, 'high').filter(
        (f) => f.confidence === 'high' && isProvider(f),
      );
      for (const f of hits)
        found.push({ ...f, start: textAt(pieces, f.start), end: textAt(pieces, f.end - 1) + 1 });
      if (hits.length > 0) break;
    }
  }
  return found;
}

/**
 * scan()'s findings, not yet fingerprinted; `isHighOnly`: its high findings alone, the same as
 * when the low ones are found (of overlapping findings, a high one is kept over any low one).
 */
export function scanPending(
  text: string,
  options: ScanOptions,
  work: ScanWork | undefined,
  isHighOnly = false,
): Pending[] {
  const except = options.except ?? [];
  const rules: Rules = isHighOnly ? 'high' : 'every';
  let findings = findingsIn(text, work, except, rules);
  if (options.decode === true) {
    // A secret read with hidden characters inside it is not what a reader sees: a placeholder cut
    // by a zero-width space read as random, a secret under a fingerprint no other copy has. Nor is
    // a value a hidden character ends (U+FEFF is white space to JavaScript, and the value goes on
    // after it) or starts. The run that holds them is read without them below, with the line
    // before it (detect-gap-3): that reading judges it. A token found whole beside a hidden
    // character (a colour code, an emoji) stays as it was found.
    findings = findings.filter((f) => !isCutByHidden(text, f.start, f.end, f.confidence === 'low', work));
    for (const layer of decodedLayers(text, work)) {
      // A reading that keeps what a terminal hides is read by the rules bound to a format alone: a
      // placeholder with a sequence's characters kept in it (`you<ESC>[2Kr-api-key-here`) reads as
      // none to the generic rules, nor to the database URL's, whose password has no format either
      // (`redis://:xx<ESC>[0mx@…`); a password a sequence cuts is still found as a terminal shows it.
      const isFallback = layer.isFallback === true;
      for (const inner of findingsIn(layer.decoded, work, except, isFallback ? 'formats' : rules)) {
        // A secret in a run read without its hidden characters spans them, not the whole run: one
        // the text shows whole beside a hidden character (a BOM, a colour code) is the same finding.
        const [start, end] = layer.spanOf?.(inner.start, inner.end) ?? [layer.start, layer.end];
        findings.push({ ...inner, start, end, encoding: layer.encoding, isFallback });
      }
    }
    findings.push(...spacedFindings(text, work, except));
  }
  const kept = resolveOverlaps(findings);
  return isHighOnly ? kept.filter((f) => f.confidence === 'high') : kept;
}

/**
 * Every secret in `text`, in order of position. With `decode`, also those hidden in percent-encoded,
 * base64, hex and JSON-escaped segments, HTML character references and byte lists (decode.ts lists
 * the forms); such a finding spans the whole encoded segment, and its fingerprint is that of the
 * decoded secret (the same secret has the same fingerprint however it was written). Also those cut
 * by hidden characters (zero-width spaces, terminal control sequences, …), over the secret and the
 * hidden characters inside it, and those spelled in Unicode tag characters, over those.
 */
export function scan(text: string, options: ScanOptions = {}): Finding[] {
  return scanPending(text, options, undefined).map((p) => fingerprinted(p, undefined));
}

/**
 * scan(), adding what it cost to `work`: not exported by the package, it lets tests hold the scan
 * to a small multiple of the text's length on hostile input (redteam-30-1) without timing it.
 */
export function scanCounting(text: string, options: ScanOptions, work: ScanWork): Finding[] {
  return scanPending(text, options, work).map((p) => fingerprinted(p, work));
}
