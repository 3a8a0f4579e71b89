// The policy JSON Schema is published in docs/ for editors; this pin keeps it in step with the
// zod schema. After a deliberate schema change, run `npm run docs` and commit the new file.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { policyJsonSchema } from '../src/schema.js';

it('docs/policy.schema.json matches the schema in the code (run npm run docs after a change)', () => {
  const published: unknown = JSON.parse(
    readFileSync(new URL('../../../../docs/policy.schema.json', import.meta.url), 'utf8'),
  );
  assert.deepEqual(published, JSON.parse(JSON.stringify(policyJsonSchema())));
});
