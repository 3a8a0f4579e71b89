// Secrets in tool arguments and results: every string in a JSON value (object keys included) is
// scanned with @perimeter/detect, decoding base64, hex, percent and JSON escapes. Only
// high-confidence findings are acted on (block or redact); low-confidence ones are counted for the
// audit event. A finding carries a fingerprint, never the value.

import { redact, scan, type Finding } from '@perimeter/detect';

export interface SecretScan {
  /** High-confidence findings, as `rule (fingerprint)` for the audit event. */
  readonly blocking: readonly string[];
  /** Low-confidence findings (generic keyword or entropy rules): recorded, not acted on. */
  readonly weak: number;
  /** The value with every high-confidence secret replaced by `[REDACTED:rule:fingerprint]`. */
  readonly redacted: unknown;
}

const MAX_DEPTH = 64;

export function scanValue(value: unknown): SecretScan {
  const blocking: string[] = [];
  let weak = 0;
  const text = (s: string): string => {
    const found = scan(s, { decode: true });
    const strong = found.filter((f: Finding) => f.confidence === 'high');
    weak += found.length - strong.length;
    for (const f of strong) blocking.push(`${f.rule} (${f.fingerprint})`);
    return strong.length > 0 ? redact(s, strong) : s;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (typeof v !== 'object' || v === null) return v;
    if (depth > MAX_DEPTH) {
      // Not scanned is not clean: too deep to look at counts as a finding.
      blocking.push(`nesting deeper than ${MAX_DEPTH} levels (not scanned)`);
      return null;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[text(k)] = walk(x, depth + 1);
    return out;
  };
  const redacted = walk(value, 0);
  return { blocking, weak, redacted };
}
