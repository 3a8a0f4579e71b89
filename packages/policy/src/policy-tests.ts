// Policy tests embedded in documents (`tests:`), run against the set of policies loaded with
// them, the way Tailscale's ACL tests gate a save. Pure.

import type { CompiledPolicy } from './compile.js';
import type { DiagnosticPath } from './diagnostic.js';
import { createEngine, type Decision, type Engine } from './engine.js';
import type { PathContext } from './path-pattern.js';
import { parseRequest } from './request.js';
import type { Effect } from './schema.js';

export interface PolicyTestResult {
  readonly policy: string;
  readonly name: string;
  readonly passed: boolean;
  readonly expect: Effect;
  /** The decision the engine made, when the request could be read. */
  readonly decision?: Decision;
  /** Why it failed, in one sentence; empty when it passed. */
  readonly failure: string;
  /** Where the test is in its document. */
  readonly path: DiagnosticPath;
}

/**
 * Runs every test of every policy. A test's subject has the groups it names; by default, a group
 * policy's own groups, and no groups for the other layers (so org and guardrail tests describe
 * the baseline everyone gets). Tests compare the would-be decision, so they hold in audit mode.
 * Each organisation's policies are tested as one set; different orgs never layer together.
 */
export function runPolicyTests(
  policies: readonly CompiledPolicy[],
  context: PathContext,
): PolicyTestResult[] {
  const results: PolicyTestResult[] = [];
  for (const set of byOrg(policies).values()) results.push(...runOrgTests(set, context));
  return results;
}

/** Policies grouped by organisation, in first-seen order: each group is one policy set. */
export function byOrg(policies: readonly CompiledPolicy[]): Map<string, CompiledPolicy[]> {
  const sets = new Map<string, CompiledPolicy[]>();
  for (const p of policies) {
    const set = sets.get(p.org);
    if (set) set.push(p);
    else sets.set(p.org, [p]);
  }
  return sets;
}

function runOrgTests(policies: readonly CompiledPolicy[], context: PathContext): PolicyTestResult[] {
  const engines = new Map<string, Engine>();
  const engineFor = (groups: readonly string[]): Engine => {
    const key = [...groups].sort().join('\n');
    let engine = engines.get(key);
    if (!engine) {
      engine = createEngine(policies, { subject: { groups }, context });
      engines.set(key, engine);
    }
    return engine;
  };
  const results: PolicyTestResult[] = [];
  for (const policy of policies) {
    policy.tests.forEach((test, i) => {
      const base = { policy: policy.name, name: test.name, expect: test.expect, path: ['tests', i] };
      const parsed = parseRequest(test.request);
      if ('error' in parsed) {
        results.push({ ...base, passed: false, failure: `the request cannot be read: ${parsed.error}` });
        return;
      }
      const groups = test.groups ?? (policy.layer === 'group' ? (policy.groups ?? []) : []);
      const decision = engineFor(groups).decide(parsed.request);
      let failure = '';
      if (decision.wouldDecision !== test.expect) {
        failure = `expected ${test.expect}, got ${decision.wouldDecision}: ${decision.reason}`;
      } else if (test.rule !== undefined) {
        const wanted = test.rule;
        const found = decision.rules.some((r) => r.rule === wanted || `${r.policy}/${r.rule}` === wanted);
        if (!found) {
          const by =
            decision.rules.map((r) => `${r.policy}/${r.rule}`).join(', ') ||
            (decision.code === 'guard' ? 'the built-in guard' : 'the default');
          failure = `expected rule ${wanted} to decide, but it was ${by}`;
        }
      }
      results.push({ ...base, passed: failure === '', decision, failure });
    });
  }
  return results;
}
