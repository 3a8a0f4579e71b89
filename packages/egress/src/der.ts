// A minimal DER encoder (ITU-T X.690 §8 and §10): just the ASN.1 types an X.509 certificate
// needs (RFC 5280 §4.1). Every function returns one complete TLV, so values nest by plain
// function calls: `sequence(integer(2n), oid('2.5.4.3'))`. Pure: no I/O, no randomness.
// It only encodes; it never parses untrusted input, so it has no decoder to get wrong. Each
// function refuses (throws RangeError) a value DER cannot represent rather than emit bad bytes.

/** Definite-length encoding, short form below 128, else long form with the minimum number of octets (X.690 §10.1). */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** One TLV with a single-octet identifier (tag numbers 0–30, all this encoder ever needs). */
function tlv(identifier: number, content: Uint8Array): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 0xff || (identifier & 0x1f) === 0x1f) {
    throw new RangeError(`identifier octet 0x${identifier.toString(16)} is not a low tag number`);
  }
  return Buffer.concat([Buffer.of(identifier), encodeLength(content.length), content]);
}

// Universal tags (X.680 §8.4). 0x20 marks a constructed encoding.
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;
const UTF8_STRING = 0x0c;
const IA5_STRING = 0x16;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const SEQUENCE = 0x30;
const SET = 0x31;
const CONSTRUCTED = 0x20;
const CONTEXT = 0x80;

export function sequence(...items: readonly Uint8Array[]): Buffer {
  return tlv(SEQUENCE, Buffer.concat(items));
}

/** SET OF: DER orders the elements by their encodings, compared as octet strings (X.690 §11.6). */
export function set(...items: readonly Uint8Array[]): Buffer {
  const sorted = [...items].sort((a, b) => Buffer.compare(a, b));
  return tlv(SET, Buffer.concat(sorted));
}

/** DER's TRUE is 0xFF (X.690 §11.1). A DEFAULT FALSE field is omitted by the caller, not encoded. */
export function boolean(value: boolean): Buffer {
  return tlv(BOOLEAN, Buffer.of(value ? 0xff : 0x00));
}

/**
 * INTEGER in the fewest two's-complement octets (X.690 §8.3): a positive value whose top bit is set
 * gets a leading 0x00, so a random 128-bit serial stays positive (RFC 5280 §4.1.2.2).
 */
export function integer(value: bigint | number): Buffer {
  let n = BigInt(value);
  const octets: number[] = [];
  // Emit low octets until the rest is pure sign extension of the octet below it.
  for (;;) {
    const low = Number(n & 0xffn);
    octets.unshift(low);
    n >>= 8n; // arithmetic shift: negative values stay negative
    if ((n === 0n && (low & 0x80) === 0) || (n === -1n && (low & 0x80) !== 0)) break;
  }
  return tlv(INTEGER, Buffer.from(octets));
}

/** An unsigned big-endian byte string read as a non-negative INTEGER (serials come as random bytes). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  return integer(bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
}

/** Base-128 with the continuation bit on every octet but the last (X.690 §8.19.2). */
function base128(value: bigint): number[] {
  const out = [Number(value & 0x7fn)];
  for (let rest = value >> 7n; rest > 0n; rest >>= 7n) out.unshift(Number(rest & 0x7fn) | 0x80);
  return out;
}

const ARC = /^(0|[1-9][0-9]*)$/;

/** OBJECT IDENTIFIER from dotted text; the first two arcs share one subidentifier, 40·a + b (X.690 §8.19.4). */
export function oid(dotted: string): Buffer {
  const parts = dotted.split('.');
  if (parts.length < 2 || !parts.every((p) => ARC.test(p))) {
    throw new RangeError(`"${dotted}" is not a dotted object identifier`);
  }
  const arcs = parts.map((p) => BigInt(p));
  const [first = 0n, second = 0n, ...rest] = arcs;
  if (first > 2n || (first < 2n && second > 39n)) {
    throw new RangeError(`"${dotted}" has an invalid first or second arc`);
  }
  const octets = [first * 40n + second, ...rest].flatMap(base128);
  return tlv(OID, Buffer.from(octets));
}

export function utf8String(text: string): Buffer {
  return tlv(UTF8_STRING, Buffer.from(text, 'utf8'));
}

/** IA5String (ASCII): the type of dNSName in a GeneralName (RFC 5280 §4.2.1.6). */
export function ia5String(text: string): Buffer {
  if ([...text].some((ch) => ch.charCodeAt(0) > 0x7f))
    throw new RangeError(`"${text}" is not IA5 (7-bit ASCII)`);
  return tlv(IA5_STRING, Buffer.from(text, 'ascii'));
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` for 1950–2049, GeneralizedTime
 * `YYYYMMDDHHMMSSZ` otherwise; always UTC, always with seconds, never fractions (milliseconds are
 * dropped, so a certificate says exactly what it was given to the second).
 */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999) throw new RangeError('the date cannot be encoded');
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050) return tlv(UTC_TIME, Buffer.from(pad(year % 100) + rest, 'ascii'));
  return tlv(GENERALIZED_TIME, Buffer.from(pad(year, 4) + rest, 'ascii'));
}

/** BIT STRING: the first content octet counts the unused bits at the end of the last octet (X.690 §8.6.2). */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (
    !Number.isInteger(unusedBits) ||
    unusedBits < 0 ||
    unusedBits > 7 ||
    (bytes.length === 0 && unusedBits !== 0)
  ) {
    throw new RangeError(`${unusedBits} unused bits is impossible for ${bytes.length} octets`);
  }
  const last = bytes[bytes.length - 1] ?? 0;
  if ((last & ((1 << unusedBits) - 1)) !== 0) throw new RangeError('DER requires the unused bits to be zero');
  return tlv(BIT_STRING, Buffer.concat([Buffer.of(unusedBits), bytes]));
}

/**
 * A named-bit BIT STRING such as KeyUsage (RFC 5280 §4.2.1.3), from the numbers of the bits that
 * are set (bit 0 is the most significant bit of the first octet). DER drops trailing zero bits
 * (X.690 §11.2.2), so `digitalSignature` alone is `03 02 07 80`.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) {
    if (!Number.isInteger(bit) || bit < 0) throw new RangeError(`${bit} is not a bit number`);
    bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  }
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(OCTET_STRING, bytes);
}

function contextTagNumber(tagNumber: number): number {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30) {
    throw new RangeError(`context tag [${tagNumber}] is outside 0–30`);
  }
  return tagNumber;
}

/** `[n] EXPLICIT`: a constructed context-specific TLV wrapping the whole inner encoding (X.690 §8.14). */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  return tlv(CONTEXT | CONSTRUCTED | contextTagNumber(tagNumber), inner);
}

/**
 * `[n] IMPLICIT`: the inner TLV with its identifier replaced by the context tag, keeping whether
 * it is constructed (X.690 §8.14.3). So `implicit(2, ia5String(name))` is a dNSName GeneralName,
 * and `implicit(0, sequence(...))` is a constructed `[0]`.
 */
export function implicit(tagNumber: number, inner: Uint8Array): Buffer {
  const first = inner[0];
  if (first === undefined || (first & 0x1f) === 0x1f)
    throw new RangeError('implicit tagging needs a low-tag TLV');
  const out = Buffer.from(inner);
  out[0] = CONTEXT | (first & CONSTRUCTED) | contextTagNumber(tagNumber);
  return out;
}
