// The checksum of GitHub's and npm's token formats: the last 6 characters of `ghp_…`, `gho_…`,
// `ghu_…`, `ghs_…`, `ghr_…` and `npm_…` tokens are the CRC32 of the 30-character random body,
// written in base62 (0-9A-Za-z) and left-padded with "0" (GitHub's 2021 token-format post; npm's
// announcement of the same format). A right checksum makes a match near-certain; a wrong one means
// a look-alike (a test fixture, a typo, an attacker's decoy) and is reported with low confidence.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3) of the characters of `ascii`, each taken as one byte. */
export function crc32(ascii: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < ascii.length; i++)
    crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ ascii.charCodeAt(i)) & 0xff] ?? 0);
  return (crc ^ 0xffffffff) >>> 0;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` in base62, left-padded with "0" to `width` characters. */
export function base62(n: number, width: number): string {
  let out = '';
  let rest = n;
  do {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  return out.padStart(width, '0');
}

/** The 6-character checksum a 30-character token body must end with. */
export function tokenChecksum(body: string): string {
  return base62(crc32(body), 6);
}

/**
 * Whether `token` (prefix `xxx_`, 30-character body, 6-character checksum) carries a right
 * checksum. `prefixLength` is the length of the prefix including the underscore.
 */
export function hasValidChecksum(token: string, prefixLength: number): boolean {
  const body = token.slice(prefixLength, prefixLength + 30);
  return body.length === 30 && token.slice(prefixLength + 30) === tokenChecksum(body);
}
