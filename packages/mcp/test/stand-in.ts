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
