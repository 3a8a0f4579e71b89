// IP addresses and CIDR blocks: parsing every spelling to one canonical value, formatting, and
// containment. Pure. Every component that decides or dials speaks these values, never raw text:
// inet_aton accepts octal, hex and dotted-short forms, so a raw-string check is a bypass.

/** An IPv4 address as an unsigned 32-bit integer, or an IPv6 address as four unsigned 32-bit words. */
export type Ip =
  | { readonly family: 4; readonly v4: number }
  | { readonly family: 6; readonly w: readonly [number, number, number, number] };

export interface Cidr {
  readonly ip: Ip;
  readonly prefix: number;
}

const DIGITS = /^[0-9]+$/;
const HEX = /^[0-9a-fA-F]*$/;
const OCTAL = /^[0-7]+$/;

/**
 * Parses one IPv4 number part as the WHATWG URL standard does: `0x`/`0X` prefix is hex (an empty
 * rest is 0), a leading `0` is octal, anything else decimal. Returns undefined when it is not a number.
 */
function parseIpv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let text = part;
  let radix = 10;
  if (text.length >= 2 && text[0] === '0' && (text[1] === 'x' || text[1] === 'X')) {
    text = text.slice(2);
    radix = 16;
    if (text === '') return 0;
    if (!HEX.test(text)) return undefined;
  } else if (text.length >= 2 && text[0] === '0') {
    text = text.slice(1);
    radix = 8;
    if (!OCTAL.test(text)) return undefined;
  } else if (!DIGITS.test(text)) {
    return undefined;
  }
  // Parse without losing precision: a 0x41414141A9FEA9FE must fail, not wrap around. Leading
  // zeros carry no value (0x00000000000000007f is 127), so they do not count toward the length.
  text = text.replace(/^0+(?=.)/, '');
  if (text.length > 12) return Number.POSITIVE_INFINITY;
  return parseInt(text, radix);
}

/** True when the last non-empty dot-separated label is numeric, which makes a host an IPv4 literal. */
export function endsInNumber(host: string): boolean {
  let end = host.length;
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) {
    if (end === 1) return false;
    end--;
  }
  const last = host.slice(host.lastIndexOf('.', end - 1) + 1, end);
  if (last !== '' && DIGITS.test(last)) return true;
  return parseIpv4Number(last) !== undefined;
}

/**
 * Parses an IPv4 literal in every form `inet_aton` and the WHATWG URL parser accept: 1 to 4 parts,
 * each decimal, octal or hex, the last one filling the remaining bytes (`127.1`, `0x7f.1`,
 * `2130706433`, `0177.0.0.1`). One trailing dot is allowed. Returns undefined on any failure,
 * including overflow (`425.510.425.510`, `7147006462`).
 */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop() ?? 0;
  for (const n of numbers) if (n > 255) return undefined;
  if (last >= 256 ** (5 - parts.length)) return undefined;
  let value = last;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return value >>> 0;
}

/** Parses strict dotted-decimal IPv4 (four parts, no leading zeros), as inside an IPv6 literal. */
function parseDottedQuad(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!DIGITS.test(part) || part.length > 3 || (part.length > 1 && part[0] === '0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value >>> 0;
}

/**
 * Parses an IPv6 literal without brackets (RFC 4291 §2.2): hex groups, one `::`, an optional
 * trailing dotted IPv4. Zone identifiers are refused by the caller before this point.
 */
export function parseIpv6(text: string): readonly [number, number, number, number] | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) > 0) {
    tailV4 = parseDottedQuad(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::", "a::1.2.3.4" leaves "a::", "a:b:...:f:1.2.3.4" leaves "...:f:".
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = tailV4 === undefined ? 8 : 6;
  const doubleAt = head.indexOf('::');
  if (doubleAt >= 0 && head.indexOf('::', doubleAt + 1) >= 0) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.length === 0 || g.length > 4 || !HEX.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (doubleAt >= 0) {
    const left = parseGroups(head.slice(0, doubleAt));
    const right = parseGroups(head.slice(doubleAt + 2));
    if (left === undefined || right === undefined) return undefined;
    const missing = groupsWanted - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    const all = parseGroups(head);
    if (all === undefined || all.length !== groupsWanted) return undefined;
    groups = all;
  }
  if (tailV4 !== undefined) groups.push(tailV4 >>> 16, tailV4 & 0xffff);
  const g = (i: number): number => groups[i] ?? 0;
  return [
    ((g(0) << 16) | g(1)) >>> 0,
    ((g(2) << 16) | g(3)) >>> 0,
    ((g(4) << 16) | g(5)) >>> 0,
    ((g(6) << 16) | g(7)) >>> 0,
  ];
}

export function formatIpv4(v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIpv6(w: readonly [number, number, number, number]): string {
  const groups: number[] = [];
  for (const word of w) groups.push(word >>> 16, word & 0xffff);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((n) => n.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatIpv4(ip.v4) : formatIpv6(ip.w);
}

export function ipv4(v4: number): Ip {
  return { family: 4, v4: v4 >>> 0 };
}

export function ipv6(w: readonly [number, number, number, number]): Ip {
  return { family: 6, w };
}

/**
 * Parses a bare IP literal in any accepted spelling: IPv4 in every numeric form, IPv6 with or
 * without brackets. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is unwrapped to IPv4, because
 * that is the address the kernel dials.
 */
export function parseIp(text: string): Ip | undefined {
  let body = text;
  if (body.startsWith('[') && body.endsWith(']')) body = body.slice(1, -1);
  if (body.includes(':')) {
    if (body.includes('%')) return undefined;
    const w = parseIpv6(body);
    if (w === undefined) return undefined;
    return unwrapMapped(ipv6(w));
  }
  if (!endsInNumber(body)) return undefined;
  const v4 = parseIpv4(body);
  return v4 === undefined ? undefined : ipv4(v4);
}

/** `::ffff:a.b.c.d` is IPv4 on the wire; anything else is returned unchanged. */
export function unwrapMapped(ip: Ip): Ip {
  if (ip.family === 6 && ip.w[0] === 0 && ip.w[1] === 0 && ip.w[2] === 0xffff) return ipv4(ip.w[3]);
  return ip;
}

function maskWord(prefixBits: number): number {
  if (prefixBits <= 0) return 0;
  if (prefixBits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - prefixBits)) >>> 0;
}

/** The network address of `ip` under `prefix` (host bits cleared). */
export function networkOf(ip: Ip, prefix: number): Ip {
  if (ip.family === 4) return ipv4((ip.v4 & maskWord(prefix)) >>> 0);
  const w = ip.w.map((word, i) => (word & maskWord(prefix - 32 * i)) >>> 0);
  return ipv6([w[0] ?? 0, w[1] ?? 0, w[2] ?? 0, w[3] ?? 0]);
}

export function ipEquals(a: Ip, b: Ip): boolean {
  if (a.family === 4) return b.family === 4 && a.v4 === b.v4;
  return b.family === 6 && a.w[0] === b.w[0] && a.w[1] === b.w[1] && a.w[2] === b.w[2] && a.w[3] === b.w[3];
}

export function cidrContains(cidr: Cidr, ip: Ip): boolean {
  if (cidr.ip.family !== ip.family) return false;
  return ipEquals(networkOf(ip, cidr.prefix), cidr.ip);
}

/** True when every address of `inner` lies inside `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.ip);
}

/** True when the two blocks share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}

export type CidrError = 'not-an-address' | 'bad-prefix' | 'host-bits-set';

/**
 * Parses `a.b.c.d/n` or `v6/n` (a bare address is a /32 or /128). IPv4 parts must be dotted decimal
 * here: a policy author writes CIDRs, and an odd spelling there is a typo, not an attack. An
 * IPv4-mapped IPv6 block that lies wholly in `::ffff:0:0/96` is converted to the IPv4 block, so
 * `::ffff:169.254.0.0/112` and `169.254.0.0/16` are one rule.
 */
export function parseCidr(text: string): { cidr: Cidr } | { error: CidrError } {
  const slash = text.indexOf('/');
  const addressText = slash >= 0 ? text.slice(0, slash) : text;
  let ip: Ip | undefined;
  if (addressText.includes(':')) {
    const w = addressText.includes('%') ? undefined : parseIpv6(addressText);
    ip = w === undefined ? undefined : ipv6(w);
  } else {
    const v4 = parseDottedQuad(addressText);
    ip = v4 === undefined ? undefined : ipv4(v4);
  }
  if (ip === undefined) return { error: 'not-an-address' };
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!DIGITS.test(p) || p.length > 3 || (p.length > 1 && p[0] === '0')) return { error: 'bad-prefix' };
    prefix = Number(p);
    if (prefix > max) return { error: 'bad-prefix' };
  }
  if (!ipEquals(networkOf(ip, prefix), ip)) return { error: 'host-bits-set' };
  if (ip.family === 6 && prefix >= 96 && ip.w[0] === 0 && ip.w[1] === 0 && ip.w[2] === 0xffff) {
    return { cidr: { ip: ipv4(ip.w[3]), prefix: prefix - 96 } };
  }
  return { cidr: { ip, prefix } };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.ip)}/${cidr.prefix}`;
}

/** A stable key for an address, used in lookup tables. */
export function ipKey(ip: Ip): string {
  return ip.family === 4 ? String(ip.v4) : `${ip.w[0]}:${ip.w[1]}:${ip.w[2]}:${ip.w[3]}`;
}
