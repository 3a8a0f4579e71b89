// Matches a request's method and path against the route table. Path templates are literal
// segments and `{name}` parameters (one whole segment each); nothing else, so every route in the
// OpenAPI document is exactly what is matched.

import type { Method, Route } from './route.js';

export type Match =
  | { readonly kind: 'route'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method'; readonly allowed: readonly Method[] }
  | { readonly kind: 'none' };

interface Compiled {
  readonly route: Route;
  readonly segments: readonly ({ readonly literal: string } | { readonly param: string })[];
}

export class Router {
  /**
   * The routes by their number of segments, those with more literal segments first (route table
   * order among equals): a request is matched against the few of its length, allocating nothing
   * for those that do not match.
   */
  private readonly bySize = new Map<number, Compiled[]>();

  constructor(routes: readonly Route[]) {
    const seen = new Set<string>();
    const compiled = routes.map((route) => {
      const key = `${route.method} ${route.path.replace(/\{[^}]+\}/g, '{}')}`;
      if (seen.has(key)) throw new Error(`two routes for ${key}`);
      seen.add(key);
      return {
        route,
        segments: route.path
          .split('/')
          .slice(1)
          .map((s) => (/^\{[A-Za-z]+\}$/.test(s) ? { param: s.slice(1, -1) } : { literal: s })),
      };
    });
    // Literal segments win over parameters: /policies/{policy} never shadows a literal sibling.
    for (const c of [...compiled].sort((a, b) => literalCount(b) - literalCount(a))) {
      const group = this.bySize.get(c.segments.length) ?? [];
      group.push(c);
      this.bySize.set(c.segments.length, group);
    }
  }

  match(method: string, path: string): Match {
    const parts = path.split('/').slice(1);
    const allowed: Method[] = [];
    for (const c of this.bySize.get(parts.length) ?? []) {
      const params = matchSegments(c.segments, parts);
      if (params === undefined) continue;
      if (c.route.method === method) return { kind: 'route', route: c.route, params };
      allowed.push(c.route.method);
    }
    return allowed.length > 0 ? { kind: 'method', allowed: [...new Set(allowed)] } : { kind: 'none' };
  }
}

const literalCount = (c: Compiled): number => c.segments.filter((s) => 'literal' in s).length;

function matchSegments(
  segments: Compiled['segments'],
  parts: readonly string[],
): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const part = parts[i] ?? '';
    if (!s) return undefined;
    if ('literal' in s) {
      if (s.literal !== part) return undefined;
    } else {
      if (part === '') return undefined;
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        return undefined;
      }
      params[s.param] = value;
    }
  }
  return params;
}
