// A worker thread of sqlite.ts: its own connection to the database file, which copies what the
// WAL holds into the database (a PASSIVE checkpoint: it never blocks, nor waits for, the writer)
// each time it is asked, and answers how many frames the WAL holds and how many it has copied.

import BetterSqlite3 from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const db = new BetterSqlite3((workerData as { file: string }).file);
// What it copies was synced to the WAL at commit; syncing the database file after copying keeps
// the order a crash needs (the WAL is reset only after the copy is on disk).
db.pragma('synchronous = FULL');

parentPort?.on('message', (message: 'checkpoint' | 'close') => {
  if (message === 'close') {
    db.close();
    parentPort?.close();
    return;
  }
  const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
  parentPort?.postMessage({ log: result?.log ?? 0, checkpointed: result?.checkpointed ?? 0 });
});
