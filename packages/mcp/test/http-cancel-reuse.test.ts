// redteam-38-2: a 2025-era client that cancels a call and at once sends a new call with the same
// id gets the new call's answer, never the cancelled one's. The SDK cancels a request in a
// notification handler it runs a microtask later, while the endpoint let the id go at once: a
// request with that id that reached the SDK in between took the id's place, the cancellation then
// stopped it instead, and the old call, left running, answered it (a slow tool's answer to an
// echo). Pipelined on one connection, as a client that reuses ids as soon as it may would send.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { Server } from '@modelcontextprotocol/server';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { HttpSession } from '../src/http-session.js';
import { INITIALIZE, POST_HEADERS, post, start, tool, until } from './http-harness.js';

/** What HttpSession writes a POST's answer to: its status and body, and when it ended. */
class Answer extends EventEmitter {
  headersSent = false;
  status = 0;
  body = '';
  writeHead(status: number): this {
    this.status = status;
    this.headersSent = true;
    return this;
  }
  write(text: string): boolean {
    this.body += text;
    return true;
  }
  end(text?: string): this {
    this.body += text ?? '';
    this.emit('finish');
    return this;
  }
  flushHeaders(): void {}
  done(): Promise<string> {
    return new Promise((resolve) => this.once('finish', () => resolve(this.body)));
  }
}

/** Raw HTTP/1.1 POSTs written at once on one connection; resolves with everything read until it goes quiet or ends. */
function pipelined(
  url: string,
  bodies: readonly unknown[],
  headers: Record<string, string>,
): Promise<string> {
  const { hostname, port, host } = new URL(url);
  const requests = bodies
    .map((b) => {
      const body = JSON.stringify(b);
      const lines = Object.entries({
        ...POST_HEADERS,
        ...headers,
        host,
        'content-length': String(Buffer.byteLength(body)),
      }).map(([k, v]) => `${k}: ${v}`);
      return `POST /mcp HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
    })
    .join('');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let quiet: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(text);
    };
    const limit = setTimeout(done, 5_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // Both answers in: the second is the one that matters.
      if ((text.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && /\r\n\r\n[^]*\r\n\r\n[^]*\}\s*$/.test(text)) {
        clearTimeout(quiet);
        quiet = setTimeout(() => {
          clearTimeout(limit);
          done();
        }, 200);
      }
    });
    socket.on('end', () => {
      clearTimeout(limit);
      done();
    });
    socket.on('error', reject);
    socket.write(requests);
  });
}

describe('redteam-38-2: a cancelled request id reused at once', () => {
  it('the id stays in use until the SDK has taken the cancellation, then serves a new call', async () => {
    const server = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
    let started = 0;
    server.setRequestHandler('tools/call', async (req, ctx) => {
      if (req.params.name === 'slow') {
        started++;
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 400);
          ctx.mcpReq.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve(undefined);
          });
        });
      }
      return { content: [{ type: 'text' as const, text: `${req.params.name} answered` }] };
    });
    const session = new HttpSession('s1');
    await server.connect(session);
    const send = (messages: JSONRPCMessage[]): Answer => {
      const res = new Answer();
      session.post(res as unknown as ServerResponse, messages, false, {}, () => undefined);
      return res;
    };
    await send([INITIALIZE as JSONRPCMessage]).done();
    send([{ jsonrpc: '2.0', method: 'notifications/initialized' }]);
    const call = (name: string): JSONRPCMessage => ({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name, arguments: {} },
    });
    const slow = send([call('slow')]);
    await until(() => started === 1, 'the slow call under way');
    send([{ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } }]);
    // In the same turn the id is still in use: a request reusing it is refused (http.ts asks this).
    assert.equal(session.isPending(7), true, 'the id is let go before the SDK took the cancellation');
    await until(() => !session.isPending(7), 'the id let go');
    const echo = await send([call('echo')]).done();
    assert.match(echo, /echo answered/);
    assert.equal(slow.body, '', 'the cancelled call is not answered');
    await session.close();
  });

  it('the new call gets its own answer (or is told the id is still in use), never the cancelled call’s', async () => {
    const h = await start({ tools: [tool('slow'), tool('echo')] });
    try {
      for (let round = 0; round < 5; round++) {
        const init = await post(h.url, INITIALIZE);
        const inSession = { 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' };
        await init.body?.cancel();
        const initialized = await post(
          h.url,
          { jsonrpc: '2.0', method: 'notifications/initialized' },
          inSession,
        );
        await initialized.body?.cancel();
        const before = h
          .seen()
          .split('\n')
          .filter((l) => l.includes('"slow"')).length;
        const slow = post(
          h.url,
          {
            jsonrpc: '2.0',
            id: 7,
            method: 'tools/call',
            params: { name: 's__slow', arguments: { ms: 1_500 } },
          },
          inSession,
        ).then((r) => r.text());
        await until(
          () =>
            h
              .seen()
              .split('\n')
              .filter((l) => l.includes('"slow"')).length > before,
          'the slow call at the server',
        );
        const answers = await pipelined(
          h.url,
          [
            {
              jsonrpc: '2.0',
              method: 'notifications/cancelled',
              params: { requestId: 7, reason: 'changed my mind' },
            },
            {
              jsonrpc: '2.0',
              id: 7,
              method: 'tools/call',
              params: { name: 's__echo', arguments: { n: round } },
            },
          ],
          inSession,
        );
        const second = answers.slice(answers.lastIndexOf('HTTP/1.1 '));
        assert.doesNotMatch(
          second,
          /slow:/,
          `round ${round}: the cancelled call's answer came back for the new one:\n${second}`,
        );
        assert.match(
          second,
          /echo: \{\\"n\\":\d\}|request id 7 is already in use/,
          `round ${round}:\n${second}`,
        );
        await slow.catch(() => undefined);
      }
    } finally {
      await h.close();
    }
  });
});
