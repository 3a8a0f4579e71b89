// A stdio upstream that floods the gateway with requests of its own (fixtures/flooding-server.ts) is
// ended as misbehaving, its crash audited with why, and restarted with backoff; the gateway's
// other servers keep answering. Before, a server sending pings as fast as its pipe took them grew
// the gateway by 150 MB/s until V8 aborted, taking every server and client down (redteam-36-1).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { AuditRecord } from '@perimeter/audit';
import { canSignal } from '../src/process-transport.js';
import { inMemoryClient, startGateway, tool, until, writeSpec } from './gateway-harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const FLOODING = join(here, 'fixtures/flooding-server.js');
const SCRIPTED = join(here, 'fixtures/scripted-server.js');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-flood-')));
after(() => rmSync(root, { recursive: true, force: true }));

const q = JSON.stringify;
const crashOf = (events: AuditRecord[], server: string): AuditRecord | undefined =>
  events.find((e) => e.type === 'mcp.server.crash' && e.outcome?.server === server);

/** What a tool call came to: its text, or its error's message. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    const r = (await call) as { isError?: boolean; content?: { text?: string }[] };
    return `${r.isError ? 'error: ' : ''}${r.content?.map((c) => c.text).join(' ') ?? ''}`;
  } catch (e) {
    return `error: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Calls `f`'s tool `flood` (which answers `said`, then floods), and checks that `f` is ended,
 * its crash audited with `reason`, while `good` goes on answering.
 */
async function endsFlooding(
  client: Client,
  events: AuditRecord[],
  flood: string,
  said: string,
  reason: RegExp,
): Promise<void> {
  assert.equal(await outcome(client.callTool({ name: `f__${flood}`, arguments: {} })), said);
  await until(() => crashOf(events, 'f') !== undefined, `the crash of the server flooding with ${flood}`);
  assert.match(String(crashOf(events, 'f')?.outcome?.reason), reason);
  assert.equal(await outcome(client.callTool({ name: 'good__echo', arguments: {} })), 'still here');
}

/** f's reason when it is ended for the bytes it sends unasked. */
const BYTES =
  /^sent more than 16 MiB besides its answers to the gateway's requests in one second, and was ended$/;

/**
 * A gateway with the flooding server `f` (speaking 2026-07-28 when `mode` is `modern`, writing a
 * banner first when it is `banner`) and an honest one, `good`, whose echo answers "still here".
 */
function startFloodGateway(
  sessionId: string,
  mode: '' | 'modern' | 'banner',
): ReturnType<typeof startGateway> {
  const goodSpec = join(root, `good-${sessionId}.json`);
  writeSpec(goodSpec, { tools: [tool('echo')], results: { echo: 'still here' } });
  const flooding = [process.execPath, FLOODING, ...(mode ? [mode] : [])].map((arg) => q(arg)).join(', ');
  return startGateway(
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: flood-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: f, ${mode === 'modern' ? 'protocol: "2026-07-28", ' : ''}command: [${flooding}] }
    - { id: good, command: [${q(process.execPath)}, ${q(SCRIPTED)}, ${q(goodSpec)}] }
  allow:
    - { id: all, server: "*", tools: ["*"] }
`,
    { home: root, workspace: root, sessionId },
  );
}

describe('upstream flood', { timeout: 90_000 }, () => {
  it('redteam-36-1: an upstream flooding the gateway with pings is ended and its crash audited; the call in flight to it fails, the other server answers', async () => {
    const { gateway, events } = await startFloodGateway('flood', '');
    const client = await inMemoryClient(gateway, 'flood-test');
    try {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, [
        'f__big_answer',
        'f__big_notes',
        'f__chatter',
        'f__flood',
        'f__hang',
        'f__pester',
        'f__ping_some',
        'f__shout',
        'f__stray',
        'good__echo',
      ]);
      // An honest server's pings are answered.
      assert.equal(
        await outcome(client.callTool({ name: 'f__ping_some', arguments: {} })),
        'answered 20 pings',
      );

      const flooding = outcome(client.callTool({ name: 'f__flood', arguments: {} }));
      await until(() => crashOf(events, 'f') !== undefined, 'the crash of the flooding server');
      assert.match(
        String(crashOf(events, 'f')?.outcome?.reason),
        /^sent more than 100 requests of its own \(pings included\) in one second, and was ended$/,
      );
      assert.match(await flooding, /^error: /, 'the call in flight to it fails');
      assert.equal(await outcome(client.callTool({ name: 'good__echo', arguments: {} })), 'still here');
      // Restarted with backoff, as after any crash.
      await until(
        () => events.filter((e) => e.type === 'mcp.server.ready' && e.outcome?.server === 'f').length === 2,
        'its restart',
      );
    } finally {
      await client.close();
      await gateway.close();
    }
  });

  // A server that reads what it is answered is owed nothing, so the owed-bytes bound never ends it:
  // the rate does, for requests, notifications and answers to nothing asked alike, whichever
  // revision it speaks. Before, a 2026-07-28 server's pings were never counted (its client is the
  // v2 SDK's), and a server of either revision sending logging notifications as fast as its pipe
  // took them held every other call up to 200 ms and took most of a core for as long as it liked
  // (upstream-flood-2, -3); answers to requests never made were counted nowhere, and held calls
  // up to 170 ms, a whole core taken (upstream-flood-4).
  for (const revision of ['2025-11-25', '2026-07-28'] as const)
    for (const [id, flood, what, reason] of [
      [
        2,
        'pester',
        'pings',
        /^sent more than 100 requests of its own \(pings included\) in one second, and was ended$/,
      ],
      [3, 'chatter', 'notifications', /^sent more than 1000 notifications in one second, and was ended$/],
      [
        4,
        'stray',
        'answers to requests never made',
        /^sent more than 100 answers to requests the gateway did not make in one second, and was ended$/,
      ],
    ] as const)
      it(`upstream-flood-${id}: a ${revision} upstream that reads its answers but sends ${what} without end is ended, its crash audited with why; the other server answers`, async () => {
        const { gateway, events } = await startFloodGateway(
          `flood-${flood}-${revision}`,
          revision === '2026-07-28' ? 'modern' : '',
        );
        const client = await inMemoryClient(gateway, 'flood-test');
        try {
          await endsFlooding(client, events, flood, 'pouring', reason);
        } finally {
          await client.close();
          await gateway.close();
        }
      });

  // The bounds above count messages: a server sending notifications of 4 MiB as fast as its pipe
  // took them (a few hundred a second) stayed under every one, and took 60 % of a core, every
  // other call held up to 100 ms, for as long as it liked (upstream-flood-6). Its answers to the
  // gateway's requests are not counted: four answers of 9 MiB at once pass.
  for (const revision of ['2025-11-25', '2026-07-28'] as const)
    it(`upstream-flood-6: a ${revision} stdio upstream sending notifications of 4 MiB at pipe speed is ended, its crash audited with why; its answers of 9 MiB to four calls at once pass`, async () => {
      const { gateway, events } = await startFloodGateway(
        `flood-bytes-${revision}`,
        revision === '2026-07-28' ? 'modern' : '',
      );
      const client = await inMemoryClient(gateway, 'flood-test');
      try {
        const answers = await Promise.all(
          [1, 2, 3, 4].map(() => outcome(client.callTool({ name: 'f__big_answer', arguments: {} }))),
        );
        assert.deepEqual(
          answers.map((a) => (a === 'a'.repeat(9 * 1024 * 1024) ? 'whole' : a.slice(0, 200))),
          ['whole', 'whole', 'whole', 'whole'],
        );
        assert.equal(crashOf(events, 'f'), undefined);
        await endsFlooding(client, events, 'big_notes', 'pouring', BYTES);
      } finally {
        await client.close();
        await gateway.close();
      }
    });

  // A server writing its standard error at pipe speed took the gateway's thread as a flood of
  // messages does, and nothing counted it (upstream-flood-10).
  it('upstream-flood-10: a stdio upstream writing its standard error at pipe speed is ended, its crash audited with why', async () => {
    const { gateway, events } = await startFloodGateway('flood-stderr', '');
    const client = await inMemoryClient(gateway, 'flood-test');
    try {
      await endsFlooding(client, events, 'shout', 'shouting', BYTES);
    } finally {
      await client.close();
      await gateway.close();
    }
  });

  it('a stdio upstream whose first line is not JSON-RPC (a banner) is unavailable, and its event says why', async () => {
    const { gateway, events } = await startFloodGateway('flood-banner', 'banner');
    const client = await inMemoryClient(gateway, 'flood-test');
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(names, ['good__echo']);
      const down = events.find((e) => e.type === 'mcp.server.unavailable' && e.outcome?.server === 'f');
      assert.equal(down?.outcome?.reason, 'sent a line that is not a JSON-RPC message, and was ended');
    } finally {
      await client.close();
      await gateway.close();
    }
  });

  // A flooding server, or one that sent a line that is not JSON-RPC, was ended politely: its input
  // closed, 2 s to exit, SIGTERM, 2 s more; what waited for it failed only when its process was
  // gone, and never while a helper it started held its standard error open. The server here
  // ignores its input's end and SIGTERM, and its helper, deaf to SIGTERM too, lives until the test
  // releases it or their group is killed: the call must fail before either.
  for (const [id, what, garble, reason] of [
    [
      'upstream-flood-8',
      'ended for flooding',
      false,
      /^sent more than 1000 notifications in one second, and was ended$/,
    ],
    [
      'upstream-flood-9',
      'that sent a line that is not JSON-RPC',
      true,
      /^sent a line that is not a JSON-RPC message, and was ended$/,
    ],
  ] as const)
    it(`${id}: a call waiting on a stdio upstream ${what} fails at once, while a helper still holds the server’s output; the server is killed`, async () => {
      const { gateway, events } = await startFloodGateway(`flood-hang-${id}`, '');
      const client = await inMemoryClient(gateway, 'flood-test');
      const dir = mkdtempSync(join(root, 'hang-'));
      const pidsFile = join(dir, 'pids.json');
      let pids: { server: number; holder: number } | undefined;
      try {
        let waited: string | undefined;
        void outcome(client.callTool({ name: 'f__hang', arguments: { text: dir, garble } })).then(
          (o) => (waited = o),
        );
        await until(() => existsSync(pidsFile), 'the server to start its helper');
        pids = JSON.parse(readFileSync(pidsFile, 'utf8')) as { server: number; holder: number };
        await until(() => waited !== undefined, 'the waiting call to fail, its server’s helper not released');
        assert.match(String(waited), /^error: /);
        assert.ok(canSignal(pids.holder), 'the helper holding the server’s output is still there');
        assert.match(String(crashOf(events, 'f')?.outcome?.reason), reason);
        const server = pids.server;
        await until(() => !canSignal(server), 'the server, deaf to SIGTERM, to be killed');
        // Killed with it: unsandboxed, the server leads its own process group (upstream-stop-1).
        const { holder } = pids;
        await until(
          () => !canSignal(holder),
          'the helper, deaf to SIGTERM too, to be killed with its server',
        );
        assert.equal(await outcome(client.callTool({ name: 'good__echo', arguments: {} })), 'still here');
      } finally {
        writeFileSync(join(dir, 'released'), '');
        if (pids && canSignal(pids.server)) process.kill(pids.server, 'SIGKILL');
        await client.close();
        await gateway.close();
      }
    });
});
