// Work that thousands of requests ask for at once, done for many of them together: a publication
// wakes every device waiting on the organisation, and each then reads its standing, and soon
// after authenticates and reports what it activated. One statement for hundreds of devices costs
// the database and the server's event loop a fraction of hundreds of statements, and one commit
// for hundreds of reports costs one disk flush instead of hundreds (group commit; on SQLite,
// devices' audit uploads too: store/device-chains.ts).

/** What a run answers for a key whose caller is to fail with `error` while the others go on. */
export class Failure {
  constructor(readonly error: unknown) {}
}

export interface BatchedOptions<K> {
  /** The most a run takes, counted by sizeOf; a run takes at least one key, however large. */
  readonly maxBatch: number;
  /** What a key counts towards maxBatch (default 1: maxBatch counts keys). */
  readonly sizeOf?: (key: K) => number;
  /** The most runs under way at once (default 1). */
  readonly maxInFlight?: number;
}

/**
 * Runs `run` over the keys callers ask for, many at a time. Callers that ask in the same turn of
 * the event loop share one run, which starts at the end of that turn; callers that ask while
 * maxInFlight runs are under way share the next, which starts once one of them ends. So every run
 * began after each of its callers asked (a read sees every change committed before its caller
 * asked; a write is done when its caller hears back). A run takes the keys that waited longest, as
 * many as maxBatch allows; `run` answers one value per key, in their order, or a Failure for a key
 * whose caller alone is to fail. A failed run fails its own callers only.
 */
export function batched<K, V>(
  run: (keys: readonly K[]) => Promise<readonly (V | Failure)[]>,
  options: BatchedOptions<K>,
): (key: K) => Promise<V> {
  interface Caller {
    readonly key: K;
    readonly resolve: (value: V) => void;
    readonly reject: (error: unknown) => void;
  }
  const { maxBatch, sizeOf = () => 1, maxInFlight = 1 } = options;
  let waiting: Caller[] = [];
  let inFlight = 0;
  let isScheduled = false;

  const schedule = (): void => {
    if (isScheduled || inFlight >= maxInFlight || waiting.length === 0) return;
    isScheduled = true;
    // After the callers of this turn have asked (a wake-up resumes thousands in one turn).
    setImmediate(startRuns);
  };

  /** The callers that waited longest: the first, then as many as fit in maxBatch. */
  const take = (): Caller[] => {
    let size = 0;
    let n = 0;
    while (n < waiting.length) {
      size += sizeOf((waiting[n] as Caller).key);
      if (n > 0 && size > maxBatch) break;
      n += 1;
    }
    const batch = n === waiting.length ? waiting : waiting.slice(0, n);
    waiting = batch === waiting ? [] : waiting.slice(n);
    return batch;
  };

  const runBatch = async (batch: readonly Caller[]): Promise<void> => {
    try {
      const values = await run(batch.map((c) => c.key));
      batch.forEach((c, i) => {
        const value = values[i];
        if (value instanceof Failure) c.reject(value.error);
        else c.resolve(value as V);
      });
    } catch (e) {
      for (const c of batch) c.reject(e);
    } finally {
      inFlight -= 1;
      schedule();
    }
  };

  const startRuns = (): void => {
    isScheduled = false;
    while (inFlight < maxInFlight && waiting.length > 0) {
      inFlight += 1;
      void runBatch(take());
    }
  };

  return (key) =>
    new Promise<V>((resolve, reject) => {
      waiting.push({ key, resolve, reject });
      schedule();
    });
}

/**
 * A read that concurrent callers share: at most one runs; callers that arrive while it runs share
 * the next one, which starts when it ends, so every caller gets a read that began after it asked.
 */
export function coalesced<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const p = read();
    running = p;
    const clear = (): void => {
      if (running === p) running = undefined;
    };
    p.then(clear, clear);
    return p;
  };
  return () => {
    if (running === undefined) return start();
    queued ??= running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        return start();
      });
    return queued;
  };
}
