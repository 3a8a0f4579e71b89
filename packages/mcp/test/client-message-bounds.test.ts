// What a client's messages may cost the gateway (redteam-37-4): 16 tools/calls of 4 MiB of
// `[],[],…` at once, over HTTP, took it to 1.7 GB and held other clients seconds, and 4 lines of
// 10 MiB over stdio to 1.8 GB. A message's structure is measured before it is parsed
// (json-structure.ts: more than 100,000 values, or nested past 128 levels, is refused), and over
// HTTP what bodies hold at once, across connections, is bounded (503 past it) and given back when
// each request is done, however it ends.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { AgentTransport } from '../src/agent-transport.js';
import type { Gateway } from '../src/gateway.js';
import { listenHttp, type HttpListener } from '../src/http.js';
import { CLIENT_MESSAGE_BOUNDS, jsonStructure } from '../src/json-structure.js';
import {
  INITIALIZE,
  MODERN,
  POST_HEADERS,
  TOKEN,
  callModern,
  envelope,
  post,
  start,
  tool,
  until,
} from './http-harness.js';

const MiB = 1024 * 1024;
/** A tools/call of `name` (2025-era), its arguments as `args` (JSON text). */
const callText = (id: number, name: string, args: string): string =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","arguments":${args}}}`;
/** `count` empty arrays under `key`: 2 × count values in 3 × count bytes. */
const arrays = (key: string, count: number): string => `{"${key}":[${'[],'.repeat(count - 1)}[]]}`;
/** Arrays nested `depth` deep under `key`. */
const nested = (key: string, depth: number): string => `{"${key}":${'['.repeat(depth)}${']'.repeat(depth)}}`;

/** A POST that declares `declared` bytes of body and sends one: it holds its declared share. */
function heldBody(url: string, declared: number, session: Record<string, string> = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const { host, port } = new URL(url);
    const headers = Object.entries({ ...POST_HEADERS, ...session, host, 'content-length': declared });
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(['POST /mcp HTTP/1.1', ...headers.map(([k, v]) => `${k}: ${v}`), '', '{'].join('\r\n'));
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** A ping of about `bytes` bytes in the session `session`: its status, Retry-After and error message. */
async function ping(
  url: string,
  session: Record<string, string>,
  bytes = 100,
): Promise<{ status: number; retryAfter: string | null; message?: string }> {
  const r = await post(
    url,
    { jsonrpc: '2.0', id: 9, method: 'ping', params: { pad: 'x'.repeat(bytes) } },
    session,
  );
  const body = (await r.json()) as { error?: { message: string } };
  return { status: r.status, retryAfter: r.headers.get('retry-after'), message: body.error?.message };
}

/**
 * A second listener on `gateway`: bodies of up to 8 KiB, and 8 KiB of them at once, so a call of
 * 5,000 bytes and a ping of 3,000 do not fit together.
 */
function smallListener(gateway: Gateway): Promise<HttpListener> {
  return listenHttp(gateway, {
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    maxBodyBytes: 8192,
    maxBodiesBytes: 8192,
  });
}

/** A 2025-era session's header, opened with raw requests (its client can answer elicitations). */
async function session(url: string): Promise<Record<string, string>> {
  const init = await post(url, {
    ...INITIALIZE,
    params: { ...INITIALIZE.params, capabilities: { elicitation: {} } },
  });
  assert.equal(init.status, 200);
  await init.body?.cancel();
  const inSession = { 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' };
  const initialized = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, inSession);
  assert.equal(initialized.status, 202);
  return inSession;
}

describe('a client message is measured before it is parsed', () => {
  const cases: [what: string, text: string, values: number, problem?: RegExp, id?: string | number][] = [
    ['a call', callText(1, 'x', '{"a":[1,2],"b":{"c":"d"}}'), 11],
    ['brackets, braces and commas in strings count for nothing', '{"a":"[{,}]\\"[,","b":"\\\\"}', 2],
    ['a string that does not end', '{"a":"[[[[', 1],
    ['100,000 values', `[${'0,'.repeat(99_999)}0]`, 100_000],
    ['one more', `[${'0,'.repeat(100_000)}0]`, 100_001, /holds more than 100,000 JSON values/],
    [
      'a request past the bound names its id',
      callText(7, 'x', arrays('a', 60_000)),
      120_007,
      /JSON values/,
      7,
    ],
    [
      'its id read after its params, as a string with an escape',
      `{"jsonrpc":"2.0","method":"m","params":${arrays('a', 60_000)},"id":"q\\"1"}`,
      120_005,
      /JSON values/,
      'q"1',
    ],
    [
      'an id nested in the params is not the request’s',
      `{"jsonrpc":"2.0","method":"m","params":{"id":3,"a":${'['.repeat(200)}${']'.repeat(200)}}}`,
      205,
      /nests JSON more than 128 levels deep/,
    ],
    [
      'a response names no request',
      `{"jsonrpc":"2.0","id":4,"result":${arrays('a', 60_000)}}`,
      120_004,
      /JSON values/,
    ],
    ['128 levels', nested('a', 127), 128],
    ['129 levels', nested('a', 128), 129, /nests JSON more than 128 levels deep/],
  ];
  for (const [what, text, values, problem, id] of cases)
    it(`redteam-37-4: ${what}`, () => {
      const measured = jsonStructure(text);
      assert.equal(measured.values, values);
      if (problem === undefined) assert.equal(measured.problem, undefined);
      else assert.match(measured.problem ?? '', problem);
      assert.equal(measured.requestId, id);
    });
  it('redteam-37-4: the bounds are the ones documented', () => {
    assert.deepEqual(CLIENT_MESSAGE_BOUNDS, { maxValues: 100_000, maxDepth: 128 });
  });
});

describe(
  'HTTP: a body too many values make, or nested too deep, is refused before it is parsed',
  { timeout: 60_000 },
  () => {
    it('redteam-37-4: 413 with its id, for either era, and no server sees it; an honest call of 20,000 values is served', async () => {
      const h = await start({ tools: [tool('echo')] });
      try {
        // 2026-07-28, 150,000 arrays (300,000 values, 450 KB): parsed, scanned and sent on before.
        const modern = await callModern(h.url, 's__echo', {
          modernRows: Array.from({ length: 150_000 }, () => []),
        });
        assert.equal(modern.status, 413);
        assert.equal(modern.error?.code, -32600);
        assert.match(
          modern.error?.message ?? '',
          /^Payload too large: the body holds more than 100,000 JSON values/,
        );
        const inSession = await session(h.url);
        const legacy = await post(h.url, callText(41, 's__echo', arrays('legacyRows', 150_000)), inSession);
        assert.equal(legacy.status, 413);
        const refused = (await legacy.json()) as { id: unknown; error: { message: string } };
        assert.equal(refused.id, 41);
        assert.match(refused.error.message, /holds more than 100,000 JSON values/);
        const deep = await post(h.url, callText(42, 's__echo', nested('deepRows', 200)), inSession);
        assert.equal(deep.status, 413);
        assert.match(
          ((await deep.json()) as { error: { message: string } }).error.message,
          /128 levels deep/,
        );
        const honest = await post(h.url, callText(43, 's__echo', arrays('honestRows', 10_000)), inSession);
        assert.equal(honest.status, 200);
        assert.doesNotMatch(JSON.stringify(await honest.json()), /"error"/);
        const seen = h.seen();
        assert.match(seen, /honestRows/);
        assert.doesNotMatch(seen, /modernRows|legacyRows|deepRows/, 'the refused calls reached no server');
      } finally {
        await h.close();
      }
    });
  },
);

describe('HTTP: what request bodies hold at once is bounded', { timeout: 60_000 }, () => {
  it('redteam-37-4: eight bodies of 4 MiB declared fill the 32 MiB: the next request gets 503 and Retry-After; room again once they go', async () => {
    const h = await start({ tools: [] });
    const held: Socket[] = [];
    try {
      const inSession = await session(h.url);
      for (let i = 0; i < 8; i++) held.push(await heldBody(h.url, 4 * MiB, inSession));
      // Each takes its share as its headers are read: until then a ping fits.
      let refused = await ping(h.url, inSession);
      await until(async () => (refused = await ping(h.url, inSession)).status === 503, 'the budget to fill');
      assert.equal(refused.retryAfter, '1');
      assert.match(
        refused.message ?? '',
        /^Service Unavailable: request bodies already hold all the gateway gives them/,
      );
      for (const socket of held) socket.destroy();
      await until(async () => (await ping(h.url, inSession)).status === 200, 'their shares to be given back');
    } finally {
      for (const socket of held) socket.destroy();
      await h.close();
    }
  });

  it('redteam-37-4: a call whose client went away holds its body until it ends; served and refused requests give theirs back', async () => {
    const h = await start({ tools: [tool('ask'), tool('echo')] });
    let small: HttpListener | undefined;
    try {
      small = await smallListener(h.gateway);
      const { url } = small;
      const inSession = await session(url);
      const pad = 'p'.repeat(5000);
      // Twenty of each, one after another, in a budget that holds one: each gave its share back.
      for (let i = 0; i < 20; i++) {
        assert.equal((await callModern(url, 's__echo', { pad })).status, 200, `2026-07-28 call ${i}`);
        const legacy = await post(url, callText(100 + i, 's__echo', JSON.stringify({ pad })), inSession);
        assert.equal(legacy.status, 200, `2025-era call ${i}`);
        await legacy.body?.cancel();
        assert.equal((await post(url, `{"pad":"${pad}"`, inSession)).status, 400, `refused body ${i}`);
        const tooMany = await post(url, callText(200 + i, 's__echo', arrays('a', 60_000)), inSession);
        assert.equal(tooMany.status, 413, `over the structure bound ${i}`);
      }
      assert.equal((await ping(url, inSession, 3000)).status, 200, 'a ping of 3,000 bytes fits alone');
      const gone = new AbortController();
      const call = await fetch(url, {
        method: 'POST',
        headers: { ...POST_HEADERS, ...inSession },
        body: callText(5, 's__ask', JSON.stringify({ pad })),
        signal: gone.signal,
      });
      const question = await firstEvent(call.body!);
      gone.abort();
      // The call still runs (a disconnection is no cancellation): its arguments are still held.
      for (let i = 0; i < 10; i++) {
        const refused = await ping(url, inSession, 3000);
        assert.equal(refused.status, 503, `try ${i}: the gone client's call still holds its body`);
        await new Promise((ok) => setTimeout(ok, 50));
      }
      const answered = await post(
        url,
        { jsonrpc: '2.0', id: question.id, result: { action: 'accept', content: { allow: true } } },
        inSession,
      );
      assert.equal(answered.status, 202);
      await until(
        async () => (await ping(url, inSession, 3000)).status === 200,
        'the ended call to give its share back',
      );
    } finally {
      await small?.close();
      await h.close();
    }
  });

  it('redteam-37-4: a body refused for room is read and dropped, so its client gets the 503, and a chunked one is counted as it comes', async () => {
    const h = await start({ tools: [] });
    let small: HttpListener | undefined;
    try {
      small = await smallListener(h.gateway);
      const { url } = small;
      const inSession = await session(url);
      const holder = await heldBody(url, 6000, inSession);
      try {
        await until(
          async () => (await ping(url, inSession, 3000)).status === 503,
          'the first body to take its share',
        );
        // No Content-Length: 4,000 bytes in chunks, past the room left, the request ended.
        const chunked = await new Promise<number>((resolve, reject) => {
          const req = request(url, { method: 'POST', headers: { ...POST_HEADERS, ...inSession } });
          req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.write(`{"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":"`);
          for (let i = 0; i < 4; i++) req.write('c'.repeat(1000));
          req.end('"}}');
        });
        assert.equal(chunked, 503);
      } finally {
        holder.destroy();
      }
      await until(async () => (await ping(url, inSession, 3000)).status === 200, 'room again');
    } finally {
      await small?.close();
      await h.close();
    }
  });
});

describe('HTTP: a request nobody answers any more does not keep its body', { timeout: 60_000 }, () => {
  it('redteam-37-4: a request cancelled in its own batch gives its share back (the SDK drops its answer)', async () => {
    const h = await start({ tools: [] });
    let small: HttpListener | undefined;
    const gone = new AbortController();
    try {
      small = await smallListener(h.gateway);
      const { url } = small;
      const inSession = await session(url);
      const batch = [
        { jsonrpc: '2.0', id: 41, method: 'ping', params: { _meta: { pad: 'x'.repeat(5000) } } },
        { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 41 } },
      ];
      const cancelled = fetch(url, {
        method: 'POST',
        headers: { ...POST_HEADERS, ...inSession },
        body: JSON.stringify(batch),
        signal: gone.signal,
      }).then(
        (r) => r.status,
        () => 0,
      );
      await until(
        async () => (await ping(url, inSession, 3000)).status === 200,
        'the cancelled request to give its share back',
      );
      assert.equal(await cancelled, 202, 'nothing is left to answer');
    } finally {
      gone.abort();
      await small?.close();
      await h.close();
    }
  });

  it('redteam-37-4: a subscriptions/listen stream held open does not hold the share of its body', async () => {
    const h = await start({ tools: [] });
    let small: HttpListener | undefined;
    const streams: { destroy: () => void }[] = [];
    try {
      small = await smallListener(h.gateway);
      const { url } = small;
      const inSession = await session(url);
      for (let i = 0; i < 3; i++) {
        const answer = await openListen(url, 60 + i, 5000, streams);
        assert.equal(answer, '200 text/event-stream', `listen ${i} is open`);
      }
      assert.equal((await ping(url, inSession, 3000)).status, 200, 'a ping fits while the streams are open');
    } finally {
      for (const s of streams) s.destroy();
      await small?.close();
      await h.close();
    }
  });
});

describe('a subscriptions/listen request is small', () => {
  it('redteam-37-4: one of more than 64 KiB is refused with 413 and its id (an open stream keeps what it was opened with)', async () => {
    const h = await start({ tools: [] });
    const streams: { destroy: () => void }[] = [];
    try {
      assert.equal(await openListen(h.url, 70, 1000, streams), '200 text/event-stream');
      const refused = await openListen(h.url, 71, 70_000, streams);
      assert.match(
        refused,
        /^413 application\/json .*subscriptions\/listen request of more than 65536 bytes/,
      );
      assert.match(refused, /"id":71\}$/);
    } finally {
      for (const s of streams) s.destroy();
      await h.close();
    }
  });
});

/**
 * Opens a 2026-07-28 subscriptions/listen stream at `url` whose envelope is padded by `pad`
 * characters; its status and content type, and a refusal's body (the stream is kept in `streams`).
 */
function openListen(
  url: string,
  id: number,
  pad: number,
  streams: { destroy: () => void }[],
): Promise<string> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'subscriptions/listen',
    params: { notifications: { toolsListChanged: true }, _meta: { ...envelope(), pad: 'l'.repeat(pad) } },
  });
  return new Promise<string>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        ...POST_HEADERS,
        'mcp-protocol-version': MODERN,
        'mcp-method': 'subscriptions/listen',
        'content-length': Buffer.byteLength(body),
      },
    });
    streams.push(req);
    // Its first event (the acknowledgement) or, refused, its JSON answer.
    req.on('response', (res) => {
      res.once('data', (chunk: Buffer) => {
        const type = String(res.headers['content-type']);
        resolve(
          `${res.statusCode} ${type}${type.startsWith('application/json') ? ` ${chunk.toString('utf8')}` : ''}`,
        );
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('stdio: a line too many values make is refused before it is parsed', () => {
  it('redteam-37-4: its request is answered with why, a notification is dropped, each is reported, and the next line is served', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const transport = new AgentTransport(input, output);
    const messages: unknown[] = [];
    const errors: string[] = [];
    transport.onmessage = (m) => messages.push(m);
    transport.onerror = (e) => errors.push(e.message);
    await transport.start();
    let written = '';
    output.on('data', (chunk: Buffer) => (written += chunk.toString()));
    try {
      input.write(`${callText(7, 'x', arrays('a', 150_000))}\n`);
      input.write(`{"jsonrpc":"2.0","method":"notifications/x","params":${nested('a', 200)}}\n`);
      input.write('{"jsonrpc":"2.0","id":8,"method":"ping"}\n');
      await until(() => messages.length > 0 && written.includes('\n'), 'the ping and the refusal');
      assert.deepEqual(messages, [{ jsonrpc: '2.0', id: 8, method: 'ping' }]);
      const answers = written
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(answers, [
        {
          jsonrpc: '2.0',
          id: 7,
          error: {
            code: -32600,
            message:
              'Invalid Request: the message holds more than 100,000 JSON values (arrays, objects and their members); send large data as one string',
          },
        },
      ]);
      assert.equal(errors.length, 2);
      assert.match(
        errors[0] ?? '',
        /^the MCP client sent a message that holds more than 100,000 JSON values/,
      );
      assert.match(errors[1] ?? '', /nests JSON more than 128 levels deep; it was refused$/);
    } finally {
      await transport.close();
    }
  });
});

/** The first event of an event stream (bounded by count and time). */
async function firstEvent(body: ReadableStream<Uint8Array>): Promise<{ id?: number }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const data = text.split('\n').find((l) => l.startsWith('data: ') && text.includes('\n\n'));
    if (data !== undefined) {
      reader.releaseLock();
      return JSON.parse(data.slice(6)) as { id?: number };
    }
  }
  throw new Error('no event came');
}
