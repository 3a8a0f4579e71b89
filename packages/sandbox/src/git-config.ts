// Git's configuration file syntax (git-config(1), "Syntax"), read the way git 2.39's config.c reads
// it, character for character: what this reader sees is what git will trust after the session —
// the hooks directory (redteam-42) and the files a config includes (redteam-40). Pure: the caller
// reads the files; nothing here touches the filesystem or knows which file is which.
//
// Where git's reading is surprising, the comment says so; every case is checked against real git
// in test/git-config.test.ts.

/** One variable as git reports it (`git config --list`). */
export interface GitConfigEntry {
  /**
   * The variable's name as git forms it: section and key in lower case, a quoted subsection as
   * written (`includeif.gitdir:~/Work/.path`), a legacy `[section.sub]` one in lower case.
   */
  readonly name: string;
  /** `null` for a key with no `=` (git's "true", and an error for a key that needs a value). */
  readonly value: string | null;
  /** The line the entry starts on, from 1. */
  readonly line: number;
}

export interface GitConfig {
  /** Every entry in file order, up to the first syntax error. */
  readonly entries: readonly GitConfigEntry[];
  /** Set when git refuses the file (`fatal: bad config line N`): the line git names. */
  readonly badLine?: number;
}

/** A file a config includes: `include.path`, or `includeIf.<condition>.path`. */
export interface GitConfigInclude {
  /** As written: relative to the including file's directory unless absolute or `~/…`. */
  readonly path: string;
  /** The `includeIf` condition (`gitdir:~/work/`, `onbranch:main`); absent for `include.path`. */
  readonly condition?: string;
}

/** git's isspace: only these four (its ctype table, not C's: no \v or \f). */
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isKeyChar = (c: string): boolean => isAlpha(c) || (c >= '0' && c <= '9') || c === '-';
/** ASCII only, as git's tolower; names are ASCII by now anyway. */
const lower = (c: string): string => (c >= 'A' && c <= 'Z' ? c.toLowerCase() : c);
/** Git hands names and values on as C strings: a NUL ends them. */
const cString = (s: string): string => {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
};

/** git's get_next_char: CRLF reads as LF, and the end of the text as one more LF, again and again. */
class Source {
  private pos = 0;
  line = 1;
  isEof = false;

  constructor(private readonly text: string) {
    // A UTF-8 byte order mark is skipped at the very start only (Windows editors write one).
    if (text.startsWith('\uFEFF')) this.pos = 1;
  }

  next(): string {
    if (this.pos >= this.text.length) {
      this.isEof = true;
      this.line++;
      return '\n';
    }
    let c = this.text.charAt(this.pos++);
    if (c === '\r' && this.text.charAt(this.pos) === '\n') {
      this.pos++;
      c = '\n';
    }
    if (c === '\n') this.line++;
    return c;
  }
}

/** A syntax error: git names this line (`fatal: bad config line N`) and reads nothing more. */
interface Bad {
  readonly badLine: number;
}
const isBad = (x: unknown): x is Bad => typeof x === 'object' && x !== null && 'badLine' in x;

/** Parses a config file's text. Includes are reported (`includesOf`), not followed. */
export function parseGitConfig(text: string): GitConfig {
  const src = new Source(text);
  const entries: GitConfigEntry[] = [];
  // The section part of the next variable's name, with its trailing dot; none before a header.
  let base = '';
  let isComment = false;
  for (;;) {
    const c = src.next();
    if (c === '\n') {
      if (src.isEof) return { entries };
      isComment = false;
      continue;
    }
    if (isComment || isSpace(c)) continue;
    if (c === '#' || c === ';') {
      isComment = true;
      continue;
    }
    if (c === '[') {
      // Whatever follows the `]` on the same line is read as usual: `[core] hooksPath = x` sets
      // core.hooksPath.
      const header = readHeader(src);
      if (isBad(header)) return { entries, ...header };
      if (header === '') return { entries, badLine: src.line };
      base = `${header}.`;
      continue;
    }
    if (!isAlpha(c)) return { entries, badLine: src.line };
    const line = src.line;
    const entry = readEntry(src, base + lower(c));
    if (isBad(entry)) return { entries, ...entry };
    entries.push({ ...entry, line });
  }
}

/**
 * A section header after its `[`: `[name]` (letters, digits, `-` and `.`, any case, the legacy
 * `[section.sub]` included) or `[name "sub"]`, the subsection case-sensitive, `\` escaping any
 * character, and nothing between the closing quote and `]`.
 */
function readHeader(src: Source): string | Bad {
  let name = '';
  for (;;) {
    const c = src.next();
    if (src.isEof) return { badLine: src.line };
    if (c === ']') return name;
    if (isSpace(c)) return readSubsection(src, name, c);
    if (!isKeyChar(c) && c !== '.') return { badLine: src.line };
    name += lower(c);
  }
}

function readSubsection(src: Source, section: string, first: string): string | Bad {
  // git counts a header cut by the end of its line against that line, not the next.
  const incomplete = (): Bad => ({ badLine: src.line - 1 });
  let c = first;
  do {
    if (c === '\n') return incomplete();
    c = src.next();
  } while (isSpace(c));
  if (c !== '"') return { badLine: src.line };
  let sub = '';
  for (;;) {
    let d = src.next();
    if (d === '\n') return incomplete();
    if (d === '"') break;
    if (d === '\\') {
      d = src.next();
      if (d === '\n') return incomplete();
    }
    sub += d;
  }
  if (src.next() !== ']') return { badLine: src.line };
  return `${section}.${sub}`;
}

/**
 * A `key = value` line, its first letter already read: the key is letters, digits and `-`; then
 * blanks, and either the end of the line (no value) or `=` and a value. Anything else — a comment
 * right after a bare key included — is a syntax error for git.
 */
function readEntry(src: Source, start: string): Omit<GitConfigEntry, 'line'> | Bad {
  let name = start;
  let c: string;
  for (;;) {
    c = src.next();
    if (src.isEof || !isKeyChar(c)) break;
    name += lower(c);
  }
  while (c === ' ' || c === '\t') c = src.next();
  if (c === '\n') return { name: cString(name), value: null };
  if (c !== '=') return { badLine: src.line };
  const value = readValue(src);
  if (isBad(value)) return value;
  return { name: cString(name), value: cString(value) };
}

/**
 * A value after its `=` (git's parse_value): blanks around it dropped, each blank inside an
 * unquoted run kept as one space, `"` toggling quotes anywhere in it, `#` and `;` starting a
 * comment only outside quotes (no space needed before them), `\` escaping `\ " n t b` and, before
 * the end of a line, joining the next line. An unknown escape, or a quote still open at the end of
 * a line, is an error.
 */
function readValue(src: Source): string | Bad {
  let isQuoted = false;
  let isComment = false;
  let spaces = 0;
  let value = '';
  for (;;) {
    let c = src.next();
    if (c === '\n') return isQuoted ? { badLine: src.line - 1 } : value;
    if (isComment) continue;
    if (isSpace(c) && !isQuoted) {
      // Blanks before anything (even before a quoted part that is empty) are dropped.
      if (value !== '') spaces++;
      continue;
    }
    if (!isQuoted && (c === '#' || c === ';')) {
      isComment = true;
      continue;
    }
    value += ' '.repeat(spaces);
    spaces = 0;
    if (c === '\\') {
      c = src.next();
      switch (c) {
        case '\n':
          continue; // a line continuation
        case 't':
          c = '\t';
          break;
        case 'b':
          c = '\b';
          break;
        case 'n':
          c = '\n';
          break;
        case '\\':
        case '"':
          break;
        default:
          return { badLine: src.line };
      }
      value += c;
      continue;
    }
    if (c === '"') {
      isQuoted = !isQuoted;
      continue;
    }
    value += c;
  }
}

/** Every value of a variable, in order (`name` as git forms it: `core.hookspath`). */
export function valuesOf(config: GitConfig, name: string): readonly (string | null)[] {
  return config.entries.filter((e) => e.name === name).map((e) => e.value);
}

/**
 * The files a config includes, in order (git reads each where its directive stands). Every
 * `includeIf` is listed whatever its condition: `onbranch:` follows a HEAD the session can move,
 * and `gitdir:` a path it may be able to create, so which of them apply later is not known now.
 */
export function includesOf(config: GitConfig): readonly GitConfigInclude[] {
  const found: GitConfigInclude[] = [];
  for (const { name, value } of config.entries) {
    if (value === null) continue; // git refuses a bare include.path: nothing is read
    if (name === 'include.path') found.push({ path: value });
    else if (name.startsWith('includeif.') && name.endsWith('.path')) {
      // git splits at the first and the last dot: the condition may hold dots itself.
      const condition = name.slice('includeif.'.length, -'.path'.length);
      if (condition !== '') found.push({ path: value, condition });
    }
  }
  return found;
}

/**
 * Whether a boolean variable reads as false to git (`false`, `no`, `off`, `0`, empty). Anything
 * else — true, a typo git would die on — is not false: callers protecting against it should
 * assume it is set.
 */
export function isGitFalse(value: string | null): boolean {
  if (value === null) return false;
  return /^(?:false|no|off|0+|)$/i.test(value);
}
