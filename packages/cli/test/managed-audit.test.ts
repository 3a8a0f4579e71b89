// A managed device's sessions in the organisation's audit trail, end to end with the real binary,
// sandbox and control plane: every event `perimeter run` records names the organisation, the user,
// the device and the bundle; the session's end sends them to the server; when the server is down
// the session ends as it would (its exit code untouched), one line says the events wait, and
// `perimeter agent` sends them once the server is back; `perimeter audit query` then finds them.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditEventSchema, type AuditEvent } from '@perimeter/audit';
import { readAuditShipState } from '../src/device/device-state.js';
import { startAgain, stored } from './audit-ship-harness.js';
import { linesOf } from './cli-harness.js';
import { addUser, enrol, publish, startControlPlane, type ControlPlane } from './control-plane-harness.js';
import { BIN, SANDBOX_SKIP, fixture, policyYaml, type Fixture } from './sandbox-harness.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `perimeter ARGS...` as the fixture's user (HOME is the fixture's), with `env` added; killed after 60 s. */
function perimeter(
  f: Fixture,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: f.root,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: f.home,
        TMPDIR: f.runtime,
        LANG: 'C.UTF-8',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A session that reads a file and tries a destination the policy denies, then exits with `exit`. */
const session = (f: Fixture, exit = 0): Promise<Ran> =>
  perimeter(f, [
    'run',
    '--workspace',
    f.workspace,
    '--',
    'bash',
    '-c',
    `cat README.md; python3 rt.py connect bad.allowed.test:443; exit ${exit}`,
  ]);

const stateOf = (f: Fixture): string => join(f.home, '.local/state/perimeter');

/** The spools in the device's sessions directory, each as its events. */
function spools(f: Fixture): { id: string; events: AuditEvent[] }[] {
  const dir = join(stateOf(f), 'sessions');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .map((n) => ({
      id: n.replace(/\.jsonl$/, ''),
      events: linesOf(readFileSync(join(dir, n), 'utf8')).map((l) => auditEventSchema().parse(JSON.parse(l))),
    }));
}

async function managed(
  t: Parameters<typeof fixture>[0],
): Promise<{ f: Fixture; cp: ControlPlane; enrolment: Awaited<ReturnType<typeof enrol>> }> {
  const f = fixture(t);
  const cp = await startControlPlane(t);
  await publish(
    cp,
    'workstations',
    policyYaml(f).replace('  name: redteam\n  org: redteam\n', '  name: workstations\n'),
  );
  const alice = await addUser(cp, 'alice@example.com', ['eng']);
  const enrolment = await enrol(cp, alice, join(stateOf(f), 'device'));
  return { f, cp, enrolment };
}

describe('a managed device’s sessions in the audit trail', { skip: SANDBOX_SKIP }, () => {
  it('names the organisation, user, device and bundle in every event, and sends them when the session ends', async (t) => {
    const { f, cp, enrolment } = await managed(t);
    const s = await session(f);
    assert.equal(s.code, 0, s.stderr);
    assert.doesNotMatch(s.stderr, /audit events wait/, 'sent: nothing to say');

    const [spool, ...others] = spools(f);
    assert.ok(spool && others.length === 0);
    const bundle = readFileSync(join(stateOf(f), 'device', 'bundle.jws'));
    const hash = createHash('sha256').update(bundle).digest('hex');
    const revision = (
      JSON.parse(Buffer.from(bundle.toString().split('.')[1] ?? '', 'base64url').toString()) as {
        revision: number;
      }
    ).revision;
    for (const e of spool.events) {
      assert.equal(e.org, enrolment.org.id, e.type);
      assert.deepEqual(
        e.user,
        { id: enrolment.user.id, email: 'alice@example.com', groups: ['eng'] },
        e.type,
      );
      assert.equal(e.device?.id, enrolment.device.id, e.type);
      assert.equal(e.device?.hostname, hostname(), e.type);
      assert.match(e.device?.os ?? '', /^Linux \d/, e.type);
      assert.deepEqual(e.bundle, { revision, hash }, e.type);
    }
    const denied = spool.events.find((e) => e.request?.resource === 'bad.allowed.test:443');
    assert.equal(denied?.decision, 'deny', 'the proxy’s events carry the context too');

    assert.deepEqual(
      (await stored(cp, spool.id)).map((e) => JSON.stringify(e)),
      spool.events.map((e) => JSON.stringify(e)),
      'the server holds the session as the spool does',
    );
    const cursor = readAuditShipState(join(stateOf(f), 'device')).spools[`${spool.id}.jsonl`];
    assert.equal(cursor?.isEnded, true);
  });

  it('with the server down, ends as it would and says the events wait; the agent sends them and audit query finds them', async (t) => {
    const { f, cp } = await managed(t);
    const agentOnce = await perimeter(f, ['agent', '--once']);
    assert.equal(agentOnce.code, 0, agentOnce.stderr); // the bundle, while the server is up
    const auditor = await cp.api<{ secret: string }>('POST', `${cp.base}/tokens`, {
      name: 'audit',
      role: 'auditor',
    });

    await cp.server.close();
    const s = await session(f, 7);
    assert.equal(s.code, 7, 'the session’s own exit code');
    const waiting =
      /^perimeter: (\d+) audit events wait to be sent to http:\/\/127\.0\.0\.1:\d+ \(cannot reach 127\.0\.0\.1:\d+ \(connection refused\)\); perimeter agent sends them$/m.exec(
        s.stderr,
      );
    assert.ok(waiting, s.stderr);
    const [spool] = spools(f);
    assert.ok(spool);
    assert.equal(Number(waiting[1]), spool.events.length);

    // The server comes back (same address, same data), and the agent catches up.
    await startAgain(t, cp);
    const agent = await perimeter(f, ['agent', '--once']);
    assert.equal(agent.code, 0, agent.stderr);
    assert.match(agent.stdout, new RegExp(`audit: shipped ${spool.events.length} events`));

    const env = { PERIMETER_TOKEN: auditor.body.secret, PERIMETER_SERVER: cp.url };
    const table = await perimeter(f, ['audit', 'query', '--user', 'alice@example.com', '--since', '1h'], env);
    assert.equal(table.code, 0, table.stderr);
    const rows = linesOf(table.stdout).slice(1);
    for (const type of ['session.start', 'session.end'])
      assert.ok(
        rows.some((r) => r.includes(` ${type} `) || r.endsWith(` ${type}  -`)),
        `${type}\n${table.stdout}`,
      );
    assert.ok(
      rows.some((r) => /alice@example\.com +network +deny +\S+ +bad\.allowed\.test:443$/.test(r)),
      table.stdout,
    );

    const jsonl = await perimeter(f, ['audit', 'query', '--session', spool.id, '--format', 'jsonl'], env);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const exported = linesOf(jsonl.stdout).map((l) => auditEventSchema().parse(JSON.parse(l)));
    const times = exported.map((e) => Date.parse(e.time));
    assert.ok(
      times.every((time, i) => i === 0 || time >= (times[i - 1] ?? 0)),
      'oldest first',
    );
    // Events of one millisecond come in no particular order: compared in chain order.
    assert.deepEqual(
      exported.sort((a, b) => a.integrity.seq - b.integrity.seq).map((e) => JSON.stringify(e)),
      spool.events.map((e) => JSON.stringify(e)),
      'every event of the session, as recorded',
    );

    const csv = await perimeter(f, ['audit', 'query', '--session', spool.id, '--format', 'csv'], env);
    assert.equal(csv.code, 0, csv.stderr);
    const csvRows = linesOf(csv.stdout);
    assert.equal(csvRows.length, spool.events.length + 1, 'a header and one row per event');
    assert.ok(
      csvRows.some((r) => r.includes(',network,') && r.includes(',bad.allowed.test:443,deny,')),
      csv.stdout,
    );
  });
});
