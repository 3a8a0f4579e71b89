// Reporting for the MCP benchmark: summaries of the raw samples, the targets of the issue (judged,
// never asserted), the console tables and the Markdown section of docs/benchmarks.md (between
// <!-- bench:mcp:start --> and <!-- bench:mcp:end -->, which run.mjs rewrites in place).

import { describeMachine, markers, mdTable, textTable } from '../docs-section.mjs';

const { start: MARK_START, end: MARK_END } = markers('mcp');

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round = (x, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** p50, p99, mean, min and max of samples in ms. */
export function distribution(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: round(percentile(s, 0.5)),
    p99: round(percentile(s, 0.99)),
    mean: round(mean(s)),
    min: round(s[0]),
    max: round(s[s.length - 1]),
  };
}

/** One summary per configuration from its timed rounds; `direct` is the reference. */
export function summariseCalls(configs, rounds, gatewaySamples) {
  const out = [];
  for (const c of configs) {
    if (c.error) {
      out.push({ key: c.key, label: c.label, error: c.error });
      continue;
    }
    const rs = rounds[c.key] ?? [];
    const all = rs.flatMap((r) => r.ms);
    const wallMs = rs.reduce((a, r) => a + r.wallMs, 0);
    const driverCpuUs = rs.reduce((a, r) => a + r.driverCpuUs, 0);
    const peerCpu = rs.every((r) => Number.isFinite(r.peerCpuUs))
      ? rs.reduce((a, r) => a + r.peerCpuUs, 0)
      : null;
    const calls = all.length;
    const g = gatewaySamples[c.key];
    out.push({
      key: c.key,
      label: c.label,
      ...distribution(all),
      callsPerSecond: round(calls / (wallMs / 1000), 0),
      wallMs: round(wallMs, 1),
      driverCpuUsPerCall: round(driverCpuUs / calls, 1),
      peerCpuUsPerCall: peerCpu === null ? null : round(peerCpu / calls, 1),
      roundP50s: rs.map((r) =>
        round(
          percentile(
            [...r.ms].sort((a, b) => a - b),
            0.5,
          ),
        ),
      ),
      errors: rs.flatMap((r) => r.errors),
      ...(g && g.gatewayMs.length
        ? { gatewayMs: distribution(g.gatewayMs), upstreamMs: distribution(g.upstreamMs) }
        : {}),
    });
  }
  const direct = out.find((s) => s.key === 'direct' && !s.error);
  for (const s of out) {
    if (s.error || !direct || s.key === 'direct') continue;
    s.addedP50 = round(s.p50 - direct.p50);
    s.addedP99 = round(s.p99 - direct.p99);
    s.addedMean = round(s.mean - direct.mean);
    s.p50Ratio = round(s.p50 / direct.p50, 2);
    s.throughputRatio = round(s.callsPerSecond / direct.callsPerSecond, 2);
  }
  return out;
}

const ms = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(3));
const signed = (x) =>
  x === null || x === undefined ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
const int = (x) => (x === null || x === undefined ? '—' : Math.round(x).toLocaleString('en-US'));
const times = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(2)}×`);

/** The issue's targets, judged on Perimeter's rows. */
export function judgeTargets(calls) {
  const get = (k) => calls.find((s) => s.key === k && !s.error);
  const inproc = get('perimeterInProcess');
  const stdio = get('perimeterStdio');
  const http = get('perimeterHttp');
  const out = [];
  // What a gateway adds over calling the upstream directly, and over a relay of the same upstream
  // by the same transport: over stdio, one more stdio hop that checks nothing; over HTTP, the bare
  // relay (the transport's floor) and the two peers.
  const over = (own, peer, peerName = peer?.label) => {
    if (!own || !peer) return;
    for (const [what, limit] of [
      ['p50', 0.5],
      ['p99', 2],
    ]) {
      const v = round(own[what] - peer[what]);
      out.push({
        target: `${own.label}: added ${what} over ${peerName} < ${limit} ms`,
        measured: `${signed(v)} ms`,
        pass: v < limit,
        marginal: Math.abs(v - limit) < 0.1 * limit,
      });
    }
  };
  const direct = get('direct');
  for (const own of [inproc, stdio, http]) over(own, direct, 'direct');
  over(stdio, get('bareStdioRelay'));
  for (const peerKey of ['bareRelay', 'mcpProxy', 'supergateway']) over(http, get(peerKey));
  // Faster than each relay, client for client: 2025-era sessions, and 2026-07-28 requests.
  for (const [ownKey, peerKey] of [
    ['perimeterHttp', 'mcpProxy'],
    ['perimeterHttp', 'supergateway'],
    ['perimeterHttpModern', 'mcpProxyModern'],
  ]) {
    const http = get(ownKey);
    const peer = calls.find((s) => s.key === peerKey);
    if (!http) continue;
    if (!peer || peer.error) {
      out.push({
        target: `faster than ${peer?.label ?? peerKey}`,
        measured: `not measured (${peer?.error ?? 'missing'})`,
        pass: null,
      });
      continue;
    }
    out.push({
      target: `${http.label} faster than ${peer.label}: lower p50 and more calls/s`,
      measured: `p50 ${ms(http.p50)} vs ${ms(peer.p50)} ms; ${int(http.callsPerSecond)} vs ${int(peer.callsPerSecond)} calls/s`,
      pass: http.p50 < peer.p50 && http.callsPerSecond > peer.callsPerSecond,
      // Within 5 % on either measure: the next run may say otherwise.
      marginal:
        Math.abs(http.p50 - peer.p50) < 0.05 * peer.p50 ||
        Math.abs(http.callsPerSecond - peer.callsPerSecond) < 0.05 * peer.callsPerSecond,
    });
  }
  return out;
}

const CALLS = {
  header: [
    'Configuration',
    'p50 ms',
    'p99 ms',
    'mean ms',
    'calls/s',
    'added p50 ms',
    'added p99 ms',
    'p50 × direct',
    'round p50s ms',
    'driver CPU µs/call',
    'proxy CPU µs/call',
    'calls',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (calls) =>
    calls
      .filter((s) => !s.error)
      .map((s) => [
        s.label,
        ms(s.p50),
        ms(s.p99),
        ms(s.mean),
        int(s.callsPerSecond),
        s.key === 'direct' ? 'reference' : signed(s.addedP50),
        s.key === 'direct' ? 'reference' : signed(s.addedP99),
        s.key === 'direct' ? 'reference' : times(s.p50Ratio),
        s.roundP50s.length ? `${ms(Math.min(...s.roundP50s))}–${ms(Math.max(...s.roundP50s))}` : '—',
        int(s.driverCpuUsPerCall),
        s.peerCpuUsPerCall === null ? '—' : int(s.peerCpuUsPerCall),
        int(s.n),
      ]),
};

const GATEWAY = {
  header: ['Configuration', 'gateway_ms p50', 'p99', 'mean', 'upstream_ms p50', 'p99', 'events'],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (calls) =>
    calls
      .filter((s) => s.gatewayMs)
      .map((s) => [
        s.label,
        ms(s.gatewayMs.p50),
        ms(s.gatewayMs.p99),
        ms(s.gatewayMs.mean),
        ms(s.upstreamMs.p50),
        ms(s.upstreamMs.p99),
        int(s.gatewayMs.n),
      ]),
};

const LIST_PEERS = {
  header: ['Configuration', 'tools', 'p50 ms', 'p99 ms', 'mean ms', 'lists'],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r'],
  rows: (lists) =>
    lists
      .filter((l) => !l.error)
      .map((l) => [l.label, int(l.tools), ms(l.p50), ms(l.p99), ms(l.mean), int(l.n)]),
};

const LIST_UPSTREAMS = {
  header: [
    'Upstreams',
    'tools listed',
    'cold first use ms',
    'first use: first list ms',
    'cold restart median ms',
    'restart max ms',
    'restart: start() ms',
    'restart: first list ms',
    'warm p50 ms',
    'warm p99 ms',
    'warm lists',
  ],
  aligns: ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (multi) =>
    multi.map((m) => [
      m.label ?? String(m.upstreams),
      int(m.tools),
      m.firstUseMs === null ? '—' : m.firstUseMs.toFixed(0),
      m.firstUse ? m.firstUse.firstListMs.toFixed(0) : '—',
      m.restart.n ? m.restart.median.toFixed(0) : '—',
      m.restart.n ? m.restart.max.toFixed(0) : '—',
      m.restart.n ? m.restart.startMedian.toFixed(0) : '—',
      m.restart.n ? m.restart.firstListMedian.toFixed(0) : '—',
      ms(m.warm.p50),
      ms(m.warm.p99),
      int(m.warm.n),
    ]),
};

const SANDBOXED = {
  header: [
    'Configuration',
    'tools',
    'median ms',
    'p99/max ms',
    'min ms',
    'added over direct (median) ms',
    'process start ms',
    'upstreams ready ms',
    'first list ms',
    'starts',
  ],
  aligns: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  rows: (sandboxed) =>
    sandboxed.rows
      .filter((r) => !r.error)
      .map((r) => {
        const whole = (x) => (x === null || x === undefined ? '—' : x.toFixed(0));
        return [
          r.label,
          int(r.tools),
          whole(r.p50),
          whole(r.p99),
          whole(r.min),
          r.kind === 'direct' ? 'reference' : r.addedP50 === undefined ? '—' : `+${whole(r.addedP50)}`,
          whole(r.phases?.processMs),
          whole(r.phases?.upstreamsMs),
          whole(r.phases?.listMs),
          `${int(r.n)}${r.errors?.length ? ` (${r.errors.length} failed)` : ''}`,
        ];
      }),
};

/**
 * What one more upstream costs (medians): half the difference between the 1- and 3-upstream rows
 * of the same kind, for each kind measured with both.
 */
export function perExtraUpstream(sandboxed) {
  const out = {};
  for (const kind of ['direct', 'firstUse', 'restart']) {
    const one = sandboxed.rows.find((r) => r.kind === kind && r.upstreams === 1 && r.n);
    const three = sandboxed.rows.find((r) => r.kind === kind && r.upstreams === 3 && r.n);
    if (one && three) out[kind] = round((three.p50 - one.p50) / 2, 0);
  }
  return out;
}

function sandboxedText(report) {
  const c = report.config;
  const sb = report.sandboxedCold;
  const extra = perExtraUpstream(sb);
  const failed = sb.rows.filter((r) => r.error);
  const per = [
    extra.firstUse !== undefined ? `${extra.firstUse} ms at first use` : null,
    extra.restart !== undefined ? `${extra.restart} ms at a restart` : null,
  ].filter(Boolean);
  return [
    '### Cold start of `perimeter mcp` with sandboxed upstreams',
    '',
    `The real CLI as an agent starts it: the SDK's \`Client\` with \`StdioClientTransport\` spawns \`node packages/cli/bin/perimeter.js mcp --policy FILE --audit FILE --workspace DIR\` (the policy above, its catalog entries with \`sandbox: { read: [${sb.sandboxRead.map((p) => `"${p}"`).join(', ')}] }\` so that server-everything and its dependencies are readable; the workspace is ${sb.workspace}), timed from the spawn to the first \`tools/list\` answered. The gateway starts every copy of server-everything at once, each in a sandbox of its own (bubblewrap with every namespace, the mount plan and seccomp, an egress proxy of its own), and serves once all are ready. First use: a new \`XDG_STATE_HOME\` for every start (empty pin store, no server home yet); restart: one \`XDG_STATE_HOME\` kept, the pins on record. Reference: direct SDK clients spawning as many server-everything unsandboxed, all at once, until each has listed. ${sb.rounds} round${sb.rounds === 1 ? '' : 's'} (at most ${c.sandboxedRounds}, and ${c.sandboxedMs / 1000} s), the configurations in rotating order within each round, after one untimed start of each (which also fills the restart rows' pin store); load average (1 min, which still counts this bench's own starts before them) ${sb.load[0]} before and ${sb.load[1]} after. The CLI runs without NODE_EXTRA_CA_CERTS, and its servers get only the sandbox's allowlist of the environment. Below 100 starts the p99 is the slowest start. The phases, medians from the CLI's audit events (millisecond timestamps): process start = spawn to \`session.start\` (Node, the CLI, the gateway's modules, the policy, the pin store and the spool); upstreams ready = \`session.start\` to the last \`mcp.server.ready\` (sandboxes built, servers started and initialised); first list = the rest (the client's initialize and the first \`tools/list\`, pinning included).`,
    '',
    mdTable(SANDBOXED.header, SANDBOXED.rows(sb), SANDBOXED.aligns),
    '',
    ...(failed.length ? [...failed.map((r) => `- ${r.label}: not measured, ${r.error}.`), ''] : []),
    ...(per.length && extra.direct !== undefined
      ? [
          `Each upstream beyond the first (half the difference between the 3- and 1-upstream medians): ${per.join(', ')} through \`perimeter mcp\`, against ${extra.direct} ms for direct clients.`,
          '',
        ]
      : []),
  ];
}

const TARGETS = {
  header: ['Target', 'Measured', 'Result'],
  aligns: ['l', 'l', 'l'],
  rows: (targets, md) =>
    targets.map((t) => [
      t.target,
      t.measured,
      (t.pass === null
        ? 'not measured'
        : md
          ? t.pass
            ? '**pass**'
            : '**miss**'
          : t.pass
            ? 'pass'
            : 'MISS') + (t.marginal ? ' (marginal)' : ''),
    ]),
};

export function consoleReport(report) {
  const parts = [
    'tools/call echo, warm, concurrency 1',
    textTable(CALLS.header, CALLS.rows(report.calls), CALLS.aligns),
    '',
    "The gateway's own time per call (audit mcp.result events)",
    textTable(GATEWAY.header, GATEWAY.rows(report.calls), GATEWAY.aligns),
    '',
    'tools/list, warm, one upstream',
    textTable(LIST_PEERS.header, LIST_PEERS.rows(report.listPeers), LIST_PEERS.aligns),
    '',
    'tools/list through Perimeter (in-process), by number of upstreams',
    textTable(LIST_UPSTREAMS.header, LIST_UPSTREAMS.rows(report.listUpstreams), LIST_UPSTREAMS.aligns),
    '',
    ...(report.sandboxedCold
      ? [
          'Cold start of perimeter mcp (sandboxed upstreams) against direct clients, spawn to first tools/list',
          textTable(SANDBOXED.header, SANDBOXED.rows(report.sandboxedCold), SANDBOXED.aligns),
          `per extra upstream (ms, median): ${JSON.stringify(perExtraUpstream(report.sandboxedCold))}`,
          '',
        ]
      : []),
    'Targets',
    textTable(TARGETS.header, TARGETS.rows(report.targets, false), TARGETS.aligns),
  ];
  return parts.join('\n');
}

export function markdownSection(report) {
  const c = report.config;
  const load = report.loadAverage;
  const v = report.versions;
  const errors = report.calls.filter((s) => s.errors?.length);
  const failed = [...report.calls, ...report.listPeers].filter((s) => s.error);
  const uniqueFailed = [...new Map(failed.map((f) => [f.key, f])).values()];
  const lines = [
    MARK_START,
    '<!-- Generated by `npm run bench:mcp` (bench/mcp/run.mjs); edits between these markers are overwritten. -->',
    '',
    '## MCP gateway',
    '',
    `Measured ${report.date} on ${describeMachine(report.machine)}; commit ${report.commit}. Perimeter ${v.perimeter}, @modelcontextprotocol/sdk ${v.sdk}, mcp-proxy ${v.mcpProxy}, supergateway ${v.supergateway}, server-everything ${v.serverEverything}. Load average (1, 5, 15 min) ${load.before.join(', ')} before and ${load.after.join(', ')} after${report.roundLoad?.length ? `, ${Math.min(...report.roundLoad)}–${Math.max(...report.roundLoad)} (1 min) during the timed calls` : ''}.${report.busy ? ` ${report.busy}` : ''}`,
    '',
    `Every configuration drives the same upstream, \`@modelcontextprotocol/server-everything\` over stdio (a process of its own per configuration), with the official SDK's \`Client\` in the driver process. Concurrency 1: one request in flight, each timed from the call to its awaited answer. Per configuration: initialize, \`tools/list\`, ${c.warmupCalls} warm-up calls, then up to ${int(c.calls)} timed \`tools/call\` of \`echo\` (\`{"message": "${report.message}"}\`) in ${c.rounds} rounds, the configurations taking turns in rotating order within each round so drift hits them alike; at most ${c.callMs / 1000} s of timed calls per configuration. calls/s is timed calls over their wall time; round p50s is the spread of the per-round medians (the machine's drift). CPU columns: the driver process (client; for the in-process row, client and gateway) and the proxy's own process (not its upstream), per call, from process.cpuUsage and /proc (10 ms ticks).`,
    '',
    ...report.setup.map((s) => `- ${s}`),
    '',
    `The gateway's policy (bench/mcp/setup.mjs): \`pinning: tofu\`, \`secrets: block\`, echo allowed by a rule with an argument predicate (\`args: { message: { prefix: "${report.prefix}" } }\`), server-everything's other tools allowed by name, and a deny rule on destructive annotations. So every measured call goes through the tool index, the policy decision on the arguments, the secret scan of the arguments and of the result, and two audit records (\`mcp.call\`, \`mcp.result\`) appended to a hash-chained audit spool (\`Spool\` from @perimeter/audit with \`flushDelayMs: 20\`, as \`perimeter mcp\` opens it: each record written at once, fsync in group commits). Unlike \`perimeter mcp\`, which starts each stdio server in a sandbox of its own (bubblewrap and an egress proxy), the bench's gateway spawns server-everything directly, unsandboxed: the rows measure the gateway, and its cold starts leave out the sandbox's own start-up${report.sandboxedCold ? ', which the last table measures with the real CLI' : ''}.`,
    '',
    '### tools/call, warm',
    '',
    mdTable(CALLS.header, CALLS.rows(report.calls), CALLS.aligns),
    '',
    ...(uniqueFailed.length
      ? [...uniqueFailed.map((f) => `- ${f.label} was not measured: ${f.error}`), '']
      : []),
    ...(errors.length
      ? [...errors.map((s) => `- ${s.label}: ${s.errors.length} failed calls, first: ${s.errors[0]}`), '']
      : []),
    "Added = the configuration's percentile minus direct's. The gateway's own time per call, from the `gateway_ms` and `upstream_ms` its `mcp.result` audit events carry. `gateway_ms` is the tools/call handler's time minus the upstream call: index lookup, policy decision, both secret scans and the `mcp.call` audit record; it is taken before the `mcp.result` record is built and written, so that record's cost is not in it, nor is the SDK's JSON-RPC and transport work on the client side. `upstream_ms` includes the gateway's own SDK client (request, response parsing and validation) as well as the upstream server:",
    '',
    mdTable(GATEWAY.header, GATEWAY.rows(report.calls), GATEWAY.aligns),
    '',
    '### tools/list',
    '',
    `Warm: ${c.listWarmup} warm-up lists, then up to ${c.lists} timed \`tools/list\` (at most ${c.listMs / 1000} s) on a live session. The gateway answers from its cached upstream lists, re-deciding every tool and checking its pin on each list; the peers forward every list to the upstream.`,
    '',
    mdTable(LIST_PEERS.header, LIST_PEERS.rows(report.listPeers), LIST_PEERS.aligns),
    '',
    `Perimeter in-process (InMemoryTransport) with 1, 3 and 10 copies of server-everything (distinct ids; no peer here fronts more than one stdio server). Cold: from building the gateway (policy, engine, audit spool) through \`start()\` (spawning and initialising every upstream, all at once) to the first \`tools/list\` answered; first use with an empty pin store (every tool trusted on first use and written to it${report.listUpstreams.some((m) => m.pinFileBytes) ? `; the store then holds ${report.listUpstreams.map((m) => `${Math.round((m.pinFileBytes ?? 0) / 1024)} KB`).join(', ')} for ${report.listUpstreams.map((m) => m.upstreams).join(', ')} upstreams` : ''}), then ${c.coldRounds} restarts with the pins on record, split into \`start()\` and the first list (client connect and initialize included). Warm: up to ${c.lists} lists after ${c.listWarmup} warm-up lists (at most ${c.listMs / 1000} s). For reference, a direct SDK client spawning one server-everything, initialising and listing took ${report.directCold.n ? `${report.directCold.median.toFixed(0)} ms (median of ${report.directCold.n})` : 'not measured'}.`,
    '',
    mdTable(LIST_UPSTREAMS.header, LIST_UPSTREAMS.rows(report.listUpstreams), LIST_UPSTREAMS.aligns),
    '',
    ...(report.sandboxedCold ? sandboxedText(report) : []),
    '### Targets',
    '',
    'From the issue: warm added latency p50 under 0.5 ms and p99 under 2 ms, and faster than both peers (lower p50 and more calls/s over the same transport). The in-process rows isolate the gateway; the HTTP rows also carry the cost of Streamable HTTP itself, which every HTTP gateway pays (compare them with the peers). Marginal: within 10 % of the limit, or within 5 % of the peer; on this machine such a verdict can flip between runs (p99 especially moves with the load).',
    '',
    mdTable(TARGETS.header, TARGETS.rows(report.targets, true), TARGETS.aligns),
    '',
    ...(report.notes.length ? [...report.notes.map((n) => `- ${n}`), ''] : []),
    MARK_END,
  ];
  return lines.join('\n');
}
