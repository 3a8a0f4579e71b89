// A small seeded PRNG (mulberry32) and the helpers the generators use, so that rule sets and
// request mixes are identical on every run and for every engine.

export function createRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rand = {
    next,
    /** An integer in [0, n). */
    int: (n) => Math.floor(next() * n),
    /** An integer in [lo, hi]. */
    between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    /** Picks a key of `weights` ({key: weight}) in proportion to its weight. */
    weighted: (weights) => {
      const entries = Object.entries(weights);
      let total = 0;
      for (const [, w] of entries) total += w;
      let x = next() * total;
      for (const [key, w] of entries) {
        x -= w;
        if (x < 0) return key;
      }
      return entries[entries.length - 1][0];
    },
    shuffle: (list) => {
      const out = [...list];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j], out[i]];
      }
      return out;
    },
    /** A short lowercase word, for labels, file names and arguments. */
    word: () => rand.pick(WORDS) + (rand.chance(0.5) ? String(rand.int(100)) : ''),
  };
  return rand;
}

const WORDS = [
  'alpha',
  'beta',
  'cache',
  'data',
  'edge',
  'feed',
  'gamma',
  'hub',
  'index',
  'jobs',
  'kappa',
  'logs',
  'main',
  'node',
  'ops',
  'proxy',
  'queue',
  'relay',
  'store',
  'tools',
  'users',
  'vault',
  'web',
  'zeta',
];
