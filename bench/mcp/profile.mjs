#!/usr/bin/env node
// Where the gateway's time goes: runs Perimeter's gateway in this process (the client on an
// InMemoryTransport, as the in-process row of run.mjs) or over Streamable HTTP in its child process
// (--mode http, as the HTTP row), drives warm echo calls or tools/list under V8's CPU profiler
// (node:inspector, in the gateway's process), and prints the functions with the most self time and
// the inclusive time of the gateway's own steps, per call.
//
//   node bench/mcp/profile.mjs                         # 3,000 echo calls, one upstream
//   node bench/mcp/profile.mjs --mode http             # the same over HTTP, the child profiled
//   node bench/mcp/profile.mjs --mode http-modern      # over HTTP, the client speaking 2026-07-28
//   node bench/mcp/profile.mjs --mode list --upstreams 10 --count 50
//   node bench/mcp/profile.mjs --top 40 --audit memory    # audit records to an array, not the spool
//   node bench/mcp/profile.mjs --mode http --audit memory
//
// The raw profile is written to tmp/mcp-profile/ (open it in Chrome DevTools or speedscope).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeCalls, timeLists } from './measure.mjs';
import { openInProcess, openPerimeterHttp } from './peers.mjs';
import { cleanup } from './procs.mjs';
import { distribution } from './report.mjs';
import { optionOf } from '../docs-section.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'tmp/mcp-profile');
const args = process.argv.slice(2);
const option = (name, fallback) => optionOf(args, name, fallback);
const MODE = option('--mode', 'call');
/** Over HTTP: 2025-era sessions (http), or the v2 client speaking 2026-07-28 (http-modern). */
const HTTP = MODE === 'http' || MODE === 'http-modern';
const UPSTREAMS = Number(option('--upstreams', '1'));
const COUNT = Number(option('--count', MODE === 'list' ? '100' : '3000'));
const TOP = Number(option('--top', '25'));
const AUDIT = option('--audit', 'spool');
const LIMIT_MS = 60_000;

/** Each sample of a .cpuprofile: its time (µs) and its stack of nodes, innermost first. */
function* samples(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  for (let i = 0; i < profile.samples.length; i++) {
    const stack = [];
    for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) stack.push(byId.get(id));
    yield { dt: profile.timeDeltas[i + 1] ?? 0, stack };
  }
}

/** Self and inclusive time per function (µs) from a .cpuprofile. */
function times(profile) {
  const keyOf = (node) => {
    const f = node.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(ROOT, '')}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  const self = new Map();
  const inclusive = new Map();
  for (const { dt, stack } of samples(profile)) {
    const leaf = keyOf(stack[0]);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    for (const key of new Set(stack.map(keyOf))) inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
  }
  return { self, inclusive };
}

// Components, by the URL of a frame: a sample is charged to the innermost frame that names one, so
// the time of Node's own modules and of native code (a write, a hash) goes to the code that called
// them. The first matching pattern wins.
const COMPONENTS = [
  ['audit (records, chain, spool)', /packages\/audit\//],
  ['gateway: pins', /packages\/mcp\/dist\/src\/pins/],
  ['gateway: secret scans', /packages\/mcp\/dist\/src\/secrets|packages\/detect\//],
  ['gateway: policy', /packages\/policy\//],
  ['gateway: HTTP transport', /packages\/mcp\/dist\/src\/http/],
  ['gateway: upstream client', /packages\/mcp\/dist\/src\/upstream|sdk\/dist\/esm\/(client|shared\/stdio)/],
  ['gateway: other', /packages\/mcp\//],
  ['SDK: zod validation', /node_modules\/zod\//],
  ['SDK: protocol and server', /sdk\/dist\/esm\//],
  ['bench driver', /bench\//],
];

/** Time per component (µs), by the rule above; samples with no named frame are "Node only". */
function byComponent(profile) {
  const out = new Map();
  for (const { dt, stack } of samples(profile)) {
    const leaf = stack[0].callFrame.functionName;
    let name = /^\((idle|garbage collector|program)\)$/.test(leaf) ? leaf : undefined;
    for (let i = 0; name === undefined && i < stack.length; i++)
      name = COMPONENTS.find(([, re]) => re.test(stack[i].callFrame.url))?.[0];
    out.set(name ?? 'Node only', (out.get(name ?? 'Node only') ?? 0) + dt);
  }
  return out;
}

const dir = mkdtempSync(join(os.tmpdir(), 'perimeter-mcp-profile-'));
const session = new Session();
session.connect();
let peer;
try {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${MODE}-${UPSTREAMS}-${Date.now()}.cpuprofile`);
  peer = HTTP
    ? await openPerimeterHttp({ dir, profileFile: file, auditTo: AUDIT, modern: MODE === 'http-modern' })
    : await openInProcess({ dir, servers: UPSTREAMS, auditTo: AUDIT });
  const { tools } = await peer.client.listTools();
  await timeCalls(peer, 300, performance.now() + LIMIT_MS);
  if (HTTP) await peer.profile(true);
  else {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 50 });
    await session.post('Profiler.start');
  }
  const result =
    MODE === 'list'
      ? await timeLists(peer.client, COUNT, performance.now() + LIMIT_MS, tools.length)
      : await timeCalls(peer, COUNT, performance.now() + LIMIT_MS);
  let profile;
  if (HTTP) {
    await peer.profile(false);
    profile = JSON.parse(readFileSync(file, 'utf8'));
  } else {
    profile = (await session.post('Profiler.stop')).profile;
    writeFileSync(file, JSON.stringify(profile));
  }
  const n = result.ms.length;
  const { self, inclusive } = times(profile);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const d = distribution(result.ms);
  console.log(
    `${MODE === 'list' ? `tools/list of ${tools.length} tools` : 'echo calls'} through the ${HTTP ? `HTTP (child process${MODE === 'http-modern' ? ', 2026-07-28' : ''})` : 'in-process'} gateway, ${HTTP ? 1 : UPSTREAMS} upstream(s): ${n} timed, p50 ${d.p50} ms, p99 ${d.p99} ms; profile ${file.slice(ROOT.length)}`,
  );
  console.log(`\nSelf time, µs per ${MODE} (of ${(total / n).toFixed(0)} µs sampled per ${MODE}):`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`${(us / n).toFixed(1).padStart(9)}  ${k}`);
  console.log(`\nBy component, µs per ${MODE} (Node's modules and native code charged to their caller):`);
  for (const [k, us] of [...byComponent(profile)].sort((a, b) => b[1] - a[1]))
    console.log(`${(us / n).toFixed(1).padStart(9)}  ${k}`);
  console.log(`\nInclusive time of the gateway's steps, µs per ${MODE}:`);
  const steps =
    /(callTool|post|deliver|finish|readBody|messagesOf|send|handle|listTools|refresh|pinProblem|scanValue|recordCall|recordResult|decide|record|append|seal|read|update|remember|approved|known|release|definitionHash|collisions|scanDefinition|findingsFor|_onrequest|_onresponse|safeParse|parse) /;
  for (const [k, us] of [...inclusive]
    .filter(
      ([k]) =>
        steps.test(k) && k.startsWith('(') === false && (k.includes('packages/') || k.includes('sdk/dist')),
    )
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP))
    console.log(`${(us / n).toFixed(1).padStart(9)}  ${k}`);
} finally {
  await session.post('Profiler.disable').catch(() => undefined);
  session.disconnect();
  await peer?.close().catch(() => undefined);
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
}
process.exit();
