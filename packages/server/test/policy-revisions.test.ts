// Policies and their revisions through the API: numbered, immutable drafts; validation, lint and
// test results located by line and column; the semantic diff; publishing gated on validity and
// tests; rollbacks that publish a new revision; numbers that only grow.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eachServer, policyYaml, type ErrorReply, type Harness } from './harness.js';

interface Created {
  policy: { id: string; latestRevision: number; publishedRevision: number | null };
  revision: { number: number; status: string } | null;
  validation: Validation | null;
}
interface Finding {
  severity: string;
  code: string;
  message: string;
  line: number;
  col: number;
  policy: string;
  revision: number;
  path?: string;
}
interface Validation {
  valid: boolean;
  findings: Finding[];
}
interface Published {
  policy: { publishedRevision: number; latestRevision: number };
  revision: { number: number; status: string; rolledBackFrom: number | null; sha256: string };
  publication: { seq: number; kind: string; revision: number };
}

const GITHUB = policyYaml(
  'github',
  `network:
  allow:
    - { id: api, hosts: [api.github.com], ports: [443] }
tests:
  - { name: api allowed, request: { network: "api.github.com:443" }, expect: allow, rule: api }
`,
);

async function newPolicy(h: Harness, name: string, text?: string): Promise<Created> {
  const reply = await h.owner.post<Created>(`${h.base}/policies`, {
    name,
    ...(text !== undefined ? { text } : {}),
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.body;
}

async function draft(
  h: Harness,
  policyId: string,
  text: string,
): Promise<{ number: number; validation: Validation }> {
  const reply = await h.owner.post<{ revision: { number: number }; validation: Validation }>(
    `${h.base}/policies/${policyId}/revisions`,
    { text },
  );
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return { number: reply.body.revision.number, validation: reply.body.validation };
}

eachServer('policy revisions', (harness) => {
  it('revisions are numbered from 1, and their text never changes', async () => {
    const h = harness();
    const created = await newPolicy(h, 'immutable', policyYaml('immutable', 'mode: enforce\n'));
    assert.equal(created.revision?.number, 1);
    const second = await draft(h, created.policy.id, policyYaml('immutable', 'mode: audit\n'));
    assert.equal(second.number, 2);
    const one = await h.owner.get<{ text: string; sha256: string }>(
      `${h.base}/policies/${created.policy.id}/revisions/1`,
    );
    assert.equal(one.body.text, policyYaml('immutable', 'mode: enforce\n'));
    // No endpoint edits a revision…
    const edit = await h.owner.request('PATCH', `${h.base}/policies/${created.policy.id}/revisions/1`, {
      text: 'x',
    });
    assert.equal(edit.status, 405);
    // …and the database itself refuses, whatever code tries.
    await assert.rejects(
      h.server.db.run("UPDATE policy_revisions SET text = 'tampered' WHERE policy_id = ?", [
        created.policy.id,
      ]),
      /immutable/,
    );
    const again = await h.owner.get<{ text: string; sha256: string }>(
      `${h.base}/policies/${created.policy.id}/revisions/1`,
    );
    assert.deepEqual(again.body, one.body);
  });

  it('a policy name is used once per organisation', async () => {
    const h = harness();
    await newPolicy(h, 'unique-name');
    const twice = await h.owner.post(`${h.base}/policies`, { name: 'unique-name' });
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.message, 'a policy named unique-name already exists');
  });

  it('validation reports every problem with its line and column', async () => {
    const h = harness();
    const text = policyYaml(
      'broken',
      `network:
  allow:
    - { id: ok, hosts: [api.github.com] }
    - { id: bad, hosts: ["exa mple.com"] }
  allwo:
    - { id: typo, hosts: [x.com] }
`,
    );
    const created = await newPolicy(h, 'broken', text);
    assert.equal(created.validation?.valid, false);
    const stored = await h.owner.get<Validation>(
      `${h.base}/policies/${created.policy.id}/revisions/1/validation`,
    );
    assert.equal(stored.status, 200);
    const unknown = stored.body.findings.find((f) => f.code === 'unknown-key');
    assert.ok(unknown, JSON.stringify(stored.body.findings));
    assert.deepEqual([unknown.line, unknown.col, unknown.message], [10, 3, 'unknown key "allwo" in network']);
    assert.equal(unknown.policy, 'broken');
    assert.equal(unknown.revision, 1);
  });

  it('pattern errors and the server’s own rules are located too', async () => {
    const h = harness();
    const created = await newPolicy(h, 'patterns');
    const text = `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: not-patterns
  org: somebody-else
  layer: org
network:
  allow:
    - { id: bad, hosts: ["exa mple.com"] }
`;
    const { validation } = await draft(h, created.policy.id, text);
    assert.equal(validation.valid, false);
    const byCode = new Map(validation.findings.map((f) => [f.code, f]));
    assert.deepEqual(
      [byCode.get('name-mismatch')?.line, byCode.get('org-mismatch')?.line],
      [4, 5],
      JSON.stringify(validation.findings),
    );
    const pattern = validation.findings.find((f) => f.path === 'network.allow[0].hosts[0]');
    assert.ok(pattern, JSON.stringify(validation.findings));
    assert.equal(pattern.line, 9);
  });

  it('lint and tests need a valid revision: otherwise a 422 with its findings', async () => {
    const h = harness();
    const created = await newPolicy(h, 'invalid', policyYaml('invalid', 'bogus: 1\n'));
    for (const check of ['lint', 'tests', 'diff']) {
      const reply = await h.owner.get(`${h.base}/policies/${created.policy.id}/revisions/1/${check}`);
      assert.equal(reply.status, 422, check);
      assert.equal(reply.body.error.code, 'invalid-revision');
      assert.match(
        reply.body.error.message,
        /^revision 1 of invalid is not a valid policy: line 6: unknown key "bogus"/,
      );
    }
  });

  it('lint findings name the line of the rule they are about', async () => {
    const h = harness();
    const text = policyYaml(
      'broad',
      `network:
  allow:
    - { id: everything, hosts: ["**"] }
`,
    );
    const created = await newPolicy(h, 'broad', text);
    const lint = await h.owner.get<{ warnings: number; findings: Finding[] }>(
      `${h.base}/policies/${created.policy.id}/revisions/1/lint`,
    );
    assert.equal(lint.status, 200);
    const broad = lint.body.findings.find((f) => f.path?.startsWith('network.allow[0]'));
    assert.ok(broad, JSON.stringify(lint.body.findings));
    assert.equal(broad.line, 8);
    assert.ok(lint.body.warnings >= 1);
  });

  it('a failing policy test is reported with its line, and blocks publishing', async () => {
    const h = harness();
    const text = policyYaml(
      'wrong-test',
      `network:
  allow:
    - { id: api, hosts: [api.github.com] }
tests:
  - { name: passes, request: { network: "api.github.com:443" }, expect: allow }
  - { name: fails, request: { network: "evil.example:443" }, expect: allow }
`,
    );
    const created = await newPolicy(h, 'wrong-test', text);
    const tests = await h.owner.get<{
      passed: number;
      failed: number;
      results: { name: string; passed: boolean; line: number; failure: string }[];
    }>(`${h.base}/policies/${created.policy.id}/revisions/1/tests`);
    assert.equal(tests.status, 200);
    assert.deepEqual([tests.body.passed, tests.body.failed], [1, 1]);
    const failing = tests.body.results.find((r) => !r.passed);
    assert.equal(failing?.name, 'fails');
    assert.equal(failing?.line, 11);
    assert.match(failing?.failure ?? '', /^expected allow, got deny/);
    const publish = await h.owner.post(`${h.base}/policies/${created.policy.id}/revisions/1/publish`);
    assert.equal(publish.status, 422);
    assert.equal(publish.body.error.code, 'publish-blocked');
    assert.match(publish.body.error.message, /^1 policy test fails .*"fails" in wrong-test, line 11/);
    const after = await h.owner.get<{ publishedRevision: number | null }>(
      `${h.base}/policies/${created.policy.id}`,
    );
    assert.equal(after.body.publishedRevision, null, 'nothing was published');
  });

  it("a revision that breaks another policy's tests cannot be published", async () => {
    const h = harness();
    const guardText = (host: string): string =>
      policyYaml('guard', `network:\n  deny:\n    - { id: no-paste, hosts: [${host}] }\n`, 'guardrail');
    const guard = await newPolicy(h, 'guard', guardText('pastebin.com'));
    assert.equal(
      (await h.owner.post(`${h.base}/policies/${guard.policy.id}/revisions/1/publish`)).status,
      200,
    );
    // An org policy that allows pastebin.com, and tests that the guardrail still denies it.
    const open = await newPolicy(
      h,
      'open',
      policyYaml(
        'open',
        `network:
  allow:
    - { id: paste, hosts: [pastebin.com] }
tests:
  - { name: guardrail holds, request: { network: "pastebin.com:443" }, expect: deny, rule: no-paste }
`,
      ),
    );
    const ok = await h.owner.post<Published>(`${h.base}/policies/${open.policy.id}/revisions/1/publish`);
    assert.equal(ok.status, 200);
    // Weakening the guardrail breaks the org policy's test: refused.
    const weakened = await draft(h, guard.policy.id, guardText('paste.example'));
    const refused = await h.owner.post<ErrorReply>(
      `${h.base}/policies/${guard.policy.id}/revisions/${weakened.number}/publish`,
    );
    assert.equal(refused.status, 422);
    assert.match(refused.body.error.message, /"guardrail holds" in open, line 10: expected deny, got allow/);
    const tests = await h.owner.get<{ failed: number }>(
      `${h.base}/policies/${guard.policy.id}/revisions/${weakened.number}/tests`,
    );
    assert.equal(tests.body.failed, 1);
  });

  it('the diff names the rules, hosts and settings a revision changes', async () => {
    const h = harness();
    const created = await newPolicy(h, 'github', GITHUB);
    const second = await draft(
      h,
      created.policy.id,
      GITHUB.replace('hosts: [api.github.com]', 'hosts: [api.github.com, uploads.github.com]').replace(
        'network:',
        'mode: audit\nnetwork:',
      ),
    );
    // Against nothing published: everything is added.
    const first = await h.owner.get<{ from: number | null; changes: { kind: string }[] }>(
      `${h.base}/policies/${created.policy.id}/revisions/1/diff`,
    );
    assert.equal(first.body.from, null);
    assert.ok(first.body.changes.every((c) => c.kind === 'added'));
    const diff = await h.owner.get<{
      from: number;
      to: number;
      changes: { summary: string }[];
      patterns: Record<string, Record<string, { added: string[]; removed: string[] }>>;
    }>(`${h.base}/policies/${created.policy.id}/revisions/${second.number}/diff?against=1`);
    assert.equal(diff.status, 200);
    assert.deepEqual([diff.body.from, diff.body.to], [1, 2]);
    assert.deepEqual(
      diff.body.changes.map((c) => c.summary),
      ['network rule "api" changed: hosts +uploads.github.com', 'setting mode (unset) → "audit"'],
    );
    assert.deepEqual(diff.body.patterns.network?.allow, { added: ['uploads.github.com'], removed: [] });
    const bad = await h.owner.get(`${h.base}/policies/${created.policy.id}/revisions/2/diff?against=one`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.message, '"against": against is a revision number');
  });

  it('publish and rollback: published numbers only grow, and a rollback is a new revision', async () => {
    const h = harness();
    const created = await newPolicy(h, 'numbered', policyYaml('numbered', 'mode: enforce\n'));
    const id = created.policy.id;
    const v2 = await draft(h, id, policyYaml('numbered', 'mode: audit\n'));
    const p1 = await h.owner.post<Published>(`${h.base}/policies/${id}/revisions/1/publish`);
    assert.equal(p1.status, 200);
    const p2 = await h.owner.post<Published>(`${h.base}/policies/${id}/revisions/${v2.number}/publish`);
    assert.equal(p2.status, 200);
    assert.equal(
      p2.body.publication.seq,
      p1.body.publication.seq + 1,
      'publications are numbered per organisation',
    );
    assert.equal(p2.body.revision.status, 'published');

    const republish = await h.owner.post(`${h.base}/policies/${id}/revisions/1/publish`);
    assert.equal(republish.status, 409);
    assert.equal(republish.body.error.message, 'revision 1 is older than the published revision 2');
    const same = await h.owner.post(`${h.base}/policies/${id}/revisions/2/publish`);
    assert.equal(same.status, 409);

    const rollback = await h.owner.post<Published>(`${h.base}/policies/${id}/rollback`, { to: 1 });
    assert.equal(rollback.status, 200);
    assert.equal(rollback.body.revision.number, 3);
    assert.equal(rollback.body.revision.rolledBackFrom, 1);
    assert.equal(rollback.body.publication.kind, 'rollback');
    assert.equal(rollback.body.publication.seq, p2.body.publication.seq + 1);
    assert.equal(rollback.body.policy.publishedRevision, 3);
    const text3 = await h.owner.get<{ text: string; sha256: string }>(`${h.base}/policies/${id}/revisions/3`);
    const text1 = await h.owner.get<{ text: string; sha256: string }>(`${h.base}/policies/${id}/revisions/1`);
    assert.equal(text3.body.sha256, text1.body.sha256);

    const statuses = await h.owner.get<{ revisions: { number: number; status: string }[] }>(
      `${h.base}/policies/${id}/revisions`,
    );
    assert.deepEqual(
      statuses.body.revisions.map((r) => [r.number, r.status]),
      [
        [3, 'published'],
        [2, 'retired'],
        [1, 'retired'],
      ],
    );
    // Rolling back to something never published, or to the future, is refused.
    const v4 = await draft(h, id, policyYaml('numbered', 'mode: audit\n# never published\n'));
    assert.equal((await h.owner.post(`${h.base}/policies/${id}/rollback`, { to: v4.number })).status, 409);
    const publications = await h.owner.get<{
      publications: { seq: number; revision: number; kind: string }[];
    }>(`${h.base}/publications`);
    assert.deepEqual(
      publications.body.publications.slice(0, 3).map((p) => [p.revision, p.kind]),
      [
        [3, 'rollback'],
        [2, 'publish'],
        [1, 'publish'],
      ],
    );
  });

  it('concurrent publishes get distinct numbers, and one revision is published once', async () => {
    const h = harness();
    const a = await newPolicy(h, 'race-a', policyYaml('race-a', 'mode: enforce\n'));
    const b = await newPolicy(h, 'race-b', policyYaml('race-b', 'mode: enforce\n'));
    const results = await Promise.all([
      h.owner.post<Published>(`${h.base}/policies/${a.policy.id}/revisions/1/publish`),
      h.owner.post<Published>(`${h.base}/policies/${b.policy.id}/revisions/1/publish`),
      h.owner.post<Published>(`${h.base}/policies/${a.policy.id}/revisions/1/publish`),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 409]);
    const seqs = results.filter((r) => r.status === 200).map((r) => r.body.publication.seq);
    assert.equal(new Set(seqs).size, 2);
  });

  it('a revision is given as text or as a JSON document, not both and not neither', async () => {
    const h = harness();
    const created = await newPolicy(h, 'as-json');
    const doc = {
      apiVersion: 'perimeter/v1',
      kind: 'Policy',
      metadata: { name: 'as-json', layer: 'org' },
      network: { allow: [{ id: 'gh', hosts: ['api.github.com'] }] },
    };
    const ok = await h.owner.post<{ validation: Validation }>(
      `${h.base}/policies/${created.policy.id}/revisions`,
      {
        document: doc,
      },
    );
    assert.equal(ok.status, 201);
    assert.equal(ok.body.validation.valid, true);
    const both = await h.owner.post(`${h.base}/policies/${created.policy.id}/revisions`, {
      document: doc,
      text: 'x',
    });
    assert.equal(both.status, 400);
    assert.equal(both.body.error.message, 'give the revision as text or as document, not both');
    const neither = await h.owner.post(`${h.base}/policies/${created.policy.id}/revisions`, {});
    assert.equal(neither.status, 400);
  });
});
