// Secrets in tool arguments and results: every string in a JSON value (object keys included) is
// scanned with @perimeter/detect, decoding base64, hex, percent and JSON escapes. Only
// high-confidence findings are acted on (block or redact); low-confidence ones are counted for the
// audit event. The real values of the credentials the policy binds are matched exactly, in every
// rendering detect knows: one in a request can only be a leak (a session holds placeholders), so
// the gateway refuses it whatever the policy's secrets action. A finding carries a fingerprint,
// never the value; a credential is named by its binding's id.

import { redact, scan, type Finding, type KnownMatcher } from '@perimeter/detect';

export interface SecretScan {
  /**
   * High-confidence findings, as `rule (fingerprint)` for the audit event, each once (a result can
   * carry one secret in its text and again in its structured content).
   */
  readonly blocking: readonly string[];
  /** The rule of each of `blocking`, index for index (`nesting` for a value too deep to scan). */
  readonly rules: readonly string[];
  /** Low-confidence findings (generic keyword or entropy rules): recorded, not acted on. */
  readonly weak: number;
  /** The bound credentials whose real value is in the value, by binding id (each once). */
  readonly leaks: readonly string[];
  /**
   * The value with every high-confidence secret replaced by `[REDACTED:rule:fingerprint]` and
   * every bound credential's value by `[REDACTED:credential:ID]`.
   */
  readonly redacted: unknown;
}

const MAX_DEPTH = 64;

export function scanValue(value: unknown, known?: KnownMatcher): SecretScan {
  const blocking: string[] = [];
  const rules: string[] = [];
  const seen = new Set<string>();
  const strongFinding = (rule: string, text: string): void => {
    if (seen.has(text)) return;
    seen.add(text);
    blocking.push(text);
    rules.push(rule);
  };
  const leaks = new Set<string>();
  let weak = 0;
  const text = (s: string): string => {
    const found = scan(s, { decode: true });
    const strong = found.filter((f: Finding) => f.confidence === 'high');
    weak += found.length - strong.length;
    for (const f of strong) strongFinding(f.rule, `${f.rule} (${f.fingerprint})`);
    const credentials = credentialFindings(s, known);
    for (const c of credentials) leaks.add(c.fingerprint);
    // A credential first: where a finding covers the same span, the marker names the credential.
    return strong.length + credentials.length > 0 ? redact(s, [...credentials, ...strong]) : s;
  };
  const redacted = mapStrings(value, text, () => {
    // Not scanned is not clean: too deep to look at counts as a finding.
    strongFinding('nesting', `nesting deeper than ${MAX_DEPTH} levels (not scanned)`);
  });
  return {
    blocking,
    rules,
    weak,
    leaks: [...leaks],
    redacted,
  };
}

/**
 * A scan's high-confidence findings by rule, each once. Only a listing's audit groups them, so the
 * scan of every call's arguments and result does not.
 */
export function findingsByRule(scan: SecretScan): Map<string, string[]> {
  const byRule = new Map<string, Set<string>>();
  scan.blocking.forEach((text, i) => {
    const rule = scan.rules[i] as string;
    const texts = byRule.get(rule);
    if (texts) texts.add(text);
    else byRule.set(rule, new Set([text]));
  });
  return new Map([...byRule].map(([rule, texts]) => [rule, [...texts]]));
}

/** The value with only the bound credentials' values replaced (`[REDACTED:credential:ID]`). */
export function withoutCredentials(value: unknown, known: KnownMatcher): unknown {
  return mapStrings(
    value,
    (s) => {
      const credentials = credentialFindings(s, known);
      return credentials.length > 0 ? redact(s, credentials) : s;
    },
    () => undefined,
  );
}

/** The bound credentials' values in one string, as findings that redact() names `credential:ID`. */
function credentialFindings(s: string, known: KnownMatcher | undefined): Finding[] {
  if (known === undefined) return [];
  return known.find(s).map((hit) => ({
    rule: 'credential',
    family: 'credential',
    confidence: 'high',
    start: hit.start,
    end: hit.end,
    fingerprint: hit.id,
  }));
}

/** A copy of a JSON value with every string (object keys included) mapped; too deep becomes null. */
function mapStrings(value: unknown, map: (s: string) => string, tooDeep: () => void): unknown {
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return map(v);
    if (typeof v !== 'object' || v === null) return v;
    if (depth > MAX_DEPTH) {
      tooDeep();
      return null;
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[map(k)] = walk(x, depth + 1);
    return out;
  };
  return walk(value, 0);
}
