// Credential rules, table-driven: bindings (a secret toward its inject hosts and ports), deny and
// ask rules over secret globs and optional hosts, the list shorthand versus the object form, and
// the load errors of a binding.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDecision, assertLoadError, decideShort, engineFrom, type Expected } from './helpers.js';
import type { Engine } from '../src/index.js';

interface Case extends Expected {
  readonly name: string;
  readonly request: Record<string, unknown>;
}

function runCases(engine: Engine, cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => assertDecision(decideShort(engine, c.request), c, JSON.stringify(c.request)));
  }
}

const none = { decision: 'deny', rules: [], code: 'default' } as const;

describe('credentials: bindings', () => {
  const engine = engineFrom(`
    credentials:
      - id: github
        secret: github-token
        env: GITHUB_TOKEN
        inject: { hosts: [api.github.com, "*.githubusercontent.com"] }
      - id: npm
        secret: npm-token
        inject: { hosts: [registry.npmjs.org], ports: [443, 8443], header: Authorization, format: "Bearer {secret}" }
      - id: env-only
        secret: ci/env-only
        env: ENV_ONLY
      - id: anywhere
        secret: broad-token
        inject: { hosts: ["**"], ports: ["*"] }
  `);
  runCases(engine, [
    {
      name: 'a secret is allowed toward an inject host on the default port 443',
      request: { credential: 'github-token', host: 'api.github.com' },
      decision: 'allow',
      rules: ['github'],
      code: 'rule',
    },
    {
      name: 'an inject host is canonicalised before matching (case, trailing dot)',
      request: { credential: 'github-token', host: 'API.GitHub.com.' },
      decision: 'allow',
      rules: ['github'],
    },
    {
      name: 'an inject host pattern *.x allows one label under it',
      request: { credential: 'github-token', host: 'raw.githubusercontent.com' },
      decision: 'allow',
      rules: ['github'],
    },
    {
      name: 'an inject host pattern *.x does not cover its apex',
      request: { credential: 'github-token', host: 'githubusercontent.com' },
      ...none,
    },
    {
      name: 'an inject host pattern *.x does not cover two labels under it',
      request: { credential: 'github-token', host: 'a.b.githubusercontent.com' },
      ...none,
    },
    {
      name: 'a secret is denied toward a host outside its inject hosts',
      request: { credential: 'github-token', host: 'evil.test' },
      ...none,
    },
    {
      name: 'a look-alike host that merely ends in the inject host is denied',
      request: { credential: 'github-token', host: 'api.github.com.evil.test' },
      ...none,
    },
    {
      name: 'without inject ports, port 80 is not covered (HTTPS only)',
      request: { credential: 'github-token', host: 'api.github.com:80' },
      ...none,
    },
    {
      name: 'without inject ports, port 8443 is not covered',
      request: { credential: 'github-token', host: 'api.github.com', port: 8443 },
      ...none,
    },
    {
      name: 'explicit inject ports cover each listed port',
      request: { credential: 'npm-token', host: 'registry.npmjs.org:8443' },
      decision: 'allow',
      rules: ['npm'],
    },
    {
      name: 'explicit inject ports still cover 443 when listed',
      request: { credential: 'npm-token', host: 'registry.npmjs.org' },
      decision: 'allow',
      rules: ['npm'],
    },
    {
      name: 'explicit inject ports exclude ports not listed',
      request: { credential: 'npm-token', host: 'registry.npmjs.org:80' },
      ...none,
    },
    {
      name: 'a binding for one secret does not allow another secret toward the same host',
      request: { credential: 'npm-token', host: 'api.github.com' },
      ...none,
    },
    {
      name: 'a secret is never allowed toward an IPv4 literal, even the address of an inject host',
      request: { credential: 'github-token', host: '140.82.112.6' },
      ...none,
    },
    {
      name: 'a secret is never allowed toward an IPv4-mapped IPv6 literal',
      request: { credential: 'github-token', host: '[::ffff:140.82.112.6]' },
      ...none,
    },
    {
      name: 'a binding to ** on every port still never covers an IP literal',
      request: { credential: 'broad-token', host: '93.184.216.34' },
      ...none,
    },
    {
      name: 'a binding to ** on every port covers any name',
      request: { credential: 'broad-token', host: 'anything.example.net:8080' },
      decision: 'allow',
      rules: ['anywhere'],
    },
    {
      name: 'a request without host is allowed when a binding for the secret exists',
      request: { credential: 'github-token' },
      decision: 'allow',
      rules: ['github'],
    },
    {
      name: 'a binding with env only allows holding the secret (no host)',
      request: { credential: 'ci/env-only' },
      decision: 'allow',
      rules: ['env-only'],
    },
    {
      name: 'a binding with env only never sends the secret to a host',
      request: { credential: 'ci/env-only', host: 'api.github.com' },
      ...none,
    },
    {
      name: 'a secret with no binding is denied, even without host',
      request: { credential: 'unbound-token' },
      ...none,
    },
    {
      name: 'a secret name is matched exactly, never as a prefix',
      request: { credential: 'github-token-2' },
      ...none,
    },
    {
      name: 'a secret name with forbidden characters is an invalid request',
      request: { credential: 'github token' },
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
    {
      name: 'a malformed host is an invalid request',
      request: { credential: 'github-token', host: 'api..github.com' },
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
  ]);
});

describe('credentials: deny and ask rules', () => {
  const engine = engineFrom(`
    credentials:
      allow:
        - id: gh
          secret: github-token
          inject: { hosts: ["**.github.com"] }
        - id: prod
          secret: prod-db
          env: PROD_DB
          inject: { hosts: [db.example.com] }
        - id: deploy-1
          secret: deploy-1
          inject: { hosts: ["**.example.com"] }
        - id: deploy-12
          secret: deploy-12
          inject: { hosts: ["**.example.com"] }
      deny:
        - { id: no-prod, secrets: ["prod-*"] }
        - { id: gh-not-uploads, secrets: ["github-*"], hosts: [uploads.github.com] }
      ask:
        - { id: ask-deploy, secrets: ["deploy-?"], hosts: ["**.example.com"] }
  `);
  runCases(engine, [
    {
      name: 'a deny with a secret glob and no hosts beats a binding toward its own host',
      request: { credential: 'prod-db', host: 'db.example.com' },
      decision: 'deny',
      rules: ['no-prod'],
      code: 'rule',
    },
    {
      name: 'a deny with no hosts covers a request without host too',
      request: { credential: 'prod-db' },
      decision: 'deny',
      rules: ['no-prod'],
    },
    {
      name: 'a deny with hosts covers that host',
      request: { credential: 'github-token', host: 'uploads.github.com' },
      decision: 'deny',
      rules: ['gh-not-uploads'],
    },
    {
      name: 'a deny with hosts leaves other hosts to the binding',
      request: { credential: 'github-token', host: 'api.github.com' },
      decision: 'allow',
      rules: ['gh'],
    },
    {
      name: 'a deny with hosts does not cover a request without host',
      request: { credential: 'github-token' },
      decision: 'allow',
      rules: ['gh'],
    },
    {
      name: 'an ask with a ? glob and hosts asks for a matching secret and host',
      request: { credential: 'deploy-1', host: 'ci.example.com' },
      decision: 'ask',
      rules: ['ask-deploy'],
      code: 'rule',
    },
    {
      name: 'a ? glob matches exactly one character, so deploy-12 is left to its binding',
      request: { credential: 'deploy-12', host: 'ci.example.com' },
      decision: 'allow',
      rules: ['deploy-12'],
    },
    {
      name: 'an ask with hosts does not cover a request without host',
      request: { credential: 'deploy-1' },
      decision: 'allow',
      rules: ['deploy-1'],
    },
    {
      name: 'a deny rule applies to a secret that has no binding at all',
      request: { credential: 'prod-api' },
      decision: 'deny',
      rules: ['no-prod'],
    },
  ]);

  test('a deny rule with hosts ** covers an IP literal (fail closed)', () => {
    const e = engineFrom(`
      credentials:
        allow:
          - { id: gh, secret: github-token, inject: { hosts: [api.github.com] } }
        deny:
          - { id: nowhere-else, secrets: ["*"], hosts: ["**"] }
    `);
    assertDecision(decideShort(e, { credential: 'github-token', host: '140.82.112.6' }), {
      decision: 'deny',
      rules: ['nowhere-else'],
    });
  });
});

describe('credentials: list shorthand and object form', () => {
  const binding = `
      - id: github
        secret: github-token
        env: GITHUB_TOKEN
        inject: { hosts: [api.github.com] }`;
  const forms: readonly [string, string][] = [
    ['the list shorthand credentials: [...]', `credentials:${binding}`],
    [
      'the object form credentials: {allow: [...]}',
      `credentials:\n  allow:${binding.replace(/\n/g, '\n  ')}`,
    ],
  ];
  for (const [form, yaml] of forms) {
    test(`${form} declares bindings`, () => {
      const e = engineFrom(yaml);
      assertDecision(decideShort(e, { credential: 'github-token', host: 'api.github.com' }), {
        decision: 'allow',
        rules: ['github'],
      });
      assertDecision(decideShort(e, { credential: 'github-token', host: 'evil.test' }), none);
    });
  }

  test('the two forms decide identically', () => {
    const [list, object] = forms.map(([, yaml]) => engineFrom(yaml));
    assert.ok(list && object);
    for (const request of [
      { credential: 'github-token' },
      { credential: 'github-token', host: 'api.github.com' },
      { credential: 'github-token', host: 'api.github.com:80' },
      { credential: 'other' },
    ]) {
      const a = decideShort(list, request);
      const b = decideShort(object, request);
      assert.deepEqual(
        [a.decision, a.rules.map((r) => r.rule)],
        [b.decision, b.rules.map((r) => r.rule)],
        JSON.stringify(request),
      );
    }
  });

  test('an empty credentials list allows no secret (redteam-68)', () => {
    const e = engineFrom('credentials: []');
    assertDecision(decideShort(e, { credential: 'github-token' }), none);
  });
});

describe('credentials: load errors', () => {
  test('a binding with no env, file or inject is a load error', () => {
    assertLoadError(
      `
        credentials:
          - { id: b, secret: s }
      `,
      'empty-binding',
    );
  });

  test('a format without {secret} is a load error', () => {
    assertLoadError(
      `
        credentials:
          - { id: b, secret: s, inject: { hosts: [api.example.com], format: "Bearer TOKEN" } }
      `,
      'format-without-secret',
    );
  });

  test('a header that is not a header name is a load error', () => {
    assertLoadError(
      `
        credentials:
          - { id: b, secret: s, inject: { hosts: [api.example.com], header: "X Token" } }
      `,
      'bad-header',
    );
  });

  test('a bad inject host pattern is a load error', () => {
    assertLoadError(
      `
        credentials:
          - { id: b, secret: s, inject: { hosts: ["**.com"] } }
      `,
      'bad-host-pattern',
    );
  });

  test('a binding with a custom format containing {secret} loads', () => {
    const e = engineFrom(`
      credentials:
        - { id: b, secret: s, inject: { hosts: [api.example.com], header: X-Api-Key, format: "{secret}" } }
    `);
    assertDecision(decideShort(e, { credential: 's', host: 'api.example.com' }), {
      decision: 'allow',
      rules: ['b'],
    });
  });
});

describe('credentials: modes', () => {
  test('an audit-mode deny records deny as the would-be decision and lets the secret through', () => {
    const engine = engineFrom(`
      credentials:
        allow:
          - { id: gh, secret: github-token, inject: { hosts: [api.github.com] } }
        deny:
          - { id: watch, secrets: ["github-*"], mode: audit }
    `);
    const d = decideShort(engine, { credential: 'github-token', host: 'api.github.com' });
    assertDecision(d, { decision: 'allow', would: 'deny', rules: ['watch'], code: 'rule' });
    assert.equal(d.mode, 'audit');
  });
});

describe("credentials: a remote MCP server's catalog entry binds its credential to its URL", () => {
  const engine = engineFrom(`
    credentials:
      allow:
        - { id: remote-token, secret: remote-secret, env: REMOTE_TOKEN }
        - { id: frozen-token, secret: frozen-secret, env: FROZEN_TOKEN }
      deny:
        - { id: frozen, secrets: [frozen-secret] }
    mcp:
      servers:
        - { id: remote, url: "https://mcp.example.com/mcp", credential: remote-token }
        - { id: other-port, url: "https://mcp.example.com:8443/mcp", credential: remote-token }
        - { id: frozen, url: "https://frozen.example.com/mcp", credential: frozen-token }
  `);
  runCases(engine, [
    {
      name: 'the gateway asking for the server it names: allowed by the binding the entry names',
      request: { credential: 'remote-secret', host: 'mcp.example.com', server: 'remote' },
      decision: 'allow',
      rules: ['remote-token'],
      code: 'rule',
    },
    {
      name: "the entry's port is part of its URL: another port is no use of it",
      request: { credential: 'remote-secret', host: 'mcp.example.com', port: 8443, server: 'remote' },
      ...none,
    },
    {
      name: 'a request that names no server (the egress proxy: the sandbox sending it itself) is not widened',
      request: { credential: 'remote-secret', host: 'mcp.example.com' },
      ...none,
    },
    {
      name: "a request naming the server toward another host is not the entry's URL",
      request: { credential: 'remote-secret', host: 'evil.example', server: 'remote' },
      ...none,
    },
    {
      name: 'a deny rule over the secret wins over the entry',
      request: { credential: 'frozen-secret', host: 'frozen.example.com', server: 'frozen' },
      decision: 'deny',
      rules: ['frozen'],
      code: 'rule',
    },
  ]);
  test('the decision says where the allow came from, as a note', () => {
    const d = decideShort(engine, { credential: 'remote-secret', host: 'mcp.example.com', server: 'remote' });
    assert.deepEqual(d.notes, ['the catalog entry of the MCP server remote binds it to its URL']);
  });
  test('a server entry of another port binds the same credential to its own URL only', () => {
    const d = decideShort(engine, {
      credential: 'remote-secret',
      host: 'mcp.example.com',
      port: 8443,
      server: 'other-port',
    });
    assert.equal(d.decision, 'allow');
  });
});
