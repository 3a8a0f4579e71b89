// docs/server.md's endpoint and role tables are rendered from the route table and roles.ts, and
// pinned here, so the published reference cannot drift from the server. After a deliberate
// change, rewrite them and review the diff:
//   npx tsc -b packages/server && UPDATE_PINS=1 node --test packages/server/dist/test/docs-pin.test.js

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { it } from 'node:test';
import { API_ROUTES, PERMISSIONS, permissionsOf, ROLES, type Permission } from '../src/index.js';

const DOC = new URL('../../../../docs/server.md', import.meta.url);

function endpointTable(): string {
  const rows = API_ROUTES.map(
    (r) =>
      `| \`${r.method} ${r.path.replace('/api/v1', '')}\` | ${r.summary} | ${r.access === 'public' ? 'no token' : `\`${r.access}\``} |`,
  );
  return ['| endpoint (under `/api/v1`) | what it does | needs |', '| --- | --- | --- |', ...rows].join('\n');
}

function roleTable(): string {
  const header = `| permission | ${ROLES.join(' | ')} |`;
  const rule = `| --- |${ROLES.map(() => ' :-: |').join('')}`;
  const rows = (Object.keys(PERMISSIONS) as Permission[]).map(
    (p) =>
      `| \`${p}\`: ${PERMISSIONS[p]} | ${ROLES.map((role) => (permissionsOf(role).has(p) ? '✓' : '')).join(' | ')} |`,
  );
  return [header, rule, ...rows].join('\n');
}

function section(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start (generated from the code; see packages/server/test/docs-pin.test.ts) -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  assert.ok(from >= 0 && to > from, `docs/server.md has no ${name} section`);
  return `${text.slice(0, from + start.length)}\n\n${body}\n\n${text.slice(to)}`;
}

it('docs/server.md lists every endpoint and the role matrix as the code has them', () => {
  const published = readFileSync(DOC, 'utf8');
  const expected = section(section(published, 'endpoints', endpointTable()), 'roles', roleTable());
  if (process.env.UPDATE_PINS === '1') writeFileSync(DOC, expected);
  else
    assert.equal(
      published,
      expected,
      'docs/server.md is stale; rewrite it with UPDATE_PINS=1 (see this file)',
    );
});
