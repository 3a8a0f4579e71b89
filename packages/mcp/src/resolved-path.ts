// Where the filesystem takes a path an MCP tool is given: what a server that follows symbolic links
// opens. The policy engine judges argument globs on it as well as on the path as written
// (EngineOptions.resolvePath, redteam-35-2).

import { lstatSync, realpathSync } from 'node:fs';

/**
 * The canonical absolute `path` with its longest existing leading part resolved (every symbolic
 * link followed, as realpath(3) does) and the rest, which does not exist yet, as written: where a
 * server reading or creating it ends up. Undefined when that cannot be said: a loop, a part it may
 * not search, or a link that points nowhere (creating through it makes its target).
 */
export function resolvedPath(path: string): string | undefined {
  let head = path;
  let tail = '';
  for (;;) {
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
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
