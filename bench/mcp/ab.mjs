#!/usr/bin/env node
// A quick A/B of chosen configurations of the MCP benchmark, printing only (no results file, no
// docs): warm echo calls in interleaved rounds, the configurations in rotating order within each
// round, as run.mjs times them. For trying a change against the peers, or against the gateway
// with its audit kept in memory (perimeterHttpMemory, perimeterHttpModernMemory: references that
// run.mjs does not measure).
//
//   node bench/mcp/ab.mjs                                           # the four HTTP rows
//   node bench/mcp/ab.mjs --configs perimeterHttpModern,perimeterHttpModernMemory,mcpProxyModern
//   node bench/mcp/ab.mjs --rounds 8 --calls 400                    # calls per round and configuration
//   node bench/mcp/ab.mjs --configs perimeterStdio --base /tmp/base  # this tree against another
//
// --base DIR opens every configuration a second time from DIR's bench/mcp/peers.mjs (so from DIR's
// packages and CLI), labelled `key@base`, in the same rounds: a change against the commit before it
// on one machine at one time. bench/mcp/base-checkout.sh REV DIR makes such a DIR.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { optionOf, thisMachine } from '../docs-section.mjs';
import { timeCalls } from './measure.mjs';
import { open } from './peers.mjs';
import { cleanup } from './procs.mjs';
import { distribution } from './report.mjs';

const args = process.argv.slice(2);
const keys = optionOf(
  args,
  '--configs',
  'perimeterHttp,supergateway,perimeterHttpModern,mcpProxyModern',
).split(',');
const ROUNDS = Number(optionOf(args, '--rounds', '6'));
const CALLS = Number(optionOf(args, '--calls', '400'));
const ROUND_MS = 10_000;
const base = optionOf(args, '--base', '');
const openBase =
  base === '' ? undefined : (await import(pathToFileURL(join(base, 'bench/mcp/peers.mjs')).href)).open;

const machine = thisMachine();
console.log(
  `A/B of ${keys.join(', ')}: ${ROUNDS} rounds of up to ${CALLS} calls each; ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`,
);
const dir = mkdtempSync(join(os.tmpdir(), 'perimeter-bench-mcp-ab-'));
const peers = [];
try {
  const opens = keys.flatMap((key) => [
    { key, open },
    ...(openBase ? [{ key, open: openBase, label: `${key}@base` }] : []),
  ]);
  for (const { key, open: opener, label } of opens) {
    const peer = await opener(key, { dir: mkdtempSync(join(dir, 'peer-')) });
    if (label !== undefined) peer.key = label;
    await peer.client.listTools();
    await timeCalls(peer, 200, performance.now() + ROUND_MS);
    peers.push(peer);
  }
  const ms = new Map(peers.map((p) => [p.key, []]));
  const cpu = new Map(peers.map((p) => [p.key, 0]));
  for (let r = 0; r < ROUNDS; r++)
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(r + i) % peers.length];
      const result = await timeCalls(peer, CALLS, performance.now() + ROUND_MS);
      if (result.errors.length) throw new Error(`${peer.key}: ${result.errors[0]}`);
      ms.get(peer.key).push(...result.ms);
      cpu.set(peer.key, cpu.get(peer.key) + (result.peerCpuUs ?? 0));
    }
  console.log(
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  );
  for (const [key, samples] of ms) {
    const d = distribution(samples);
    const perCall = cpu.get(key) / samples.length;
    console.log(
      `${key.padEnd(28)} p50 ${d.p50.toFixed(3)}  p99 ${d.p99.toFixed(3)}  mean ${d.mean.toFixed(3)} ms  ${perCall > 0 ? `proxy CPU ${perCall.toFixed(0)} µs/call  ` : ''}n ${d.n}`,
    );
  }
} finally {
  for (const p of peers) await p.close().catch(() => undefined);
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
}
process.exit();
