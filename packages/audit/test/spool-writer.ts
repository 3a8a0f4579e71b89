// A process that writes one spool, for the tests of the spool's writer lock: it opens the spool
// named by its first argument and says on standard output, one JSON line each, whether it opened
// it (and its pid) or was refused (the message and hint). Then it takes commands, one per line on
// standard input: `append` (one event), `close` (closes the spool, then exits), `exit` (exits
// without closing, as a process that ends on an error does).

import { createInterface } from 'node:readline';
import { lifecycleRecord } from '../src/record.js';
import { Spool, SpoolError } from '../src/spool.js';

const say = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

const path = process.argv[2] as string;
const ctx = { sessionId: `writer-${process.pid}` };
let spool: Spool;
try {
  spool = Spool.open(path, { chainId: ctx.sessionId, flushDelayMs: 20 });
} catch (e) {
  if (!(e instanceof SpoolError)) throw e;
  say({ refused: e.message, hint: e.hint });
  process.exit(0);
}
spool.append(lifecycleRecord('session.start', ctx));
say({ opened: process.pid });

for await (const command of createInterface({ input: process.stdin })) {
  if (command === 'append') {
    spool.append(lifecycleRecord('session.step', ctx));
    say({ appended: spool.chainState.nextSeq - 1 });
  } else if (command === 'close') {
    spool.close();
    say({ closed: true });
    process.exit(0);
  } else if (command === 'exit') {
    process.exit(0);
  }
}
