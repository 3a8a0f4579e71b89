// Embedded policy tests, impact replay (simulate) and explanations.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine } from '../src/engine.js';
import { explain, formatExplanation } from '../src/explain.js';
import { loadPolicies } from '../src/load.js';
import { runPolicyTests } from '../src/policy-tests.js';
import { simulate, type RecordedDecision } from '../src/simulate.js';

const CONTEXT = { home: '/home/u', workspace: '/w' };

function policies(...texts: string[]) {
  const r = loadPolicies(texts.map((text, i) => ({ file: `p${i}.yaml`, text })));
  assert.deepEqual(
    r.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return r.policies.map((p) => p.policy);
}

const ORG = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: base, layer: org }
network:
  allow:
    - { id: npm, hosts: [registry.npmjs.org], ports: [443] }
tests:
  - { name: npm ok, request: { network: "registry.npmjs.org:443" }, expect: allow, rule: npm }
  - { name: wrong expectation, request: { network: "example.com:443" }, expect: allow }
  - { name: wrong rule, request: { network: "registry.npmjs.org:443" }, expect: allow, rule: other }
  - { name: unreadable request, request: { network: "no-port" }, expect: deny }
`;

const GROUP = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: eng, layer: group, groups: [eng] }
network:
  allow:
    - { id: gh, hosts: [api.github.com], ports: [443] }
tests:
  - { name: engineers reach github, request: { network: "api.github.com:443" }, expect: allow }
  - { name: others do not, request: { network: "api.github.com:443" }, groups: [sales], expect: deny }
`;

describe('embedded policy tests', () => {
  it('passes a test whose decision and rule match', () => {
    const [first] = runPolicyTests(policies(ORG), CONTEXT);
    assert.equal(first?.name, 'npm ok');
    assert.equal(first?.passed, true);
    assert.equal(first?.failure, '');
  });

  it('fails a test with the wrong decision and says what happened instead', () => {
    const r = runPolicyTests(policies(ORG), CONTEXT).find((x) => x.name === 'wrong expectation');
    assert.equal(r?.passed, false);
    assert.match(r?.failure ?? '', /^expected allow, got deny: Denied: no rule matches example\.com:443/);
    assert.deepEqual(r?.path, ['tests', 1]);
  });

  it('fails a test whose decision matches but whose rule does not', () => {
    const r = runPolicyTests(policies(ORG), CONTEXT).find((x) => x.name === 'wrong rule');
    assert.equal(r?.passed, false);
    assert.equal(r?.failure, 'expected rule other to decide, but it was base/npm');
  });

  it('fails, never skips, a test whose request cannot be read', () => {
    const r = runPolicyTests(policies(ORG), CONTEXT).find((x) => x.name === 'unreadable request');
    assert.equal(r?.passed, false);
    assert.match(r?.failure ?? '', /cannot be read/);
  });

  it("runs a group policy's tests as a member of its groups unless the test names others", () => {
    const results = runPolicyTests(policies(ORG, GROUP), CONTEXT).filter((x) => x.policy === 'eng');
    assert.deepEqual(
      results.map((x) => [x.name, x.passed]),
      [
        ['engineers reach github', true],
        ['others do not', true],
      ],
    );
  });

  it('tests the policies of each organisation separately', () => {
    const other = ORG.replace('name: base, layer: org', 'name: base, layer: org, org: other').replace(
      /tests:[\s\S]*/,
      'tests:\n  - { name: isolated, request: { network: "api.github.com:443" }, groups: [eng], expect: deny }\n',
    );
    const r = runPolicyTests(policies(GROUP, other), CONTEXT).find((x) => x.name === 'isolated');
    assert.equal(r?.passed, true);
  });
});

describe('simulate: replaying recorded decisions against a draft', () => {
  const recorded: RecordedDecision[] = [
    { id: 'e1', request: { network: 'registry.npmjs.org:443' }, decision: 'allow' },
    { id: 'e2', request: { network: 'api.github.com:443' }, decision: 'allow', subject: { groups: ['eng'] } },
    { id: 'e3', request: { network: 'example.com:443' }, decision: 'deny' },
    { id: 'e4', request: { surface: 'network', host: 'pypi.org', port: 443 }, decision: 'deny' },
    { id: 'e5', request: { network: 'broken' }, decision: 'allow' },
  ];
  const draft = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: base, layer: org }
network:
  allow:
    - { id: pypi, hosts: [pypi.org], ports: [443] }
`;

  it('reports every decision that would flip, with counts by direction', () => {
    const report = simulate(recorded, policies(draft), CONTEXT);
    assert.equal(report.total, 5);
    assert.deepEqual(report.counts, { 'allow→deny': 2, 'deny→allow': 1 });
    assert.deepEqual(
      report.flips.map((f) => f.id),
      ['e1', 'e2', 'e4'],
    );
    assert.equal(report.flips[2]?.after.rules[0]?.rule, 'pypi');
    assert.equal(report.unchanged, 1);
  });

  it('counts records it cannot read instead of dropping them', () => {
    const report = simulate(recorded, policies(draft), CONTEXT);
    assert.equal(report.unreadable.length, 1);
    assert.equal(report.unreadable[0]?.id, 'e5');
  });

  it('reports nothing when the draft decides as before', () => {
    const same = simulate(recorded.slice(0, 4), policies(ORG.replace(/tests:[\s\S]*/, ''), GROUP), CONTEXT);
    assert.equal(same.flips.length, 0);
    assert.equal(same.unchanged, 4);
    assert.deepEqual(same.counts, {});
  });
});

describe('explain', () => {
  it('lists the policies in force, the matching rules and the decision', () => {
    const e = createEngine(policies(ORG, GROUP), { subject: { groups: ['eng'] }, context: CONTEXT });
    const text = formatExplanation(explain(e, { surface: 'network', host: 'API.GitHub.com.', port: 443 }));
    assert.match(text, /^ALLOW {2}network connect api\.github\.com:443/);
    assert.match(text, /note: API\.GitHub\.com\. → api\.github\.com \(lowercased, trailing-dot-stripped\)/);
    assert.match(text, /org {7}base {2}\(revision 0, enforce\)/);
    assert.match(text, /group {5}eng/);
    assert.match(text, /→ allow eng\/gh/);
    assert.match(text, /default for network: deny/);
  });

  it('shows the built-in guard when it decided', () => {
    const e = createEngine(policies(ORG), { context: CONTEXT });
    const text = formatExplanation(explain(e, { surface: 'network', host: '2852039166', port: 80 }));
    assert.match(text, /DENY {2}network connect 169\.254\.169\.254:80/);
    assert.match(text, /built-in guard: the cloud instance metadata service .*locked/);
  });
});
