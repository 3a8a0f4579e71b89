// Canonical host and authority parsing: the one parser behind every decision, dial and audit
// record (research/egress.md §9.2). Pure. It never resolves names and never hands a raw string on:
// callers get a canonical name or a parsed IP, or an error that says what was wrong.

import { endsInNumber, formatIp, parseIpv4, parseIpv6, unwrapMapped, ipv4, ipv6, type Ip } from './ip.js';

export type HostErrorCode =
  | 'empty-host'
  | 'control-character'
  | 'forbidden-character'
  | 'zone-id'
  | 'malformed-ip'
  | 'malformed-host'
  | 'malformed-port'
  | 'missing-port';

export interface HostError {
  readonly code: HostErrorCode;
  readonly message: string;
}

/** Normalisation steps that fired, recorded so audit and explain can show them. */
export type HostStep =
  | 'lowercased'
  | 'trailing-dot-stripped'
  | 'percent-decoded'
  | 'idna-mapped'
  | 'ipv4-legacy-form'
  | 'ipv4-mapped-unwrapped'
  | 'ipv6-normalised';

export type CanonicalHost =
  | { readonly kind: 'name'; readonly name: string; readonly steps: readonly HostStep[] }
  | { readonly kind: 'ip'; readonly ip: Ip; readonly name: string; readonly steps: readonly HostStep[] };

export type HostResult = { readonly host: CanonicalHost } | { readonly error: HostError };

const FAST_ASCII = /^[a-z0-9._-]+$/i;
const LDH = /^[a-z0-9_-]+$/;
// WHATWG forbidden host code points, plus space; `%` is handled by percent-decoding first.
const FORBIDDEN = /[\s/\\?#@:<>[\]^|"'`{}]/;

function fail(code: HostErrorCode, message: string): { error: HostError } {
  return { error: { code, message } };
}

/** Any C0 or C1 control character, DEL or NUL: never valid anywhere in a host, path or command. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * What escapeUnprintable() escapes: control characters (C0, DEL, C1: a terminal's escape
 * sequences start with ESC or U+009B), the line and paragraph separators (line breaks to some
 * viewers and to JavaScript), and the characters that reorder text in a terminal that lays out
 * bidirectional text (the embeddings, overrides and isolates, and the marks), which could show a
 * line in another order than it is (Trojan Source).
 */
// eslint-disable-next-line no-control-regex -- control characters are what it is for
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` safe to show on one line of a terminal or a log: each character UNPRINTABLE names is
 * written as its JSON escape (`\u001b`, `\u202e`), so text from a client, a server or a device
 * cannot move the cursor, recolour, reorder or split the line of the person reading.
 */
export const escapeUnprintable = (text: string): string =>
  text.replace(UNPRINTABLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

function percentDecode(text: string): string | undefined {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    if (ch === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of new TextEncoder().encode(ch)) bytes.push(b);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

function ipHost(ip: Ip, steps: HostStep[]): { host: CanonicalHost } {
  return { host: { kind: 'ip', ip, name: formatIp(ip), steps } };
}

function parseIpv6Host(body: string, steps: HostStep[]): HostResult {
  if (body.includes('%')) return fail('zone-id', 'IPv6 zone identifiers (%…) are not accepted in a host');
  const w = parseIpv6(body);
  if (w === undefined) return fail('malformed-ip', `"${body}" is not a valid IPv6 address`);
  const ip = unwrapMapped(ipv6(w));
  if (ip.family === 4) steps.push('ipv4-mapped-unwrapped');
  else if (formatIp(ip) !== body) steps.push('ipv6-normalised');
  return ipHost(ip, steps);
}

const NO_STEPS: readonly HostStep[] = Object.freeze([]);

/**
 * The common case in one pass and no allocation beyond the result: an already-canonical name
 * (lowercase letters, digits, `-`, `_`, dots between non-empty labels of at most 63 characters,
 * no `xn--` label, a last label that is not numeric). Anything else returns undefined and takes
 * the full path below, which gives the same answer for these names.
 */
function plainName(raw: string): { host: CanonicalHost } | undefined {
  const n = raw.length;
  if (n > 253) return undefined;
  let labelStart = 0;
  let lastIsNumeric = true;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? raw.charCodeAt(i) : 46;
    if (c === 46 /* . */) {
      const len = i - labelStart;
      if (len === 0 || len > 63) return undefined;
      if (len >= 4 && raw.startsWith('xn--', labelStart)) return undefined;
      if (i < n) {
        labelStart = i + 1;
        lastIsNumeric = true;
      }
    } else if ((c >= 97 && c <= 122) || c === 45 || c === 95) {
      lastIsNumeric = false;
    } else if (!(c >= 48 && c <= 57)) {
      return undefined;
    }
  }
  // A numeric last label (or 0x…) makes it an IPv4 literal: the full path parses it.
  if (lastIsNumeric || raw.startsWith('0x', labelStart)) return undefined;
  return { host: { kind: 'name', name: raw, steps: NO_STEPS } };
}

/** Dotted decimal with no leading zeros (`93.184.216.34`): already canonical, parsed in one pass. */
function plainIpv4(raw: string): { host: CanonicalHost } | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= raw.length; i++) {
    const c = i < raw.length ? raw.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 255 || ++dots > 4) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // a leading zero: octal, the full path parses it
      part = part * 10 + (c - 48);
      if (++digits > 3) return undefined;
    } else return undefined;
  }
  if (dots !== 4) return undefined;
  return { host: { kind: 'ip', ip: ipv4(value), name: raw, steps: NO_STEPS } };
}

/**
 * Canonicalises a host as written in a request, a URL or a SOCKS request: brackets stripped from
 * IPv6, percent-decoding, IDNA UTS-46 to ASCII (via the WHATWG URL parser), lowercase, one
 * trailing dot stripped, IPv4 in every numeric spelling turned into dotted decimal, IPv4-mapped
 * IPv6 unwrapped. A host that ends in a number but is no valid IPv4 address is an error, never a
 * name to look up.
 */
export function canonicalHost(raw: string): HostResult {
  if (raw.length === 0) return fail('empty-host', 'the host is empty');
  if (raw.length > 1024) return fail('malformed-host', 'the host is longer than 1024 characters');
  if (hasControlCharacter(raw)) {
    return fail('control-character', 'the host contains a control character (NUL, CR, LF, …)');
  }
  const steps: HostStep[] = [];
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']'))
      return fail('malformed-ip', 'an IPv6 literal opened with "[" must close with "]"');
    return parseIpv6Host(raw.slice(1, -1), steps);
  }
  if (raw.includes(':')) return parseIpv6Host(raw, steps);

  const fast = plainName(raw) ?? plainIpv4(raw);
  if (fast !== undefined) return fast;
  let ascii: string;
  if (FAST_ASCII.test(raw) && !/(^|\.)xn--/i.test(raw)) {
    ascii = raw.toLowerCase();
    if (ascii !== raw) steps.push('lowercased');
  } else {
    const decoded = percentDecode(raw);
    if (decoded === undefined) return fail('malformed-host', 'the host has a bad percent-encoding');
    if (decoded !== raw) steps.push('percent-decoded');
    if (hasControlCharacter(decoded)) {
      return fail('control-character', 'the host contains an encoded control character');
    }
    if (FORBIDDEN.test(decoded) || decoded.includes('%')) {
      return fail('forbidden-character', `the host "${raw}" contains a character not allowed in a host name`);
    }
    let mapped: string;
    try {
      // The WHATWG host parser implements UTS-46 non-transitional ToASCII with CheckBidi and
      // CheckJoiners, and rejects invalid Punycode (`xn--a`): exactly the browser's view of a name.
      mapped = new URL(`http://${decoded}/`).hostname;
    } catch {
      return fail('malformed-host', `"${raw}" is not a valid host name (IDNA processing failed)`);
    }
    if (mapped === '') return fail('malformed-host', `"${raw}" is not a valid host name`);
    if (mapped.startsWith('[')) return parseIpv6Host(mapped.slice(1, -1), steps);
    // ASCII-only lowercasing: toLowerCase() would also fold the Kelvin sign (U+212A) to "k" and
    // hide that IDNA mapped a non-ASCII character.
    const asciiLower = decoded.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
    if (mapped !== asciiLower) steps.push('idna-mapped');
    else if (mapped !== decoded) steps.push('lowercased');
    ascii = mapped;
  }

  if (endsInNumber(ascii)) {
    const v4 = parseIpv4(ascii);
    if (v4 === undefined) {
      return fail('malformed-ip', `"${raw}" looks like an IPv4 address but is not a valid one`);
    }
    const ip = ipv4(v4);
    const text = formatIp(ip);
    if (text !== ascii) steps.push(ascii === `${text}.` ? 'trailing-dot-stripped' : 'ipv4-legacy-form');
    return ipHost(ip, steps);
  }

  let name = ascii;
  if (name.endsWith('.')) {
    name = name.slice(0, -1);
    steps.push('trailing-dot-stripped');
  }
  if (name.length === 0) return fail('malformed-host', 'the host is only a dot');
  if (name.length > 253) return fail('malformed-host', 'the host name is longer than 253 characters');
  for (const label of name.split('.')) {
    if (label.length === 0) return fail('malformed-host', `"${raw}" has an empty label`);
    if (label.length > 63) return fail('malformed-host', `"${raw}" has a label longer than 63 characters`);
    if (!LDH.test(label)) {
      return fail('forbidden-character', `"${raw}" contains a character not allowed in a host name`);
    }
  }
  return { host: { kind: 'name', name, steps } };
}

/** Parses a decimal port 1–65535 with no sign, no leading zero and nothing after it. */
export function parsePort(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

export interface Authority {
  readonly host: CanonicalHost;
  readonly port: number;
}

/**
 * Parses `host:port`, `[v6]:port`, or (when `defaultPort` is given) a bare host or bare IPv6
 * address. The host part goes through {@link canonicalHost}.
 */
export function parseAuthority(
  raw: string,
  defaultPort?: number,
): { authority: Authority } | { error: HostError } {
  if (hasControlCharacter(raw)) {
    return fail('control-character', 'the address contains a control character (NUL, CR, LF, …)');
  }
  let hostText: string;
  let portText: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return fail('malformed-ip', 'an IPv6 literal opened with "[" must close with "]"');
    hostText = raw.slice(0, close + 1);
    const rest = raw.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return fail('malformed-port', `unexpected "${rest}" after the IPv6 literal`);
      portText = rest.slice(1);
    }
  } else {
    const colons = raw.split(':').length - 1;
    if (colons === 1) {
      const at = raw.indexOf(':');
      hostText = raw.slice(0, at);
      portText = raw.slice(at + 1);
    } else {
      // Two or more colons without brackets can only be a bare IPv6 address, with no port.
      hostText = raw;
    }
  }
  let port: number | undefined = defaultPort;
  if (portText !== undefined) {
    port = parsePort(portText);
    if (port === undefined) return fail('malformed-port', `"${portText}" is not a port number (1–65535)`);
  }
  if (port === undefined) {
    return fail('missing-port', `"${raw}" has no port; write it as host:port (for example example.com:443)`);
  }
  const parsed = canonicalHost(hostText);
  if ('error' in parsed) return parsed;
  return { authority: { host: parsed.host, port } };
}

/** `host:port` with IPv6 bracketed: the canonical resource string for a network request. */
export function formatAuthority(host: CanonicalHost, port: number): string {
  const h = host.kind === 'ip' && host.ip.family === 6 ? `[${host.name}]` : host.name;
  return `${h}:${port}`;
}
