#!/usr/bin/env node
// `npm run bench:egress`: the egress proxy benchmark. Perimeter's session proxy
// (@perimeter/egress), proxy-chain and the HTTP proxy of @anthropic-ai/sandbox-runtime (srt), side
// by side in one run and against a direct loopback TCP connection: CONNECT tunnel throughput
// (upload and download) and the latency a proxy adds to opening a connection. Each proxy runs in
// a child process of its own (peer.mjs). Writes bench/results/egress.json and the egress section
// of docs/benchmarks.md, and prints the tables.
//
// Options: --quick (short limits, for a smoke run), --no-write (print only), --peers a,b (keys
// from peers.mjs; direct is always included), --peer-env NAME=value (added to the proxies'
// environment only; repeatable), --render (rewrite the docs section from
// bench/results/egress.json without running anything).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureLatency, measureThroughput, measureUnusedClose, startPeers } from './measure.mjs';
import { PEERS, SETUP } from './peers.mjs';
import {
  gitCommit,
  loadAverage,
  loadNote,
  optionOf,
  thisMachine,
  writeDocsSection,
} from '../docs-section.mjs';
import { consoleReport, judgeTargets, markdownSection, summarise } from './report.mjs';
import { CHUNK_BYTES, startSink } from './sink.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_FILE = join(ROOT, 'bench/results/egress.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');

const args = process.argv.slice(2);
const option = (name) => optionOf(args, name);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const MIB = 1024 * 1024;
const ALL = PEERS.map((p) => p.key);
const KEYS = ['direct', ...(option('--peers')?.split(',') ?? ALL).filter((k) => k !== 'direct')];
// --peer-env NAME=value (repeatable): set in the proxies' processes only, e.g. allocator tunables.
const PEER_ENV = Object.fromEntries(
  args.flatMap((a, i) => (args[i - 1] === '--peer-env' ? [a.split(/=(.*)/s).slice(0, 2)] : [])),
);

// Every loop is bounded twice: by count and by time (the phase limits stop new rounds).
const LIMITS = QUICK
  ? {
      throughput: {
        bytes: 32 * MIB,
        warmupBytes: 8 * MIB,
        rounds: 2,
        transferDeadlineMs: 10000,
        phaseMs: 15000,
      },
      latency: { warmup: 50, samples: 200, rounds: 2, roundMs: 500, connectDeadlineMs: 5000, phaseMs: 10000 },
      unusedClose: { count: 20, settleMs: 1000, connectDeadlineMs: 5000 },
    }
  : {
      throughput: {
        bytes: 256 * MIB,
        warmupBytes: 64 * MIB,
        rounds: 11,
        transferDeadlineMs: 20000,
        phaseMs: 75000,
      },
      latency: {
        warmup: 200,
        samples: 2000,
        rounds: 8,
        roundMs: 1500,
        connectDeadlineMs: 5000,
        phaseMs: 60000,
      },
      unusedClose: { count: 100, settleMs: 1500, connectDeadlineMs: 5000 },
    };

const log = (line) => console.log(line);
const elapsed = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

function writeDocs(report) {
  writeDocsSection(DOCS_FILE, 'egress', markdownSection(report));
}

/** --render: the Markdown section again from the last results, e.g. after a change to report.mjs. */
function render() {
  const report = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
  report.targets = judgeTargets(report.summaries);
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  writeDocs(report);
  log(
    `${consoleReport(report)}\n\nRewrote ${DOCS_FILE.slice(ROOT.length)} from ${RESULTS_FILE.slice(ROOT.length)}.`,
  );
}

async function main() {
  if (args.includes('--render')) return render();
  const unknown = KEYS.filter((k) => !ALL.includes(k));
  if (unknown.length) throw new Error(`unknown peer(s) ${unknown.join(', ')}; known: ${ALL.join(', ')}`);
  const started = performance.now();
  const machine = thisMachine();
  log(`Egress proxy benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  const loadBefore = os.loadavg();
  const busy = loadNote(loadBefore, machine.cores);
  if (busy) log(busy);

  const sink = await startSink();
  const peers = await startPeers(KEYS, sink.port, () => [], PEER_ENV);
  if (Object.keys(PEER_ENV).length) log(`  proxies' extra environment: ${JSON.stringify(PEER_ENV)}`);
  try {
    for (const p of peers) {
      log(
        p.error
          ? `  ${p.label}: NOT STARTED (${p.error})`
          : `  ${p.label}: ${p.port === undefined ? `127.0.0.1:${sink.port}` : `proxy on 127.0.0.1:${p.port}, ${p.version}`}`,
      );
    }
    const running = peers.filter((p) => !p.error);

    log(`\nThroughput (${LIMITS.throughput.bytes / MIB} MiB each way per round)`);
    const throughput = await measureThroughput(running, sink.port, LIMITS.throughput, log);
    log(`\nConnect latency (up to ${LIMITS.latency.samples} connections per peer)`);
    const latency = await measureLatency(running, sink.port, LIMITS.latency, log);
    const memory = {};
    for (const p of running) memory[p.key] = (await p.usage()).rss;
    log(`\nTunnels closed unused (${LIMITS.unusedClose.count} per proxy)`);
    const unusedClose = await measureUnusedClose(running, sink.port, LIMITS.unusedClose);

    const loadAfter = os.loadavg();
    const summaries = summarise(peers, throughput, latency, unusedClose, memory);
    const bytesMoved = Object.values(throughput.results).reduce((sum, r) => sum + r.bytes, 0);
    const report = {
      benchmark: 'egress',
      date: new Date().toISOString(),
      quick: QUICK,
      machine,
      commit: gitCommit(ROOT, 'packages/egress/src'),
      config: { ...LIMITS, chunkBytes: CHUNK_BYTES, peers: KEYS, peerEnv: PEER_ENV },
      loadAverage: loadAverage(loadBefore, loadAfter),
      throughput: { rounds: throughput.rounds },
      latency: { rounds: latency.rounds },
      bytesMoved,
      summaries,
      targets: judgeTargets(summaries),
      setup: SETUP,
    };
    log(`\n${consoleReport(report)}`);
    const errors = summaries.filter((s) => s.errors?.length);
    for (const s of errors) log(`\n${s.label}: ${s.errors.length} errors, first: ${s.errors[0]}`);
    if (WRITE) {
      mkdirSync(dirname(RESULTS_FILE), { recursive: true });
      writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
      writeDocs(report);
      log(
        `\nWrote ${RESULTS_FILE.slice(ROOT.length)} and ${DOCS_FILE.slice(ROOT.length)} (${elapsed(started)} in all).`,
      );
    } else {
      log(`\nDone in ${elapsed(started)} (nothing written: --no-write).`);
    }
  } finally {
    for (const p of peers) if (!p.error) await p.stop();
    sink.close();
  }
}

await main();
