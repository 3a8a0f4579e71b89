// The built-in guard: address ranges and names no session may reach unless an allow rule names an
// address inside the range explicitly (a catch-all such as `**` or `0.0.0.0/0` never lifts it).
// Pure. Sources: IANA special-purpose registries, research/egress.md §4.1 and §9.2.6.

import { formatIpv4, parseCidr, type Cidr, type Ip } from './ip.js';

export interface SpecialRange {
  /** The block, canonical. */
  readonly cidr: Cidr;
  /** Its text as written in this table, for messages. */
  readonly text: string;
  /** A stable reason code for audit and tests. */
  readonly code: string;
  /** What it is, for a person. */
  readonly what: string;
  /** Cloud metadata and platform endpoints: no policy can open them. */
  readonly isLocked: boolean;
  /** For an IPv6 range that embeds an IPv4 address: how to read it out. */
  readonly embedded?: (ip: Ip & { family: 6 }) => number;
}

type Row = [text: string, code: string, what: string, isLocked?: boolean];

const IPV4_ROWS: Row[] = [
  ['0.0.0.0/8', 'unspecified', '"this network" (Linux dials 0.0.0.0 as the local host)'],
  ['10.0.0.0/8', 'private', 'a private network (RFC 1918)'],
  ['100.64.0.0/10', 'cgnat', 'carrier-grade NAT space, reachable inside many clouds (RFC 6598)'],
  ['100.100.100.200/32', 'metadata', 'the Alibaba Cloud metadata service', true],
  ['127.0.0.0/8', 'loopback', 'loopback (this machine)'],
  ['169.254.0.0/16', 'link-local', 'link-local, where cloud metadata services live'],
  ['169.254.169.254/32', 'metadata', 'the cloud instance metadata service (AWS, GCP, Azure, …)', true],
  ['169.254.170.2/32', 'metadata', 'the AWS ECS task metadata service', true],
  ['172.16.0.0/12', 'private', 'a private network (RFC 1918)'],
  ['192.0.0.0/24', 'ietf-protocol', 'IETF protocol assignments (RFC 6890)'],
  ['192.0.0.192/32', 'metadata', 'the Oracle Cloud metadata service', true],
  ['192.0.2.0/24', 'documentation', 'documentation space (TEST-NET-1)'],
  ['192.168.0.0/16', 'private', 'a private network (RFC 1918)'],
  ['198.18.0.0/15', 'benchmarking', 'benchmarking space (RFC 2544)'],
  ['198.51.100.0/24', 'documentation', 'documentation space (TEST-NET-2)'],
  ['203.0.113.0/24', 'documentation', 'documentation space (TEST-NET-3)'],
  ['224.0.0.0/4', 'multicast', 'multicast'],
  ['240.0.0.0/4', 'reserved', 'reserved space (and broadcast)'],
  // A public address that is a platform endpoint: it hands out VM credentials on Azure.
  ['168.63.129.16/32', 'metadata', 'the Azure WireServer platform endpoint', true],
];

const IPV6_ROWS: Row[] = [
  ['::/128', 'unspecified', 'the unspecified address'],
  ['::1/128', 'loopback', 'loopback (this machine)'],
  ['::/96', 'ipv4-compatible', 'an IPv4-compatible IPv6 address (deprecated embedding)'],
  ['::ffff:0:0:0/96', 'siit', 'an SIIT-translated IPv4 address (RFC 6052 / 7915)'],
  ['64:ff9b::/96', 'nat64', 'a NAT64 address embedding IPv4 (RFC 6052)'],
  ['64:ff9b:1::/48', 'nat64', 'a local-use NAT64 address (RFC 8215)'],
  ['100::/64', 'discard', 'the IPv6 discard prefix (RFC 6666)'],
  ['2001::/32', 'teredo', 'a Teredo tunnel address embedding IPv4 (RFC 4380)'],
  ['2001:db8::/32', 'documentation', 'documentation space'],
  ['2002::/16', '6to4', 'a 6to4 address embedding IPv4 (RFC 3056)'],
  ['3fff::/20', 'documentation', 'documentation space (RFC 9637)'],
  ['5f00::/16', 'segment-routing', 'segment-routing SIDs (RFC 9602)'],
  ['fc00::/7', 'unique-local', 'a unique-local (private) IPv6 network'],
  ['fd00:ec2::254/128', 'metadata', 'the AWS IPv6 instance metadata service', true],
  ['fe80::/10', 'link-local', 'IPv6 link-local'],
  ['fec0::/10', 'site-local', 'deprecated IPv6 site-local'],
  ['ff00::/8', 'multicast', 'IPv6 multicast'],
];

const EMBEDDINGS: Record<string, (ip: Ip & { family: 6 }) => number> = {
  'ipv4-compatible': (ip) => ip.w[3],
  siit: (ip) => ip.w[3],
  nat64: (ip) => ip.w[3],
  '6to4': (ip) => (((ip.w[0] & 0xffff) << 16) | (ip.w[1] >>> 16)) >>> 0,
  teredo: (ip) => ~ip.w[3] >>> 0,
};

function build(rows: Row[]): SpecialRange[] {
  return rows.map(([text, code, what, isLocked]) => {
    const parsed = parseCidr(text);
    if (!('cidr' in parsed)) throw new Error(`special range table: bad CIDR ${text}`);
    const embedded = EMBEDDINGS[code];
    return {
      cidr: parsed.cidr,
      text,
      code,
      what,
      isLocked: isLocked === true,
      ...(embedded ? { embedded } : {}),
    };
  });
}

/** Most specific ranges first, so a metadata /32 is named before the link-local /16 around it. */
export const SPECIAL_RANGES: readonly SpecialRange[] = [...build(IPV4_ROWS), ...build(IPV6_ROWS)].sort(
  (a, b) => b.cidr.prefix - a.cidr.prefix,
);

interface V4Entry {
  readonly net: number;
  readonly mask: number;
  readonly range: SpecialRange;
}
interface V6Entry {
  readonly net: readonly number[];
  readonly mask: readonly number[];
  readonly range: SpecialRange;
}

function mask32(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

const V4: V4Entry[] = [];
const V6: V6Entry[] = [];
for (const range of SPECIAL_RANGES) {
  const { ip, prefix } = range.cidr;
  if (ip.family === 4) V4.push({ net: ip.v4, mask: mask32(prefix), range });
  else V6.push({ net: ip.w, mask: [0, 1, 2, 3].map((i) => mask32(prefix - 32 * i)), range });
}

const NO_RANGES: readonly SpecialRange[] = Object.freeze([]);

/** Every special range that contains `ip`, most specific first. Empty for a public address. */
export function specialRangesOf(ip: Ip): readonly SpecialRange[] {
  let out: SpecialRange[] | undefined;
  if (ip.family === 4) {
    for (const e of V4) if ((ip.v4 & e.mask) >>> 0 === e.net) (out ??= []).push(e.range);
  } else {
    for (const e of V6) {
      if (
        (ip.w[0] & (e.mask[0] ?? 0)) >>> 0 === e.net[0] &&
        (ip.w[1] & (e.mask[1] ?? 0)) >>> 0 === e.net[1] &&
        (ip.w[2] & (e.mask[2] ?? 0)) >>> 0 === e.net[2] &&
        (ip.w[3] & (e.mask[3] ?? 0)) >>> 0 === e.net[3]
      ) {
        (out ??= []).push(e.range);
      }
    }
  }
  return out ?? NO_RANGES;
}

/** A sentence naming what the address is, including the IPv4 address an IPv6 form embeds. */
export function describeSpecial(ip: Ip, range: SpecialRange): string {
  if (ip.family === 6 && range.embedded) {
    return `${range.what}, carrying ${formatIpv4(range.embedded(ip))}`;
  }
  return range.what;
}

export interface SpecialName {
  readonly suffix: string;
  readonly isExactOnly: boolean;
  readonly code: string;
  readonly what: string;
  readonly isLocked: boolean;
}

/** The special-use names the guard refuses before any lookup. */
export const SPECIAL_NAMES: readonly SpecialName[] = [
  {
    suffix: 'localhost',
    isExactOnly: false,
    code: 'loopback-name',
    what: 'a loopback name (RFC 6761)',
    isLocked: false,
  },
  {
    suffix: 'local',
    isExactOnly: false,
    code: 'mdns-name',
    what: 'a multicast-DNS name on the local link',
    isLocked: false,
  },
  {
    suffix: 'internal',
    isExactOnly: false,
    code: 'internal-name',
    what: 'a private-use internal name',
    isLocked: false,
  },
  {
    suffix: 'home.arpa',
    isExactOnly: false,
    code: 'internal-name',
    what: 'a home-network name (RFC 8375)',
    isLocked: false,
  },
  {
    suffix: 'invalid',
    isExactOnly: false,
    code: 'invalid-name',
    what: 'a name that can never resolve (RFC 6761)',
    isLocked: false,
  },
  { suffix: 'onion', isExactOnly: false, code: 'onion-name', what: 'a Tor onion name', isLocked: false },
  {
    suffix: 'metadata',
    isExactOnly: true,
    code: 'metadata',
    what: 'the cloud metadata service name',
    isLocked: true,
  },
  {
    suffix: 'metadata.google.internal',
    isExactOnly: false,
    code: 'metadata',
    what: 'the GCP metadata service',
    isLocked: true,
  },
  {
    suffix: 'instance-data',
    isExactOnly: true,
    code: 'metadata',
    what: 'the EC2 metadata service name',
    isLocked: true,
  },
  {
    suffix: 'instance-data.ec2.internal',
    isExactOnly: true,
    code: 'metadata',
    what: 'the EC2 metadata service name',
    isLocked: true,
  },
  {
    suffix: 'rancher-metadata',
    isExactOnly: true,
    code: 'metadata',
    what: 'the Rancher metadata service',
    isLocked: true,
  },
];

const DOTTED = new Map(SPECIAL_NAMES.map((row) => [row, `.${row.suffix}`]));
/** The last label of every row's suffix: a name whose last label is none of these is not special. */
const LAST_LABELS = new Set(SPECIAL_NAMES.map((row) => row.suffix.slice(row.suffix.lastIndexOf('.') + 1)));

/** The special-use name rule a canonical host name falls under, most specific first, or undefined. */
export function specialNameOf(name: string): SpecialName | undefined {
  if (!LAST_LABELS.has(name.slice(name.lastIndexOf('.') + 1))) return undefined;
  let found: SpecialName | undefined;
  for (const row of SPECIAL_NAMES) {
    const hit = row.isExactOnly
      ? name === row.suffix
      : name === row.suffix || name.endsWith(DOTTED.get(row) ?? '');
    if (hit && (found === undefined || row.suffix.length > found.suffix.length)) found = row;
  }
  return found;
}
