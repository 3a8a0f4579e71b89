// An upstream that speaks only MCP 2026-07-28 (fixtures/modern-only-server.ts: the v2 SDK with
// `legacy: 'reject'`), over stdio and over Streamable HTTP. With `protocol: 2026-07-28` in its
// catalog entry the gateway lists its tools, calls them, hears of its list changes and holds a
// new tool until approved, as for any other server; without it the server is unavailable, and the
// reason says which setting reaches it.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { inMemoryClient, startGateway, type StartedGateway } from './gateway-harness.js';

const MODERN = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/modern-only-server.js');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-modern-')));
let runs = 0;

after(() => rmSync(root, { recursive: true, force: true }));

/** A gateway whose one server, `modern`, is the catalog entry `entry` (YAML flow mapping fields). */
async function gatewayWith(entry: string, pinning: 'tofu' | 'approve' = 'tofu'): Promise<StartedGateway> {
  const dir = join(root, `g${++runs}`);
  return startGateway(
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: modern-test, layer: org }
mcp:
  pinning: ${pinning}
  servers:
    - { id: modern, ${entry} }
  allow:
    - { id: all, server: modern, tools: ["*"] }
`,
    { home: dir, workspace: root, sessionId: `modern-${runs}` },
  );
}

const q = JSON.stringify;
const stdioEntry = (protocol?: string): string =>
  `command: [${q(process.execPath)}, ${q(MODERN)}]${protocol ? `, protocol: "${protocol}"` : ''}`;

/** Waits until `ready()` holds, for at most 5 s. */
async function until(ready: () => boolean, what: string): Promise<void> {
  const from = Date.now();
  while (!ready()) {
    if (Date.now() - from > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lists, calls, grows the list and checks the new tool is held until approved (pinning: approve). */
async function exercise(started: StartedGateway): Promise<void> {
  const { gateway, pins, events } = started;
  const client = await inMemoryClient(gateway, 'agent');
  try {
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, [], 'under approve, nothing is listed before a person approves it');
    pins.approve('modern', undefined);
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), [
      'modern__echo',
      'modern__grow',
    ]);
    const echoed = await client.callTool({ name: 'modern__echo', arguments: { text: 'hello' } });
    assert.deepEqual(echoed.content, [{ type: 'text', text: 'hello' }]);
    assert.equal(
      JSON.stringify(echoed).includes('io.modelcontextprotocol/serverInfo'),
      false,
      "the upstream's serverInfo stamp does not reach the agent as Perimeter's",
    );
    await client.callTool({ name: 'modern__grow', arguments: {} });
    await until(() => changes > 0, 'tools/list_changed from the gateway');
    assert.deepEqual(
      (await client.listTools()).tools.map((t) => t.name).sort(),
      ['modern__echo', 'modern__grow'],
      'the new tool is held until approved',
    );
    const held = events.find((e) => e.type === 'mcp.tool-held' && e.outcome?.tool === 'shout');
    assert.ok(held, `mcp.tool-held for shout in ${events.map((e) => e.type).join(',')}`);
    pins.approve('modern', 'shout');
    const shout = await client.callTool({ name: 'modern__shout', arguments: { text: 'hi' } });
    assert.deepEqual(shout.content, [{ type: 'text', text: 'HI' }]);
    const ready = events.find((e) => e.type === 'mcp.server.ready');
    assert.equal(ready?.outcome?.server_name, 'modern-only');
    assert.ok(events.some((e) => e.type === 'mcp.call' && e.decision === 'allow'));
  } finally {
    await client.close();
    await gateway.close();
  }
}

describe('an upstream that speaks only 2026-07-28', () => {
  it('over stdio, with protocol: 2026-07-28: listed, called, its list change heard and the new tool held until approved', async () => {
    await exercise(await gatewayWith(stdioEntry('2026-07-28'), 'approve'));
  });

  it('over stdio, without it: unavailable, and the reason names the setting that reaches it', async () => {
    const { gateway, events } = await gatewayWith(stdioEntry());
    const client = await inMemoryClient(gateway, 'agent');
    try {
      assert.deepEqual((await client.listTools()).tools, []);
      const down = events.find((e) => e.type === 'mcp.server.unavailable');
      assert.match(String(down?.outcome?.reason), /2026-07-28/);
      assert.match(String(down?.outcome?.reason), /protocol: 2026-07-28/);
    } finally {
      await client.close();
      await gateway.close();
    }
  });

  describe('over Streamable HTTP', () => {
    let server: ChildProcess;
    let url = '';
    before(async () => {
      server = spawn(process.execPath, [MODERN, 'http'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const port = await new Promise<string>((ok, fail) => {
        let out = '';
        server.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /PORT (\d+)/.exec(out);
          if (m) ok(m[1] ?? '');
        });
        server.once('exit', (code) => fail(new Error(`the fixture exited (${String(code)})`)));
      });
      url = `http://127.0.0.1:${port}/mcp`;
    });
    after(() => server.kill());

    it('with protocol: 2026-07-28: listed, called, its list change heard and the new tool held until approved', async () => {
      await exercise(await gatewayWith(`url: ${q(url)}, protocol: "2026-07-28"`, 'approve'));
    });

    it('without it: unavailable, and the reason names the setting that reaches it', async () => {
      const { gateway, events } = await gatewayWith(`url: ${q(url)}`);
      const client = await inMemoryClient(gateway, 'agent');
      try {
        assert.deepEqual((await client.listTools()).tools, []);
        const down = events.find((e) => e.type === 'mcp.server.unavailable');
        assert.match(String(down?.outcome?.reason), /protocol: 2026-07-28/);
      } finally {
        await client.close();
        await gateway.close();
      }
    });
  });
});
