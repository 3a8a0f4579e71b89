// V8 flags the benchmark needs, set before any code is optimised (run.mjs imports this first).
//
// Node 20's V8 (11.3) inlines JS→Wasm calls into optimised JS. When cedar-wasm's call returns
// (it calls back into JS for JSON.stringify/JSON.parse) into optimised code that was invalidated
// meanwhile, the lazy deoptimisation through that inlined call crashes the process
// ("Fatal error … unreachable code" in Deoptimizer::DoComputeBuiltinContinuation); here it did
// after a few seconds of Cedar timing, every run. Not inlining these calls avoids it and costs
// Cedar nanoseconds on calls that take tens to thousands of microseconds.

import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbo-inline-js-wasm-calls');
