// A remote upstream is tried with Streamable HTTP, then legacy SSE, under one start timeout (the
// catalog's start_timeout): the SSE attempt gets what the first one left, not a whole timeout of
// its own (review-33-3: each had all of it, so a start could take twice as long as the catalog
// says). The gateway's clock is node:test's mock: its timeouts fire only when the test moves the
// clock, so which attempt the deadline ends is told by the outcome (the audit's ready or
// unavailable, what reached the server), not by how long anything took. The server, an SSE-only
// one on 127.0.0.1, is in this process: each answer is held until the clock has been moved.

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { deferred, startGateway } from './gateway-harness.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-deadline-')));
// One mocked clock for the file, from before the first fetch: fetch keeps timers of its own across
// tests, and one set on an earlier clock, cleared on a later one, removes whichever timer sits at
// its place in the later clock's queue (with a clock per test, the second test's deadline vanished).
before(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() }));
after(() => {
  mock.timers.reset();
  rmSync(root, { recursive: true, force: true });
});

/** The catalog's start_timeout of the server, in seconds. */
const START_TIMEOUT_S = 10;
const START_TIMEOUT_MS = START_TIMEOUT_S * 1000;

async function body(req: IncomingMessage): Promise<{ id?: unknown; method?: string; params?: unknown }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: string };
}

/**
 * An MCP server that speaks only the legacy SSE transport: its POST to /mcp (a Streamable HTTP
 * initialize) and its GET of /mcp (the SSE stream) are held, given to the test to answer; the
 * initialize posted to the stream's endpoint is answered on the stream at once. `seen` is every
 * request, in order.
 */
async function sseOnlyServer(): Promise<{
  url: string;
  seen: string[];
  streamablePost: Promise<ServerResponse>;
  sseGet: Promise<ServerResponse>;
  close(): Promise<void>;
}> {
  const seen: string[] = [];
  const post = deferred<ServerResponse>();
  const get = deferred<ServerResponse>();
  let stream: ServerResponse | undefined;
  const server = createServer((req, res) => {
    void (async () => {
      const m = req.method === 'POST' ? await body(req) : {};
      seen.push(`${req.method ?? ''} ${req.url ?? ''}${m.method === undefined ? '' : ` ${m.method}`}`);
      if (req.url === '/mcp' && req.method === 'POST') return post.resolve(res);
      if (req.url === '/mcp' && req.method === 'GET') {
        stream = res;
        return get.resolve(res);
      }
      res.writeHead(202).end();
      if (m.method === 'initialize')
        stream?.write(
          `event: message\ndata: ${JSON.stringify({
            jsonrpc: '2.0',
            id: m.id,
            result: {
              protocolVersion: (m.params as { protocolVersion?: string }).protocolVersion,
              capabilities: { tools: {} },
              serverInfo: { name: 'sse-only', version: '1.0.0' },
            },
          })}\n\n`,
        );
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    streamablePost: post.promise,
    sseGet: get.promise,
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/**
 * Starts a gateway in front of an SSE-only server on the mocked clock: the Streamable HTTP
 * attempt is refused (405) once half the start timeout has gone by, and the SSE stream opened
 * once `sseMs` more have. What the gateway audited of the server, and what reached it.
 */
async function startAfter(sseMs: number): Promise<{ events: string[]; seen: string[] }> {
  const server = await sseOnlyServer();
  const dir = mkdtempSync(join(root, 'h'));
  const started = startGateway(
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: deadline-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: remote, url: ${JSON.stringify(server.url)}, start_timeout: ${START_TIMEOUT_S} }
  allow:
    - { id: all, server: remote, tools: ["*"] }
`,
    { home: dir, workspace: dir, sessionId: 'deadline' },
  );
  try {
    const post = await server.streamablePost;
    mock.timers.tick(START_TIMEOUT_MS / 2);
    post.writeHead(405, { allow: 'GET' }).end();
    // The SSE attempt's timeout is set as its GET is sent: it is there by the time the GET arrives.
    const get = await server.sseGet;
    mock.timers.tick(sseMs);
    // Once the attempt is over, its connection is closed: the stream's endpoint reaches no one.
    get.writeHead(200, { 'content-type': 'text/event-stream' }).write('event: endpoint\ndata: /messages\n\n');
    const { gateway, events } = await started;
    await gateway.close();
    return {
      events: events
        .filter((e) => e.type.startsWith('mcp.server.'))
        .map((e) => `${e.type} ${String(e.outcome?.reason ?? '')}`.trim()),
      seen: server.seen,
    };
  } finally {
    await server.close();
  }
}

describe(
  'a remote server’s start: Streamable HTTP, then SSE, under one start timeout',
  { timeout: 60_000 },
  () => {
    it('review-33-3: the SSE attempt is answered within what Streamable HTTP left of the start timeout', async () => {
      const { events, seen } = await startAfter(START_TIMEOUT_MS / 2 - 1);
      assert.deepEqual(seen, [
        'POST /mcp initialize',
        'GET /mcp',
        'POST /messages initialize',
        'POST /messages notifications/initialized',
      ]);
      assert.deepEqual(events, ['mcp.server.ready']);
    });

    it('review-33-3: the SSE attempt ends when the start timeout does, though it began halfway through', async () => {
      const { events, seen } = await startAfter(START_TIMEOUT_MS / 2);
      // Before, the SSE attempt had a whole start timeout of its own: still waiting, it was answered.
      assert.deepEqual(seen, ['POST /mcp initialize', 'GET /mcp']);
      assert.equal(events.length, 1, events.join('\n'));
      assert.match(
        events[0] ?? '',
        /^mcp\.server\.unavailable Streamable HTTP error: Error POSTing to endpoint/,
      );
    });
  },
);
