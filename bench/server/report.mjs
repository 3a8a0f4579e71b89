// Reporting for the server benchmark: the propagation rounds summarised per backend and fleet
// size, the targets, the console tables, and the Markdown section of docs/benchmarks.md (between
// <!-- bench:server:start --> and <!-- bench:server:end -->, which run.mjs rewrites in place).

import { describeMachine, markers, mdTable, textTable } from '../docs-section.mjs';

const { start: MARK_START, end: MARK_END } = markers('server');

/** The p95 the propagation target allows at 10,000 devices (ms). */
export const PROPAGATION_TARGET_MS = 2000;
export const TARGET_DEVICES = 10_000;

const BACKEND_LABEL = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

/**
 * Nearest-rank percentile of an ascending array of `n` values, of which the last `n -
 * sorted.length` are missing (devices that did not activate within the round): Infinity there.
 */
function percentile(sorted, q, n = sorted.length) {
  if (n === 0) return NaN;
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return rank < sorted.length ? sorted[rank] : Infinity;
}

/** One decimal; null for a percentile that fell on a missing activation (beyond the round's limit). */
const round1 = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const median = (xs) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

function spread(values, missing) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length + missing;
  return {
    p50: round1(percentile(sorted, 0.5, n)),
    p95: round1(percentile(sorted, 0.95, n)),
    p99: round1(percentile(sorted, 0.99, n)),
    max: missing > 0 ? null : round1(sorted.at(-1)),
  };
}

/** One backend's one fleet size: the rounds pooled (every device of every publication). */
function summariseSize(size) {
  const rounds = size.rounds;
  const missing = rounds.reduce((n, r) => n + r.missing, 0);
  const perRoundP95 = rounds.map((r) => spread(r.activated, r.missing).p95);
  return {
    devices: size.devices,
    onlineS: round1(size.onlineS),
    publishes: rounds.length,
    activations: rounds.reduce((n, r) => n + r.activated.length, 0),
    missing,
    activated: spread(
      rounds.flatMap((r) => r.activated),
      missing,
    ),
    delivered: spread(
      rounds.flatMap((r) => r.delivered),
      missing,
    ),
    perRoundP95,
    activationCostMs: round1(median(rounds.flatMap((r) => r.activationCost))),
    publishMs: round1(median(rounds.map((r) => r.publishMs))),
    serverCores: Math.round(median(rounds.map((r) => r.serverCores)) * 100) / 100,
    deviceCores: Math.round(median(rounds.map((r) => r.deviceCores)) * 100) / 100,
    // Errors while publications propagated (the online phase's are not counted).
    deviceErrors: rounds.reduce((n, r) => n + r.errorCount, 0),
    firstErrors: rounds.flatMap((r) => r.errors).slice(0, 3),
    profile: rounds.find((r) => r.profile)?.profile,
  };
}

export function summarise(backends) {
  return backends.map((b) =>
    b.error
      ? { backend: b.backend, error: b.error }
      : { backend: b.backend, database: b.database, sizes: b.sizes.map(summariseSize) },
  );
}

const fmtMs = (ms) =>
  ms === null || ms === undefined
    ? '—'
    : ms >= 10_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.round(ms).toLocaleString('en')} ms`;
const fmtInt = (x) => Math.round(x).toLocaleString('en');

export function judgeTargets(summaries, config) {
  const targets = [];
  for (const b of summaries) {
    const at = b.sizes?.find((s) => s.devices === TARGET_DEVICES);
    if (!at) continue;
    const p95 = at.activated.p95;
    const pass = p95 !== null && p95 < PROPAGATION_TARGET_MS;
    targets.push({
      target: `${BACKEND_LABEL[b.backend]}: propagation p95 < 2 s at ${fmtInt(TARGET_DEVICES)} devices`,
      measured: p95 === null ? `> ${fmtMs(config.roundTimeoutMs)}` : fmtMs(p95),
      pass,
      margin:
        p95 === null
          ? `${fmtInt(at.missing)} activations missing`
          : pass
            ? `${fmtMs(PROPAGATION_TARGET_MS - p95)} under`
            : `${(p95 / PROPAGATION_TARGET_MS).toFixed(1)}× the target`,
    });
  }
  return targets;
}

const PROPAGATION = {
  header: [
    'Backend',
    'Devices',
    'Publishes',
    'Activated p50',
    'p95',
    'p99',
    'max',
    'p95 per publish',
    'Delivered p95',
    'Publish request',
    'Cores: server / devices',
    'Device errors',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries.flatMap((b) =>
      b.error
        ? [[BACKEND_LABEL[b.backend], '—', '—', `not run: ${b.error}`, '', '', '', '', '', '', '', '']]
        : b.sizes.map((s) => [
            BACKEND_LABEL[b.backend],
            fmtInt(s.devices),
            String(s.publishes),
            fmtMs(s.activated.p50),
            fmtMs(s.activated.p95),
            fmtMs(s.activated.p99),
            s.missing ? `> round limit (${fmtInt(s.missing)} missing)` : fmtMs(s.activated.max),
            s.perRoundP95.length > 1
              ? `${fmtMs(Math.min(...s.perRoundP95.map((x) => x ?? Infinity)))}–${s.perRoundP95.includes(null) ? '>limit' : fmtMs(Math.max(...s.perRoundP95))}`
              : fmtMs(s.perRoundP95[0]),
            fmtMs(s.delivered.p95),
            fmtMs(s.publishMs),
            `${s.serverCores.toFixed(2)} / ${s.deviceCores.toFixed(2)}`,
            fmtInt(s.deviceErrors),
          ]),
    ),
};

function profiles(summaries) {
  return summaries.flatMap((b) =>
    (b.sizes ?? [])
      .filter((s) => s.profile)
      .map((s) => ({ backend: b.backend, devices: s.devices, profile: s.profile })),
  );
}

const PROFILE = {
  header: (p) => [
    'Server process, profiled publication',
    ...p.map((x) => `${BACKEND_LABEL[x.backend]}, ${fmtInt(x.devices)} devices`),
  ],
  rows: (p) => {
    const keys = [...new Set(p.flatMap((x) => x.profile.categories.map((c) => c.key)))];
    const labelOf = (key) => p.flatMap((x) => x.profile.categories).find((c) => c.key === key).label;
    const rows = keys.map((key) => [
      labelOf(key),
      ...p.map((x) => {
        const c = x.profile.categories.find((y) => y.key === key);
        return c ? `${c.share.toFixed(1)}% (${fmtMs(c.ms)})` : '—';
      }),
    ]);
    return [...rows, ['profile length (wall)', ...p.map((x) => fmtMs(x.profile.wallMs))]];
  },
};

export function consoleReport(report) {
  const s = report.propagation.summaries;
  const p = profiles(s);
  const targets = report.targets.map((t) => [t.pass ? 'PASS' : 'MISS', t.target, t.measured, t.margin]);
  return [
    textTable(PROPAGATION.header, PROPAGATION.rows(s), PROPAGATION.aligns),
    ...(p.length ? ['', textTable(PROFILE.header(p), PROFILE.rows(p), ['l', ...p.map(() => 'r')])] : []),
    '',
    textTable(['', 'Target', 'Measured', ''], targets, ['l', 'l', 'r', 'l']),
  ].join('\n');
}

export function markdownSection(report) {
  const c = report.config;
  const s = report.propagation.summaries;
  const p = profiles(s);
  const pg = report.postgresVersion ? `PostgreSQL ${report.postgresVersion} on 127.0.0.1` : 'PostgreSQL';
  const lines = [
    MARK_START,
    '<!-- Generated by `npm run bench:server` (bench/server/run.mjs); edits between these markers are overwritten. -->',
    '',
    '## Control plane',
    '',
    `Measured ${report.date} on ${describeMachine(report.machine)}; Perimeter ${report.commit}; SQLite in a temp directory (WAL, synchronous=FULL) and ${pg} (a fresh database each run). Load average (1 min) was ${report.loadAverage.before[0]} before and ${report.loadAverage.after[0]} after the run.`,
    '',
    '### Policy propagation',
    '',
    `The server ran in a process of its own; the devices ran in ${c.workers} other processes, each device with its own credential, keep-alive connection, ETag and held revision, holding a long poll (\`GET /api/v1/device/bundle?wait=55\`). Devices came online at ${fmtInt(c.onlinePerSecond)} a second. Per fleet size, up to ${c.publishes} publications of a new baseline revision (at most ${Math.round(c.sizeBudgetMs / 1000)} s of publishing per size; a round that had not reached every device after ${Math.round(c.roundTimeoutMs / 1000)} s ends the size). **Activated** = from the start of the publish request to the moment the device had the new bundle verified (signature, organisation, expiry, no rollback) and its policies loaded as its active bundle, in memory (${c.activation === 'shared' ? "a device whose bytes another simulated device in its process had already verified took that outcome and was charged that verification's measured cost as its own, as it would pay on its own machine" : 'every device verified and loaded its bundle itself, on the benchmark’s shared cores'}). **Delivered** = to the moment the device had read the bundle's last byte. Percentiles pool every device of every publication; "p95 per publish" is the range of the single publications' p95. Cores = CPU time of the server process and of the device processes ÷ the round's wall time, median over the publications. The verification and load of one bundle cost ${fmtMs(median(s.flatMap((b) => b.sizes ?? []).map((x) => x.activationCostMs)))} on this machine (median over the fleets; what a device pays once per publication, first verification in its process).`,
    '',
    mdTable(PROPAGATION.header, PROPAGATION.rows(s), PROPAGATION.aligns),
    '',
  ];
  for (const b of s)
    for (const x of b.sizes ?? [])
      if (x.firstErrors.length)
        lines.push(
          `${BACKEND_LABEL[b.backend]}, ${fmtInt(x.devices)} devices: ${fmtInt(x.deviceErrors)} device errors (each retried after the agent's backoff); the first: \`${x.firstErrors[0].replace(/`/g, "'").slice(0, 240)}\``,
          '',
        );
  if (p.length)
    lines.push(
      `**Where the server's time went.** The first publication at the largest fleet of each backend was profiled (V8 CPU profile of the server process, 1 ms sampling, from the publish request to the last device back in its long poll). Each sample counts under the first of these that is on its stack.`,
      '',
      mdTable(PROFILE.header(p), PROFILE.rows(p), ['l', ...p.map(() => 'r')]),
      '',
    );
  lines.push(
    '### Targets',
    '',
    mdTable(
      ['Target', 'Measured', 'Result'],
      report.targets.map((t) => [t.target, t.measured, `**${t.pass ? 'pass' : 'miss'}**: ${t.margin}`]),
      ['l', 'r', 'l'],
    ),
    '',
    "Docker's AI Governance promises policy on machines within 5 minutes; Cloudflare Gateway within 60 seconds; Claude Code's server-managed settings are polled hourly (docs/research anchors, not measured here).",
    '',
    MARK_END,
  );
  return lines.join('\n');
}
