// The semantic diff between two revisions of a policy: changes keyed by id, never by position,
// and the per-effect pattern view an admin reads before publishing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffPolicies, loadPolicies, type PolicyDocument } from '../src/index.js';
import { policyText } from './helpers.js';

/** The document as the schema checked it (what the server keeps for every valid revision). */
function doc(yaml: string): PolicyDocument {
  const { policies, diagnostics } = loadPolicies([{ file: 'p.yaml', text: policyText(yaml, 'p') }]);
  assert.deepEqual(diagnostics, []);
  return policies[0]?.checked as PolicyDocument;
}

const BASE = `
  network:
    allow:
      - { id: models, hosts: [api.anthropic.com, "**.openai.com"], ports: [443] }
      - { id: github, hosts: [api.github.com] }
    deny:
      - { id: metadata, cidrs: [169.254.0.0/16] }
  filesystem:
    deny:
      - { id: secrets, paths: ["~/.ssh/**"] }
`;

describe('diffPolicies', () => {
  it('reports nothing between a revision and itself, or a reordering of its rules', () => {
    const reordered = `
      network:
        deny:
          - { id: metadata, cidrs: [169.254.0.0/16] }
        allow:
          - { id: github, hosts: [api.github.com] }
          - { id: models, hosts: ["**.openai.com", api.anthropic.com], ports: [443] }
      filesystem:
        deny:
          - { id: secrets, paths: ["~/.ssh/**"] }
    `;
    assert.equal(diffPolicies(doc(BASE), doc(BASE)).isEmpty, true);
    const diff = diffPolicies(doc(BASE), doc(reordered));
    assert.deepEqual(diff.changes, []);
    assert.deepEqual(diff.patterns, {});
  });

  it('treats every rule and setting as added when there is no earlier revision', () => {
    const diff = diffPolicies(undefined, doc(BASE));
    const rules = diff.changes.filter((c) => c.what === 'rule');
    assert.deepEqual(
      rules.map((c) => [c.kind, c.surface, c.id]),
      [
        ['added', 'network', 'models'],
        ['added', 'network', 'github'],
        ['added', 'network', 'metadata'],
        ['added', 'filesystem', 'secrets'],
      ],
    );
    assert.deepEqual(diff.patterns.network?.allow?.added, [
      'api.anthropic.com',
      '**.openai.com',
      'api.github.com',
    ]);
    assert.match(
      rules[0]?.summary ?? '',
      /^network allow rule "models" added \(hosts: api\.anthropic\.com, \*\*\.openai\.com; ports: 443\)$/,
    );
  });

  it('names the hosts added to and removed from a rule, and where the rule is', () => {
    const after = BASE.replace('[api.anthropic.com, "**.openai.com"]', '[api.anthropic.com, api.mistral.ai]');
    const diff = diffPolicies(doc(BASE), doc(after));
    assert.equal(diff.changes.length, 1);
    const change = diff.changes[0];
    assert.equal(change?.kind, 'changed');
    assert.equal(change?.id, 'models');
    assert.deepEqual(change?.path, ['network', 'allow', 0]);
    assert.deepEqual(change?.fields, [
      { field: 'hosts', added: ['api.mistral.ai'], removed: ['**.openai.com'] },
    ]);
    assert.equal(change?.summary, 'network rule "models" changed: hosts +api.mistral.ai −**.openai.com');
    assert.deepEqual(diff.patterns, {
      network: { allow: { added: ['api.mistral.ai'], removed: ['**.openai.com'] } },
    });
  });

  it('sees a rule that moves from allow to deny as one change of effect', () => {
    const after = `
      network:
        allow:
          - { id: models, hosts: [api.anthropic.com, "**.openai.com"], ports: [443] }
        deny:
          - { id: metadata, cidrs: [169.254.0.0/16] }
          - { id: github, hosts: [api.github.com] }
      filesystem:
        deny:
          - { id: secrets, paths: ["~/.ssh/**"] }
    `;
    const diff = diffPolicies(doc(BASE), doc(after));
    assert.equal(diff.changes.length, 1);
    assert.deepEqual(diff.changes[0]?.effect, { before: 'allow', after: 'deny' });
    assert.equal(diff.changes[0]?.summary, 'network rule "github" changed: effect allow → deny');
    assert.deepEqual(diff.patterns.network, {
      allow: { added: [], removed: ['api.github.com'] },
      deny: { added: ['api.github.com'], removed: [] },
    });
  });

  it('reports removed rules at their place in the old revision', () => {
    const after = BASE.replace(
      '      - { id: secrets, paths: ["~/.ssh/**"] }\n',
      '      - { id: env, paths: ["**/.env"] }\n',
    );
    const diff = diffPolicies(doc(BASE), doc(after));
    assert.deepEqual(
      diff.changes.map((c) => [c.kind, c.id, c.path]),
      [
        ['added', 'env', ['filesystem', 'deny', 0]],
        ['removed', 'secrets', ['filesystem', 'deny', 0]],
      ],
    );
    assert.deepEqual(diff.patterns.filesystem?.deny, { added: ['**/.env'], removed: ['~/.ssh/**'] });
  });

  it('compares scalar fields and policy settings by value', () => {
    const before = `
      mode: enforce
      filesystem:
        allow:
          - { id: ws, paths: ["\${workspace}/**"], access: read }
    `;
    const after = `
      mode: audit
      filesystem:
        allow:
          - { id: ws, paths: ["\${workspace}/**"], access: rw }
    `;
    const diff = diffPolicies(doc(before), doc(after));
    assert.deepEqual(
      diff.changes.map((c) => c.summary),
      ['filesystem rule "ws" changed: access "read" → "rw"', 'setting mode "enforce" → "audit"'],
    );
  });

  it('tracks MCP tools as server/tool, MCP servers by id, and tests by name', () => {
    const before = `
      mcp:
        servers:
          - { id: fs, command: [mcp-fs] }
        allow:
          - { id: fs-read, server: fs, tools: ["read_*"] }
      tests:
        - { name: reads, request: { mcp: fs/read_file }, expect: allow }
    `;
    const after = `
      mcp:
        servers:
          - { id: fs, command: [mcp-fs, --root, /w] }
          - { id: gh, url: "https://example.com/mcp" }
        allow:
          - { id: fs-read, server: fs, tools: ["read_*", "list_*"] }
        ask:
          - { id: gh-all, server: gh }
    `;
    const diff = diffPolicies(doc(before), doc(after));
    assert.deepEqual(
      diff.changes.map((c) => [c.what, c.kind, c.id]),
      [
        ['rule', 'changed', 'fs-read'],
        ['rule', 'added', 'gh-all'],
        ['mcp-server', 'changed', 'fs'],
        ['mcp-server', 'added', 'gh'],
        ['test', 'removed', 'reads'],
      ],
    );
    assert.deepEqual(diff.patterns.mcp, {
      allow: { added: ['fs/list_*'], removed: [] },
      ask: { added: ['gh/*'], removed: [] },
    });
    assert.deepEqual(diff.changes[2]?.fields, [{ field: 'command', added: ['--root', '/w'] }]);
  });

  it('lists credential bindings as secret → host', () => {
    const before = `
      credentials:
        - { id: gh, secret: github-token, inject: { hosts: [api.github.com] } }
    `;
    const after = `
      credentials:
        - { id: gh, secret: github-token, inject: { hosts: [api.github.com, uploads.github.com] } }
    `;
    const diff = diffPolicies(doc(before), doc(after));
    assert.deepEqual(diff.patterns.credential?.allow, {
      added: ['github-token → uploads.github.com'],
      removed: [],
    });
    assert.equal(diff.changes.length, 1);
    assert.equal(diff.changes[0]?.path.join('.'), 'credentials.allow.0');
  });
});
