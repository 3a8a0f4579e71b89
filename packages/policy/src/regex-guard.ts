// Regular expressions in deny/ask argument predicates. Pure. A regex runs on text the agent
// controls, so patterns whose backtracking can explode are refused at load time, and very long
// inputs are not matched at all: the caller treats that as an evaluation error (a deny matches).

import type { PatternError } from './host-pattern.js';

/** Inputs longer than this are not run through a regex. */
export const REGEX_INPUT_LIMIT = 16384;

/**
 * Compiles a regex written either bare (`^acme/`) or as a literal with flags (`/users_pii/i`;
 * flags i, m and s only). The `u` flag is always on.
 */
export function compileGuardedRegex(written: string): { re: RegExp } | { error: PatternError } {
  const literal = /^\/(.*)\/([ims]*)$/s.exec(written);
  const source = literal ? (literal[1] ?? '') : written;
  const flags = `${literal ? (literal[2] ?? '') : ''}u`;
  if (source.length > 1000) return { error: { message: 'the regex is longer than 1000 characters' } };
  // A quantified group that itself contains a quantifier ((a+)+, (a|a?)*, (.*){2,}) can take
  // exponential time on a crafted input.
  if (/\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,?\d*\})/.test(source)) {
    return {
      error: {
        message: `the regex /${source}/ nests quantifiers and could take exponential time`,
        hint: 'rewrite it without a repeated group that itself repeats, or use prefix/glob/oneOf',
      },
    };
  }
  if (/\\[1-9]/.test(source)) {
    return {
      error: {
        message: `the regex /${source}/ uses a back-reference`,
        hint: 'back-references are not supported',
      },
    };
  }
  try {
    return { re: new RegExp(source, flags) };
  } catch (e) {
    return { error: { message: `the regex /${source}/ does not compile: ${(e as Error).message}` } };
  }
}
