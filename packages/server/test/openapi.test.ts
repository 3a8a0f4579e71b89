// The OpenAPI document is generated from the route table: it lists every route with its method,
// parameters, body, responses and required permission, and every $ref in it resolves. It is
// served at /api/v1/openapi.json without a token.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { API_ROUTES, apiDocument, permissionsOf, ROLES, type Permission } from '../src/index.js';
import { eachServer } from './harness.js';

type Json = Record<string, unknown>;
const rolesWithPermission = (p: Permission): string[] => ROLES.filter((r) => permissionsOf(r).has(p));
const doc = apiDocument() as {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json> };
};

it('lists exactly the routes the server routes, each once', () => {
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const routed = API_ROUTES.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual([...documented].sort(), [...routed].sort());
  assert.equal(new Set(routed).size, routed.length);
  const ids = API_ROUTES.map((r) => r.operationId);
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  assert.equal(doc.openapi, '3.1.0');
});

it('says for each operation who may call it, what it takes and what it answers', () => {
  for (const route of API_ROUTES) {
    const op = doc.paths[route.path]?.[route.method.toLowerCase()] as Json & {
      parameters?: { name: string; in: string }[];
      responses: Record<string, Json>;
      security: unknown[];
    };
    const where = `${route.method} ${route.path}`;
    assert.ok(op, where);
    assert.ok(op.responses[String(route.status)], `${where} documents its success`);
    const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
    assert.deepEqual(
      pathParams,
      [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
      where,
    );
    if (route.access === 'public') assert.deepEqual(op.security, [], where);
    else if (route.access === 'device') {
      assert.deepEqual(op.security, [{ device: [] }], where);
      assert.ok(op.responses['401'], `${where} documents 401`);
    } else {
      assert.deepEqual(op.security, [{ bearer: [] }], where);
      assert.ok(op.responses['401'] && op.responses['403'], `${where} documents 401 and 403`);
      assert.equal(op['x-permission'], route.access);
      assert.deepEqual(op['x-roles'], rolesWithPermission(route.access));
    }
    if (route.body) {
      assert.ok(op.requestBody, `${where} documents its body`);
      assert.ok(op.responses['400'] && op.responses['413'], `${where} documents 400 and 413`);
    }
    if (route.upload) {
      const content = (op.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {};
      assert.deepEqual(Object.keys(content), [route.upload.contentType], `${where} documents its upload`);
      assert.ok(
        op.responses['400'] && op.responses['413'] && op.responses['415'],
        `${where} documents 400, 413 and 415`,
      );
    }
    for (const status of Object.keys(route.errorBodies ?? {}))
      assert.notDeepEqual(
        op.responses[status]?.content,
        { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        `${where} documents what its ${status} carries beyond the Error shape`,
      );
  }
});

it('every $ref points at a schema the document holds', () => {
  const refs = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') refs.add(v);
        else walk(v);
      }
    }
  };
  walk(doc);
  assert.ok(refs.size > 10);
  for (const ref of refs) {
    const name = ref.replace('#/components/schemas/', '');
    assert.ok(ref.startsWith('#/components/schemas/') && doc.components.schemas[name], `${ref} resolves`);
  }
  assert.ok(doc.components.schemas.Error, 'the one error shape is a component');
});

eachServer('the served document', (harness) => {
  it('is served without a token and equals the generated one', async () => {
    const h = harness();
    const reply = await h.client().get<Json>('/api/v1/openapi.json');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, JSON.parse(JSON.stringify(doc)));
    const health = await h.client().get<{ status: string }>('/api/v1/health');
    assert.equal(health.body.status, 'ok');
  });
});
