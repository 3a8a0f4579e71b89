// The real filesystem as the mount planner sees it: lstat never follows the last component,
// nothing is ever written, and nothing waits: the session may have planted a FIFO where the
// planner reads, and every later launch would hang on it.

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import type { DirEntry, EntryFact, HostView } from './mount-plan.js';

/** Larger files read as unreadable, never cut short: the end of a git config counts as much as its start. */
const MAX_TEXT = 1024 * 1024;

/**
 * Opens a regular file for reading without ever waiting: one open, non-blocking (a FIFO with no
 * writer opens at once instead of waiting for one), and the check on that descriptor, so a file
 * swapped between a stat and an open is never read. Undefined for anything else, or no file.
 * The caller closes the descriptor.
 */
export function openRegularFile(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  try {
    if (fstatSync(fd).isFile()) return fd;
  } catch {
    // fall through: not readable as a file
  }
  closeSync(fd);
  return undefined;
}

function realpathOf(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

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
  realpath: realpathOf,
  readlink(path: string): string | undefined {
    try {
      return readlinkSync(path);
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
    const fd = openRegularFile(path);
    if (fd === undefined) return undefined;
    try {
      const s = fstatSync(fd);
      if (s.size > MAX_TEXT) return undefined;
      // Read to the end, whatever fstat said: one that grew past the limit since is unreadable too.
      let buffer = Buffer.alloc(s.size + 1);
      let length = 0;
      for (;;) {
        if (length === buffer.length) {
          if (length > MAX_TEXT) return undefined;
          const larger = Buffer.alloc(Math.min(length * 2, MAX_TEXT + 1));
          buffer.copy(larger);
          buffer = larger;
        }
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      if (length > MAX_TEXT) return undefined;
      // Bytes that are not UTF-8 cannot be read as git reads them (a path git would take byte for
      // byte): unreadable, never decoded with replacement characters. A byte order mark is kept:
      // git skips one at the start of a config (git-config.ts does too), never in a `.git` file or
      // a `commondir`.
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buffer.subarray(0, length));
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  },
  userHome(user: string): string | undefined {
    // Node looks up only the user running it (getpwuid); any other user's home stays unknown.
    // Canonical, as the home the plan is given is: with /home a symlink to /var/home, ~me/hooks
    // is found in a writable /var/home/me.
    let home: string;
    try {
      const me = userInfo();
      if (me.username !== user) return undefined;
      home = me.homedir;
    } catch {
      return undefined;
    }
    return realpathOf(home) ?? home;
  },
};
