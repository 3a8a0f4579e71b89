// What the tests that launch real sessions share: whether this machine can launch one at all,
// and a policy that grants the workspace read-write and the system read-only.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createEngine, loadPolicies, type Engine } from '@perimeter/policy';
import { BWRAP_PATH, isHelperBuilt } from '../src/preflight.js';

/** Why sessions cannot be launched here, or false when they can (a `skip` for node:test). */
export const CANNOT_LAUNCH: string | false =
  process.platform !== 'linux'
    ? 'the sandbox is Linux only'
    : !existsSync(BWRAP_PATH)
      ? `${BWRAP_PATH} is missing (apt-get install bubblewrap)`
      : !isHelperBuilt()
        ? 'the sandbox helper is not built (npm run build)'
        : false;

export const WORKSPACE_POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: launch-test, layer: org, org: test }
filesystem:
  default: deny
  allow:
    - { id: workspace, paths: ["\${workspace}/**"], access: rw }
    - { id: system, paths: [/usr/**, /bin/**, /lib/**, /lib64/**, /etc/**], access: read }
`;

/** WORKSPACE_POLICY (with `extra` appended) for `workspace`, whose user's home is `home`. */
export function workspaceEngine(workspace: string, home: string, extra = ''): Engine {
  const loaded = loadPolicies([{ file: 'launch.yaml', text: WORKSPACE_POLICY + extra }]);
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return createEngine(
    loaded.policies.map((l) => l.policy),
    { subject: {}, context: { home, workspace } },
  );
}
