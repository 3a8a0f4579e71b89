// The trust-handoff lists and the small reader of the `.git` file of worktrees and submodules
// (`gitdirOf`, redteam-43). How git's config syntax is read (core.hooksPath, redteam-42) is
// tested, against real git, in git-config.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PROTECTED_IN_GIT_DIR, PROTECTED_NAMES, gitdirOf } from '../src/protected-paths.js';

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
