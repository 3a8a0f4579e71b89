// The trust-handoff lists and the two small git readers: `hooksPathOf` (git's config syntax, for
// redteam-42) and `gitdirOf` (the `.git` file of worktrees and submodules, redteam-43).
//
// The hooksPathOf table is checked twice: against hooksPathOf, and against real git
// (`git config -f FILE --type=path --get core.hookspath`, which reads the value as git does before
// running a hook), so every expected value is git's own reading. Where git refuses the file (a
// syntax error, a hooksPath with no value), no hook runs at all; the row says so, git is checked to
// refuse it, and hooksPathOf gives what it read before the error (protecting it is harmless).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PROTECTED_IN_GIT_DIR, PROTECTED_NAMES, gitdirOf, hooksPathOf } from '../src/protected-paths.js';

interface HooksCase {
  readonly name: string;
  readonly config: string;
  readonly want: string | undefined;
  /** git refuses this file (`fatal: bad config line`, `missing value`): it runs no hook at all. */
  readonly gitRefuses?: true;
}

const HOOKS_CASES: readonly HooksCase[] = [
  { name: 'a plain core.hooksPath', config: '[core]\n\thooksPath = .husky/_\n', want: '.husky/_' },
  { name: 'no spaces around =', config: '[core]\nhooksPath=.githooks\n', want: '.githooks' },
  { name: 'an empty config', config: '', want: undefined },
  { name: 'core without hooksPath', config: '[core]\n\tbare = false\n', want: undefined },
  { name: 'hooksPath in another section', config: '[user]\n\thooksPath = x\n', want: undefined },
  { name: 'section and key names are case-insensitive', config: '[CoRe]\n\tHOOKSPATH = up\n', want: 'up' },
  { name: 'a quoted value keeps its spaces', config: '[core]\n\thooksPath = "my hooks"\n', want: 'my hooks' },
  { name: 'a # comment after the value', config: '[core]\n\thooksPath = hooks # shared\n', want: 'hooks' },
  { name: 'a ; comment after the value', config: '[core]\n\thooksPath = hooks ; shared\n', want: 'hooks' },
  {
    name: 'commented-out lines do not count',
    config: '[core]\n#\thooksPath = a\n;\thooksPath = b\n',
    want: undefined,
  },
  {
    name: 'the last value wins, across repeated sections',
    config: '[core]\n\thooksPath = one\n[user]\n\tname = x\n[core]\n\thooksPath = two\n',
    want: 'two',
  },
  {
    name: 'a later section ends core',
    config: '[core]\n\tbare = false\n[alias]\n\thooksPath = x\n',
    want: undefined,
  },
  { name: 'CRLF line endings', config: '[core]\r\n\thooksPath = win\r\n', want: 'win' },
  {
    name: 'the old [core.x] subsection syntax is not core',
    config: '[core.x]\n\thooksPath = old\n',
    want: undefined,
  },
  { name: 'a [core "x"] subsection is not core', config: '[core "x"]\n\thooksPath = sub\n', want: undefined },
  {
    name: 'a [core ""] subsection is not core either',
    config: '[core ""]\n\thooksPath = sub\n',
    want: undefined,
  },
  { name: 'a key on the header line', config: '[core] hooksPath = sameline\n', want: 'sameline' },
  { name: 'a header, key and comment on one line', config: '[core]hooksPath=x;y\n', want: 'x' },
  {
    name: 'a comment character right after the value',
    config: '[core]\n\thooksPath = hooks#note\n',
    want: 'hooks',
  },
  {
    name: 'a comment character inside quotes is part of the value',
    config: '[core]\n\thooksPath = "team #1"\n',
    want: 'team #1',
  },
  { name: 'an escaped quote inside quotes', config: '[core]\n\thooksPath = "a\\"b"\n', want: 'a"b' },
  {
    name: 'a value continued on the next line',
    config: '[core]\n\thooksPath = scripts\\\n/hooks\n',
    want: 'scripts/hooks',
  },
  {
    name: 'a continuation swallows the next line’s key into the value',
    config: '[core]\n\tbare = false \\\n\thooksPath = x\n',
    want: undefined,
  },
  {
    name: 'a quoted part joined to an unquoted one',
    config: '[core]\n\thooksPath = "my" hooks\n',
    want: 'my hooks',
  },
  {
    name: 'an unquoted tab inside the value reads as a space',
    config: '[core]\n\thooksPath = my\thooks\n',
    want: 'my hooks',
  },
  {
    name: 'a NUL in a subsection makes the variable core.hooksPath for git',
    config: '[core "hookspath\0junk"]\n\tx = evil\n',
    want: 'evil',
  },
  { name: 'a NUL ends the value', config: '[core]\n\thooksPath = good\0bad\n', want: 'good' },
  {
    name: 'a byte order mark before the first header',
    config: '\uFEFF[core]\nhooksPath = bom\n',
    want: 'bom',
  },
  {
    name: '~/ is kept for the caller to expand',
    config: '[core]\n\thooksPath = ~/githooks\n',
    want: '~/githooks',
  },
  {
    name: 'an empty value is a value (git looks for hooks in /)',
    config: '[core]\n\thooksPath = one\n\thooksPath =\n',
    want: '',
  },
  {
    name: 'a hooksPath with no value: git refuses the file',
    config: '[core]\n\thooksPath = one\n\thooksPath\n',
    want: 'one',
    gitRefuses: true,
  },
  {
    name: 'a syntax error after the hooksPath: git refuses the file',
    config: '[core]\n\thooksPath = x\n[broken\n',
    want: 'x',
    gitRefuses: true,
  },
  {
    name: 'a dotted key before any section is a syntax error',
    config: 'core.hooksPath = x\n',
    want: undefined,
    gitRefuses: true,
  },
];

const git = spawnSync('git', ['--version'], { encoding: 'utf8' });
const hasGit = git.status === 0;

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/**
 * What real git reads as core.hooksPath from this config text: the path (`~/` expanded against
 * `home`), undefined when unset, 'refused' when git refuses the file.
 */
function gitHooksPath(config: string, home: string): string | undefined {
  const file = join(home, 'config');
  writeFileSync(file, config);
  const r = spawnSync('git', ['config', '-f', file, '--type=path', '--get', 'core.hookspath'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_CONFIG_NOSYSTEM: '1' },
  });
  if (r.status === 1) return undefined;
  if (r.status === 128) return 'refused';
  assert.equal(r.status, 0, `git config failed: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '');
}

describe('hooksPathOf reads core.hooksPath as git does (redteam-42)', () => {
  for (const c of HOOKS_CASES) {
    it(c.name, () => {
      assert.equal(hooksPathOf(c.config), c.want, JSON.stringify(c.config));
    });
  }
});

describe(
  'the hooksPathOf table is what real git reads',
  { skip: hasGit ? false : 'git is not installed' },
  () => {
    it('every row’s expected value is git’s own reading', () => {
      const home = mkdtempSync(join(tmpdir(), 'perimeter-gitconfig-'));
      made.push(home);
      for (const c of HOOKS_CASES) {
        const want = c.gitRefuses
          ? 'refused'
          : c.want?.startsWith('~/')
            ? join(home, c.want.slice(2))
            : c.want;
        assert.equal(gitHooksPath(c.config, home), want, c.name);
      }
    });
  },
);

describe('gitdirOf reads the .git file of worktrees and submodules (redteam-43)', () => {
  const cases: readonly { name: string; text: string; want: string | undefined }[] = [
    {
      name: 'an absolute worktree pointer',
      text: 'gitdir: /r/.git/worktrees/x\n',
      want: '/r/.git/worktrees/x',
    },
    {
      name: 'a relative submodule pointer',
      text: 'gitdir: ../.git/modules/lib\n',
      want: '../.git/modules/lib',
    },
    { name: 'no trailing newline', text: 'gitdir: /r/.git', want: '/r/.git' },
    { name: 'CRLF', text: 'gitdir: /r/.git\r\n', want: '/r/.git' },
    { name: 'a path with spaces', text: 'gitdir: /my repo/.git\n', want: '/my repo/.git' },
    { name: 'an empty file', text: '', want: undefined },
    { name: 'a file that is not a pointer', text: 'ref: refs/heads/main\n', want: undefined },
    { name: 'the prefix is case-sensitive, as in git', text: 'GITDIR: /r/.git\n', want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(gitdirOf(c.text), c.want);
    });
  }
});

describe('the trust-handoff lists', () => {
  it('redteam-44: cover shell and session init files, including those srt’s list lacks', () => {
    for (const name of [
      '.bashrc',
      '.bash_profile',
      '.bash_login',
      '.profile',
      '.zshrc',
      '.zshenv',
      '.zprofile',
      '.zlogin',
      '.config/fish',
      '.inputrc',
      '.envrc',
      '.tool-versions',
      '.mise.toml',
    ])
      assert.ok(PROTECTED_NAMES.includes(name), name);
  });

  it('redteam-45: cover IDE and agent auto-exec configuration', () => {
    for (const name of [
      '.vscode',
      '.idea',
      '.devcontainer',
      '.claude/settings.json',
      '.claude/settings.local.json',
      '.claude/hooks',
      '.claude/commands',
      '.claude/agents',
      '.claude/skills',
      '.mcp.json',
      '.cursor',
      '.github/hooks',
      '.gemini/settings.json',
      '.gemini/trustedFolders.json',
    ])
      assert.ok(PROTECTED_NAMES.includes(name), name);
  });

  it('redteam-39 to redteam-41, redteam-47, redteam-49: cover git, PATH and client configuration', () => {
    for (const name of [
      '.git/hooks',
      '.git/config',
      '.git/info',
      '.husky',
      '.githooks',
      '.local/bin',
      '.gitconfig',
      '.ssh',
      '.npmrc',
      '.pypirc',
      '.docker',
    ])
      assert.ok(PROTECTED_NAMES.includes(name), name);
    assert.deepEqual([...PROTECTED_IN_GIT_DIR].sort(), ['config', 'hooks', 'info']);
  });

  it('holds only clean relative paths, each once (they are joined to every writable root)', () => {
    for (const name of [...PROTECTED_NAMES, ...PROTECTED_IN_GIT_DIR]) {
      assert.ok(!name.startsWith('/') && !name.endsWith('/'), name);
      assert.ok(
        name.split('/').every((s) => s !== '' && s !== '.' && s !== '..'),
        name,
      );
    }
    assert.equal(new Set(PROTECTED_NAMES).size, PROTECTED_NAMES.length);
  });
});
