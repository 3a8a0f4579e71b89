// perimeter server as a user runs it: the real binary as a child process on an ephemeral port,
// its bootstrap link read from standard output, the API called over HTTP, SIGTERM → exit 0 with
// only JSON log lines on standard error; start-up failures as one sentence, never a stack.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { it, type TestContext } from 'node:test';
import { REPO_ROOT, runCli, spawnCli, tempDir, waitForOutput, type RunningCli } from './cli-harness.js';

/** `perimeter server ARGS...` as a child process. */
const start = (t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv): RunningCli =>
  spawnCli(t, ['server', ...args], env);

it('starts, prints a bootstrap link that makes the first owner, serves the API, and stops on SIGTERM with 0', async (t) => {
  const state = tempDir(t);
  const server = start(t, ['--listen', '127.0.0.1:0'], { XDG_STATE_HOME: state });
  const [, url] = await waitForOutput(server, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const [, link, token] = await waitForOutput(
    server,
    /(http:\/\/127\.0\.0\.1:\d+\/bootstrap#(pmb_[A-Za-z0-9_-]{43}))/,
  );
  assert.ok(link?.startsWith(`${url}/bootstrap#`));
  assert.match(server.stdout, new RegExp(`data: ${state}/perimeter/server \\(SQLite\\)`));

  const claimed = await fetch(`${url}/api/v1/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, email: 'owner@example.com' }),
  });
  assert.equal(claimed.status, 201);
  const body = (await claimed.json()) as { org: { id: string }; token: { secret: string } };
  const auth = { authorization: `Bearer ${body.token.secret}` };
  const created = await fetch(`${url}/api/v1/orgs/${body.org.id}/groups`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'eng' }),
  });
  assert.equal(created.status, 201);
  const refused = await fetch(`${url}/api/v1/orgs/${body.org.id}/groups`);
  assert.equal(refused.status, 401);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  const lines = server.stderr.trim().split('\n');
  const events = lines.map((line) => (JSON.parse(line) as { event: string }).event);
  assert.equal(events[0], 'server.started');
  assert.deepEqual(events.slice(-2), ['server.stopping', 'server.stopped']);
  assert.ok(!server.stderr.includes(token ?? 'no token'), 'the token is never logged');

  // A second start on the same data keeps the organisation and prints no new link.
  const again = start(t, ['--listen', '127.0.0.1:0'], { XDG_STATE_HOME: state });
  const [, againUrl] = await waitForOutput(again, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  // An answer also says the server is past its start-up, its signal handlers set: a signal sent
  // as soon as the first line shows can come before them, and end it as the default does.
  const kept = await fetch(`${againUrl}/api/v1/orgs/${body.org.id}/groups`, { headers: auth });
  assert.equal(kept.status, 200);
  assert.deepEqual(
    ((await kept.json()) as { groups: { name: string }[] }).groups.map((g) => g.name),
    ['eng'],
  );
  again.child.kill('SIGINT');
  assert.equal(await again.exited, 0);
  // Checked on the whole output: the link would be a later write than the line waited for.
  assert.doesNotMatch(again.stdout, /bootstrap/);
});

it('an address in use is one sentence and exit code 1, without a stack trace', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const server = start(t, ['--listen', `127.0.0.1:${port}`, '--data', tempDir(t)], {});
  assert.equal(await server.exited, 1);
  assert.equal(
    server.stderr,
    `perimeter: the address 127.0.0.1:${port} is already in use\n  stop the other server, or choose another address with --listen HOST:PORT\n`,
  );
});

it('an unreachable database is one sentence, without its password', async (t) => {
  const server = start(t, ['--data', tempDir(t), '--listen', '127.0.0.1:0'], {
    PERIMETER_DATABASE_URL: 'postgres://perimeter:hunter2@127.0.0.1:1/perimeter',
  });
  assert.equal(await server.exited, 1);
  assert.match(
    server.stderr,
    /^perimeter: the database at postgres:\/\/perimeter:\*\*\*@127\.0\.0\.1:1\/perimeter cannot be reached \(connection refused\)\n/,
  );
  assert.doesNotMatch(server.stderr, /hunter2|\n\s+at /);
});

it('a data directory that cannot be written is one sentence', async (t) => {
  const server = start(t, ['--data', '/proc/perimeter-cannot-write-here', '--listen', '127.0.0.1:0'], {});
  assert.equal(await server.exited, 1);
  assert.match(
    server.stderr,
    /^perimeter: the data directory \/proc\/perimeter-cannot-write-here cannot be written \(/,
  );
});

it('bad options are refused before anything starts', () => {
  const listen = runCli(['server', '--listen', 'localhost']);
  assert.equal(listen.code, 3);
  assert.match(listen.stderr, /^perimeter: --listen "localhost" is not HOST:PORT/);
  const extra = runCli(['server', 'now']);
  assert.equal(extra.code, 3);
  const unknown = runCli(['server', '--port', '80']);
  assert.equal(unknown.code, 3);
  assert.match(unknown.stderr, /unknown option --port for "server"/);
});

it('--help explains every option', () => {
  const help = runCli(['server', '--help']);
  assert.equal(help.code, 0);
  for (const flag of [
    '--data DIR',
    '--listen HOST:PORT',
    '--database URL',
    'PERIMETER_DATABASE_URL',
    'SIGTERM',
  ])
    assert.ok(help.stdout.includes(flag), flag);
});

it('the server stays out of the start-up bundle: nothing main.js imports statically reaches it', () => {
  // What esbuild bundles is what static imports reach; the server is required lazily (lazy-server.ts).
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [join(REPO_ROOT, 'packages/cli/dist/src/main.js')];
  const IMPORT = /(?:^|[\s;])(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]/g;
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, spec = ''] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (spec.startsWith('@perimeter/')) {
        const entry = join(REPO_ROOT, 'packages', spec.split('/')[1] ?? '', 'dist/src/index.js');
        if (existsSync(entry)) queue.push(entry);
        bare.add(spec);
      } else bare.add(spec.split('/')[0] ?? spec);
    }
  }
  assert.ok(seen.size > 20, 'the walk found the CLI');
  assert.ok(![...seen].some((f) => f.includes('/packages/server/') || f.endsWith('/commands/server.js')));
  for (const spec of ['@perimeter/server', 'better-sqlite3', 'pg']) assert.ok(!bare.has(spec), spec);
});
