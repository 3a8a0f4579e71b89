// What the tests that count work share: a built-in method (a String or Set method, the RegExp
// constructor) replaced for the length of one run by a stand-in that counts or looks at its calls,
// and always put back. Not node:test's mock, which keeps a record of every call: millions here.

/**
 * Runs `run` with `owner[key]` replaced by what `standIn` makes of the real value, and puts the
 * real one back however `run` ends.
 */
export function withStandIn<T extends object, K extends keyof T>(
  owner: T,
  key: K,
  standIn: (real: T[K]) => T[K],
  run: () => void,
): void {
  const real = Object.getOwnPropertyDescriptor(owner, key)!;
  Object.defineProperty(owner, key, { ...real, value: standIn(real.value as T[K]) });
  try {
    run();
  } finally {
    Object.defineProperty(owner, key, real);
  }
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
