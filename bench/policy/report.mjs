// Reporting for the policy benchmark: the targets, the documented approximations of the peer
// translations, the console tables, and the Markdown section of docs/benchmarks.md (between
// <!-- bench:policy:start --> and <!-- bench:policy:end -->, which run.mjs rewrites in place).

import { describeMachine, markers, mdTable, targetsTable, targetsText, textTable } from '../docs-section.mjs';

const { start: MARK_START, end: MARK_END } = markers('policy');

export const ENGINES = [
  { key: 'perimeter', label: 'Perimeter' },
  { key: 'cel', label: 'CEL (cel-js)' },
  { key: 'cedar', label: 'Cedar (cedar-wasm)' },
];

/** How the Perimeter rules were expressed for the peers, where the peers cannot say it natively. */
export const APPROXIMATIONS = [
  "Canonicalisation happens in host JS for both peers (hosts: case, trailing dot, legacy IPv4 forms, IPv4-mapped IPv6; paths: `~`, `${workspace}`, relative, `..`; HTTP paths: dot segments, unreserved escapes, encoded slashes; command lines: split into simple commands, wrappers such as `sudo`/`env`/`bash -c` peeled). The adapter (bench/policy/normalize.mjs) reuses Perimeter's exported parsers so all engines judge the same resource; its cost is inside every timed peer decision.",
  "The built-in guard (special addresses and names) is expressed as extra deny rules generated from `SPECIAL_RANGES` and the engine's special-name table; the lifting rule (an allow naming an address inside the range, or the name exactly) becomes `unless` clauses built from the allow rules.",
  "`ask` has no Cedar effect: ask rules are `forbid` policies told apart by id, and deny > ask > allow > default is settled in host JS from `diagnostics.reason`. CEL has no combining at all: host JS evaluates the deny, then ask, then allow expressions of the request's surface, stopping at the first match.",
  'One-label host wildcards (`*.x`): Cedar\'s `like "*.x"` and CEL\'s `endsWith` would also match `a.b.x`, so the adapter passes the name\'s parent (`parent == "x"`). Any-depth wildcards (`**.x`) use `like "*.x"` / `endsWith(".x")`, exact on canonical names.',
  'CIDRs: Cedar uses its `ip()` / `isInRange` extension. cel-js has no IP type, so the adapter passes an IPv4 address as a number and an IPv6 address as four 32-bit words, and each CIDR becomes range comparisons.',
  'Path globs: `*` in Cedar `like` crosses `/`. Trees (`/a/**`) become `== "/a" || like "/a/*"`, `**/name` and `**/*.ext` become suffix tests, `**/dir/**` a contains test, and one-segment wildcards (`~/.config/*/token`) a prefix/suffix test plus a precomputed `depth` attribute. Exact on canonical paths; the translator refuses any other shape (none is generated).',
  'HTTP rules with methods or paths: an allow needs the method (and path) present; a deny or ask also matches when they are absent (an opaque tunnel), expressed with `has`.',
  "MCP argument predicates: Cedar cannot test a value's type and skips a policy whose condition errors (an erroring forbid would allow), so the adapter passes `argtypes`; glob arguments are canonicalised into `pathargs`. `regex` predicates are not in the rule mix (Cedar has no regex). Peers count a deny/ask rule that still errors as matched, as Perimeter does; the error counts are reported (0 expected).",
  'Exec: Cedar has no list indexing, so each argv word is a positional attribute (`a0`…`a15`, program basename first) and `**` is unrolled over the remaining positions; Cedar is called once per command layer (wrappers and the command). CEL indexes the argv list and uses `exists()` for `**`. Which layers count is host JS, as in the engine: a command is decided with the deny and ask rules of all its wrapper layers and the allow rules of the command itself, and a privilege wrapper (`sudo …`) is also decided on its own; the strictest answer wins. A program the shell computes at run time (or commands a shell reads from stdin, as in `curl … | sh`) meets every exec deny and ask rule and no allow, as in the engine; the adapter passes it as a `computed` attribute.',
  'Both peers get the rules pre-partitioned by surface (one pre-parsed Cedar policy set per surface, one CEL bucket per surface and effect): their best fast path.',
  'Not exercised: audit-mode rules (every rule enforces, so decision = would-be decision), resolved-address checks, MCP `list` calls, dotted argument paths, regex predicates, path-named programs.',
];

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtUs = (us) => (us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2));
const fmtRatio = (x) => (x >= 100 ? `${x.toFixed(0)}×` : `${x.toFixed(1)}×`);

/** The targets from the issue, judged (never asserted) on the results. */
export function judgeTargets(results) {
  const at = (n) => results.find((r) => r.rules === n);
  const out = [];
  const big = at(1000);
  if (big) {
    const p99 = big.engines.perimeter.p99Us;
    out.push({
      target: 'Perimeter p99 below 20 µs at 1,000 rules',
      measured: `${fmtUs(p99)} µs`,
      pass: p99 < 20,
      margin: `${fmtUs(Math.abs(20 - p99))} µs (${Math.abs((p99 / 20 - 1) * 100).toFixed(0)}%) ${p99 < 20 ? 'under' : 'over'}`,
    });
  }
  for (const r of results) {
    const x = r.ratios.perimeterOverCedar;
    out.push({
      target: `≥ 50× cedar-wasm throughput at ${fmtInt(r.rules)} rules`,
      measured: fmtRatio(x),
      pass: x >= 50,
      margin:
        x >= 50 ? `${((x / 50 - 1) * 100).toFixed(0)}% above` : `${((1 - x / 50) * 100).toFixed(0)}% short`,
    });
  }
  for (const r of results) {
    const x = r.ratios.perimeterOverCel;
    out.push({
      target: `Faster than CEL at ${fmtInt(r.rules)} rules`,
      measured: fmtRatio(x),
      pass: x > 1,
      margin: x > 1 ? 'faster' : `${fmtRatio(1 / x)} slower`,
    });
  }
  return out;
}

function resultRows(results) {
  const rows = [];
  for (const r of results) {
    for (const { key, label } of ENGINES) {
      const e = r.engines[key];
      const agreement =
        key === 'perimeter' ? 'reference' : `${r.agreement[key].agree}/${r.agreement[key].total}`;
      rows.push([
        fmtInt(r.rules),
        label,
        fmtInt(e.decisionsPerSecond),
        fmtUs(e.p50Us),
        fmtUs(e.p99Us),
        `${Math.round(e.cpuShare * 100)}%`,
        agreement,
      ]);
    }
  }
  return rows;
}

const RESULT_HEADER = ['Rules', 'Engine', 'Decisions/s', 'p50 µs', 'p99 µs', 'CPU share', 'Same decisions'];
const RESULT_ALIGN = ['r', 'l', 'r', 'r', 'r', 'r', 'r'];
const RATIO_HEADER = ['Rules', 'Perimeter / cedar-wasm', 'Perimeter / CEL'];

const ratioRows = (results) =>
  results.map((r) => [
    fmtInt(r.rules),
    fmtRatio(r.ratios.perimeterOverCedar),
    fmtRatio(r.ratios.perimeterOverCel),
  ]);

export function consoleReport(report) {
  return [
    textTable(RESULT_HEADER, resultRows(report.results), RESULT_ALIGN),
    '',
    textTable(['Rules', 'Perimeter/cedar-wasm', 'Perimeter/CEL'], ratioRows(report.results), ['r', 'r', 'r']),
    '',
    targetsText(report.targets),
  ].join('\n');
}

const OUTCOMES = [
  ['allow', 'allow'],
  ['ask', 'ask'],
  ['denyRule', 'deny (rule)'],
  ['default', 'surface default'],
  ['guard', 'deny (guard)'],
  ['invalid', 'deny (invalid)'],
];

export function markdownSection(report) {
  const { machine, packages, config, results } = report;
  const mixRows = results.map((r) => [
    fmtInt(r.rules),
    ...OUTCOMES.map(([k]) => fmtInt(r.mix.outcomes[k] ?? 0)),
  ]);
  const surfaceRows = results.map((r) => [
    fmtInt(r.rules),
    ...['network', 'filesystem', 'mcp', 'exec', 'credential'].map((s) => fmtInt(r.mix.surfaces[s] ?? 0)),
  ]);
  const setupRows = results.map((r) => [
    fmtInt(r.rules),
    String(r.policies),
    fmtInt(r.peerRules),
    `${r.setupMs.perimeter.toFixed(0)} ms`,
    `${r.setupMs.cel.toFixed(0)} ms`,
    `${r.setupMs.cedar.toFixed(0)} ms`,
  ]);
  const agreement = results
    .map(
      (r) =>
        `${fmtInt(r.rules)} rules: CEL ${r.agreement.cel.agree}/${r.agreement.cel.total} (${r.agreement.cel.errors} evaluation errors), ` +
        `Cedar ${r.agreement.cedar.agree}/${r.agreement.cedar.total} (${r.agreement.cedar.errors} evaluation errors)`,
    )
    .join('; ');
  return [
    MARK_START,
    '<!-- Generated by `npm run bench:policy` (bench/policy/run.mjs); edits between these markers are overwritten. -->',
    '',
    '## Policy engine',
    '',
    `Measured ${report.date} on ${describeMachine(machine)}; Perimeter ${packages.perimeter.commit}, ` +
      `@cedar-policy/cedar-wasm ${packages.cedarWasm} (Cedar ${packages.cedarLang}), @marcbachmann/cel-js ${packages.celJs}.`,
    `${fmtInt(config.requests)} requests per rule set, seed ${config.seed}. Per engine and rule set: ` +
      `a warm-up of at least ${fmtInt(config.limits.warmupCalls)} calls and ${config.limits.warmupMinMs / 1000} s ` +
      `(at most ${config.limits.warmupMs / 1000} s), then ${config.limits.rounds} rounds in which the three engines take turns, ` +
      `each round up to ${fmtInt(config.limits.latencyCalls / config.limits.rounds)} individually timed decisions ` +
      `(or ${(config.limits.latencyMs / config.limits.rounds / 1000).toFixed(2)} s) for p50/p99 and a ` +
      `${(config.limits.throughputMs / config.limits.rounds / 1000).toFixed(2)} s untimed loop for decisions/s; the tables show the median ` +
      `over the rounds (pooled percentiles and every round are in bench/results/policy.json). ` +
      `Timer overhead (one \`hrtime.bigint()\` pair, ${report.timerOverheadNs} ns) is included in the latencies. ` +
      `Load average (1 min) was ${report.loadAverage.before[0]} before and ${report.loadAverage.after[0]} after the run.`,
    '',
    mdTable(RESULT_HEADER, resultRows(results), RESULT_ALIGN),
    '',
    mdTable(RATIO_HEADER, ratioRows(results), ['r', 'r', 'r']),
    '',
    '### Targets',
    '',
    targetsTable(report.targets),
    '',
    '### Agreement',
    '',
    `Before timing, every request of the mix is decided by all three engines and the peers' effect ` +
      `(allow / ask / deny) is compared with Perimeter's: ${agreement}.`,
    '',
    '### Request mix (Perimeter outcomes)',
    '',
    mdTable(['Rules', ...OUTCOMES.map(([, l]) => l)], mixRows, OUTCOMES.map(() => 'r').concat('r')),
    '',
    mdTable(['Rules', 'network', 'filesystem', 'mcp', 'exec', 'credential'], surfaceRows, [
      'r',
      'r',
      'r',
      'r',
      'r',
      'r',
    ]),
    '',
    '### Rule sets and setup',
    '',
    mdTable(
      [
        'Rules',
        'Policies',
        'Peer rules (with guard)',
        'Perimeter load + compile',
        'CEL parse + check',
        'Cedar preparse',
      ],
      setupRows,
      ['r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '### How the rules are expressed for the peers',
    '',
    ...APPROXIMATIONS.map((a) => `- ${a}`),
    '',
    MARK_END,
  ].join('\n');
}
