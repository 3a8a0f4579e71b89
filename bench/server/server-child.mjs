// The control plane under test, in a process of its own as in production: @perimeter/server's
// startServer (what `perimeter server` runs) on 127.0.0.1, SQLite in the data directory or the
// PostgreSQL database named, its JSON log on standard error (which the benchmark points at a
// file). It tells its parent where it listens, and answers the parent's questions over IPC: its
// CPU time and memory, and a V8 CPU profile between 'profile-start' and 'profile-stop'.
//
//   fork('bench/server/server-child.mjs', [dataDir, databaseUrl?])

import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { startServer } from '@perimeter/server';

const [dataDir, database] = process.argv.slice(2);
if (!process.send || dataDir === undefined) throw new Error('server-child.mjs runs forked by the benchmark');

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
        reply({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
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
  org: server.org.id,
  bootstrap: server.bootstrap?.token,
  database: server.database,
});
