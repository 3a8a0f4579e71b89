// What the propagation benchmark sets up before it times anything: a fresh database (SQLite in a
// temp data directory, or a new PostgreSQL database), the server started on it in a process of its
// own (server-child.mjs), its first owner claimed with the bootstrap token, ACME's example policies
// (examples/acme: a guardrail, the org baseline, an engineering and a data group policy) created
// and published through the admin API, and then the users and their enrolled devices.
//
// Users and devices go straight into the database through the server's own store functions
// (createUser, addMember, createDevice, issueCredential), in one transaction: enrolling 10,000
// devices through the RFC 8628 login would take minutes and is not what is measured. What the
// devices then do is real: each calls the API over HTTP with its own device credential.

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPostgres, openSqlite } from '@perimeter/server';
import { createDevice, issueCredential } from '../../packages/server/dist/src/store/devices.js';
import { addMember, createUser } from '../../packages/server/dist/src/store/directory.js';
import { api } from './http.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
export const POSTGRES_ADMIN_URL =
  process.env.PERIMETER_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** ACME's policies, as examples/acme holds them; the baseline is the one each round republishes. */
export const POLICIES = [
  { file: 'guardrails.yaml', name: 'acme-guardrails' },
  { file: 'org.yaml', name: 'acme-baseline' },
  { file: 'eng.yaml', name: 'acme-eng' },
  { file: 'data.yaml', name: 'acme-data' },
];
export const BASELINE = 'acme-baseline';

/**
 * Who is in which group, by user number: half the people in engineering, a tenth contractors, a
 * fifth in data, the rest in no group. Five subjects in all, so the server signs five bundles per
 * publication and serves each to many devices.
 */
export function groupsOfUser(i) {
  const slot = i % 10;
  if (slot < 4) return ['eng'];
  if (slot === 4) return ['eng', 'data'];
  if (slot === 5) return ['eng-contractors'];
  if (slot < 8) return ['data'];
  return [];
}
const GROUPS = ['eng', 'eng-contractors', 'data'];

/** The text of an ACME policy for an organisation with this slug. */
export function policyText(file, slug) {
  return readFileSync(join(ROOT, 'examples/acme', file), 'utf8').replace(/^(\s+org:) acme$/m, `$1 ${slug}`);
}

/** The baseline with one more allow rule per round: a real change to what every device enforces. */
export function baselineRevision(slug, round) {
  return policyText('org.yaml', slug).replace(
    /^network:\n {2}allow:\n/m,
    `network:\n  allow:\n    - id: bench-round-${round}\n      hosts: [round-${round}.acme.example]\n      ports: [443]\n`,
  );
}

export async function withPostgresAdmin(fn) {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database of the backend: { dataDir, url?, drop() }. */
export async function freshDatabase(backend) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-server-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  if (backend === 'sqlite') return { dataDir, drop: async () => removeDir() };
  const name = `perimeter_bench_${randomBytes(6).toString('hex')}`;
  try {
    await withPostgresAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch (e) {
    removeDir();
    throw new Error(`PostgreSQL at ${POSTGRES_ADMIN_URL} is not available (${e.message})`, { cause: e });
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dataDir,
    url: url.toString(),
    drop: async () => {
      await withPostgresAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      removeDir();
    },
  };
}

/**
 * A helper process of the benchmark (devices.mjs, shippers.mjs) with an inbox: `next(type,
 * timeoutMs, revision?)` is its next message of that type (and revision, when given), whether it
 * came before the call or after.
 */
export function forkChild(file, what) {
  const child = fork(join(ROOT, file), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const inbox = [];
  const waiters = [];
  child.on('message', (m) => {
    const at = waiters.findIndex((x) => x.accepts(m));
    if (at >= 0) waiters.splice(at, 1)[0].resolve(m);
    else inbox.push(m);
  });
  const next = (type, timeoutMs, revision) => {
    const accepts = (m) => m.type === type && (revision === undefined || m.revision === revision);
    const at = inbox.findIndex(accepts);
    if (at >= 0) return Promise.resolve(inbox.splice(at, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = { accepts, resolve: (m) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`${what}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  };
  return { child, next };
}

/**
 * Starts server-child.mjs on the database; resolves when it listens. `countStatements: false`
 * leaves the database drivers unwrapped (the count costs the server's main thread 6-8% while it
 * stores events, which production does not pay).
 */
export function startServerProcess(db, { countStatements = true } = {}) {
  const log = openSync(join(db.dataDir, 'server.log'), 'a');
  const child = fork(join(ROOT, 'bench/server/server-child.mjs'), [db.dataDir, ...(db.url ? [db.url] : [])], {
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, ...(countStatements ? {} : { PERIMETER_BENCH_NO_COUNT: '1' }) },
  });
  let nextId = 0;
  const pending = new Map();
  let isStopping = false;
  child.on('exit', (code, signal) => {
    const error = new Error(
      `the server process exited (${signal ?? code})${isStopping ? '' : `; see ${join(db.dataDir, 'server.log')}`}`,
    );
    for (const done of pending.values()) done.reject(error);
    pending.clear();
  });
  child.on('message', (m) => {
    const done = pending.get(m.id);
    if (!done) return;
    pending.delete(m.id);
    if (m.error) done.reject(new Error(`server process: ${m.error}`));
    else done.resolve(m);
  });
  const ask = (type, fields = {}) =>
    new Promise((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null)
        return reject(new Error(`the server process has exited (${child.signalCode ?? child.exitCode})`));
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, type, ...fields });
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 30 s')), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`the server process did not start; see ${join(db.dataDir, 'server.log')}`));
    });
    child.once('message', (m) => {
      clearTimeout(timer);
      if (m.type !== 'started') return reject(new Error(`unexpected first message ${JSON.stringify(m)}`));
      resolve({
        ...m,
        logFile: join(db.dataDir, 'server.log'),
        ask,
        stop: async () => {
          isStopping = true;
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          await Promise.race([ask('stop').catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
          if (child.exitCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

/**
 * The organisation ready for devices: owner token, groups, ACME's policies published, and
 * `devices` users with one enrolled device each. Returns what the benchmark needs.
 */
export async function setUpOrg(agent, server, db, devices) {
  const claimed = await api(
    agent,
    server.url,
    undefined,
    'POST',
    '/api/v1/bootstrap',
    {
      token: server.bootstrap,
      email: 'owner@acme.example',
      name: 'Owner',
    },
    201,
  );
  const token = claimed.token.secret;
  const org = claimed.org;
  const base = `/api/v1/orgs/${org.id}`;
  const groups = {};
  for (const name of GROUPS)
    groups[name] = (await api(agent, server.url, token, 'POST', `${base}/groups`, { name }, 201)).id;
  const policies = {};
  let seq = 0;
  for (const { file, name } of POLICIES) {
    const made = await api(
      agent,
      server.url,
      token,
      'POST',
      `${base}/policies`,
      {
        name,
        text: policyText(file, org.slug),
      },
      201,
    );
    policies[name] = made.policy.id;
    const published = await api(
      agent,
      server.url,
      token,
      'POST',
      `${base}/policies/${made.policy.id}/revisions/${made.revision.number}/publish`,
      undefined,
      200,
    );
    seq = published.publication.seq;
  }

  const store = db.url ? await openPostgres(db.url) : openSqlite(join(db.dataDir, 'perimeter.sqlite'));
  const enrolled = [];
  try {
    await store.transaction(async (tx) => {
      const now = Date.now();
      for (let i = 0; i < devices; i++) {
        const user = await createUser(
          tx,
          org.id,
          { email: `user-${i}@acme.example`, name: `User ${i}` },
          now,
        );
        for (const g of groupsOfUser(i)) await addMember(tx, org.id, groups[g], user.id, now);
        const device = await createDevice(tx, { orgId: org.id, userId: user.id, name: `laptop-${i}` }, now);
        const credential = await issueCredential(tx, device.id);
        enrolled.push({ id: device.id, credential, userId: user.id, email: user.email, index: i });
      }
    });
  } finally {
    await store.close();
  }
  // What a device pins at login: the organisation's key set.
  const keys = await api(agent, server.url, undefined, 'GET', `${base}/keys`, undefined, 200);
  return {
    org,
    token,
    base,
    policies,
    /** The organisation's publication number: the revision of every bundle now. */
    seq,
    devices: enrolled,
    trusted: keys.keys.map((k) => ({ kid: k.kid, x: k.x })),
  };
}
