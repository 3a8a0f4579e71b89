// Path patterns and canonical paths. Pure: the home and workspace directories arrive as data.
// `*` matches within one segment, `**` any number of segments (so a trailing `/**` also covers the
// directory itself), `~` is the home directory, `${workspace}` the session's workspace. A request
// path is canonicalised (`.`/`..` resolved lexically, `//` collapsed) before it is matched, so
// `${workspace}/src/../../etc/passwd` is judged as `/etc/passwd`.

import { hasControlCharacter } from './host.js';
import { globRegExp } from './glob-regexp.js';
import type { PatternError } from './host-pattern.js';

export type PathSegment =
  | { readonly kind: 'literal'; readonly text: string }
  | {
      readonly kind: 'glob';
      readonly text: string;
      readonly re: RegExp;
      /** For `*.pem` and `id_*`: the literal end or start, matched without the RegExp. */
      readonly suffix?: string;
      readonly prefix?: string;
    }
  | { readonly kind: 'any-depth' };

/** A glob segment, with the one-star shapes (`*x`, `x*`) marked for matching without a RegExp. */
export function globSegment(text: string, re: RegExp): PathSegment {
  const stars = text.split('*').length - 1;
  if (stars === 1 && !text.includes('?')) {
    if (text.startsWith('*')) return { kind: 'glob', text, re, suffix: text.slice(1) };
    if (text.endsWith('*')) return { kind: 'glob', text, re, prefix: text.slice(0, -1) };
  }
  return { kind: 'glob', text, re };
}

export type PathRoot = 'absolute' | 'home' | 'workspace' | 'anywhere';

export interface PathPattern {
  readonly text: string;
  readonly root: PathRoot;
  readonly segments: readonly PathSegment[];
}

/** A pattern with its root expanded: matched against canonical absolute paths. */
export interface ExpandedPathPattern {
  readonly text: string;
  readonly segments: readonly PathSegment[];
}

export interface PathContext {
  /** The user's home directory, canonical absolute. */
  readonly home: string;
  /** The session's workspace directory, canonical absolute; patterns under it never match without one. */
  readonly workspace?: string;
}

function segmentOf(text: string): PathSegment {
  if (text === '**') return { kind: 'any-depth' };
  if (!text.includes('*') && !text.includes('?')) return { kind: 'literal', text };
  return globSegment(text, globRegExp(text, { anyChar: '[^/]' }));
}

export function compilePathPattern(text: string): { pattern: PathPattern } | { error: PatternError } {
  if (hasControlCharacter(text))
    return { error: { message: `the path pattern contains a control character` } };
  let rest: string;
  let root: PathRoot;
  if (text.startsWith('${workspace}')) {
    root = 'workspace';
    rest = text.slice('${workspace}'.length);
  } else if (text === '~' || text.startsWith('~/')) {
    root = 'home';
    rest = text.slice(1);
  } else if (text.startsWith('/')) {
    root = 'absolute';
    rest = text;
  } else if (text === '**' || text.startsWith('**/')) {
    root = 'anywhere';
    rest = text;
  } else {
    return {
      error: {
        message: `"${text}" is not an absolute path pattern`,
        hint: 'start it with "/", "~/", "${workspace}/" or "**/"',
      },
    };
  }
  if (/\$\{/.test(rest)) {
    return {
      error: {
        message: `"${text}" uses a variable other than a leading \${workspace}`,
        hint: 'only ${workspace} is expanded, and only at the start',
      },
    };
  }
  if (rest !== '' && root !== 'anywhere' && !rest.startsWith('/')) {
    return { error: { message: `"${text}" needs a "/" after its root` } };
  }
  const parts = rest.split('/').filter((p, i, all) => !(p === '' && (i === 0 || i === all.length - 1)));
  const segments: PathSegment[] = [];
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      return {
        error: {
          message: `"${text}" has an empty, "." or ".." segment`,
          hint: 'write the path in its plain form',
        },
      };
    }
    if (part.includes('**') && part !== '**') {
      return {
        error: {
          message: `"${text}": "**" must be a whole segment`,
          hint: 'use "*" inside a segment, "**" between slashes',
        },
      };
    }
    segments.push(segmentOf(part));
  }
  return { pattern: { text, root, segments } };
}

function splitCanonical(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/** Expands the root; undefined when the pattern needs a workspace and there is none. */
export function expandPathPattern(pattern: PathPattern, ctx: PathContext): ExpandedPathPattern | undefined {
  let base: PathSegment[] = [];
  if (pattern.root === 'workspace') {
    if (ctx.workspace === undefined) return undefined;
    base = splitCanonical(ctx.workspace).map((text) => ({ kind: 'literal', text }));
  }
  if (pattern.root === 'home') base = splitCanonical(ctx.home).map((text) => ({ kind: 'literal', text }));
  return { text: pattern.text, segments: [...base, ...pattern.segments] };
}

export function matchSegment(seg: PathSegment, text: string): boolean {
  if (seg.kind === 'literal') return seg.text === text;
  if (seg.kind === 'any-depth') return true;
  if (seg.suffix !== undefined) return text.endsWith(seg.suffix);
  if (seg.prefix !== undefined) return text.startsWith(seg.prefix);
  return seg.re.test(text);
}

/** Matches canonical path segments, starting at `from` in both arrays. */
export function matchSegments(
  segments: readonly PathSegment[],
  path: readonly string[],
  si = 0,
  pi = 0,
): boolean {
  // Iterative glob matching with one backtrack point per `**`, linear in practice.
  let starSi = -1;
  let starPi = -1;
  while (pi < path.length) {
    const seg = segments[si];
    if (seg?.kind === 'any-depth') {
      starSi = si++;
      starPi = pi;
    } else if (seg !== undefined && matchSegment(seg, path[pi] ?? '')) {
      si++;
      pi++;
    } else if (starSi >= 0) {
      si = starSi + 1;
      pi = ++starPi;
    } else {
      return false;
    }
  }
  while (segments[si]?.kind === 'any-depth') si++;
  return si === segments.length;
}

export function matchPath(pattern: ExpandedPathPattern, path: readonly string[]): boolean {
  return matchSegments(pattern.segments, path);
}

/**
 * Canonicalises a path from a request: `~` and `${workspace}` expanded, relative paths taken from
 * the workspace, `.` and `..` resolved lexically (symlinks are the sandbox's business: it masks
 * them rather than following them). Returns the segments, or an error sentence.
 */
export function canonicalPath(
  raw: string,
  ctx: PathContext,
): { segments: string[]; path: string } | { error: string } {
  if (raw.length === 0) return { error: 'the path is empty' };
  if (hasControlCharacter(raw)) return { error: 'the path contains a control character (NUL, CR, LF, …)' };
  if (raw.length > 4096) return { error: 'the path is longer than 4096 characters' };
  let full: string;
  if (raw === '~' || raw.startsWith('~/')) full = ctx.home + raw.slice(1);
  else if (raw.startsWith('${workspace}')) {
    if (ctx.workspace === undefined) return { error: 'the path names ${workspace} but no workspace is set' };
    full = ctx.workspace + raw.slice('${workspace}'.length);
  } else if (raw.startsWith('/')) full = raw;
  else if (ctx.workspace !== undefined) full = `${ctx.workspace}/${raw}`;
  else return { error: `"${raw}" is relative and no workspace is set to resolve it against` };
  // Already canonical (absolute, no empty, "." or ".." segment): split once and done.
  if (
    full.length > 1 &&
    full.charCodeAt(0) === 47 &&
    full.charCodeAt(full.length - 1) !== 47 &&
    !full.includes('//') &&
    (!full.includes('/.') || !/\/\.\.?(\/|$)/.test(full))
  ) {
    return { segments: full.slice(1).split('/'), path: full };
  }
  const out: string[] = [];
  for (const part of full.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return { segments: out, path: `/${out.join('/')}` };
}

/** The leading literal segments of an expanded pattern: the key under which it is indexed. */
export function literalPrefix(pattern: ExpandedPathPattern): string[] {
  const out: string[] = [];
  for (const seg of pattern.segments) {
    if (seg.kind !== 'literal') break;
    out.push(seg.text);
  }
  return out;
}

/**
 * A few concrete paths the pattern matches (wildcards filled in, `**` as zero and as two
 * segments). They prove that two patterns overlap when a witness of one matches the other; they
 * never prove that one pattern covers another.
 */
export function pathWitnesses(pattern: ExpandedPathPattern): string[][] {
  let out: string[][] = [[]];
  for (const seg of pattern.segments) {
    if (seg.kind === 'literal') out = out.map((p) => [...p, seg.text]);
    else if (seg.kind === 'glob')
      out = out.map((p) => [...p, seg.text.replace(/\*/g, 'x').replace(/\?/g, 'y')]);
    else out = out.flatMap((p) => [p, [...p, 'w1', 'w2']]);
    if (out.length > 16) out = out.slice(0, 16);
  }
  return out;
}
