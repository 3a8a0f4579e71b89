// Command patterns of exec rules, matched argv-aware. Pure. `git push --force*` is three words:
// the program (compared with the basename of argv[0] unless the pattern names a path), then one
// argument per word, `*` matching within a word and `**` as a word matching any number of
// arguments. A pattern covers any further arguments (it matches a prefix of the argv), so
// `git push ** --force*` denies the flag wherever it appears after `push`.

import { GLOB as GLOB_MARK, basename, isComputedWord, wordText } from './command-line.js';
import type { PatternError } from './host-pattern.js';
import { globRegExp } from './glob-regexp.js';
import { globSegment, matchSegment, matchSegments, type PathSegment } from './path-pattern.js';

export interface CommandPattern {
  readonly text: string;
  /** True when the program word is a path (`/usr/bin/git`), compared with argv[0] as written. */
  readonly isPathProgram: boolean;
  readonly segments: readonly PathSegment[];
}

function tokenize(text: string): string[] | PatternError {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) return { message: `the command pattern "${text}" has an unterminated quote` };
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (/[;&|<>()`$\n\\]/.test(c)) {
      return {
        message: `the command pattern "${text}" contains "${c}"`,
        hint: 'a pattern describes one command; command lines are split into commands before matching, so write one pattern per command',
      };
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

function wordSegment(word: string): PathSegment {
  if (word === '**') return { kind: 'any-depth' };
  if (!word.includes('*') && !word.includes('?')) return { kind: 'literal', text: word };
  return globSegment(word, globRegExp(word));
}

export function compileCommandPattern(text: string): { pattern: CommandPattern } | { error: PatternError } {
  const words = tokenize(text);
  if (!Array.isArray(words)) return { error: words };
  const program = words[0];
  if (program === undefined) return { error: { message: 'the command pattern is empty' } };
  if (program === '**') {
    return {
      error: {
        message: `"${text}" starts with "**"`,
        hint: 'name the program first; "*" matches any program',
      },
    };
  }
  const segments = [...words.map(wordSegment), { kind: 'any-depth' } as const];
  return { pattern: { text, isPathProgram: program.includes('/'), segments } };
}

/**
 * `programName` is argv[0]'s basename, when the caller has it already. `isPermissive` is true for
 * deny and ask rules: a word the shell computes at run time may then stand for anything the
 * pattern needs; for allow rules it must fall where the pattern accepts anything (`**`).
 */
export function matchCommandPattern(
  pattern: CommandPattern,
  argv: readonly string[],
  programName?: string,
  isPermissive = true,
  /** Whether some word is computed at run time, when the caller knows already. */
  hasComputed: boolean = argv.some(isComputedWord),
): boolean {
  const program = argv[0];
  const first = pattern.segments[0];
  if (program === undefined || first === undefined) return false;
  if (hasComputed) return matchComputed(pattern, argv, isPermissive);
  if (!matchSegment(first, pattern.isPathProgram ? program : (programName ?? basename(program))))
    return false;
  return matchSegments(pattern.segments, argv, 1, 1);
}

/** The program word the pattern is indexed under, or undefined when it is a glob. */
export function programKey(pattern: CommandPattern): string | undefined {
  const first = pattern.segments[0];
  return first?.kind === 'literal' && !pattern.isPathProgram ? first.text : undefined;
}

/** A glob word of the command line as a RegExp over the names it can expand to. */
function shellGlob(word: string): RegExp {
  try {
    return globRegExp(wordText(word), { keepClasses: true });
  } catch {
    // An unreadable class: assume the word could be anything (this only widens deny matching).
    return /^/;
  }
}

/**
 * Matching when some words are computed at run time. A DYNAMIC word may expand to any number of
 * words; a GLOB word to names the glob matches (a literal pattern word it cannot produce stops
 * it). Memoised over (segment, word), so it stays polynomial.
 */
function matchComputed(pattern: CommandPattern, argv: readonly string[], isPermissive: boolean): boolean {
  const segs = pattern.segments;
  const memo = new Map<number, boolean>();
  const at = (si: number, pi: number): boolean => {
    const key = si * 65536 + pi;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result = false;
    const seg = segs[si];
    if (pi === argv.length) {
      result = segs.slice(si).every((x) => x.kind === 'any-depth');
    } else if (seg?.kind === 'any-depth' && at(si + 1, pi)) {
      result = true;
    } else {
      const word = argv[pi] ?? '';
      if (isComputedWord(word)) {
        if (seg?.kind === 'any-depth') result = at(si, pi + 1);
        else if (isPermissive) {
          // The word stands for the words matching segs[si…j-1], for some j > si.
          // In the program position a pattern names a basename: compare the glob's last part.
          const glob = !word.startsWith(GLOB_MARK)
            ? undefined
            : shellGlob(
                pi === 0 && !pattern.isPathProgram ? `${GLOB_MARK}${basename(wordText(word))}` : word,
              );
          for (let j = si + 1; j <= segs.length && !result; j++) {
            const s = segs[j - 1];
            if (s === undefined || (glob && s.kind === 'literal' && !glob.test(s.text))) break;
            result = at(j, pi + 1) || (s.kind === 'any-depth' && at(j - 1, pi + 1));
          }
        }
      } else if (seg !== undefined) {
        if (seg.kind === 'any-depth') result = at(si, pi + 1);
        else {
          const text = pi === 0 && !pattern.isPathProgram ? basename(word) : word;
          result = matchSegment(seg, text) && at(si + 1, pi + 1);
        }
      }
    }
    memo.set(key, result);
    return result;
  };
  return at(0, 0);
}
