// One upstream's lifecycle: shutting the gateway down while a server is still starting (an npx
// still downloading, a server that never answers initialize) ends that server at once.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import type { ServerProcess } from '../src/process-transport.js';
import { Upstream, type UpstreamTransport } from '../src/upstream.js';

/** A server that starts and never says anything. */
const SILENT = ['-e', 'setInterval(() => {}, 1000)'];

/** What close() is raced against: far below the 30 s an initialize may take. */
const WELL_BEFORE_THE_CONNECT_TIMEOUT_MS = 10_000;

async function closeWhileStarting(transport: UpstreamTransport): Promise<string[]> {
  const events: string[] = [];
  const upstream = new Upstream(
    { id: 'silent', transport },
    { onEvent: (_id, event) => events.push(event), onListChanged: () => {} },
  );
  const connecting = upstream.connect().catch((e: unknown) => e);
  await new Promise((ok) => setTimeout(ok, 200)); // spawned, waiting for initialize
  const closed = await Promise.race([
    upstream.close().then(() => 'closed'),
    new Promise((ok) => setTimeout(ok, WELL_BEFORE_THE_CONNECT_TIMEOUT_MS, 'still waiting').unref()),
  ]);
  assert.equal(closed, 'closed', 'close() does not wait for the initialize timeout');
  assert.ok((await connecting) instanceof Error, 'the pending connect fails');
  return events;
}

test('closing an upstream that is still starting ends its process and reports no failure (spawned directly)', async () => {
  const events = await closeWhileStarting({
    kind: 'stdio',
    command: process.execPath,
    args: SILENT,
    env: {},
  });
  assert.deepEqual(events, ['spawn'], 'no unavailable or crash event for a shutdown');
});

test('closing an upstream that is still starting ends its process and reports no failure (launched, as sandboxes are)', async () => {
  let child: ServerProcess | undefined;
  const events = await closeWhileStarting({
    kind: 'stdio',
    command: process.execPath,
    args: SILENT,
    env: {},
    launch: () => {
      child = spawn(process.execPath, SILENT, { stdio: ['pipe', 'pipe', 'pipe'] });
      return child;
    },
  });
  assert.deepEqual(events, ['spawn']);
  assert.ok(child, 'launched');
  assert.ok(child.exitCode !== null || child.signalCode !== null, 'the server process has ended');
});
