// Nothing goes on without its audit trail: a spool that cannot be written (a full disk, lost
// permissions) ends the process in one sentence, before the action that needed the event happens.
// The spool itself keeps whole events only (Spool cuts a partial write back), so what was recorded
// verifies intact.

import { SpoolError, type AuditRecord, type Spool } from '@perimeter/audit';
import type { Ui } from './ui.js';

/** The exit code when the audit spool cannot be written (sysexits' EX_IOERR). */
export const EXIT_AUDIT_FAILED = 74;

/**
 * `append` for a spool that stops everything when it fails: `what` says what stopped ("the
 * session"), `cleanUp` undoes what must not outlive the process (the sandbox's mount points).
 */
export function appendOrStop(
  spool: Pick<Spool, 'append' | 'path'>,
  ui: Ui,
  what: string,
  cleanUp: () => void = () => {},
): (record: AuditRecord) => void {
  return (record) => {
    try {
      spool.append(record);
    } catch (e) {
      const why =
        e instanceof SpoolError ? e.message : `cannot write the audit spool ${spool.path} (${String(e)})`;
      ui.err(`perimeter: ${why}, so ${what} was stopped: nothing runs without its audit trail`);
      ui.err(
        `  ${e instanceof SpoolError ? e.hint : 'free space on its disk (or fix its permissions), then start again'}`,
      );
      try {
        cleanUp();
      } finally {
        process.exit(EXIT_AUDIT_FAILED);
      }
    }
  };
}
