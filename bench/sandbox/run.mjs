// Sandbox start-up: `perimeter run -- true` against bare `true` and `srt true` (Anthropic's
// sandbox-runtime), side by side in one run, rounds interleaved so drift hits every peer alike.
// Writes bench/results/sandbox.json and the sandbox section of docs/benchmarks.md.
//
//   npm run bench:sandbox            (ROUNDS=40 by default; at most 90 s of measuring)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freemem, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, markers, thisMachine, writeDocsSection } from '../docs-section.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const RESULTS = join(ROOT, 'bench/results/sandbox.json');
const DOCS = join(ROOT, 'docs/benchmarks.md');
const { start: MARK_START, end: MARK_END } = markers('sandbox');
const ROUNDS = Number(process.env.ROUNDS ?? 40);
const BUDGET_MS = 90_000;

const PERIMETER = join(ROOT, 'packages/cli/bin/perimeter.js');
const SRT = join(ROOT, 'node_modules/.bin/srt');
const srtPkg = JSON.parse(
  readFileSync(join(ROOT, 'node_modules/@anthropic-ai/sandbox-runtime/package.json'), 'utf8'),
);
const ourPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

const workspace = mkdtempSync(join(tmpdir(), 'bench-sandbox-'));
// A second workspace shaped like a JavaScript project after `npm install`: 300 packages in
// node_modules, ~13,000 entries. Sandboxes that search the workspace for files to protect pay for
// its size at every start.
const project = mkdtempSync(join(tmpdir(), 'bench-sandbox-project-'));
const PROJECT_PACKAGES = 300;
for (let p = 0; p < PROJECT_PACKAGES; p++) {
  const pkg = join(project, 'node_modules', `pkg-${p}`);
  for (const sub of ['lib', 'lib/internal', 'dist', 'types']) {
    mkdirSync(join(pkg, sub), { recursive: true });
    for (let f = 0; f < 9; f++) writeFileSync(join(pkg, sub, `file-${f}.js`), '');
  }
  writeFileSync(join(pkg, 'package.json'), '{}');
  writeFileSync(join(pkg, 'README.md'), '');
}
mkdirSync(join(project, 'src'));
for (let f = 0; f < 50; f++) writeFileSync(join(project, 'src', `module-${f}.ts`), '');
writeFileSync(join(project, 'package.json'), '{}');
const projectEntries = PROJECT_PACKAGES * (1 + 4 * 10 + 2) + 1 + 1 + 50 + 1;
const spools = join(workspace, '..', `${workspace.split('/').pop()}-audit`);
mkdirSync(spools);
let runNo = 0;

const perimeterRun = () => [
  process.execPath,
  PERIMETER,
  'run',
  '--audit',
  join(spools, `run-${runNo++}.jsonl`),
  '--',
  'true',
];
const PEERS = [
  { key: 'bare', label: 'bare `true`', argv: () => ['/usr/bin/true'] },
  {
    key: 'node',
    label: '`node -e 0` (reference: Node.js start-up alone)',
    argv: () => [process.execPath, '-e', '0'],
  },
  { key: 'perimeter', label: '`perimeter run -- true`', argv: perimeterRun },
  { key: 'srt', label: '`srt true` (sandbox-runtime)', argv: () => [SRT, 'true'] },
  {
    key: 'perimeterProject',
    label: '`perimeter run -- true`, project workspace',
    argv: perimeterRun,
    cwd: project,
  },
  {
    key: 'srtProject',
    label: '`srt true`, project workspace',
    argv: () => [SRT, 'true'],
    cwd: project,
  },
];

// Every command runs in the same environment, without NODE_EXTRA_CA_CERTS: Node reads that file
// at every start (a system bundle there adds ~50 ms to each Node process on these machines), which
// would measure the machine's setup, not the sandboxes.
const { NODE_EXTRA_CA_CERTS: extraCerts, ...benchEnv } = process.env;

function once(argv, cwd = workspace) {
  const started = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd,
    env: benchEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, ok: r.status === 0, err: r.status === 0 ? '' : String(r.stderr).trim().split('\n')[0] };
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

// Each peer must work before it is timed; a peer that cannot run here is reported, not timed.
const available = [];
const skipped = [];
for (const peer of PEERS) {
  const probe =
    peer.argv()[0] === SRT && !existsSync(SRT)
      ? { ok: false, err: 'not installed' }
      : once(peer.argv(), peer.cwd);
  if (probe.ok) available.push(peer);
  else skipped.push({ key: peer.key, label: peer.label, reason: probe.err || 'failed' });
}

const samples = Object.fromEntries(available.map((p) => [p.key, []]));
const load = [loadavg()[0]];
const started = Date.now();
for (let round = 0; round < ROUNDS && Date.now() - started < BUDGET_MS; round++) {
  // Rotate the order each round.
  for (let i = 0; i < available.length; i++) {
    const peer = available[(round + i) % available.length];
    const r = once(peer.argv(), peer.cwd);
    if (r.ok) samples[peer.key].push(r.ms);
  }
}
load.push(loadavg()[0]);

const stats = {};
for (const [key, xs] of Object.entries(samples)) {
  const sorted = [...xs].sort((a, b) => a - b);
  stats[key] = {
    n: sorted.length,
    median: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    min: sorted[0],
  };
}
const bare = stats.bare?.median ?? 0;
const overhead = (key) => (stats[key] ? stats[key].median - bare : undefined);
const targets = [];
if (stats.perimeter) {
  targets.push({
    target: 'start-up overhead (median, over bare `true`) under 100 ms',
    measured: `${overhead('perimeter').toFixed(0)} ms`,
    pass: overhead('perimeter') < 100,
  });
  if (stats.srt)
    targets.push({
      target: "start-up overhead below srt's",
      measured: `${overhead('perimeter').toFixed(0)} ms vs ${overhead('srt').toFixed(0)} ms`,
      pass: overhead('perimeter') < overhead('srt'),
    });
  if (stats.perimeterProject && stats.srtProject)
    targets.push({
      target: "start-up overhead below srt's, project workspace",
      measured: `${overhead('perimeterProject').toFixed(0)} ms vs ${overhead('srtProject').toFixed(0)} ms`,
      pass: overhead('perimeterProject') < overhead('srtProject'),
    });
}

const machine = { ...thisMachine(), freeMemoryBytes: freemem() };
const report = {
  date: new Date().toISOString(),
  machine,
  versions: { perimeter: ourPkg.version, srt: srtPkg.version },
  rounds: Math.min(...Object.values(stats).map((s) => s.n)),
  loadAverage: load,
  stats,
  overheadMs: Object.fromEntries(Object.keys(stats).map((k) => [k, overhead(k)])),
  skipped,
  targets,
};
mkdirSync(dirname(RESULTS), { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);

const f = (x) => (x === undefined ? '—' : x.toFixed(1));
const rows = available.map((p) => {
  const s = stats[p.key];
  const over = overhead(p.key);
  return `| ${p.label} | ${f(s.median)} | ${f(s.p99)} | ${f(s.min)} | ${p.key === 'bare' ? 'reference' : `+${f(over)}`} | ${s.n} |`;
});
const section = [
  MARK_START,
  '<!-- Generated by `npm run bench:sandbox` (bench/sandbox/run.mjs); edits between these markers are overwritten. -->',
  '',
  '## Sandbox start-up',
  '',
  `Measured ${report.date} on ${describeMachine(machine)}; Perimeter ${report.versions.perimeter}, srt ${report.versions.srt}. Wall time from spawning the command to its exit, ${report.rounds} rounds, peers in rotating order within each round. Load average (1 min) ${load[0].toFixed(2)} before and ${load[1].toFixed(2)} after. Every command runs without NODE_EXTRA_CA_CERTS${extraCerts ? ` (set in this machine's environment to ${extraCerts}; Node reads it at every start)` : ''}.`,
  '',
  '`perimeter run -- true` does everything a session does: loads and compiles the embedded default policy, opens the hash-chained audit spool, makes a cgroup for the session (pids; this machine allows one) and starts the launcher that joins it, looks up the secrets the policy binds (none are stored here) and makes the session CA and its trust bundle, plans the mounts (walking the workspace), runs bubblewrap (every namespace, the mount plan, sized /tmp and /dev/shm, the helper that verifies the mounts and starts the bridge) while it writes the opening events and starts the HTTP and SOCKS5 proxies on Unix sockets, then lets the helper set the resource limits, load seccomp and run `true`; waits for it, writes `session.end` (one fsync) and removes the cgroup. `srt true` runs with its default settings (no settings file). ' +
    `The project workspace holds ${PROJECT_PACKAGES} packages in node_modules (${projectEntries.toLocaleString('en-US')} entries), which Perimeter walks for floating denials such as \`**/.env\` and nested git repositories.`,
  '',
  '| Command | Median ms | p99 ms | Min ms | Added over bare (median) | Runs |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  ...(skipped.length > 0 ? ['', ...skipped.map((s) => `- ${s.label} was not timed: ${s.reason}.`)] : []),
  '',
  '| Target | Measured | Result |',
  '| --- | ---: | --- |',
  ...targets.map((t) => `| ${t.target} | ${t.measured} | ${t.pass ? '**pass**' : '**miss**'} |`),
  '',
  MARK_END,
].join('\n');
writeDocsSection(DOCS, 'sandbox', section);
rmSync(workspace, { recursive: true, force: true });
rmSync(project, { recursive: true, force: true });
rmSync(spools, { recursive: true, force: true });
console.log(
  section
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .join('\n'),
);
