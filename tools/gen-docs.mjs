#!/usr/bin/env node
// Regenerates the documentation that is derived from code, so it cannot drift:
//   docs/policy.schema.json  from the zod schema in packages/policy (for editors)
//   docs/cli.md              from the --help texts in packages/cli/src/help.ts
// Both are pinned by tests; run `npm run docs` after a deliberate change.
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '@perimeter/policy';
import { renderCliReference } from '../packages/cli/dist/src/help.js';

const schema = new URL('../docs/policy.schema.json', import.meta.url);
writeFileSync(schema, `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
const cli = new URL('../docs/cli.md', import.meta.url);
writeFileSync(cli, renderCliReference());
console.log(`wrote ${schema.pathname}\nwrote ${cli.pathname}`);
