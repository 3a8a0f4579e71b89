// Wake-ups for devices long-polling for their bundle: when something that goes into an
// organisation's bundles changes (a publication, a rollback, group membership, a group's name, a
// signing key), the change is announced after it commits, and every request waiting for that
// organisation looks again at once.
//
// This is the in-process feed: one server process (SQLite). Replicas sharing PostgreSQL use
// PostgresChanges (pg-changes.ts) behind the same interface: announce() also sends a NOTIFY, and
// each replica's LISTEN handler passes what it hears to its own LocalChanges, so waiters never know
// the difference.

export interface ChangeWaiter {
  /** Settles at the next announcement for the organisation, or when the feed closes. */
  readonly changed: Promise<void>;
  /** Stops waiting (the request ended first). */
  cancel(): void;
}

export interface ChangeFeed {
  /** What the organisation's devices should hold may have changed: wake its waiters. */
  announce(orgId: string): void;
  /**
   * A waiter for the organisation's next announcement. Take it *before* reading the current
   * state, so a change that commits in between still wakes it.
   */
  next(orgId: string): ChangeWaiter;
  /**
   * Wakes every waiter at once and for good (the server is stopping); resolves when the feed holds
   * nothing open any more (PostgreSQL's listening connection). Announcements still go out after.
   */
  close(): Promise<void>;
  /** True once closed: a woken waiter answers rather than wait again. */
  readonly isClosed: boolean;
  /** How many requests wait, for logs and tests. */
  readonly waiters: number;
}

export class LocalChanges implements ChangeFeed {
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  announce(orgId: string): void {
    const set = this.waiting.get(orgId);
    if (!set) return;
    this.waiting.delete(orgId);
    for (const wake of set) wake();
  }

  next(orgId: string): ChangeWaiter {
    if (this.closed) return { changed: Promise.resolve(), cancel: () => undefined };
    let wake: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    let set = this.waiting.get(orgId);
    if (!set) {
      set = new Set();
      this.waiting.set(orgId, set);
    }
    set.add(wake);
    return {
      changed,
      cancel: () => {
        const current = this.waiting.get(orgId);
        current?.delete(wake);
        if (current?.size === 0) this.waiting.delete(orgId);
      },
    };
  }

  /**
   * Wakes every waiter of every organisation: each reads its bundle again and, if nothing changed,
   * goes on waiting. For when announcements may have been missed.
   */
  wakeAll(): void {
    for (const orgId of [...this.waiting.keys()]) this.announce(orgId);
  }

  close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    return Promise.resolve();
  }

  get waiters(): number {
    let n = 0;
    for (const set of this.waiting.values()) n += set.size;
    return n;
  }
}
