// The real filesystem as the mount planner sees it: lstat never follows the last component,
// nothing is ever written.

import { lstatSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import type { DirEntry, EntryFact, HostView } from './mount-plan.js';

const MAX_TEXT = 64 * 1024;

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
      const text = readFileSync(path, 'utf8');
      return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;
    } catch {
      return undefined;
    }
  },
};
