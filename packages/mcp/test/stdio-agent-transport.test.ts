// The agent's stdio to `perimeter mcp` is read by AgentTransport, not the SDK's StdioServerTransport,
// whose ReadBuffer joined each chunk onto all it held and searched it all again: a 9 MiB request
// line cost the gateway's only thread 0.4 s. Its lines are read once (MessageLines),
// bounded at 10 MiB, and handed to serveStdio exactly as the SDK's transport hands them; the
// input's end closes it, a line that is not a message is skipped, a send waits for a full output
// to drain, and a broken output closes it. Real pipes and the SDK's clients where they matter.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, describe, it, type TestContext } from 'node:test';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { AgentTransport } from '../src/agent-transport.js';
import { serveGatewayStdio } from '../src/stdio.js';
import { startGateway, until } from './gateway-harness.js';
import { bytesLookedAt } from './stand-in.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-agent-stdio-')));
after(() => rmSync(root, { recursive: true, force: true }));

const FIXTURE = join(import.meta.dirname, 'fixtures', 'stdio-gateway.js');
const MiB = 1024 * 1024;
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'caf\u00e9 \u{1F600}', version: '1' },
  },
};
const line = (message: object): string => `${JSON.stringify(message)}\n`;
/** A ping whose line is `bytes` long, newline included. */
function pingOf(id: number, bytes: number): string {
  const bare = line({ jsonrpc: '2.0', id, method: 'ping', params: { _meta: { pad: '' } } });
  return line({
    jsonrpc: '2.0',
    id,
    method: 'ping',
    params: { _meta: { pad: 'x'.repeat(bytes - bare.length) } },
  });
}

/** The gateway (no servers) served by serveGatewayStdio over in-process streams. */
async function served(t: TestContext): Promise<{
  readonly input: PassThrough;
  /** The answer to request `id`, once written. */
  readonly answer: (id: number | string) => Promise<Record<string, unknown>>;
}> {
  const input = new PassThrough();
  const output = new PassThrough();
  const { gateway } = await startGateway(
    'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: s, layer: org }\n',
    {
      home: root,
      workspace: root,
      sessionId: `agent-stdio-${Math.random()}`,
    },
  );
  const stdio = serveGatewayStdio(() => Promise.resolve(gateway), undefined, { input, output });
  t.after(async () => {
    await stdio.close();
    await gateway.close();
  });
  let text = '';
  const answers: Record<string, unknown>[] = [];
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      answers.push(JSON.parse(text.slice(0, nl)) as Record<string, unknown>);
      text = text.slice(nl + 1);
    }
  });
  const answer = async (id: number | string): Promise<Record<string, unknown>> => {
    await until(() => answers.some((a) => a.id === id), `the answer to ${id}`);
    return answers.find((a) => a.id === id)!;
  };
  return { input, answer };
}

/** The messages a transport over `input` delivers, the errors it reports, and whether it closed. */
async function delivered(
  transport: AgentTransport | StdioServerTransport,
): Promise<{ messages: JSONRPCMessage[]; errors: Error[]; closed: () => number }> {
  const messages: JSONRPCMessage[] = [];
  const errors: Error[] = [];
  let closed = 0;
  transport.onmessage = (m: JSONRPCMessage) => messages.push(m);
  transport.onerror = (e) => errors.push(e);
  transport.onclose = () => closed++;
  await transport.start();
  return { messages, errors, closed: () => closed };
}

void describe("the agent's stdio to perimeter mcp", { timeout: 60_000 }, () => {
  void it('answers a request of just under 10 MiB from the SDK client over pipes; its input ended, the gateway ends', async () => {
    const client = new Client({ name: 'agent', version: '1.0.0' });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [FIXTURE, root],
      stderr: 'ignore',
    });
    await client.connect(transport);
    const pid = transport.pid!;
    const pad = 'x'.repeat(10 * MiB - 1024);
    assert.deepEqual(
      await client.request({ method: 'ping', params: { _meta: { pad } } }, EmptyResultSchema),
      {},
    );
    assert.deepEqual((await client.listTools()).tools, []);
    await client.close();
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the gateway ended with its input');
  });

  void it('serves a 2026-07-28 client over pipes (its envelope reaches serveStdio as the SDK reads it)', async () => {
    const client = new ClientV2(
      { name: 'agent-v2', version: '2.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new StdioTransportV2({ command: process.execPath, args: [FIXTURE, root], stderr: 'ignore' }),
    );
    try {
      assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
      assert.deepEqual((await client.listTools()).tools, []);
    } finally {
      await client.close();
    }
  });

  void it('ends the connection on a line longer than 10 MiB: the gateway exits, where waiting left the request unanswered', async (t) => {
    const child = spawn(process.execPath, [FIXTURE, root], { stdio: ['pipe', 'pipe', 'ignore'] });
    t.after(() => child.kill('SIGKILL'));
    let exited: number | null | undefined;
    child.once('exit', (code) => (exited = code));
    child.stdin.on('error', () => undefined); // EPIPE: the gateway stopped reading, as it should
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stdin.write(line(INITIALIZE));
    await until(() => out.includes('"id":0'), 'the answer to initialize');
    child.stdin.write(pingOf(1, 10 * MiB + 2));
    await until(() => exited !== undefined, 'the gateway to exit');
    assert.equal(exited, 0);
    assert.ok(!out.includes('"id":1'));
  });

  void it('reads a line the pipe brings byte by byte whole, and skips a line that is not JSON-RPC to answer the next', async (t) => {
    const { input, answer } = await served(t);
    for (const byte of Buffer.from(line(INITIALIZE))) input.write(Buffer.of(byte));
    assert.equal((await answer(0)).error, undefined);
    input.write(
      `not json\n${line({ jsonrpc: '2.0', id: 'x', mood: 'odd' })}${line({ jsonrpc: '2.0', id: 2, method: 'ping' })}`,
    );
    assert.deepEqual((await answer(2)).result, {});
    input.write(line({ jsonrpc: '2.0', id: 3, method: 'tools/list' }));
    assert.deepEqual((await answer(3)).result, { tools: [] });
  });

  void it('looks at each byte of a 9 MiB request once, in the pipe’s chunks of 64 KiB', async (t) => {
    const { input, answer } = await served(t);
    input.write(line(INITIALIZE));
    await answer(0);
    // The SDK's transport joined and searched all it held again for each chunk: some 660 MiB
    // copied and as much searched for this line.
    const bytes = Buffer.from(pingOf(1, 9 * MiB));
    const { copied, searched } = bytesLookedAt(() => {
      for (let at = 0; at < bytes.length; at += 65_536) input.write(bytes.subarray(at, at + 65_536));
    });
    assert.deepEqual((await answer(1)).result, {});
    const isOnce = (n: number): boolean => n >= bytes.length - 1 && n <= bytes.length;
    assert.ok(isOnce(copied), `${copied} bytes copied for a line of ${bytes.length}`);
    assert.ok(isOnce(searched), `${searched} bytes searched for a line of ${bytes.length}`);
  });

  void it("delivers what the SDK's transport delivers, and reports the lines it skips", async () => {
    const lines = [
      line(INITIALIZE),
      line({
        jsonrpc: '2.0',
        id: 'm',
        method: 'tools/list',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' }, unknown: [1] },
      }).replace('\n', '\r\n'),
      'not json\n',
      line({ jsonrpc: '2.0', id: 'x', method: 'ping', mood: 'odd' }), // JSON, with a key JSON-RPC has not
      line({ jsonrpc: '2.0', id: 4, result: { a: 1 } }),
      line({ jsonrpc: '2.0', id: 5, error: { code: -1, message: 'no' } }),
      line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4 } }),
    ].join('');
    const input = (): PassThrough => new PassThrough();
    const ours = input();
    const theirs = input();
    const got = await delivered(new AgentTransport(ours, new PassThrough()));
    const want = await delivered(new StdioServerTransport(theirs, new PassThrough()));
    ours.write(lines);
    theirs.write(lines);
    assert.equal(got.messages.length, 5);
    assert.deepEqual(got.messages, want.messages);
    assert.deepEqual(
      got.errors.map((e) => e.message),
      Array(2).fill('the MCP client sent a line that is not a JSON-RPC message; it was skipped'),
    );
    assert.equal(got.closed(), 0);
  });

  void it('closes when its input ends, and then sends nothing', async () => {
    const input = new PassThrough();
    const transport = new AgentTransport(input, new PassThrough());
    const { closed } = await delivered(transport);
    input.end();
    await until(() => closed() === 1, 'the transport to close');
    await assert.rejects(transport.send({ jsonrpc: '2.0', id: 1, result: {} }), /closed/);
  });

  void it('reports a line longer than its bound and closes, ending its input', async () => {
    const input = new PassThrough();
    const { messages, errors, closed } = await delivered(new AgentTransport(input, new PassThrough(), 1024));
    input.write(`${line({ jsonrpc: '2.0', method: 'a' })}${'x'.repeat(600)}`);
    input.write('x'.repeat(600));
    assert.equal(messages.length, 1);
    assert.deepEqual(
      errors.map((e) => e.message),
      ['the MCP client sent a line longer than 0.0009765625 MiB; the connection is closed'],
    );
    assert.equal(closed(), 1);
    assert.ok(input.destroyed);
  });

  void it('reads no more of a client that takes none of its answers, until it takes them', async () => {
    // Before, every request read waited with its answer (and the SDK's state for it) for an
    // output that never drained: a client writing pings and reading nothing grew perimeter mcp by
    // some 200 MB a second.
    const taken: (() => void)[] = [];
    const output = new Writable({
      highWaterMark: 1024,
      write: (_, __, done) => void taken.push(() => done()),
    });
    const input = new PassThrough();
    const transport = new AgentTransport(input, output);
    let read = 0;
    transport.onmessage = (m) => {
      read++;
      // Answered as the SDK answers, which waits for the output; the last wait fails as it closes.
      if ('method' in m && 'id' in m)
        transport
          .send({ jsonrpc: '2.0', id: m.id, result: { pad: 'x'.repeat(2048) } })
          .catch(() => undefined);
    };
    await transport.start();
    for (let id = 1; id <= 100; id++) input.write(line({ jsonrpc: '2.0', id, method: 'ping' }));
    await new Promise((done) => setImmediate(done));
    assert.equal(read, 1, 'its first answer filled the output: nothing more is read');
    for (let i = 0; i < 1_000 && read < 100; i++) {
      while (taken.length > 0) taken.shift()?.();
      await new Promise((done) => setImmediate(done));
    }
    assert.equal(read, 100, 'read again as its answers are taken');
    await transport.close();
  });

  void it('waits for a full output to drain before a send resolves; a broken output closes it, thrown nowhere', async () => {
    const taken: (() => void)[] = [];
    const output = new Writable({ highWaterMark: 16, write: (_, __, done) => void taken.push(() => done()) });
    const transport = new AgentTransport(new PassThrough(), output);
    const { errors, closed } = await delivered(transport);
    const answer = { jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(64) } } as const;
    let sent = 0;
    const first = transport.send(answer).then(() => sent++);
    const second = transport.send(answer).then(() => sent++);
    await new Promise((done) => setImmediate(done));
    assert.equal(sent, 0, 'resolved before the output drained');
    while (taken.length > 0) taken.shift()?.();
    await Promise.all([first, second]);
    assert.equal(sent, 2);

    const waiting = transport.send(answer);
    const broken = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    output.destroy(broken);
    await assert.rejects(waiting, /closed/);
    assert.deepEqual(errors, [broken]);
    assert.equal(closed(), 1);
    output.emit('error', broken); // late: swallowed
    await assert.rejects(transport.send(answer), /closed/);
  });
});
