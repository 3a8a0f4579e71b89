// The server under test: started for real on 127.0.0.1 with an ephemeral port, on a real database
// of each backend (backends.ts), with a clock the tests can move, its log lines captured, and its
// first owner already bootstrapped through the API. Clients speak real HTTP (fetch).

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { z } from 'zod';
import type { Database } from '../src/db/database.js';
import type { ErrorBody } from '../src/http/api-error.js';
import { startServer, type RunningServer, type ServerOptions } from '../src/index.js';
import { BACKENDS, freshDatabase, type Backend, type TestDatabase } from './backends.js';

export type ErrorReply = z.infer<typeof ErrorBody>;

export interface Reply<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export class Client {
  constructor(
    readonly url: string,
    readonly token?: string,
  ) {}

  async request<T = ErrorReply>(
    method: string,
    path: string,
    body?: unknown,
    init: { headers?: Record<string, string>; raw?: string | Uint8Array } = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = {
      ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
      ...(body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    };
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(init.raw !== undefined
        ? { body: init.raw }
        : body !== undefined
          ? { body: JSON.stringify(body) }
          : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text === '' ? undefined : JSON.parse(text)) as T,
      headers: response.headers,
    };
  }

  get<T = ErrorReply>(path: string): Promise<Reply<T>> {
    return this.request<T>('GET', path);
  }
  post<T = ErrorReply>(path: string, body?: unknown): Promise<Reply<T>> {
    return this.request<T>('POST', path, body ?? {});
  }
  patch<T = ErrorReply>(path: string, body: unknown): Promise<Reply<T>> {
    return this.request<T>('PATCH', path, body);
  }
  put<T = ErrorReply>(path: string): Promise<Reply<T>> {
    return this.request<T>('PUT', path);
  }
  delete<T = ErrorReply>(path: string): Promise<Reply<T>> {
    return this.request<T>('DELETE', path);
  }
}

export interface Clock {
  now(): number;
  advance(ms: number): void;
}

export function testClock(): Clock {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

export interface BootstrapReply {
  org: { id: string; slug: string; name: string };
  admin: { id: string; email: string; role: string };
  token: { token: { id: string }; secret: string };
}

export interface Harness {
  readonly backend: Backend;
  readonly db: TestDatabase;
  readonly server: RunningServer;
  readonly clock: Clock;
  /** Every log line the server wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  readonly org: { readonly id: string; readonly slug: string };
  /** `/api/v1/orgs/<org id>` */
  readonly base: string;
  readonly ownerId: string;
  readonly owner: Client;
  client(token?: string): Client;
}

/** Starts a server on a database; the options of ServerOptions the tests may vary. */
export async function serve(
  db: TestDatabase,
  clock: Clock,
  logs: Record<string, unknown>[],
  options: Partial<ServerOptions> = {},
): Promise<RunningServer> {
  return startServer({
    dataDir: db.dataDir,
    listen: { host: '127.0.0.1', port: 0 },
    ...(db.url !== undefined ? { database: db.url } : {}),
    now: () => clock.now(),
    log: { log: (level, event, fields) => logs.push({ level, event, ...fields }) },
    checkResponses: true,
    shutdownGraceMs: 2000,
    ...options,
  });
}

/** Exchanges a bootstrap token for the first owner. */
export async function claim(
  url: string,
  token: string,
  email = 'owner@example.com',
): Promise<BootstrapReply> {
  const reply = await new Client(url).post<BootstrapReply>('/api/v1/bootstrap', {
    token,
    email,
    name: 'Owner',
  });
  if (reply.status !== 201)
    throw new Error(`bootstrap failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** A harness over a running server whose organisation `claimed` made its first owner. */
export function harnessOf(
  db: TestDatabase,
  server: RunningServer,
  clock: Clock,
  logs: Record<string, unknown>[],
  claimed: BootstrapReply,
): Harness {
  return {
    backend: db.backend,
    db,
    server,
    clock,
    logs,
    org: { id: claimed.org.id, slug: claimed.org.slug },
    base: `/api/v1/orgs/${claimed.org.id}`,
    ownerId: claimed.admin.id,
    owner: new Client(server.url, claimed.token.secret),
    client: (token) => new Client(server.url, token),
  };
}

/**
 * Declares `suite` once per backend, with a fresh database and a running, bootstrapped server
 * made before its tests and stopped (then the database dropped) after them.
 */
export function eachServer(
  title: string,
  suite: (h: () => Harness, backend: Backend) => void,
  options: Partial<ServerOptions> = {},
): void {
  for (const backend of BACKENDS) {
    describe(`${title} (${backend})`, () => {
      let harness: Harness | undefined;
      before(async () => {
        const db = await freshDatabase(backend);
        const clock = testClock();
        const logs: Record<string, unknown>[] = [];
        const server = await serve(db, clock, logs, options);
        if (!server.bootstrap) throw new Error('a first start must print a bootstrap token');
        const claimed = await claim(server.url, server.bootstrap.token);
        harness = harnessOf(db, server, clock, logs, claimed);
      });
      after(async () => {
        await harness?.server.close();
        await harness?.db.drop();
      });
      suite(() => {
        if (!harness) throw new Error('the server is started in before()');
        return harness;
      }, backend);
    });
  }
}

/** Checks `condition` every 25 ms, at most 400 times (10 s); fails naming what never came. */
export async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`${what} did not happen within 400 checks`);
}

/** A policy document's text, with the header filled in. */
export function policyYaml(name: string, body: string, layer = 'org'): string {
  return `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: ${name}\n  layer: ${layer}\n${body.replace(/^\n/, '')}`;
}

/** Issues a token for a new admin with `role` (by the owner); returns a client with it. */
export async function adminWith(
  h: Harness,
  role: string,
  email = `${role}-${Math.random().toString(36).slice(2, 8)}@example.com`,
): Promise<{ client: Client; adminId: string; tokenId: string }> {
  const admin = await h.owner.post<{ id: string }>(`${h.base}/admins`, { email, role });
  if (admin.status !== 201) throw new Error(`creating an admin failed: ${JSON.stringify(admin.body)}`);
  const token = await h.owner.post<{ token: { id: string }; secret: string }>(`${h.base}/tokens`, {
    name: `${role} token`,
    adminId: admin.body.id,
  });
  if (token.status !== 201) throw new Error(`issuing a token failed: ${JSON.stringify(token.body)}`);
  return { client: h.client(token.body.secret), adminId: admin.body.id, tokenId: token.body.token.id };
}

/** The same database, counting the transactions begun through it. */
export function countingTransactions(db: Database): { db: Database; transactions: () => number } {
  let transactions = 0;
  return {
    db: {
      ...db,
      transaction: (fn) => {
        transactions++;
        return db.transaction(fn);
      },
    },
    transactions: () => transactions,
  };
}
