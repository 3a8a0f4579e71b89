#!/usr/bin/env node
// `npm run bench:server`: the control plane under load. Policy propagation: the server
// (@perimeter/server, in a process of its own) on SQLite and on PostgreSQL, 1,000 and 10,000
// simulated devices (bench/server/devices.mjs, in two more processes) holding long polls; each
// publication timed from the publish request to every device having verified and activated it.
// Writes bench/results/server.json and the server section of docs/benchmarks.md, and prints the
// tables.
//
// Options: --quick (100 and 1,000 devices, 2 publishes: a smoke run), --no-write (print only),
// --backends sqlite,postgres, --sizes 1000,10000, --publishes N, --workers N (device processes),
// --activation shared|each (see devices.mjs), --no-profile, --keep-log DIR (copy each server's
// request log there), --render (rewrite the docs section from bench/results/server.json without
// running anything).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { gitCommit, loadAverage, loadNote, thisMachine, writeDocsSection } from '../docs-section.mjs';
import { measureBackend } from './propagation.mjs';
import { consoleReport, judgeTargets, markdownSection, summarise } from './report.mjs';
import { POSTGRES_ADMIN_URL } from './setup.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_FILE = join(ROOT, 'bench/results/server.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const list = (name, fallback) => option(name)?.split(',') ?? fallback;

// Every loop is bounded by count and by time: publishes per size, a time budget per size, a limit
// per round (a device's long poll itself gives up after 70 s and asks again).
const CONFIG = {
  backends: list('--backends', ['sqlite', 'postgres']),
  sizes: list('--sizes', QUICK ? ['100', '1000'] : ['1000', '10000']).map(Number),
  publishes: Number(option('--publishes') ?? (QUICK ? 2 : 5)),
  workers: Number(option('--workers') ?? 2),
  activation: option('--activation') ?? 'shared',
  onlinePerSecond: 1000,
  roundTimeoutMs: 120_000,
  sizeBudgetMs: QUICK ? 60_000 : 240_000,
  profile: !args.includes('--no-profile'),
  keepLog: option('--keep-log'),
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
  report.targets = judgeTargets(report.propagation.summaries, report.config);
  writeOut(report);
  log(
    `${consoleReport(report)}\n\nRewrote ${DOCS_FILE.slice(ROOT.length)} from ${RESULTS_FILE.slice(ROOT.length)}.`,
  );
}

async function postgresVersion() {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return (await client.query('SHOW server_version')).rows[0].server_version.split(' ')[0];
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function main() {
  if (args.includes('--render')) return render();
  for (const b of CONFIG.backends)
    if (b !== 'sqlite' && b !== 'postgres') throw new Error(`unknown backend ${b}; known: sqlite, postgres`);
  if (CONFIG.activation !== 'shared' && CONFIG.activation !== 'each')
    throw new Error('--activation is shared or each');
  if (!CONFIG.sizes.every((n) => Number.isInteger(n) && n > 0 && n <= 10_000))
    throw new Error('--sizes are device counts from 1 to 10000');
  const started = performance.now();
  const machine = thisMachine();
  log(`Server benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  const loadBefore = os.loadavg();
  const busy = loadNote(loadBefore, machine.cores);
  if (busy) log(busy);

  log(
    `\nPropagation (${CONFIG.sizes.map((n) => n.toLocaleString('en')).join(' and ')} devices, up to ${CONFIG.publishes} publishes each)`,
  );
  const backends = [];
  for (const backend of CONFIG.backends) {
    try {
      backends.push(await measureBackend(backend, CONFIG, log));
    } catch (e) {
      log(`  ${backend}: NOT MEASURED (${e.message})`);
      backends.push({ backend, error: e.message });
    }
  }
  const loadAfter = os.loadavg();
  const summaries = summarise(backends);
  const report = {
    benchmark: 'server',
    date: new Date().toISOString(),
    quick: QUICK,
    machine,
    commit: gitCommit(ROOT, 'packages/server/src'),
    postgresVersion: CONFIG.backends.includes('postgres') ? await postgresVersion() : undefined,
    config: CONFIG,
    loadAverage: loadAverage(loadBefore, loadAfter),
    propagation: { summaries },
    targets: judgeTargets(summaries, CONFIG),
  };
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
