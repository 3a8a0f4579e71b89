// The public face of @perimeter/policy, pinned: every other part of Perimeter builds on these
// names, so adding or removing one is a deliberate edit of this list.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import * as policy from '../src/index.js';

const EXPORTS = [
  'API_VERSION',
  'COMBINING_MARK',
  'CONFLICTING_PINS',
  'CREDENTIAL_FILE_NAME',
  'Engine',
  'MAX_MARK_RUN',
  'PRIVILEGE_WRAPPERS',
  'SECRET_NAME',
  'SPECIAL_NAMES',
  'SPECIAL_RANGES',
  'SURFACES',
  'byOrg',
  'canonicalHost',
  'canonicalHttpPath',
  'canonicalPath',
  'cidrContains',
  'commandsOfArgv',
  'compilePolicy',
  'configureZod',
  'createEngine',
  'describeRequest',
  'diffPolicies',
  'effectiveAnnotations',
  'escapeUnprintable',
  'explain',
  'formatAuthority',
  'formatCidr',
  'formatDiagnostic',
  'formatExplanation',
  'formatIp',
  'formatPath',
  'formatSize',
  'hasControlCharacter',
  'hasErrors',
  'lintPolicies',
  'loadPolicies',
  'parseAuthority',
  'parseCidr',
  'parseCommandLine',
  'parseIp',
  'parseNetworkEntry',
  'parsePort',
  'parseRequest',
  'parseSize',
  'policyJsonSchema',
  'policySchemas',
  'refusalDecision',
  'runPolicyTests',
  'simulate',
  'specialNameOf',
  'specialRangesOf',
];

it('exports exactly the pinned runtime names', () => {
  assert.deepEqual(Object.keys(policy).sort(), EXPORTS);
});
