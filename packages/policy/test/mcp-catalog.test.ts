// The MCP catalog and gateway settings as the gateway reads them from the policies in force: which
// servers exist, which tool definitions are pinned, and the strictest word on pinning, secrets,
// argument values in audit events and instructions in results.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFLICTING_PINS } from '../src/index.js';
import { policyJsonSchema } from '../src/schema.js';
import { diagnosticsOf, engineFrom } from './helpers.js';

const PIN_A = `sha256:${'a'.repeat(64)}`;
const PIN_B = `sha256:${'b'.repeat(64)}`;

test('the catalog holds every declared server once, the org declaration first', () => {
  const engine = engineFrom(
    [
      `apiVersion: perimeter/v1
kind: Policy
metadata: { name: team, layer: group, groups: [eng] }
mcp:
  servers:
    - { id: fs, command: [team-fs] }
    - { id: web, url: "https://mcp.example.com/mcp" }
`,
      `apiVersion: perimeter/v1
kind: Policy
metadata: { name: base, layer: org }
mcp:
  servers:
    - { id: fs, command: [org-fs] }
`,
    ],
    { subject: { groups: ['eng'] } },
  );
  const catalog = engine.mcpServers();
  assert.deepEqual(
    catalog.map((e) => [e.server.id, e.policy, e.server.command ?? e.server.url]),
    [
      ['fs', 'base', ['org-fs']],
      ['web', 'team', 'https://mcp.example.com/mcp'],
    ],
  );
});

test('pins from every declaring policy are joined; two different pins for one tool conflict', () => {
  const engine = engineFrom(
    [
      `apiVersion: perimeter/v1
kind: Policy
metadata: { name: one, layer: org }
mcp:
  servers:
    - { id: fs, command: [fs], pins: { read_file: "${PIN_A}", list_directory: "${PIN_A}" } }
`,
      `apiVersion: perimeter/v1
kind: Policy
metadata: { name: two, layer: group, groups: [eng] }
mcp:
  servers:
    - { id: fs, command: [fs], pins: { read_file: "${PIN_B}", write_file: "${PIN_B}" } }
`,
    ],
    { subject: { groups: ['eng'] } },
  );
  const [fs] = engine.mcpServers();
  assert.deepEqual(Object.fromEntries(fs?.pins ?? []), {
    read_file: CONFLICTING_PINS,
    list_directory: PIN_A,
    write_file: PIN_B,
  });
});

test('a pin that is not sha256: and 64 hex digits is a load error', () => {
  assert.throws(
    () => engineFrom(`mcp:\n  servers:\n    - { id: fs, command: [fs], pins: { read_file: "md5:abc" } }\n`),
    /sha256/,
  );
});

test('mcp.pinning: approve unless every policy that says, says tofu', () => {
  const of = (...values: (string | undefined)[]): string =>
    engineFrom(values.map((v) => (v === undefined ? '' : `mcp:\n  pinning: ${v}\n`))).mcpPinning();
  assert.equal(of(undefined), 'approve');
  assert.equal(of('tofu'), 'tofu');
  assert.equal(of('tofu', undefined), 'tofu');
  assert.equal(of('tofu', 'approve'), 'approve');
});

test('mcp.secrets: block unless every policy that says, says redact', () => {
  const of = (...values: (string | undefined)[]): string =>
    engineFrom(values.map((v) => (v === undefined ? '' : `mcp:\n  secrets: ${v}\n`))).mcpSecretsAction();
  assert.equal(of(undefined), 'block');
  assert.equal(of('redact'), 'redact');
  assert.equal(of('redact', 'block'), 'block');
});

test('mcp.auditArguments: values are recorded only when a policy says so and none says no', () => {
  const of = (...values: (boolean | undefined)[]): boolean =>
    engineFrom(
      values.map((v) => (v === undefined ? '' : `mcp:\n  auditArguments: ${v}\n`)),
    ).mcpAuditArguments();
  assert.equal(of(undefined), false);
  assert.equal(of(true), true);
  assert.equal(of(true, undefined), true);
  assert.equal(of(true, false), false);
});

test('mcp.promptInjection: strip unless a policy says block, or every policy that says, says flag', () => {
  const of = (...values: (string | undefined)[]): string =>
    engineFrom(
      values.map((v) => (v === undefined ? '' : `mcp:\n  promptInjection: ${v}\n`)),
    ).mcpPromptInjection();
  assert.equal(of(undefined), 'strip');
  assert.equal(of('flag'), 'flag');
  assert.equal(of('flag', undefined), 'flag');
  assert.equal(of('flag', 'strip'), 'strip');
  assert.equal(of('flag', 'block'), 'block');
  assert.equal(of('strip', 'block', undefined), 'block');
  // Audit mode records what it finds and changes nothing, as it does for secrets.
  assert.equal(engineFrom('mode: audit\nmcp:\n  promptInjection: block\n').mcpPromptInjection(), 'flag');
});

/** Every error of a policy with these catalog entries, as `code path: message (hint)`. */
const catalogErrors = (...entries: string[]): string[] =>
  diagnosticsOf(`mcp:\n  servers:\n${entries.map((e) => `    - ${e}\n`).join('')}`)
    .filter((d) => d.severity === 'error')
    .map((d) => `${d.code} ${(d.path ?? []).join('.')}: ${d.message} (${d.hint ?? ''})`);

test('a sandbox path is one exact path or a whole directory: a pattern the sandbox cannot mount is an error', () => {
  const paths = [
    '/srv/ref/**',
    '/srv/tool.js',
    '~/.nvm/**',
    '~/.npmrc',
    '"${workspace}/node_modules/**"',
    '"${workspace}"',
  ];
  assert.deepEqual(
    catalogErrors(
      `{ id: fs, command: [x], sandbox: { read: [${paths.join(', ')}], write: [${paths.join(', ')}] } }`,
    ),
    [],
  );
  const errors = catalogErrors(
    '{ id: fs, command: [x], sandbox: { read: ["/work/*/node_modules/**", "**/node_modules/**", /srv/ok/**, "/srv/*.js", "**"], write: ["~/.cache/**/idx", "/srv/file?.db"] } }',
  );
  assert.deepEqual(
    errors.map((e) => e.split(':')[0]),
    [
      'unmountable-sandbox-path mcp.servers.0.sandbox.read.0',
      'unmountable-sandbox-path mcp.servers.0.sandbox.read.1',
      'unmountable-sandbox-path mcp.servers.0.sandbox.read.3',
      'unmountable-sandbox-path mcp.servers.0.sandbox.read.4',
      'unmountable-sandbox-path mcp.servers.0.sandbox.write.0',
      'unmountable-sandbox-path mcp.servers.0.sandbox.write.1',
    ],
  );
  assert.equal(
    errors[0],
    'unmountable-sandbox-path mcp.servers.0.sandbox.read.0: "/work/*/node_modules/**" has a wildcard other than a trailing /**, so the sandbox would mount nothing for it (write one exact path, or a whole directory ending in /**, under /, ~/ or ${workspace}/)',
  );
  // What is no path pattern at all keeps its own error.
  assert.deepEqual(
    catalogErrors('{ id: fs, command: [x], sandbox: { read: [relative/path] } }').map((e) => e.split(':')[0]),
    ['bad-path-pattern mcp.servers.0.sandbox.read.0'],
  );
});

test('env on a remote server is an error, as its sandbox is: its secret goes in a header, through credential', () => {
  assert.deepEqual(catalogErrors('{ id: fs, command: [x], env: { LOG_LEVEL: debug } }'), []);
  assert.deepEqual(catalogErrors('{ id: web, url: "https://mcp.example.com/mcp", env: { API_KEY: k } }'), [
    'env-of-remote-server mcp.servers.0.env: the MCP server "web" is remote, so it has no environment to set (remove env; a remote server gets its secret in a header: set credential: to a binding whose inject names it)',
  ]);
});

test("the schema's words on sandbox.read and write name every root a sandbox path may start with", () => {
  interface Node {
    readonly properties?: Record<string, Node>;
    readonly items?: Node;
    readonly description?: string;
  }
  const root = policyJsonSchema() as Node;
  const box = root.properties?.mcp?.properties?.servers?.items?.properties?.sandbox?.properties;
  const read = box?.read?.description ?? '';
  for (const [path, named] of [
    ['/srv/ref/**', 'an absolute path'],
    ['~/.nvm/**', '`~/…`'],
    ['"${workspace}/node_modules/**"', '`${workspace}/…`'],
  ] as const) {
    assert.deepEqual(catalogErrors(`{ id: fs, command: [x], sandbox: { read: [${path}] } }`), []);
    assert.ok(read.includes(named), `sandbox.read's description names ${named}: ${read}`);
  }
  assert.match(box?.write?.description ?? '', /as in `read`/);
});
