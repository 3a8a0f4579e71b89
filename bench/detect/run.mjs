#!/usr/bin/env node
// `npm run bench:detect`: secret detection quality and speed. Scores @perimeter/detect and
// secretlint (with its recommended preset) on the same labelled corpus (bench/detect/corpus, made
// by generate-corpus.mjs), then times both on text without secrets. Writes
// bench/results/detect.json and the "Secret detection" section of docs/benchmarks.md, and prints
// the tables.
//
// Options: --quick (fewer timing rounds), --no-write (print only), --render (rewrite the docs
// section from bench/results/detect.json without running anything).

import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitCommit, packageVersion, thisMachine, writeDocsSection } from '../docs-section.mjs';
import { againstPlain, coloured } from './coloured-log.mjs';
import { perimeter, perimeterDecode, secretlint } from './peers.mjs';
import { score } from './score.mjs';
import { consoleReport, judgeTargets, markdownSection } from './report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CORPUS = join(ROOT, 'bench/detect/corpus');
const RESULTS_FILE = join(ROOT, 'bench/results/detect.json');
const DOCS_FILE = join(ROOT, 'docs/benchmarks.md');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const THROUGHPUT_BYTES = 8 * 2 ** 20;
const CHUNK_BYTES = 2 ** 20;
const ROUNDS = QUICK ? 3 : 7;
const SECRETLINT_ROUNDS = QUICK ? 1 : 3;

const readJsonl = (name) =>
  readFileSync(join(CORPUS, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function findAll(peer, records) {
  const out = [];
  for (const r of records) out.push(peer.isAsync ? await peer.find(r.text) : peer.find(r.text));
  return out;
}

/** The benign texts, repeated to at least `bytes`, cut into chunks of about CHUNK_BYTES. */
function throughputChunks(benign, bytes) {
  const chunks = [];
  let current = '';
  let total = 0;
  while (total < bytes) {
    for (const r of benign) {
      current += r.text;
      if (current.length >= CHUNK_BYTES) {
        chunks.push(current);
        total += Buffer.byteLength(current);
        current = '';
        if (total >= bytes) break;
      }
    }
  }
  return chunks;
}

async function timeThroughput(peer, chunks, rounds) {
  const bytes = chunks.reduce((s, c) => s + Buffer.byteLength(c), 0);
  // Warm-up: one pass, so V8 has compiled the regexes and the hot functions.
  for (const c of chunks.slice(0, 2)) peer.isAsync ? await peer.find(c) : peer.find(c);
  const rates = [];
  let findings = 0;
  for (let r = 0; r < rounds; r++) {
    findings = 0;
    const t0 = performance.now();
    for (const c of chunks) findings += (peer.isAsync ? await peer.find(c) : peer.find(c)).length;
    rates.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
  }
  return { bytes, chunks: chunks.length, rounds: rates, mbPerSecond: median(rates), findings };
}

async function timeLatency(peer, benign, rounds) {
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    for (const rec of benign) {
      const t0 = performance.now();
      peer.isAsync ? await peer.find(rec.text) : peer.find(rec.text);
      samples.push((performance.now() - t0) * 1000);
    }
  }
  samples.sort((a, b) => a - b);
  const meanBytes = benign.reduce((s, r) => s + Buffer.byteLength(r.text), 0) / benign.length;
  return {
    calls: samples.length,
    meanChunkBytes: Math.round(meanBytes),
    p50Us: percentile(samples, 50),
    p99Us: percentile(samples, 99),
  };
}

async function main() {
  if (args.includes('--render')) {
    const report = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
    writeDocsSection(DOCS_FILE, 'detect', markdownSection(report));
    console.log(`rewrote the detect section of ${DOCS_FILE}`);
    return;
  }
  const machine = thisMachine();
  console.log(`Secret detection benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  const loadBefore = os.loadavg()[0];
  const corpus = {
    secrets: readJsonl('secrets.jsonl'),
    templates: readJsonl('templates.jsonl'),
    benign: readJsonl('benign.jsonl'),
  };
  const records = [...corpus.secrets, ...corpus.templates, ...corpus.benign];
  const quality = {};
  for (const peer of [perimeter, perimeterDecode, secretlint]) {
    const t0 = performance.now();
    quality[peer.name] = score(records, await findAll(peer, records));
    console.log(
      `scored ${peer.name} on ${records.length} records in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const chunks = throughputChunks(corpus.benign, THROUGHPUT_BYTES);
  const speed = {};
  for (const [peer, rounds] of [
    [perimeter, ROUNDS],
    [perimeterDecode, ROUNDS],
    [secretlint, SECRETLINT_ROUNDS],
  ]) {
    speed[peer.name] = {
      throughput: await timeThroughput(peer, chunks, rounds),
      latency: await timeLatency(peer, corpus.benign, peer.isAsync ? 1 : 3),
    };
    console.log(`timed ${peer.name}: ${speed[peer.name].throughput.mbPerSecond.toFixed(1)} MB/s`);
  }
  // The same text with one line in three coloured as terminal tools colour it (coloured-log.mjs):
  // what reading control sequences costs on honest output. Perimeter with decoding alone reads them.
  const colouredChunks = throughputChunks(
    corpus.benign.map((r) => ({ text: coloured(r.text) })),
    THROUGHPUT_BYTES,
  );
  speed[perimeterDecode.name].colouredLog = {
    ...(await timeThroughput(perimeterDecode, colouredChunks, ROUNDS)),
    // No secret is added: record by record, what it finds coloured must be what it finds plain.
    againstPlain: againstPlain(perimeterDecode.find, corpus.benign),
  };
  const { colouredLog } = speed[perimeterDecode.name];
  console.log(
    `timed ${perimeterDecode.name} on a coloured log: ${colouredLog.mbPerSecond.toFixed(1)} MB/s; ` +
      `${colouredLog.againstPlain.added.length} findings the plain text does not have, ${colouredLog.againstPlain.lost.length} it has lost`,
  );
  const report = {
    date: new Date().toISOString(),
    machine,
    load: { before: loadBefore, after: os.loadavg()[0] },
    packages: {
      perimeter: gitCommit(ROOT, 'packages/detect/src'),
      secretlint: packageVersion('secretlint', 'secretlint'),
      preset: packageVersion(
        '@secretlint/secretlint-rule-preset-recommend',
        '@secretlint/secretlint-rule-preset-recommend',
      ),
    },
    corpus: Object.fromEntries(
      Object.entries(corpus).map(([k, v]) => [
        k,
        { records: v.length, bytes: v.reduce((s, r) => s + Buffer.byteLength(r.text), 0) },
      ]),
    ),
    config: {
      throughputBytes: THROUGHPUT_BYTES,
      chunkBytes: CHUNK_BYTES,
      rounds: ROUNDS,
      secretlintRounds: SECRETLINT_ROUNDS,
    },
    quality,
    speed,
  };
  report.targets = judgeTargets(report);
  console.log(consoleReport(report));
  if (WRITE) {
    writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
    writeDocsSection(DOCS_FILE, 'detect', markdownSection(report));
    console.log(`wrote ${RESULTS_FILE} and the detect section of docs/benchmarks.md`);
  }
}

await main();
