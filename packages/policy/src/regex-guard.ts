// Regular expressions in deny/ask argument predicates. Pure. A regex runs on text the agent
// controls, so patterns whose backtracking can explode are refused at load time, and very long
// inputs are not matched at all: the caller treats that as an evaluation error (a deny matches).

import type { PatternError } from './host-pattern.js';

/**
 * Inputs longer than this are not run through a regex. With one open-ended repetition a search is
 * at worst quadratic in the input, which this keeps to milliseconds.
 */
export const REGEX_INPUT_LIMIT = 4096;

/** The quantifier starting at `i` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`), or undefined. */
function quantifierAt(source: string, i: number): { isOpenEnded: boolean } | undefined {
  const c = source[i];
  if (c === '*' || c === '+') return { isOpenEnded: true };
  if (c === '?') return { isOpenEnded: false };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
  if (!m) return undefined;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
  return { isOpenEnded: max > 1 };
}

/**
 * True when a group that repeats (`*`, `+`, `{n,}`, `{n,m}` with m > 1) holds a quantifier or an
 * alternation anywhere inside it, at any depth: `(a+)+`, `(a|a?)*`, `((a+))+`, `(x|y){2,}`. Those
 * are the shapes whose backtracking can grow exponentially with the input. Stricter than needed
 * (`(foo|bar)+` is refused too), which is the right way round for a security check.
 */
/**
 * How many open-ended repetitions (`*`, `+`, `{n,}`, `{n,m}` with m > 16) the regex has outside
 * character classes. Two in a row (`\s*\s*x`) already backtrack polynomially.
 */
export function openEndedRepeats(source: string): number {
  let count = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '[') {
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
    } else if (c === '*' || c === '+') {
      count++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (m && m[2] !== undefined && (m[3] === '' || Number(m[3]) > 16)) count++;
    }
  }
  return count;
}

export function hasNestedQuantifier(source: string): boolean {
  const groups: boolean[] = [];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i++;
      if (source[i] === '^') i++;
      if (source[i] === ']') i++;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
    } else if (c === '(') {
      groups.push(false);
      if (source[i + 1] === '?') {
        // (?:…) (?=…) (?!…) (?<=…) (?<!…) (?<name>…): the prefix is not a quantifier.
        const close =
          source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!'
            ? source.indexOf('>', i)
            : i + (source[i + 2] === '<' ? 3 : 2);
        i = close < 0 ? i + 1 : close;
      }
    } else if (c === ')') {
      const isRisky = groups.pop() ?? false;
      const q = quantifierAt(source, i + 1);
      if (isRisky && q?.isOpenEnded) return true;
      if (groups.length > 0 && (isRisky || q)) groups[groups.length - 1] = true;
    } else if (c === '|' || quantifierAt(source, i)) {
      if (groups.length > 0) groups[groups.length - 1] = true;
    }
  }
  return false;
}

/**
 * Compiles a regex written either bare (`^acme/`) or as a literal with flags (`/users_pii/i`;
 * flags i, m and s only). The `u` flag is always on.
 */
export function compileGuardedRegex(written: string): { re: RegExp } | { error: PatternError } {
  const literal = /^\/(.*)\/([ims]*)$/s.exec(written);
  const source = literal ? (literal[1] ?? '') : written;
  const flags = `${literal ? (literal[2] ?? '') : ''}u`;
  if (source.length > 1000) return { error: { message: 'the regex is longer than 1000 characters' } };
  if (hasNestedQuantifier(source)) {
    return {
      error: {
        message: `the regex /${source}/ repeats a group that itself repeats or alternates, which can take exponential time`,
        hint: 'rewrite it without a repeated group holding a quantifier or "|" (for example (a|b)+ as [ab]+), or use prefix, glob or oneOf',
      },
    };
  }
  if (openEndedRepeats(source) > 1) {
    return {
      error: {
        message: `the regex /${source}/ has more than one open-ended repetition (*, +, {n,}), which can backtrack for a long time`,
        hint: 'keep one; a regex matches anywhere in the value, so a leading or trailing .* is never needed',
      },
    };
  }
  if (/\\[1-9]|\\k</.test(source)) {
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
