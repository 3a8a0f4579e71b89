// Port sets: `443`, `"8000-8999"`, `"*"`. Pure.

/** Inclusive ranges, sorted and merged. */
export type PortSet = readonly (readonly [number, number])[];

export const ANY_PORT: PortSet = [[1, 65535]];
/** What a host rule without ports allows: HTTPS and HTTP, never arbitrary ports. */
export const WEB_PORTS: PortSet = [
  [80, 80],
  [443, 443],
];

export function parsePortSpec(spec: number | string): readonly [number, number] | string {
  if (spec === '*') return [1, 65535];
  const text = String(spec);
  const m = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$/.exec(text);
  if (!m) return `"${text}" is not a port, a range like 8000-8999, or "*"`;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > 65535 || hi > 65535) return `"${text}" is outside 1–65535`;
  if (hi < lo) return `the range "${text}" runs backwards`;
  return [lo, hi];
}

export function mergePorts(ranges: readonly (readonly [number, number])[]): PortSet {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export function portIn(set: PortSet, port: number): boolean {
  for (const [lo, hi] of set) if (port >= lo && port <= hi) return true;
  return false;
}

export function portsOverlap(a: PortSet, b: PortSet): boolean {
  for (const [alo, ahi] of a) for (const [blo, bhi] of b) if (alo <= bhi && blo <= ahi) return true;
  return false;
}

export function portsWithin(inner: PortSet, outer: PortSet): boolean {
  return inner.every(([lo, hi]) => outer.some(([olo, ohi]) => lo >= olo && hi <= ohi));
}

export function formatPorts(set: PortSet): string {
  if (set.length === 1 && set[0]?.[0] === 1 && set[0][1] === 65535) return 'any port';
  return set.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(', ');
}
