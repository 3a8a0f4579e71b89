// perimeter server: the control plane in one process (SQLite in the data directory, or PostgreSQL).
// Loaded only when used (lazy-server.ts): neither the server nor its database drivers (one of them
// native) belong in the start-up bundle every `perimeter run` loads.

import { resolve } from 'node:path';
import {
  parseListen,
  ServerStartError,
  startServer,
  type RunningServer,
  type ServerOptions,
} from '@perimeter/server';
import { parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
import { stateDir } from '../secret-store.js';
import type { Ui } from '../ui.js';
import { optimizeSooner } from '../v8-tuning.js';
import { configureZod } from '@perimeter/policy';

// The server parses every request with zod: set up as everywhere in Perimeter.
configureZod();

/** The default data directory: <state dir>/server (~/.local/state/perimeter/server). */
function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(stateDir(env), 'server');
}

function printStart(ui: Ui, server: RunningServer, dataDir: string, usesPostgres: boolean): void {
  ui.out(`perimeter server listening on ${server.url}`);
  ui.out(`  data: ${usesPostgres ? server.database : `${dataDir} (SQLite)`}`);
  ui.out(`  API:  ${server.url}/api/v1 (described at ${server.url}/api/v1/openapi.json)`);
  if (!server.bootstrap) return;
  const { link, token, expiresAt } = server.bootstrap;
  ui.out('');
  ui.out(
    `First start: claim this server as its first owner with this one-time link (valid until ${expiresAt}):`,
  );
  ui.out(`  ${link}`);
  ui.out('or with the API:');
  ui.out(
    `  curl -X POST ${server.url}/api/v1/bootstrap -H 'content-type: application/json' -d '{"token":"${token}","email":"you@example.com"}'`,
  );
}

/** Resolves at the first SIGTERM or SIGINT; a second one ends the process at once (the default). */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      done(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** Checks the options at once (a mistake is reported before anything starts), then serves until a signal. */
export function runServer(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(
    argv,
    { data: { type: 'string' }, listen: { type: 'string' }, database: { type: 'string' } },
    'server',
  );
  if (p.positionals.length > 0)
    throw new UserError(
      `perimeter server takes no arguments, but got "${p.positionals[0] ?? ''}"`,
      'run "perimeter server --help" for the options',
    );
  const listenText = stringFlag(p, 'listen') ?? '127.0.0.1:8787';
  const listen = parseListen(listenText);
  if ('error' in listen)
    throw new UserError(`--listen ${listen.error}`, 'for example --listen 127.0.0.1:8787');
  const dataDir = resolve(stringFlag(p, 'data') ?? defaultDataDir());
  // From the environment a password stays out of the process list, where --database would show it.
  const database = stringFlag(p, 'database') ?? process.env.PERIMETER_DATABASE_URL;
  return serve({ dataDir, listen, ...(database !== undefined ? { database } : {}) }, ui);
}

async function serve(options: ServerOptions, ui: Ui): Promise<number> {
  let server: RunningServer;
  try {
    server = await startServer(options);
    optimizeSooner();
  } catch (e) {
    if (e instanceof ServerStartError) throw new UserError(e.message, e.hint, 1);
    throw e;
  }
  // Listening for signals before saying it listens: a supervisor that stops it on that line stops
  // it cleanly. Standard error carries only the server's JSON log lines (server.stopping says a
  // stop began).
  const stopped = firstSignal();
  printStart(ui, server, options.dataDir, options.database !== undefined);
  await stopped;
  await server.close();
  return 0;
}
