#!/usr/bin/env node
// `npm run bench:server`: the control plane under load, on SQLite and on PostgreSQL, the server
// (@perimeter/server) in a process of its own. Two parts:
//   propagation: 1,000 and 10,000 simulated devices (devices.mjs, in two more processes) holding
//     long polls; each publication timed from the publish request to every device having
//     verified and activated it (propagation.mjs);
//   audit: a million sealed events shipped by 1,000 devices through the ingest endpoint, timed,
//     then the investigation's questions asked of them (audit.mjs).
// Writes bench/results/server.json and the server section of docs/benchmarks.md, and prints the
// tables.
//
// Options: --quick (small fleets and few events: a smoke run), --no-write (print only),
// --parts propagation,audit (a part left out keeps its last results), --backends sqlite,postgres,
// --sizes 1000,10000, --publishes N, --workers N (device processes), --activation shared|each
// (see devices.mjs), --no-profile, --keep-log DIR (copy each propagation server's request log
// and CPU profile there), --events N (per device), --devices N (audit: devices shipping),
// --render (rewrite the docs section from bench/results/server.json without running anything).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  gitCommit,
  loadAverage,
  loadNote,
  optionOf,
  thisMachine,
  writeDocsSection,
} from '../docs-section.mjs';
import { QUERIES, measureAudit } from './audit.mjs';
import { measureBackend } from './propagation.mjs';
import {
  consoleReport,
  judgeTargets,
  markdownSection,
  summariseAudit,
  summarisePropagation,
} from './report.mjs';
import { withPostgresAdmin } from './setup.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_FILE = join(ROOT, 'bench/results/server.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');

const args = process.argv.slice(2);
const option = (name) => optionOf(args, name);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const list = (name, fallback) => option(name)?.split(',') ?? fallback;
const PARTS = list('--parts', ['propagation', 'audit']);
const BACKENDS = list('--backends', ['sqlite', 'postgres']);
/** The server's CPU profile (1 ms sampling) over the largest fleet's first publication and over the upload. */
const PROFILE = !args.includes('--no-profile');

// Every loop is bounded by count and by time: publishes per size, a time budget per size, a limit
// per round (a device's long poll itself gives up after 70 s and asks again); events per device,
// a limit on shipping, rounds and a time budget for the questions.
const PROPAGATION = {
  sizes: list('--sizes', QUICK ? ['100', '1000'] : ['1000', '10000']).map(Number),
  publishes: Number(option('--publishes') ?? (QUICK ? 2 : 5)),
  workers: Number(option('--workers') ?? 2),
  activation: option('--activation') ?? 'shared',
  onlinePerSecond: 1000,
  roundTimeoutMs: 120_000,
  sizeBudgetMs: QUICK ? 60_000 : 240_000,
  profile: PROFILE,
  keepLog: option('--keep-log'),
};
const AUDIT = {
  devices: Number(option('--devices') ?? (QUICK ? 100 : 1000)),
  eventsPerDevice: Number(option('--events') ?? (QUICK ? 500 : 1000)),
  perSession: 50,
  windowDays: 14,
  processes: 2,
  lanes: 8,
  ingestLimitMs: QUICK ? 60_000 : 300_000,
  repeats: QUICK ? 20 : 200,
  queryBudgetMs: QUICK ? 15_000 : 90_000,
  profile: PROFILE,
};

const log = (line) => console.log(line);

function writeOut(report) {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  writeDocsSection(DOCS_FILE, 'server', markdownSection(report));
}

/** --render: the Markdown section again from the last results, e.g. after a change to report.mjs. */
function render() {
  const report = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
  report.targets = judgeTargets(report);
  writeOut(report);
  log(
    `${consoleReport(report)}\n\nRewrote ${DOCS_FILE.slice(ROOT.length)} from ${RESULTS_FILE.slice(ROOT.length)}.`,
  );
}

async function postgresVersion() {
  try {
    return await withPostgresAdmin(
      async (c) => (await c.query('SHOW server_version')).rows[0].server_version.split(' ')[0],
    );
  } catch {
    return undefined;
  }
}

/** Runs one part on every backend: its record (date, commit, load, config, summaries). */
async function runPart(title, config, measure, summarise) {
  log(`\n${title}`);
  const loadBefore = os.loadavg();
  const date = new Date().toISOString();
  const backends = [];
  for (const backend of BACKENDS) {
    try {
      backends.push(await measure(backend, config, log));
    } catch (e) {
      log(`  ${backend}: NOT MEASURED (${e.message})`);
      backends.push({ backend, error: e.message });
    }
  }
  return {
    date,
    commit: gitCommit(ROOT, 'packages/server/src'),
    loadAverage: loadAverage(loadBefore, os.loadavg()),
    config,
    summaries: summarise(backends),
  };
}

async function main() {
  if (args.includes('--render')) return render();
  for (const b of BACKENDS)
    if (b !== 'sqlite' && b !== 'postgres') throw new Error(`unknown backend ${b}; known: sqlite, postgres`);
  for (const p of PARTS)
    if (p !== 'propagation' && p !== 'audit') throw new Error(`unknown part ${p}; known: propagation, audit`);
  if (PROPAGATION.activation !== 'shared' && PROPAGATION.activation !== 'each')
    throw new Error('--activation is shared or each');
  if (!PROPAGATION.sizes.every((n) => Number.isInteger(n) && n > 0 && n <= 10_000))
    throw new Error('--sizes are device counts from 1 to 10000');
  if (!(
    Number.isInteger(AUDIT.eventsPerDevice) &&
    AUDIT.eventsPerDevice >= 10 &&
    AUDIT.eventsPerDevice <= 10_000
  ))
    throw new Error('--events is a number of events per device from 10 to 10000');
  const started = performance.now();
  const machine = thisMachine();
  log(`Server benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  const busy = loadNote(os.loadavg(), machine.cores);
  if (busy) log(busy);

  // A part not run this time keeps its last results (each part says when it was measured).
  const previous = existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) : {};
  const report = {
    benchmark: 'server',
    date: new Date().toISOString(),
    quick: QUICK,
    machine,
    postgresVersion: BACKENDS.includes('postgres') ? await postgresVersion() : previous.postgresVersion,
    propagation: PARTS.includes('propagation')
      ? await runPart(
          `Propagation (${PROPAGATION.sizes.map((n) => n.toLocaleString('en')).join(' and ')} devices, up to ${PROPAGATION.publishes} publishes each)`,
          PROPAGATION,
          measureBackend,
          summarisePropagation,
        )
      : previous.propagation,
    audit: PARTS.includes('audit')
      ? await runPart(
          `Audit (${(AUDIT.devices * AUDIT.eventsPerDevice).toLocaleString('en')} events from ${AUDIT.devices.toLocaleString('en')} devices, then queries)`,
          AUDIT,
          measureAudit,
          (backends) => summariseAudit(backends, QUERIES),
        )
      : previous.audit,
  };
  report.targets = judgeTargets(report);
  log(`\n${consoleReport(report)}`);
  const elapsed = `${((performance.now() - started) / 1000).toFixed(0)} s`;
  if (WRITE) {
    writeOut(report);
    log(
      `\nWrote ${RESULTS_FILE.slice(ROOT.length)} and ${DOCS_FILE.slice(ROOT.length)} (${elapsed} in all).`,
    );
  } else log(`\nDone in ${elapsed} (nothing written: --no-write).`);
}

await main();
