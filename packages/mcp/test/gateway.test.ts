// The gateway end to end with software nobody here wrote: @modelcontextprotocol/server-everything
// and server-filesystem as upstreams over stdio, the SDK's own client in front, plus a deliberately
// malicious server (fixtures/malicious-server.ts). Ids `mcp-threat-NN` are the threat rows of
// research/mcp-gateways.md §5.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import type { Gateway } from '../src/gateway.js';
import type { PinStore } from '../src/pins.js';
import { inMemoryClient, startGateway } from './gateway-harness.js';
import { LEAKED } from './fixtures/leaked.js';

const require = createRequire(import.meta.url);
const serverMain = (pkg: string): string =>
  join(dirname(require.resolve(`${pkg}/package.json`)), 'dist/index.js');
const EVERYTHING = serverMain('@modelcontextprotocol/server-everything');
const FILESYSTEM = serverMain('@modelcontextprotocol/server-filesystem');
const MALICIOUS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/malicious-server.js');
const STRIPE = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-')));
const files = join(root, 'files');
mkdirSync(join(files, 'allowed'), { recursive: true });
writeFileSync(join(files, 'hello.txt'), 'hello from the filesystem server\n');

function policy(pinning: 'tofu' | 'approve', secrets: 'block' | 'redact'): string {
  return `apiVersion: perimeter/v1
kind: Policy
metadata: { name: gateway-test, layer: org }
mcp:
  pinning: ${pinning}
  secrets: ${secrets}
  servers:
    - { id: everything, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}, stdio], env: { DEPLOY_TOKEN: ${LEAKED} } }
    - { id: filesystem, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FILESYSTEM)}, ${JSON.stringify(files)}] }
    - { id: malicious, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(MALICIOUS)}] }
    - { id: broken, command: [${JSON.stringify(process.execPath)}, -e, "process.exit(3)"] }
  allow:
    - { id: everything-read, server: everything, tools: [echo, get-sum, get-env] }
    - { id: fs-read, server: filesystem, annotations: { readOnlyHint: true } }
    - id: fs-write-allowed
      server: filesystem
      tools: [write_file]
      args: { path: { glob: ${JSON.stringify(`${files}/allowed/**`)} } }
    - { id: malicious-all, server: malicious, tools: ["*"] }
  deny:
    - { id: no-move, server: filesystem, tools: [move_file] }
`;
}

interface Harness {
  readonly client: Client;
  readonly gateway: Gateway;
  readonly pins: PinStore;
  readonly events: AuditRecord[];
  close(): Promise<void>;
}

async function start(
  name: string,
  pinning: 'tofu' | 'approve' = 'tofu',
  secrets: 'block' | 'redact' = 'block',
): Promise<Harness> {
  const { gateway, pins, events } = await startGateway(policy(pinning, secrets), {
    home: root,
    workspace: root,
    sessionId: name,
    pinsFile: join(root, `${name}-pins.json`),
  });
  const client = await inMemoryClient(gateway, 'gateway-test');
  return {
    client,
    gateway,
    pins,
    events,
    close: async () => {
      await client.close();
      await gateway.close();
    },
  };
}

async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name).sort();
}

/** The error a call fails with, its tool name replaced, so two errors can be compared. */
async function failure(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  try {
    await client.callTool({ name, arguments: args });
  } catch (e) {
    assert.ok(e instanceof McpError, `an MCP error, got ${String(e)}`);
    return `${e.code} ${e.message.split(name).join('NAME')}`;
  }
  return assert.fail(`${name} was called`);
}

function textOf(result: unknown): string {
  return JSON.stringify(result);
}

describe('gateway: listing and calling, one predicate', { timeout: 120_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await start('listing');
  });
  after(async () => {
    await h.close();
  });

  it('mcp-threat-12: lists only what the policy allows, as server__tool, and every listed tool answers a call', async () => {
    const names = await toolNames(h.client);
    assert.deepEqual(
      names.filter((n) => n.startsWith('everything__')),
      ['everything__echo', 'everything__get-env', 'everything__get-sum'],
    );
    assert.ok(names.includes('filesystem__read_text_file'));
    assert.ok(names.includes('filesystem__write_file'), 'an argument-bound allow is listed');
    assert.ok(!names.includes('filesystem__move_file'), 'denied');
    assert.ok(!names.includes('filesystem__edit_file'), 'no allow: default deny');
    const sum = await h.client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 3 } });
    assert.match(textOf(sum), /5/);
    const read = await h.client.callTool({
      name: 'filesystem__read_text_file',
      arguments: { path: join(files, 'hello.txt') },
    });
    assert.match(textOf(read), /hello from the filesystem server/);
  });

  it('mcp-threat-15: a denied tool, a tool with no allow, a quarantined tool and an unknown tool fail alike', async () => {
    const unknown = await failure(h.client, 'everything__no-such-tool');
    assert.equal(unknown, '-32602 MCP error -32602: Tool NAME not found');
    assert.equal(
      await failure(h.client, 'filesystem__move_file', { source: 'a', destination: 'b' }),
      unknown,
    );
    assert.equal(await failure(h.client, 'everything__gzip-file-as-resource'), unknown);
    assert.equal(await failure(h.client, 'malicious__add_note', { text: 'x' }), unknown);
    assert.equal(await failure(h.client, 'no_separator'), unknown);
    const denials = h.events.filter((e) => e.type === 'mcp.call' && e.decision === 'deny');
    const why = denials.map((e) => `${e.request?.resource}: ${e.reason}`).join('\n');
    assert.match(why, /filesystem\/move_file: .*no-move/);
    assert.match(why, /everything\/gzip-file-as-resource: /);
    assert.match(why, /malicious\/add_note: held: quarantined/);
    assert.match(why, /no tool is exposed as everything__no-such-tool/);
  });

  it('decides every call again on its arguments: a write outside the allowed directory fails like an unknown tool', async () => {
    const inside = join(files, 'allowed/note.txt');
    await h.client.callTool({ name: 'filesystem__write_file', arguments: { path: inside, content: 'ok' } });
    assert.equal(readFileSync(inside, 'utf8'), 'ok');
    const unknown = await failure(h.client, 'filesystem__no-such-tool');
    const outside = await failure(h.client, 'filesystem__write_file', {
      path: join(files, 'x.txt'),
      content: 'no',
    });
    assert.equal(outside, unknown);
    const event = h.events.findLast(
      (e) => e.type === 'mcp.call' && e.request?.resource === 'filesystem/write_file',
    );
    assert.equal(event?.decision, 'deny');
    assert.deepEqual(event?.request?.argument_keys, ['content', 'path'], 'argument keys, never values');
    assert.doesNotMatch(JSON.stringify(event), /x\.txt/);
  });

  it('mcp-threat-01, mcp-threat-03: a poisoned description and a tool that points at another server are quarantined', async () => {
    const names = await toolNames(h.client);
    assert.ok(!names.includes('malicious__add_note'));
    assert.ok(!names.includes('malicious__fast_read'));
    assert.ok(names.includes('malicious__echo'));
    const quarantined = h.events.filter((e) => e.type === 'mcp.quarantine').map((e) => e.outcome?.tool);
    assert.deepEqual([...new Set(quarantined)].sort(), ['add_note', 'fast_read']);
    assert.ok(h.pins.snapshot().pending.malicious?.add_note, 'held for a person to review');
  });

  it('mcp-threat-05: a secret in a result is withheld, and the audit event names it without its value', async () => {
    const result = await h.client.callTool({ name: 'malicious__leak', arguments: {} });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /withheld/);
    assert.doesNotMatch(textOf(result), new RegExp(LEAKED));
    const env = await h.client.callTool({ name: 'everything__get-env', arguments: {} });
    assert.doesNotMatch(
      textOf(env),
      new RegExp(LEAKED),
      "server-everything's get-env would have shown its token",
    );
    // server-filesystem returns a file's text twice (content and structuredContent): the secret is
    // named once, to the agent and in the audit.
    const key = ['AKIA', 'IOSFODNN7EXAMPLQ'].join('');
    writeFileSync(join(files, 'deploy.env'), `AWS_ACCESS_KEY_ID=${key}\n`);
    const file = await h.client.callTool({
      name: 'filesystem__read_text_file',
      arguments: { path: join(files, 'deploy.env') },
    });
    assert.equal(file.isError, true);
    assert.match(
      textOf(file),
      /Perimeter withheld this result: it carried a secret \(aws-access-key-id \(AKIA…\([0-9a-f]+\)\)\)\./,
    );
    const alerts = h.events.filter((e) => e.type === 'mcp.secret');
    assert.ok(alerts.length >= 3);
    const fileAlert = alerts.find((e) => String(e.reason).includes('filesystem/read_text_file'));
    assert.equal(String(fileAlert?.reason).match(/aws-access-key-id/g)?.length, 1, String(fileAlert?.reason));
    assert.doesNotMatch(JSON.stringify(h.events), new RegExp(LEAKED));
    assert.doesNotMatch(JSON.stringify(h.events), new RegExp(key));
  });

  it('mcp-threat-05: a secret in the arguments stops the call before it reaches the server', async () => {
    const result = await h.client.callTool({
      name: 'everything__echo',
      arguments: { message: `key ${STRIPE}` },
    });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /Nothing was sent/);
    assert.doesNotMatch(textOf(result), new RegExp(STRIPE));
    const alert = h.events.find((e) => e.type === 'mcp.secret' && e.outcome?.direction === 'arguments');
    assert.equal(alert?.severity, 'high');
    assert.match(
      String(alert?.reason),
      /^Refused: a secret in the arguments of everything\/echo \(stripe-key/,
    );
    assert.doesNotMatch(JSON.stringify(h.events), new RegExp(STRIPE));
  });

  it('mcp-threat-05: prompts and resources that carry a secret are withheld', async () => {
    const prompts = (await h.client.listPrompts()).prompts.map((p) => p.name);
    assert.ok(prompts.includes('malicious__deploy_help'));
    await assert.rejects(h.client.getPrompt({ name: 'malicious__deploy_help' }), /withheld/);
    await assert.rejects(h.client.readResource({ uri: 'config://deploy' }), /withheld/);
  });

  it('a dead upstream does not take the others down, and is audited', () => {
    assert.ok(h.events.some((e) => e.type === 'mcp.server.unavailable' && e.outcome?.server === 'broken'));
    assert.ok(h.events.some((e) => e.type === 'mcp.server.ready' && e.outcome?.server === 'filesystem'));
  });

  it('records one event per listing, with the client name and version', () => {
    const list = h.events.find((e) => e.type === 'mcp.list');
    assert.equal(list?.session?.agent?.name, 'gateway-test');
    assert.equal(list?.session?.agent?.version, '1.0.0');
    assert.equal(typeof list?.outcome?.shown, 'number');
  });
});

describe('gateway: secrets: redact', { timeout: 120_000 }, () => {
  it('mcp-threat-05: with secrets: redact, the result arrives with the secret replaced by its fingerprint', async () => {
    const h = await start('redact', 'tofu', 'redact');
    try {
      const result = await h.client.callTool({ name: 'malicious__leak', arguments: {} });
      assert.notEqual(result.isError, true);
      assert.match(textOf(result), /status ok; deploy token \[REDACTED:gitlab/);
      assert.doesNotMatch(textOf(result), new RegExp(LEAKED));
      assert.doesNotMatch(JSON.stringify(h.events), new RegExp(LEAKED));
    } finally {
      await h.close();
    }
  });
});

describe('gateway: pinning', { timeout: 120_000 }, () => {
  it('mcp-threat-02: a definition that changes after it was pinned disappears until approved; the audit event carries the diff', async () => {
    const h = await start('drift');
    try {
      assert.ok((await toolNames(h.client)).includes('malicious__send_message'));
      const changed = new Promise<void>((resolve) =>
        h.client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()),
      );
      await h.client.callTool({ name: 'malicious__rug_pull', arguments: {} });
      await changed;
      assert.ok(!(await toolNames(h.client)).includes('malicious__send_message'));
      assert.equal(
        await failure(h.client, 'malicious__send_message', { text: 'hi' }),
        await failure(h.client, 'malicious__nope'),
      );
      const drift = h.events.find((e) => e.type === 'mcp.drift');
      assert.equal(drift?.outcome?.tool, 'send_message');
      assert.match(String(drift?.outcome?.diff), /description changed/);
      assert.match(String(drift?.outcome?.diff), /inputSchema\.properties\.bcc added/);
      assert.equal(drift?.severity, 'high');
      h.pins.approve('malicious', 'send_message');
      assert.ok((await toolNames(h.client)).includes('malicious__send_message'), 'visible once approved');
    } finally {
      await h.close();
    }
  });

  it('with pinning: approve, a tool never seen before is held until a person approves it', async () => {
    const h = await start('approve', 'approve');
    try {
      const names = await toolNames(h.client);
      assert.ok(!names.some((n) => n.startsWith('malicious__')), 'nothing of an unreviewed server is shown');
      assert.ok(h.events.some((e) => e.type === 'mcp.tool-held' && e.outcome?.tool === 'echo'));
      const approved = h.pins.approve('malicious', 'echo');
      assert.equal(approved.length, 1);
      assert.ok((await toolNames(h.client)).includes('malicious__echo'));
    } finally {
      await h.close();
    }
  });
});

after(() => {
  rmSync(root, { recursive: true, force: true });
});
