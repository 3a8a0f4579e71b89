// One upstream's lifecycle: shutting the gateway down while a server is still starting (an npx
// still downloading, a server that never answers initialize) ends that server at once. And what
// one listing may hold: its text is its strings and keys.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ServerProcess } from '../src/process-transport.js';
import { Upstream, type UpstreamTransport } from '../src/upstream.js';
import { tool, writeSpec } from './gateway-harness.js';

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

test('redteam-37-3: an array is no text: a tool listing an enum of 3 million zeros (6 MB) is listed, the 16 MiB text bound untouched', async (t) => {
  // Its indices, written out, are 20 million characters: they were counted as text, and each
  // element went through Object.entries (2.7-3.5 s of the gateway's thread for 4 million).
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-upstream-'));
  const spec = join(dir, 'spec.json');
  const zeros = tool('zeros');
  const enumOf = Array<number>(3_000_000).fill(0);
  writeSpec(spec, {
    tools: [{ ...zeros, inputSchema: { type: 'object', properties: { n: { enum: enumOf } } } }],
  });
  const events: string[] = [];
  const upstream = new Upstream(
    {
      id: 'zeros',
      transport: {
        kind: 'stdio',
        command: process.execPath,
        args: [join(import.meta.dirname, 'fixtures/scripted-server.js'), spec],
        env: {},
      },
    },
    {
      onEvent: (_id, event, detail) => events.push(`${event} ${JSON.stringify(detail)}`),
      onListChanged: () => {},
    },
  );
  t.after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const listed = await upstream.listTools();
  assert.deepEqual(
    listed.map((d) => [d.name, (d.inputSchema.properties?.n as { enum: unknown[] }).enum.length]),
    [['zeros', 3_000_000]],
  );
  assert.deepEqual(
    events.filter((e) => e.startsWith('list-failed')),
    [],
  );
});
