#!/usr/bin/env node
// Where a proxy's time goes: runs one peer (default: perimeter) in its child process under V8's
// CPU profiler, drives bulk transfers or sequential connections through it, then prints the
// functions with the most self time and the proxy's CPU cost.
//
//   node bench/egress/profile.mjs                      # perimeter, throughput
//   node bench/egress/profile.mjs --peer srt --mode latency
//   node bench/egress/profile.mjs --top 40 --mib 2048 --connections 4000
//
// The raw profile stays in tmp/egress-profile/ (open it in Chrome DevTools or speedscope).

import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectLatency, download, upload } from './client.mjs';
import { startPeers } from './measure.mjs';
import { startSink } from './sink.mjs';
import { optionOf } from '../docs-section.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, 'tmp/egress-profile');
const args = process.argv.slice(2);
const option = (name, fallback) => optionOf(args, name, fallback);
const PEER = option('--peer', 'perimeter');
const MODE = option('--mode', 'throughput');
const TOP = Number(option('--top', '25'));
const MIB = 1024 * 1024;
const TOTAL_MIB = Number(option('--mib', '2048'));
const CONNECTIONS = Number(option('--connections', '3000'));
const LIMIT_MS = 60000;

/** Self time per function (µs), from the samples of a .cpuprofile taken in [fromUs, toUs]. */
function selfTimes(profile, fromUs, toUs) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(ROOT, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (deltas[i] ?? 0));
  }
  return self;
}

function area(key) {
  if (key.startsWith('(idle)')) return 'idle';
  if (key.startsWith('(garbage collector)')) return 'garbage collector';
  if (key.startsWith('(program)')) return 'V8/native (program)';
  if (key.includes('/packages/')) return 'Perimeter code';
  if (key.includes('node_modules/')) return 'the package under test';
  if (key.includes('node:')) return 'Node internals (net, streams, http)';
  return 'native / builtins';
}

async function main() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const sink = await startSink();
  const peers = await startPeers(['direct', PEER], sink.port, () => ['--cpu-prof', '--cpu-prof-dir', DIR]);
  const peer = peers[1];
  if (peer.error) throw new Error(peer.error);
  const t0 = performance.now();
  const before = await peer.usage();
  let work;
  if (MODE === 'latency') {
    let n = 0;
    while (n < CONNECTIONS && performance.now() - t0 < LIMIT_MS) {
      await connectLatency(peer.port, sink.port, 5000);
      n++;
    }
    work = `${n} connections`;
  } else {
    let moved = 0;
    while (moved < TOTAL_MIB * MIB && performance.now() - t0 < LIMIT_MS) {
      await upload(peer.port, sink.port, 128 * MIB, 20000);
      await download(peer.port, sink.port, 128 * MIB, 20000);
      moved += 256 * MIB;
    }
    work = `${moved / MIB} MiB relayed`;
  }
  const after = await peer.usage();
  const wallMs = performance.now() - t0;
  await peer.stop();
  sink.close();
  const file = readdirSync(DIR).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${DIR}`);
  // Only the samples taken while the work ran: not start-up (module loading, policy parsing).
  const self = selfTimes(JSON.parse(readFileSync(join(DIR, file), 'utf8')), before.nowUs, after.nowUs);
  const busy = [...self.entries()].filter(([k]) => !k.startsWith('(idle)'));
  const total = busy.reduce((s, [, v]) => s + v, 0);
  const cpuMs = (after.cpuUs - before.cpuUs) / 1000;
  console.log(
    `${PEER}, ${MODE}: ${work} in ${(wallMs / 1000).toFixed(1)} s; proxy process CPU ${cpuMs.toFixed(0)} ms ` +
      `(user + system, ${((cpuMs / wallMs) * 100).toFixed(0)}% of one core); JS-visible samples ${(total / 1000).toFixed(0)} ms`,
  );
  const areas = new Map();
  for (const [k, v] of busy) areas.set(area(k), (areas.get(area(k)) ?? 0) + v);
  console.log('\nBy area (share of non-idle samples):');
  for (const [k, v] of [...areas.entries()].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
  }
  console.log(`\nTop ${TOP} functions by self time:`);
  for (const [k, v] of busy.sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(
      `  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`,
    );
  }
  console.log(`\nProfile: ${join(DIR, file).slice(ROOT.length)}`);
}

await main();
