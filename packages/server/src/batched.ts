// Work that thousands of requests ask for at once, done for many of them together: a publication
// wakes every device waiting on the organisation, and each then reads its standing, and soon
// after authenticates and reports what it activated. One statement for hundreds of devices costs
// the database and the server's event loop a fraction of hundreds of statements, and one commit
// for hundreds of reports costs one disk flush instead of hundreds (group commit).

/**
 * Runs `run` over the keys callers ask for, many at a time. Callers that ask in the same turn of
 * the event loop share one run; callers that ask while a run is under way share the next, which
 * starts once it ends. So every run began after each of its callers asked (a read sees every
 * change committed before its caller asked; a write is done when its caller hears back), and at
 * most one run is under way. A run takes at most `maxBatch` keys; `run` answers one value per
 * key, in their order. A failed run fails its own callers only.
 */
export function batched<K, V>(
  run: (keys: readonly K[]) => Promise<readonly V[]>,
  maxBatch: number,
): (key: K) => Promise<V> {
  interface Caller {
    readonly key: K;
    readonly resolve: (value: V) => void;
    readonly reject: (error: unknown) => void;
  }
  let waiting: Caller[] = [];
  let isRunning = false;
  let isScheduled = false;

  const schedule = (): void => {
    if (isScheduled || isRunning) return;
    isScheduled = true;
    // After the callers of this turn have asked (a wake-up resumes thousands in one turn).
    setImmediate(() => void runNext());
  };

  const runNext = async (): Promise<void> => {
    isScheduled = false;
    const batch = waiting.length <= maxBatch ? waiting : waiting.slice(0, maxBatch);
    waiting = batch === waiting ? [] : waiting.slice(maxBatch);
    isRunning = true;
    try {
      const values = await run(batch.map((c) => c.key));
      batch.forEach((c, i) => c.resolve(values[i] as V));
    } catch (e) {
      for (const c of batch) c.reject(e);
    } finally {
      isRunning = false;
      if (waiting.length > 0) schedule();
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
