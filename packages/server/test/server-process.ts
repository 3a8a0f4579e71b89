// A server in a process of its own, for the tests that kill it with SIGKILL: starts on the data
// directory (and PostgreSQL URL) its environment names, prints one JSON line with its URL and,
// on a first start, its bootstrap token, then serves until it is killed.

import { startServer } from '../src/index.js';

const dataDir = process.env.PERIMETER_TEST_DATA ?? '';
const database = process.env.PERIMETER_TEST_DATABASE;
const server = await startServer({
  dataDir,
  listen: { host: '127.0.0.1', port: 0 },
  ...(database ? { database } : {}),
  log: { log: () => undefined },
  shutdownGraceMs: 500,
});
process.stdout.write(`${JSON.stringify({ url: server.url, bootstrap: server.bootstrap?.token ?? null })}\n`);
