// What the gateway tests share: a gateway started from one policy text as perimeter mcp starts it
// (the policy loaded without errors, the engine, the catalog's upstreams, a pin store, the audit
// kept in an array), and the SDK's own client connected to it in memory.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { ClientCapabilities, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import type { KnownValue } from '@perimeter/detect';
import { createEngine, loadPolicies, type Engine } from '@perimeter/policy';
import { upstreamSpecs } from '../src/catalog.js';
import { Gateway } from '../src/gateway.js';
import { PinStore } from '../src/pins.js';
import { resolvedPath } from '../src/resolved-path.js';
import { boundValues } from '../src/server-credential.js';

/**
 * Writes a test server's spec (fixtures/scripted-server.ts reads it at every request, a silent list
 * every 50 ms): whole, then moved in place, so the server never reads half of it.
 */
export function writeSpec(file: string, spec: unknown): void {
  writeFileSync(`${file}.new`, JSON.stringify(spec));
  renameSync(`${file}.new`, file);
}

/** A tool taking one string, `text`, as the test servers list them. */
export const tool = (name: string, description = `The ${name} tool.`): Tool => ({
  name,
  description,
  inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
});

export interface GatewaySetup {
  readonly home: string;
  /** The workspace of the engine and of `${workspace}` in the catalog. */
  readonly workspace: string;
  /** The audit context's session id. */
  readonly sessionId: string;
  /** The local pin store (`pins.json` in `home` unless said). */
  readonly pinsFile?: string;
  /** Real values of bound credentials, handed to the gateway as they are. */
  readonly credentials?: readonly KnownValue[];
  /**
   * The secret store's values, as perimeter mcp reads them once: each server gets the credential
   * its catalog entry names from them, and the gateway scans for the bound ones.
   */
  readonly secrets?: ReadonlyMap<string, string>;
}

export interface StartedGateway {
  readonly engine: Engine;
  readonly gateway: Gateway;
  readonly pins: PinStore;
  /** Every audit record, in order. */
  readonly events: AuditRecord[];
}

/** A started gateway under `policyYaml`, which must load without an error. */
export async function startGateway(policyYaml: string, setup: GatewaySetup): Promise<StartedGateway> {
  const loaded = loadPolicies([{ file: `${setup.sessionId}.yaml`, text: policyYaml }]);
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: setup.home, workspace: setup.workspace }, resolvePath: resolvedPath },
  );
  const { secrets } = setup;
  const events: AuditRecord[] = [];
  const pins = new PinStore(setup.pinsFile ?? join(setup.home, 'pins.json'));
  const gateway = new Gateway({
    engine,
    servers: upstreamSpecs(engine.mcpServers(), {
      workspace: setup.workspace,
      ...(secrets ? { engine, secrets } : {}),
    }),
    pins,
    audit: (r) => events.push(r),
    context: { sessionId: setup.sessionId },
    credentials: [...(setup.credentials ?? []), ...(secrets ? boundValues(engine, secrets) : [])],
  });
  await gateway.start();
  return { engine, gateway, pins, events };
}

/** A started gateway whose one server, `id`, is the remote MCP server at `url`, every tool of it allowed. */
export function startRemoteGateway(id: string, url: string, setup: GatewaySetup): Promise<StartedGateway> {
  return startGateway(
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: remote-${id}-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: ${id}, url: ${JSON.stringify(url)} }
  allow:
    - { id: all, server: ${id}, tools: ["*"] }
`,
    setup,
  );
}

/**
 * The SDK's client named `name`, connected to a new session of `gateway` over an in-memory pair;
 * `serverSide` may change the gateway's end before it is connected (how it sends).
 */
export async function inMemoryClient(
  gateway: Gateway,
  name: string,
  capabilities?: ClientCapabilities,
  serverSide?: (transport: InMemoryTransport) => void,
): Promise<Client> {
  const [clientSide, gatewaySide] = InMemoryTransport.createLinkedPair();
  serverSide?.(gatewaySide);
  await gateway.createServer().connect(gatewaySide);
  const client = new Client({ name, version: '1.0.0' }, capabilities ? { capabilities } : {});
  await client.connect(clientSide);
  return client;
}

/**
 * The URL of the MCP endpoint (`/mcp`) of an HTTP server fixture that prints `PORT N` once it
 * listens on 127.0.0.1; the process is added to `children`, which the caller kills.
 */
export async function fixtureUrl(
  script: string,
  args: readonly string[],
  children: ChildProcess[],
): Promise<string> {
  const server = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  const port = await new Promise<string>((ok, fail) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) ok(m[1] ?? '');
    });
    server.once('exit', (code) => fail(new Error(`the fixture exited (${String(code)})`)));
  });
  return `http://127.0.0.1:${port}/mcp`;
}

/** A promise and its resolve (Node 20 has no Promise.withResolvers). */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve = (_: T): void => undefined;
  const promise = new Promise<T>((ok) => (resolve = ok));
  return { promise, resolve };
}

/** Waits until `check` holds (at most 10 s), failing with `what` it waited for. */
export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}
