// The 2025-era sessions of the gateway over Streamable HTTP, at their cap (redteam-34-3): the SDK's
// client never sends DELETE when it closes, so clients that connect, list and leave would fill the
// cap for the idle timeout. At the cap the least recently used idle session makes room; one whose
// client listens on its event stream or waits for an answer (an ask's elicitation) is never closed,
// and when every session is busy a new client is refused (503). The real SDK client, on 127.0.0.1.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { deferred } from './gateway-harness.js';
import { INITIALIZE, POST_HEADERS, TOKEN, post, start, tool, until, type Harness } from './http-harness.js';

interface Options {
  /** Open the session's GET event stream, as the SDK's client does (true by default). */
  readonly listen?: boolean;
  /** Answers the gateway's elicitations (an `ask`); none are expected otherwise. */
  readonly elicit?: () => Promise<ElicitResult>;
  /** Told once the gateway answered the client's GET with its event stream. */
  readonly onListening?: () => void;
}

/**
 * The SDK's client, connected with the token. Without `listen` it opens no event stream (the spec
 * lets it: the SDK's client takes a 405 to its GET for a server that has none), so its session is
 * idle whenever no request of its is in flight.
 */
async function connect(url: string, options: Options = {}): Promise<{ client: Client; sessionId: string }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    fetch: async (input, init) => {
      const isGet = (init?.method ?? 'GET') === 'GET';
      if (isGet && options.listen === false) return new Response(null, { status: 405 });
      const r = await fetch(input, init);
      if (isGet && r.status === 200) options.onListening?.();
      return r;
    },
  });
  const client = new Client(
    { name: 'sessions-test', version: '1' },
    { capabilities: options.elicit ? { elicitation: {} } : {} },
  );
  if (options.elicit) client.setRequestHandler(ElicitRequestSchema, options.elicit);
  await client.connect(transport);
  return { client, sessionId: transport.sessionId ?? '' };
}

/** How many tools the client is shown: its session works. */
const toolCount = async (client: Client): Promise<number> => (await client.listTools()).tools.length;

/** The SDK client's error for a session the gateway no longer holds: 404, initialize again. */
const isSessionGone = (e: unknown): boolean =>
  (e as { code?: unknown }).code === 404 && /Session not found/.test(String(e));

/** A raw ping in the session `id`: its HTTP status. */
async function ping(url: string, id: string): Promise<number> {
  const r = await post(url, { jsonrpc: '2.0', id: 'ping', method: 'ping' }, { 'mcp-session-id': id });
  await r.body?.cancel();
  return r.status;
}

/** Counts the GET event streams the gateway holds open, as its HTTP server sees them. */
function openStreams(h: Harness): () => number {
  let open = 0;
  h.listener.server.on('request', (req, res) => {
    if (req.method !== 'GET') return;
    open++;
    res.once('close', () => open--);
  });
  return () => open;
}

describe('gateway over Streamable HTTP: sessions at the cap (redteam-34-3)', { timeout: 120_000 }, () => {
  it('redteam-34-3: after 64 clients that connect, list and close, a 65th is served in the least recently used one’s place', async () => {
    const h = await start({ tools: [tool('hello')] });
    const streams = openStreams(h);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 64; i++) {
        const { client, sessionId } = await connect(h.url);
        assert.equal(await toolCount(client), 1, `client ${i}`);
        await client.close(); // the SDK sends no DELETE: the session stays
        ids.push(sessionId);
      }
      // Their GET streams end as they close; then every session is idle.
      await until(() => streams() === 0, 'the closed clients’ event streams to end');

      const { client } = await connect(h.url);
      try {
        assert.equal(await toolCount(client), 1, 'the 65th client is served');
      } finally {
        await client.close();
      }
      assert.equal(await ping(h.url, ids[0] ?? ''), 404, 'the first client’s session made room');
      assert.equal(await ping(h.url, ids[1] ?? ''), 200, 'the second client’s session is kept');
    } finally {
      await h.close();
    }
  });

  it('redteam-34-3: the least recently used idle session is the one closed, and its client, back, gets 404 and initializes again', async () => {
    const h = await start({ tools: [tool('hello')] }, { maxSessions: 3 });
    const clients: Client[] = [];
    const open = async (): Promise<Client> => {
      const { client } = await connect(h.url, { listen: false });
      clients.push(client);
      return client;
    };
    try {
      const a = await open();
      const b = await open();
      const c = await open();
      assert.equal(await toolCount(a), 1, 'a used again: b is now the least recently used');

      const d = await open();
      assert.equal(await toolCount(d), 1, 'a fourth client is served');
      await assert.rejects(toolCount(b), isSessionGone, 'b’s session made room');
      // Used in this order, d is now the least recently used.
      assert.equal(await toolCount(a), 1);
      assert.equal(await toolCount(c), 1);

      // b initializes again (what the spec asks of a client told 404): d is the oldest now.
      const b2 = await open();
      assert.equal(await toolCount(b2), 1);
      await assert.rejects(toolCount(d), isSessionGone, 'd’s session made room');
      assert.equal(await toolCount(c), 1);
    } finally {
      await Promise.allSettled(clients.map((c) => c.close()));
      await h.close();
    }
  });

  it('redteam-34-3: a session listening on its stream or waiting on an elicitation is never closed for room; with every one busy, 503', async () => {
    const h = await start({ tools: [tool('hello'), tool('ask')] }, { maxSessions: 2 });
    const listening = deferred<void>();
    const asked = deferred<void>();
    const answer = deferred<ElicitResult>();
    const listener = (await connect(h.url, { onListening: () => listening.resolve() })).client;
    const asking = await connect(h.url, {
      listen: false,
      elicit: () => {
        asked.resolve();
        return answer.promise;
      },
    });
    try {
      await listening.promise;
      const call = asking.client.callTool({ name: 's__ask', arguments: { text: 'go' } });
      // Awaited below; a failure before then would leave it to reject, unheard, at close.
      call.catch(() => undefined);
      await asked.promise; // the gateway waits on the user: the call is in flight

      const refused = await post(h.url, INITIALIZE);
      assert.equal(refused.status, 503);
      assert.match(await refused.text(), /Too many sessions \(2\)/);
      assert.equal(await toolCount(listener), 2, 'the listening client keeps its session');

      answer.resolve({ action: 'accept', content: { allow: true } });
      assert.match(JSON.stringify((await call).content), /ask: /, 'the waiting call is answered');
      assert.ok(
        h.events.some(
          (e) =>
            e.type === 'mcp.call' &&
            e.request?.resource === 's/ask' &&
            /ask: approved/.test(String(e.reason)),
        ),
        'the call is audited, approved',
      );

      // Answered, the asking client's session is idle: it, not the listening one, makes room.
      const served = await post(h.url, INITIALIZE);
      assert.equal(served.status, 200);
      await served.body?.cancel();
      await assert.rejects(toolCount(asking.client), isSessionGone);
      assert.equal(await toolCount(listener), 2);
    } finally {
      await Promise.allSettled([listener.close(), asking.client.close()]);
      await h.close();
    }
  });

  it('redteam-34-3: a request whose session is closed for room while its body arrives gets 404, as any unknown session', async () => {
    const h = await start({ tools: [tool('hello')] }, { maxSessions: 1 });
    try {
      const { client, sessionId } = await connect(h.url, { listen: false });
      await client.close();
      const inSession = { ...POST_HEADERS, 'mcp-session-id': sessionId };
      // The gateway's handler runs first: when this one hears of the POST, its session was looked up.
      const arrived = once(h.listener.server, 'request');
      const req = request(h.url, { method: 'POST', headers: inSession });
      const answered = once(req, 'response');
      req.write('{"jsonrpc":"2.0","id":2,');
      await arrived;
      // Nothing of the session's is in flight yet: it is idle, and makes room.
      const room = await post(h.url, INITIALIZE);
      assert.equal(room.status, 200);
      await room.body?.cancel();
      req.end('"method":"ping"}');
      const [res] = (await answered) as [IncomingMessage];
      res.resume();
      assert.equal(res.statusCode, 404);
    } finally {
      await h.close();
    }
  });
});
