// A small, strict argument parser: `--flag value`, `--flag=value`, boolean flags, `--` to end
// options, and list flags that take several values after one flag (`--policy a.yaml b.yaml`, as
// a shell glob expands). Unknown flags are errors, never ignored.

import { UserError } from './errors.js';

export interface FlagSpec {
  readonly type: 'string' | 'boolean' | 'list';
  readonly short?: string;
  /** For lists: which following bare words belong to the flag rather than to the positionals. */
  readonly takes?: (word: string) => boolean;
}

export interface Parsed {
  readonly flags: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
  /** Words after `--`, verbatim. */
  readonly rest?: string[];
}

export function parseArgs(
  argv: readonly string[],
  spec: Readonly<Record<string, FlagSpec>>,
  command: string,
): Parsed {
  const flags: Record<string, string | boolean | string[] | undefined> = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(spec).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])),
  );
  let rest: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (word === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      name = eq >= 0 ? word.slice(2, eq) : word.slice(2);
      inline = eq >= 0 ? word.slice(eq + 1) : undefined;
    } else {
      const long = byShort.get(word.slice(1));
      if (long === undefined)
        throw new UserError(
          `unknown option ${word} for "${command}"`,
          `run "perimeter ${command} --help" for the options`,
        );
      name = long;
    }
    const s = spec[name];
    if (!s)
      throw new UserError(
        `unknown option --${name} for "${command}"`,
        `run "perimeter ${command} --help" for the options`,
      );
    if (s.type === 'boolean') {
      if (inline !== undefined) throw new UserError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined)
      throw new UserError(`--${name} needs a value`, `run "perimeter ${command} --help" for an example`);
    if (s.type === 'string') {
      flags[name] = value;
      continue;
    }
    const list = (flags[name] as string[] | undefined) ?? [];
    list.push(...value.split(',').filter((v) => v !== ''));
    while (inline === undefined && i + 1 < argv.length && s.takes?.(argv[i + 1] ?? ''))
      list.push(argv[++i] ?? '');
    flags[name] = list;
  }
  return { flags, positionals, ...(rest ? { rest } : {}) };
}

export function stringFlag(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function listFlag(p: Parsed, name: string): string[] | undefined {
  const v = p.flags[name];
  return Array.isArray(v) ? v : undefined;
}

export function boolFlag(p: Parsed, name: string): boolean {
  return p.flags[name] === true;
}

/**
 * A numeric flag's value, if given: a whole number (or, for `unit` seconds, a decimal one) from
 * `min` to `max`, else a one-sentence refusal naming the flag, what it got and what it takes.
 */
export function numberFlag(
  p: Parsed,
  name: string,
  range: { readonly min: number; readonly max: number; readonly unit?: 'seconds'; readonly example: number },
): number | undefined {
  const text = stringFlag(p, name);
  if (text === undefined) return undefined;
  const pattern = range.unit === 'seconds' ? /^[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/;
  const n = Number(text);
  if (!pattern.test(text) || n < range.min || n > range.max)
    throw new UserError(
      `--${name} ${text} is not ${range.unit === 'seconds' ? 'a number of seconds' : 'a whole number'} from ${range.min} to ${range.max}`,
      `for example: --${name} ${range.example}`,
    );
  return n;
}
