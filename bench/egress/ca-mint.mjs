// What the session CA costs: creating the CA (once per session) and minting one leaf (once per
// intercepted host, then cached). Prints medians and p95 in milliseconds, and the machine.
// Run: npx tsc -b packages/egress && node bench/egress/ca-mint.mjs [rounds]

import { performance } from 'node:perf_hooks';
import { createSessionCa } from '../../packages/egress/dist/src/ca.js';
import { describeMachine, thisMachine } from '../docs-section.mjs';
import { percentile } from './report.mjs';

const ROUNDS = Number(process.argv[2] ?? 200);
const WARMUP = 20;

function quantiles(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), min: sorted[0] };
}

function time(fn) {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

const fmt = ({ median, p95, min }) =>
  `median ${median.toFixed(3)} ms  p95 ${p95.toFixed(3)} ms  min ${min.toFixed(3)} ms`;

for (let i = 0; i < WARMUP; i++) createSessionCa().contextFor(`warm${i}.example.com`);

const caTimes = [];
for (let i = 0; i < ROUNDS; i++) caTimes.push(time(() => createSessionCa()));

// A distinct host per round, so every call mints (contextFor: key pair, certificate, SecureContext).
const ca = createSessionCa({ leafCacheSize: ROUNDS + 1 });
const mintTimes = [];
for (let i = 0; i < ROUNDS; i++) mintTimes.push(time(() => ca.contextFor(`h${i}.example.com`)));

// The same hosts again: every call is a cache hit.
const hitTimes = [];
for (let i = 0; i < ROUNDS; i++) hitTimes.push(time(() => ca.contextFor(`h${i}.example.com`)));

console.log(`machine: ${describeMachine(thisMachine())}, ${ROUNDS} rounds`);
console.log(`create CA         ${fmt(quantiles(caTimes))}`);
console.log(`mint leaf         ${fmt(quantiles(mintTimes))}`);
console.log(`cached leaf       ${fmt(quantiles(hitTimes))}`);
