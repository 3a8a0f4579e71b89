// How V8 runs Perimeter's serving commands once they serve: `perimeter mcp` once its gateway has
// started, `perimeter run` once the session's workload starts, `perimeter server` once it listens
// (packages/cli/src/v8-tuning.ts; the MCP benchmark's HTTP gateway does the same, as it stands
// for `perimeter mcp --listen`).
//
// V8 optimizes a function once it has run a budget of bytecode. The MCP gateway's work per tool
// call is spread over a few hundred functions (the SDK's JSON-RPC and schemas, the secret scan, the
// policy decision, the audit chain), each running a little per call, so at V8's default budget
// (67,584 in Node 20) `perimeter mcp` took about 2,000 calls to reach its speed: it spent about
// 1 ms of CPU per call over its first thousand calls, and 0.25 ms once warm. An agent's session
// makes tens to hundreds of calls, so it paid the cold cost throughout. With a quarter of the
// budget, the first 2,000 calls took 30 % less CPU and 0.18 ms less per call at the median
// (docs/benchmarks.md). Not from the start: code that runs once, as a command starts, was
// optimized sooner too, which cost `perimeter mcp` 35 ms of start-up and `policy lint` 20 ms.
//
// V8 reads the budget each time it resets a function's counter, so a running process can change
// it. V8 also refuses a code cache made under other flags: the bundles' caches are read as the
// command loads, before this, and the build's runs that write them (PERIMETER_WRITE_CODE_CACHE,
// tools/bundle-cli.mjs) keep V8's defaults.
'use strict';
const v8 = require('node:v8');

/** Bytecode a function runs between V8's looks at optimizing it: a quarter of Node 20's default. */
const INTERRUPT_BUDGET = 16 * 1024;

function tuneV8() {
  if (process.env.PERIMETER_WRITE_CODE_CACHE) return;
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}

module.exports = { INTERRUPT_BUDGET, tuneV8 };
