// UUIDv7 (RFC 9562 §5.7): time-ordered ids, so events sort by creation even across devices.

import { randomFillSync } from 'node:crypto';

/** A new UUIDv7 for `ms` (milliseconds since the epoch; now by default). */
export function uuid7(ms: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  randomFillSync(bytes);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
