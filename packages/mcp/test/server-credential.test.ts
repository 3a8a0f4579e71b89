// A catalog server's credential: which binding it names, where its value goes (a stdio server's
// variable, a remote server's header), what the policy decides about it, and every way it can fail
// (each leaves the server unavailable with one reason, never started without it). Table-driven
// over real policies loaded from YAML. Ids `mcp-threat-NN` are the threat rows of
// research/mcp-gateways.md §5.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine, loadPolicies, type Engine } from '@perimeter/policy';
import { upstreamSpecs } from '../src/catalog.js';
import { boundValues, serverCredential, type CredentialOutcome } from '../src/server-credential.js';

const VALUE = 'tok-3f9a1c7e52b84d06';

/** An engine over policy documents, each given as the YAML after its metadata line. */
function engineOf(...docs: { name: string; layer?: string; groups?: string; body: string }[]): Engine {
  const sources = docs.map((d, i) => ({
    file: `p${i}.yaml`,
    text: `apiVersion: perimeter/v1
kind: Policy
metadata: { name: ${d.name}, layer: ${d.layer ?? 'org'}${d.groups ? `, groups: [${d.groups}]` : ''} }
${d.body}`,
  }));
  const loaded = loadPolicies(sources);
  assert.deepEqual(
    loaded.diagnostics.filter((x) => x.severity === 'error'),
    [],
  );
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { subject: { groups: ['eng'] }, context: { home: '/home/u', workspace: '/w' } },
  );
}

/** The outcome for the one server the engine's catalog holds. */
function outcome(
  engine: Engine,
  secrets: Record<string, string> = { 'the-secret': VALUE },
): CredentialOutcome {
  const [entry] = engine.mcpServers();
  assert.ok(entry, 'the catalog holds the server');
  return serverCredential(entry, engine, new Map(Object.entries(secrets)));
}

const STDIO = '{ id: srv, command: [node, server.js], credential: tok }';
const REMOTE = '{ id: srv, url: "https://mcp.example.com/mcp", credential: tok }';

function policyWith(server: string, bindings: string, extra = ''): string {
  return `credentials:
  allow:
${bindings}
${extra}
mcp:
  servers:
    - ${server}
`;
}

describe('a server given its credential', () => {
  it('a stdio server: the value in the variable the binding names, decided without a destination', () => {
    const o = outcome(
      engineOf({
        name: 'p',
        body: policyWith(STDIO, '    - { id: tok, secret: the-secret, env: THE_TOKEN }'),
      }),
    );
    assert.equal(o.kind, 'given');
    if (o.kind !== 'given') return;
    assert.deepEqual(o.env, { THE_TOKEN: VALUE });
    assert.equal(o.headers, undefined);
    assert.equal(o.credential.location, 'env:THE_TOKEN');
    assert.deepEqual(o.credential.request, { surface: 'credential', secret: 'the-secret' });
    assert.equal(o.credential.decision.decision, 'allow');
    assert.deepEqual(
      o.credential.decision.rules.map((r) => r.rule),
      ['tok'],
    );
    assert.ok(!JSON.stringify(o.credential).includes(VALUE), 'what the audit sees never holds the value');
  });

  it('a remote server: Authorization: Bearer by default; its entry binds the credential to its URL where no rule speaks of it', () => {
    const o = outcome(
      engineOf({
        name: 'p',
        body: policyWith(REMOTE, '    - { id: tok, secret: the-secret, env: THE_TOKEN }'),
      }),
    );
    assert.equal(o.kind, 'given');
    if (o.kind !== 'given') return;
    assert.deepEqual(o.headers, { authorization: `Bearer ${VALUE}` });
    assert.equal(o.env, undefined);
    assert.equal(o.credential.location, 'header:authorization');
    assert.deepEqual(o.credential.request, {
      surface: 'credential',
      secret: 'the-secret',
      host: 'mcp.example.com',
      port: 443,
      server: 'srv',
    });
    const d = o.credential.decision;
    assert.equal(d.decision, 'allow');
    assert.equal(d.code, 'rule');
    assert.deepEqual(
      d.rules.map((r) => `${r.policy}/${r.rule}`),
      ['p/tok'],
    );
    assert.equal(d.reason, 'Allowed by rule "tok" of policy p (org).');
    assert.deepEqual(d.notes, ['the catalog entry of the MCP server srv binds it to its URL']);
    assert.equal(d.resource, 'the-secret → mcp.example.com:443');
  });

  it("a remote server: the header and format the binding's inject names, and the engine's own decision where the binding covers the host", () => {
    const o = outcome(
      engineOf({
        name: 'p',
        body: policyWith(
          '{ id: srv, url: "https://mcp.example.com:8443/mcp", credential: tok }',
          '    - { id: tok, secret: the-secret, inject: { hosts: [mcp.example.com], ports: [8443], header: X-Api-Key, format: "key={secret}" } }',
        ),
      }),
    );
    assert.equal(o.kind, 'given');
    if (o.kind !== 'given') return;
    assert.deepEqual(o.headers, { 'x-api-key': `key=${VALUE}` });
    assert.equal(o.credential.location, 'header:x-api-key');
    assert.equal(o.credential.decision.resource, 'the-secret → mcp.example.com:8443');
    assert.match(o.credential.decision.reason, /^Allowed by /);
    assert.equal(o.credential.decision.notes, undefined, "the binding's own hosts cover it");
  });

  it("the binding of the server's own policy wins over one of the same id elsewhere", () => {
    const engine = engineOf(
      {
        name: 'other',
        body: policyWith(
          '{ id: unrelated, command: [x] }',
          '    - { id: tok, secret: other-secret, env: OTHER }',
        ),
      },
      { name: 'own', body: policyWith(STDIO, '    - { id: tok, secret: the-secret, env: THE_TOKEN }') },
    );
    const entry = engine.mcpServers().find((e) => e.server.id === 'srv');
    assert.ok(entry);
    const o = serverCredential(
      entry,
      engine,
      new Map([
        ['the-secret', VALUE],
        ['other-secret', 'other-value-123'],
      ]),
    );
    assert.equal(o.kind, 'given');
    if (o.kind === 'given') assert.deepEqual(o.env, { THE_TOKEN: VALUE });
  });

  it('a binding of another policy in force serves as well (one org binding, a group server)', () => {
    const engine = engineOf(
      { name: 'org', body: 'credentials:\n  - { id: tok, secret: the-secret, env: THE_TOKEN }\n' },
      { name: 'grp', layer: 'group', groups: 'eng', body: `mcp:\n  servers:\n    - ${STDIO}\n` },
    );
    const o = outcome(engine);
    assert.equal(o.kind, 'given');
  });

  it('audit mode: a deny rule is a would-be denial, and the server is given the credential', () => {
    const o = outcome(
      engineOf({
        name: 'p',
        body: `mode: audit
${policyWith(STDIO, '    - { id: tok, secret: the-secret, env: THE_TOKEN }', '  deny:\n    - { id: never, secrets: [the-secret] }')}`,
      }),
    );
    assert.equal(o.kind, 'given');
    if (o.kind !== 'given') return;
    assert.equal(o.credential.decision.decision, 'allow');
    assert.equal(o.credential.decision.wouldDecision, 'deny');
  });
});

describe('a credential that cannot be given leaves its server unavailable, with one reason', () => {
  const cases: {
    name: string;
    server?: string;
    bindings: string;
    extra?: string;
    secrets?: Record<string, string>;
    reason: RegExp;
    /** The policy was asked and said no: its decision goes to the audit. */
    decided?: 'deny' | 'ask';
  }[] = [
    {
      name: 'no binding of that id is in force',
      bindings: '    - { id: other, secret: the-secret, env: THE_TOKEN }',
      reason:
        /its credential "tok" names no credential binding in force \(perimeter policy lint shows where\)/,
    },
    {
      name: 'the secret is not in the store',
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      secrets: {},
      reason:
        /the secret the-secret of its credential "tok" is not in the secret store \(add it with: perimeter secret set the-secret\)/,
    },
    {
      name: 'a stdio server, and a binding with no env to put it in',
      bindings: '    - { id: tok, secret: the-secret, inject: { hosts: [api.example.com] } }',
      reason: /names no env variable, which a stdio server receives it in/,
    },
    {
      name: "a stdio server whose env sets the binding's variable itself",
      server: '{ id: srv, command: [node], env: { THE_TOKEN: literal }, credential: tok }',
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      reason: /its env sets THE_TOKEN, the variable its credential "tok" puts the secret in/,
    },
    {
      name: 'a NUL in the value, which no environment can hold',
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      secrets: { 'the-secret': 'abc\0defghijk' },
      reason: /holds a NUL/,
    },
    {
      name: 'mcp-threat-07: a remote server over plain http (a credential goes only over https)',
      server: '{ id: srv, url: "http://localhost:8080/mcp", credential: tok }',
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      reason: /is sent only over https, and its URL is http:\/\//,
    },
    {
      name: 'a header the MCP transport sets itself',
      server: REMOTE,
      bindings:
        '    - { id: tok, secret: the-secret, inject: { hosts: [x.example.com], header: Mcp-Session-Id } }',
      reason: /names the header mcp-session-id, which the MCP transport sets itself/,
    },
    {
      name: 'a line break in the value, which would split the header',
      server: REMOTE,
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      secrets: { 'the-secret': 'first-line\r\nX-Injected: yes' },
      reason: /holds a line break or NUL, which cannot go in a header/,
    },
    {
      name: 'a character beyond Latin-1, which a header cannot carry',
      server: REMOTE,
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      secrets: { 'the-secret': 'token-\u4ee4\u724c-value' },
      reason: /holds characters beyond Latin-1/,
    },
    {
      name: 'a deny rule on the secret (a guardrail says never)',
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      extra: '  deny:\n    - { id: never, secrets: [the-*] }',
      reason: /the policy does not let its credential "tok" go to it \(Denied by .*never/,
      decided: 'deny',
    },
    {
      name: "a deny rule on the remote server's host",
      server: REMOTE,
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      extra: '  deny:\n    - { id: not-there, secrets: [the-secret], hosts: ["**.example.com"] }',
      reason: /does not let its credential "tok" go to it/,
      decided: 'deny',
    },
    {
      name: 'an ask rule: a server is given its credential at start, with no one to ask',
      server: REMOTE,
      bindings: '    - { id: tok, secret: the-secret, env: THE_TOKEN }',
      extra: '  ask:\n    - { id: confirm, secrets: [the-secret] }',
      reason: /a rule asks before its credential "tok" is used/,
      decided: 'ask',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const o = outcome(
        engineOf({ name: 'p', body: policyWith(c.server ?? STDIO, c.bindings, c.extra) }),
        c.secrets,
      );
      assert.equal(o.kind, 'refused');
      if (o.kind !== 'refused') return;
      assert.match(o.reason, c.reason);
      assert.equal(o.credential?.decision.decision, c.decided);
      assert.ok(
        !o.reason.includes(VALUE) && !o.reason.includes('first-line'),
        'the reason never holds the value',
      );
    });
  }

  it('two bindings of that id in other policies: ambiguous, so neither', () => {
    const engine = engineOf(
      { name: 'a', body: 'credentials:\n  - { id: tok, secret: the-secret, env: A }\n' },
      { name: 'b', body: 'credentials:\n  - { id: tok, secret: the-secret, env: B }\n' },
      { name: 'c', body: `mcp:\n  servers:\n    - ${STDIO}\n` },
    );
    const o = outcome(engine);
    assert.equal(o.kind, 'refused');
    if (o.kind === 'refused') assert.match(o.reason, /names 2 bindings \(policies a, b\)/);
  });

  it('a binding of a group policy that does not apply to this subject is not in force', () => {
    const engine = engineOf(
      {
        name: 'ops',
        layer: 'group',
        groups: 'ops',
        body: 'credentials:\n  - { id: tok, secret: the-secret, env: T }\n',
      },
      { name: 'org', body: `mcp:\n  servers:\n    - ${STDIO}\n` },
    );
    const o = outcome(engine);
    assert.equal(o.kind, 'refused');
    if (o.kind === 'refused') assert.match(o.reason, /no credential binding in force/);
  });
});

describe('the catalog puts it in place', () => {
  const engine = engineOf({
    name: 'p',
    body: `credentials:
  - { id: tok, secret: the-secret, env: THE_TOKEN }
  - { id: missing, secret: not-stored, env: NOT_STORED }
mcp:
  servers:
    - { id: local, command: [node, s.js], env: { PLAIN: yes }, credential: tok }
    - { id: remote, url: "https://mcp.example.com/mcp", credential: tok }
    - { id: absent, command: [node, s.js], credential: missing }
    - { id: bare, url: "https://other.example.com/mcp" }
`,
  });
  const secrets = new Map([['the-secret', VALUE]]);

  it("a stdio server's variable in its environment and in credentialEnv (for its sandbox), never in its command line", () => {
    const local = upstreamSpecs(engine.mcpServers(), { env: { PATH: '/bin' }, engine, secrets }).find(
      (s) => s.id === 'local',
    );
    assert.ok(local?.transport.kind === 'stdio');
    assert.deepEqual(local.transport.env, { PATH: '/bin', PLAIN: 'yes', THE_TOKEN: VALUE });
    assert.deepEqual(local.transport.credentialEnv, { THE_TOKEN: VALUE });
    assert.ok(![local.transport.command, ...local.transport.args].join(' ').includes(VALUE));
    assert.equal(local.credential?.location, 'env:THE_TOKEN');
    assert.equal(local.unavailable, undefined);
  });

  it("mcp-threat-07: a remote server's headers are the binding's alone", () => {
    const specs = upstreamSpecs(engine.mcpServers(), { engine, secrets });
    const remote = specs.find((s) => s.id === 'remote');
    assert.ok(remote?.transport.kind === 'http');
    assert.deepEqual(remote.transport.headers, { authorization: `Bearer ${VALUE}` });
    const bare = specs.find((s) => s.id === 'bare');
    assert.ok(bare?.transport.kind === 'http');
    assert.deepEqual(bare.transport.headers, {}, 'a server without a credential gets no header at all');
  });

  it('a server whose secret is missing is unavailable, with the reason; the others are not', () => {
    const specs = upstreamSpecs(engine.mcpServers(), { engine, secrets });
    assert.match(
      specs.find((s) => s.id === 'absent')?.unavailable ?? '',
      /not-stored .* not in the secret store/,
    );
    assert.deepEqual(
      specs.filter((s) => s.unavailable !== undefined).map((s) => s.id),
      ['absent'],
    );
  });

  it('without the policy and the values, a server that names a credential is unavailable, not started bare', () => {
    const specs = upstreamSpecs(engine.mcpServers(), {});
    assert.deepEqual(
      specs.filter((s) => s.unavailable !== undefined).map((s) => s.id),
      ['local', 'remote', 'absent'],
    );
    const local = specs.find((s) => s.id === 'local');
    assert.ok(local?.transport.kind === 'stdio');
    assert.equal(local.transport.env.THE_TOKEN, undefined);
  });

  it('boundValues: every binding in force whose secret the store holds, by binding id', () => {
    assert.deepEqual(boundValues(engine, secrets), [{ id: 'tok', value: VALUE }]);
  });
});
