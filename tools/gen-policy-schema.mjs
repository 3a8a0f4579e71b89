#!/usr/bin/env node
// Writes docs/policy.schema.json, the JSON Schema editors use to complete and check policy files,
// from the zod schema in packages/policy (the one source of the policy shape).
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '@perimeter/policy';

const out = new URL('../docs/policy.schema.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out.pathname}`);
