// The review after a session: what the session changed that code outside the sandbox will run or
// trust later, but that cannot be made read-only because it is the work itself (research §4
// cases 29, 41, 46): build and lifecycle files, git attributes, node_modules/.bin, and git
// repositories created
// during the session (their hooks were writable). Found by comparing a snapshot taken before the
// launch with the workspace after it; reported, not undone.

import { createHash } from 'node:crypto';
import { closeSync, lstatSync, readSync, readdirSync, readlinkSync, renameSync, type Dirent } from 'node:fs';
import { openRegularFile } from './host-view.js';
import { join, relative } from 'node:path';

/** Files at the top of the workspace that tools run or read as instructions. */
export const REVIEW_FILES: readonly string[] = [
  'package.json',
  'Makefile',
  'makefile',
  'GNUmakefile',
  'Justfile',
  'justfile',
  'Taskfile.yml',
  '.gitattributes',
  '.pre-commit-config.yaml',
  'pyproject.toml',
  'setup.py',
  'setup.cfg',
  'tox.ini',
  'noxfile.py',
  'Cargo.toml',
  'build.rs',
  'build.gradle',
  'build.gradle.kts',
  'settings.gradle',
  'pom.xml',
  'go.mod',
  'Gemfile',
  'Rakefile',
  'Dockerfile',
  'docker-compose.yml',
  'compose.yaml',
  'CMakeLists.txt',
  'meson.build',
];

export interface ReviewSnapshot {
  readonly workspace: string;
  /** sha256 of each review file that exists (absent files are missing from the map). */
  readonly files: ReadonlyMap<string, string>;
  readonly gitDirs: ReadonlySet<string>;
  /** The `commondir` files that existed in those git directories (a linked worktree's own). */
  readonly commonDirs: ReadonlySet<string>;
}

export interface ReviewFindings {
  /** Review files added, changed or removed (relative to the workspace). */
  readonly changed: readonly string[];
  /** Git repositories (their .git, relative) that did not exist before the session. */
  readonly newRepositories: readonly string[];
  /**
   * `commondir` files the session created in a git directory (absolute paths): git on the host
   * would take its config and hooks from wherever one points (red-team G15). Mounts cannot stop
   * the creation (an empty file or directory in its place breaks git), so the review finds it.
   */
  readonly plantedCommonDirs: readonly string[];
}

/** What a planted `commondir` is renamed to: git no longer reads it; a person can look at it. */
export const DISARMED_SUFFIX = '.perimeter-disarmed';

/** The sha256 of a regular file, read without waiting (a planted FIFO never hangs the review). */
function digest(path: string): string | undefined {
  const fd = openRegularFile(path);
  if (fd === undefined) return undefined;
  try {
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(64 * 1024);
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
    return hash.digest('hex');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The programs in node_modules/.bin (npm scripts run them by name, ahead of PATH). */
const BIN_DIR = 'node_modules/.bin';

/** What a review file or a node_modules/.bin entry is now: a link's target, or a file's sha256. */
function stateOf(path: string): string | undefined {
  try {
    const s = lstatSync(path);
    if (s.isSymbolicLink()) return `link:${readlinkSync(path)}`;
    // A FIFO, socket or device where a build file was: a change, never read.
    if (!s.isFile()) return s.isDirectory() ? 'directory' : 'special';
  } catch {
    return undefined;
  }
  return digest(path) ?? 'unreadable';
}

function reviewPaths(workspace: string): string[] {
  let bins: string[];
  try {
    bins = readdirSync(join(workspace, BIN_DIR)).map((n) => `${BIN_DIR}/${n}`);
  } catch {
    bins = [];
  }
  return [...REVIEW_FILES, ...bins];
}

export function snapshotReview(workspace: string, gitDirs: readonly string[]): ReviewSnapshot {
  const files = new Map<string, string>();
  for (const name of reviewPaths(workspace)) {
    const state = stateOf(join(workspace, name));
    if (state !== undefined) files.set(name, state);
  }
  const commonDirs = new Set(
    gitDirs.map((g) => join(g, 'commondir')).filter((path) => lstatOrUndefined(path) !== undefined),
  );
  return { workspace, files, gitDirs: new Set(gitDirs), commonDirs };
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Renames each planted `commondir` aside (to NAME.perimeter-disarmed), so the next git command on
 * the host uses the repository's own common directory again. Returns the paths it could not rename.
 */
export function disarmCommonDirs(paths: readonly string[]): string[] {
  const failed: string[] = [];
  for (const path of paths) {
    try {
      renameSync(path, `${path}${DISARMED_SUFFIX}`);
    } catch {
      failed.push(path);
    }
  }
  return failed;
}

/** `.git` entries under `dir`, at most `limit` directories visited (objects and node_modules skipped). */
function findGitDirs(dir: string, limit: number): string[] {
  const out: string[] = [];
  const stack = [dir];
  let visited = 0;
  while (stack.length > 0 && visited < limit) {
    const at = stack.pop() as string;
    visited++;
    let entries: Dirent[];
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const path = join(at, entry.name);
      if (entry.name === '.git') out.push(path);
      else if (entry.name !== 'node_modules' && entry.isDirectory()) stack.push(path);
    }
  }
  return out;
}

/**
 * `ignore`: paths that are not the session's doing (the empty directories masks were mounted on,
 * still in place until the session is cleaned up).
 */
export function compareReview(
  before: ReviewSnapshot,
  ignore: readonly string[] = [],
  dirLimit = 20_000,
): ReviewFindings {
  const changed: string[] = [];
  const names = new Set([...before.files.keys(), ...reviewPaths(before.workspace)]);
  for (const name of names) {
    if (before.files.get(name) !== stateOf(join(before.workspace, name))) changed.push(name);
  }
  const ignored = new Set(ignore);
  const newRepositories = findGitDirs(before.workspace, dirLimit)
    .filter((g) => !before.gitDirs.has(g) && !ignored.has(g))
    .map((g) => relative(before.workspace, g));
  const plantedCommonDirs = [...before.gitDirs]
    .map((g) => join(g, 'commondir'))
    .filter((path) => !before.commonDirs.has(path) && lstatOrUndefined(path) !== undefined);
  return { changed, newRepositories, plantedCommonDirs };
}
