// `perimeter server` as a library call: check the data directory, open the database (SQLite in
// the data directory, or PostgreSQL), migrate it, make the first organisation, listen, and stop
// gracefully (stop accepting, let requests in flight finish, close the database). What can go
// wrong at start-up is a ServerStartError: one sentence and how to fix it, never a stack trace.

import { closeSync, mkdirSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { API_ROUTES } from './api/routes.js';
import { LocalChanges, type ChangeFeed } from './bundle-changes.js';
import { BundleIssuer, DEFAULT_BUNDLE_LIFETIME_MS } from './bundles.js';
import type { Database } from './db/database.js';
import { DeviceQueries } from './device-queries.js';
import { migrate, MigrationError } from './db/migrations.js';
import { openPostgres, redactUrl, type PostgresOptions } from './db/postgres.js';
import { openSqlite } from './db/sqlite.js';
import { ensureOrganisation } from './first-start.js';
import { createApiHandler, sendJson } from './http/api-handler.js';
import { BOOTSTRAP_CSP, BOOTSTRAP_HTML, BOOTSTRAP_JS } from './http/bootstrap-page.js';
import { DEVICE_PAGE_CSP, DEVICE_PAGE_HTML, DEVICE_PAGE_JS } from './http/device-page.js';
import type { App, DeviceSettings } from './http/route.js';
import { DEFAULT_LISTEN, urlFor, type ListenAddress } from './listen-address.js';
import { errorFields, jsonLogger, type Logger } from './log.js';
import { PostgresChanges } from './pg-changes.js';
import { SigningKeyError, SigningKeys } from './signing-keys.js';
import { DeviceBatches } from './store/device-chains.js';
import type { Org } from './store/orgs.js';

export interface ServerOptions {
  /** Where the server keeps its files: the SQLite database, unless `database` is given. */
  readonly dataDir: string;
  readonly listen?: ListenAddress;
  /** A PostgreSQL URL (postgres://…); SQLite in the data directory when absent. */
  readonly database?: string;
  readonly log?: Logger;
  /** The clock (tests move it). */
  readonly now?: () => number;
  /** The URL people reach the server at, for links; by default the listen address. */
  readonly publicUrl?: string;
  readonly bodyLimit?: number;
  /** Check each success body against its route's schema (tests). */
  readonly checkResponses?: boolean;
  /** How long requests in flight may take to finish once a stop is asked for. */
  readonly shutdownGraceMs?: number;
  /** How long a signed bundle is valid (default 7 days); it is reissued after a seventh of that. */
  readonly bundleLifetimeMs?: number;
  /** How old an issued bundle may get before it is reissued (default: a seventh of its lifetime). */
  readonly bundleRefreshMs?: number;
  /** Device login (RFC 8628) and bundle long-poll settings; tests shorten them. */
  readonly devices?: Partial<DeviceSettings>;
  /** PostgreSQL's connection pool: its size and how long a statement waits for a connection. */
  readonly databasePool?: Pick<PostgresOptions, 'maxConnections' | 'connectionTimeoutMs'>;
}

/** RFC 8628's defaults: poll every 5 s; a code lives 10 minutes. Long polls hold at most 55 s. */
export const DEFAULT_DEVICE_SETTINGS: DeviceSettings = {
  pollIntervalS: 5,
  codeLifetimeMs: 10 * 60_000,
  longPollMaxMs: 55_000,
  maxWaitingLogins: 10_000,
};

export interface RunningServer {
  /** Where the API is: http://HOST:PORT (the bound port when 0 was asked for). */
  readonly url: string;
  readonly org: Org;
  /** Present when the organisation has no owner yet: print it, it is the only copy. */
  readonly bootstrap?: { readonly token: string; readonly link: string; readonly expiresAt: string };
  /** Where the data is, without a password. */
  readonly database: string;
  readonly db: Database;
  /** What wakes devices waiting for their bundle (for tests: how many wait). */
  readonly changes: ChangeFeed;
  /** Stops gracefully; resolves when the database is closed. Safe to call twice. */
  close(): Promise<void>;
}

export type StartErrorCode =
  | 'data-dir'
  | 'bad-database-url'
  | 'database-unreachable'
  | 'database-schema'
  | 'signing-keys'
  | 'address-in-use'
  | 'address-not-allowed'
  | 'address-unavailable';

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || host.startsWith('127.');

export class ServerStartError extends Error {
  constructor(
    readonly code: StartErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ServerStartError';
  }
}

const reasonOf = (e: unknown): string => {
  const code = (e as { code?: unknown }).code;
  const text: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOTDIR: 'a part of the path is a file, not a directory',
    ENOENT: 'it cannot be created there',
    EEXIST: 'it exists and is not a directory',
    ENOSPC: 'the disk is full',
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'the host name is unknown',
    ETIMEDOUT: 'the connection timed out',
  };
  return (typeof code === 'string' ? text[code] : undefined) ?? (e instanceof Error ? e.message : String(e));
};

/**
 * mkdir -p, one level at a time. (Node's own recursive mkdir can loop for ever where a parent
 * exists but refuses children with ENOENT, as /proc does.)
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw e;
    makeDirectory(parent);
    mkdirSync(dir, { mode: 0o700 });
  }
}

function prepareDataDir(dir: string): void {
  try {
    makeDirectory(dir);
    const probe = join(dir, `.write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new ServerStartError(
      'data-dir',
      `the data directory ${dir} cannot be written (${reasonOf(e)})`,
      'choose another with --data DIR, or fix its permissions',
    );
  }
}

async function openDatabase(options: ServerOptions, log: Logger): Promise<Database> {
  if (options.database === undefined) {
    const file = join(options.dataDir, 'perimeter.sqlite');
    try {
      // Owner-only from the first byte (SQLite gives its -wal and -shm files the same mode).
      closeSync(openSync(file, 'a', 0o600));
      return openSqlite(file);
    } catch (e) {
      throw new ServerStartError(
        'data-dir',
        `the SQLite database ${file} cannot be opened (${reasonOf(e)})`,
        'check that the file is a Perimeter database and writable, or choose another --data DIR',
      );
    }
  }
  const url = options.database;
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new ServerStartError(
      'bad-database-url',
      `--database must be a PostgreSQL URL, not "${redactUrl(url)}"`,
      'write postgres://USER@HOST:5432/DATABASE, or leave --database out to use SQLite in the data directory',
    );
  try {
    return await openPostgres(url, {
      ...options.databasePool,
      onIdleError: (e) => log.log('warn', 'database.idle-error', errorFields(e)),
    });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause ?? e;
    throw new ServerStartError(
      'database-unreachable',
      `the database at ${redactUrl(url)} cannot be reached (${reasonOf(cause)})`,
      'check that PostgreSQL is running there, that the database exists, and the user and password in --database',
    );
  }
}

function listen(server: ReturnType<typeof createServer>, at: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const where = `${at.host}:${at.port}`;
      if (e.code === 'EADDRINUSE')
        reject(
          new ServerStartError(
            'address-in-use',
            `the address ${where} is already in use`,
            'stop the other server, or choose another address with --listen HOST:PORT',
          ),
        );
      else if (e.code === 'EACCES' || e.code === 'EPERM')
        reject(
          new ServerStartError(
            'address-not-allowed',
            `listening on ${where} is not allowed`,
            'ports below 1024 need privileges; choose another with --listen HOST:PORT',
          ),
        );
      else
        reject(
          new ServerStartError(
            'address-unavailable',
            `cannot listen on ${where} (${e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? 'not an address of this machine' : reasonOf(e)})`,
            'choose an address of this machine with --listen HOST:PORT, for example 127.0.0.1:8787',
          ),
        );
    };
    server.once('error', onError);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.log ?? jsonLogger();
  const now = options.now ?? Date.now;
  const at = options.listen ?? DEFAULT_LISTEN;
  prepareDataDir(options.dataDir);
  const db = await openDatabase(options, log);
  let org: Org;
  let bootstrap: { secret: string; expiresAt: number } | undefined;
  let applied: number[];
  let keys: SigningKeys;
  const lifetimeMs = options.bundleLifetimeMs ?? DEFAULT_BUNDLE_LIFETIME_MS;
  try {
    applied = await migrate(db, undefined, now);
    ({ org, bootstrap } = await ensureOrganisation(db, now()));
    keys = await SigningKeys.open(db, options.dataDir, lifetimeMs);
  } catch (e) {
    await db.close().catch(() => undefined);
    if (e instanceof MigrationError) throw new ServerStartError('database-schema', e.message, e.hint);
    if (e instanceof SigningKeyError) throw new ServerStartError('signing-keys', e.message, e.hint);
    throw e;
  }
  // One process owns a SQLite file; replicas share PostgreSQL and hear each other's changes.
  let changes: ChangeFeed;
  if (options.database === undefined) changes = new LocalChanges();
  else
    try {
      changes = await PostgresChanges.open(options.database, db, { log });
    } catch (e) {
      await db.close().catch(() => undefined);
      throw new ServerStartError(
        'database-unreachable',
        `a connection to listen for bundle changes on cannot be opened to the database at ${db.description} (${reasonOf(e)})`,
        'check that PostgreSQL accepts one more connection for this user (max_connections), then start again',
      );
    }

  let isDraining = false;
  const server = createServer({
    // Counted from a request's first byte (a new connection's: from its accept) to its last: a
    // long poll, once received, is not subject to them. Node answers 408 itself when they pass,
    // which also happens when the event loop is too busy to read a connection it accepted.
    requestTimeout: 30_000,
    headersTimeout: 20_000,
    // Longer than the idle time of the clients that reuse connections (a device between its poll
    // and its report, a proxy's pool: 60 s is common), so that a client never sends a request on
    // a connection this server is closing (the client sees a reset).
    keepAliveTimeout: 65_000,
    maxHeaderSize: 16 * 1024,
  });
  let publicUrl = options.publicUrl ?? urlFor(at.host, at.port);
  const app: App = {
    db,
    log,
    now,
    get publicUrl() {
      return publicUrl;
    },
    keys,
    bundles: new BundleIssuer(db, keys, {
      lifetimeMs,
      refreshMs: options.bundleRefreshMs ?? Math.floor(lifetimeMs / 7),
    }),
    changes,
    devices: { ...DEFAULT_DEVICE_SETTINGS, ...options.devices },
    deviceData: new DeviceQueries(db, now),
    deviceBatches: new DeviceBatches(db),
  };
  const api = createApiHandler(app, API_ROUTES, {
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.checkResponses ? { checkResponses: true } : {}),
    isDraining: () => isDraining,
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Once stopping, each answer closes its connection, so keep-alive clients let go.
    if (isDraining) res.setHeader('connection', 'close');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://server.invalid');
    } catch {
      sendJson(res, 400, {
        error: { code: 'bad-url', message: 'the request URL cannot be read', requestId: '' },
      });
      return;
    }
    if (url.pathname.startsWith('/api/')) return api(req, res, url);
    const html = 'text/html; charset=utf-8';
    const js = 'text/javascript; charset=utf-8';
    const pages: Readonly<Record<string, { type: string; body: string; csp: string }>> = {
      '/bootstrap': { type: html, body: BOOTSTRAP_HTML, csp: BOOTSTRAP_CSP },
      '/bootstrap.js': { type: js, body: BOOTSTRAP_JS, csp: BOOTSTRAP_CSP },
      // RFC 8628's verification URI: where a person approves a device login.
      '/device': { type: html, body: DEVICE_PAGE_HTML, csp: DEVICE_PAGE_CSP },
      '/device.js': { type: js, body: DEVICE_PAGE_JS, csp: DEVICE_PAGE_CSP },
    };
    const page = req.method === 'GET' ? pages[url.pathname] : undefined;
    if (page) {
      res.writeHead(200, {
        'content-type': page.type,
        'content-security-policy': page.csp,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
      });
      res.end(page.body);
      return;
    }
    sendJson(res, 404, {
      error: {
        code: 'not-found',
        message: `there is nothing at ${url.pathname}`,
        hint: 'the API is under /api/v1 (see /api/v1/openapi.json)',
        requestId: '',
      },
    });
  });

  try {
    await listen(server, at);
  } catch (e) {
    await changes.close();
    await db.close().catch(() => undefined);
    throw e;
  }
  // After start-up, an error of the listening socket (too many open files, …) is logged, not fatal.
  server.on('error', (e) => log.log('error', 'server.socket-error', errorFields(e)));
  const bound = server.address() as AddressInfo;
  const url = urlFor(at.host, bound.port);
  if (options.publicUrl === undefined) publicUrl = url;
  log.log('info', 'server.started', {
    url,
    database: db.description,
    dataDir: options.dataDir,
    org: org.id,
    migrationsApplied: applied,
  });
  if (!isLoopback(at.host))
    log.log('warn', 'server.plain-http', {
      message: `${at.host} is reachable from other machines and this server speaks plain HTTP: put a TLS-terminating proxy in front of it`,
    });
  if (bootstrap)
    log.log('info', 'server.bootstrap-issued', {
      org: org.id,
      expiresAt: new Date(bootstrap.expiresAt).toISOString(),
      note: 'the token is printed on standard output, never logged',
    });

  let closing: Promise<void> | undefined;
  const grace = options.shutdownGraceMs ?? 10_000;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      log.log('info', 'server.stopping', {});
      isDraining = true;
      // Long polls answer now (304), rather than hold the stop for up to a minute.
      const changesClosed = changes.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => {
        log.log('warn', 'server.forced-close', { afterMs: grace });
        server.closeAllConnections();
      }, grace);
      await closed;
      clearTimeout(force);
      await changesClosed;
      await db.close();
      log.log('info', 'server.stopped', {});
    })();
    return closing;
  };

  return {
    url,
    org,
    ...(bootstrap
      ? {
          bootstrap: {
            token: bootstrap.secret,
            link: `${publicUrl}/bootstrap#${bootstrap.secret}`,
            expiresAt: new Date(bootstrap.expiresAt).toISOString(),
          },
        }
      : {}),
    database: db.description,
    db,
    changes,
    close,
  };
}
