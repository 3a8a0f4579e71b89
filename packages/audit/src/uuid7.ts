// UUIDv7 (RFC 9562 §5.7): time-ordered ids, so events sort by creation even across devices.
// Within one millisecond, ids made by this process count up (RFC 9562 §6.2, method 2: the 74
// random bits of the last id, plus one), so events recorded in the same millisecond still sort in
// the order they happened: an export ordered by time and id keeps a chain in order.

import { randomFillSync } from 'node:crypto';

let lastMs = -1;
const last = new Uint8Array(16);

/** Random bytes drawn 4 KiB at a time: one call into the CSPRNG per 409 new milliseconds, not one each. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;
function randomInto(bytes: Uint8Array, from: number): void {
  const n = bytes.length - from;
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  bytes.set(pool.subarray(poolAt, poolAt + n), from);
  pool.fill(0, poolAt, poolAt + n); // a byte handed out is not kept
  poolAt += n;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Adds one to the 74 bits after the timestamp (rand_a and rand_b), around the version and variant. */
function increment(bytes: Uint8Array): void {
  for (let i = 15; i >= 9; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
    if (bytes[i] !== 0) return;
  }
  const b8 = ((bytes[8] ?? 0) & 0x3f) + 1; // 6 bits under the variant
  bytes[8] = 0x80 | (b8 & 0x3f);
  if (b8 <= 0x3f) return;
  bytes[7] = ((bytes[7] ?? 0) + 1) & 0xff;
  if (bytes[7] !== 0) return;
  bytes[6] = 0x70 | ((((bytes[6] ?? 0) & 0x0f) + 1) & 0x0f); // 4 bits under the version
}

/** A new UUIDv7 for `ms` (milliseconds since the epoch; now by default). */
export function uuid7(ms: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  if (ms === lastMs) {
    bytes.set(last);
    increment(bytes);
  } else {
    randomInto(bytes, 6);
    // The top random bit starts at 0, so a millisecond has room for 2^73 ids before it wraps.
    bytes[6] = ((bytes[6] ?? 0) & 0x07) | 0x70;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    let t = ms;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = t % 256;
      t = Math.floor(t / 256);
    }
    lastMs = ms;
  }
  last.set(bytes);
  const h = (from: number, to: number): string => {
    let out = '';
    for (let i = from; i < to; i++) out += HEX[bytes[i] ?? 0];
    return out;
  };
  return `${h(0, 4)}-${h(4, 6)}-${h(6, 8)}-${h(8, 10)}-${h(10, 16)}`;
}
