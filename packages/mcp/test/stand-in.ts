// What the tests that count work share: a built-in method (a String or Set method, the RegExp
// constructor) replaced for the length of one run by a stand-in that counts or looks at its calls,
// and always put back. Not node:test's mock, which keeps a record of every call: millions here.

/**
 * Runs `run` with `owner[key]` replaced by what `standIn` makes of the real value, and puts the
 * real one back however `run` ends (a promise it returns: once that settles).
 */
export function withStandIn<T extends object, K extends keyof T, R>(
  owner: T,
  key: K,
  standIn: (real: T[K]) => T[K],
  run: () => R,
): R {
  const real = Object.getOwnPropertyDescriptor(owner, key)!;
  const putBack = (): void => void Object.defineProperty(owner, key, real);
  Object.defineProperty(owner, key, { ...real, value: standIn(real.value as T[K]) });
  let result: R;
  try {
    result = run();
  } catch (e) {
    putBack();
    throw e;
  }
  if (result instanceof Promise) return result.finally(putBack) as R;
  putBack();
  return result;
}

/**
 * How many bytes `run` has Buffer.concat copy and Buffer#indexOf search: what a reader of lines
 * looks at. A reader linear in what it reads looks at each byte of a line once.
 */
export function bytesLookedAt(run: () => void): { readonly copied: number; readonly searched: number } {
  let copied = 0;
  let searched = 0;
  withStandIn(
    Buffer,
    'concat',
    (concat) => (list, length) => {
      copied += list.reduce((n, b) => n + b.length, 0);
      return concat(list, length);
    },
    () =>
      withStandIn(
        Buffer.prototype,
        'indexOf',
        (indexOf: Buffer['indexOf']) =>
          function (this: Buffer, ...args: Parameters<Buffer['indexOf']>) {
            searched += this.length - (typeof args[1] === 'number' ? args[1] : 0);
            return indexOf.apply(this, args);
          },
        run,
      ),
  );
  return { copied, searched };
}

/**
 * How many strings holding `mark` String#normalize is called on while `run` runs, on this thread
 * (the poisoning scan normalizes every string it reads), and what `run` came to.
 */
export async function normalizedHolding<R>(
  mark: string,
  run: () => Promise<R>,
): Promise<{ readonly normalized: number; readonly result: R }> {
  let normalized = 0;
  const result = await withStandIn(
    String.prototype,
    'normalize',
    (normalize) =>
      function (this: string, form?: string) {
        if (this.includes(mark)) normalized++;
        return normalize.call(this, form);
      },
    run,
  );
  return { normalized, result };
}
