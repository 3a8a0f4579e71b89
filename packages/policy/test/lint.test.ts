// Policy lint: for every check, a document that triggers it (code, severity, policy, the rule named
// in the message, and the line its path points to, marked `# here` in the YAML) and a near miss
// that must stay quiet. Then the DESIGN.md example, which must lint without a warning.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Diagnostic } from '../src/diagnostic.js';
import { loadPolicies, type LoadedPolicy } from '../src/load.js';
import { lintPolicies } from '../src/lint.js';
import { DESIGN_EXAMPLE } from './fixtures.js';
import type { PathContext } from '../src/path-pattern.js';

type Layer = 'guardrail' | 'org' | 'group' | 'local';

/** A policy document: the header, then `body` (YAML at column 0). */
function policy(name: string, layer: Layer, body: string, groups = ['eng']): string {
  const bound = layer === 'group' ? `, groups: [${groups.join(', ')}]` : '';
  return `apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: ${name}, layer: ${layer}${bound} }\n${body.replace(/^\n/, '')}`;
}

interface Linted {
  readonly findings: Diagnostic[];
  readonly loaded: LoadedPolicy[];
  readonly texts: readonly string[];
}

function lint(docs: readonly string[], context?: PathContext): Linted {
  const result = loadPolicies(docs.map((text, i) => ({ file: `p${i}.yaml`, text })));
  assert.deepEqual(
    result.diagnostics.map((d) => `${d.code}: ${d.message}`),
    [],
    'the test documents must load cleanly',
  );
  const findings = lintPolicies(
    result.policies.map((p) => p.policy),
    context ? { context } : {},
  );
  return { findings, loaded: result.policies, texts: docs };
}

function lineOf(linted: Linted, d: Diagnostic): number | undefined {
  const p = linted.loaded.find((l) => l.policy.name === d.policy);
  return p && d.path ? p.locate(d.path).line : undefined;
}

/** The 1-based line marked `# here` in the document of the named policy. */
function markedLine(linted: Linted, policyName: string): number {
  const p = linted.loaded.find((l) => l.policy.name === policyName);
  assert.ok(p, `no policy ${policyName}`);
  const text = linted.texts[Number(p.file.slice(1, -'.yaml'.length))] ?? '';
  const line = text.split('\n').findIndex((l) => l.includes('# here'));
  assert.ok(line >= 0, `no "# here" marker in policy ${policyName}`);
  return line + 1;
}

function show(linted: Linted): string {
  return linted.findings
    .map((d) => `  ${d.policy}:${lineOf(linted, d)} ${d.severity} ${d.code}: ${d.message}`)
    .join('\n');
}

interface Trigger {
  readonly name: string;
  readonly docs: readonly string[];
  readonly code: string;
  readonly severity: 'warning' | 'info';
  readonly policy: string;
  /** The rule (or server) id the message must name; policy-wide findings name only the policy. */
  readonly rule?: string;
  /** Text the message must also contain. */
  readonly says?: string;
  readonly context?: PathContext;
}

interface NearMiss {
  readonly name: string;
  readonly docs: readonly string[];
  /** The code that must not appear. */
  readonly code: string;
  readonly context?: PathContext;
}

const triggers: Trigger[] = [
  // 1. over-broad allows
  {
    name: 'a "**" host allow',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: web, hosts: ["**"] } # here\n`)],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'web',
    says: 'allows "**": every public host name',
  },
  {
    name: 'an allow of 0.0.0.0/0',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: everywhere\n      cidrs:\n        - 8.8.8.0/24\n        - 0.0.0.0/0 # here\n`,
      ),
    ],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'everywhere',
    says: 'every IPv4 address',
  },
  {
    name: 'an IPv6 allow wider than /16',
    docs: [policy('org', 'org', `network:\n  allow:\n    - { id: v6, cidrs: ["2000::/3"] } # here\n`)],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'org',
    rule: 'v6',
  },
  {
    name: 'an allow on every port',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: db\n      hosts: [db.example.com]\n      ports: [443, "*"] # here\n`,
      ),
    ],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'db',
    says: 'every port',
  },
  ...['/**', '**', '/', '~/**'].map((path): Trigger => ({
    name: `a filesystem allow of "${path}"`,
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  allow:\n    - id: wide\n      paths:\n        - "\${workspace}/**"\n        - "${path}" # here\n`,
      ),
    ],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'wide',
    says: `"${path}"`,
  })),
  {
    name: 'a filesystem allow of the home directory, as given in the context',
    docs: [
      policy('eng', 'group', `filesystem:\n  allow:\n    - { id: mine, paths: ["/Users/me/**"] } # here\n`),
    ],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'mine',
    says: 'the whole home directory',
    context: { home: '/Users/me', workspace: '/Users/me/src/app' },
  },
  {
    name: 'an MCP allow of every tool of every server',
    docs: [policy('eng', 'group', `mcp:\n  allow:\n    - { id: all, server: "*" } # here\n`)],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'all',
    says: 'every tool of every MCP server',
  },
  {
    name: 'an exec allow of any program',
    docs: [policy('eng', 'group', `exec:\n  allow:\n    - id: anything\n      commands: ["* **"] # here\n`)],
    code: 'over-broad-allow',
    severity: 'warning',
    policy: 'eng',
    rule: 'anything',
    says: 'any program',
  },
  {
    name: 'a credential injected into a wildcard host',
    docs: [
      policy(
        'eng',
        'group',
        `credentials:\n  - id: api\n    secret: api-token\n    inject:\n      hosts:\n        - "*.example.com" # here\n`,
      ),
    ],
    code: 'wildcard-credential-host',
    severity: 'warning',
    policy: 'eng',
    rule: 'api',
    says: 'every host under example.com',
  },
  // 2. multi-tenant destinations
  ...[
    '*.github.io',
    '**.s3.amazonaws.com',
    '*.vercel.app',
    '*.herokuapp.com',
    '*.workers.dev',
    '*.ngrok-free.app',
    'github.com',
    'gist.github.com',
    'raw.githubusercontent.com',
    'gist.githubusercontent.com',
    'objects.githubusercontent.com',
    'pastebin.com',
    'transfer.sh',
    'webhook.site',
    'requestbin.com',
    'abc123.ngrok.io',
    'storage.googleapis.com',
    's3.amazonaws.com',
    'docs.google.com',
    'drive.google.com',
    'dropbox.com',
    '**.github.com',
    '**.amazonaws.com',
  ].map((host): Trigger => ({
    name: `an allow of "${host}"`,
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: shared\n      hosts:\n        - api.example.com\n        - "${host}" # here\n`,
      ),
    ],
    code: 'multi-tenant-host',
    severity: 'warning',
    policy: 'eng',
    rule: 'shared',
    says: 'anyone can host content there',
  })),
  {
    name: 'a credential injected into a multi-tenant suffix',
    docs: [
      policy(
        'eng',
        'group',
        `credentials:\n  - id: pages\n    secret: pages-token\n    inject: { hosts: ["*.github.io"] } # here\n`,
      ),
    ],
    code: 'multi-tenant-host',
    severity: 'warning',
    policy: 'eng',
    rule: 'pages',
    says: 'any tenant there receives the secret',
  },
  {
    name: 'a credential injected into an ngrok name, whose owner sees every request',
    docs: [
      policy(
        'eng',
        'group',
        `credentials:\n  - id: tunnel\n    secret: api-token\n    inject: { hosts: [abc.ngrok-free.app] } # here\n`,
      ),
    ],
    code: 'multi-tenant-host',
    severity: 'warning',
    policy: 'eng',
    rule: 'tunnel',
    says: 'a name under ngrok-free.app',
  },
  // 3. apex not covered
  {
    name: 'a "**." allow without its apex',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: models, hosts: ["**.openai.com"] } # here\n`),
    ],
    code: 'apex-not-covered',
    severity: 'info',
    policy: 'eng',
    rule: 'models',
    says: '"openai.com"',
  },
  // 4. unreachable rules
  {
    name: 'an allow inside a deny of the same policy',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: api, hosts: [api.example.com] } # here\n  deny:\n    - { id: example, hosts: ["**.example.com"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'api',
    says: 'deny rule "example" (policy eng)',
  },
  {
    name: 'an allow inside a deny of an org policy',
    docs: [
      policy('base', 'org', `network:\n  deny:\n    - { id: example, hosts: ["**.example.com"] }\n`),
      policy('eng', 'group', `network:\n  allow:\n    - { id: api, hosts: [api.example.com] } # here\n`),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'api',
    says: 'deny rule "example" (policy base)',
  },
  {
    name: 'an allow inside an ask',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: api, hosts: [api.example.com], methods: [GET] } # here\n  ask:\n    - { id: confirm, hosts: [api.example.com] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'api',
    says: 'ask rule "confirm"',
  },
  {
    name: 'an ask inside a deny',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  ask:\n    - { id: confirm, cidrs: [10.1.2.0/24] } # here\n  deny:\n    - { id: ten, cidrs: [10.0.0.0/8] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'confirm',
  },
  {
    name: 'a filesystem allow inside a deny',
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  allow:\n    - { id: aws-config, paths: ["~/.aws/config"] } # here\n  deny:\n    - { id: aws, paths: ["~/.aws/**"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'aws-config',
  },
  {
    name: 'an MCP allow inside a deny',
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - { id: github, url: "https://api.githubcopilot.com/mcp/" }\n  allow:\n    - { id: cleanup, server: github, tools: [delete_branch] } # here\n  deny:\n    - { id: no-deletes, server: "*", tools: ["delete_*"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'cleanup',
  },
  {
    name: 'an exec allow inside a deny',
    docs: [
      policy(
        'eng',
        'group',
        `exec:\n  default: deny\n  allow:\n    - { id: lease, commands: ["/usr/bin/git push --force-with-lease"] } # here\n  deny:\n    - { id: no-force, commands: ["git push --force*"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'lease',
  },
  {
    name: 'a credential binding inside a credential deny',
    docs: [
      policy(
        'eng',
        'group',
        `credentials:\n  allow:\n    - { id: prod, secret: prod-db, env: DB } # here\n  deny:\n    - { id: no-prod, secrets: ["prod-*"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
    severity: 'warning',
    policy: 'eng',
    rule: 'prod',
  },
  {
    name: 'one pattern of an allow inside a deny',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: apis\n      hosts:\n        - api.example.com # here\n        - api.example.org\n  deny:\n    - { id: example, hosts: ["**.example.com"] }\n`,
      ),
    ],
    code: 'unreachable-pattern',
    severity: 'warning',
    policy: 'eng',
    rule: 'apis',
    says: '"api.example.com"',
  },
  // 5. redundant rules and patterns
  {
    name: 'an allow inside another allow',
    docs: [
      policy('base', 'org', `network:\n  allow:\n    - { id: example, hosts: ["**.example.com"] }\n`),
      policy('eng', 'group', `network:\n  allow:\n    - { id: api, hosts: [api.example.com] } # here\n`),
    ],
    code: 'redundant-rule',
    severity: 'info',
    policy: 'eng',
    rule: 'api',
    says: 'allow rule "example" (policy base)',
  },
  {
    name: 'the later of two equal deny rules',
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  deny:\n    - { id: first, paths: ["~/.ssh/**"] }\n    - { id: second, paths: ["~/.ssh/**"] } # here\n`,
      ),
    ],
    code: 'redundant-rule',
    severity: 'info',
    policy: 'eng',
    rule: 'second',
    says: 'deny rule "first"',
  },
  {
    name: 'a host pattern inside another of the same rule',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: example\n      hosts:\n        - api.example.com # here\n        - "*.example.com"\n`,
      ),
    ],
    code: 'redundant-pattern',
    severity: 'info',
    policy: 'eng',
    rule: 'example',
    says: '"*.example.com" in the same rule',
  },
  // 6. partial overlaps
  {
    name: 'an allow and a deny that meet on one port',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: svc, hosts: [svc.example.org], ports: [443, 8443] } # here\n  deny:\n    - { id: no-alt, hosts: ["**.example.org"], ports: [8443] }\n`,
      ),
    ],
    code: 'partial-overlap',
    severity: 'info',
    policy: 'eng',
    rule: 'svc',
    says: 'deny rule "no-alt"',
  },
  {
    name: 'filesystem patterns that cross',
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  allow:\n    - { id: builds, paths: ["~/src/*/build/**"] } # here\n  deny:\n    - { id: app, paths: ["~/src/app/**"] }\n`,
      ),
    ],
    code: 'partial-overlap',
    severity: 'info',
    policy: 'eng',
    rule: 'builds',
  },
  // 7. allows that a guardrail overrides
  {
    name: 'a group allow of what a guardrail denies',
    docs: [
      policy(
        'sec',
        'guardrail',
        `network:\n  deny:\n    - { id: paste, hosts: [pastebin.com, "**.evil.test"] }\n`,
      ),
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: tools\n      hosts:\n        - api.example.com\n        - x.evil.test # here\n`,
      ),
    ],
    code: 'relaxes-guardrail',
    severity: 'warning',
    policy: 'eng',
    rule: 'paste',
    says: 'the guardrail wins',
  },
  {
    name: 'an org allow of what a guardrail asks for',
    docs: [
      policy(
        'sec',
        'guardrail',
        `mcp:\n  ask:\n    - { id: gh-merge, server: github, tools: ["merge_*"] }\n`,
      ),
      policy(
        'base',
        'org',
        `mcp:\n  servers:\n    - { id: github, url: "https://api.githubcopilot.com/mcp/" }\n  allow:\n    - { id: merge, server: github, tools: [merge_pull_request] } # here\n`,
      ),
    ],
    code: 'relaxes-guardrail',
    severity: 'warning',
    policy: 'base',
    rule: 'merge',
    says: 'held for approval',
  },
  // 8. CIDR allows and the guard
  {
    name: 'a mapped CIDR that spans a guarded range (OpenShell PR #1032)',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: mapped, cidrs: ["::ffff:168.0.0.0/103"] } # here\n`,
      ),
    ],
    code: 'guard-not-lifted',
    severity: 'warning',
    policy: 'eng',
    rule: 'mapped',
    says: '169.254.0.0/16',
  },
  {
    name: 'a CIDR one bit wider than a private range',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: lan, cidrs: [10.0.0.0/7] } # here\n`)],
    code: 'guard-not-lifted',
    severity: 'warning',
    policy: 'eng',
    rule: 'lan',
    says: '10.0.0.0/8',
  },
  {
    name: 'a catch-all CIDR',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: all, cidrs: [0.0.0.0/0] } # here\n`)],
    code: 'guard-not-lifted',
    severity: 'warning',
    policy: 'eng',
    rule: 'all',
  },
  {
    name: 'a CIDR inside a private range',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: lab, cidrs: [10.1.0.0/16] } # here\n`)],
    code: 'guard-opened',
    severity: 'info',
    policy: 'eng',
    rule: 'lab',
    says: '10.0.0.0/8',
  },
  {
    name: 'a CIDR of the metadata address',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: imds, cidrs: [169.254.169.254/32] } # here\n`),
    ],
    code: 'guard-locked',
    severity: 'warning',
    policy: 'eng',
    rule: 'imds',
    says: 'no policy can open',
  },
  {
    name: 'a whole NAT64 prefix',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: nat64, cidrs: ["64:ff9b::/96"] } # here\n`),
    ],
    code: 'guard-embedding-opened',
    severity: 'warning',
    policy: 'eng',
    rule: 'nat64',
    says: '169.254.169.254/32',
  },
  {
    name: 'a wildcard under a special-use name',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: corp, hosts: ["*.corp.internal"] } # here\n`),
    ],
    code: 'guard-not-lifted',
    severity: 'warning',
    policy: 'eng',
    rule: 'corp',
  },
  {
    name: 'an exact special-use name',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: db, hosts: [db.corp.internal] } # here\n`),
    ],
    code: 'guard-opened',
    severity: 'info',
    policy: 'eng',
    rule: 'db',
  },
  {
    name: 'the GCP metadata name',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: gce, hosts: [metadata.google.internal] } # here\n`,
      ),
    ],
    code: 'guard-locked',
    severity: 'warning',
    policy: 'eng',
    rule: 'gce',
  },
  // 9. MCP references
  {
    name: 'a rule naming an undeclared server',
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - { id: github, url: "https://api.githubcopilot.com/mcp/" }\n  deny:\n    - id: typo\n      server: gihtub # here\n`,
      ),
    ],
    code: 'unknown-mcp-server',
    severity: 'warning',
    policy: 'eng',
    rule: 'typo',
    says: '"gihtub"',
  },
  {
    name: 'a catalog server naming a missing credential',
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - id: github\n      url: "https://api.githubcopilot.com/mcp/"\n      credential: gh-token # here\n`,
      ),
    ],
    code: 'unknown-credential',
    severity: 'warning',
    policy: 'eng',
    rule: 'github',
    says: '"gh-token"',
  },
  {
    name: "a server's unbracketed IPv6 address with what reads as a port",
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - id: db\n      command: [node, /srv/db.js]\n      sandbox:\n        network:\n          - "fd00::1:5432" # here\n`,
      ),
    ],
    code: 'ambiguous-ipv6-port',
    severity: 'warning',
    policy: 'eng',
    rule: 'db',
    says: 'not port 5432 of fd00::1',
  },
  // 10. HTTP rules and opaque tunnels
  {
    name: 'an allow with methods to a host without interception',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - id: read-only\n      hosts: [api.example.com]\n      methods: [GET] # here\n`,
      ),
    ],
    code: 'http-allow-needs-interception',
    severity: 'info',
    policy: 'eng',
    rule: 'read-only',
  },
  {
    name: 'a deny with paths',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  deny:\n    - id: no-admin\n      hosts: [api.example.com]\n      paths: ["/admin/**"] # here\n`,
      ),
    ],
    code: 'http-rule-blocks-tunnels',
    severity: 'warning',
    policy: 'eng',
    rule: 'no-admin',
    says: 'denies every HTTPS tunnel',
  },
  // 11. guardrails in audit mode
  {
    name: 'a guardrail policy in audit mode',
    docs: [
      policy(
        'sec',
        'guardrail',
        `mode: audit # here\nnetwork:\n  deny:\n    - { id: paste, hosts: [pastebin.com] }\n`,
      ),
    ],
    code: 'audit-mode-guardrail',
    severity: 'info',
    policy: 'sec',
    says: 'guardrail policy sec is in audit mode',
  },
  {
    name: 'an audit-mode rule in a guardrail',
    docs: [
      policy(
        'sec',
        'guardrail',
        `network:\n  deny:\n    - id: paste\n      hosts: [pastebin.com]\n      mode: audit # here\n`,
      ),
    ],
    code: 'audit-mode-guardrail',
    severity: 'info',
    policy: 'sec',
    rule: 'paste',
  },
];

const nearMisses: NearMiss[] = [
  {
    name: 'named hosts, a /8, a few ports, project paths, named servers and programs',
    docs: [
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: web, hosts: ["**.example.com", example.com], ports: [443, 8443] }
    - { id: lab, cidrs: [10.0.0.0/8, "2001:db8::/32"] }
filesystem:
  allow:
    - { id: work, paths: ["\${workspace}/**", "~/projects/**", "~"], access: rw }
mcp:
  servers:
    - { id: fs, command: [mcp-fs] }
  allow:
    - { id: read-anything, server: "*", tools: [read_file] }
    - { id: read-only, server: "*", annotations: { readOnlyHint: true } }
    - { id: fs, server: fs }
exec:
  allow:
    - { id: git, commands: ["git *", "npm **"] }
credentials:
  - { id: api, secret: api-token, inject: { hosts: [api.example.com] } }
`,
      ),
    ],
    code: 'over-broad-allow',
  },
  {
    name: 'a credential injected into exact hosts',
    docs: [
      policy(
        'eng',
        'group',
        `credentials:\n  - { id: api, secret: api-token, inject: { hosts: [api.example.com, api.example.org] } }\n`,
      ),
    ],
    code: 'wildcard-credential-host',
  },
  {
    name: 'one tenant of a shared suffix, API hosts, read-only paths on a shared host, a token for github.com',
    docs: [
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: site, hosts: [acme.github.io, "**.docs.acme.github.io", api.github.com, "**.openai.com", openai.com] }
    - { id: bucket, hosts: [acme-assets.s3.amazonaws.com] }
    - { id: repo, hosts: [github.com], methods: [GET, HEAD], paths: ["/acme/**"] }
    - { id: web, hosts: ["**"] }
credentials:
  - { id: gh, secret: github-token, inject: { hosts: [api.github.com, github.com] } }
`,
      ),
    ],
    code: 'multi-tenant-host',
  },
  {
    name: 'a wildcard whose apex is listed',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: models, hosts: ["**.openai.com", openai.com] }\n`,
      ),
    ],
    code: 'apex-not-covered',
  },
  {
    name: 'a wildcard whose apex another policy denies',
    docs: [
      policy('base', 'org', `network:\n  deny:\n    - { id: apex, hosts: [example.com] }\n`),
      policy('eng', 'group', `network:\n  allow:\n    - { id: subs, hosts: ["*.example.com"] }\n`),
    ],
    code: 'apex-not-covered',
  },
  {
    name: 'an allow of the apex under a "**." deny (neither wildcard matches the apex)',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: apex, hosts: [example.com] }\n  deny:\n    - { id: subs, hosts: ["**.example.com"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'an allow on a port the deny does not cover',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: alt, hosts: [api.example.com], ports: [8443] }\n  deny:\n    - { id: web, hosts: ["**.example.com"], ports: [443] }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'an allow beside a deny limited to one method',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: api, hosts: [api.example.com] }\n  deny:\n    - { id: no-post, hosts: [api.example.com], methods: [POST] }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'a deny in a group policy for other groups',
    docs: [
      policy('ops', 'group', `network:\n  deny:\n    - { id: example, hosts: ["**.example.com"] }\n`, [
        'ops',
      ]),
      policy('eng', 'group', `network:\n  allow:\n    - { id: api, hosts: [api.example.com] }\n`, ['eng']),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'a deny in audit mode',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: api, hosts: [api.example.com] }\n  deny:\n    - { id: example, hosts: ["**.example.com"], mode: audit }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'a glob allow next to one of its witnesses (witnesses are not proofs)',
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  allow:\n    - { id: texts, paths: ["/data/*.txt"] }\n  deny:\n    - { id: one, paths: ["/data/x.txt"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'a read-write allow under a write-only deny',
    docs: [
      policy(
        'eng',
        'group',
        `filesystem:\n  allow:\n    - { id: aws, paths: ["~/.aws/**"], access: rw }\n  deny:\n    - { id: aws-write, paths: ["~/.aws/**"], access: write }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'an MCP allow beside a deny bound to arguments',
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - { id: fs, command: [mcp-fs] }\n  allow:\n    - { id: write, server: fs, tools: [write_file] }\n  deny:\n    - { id: no-etc, server: fs, tools: [write_file], args: { path: { prefix: /etc } } }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'an exec allow beside a narrower deny',
    docs: [
      policy(
        'eng',
        'group',
        `exec:\n  allow:\n    - { id: push, commands: ["git push"] }\n  deny:\n    - { id: no-force, commands: ["git push --force*"] }\n`,
      ),
    ],
    code: 'unreachable-rule',
  },
  {
    name: 'patterns of an allow that no deny covers',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: apis, hosts: [a.example.com, b.example.org] }\n  deny:\n    - { id: net, hosts: ["**.example.net"] }\n`,
      ),
    ],
    code: 'unreachable-pattern',
  },
  {
    name: 'patterns of one rule that do not nest',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: apis, hosts: [api.example.com, api.example.org, "*.api.example.com"] }\n`,
      ),
    ],
    code: 'redundant-pattern',
  },
  {
    name: 'the wider of two allows',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: example, hosts: ["**.example.com"] }\n    - { id: api, hosts: [api.example.com, api.example.org] }\n`,
      ),
    ],
    code: 'redundant-rule',
  },
  {
    name: 'allows of two group policies bound to different groups',
    docs: [
      policy('ops', 'group', `network:\n  allow:\n    - { id: example, hosts: ["**.example.com"] }\n`, [
        'ops',
      ]),
      policy('eng', 'group', `network:\n  allow:\n    - { id: api, hosts: [api.example.com] }\n`, ['eng']),
    ],
    code: 'redundant-rule',
  },
  {
    name: 'a deny carving an exception out of an allow',
    docs: [
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: example, hosts: ["**.example.com"] }
  deny:
    - { id: secret, hosts: [secret.example.com] }
    - { id: plain, hosts: ["**"], ports: [80] }
filesystem:
  allow:
    - { id: work, paths: ["\${workspace}/**"], access: rw }
  deny:
    - { id: env, paths: ["**/.env"] }
`,
      ),
    ],
    code: 'partial-overlap',
  },
  {
    name: 'a guardrail deny carving an exception out of a group allow',
    docs: [
      policy('sec', 'guardrail', `network:\n  deny:\n    - { id: secret, hosts: [secret.example.com] }\n`),
      policy('eng', 'group', `network:\n  allow:\n    - { id: example, hosts: ["**.example.com"] }\n`),
    ],
    code: 'relaxes-guardrail',
  },
  {
    name: 'a guardrail deny by annotation beside an allow of a whole server',
    docs: [
      policy(
        'sec',
        'guardrail',
        `mcp:\n  deny:\n    - { id: no-destructive, server: "*", annotations: { destructiveHint: true } }\n`,
      ),
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - { id: fs, command: [mcp-fs] }\n  allow:\n    - { id: fs, server: fs }\n`,
      ),
    ],
    code: 'relaxes-guardrail',
  },
  {
    name: 'public CIDRs and one embedded public address',
    docs: [
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: dns, cidrs: [8.8.8.0/24, "2606:4700::/32"] }\n`,
      ),
    ],
    code: 'guard-not-lifted',
  },
  {
    name: 'a public CIDR opens no guard range',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: dns, cidrs: [8.8.8.0/24] }\n`)],
    code: 'guard-opened',
  },
  {
    name: 'a link-local allow is not locked (the metadata addresses inside it are)',
    docs: [policy('eng', 'group', `network:\n  allow:\n    - { id: ll, cidrs: [169.254.0.0/16] }\n`)],
    code: 'guard-locked',
  },
  {
    name: 'one embedded public address',
    docs: [
      policy('eng', 'group', `network:\n  allow:\n    - { id: dns64, cidrs: ["64:ff9b::808:808/128"] }\n`),
    ],
    code: 'guard-embedding-opened',
  },
  {
    name: 'a server declared in another policy, and a server glob',
    docs: [
      policy(
        'base',
        'org',
        `mcp:\n  servers:\n    - { id: github, url: "https://api.githubcopilot.com/mcp/" }\n`,
      ),
      policy(
        'eng',
        'group',
        `mcp:\n  allow:\n    - { id: gh, server: github, tools: ["list_*"] }\n    - { id: any-gh, server: "gh-*", tools: ["list_*"] }\n`,
      ),
    ],
    code: 'unknown-mcp-server',
  },
  {
    name: 'a catalog credential bound in another policy',
    docs: [
      policy('creds', 'org', `credentials:\n  - { id: gh-token, secret: github-token, env: GITHUB_TOKEN }\n`),
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - { id: github, url: "https://api.githubcopilot.com/mcp/", credential: gh-token }\n`,
      ),
    ],
    code: 'unknown-credential',
  },
  {
    name: "a server's IPv6 addresses written unambiguously",
    docs: [
      policy(
        'eng',
        'group',
        `mcp:\n  servers:\n    - id: db\n      command: [node, /srv/db.js]\n      sandbox:\n        network: ["[fd00::1]:5432", "[fd00::1:5432]", "fd00::1", "fd00::1:abcd", "10.0.0.5:5432", "db.example.com:5432"]\n`,
      ),
    ],
    code: 'ambiguous-ipv6-port',
  },
  {
    name: 'an allow with methods to a host whose TLS the proxy intercepts',
    docs: [
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: gh-read, hosts: [api.github.com], methods: [GET] }
credentials:
  - { id: gh, secret: github-token, inject: { hosts: [api.github.com] } }
`,
      ),
    ],
    code: 'http-allow-needs-interception',
  },
  {
    name: 'a deny with paths to a host whose TLS the proxy intercepts',
    docs: [
      policy(
        'eng',
        'group',
        `network:
  deny:
    - { id: no-admin, hosts: [api.github.com], paths: ["/admin/**"] }
credentials:
  - { id: gh, secret: github-token, inject: { hosts: [api.github.com] } }
`,
      ),
    ],
    code: 'http-rule-blocks-tunnels',
  },
  {
    name: 'a group policy in audit mode',
    docs: [
      policy(
        'eng',
        'group',
        `mode: audit\nnetwork:\n  deny:\n    - { id: paste, hosts: [pastebin.com], mode: audit }\n`,
      ),
    ],
    code: 'audit-mode-guardrail',
  },
];

void describe('lint: each check fires on a document that has the problem', () => {
  for (const c of triggers) {
    void test(`${c.code}: ${c.name}`, () => {
      const linted = lint(c.docs, c.context);
      const want = markedLine(linted, c.policy);
      const found = linted.findings.filter((d) => d.code === c.code);
      const hit = found.find(
        (d) =>
          d.policy === c.policy &&
          (c.rule === undefined || d.message.includes(`"${c.rule}"`)) &&
          (c.says === undefined || d.message.includes(c.says)) &&
          lineOf(linted, d) === want,
      );
      assert.ok(
        hit,
        `expected ${c.code} in policy ${c.policy} naming "${c.rule ?? ''}" at line ${want}; got:\n${show(linted)}`,
      );
      assert.equal(hit.severity, c.severity);
      assert.ok(hit.hint && hit.hint.length > 0, 'every finding says how to fix it');
      assert.ok(hit.message.includes(`policy ${c.policy}`), 'the message names the policy');
    });
  }
});

void describe('lint: each check stays quiet on a near miss', () => {
  for (const c of nearMisses) {
    void test(`no ${c.code}: ${c.name}`, () => {
      const linted = lint(c.docs, c.context);
      const found = linted.findings.filter((d) => d.code === c.code);
      assert.deepEqual(found, [], `unexpected ${c.code}:\n${show(linted)}`);
    });
  }
});

void describe('lint: findings as a whole', () => {
  void test('a rule inside a guardrail deny is reported once, as relaxes-guardrail, not also as unreachable', () => {
    const linted = lint([
      policy('sec', 'guardrail', `network:\n  deny:\n    - { id: paste, hosts: [pastebin.com] }\n`),
      policy(
        'eng',
        'group',
        `network:\n  allow:\n    - { id: paste, hosts: [pastebin.com], ports: [443] }\n`,
      ),
    ]);
    const codes = linted.findings.map((d) => d.code).filter((c) => c !== 'multi-tenant-host');
    assert.deepEqual(codes, ['relaxes-guardrail']);
    assert.match(
      linted.findings.find((d) => d.code === 'relaxes-guardrail')?.message ?? '',
      /no effect: everything it matches stays denied/,
    );
  });

  void test('two equal rules are reported once, and the pair of an allow and a deny once', () => {
    const linted = lint([
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: a, hosts: [svc.example.org], ports: [443, 8443] }
    - { id: b, hosts: [svc.example.org], ports: [443, 8443] }
  deny:
    - { id: d, hosts: ["**.example.org"], ports: [8443] }
`,
      ),
    ]);
    assert.deepEqual(
      linted.findings.filter((d) => d.code === 'redundant-rule').map((d) => d.message),
      [
        'allow rule "b" (policy eng) is redundant: allow rule "a" (policy eng) already covers everything it matches',
      ],
    );
    assert.equal(linted.findings.filter((d) => d.code === 'partial-overlap').length, 2);
  });

  void test('no policies, no findings', () => {
    assert.deepEqual(lintPolicies([]), []);
  });

  void test('lint never reports errors, and every finding carries a policy, a path and a kebab-case code', () => {
    for (const c of [...triggers, ...nearMisses]) {
      for (const d of lint(c.docs, c.context).findings) {
        assert.notEqual(d.severity, 'error');
        assert.match(d.code, /^[a-z]+(-[a-z0-9]+)*$/);
        assert.ok(d.policy && d.path && d.hint, `${d.code} lacks policy, path or hint`);
      }
    }
  });

  void test('findings are deterministic and come in document order', () => {
    const docs = [
      policy(
        'eng',
        'group',
        `network:
  allow:
    - { id: web, hosts: ["**", "*.github.io"] }
    - { id: lan, cidrs: [10.0.0.0/7, 169.254.169.254/32] }
filesystem:
  allow:
    - { id: home, paths: ["~/**"] }
`,
      ),
    ];
    const first = lint(docs);
    assert.deepEqual(lint(docs).findings, first.findings);
    const lines = first.findings.map((d) => lineOf(first, d) ?? 0);
    assert.deepEqual(
      lines,
      [...lines].sort((a, b) => a - b),
    );
  });

  void test('the DESIGN.md example lints without a warning', () => {
    const linted = lint([DESIGN_EXAMPLE]);
    assert.deepEqual(
      linted.findings.filter((d) => d.severity === 'warning'),
      [],
      show(linted),
    );
    // The one thing worth saying: `**.openai.com` leaves the apex out.
    assert.deepEqual(
      linted.findings.map((d) => d.code),
      ['apex-not-covered'],
    );
  });
});
