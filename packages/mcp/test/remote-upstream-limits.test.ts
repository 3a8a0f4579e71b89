// A remote (Streamable HTTP) upstream whose answers are too large to hold: a message past 10 MiB,
// one JSON body or one event of a stream, ends the connection (the server is restarted with
// backoff, as after a crash) instead of being read whole into the gateway's memory; many small
// events that add up to more pass (fixtures/big-http-server.ts). A server sending more
// notifications in a second than any honest one does is ended too.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtureUrl, inMemoryClient, startRemoteGateway, until } from './gateway-harness.js';

const BIG = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/big-http-server.js');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-limits-')));
const servers: ChildProcess[] = [];
after(() => {
  servers.forEach((s) => s.kill());
  rmSync(root, { recursive: true, force: true });
});

/** A gateway whose one server, `big`, is a big-http-server of its own. */
async function startBig(sessionId: string): ReturnType<typeof startRemoteGateway> {
  const url = await fixtureUrl(BIG, [], servers);
  return startRemoteGateway('big', url, { home: root, workspace: root, sessionId });
}

it(
  'redteam-33-9: a remote server’s message past 10 MiB, a JSON body or one event, ends its connection rather than filling memory; small events adding up to more pass',
  { timeout: 120_000 },
  async () => {
    const { gateway, events } = await startBig('limits');
    const client = await inMemoryClient(gateway, 'agent');
    const text = (r: unknown): string => JSON.stringify(r).slice(0, 200);
    const crashes = (): string[] =>
      events.filter((e) => e.type === 'mcp.server.crash').map((e) => String(e.outcome?.reason));
    try {
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), [
        'big__big',
        'big__big_event',
        'big__chatter',
        'big__garbage',
        'big__many_events',
        'big__small',
      ]);
      // 12 MiB in 901 events of 14 KiB: each event is a message of its own.
      assert.match(text(await client.callTool({ name: 'big__many_events', arguments: {} })), /many events/);
      for (const [tool, crashesBefore] of [
        ['big__big', 0],
        ['big__big_event', 1],
      ] as const) {
        await until(async () => {
          const r = await client.callTool({ name: 'big__small', arguments: {} }).catch(() => undefined);
          return r !== undefined && r.isError !== true;
        }, 'the server to be connected');
        // Before, the 11 MiB answer was read whole and passed on.
        const outcome = await client.callTool({ name: tool, arguments: {} }).then(
          (r) => `answered: ${text(r)}`,
          (e: Error) => `failed: ${e.message}`,
        );
        assert.match(outcome, /^failed: /, tool);
        assert.doesNotMatch(outcome, /x{1000}|y{1000}/);
        await until(() => crashes().length > crashesBefore, 'the connection to end');
        assert.match(crashes()[crashesBefore] ?? '', /sent a message larger than 10 MiB/, tool);
      }
      const results = events.filter((e) => e.type === 'mcp.result');
      assert.ok(results.every((e) => Number(e.outcome?.bytes_out ?? 0) < 11 * 1024 * 1024));
    } finally {
      await client.close();
      await gateway.close();
    }
  },
);

// Before, events that are not JSON-RPC messages were counted nowhere: both SDKs' transports report
// and skip each, and a server sending them as fast as its socket took them held every other call
// up to 650 ms for as long as it liked (upstream-flood-5).
for (const [id, tool, reason] of [
  [3, 'chatter', 'sent more than 1000 notifications in one second, and was ended'],
  [
    5,
    'garbage',
    'sent more than 100 unreadable messages (or other faults its connection reported) in one second, and was ended',
  ],
] as const)
  it(
    `upstream-flood-${id}: a remote server that sends ${tool === 'chatter' ? 'more than 1,000 notifications' : 'more than 100 events that are not JSON-RPC'} in a second is ended, its crash audited with why`,
    { timeout: 120_000 },
    async () => {
      const { gateway, events } = await startBig(tool);
      const client = await inMemoryClient(gateway, 'agent');
      try {
        const outcome = await client.callTool({ name: `big__${tool}`, arguments: {} }).then(
          (r) => `answered: ${JSON.stringify(r).slice(0, 200)}`,
          (e: Error) => `failed: ${e.message}`,
        );
        assert.match(outcome, /^failed: /);
        await until(() => events.some((e) => e.type === 'mcp.server.crash'), 'the connection to end');
        const crash = events.find((e) => e.type === 'mcp.server.crash');
        assert.equal(crash?.outcome?.reason, reason);
      } finally {
        await client.close();
        await gateway.close();
      }
    },
  );
