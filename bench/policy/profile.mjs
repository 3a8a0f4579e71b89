#!/usr/bin/env node
// Where Perimeter's decide() spends its time: runs the benchmark's rule set and request mix
// through the engine alone under the V8 CPU profiler (node:inspector, the same profiler as
// `node --cpu-prof`), prints self time by function and by source file (mapped back to
// packages/policy/src through the .js.map files when present), and writes the raw profile to
// the OS temp directory (perimeter-<rules>.cpuprofile) for Chrome DevTools.
//
//   node bench/policy/profile.mjs [--rules 1000] [--seconds 5] [--surface exec]

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { Session } from 'node:inspector';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { generateRequests } from './requests.mjs';
import { generatePolicySet, PATH_CONTEXT } from './rules.mjs';
import { optionOf } from '../docs-section.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => optionOf(args, name, fallback);
const RULES = Number(option('--rules', '1000'));
const SECONDS = Number(option('--seconds', '5'));
const SURFACE = option('--surface', undefined);

const set = generatePolicySet(RULES, 1);
const loaded = loadPolicies(set.sources);
const engine = createEngine(
  loaded.policies.map((p) => p.policy),
  { subject: { groups: 'all' }, context: PATH_CONTEXT },
);
let requests = generateRequests(set.documents, 2000, 1);
if (SURFACE) requests = requests.filter((r) => r.surface === SURFACE);

const post = (session, method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
  );

// Warm up, then profile a bounded loop.
let sink = 0;
for (let i = 0; i < 20000; i++) sink += engine.decide(requests[i % requests.length]).decision.length;
const session = new Session();
session.connect();
await post(session, 'Profiler.enable');
await post(session, 'Profiler.setSamplingInterval', { interval: 50 });
await post(session, 'Profiler.start');
const started = performance.now();
let decisions = 0;
while (performance.now() - started < SECONDS * 1000 && decisions < 5_000_000) {
  for (let k = 0; k < 256; k++)
    sink += engine.decide(requests[decisions++ % requests.length]).decision.length;
}
const seconds = (performance.now() - started) / 1000;
const { profile } = await post(session, 'Profiler.stop');
session.disconnect();

// Self time per node → per function (name + location) and per file.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const hits = new Map();
for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const total = profile.samples.length;

/** Maps a compiled dist/*.js position to its TypeScript file and line through the .js.map file. */
const maps = new Map();
function locate(url, line, column) {
  if (!url.startsWith('file://')) return { file: url || '(native)', line: line + 1 };
  const path = fileURLToPath(url);
  if (!maps.has(path)) {
    const mapFile = `${path}.map`;
    maps.set(path, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : null);
  }
  const map = maps.get(path);
  const entry = map && line >= 0 ? map.findEntry(line, Math.max(0, column)) : undefined;
  if (entry && entry.originalSource) {
    const source = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : join(dirname(path), entry.originalSource);
    return { file: relative(ROOT, source), line: entry.originalLine + 1 };
  }
  return { file: relative(ROOT, path), line: line + 1 };
}

const functions = new Map();
const files = new Map();
for (const [id, count] of hits) {
  const { callFrame } = byId.get(id);
  const { file, line } = locate(callFrame.url, callFrame.lineNumber, callFrame.columnNumber);
  const key = `${callFrame.functionName || '(anonymous)'}  ${file}:${line}`;
  functions.set(key, (functions.get(key) ?? 0) + count);
  files.set(file, (files.get(file) ?? 0) + count);
}
const top = (map, n) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');

console.log(
  `Perimeter, ${RULES} rules${SURFACE ? `, ${SURFACE} only` : ''}: ${decisions.toLocaleString('en-US')} decisions in ` +
    `${seconds.toFixed(1)} s = ${((seconds * 1e6) / decisions).toFixed(2)} µs each (profiler on). ${total} samples.`,
);
console.log(
  `\nSelf time by function (the 25 largest, at the line where each function starts):\n${top(functions, 25)}`,
);
console.log(`\nSelf time by file:\n${top(files, 15)}`);
// The sink keeps the decisions observable, so that no work is optimised away.
const out = join(tmpdir(), `perimeter-${RULES}${SURFACE ? `-${SURFACE}` : ''}.cpuprofile`);
writeFileSync(out, JSON.stringify(profile));
console.log(`\nProfile written to ${out} (open it in Chrome DevTools › Performance).${sink > 0 ? '' : ' '}`);
