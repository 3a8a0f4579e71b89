// Which HTTPS connections the egress proxy must see inside (a credential is injected there, or a
// rule about methods or paths covers the host), and how such an inspected connection is admitted:
// an allow of some requests admits it, a deny of some requests waits for the requests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineFrom } from './helpers.js';

const engine = engineFrom(`
  network:
    allow:
      - { id: github-read, hosts: [api.github.com], methods: [GET, HEAD], paths: ["/repos/acme/**"] }
      - { id: registry, hosts: [registry.npmjs.org], ports: [443] }
      - { id: uploads, hosts: [uploads.example.com] }
    deny:
      - { id: no-admin, hosts: [uploads.example.com], paths: ["/admin/**"] }
  credentials:
    - id: npm
      secret: npm-token
      env: NPM_TOKEN
      inject: { hosts: [registry.npmjs.org] }
    - id: env-only
      secret: plain
      env: PLAIN
`);

test('a host with an injected credential is inspected on the binding ports only', () => {
  assert.equal(engine.inspectionReason('registry.npmjs.org', 443), 'credential');
  assert.equal(engine.inspectionReason('registry.npmjs.org', 8443), undefined);
});

test('a host covered by a method or path rule is inspected', () => {
  assert.equal(engine.inspectionReason('api.github.com', 443), 'http-rule');
  assert.equal(engine.inspectionReason('uploads.example.com', 443), 'http-rule');
});

test('a host with only host-level rules stays an opaque tunnel', () => {
  assert.equal(engine.inspectionReason('example.org', 443), undefined);
});

test('an opaque tunnel to a host allowed only for some paths is refused', () => {
  const d = engine.decide({ surface: 'network', host: 'api.github.com', port: 443 });
  assert.equal(d.decision, 'deny');
});

test('an inspected connection to a host allowed for some paths is admitted, its requests judged', () => {
  const d = engine.decide({ surface: 'network', host: 'api.github.com', port: 443, inspected: true });
  assert.equal(d.decision, 'allow');
  const read = engine.decide({
    surface: 'network',
    host: 'api.github.com',
    port: 443,
    method: 'GET',
    path: '/repos/acme/x',
  });
  assert.equal(read.decision, 'allow');
  const write = engine.decide({
    surface: 'network',
    host: 'api.github.com',
    port: 443,
    method: 'POST',
    path: '/repos/acme/x',
  });
  assert.equal(write.decision, 'deny');
});

test('a deny of some paths refuses an opaque tunnel but admits an inspected connection', () => {
  const opaque = engine.decide({ surface: 'network', host: 'uploads.example.com', port: 443 });
  assert.equal(opaque.decision, 'deny');
  const inspected = engine.decide({
    surface: 'network',
    host: 'uploads.example.com',
    port: 443,
    inspected: true,
  });
  assert.equal(inspected.decision, 'allow');
  const admin = engine.decide({
    surface: 'network',
    host: 'uploads.example.com',
    port: 443,
    method: 'GET',
    path: '/admin/users',
  });
  assert.equal(admin.decision, 'deny');
  assert.deepEqual(
    admin.rules.map((r) => r.rule),
    ['no-admin'],
  );
});

test('credentialBindings lists every binding in force, injection settings compiled', () => {
  const bindings = engine.credentialBindings();
  assert.deepEqual(
    bindings.map((b) => [
      b.ref.rule,
      b.secret,
      b.env,
      b.inject?.header,
      b.inject?.format,
      b.inject?.anywhere,
    ]),
    [
      ['npm', 'npm-token', 'NPM_TOKEN', 'Authorization', 'Bearer {secret}', false],
      ['env-only', 'plain', 'PLAIN', undefined, undefined, undefined],
    ],
  );
});

test('network.secrets: the strictest policy that says wins, block when none says', () => {
  const of = (...values: (string | undefined)[]): string =>
    engineFrom(values.map((v) => (v === undefined ? '' : `network:\n  secrets: ${v}\n`))).secretsAction();
  assert.equal(of(undefined), 'block');
  assert.equal(of('audit'), 'audit');
  assert.equal(of('audit', 'redact'), 'redact');
  assert.equal(of('redact', 'block'), 'block');
  assert.equal(of('audit', undefined), 'audit');
});

test('network.secrets: every policy in force in audit mode only records a secret, whatever they say', () => {
  const of = (...docs: string[]): string => engineFrom(docs).secretsAction();
  assert.equal(of('mode: audit\nnetwork:\n  secrets: block\n'), 'audit');
  assert.equal(of('mode: audit\n', 'mode: audit\nnetwork:\n  secrets: redact\n'), 'audit');
  // One policy enforcing: the strictest setting holds.
  assert.equal(of('mode: audit\n', 'network:\n  secrets: redact\n'), 'redact');
  assert.equal(of('mode: audit\nnetwork:\n  secrets: block\n', 'network: {}\n'), 'block');
  // A group policy not in force for this subject does not count.
  const group =
    'apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: g\n  layer: group\n  groups: [ops]\nnetwork:\n  secrets: block\n';
  assert.equal(engineFrom(['mode: audit\n', group]).secretsAction(), 'audit');
  assert.equal(
    engineFrom(['mode: audit\n', group], { subject: { groups: ['ops'] } }).secretsAction(),
    'block',
  );
});
