// Node's I/O modules: what the pure packages (policy, detect) must never import, directly or
// through a dependency. One list, read by eslint.config.js and tools/check-deps.mjs.
export const NODE_IO_MODULES = [
  'fs',
  'net',
  'http',
  'https',
  'http2',
  'child_process',
  'dgram',
  'dns',
  'tls',
  'worker_threads',
  'cluster',
  'inspector',
  'v8',
  'vm',
  'os',
];
