// The spool's writer lock: one process appends to a spool file at a time. Two writers each
// continue the chain from the last event they read, so the chain forks and verification calls the
// spool damaged (redteam-35-4: two `perimeter mcp --audit FILE` started by two client windows that
// share one configuration). The lock is a process lock (process-lock.ts) beside the spool
// (FILE.lock), held for as long as the spool is open; a lock whose process is gone is taken over.
// A lock held on another machine (over a shared disk) or in another pid namespace (a session's
// sandbox) cannot be looked at: the refusal names its lock file.

import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { takeLock, type HeldLock, type LockRefusal } from './process-lock.js';
import { SpoolError } from './spool-error.js';

export type SpoolLock = Pick<HeldLock, 'release'>;

/**
 * Takes the writer lock of the spool at `spool` for this process. Throws SpoolError, in one
 * sentence with a hint, when a live process holds it (this one included) or it cannot be made.
 */
export function lockSpool(spool: string): SpoolLock {
  const taken = takeLock(`${realPath(spool)}.lock`);
  if (taken.kind === 'taken') return taken.lock;
  throw refusal(spool, taken);
}

/**
 * The spool's path with symbolic links resolved, so that two names of one file share one lock.
 * A spool not made yet is named by its directory's real path.
 */
function realPath(spool: string): string {
  try {
    return realpathSync(spool);
  } catch {
    try {
      return join(realpathSync(dirname(spool)), basename(spool));
    } catch {
      return resolve(spool); // no directory: creating the lock says so
    }
  }
}

function refusal(spool: string, r: LockRefusal): SpoolError {
  switch (r.kind) {
    case 'held':
      return heldBy(spool, r);
    case 'unusable':
      return new SpoolError(
        `cannot open the audit spool ${spool}: cannot create its lock ${r.file} (${r.code})`,
        'check that its directory exists and is writable',
      );
    case 'unsettled':
      return new SpoolError(
        `the audit spool ${spool} could not be locked: its lock ${r.file} kept changing`,
        `if no other Perimeter process writes this spool, remove ${r.file}`,
      );
  }
}

function heldBy(spool: string, r: Extract<LockRefusal, { kind: 'held' }>): SpoolError {
  switch (r.holder) {
    case 'this-process':
      return new SpoolError(
        `the audit spool ${spool} is already open in this process (pid ${r.owner.pid})`,
        'close it before opening it again',
      );
    case 'this-machine':
      return new SpoolError(
        `the audit spool ${spool} is being written by another Perimeter process (pid ${r.owner.pid})`,
        'give this one its own --audit FILE, or stop that one',
      );
    case 'another-pid-namespace':
      return new SpoolError(
        `the audit spool ${spool} is being written by a Perimeter process in another pid namespace, a sandbox or a container (pid ${r.owner.pid} there)`,
        `give this one its own --audit FILE, or stop that one (if it has stopped already, remove ${r.file})`,
      );
    case 'another-machine':
      return new SpoolError(
        `the audit spool ${spool} is being written by a Perimeter process on ${r.owner.host} (pid ${r.owner.pid})`,
        `give this one its own --audit FILE, or stop that one (if it has stopped already, remove ${r.file})`,
      );
  }
}
