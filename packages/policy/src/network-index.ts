// The network rules of the effective policies, indexed for lookup: exact names and wildcard
// suffixes in maps, CIDRs bucketed by prefix length. Pure; built once per engine.

import type { NetworkRuleC } from './compile.js';
import type { HostPattern } from './host-pattern.js';
import { ipKey, networkOf, type Cidr, type Ip } from './ip.js';
import { pushTo } from './multimap.js';
import type { PathSegment } from './path-pattern.js';

export interface HostEntry {
  readonly rule: NetworkRuleC;
  readonly pattern: HostPattern;
}
export interface CidrEntry {
  readonly rule: NetworkRuleC;
  readonly cidr: Cidr;
}
interface CidrBucket {
  readonly prefix: number;
  readonly family: 4 | 6;
  readonly map: Map<string | number, CidrEntry[]>;
}

export class NetworkIndex {
  readonly exact = new Map<string, HostEntry[]>();
  readonly oneLabel = new Map<string, HostEntry[]>();
  readonly anyDepth = new Map<string, HostEntry[]>();
  readonly anyHost: HostEntry[] = [];
  readonly cidrBuckets: CidrBucket[] = [];
  readonly httpPaths = new Map<NetworkRuleC, readonly (readonly PathSegment[])[]>();

  constructor(rules: readonly NetworkRuleC[]) {
    const buckets = new Map<string, CidrBucket>();
    for (const rule of rules) {
      for (const pattern of rule.hosts) {
        const entry = { rule, pattern };
        if (pattern.kind === 'exact') pushTo(this.exact, pattern.suffix, entry);
        else if (pattern.kind === 'one-label') pushTo(this.oneLabel, pattern.suffix, entry);
        else if (pattern.kind === 'any-depth') pushTo(this.anyDepth, pattern.suffix, entry);
        else this.anyHost.push(entry);
      }
      for (const cidr of rule.cidrs) {
        const id = `${cidr.ip.family}/${cidr.prefix}`;
        let bucket = buckets.get(id);
        if (!bucket) {
          bucket = { prefix: cidr.prefix, family: cidr.ip.family, map: new Map() };
          buckets.set(id, bucket);
        }
        pushTo(bucket.map, cidr.ip.family === 4 ? cidr.ip.v4 : ipKey(cidr.ip), { rule, cidr });
      }
      if (rule.paths)
        this.httpPaths.set(
          rule,
          rule.paths.map((p) => p.segments),
        );
    }
    this.cidrBuckets = [...buckets.values()].sort((a, b) => b.prefix - a.prefix);
  }

  hostEntries(name: string, out: HostEntry[]): void {
    const exact = this.exact.get(name);
    if (exact) for (const e of exact) out.push(e);
    const dot = name.indexOf('.');
    if (dot > 0) {
      if (this.oneLabel.size > 0) {
        const one = this.oneLabel.get(name.slice(dot + 1));
        if (one) for (const e of one) out.push(e);
      }
      if (this.anyDepth.size > 0) {
        for (let at = dot; at >= 0; at = name.indexOf('.', at + 1)) {
          const deep = this.anyDepth.get(name.slice(at + 1));
          if (deep) for (const e of deep) out.push(e);
        }
      }
    }
    for (const e of this.anyHost) out.push(e);
  }

  cidrEntries(ip: Ip, out: CidrEntry[]): void {
    for (const b of this.cidrBuckets) {
      if (b.family !== ip.family) continue;
      const net = networkOf(ip, b.prefix);
      const hit = b.map.get(net.family === 4 ? net.v4 : ipKey(net));
      if (hit) out.push(...hit);
    }
  }
}
