#!/usr/bin/env node
// `npm run bench:policy`: the policy engine benchmark. For 10, 100 and 1,000 generated rules it
// loads the YAML policies into Perimeter, expresses the same rules for Cedar (cedar-wasm) and CEL
// (cel-js), checks that all three reach the same decision on every request of a mixed workload,
// then times each engine (decisions/s, p50/p99 latency). Writes bench/results/policy.json and the
// policy section of docs/benchmarks.md, and prints the tables.
//
// Options: --sizes 10,100 (rule counts), --quick (short limits, for a smoke run),
// --no-write (print only), --render (rewrite the docs section from bench/results/policy.json
// without running anything).

import './v8-flags.mjs';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, formatDiagnostic, hasErrors, loadPolicies } from '@perimeter/policy';
import cedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { createCedarEngine } from './cedar.mjs';
import { createCelEngine } from './cel.mjs';
import { translatePolicies } from './conditions.mjs';
import { timeEngines, timerOverheadNs } from './measure.mjs';
import { createNormalizer } from './normalize.mjs';
import {
  gitCommit,
  loadAverage,
  loadNote,
  optionOf,
  packageVersion,
  thisMachine,
  writeDocsSection,
} from '../docs-section.mjs';
import { APPROXIMATIONS, consoleReport, judgeTargets, markdownSection } from './report.mjs';
import { generateRequests } from './requests.mjs';
import { generatePolicySet, PATH_CONTEXT } from './rules.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_FILE = join(ROOT, 'bench/results/policy.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');

const args = process.argv.slice(2);
const option = (name) => optionOf(args, name);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const SIZES = (option('--sizes') ?? '10,100,1000').split(',').map(Number);
const SEED = 1;
const REQUESTS = 2000;
// Per engine and rule set; the latency and throughput budgets are split over the rounds.
const LIMITS = QUICK
  ? {
      warmupCalls: 200,
      warmupMinMs: 100,
      warmupMs: 500,
      rounds: 2,
      latencyCalls: 1000,
      latencyMs: 500,
      throughputCalls: 5000,
      throughputMs: 300,
    }
  : {
      warmupCalls: 2000,
      warmupMinMs: 1000,
      warmupMs: 3000,
      rounds: 7,
      latencyCalls: 20000,
      latencyMs: 6000,
      throughputCalls: 1000000,
      throughputMs: 2500,
    };

const log = (line) => console.log(line);
const elapsed = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

function classify(decision) {
  if (decision.code === 'invalid-request') return 'invalid';
  if (decision.code === 'guard') return 'guard';
  if (decision.code === 'default') return 'default';
  return decision.decision === 'deny' ? 'denyRule' : decision.decision;
}

function describe(request) {
  return JSON.stringify(request);
}

/** Runs every request through a peer and compares with the reference effects. */
function checkAgreement(peer, requests, reference) {
  let agree = 0;
  const samples = [];
  requests.forEach((request, i) => {
    const got = peer.decide(request);
    if (got === reference[i].decision) agree++;
    else if (samples.length < 5) {
      samples.push({ request, expected: reference[i].decision, got, reason: reference[i].reason });
    }
  });
  return { agree, total: requests.length, errors: peer.errorCount(), disagreements: samples };
}

async function runSize(ruleCount) {
  const t0 = performance.now();
  log(`\n[${ruleCount} rules] generating the rule set and ${REQUESTS} requests`);
  const set = generatePolicySet(ruleCount, SEED);
  const loadStart = performance.now();
  const loaded = loadPolicies(set.sources);
  if (hasErrors(loaded.diagnostics)) {
    throw new Error(
      `generated policies do not load:\n${loaded.diagnostics.map((d) => formatDiagnostic(d)).join('\n')}`,
    );
  }
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { subject: { groups: 'all' }, context: PATH_CONTEXT },
  );
  const perimeterSetupMs = performance.now() - loadStart;
  const translated = translatePolicies(
    loaded.policies.map((p) => p.policy.source),
    PATH_CONTEXT,
  );
  const normalize = createNormalizer(PATH_CONTEXT, translated.pathArgKeys);
  const cel = createCelEngine(translated, normalize);
  const cedar = createCedarEngine(translated, normalize);
  const requests = generateRequests(set.documents, REQUESTS, SEED);
  log(
    `  ${loaded.policies.length} policies; peers get ${cel.policyCount} rules (${translated.guardRules} for the guard); ` +
      `setup: Perimeter ${perimeterSetupMs.toFixed(0)} ms, CEL ${cel.setupMs.toFixed(0)} ms, Cedar ${cedar.setupMs.toFixed(0)} ms`,
  );

  const reference = requests.map((r) => engine.decide(r));
  const mix = { surfaces: {}, outcomes: {} };
  for (let i = 0; i < requests.length; i++) {
    const d = reference[i];
    if (d.decision !== d.wouldDecision) throw new Error('an audit-mode decision in an all-enforce rule set');
    mix.surfaces[requests[i].surface] = (mix.surfaces[requests[i].surface] ?? 0) + 1;
    const outcome = classify(d);
    mix.outcomes[outcome] = (mix.outcomes[outcome] ?? 0) + 1;
  }
  log(
    `  mix: ${Object.entries(mix.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );

  const agreement = {};
  for (const [key, peer] of [
    ['cel', cel],
    ['cedar', cedar],
  ]) {
    const a = checkAgreement(peer, requests, reference);
    agreement[key] = a;
    log(`  agreement ${peer.name}: ${a.agree}/${a.total} same decisions, ${a.errors} evaluation errors`);
    for (const d of a.disagreements) {
      log(
        `    DIFFERENT: ${describe(d.request)} → ${peer.name} ${d.got}, Perimeter ${d.expected} (${d.reason})`,
      );
    }
  }

  const timingStart = performance.now();
  const engines = await timeEngines(
    { perimeter: (r) => engine.decide(r).decision, cel: cel.decide, cedar: cedar.decide },
    requests,
    LIMITS,
    (round) => log(`  timing: round ${round}/${LIMITS.rounds} done (${elapsed(timingStart)})`),
  );
  for (const [key, label] of [
    ['perimeter', 'Perimeter'],
    ['cel', 'CEL (cel-js)'],
    ['cedar', 'Cedar (cedar-wasm)'],
  ]) {
    const m = engines[key];
    delete m.sink;
    log(
      `  ${label.padEnd(19)} ${m.decisionsPerSecond.toLocaleString('en-US').padStart(11)} decisions/s  ` +
        `p50 ${m.p50Us} µs  p99 ${m.p99Us} µs  (${m.pooled.samples} timed calls, CPU share ${m.cpuShare})`,
    );
  }
  log(`  done in ${elapsed(t0)}`);
  return {
    rules: ruleCount,
    policies: loaded.policies.length,
    peerRules: cel.policyCount,
    guardRules: translated.guardRules,
    defaults: translated.defaults,
    setupMs: { perimeter: perimeterSetupMs, cel: cel.setupMs, cedar: cedar.setupMs },
    mix,
    agreement,
    engines,
    ratios: {
      perimeterOverCedar: engines.perimeter.decisionsPerSecond / engines.cedar.decisionsPerSecond,
      perimeterOverCel: engines.perimeter.decisionsPerSecond / engines.cel.decisionsPerSecond,
    },
  };
}

/** --render: the Markdown section again from the last results, e.g. after a change to report.mjs. */
function render() {
  const report = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
  report.targets = judgeTargets(report.results);
  report.approximations = APPROXIMATIONS;
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  writeDocsSection(DOCS_FILE, 'policy', markdownSection(report));
  log(
    `${consoleReport(report)}\n\nRewrote ${DOCS_FILE.slice(ROOT.length)} from ${RESULTS_FILE.slice(ROOT.length)}.`,
  );
}

async function main() {
  if (args.includes('--render')) return render();
  const started = performance.now();
  const machine = thisMachine();
  const packages = {
    perimeter: {
      policy: packageVersion('@perimeter/policy', '@perimeter/policy'),
      commit: gitCommit(ROOT, 'packages/policy/src'),
    },
    cedarWasm: packageVersion('@cedar-policy/cedar-wasm/nodejs', '@cedar-policy/cedar-wasm'),
    cedarLang: cedarWasm.getCedarVersion(),
    celJs: packageVersion('@marcbachmann/cel-js', '@marcbachmann/cel-js'),
  };
  log(`Policy engine benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  log(`Peers: @cedar-policy/cedar-wasm ${packages.cedarWasm}, @marcbachmann/cel-js ${packages.celJs}`);
  const overhead = timerOverheadNs();
  const loadBefore = os.loadavg();
  const busy = loadNote(loadBefore, machine.cores);
  if (busy) log(busy);

  const results = [];
  for (const size of SIZES) results.push(await runSize(size));
  const loadAfter = os.loadavg();
  const report = {
    benchmark: 'policy',
    date: new Date().toISOString(),
    quick: QUICK,
    machine,
    packages,
    config: { sizes: SIZES, seed: SEED, requests: REQUESTS, limits: LIMITS, pathContext: PATH_CONTEXT },
    timerOverheadNs: overhead,
    loadAverage: loadAverage(loadBefore, loadAfter),
    results,
    targets: [],
    approximations: APPROXIMATIONS,
  };
  report.targets = judgeTargets(results);
  const disagreements = results.some(
    (r) =>
      r.agreement.cel.agree !== r.agreement.cel.total || r.agreement.cedar.agree !== r.agreement.cedar.total,
  );

  log(`\n${consoleReport(report)}`);
  if (disagreements) log('\nWARNING: a peer disagreed with Perimeter on some requests; see above.');
  if (WRITE) {
    mkdirSync(dirname(RESULTS_FILE), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
    writeDocsSection(DOCS_FILE, 'policy', markdownSection(report));
    log(
      `\nWrote ${RESULTS_FILE.slice(ROOT.length)} and ${DOCS_FILE.slice(ROOT.length)} (${elapsed(started)} in all).`,
    );
  } else {
    log(`\nDone in ${elapsed(started)} (nothing written: --no-write).`);
  }
}

await main();
