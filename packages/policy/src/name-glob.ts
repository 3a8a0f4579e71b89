// Globs over flat names (MCP server ids, tool names, secret names): `*` is any run of characters,
// `?` one character; everything else is literal. Pure. The common shapes (`exact`, `prefix*`,
// `*suffix`, `*infix*`, `*`) are matched with string operations; only the rest use a RegExp.

import { globRegExp } from './glob-regexp.js';

export type NameGlobKind = 'exact' | 'prefix' | 'suffix' | 'infix' | 'any' | 'regex';

export interface NameGlob {
  readonly text: string;
  readonly kind: NameGlobKind;
  /** The literal part: the whole name, the prefix, the suffix or the infix. */
  readonly literal: string;
  /** Set when `exact` (matched by lookup in indexes). */
  readonly exact?: string;
  readonly re?: RegExp;
}

export function compileNameGlob(text: string): NameGlob {
  if (!text.includes('*') && !text.includes('?')) return { text, kind: 'exact', literal: text, exact: text };
  if (!text.includes('?')) {
    const stars = text.split('*').length - 1;
    const body = text.replace(/\*/g, '');
    if (body === '') return { text, kind: 'any', literal: '' };
    if (stars === 1 && text.endsWith('*')) return { text, kind: 'prefix', literal: body };
    if (stars === 1 && text.startsWith('*')) return { text, kind: 'suffix', literal: body };
    if (stars === 2 && text.startsWith('*') && text.endsWith('*'))
      return { text, kind: 'infix', literal: body };
  }
  return { text, kind: 'regex', literal: '', re: globRegExp(text) };
}

export function matchNameGlob(glob: NameGlob, name: string): boolean {
  switch (glob.kind) {
    case 'exact':
      return name === glob.literal;
    case 'prefix':
      return name.startsWith(glob.literal);
    case 'suffix':
      return name.endsWith(glob.literal);
    case 'infix':
      return name.includes(glob.literal);
    case 'any':
      return true;
    case 'regex':
      return glob.re?.test(name) ?? false;
  }
}

/** True when the glob matches every name (`*`). */
export function isMatchAll(glob: NameGlob): boolean {
  return glob.kind === 'any';
}
