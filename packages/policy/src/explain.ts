// Explanations for people: which policies were in force, what matched, and why the decision came
// out as it did. Pure; the CLI and the console print it.

import type { RuleRef } from './compile.js';
import type { Decision, Engine } from './engine.js';
import type { Request } from './request.js';
import type { Layer } from './schema.js';

export interface Explanation {
  readonly decision: Decision;
  /** The effective policies, guardrails first, as `{name, layer, revision, mode}`. */
  readonly policies: readonly {
    readonly name: string;
    readonly layer: Layer;
    readonly revision: number;
    readonly mode: string;
  }[];
  /** The surface default for this subject. */
  readonly surfaceDefault: string;
}

const LAYER_ORDER: Record<Layer, number> = { guardrail: 0, org: 1, group: 2, local: 3 };

export function explain(engine: Engine, request: Request): Explanation {
  const decision = engine.decide(request);
  const policies = [...engine.policies]
    .sort((a, b) => LAYER_ORDER[a.layer] - LAYER_ORDER[b.layer])
    .map((p) => ({ name: p.name, layer: p.layer, revision: p.revision, mode: p.mode }));
  return { decision, policies, surfaceDefault: engine.defaultOf(request.surface) };
}

function ruleLine(r: RuleRef): string {
  return `${r.effect.padEnd(5)} ${r.policy}/${r.rule}  (${r.layer}, revision ${r.revision}${r.mode === 'audit' ? ', audit mode' : ''})`;
}

/** Multi-line text: the decision first, then the reasoning. */
export function formatExplanation(e: Explanation): string {
  const d = e.decision;
  const lines: string[] = [];
  lines.push(`${d.decision.toUpperCase()}  ${d.surface} ${d.action} ${d.resource}`);
  lines.push(`  ${d.reason}`);
  if (d.mode === 'audit') lines.push(`  would-be decision: ${d.wouldDecision} (audit mode lets it through)`);
  // How the request was read (a host canonicalised, the commands a line runs) and where a decision came from.
  for (const note of d.notes ?? []) lines.push(`  note: ${note}`);
  lines.push('');
  lines.push('Policies in force (guardrail → org → group → local):');
  if (e.policies.length === 0) lines.push('  none');
  for (const p of e.policies)
    lines.push(`  ${p.layer.padEnd(9)} ${p.name}  (revision ${p.revision}, ${p.mode})`);
  lines.push('');
  lines.push('Matching rules (deny > ask > allow > default):');
  if (d.matched.length === 0) lines.push('  none');
  for (const r of d.matched) lines.push(`  ${d.rules.includes(r) ? '→' : ' '} ${ruleLine(r)}`);
  if (d.guard)
    lines.push(
      `  → built-in guard: ${d.guard.what}${d.guard.range ? ` (${d.guard.range})` : ''}${d.guard.isLocked ? ', locked' : ''}`,
    );
  lines.push(`  ${d.code === 'default' ? '→' : ' '} default for ${d.surface}: ${e.surfaceDefault}`);
  return lines.join('\n');
}
