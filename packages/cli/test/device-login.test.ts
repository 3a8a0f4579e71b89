// Device login as a user does it, all real binaries: `perimeter server` as a child process,
// `perimeter login --server URL` printing its code, the invited user approving it over HTTP,
// the credential kept 0600, `perimeter status` showing server, user, device and revision, and
// `perimeter agent` picking up a publication during its long poll, reporting it, and stopping on
// SIGTERM; a revoked device's agent stops with 1.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { BIN, spawnCli, tempDir, waitForOutput, type RunningCli } from './cli-harness.js';
import { policy } from './control-plane-harness.js';

/** The environment of a machine whose home and state directory are `state`. */
const machine = (state: string): NodeJS.ProcessEnv => ({ XDG_STATE_HOME: state, HOME: state });

const start = (t: TestContext, args: readonly string[], state: string): RunningCli =>
  spawnCli(t, args, machine(state));

function cli(
  args: readonly string[],
  state: string,
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...machine(state) },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('perimeter login enrols the device through the device grant; status shows it; agent follows publications', async (t) => {
  const serverState = tempDir(t);
  const deviceState = tempDir(t);
  const server = start(t, ['server', '--listen', '127.0.0.1:0'], serverState);
  const [, url = ''] = await waitForOutput(server, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const [, bootstrap] = await waitForOutput(server, /bootstrap#(pmb_[A-Za-z0-9_-]{43})/);
  const claimed = (await (
    await fetch(`${url}/api/v1/bootstrap`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: bootstrap, email: 'owner@example.com' }),
    })
  ).json()) as { org: { id: string }; token: { secret: string } };
  const base = `${url}/api/v1/orgs/${claimed.org.id}`;
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${claimed.token.secret}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  const publish = async (id: string | undefined, name: string, text: string): Promise<string> => {
    const made = id
      ? {
          policy: { id },
          revision: (
            await api<{ revision: { number: number } }>('POST', `/policies/${id}/revisions`, { text })
          ).revision,
        }
      : await api<{ policy: { id: string }; revision: { number: number } }>('POST', '/policies', {
          name,
          text,
        });
    await api('POST', `/policies/${made.policy.id}/revisions/${made.revision.number}/publish`);
    return made.policy.id;
  };
  const baseline = await publish(
    undefined,
    'baseline',
    policy('baseline', 'network:\n  allow:\n    - { id: docs, hosts: [docs.example.com], ports: [443] }\n'),
  );
  const alice = await api<{ id: string }>('POST', '/users', { email: 'alice@example.com' });
  const invitation = await api<{ secret: string }>('POST', `/users/${alice.id}/invitations`, {});

  const login = start(t, ['login', '--server', url, '--name', 'alice-laptop'], deviceState);
  const [, link = '', code = ''] = await waitForOutput(login, /open\n {2}(\S+\/device\?code=(\S+))\n/);
  assert.equal(link, `${url}/device?code=${code}`);
  // The link and the waiting line are separate writes: wait for the second too.
  await waitForOutput(login, /Waiting for approval/);
  const approval = await fetch(`${url}/api/v1/device/verification`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userCode: code, invitation: invitation.secret, decision: 'approve' }),
  });
  assert.equal(approval.status, 200);
  assert.equal(await login.exited, 0, login.stderr);
  assert.match(
    login.stdout,
    new RegExp(
      `Logged in to ${url} as alice@example\\.com \\(organisation default\\); this device is dev_[0-9a-f]{32}\\.`,
    ),
  );
  assert.match(login.stdout, /Policy bundle revision 1 is active \(1 policy: baseline\)\./);
  const dir = join(deviceState, 'perimeter', 'device');
  assert.equal(statSync(join(dir, 'login.json')).mode & 0o777, 0o600, 'the credential is private');
  assert.equal(statSync(dir).mode & 0o777, 0o700);

  const status = cli(['status'], deviceState);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^server: +${url} \\(organisation default\\)$`, 'm'));
  assert.match(status.stdout, /^user: +alice@example\.com$/m);
  assert.match(status.stdout, /^device: +alice-laptop \(dev_[0-9a-f]{32}\), enrolled /m);
  assert.match(status.stdout, /^bundle: +revision 1, issued \S+ \(\d+ s ago\), valid until \S+ \(in 7 d\)$/m);
  assert.match(status.stdout, /^policies: +baseline@1 \(org\)$/m);
  assert.match(status.stdout, /^last sync: +\S+ \(\d+ s ago\)$/m);
  const json = JSON.parse(cli(['status', '--json'], deviceState).stdout) as {
    managed: boolean;
    bundle: { revision: number };
    isStale: boolean;
  };
  assert.deepEqual([json.managed, json.bundle.revision, json.isStale], [true, 1, false]);

  const agent = start(t, ['agent'], deviceState);
  await waitForOutput(agent, /following http:\/\/127\.0\.0\.1:\d+ for alice@example\.com/);
  // Its first long poll is held by the server: give it a moment to be waiting, then publish.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await publish(
    baseline,
    'baseline',
    policy(
      'baseline',
      'network:\n  allow:\n    - { id: docs, hosts: [docs.example.com, wiki.example.com], ports: [443] }\n',
    ),
  );
  // Bounded, not timed: the long poll answers on the publication, well inside its 55 s hold (how
  // fast is bench:server's question, not this test's).
  await waitForOutput(agent, /revision 2 active \(issued \S+, valid until \S+; baseline\)/, 20_000);
  const devices = await api<{ devices: { id: string; revision: number }[] }>('GET', '/devices');
  assert.equal(devices.devices[0]?.revision, 2, 'and reported it');
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0, agent.stderr);
  const after = JSON.parse(cli(['status', '--json'], deviceState).stdout) as { bundle: { revision: number } };
  assert.equal(after.bundle.revision, 2);

  await api('DELETE', `/devices/${devices.devices[0]?.id ?? ''}`);
  const revoked = cli(['agent', '--once'], deviceState);
  assert.equal(revoked.code, 1);
  assert.match(
    revoked.stdout,
    /the server refused this device's credential \(the device credential was revoked\)/,
  );

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});

it('perimeter status on a device that is not managed says so, and login refuses plain http to another machine', (t) => {
  const state = tempDir(t);
  const status = cli(['status'], state);
  assert.equal(status.code, 0);
  assert.match(
    status.stdout,
    /^This device is not managed: perimeter run uses --policy files, or the embedded default policy\.$/m,
  );
  assert.equal(cli(['status', '--json'], state).stdout.trim(), '{"managed":false}');
  const insecure = cli(['login', '--server', 'http://perimeter.example.com'], state);
  assert.equal(insecure.code, 3);
  assert.match(insecure.stderr, /plain http to another machine/);
  const agent = cli(['agent'], state);
  assert.equal(agent.code, 3);
  assert.match(agent.stderr, /this device is not logged in to a control plane/);
});
