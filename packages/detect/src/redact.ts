// redact(): the text with every finding's span replaced by `[REDACTED:<rule>:<fingerprint>]`, so a
// log line, an audit record or an MCP result keeps its shape and says what was removed without
// carrying it. The marker travels with the text (to an MCP server, to the agent), so its
// fingerprint shows at most 4 characters of a provider's public prefix (`[REDACTED:stripe-key:
// sk_l…(3f2a9c1b)]`). Overlapping spans are merged into one replacement (the first finding names it).

import type { Finding } from './finding.js';
import { markerFingerprint } from './fingerprint.js';

export function redact(text: string, findings: readonly Finding[]): string {
  const sorted = [...findings]
    .filter((f) => f.end > f.start)
    .sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  for (let i = 0; i < sorted.length; i++) {
    const first = sorted[i];
    if (!first) continue;
    let end = first.end;
    while (i + 1 < sorted.length && (sorted[i + 1]?.start ?? Infinity) < end)
      end = Math.max(end, sorted[++i]?.end ?? end);
    const start = Math.max(first.start, at);
    out += `${text.slice(at, start)}[REDACTED:${first.rule}:${markerFingerprint(first.fingerprint)}]`;
    at = Math.max(at, end);
  }
  return out + text.slice(at);
}
