// Audit: ingest, then queries over what was ingested. Per backend: a fresh database, the server
// in its own process, the organisation with `devices` users and enrolled devices (setup.mjs);
// every device's sessions made and batched in two shipper processes (shippers.mjs), untimed; then
// all of them shipped through POST /api/v1/device/events, `lanes` uploads at a time, timed, until
// every batch is stored or the time limit. Then the three questions of an investigation — who,
// what, when — asked of the stored events through GET /api/v1/orgs/{org}/events (and one export),
// repeated, one at a time.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepAliveAgent, request } from './http.mjs';
import { INGEST_CATEGORIES, summariseProfile } from './profile.mjs';
import { forkChild, freshDatabase, setUpOrg, startServerProcess } from './setup.mjs';

const now = () => process.hrtime.bigint();
const cpuUs = (u) => u.user + u.system;

/** The machine's busy and total CPU time so far (jiffies, all cores), from /proc/stat. */
function machineTime() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** The questions, each with the query string it asks for a user. */
export const QUERIES = [
  {
    key: 'userDayNetwork',
    label: "a user's network events in the last 24 h",
    query: (u) => `user=${encodeURIComponent(u.email)}&since=24h&surface=network`,
  },
  {
    key: 'userWeekDenied',
    label: "a user's denied requests on any surface in the last 7 days",
    query: (u) => `user=${encodeURIComponent(u.email)}&since=7d&decision=deny`,
  },
  {
    key: 'userMonth',
    label: "everything a user's agents did in the last 14 days, by user id (first page)",
    query: (u) => `user=${u.userId}&since=14d`,
  },
  {
    key: 'orgDayDeniedNetwork',
    label: 'denied network requests across the organisation in the last 24 h (first page)',
    query: () => 'since=24h&surface=network&decision=deny',
  },
  {
    key: 'orgHourMcp',
    label: 'MCP calls across the organisation in the last hour (first page)',
    query: () => 'since=1h&surface=mcp',
  },
  {
    key: 'exportUserWeek',
    label: "export: a user's last 7 days as CSV (every row, streamed)",
    path: 'events/export',
    query: (u) => `format=csv&user=${encodeURIComponent(u.email)}&since=7d`,
    isExport: true,
  },
];

/** Ships every device's events; the ingest record. */
async function ingest(server, org, options, log) {
  const { processes, lanes, eventsPerDevice, perSession, windowDays, ingestLimitMs } = options;
  const toMs = Date.now() - 60_000;
  const shippers = Array.from({ length: processes }, () =>
    forkChild('bench/server/shippers.mjs', 'shipper process'),
  );
  try {
    const madeStarted = performance.now();
    for (const [p, s] of shippers.entries())
      s.child.send({
        type: 'init',
        url: server.url,
        orgId: org.org.id,
        devices: org.devices.filter((_, i) => i % processes === p),
        lanes: lanes / processes,
        eventsPerDevice,
        perSession,
        fromMs: toMs - windowDays * 86_400_000,
        toMs,
      });
    const made = await Promise.all(shippers.map((s) => s.next('ready', 900_000)));
    const events = made.reduce((n, m) => n + m.events, 0);
    const gzBytes = made.reduce((n, m) => n + m.gzBytes, 0);
    const bytes = made.reduce((n, m) => n + m.bytes, 0);
    const batchCount = made.reduce((n, m) => n + m.batches, 0);
    log(
      `    ${events.toLocaleString('en')} events in ${batchCount.toLocaleString('en')} batches made in ${((performance.now() - madeStarted) / 1000).toFixed(0)} s (${(bytes / 2 ** 20).toFixed(0)} MiB of ndjson, ${(gzBytes / 2 ** 20).toFixed(0)} MiB gzipped); shipping`,
    );
    const serverBefore = cpuUs((await server.ask('usage')).cpu);
    const machineBefore = machineTime();
    const profileDir = options.profile ? mkdtempSync(join(tmpdir(), 'bench-server-profile-')) : undefined;
    if (profileDir) await server.ask('profile-start');
    const t0 = now();
    for (const s of shippers) s.child.send({ type: 'start', limitMs: ingestLimitMs });
    const done = await Promise.all(shippers.map((s) => s.next('done', ingestLimitMs + 120_000)));
    // Read before the profile is written out and parsed: that is the profiler's work.
    const machineAfter = machineTime();
    const serverCpu = cpuUs((await server.ask('usage')).cpu) - serverBefore;
    let profile;
    if (profileDir) {
      const file = join(profileDir, 'server-ingest.cpuprofile');
      await server.ask('profile-stop', { file });
      profile = summariseProfile(JSON.parse(readFileSync(file, 'utf8')), INGEST_CATEGORIES);
      rmSync(profileDir, { recursive: true, force: true });
    }
    const batches = done.flatMap((d) => d.batches);
    const end = Math.max(...batches.map((b) => b.doneAt));
    const wallUs = (end - Number(t0)) / 1000;
    const stored = batches.reduce((n, b) => n + b.stored, 0);
    // Events stored per 5-s window, from each batch's answer: is the rate sustained?
    const windowUs = 5_000_000;
    const perWindow = [];
    for (const b of batches) {
      const w = Math.floor((b.doneAt - Number(t0)) / 1000 / windowUs);
      perWindow[w] = (perWindow[w] ?? 0) + b.stored;
    }
    // Every full window, one with no answer at all included (a stall is what this column shows).
    const fullWindows = Array.from(
      { length: Math.floor(wallUs / windowUs) },
      (_, w) => (perWindow[w] ?? 0) / 5,
    );
    return {
      events,
      batches: batchCount,
      bytes,
      gzBytes,
      stored,
      duplicates: batches.reduce((n, b) => n + (b.duplicates ?? 0), 0),
      errors: batches.filter((b) => b.error).map((b) => b.error),
      wallMs: wallUs / 1000,
      eventsPerSecond: stored / (wallUs / 1e6),
      windowRates: fullWindows,
      batchLatencyMs: batches.filter((b) => !b.error).map((b) => (b.doneAt - b.sentAt) / 1e6),
      serverCores: serverCpu / wallUs,
      shipperCores: done.reduce((n, d) => n + cpuUs(d.cpu), 0) / wallUs,
      // Everything the machine did meanwhile (PostgreSQL's processes included), in cores.
      machineCores:
        machineBefore && machineAfter
          ? ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) *
            availableParallelism()
          : null,
      ...(profile ? { profile } : {}),
    };
  } finally {
    for (const s of shippers) if (s.child.connected) s.child.send({ type: 'stop' });
  }
}

/** Each question asked `repeats` times (rotating users), the questions taking turns; latencies in ms. */
async function ask(server, org, options) {
  const agent = keepAliveAgent();
  const { repeats, queryBudgetMs } = options;
  const users = org.devices;
  const samples = Object.fromEntries(QUERIES.map((q) => [q.key, { ms: [], rows: [] }]));
  const until = performance.now() + queryBudgetMs;
  try {
    for (let r = 0; r < repeats && performance.now() < until; r++) {
      const user = users[(r * 7919) % users.length];
      for (const q of QUERIES) {
        const path = `${org.base}/${q.path ?? 'events'}?${q.query(user)}`;
        const started = now();
        const answer = await request(`${server.url}${path}`, {
          agent,
          headers: { authorization: `Bearer ${org.token}` },
          timeoutMs: 60_000,
        });
        const ms = Number(now() - started) / 1e6;
        if (answer.status !== 200)
          throw new Error(`GET ${path} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        samples[q.key].ms.push(ms);
        samples[q.key].rows.push(
          q.isExport
            ? answer.text.split('\n').filter(Boolean).length - 1
            : JSON.parse(answer.text).events.length,
        );
      }
    }
    return samples;
  } finally {
    agent.destroy();
  }
}

/** One backend: its ingest record and its query samples. */
export async function measureAudit(backend, options, log) {
  const db = await freshDatabase(backend);
  const agent = keepAliveAgent();
  let server;
  try {
    // Statements are not counted here (the counter costs the server 6-8% while it stores).
    server = await startServerProcess(db, { countStatements: false });
    const org = await setUpOrg(agent, server, db, options.devices);
    log(`  ${backend}: server at ${server.url}; ${options.devices.toLocaleString('en')} users and devices`);
    const ingested = await ingest(server, org, options, log);
    log(
      `    stored ${ingested.stored.toLocaleString('en')} events in ${(ingested.wallMs / 1000).toFixed(1)} s: ${Math.round(ingested.eventsPerSecond).toLocaleString('en')} events/s; cores: server ${ingested.serverCores.toFixed(2)}, shippers ${ingested.shipperCores.toFixed(2)}${ingested.errors.length ? `; ${ingested.errors.length} batches failed, first: ${ingested.errors[0]}` : ''}`,
    );
    const queries = await ask(server, org, options);
    return { backend, database: server.database, ingest: ingested, queries };
  } finally {
    agent.destroy();
    await server?.stop();
    await db.drop();
  }
}
