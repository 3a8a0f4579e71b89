// Shared fixtures for the rule tests: engines built from YAML text through the real loader and
// compiler, and requests written in the short forms of policy tests. Never used by src.

import assert from 'node:assert/strict';
import {
  createEngine,
  loadPolicies,
  parseRequest,
  type Decision,
  type Diagnostic,
  type Effect,
  type Engine,
  type EngineOptions,
} from '../src/index.js';

export const HOME = '/home/u';
export const WORKSPACE = '/w';

/** Removes the common leading indentation, so YAML can be written indented inside a test. */
export function dedent(text: string): string {
  const lines = text
    .replace(/^\n/, '')
    .replace(/\n\s*$/, '')
    .split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return `${lines.map((l) => l.slice(cut)).join('\n')}\n`;
}

/** A whole policy document: the header is added when the text has none. */
export function policyText(yaml: string, name = 't'): string {
  const body = dedent(yaml);
  if (/^apiVersion:/m.test(body)) return body;
  return `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: ${name}\n  layer: org\n${body}`;
}

/** Loads documents and returns every diagnostic (for tests about load errors). */
export function diagnosticsOf(...yamls: string[]): Diagnostic[] {
  const sources = yamls.map((y, i) => ({ file: `t${i}.yaml`, text: policyText(y, `t${i}`) }));
  return loadPolicies(sources).diagnostics;
}

/** Asserts that loading fails with an error diagnostic of this code. */
export function assertLoadError(yaml: string, code: string): Diagnostic {
  const errors = diagnosticsOf(yaml).filter((d) => d.severity === 'error');
  const hit = errors.find((d) => d.code === code);
  assert.ok(hit, `expected a load error "${code}", got ${JSON.stringify(errors.map((d) => d.code))}`);
  return hit;
}

/**
 * An engine over one or more policy documents (one per string), for home `/home/u` and workspace
 * `/w` unless the options say otherwise. Fails the test when any document has an error.
 */
export function engineFrom(yaml: string | readonly string[], options?: Partial<EngineOptions>): Engine {
  const yamls = typeof yaml === 'string' ? [yaml] : yaml;
  const sources = yamls.map((y, i) => ({ file: 't.yaml', text: policyText(y, `t${i}`) }));
  const loaded = loadPolicies(sources);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors, [], 'the test policy must load without errors');
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: HOME, workspace: WORKSPACE }, ...options },
  );
}

/** Decides a request written in a policy test's short form (`{network: "host:443"}`). */
export function decideShort(engine: Engine, short: Record<string, unknown>): Decision {
  const parsed = parseRequest(short);
  if ('error' in parsed) assert.fail(`the test request does not parse: ${parsed.error}`);
  return engine.decide(parsed.request);
}

export interface Expected {
  readonly decision: Effect;
  /** Defaults to `decision` (enforce mode). */
  readonly would?: Effect;
  /** The ids of the determining rules, in any order. */
  readonly rules?: readonly string[];
  readonly code?: Decision['code'];
}

/** Asserts the decision, the would-be decision, the determining rule ids and (when given) the code. */
export function assertDecision(d: Decision, want: Expected, label = ''): void {
  const at = label ? ` (${label})` : '';
  assert.equal(d.decision, want.decision, `decision${at}: ${d.reason}`);
  assert.equal(d.wouldDecision, want.would ?? want.decision, `wouldDecision${at}: ${d.reason}`);
  if (want.rules !== undefined) {
    assert.deepEqual(
      d.rules.map((r) => r.rule).sort(),
      [...want.rules].sort(),
      `determining rules${at}: ${d.reason}`,
    );
  }
  if (want.code !== undefined) assert.equal(d.code, want.code, `code${at}: ${d.reason}`);
}
