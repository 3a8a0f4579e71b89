#!/usr/bin/env node
// `npm run bench:mcp`: the MCP gateway benchmark. One SDK client drives server-everything over
// stdio directly, through Perimeter's gateway (in-process over InMemoryTransport, and over
// Streamable HTTP in a process of its own), and through mcp-proxy and supergateway (Streamable
// HTTP), all in one run: warm tools/call latency and calls/s at concurrency 1, the gateway's own
// time per call from its audit events, and tools/list warm and cold with 1, 3 and 10 upstreams.
// Last, the real CLI's cold start with sandboxed upstreams (sandboxed.mjs): `perimeter mcp` from
// its spawn to the first tools/list, 1 and 3 server-everything each in its own sandbox, against
// direct clients. Writes bench/results/mcp.json and the mcp section of docs/benchmarks.md, and
// prints the tables.
//
// Options: --quick (short limits, for a smoke run), --no-write (print only), --warmup N, --calls N,
// --rounds N (override the limits), --render (rewrite the docs section from bench/results/mcp.json
// without running anything).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  gitCommit,
  loadAverage,
  loadNote,
  optionOf,
  packageVersion,
  thisMachine,
  writeDocsSection,
} from '../docs-section.mjs';
import { coldStart, directStart, timeCalls, timeLists } from './measure.mjs';
import { CONFIGS, open } from './peers.mjs';
import { cleanup } from './procs.mjs';
import {
  consoleReport,
  distribution,
  judgeTargets,
  markdownSection,
  percentile,
  summariseCalls,
} from './report.mjs';
import { sandboxedCold } from './sandboxed.mjs';
import { MESSAGE, PREFIX } from './setup.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_FILE = join(ROOT, 'bench/results/mcp.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');

// Every loop is bounded by a count and by time.
const LIMITS = QUICK
  ? {
      warmupCalls: 50,
      calls: 200,
      rounds: 2,
      callMs: 4_000,
      listWarmup: 5,
      lists: 20,
      listMs: 3_000,
      coldRounds: 1,
      upstreams: [1, 3],
      sandboxedUpstreams: [1, 3],
      sandboxedRounds: 2,
      sandboxedMs: 30_000,
    }
  : {
      warmupCalls: 200,
      calls: 2_000,
      rounds: 8,
      callMs: 20_000,
      listWarmup: 20,
      lists: 200,
      listMs: 10_000,
      coldRounds: 5,
      upstreams: [1, 3, 10],
      sandboxedUpstreams: [1, 3],
      sandboxedRounds: 10,
      sandboxedMs: 150_000,
    };
LIMITS.warmupCalls = Number(optionOf(args, '--warmup', LIMITS.warmupCalls));
LIMITS.calls = Number(optionOf(args, '--calls', LIMITS.calls));
LIMITS.rounds = Number(optionOf(args, '--rounds', LIMITS.rounds));
/**
 * The whole run stops starting new work after this long; the sandboxed cold starts, last, have a
 * limit of their own (LIMITS.sandboxedMs), so a slow run still measures what users feel.
 */
const RUN_BUDGET_MS = 240_000;
/** A start of direct clients or of the CLI that takes longer than this has failed. */
const START_TIMEOUT_MS = 30_000;

const log = (line) => console.log(line);
const errorText = (e) => (e instanceof Error ? e.message : String(e));
const versionOf = (pkg) =>
  JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
const nestedVersion = (pkg, dep) => {
  try {
    return JSON.parse(
      readFileSync(join(ROOT, 'node_modules', pkg, 'node_modules', dep, 'package.json'), 'utf8'),
    ).version;
  } catch {
    return undefined;
  }
};

function versions() {
  return {
    perimeter: packageVersion('@perimeter/mcp', '@perimeter/mcp'),
    sdk: packageVersion('@modelcontextprotocol/sdk/client/index.js', '@modelcontextprotocol/sdk'),
    mcpProxy: versionOf('mcp-proxy'),
    mcpProxySdk: `@modelcontextprotocol/client ${nestedVersion('mcp-proxy', '@modelcontextprotocol/client') ?? versionOf('@modelcontextprotocol/client')}, @modelcontextprotocol/server ${nestedVersion('mcp-proxy', '@modelcontextprotocol/server') ?? versionOf('@modelcontextprotocol/server')}`,
    supergateway: versionOf('supergateway'),
    supergatewaySdk: nestedVersion('supergateway', '@modelcontextprotocol/sdk') ?? 'hoisted',
    serverEverything: versionOf('@modelcontextprotocol/server-everything'),
    server: versionOf('@modelcontextprotocol/server'),
    client: versionOf('@modelcontextprotocol/client'),
  };
}

const median = (xs) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/** A direct SDK client spawning server-everything, initialising and listing: the cold reference. */
async function directCold(rounds, deadline) {
  const out = [];
  for (let i = 0; i < rounds && performance.now() < deadline; i++) {
    const started = await directStart(1, START_TIMEOUT_MS);
    out.push(started.totalMs);
    await started.close();
  }
  return out;
}

async function measureUpstreams(n, dir, deadline) {
  const pinFile = join(dir, `pins-${n}.json`);
  const result = { upstreams: n, label: String(n), tools: null, firstUseMs: null, restart: { n: 0 } };
  // First use: an empty pin store, every tool trusted on first use.
  const first = await coldStart({ servers: n, dir: join(dir, `cold-${n}`), pinFile });
  result.firstUseMs = first.totalMs;
  result.firstUse = { startMs: first.startMs, firstListMs: first.firstListMs };
  result.pinFileBytes = statSync(pinFile).size;
  result.tools = first.tools;
  result.upstreamsReady = first.upstreamsReady;
  await first.close();
  const restarts = [];
  let live;
  for (let i = 0; i < LIMITS.coldRounds && performance.now() < deadline; i++) {
    await live?.close();
    live = await coldStart({ servers: n, dir: join(dir, `cold-${n}`), pinFile });
    restarts.push(live);
  }
  if (!live) live = await coldStart({ servers: n, dir: join(dir, `cold-${n}`), pinFile });
  const totals = restarts.map((r) => r.totalMs);
  result.restart = totals.length
    ? {
        n: totals.length,
        median: median(totals),
        max: Math.max(...totals),
        startMedian: median(restarts.map((r) => r.startMs)),
        firstListMedian: median(restarts.map((r) => r.firstListMs)),
        samples: totals,
      }
    : { n: 0 };
  try {
    await timeLists(live.client, LIMITS.listWarmup, performance.now() + LIMITS.listMs, result.tools);
    const warm = await timeLists(live.client, LIMITS.lists, performance.now() + LIMITS.listMs, result.tools);
    result.warm = distribution(warm.ms);
    result.warmErrors = warm.errors;
  } finally {
    await live.close();
  }
  return result;
}

async function main() {
  if (args.includes('--render')) {
    const report = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
    report.targets = judgeTargets(report.calls);
    writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
    writeDocsSection(DOCS_FILE, 'mcp', markdownSection(report));
    log(
      `${consoleReport(report)}\n\nRewrote the mcp section of docs/benchmarks.md from bench/results/mcp.json.`,
    );
    return;
  }
  const started = performance.now();
  const deadline = started + RUN_BUDGET_MS;
  const machine = thisMachine();
  log(`MCP gateway benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  const loadBefore = os.loadavg();
  const busy = loadNote(loadBefore, machine.cores);
  if (busy) log(busy);
  const dir = mkdtempSync(join(os.tmpdir(), 'perimeter-bench-mcp-'));
  const notes = [];

  const peers = [];
  const failed = [];
  try {
    for (const c of CONFIGS) {
      const t0 = performance.now();
      try {
        const peer = await open(c.key, { dir });
        const { tools } = await peer.client.listTools();
        peer.tools = tools.length;
        if (!tools.some((t) => t.name === peer.tool)) throw new Error(`${peer.tool} is not listed`);
        const warm = await timeCalls(peer, LIMITS.warmupCalls, performance.now() + LIMITS.callMs);
        if (warm.errors.length) throw new Error(`warm-up calls failed: ${warm.errors[0]}`);
        peers.push(peer);
        log(
          `  ${c.label}: ready in ${(performance.now() - t0).toFixed(0)} ms, ${tools.length} tools${peer.url ? `, ${peer.url}` : ''}`,
        );
      } catch (e) {
        failed.push({ key: c.key, label: c.label, error: errorText(e) });
        log(`  ${c.label}: NOT MEASURED (${errorText(e)})`);
      }
    }

    // tools/call: rounds, configurations in rotating order.
    const perRound = Math.ceil(LIMITS.calls / LIMITS.rounds);
    const perRoundMs = LIMITS.callMs / LIMITS.rounds;
    const rounds = Object.fromEntries(peers.map((p) => [p.key, []]));
    const roundLoad = [];
    log(`\ntools/call echo: ${LIMITS.rounds} rounds of up to ${perRound} calls per configuration`);
    for (let r = 0; r < LIMITS.rounds && performance.now() < deadline; r++) {
      for (let i = 0; i < peers.length; i++) {
        const peer = peers[(r + i) % peers.length];
        await peer.setRecording(true);
        const result = await timeCalls(peer, perRound, performance.now() + perRoundMs);
        await peer.setRecording(false);
        rounds[peer.key].push(result);
      }
      roundLoad.push(Math.round(os.loadavg()[0] * 100) / 100);
      log(
        `  round ${r + 1} (load ${roundLoad.at(-1)}): ${peers
          .map(
            (p) =>
              `${p.key} ${percentile(
                [...rounds[p.key].at(-1).ms].sort((a, b) => a - b),
                0.5,
              ).toFixed(3)} ms`,
          )
          .join(', ')}`,
      );
    }
    const gatewaySamples = {};
    for (const p of peers) gatewaySamples[p.key] = await p.samples();
    const calls = summariseCalls(
      CONFIGS.map((c) => failed.find((f) => f.key === c.key) ?? c),
      rounds,
      gatewaySamples,
    );

    // tools/list on the live sessions (one upstream each).
    log(`\ntools/list, warm, one upstream`);
    const listPeers = [];
    for (const p of peers) {
      await timeLists(p.client, LIMITS.listWarmup, performance.now() + LIMITS.listMs, p.tools);
      const lists = await timeLists(p.client, LIMITS.lists, performance.now() + LIMITS.listMs, p.tools);
      listPeers.push({
        key: p.key,
        label: p.label,
        tools: p.tools,
        ...distribution(lists.ms),
        errors: lists.errors,
      });
    }
    listPeers.push(...failed);
    for (const p of peers.splice(0)) await p.close().catch(() => undefined);

    log(`\ntools/list through Perimeter with ${LIMITS.upstreams.join(', ')} upstreams, cold and warm`);
    const coldDirect = await directCold(LIMITS.coldRounds, deadline);
    const directColdSummary = coldDirect.length
      ? {
          n: coldDirect.length,
          median: median(coldDirect),
          max: Math.max(...coldDirect),
          samples: coldDirect,
        }
      : { n: 0 };
    const listUpstreams = [];
    for (const n of LIMITS.upstreams) {
      if (performance.now() > deadline) {
        notes.push(`The ${n}-upstream list was not measured: the run's time budget was used up.`);
        continue;
      }
      const m = await measureUpstreams(n, dir, deadline);
      listUpstreams.push(m);
      log(
        `  ${n} upstream(s): ${m.tools} tools, first use ${m.firstUseMs.toFixed(0)} ms, restart median ${m.restart.median?.toFixed(0)} ms, warm p50 ${m.warm.p50} ms`,
      );
      if (m.upstreamsReady !== n)
        notes.push(`${n} upstreams: only ${m.upstreamsReady} were ready at first use.`);
    }

    log(
      `\nCold start of perimeter mcp with ${LIMITS.sandboxedUpstreams.join(' and ')} sandboxed upstreams, against direct clients`,
    );
    const sandboxed = await sandboxedCold({
      upstreams: LIMITS.sandboxedUpstreams,
      rounds: LIMITS.sandboxedRounds,
      deadline: performance.now() + LIMITS.sandboxedMs,
      timeoutMs: START_TIMEOUT_MS,
      dir,
      log,
    });
    notes.push(...sandboxed.notes);

    const loadAfter = os.loadavg();
    const v = versions();
    notes.push(
      `supergateway has no host option: it listened on every interface (acceptable on this benchmark machine; the other two listen on 127.0.0.1 only).`,
      `mcp-proxy ${v.mcpProxy} runs on the v2 SDK (${v.mcpProxySdk}); supergateway ${v.supergateway} on @modelcontextprotocol/sdk ${v.supergatewaySdk}; Perimeter's upstream client and the driver on @modelcontextprotocol/sdk ${v.sdk}; Perimeter serves clients with @modelcontextprotocol/server ${v.server}, and the 2026-07-28 rows' driver is @modelcontextprotocol/client ${v.client}.`,
    );
    const report = {
      benchmark: 'mcp',
      date: new Date().toISOString(),
      quick: QUICK,
      machine,
      commit: gitCommit(ROOT, 'packages/mcp/src'),
      versions: v,
      config: LIMITS,
      message: MESSAGE,
      prefix: PREFIX,
      loadAverage: loadAverage(loadBefore, loadAfter),
      busy: busy ?? null,
      setup: CONFIGS.map((c) => `${c.label}: ${c.setup}`),
      calls,
      rawRounds: Object.fromEntries(
        Object.entries(rounds).map(([k, rs]) => [
          k,
          rs.map((r) => ({ n: r.ms.length, wallMs: r.wallMs, errors: r.errors.length })),
        ]),
      ),
      roundLoad,
      listPeers,
      directCold: directColdSummary,
      listUpstreams,
      sandboxedCold: sandboxed,
      targets: judgeTargets(calls),
      notes,
    };
    log(`\n${consoleReport(report)}`);
    if (WRITE) {
      mkdirSync(dirname(RESULTS_FILE), { recursive: true });
      writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
      writeDocsSection(DOCS_FILE, 'mcp', markdownSection(report));
      log(
        `\nWrote bench/results/mcp.json and docs/benchmarks.md (${((performance.now() - started) / 1000).toFixed(1)} s).`,
      );
    } else {
      log(`\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s (nothing written: --no-write).`);
    }
  } finally {
    for (const p of peers) await p.close().catch(() => undefined);
    const left = await cleanup();
    if (left.length) log(`(ended ${left.length} leftover child process(es): ${left.join(', ')})`);
    rmSync(dir, { recursive: true, force: true });
  }
}

const stop = (signal) => {
  cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));

try {
  await main();
} catch (e) {
  console.error(e);
  await cleanup();
  process.exitCode = 1;
}
process.exit();
