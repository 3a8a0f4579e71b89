// A remote upstream that has the gateway reconnect to it at once, again and again: it ends its
// event streams (the standalone GET stream, a call's POST stream after a priming event, a legacy
// SSE stream) with `retry: 0` or a short `retry:`, and both SDKs' clients open another each time.
// Nothing counted these reconnections: the gateway reconnected some 500 times a second, half a core
// busy, for as long as the server liked. It is ended as a flood now, its crash audited with why, the
// call waiting for it failed, and it is restarted with backoff; an honest server that ends its
// streams now and then, or many at once, is not (upstream-flood-11).

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inMemoryClient, startRemoteGateway, until } from './gateway-harness.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-reconnect-flood-')));
after(() => rmSync(root, { recursive: true, force: true }));

/** The gateway's bound: event streams one connection may have it open in 10 s. */
const MAX_STREAMS = 100;
/** The more streams each request the gateway sent allows (in the same window). */
const STREAMS_PER_REQUEST = 3;
const STREAMS =
  'had the gateway open more than 100 event streams (a reconnection each time it ended one), and 3 more for each request it was sent, in 10 seconds, and was ended';

/**
 * How the server ends its streams: `get` its standalone GET stream, `post` a call's stream after
 * its priming event (and each GET resuming it), `sse` its legacy SSE stream (every 20 ms: fewer
 * than the 100 faults a second its client reports), each at once and without end once the `hang`
 * tool is called; `honest` its GET stream after 100 ms, and each `echo` call's stream after its
 * priming event, and again when first resumed 100 ms later, answered when resumed once more.
 */
type Mode = 'get' | 'post' | 'sse' | 'honest';

interface ReconnectingServer {
  readonly url: string;
  /** The event streams each connection opened after its initialize. */
  readonly streams: number[];
  close(): Promise<void>;
}

/** Writes an event stream's head and `text`; ends it unless told to keep it. */
function eventStream(res: ServerResponse, text: string, isKept = false): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (isKept) res.write(text);
  else res.end(text);
}

/** A Streamable HTTP (or, for `sse`, legacy SSE) server on 127.0.0.1 ending its streams as `mode` says. */
async function startServer(mode: Mode): Promise<ReconnectingServer> {
  const streams: number[] = [];
  /** The `hang` tool was called: the streams are ended at once from now on. */
  let isLooping = false;
  /** The legacy SSE stream open now, which carries every answer. */
  let sse: ServerResponse | undefined;
  /** A legacy SSE connection is being made (from its Streamable HTTP attempt to its initialized). */
  let isHandshaking = false;
  const held = new Set<ServerResponse>();
  /** The calls (`honest`) whose streams were resumed once, and cut again. */
  const resumedOnce = new Set<string>();
  const answer = (id: unknown, result: unknown): string => JSON.stringify({ jsonrpc: '2.0', id, result });

  const result = (message: { id: unknown; method: string; params?: { name?: string } }): unknown => {
    switch (message.method) {
      case 'initialize':
        streams.push(0);
        return {
          protocolVersion: '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'reconnecting', version: '1.0.0' },
        };
      case 'tools/list':
        return { tools: ['hang', 'echo'].map((name) => ({ name, inputSchema: { type: 'object' } })) };
      default:
        return { content: [{ type: 'text', text: message.params?.name ?? '' }] };
    }
  };

  const onGet = (req: IncomingMessage, res: ServerResponse): void => {
    if (streams.length > 0) streams.push((streams.pop() ?? 0) + 1);
    const resumed = req.headers['last-event-id'];
    switch (mode) {
      case 'get':
        if (isLooping) return eventStream(res, 'retry: 0\n\n');
        held.add(res);
        return eventStream(res, ': open\n\n', true);
      case 'post':
        if (resumed === undefined) {
          res.writeHead(405).end();
          return;
        }
        // A priming event again (an event without data is none): the next GET resumes it too.
        return eventStream(res, 'id: p\nretry: 0\ndata: \n\n');
      case 'sse':
        sse = res;
        eventStream(res, 'retry: 20\nevent: endpoint\ndata: /messages\n\n', !isLooping || isHandshaking);
        return;
      case 'honest':
        if (typeof resumed === 'string' && resumed.startsWith('c') && !resumedOnce.delete(resumed)) {
          resumedOnce.add(resumed);
          return eventStream(res, `id: ${resumed}\nretry: 100\ndata: \n\n`);
        }
        if (typeof resumed === 'string' && resumed.startsWith('c'))
          return eventStream(
            res,
            `data: ${answer(Number(resumed.slice(1)), result({ id: 0, method: 'tools/call', params: { name: 'echo' } }))}\n\n`,
          );
        eventStream(res, 'retry: 100\n\n', true);
        setTimeout(() => res.end(), 100).unref();
        return;
    }
  };

  const onPost = (
    message: { id?: unknown; method?: string; params?: { name?: string } },
    res: ServerResponse,
  ): void => {
    if (message.method === undefined || message.id === undefined) {
      res.writeHead(202).end();
      if (message.method !== 'notifications/initialized') return;
      isHandshaking = false;
      if (isLooping) sse?.end();
      return;
    }
    const request = {
      id: message.id,
      method: message.method,
      ...(message.params ? { params: message.params } : {}),
    };
    const called = message.method === 'tools/call' ? message.params?.name : undefined;
    if (called === 'hang') {
      isLooping = true;
      for (const h of held) h.end('retry: 0\n\n');
      held.clear();
      if (mode === 'post') return eventStream(res, 'id: p\nretry: 0\ndata: \n\n');
      if (mode === 'sse') {
        res.writeHead(202).end();
        sse?.end();
        return;
      }
      held.add(res); // never answered
      return;
    }
    if (called === 'echo' && mode === 'honest')
      return eventStream(res, `id: c${Number(message.id)}\nretry: 100\ndata: \n\n`);
    if (mode === 'sse') {
      res.writeHead(202).end();
      sse?.write(`event: message\ndata: ${answer(message.id, result(request))}\n\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(answer(message.id, result(request)));
  };

  const server = createServer((req, res) => {
    if (req.method === 'GET') return onGet(req, res);
    if (req.method !== 'POST' || (mode === 'sse' && req.url !== '/messages')) {
      // Streamable HTTP refused: the client makes a legacy SSE connection.
      isHandshaking = true;
      res.writeHead(405).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => onPost(JSON.parse(body) as Parameters<typeof onPost>[0], res));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    streams,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A gateway whose one server, `r`, is at `url`. */
function startReconnecting(sessionId: string, url: string): ReturnType<typeof startRemoteGateway> {
  return startRemoteGateway('r', url, { home: root, workspace: root, sessionId });
}

describe('remote upstream reconnect flood', () => {
  for (const mode of ['get', 'post', 'sse'] as const)
    it(
      `upstream-flood-11: a remote server (${mode}) ending its event stream at once, again and again, is ended, its crash audited with why; the call waiting fails, and it is restarted with backoff`,
      { timeout: 60_000 },
      async () => {
        const server = await startServer(mode);
        const { gateway, events } = await startReconnecting(`reconnect-${mode}`, server.url);
        const client = await inMemoryClient(gateway, 'agent');
        const crashes = () => events.filter((e) => e.type === 'mcp.server.crash');
        try {
          // Never answered: it fails when the connection ends.
          const outcome = client.callTool({ name: 'r__hang', arguments: {} }).then(
            (r) => `answered: ${JSON.stringify(r).slice(0, 200)}`,
            (e: Error) => `failed: ${e.message}`,
          );
          await until(() => crashes().length > 0, 'the connection to end');
          assert.equal(crashes()[0]?.outcome?.reason, STREAMS);
          assert.match(await outcome, /^failed: /);
          // Restarted after its backoff (as after a crash), it is ended again (its call's stream
          // resumed again for `post`; its other streams end at once now).
          const ready = () => events.filter((e) => e.type === 'mcp.server.ready').length;
          await until(() => ready() > 1, 'the restart');
          const again = client.callTool({ name: 'r__hang', arguments: {} }).catch(() => undefined);
          await until(() => crashes().length > 1, 'the restarted connection to end');
          assert.equal(crashes()[1]?.outcome?.reason, STREAMS);
          await again;
          const kinds = events.map((e) => e.type).filter((t) => /ready|crash/.test(t));
          assert.deepEqual(kinds.slice(0, 4), [
            'mcp.server.ready',
            'mcp.server.crash',
            'mcp.server.ready',
            'mcp.server.crash',
          ]);
          // None opened past the bound (twice it, should a connection's streams span two windows),
          // with its room for the few requests the gateway sent (initialize, lists, the call).
          assert.ok(
            Math.max(...server.streams.slice(0, 2)) <= 2 * (MAX_STREAMS + STREAMS_PER_REQUEST * 10),
            `${server.streams.join(',')}`,
          );
        } finally {
          await client.close();
          await gateway.close();
          await server.close();
        }
      },
    );

  it(
    'upstream-flood-11: a remote server ending its GET stream every 100 ms, and the streams of 60 calls at once (each resumed, cut again, resumed and answered: 120 reconnections), is not ended',
    { timeout: 60_000 },
    async () => {
      const server = await startServer('honest');
      const { gateway, events } = await startReconnecting('reconnect-honest', server.url);
      const client = await inMemoryClient(gateway, 'agent');
      const text = (r: unknown): string => (r as { content?: { text?: string }[] }).content?.[0]?.text ?? '';
      try {
        const answers = await Promise.all(
          Array.from({ length: 60 }, () => client.callTool({ name: 'r__echo', arguments: {} }).then(text)),
        );
        assert.deepEqual(answers, Array<string>(60).fill('echo'));
        // The GET stream ended and was opened again several times besides the 120 resumptions.
        await until(() => (server.streams[0] ?? 0) >= 130, 'the GET stream to be reopened');
        assert.equal(text(await client.callTool({ name: 'r__echo', arguments: {} })), 'echo');
        assert.deepEqual(
          events.filter((e) => e.type === 'mcp.server.crash'),
          [],
        );
        assert.equal(server.streams.length, 1);
      } finally {
        await client.close();
        await gateway.close();
        await server.close();
      }
    },
  );
});
