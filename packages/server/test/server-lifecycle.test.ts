// Starting and stopping: start-up failures are one sentence and a hint (an address in use, a
// database that cannot be reached, a data directory that cannot be written); a stop lets requests
// in flight finish, then closes the database; every log line is one JSON object.

import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { it } from 'node:test';
import { ServerStartError } from '../src/index.js';
import { eachBackend } from './backends.js';
import { claim, serve, testClock } from './harness.js';

function isStartError(code: string, message: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ServerStartError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n') && e.hint.length > 0);
    return true;
  };
}

eachBackend('server lifecycle', (db, backend) => {
  it('the data directory and the SQLite file are for the owner alone', async () => {
    const dir = join(db().dataDir, 'fresh', 'data');
    const server = await serve({ ...db(), dataDir: dir }, testClock(), []);
    await server.close();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    if (backend === 'sqlite') assert.equal(statSync(join(dir, 'perimeter.sqlite')).mode & 0o777, 0o600);
  });

  it('a stop lets a request in flight finish, then refuses new connections', async () => {
    const server = await serve(db(), testClock(), []);
    const claimed = await claim(server.url, server.bootstrap?.token ?? '');
    const url = new URL(server.url);
    // A request whose body is still arriving when the stop is asked for.
    const inFlight = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: `/api/v1/orgs/${claimed.org.id}/users`,
          headers: { authorization: `Bearer ${claimed.token.secret}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        },
      );
      req.on('error', reject);
      req.write('{"email": "late');
      setTimeout(() => req.end('@example.com"}'), 150);
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = server.close();
    const reply = await inFlight;
    assert.equal(reply.status, 201, 'the request in flight was served');
    assert.equal(reply.connection, 'close');
    await stopped;
    await assert.rejects(fetch(`${server.url}/api/v1/health`));
  });

  it('the address in use is one sentence, and the database is closed again', async () => {
    const first = await serve(db(), testClock(), []);
    try {
      const port = Number(new URL(first.url).port);
      await assert.rejects(
        serve(db(), testClock(), [], { listen: { host: '127.0.0.1', port } }),
        isStartError('address-in-use', new RegExp(`^the address 127\\.0\\.0\\.1:${port} is already in use$`)),
      );
    } finally {
      await first.close();
    }
  });

  it('a data directory that cannot be written is one sentence', async () => {
    const file = join(db().dataDir, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(
      serve({ ...db(), dataDir: join(file, 'data') }, testClock(), []),
      isStartError(
        'data-dir',
        /^the data directory .*a-file\/data cannot be written \(a part of the path is a file, not a directory\)$/,
      ),
    );
  });

  it('every log line is one JSON object with a time, a level and an event', async () => {
    const lines: string[] = [];
    const { jsonLogger } = await import('../src/index.js');
    const server = await serve(db(), testClock(), [], { log: jsonLogger((line) => lines.push(line)) });
    await fetch(`${server.url}/api/v1/health`);
    await server.close();
    assert.ok(lines.length >= 4);
    for (const line of lines) {
      assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line each');
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.ok(
        typeof entry.time === 'string' && typeof entry.level === 'string' && typeof entry.event === 'string',
      );
    }
    const events = lines.map((l) => (JSON.parse(l) as { event: string }).event);
    assert.deepEqual(
      events.filter((e) => e.startsWith('server.')),
      ['server.started', 'server.stopping', 'server.stopped'],
    );
    const request = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.event === 'http.request');
    assert.equal(request?.route, '/api/v1/health');
    assert.equal(request?.status, 200);
  });
});

it('a database that cannot be reached is one sentence without the password', async () => {
  const clock = testClock();
  const { freshDatabase } = await import('./backends.js');
  const sqlite = await freshDatabase('sqlite');
  try {
    await assert.rejects(
      serve({ ...sqlite, url: 'postgres://perimeter:s3cret@127.0.0.1:1/nothing' }, clock, []),
      isStartError(
        'database-unreachable',
        /^the database at postgres:\/\/perimeter:\*\*\*@127\.0\.0\.1:1\/nothing cannot be reached \(connection refused\)$/,
      ),
    );
    await assert.rejects(
      serve({ ...sqlite, url: 'mysql://localhost/x' }, clock, []),
      isStartError('bad-database-url', /^--database must be a PostgreSQL URL/),
    );
  } finally {
    await sqlite.drop();
  }
});
