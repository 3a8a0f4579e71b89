// Bundle wake-ups across replicas sharing one PostgreSQL database: announce() wakes this process's
// waiters at once and sends a NOTIFY; every replica LISTENs on one dedicated connection (not from
// the pool, which hands its connections to whoever asks) and wakes its own waiters for what it
// hears. Waiters are LocalChanges' (bundle-changes.ts): a long poll never knows which replica's
// change woke it.
//
// The NOTIFY goes after the change commits, from the same announce() that wakes local waiters
// (routes call it once their transaction has committed). Why no wake-up is lost:
// - A long poll takes its waiter before it reads (device-routes.ts). PostgreSQL delivers a
//   notification to every connection listening when it commits, and this one commits after the
//   change did. So a replica whose waiter read before the change commits hears the NOTIFY and
//   wakes it, and one that read after has read the change.
// - A replica whose listening connection was down when the NOTIFY went out may have missed it: once
//   it listens again, it wakes every waiter. Each reads again, after the missed change committed,
//   and if nothing changed for it goes on waiting (and answers 304 at the end of its wait). A
//   connection that died silently (no FIN, a failover behind a proxy) is found by the heartbeat.
// - Left: the announcing process dies between the commit and its NOTIFY, or the NOTIFY fails every
//   attempt. Then the other replicas' devices see the change when their current wait ends (at most
//   55 s) and they ask again, as a device that was not waiting would. A NOTIFY inside the
//   transaction would close that gap, but it would need every change to hand its transaction to
//   the feed; the bound is the one devices already live with.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { LocalChanges, type ChangeFeed, type ChangeWaiter } from './bundle-changes.js';
import type { Database } from './db/database.js';
import { errorFields, type Logger } from './log.js';

/** The channel every replica of one database listens on (NOTIFY is scoped to the database). */
const CHANNEL = 'perimeter_bundle_changes';
/** How the listening connection names itself in pg_stat_activity. */
export const LISTENER_NAME = 'perimeter-server-listen';
/** Tries of one NOTIFY: the change has committed, so the database answered a moment ago. */
const NOTIFY_ATTEMPTS = 3;

export interface PostgresChangesOptions {
  readonly log: Logger;
  /** The first wait before listening again after the connection was lost; it doubles on failure. */
  readonly reconnectMs?: number;
  /** The longest wait between two tries to listen again. */
  readonly maxReconnectMs?: number;
  /** How often the listening connection is asked to answer (a dead one hears nothing, silently). */
  readonly heartbeatMs?: number;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });

export class PostgresChanges implements ChangeFeed {
  private readonly local = new LocalChanges();
  /** Marks this process's own notifications: it woke its waiters already. */
  private readonly instance = randomBytes(8).toString('hex');
  private readonly reconnectMs: number;
  private readonly maxReconnectMs: number;
  private readonly heartbeatMs: number;
  private client: pg.Client | undefined;
  /** A try to listen again, in flight. */
  private connecting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private nextDelayMs: number;
  private lost: { at: number; attempts: number } | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private isChecking = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly url: string,
    private readonly db: Database,
    private readonly log: Logger,
    options: PostgresChangesOptions,
  ) {
    this.reconnectMs = options.reconnectMs ?? 100;
    this.maxReconnectMs = options.maxReconnectMs ?? 5_000;
    this.heartbeatMs = options.heartbeatMs ?? 30_000;
    this.nextDelayMs = this.reconnectMs;
    this.heartbeat = setInterval(() => void this.check(), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Listens on a connection of its own to the database at `url`; NOTIFYs through `db`'s pool. */
  static async open(url: string, db: Database, options: PostgresChangesOptions): Promise<PostgresChanges> {
    const feed = new PostgresChanges(url, db, options.log, options);
    try {
      await feed.listen();
    } catch (e) {
      await feed.close();
      throw e;
    }
    return feed;
  }

  get isClosed(): boolean {
    return this.local.isClosed;
  }

  get waiters(): number {
    return this.local.waiters;
  }

  next(orgId: string): ChangeWaiter {
    return this.local.next(orgId);
  }

  announce(orgId: string): void {
    this.local.announce(orgId);
    void this.notify(orgId);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const woken = this.local.close();
      clearInterval(this.heartbeat);
      clearTimeout(this.retry);
      const client = this.client;
      this.client = undefined;
      await Promise.all([woken, this.connecting, client?.end().catch(() => undefined)]);
    })();
    return this.closing;
  }

  private async notify(orgId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.get('SELECT pg_notify(?, ?)', [CHANNEL, `${this.instance} ${orgId}`]);
        return;
      } catch (e) {
        // Once closed, the pool is about to end: no retries after it.
        if (attempt >= NOTIFY_ATTEMPTS || this.isClosed) {
          this.log.log('error', 'bundle-changes.notify-failed', {
            org: orgId,
            attempts: attempt,
            note: "the other replicas' devices see the change when their current wait ends",
            ...errorFields(e),
          });
          return;
        }
        await sleep(250 * attempt);
      }
    }
  }

  private heard(message: pg.Notification): void {
    if (message.channel !== CHANNEL || message.payload === undefined) return;
    const space = message.payload.indexOf(' ');
    if (space < 0 || message.payload.slice(0, space) === this.instance) return;
    this.local.announce(message.payload.slice(space + 1));
  }

  /** Connects and LISTENs; the connection becomes the feed's only once it listens. */
  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: LISTENER_NAME,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    client.on('notification', (message) => this.heard(message));
    // An error or end of a connection that is not (or no longer) the feed's is no news.
    client.on('error', (e) => this.dropped(client, e));
    client.on('end', () => this.dropped(client, undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    if (this.isClosed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  private dropped(client: pg.Client, error: unknown): void {
    if (client !== this.client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (this.isClosed) return;
    this.lost = { at: Date.now(), attempts: 0 };
    this.log.log('warn', 'bundle-changes.listener-lost', {
      note: 'devices waiting on this replica hear of changes made on others once it listens again',
      ...(error === undefined ? { error: 'the connection ended' } : errorFields(error)),
    });
    this.reconnectLater();
  }

  private reconnectLater(): void {
    if (this.retry !== undefined || this.isClosed) return;
    // Jittered (half to all of the delay), so replicas that lost the database together spread out.
    const delay = this.nextDelayMs * (0.5 + Math.random() / 2);
    this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.maxReconnectMs);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connecting = this.reconnect().finally(() => (this.connecting = undefined));
    }, delay);
    this.retry.unref();
  }

  private async reconnect(): Promise<void> {
    if (this.lost) this.lost.attempts++;
    try {
      await this.listen();
    } catch {
      this.reconnectLater();
      return;
    }
    if (this.isClosed) return;
    this.nextDelayMs = this.reconnectMs;
    // Notifications sent while nobody here listened are gone: every waiter looks again.
    this.local.wakeAll();
    this.log.log('info', 'bundle-changes.listener-restored', {
      downMs: this.lost ? Date.now() - this.lost.at : 0,
      attempts: this.lost?.attempts ?? 1,
    });
    this.lost = undefined;
  }

  /** Asks the listening connection to answer; one that cannot is dropped and replaced. */
  private async check(): Promise<void> {
    const client = this.client;
    if (client === undefined || this.isChecking) return;
    this.isChecking = true;
    let timer: NodeJS.Timeout | undefined;
    const limitMs = Math.max(1000, Math.floor(this.heartbeatMs / 3));
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the listening connection did not answer within ${limitMs} ms`)),
            limitMs,
          );
        }),
      ]);
    } catch (e) {
      // end() on a connection with a query in flight destroys its socket (a hung one never ends).
      this.dropped(client, e);
    } finally {
      clearTimeout(timer);
      this.isChecking = false;
    }
  }
}
