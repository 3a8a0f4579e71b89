// The real filesystem as the mount planner sees it: lstat never follows the last component,
// nothing is ever written.

import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import type { DirEntry, EntryFact, HostView } from './mount-plan.js';

/** Larger files read as unreadable, never cut short: the end of a git config counts as much as its start. */
const MAX_TEXT = 1024 * 1024;

export const hostView: HostView = {
  lstat(path: string): EntryFact | undefined {
    try {
      const s = lstatSync(path, { bigint: true });
      const type = s.isDirectory() ? 'dir' : s.isFile() ? 'file' : s.isSymbolicLink() ? 'symlink' : 'other';
      return { type, dev: s.dev.toString(), ino: s.ino.toString() };
    } catch {
      return undefined;
    }
  },
  realpath(path: string): string | undefined {
    try {
      return realpathSync(path);
    } catch {
      return undefined;
    }
  },
  list(path: string): readonly DirEntry[] | undefined {
    try {
      return readdirSync(path, { withFileTypes: true }).map((d) => ({
        name: d.name,
        type: d.isDirectory() ? 'dir' : d.isFile() ? 'file' : d.isSymbolicLink() ? 'symlink' : 'other',
      }));
    } catch {
      return undefined;
    }
  },
  readText(path: string): string | undefined {
    try {
      if (statSync(path).size > MAX_TEXT) return undefined;
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
};
