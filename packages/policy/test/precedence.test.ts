// Precedence, layering and enforcement modes: the contract of DESIGN.md "Policy semantics".

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine, type Subject } from '../src/engine.js';
import { loadPolicies } from '../src/load.js';
import { parseRequest } from '../src/request.js';

const CONTEXT = { home: '/home/u', workspace: '/w' };

function doc(name: string, layer: string, body: string, extra = ''): string {
  const groups = layer === 'group' ? `\n  groups: [${name}]` : '';
  return `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: ${name}\n  layer: ${layer}${groups}\n${extra}${body}\n`;
}

function engine(docs: string[], subject?: Subject) {
  const loaded = loadPolicies(docs.map((text, i) => ({ file: `p${i}.yaml`, text })));
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message),
    [],
  );
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: CONTEXT, ...(subject ? { subject } : {}) },
  );
}

function decide(e: ReturnType<typeof engine>, short: Record<string, unknown>) {
  const parsed = parseRequest(short);
  if ('error' in parsed) throw new Error(parsed.error);
  return e.decide(parsed.request);
}

const ALLOW_X = 'network:\n  allow:\n    - { id: allow-x, hosts: [x.example] }';
const DENY_X = 'network:\n  deny:\n    - { id: deny-x, hosts: [x.example] }';
const ASK_X = 'network:\n  ask:\n    - { id: ask-x, hosts: [x.example] }';

describe('precedence: deny > ask > allow > default', () => {
  it('allows when only an allow rule matches', () => {
    const d = decide(engine([doc('a', 'org', ALLOW_X)]), { network: 'x.example:443' });
    assert.equal(d.decision, 'allow');
    assert.deepEqual(
      d.rules.map((r) => r.rule),
      ['allow-x'],
    );
    assert.equal(d.code, 'rule');
  });

  it('asks when an ask and an allow both match', () => {
    const d = decide(engine([doc('a', 'org', ALLOW_X), doc('b', 'org', ASK_X)]), {
      network: 'x.example:443',
    });
    assert.equal(d.decision, 'ask');
    assert.deepEqual(
      d.rules.map((r) => r.rule),
      ['ask-x'],
    );
  });

  it('denies when a deny, an ask and an allow all match', () => {
    const d = decide(engine([doc('a', 'org', ALLOW_X), doc('b', 'org', ASK_X), doc('c', 'org', DENY_X)]), {
      network: 'x.example:443',
    });
    assert.equal(d.decision, 'deny');
    assert.deepEqual(
      d.rules.map((r) => r.rule),
      ['deny-x'],
    );
    assert.deepEqual(d.matched.map((r) => r.rule).sort(), ['allow-x', 'ask-x', 'deny-x']);
  });

  it('gives the same answer whatever order the policies come in', () => {
    const docs = [doc('a', 'org', ALLOW_X), doc('b', 'org', ASK_X), doc('c', 'org', DENY_X)];
    const forward = decide(engine(docs), { network: 'x.example:443' });
    const backward = decide(engine([...docs].reverse()), { network: 'x.example:443' });
    assert.equal(forward.decision, backward.decision);
    assert.deepEqual(forward.rules, backward.rules);
  });

  it('names every determining rule when several rules of the winning effect match', () => {
    const two =
      'network:\n  deny:\n    - { id: d1, hosts: [x.example] }\n    - { id: d2, hosts: ["*.example"] }';
    const d = decide(engine([doc('a', 'org', two)]), { network: 'x.example:443' });
    assert.deepEqual(d.rules.map((r) => r.rule).sort(), ['d1', 'd2']);
    assert.match(d.reason, /rules "d1".*"d2"|rules "d2".*"d1"/);
  });

  it('falls back to the surface default and says so', () => {
    const d = decide(engine([doc('a', 'org', ALLOW_X)]), { network: 'y.example:443' });
    assert.equal(d.decision, 'deny');
    assert.equal(d.code, 'default');
    assert.deepEqual(d.rules, []);
    assert.match(d.reason, /no rule matches y\.example:443, and the network default is deny/);
  });

  it('denies network, mcp and credentials by default when there is no policy at all', () => {
    const e = createEngine([], { context: CONTEXT });
    assert.equal(decide(e, { network: 'example.com:443' }).decision, 'deny');
    assert.equal(decide(e, { mcp: 'fs/read_file' }).decision, 'deny');
    assert.equal(decide(e, { credential: 'token' }).decision, 'deny');
    assert.equal(decide(e, { filesystem: '/w/a' }).decision, 'deny');
    assert.equal(decide(e, { exec: 'ls' }).decision, 'allow');
  });

  it('treats an empty allow list as deny-all, never allow-all (redteam-68)', () => {
    const d = decide(engine([doc('a', 'org', 'network:\n  allow: []')]), { network: 'example.com:443' });
    assert.equal(d.decision, 'deny');
    assert.equal(d.code, 'default');
  });

  it('takes the most restrictive filesystem and exec default across policies', () => {
    const e = engine([
      doc('a', 'org', 'filesystem:\n  default: allow\nexec:\n  default: allow'),
      doc('b', 'guardrail', 'filesystem:\n  default: ask\nexec:\n  default: deny'),
    ]);
    assert.equal(decide(e, { filesystem: '/anything' }).decision, 'ask');
    assert.equal(decide(e, { exec: 'ls' }).decision, 'deny');
  });
});

describe('layering: guardrail → org → group → local', () => {
  it('lets a guardrail deny beat a group allow', () => {
    const e = engine([doc('g', 'guardrail', DENY_X), doc('eng', 'group', ALLOW_X)], { groups: ['eng'] });
    const d = decide(e, { network: 'x.example:443' });
    assert.equal(d.decision, 'deny');
    assert.equal(d.rules[0]?.layer, 'guardrail');
    assert.equal(d.rules[0]?.policy, 'g');
  });

  it('refuses an allow rule in a guardrail at load time', () => {
    const r = loadPolicies([{ file: 'g.yaml', text: doc('g', 'guardrail', ALLOW_X) }]);
    const err = r.diagnostics.find((x) => x.code === 'allow-in-locked-layer');
    assert.ok(err, 'expected allow-in-locked-layer');
    assert.equal(err.at?.line, 7);
  });

  it('refuses an allow rule in a local policy, but applies its denies', () => {
    const refused = loadPolicies([{ file: 'l.yaml', text: doc('l', 'local', ALLOW_X) }]);
    assert.ok(refused.diagnostics.some((x) => x.code === 'allow-in-locked-layer'));
    const e = engine([doc('o', 'org', ALLOW_X), doc('l', 'local', DENY_X)]);
    const d = decide(e, { network: 'x.example:443' });
    assert.equal(d.decision, 'deny');
    assert.equal(d.rules[0]?.layer, 'local');
  });

  it('refuses a guardrail or local policy that would loosen the gateway: pinning: tofu, secrets: redact, promptInjection: flag', () => {
    for (const layer of ['guardrail', 'local'] as const) {
      const r = loadPolicies([
        {
          file: 'l.yaml',
          text: doc('l', layer, 'mcp:\n  pinning: tofu\n  secrets: redact\n  promptInjection: flag\n'),
        },
      ]);
      const found = r.diagnostics.filter((x) => x.code === 'loosens-in-locked-layer');
      assert.deepEqual(
        found.map((x) => x.message),
        [
          `a ${layer} policy cannot trust definitions on first use (pinning: tofu)`,
          `a ${layer} policy cannot let calls with secrets through redacted (secrets: redact)`,
          `a ${layer} policy cannot let hidden characters in results through (promptInjection: flag)`,
        ],
      );
      for (const strict of ['strip', 'block'])
        assert.deepEqual(
          loadPolicies([
            {
              file: 'l.yaml',
              text: doc(
                'l',
                layer,
                `mcp:\n  pinning: approve\n  secrets: block\n  promptInjection: ${strict}\n`,
              ),
            },
          ]).diagnostics,
          [],
          'the stricter values are theirs to say',
        );
      const tightens = loadPolicies([
        { file: 'l.yaml', text: doc('l', layer, 'mcp:\n  pinning: approve\n  secrets: block\n') },
      ]);
      assert.deepEqual(tightens.diagnostics, [], 'the stricter values are theirs to say');
    }
  });

  it('applies a group policy only to members of its groups', () => {
    const docs = [doc('eng', 'group', ALLOW_X)];
    assert.equal(decide(engine(docs, { groups: ['eng'] }), { network: 'x.example:443' }).decision, 'allow');
    assert.equal(decide(engine(docs, { groups: ['sales'] }), { network: 'x.example:443' }).decision, 'deny');
    assert.equal(decide(engine(docs, { groups: [] }), { network: 'x.example:443' }).decision, 'deny');
  });

  it('applies no group policy to a subject without groups (an unknown subject gets the baseline)', () => {
    const d = decide(engine([doc('eng', 'group', ALLOW_X)]), { network: 'x.example:443' });
    assert.equal(d.decision, 'deny');
  });

  it("applies every group policy only when asked to with groups: 'all'", () => {
    const d = decide(engine([doc('eng', 'group', ALLOW_X)], { groups: 'all' }), { network: 'x.example:443' });
    assert.equal(d.decision, 'allow');
  });

  it('requires groups on a group policy and forbids them elsewhere', () => {
    const noGroups = loadPolicies([
      {
        file: 'a.yaml',
        text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: a\n  layer: group\n',
      },
    ]);
    assert.ok(noGroups.diagnostics.some((x) => x.code === 'group-without-groups'));
    const stray = loadPolicies([
      {
        file: 'b.yaml',
        text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: b\n  layer: org\n  groups: [x]\n',
      },
    ]);
    assert.ok(stray.diagnostics.some((x) => x.code === 'groups-outside-group-layer'));
  });

  it('reports the policy, revision, rule id and layer of each determining rule', () => {
    const text = doc('g', 'guardrail', DENY_X).replace(
      'layer: guardrail',
      'layer: guardrail\n  revision: 42',
    );
    const d = decide(engine([text]), { network: 'x.example:443' });
    assert.deepEqual(d.rules[0], {
      policy: 'g',
      revision: 42,
      rule: 'deny-x',
      layer: 'guardrail',
      effect: 'deny',
      mode: 'enforce',
    });
  });

  it('refuses to layer policies of two organisations together', () => {
    const loaded = loadPolicies([
      { file: 'a.yaml', text: doc('a', 'org', ALLOW_X).replace('layer: org', 'layer: org\n  org: one') },
      { file: 'b.yaml', text: doc('b', 'org', DENY_X).replace('layer: org', 'layer: org\n  org: two') },
    ]);
    assert.throws(
      () =>
        createEngine(
          loaded.policies.map((p) => p.policy),
          { context: CONTEXT },
        ),
      /2 organisations/,
    );
  });
});

describe('modes: enforce and audit', () => {
  it('records an audit-mode deny as would-be while an enforced allow lets it through', () => {
    const e = engine([doc('g', 'guardrail', DENY_X, 'mode: audit\n'), doc('o', 'org', ALLOW_X)]);
    const d = decide(e, { network: 'x.example:443' });
    assert.equal(d.decision, 'allow');
    assert.equal(d.wouldDecision, 'deny');
    assert.equal(d.mode, 'audit');
    assert.equal(d.rules[0]?.rule, 'deny-x');
    assert.equal(d.rules[0]?.mode, 'audit');
    assert.match(d.reason, /Audit mode: would be denied, allowed for now/);
  });

  it('lets everything through when every policy is in audit mode, recording the default deny', () => {
    const d = decide(engine([doc('o', 'org', ALLOW_X, 'mode: audit\n')]), { network: 'y.example:443' });
    assert.equal(d.decision, 'allow');
    assert.equal(d.wouldDecision, 'deny');
    assert.equal(d.mode, 'audit');
    assert.equal(d.code, 'default');
  });

  it('keeps the default enforced while any policy enforces, so an audit-mode allow grants nothing', () => {
    const e = engine(
      [doc('o', 'org', 'network:\n  allow: []'), doc('eng', 'group', ALLOW_X, 'mode: audit\n')],
      {
        groups: ['eng'],
      },
    );
    const d = decide(e, { network: 'x.example:443' });
    assert.equal(d.wouldDecision, 'allow');
    assert.equal(d.decision, 'deny');
    assert.equal(d.mode, 'audit');
  });

  it('lets a rule override its policy mode', () => {
    const body =
      'network:\n  deny:\n    - { id: soft, hosts: [x.example], mode: audit }\n    - { id: hard, hosts: [y.example] }';
    const e = engine([
      doc('o', 'org', body + '\n  allow:\n    - { id: all, hosts: [x.example, y.example] }'),
    ]);
    const soft = decide(e, { network: 'x.example:443' });
    assert.equal(soft.decision, 'allow');
    assert.equal(soft.wouldDecision, 'deny');
    const hard = decide(e, { network: 'y.example:443' });
    assert.equal(hard.decision, 'deny');
    assert.equal(hard.mode, 'enforce');
  });

  it('never softens the built-in guard in audit mode', () => {
    const open = 'network:\n  allow:\n    - { id: any, hosts: ["**"], cidrs: [0.0.0.0/0], ports: ["*"] }';
    const d = decide(engine([doc('o', 'org', open, 'mode: audit\n')]), { network: '127.0.0.1:80' });
    assert.equal(d.decision, 'deny');
    assert.equal(d.code, 'guard');
    assert.equal(d.mode, 'enforce');
  });
});
