// The gateway over Streamable HTTP (listenHttp), against the SDK's own client and raw fetch: answers
// without a server message mid-request come as one application/json body; an ask turns the answer
// into an event stream that carries the elicitation; what belongs to no request (a list change)
// reaches the session's GET stream; and every refusal the transport owes the spec (method, media
// types, body, protocol version, reused ids, sessions) is one JSON-RPC error; and no client holds
// sockets by trickling bodies or opening many (redteam-31-7). The CLI's tests
// (packages/cli/test/mcp-command.test.ts) drive `perimeter mcp --listen` with the MCP Inspector.

import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request, type ClientRequest, type RequestOptions } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  LATEST_PROTOCOL_VERSION,
  McpError,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import {
  INITIALIZE,
  POST_HEADERS,
  TOKEN,
  post,
  root,
  start,
  tool,
  until,
  type Harness,
} from './http-harness.js';

/** The SDK client with the token; records the status and media type of every response it gets. */
async function sdkClient(
  url: string,
  answer: (message: string) => boolean,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport; seen: string[] }> {
  const seen: string[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    fetch: async (input, init) => {
      const r = await fetch(input, init);
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string }) : {};
      seen.push(
        `${init?.method ?? 'GET'} ${body.method ?? '-'} ${r.status} ${r.headers.get('content-type') ?? ''}`,
      );
      return r;
    },
  });
  const client = new Client({ name: 'http-test', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, (req) => ({
    action: 'accept',
    content: { allow: answer(req.params.message) },
  }));
  await client.connect(transport);
  return { client, transport, seen };
}

/** Initializes a session with raw requests; returns its id. */
async function rawSession(url: string): Promise<string> {
  const r = await post(url, INITIALIZE);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  const body = (await r.json()) as { id: number; result?: { protocolVersion?: string } };
  assert.equal(body.id, 1);
  assert.equal(body.result?.protocolVersion, LATEST_PROTOCOL_VERSION);
  const id = r.headers.get('mcp-session-id') ?? '';
  assert.ok(id);
  const initialized = await post(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { 'mcp-session-id': id },
  );
  assert.equal(initialized.status, 202);
  return id;
}

/** A raw session whose client can answer elicitations (so `ask` tools ask it); its session header. */
async function askingSession(url: string): Promise<Record<string, string>> {
  const init = await post(url, {
    ...INITIALIZE,
    params: { ...INITIALIZE.params, capabilities: { elicitation: {} } },
  });
  const inSession = { 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' };
  await init.body?.cancel();
  const initialized = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, inSession);
  assert.equal(initialized.status, 202);
  return inSession;
}

/**
 * A request to `url` with node:http (`options` beside the URL), its body written by `send` (none by
 * default): the answer's status and text, and the socket it went on.
 */
function exchange(
  url: string,
  options: RequestOptions,
  send: (req: ClientRequest) => void = (req) => req.end(),
): Promise<{ status: number; text: string; socket: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, options);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString(), socket: req.socket }),
      );
    });
    req.on('error', reject);
    send(req);
  });
}

/** The events read from an event stream until `done` says enough (bounded by count and time). */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  done: (events: unknown[]) => boolean,
): Promise<unknown[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const events: unknown[] = [];
  let text = '';
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 1_000 && !done(events) && Date.now() < deadline; i++) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const data = text
        .slice(0, end)
        .split('\n')
        .find((l) => l.startsWith('data: '));
      if (data) events.push(JSON.parse(data.slice(6)));
      text = text.slice(end + 2);
    }
  }
  reader.releaseLock();
  return events;
}

describe('gateway over Streamable HTTP: the SDK client', { timeout: 60_000 }, () => {
  it('gets JSON answers, an ask on the answer’s own event stream, and a list change on its GET stream', async () => {
    const h = await start({ tools: [tool('hello'), tool('ask'), tool('notify')] });
    let allow = true;
    const asked: string[] = [];
    const { client, transport, seen } = await sdkClient(h.url, (message) => {
      asked.push(message);
      return allow;
    });
    try {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['s__ask', 's__hello', 's__notify']);
      const hello = await client.callTool({ name: 's__hello', arguments: { text: 'hi' } });
      assert.match(JSON.stringify(hello.content), /hello: \{\\"text\\":\\"hi\\"\}/);
      assert.ok(seen.includes('POST tools/call 200 application/json'), seen.join('\n'));
      assert.ok(seen.includes('GET - 200 text/event-stream'), 'the client opened its GET stream');

      // An ask: the elicitation travels on the call's own answer, which becomes an event stream.
      const approved = await client.callTool({ name: 's__ask', arguments: { text: 'go' } });
      assert.match(JSON.stringify(approved.content), /ask: /);
      assert.equal(asked.length, 1);
      assert.match(asked[0] ?? '', /Allow the MCP tool s__ask/);
      assert.ok(seen.includes('POST tools/call 200 text/event-stream'), seen.join('\n'));
      assert.ok(seen.includes('POST - 202 '), 'the answer to the elicitation was accepted');
      allow = false;
      await assert.rejects(client.callTool({ name: 's__ask', arguments: {} }), McpError);
      const calls = h.events.filter((e) => e.type === 'mcp.call' && e.request?.resource === 's/ask');
      assert.deepEqual(
        calls.map((c) => [c.decision, /ask: (approved|denied by the user)/.exec(String(c.reason))?.[1]]),
        [
          ['allow', 'approved'],
          ['ask', 'denied by the user'],
        ],
      );

      // A new tool announced by the upstream mid-call: the gateway tells the session on its GET stream.
      let changed = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        changed++;
      });
      h.spec({ tools: [tool('hello'), tool('ask'), tool('notify'), tool('later')] });
      await client.callTool({ name: 's__notify', arguments: {} });
      await until(() => changed > 0, 'tools/list_changed');
      assert.ok((await client.listTools()).tools.some((t) => t.name === 's__later'));

      // Calls in flight together, each on its own POST: every answer reaches its own caller.
      const texts = Array.from({ length: 20 }, (_, i) => `call ${i}`);
      const results = await Promise.all(
        texts.map((text) => client.callTool({ name: 's__hello', arguments: { text } })),
      );
      assert.deepEqual(
        results.map((r) => /call \d+/.exec(JSON.stringify(r.content))?.[0]),
        texts,
      );
      await transport.terminateSession();
      assert.equal(seen.at(-1), 'DELETE - 200 ', 'the session ends on DELETE');
    } finally {
      await client.close();
      await h.close();
    }
  });
});

describe('gateway over Streamable HTTP: the protocol, raw', { timeout: 60_000 }, () => {
  it('answers notifications with 202, a batch with one JSON array, and refuses what the spec refuses', async () => {
    const h = await start({ tools: [tool('hello')] }, { maxSessions: 2 });
    try {
      const id = await rawSession(h.url);
      const inSession = { 'mcp-session-id': id, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
      const batch = await post(
        h.url,
        [
          { jsonrpc: '2.0', id: 'a', method: 'ping' },
          { jsonrpc: '2.0', id: 7, method: 'tools/list' },
        ],
        inSession,
      );
      assert.equal(batch.status, 200);
      assert.equal(batch.headers.get('content-type'), 'application/json');
      assert.equal(batch.headers.get('mcp-session-id'), id);
      const answers = (await batch.json()) as { id: string | number; result?: { tools?: unknown[] } }[];
      assert.deepEqual(answers.map((a) => a.id).sort(), [7, 'a']);
      assert.equal(answers.find((a) => a.id === 7)?.result?.tools?.length, 1);

      const refusals: [string, Promise<Response>, number, RegExp][] = [
        ['a PUT', fetch(h.url, { method: 'PUT', headers: POST_HEADERS }), 405, /Method not allowed/],
        [
          'JSON only',
          post(
            h.url,
            { jsonrpc: '2.0', id: 2, method: 'ping' },
            { ...inSession, accept: 'application/json' },
          ),
          406,
          /Not Acceptable/,
        ],
        [
          'text/plain',
          post(
            h.url,
            { jsonrpc: '2.0', id: 2, method: 'ping' },
            { ...inSession, 'content-type': 'text/plain' },
          ),
          415,
          /Unsupported Media Type/,
        ],
        ['not JSON', post(h.url, '{"jsonrpc":', inSession), 400, /not JSON/],
        // No era's message: the SDK's classifier hands these to the 2026-07-28 path, which refuses them.
        ['not JSON-RPC', post(h.url, { hello: 'world' }, inSession), 400, /not a valid JSON-RPC message/],
        ['an empty batch', post(h.url, [], inSession), 400, /empty JSON-RPC batch/],
        [
          'an id twice',
          post(
            h.url,
            [
              { jsonrpc: '2.0', id: 3, method: 'ping' },
              { jsonrpc: '2.0', id: 3, method: 'ping' },
            ],
            inSession,
          ),
          400,
          /request id 3 is already in use/,
        ],
        [
          'an unknown version',
          post(
            h.url,
            { jsonrpc: '2.0', id: 2, method: 'ping' },
            { ...inSession, 'mcp-protocol-version': '1999-01-01' },
          ),
          400,
          /unsupported protocol version 1999-01-01/,
        ],
        ['initialize again', post(h.url, INITIALIZE, inSession), 400, /already initialized/],
        ['no session', post(h.url, { jsonrpc: '2.0', id: 2, method: 'ping' }), 400, /send initialize first/],
        [
          'an unknown session',
          post(h.url, { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': 'nope' }),
          404,
          /Session not found/,
        ],
        [
          'a huge body',
          post(
            h.url,
            { jsonrpc: '2.0', id: 2, method: 'ping', params: { pad: 'x'.repeat(5 << 20) } },
            inSession,
          ),
          413,
          /Payload too large/,
        ],
        ['no token', post(h.url, INITIALIZE, { authorization: '' }), 401, /bearer token is required/],
        [
          'a foreign Origin',
          post(h.url, INITIALIZE, { origin: 'http://evil.example' }),
          403,
          /unexpected Origin/,
        ],
        [
          'a GET that takes no events',
          fetch(h.url, {
            headers: { ...inSession, authorization: `Bearer ${TOKEN}`, accept: 'application/json' },
          }),
          406,
          /Not Acceptable/,
        ],
      ];
      for (const [what, response, status, message] of refusals) {
        const r = await response;
        const body = (await r.json()) as { jsonrpc: string; id: null; error: { message: string } };
        assert.equal(r.status, status, what);
        assert.equal(body.jsonrpc, '2.0', what);
        assert.equal(body.id, null, what);
        assert.match(body.error.message, message, what);
      }

      // The GET stream: one per session; DELETE ends it and the session.
      const stream = await fetch(h.url, {
        headers: { ...inSession, authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers.get('content-type'), 'text/event-stream');
      const second = await fetch(h.url, {
        headers: { ...inSession, authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      });
      assert.equal(second.status, 409);
      await second.body?.cancel();
      // Both sessions listening: none is idle, so none makes room (redteam-34-3 closes idle ones).
      const other = await rawSession(h.url);
      const otherStream = await fetch(h.url, {
        headers: { 'mcp-session-id': other, authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      });
      assert.equal(otherStream.status, 200);
      const full = await post(h.url, INITIALIZE);
      assert.equal(full.status, 503, 'two sessions at most');
      await full.body?.cancel();
      const gone = await fetch(h.url, {
        method: 'DELETE',
        headers: { ...inSession, authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(gone.status, 200);
      assert.deepEqual(await readEvents(stream.body!, () => false), [], 'the GET stream ended');
      const after = await post(h.url, { jsonrpc: '2.0', id: 9, method: 'ping' }, inSession);
      assert.equal(after.status, 404);
      await after.body?.cancel();
      const room = await post(h.url, INITIALIZE);
      assert.equal(room.status, 200, 'a closed session makes room');
      await room.body?.cancel();
      await otherStream.body?.cancel();
    } finally {
      await h.close();
    }
  });

  it('closing the listener ends a request whose body is still arriving, instead of waiting for it', async () => {
    const h = await start({ tools: [] });
    const inSession = await askingSession(h.url);
    // Half a body, never ended: the connection stays busy until someone ends it.
    const req = request(h.url, { method: 'POST', headers: { ...POST_HEADERS, ...inSession } });
    req.on('error', () => undefined); // the listener ending it
    const ended = new Promise<void>((resolve) => req.on('close', () => resolve()));
    req.write('{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"');
    await new Promise((resolve) => setTimeout(resolve, 50)); // it reaches the server
    const closing = h.close();
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref()),
    ]);
    assert.equal(outcome, 'closed');
    await ended;
  });

  it('a chunked body past four times the limit is answered 413 and its connection closed, without reading the rest', async () => {
    const h = await start({ tools: [] });
    try {
      const inSession = await askingSession(h.url);
      // No Content-Length: the size shows only while reading. 17 MiB go out (the limit is 4), and
      // the client would keep sending: the request is never ended, so only the server can close the
      // connection, and its 'close' coming before the 10 s reject is what is checked.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(h.url, { method: 'POST', headers: { ...POST_HEADERS, ...inSession } });
        let status = 0;
        req.on('response', (res) => {
          status = res.statusCode ?? 0;
          res.resume();
        });
        req.on('close', () => resolve(status));
        req.on('error', () => undefined); // the server closing mid-body
        setTimeout(() => reject(new Error('the connection stayed open')), 10_000).unref();
        req.write(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"`);
        for (let i = 0; i < 17; i++) req.write('x'.repeat(1 << 20));
      });
      assert.equal(status, 413);
    } finally {
      await h.close();
    }
  });

  it('a declared Content-Length past four times the limit is answered 413 and its connection closed, before any of the body is read', async () => {
    const h = await start({ tools: [] });
    try {
      const inSession = await askingSession(h.url);
      // 17 MiB declared (the limit is 4), a few bytes sent and the request never ended: as above,
      // the server's 'close' before the 10 s reject is what is checked.
      const answer = await new Promise<{ status: number; connection: string | undefined }>(
        (resolve, reject) => {
          const req = request(h.url, {
            method: 'POST',
            headers: { ...POST_HEADERS, ...inSession, 'content-length': String(17 << 20) },
          });
          let answer = { status: 0, connection: undefined as string | undefined };
          req.on('response', (res) => {
            answer = { status: res.statusCode ?? 0, connection: res.headers.connection };
            res.resume();
          });
          req.on('close', () => resolve(answer));
          req.on('error', () => undefined); // the server closing mid-body
          setTimeout(() => reject(new Error('the connection stayed open')), 10_000).unref();
          req.write(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":"`);
        },
      );
      assert.deepEqual(answer, { status: 413, connection: 'close' });
    } finally {
      await h.close();
    }
  });

  it('a whole body over the limit is read and dropped: the client gets its 413 and the connection serves the next call', async () => {
    const h = await start({ tools: [] });
    try {
      const inSession = await askingSession(h.url);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const send = (body: string): ReturnType<typeof exchange> =>
        exchange(h.url, { method: 'POST', agent, headers: { ...POST_HEADERS, ...inSession } }, (req) =>
          req.end(body),
        );
      try {
        const huge = await send(
          JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping', params: { pad: 'x'.repeat(5 << 20) } }),
        );
        assert.equal(huge.status, 413);
        assert.match(huge.text, /Payload too large/);
        const next = await send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }));
        assert.equal(next.status, 200);
        assert.equal(next.socket, huge.socket, 'the same connection');
      } finally {
        agent.destroy();
      }
    } finally {
      await h.close();
    }
  });

  it('a batch whose call asks: the answer held so far opens the event stream, then the question, then the call', async () => {
    const h = await start({ tools: [tool('ask')] });
    try {
      const inSession = await askingSession(h.url);
      const batch = await post(
        h.url,
        [
          { jsonrpc: '2.0', id: 'p', method: 'ping' },
          {
            jsonrpc: '2.0',
            id: 'c',
            method: 'tools/call',
            params: { name: 's__ask', arguments: { text: 'x' } },
          },
        ],
        inSession,
      );
      assert.equal(batch.headers.get('content-type'), 'text/event-stream');
      const body = batch.body!;
      const first = (await readEvents(body, (events) => events.length >= 2)) as {
        id?: string | number;
        method?: string;
      }[];
      assert.deepEqual(first[0], { jsonrpc: '2.0', id: 'p', result: {} }, 'the ping answered before the ask');
      assert.equal(first[1]?.method, 'elicitation/create');
      const accepted = await post(
        h.url,
        { jsonrpc: '2.0', id: first[1]?.id, result: { action: 'accept', content: { allow: true } } },
        inSession,
      );
      assert.equal(accepted.status, 202);
      const rest = (await readEvents(body, () => false)) as { id?: string; result?: { content?: unknown } }[];
      assert.equal(rest.length, 1, 'the stream ends after the last answer');
      assert.equal(rest[0]?.id, 'c');
      assert.match(JSON.stringify(rest[0]?.result?.content), /ask: /);
    } finally {
      await h.close();
    }
  });

  it('a session closed while a call waits for its user answers that call with an error', async () => {
    const h = await start({ tools: [tool('ask')] });
    try {
      const inSession = await askingSession(h.url);
      const call = await post(
        h.url,
        { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 's__ask', arguments: {} } },
        inSession,
      );
      assert.equal(call.headers.get('content-type'), 'text/event-stream');
      const body = call.body!;
      const [question] = await readEvents(body, (events) => events.length > 0);
      assert.equal((question as { method?: string }).method, 'elicitation/create');
      const dropped = await fetch(h.url, {
        method: 'DELETE',
        headers: { ...inSession, authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(dropped.status, 200);
      const rest = await readEvents(body, () => false);
      assert.deepEqual(rest, [
        { jsonrpc: '2.0', id: 5, error: { code: -32000, message: 'the MCP session was closed' } },
      ]);
      await until(
        () => h.events.some((e) => e.type === 'mcp.call' && /asking failed/.test(String(e.reason))),
        'the unanswered ask is audited as a denial',
      );
    } finally {
      await h.close();
    }
  });

  it('the id of a call whose client went away stays taken until the call is answered: a new request with it never gets the old answer', async () => {
    const h = await start({ tools: [tool('ask')] });
    try {
      const inSession = await askingSession(h.url);
      const gone = new AbortController();
      const call = await fetch(h.url, {
        method: 'POST',
        headers: { ...POST_HEADERS, ...inSession },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/call',
          params: { name: 's__ask', arguments: { which: 'FIRST' } },
        }),
        signal: gone.signal,
      });
      const [question] = (await readEvents(call.body!, (events) => events.length > 0)) as { id?: number }[];
      gone.abort();
      const ping = { jsonrpc: '2.0', id: 5, method: 'ping' };
      // However soon after the disconnection it comes (20 tries over about a second), a request
      // with the same id is refused while the old call runs.
      for (let i = 0; i < 20; i++) {
        const refused = await post(h.url, ping, inSession);
        assert.equal(refused.status, 400, `try ${i}: id 5 is still in flight`);
        assert.match(
          ((await refused.json()) as { error: { message: string } }).error.message,
          /already in use/,
        );
        await new Promise((ok) => setTimeout(ok, 50));
      }
      // The user answers the old call's question: it ends, its answer goes nowhere, the id is free.
      const answered = await post(
        h.url,
        { jsonrpc: '2.0', id: question?.id, result: { action: 'accept', content: { allow: true } } },
        inSession,
      );
      assert.equal(answered.status, 202);
      await until(() => h.events.some((e) => e.type === 'mcp.result'), 'the old call to finish');
      const reused = await post(h.url, ping, inSession);
      assert.equal(reused.status, 200);
      assert.deepEqual(
        await reused.json(),
        { jsonrpc: '2.0', id: 5, result: {} },
        'its own answer, not the old call’s',
      );
    } finally {
      await h.close();
    }
  });
});

/** What came back on a raw connection, and whether the server closed it within the bound. */
interface Trickled {
  readonly head: string;
  readonly body: string;
  readonly closed: boolean;
}

/**
 * A request sent on a raw connection to the port of `url`: `lines` (the request line and headers),
 * a declared body of a megabyte and a byte of it every 100 ms, never all of it. What came back,
 * and whether the server closed the connection within `boundMs` (the client never does).
 */
function trickle(url: string, lines: readonly string[], boundMs = 5_000): Promise<Trickled> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let answer = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearInterval(drip);
      clearTimeout(bound);
      socket.destroy();
      const end = answer.indexOf('\r\n\r\n');
      resolve({ head: answer.slice(0, end), body: answer.slice(end + 4), closed });
    };
    const drip = setInterval(() => socket.write(' '), 100);
    const bound = setTimeout(() => finish(false), boundMs);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined); // the server closing with the body unread
    socket.write([...lines, 'content-length: 1000000', '', '{'].join('\r\n'));
  });
}

/** A raw connection to the port of `url`, once it is connected. */
function connected(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Whether the server closes `socket` within `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const bound = setTimeout(() => resolve(false), ms);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(bound);
      resolve(true);
    });
  });
}

/** The number of connections the listener holds open now. */
function connectionsOf(h: Harness): Promise<number> {
  return new Promise((resolve, reject) =>
    h.listener.server.getConnections((e, n) => (e ? reject(e) : resolve(n))),
  );
}

describe('gateway over Streamable HTTP: slow bodies, many connections', { timeout: 60_000 }, () => {
  it('redteam-31-7: a request refused before its body arrives is answered with Connection: close and its connection closed, however slowly the body comes', async () => {
    const h = await start({ tools: [] });
    try {
      const { host } = new URL(h.url);
      const json = ['content-type: application/json', 'accept: application/json, text/event-stream'];
      const token = `authorization: Bearer ${TOKEN}`;
      const cases: [what: string, lines: string[], status: number][] = [
        ['no token', ['POST /mcp HTTP/1.1', `host: ${host}`, ...json], 401],
        ['a wrong token', ['POST /mcp HTTP/1.1', `host: ${host}`, ...json, 'authorization: Bearer x'], 401],
        ['a foreign Host', ['POST /mcp HTTP/1.1', 'host: evil.example', ...json, token], 403],
        [
          'a foreign Origin',
          ['POST /mcp HTTP/1.1', `host: ${host}`, ...json, token, 'origin: http://evil.example'],
          403,
        ],
        ['another path', ['POST /other HTTP/1.1', `host: ${host}`, ...json, token], 404],
        ['a PUT', ['PUT /mcp HTTP/1.1', `host: ${host}`, ...json, token], 405],
        ['text/plain', ['POST /mcp HTTP/1.1', `host: ${host}`, 'content-type: text/plain', token], 415],
        [
          'an unknown session',
          ['POST /mcp HTTP/1.1', `host: ${host}`, ...json, token, 'mcp-session-id: nope'],
          404,
        ],
      ];
      // Together, each bounded by 5 s: before the fix every one of them stayed open.
      const answers = await Promise.all(cases.map(([, lines]) => trickle(h.url, lines)));
      cases.forEach(([what, , status], i) => {
        const answer = answers[i];
        assert.match(answer?.head ?? '', new RegExp(`^HTTP/1\\.1 ${status} `), what);
        assert.match(answer?.head ?? '', /\r\nconnection: close(\r\n|$)/i, what);
        assert.match(answer?.body ?? '', /"error":\{"code":/, `${what}: the refusal is written whole`);
        assert.equal(answer?.closed, true, `${what}: the connection is closed`);
      });
      // A refusal of a request with no body keeps the connection: nothing more is coming on it.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const get = (headers: Record<string, string>): ReturnType<typeof exchange> =>
          exchange(h.url, { agent, headers: { accept: 'text/event-stream', ...headers } });
        const unauthorised = await get({});
        assert.equal(unauthorised.status, 401);
        const noSession = await get({ authorization: `Bearer ${TOKEN}` });
        assert.equal(noSession.status, 400);
        assert.equal(noSession.socket, unauthorised.socket, 'the same connection');
      } finally {
        agent.destroy();
      }
    } finally {
      await h.close();
    }
  });

  it('redteam-31-7: a body still arriving at its deadline is refused (408) and its connection closed; one that arrives in pieces within it is served', async () => {
    const h = await start({ tools: [] }, { bodyTimeoutMs: 2_000 });
    try {
      const inSession = await askingSession(h.url);
      const { host } = new URL(h.url);
      const headers = Object.entries({ ...POST_HEADERS, ...inSession }).map(([k, v]) => `${k}: ${v}`);
      const started = Date.now();
      const slow = await trickle(h.url, ['POST /mcp HTTP/1.1', `host: ${host}`, ...headers], 10_000);
      assert.match(slow.head, /^HTTP\/1\.1 408 /);
      assert.match(slow.head, /\r\nconnection: close(\r\n|$)/i);
      assert.match(slow.body, /Request Timeout: the body did not arrive within 2 s/);
      assert.equal(slow.closed, true, 'the connection is closed');
      assert.ok(Date.now() - started >= 1_900, 'not before the deadline');

      const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
      const pieces = [body.slice(0, 10), body.slice(10, 20), body.slice(20)];
      const answer = await exchange(
        h.url,
        { method: 'POST', headers: { ...POST_HEADERS, ...inSession, 'content-length': String(body.length) } },
        (req) => {
          const next = (i: number): void => {
            if (i === pieces.length) req.end();
            else {
              req.write(pieces[i]);
              setTimeout(() => next(i + 1), 200);
            }
          };
          next(0);
        },
      );
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.text), { jsonrpc: '2.0', id: 2, result: {} });
    } finally {
      await h.close();
    }
  });

  it('redteam-32-4: an authenticated GET or DELETE that declares a body is refused (400) and its connection closed, however slowly the body comes', async () => {
    const h = await start({ tools: [] });
    try {
      const id = await rawSession(h.url);
      const { host } = new URL(h.url);
      const inSession = [
        `host: ${host}`,
        `authorization: Bearer ${TOKEN}`,
        `mcp-session-id: ${id}`,
        `mcp-protocol-version: ${LATEST_PROTOCOL_VERSION}`,
        'accept: text/event-stream',
      ];
      // Together, each bounded by 5 s: before the fix the GET held an event stream and the DELETE
      // its socket for as long as the body kept coming.
      const [get, del] = await Promise.all([
        trickle(h.url, ['GET /mcp HTTP/1.1', ...inSession]),
        trickle(h.url, ['DELETE /mcp HTTP/1.1', ...inSession]),
      ]);
      for (const [what, answer] of [
        ['GET', get],
        ['DELETE', del],
      ] as const) {
        assert.match(answer.head, /^HTTP\/1\.1 400 /, what);
        assert.match(answer.head, /\r\nconnection: close(\r\n|$)/i, what);
        assert.match(answer.body, new RegExp(`a ${what} carries no body`), what);
        assert.equal(answer.closed, true, `${what}: the connection is closed`);
      }
      // Neither took effect: the session is still there.
      const ping = await post(
        h.url,
        { jsonrpc: '2.0', id: 2, method: 'ping' },
        { 'mcp-session-id': id, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
      );
      assert.equal(ping.status, 200);
      await ping.body?.cancel();
    } finally {
      await h.close();
    }
  });

  it('redteam-31-7: connections past the cap are closed as they come, and one that closes makes room', async () => {
    const h = await start({ tools: [] }, { maxConnections: 2 });
    const held: Socket[] = [];
    try {
      held.push(await connected(h.url), await connected(h.url));
      await until(async () => (await connectionsOf(h)) === 2, 'the listener to hold two connections');
      const third = await connected(h.url);
      held.push(third);
      assert.equal(await closedWithin(third, 5_000), true, 'the third connection is closed');
      assert.equal(await closedWithin(held[0]!, 200), false, 'the first two stay open');
      held[0]?.destroy();
      await until(async () => (await connectionsOf(h)) < 2, 'the listener to see one close');
      const r = await post(h.url, INITIALIZE);
      assert.equal(r.status, 200, 'a new connection is served');
      await r.body?.cancel();
    } finally {
      for (const socket of held) socket.destroy();
      await h.close();
    }
  });

  it('redteam-31-7: event streams are not bodies: a GET stream outlives the body deadline and still carries a list change', async () => {
    const h = await start({ tools: [tool('notify')] }, { bodyTimeoutMs: 300 });
    try {
      const id = await rawSession(h.url);
      const inSession = { 'mcp-session-id': id, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
      const listed = await post(h.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, inSession);
      assert.equal(listed.status, 200);
      await listed.body?.cancel();
      const stream = await fetch(h.url, {
        headers: { ...inSession, authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      });
      assert.equal(stream.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // three deadlines
      h.spec({ tools: [tool('notify'), tool('later')] });
      const call = await post(
        h.url,
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 's__notify', arguments: {} } },
        inSession,
      );
      assert.equal(call.status, 200);
      await call.body?.cancel();
      const events = (await readEvents(stream.body!, (e) => e.length > 0)) as { method?: string }[];
      assert.equal(events[0]?.method, 'notifications/tools/list_changed');
      await stream.body?.cancel();
    } finally {
      await h.close();
    }
  });
});

describe('gateway over Streamable HTTP: on a Unix socket', { timeout: 60_000 }, () => {
  it('the socket is born 0600, and the umask it is bound under is given back', async () => {
    const dir = join(root, 'socket');
    mkdirSync(dir);
    const before = join(dir, 'before');
    writeFileSync(before, '');
    const socket = join(dir, 'mcp.sock');
    const h = await start({ tools: [] }, { path: socket });
    try {
      const made = statSync(socket);
      assert.ok(made.isSocket());
      assert.equal((made.mode & 0o777).toString(8), '600');
      const after = join(dir, 'after');
      writeFileSync(after, '');
      assert.equal(
        (statSync(after).mode & 0o777).toString(8),
        (statSync(before).mode & 0o777).toString(8),
        'a file made after it gets the mode it got before',
      );
    } finally {
      await h.close();
    }
  });
});
