// perimeter run on a managed device, as a user runs it: no --policy, and the session enforces
// the policy the organisation published (fetched and verified at the start), for the logged-in
// user; the device's credential stays out of the sandbox's sight; with no valid bundle nothing
// runs (exit 125, one sentence saying how to fix it).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import {
  assertEndedNormally,
  assertFailed,
  assertSucceeded,
  attempts,
  fixture,
  policyYaml,
  put,
  runSession,
  SANDBOX_SKIP,
  show,
  type Fixture,
  type SessionResult,
} from './sandbox-harness.js';
import { addUser, enrol, publish, startControlPlane } from './control-plane-harness.js';

/** `perimeter run` without --policy and --audit, as the fixture's user (HOME is the fixture's). */
const runManaged = (f: Fixture, script: string): Promise<SessionResult> =>
  runSession(f, script, { managed: true });

const deviceDirOf = (f: Fixture): string => join(f.home, '.local/state/perimeter/device');

it(
  'enforces the published policy with no --policy: a path the bundle denies is refused',
  { skip: SANDBOX_SKIP },
  async (t) => {
    const f = fixture(t);
    const cp = await startControlPlane(t);
    // The red-team policy, as the organisation's, with one more deny: the workspace's plan.txt.
    const text = policyYaml(f)
      .replace('  name: redteam\n  org: redteam\n', '  name: workstations\n')
      .replace(
        '    - { id: system-secrets',
        '    - { id: no-plans, paths: ["${workspace}/plan.txt"] }\n    - { id: system-secrets',
      );
    await publish(cp, 'workstations', text);
    const alice = await addUser(cp, 'alice@example.com', ['eng']);
    const enrolment = await enrol(cp, alice, deviceDirOf(f));
    put(f.workspace, 'plan.txt', 'the plan\n');

    const s = await runManaged(
      f,
      attempts({
        'read-plan': 'cat plan.txt',
        'read-readme': 'cat README.md',
        'read-credential': 'cat ~/.local/state/perimeter/device/login.json',
        'read-bundle': 'cat ~/.local/state/perimeter/device/bundle.jws',
      }),
    );
    assertEndedNormally(s);
    assertSucceeded(s, ['read-readme']);
    assertFailed(s, ['read-plan', 'read-credential', 'read-bundle']);
    assert.ok(!s.stdout.includes('the plan'), show(s));

    const start = s.events.find((e) => e.type === 'session.start');
    assert.equal(start?.user?.id, enrolment.user.id, 'the session runs as the logged-in user');
    assert.deepEqual(start?.user?.groups, ['eng']);
    assert.equal(start?.outcome?.policies, 'workstations');
    const denied = s.events.find((e) => e.matched?.some((r) => r.rule === 'no-plans'));
    assert.ok(denied, `an audit event names the bundle's rule\n${s.spool}`);
    assert.equal(denied?.decision, 'deny');
    assert.equal(denied?.matched?.find((r) => r.rule === 'no-plans')?.policy, 'workstations');
  },
);

it('a managed device with no valid bundle runs nothing: exit 125 and how to fix it', async (t) => {
  const f = fixture(t);
  const cp = await startControlPlane(t);
  const alice = await addUser(cp, 'alice@example.com');
  await enrol(cp, alice, deviceDirOf(f));
  // The server goes away before the device ever fetched a bundle.
  await cp.server.close();
  const s = await runManaged(f, 'echo ran');
  assert.equal(s.code, 125, show(s));
  assert.ok(!s.stdout.includes('ran'), show(s));
  assert.match(
    s.stderr,
    /^perimeter: this device is managed by http:\/\/127\.0\.0\.1:\d+ but has no valid policy bundle \(this device has no policy bundle yet\), so nothing ran\n {2}connect to http:\/\/127\.0\.0\.1:\d+ and run "perimeter agent --once" to fetch one/,
  );
  assert.equal(s.events.length, 0, 'no session started');
});
