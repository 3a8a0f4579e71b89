// docs/cli.md is generated from the --help texts; this pin keeps the published reference true.
// After a deliberate help change, run `npm run docs` and commit docs/cli.md.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { renderCliReference } from '../src/help.js';

it('docs/cli.md matches the --help texts (run npm run docs after a change)', () => {
  const published = readFileSync(new URL('../../../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(published, renderCliReference());
});
