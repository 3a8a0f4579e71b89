// Shannon entropy and the alphabet of a candidate value. Entropy alone misfires (research
// egress.md §8.3): it is capped by length (at most log2(n) bits per character) and by alphabet
// (4 bits for hex, 6 for base64), so every floor here depends on both, and entropy is only ever
// consulted behind a keyword or a structural hint, never on its own.

/** Each UTF-16 unit's count, zero between calls; a table reused rather than a Map per value. */
const COUNTS = new Uint32Array(65536);
/** The units of the value being measured, in order of first occurrence. */
const seen: number[] = [];

/** Shannon entropy of `value` in bits per character (0 for the empty string). */
export function shannonEntropy(value: string): number {
  const n = value.length;
  if (n === 0) return 0;
  seen.length = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    const count = COUNTS[c] ?? 0;
    if (count === 0) seen.push(c);
    COUNTS[c] = count + 1;
  }
  // Summed in order of first occurrence, as a Map would: thresholds compare the exact sum.
  let bits = 0;
  for (const c of seen) {
    const p = (COUNTS[c] ?? 0) / n;
    bits -= p * Math.log2(p);
    COUNTS[c] = 0;
  }
  return bits;
}

export type Alphabet = 'hex' | 'base64' | 'other';

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export function alphabetOf(value: string): Alphabet {
  if (HEX.test(value)) return 'hex';
  if (BASE64.test(value)) return 'base64';
  return 'other';
}

/**
 * The entropy a value of this alphabet and length must reach to count as random. The caps follow
 * detect-secrets (4.5 for base64, 3.0 for hex); below them the floor is a share of log2(length),
 * the most a string that short can carry, so short random values can still qualify.
 */
export function entropyFloor(alphabet: Alphabet, length: number): number {
  const cap = Math.log2(length);
  switch (alphabet) {
    case 'hex':
      return Math.min(3.0, cap * 0.75);
    case 'base64':
      return Math.min(4.5, cap * 0.8);
    case 'other':
      return Math.min(4.0, cap * 0.75);
  }
}
