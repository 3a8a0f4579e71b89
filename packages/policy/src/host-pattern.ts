// Host patterns of network rules: `example.com`, `*.example.com` (exactly one more label),
// `**.example.com` (one or more labels), `**` (any name), each with an optional `:port` or
// `:lo-hi`. Neither wildcard form matches the apex (research/egress.md §9.1). Pure; every syntax
// error is raised here, at load time, never per request.

import { parse as parseDomain } from 'tldts';
import { canonicalHost } from './host.js';
import { parsePortSpec, type PortSet } from './ports.js';

export type HostPatternKind = 'exact' | 'one-label' | 'any-depth' | 'any';

export interface HostPattern {
  readonly text: string;
  readonly kind: HostPatternKind;
  /** The canonical (A-label, lowercase) name, or the suffix after the wildcard; '' for `any`. */
  readonly suffix: string;
  /** A port written on the pattern itself (`host:8443`), which replaces the rule's ports for this pattern. */
  readonly ports?: PortSet;
}

export interface PatternError {
  readonly message: string;
  readonly hint?: string;
}

export interface HostPatternOptions {
  /** Refuse a wildcard over a public suffix (the default; it starts tldts on first use). */
  readonly checksPublicSuffix?: boolean;
}

export function compileHostPattern(
  text: string,
  options: HostPatternOptions = {},
): { pattern: HostPattern } | { error: PatternError } {
  let body = text.trim();
  let ports: PortSet | undefined;
  if (body.startsWith('[') || (body.split(':').length > 2 && !body.includes(']'))) {
    return {
      error: { message: `"${text}" is an IPv6 address`, hint: 'IP addresses go in cidrs, not hosts' },
    };
  }
  const colon = body.lastIndexOf(':');
  if (colon >= 0) {
    const port = parsePortSpec(body.slice(colon + 1));
    if (typeof port === 'string') return { error: { message: `bad port on "${text}": ${port}` } };
    ports = [port];
    body = body.slice(0, colon);
  }
  let kind: HostPatternKind = 'exact';
  if (body === '**') return { pattern: { text, kind: 'any', suffix: '', ...(ports ? { ports } : {}) } };
  if (body === '*') {
    return {
      error: {
        message: `"${text}" on its own is not a host pattern`,
        hint: 'write "**" for any host name, or *.example.com for one label under a domain',
      },
    };
  }
  if (body.startsWith('**.')) {
    kind = 'any-depth';
    body = body.slice(3);
  } else if (body.startsWith('*.')) {
    kind = 'one-label';
    body = body.slice(2);
  }
  if (body.includes('*')) {
    return {
      error: {
        message: `"${text}" has a wildcard inside a name`,
        hint: 'only a leading "*." (one label) or "**." (any depth) is allowed; regexes and partial labels are not',
      },
    };
  }
  if (body === '') return { error: { message: `"${text}" has a wildcard with no domain after it` } };
  const parsed = canonicalHost(body);
  if ('error' in parsed) return { error: { message: `"${text}": ${parsed.error.message}` } };
  if (parsed.host.kind === 'ip') {
    return { error: { message: `"${text}" is an IP address`, hint: 'IP addresses go in cidrs, not hosts' } };
  }
  const suffix = parsed.host.name;
  if (kind !== 'exact' && options.checksPublicSuffix !== false) {
    // `**.com` or `*.co.uk` would cover every registrant under a public suffix. Only suffixes the
    // ICANN section lists count: the list's default rule makes any unknown TLD (`corp`) "public".
    const info = parseDomain(suffix, { allowPrivateDomains: false });
    if (info.publicSuffix === suffix && info.isIcann === true) {
      return {
        error: {
          message: `"${text}" covers every domain under the public suffix "${suffix}"`,
          hint: 'name the registrable domain, for example **.example.com',
        },
      };
    }
  }
  return { pattern: { text, kind, suffix, ...(ports ? { ports } : {}) } };
}

/** Matches a canonical host name (never an IP literal: host rules do not authorise addresses). */
export function matchHostPattern(pattern: HostPattern, name: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'exact':
      return name === pattern.suffix;
    case 'one-label': {
      if (!name.endsWith(`.${pattern.suffix}`)) return false;
      const head = name.slice(0, name.length - pattern.suffix.length - 1);
      return head.length > 0 && !head.includes('.');
    }
    case 'any-depth':
      return name.length > pattern.suffix.length + 1 && name.endsWith(`.${pattern.suffix}`);
  }
}

/** Is the set of names matched by `inner` a subset of those matched by `outer`? */
export function hostPatternWithin(inner: HostPattern, outer: HostPattern): boolean {
  if (outer.kind === 'any') return true;
  if (inner.kind === 'any') return false;
  if (inner.kind === 'exact') return matchHostPattern(outer, inner.suffix);
  if (outer.kind === 'exact') return false;
  if (outer.kind === 'one-label') return inner.kind === 'one-label' && inner.suffix === outer.suffix;
  // outer is **.s: inner *.t or **.t is within when t is s or a subdomain of s.
  return inner.suffix === outer.suffix || inner.suffix.endsWith(`.${outer.suffix}`);
}

/**
 * Do the two patterns match at least one name in common? For this grammar two patterns overlap
 * exactly when one lies within the other: two suffix sets either nest or are disjoint.
 */
export function hostPatternsOverlap(a: HostPattern, b: HostPattern): boolean {
  return hostPatternWithin(a, b) || hostPatternWithin(b, a);
}
