// Globs over flat names (MCP server ids, tool names, secret names): `*` is any run of characters,
// `?` one character; everything else is literal. Pure.

export interface NameGlob {
  readonly text: string;
  /** Set when the glob has no wildcard: matched by lookup. */
  readonly exact?: string;
  readonly re?: RegExp;
}

export function compileNameGlob(text: string): NameGlob {
  if (!text.includes('*') && !text.includes('?')) return { text, exact: text };
  const body = text
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return { text, re: new RegExp(`^${body}$`, 's') };
}

export function matchNameGlob(glob: NameGlob, name: string): boolean {
  return glob.exact !== undefined ? glob.exact === name : (glob.re?.test(name) ?? false);
}

/** True when the glob matches every name (`*`). */
export function isMatchAll(glob: NameGlob): boolean {
  return /^\*+$/.test(glob.text);
}
