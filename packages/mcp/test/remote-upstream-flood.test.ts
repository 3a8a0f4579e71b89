// A remote upstream, over Streamable HTTP or legacy SSE, that floods the gateway through its event
// streams (fixtures/flooding-http-server.ts) with what no count of messages sees: notifications of
// 4 MiB at socket speed, or SSE comments and events that are no message, which both SDKs' clients
// skip. It is ended, its crash audited with why; an honest server's keep-alives, priming events and
// large answers pass.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtureUrl, inMemoryClient, startRemoteGateway, until } from './gateway-harness.js';

const FLOODING = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/flooding-http-server.js');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-remote-flood-')));
const servers: ChildProcess[] = [];
after(() => {
  servers.forEach((s) => s.kill());
  rmSync(root, { recursive: true, force: true });
});

type Mode = 'streamable' | 'sse';

/** A gateway whose one server, `f`, is a flooding-http-server of its own speaking `mode`. */
async function startFlooding(sessionId: string, mode: Mode): ReturnType<typeof startRemoteGateway> {
  const url = await fixtureUrl(FLOODING, mode === 'sse' ? ['sse'] : [], servers);
  return startRemoteGateway('f', url, { home: root, workspace: root, sessionId });
}

const BYTES =
  "sent more than 16 MiB besides its answers to the gateway's requests in one second, and was ended";
const LINES =
  'sent more than 10000 lines of event streams carrying no message (comments, events of another type or without data) in one second, and was ended';

describe('remote upstream flood', () => {
  for (const mode of ['streamable', 'sse'] as const) {
    // Before, notifications of 4 MiB at socket speed stayed under every count bound and took
    // 46-65 % of a core, every other call held up to 190 ms (upstream-flood-6); comments, events
    // of another type and events without data were counted nowhere, and took 84-91 % of a core,
    // calls held up to 340 ms (upstream-flood-7). Each for as long as the server liked.
    for (const [id, tool, reason] of [
      [6, 'big_notes', BYTES],
      [7, 'comments', LINES],
      [7, 'other_events', LINES],
      // Legacy SSE's client reads an event without data as an unreadable message (counted already).
      ...(mode === 'streamable' ? [[7, 'empty_events', LINES] as const] : []),
    ] as const)
      it(
        `upstream-flood-${id}: a remote server (${mode}) whose event stream pours ${tool.replace('_', ' ')} is ended, its crash audited with why`,
        { timeout: 60_000 },
        async () => {
          const { gateway, events } = await startFlooding(`${tool}-${mode}`, mode);
          const client = await inMemoryClient(gateway, 'agent');
          try {
            // Never answered: it fails when the connection ends.
            const outcome = client.callTool({ name: `f__${tool}`, arguments: {} }).then(
              (r) => `answered: ${JSON.stringify(r).slice(0, 200)}`,
              (e: Error) => `failed: ${e.message}`,
            );
            await until(() => events.some((e) => e.type === 'mcp.server.crash'), 'the connection to end');
            assert.equal(events.find((e) => e.type === 'mcp.server.crash')?.outcome?.reason, reason);
            assert.match(await outcome, /^failed: /);
          } finally {
            await client.close();
            await gateway.close();
          }
        },
      );

    it(
      `upstream-flood-6, -7: a remote server (${mode}) answering four calls at once with 9 MiB each, and sending priming events and keep-alives with its answers, is not ended`,
      { timeout: 60_000 },
      async () => {
        const { gateway, events } = await startFlooding(`honest-${mode}`, mode);
        const client = await inMemoryClient(gateway, 'agent');
        const text = (r: unknown): string => {
          const content = (r as { content?: { text?: string }[] }).content;
          const t = content?.[0]?.text ?? '';
          return t.length > 1000 ? `${t.length} characters` : t;
        };
        try {
          const big = await Promise.all(
            [1, 2, 3, 4].map(() => client.callTool({ name: 'f__big_answer', arguments: {} }).then(text)),
          );
          assert.deepEqual(big, Array<string>(4).fill(`${9 * 1024 * 1024} characters`));
          for (let i = 0; i < 20; i++)
            assert.equal(text(await client.callTool({ name: 'f__honest', arguments: {} })), 'honest');
          assert.deepEqual(
            events.filter((e) => e.type === 'mcp.server.crash'),
            [],
          );
        } finally {
          await client.close();
          await gateway.close();
        }
      },
    );
  }
});
