// Where the filesystem takes a path an MCP tool is given: what a server that follows symbolic links
// opens. The policy engine judges argument globs on it as well as on the path as written
// (EngineOptions.resolvePath, redteam-35-2).

import { lstatSync, realpathSync } from 'node:fs';

/**
 * How many missing segments resolvedPath() walks back over before it gives up: each costs a
 * realpath and an lstat of the path left, so 4,000 characters of `a/a/…` that do not exist cost
 * seconds of the gateway's one thread (rev35-2). A server creates a few levels at a time.
 */
const MAX_MISSING_SEGMENTS = 64;

/**
 * The absolute `path` with its longest existing leading part resolved (every symbolic link
 * followed, and `..` after one taken from where it leads, as realpath(3) does) and the rest, which
 * does not exist yet, as written: where a server reading or creating it ends up. Undefined when
 * that cannot be said: a loop, a part it may not search, a link that points nowhere (creating
 * through it makes its target), more than MAX_MISSING_SEGMENTS missing.
 */
export function resolvedPath(path: string): string | undefined {
  let head = path;
  let tail = '';
  for (let missing = 0; missing <= MAX_MISSING_SEGMENTS; missing++) {
    try {
      const real = realpathSync.native(head === '' ? '/' : head);
      return real === '/' ? tail || '/' : real + tail;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || head === '' || isLink(head)) return undefined;
      const cut = head.lastIndexOf('/');
      tail = head.slice(cut) + tail;
      head = head.slice(0, cut);
    }
  }
  return undefined;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
