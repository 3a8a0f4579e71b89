// The timed loops of the MCP benchmark, all at concurrency 1 (one request in flight), each bounded
// by a count and by a deadline: tools/call of echo, tools/list, and a gateway's cold start until
// its first tools/list answers (and direct clients' cold start, its reference). Latency is the
// driver's wall time around one awaited SDK call.

import { cpuUsage } from 'node:process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { processCpuUs } from './procs.mjs';
import { buildGateway, MESSAGE, UPSTREAM_ARGV } from './setup.mjs';

const cpuUs = (u) => u.user + u.system;

/** Checks one echo answer; returns an error text or undefined. */
function badEcho(result) {
  if (result?.isError) return `isError: ${JSON.stringify(result.content).slice(0, 200)}`;
  const text = result?.content?.[0]?.text;
  return text === `Echo: ${MESSAGE}`
    ? undefined
    : `unexpected result ${JSON.stringify(result).slice(0, 200)}`;
}

/**
 * Up to `count` echo calls, stopping at `deadline` (performance.now() time). Returns the latency
 * of each (ms), the errors, the wall time and the CPU time of the driver and of the peer's process.
 */
export async function timeCalls(peer, count, deadline) {
  const ms = [];
  const errors = [];
  const args = { name: peer.tool, arguments: { message: MESSAGE } };
  const cpu0 = cpuUsage();
  const peerCpu0 = peer.pid ? processCpuUs(peer.pid) : NaN;
  const t0 = performance.now();
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const started = performance.now();
    try {
      const result = await peer.client.callTool(args);
      const took = performance.now() - started;
      const bad = badEcho(result);
      if (bad) errors.push(bad);
      else ms.push(took);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
      if (errors.length > 20) break;
    }
  }
  const wallMs = performance.now() - t0;
  return {
    ms,
    errors,
    wallMs,
    driverCpuUs: cpuUs(cpuUsage(cpu0)),
    peerCpuUs: peer.pid ? processCpuUs(peer.pid) - peerCpu0 : null,
  };
}

/** Up to `count` tools/list requests before `deadline`; each must return `expect` tools. */
export async function timeLists(client, count, deadline, expect) {
  const ms = [];
  const errors = [];
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const started = performance.now();
    try {
      const { tools } = await client.listTools();
      const took = performance.now() - started;
      if (expect !== undefined && tools.length !== expect)
        errors.push(`listed ${tools.length} tools, expected ${expect}`);
      else ms.push(took);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
      if (errors.length > 20) break;
    }
  }
  return { ms, errors };
}

/**
 * A gateway from nothing: build it (policy, engine, spool), start() (spawns and initialises every
 * upstream), connect a client (initialize) and list. Returns the time from construction until the
 * list came back, the phases, the number of tools listed, and the live handle (the caller closes it).
 */
export async function coldStart({ servers, dir, pinFile }) {
  const t0 = performance.now();
  const built = buildGateway({ servers, dir, pinFile });
  await built.gateway.start();
  const tStarted = performance.now();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await built.gateway.createServer().connect(serverSide);
  const client = new Client({ name: 'perimeter-mcp-bench', version: '1.0.0' });
  await client.connect(clientSide);
  const { tools } = await client.listTools();
  const t1 = performance.now();
  const ready = built.gateway.upstreams.filter((u) => u.isReady).length;
  return {
    totalMs: t1 - t0,
    startMs: tStarted - t0,
    firstListMs: t1 - tStarted,
    tools: tools.length,
    upstreamsReady: ready,
    client,
    close: async () => {
      await client.close().catch(() => undefined);
      await built.close();
    },
  };
}

/**
 * `servers` direct SDK clients, each spawning its own server-everything (unsandboxed), all at once
 * as a gateway starts its upstreams, until every one has initialised and listed: the reference for
 * cold starts. The SDK gives each server its default environment (no NODE_EXTRA_CA_CERTS). Returns
 * the time from the first spawn until the last list came back, the tools listed in all, and
 * close(); on failure the clients are closed and the error thrown.
 */
export async function directStart(servers, timeoutMs) {
  const clients = [];
  const closeAll = () => Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  const t0 = performance.now();
  try {
    const counts = await Promise.all(
      Array.from({ length: servers }, async () => {
        const client = new Client({ name: 'perimeter-mcp-bench', version: '1.0.0' });
        clients.push(client);
        const transport = new StdioClientTransport({
          command: UPSTREAM_ARGV[0],
          args: UPSTREAM_ARGV.slice(1),
          stderr: 'pipe',
        });
        await client.connect(transport, { timeout: timeoutMs });
        const { tools } = await client.listTools(undefined, { timeout: timeoutMs });
        return tools.length;
      }),
    );
    return { totalMs: performance.now() - t0, tools: counts.reduce((a, b) => a + b, 0), close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
