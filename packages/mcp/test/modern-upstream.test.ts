// An upstream that speaks only MCP 2026-07-28 (fixtures/modern-only-server.ts: the v2 SDK with
// `legacy: 'reject'`), over stdio and over Streamable HTTP. With `protocol: 2026-07-28` in its
// catalog entry the gateway lists its tools, calls them, hears of its list changes and holds a
// new tool until approved, as for any other server; without it the server is unavailable, and the
// reason says which setting reaches it.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { fixtureUrl, inMemoryClient, startGateway, until, type StartedGateway } from './gateway-harness.js';

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

/** Lists, calls, grows the list and checks the new tool is held until approved (pinning: approve). */
async function exercise(started: StartedGateway): Promise<void> {
  const { gateway, pins, events } = started;
  const client = await inMemoryClient(gateway, 'agent');
  try {
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    // Over HTTP the fixture has `restart` too (see the stream test below).
    const names = async (): Promise<string[]> =>
      (await client.listTools()).tools
        .map((t) => t.name)
        .filter((n) => n !== 'modern__restart')
        .sort();
    assert.deepEqual(await names(), [], 'under approve, nothing is listed before a person approves it');
    pins.approve('modern', undefined);
    assert.deepEqual(await names(), ['modern__echo', 'modern__grow']);
    const echoed = await client.callTool({ name: 'modern__echo', arguments: { text: 'hello' } });
    assert.deepEqual(echoed.content, [{ type: 'text', text: 'hello' }]);
    assert.equal(
      JSON.stringify(echoed).includes('io.modelcontextprotocol/serverInfo'),
      false,
      "the upstream's serverInfo stamp does not reach the agent as Perimeter's",
    );
    await client.callTool({ name: 'modern__grow', arguments: {} });
    await until(() => changes > 0, 'tools/list_changed from the gateway');
    assert.deepEqual(await names(), ['modern__echo', 'modern__grow'], 'the new tool is held until approved');
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

  it("a server with no tools is not asked for them: nothing is written to standard output (the agent's stream under perimeter mcp)", async (t) => {
    const debug = t.mock.method(console, 'debug');
    const warn = t.mock.method(console, 'warn');
    const entry = `command: [${q(process.execPath)}, ${q(MODERN)}, prompts-only], protocol: "2026-07-28"`;
    const { gateway } = await gatewayWith(entry);
    const client = await inMemoryClient(gateway, 'agent');
    try {
      assert.deepEqual((await client.listTools()).tools, []);
      assert.deepEqual(
        (await client.listPrompts()).prompts.map((p) => p.name),
        ['modern__plan'],
      );
      assert.equal(debug.mock.callCount() + warn.mock.callCount(), 0, 'the client printed nothing');
    } finally {
      await client.close();
      await gateway.close();
    }
  });

  describe('over Streamable HTTP', () => {
    const servers: ChildProcess[] = [];
    after(() => servers.forEach((s) => s.kill()));
    /** A fixture of its own (its tools grow): the URL of its endpoint. */
    const httpServer = (): Promise<string> => fixtureUrl(MODERN, ['http'], servers);

    it('with protocol: 2026-07-28: listed, called, its list change heard and the new tool held until approved', async () => {
      await exercise(await gatewayWith(`url: ${q(await httpServer())}, protocol: "2026-07-28"`, 'approve'));
    });

    it('a subscriptions/listen stream that ends is a connection lost: restarted, and list changes are heard again', async () => {
      const { gateway, events } = await gatewayWith(`url: ${q(await httpServer())}, protocol: "2026-07-28"`);
      const client = await inMemoryClient(gateway, 'agent');
      try {
        let changes = 0;
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
        assert.ok((await client.listTools()).tools.some((tool) => tool.name === 'modern__restart'));
        await client.callTool({ name: 'modern__restart', arguments: {} });
        await until(
          () => events.filter((e) => e.type === 'mcp.server.ready').length === 2,
          'the server to be connected again',
        );
        const crash = events.find((e) => e.type === 'mcp.server.crash');
        assert.match(String(crash?.outcome?.reason), /subscriptions\/listen stream ended/);
        const before = changes;
        await client.callTool({ name: 'modern__grow', arguments: {} });
        await until(() => changes > before, 'the list change, on the new stream');
        assert.ok((await client.listTools()).tools.some((tool) => tool.name === 'modern__shout'));
      } finally {
        await client.close();
        await gateway.close();
      }
    });

    it('without it: unavailable, and the reason names the setting that reaches it', async () => {
      const { gateway, events } = await gatewayWith(`url: ${q(await httpServer())}`);
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
