// The control plane under test, in a process of its own as in production: @perimeter/server's
// startServer (what `perimeter server` runs) on 127.0.0.1, SQLite in the data directory or the
// PostgreSQL database named, its JSON log on standard error (which the benchmark points at a
// file). It tells its parent where it listens, and answers the parent's questions over IPC: its
// CPU time and memory, the statements and commits it has sent its database, and a V8 CPU profile
// between 'profile-start' and 'profile-stop'.
//
//   fork('bench/server/server-child.mjs', [dataDir, databaseUrl?])

import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { startServer } from '@perimeter/server';

const [dataDir, database] = process.argv.slice(2);
if (!process.send || dataDir === undefined) throw new Error('server-child.mjs runs forked by the benchmark');

/**
 * Every statement the server sends its database, and every commit, counted where the drivers
 * take them (node-postgres's Client.query; better-sqlite3's statements and exec), so the
 * benchmark can say how many each device costs per publication.
 */
const counts = { statements: 0, commits: 0 };
function countCalls(proto, names, isCommit) {
  for (const name of names) {
    const original = proto[name];
    proto[name] = function counted(...args) {
      counts.statements++;
      if (isCommit(this, args[0])) counts.commits++;
      return original.apply(this, args);
    };
  }
}
const isCommitText = (sql) => typeof sql === 'string' && /^\s*COMMIT\b/i.test(sql);
/** A pool connection's statement: a COMMIT, or a write outside BEGIN … COMMIT (an autocommit). */
const inTransaction = new WeakSet();
function isPostgresCommit(client, query) {
  const sql = typeof query === 'object' ? query?.text : query;
  if (typeof sql !== 'string') return false;
  if (/^\s*BEGIN\b/i.test(sql)) inTransaction.add(client);
  else if (/^\s*(COMMIT|ROLLBACK)\b/i.test(sql)) inTransaction.delete(client);
  else return !inTransaction.has(client) && /^\s*(INSERT|UPDATE|DELETE|WITH)\b/i.test(sql);
  return isCommitText(sql);
}
if (process.env.PERIMETER_BENCH_NO_COUNT !== '1') {
  countCalls(pg.Client.prototype, ['query'], isPostgresCommit);
  countCalls(BetterSqlite3.prototype, ['exec'], (_, sql) => isCommitText(sql));
  const probe = new BetterSqlite3(':memory:');
  // A write outside a transaction is SQLite's autocommit: a commit of its own.
  countCalls(
    Object.getPrototypeOf(probe.prepare('SELECT 1')),
    ['run', 'get', 'all', 'iterate'],
    (statement) => !statement.readonly && !statement.database.inTransaction,
  );
  probe.close();
}

const server = await startServer({
  dataDir,
  listen: { host: '127.0.0.1', port: 0 },
  ...(database ? { database } : {}),
  shutdownGraceMs: 2000,
});

let session;
process.on('message', async (message) => {
  const reply = (body) => process.send({ id: message.id, ...body });
  try {
    switch (message.type) {
      case 'usage':
        reply({ cpu: process.cpuUsage(), ...counts });
        break;
      case 'profile-start':
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 1000 });
        await session.post('Profiler.start');
        reply({});
        break;
      case 'profile-stop': {
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        writeFileSync(message.file, JSON.stringify(profile));
        reply({});
        break;
      }
      case 'stop':
        await server.close();
        reply({});
        process.disconnect();
        break;
      default:
        reply({ error: `unknown message ${message.type}` });
    }
  } catch (e) {
    reply({ error: e instanceof Error ? e.message : String(e) });
  }
});

process.send({
  type: 'started',
  url: server.url,
  bootstrap: server.bootstrap?.token,
  database: server.database,
});
