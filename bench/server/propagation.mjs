// Propagation: publish → every simulated device has fetched, verified and activated the new
// revision. Per backend: a fresh database, the server in its own process, the organisation set up
// (setup.mjs); then for each fleet size N the first N devices start in device processes
// (devices.mjs), come online and hold their long polls; then up to `publishes` times: a new
// revision of the baseline is created (not timed), and the publish request is timed from its
// start to the moment each device has activated that publication.

import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, keepAliveAgent } from './http.mjs';
import { PROPAGATION_CATEGORIES, summariseProfile } from './profile.mjs';
import {
  BASELINE,
  baselineRevision,
  forkChild,
  freshDatabase,
  setUpOrg,
  startServerProcess,
} from './setup.mjs';

const now = () => process.hrtime.bigint();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuUs = (u) => u.user + u.system;

/** Forks the device processes, each with its share of `devices`; resolves once they are ready. */
async function startDevices(count, devices, shared) {
  const procs = [];
  for (let w = 0; w < count; w++) {
    const slice = devices.filter((_, i) => i % count === w);
    const { child, next } = forkChild('bench/server/devices.mjs', `device process ${w}`);
    child.send({ type: 'init', ...shared, devices: slice });
    procs.push({ child, next, size: slice.length });
  }
  await Promise.all(procs.map((p) => p.next('ready', 30_000)));
  return procs;
}

async function stopDevices(procs) {
  for (const p of procs) {
    const exited = new Promise((resolve) => p.child.once('exit', resolve));
    p.child.send({ type: 'stop' });
    try {
      await p.next('stopped', 10_000);
    } catch {
      p.child.kill('SIGKILL');
    }
    await Promise.race([exited, sleep(10_000)]);
  }
}

/** Waits until the server process has used under 5 % of a core for 500 ms (at most `limitMs`). */
async function serverSettled(server, limitMs) {
  const until = performance.now() + limitMs;
  let last = cpuUs((await server.ask('usage')).cpu);
  let calm = 0;
  while (performance.now() < until) {
    await sleep(250);
    const cpu = cpuUs((await server.ask('usage')).cpu);
    calm = cpu - last < 0.05 * 250_000 ? calm + 1 : 0;
    last = cpu;
    if (calm >= 2) return true;
  }
  return false;
}

/** Every device's activation of publication `revision`, or what arrived by the round's deadline. */
async function roundOutcome(procs, revision, timeoutMs) {
  const until = performance.now() + timeoutMs;
  return Promise.all(
    procs.map(async (p) => {
      try {
        return await p.next('done', Math.max(1, until - performance.now()), revision);
      } catch {
        p.child.send({ type: 'collect', revision });
        return p.next('done', 10_000, revision);
      }
    }),
  );
}

/** One publication, timed: the round's record. */
async function publishRound(ctx, procs, round, profileFile) {
  const { server, agent, org, options } = ctx;
  const policy = org.policies[BASELINE];
  const made = await api(
    agent,
    server.url,
    org.token,
    'POST',
    `${org.base}/policies/${policy}/revisions`,
    { text: baselineRevision(org.org.slug, round) },
    201,
  );
  const revision = ctx.seq + 1;
  for (const p of procs) p.child.send({ type: 'expect', revision });
  const usageBefore = await server.ask('usage');
  const serverBefore = cpuUs(usageBefore.cpu);
  const devicesBefore = await Promise.all(
    procs.map(async (p) => {
      p.child.send({ type: 'usage' });
      return cpuUs((await p.next('usage', 5000)).cpu);
    }),
  );
  if (profileFile) await server.ask('profile-start');
  const t0 = now();
  const published = await api(
    agent,
    server.url,
    org.token,
    'POST',
    `${org.base}/policies/${policy}/revisions/${made.revision.number}/publish`,
    undefined,
    200,
  );
  const publishMs = Number(now() - t0) / 1e6;
  if (published.publication.seq !== revision)
    throw new Error(`the publication is number ${published.publication.seq}, not ${revision}`);
  ctx.seq = revision;
  const done = await roundOutcome(procs, revision, options.roundTimeoutMs);
  const wallUs = Number(now() - t0) / 1000;
  // Read before the profile is written out: that is the profiler's work, not the server's.
  const serverCpu = cpuUs((await server.ask('usage')).cpu) - serverBefore;
  let profile;
  if (profileFile) {
    await server.ask('profile-stop', { file: profileFile });
    profile = summariseProfile(JSON.parse(readFileSync(profileFile, 'utf8')), PROPAGATION_CATEGORIES);
  }
  // The devices' next long polls reach the server after they count as done: the statements are
  // counted once it is quiet again.
  await serverSettled(server, 30_000);
  const usageAfter = await server.ask('usage');
  const deviceCpu = done.reduce((sum, d, i) => sum + cpuUs(d.cpu) - devicesBefore[i], 0);
  const start = Number(t0);
  const delivered = [];
  const activated = [];
  const activationCost = [];
  for (const d of done)
    for (const [deliveredAt, activatedAt, costNs, chargeNs] of d.samples) {
      delivered.push((deliveredAt - start) / 1e6);
      // 'shared': a device that took another's verification of the same bytes (in microseconds)
      // is charged that verification's measured cost as its own; the one that verified paid it.
      activated.push((activatedAt - start + chargeNs) / 1e6);
      activationCost.push(costNs / 1e6);
    }
  const errors = done.flatMap((d) => d.errors).slice(0, 5);
  const missing = done.reduce((n, d) => n + d.missing, 0);
  const fleet = activated.length + missing;
  const errorCount = done.reduce((n, d) => n + d.errorCount, 0);
  return {
    publication: revision,
    publishMs,
    delivered,
    activated,
    activationCost,
    missing,
    // What the round cost the database, per device of the fleet (the publication's own included).
    statementsPerDevice: (usageAfter.statements - usageBefore.statements) / fleet,
    commitsPerDevice: (usageAfter.commits - usageBefore.commits) / fleet,
    // CPU time per device (µs), which other load on the machine disturbs less than wall time.
    serverCpuPerDeviceUs: serverCpu / fleet,
    deviceCpuPerDeviceUs: deviceCpu / fleet,
    // Cores in use on average from the publish to the last device back in its long poll.
    serverCores: serverCpu / wallUs,
    deviceCores: deviceCpu / wallUs,
    wallMs: wallUs / 1000,
    errors,
    errorCount,
    ...(profile ? { profile } : {}),
  };
}

/**
 * One backend: { backend, database, sizes: [{ devices, onlineS, rounds }] }. A round holds the
 * publish request's own time and, per device, the times (ms) from the publish request's start to
 * the bundle's arrival and to its activation.
 */
export async function measureBackend(backend, options, log) {
  const { sizes, workers, onlinePerSecond, roundTimeoutMs, sizeBudgetMs } = options;
  const largest = Math.max(...sizes);
  const db = await freshDatabase(backend);
  const agent = keepAliveAgent();
  const profileDir = mkdtempSync(join(tmpdir(), 'bench-server-profile-'));
  let server;
  try {
    server = await startServerProcess(db);
    const setupStarted = performance.now();
    const org = await setUpOrg(agent, server, db, largest);
    log(
      `  ${backend}: server at ${server.url} (${server.database}); ${org.devices.length.toLocaleString('en')} users and devices set up in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`,
    );
    const ctx = { server, agent, org, options, seq: org.seq };
    let round = 0;
    const results = [];
    for (const size of sizes) {
      const procs = await startDevices(workers, org.devices.slice(0, size), {
        url: server.url,
        orgId: org.org.id,
        trusted: org.trusted,
        activation: options.activation,
      });
      const result = { devices: size, rounds: [] };
      try {
        const onlineStarted = performance.now();
        for (const p of procs)
          p.child.send({ type: 'start', revision: ctx.seq, perSecond: onlinePerSecond / procs.length });
        const onlineLimit = (size / onlinePerSecond) * 1000 + roundTimeoutMs;
        await Promise.all(procs.map((p) => p.next('done', onlineLimit, ctx.seq)));
        result.onlineS = (performance.now() - onlineStarted) / 1000;
        log(
          `    N=${size.toLocaleString('en')}: all online and holding a long poll after ${result.onlineS.toFixed(1)} s`,
        );
        await serverSettled(server, 30_000);
        const budgetEnds = performance.now() + sizeBudgetMs;
        for (let r = 0; r < options.publishes; r++) {
          round++;
          const isLast = r === options.publishes - 1 || performance.now() >= budgetEnds;
          // The first round at the largest fleet is profiled (the server process's CPU).
          const profileFile =
            options.profile && size === largest && r === 0
              ? join(profileDir, `server-${backend}-${size}.cpuprofile`)
              : undefined;
          const record = await publishRound(ctx, procs, round, profileFile);
          result.rounds.push(record);
          const sorted = [...record.activated].sort((a, b) => a - b);
          log(
            `      publication ${record.publication}: publish ${record.publishMs.toFixed(0)} ms; activated p50 ${(sorted[Math.floor(sorted.length / 2)] ?? NaN).toFixed(0)} ms, last ${(sorted.at(-1) ?? NaN).toFixed(0)} ms${record.missing ? `, ${record.missing} devices not within ${roundTimeoutMs / 1000} s` : ''}; cores: server ${record.serverCores.toFixed(2)}, devices ${record.deviceCores.toFixed(2)}; per device: ${record.statementsPerDevice.toFixed(2)} statements, ${record.commitsPerDevice.toFixed(2)} commits, CPU ${record.serverCpuPerDeviceUs.toFixed(0)} µs server, ${record.deviceCpuPerDeviceUs.toFixed(0)} µs device${record.errorCount ? `; ${record.errorCount} device errors, first: ${record.errors[0].slice(0, 200)}` : ''}${profileFile ? ' (profiled)' : ''}`,
          );
          // A round that ran out of time, or the size's time budget spent, ends the size.
          if (record.missing > 0 || isLast) break;
        }
      } finally {
        await stopDevices(procs);
      }
      results.push(result);
      await serverSettled(server, 30_000);
    }
    return { backend, database: server.database, sizes: results };
  } finally {
    agent.destroy();
    await server?.stop();
    if (options.keepLog && server && existsSync(server.logFile))
      copyFileSync(server.logFile, join(options.keepLog, `server-${backend}.log`));
    if (options.keepLog)
      for (const file of readdirSync(profileDir))
        copyFileSync(join(profileDir, file), join(options.keepLog, file));
    await db.drop();
    rmSync(profileDir, { recursive: true, force: true });
  }
}
