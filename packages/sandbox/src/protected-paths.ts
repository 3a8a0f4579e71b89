// Trust-handoff paths (sandbox.md §4 cases 39–49): files that code outside the sandbox runs or
// trusts later. In every writable root they are read-only for the session, whether or not they
// exist at launch, whatever the policy says.

/**
 * Shell and session start-up files (case 44: denied in the home directory and in the workspace,
 * where an rc file waits for someone to copy or source it).
 */
const SHELL_INIT = [
  '.bashrc',
  '.bash_profile',
  '.bash_login',
  '.bash_logout',
  '.profile',
  '.zshrc',
  '.zshenv',
  '.zprofile',
  '.zlogin',
  '.zlogout',
  '.inputrc',
];

/** fish reads its start-up files from ~/.config/fish only (XDG): blocking `.config` in a project would be noise. */
const FISH_CONFIG = '.config/fish';

/** PATH shadowing (47) and client configuration (49): trusted only where a home directory has them. */
const HOME_CLIENT_CONFIG = [
  '.local/bin',
  '.gitconfig',
  '.ssh',
  '.npmrc',
  '.pypirc',
  '.docker',
  '.config/git',
  '.config/systemd',
];

/** Relative to each writable root (the workspace, and any other directory the session may write). */
export const PROTECTED_NAMES: readonly string[] = [
  // git (39–43): hooks, config with its execution primitives, attributes routing to filters.
  '.git/hooks',
  '.git/config',
  '.git/info',
  '.gitmodules',
  '.husky',
  '.githooks',
  // Shell and session init (44), direnv and tool managers.
  ...SHELL_INIT,
  FISH_CONFIG,
  '.envrc',
  '.tool-versions',
  '.mise.toml',
  // IDE and agent auto-exec configuration (45).
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
  // PATH shadowing and client configuration, when a home directory is writable.
  ...HOME_CLIENT_CONFIG,
];

/**
 * Names that only run or are trusted when they sit in a home directory (fish's config, client
 * configuration, ~/.local/bin). Where they exist they are read-only in every writable root; where
 * they do not, creating them is blocked only in the home directory, so a project workspace is not
 * littered with masks for files nothing would ever read from there.
 */
export const HOME_ONLY_WHEN_MISSING: ReadonlySet<string> = new Set([FISH_CONFIG, ...HOME_CLIENT_CONFIG]);

/**
 * Home-directory files and directories that tools run or trust, but which are ordinary names in a
 * project (a project's own `bin/`): protected only under the home directory (cases 47–49).
 */
export const HOME_ONLY_NAMES: readonly string[] = [
  'bin',
  '.cargo/config.toml',
  '.cargo/config',
  '.gradle/init.d',
  '.gradle/init.gradle',
  '.gradle/gradle.properties',
  '.m2/settings.xml',
  '.yarnrc',
  '.yarnrc.yml',
  '.config/pip',
  '.pip',
  '.condarc',
  '.config/pnpm',
  '.config/nvim',
  '.vimrc',
  '.emacs',
  '.emacs.d',
  '.config/autostart',
  '.config/environment.d',
  '.pam_environment',
  '.xprofile',
  '.xsession',
];

/** Inside any git directory (a repository's `.git`, a submodule's, a worktree's common dir). */
export const PROTECTED_IN_GIT_DIR: readonly string[] = ['hooks', 'config', 'info'];

/** The git directory a `.git` file points to (`gitdir: PATH`), for worktrees and submodules. */
export function gitdirOf(dotGitFileText: string): string | undefined {
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(dotGitFileText);
  return m?.[1];
}
