// Replacing a small file whole, so that a reader sees the old file or the new one, never a mix,
// and a crash or a failure (a full disk) leaves the old one: the pin store, the secret store, the
// device's state files and the sandbox's placeholder ledgers.
// A temporary beside it (0600, created exclusively, no symbolic link
// followed), fsync, rename, fsync of the directory (without which a crash can lose the rename).
// Without `isDurable` the two fsyncs are left out: still whole or not at all to a reader and after
// this process is killed (the rename), not after a power cut.
// Errors are thrown as they come (an errno error, its `code` set) for each caller to word.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Replaces `path` with `text` (0600); the temporary is `PATH.PID.RANDOM.tmp`, gone whatever happens. */
export function replaceFile(
  path: string,
  text: string,
  options: { readonly isDurable?: boolean } = {},
): void {
  const isDurable = options.isDurable ?? true;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      writeFileSync(fd, text);
      if (isDurable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw e;
  }
  if (!isDurable) return;
  const dir = openSync(dirname(path), constants.O_RDONLY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
