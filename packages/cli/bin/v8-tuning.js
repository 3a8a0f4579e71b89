// How V8 runs Perimeter's serving commands once they serve: `perimeter mcp` once its gateway has
// started, `perimeter run` once the workload starts, `perimeter proxy` and `perimeter server` once
// they listen (packages/cli/src/v8-tuning.ts; the MCP benchmark's HTTP gateway does the same, as it
// stands for `perimeter mcp --listen`).
//
// V8 optimizes a function once it has run a budget of bytecode. The MCP gateway's work per tool
// call is spread over a few hundred functions (the SDK's JSON-RPC and schemas, the secret scan, the
// policy decision, the audit chain), each running a little per call, so at V8's default budget
// (67,584 in Node 20) `perimeter mcp` took about 2,000 calls to reach its speed: it spent about
// 1 ms of CPU per call over its first thousand calls, and 0.25 ms once warm. An agent's session
// makes tens to hundreds of calls, so it paid the cold cost throughout. With a quarter of the
// budget its first 2,000 calls cost markedly less (docs/benchmarks.md, "Reading the MCP numbers").
// Not from the start: code that runs once, as a command starts, was optimized sooner too, which
// cost `perimeter mcp` 35 ms of start-up and `policy lint` 20 ms.
//
// V8 reads the budget each time it resets a function's counter, so a running process can change
// it (Node warns that flags changed after start may behave unpredictably; this one is a number
// the tiering reads). A changed flag also changes the hash V8 checks a code cache against:
// - Perimeter's own bundles' caches are read as the command loads, before the switch, and the
//   build's runs that write them (PERIMETER_WRITE_CODE_CACHE, tools/bundle-cli.mjs) never switch;
// - Node's built-in modules and worker threads started after the switch compile without Node's
//   own cache: the secret scan's worker, started by the first large value, comes online in about
//   40 ms instead of 20, once per process.
'use strict';

/** Bytecode a function runs between V8's looks at optimizing it: a quarter of Node 20's default. */
const INTERRUPT_BUDGET = 16 * 1024;

/** The bundles whose code cache this run writes as it ends (the build's runs name them). */
function codeCachesToWrite() {
  return (process.env.PERIMETER_WRITE_CODE_CACHE ?? '').split(',').filter(Boolean);
}

function tuneV8() {
  if (codeCachesToWrite().length > 0) return;
  // Required here, not as the command loads: most commands never serve.
  require('node:v8').setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}

module.exports = { INTERRUPT_BUDGET, codeCachesToWrite, tuneV8 };
