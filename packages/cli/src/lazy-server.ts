// The control plane (`perimeter server`) loads only when it is used: the server, its routes and
// its database drivers (better-sqlite3 is native code) stay out of the one-file bundle that every
// `perimeter run` reads. Required at run time from beside this file, as lazy-mcp.ts does for MCP;
// the bundler does not follow this require.

import { createRequire } from 'node:module';
import type * as ServerCommandModule from './commands/server.js';

const SERVER_COMMAND = './commands/server.js';

export function serverCommand(): typeof ServerCommandModule {
  return createRequire(import.meta.url)(SERVER_COMMAND) as typeof ServerCommandModule;
}
