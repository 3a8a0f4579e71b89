// The public face of @perimeter/detect, pinned: the egress proxy, the MCP gateway and the CLI code
// against these names, so adding or removing one is a deliberate edit of this list.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as detect from '../src/index.js';

void it('exports exactly the documented API', () => {
  assert.deepEqual(Object.keys(detect).sort(), [
    'MIN_KNOWN_LENGTH',
    'RULES',
    'encodingPhrase',
    'fingerprint',
    'knownMatcher',
    'redact',
    'renderingsOf',
    'scan',
    'scanHost',
    'scanJoined',
  ]);
});

void it('every rule a scan can report is in the catalogue', () => {
  const ids = new Set(detect.RULES.map((r) => r.id));
  for (const id of [
    'github-token',
    'aws-secret-access-key',
    'gcp-service-account-key',
    'generic-secret',
    'password-assignment',
  ])
    assert.ok(ids.has(id), id);
});
