// A second "server" for the concurrent-migration test: a worker thread with its own event loop
// and its own connection, as another process would have. It migrates, posts back the versions it
// applied (or its error) and exits.

import { parentPort, workerData } from 'node:worker_threads';
import { migrate, MIGRATIONS, openPostgres, openSqlite, type Migration } from '../src/index.js';

const { url, file } = workerData as { url?: string; file: string };
const next = (MIGRATIONS.at(-1)?.version ?? 0) + 1;
const extra: Migration = {
  version: next,
  name: 'two',
  statements: ['CREATE TABLE two (id TEXT PRIMARY KEY)'],
};
const db = url !== undefined ? await openPostgres(url) : openSqlite(file);
try {
  parentPort?.postMessage({ applied: await migrate(db, [...MIGRATIONS, extra]) });
} catch (e) {
  parentPort?.postMessage({ error: (e as Error).message });
} finally {
  await db.close();
}
