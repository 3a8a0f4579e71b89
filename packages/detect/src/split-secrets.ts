// Secrets split to dodge a scanner: across the labels of a hostname (`ghp-xxxx.yyyy.zzzz.evil.test`,
// read by the exfiltrator's DNS server; egress-dlp-03) or across query parameters and headers
// (`?a=sk-&b=ant-&c=…`; egress-dlp-05). The parts are joined and scanned; a finding reports which
// parts it spans. A hostname is also checked for long high-entropy labels, the shape of DNS
// tunnelling, reported with low confidence.

import { shannonEntropy } from './entropy.js';
import type { Finding } from './finding.js';
import { fingerprint } from './fingerprint.js';
import { KEYWORD_SOURCE } from './assignment-rules.js';
import { PROVIDER_RULES } from './provider-rules.js';
import { fingerprinted, scan, scanPending, type Pending, type ScanWork } from './scan.js';

export interface JoinedFinding extends Finding {
  /** Index of the first and last part the secret spans. */
  readonly firstPart: number;
  readonly lastPart: number;
}

export interface JoinedOptions {
  readonly decode?: boolean;
  /**
   * Only the findings that span two parts or more: a caller that scans each part on its own
   * already has the others, and fingerprints only what it keeps.
   */
  readonly spanning?: boolean;
  /** Only the high-confidence findings: the generic rules (all low) run only where they must. */
  readonly confidence?: 'high';
}

/**
 * Findings in the concatenation of `parts` (query values in order, header values, …). Offsets are
 * into the joined text; firstPart/lastPart say which parts to block or redact.
 */
export function scanJoined(parts: readonly string[], options: JoinedOptions = {}): JoinedFinding[] {
  return joinedScan(parts, options, undefined);
}

/**
 * scanJoined(), adding what it cost to `work`: not exported by the package, it lets a test hold
 * the joined scan to a small multiple of the parts' length (review-33-1) without timing it.
 */
export function scanJoinedCounting(
  parts: readonly string[],
  options: JoinedOptions,
  work: ScanWork,
): JoinedFinding[] {
  return joinedScan(parts, options, work);
}

/**
 * How far past a part's start a token it starts may reach: the longest token detect reads, a PEM
 * private key, is at most 64 KiB.
 */
const REACH = 64 * 1024;

// Where a token may start, per rule lead (the characters a rule's token holds before its anchor):
// the anchors of the rules that drop a glued token's match, and the keywords of an assignment.
const ANCHORED = [...new Set(PROVIDER_RULES.map((r) => r.lead ?? 0))].map((lead) => ({
  lead,
  anchor: new RegExp(
    PROVIDER_RULES.filter((r) => (r.lead ?? 0) === lead && r.glued !== 'any')
      .flatMap((r) => r.anchors)
      .join('|'),
    'y',
  ),
}));
const KEYWORD_AT = new RegExp(KEYWORD_SOURCE, 'iy');
/** A character an assignment's name or a token reads back over: the start after it is glued. */
const GLUES = /[A-Za-z0-9_.-]/;

/** Whether a token or an assignment may start at text[at]. */
function mayStartAt(text: string, at: number): boolean {
  KEYWORD_AT.lastIndex = at;
  if (KEYWORD_AT.test(text)) return true;
  return ANCHORED.some(({ lead, anchor }) => {
    anchor.lastIndex = at + lead;
    return anchor.test(text);
  });
}

/**
 * The joined text is scanned once. A part's start is read as the start of a text too, as a secret
 * that begins a part is not to be glued to the end of the one before it (`keep-alive` then
 * `gho_…`: a rule may drop a token that reads as the tail of a word), nor taken into a token read
 * on from the part before (a GitLab token may hold a dot, so `glpat-….` then `glpat-…` reads as
 * one). Where a token or an assignment may start (mayStartAt) after a character that glues, or
 * inside a finding of the first scan, the character before is read as a space in a second scan of
 * the text from there, REACH long; the starts are taken in turn by two such scans, so that a
 * token started at one is not broken by the space before the next. Each of the three scans reads
 * the joined text once at most: the cost is a small multiple of the parts' length however short
 * they are (review-33-1: a run of 16 parts scanned from every part read each part 16 times). A
 * finding of the second scans over a character read as a space is dropped: it is no token.
 */
function joinedScan(
  parts: readonly string[],
  options: JoinedOptions,
  work: ScanWork | undefined,
): JoinedFinding[] {
  const starts: number[] = [];
  let length = 0;
  for (const p of parts) {
    starts.push(length);
    length += p.length;
  }
  const text = parts.join('');
  const isHighOnly = options.confidence === 'high';
  const found = new Map<string, Pending>();
  const keep = (f: Pending, base: number): void => {
    const start = base + f.start;
    const end = base + f.end;
    // Dropped before it costs a copy and a key: in a hostile value, most lie inside one part.
    if (isHighOnly && f.confidence !== 'high') return;
    if (options.spanning === true && !isAcross(starts, start, end)) return;
    const key = `${f.rule}:${start}:${end}`;
    if (!found.has(key)) found.set(key, { ...f, start, end });
  };
  const isInner = (at: number): boolean => at > 0 && at < text.length;
  const isGlued = (at: number): boolean => GLUES.test(text[at - 1] ?? '');
  // Whether a part start inside a finding of the first scan is read again decides only where the
  // start does not glue (the others are read again anyway): where no such start may start a
  // token, the first scan's low findings are not needed either.
  const needsLows = !isHighOnly || starts.some((at) => isInner(at) && !isGlued(at) && mayStartAt(text, at));
  const whole = scanPending(text, options, work, !needsLows);
  for (const f of whole) keep(f, 0);
  // The part starts a second scan reads from; `whole` is in order of position, without overlaps.
  const fresh: number[] = [];
  let next = 0;
  for (const at of starts) {
    if (!isInner(at) || at === fresh[fresh.length - 1]) continue;
    while ((whole[next]?.end ?? Infinity) <= at) next++;
    const isInside = (whole[next]?.start ?? Infinity) < at;
    if ((isInside || isGlued(at)) && mayStartAt(text, at)) fresh.push(at);
  }
  for (const turn of [0, 1]) {
    const mine = fresh.filter((_, i) => i % 2 === turn);
    let i = 0;
    while (i < mine.length) {
      // One region from the character before a start to REACH past the last start it takes in.
      const from = (mine[i] ?? 0) - 1;
      const spaced: number[] = [];
      let to = from;
      while (i < mine.length && (mine[i] ?? 0) - 1 <= to) {
        const at = mine[i++] ?? 0;
        spaced.push(at - 1);
        to = Math.min(text.length, at + REACH);
      }
      let region = '';
      let at = from;
      for (const s of spaced) {
        region += `${text.slice(at, s)} `;
        at = s + 1;
      }
      region += text.slice(at, to);
      // Findings are in order of position: one walk over `spaced` serves them all.
      let s = 0;
      for (const f of scanPending(region, options, work, isHighOnly)) {
        while ((spaced[s] ?? Infinity) < from + f.start) s++;
        if ((spaced[s] ?? Infinity) >= from + f.end) keep(f, from);
      }
    }
  }
  return withParts(
    [...found.values()].sort((a, b) => a.start - b.start || b.end - a.end),
    starts,
    work,
  );
}

/** Whether a part starts strictly inside [start, end): a finding over it spans two parts or more. */
function isAcross(starts: readonly number[], start: number, end: number): boolean {
  let lo = 0;
  let hi = starts.length;
  // The first part that starts after `start`.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((starts[mid] ?? 0) <= start) lo = mid + 1;
    else hi = mid;
  }
  return (starts[lo] ?? Infinity) < end;
}

/**
 * Each finding, fingerprinted, with the first and last part it spans (of parts starting at the
 * same offset, the last: an empty part holds none of it). `found` is in order of start; findings
 * of one scan do not overlap, so the walks over the parts a finding spans read each part three
 * times at most.
 */
function withParts(
  found: readonly Pending[],
  starts: readonly number[],
  work: ScanWork | undefined,
): JoinedFinding[] {
  let first = 0;
  return found.map((f) => {
    while ((starts[first + 1] ?? Infinity) <= f.start) first++;
    let last = first;
    while ((starts[last + 1] ?? Infinity) < f.end) last++;
    return { ...fingerprinted(f, work), firstPart: first, lastPart: last };
  });
}

// Underscores are not valid in hostnames: a token smuggled in labels has its "_" written as "-".
const PREFIX_DASH = /^(gh[pousr]|npm|hf|github-pat|sk-live|rk-live|sk-test|glpat)-/i;
const MAX_LABELS = 16;

function labelFindings(host: string): Finding[] {
  const out: Finding[] = [];
  const labels = host.split('.');
  let offset = 0;
  for (const label of labels) {
    const start = offset;
    offset += label.length + 1;
    if (label.length < 20) continue;
    // Pipelock's threshold; hex labels (account ids, hashes in CDN names) never reach it.
    if (shannonEntropy(label) >= 4.0)
      out.push({
        rule: 'high-entropy-label',
        family: 'dns-exfiltration',
        confidence: 'low',
        start,
        end: start + label.length,
        fingerprint: fingerprint(label),
      });
  }
  return out;
}

/**
 * Secrets in a hostname: every run of consecutive labels is joined (dots removed) and scanned, with
 * a dash after a token prefix read as the underscore it replaces; plus long high-entropy labels
 * (low confidence). Spans are offsets into `host`, covering the labels the secret was spread over.
 */
export function scanHost(host: string): Finding[] {
  const labels = host.replace(/\.$/, '').split('.').slice(0, 127);
  const starts: number[] = [];
  let at = 0;
  for (const l of labels) {
    starts.push(at);
    at += l.length + 1;
  }
  const found = new Map<string, Finding>();
  for (let i = 0; i < labels.length; i++) {
    let joined = '';
    for (let j = i; j < Math.min(labels.length, i + MAX_LABELS); j++) {
      joined += labels[j] ?? '';
      const variants = PREFIX_DASH.test(joined)
        ? [joined, joined.replace(PREFIX_DASH, (p) => `${p.slice(0, -1)}_`)]
        : [joined];
      for (const v of variants) {
        for (const f of scan(v)) {
          // Only a secret that reaches the last joined label is new; shorter runs were scanned already.
          if (f.end !== v.length) continue;
          const key = `${f.rule}:${f.fingerprint}`;
          if (!found.has(key))
            found.set(key, { ...f, start: starts[i] ?? 0, end: (starts[j] ?? 0) + (labels[j]?.length ?? 0) });
        }
      }
    }
  }
  return [...found.values(), ...labelFindings(host)].sort((a, b) => a.start - b.start);
}
