// Property: across any layering, a matching enforced deny always wins, and the answer never
// depends on the order of policies or rules.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createEngine } from '../src/engine.js';
import { loadPolicies } from '../src/load.js';

const HOSTS = ['a.example', 'b.example', 'c.a.example', 'x.test'];
const PATTERNS = ['a.example', 'b.example', '*.example', '**.example', '*.a.example', 'x.test', '**'];
const LAYERS = ['guardrail', 'org', 'group', 'local'] as const;
const EFFECTS = ['allow', 'ask', 'deny'] as const;

interface RuleSpec {
  layer: (typeof LAYERS)[number];
  effect: (typeof EFFECTS)[number];
  pattern: string;
}

function render(rules: readonly RuleSpec[]): string[] {
  return LAYERS.map((layer) => {
    const mine = rules.map((r, i) => ({ ...r, i })).filter((r) => r.layer === layer);
    const allowed =
      layer === 'guardrail' || layer === 'local' ? mine.filter((r) => r.effect !== 'allow') : mine;
    const section = EFFECTS.map((effect) => {
      const list = allowed.filter((r) => r.effect === effect);
      if (list.length === 0) return '';
      return `  ${effect}:\n${list.map((r) => `    - { id: r${r.i}, hosts: ["${r.pattern}"], ports: ["*"] }`).join('\n')}\n`;
    }).join('');
    const groups = layer === 'group' ? '\n  groups: [eng]' : '';
    return `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: ${layer}-p\n  layer: ${layer}${groups}\n${section ? `network:\n${section}` : ''}`;
  });
}

function decideAll(texts: string[], host: string) {
  const loaded = loadPolicies(texts.map((text, i) => ({ file: `p${i}.yaml`, text })));
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { subject: { groups: ['eng'] }, context: { home: '/h', workspace: '/w' } },
  );
  return engine.decide({ surface: 'network', host, port: 443 });
}

const ruleArb = fc.record({
  layer: fc.constantFrom(...LAYERS),
  effect: fc.constantFrom(...EFFECTS),
  pattern: fc.constantFrom(...PATTERNS),
});

describe('deny always wins', () => {
  it('denies whenever any matching deny rule exists in any layer', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 12 }), fc.constantFrom(...HOSTS), (rules, host) => {
        const d = decideAll(render(rules), host);
        const denies = d.matched.filter((r) => r.effect === 'deny');
        if (denies.length > 0) {
          assert.equal(d.decision, 'deny');
          assert.deepEqual(new Set(d.rules.map((r) => r.rule)), new Set(denies.map((r) => r.rule)));
        } else if (d.matched.some((r) => r.effect === 'ask')) {
          assert.equal(d.decision, 'ask');
        } else {
          assert.equal(d.decision, d.matched.length > 0 ? 'allow' : 'deny');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decides the same whatever order the policies are given in', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 12 }), fc.constantFrom(...HOSTS), (rules, host) => {
        const texts = render(rules);
        const a = decideAll(texts, host);
        const b = decideAll([...texts].reverse(), host);
        assert.equal(a.decision, b.decision);
        assert.deepEqual(
          new Set(a.rules.map((r) => `${r.policy}/${r.rule}`)),
          new Set(b.rules.map((r) => `${r.policy}/${r.rule}`)),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('never lets a lower layer relax a guardrail deny', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { maxLength: 10 }), fc.constantFrom(...HOSTS), (rules, host) => {
        const withGuard: RuleSpec[] = [...rules, { layer: 'guardrail', effect: 'deny', pattern: host }];
        assert.equal(decideAll(render(withGuard), host).decision, 'deny');
      }),
      { numRuns: 150 },
    );
  });
});
