// How V8 runs every `perimeter` command: set by bin/perimeter.js before the command loads (and by
// the MCP benchmark's HTTP gateway, which stands for `perimeter mcp --listen`).
//
// V8 optimizes a function once it has run a budget of bytecode. The MCP gateway's work per tool
// call is spread over a few hundred functions (the SDK's JSON-RPC and schemas, the secret scan, the
// policy decision, the audit chain), each running a little per call, so at V8's default budget
// (67,584 in Node 20) `perimeter mcp` took about 2,000 calls to reach its speed: it spent about
// 1 ms of CPU per call over its first thousand calls, and 0.25 ms once warm. An agent's session
// makes tens to hundreds of calls, so it paid the cold cost throughout. With a quarter of the
// budget, the first 2,000 calls took 30 % less CPU and 0.18 ms less per call at the median
// (docs/benchmarks.md). A short command pays for it instead: it optimizes sooner what it runs
// once (`perimeter policy lint` took about 20 ms longer, `perimeter run -- true` no longer).
//
// One setting for every command: V8 refuses a code cache made under other flags, and the build
// writes the bundles' caches through this file (tools/bundle-cli.mjs). V8 reads the budget each
// time it resets a function's counter, so setting it as the process starts is enough.
'use strict';
const v8 = require('node:v8');

/** Bytecode a function runs between V8's looks at optimizing it: a quarter of Node 20's default. */
const INTERRUPT_BUDGET = 16 * 1024;

function tuneV8() {
  v8.setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
}

module.exports = { INTERRUPT_BUDGET, tuneV8 };
