// git's config file syntax (git-config.ts), table-driven. Every row is checked twice: against
// parseGitConfig, and against real git (`git config -f FILE --no-includes --list -z`, and the line
// of its `bad config line N` when it refuses the file), so each expected reading is git's own.
// What the reader gets wrong, git would see and Perimeter would not: a hooks path or an include
// left unprotected (redteam-40, redteam-42).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { includesOf, isGitFalse, parseGitConfig, valuesOf } from '../src/git-config.js';

type Entry = readonly [name: string, value: string | null];

interface SyntaxCase {
  readonly name: string;
  readonly text: string;
  /** Every entry, in order (up to the error, when git refuses the file). */
  readonly entries: readonly Entry[];
  /** The line of git's `fatal: bad config line N`. */
  readonly badLine?: number;
}

const SYNTAX_CASES: readonly SyntaxCase[] = [
  // Sections
  { name: 'a section and a key', text: '[core]\n\tbare = false\n', entries: [['core.bare', 'false']] },
  {
    name: 'section and key names are lower-cased, a quoted subsection keeps its case',
    text: '[Remote "Origin"]\n\tURL = x\n',
    entries: [['remote.Origin.url', 'x']],
  },
  {
    name: 'a legacy [section.sub] subsection is lower-cased',
    text: '[Remote.Origin]\nurl = x\n',
    entries: [['remote.origin.url', 'x']],
  },
  {
    name: 'names may hold digits, dashes and dots',
    text: '[a-1.B-2]\nk-3 = v\n',
    entries: [['a-1.b-2.k-3', 'v']],
  },
  {
    name: 'a backslash in a subsection escapes any character',
    text: '[a "x\\"y\\\\z\\q"]\nk = v\n',
    entries: [['a.x"y\\zq.k', 'v']],
  },
  {
    name: 'a subsection may hold dots, spaces and brackets',
    text: '[includeIf "gitdir:~/my work/[x].y/"]\npath = p\n',
    entries: [['includeif.gitdir:~/my work/[x].y/.path', 'p']],
  },
  {
    name: 'blanks may stand between the section and its quoted subsection',
    text: '[a \t "x"]\nk = v\n',
    entries: [['a.x.k', 'v']],
  },
  { name: 'a key on the header line', text: '[a] k = v\n', entries: [['a.k', 'v']] },
  { name: 'two headers on one line', text: '[a][b]k=v\n', entries: [['b.k', 'v']] },
  { name: 'a comment after a header', text: '[a] ; note\nk = v\n', entries: [['a.k', 'v']] },
  { name: 'a key before any section', text: 'k = v\n', entries: [['k', 'v']] },
  { name: 'an empty section name and a subsection', text: '[ "x"]\nk = v\n', entries: [['.x.k', 'v']] },
  { name: 'a blank before ] is an error', text: '[a ]\nk = v\n', entries: [], badLine: 1 },
  {
    name: 'anything between the closing quote and ] is an error',
    text: '[a "x" ]\nk = v\n',
    entries: [],
    badLine: 1,
  },
  { name: 'an empty header is an error', text: '[]\nk = v\n', entries: [], badLine: 1 },
  { name: 'a header cut by the end of its line', text: '[a "x\n"]\n', entries: [], badLine: 1 },
  { name: 'a header cut by the end of the file', text: '[a', entries: [], badLine: 2 },
  {
    name: 'a backslash before the end of a subsection’s line is an error',
    text: '[a "x\\\n"]\n',
    entries: [],
    badLine: 1,
  },
  { name: 'an underscore in a section is an error', text: '[a_b]\n', entries: [], badLine: 1 },
  // Keys
  { name: 'a key with no = is null (git’s true)', text: '[a]\nk\n', entries: [['a.k', null]] },
  { name: 'blanks after a bare key', text: '[a]\nk \t\n', entries: [['a.k', null]] },
  { name: 'a bare key at the end of the file', text: '[a]\nk', entries: [['a.k', null]] },
  {
    name: 'a comment right after a bare key is an error',
    text: '[a]\nk # note\nj = 1\n',
    entries: [],
    badLine: 2,
  },
  { name: 'a key starting with a digit is an error', text: '[a]\n1k = v\n', entries: [], badLine: 2 },
  {
    name: 'an underscore in a key is an error',
    text: '[a]\nx = 1\nk_1 = v\n',
    entries: [['a.x', '1']],
    badLine: 3,
  },
  { name: 'blanks around =', text: '[a]\nk\t=\tv\n', entries: [['a.k', 'v']] },
  { name: 'a vertical tab is not a blank', text: '[a]\n\vk = v\n', entries: [], badLine: 2 },
  // Values
  { name: 'an = inside a value', text: '[a]\nk = x=y\n', entries: [['a.k', 'x=y']] },
  { name: 'an empty value', text: '[a]\nk =\n', entries: [['a.k', '']] },
  { name: 'a value that is only a comment', text: '[a]\nk = # note\n', entries: [['a.k', '']] },
  {
    name: 'each blank inside a value is one space, blanks around it dropped',
    text: '[a]\nk =  x \t y  \n',
    entries: [['a.k', 'x   y']],
  },
  {
    name: 'blanks inside quotes are kept as written',
    text: '[a]\nk = " x\ty "\n',
    entries: [['a.k', ' x\ty ']],
  },
  {
    name: 'quotes may open and close anywhere in a value',
    text: '[a]\nk = x"y z"w\n',
    entries: [['a.k', 'xy zw']],
  },
  {
    name: 'blanks after an empty quoted part are still leading',
    text: '[a]\nk = "" x\n',
    entries: [['a.k', 'x']],
  },
  { name: '# ends a value with no blank before it', text: '[a]\nk = x#y\n', entries: [['a.k', 'x']] },
  { name: '; ends a value with no blank before it', text: '[a]\nk = x;y\n', entries: [['a.k', 'x']] },
  {
    name: '# and ; inside quotes are part of the value',
    text: '[a]\nk = "x # y ; z"\n',
    entries: [['a.k', 'x # y ; z']],
  },
  {
    name: 'a quote inside a comment does not open',
    text: '[a]\nk = x # "y\nj = 1\n',
    entries: [
      ['a.k', 'x'],
      ['a.j', '1'],
    ],
  },
  {
    name: 'the escapes \\n \\t \\b \\\\ \\"',
    text: '[a]\nk = a\\nb\\tc\\bd\\\\e\\"f\n',
    entries: [['a.k', 'a\nb\tc\bd\\e"f']],
  },
  { name: 'escapes inside quotes', text: '[a]\nk = "a\\"b"\n', entries: [['a.k', 'a"b']] },
  { name: 'an unknown escape is an error', text: '[a]\nk = a\\qb\n', entries: [], badLine: 2 },
  { name: 'a quote left open is an error', text: '[a]\nk = "abc\nj = 1\n', entries: [], badLine: 2 },
  {
    name: 'a backslash at the end of a line continues the value',
    text: '[a]\nk = scripts\\\n/hooks\n',
    entries: [['a.k', 'scripts/hooks']],
  },
  {
    name: 'a continuation inside quotes',
    text: '[a]\nk = "x \\\n y"\n',
    entries: [['a.k', 'x  y']],
  },
  {
    name: 'a continuation after CRLF',
    text: '[a]\r\nk = x\\\r\ny\r\n',
    entries: [['a.k', 'xy']],
  },
  {
    name: 'a backslash inside a comment does not continue it',
    text: '[a]\nk = x # note \\\nj = 1\n',
    entries: [
      ['a.k', 'x'],
      ['a.j', '1'],
    ],
  },
  {
    name: 'a continued comment line is not one: the next line is read',
    text: '[a]\n# note \\\nk = v\n',
    entries: [['a.k', 'v']],
  },
  {
    name: 'a continuation into a comment ends the value',
    text: '[a]\nk = x\\\n# y\nj = 1\n',
    entries: [
      ['a.k', 'x'],
      ['a.j', '1'],
    ],
  },
  { name: 'a backslash at the end of the file', text: '[a]\nk = x\\', entries: [['a.k', 'x']] },
  { name: 'a lone CR is a blank', text: '[a]\nk = x\ry\n', entries: [['a.k', 'x y']] },
  { name: 'no newline at the end of the file', text: '[a]\nk = v', entries: [['a.k', 'v']] },
  { name: 'a byte order mark at the start', text: '\uFEFF[a]\nk = v\n', entries: [['a.k', 'v']] },
  { name: 'non-ASCII text in values', text: '[a]\nk = crème brûlée\n', entries: [['a.k', 'crème brûlée']] },
  { name: 'a non-ASCII key is an error', text: '[a]\nké = v\n', entries: [], badLine: 2 },
  // NUL bytes: git hands names and values on as C strings.
  { name: 'a NUL ends a value', text: '[a]\nk = x\0y\n', entries: [['a.k', 'x']] },
  {
    name: 'a NUL in a subsection ends the variable’s name there',
    text: '[core "hookspath\0junk"]\n\tx = evil\n',
    entries: [['core.hookspath', 'evil']],
  },
  { name: 'a NUL between entries is an error', text: '[a]\n\0k = v\n', entries: [], badLine: 2 },
  // Comments and order
  {
    name: 'comment lines and blank lines',
    text: '# one\n; two\n\n   \n[a]\n  # three\nk = v\n',
    entries: [['a.k', 'v']],
  },
  {
    name: 'repeated keys and sections are all listed, in order',
    text: '[a]\nk = 1\n[b]\nk = 2\n[a]\nk = 3\n',
    entries: [
      ['a.k', '1'],
      ['b.k', '2'],
      ['a.k', '3'],
    ],
  },
  {
    name: 'the entries before an error are read',
    text: '[a]\nk = 1\nj = 2\n[b\n',
    entries: [
      ['a.k', '1'],
      ['a.j', '2'],
    ],
    badLine: 4,
  },
];

const hasGit = spawnSync('git', ['--version']).status === 0;

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** What real git lists for this config text, and the line it names when it refuses the file. */
function gitReading(text: string): { entries: Entry[]; badLine?: number } {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-gitconfig-'));
  made.push(dir);
  const file = join(dir, 'config');
  writeFileSync(file, text);
  const r = spawnSync('git', ['config', '-f', file, '--no-includes', '--list', '-z'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' },
  });
  const entries = r.stdout
    .split('\0')
    .slice(0, -1)
    .map((record): Entry => {
      const nl = record.indexOf('\n');
      return nl < 0 ? [record, null] : [record.slice(0, nl), record.slice(nl + 1)];
    });
  if (r.status === 0) return { entries };
  const bad = /bad config line (\d+)/.exec(r.stderr);
  assert.ok(bad, `git config failed otherwise: ${r.stderr}`);
  return { entries, badLine: Number(bad[1]) };
}

const readingOf = (text: string): { entries: Entry[]; badLine?: number } => {
  const config = parseGitConfig(text);
  const entries = config.entries.map((e): Entry => [e.name, e.value]);
  return config.badLine === undefined ? { entries } : { entries, badLine: config.badLine };
};

const expected = (c: SyntaxCase): { entries: Entry[]; badLine?: number } =>
  c.badLine === undefined ? { entries: [...c.entries] } : { entries: [...c.entries], badLine: c.badLine };

describe('parseGitConfig reads git’s config syntax (redteam-40, redteam-42)', () => {
  for (const c of SYNTAX_CASES) {
    it(c.name, () => {
      assert.deepEqual(readingOf(c.text), expected(c), JSON.stringify(c.text));
    });
  }

  it('counts lines from 1 for each entry', () => {
    const config = parseGitConfig('# x\n[a]\n\tk = 1\n\n\tj = "2\\\n"\n\ti = 3\n');
    assert.deepEqual(
      config.entries.map((e) => [e.name, e.line]),
      [
        ['a.k', 3],
        ['a.j', 5],
        ['a.i', 7],
      ],
    );
  });
});

describe(
  'the git config syntax table is what real git reads',
  { skip: hasGit ? false : 'git is not installed' },
  () => {
    it('every row’s entries and error line are git’s own', () => {
      for (const c of SYNTAX_CASES) assert.deepEqual(gitReading(c.text), expected(c), c.name);
    });
  },
);

describe('includesOf lists the files a config includes (redteam-40)', () => {
  it('include.path and every includeIf, whatever its condition, in order', () => {
    const config = parseGitConfig(
      [
        '[include]',
        '\tpath = shared.inc',
        '[includeIf "gitdir:~/work/"]',
        '\tpath = ~/work.inc',
        '[includeIf "onbranch:feature/x.y"]',
        '\tpath = /abs/branch.inc',
        '[INCLUDE]',
        '\tPATH = again.inc',
        '',
      ].join('\n'),
    );
    assert.deepEqual(includesOf(config), [
      { path: 'shared.inc' },
      { path: '~/work.inc', condition: 'gitdir:~/work/' },
      { path: '/abs/branch.inc', condition: 'onbranch:feature/x.y' },
      { path: 'again.inc' },
    ]);
  });

  it('not a subsection of include, a bare key, or an includeIf with no condition', () => {
    const config = parseGitConfig('[include "x"]\npath = a\n[include]\npath\n[includeIf]\npath = b\n');
    assert.deepEqual(includesOf(config), []);
  });
});

describe('valuesOf and isGitFalse', () => {
  it('valuesOf lists every value of one variable, in order', () => {
    const config = parseGitConfig('[core]\nhooksPath = a\n[core "x"]\nhooksPath = b\n[CORE]\nHOOKSPATH\n');
    assert.deepEqual(valuesOf(config, 'core.hookspath'), ['a', null]);
  });

  it('isGitFalse: only what git reads as false', () => {
    for (const v of ['false', 'FALSE', 'no', 'Off', '0', '', '000']) assert.equal(isGitFalse(v), true, v);
    for (const v of [null, 'true', 'yes', '1', 'flase', ' false'])
      assert.equal(isGitFalse(v), false, String(v));
  });
});

// core.hooksPath, the hooks directory git runs (redteam-42). The planner protects every value a
// config sets (valuesOf), not only the last one git takes: an include it cannot rule out may come
// after. Each row is checked twice: against valuesOf(parseGitConfig(…)), and against real git
// (`git config -f FILE --type=path --get-all core.hookspath`, reading every value as git does
// before running a hook, and `--get`, the one it runs them from). Where git refuses the file (a
// syntax error, a hooksPath with no value), no hook runs at all; the row says so, git is checked
// to refuse it, and the values are what the parser read before the error (protecting them is
// harmless).

interface HooksCase {
  readonly name: string;
  readonly config: string;
  /** Every value of core.hooksPath in file order (`null`: a key with no value); git takes the last. */
  readonly values: readonly (string | null)[];
  /** git refuses this file (`fatal: bad config line`, `missing value`): it runs no hook at all. */
  readonly gitRefuses?: true;
}

const HOOKS_CASES: readonly HooksCase[] = [
  { name: 'a plain core.hooksPath', config: '[core]\n\thooksPath = .husky/_\n', values: ['.husky/_'] },
  { name: 'no spaces around =', config: '[core]\nhooksPath=.githooks\n', values: ['.githooks'] },
  { name: 'an empty config', config: '', values: [] },
  { name: 'core without hooksPath', config: '[core]\n\tbare = false\n', values: [] },
  { name: 'hooksPath in another section', config: '[user]\n\thooksPath = x\n', values: [] },
  {
    name: 'section and key names are case-insensitive',
    config: '[CoRe]\n\tHOOKSPATH = up\n',
    values: ['up'],
  },
  {
    name: 'a quoted value keeps its spaces',
    config: '[core]\n\thooksPath = "my hooks"\n',
    values: ['my hooks'],
  },
  {
    name: 'a # comment after the value',
    config: '[core]\n\thooksPath = hooks # shared\n',
    values: ['hooks'],
  },
  {
    name: 'a ; comment after the value',
    config: '[core]\n\thooksPath = hooks ; shared\n',
    values: ['hooks'],
  },
  {
    name: 'commented-out lines do not count',
    config: '[core]\n#\thooksPath = a\n;\thooksPath = b\n',
    values: [],
  },
  {
    name: 'every value is listed, across repeated sections (git takes the last)',
    config: '[core]\n\thooksPath = one\n[user]\n\tname = x\n[core]\n\thooksPath = two\n',
    values: ['one', 'two'],
  },
  {
    name: 'a later section ends core',
    config: '[core]\n\tbare = false\n[alias]\n\thooksPath = x\n',
    values: [],
  },
  { name: 'CRLF line endings', config: '[core]\r\n\thooksPath = win\r\n', values: ['win'] },
  {
    name: 'the old [core.x] subsection syntax is not core',
    config: '[core.x]\n\thooksPath = old\n',
    values: [],
  },
  { name: 'a [core "x"] subsection is not core', config: '[core "x"]\n\thooksPath = sub\n', values: [] },
  {
    name: 'a [core ""] subsection is not core either',
    config: '[core ""]\n\thooksPath = sub\n',
    values: [],
  },
  { name: 'a key on the header line', config: '[core] hooksPath = sameline\n', values: ['sameline'] },
  { name: 'a header, key and comment on one line', config: '[core]hooksPath=x;y\n', values: ['x'] },
  {
    name: 'a comment character right after the value',
    config: '[core]\n\thooksPath = hooks#note\n',
    values: ['hooks'],
  },
  {
    name: 'a comment character inside quotes is part of the value',
    config: '[core]\n\thooksPath = "team #1"\n',
    values: ['team #1'],
  },
  { name: 'an escaped quote inside quotes', config: '[core]\n\thooksPath = "a\\"b"\n', values: ['a"b'] },
  {
    name: 'a value continued on the next line',
    config: '[core]\n\thooksPath = scripts\\\n/hooks\n',
    values: ['scripts/hooks'],
  },
  {
    name: 'a continuation swallows the next line’s key into the value',
    config: '[core]\n\tbare = false \\\n\thooksPath = x\n',
    values: [],
  },
  {
    name: 'a quoted part joined to an unquoted one',
    config: '[core]\n\thooksPath = "my" hooks\n',
    values: ['my hooks'],
  },
  {
    name: 'an unquoted tab inside the value reads as a space',
    config: '[core]\n\thooksPath = my\thooks\n',
    values: ['my hooks'],
  },
  {
    name: 'a NUL in a subsection makes the variable core.hooksPath for git',
    config: '[core "hookspath\0junk"]\n\tx = evil\n',
    values: ['evil'],
  },
  { name: 'a NUL ends the value', config: '[core]\n\thooksPath = good\0bad\n', values: ['good'] },
  {
    name: 'a byte order mark before the first header',
    config: '\uFEFF[core]\nhooksPath = bom\n',
    values: ['bom'],
  },
  {
    name: '~/ is kept for the caller to expand',
    config: '[core]\n\thooksPath = ~/githooks\n',
    values: ['~/githooks'],
  },
  {
    name: 'an empty value is a value (git looks for hooks in /)',
    config: '[core]\n\thooksPath = one\n\thooksPath =\n',
    values: ['one', ''],
  },
  {
    name: 'a hooksPath with no value: git refuses the file',
    config: '[core]\n\thooksPath = one\n\thooksPath\n',
    values: ['one', null],
    gitRefuses: true,
  },
  {
    name: 'a syntax error after the hooksPath: git refuses the file',
    config: '[core]\n\thooksPath = x\n[broken\n',
    values: ['x'],
    gitRefuses: true,
  },
  {
    name: 'a dotted key before any section is a syntax error',
    config: 'core.hooksPath = x\n',
    values: [],
    gitRefuses: true,
  },
];

/**
 * What real git reads as core.hooksPath from this config text with `--get-all` (every value) or
 * `--get` (the last, the one hooks run from): paths with `~/` expanded against `home`, 'refused'
 * when git refuses the file.
 */
function gitHooksPaths(config: string, home: string, mode: '--get-all' | '--get'): string[] | 'refused' {
  const file = join(home, 'config');
  writeFileSync(file, config);
  const r = spawnSync('git', ['config', '-f', file, '--type=path', '-z', mode, 'core.hookspath'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_CONFIG_NOSYSTEM: '1' },
  });
  if (r.status === 1) return [];
  if (r.status === 128) return 'refused';
  assert.equal(r.status, 0, `git config failed: ${r.stderr}`);
  return r.stdout.split('\0').slice(0, -1);
}

describe('valuesOf reads every core.hooksPath as git does (redteam-42)', () => {
  for (const c of HOOKS_CASES) {
    it(c.name, () => {
      assert.deepEqual(
        valuesOf(parseGitConfig(c.config), 'core.hookspath'),
        c.values,
        JSON.stringify(c.config),
      );
    });
  }
});

describe(
  'the core.hooksPath table is what real git reads',
  { skip: hasGit ? false : 'git is not installed' },
  () => {
    it('every row’s values, and the last of them, are git’s own reading', () => {
      const home = mkdtempSync(join(tmpdir(), 'perimeter-gitconfig-'));
      made.push(home);
      const expand = (v: string | null): string | null =>
        v?.startsWith('~/') === true ? join(home, v.slice(2)) : v;
      for (const c of HOOKS_CASES) {
        const all = c.gitRefuses ? 'refused' : c.values.map(expand);
        const last = c.gitRefuses ? 'refused' : c.values.slice(-1).map(expand);
        assert.deepEqual(gitHooksPaths(c.config, home, '--get-all'), all, `${c.name} (--get-all)`);
        assert.deepEqual(gitHooksPaths(c.config, home, '--get'), last, `${c.name} (--get)`);
      }
    });
  },
);
