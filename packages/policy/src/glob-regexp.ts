// Globs to anchored RegExps: the one conversion behind name globs, path segments, command words
// and shell globs. Pure. `*` is any run of `anyChar`, `?` one; everything else is literal, except
// `[…]` classes when `keepClasses` is set (shell globs have them; policy globs do not).

export interface GlobOptions {
  /** What `*` and `?` may match: any character (`.`) by default, `[^/]` within a path segment. */
  readonly anyChar?: string;
  readonly keepClasses?: boolean;
}

export function globRegExp(glob: string, options: GlobOptions = {}): RegExp {
  const anyChar = options.anyChar ?? '.';
  const special = options.keepClasses ? /[.+^${}()|\\]/g : /[.+^${}()|[\]\\]/g;
  const body = glob.replace(special, '\\$&').replace(/\*/g, `${anyChar}*`).replace(/\?/g, anyChar);
  return new RegExp(`^${body}$`, 's');
}
