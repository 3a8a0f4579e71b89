// Reporting for the server benchmark: the propagation rounds summarised per backend and fleet
// size, the audit ingest and queries per backend, the targets, the console tables, and the
// Markdown section of docs/benchmarks.md (between <!-- bench:server:start --> and
// <!-- bench:server:end -->, which run.mjs rewrites in place).

import { describeMachine, markers, mdTable, targetsTable, targetsText, textTable } from '../docs-section.mjs';

const { start: MARK_START, end: MARK_END } = markers('server');

/** The p95 the propagation target allows at 10,000 devices (ms). */
export const PROPAGATION_TARGET_MS = 2000;
export const TARGET_DEVICES = 10_000;
/** Audit ingest on SQLite: at least this many events stored per second. */
export const INGEST_TARGET = 20_000;
/** Each question's p99 (the list queries; an export's time grows with its rows). */
export const QUERY_TARGET_MS = 100;

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

/** The median of a round field, rounded to 1/`scale`. */
function medianOf(rounds, field, scale) {
  return Math.round(median(rounds.map((r) => r[field])) * scale) / scale;
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
    serverCores: medianOf(rounds, 'serverCores', 100),
    deviceCores: medianOf(rounds, 'deviceCores', 100),
    // What one device cost per publication: the database's statements and commits, and CPU time.
    statementsPerDevice: medianOf(rounds, 'statementsPerDevice', 100),
    commitsPerDevice: medianOf(rounds, 'commitsPerDevice', 1000),
    serverCpuPerDeviceUs: medianOf(rounds, 'serverCpuPerDeviceUs', 1),
    deviceCpuPerDeviceUs: medianOf(rounds, 'deviceCpuPerDeviceUs', 1),
    // Errors while publications propagated (the online phase's are not counted).
    deviceErrors: rounds.reduce((n, r) => n + r.errorCount, 0),
    firstErrors: rounds.flatMap((r) => r.errors).slice(0, 3),
    profile: rounds.find((r) => r.profile)?.profile,
  };
}

export function summarisePropagation(backends) {
  return backends.map((b) =>
    b.error
      ? { backend: b.backend, error: b.error }
      : { backend: b.backend, database: b.database, sizes: b.sizes.map(summariseSize) },
  );
}

function latency(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: Math.round(percentile(sorted, 0.5) * 100) / 100,
    p99: Math.round(percentile(sorted, 0.99) * 100) / 100,
  };
}

export function summariseAudit(backends, questions) {
  return backends.map((b) => {
    if (b.error) return { backend: b.backend, error: b.error };
    const i = b.ingest;
    const windows = i.windowRates;
    return {
      backend: b.backend,
      database: b.database,
      ingest: {
        events: i.events,
        stored: i.stored,
        duplicates: i.duplicates,
        batches: i.batches,
        mib: Math.round(i.bytes / 2 ** 20),
        gzMib: Math.round(i.gzBytes / 2 ** 20),
        wallS: round1(i.wallMs / 1000),
        eventsPerSecond: Math.round(i.eventsPerSecond),
        windowMin: windows.length ? Math.round(Math.min(...windows)) : null,
        windowMax: windows.length ? Math.round(Math.max(...windows)) : null,
        batchMs: latency(i.batchLatencyMs),
        serverCores: Math.round(i.serverCores * 100) / 100,
        shipperCores: Math.round(i.shipperCores * 100) / 100,
        machineCores: i.machineCores === null ? null : Math.round(i.machineCores * 100) / 100,
        failedBatches: i.errors.length,
        firstError: i.errors[0],
        profile: i.profile,
      },
      queries: questions.map((q) => ({
        key: q.key,
        label: q.label,
        isExport: q.isExport === true,
        ...latency(b.queries[q.key].ms),
        rows: median(b.queries[q.key].rows),
      })),
    };
  });
}

const fmtMs = (ms) =>
  ms === null || ms === undefined
    ? '—'
    : ms >= 10_000
      ? `${(ms / 1000).toFixed(1)} s`
      : `${Math.round(ms).toLocaleString('en')} ms`;
const fmtInt = (x) => Math.round(x).toLocaleString('en');
const fmtQueryMs = (ms) => `${ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en')} ms`;

export function judgeTargets(report) {
  const targets = [];
  for (const b of report.propagation?.summaries ?? []) {
    const at = b.sizes?.find((s) => s.devices === TARGET_DEVICES);
    if (!at) continue;
    const p95 = at.activated.p95;
    const pass = p95 !== null && p95 < PROPAGATION_TARGET_MS;
    targets.push({
      target: `${BACKEND_LABEL[b.backend]}: propagation p95 < 2 s at ${fmtInt(TARGET_DEVICES)} devices`,
      measured: p95 === null ? `> ${fmtMs(report.propagation.config.roundTimeoutMs)}` : fmtMs(p95),
      pass,
      margin:
        p95 === null
          ? `${fmtInt(at.missing)} activations missing`
          : pass
            ? `${fmtMs(PROPAGATION_TARGET_MS - p95)} under`
            : `${(p95 / PROPAGATION_TARGET_MS).toFixed(1)}× the target`,
    });
  }
  for (const b of report.audit?.summaries ?? []) {
    if (b.error) continue;
    if (b.backend === 'sqlite') {
      const rate = b.ingest.eventsPerSecond;
      targets.push({
        target: `SQLite: audit ingest ≥ ${fmtInt(INGEST_TARGET)} events/s`,
        measured: `${fmtInt(rate)}/s`,
        pass: rate >= INGEST_TARGET,
        margin:
          rate >= INGEST_TARGET
            ? `${(rate / INGEST_TARGET).toFixed(2)}× the target`
            : `${Math.round((1 - rate / INGEST_TARGET) * 100)}% short`,
      });
    }
    for (const q of b.queries.filter((x) => !x.isExport))
      targets.push({
        target: `${BACKEND_LABEL[b.backend]}: ${q.label}, p99 < ${QUERY_TARGET_MS} ms`,
        measured: fmtQueryMs(q.p99),
        pass: q.p99 < QUERY_TARGET_MS,
        margin:
          q.p99 < QUERY_TARGET_MS
            ? `${fmtQueryMs(QUERY_TARGET_MS - q.p99)} under`
            : `${(q.p99 / QUERY_TARGET_MS).toFixed(1)}× the target`,
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
    'Per device: statements / commits / server CPU',
    'Device errors',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries.flatMap((b) =>
      b.error
        ? [[BACKEND_LABEL[b.backend], '—', '—', `not run: ${b.error}`, '', '', '', '', '', '', '', '', '']]
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
            `${s.statementsPerDevice} / ${s.commitsPerDevice} / ${fmtInt(s.serverCpuPerDeviceUs)} µs`,
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

const INGEST_PROFILE = {
  header: (p) => ['Server main thread, during the upload', ...p.map((x) => BACKEND_LABEL[x.backend])],
};

const INGEST = {
  header: [
    'Backend',
    'Events stored',
    'Batches',
    'Shipped in',
    'Events/s',
    'Per 5 s, min–max',
    'Batch p50',
    'p99',
    'Cores: server / shippers / machine',
    'Failed batches',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries.map((b) =>
      b.error
        ? [BACKEND_LABEL[b.backend], `not run: ${b.error}`, '', '', '', '', '', '', '', '']
        : [
            BACKEND_LABEL[b.backend],
            fmtInt(b.ingest.stored),
            fmtInt(b.ingest.batches),
            `${b.ingest.wallS} s`,
            fmtInt(b.ingest.eventsPerSecond),
            b.ingest.windowMin === null ? '—' : `${fmtInt(b.ingest.windowMin)}–${fmtInt(b.ingest.windowMax)}`,
            fmtMs(b.ingest.batchMs.p50),
            fmtMs(b.ingest.batchMs.p99),
            `${b.ingest.serverCores.toFixed(2)} / ${b.ingest.shipperCores.toFixed(2)} / ${b.ingest.machineCores?.toFixed(2) ?? '—'}`,
            fmtInt(b.ingest.failedBatches),
          ],
    ),
};

const QUERY = {
  header: (s) => ['Question', ...s.flatMap((b) => [`${BACKEND_LABEL[b.backend]} p50`, 'p99', 'rows'])],
  aligns: (s) => ['l', ...s.flatMap(() => ['r', 'r', 'r'])],
  rows: (s) =>
    (s[0]?.queries ?? []).map((q, i) => [
      q.label,
      ...s.flatMap((b) => {
        const x = b.queries[i];
        return [fmtQueryMs(x.p50), fmtQueryMs(x.p99), fmtInt(x.rows)];
      }),
    ]),
};

export function consoleReport(report) {
  const out = [];
  const s = report.propagation?.summaries;
  if (s) {
    const p = profiles(s);
    out.push(textTable(PROPAGATION.header, PROPAGATION.rows(s), PROPAGATION.aligns), '');
    if (p.length) out.push(textTable(PROFILE.header(p), PROFILE.rows(p), ['l', ...p.map(() => 'r')]), '');
  }
  const a = report.audit?.summaries.filter((b) => !b.error);
  if (report.audit)
    out.push(textTable(INGEST.header, INGEST.rows(report.audit.summaries), INGEST.aligns), '');
  const ip = (a ?? [])
    .filter((b) => b.ingest.profile)
    .map((b) => ({ backend: b.backend, profile: b.ingest.profile }));
  if (ip.length)
    out.push(textTable(INGEST_PROFILE.header(ip), PROFILE.rows(ip), ['l', ...ip.map(() => 'r')]), '');
  if (a?.length) out.push(textTable(QUERY.header(a), QUERY.rows(a), QUERY.aligns(a)), '');
  out.push(targetsText(report.targets));
  return out.join('\n');
}

/** When and where a part was measured, in one sentence. */
const measured = (part) =>
  `Measured ${part.date}; Perimeter ${part.commit}. Load average (1 min) was ${part.loadAverage.before[0]} before and ${part.loadAverage.after[0]} after.`;

function propagationLines(part) {
  const c = part.config;
  const s = part.summaries;
  const p = profiles(s);
  const lines = [
    '### Policy propagation',
    '',
    `${measured(part)} The server ran in a process of its own; the devices ran in ${c.workers} other processes, each device with its own credential, keep-alive connection, ETag and held revision, holding a long poll (\`GET /api/v1/device/bundle?wait=55\`), its HTTP/1.1 written and read by a minimal client of the benchmark's (the same requests as the CLI's, at a fraction of node:http's CPU: the devices share the server's cores here). Devices came online at ${fmtInt(c.onlinePerSecond)} a second. Per fleet size, up to ${c.publishes} publications of a new baseline revision (at most ${Math.round(c.sizeBudgetMs / 1000)} s of publishing per size; a round that had not reached every device after ${Math.round(c.roundTimeoutMs / 1000)} s ends the size). **Activated** = from the start of the publish request to the moment the device had the new bundle verified (signature, organisation, expiry, no rollback) and its policies loaded as its active bundle, in memory (${c.activation === 'shared' ? "a device whose bytes another simulated device in its process had already verified took that outcome and was charged that verification's measured cost as its own, as it would pay on its own machine" : 'every device verified and loaded its bundle itself, on the benchmark’s shared cores'}). **Delivered** = to the moment the device had read the bundle's last byte. Percentiles pool every device of every publication; "p95 per publish" is the range of the single publications' p95. Cores = CPU time of the server process and of the device processes ÷ the round's wall time, median over the publications. Per device = what the server spent per device of the fleet in a publication, from the publish request until it was quiet again (each device's bundle, its report, its next poll): the statements it sent its database, the commits among them, and its CPU time; median over the publications. The verification and load of one bundle cost ${fmtMs(median(s.flatMap((b) => b.sizes ?? []).map((x) => x.activationCostMs)))} on this machine (median over the fleets; what a device pays once per publication, first verification in its process).`,
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
  return lines;
}

function auditLines(part) {
  const c = part.config;
  const s = part.summaries;
  const ok = s.filter((b) => !b.error);
  const first = ok[0]?.ingest;
  const lines = [
    '### Audit ingest',
    '',
    `${measured(part)} ${fmtInt(c.devices)} enrolled devices (one user each), every one with ${fmtInt(c.eventsPerDevice)} events of real \`perimeter run\` sessions: session start and end, the engine's decisions over ACME's policies for a mix of requests on all five surfaces (\`decisionRecord\`), \`network.closed\` facts, each carrying the device's context and sealed into its session's hash chain with \`seal()\`; sessions of about ${c.perSession} events over the last ${c.windowDays} days${first ? ` (${fmtInt(first.events)} events, ${fmtInt(first.mib)} MiB of JSON lines, ${fmtInt(first.gzMib)} MiB gzipped)` : ''}. Made and cut into batches as the CLI's shipper cuts them (at most 5,000 events or 1 MiB, gzipped) before the clock starts, in ${c.processes} shipper processes; then ${c.lanes} uploads at a time (\`POST /api/v1/device/events\`, each device's own credential, its batches in order), until every batch was stored or ${Math.round(c.ingestLimitMs / 1000)} s. Events/s = events the server answered as stored ÷ the time from the first upload to the last answer; "per 5 s" is the slowest and fastest full 5-s window of that run. Cores = CPU time of the server process (its upload-checking threads included) and of the shipper processes ÷ that time, and the whole machine's busy time (PostgreSQL's processes, other work) from /proc/stat.`,
    '',
    mdTable(INGEST.header, INGEST.rows(s), INGEST.aligns),
    '',
  ];
  const profiled = ok.filter((b) => b.ingest.profile);
  if (profiled.length) {
    const p = profiled.map((b) => ({ backend: b.backend, profile: b.ingest.profile }));
    lines.push(
      `**Where the server's time went while storing.** The server process's main thread, profiled for the whole upload (V8 CPU profile, 1 ms sampling; the threads that check uploads are not in it, their CPU is in the cores column). Each sample counts under the first of these that is on its stack.`,
      '',
      mdTable(INGEST_PROFILE.header(p), PROFILE.rows(p), ['l', ...p.map(() => 'r')]),
      '',
    );
  }
  for (const b of ok)
    if (b.ingest.firstError)
      lines.push(
        `${BACKEND_LABEL[b.backend]}: the first failed batch: \`${b.ingest.firstError.replace(/`/g, "'").slice(0, 240)}\``,
        '',
      );
  if (ok.length)
    lines.push(
      '### Audit queries',
      '',
      `Then, over the ${ok.map((b) => `${fmtInt(b.ingest.stored)} events stored in ${BACKEND_LABEL[b.backend]}`).join(' and ')}: the questions an investigation asks — whose agent, what, when — through \`GET /api/v1/orgs/{org}/events\` (default page of 100, newest first) and one export (\`…/events/export\`, every row). One request at a time with an admin token, the questions taking turns, each asked for a different user every round; up to ${fmtInt(c.repeats)} rounds or ${Math.round(c.queryBudgetMs / 1000)} s. Time = from the request to the answer's last byte; rows = the median number of events (or CSV rows) the answer held.`,
      '',
      mdTable(QUERY.header(ok), QUERY.rows(ok), QUERY.aligns(ok)),
      '',
    );
  return lines;
}

export function markdownSection(report) {
  const pg = report.postgresVersion ? `PostgreSQL ${report.postgresVersion} on 127.0.0.1` : 'PostgreSQL';
  return [
    MARK_START,
    '<!-- Generated by `npm run bench:server` (bench/server/run.mjs); edits between these markers are overwritten. -->',
    '',
    '## Control plane',
    '',
    `On ${describeMachine(report.machine)}; the server (\`startServer\`, in a process of its own) on SQLite in a temp directory (WAL; synchronous=NORMAL, with an fdatasync of the WAL before any write is acknowledged) and on ${pg} (a fresh database each run).`,
    '',
    ...(report.propagation ? propagationLines(report.propagation) : []),
    ...(report.audit ? auditLines(report.audit) : []),
    '### Targets',
    '',
    targetsTable(report.targets),
    '',
    "Docker's AI Governance promises policy on machines within 5 minutes; Cloudflare Gateway within 60 seconds; Claude Code's server-managed settings are polled hourly (docs/research anchors, not measured here).",
    '',
    MARK_END,
  ].join('\n');
}
