// Secrets split to dodge a scanner: across the labels of a hostname (`ghp-xxxx.yyyy.zzzz.evil.test`,
// read by the exfiltrator's DNS server; egress-dlp-03) or across query parameters and headers
// (`?a=sk-&b=ant-&c=…`; egress-dlp-05). The parts are joined and scanned; a finding reports which
// parts it spans. A hostname is also checked for long high-entropy labels, the shape of DNS
// tunnelling, reported with low confidence.

import { shannonEntropy } from './entropy.js';
import type { Finding } from './finding.js';
import { fingerprint } from './fingerprint.js';
import { scan } from './scan.js';

export interface JoinedFinding extends Finding {
  /** Index of the first and last part the secret spans. */
  readonly firstPart: number;
  readonly lastPart: number;
}

/**
 * Findings in the concatenation of `parts` (query values in order, header values, …). Offsets are
 * into the joined text; firstPart/lastPart say which parts to block or redact.
 */
export function scanJoined(parts: readonly string[], options: { decode?: boolean } = {}): JoinedFinding[] {
  const starts: number[] = [];
  let length = 0;
  for (const p of parts) {
    starts.push(length);
    length += p.length;
  }
  const partAt = (offset: number): number => {
    let i = 0;
    while (i + 1 < starts.length && (starts[i + 1] ?? Infinity) <= offset) i++;
    return i;
  };
  // Each run of parts is scanned from a part's start, so a secret that begins a part is not glued
  // to the end of the part before it; a finding is kept by the run whose first part it starts in.
  const out: JoinedFinding[] = [];
  for (let i = 0; i < parts.length; i++) {
    const run = parts.slice(i, i + MAX_PARTS).join('');
    const base = starts[i] ?? 0;
    for (const f of scan(run, options)) {
      if (f.start >= (parts[i]?.length ?? 0)) continue;
      const start = base + f.start;
      const end = base + f.end;
      out.push({ ...f, start, end, firstPart: partAt(start), lastPart: partAt(Math.max(start, end - 1)) });
    }
  }
  return out;
}

// Underscores are not valid in hostnames: a token smuggled in labels has its "_" written as "-".
const PREFIX_DASH = /^(gh[pousr]|npm|hf|github-pat|sk-live|rk-live|sk-test|glpat)-/i;
const MAX_LABELS = 16;
const MAX_PARTS = 16;

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
