// The measurement phases, run by the driver: each proxy in its own child process (peer.mjs), the
// client and the sink in the driver. Peers take turns within every round (the order rotates), so
// a slow minute of the machine hurts all of them alike; every loop is bounded in count and time.

import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpuUsage } from 'node:process';
import { fileURLToPath } from 'node:url';
import { closeUnused, connectLatency, download, upload } from './client.mjs';
import { labelOf } from './peers.mjs';

const PEER_SCRIPT = fileURLToPath(new URL('./peer.mjs', import.meta.url));
const START_MS = 15000;
const IPC_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuUs = (u) => u.user + u.system;

/** Waits for the child's next message of `type`, at most `ms`. */
function nextMessage(child, type, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.removeListener('message', on);
      reject(new Error(`no '${type}' from the peer within ${ms} ms`));
    }, ms);
    const on = (message) => {
      if (message?.type === 'error') {
        clearTimeout(timer);
        child.removeListener('message', on);
        reject(new Error(message.message));
      } else if (message?.type === type) {
        clearTimeout(timer);
        child.removeListener('message', on);
        resolve(message);
      }
    };
    child.on('message', on);
  });
}

/**
 * A handle on one peer: `port` is where its proxy listens (undefined for direct), `usage()` its
 * process's CPU time (µs), page faults, RSS and open client connections. `env` is added to the
 * proxies' environment only (not the driver's).
 */
export async function startPeers(keys, sinkPort, execArgvFor = () => [], env = {}) {
  const peers = [];
  for (const key of keys) {
    if (key === 'direct') {
      peers.push({
        key,
        label: labelOf(key),
        port: undefined,
        version: process.versions.node,
        usage: () => Promise.resolve({ cpuUs: 0, minorFaults: 0, rss: 0, heapUsed: 0, open: 0, nowUs: 0 }),
        stop: () => Promise.resolve(),
      });
      continue;
    }
    const child = fork(PEER_SCRIPT, [key, String(sinkPort)], {
      execArgv: execArgvFor(key),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let ready;
    try {
      ready = await nextMessage(child, 'ready', START_MS);
    } catch (e) {
      child.kill();
      peers.push({ key, label: labelOf(key), error: e instanceof Error ? e.message : String(e) });
      continue;
    }
    peers.push({
      key,
      label: labelOf(key),
      port: ready.port,
      version: ready.version,
      pid: child.pid,
      usage: async () => {
        const reply = nextMessage(child, 'usage', IPC_MS);
        child.send({ type: 'usage' });
        const m = await reply;
        return {
          cpuUs: cpuUs(m.cpu),
          minorFaults: m.minorFaults,
          rss: m.rss,
          heapUsed: m.heapUsed,
          open: m.open,
          nowUs: m.nowUs,
        };
      },
      stop: async () => {
        if (child.exitCode === null) child.send({ type: 'stop' });
        const timer = setTimeout(() => child.kill(), IPC_MS);
        await exited;
        clearTimeout(timer);
      },
    });
  }
  return peers;
}

const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

// Machine-wide CPU time from /proc/stat (Linux; USER_HZ ticks of 10 ms): busy (everything but
// idle and iowait) and softirq (where loopback TCP is processed). Lets the report say how much
// CPU other processes took while a peer was measured; undefined elsewhere.
const TICK_US = 10000;
function machineTicks() {
  if (!existsSync('/proc/stat')) return undefined;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), softirq: f[6] ?? 0 };
}

/** Runs fn() and charges it the CPU time of the peer's process, of the driver and of the machine. */
async function charged(peer, fn) {
  const before = await peer.usage();
  const machineBefore = machineTicks();
  const driverBefore = cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const driverCpuUs = cpuUs(cpuUsage(driverBefore));
  const machineAfter = machineTicks();
  const after = await peer.usage();
  const peerCpuUs = after.cpuUs - before.cpuUs;
  const peerMinorFaults = after.minorFaults - before.minorFaults;
  const machine =
    machineBefore && machineAfter
      ? {
          busyUs: (machineAfter.busy - machineBefore.busy) * TICK_US,
          softirqUs: (machineAfter.softirq - machineBefore.softirq) * TICK_US,
        }
      : undefined;
  return { value, wallMs, peerCpuUs, peerMinorFaults, driverCpuUs, machine };
}

/** Adds a phase's CPU accounting to a peer's totals. */
function account(o, r) {
  o.peerCpuUs += r.peerCpuUs;
  o.peerMinorFaults += r.peerMinorFaults;
  o.driverCpuUs += r.driverCpuUs;
  o.wallMs += r.wallMs;
  if (r.machine) {
    o.machineBusyUs += r.machine.busyUs;
    o.softirqUs += r.machine.softirqUs;
  }
}

/**
 * Bulk transfer through each peer: `rounds` rounds, each an upload and a download of `bytes` per
 * peer (the direction order alternates by round), after one untimed warm-up transfer each way.
 * Stops starting rounds after `phaseMs`.
 */
export async function measureThroughput(peers, sinkPort, limits, log) {
  const out = Object.fromEntries(
    peers.map((p) => [
      p.key,
      {
        upload: [],
        download: [],
        errors: [],
        peerCpuUs: 0,
        peerMinorFaults: 0,
        driverCpuUs: 0,
        machineBusyUs: 0,
        softirqUs: 0,
        wallMs: 0,
        bytes: 0,
      },
    ]),
  );
  const transfers = { upload, download };
  const phaseStart = performance.now();
  for (const peer of peers) {
    for (const run of [upload, download]) {
      try {
        await run(peer.port, sinkPort, limits.warmupBytes, limits.transferDeadlineMs);
      } catch (e) {
        out[peer.key].errors.push(`warm-up: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  let rounds = 0;
  for (let round = 0; round < limits.rounds; round++) {
    if (performance.now() - phaseStart > limits.phaseMs) break;
    for (const peer of rotate(peers, round)) {
      const o = out[peer.key];
      if (o.errors.length >= 3) continue;
      const directions = round % 2 === 0 ? ['upload', 'download'] : ['download', 'upload'];
      for (const direction of directions) {
        try {
          const r = await charged(peer, () =>
            transfers[direction](peer.port, sinkPort, limits.bytes, limits.transferDeadlineMs),
          );
          o[direction].push({ ns: r.value, mbps: limits.bytes / 1e6 / (r.value / 1e9) });
          account(o, r);
          o.bytes += limits.bytes;
        } catch (e) {
          o.errors.push(`${direction}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    rounds++;
    log(`  throughput: round ${rounds}/${limits.rounds} done (${elapsedS(phaseStart)})`);
  }
  return { rounds, results: out };
}

/**
 * Sequential connections through each peer: a warm-up, then `rounds` rounds of up to
 * samples/rounds connections (or `roundMs`) per peer.
 */
export async function measureLatency(peers, sinkPort, limits, log) {
  const out = Object.fromEntries(
    peers.map((p) => [
      p.key,
      {
        tunnelNs: [],
        exchangeNs: [],
        errors: [],
        peerCpuUs: 0,
        peerMinorFaults: 0,
        driverCpuUs: 0,
        machineBusyUs: 0,
        softirqUs: 0,
        wallMs: 0,
      },
    ]),
  );
  const phaseStart = performance.now();
  const perRound = Math.ceil(limits.samples / limits.rounds);
  const series = async (peer, count, ms, sink) => {
    const t0 = performance.now();
    let n = 0;
    let failures = 0;
    while (n < count && performance.now() - t0 < ms && failures < 3) {
      try {
        const s = await connectLatency(peer.port, sinkPort, limits.connectDeadlineMs);
        sink?.(s);
        n++;
      } catch (e) {
        failures++;
        out[peer.key].errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    return n;
  };
  for (const peer of peers) await series(peer, limits.warmup, limits.roundMs, undefined);
  let rounds = 0;
  for (let round = 0; round < limits.rounds; round++) {
    if (performance.now() - phaseStart > limits.phaseMs) break;
    for (const peer of rotate(peers, round)) {
      const o = out[peer.key];
      if (o.errors.length >= 3) continue;
      const r = await charged(peer, () =>
        series(peer, perRound, limits.roundMs, (s) => {
          o.tunnelNs.push(s.tunnelNs);
          o.exchangeNs.push(s.exchangeNs);
        }),
      );
      account(o, r);
    }
    rounds++;
    log(`  latency: round ${rounds}/${limits.rounds} done (${elapsedS(phaseStart)})`);
  }
  return { rounds, results: out };
}

/**
 * Connection hygiene: `count` tunnels opened and closed by the client before it sends a byte,
 * then, after `settleMs`, how many of them the proxy still holds open. Run last: a proxy that
 * keeps them keeps them for its idle timeout.
 */
export async function measureUnusedClose(peers, sinkPort, limits) {
  const out = {};
  for (const peer of peers) {
    if (peer.port === undefined) continue;
    const before = (await peer.usage()).open;
    const sockets = [];
    const errors = [];
    for (let i = 0; i < limits.count && errors.length < 3; i++) {
      try {
        sockets.push(await closeUnused(peer.port, sinkPort, limits.connectDeadlineMs));
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    let open = (await peer.usage()).open - before;
    const t0 = performance.now();
    while (open > 0 && performance.now() - t0 < limits.settleMs) {
      await sleep(100);
      open = (await peer.usage()).open - before;
    }
    for (const s of sockets) s.destroy();
    out[peer.key] = { opened: sockets.length, stillOpen: open, settleMs: limits.settleMs, errors };
  }
  return out;
}

function elapsedS(t0) {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}
