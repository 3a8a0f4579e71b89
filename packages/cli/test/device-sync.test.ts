// A device's sync against a real control plane: the first bundle activated and kept with private
// modes; every bundle a device must refuse (unsigned, another key, tampered, expired, an older
// revision) refused with the last good one kept; a key rotation learned through its endorsement;
// a refusal reported to the server; an unreachable server leaving the last good bundle in force.
// The agent's backoff while the server is down. And which policies a session takes on a managed
// device (session-policies.ts).

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { effectiveBundle, publicJwk, signCompact, startServer, type BundlePayload } from '@perimeter/server';
import { offerBundle, readActive } from '../src/device/active-bundle.js';
import {
  deviceDir,
  readActiveBundle,
  readSyncState,
  readTrustedKeys,
  writeSyncState,
  writeTrustedKeys,
  type Enrolment,
} from '../src/device/device-state.js';
import { sessionPolicies } from '../src/device/session-policies.js';
import { backoffMs, syncOnce } from '../src/device/sync.js';
import { retryAfterMs } from '../src/device/control-plane.js';
import { UserError } from '../src/errors.js';
import type { Ui } from '../src/ui.js';
import { spawnCli, tempDir, waitForOutput, writeFile } from './cli-harness.js';
import {
  addUser,
  enrol,
  policy,
  publish,
  startControlPlane,
  type ControlPlane,
} from './control-plane-harness.js';

const BASELINE = policy(
  'baseline',
  'network:\n  allow:\n    - { id: docs, hosts: [docs.example.com], ports: [443] }\n',
);
const ENG = policy(
  'engineering',
  'network:\n  allow:\n    - { id: gh, hosts: [api.github.com], ports: [443] }\n',
  'group',
  ['eng'],
);
const SYNC = { waitS: 0, timeoutMs: 5000 };

const quiet: Ui = { out: () => undefined, err: () => undefined, isColor: false };

async function managedDevice(
  t: TestContext,
): Promise<{ cp: ControlPlane; dir: string; enrolment: Awaited<ReturnType<typeof enrol>> }> {
  const cp = await startControlPlane(t);
  await publish(cp, 'baseline', BASELINE);
  await publish(cp, 'engineering', ENG);
  const alice = await addUser(cp, 'alice@example.com', ['eng']);
  const dir = join(tempDir(t), 'device');
  const enrolment = await enrol(cp, alice, dir);
  return { cp, dir, enrolment };
}

const payloadOf = (jws: string): BundlePayload =>
  JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as BundlePayload;

describe('device sync', () => {
  it('activates the first bundle, keeps it 0600 in a 0700 directory, and reports it', async (t) => {
    const { cp, dir, enrolment } = await managedDevice(t);
    const outcome = await syncOnce(dir, enrolment, SYNC);
    assert.equal(outcome.kind, 'activated');
    assert.ok(outcome.kind === 'activated');
    assert.equal(outcome.active.payload.revision, 2);
    assert.deepEqual(
      outcome.active.payload.policies.map((p) => p.name),
      ['baseline', 'engineering'],
    );
    assert.deepEqual(
      outcome.active.policies.policies.map((l) => [l.policy.name, l.policy.org, l.policy.revision]),
      [
        ['baseline', 'default', 1],
        ['engineering', 'default', 1],
      ],
      'loaded as policies of the organisation, each with its revision',
    );
    for (const name of ['login.json', 'keys.json', 'bundle.jws', 'sync.json'])
      assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const state = readSyncState(dir);
    assert.equal(state.held?.revision, 2);
    assert.ok(state.etag?.startsWith('"2.'));

    const again = await syncOnce(dir, enrolment, SYNC);
    assert.equal(again.kind, 'unchanged', 'the ETag is current: 304');

    const device = await cp.api<{ revision: number; error: string | null }>(
      'GET',
      `${cp.base}/devices/${enrolment.device.id}`,
    );
    assert.deepEqual([device.body.revision, device.body.error], [2, null], 'the server knows what runs');
  });

  it('a device away for a day, then for eight, catches up on its first sync back', async (t) => {
    let offset = 0;
    const now = (): number => Date.now() + offset;
    const cp = await startControlPlane(t, { now });
    await publish(cp, 'baseline', BASELINE);
    const alice = await addUser(cp, 'alice@example.com', ['eng']);
    const dir = join(tempDir(t), 'device');
    const enrolment = await enrol(cp, alice, dir);
    const sync = { ...SYNC, now };
    assert.equal((await syncOnce(dir, enrolment, sync)).kind, 'activated');

    // A day offline: the organisation publishes twice meanwhile; the held bundle is still valid.
    offset += 24 * 3600_000;
    await publish(cp, 'engineering', ENG);
    await publish(cp, 'baseline', BASELINE.replace('docs.example.com', 'docs2.example.com'));
    const held = readActive(dir, enrolment, now());
    assert.ok('payload' in held && held.payload.revision === 1, 'it runs on what it held while away');
    const back = await syncOnce(dir, enrolment, sync);
    assert.ok(back.kind === 'activated', back.kind);
    assert.equal(back.active.payload.revision, 3, 'the newest revision, not each one in between');
    assert.deepEqual(
      back.active.payload.policies.map((p) => p.name),
      ['baseline', 'engineering'],
    );
    assert.equal((await syncOnce(dir, enrolment, sync)).kind, 'unchanged');

    // Eight days offline: the held bundle has expired (fail closed), and one sync restores it.
    offset += 8 * 24 * 3600_000;
    const expired = readActive(dir, enrolment, now());
    assert.ok('ok' in expired && !expired.ok, 'an expired bundle is not used');
    const again = await syncOnce(dir, enrolment, sync);
    assert.ok(again.kind === 'activated', again.kind);
    assert.equal(again.active.payload.revision, 3, 'the same revision, reissued');
    assert.ok(Date.parse(again.active.payload.notAfter) > now(), 'valid from the server’s now on');
    assert.ok('payload' in readActive(dir, enrolment, now()));
  });

  it('refuses unsigned, foreign-key, tampered, expired and older bundles, and keeps the last good one', async (t) => {
    const { cp, dir, enrolment } = await managedDevice(t);
    assert.equal((await syncOnce(dir, enrolment, SYNC)).kind, 'activated');
    const old = readActiveBundle(dir) ?? '';
    await publish(
      cp,
      'baseline',
      BASELINE.replace('docs.example.com]', 'docs.example.com, wiki.example.com]'),
    );
    assert.equal((await syncOnce(dir, enrolment, SYNC)).kind, 'activated');
    const good = readActiveBundle(dir) ?? '';
    const goodPayload = payloadOf(good);
    assert.equal(goodPayload.revision, 3);

    const [h, p, s] = good.split('.') as [string, string, string];
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const loosened = { ...goodPayload, revision: 4, policies: [] };
    const cases: [string, string, string][] = [
      ['unsigned', JSON.stringify(goodPayload), 'unsigned'],
      [
        'alg none',
        `${Buffer.from('{"alg":"none","typ":"perimeter-bundle+jws"}').toString('base64url')}.${p}.`,
        'unsigned',
      ],
      [
        'another key',
        signCompact({ alg: 'EdDSA', kid: 'somebody-else', typ: 'perimeter-bundle+jws' }, loosened, stranger),
        'unknown-key',
      ],
      [
        'the pinned kid, another key',
        signCompact(
          {
            alg: 'EdDSA',
            kid: (JSON.parse(Buffer.from(h, 'base64url').toString()) as { kid: string }).kid,
            typ: 'perimeter-bundle+jws',
          },
          loosened,
          stranger,
        ),
        'bad-signature',
      ],
      [
        'tampered',
        `${h}.${Buffer.from(JSON.stringify(loosened)).toString('base64url')}.${s}`,
        'bad-signature',
      ],
      ['older revision', old, 'rollback'],
    ];
    for (const [what, jws, code] of cases) {
      const refused = offerBundle(dir, enrolment, jws, Date.now());
      assert.equal(refused.ok, false, what);
      assert.equal(refused.ok ? '' : refused.code, code, what);
      assert.equal(readActiveBundle(dir), good, `${what}: the last good bundle stays`);
    }
    const expired = offerBundle(dir, enrolment, good, Date.parse(goodPayload.notAfter) + 1);
    assert.equal(expired.ok ? '' : expired.code, 'expired');
    const active = readActive(dir, enrolment, Date.now());
    assert.ok(active.ok);
    assert.equal(active.payload.revision, 3);

    // A bundle.jws swapped for an older one (validly signed) is refused when read, too.
    writeFileSync(join(dir, 'bundle.jws'), old);
    const swapped = readActive(dir, enrolment, Date.now());
    assert.equal(swapped.ok ? '' : swapped.code, 'rollback');
  });

  it('learns a rotated key from its endorsement, and activates what it signs', async (t) => {
    const { cp, dir, enrolment } = await managedDevice(t);
    await syncOnce(dir, enrolment, SYNC);
    const before = readTrustedKeys(dir).map((k) => k.kid);
    const rotated = await cp.api<{ kid: string }>('POST', `${cp.base}/keys/rotate`);
    const outcome = await syncOnce(dir, enrolment, SYNC);
    assert.equal(outcome.kind, 'activated');
    assert.ok(outcome.kind === 'activated');
    assert.equal(outcome.active.kid, rotated.body.kid);
    assert.deepEqual(
      readTrustedKeys(dir).map((k) => k.kid),
      [...before, rotated.body.kid],
    );
  });

  it('reports a bundle it refuses; an unreachable server leaves the last good bundle in force', async (t) => {
    const { cp, dir, enrolment } = await managedDevice(t);
    await syncOnce(dir, enrolment, SYNC);
    const pinned = readTrustedKeys(dir);
    // Trust only a key the server never used: its bundles cannot be trusted, nor its key set.
    const stranger = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    writeTrustedKeys(dir, [{ kid: 'stranger', x: stranger.x ?? '' }]);
    await publish(cp, 'baseline', BASELINE.replace('443]', '443, 8443]'));
    const refused = await syncOnce(dir, enrolment, SYNC);
    assert.equal(refused.kind, 'refused');
    const device = await cp.api<{ revision: number; error: string }>(
      'GET',
      `${cp.base}/devices/${enrolment.device.id}`,
    );
    assert.equal(device.body.revision, 2, 'still the last good revision');
    assert.match(device.body.error, /^unknown-key: /);
    assert.equal(readSyncState(dir).lastError?.code, 'unknown-key');
    writeTrustedKeys(dir, pinned);

    await cp.server.close();
    const down = await syncOnce(dir, enrolment, SYNC);
    assert.equal(down.kind, 'unreachable');
    assert.match(down.kind === 'unreachable' ? down.message : '', /connection refused/);
    assert.equal(readSyncState(dir).lastError?.code, 'unreachable');
    const active = readActive(dir, enrolment, Date.now());
    assert.ok(active.ok && active.payload.revision === 2, 'the last good bundle is still in force');
  });

  it('ends the whole exchange by its deadline: a server that answers the poll but never the report', async (t) => {
    // The real server always answers reports; this one, speaking the same endpoints, holds them.
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const x = publicKey.export({ format: 'jwk' }).x ?? '';
    const kid = publicJwk(x).kid;
    const org = { id: 'org_0190f0f0f0f07000800000000000abcd', slug: 'acme', name: 'Acme' };
    const now = Date.now();
    const jws = signCompact(
      { alg: 'EdDSA', kid, typ: 'perimeter-bundle+jws' },
      effectiveBundle({
        org,
        revision: 1,
        published: [],
        groups: [],
        issuedAt: now,
        notAfter: now + 86_400_000,
      }),
      privateKey,
    );
    const held: string[] = [];
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/device/bundle?')) res.writeHead(200, { etag: '"1.a"' }).end(jws);
      else held.push(`${req.method ?? ''} ${req.url ?? ''}`);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const dir = join(tempDir(t), 'device');
    writeTrustedKeys(dir, [{ kid, x }]);
    const enrolment: Enrolment = {
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      org,
      user: { id: 'usr_1', email: 'alice@example.com' },
      device: { id: 'dev_1', name: 'laptop' },
      credential: 'pmd_test',
      enrolledAt: new Date(now).toISOString(),
    };
    const started = Date.now();
    const outcome = await syncOnce(dir, enrolment, { waitS: 0, timeoutMs: 1000 });
    const took = Date.now() - started;
    assert.equal(outcome.kind, 'activated');
    assert.deepEqual(held, ['POST /api/v1/device/activation'], 'the report was sent');
    // The report is never answered: without the deadline the exchange would never end. (Bounded
    // loosely: the machine is shared; how close to the deadline is not this test's question.)
    assert.ok(took < 10_000, `the exchange took ${took} ms, for a deadline of 1000 ms`);
  });

  it('a device directory that cannot be written is one sentence naming the file, and leaves no temporary', (t) => {
    const notADirectory = writeFile(tempDir(t), 'not-a-directory', '');
    assert.throws(
      () => writeSyncState(join(notADirectory, 'device'), {}),
      (e: unknown) =>
        e instanceof UserError &&
        /^cannot write \S+\/not-a-directory\/device\/sync\.json \(ENOTDIR\)$/.test(e.message),
    );
    const dir = tempDir(t);
    mkdirSync(join(dir, 'sync.json'));
    assert.throws(
      () => writeSyncState(dir, {}),
      (e: unknown) => e instanceof UserError && /sync\.json \(EISDIR\)$/.test(e.message),
    );
    assert.deepEqual(readdirSync(dir), ['sync.json'], 'the temporary file is gone');
  });

  it('backs off exponentially up to a minute, with jitter', () => {
    assert.equal(
      backoffMs(1, () => 1),
      1000,
    );
    assert.equal(
      backoffMs(1, () => 0),
      500,
    );
    assert.equal(
      backoffMs(4, () => 1),
      8000,
    );
    assert.equal(
      backoffMs(20, () => 1),
      60_000,
    );
    assert.equal(
      backoffMs(20, () => 0),
      30_000,
    );
  });

  it("waits at least the server's Retry-After (an overloaded server's 503), as seconds or a date, at most ten minutes", () => {
    assert.equal(
      backoffMs(1, () => 1, 5000),
      5000,
      'longer than the backoff: the server wins',
    );
    assert.equal(
      backoffMs(4, () => 1, 2000),
      8000,
      'shorter: the backoff wins',
    );
    const answer = (value: string) => ({ status: 503, headers: { 'retry-after': value }, text: '' });
    assert.equal(retryAfterMs(answer('4')), 4000);
    assert.equal(retryAfterMs(answer(new Date(1_000_000 + 30_000).toUTCString()), 1_000_000), 30_000);
    assert.equal(retryAfterMs(answer('86400')), 600_000);
    assert.equal(retryAfterMs(answer('soon')), undefined);
    assert.equal(retryAfterMs({ status: 503, headers: {}, text: '' }), undefined);
  });
});

describe('perimeter agent', () => {
  it('retries an unreachable server with growing, jittered waits, and activates as soon as it is back', async (t) => {
    const { cp, dir, enrolment } = await managedDevice(t);
    const port = Number(new URL(cp.url).port);
    await cp.server.close();
    // The binary's device directory is $XDG_STATE_HOME/perimeter/device: the enrolled one, copied.
    const xdg = tempDir(t);
    cpSync(dir, join(xdg, 'perimeter', 'device'), { recursive: true });
    const agent = spawnCli(t, ['agent'], { XDG_STATE_HOME: xdg });
    const retry = /^(\S+) cannot reach 127\.0\.0\.1:\d+ \(connection refused\); retrying$/gm;
    await waitForOutput(agent, new RegExp(`${retry.source}[\\s\\S]*${retry.source}`, 'm'));
    // The agent's own time stamps, not when the lines reached this process (a loaded machine
    // can deliver two lines in one read).
    const stamps = [...agent.stdout.matchAll(retry)].map((m) => Date.parse(m[1] ?? ''));
    const gaps = stamps.slice(1).map((at, i) => at - (stamps[i] ?? at));
    assert.ok(
      gaps.every((g) => g >= 450),
      `no busy loop: retries ${gaps.join(', ')} ms apart`,
    );

    // The server comes back on its address, with its data: the agent picks the bundle up.
    const back = await startServer({
      dataDir: cp.dataDir,
      listen: { host: '127.0.0.1', port },
      log: { log: () => undefined },
      shutdownGraceMs: 1000,
    });
    t.after(() => back.close());
    // Bounded, not timed: the retries may have backed off for a few seconds meanwhile.
    await waitForOutput(agent, /revision 2 active/, 30_000);
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
    assert.equal(enrolment.server, `http://127.0.0.1:${port}`);
  });
});

describe('the policies of a session on a managed device', () => {
  async function managed(t: TestContext): Promise<{ cp: ControlPlane; state: string }> {
    const state = tempDir(t);
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = state;
    t.after(() => {
      if (saved === undefined) delete process.env.XDG_STATE_HOME;
      else process.env.XDG_STATE_HOME = saved;
    });
    const cp = await startControlPlane(t);
    await publish(cp, 'baseline', BASELINE);
    await publish(cp, 'engineering', ENG);
    const alice = await addUser(cp, 'alice@example.com', ['eng']);
    await enrol(cp, alice, deviceDir());
    return { cp, state };
  }
  const cacheDir = (state: string): string => join(state, 'perimeter', 'policy-cache');

  it('takes the bundle, fetched at the start, for the logged-in user and the bundle’s groups', async (t) => {
    const { state } = await managed(t);
    const chosen = await sessionPolicies(quiet, {}, cacheDir(state));
    assert.deepEqual(
      chosen.loaded.policies.map((l) => l.policy.name),
      ['baseline', 'engineering'],
    );
    assert.deepEqual(chosen.subject?.groups, ['eng']);
    assert.match(chosen.subject?.user ?? '', /^usr_/);
    assert.equal(chosen.managed?.context.bundle.revision, 2);
    assert.deepEqual(
      chosen.loaded.files,
      [],
      'no policy file to mount: the bundle stays in the hidden state directory',
    );
  });

  it('says so when the server refuses the device (revoked), and runs on the last good bundle', async (t) => {
    const { cp, state } = await managed(t);
    assert.equal((await sessionPolicies(quiet, {}, cacheDir(state))).managed?.context.bundle.revision, 2);
    const devices = await cp.api<{ devices: { id: string }[] }>('GET', `${cp.base}/devices`);
    await cp.api('DELETE', `${cp.base}/devices/${devices.body.devices[0]?.id ?? ''}`);
    const said: string[] = [];
    const chosen = await sessionPolicies({ ...quiet, err: (line) => said.push(line) }, {}, cacheDir(state));
    assert.equal(chosen.managed?.context.bundle.revision, 2, 'the organisation’s last policy still holds');
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0] ?? '',
      /the server refused this device's credential \(the device credential was revoked\); this session runs on the last good bundle until it expires/,
    );
  });

  it('fails closed with no valid bundle: exit 125 and how to fix it', async (t) => {
    const { cp } = await managed(t);
    await cp.server.close();
    await assert.rejects(
      sessionPolicies(quiet, {}, join(tempDir(t), 'cache')),
      (e: unknown) =>
        e instanceof UserError &&
        e.exitCode === 125 &&
        /is managed by http:\/\/127\.0\.0\.1:\d+ but has no valid policy bundle \(this device has no policy bundle yet\), so nothing ran/.test(
          e.message,
        ) &&
        (e.hint ?? '').includes('perimeter agent --once'),
    );
  });

  it('refuses what would relax the organisation’s policy: --mode audit, --audit elsewhere, another subject, a non-local policy', async (t) => {
    const { state } = await managed(t);
    const dir = tempDir(t);
    const reject = (flags: Parameters<typeof sessionPolicies>[1], pattern: RegExp) =>
      assert.rejects(
        sessionPolicies(quiet, flags, cacheDir(state)),
        (e: unknown) => e instanceof UserError && pattern.test(e.message),
      );
    await reject({ mode: 'audit' }, /--mode audit would stop enforcing/);
    await reject({ audit: join(dir, 'mine.jsonl') }, /--audit would keep this session's events out of/);
    await reject({ groups: ['admins'] }, /sessions run as the logged-in user \(alice@example\.com\)/);
    await reject({ user: 'bob' }, /--user and --groups are not taken/);
    const org = writeFile(
      dir,
      'org.yaml',
      policy('mine', 'network:\n  allow:\n    - { id: all, hosts: ["**"] }\n'),
    );
    await reject({ policy: [org] }, /may only add local policies, but .*org\.yaml \(mine\) is a org policy/);
    const loosening = writeFile(dir, 'loose.yaml', policy('loose', 'network:\n  secrets: audit\n', 'local'));
    await reject({ policy: [loosening] }, /sets network\.secrets, which could loosen/);
  });

  it('layers a local policy (deny and ask only) on top of the bundle', async (t) => {
    const { state } = await managed(t);
    const local = writeFile(
      tempDir(t),
      'local.yaml',
      policy('my-denies', 'network:\n  deny:\n    - { id: no-docs, hosts: [docs.example.com] }\n', 'local'),
    );
    const chosen = await sessionPolicies(quiet, { policy: [local] }, cacheDir(state));
    assert.deepEqual(
      chosen.loaded.policies.map((l) => [l.policy.name, l.policy.layer, l.policy.org]),
      [
        ['baseline', 'org', 'default'],
        ['engineering', 'group', 'default'],
        ['my-denies', 'local', 'default'],
      ],
    );
    assert.deepEqual(chosen.loaded.files, [local]);
    assert.ok(readFileSync(local, 'utf8').includes('no-docs'));
  });
});
