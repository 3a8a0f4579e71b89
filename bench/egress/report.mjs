// Reporting for the egress benchmark: per-peer summaries of the raw samples, the targets, the
// console tables, and the Markdown section of docs/benchmarks.md (between
// <!-- bench:egress:start --> and <!-- bench:egress:end -->, which run.mjs rewrites in place).

import { describeMachine, markers, mdTable, targetsTable, targetsText, textTable } from '../docs-section.mjs';

const { start: MARK_START, end: MARK_END } = markers('egress');

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
const round = (x, digits) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

function rates(samples, directMedian) {
  const mbps = samples.map((s) => s.mbps).sort((a, b) => a - b);
  const m = median(mbps);
  return {
    transfers: mbps.length,
    medianMBps: round(m, 0),
    minMBps: round(mbps[0], 0),
    maxMBps: round(mbps[mbps.length - 1], 0),
    ratioToDirect: directMedian === undefined ? null : round(m / directMedian, 3),
  };
}

function latencies(ns, directSorted) {
  const us = ns.map((x) => x / 1000).sort((a, b) => a - b);
  const p50 = percentile(us, 0.5);
  const p99 = percentile(us, 0.99);
  return {
    samples: us.length,
    p50Us: round(p50, 1),
    p99Us: round(p99, 1),
    addedP50Us: directSorted ? round(p50 - percentile(directSorted, 0.5), 1) : null,
    addedP99Us: directSorted ? round(p99 - percentile(directSorted, 0.99), 1) : null,
  };
}

/** Cores in use on average while a peer was measured: the driver, the proxy, everything else. */
function cores(o) {
  const wallUs = o.wallMs * 1000;
  if (wallUs <= 0) return null;
  const driver = o.driverCpuUs / wallUs;
  const proxy = o.peerCpuUs / wallUs;
  // Softirq (loopback TCP) mostly runs in the context of the process that sends and is counted in
  // its CPU time, so "rest" is what neither the driver nor the proxy used: other processes, and
  // kernel threads (ksoftirqd picks up loopback work when the sender is preempted).
  const machine = o.machineBusyUs / wallUs;
  return {
    driver: round(driver, 2),
    proxy: round(proxy, 2),
    rest: o.machineBusyUs > 0 ? round(Math.max(0, machine - driver - proxy), 2) : null,
    softirq: o.machineBusyUs > 0 ? round(o.softirqUs / wallUs, 2) : null,
  };
}

/** Turns the raw phase results into one summary per peer (direct is the reference). */
export function summarise(peers, throughput, latency, unusedClose, memory) {
  const t = throughput.results;
  const l = latency.results;
  const directUp = t.direct?.upload.length ? median(t.direct.upload.map((s) => s.mbps)) : undefined;
  const directDown = t.direct?.download.length ? median(t.direct.download.map((s) => s.mbps)) : undefined;
  const sortedUs = (ns) => ns.map((x) => x / 1000).sort((a, b) => a - b);
  const directTunnel = l.direct?.tunnelNs.length ? sortedUs(l.direct.tunnelNs) : undefined;
  const directExchange = l.direct?.exchangeNs.length ? sortedUs(l.direct.exchangeNs) : undefined;
  return peers.map((p) => {
    if (p.error) return { key: p.key, label: p.label, error: p.error };
    const tp = t[p.key];
    const lp = l[p.key];
    const isDirect = p.key === 'direct';
    const connections = lp.tunnelNs.length;
    return {
      key: p.key,
      label: p.label,
      version: p.version,
      upload: rates(tp.upload, isDirect ? undefined : directUp),
      download: rates(tp.download, isDirect ? undefined : directDown),
      // CPU time of the proxy's process per GiB it relayed (each byte once in, once out).
      proxyCpuMsPerGiB: isDirect ? null : round(tp.peerCpuUs / 1000 / (tp.bytes / GIB), 0),
      // Minor page faults of the proxy's process per GiB relayed: fresh pages for read buffers
      // after the allocator gave memory back to the system (see docs/benchmarks.md).
      proxyMinorFaultsPerGiB: isDirect ? null : round(tp.peerMinorFaults / (tp.bytes / GIB), 0),
      throughputCores: cores(tp),
      latencyCores: cores(lp),
      tunnel: latencies(lp.tunnelNs, isDirect ? undefined : directTunnel),
      exchange: latencies(lp.exchangeNs, isDirect ? undefined : directExchange),
      proxyCpuUsPerConnection: isDirect || connections === 0 ? null : round(lp.peerCpuUs / connections, 0),
      rssMiB: isDirect ? null : round(memory[p.key] / MIB, 0),
      unusedClose: unusedClose[p.key] ?? null,
      errors: [...tp.errors, ...lp.errors],
    };
  });
}

const fmtInt = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const fmtUs = (us) =>
  us === null || us === undefined
    ? '—'
    : Math.abs(us) >= 100
      ? us.toFixed(0)
      : Math.abs(us) >= 10
        ? us.toFixed(1)
        : us.toFixed(2);
const fmtPct = (x) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`);
const signed = (us) =>
  us === null || us === undefined ? '—' : `${us >= 0 ? '+' : '−'}${fmtUs(Math.abs(us))}`;

function fmtCores(c) {
  if (!c) return '—';
  const f = (x) => (x === null ? '?' : x.toFixed(2));
  return `${f(c.driver)} / ${f(c.proxy)} / ${f(c.rest)}`;
}

/** The targets from the issue, judged (never asserted) on Perimeter's rows. */
export function judgeTargets(summaries) {
  const out = [];
  for (const s of summaries.filter((x) => x.key.startsWith('perimeter') && !x.error)) {
    for (const direction of ['upload', 'download']) {
      const r = s[direction].ratioToDirect;
      out.push({
        target: `${s.label}: CONNECT ${direction} ≥ 80% of direct`,
        measured: fmtPct(r),
        pass: r !== null && r >= 0.8,
        margin:
          r === null
            ? 'not measured'
            : `${Math.abs(Math.round((r - 0.8) * 100))} points ${r >= 0.8 ? 'above' : 'short'}`,
      });
    }
    const added = s.tunnel.addedP50Us;
    out.push({
      target: `${s.label}: added connect latency p50 < 1 ms`,
      measured: `${fmtUs(added)} µs`,
      pass: added !== null && added < 1000,
      margin:
        added === null
          ? 'not measured'
          : `${fmtUs(Math.abs(1000 - added))} µs ${added < 1000 ? 'under' : 'over'}`,
    });
  }
  return out;
}

const ok = (s) => !s.error;

const THROUGHPUT = {
  header: [
    'Peer',
    'Upload MB/s',
    '(min–max)',
    '× direct',
    'Download MB/s',
    '(min–max)',
    '× direct',
    'Proxy CPU s/GiB',
    'Proxy page faults/GiB',
    'Cores: driver / proxy / rest',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries
      .filter(ok)
      .map((s) => [
        s.label,
        fmtInt(s.upload.medianMBps),
        `${fmtInt(s.upload.minMBps)}–${fmtInt(s.upload.maxMBps)}`,
        s.key === 'direct' ? 'reference' : fmtPct(s.upload.ratioToDirect),
        fmtInt(s.download.medianMBps),
        `${fmtInt(s.download.minMBps)}–${fmtInt(s.download.maxMBps)}`,
        s.key === 'direct' ? 'reference' : fmtPct(s.download.ratioToDirect),
        s.proxyCpuMsPerGiB === null ? '—' : (s.proxyCpuMsPerGiB / 1000).toFixed(2),
        fmtInt(s.proxyMinorFaultsPerGiB),
        fmtCores(s.throughputCores),
      ]),
};

const LATENCY = {
  header: [
    'Peer',
    'Connect p50 µs',
    'p99 µs',
    'Added p50 µs',
    'Added p99 µs',
    'First exchange p50 µs',
    'p99 µs',
    'Proxy CPU µs/conn',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries
      .filter(ok)
      .map((s) => [
        s.label,
        fmtUs(s.tunnel.p50Us),
        fmtUs(s.tunnel.p99Us),
        s.key === 'direct' ? 'reference' : signed(s.tunnel.addedP50Us),
        s.key === 'direct' ? 'reference' : signed(s.tunnel.addedP99Us),
        fmtUs(s.exchange.p50Us),
        fmtUs(s.exchange.p99Us),
        fmtInt(s.proxyCpuUsPerConnection),
      ]),
};

const HYGIENE = {
  header: ['Peer', 'Tunnels closed unused', 'Still open after settle', 'Proxy RSS MiB at end'],
  aligns: ['l', 'r', 'r', 'r'],
  rows: (summaries) =>
    summaries
      .filter((s) => ok(s) && s.unusedClose)
      .map((s) => [
        s.label,
        fmtInt(s.unusedClose.opened),
        `${fmtInt(s.unusedClose.stillOpen)} (${(s.unusedClose.settleMs / 1000).toFixed(1)} s)`,
        fmtInt(s.rssMiB),
      ]),
};

export function consoleReport(report) {
  const s = report.summaries;
  const failed = s.filter((x) => x.error).map((x) => `${x.label}: not run (${x.error})`);
  return [
    textTable(THROUGHPUT.header, THROUGHPUT.rows(s), THROUGHPUT.aligns),
    '',
    textTable(LATENCY.header, LATENCY.rows(s), LATENCY.aligns),
    '',
    textTable(HYGIENE.header, HYGIENE.rows(s), HYGIENE.aligns),
    '',
    targetsText(report.targets),
    ...(failed.length ? ['', ...failed] : []),
  ].join('\n');
}

function sampleCounts(summaries) {
  const counts = summaries.filter(ok).map((x) => x.tunnel.samples);
  if (counts.every((n) => n === counts[0])) return `${fmtInt(counts[0])} samples per peer`;
  return `samples: ${summaries
    .filter(ok)
    .map((x) => `${x.label} ${fmtInt(x.tunnel.samples)}`)
    .join(', ')}`;
}

const GiB = (bytes) => `${(bytes / GIB).toFixed(1)} GiB`;

export function markdownSection(report) {
  const c = report.config;
  const s = report.summaries;
  const versionOf = (key) => s.find((x) => x.key === key && ok(x))?.version;
  const versions = [
    versionOf('perimeter') && `Perimeter ${report.commit}`,
    versionOf('proxyChain') && `proxy-chain ${versionOf('proxyChain')}`,
    versionOf('srt') && `@anthropic-ai/sandbox-runtime ${versionOf('srt')}`,
  ]
    .filter(Boolean)
    .join(', ');
  const failed = s.filter((x) => x.error);
  const leaks = s.filter((x) => ok(x) && x.unusedClose && x.unusedClose.stillOpen > 0);
  const lines = [
    MARK_START,
    '<!-- Generated by `npm run bench:egress` (bench/egress/run.mjs); edits between these markers are overwritten. -->',
    '',
    '## Egress proxy',
    '',
    `Measured ${report.date} on ${describeMachine(report.machine)}; ${versions}.` +
      ` Each proxy ran in a child process of its own, listening on 127.0.0.1 and allowed to reach only the sink; the client and the sink (a loopback TCP server standing in for the origin) share the driver process, so their cost is the same with and without a proxy.` +
      ` Load average (1 min) was ${report.loadAverage.before[0]} before and ${report.loadAverage.after[0]} after the run.`,
    '',
    `**Throughput.** Per peer and round, one upload (client → sink) and one download (sink → client) of ${c.throughput.bytes / MIB} MiB through a fresh CONNECT tunnel (the tunnel's set-up is not timed), written in ${c.chunkBytes / 1024} KiB chunks with back-pressure, timed from the first byte to the last (an upload until the sink acknowledges it); ${report.throughput.rounds} rounds, peers in rotating order, after one ${c.throughput.warmupBytes / MIB} MiB warm-up each way. MB/s is 10⁶ bytes/s; the table shows the median over the rounds, the slowest and fastest round, the proxy process's CPU time (user + system) and minor page faults per GiB relayed, and the cores in use on average while the peer was timed: the driver (client and sink), the proxy, and the rest of the machine (other processes and kernel threads; from /proc/stat). ${GiB(report.bytesMoved)} moved in all.`,
    '',
    mdTable(THROUGHPUT.header, THROUGHPUT.rows(s), THROUGHPUT.aligns),
    '',
    `**Connect latency.** Sequential connections: the time from \`connect()\` to the proxy's \`200 Connection Established\` (direct: to the TCP connection), and to the end of a first exchange (a 9-byte message to the sink and its 1-byte answer, through the tunnel). ${c.latency.warmup} warm-up connections per peer, then ${report.latency.rounds} rounds of up to ${Math.ceil(c.latency.samples / c.latency.rounds)} connections (or ${(c.latency.roundMs / 1000).toFixed(1)} s) per peer, in rotating order; ${sampleCounts(s)}. Added = the peer's percentile minus direct's.`,
    '',
    mdTable(LATENCY.header, LATENCY.rows(s), LATENCY.aligns),
    '',
    `**Tunnels closed unused.** After the measurements, ${c.unusedClose.count} tunnels per proxy that the client half-closes right after the 200, before sending a byte (a client that gives up, or loses a connection race); then how many the proxy still holds open after up to ${(c.unusedClose.settleMs / 1000).toFixed(1)} s (the proxy server's own count of open client connections).`,
    '',
    mdTable(HYGIENE.header, HYGIENE.rows(s), HYGIENE.aligns),
    '',
    '### Targets',
    '',
    targetsTable(report.targets),
    '',
    '### Peers and how they were set up',
    '',
    ...report.setup.map((line) => `- ${line}`),
    ...failed.map((x) => `- ${x.label} could not be started: ${x.error}`),
    ...leaks.map(
      (x) =>
        `- ${x.label} still held ${x.unusedClose.stillOpen} of ${x.unusedClose.opened} unused tunnels open after ${(x.unusedClose.settleMs / 1000).toFixed(1)} s.`,
    ),
    '',
    MARK_END,
  ];
  return lines.join('\n');
}
