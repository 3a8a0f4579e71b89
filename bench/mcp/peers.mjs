// The configurations under test, each an SDK client (the driver) connected to server-everything over
// stdio through a different path: directly, through Perimeter's gateway in this process
// (InMemoryTransport), through Perimeter's gateway over Streamable HTTP in a process of its own,
// and through mcp-proxy and supergateway (their CLIs, Streamable HTTP); over HTTP, Perimeter and
// mcp-proxy also with the v2 SDK client speaking 2026-07-28. Each open() returns
// { key, label, client, tool, pid, setRecording(on), samples(), close() }.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { freePort, killGroup, spawnGroup } from './procs.mjs';
import { cliTransport, SANDBOX_READ } from './sandboxed.mjs';
import { benchPolicy, buildGateway, UPSTREAM_ARGV } from './setup.mjs';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const binOf = (pkg, bin) => {
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  const spec = require(`${pkg}/package.json`).bin;
  return join(dir, typeof spec === 'string' ? spec : spec[bin]);
};
export const MCP_PROXY = binOf('mcp-proxy', 'mcp-proxy');
export const SUPERGATEWAY = binOf('supergateway', 'supergateway');

const START_MS = 20_000;
// The peers run without NODE_EXTRA_CA_CERTS (Node reads that file at every start; nothing here
// uses TLS), as in the sandbox benchmark.
const PEER_ENV = { ...process.env };
delete PEER_ENV.NODE_EXTRA_CA_CERTS;
const CLIENT_INFO = { name: 'perimeter-mcp-bench', version: '1.0.0' };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const CONFIGS = [
  {
    key: 'direct',
    label: 'direct (SDK client → stdio)',
    transport: 'stdio',
    setup:
      'The SDK `Client` with `StdioClientTransport` spawns `node server-everything/dist/index.js stdio` and talks to it directly: the reference every other row is compared with.',
  },
  {
    key: 'perimeterInProcess',
    label: 'Perimeter, in-process (InMemory)',
    transport: 'in-memory',
    setup:
      "Perimeter's `Gateway` in the driver's own process, the client connected to `gateway.createServer()` through the SDK's `InMemoryTransport`; the gateway's upstream client talks to server-everything over stdio, spawned directly (unsandboxed, unlike under `perimeter mcp`). No HTTP: this row isolates what the gateway itself adds.",
  },
  {
    key: 'perimeterInProcessMemory',
    label: 'Perimeter, in-process, audit to memory (reference)',
    transport: 'in-memory',
    setup:
      'The same in-process gateway with its audit records pushed onto an array instead of the hash-chained spool: not a product configuration, it shows what the audit spool costs per call. Not judged against the targets.',
  },
  {
    key: 'perimeterStdio',
    label: 'Perimeter, stdio (`perimeter mcp`, sandboxed upstream)',
    transport: 'stdio',
    setup:
      'The product as an agent runs it by default: the SDK `Client` with `StdioClientTransport` spawns the real CLI, `perimeter mcp --policy FILE --audit FILE --workspace DIR` (the policy below, its catalog entry with `sandbox: { read: ["<repository>/node_modules/**"] }`), which starts server-everything in a sandbox of its own (bubblewrap with every namespace, the mount plan, seccomp, an egress proxy) and relays over stdio both ways. Its gateway\'s own times are read from the audit spool the CLI writes.',
  },
  {
    key: 'bareStdioRelay',
    label: 'bare relay, stdio (reference)',
    transport: 'stdio',
    setup:
      "A relay of about 30 lines (bench/mcp/bare-stdio-relay.mjs): the SDK `Client` with `StdioClientTransport` spawns it, it spawns server-everything, and each JSON line either way is parsed and written on as one line. No checks, nothing decided, scanned or recorded, no sandbox: not a product, it is the floor under the stdio row, what one more stdio hop costs on this machine. Not judged as a peer; the stdio row's added latency over it is in the targets table for reference.",
  },
  {
    key: 'perimeterHttp',
    label: 'Perimeter, Streamable HTTP',
    transport: 'streamable-http',
    setup:
      "Perimeter's `Gateway` with `listenHttp` on 127.0.0.1 in a child process of its own (bench/mcp/gateway-child.mjs, built as `perimeter mcp --listen` builds it but with its upstream unsandboxed), bearer token required, Host/Origin checks on, stateful sessions. Its Streamable HTTP transport is its own, on node:http (src/http-session.ts): a call is answered as one `application/json` body unless the gateway sends something for it first (an elicitation), which makes that answer an event stream.",
  },
  {
    key: 'perimeterHttpModern',
    label: 'Perimeter, Streamable HTTP, 2026-07-28',
    transport: 'streamable-http',
    setup:
      "The same Perimeter process, driven by the v2 SDK client (`@modelcontextprotocol/client`) pinned to protocol revision 2026-07-28: no session, every request carries its envelope and the `Mcp-Method`/`Mcp-Name` headers, and each is served by a fresh server instance of the gateway (the SDK's per-request handler); the gateway and its upstream session stay warm.",
  },
  {
    key: 'bareRelay',
    label: 'bare relay, Streamable HTTP (reference)',
    transport: 'streamable-http',
    setup:
      "A relay of about 60 lines on node:http (bench/mcp/bare-relay.mjs) in a process of its own: each POSTed message is written to server-everything's stdin as it came and the response line is sent back as the POST's `application/json` body. No authentication, no checks, nothing decided, scanned or recorded: not a product, it is the floor under the HTTP rows, what Streamable HTTP in front of a stdio server costs on this machine with this client. Not judged as a peer; the gateway's added latency over it is in the targets table for reference.",
  },
  {
    key: 'mcpProxy',
    label: 'mcp-proxy, Streamable HTTP',
    transport: 'streamable-http',
    setup:
      '`mcp-proxy --host 127.0.0.1 --port N --server stream --apiKey KEY -- node server-everything stdio`: its CLI defaults otherwise (event store on, stateful sessions); the client sends the key as `X-API-Key`, so both gateways authenticate every request. mcp-proxy 6 is built on the v2 SDK packages (`@modelcontextprotocol/client`/`server`).',
  },
  {
    key: 'mcpProxyModern',
    label: 'mcp-proxy, Streamable HTTP, 2026-07-28',
    transport: 'streamable-http',
    setup:
      'The same mcp-proxy command, driven by the v2 SDK client pinned to 2026-07-28, as the Perimeter row above.',
  },
  {
    key: 'supergateway',
    label: 'supergateway, Streamable HTTP (stateful)',
    transport: 'streamable-http',
    setup:
      '`supergateway --stdio "node server-everything stdio" --outputTransport streamableHttp --stateful --port N --logLevel none`: it spawns the stdio server per session and relays JSON lines to and from it. It binds every interface (no host option) and has no inbound authentication.',
  },
];

export const labelOf = (key) => CONFIGS.find((c) => c.key === key)?.label ?? key;

/** Connects `client` with a fresh transport from `make()`, retrying until `deadline` (a peer starting up). */
async function connectRetrying(make, deadline, exited, modern = false) {
  let last;
  while (Date.now() < deadline) {
    const gone = await Promise.race([exited, sleep(0).then(() => undefined)]);
    if (gone) throw new Error(`exited (${gone.signal ?? gone.code})`);
    const client = modern
      ? new ClientV2(CLIENT_INFO, { versionNegotiation: { mode: { pin: '2026-07-28' } } })
      : new Client(CLIENT_INFO);
    try {
      await client.connect(make());
      return client;
    } catch (e) {
      last = e;
      await client.close().catch(() => undefined);
      await sleep(100);
    }
  }
  throw new Error(`did not accept an MCP session within ${START_MS} ms: ${last?.message ?? ''}`);
}

function nextMessage(child, type, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.removeListener('message', on);
      reject(new Error(`no '${type}' within ${ms} ms`));
    }, ms);
    const on = (message) => {
      if (message?.type !== type && message?.type !== 'error') return;
      clearTimeout(timer);
      child.removeListener('message', on);
      if (message.type === 'error') reject(new Error(message.message));
      else resolve(message);
    };
    child.on('message', on);
  });
}

const noSamples = {
  setRecording: async () => {},
  samples: async () => ({ gatewayMs: [], upstreamMs: [] }),
};

/**
 * The SDK client over stdio to `argv`: server-everything itself, or a relay in front of it (`isRelay`:
 * its process's CPU is measured as a proxy's).
 */
async function openStdio(argv, isRelay = false) {
  const transport = new StdioClientTransport({ command: argv[0], args: argv.slice(1), stderr: 'pipe' });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  const pid = isRelay ? transport.pid : undefined;
  return { client, tool: 'echo', pid, ...noSamples, close: () => client.close() };
}

/** An in-process gateway over `servers` upstreams and a client on an InMemoryTransport pair. */
export async function openInProcess({ dir, servers = 1, pinFile, auditTo = 'spool' }) {
  let recording = false;
  const samples = { gatewayMs: [], upstreamMs: [] };
  const built = buildGateway({
    servers,
    dir,
    pinFile,
    auditTo,
    onResult: (outcome) => {
      if (!recording || typeof outcome?.gateway_ms !== 'number') return;
      samples.gatewayMs.push(outcome.gateway_ms);
      samples.upstreamMs.push(outcome.upstream_ms);
    },
  });
  await built.gateway.start();
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await built.gateway.createServer().connect(serverSide);
  const client = new Client(CLIENT_INFO);
  await client.connect(clientSide);
  return {
    client,
    gateway: built.gateway,
    tool: 'everything__echo',
    pid: undefined,
    setRecording: async (on) => {
      recording = on;
    },
    samples: async () => samples,
    close: async () => {
      await client.close().catch(() => undefined);
      await built.close();
    },
  };
}

/**
 * The real CLI over stdio, as an agent spawns it, its upstream sandboxed. The gateway's own times
 * come from the mcp.result events its spool holds between the two setRecording calls.
 */
async function openPerimeterStdio({ dir }) {
  mkdirSync(join(dir, 'workspace'), { recursive: true });
  const policyFile = join(dir, 'mcp-bench.yaml');
  const auditFile = join(dir, 'audit.jsonl');
  writeFileSync(policyFile, benchPolicy(1, { sandboxRead: SANDBOX_READ }));
  const transport = cliTransport({
    policyFile,
    auditFile,
    stateDir: join(dir, 'state'),
    workspace: join(dir, 'workspace'),
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk) => (stderr = (stderr + chunk.toString('utf8')).slice(-2048)));
  const client = new Client(CLIENT_INFO);
  try {
    await client.connect(transport, { timeout: START_MS });
  } catch (e) {
    await client.close().catch(() => undefined);
    throw new Error(`${e.message}${stderr ? `; its output ends: ${stderr.trim().split('\n').at(-1)}` : ''}`, {
      cause: e,
    });
  }
  const events = () => readFileSync(auditFile, 'utf8').split('\n').filter(Boolean);
  // The spool's line numbers each round's recording began and ended at.
  const spans = [];
  return {
    client,
    tool: 'everything__echo',
    pid: transport.pid ?? undefined,
    setRecording: async (on) => {
      if (on) spans.push({ from: events().length, to: Infinity });
      else if (spans.length > 0) spans[spans.length - 1].to = events().length;
    },
    samples: async () => {
      const samples = { gatewayMs: [], upstreamMs: [] };
      const lines = events();
      for (const line of spans.flatMap(({ from, to }) => lines.slice(from, to))) {
        const { type, outcome } = JSON.parse(line);
        if (type !== 'mcp.result' || typeof outcome?.gateway_ms !== 'number') continue;
        samples.gatewayMs.push(outcome.gateway_ms);
        samples.upstreamMs.push(outcome.upstream_ms);
      }
      return samples;
    },
    close: () => client.close(),
  };
}

export async function openPerimeterHttp({ dir, profileFile, auditTo = 'spool', modern = false }) {
  const token = randomBytes(24).toString('base64url');
  const proc = spawnGroup(
    [
      process.execPath,
      join(HERE, 'gateway-child.mjs'),
      JSON.stringify({ servers: 1, dir, token, auditTo, ...(profileFile ? { profileFile } : {}) }),
    ],
    { ipc: true, env: PEER_ENV },
  );
  let ready;
  try {
    ready = await Promise.race([
      nextMessage(proc.child, 'ready', START_MS),
      proc.exited.then((x) => {
        throw new Error(`exited (${x.signal ?? x.code}): ${proc.stderr()}`);
      }),
    ]);
  } catch (e) {
    await killGroup(proc.pid);
    throw e;
  }
  const url = new URL(ready.url);
  const client = await connectRetrying(
    () =>
      new (modern ? StreamableHTTPClientTransportV2 : StreamableHTTPClientTransport)(url, {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    Date.now() + START_MS,
    proc.exited,
    modern,
  );
  const ask = async (message, reply) => {
    const answer = nextMessage(proc.child, reply, 5_000);
    proc.child.send(message);
    return answer;
  };
  return {
    client,
    tool: 'everything__echo',
    pid: proc.pid,
    url: ready.url,
    setRecording: async (on) => void (await ask({ type: 'record', on }, 'recording')),
    profile: async (on) =>
      ask({ type: on ? 'profile-start' : 'profile-stop' }, on ? 'profiling' : 'profiled'),
    samples: async () => {
      const s = await ask({ type: 'samples' }, 'samples');
      return { gatewayMs: s.gatewayMs, upstreamMs: s.upstreamMs };
    },
    close: async () => {
      await client.close().catch(() => undefined);
      proc.child.send({ type: 'stop' });
      await Promise.race([proc.exited, sleep(3_000)]);
      await killGroup(proc.pid);
    },
  };
}

async function openHttpPeer(argvFor, headers = {}, modern = false) {
  const port = await freePort();
  const proc = spawnGroup(argvFor(port), { env: PEER_ENV });
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  let client;
  try {
    client = await connectRetrying(
      () =>
        new (modern ? StreamableHTTPClientTransportV2 : StreamableHTTPClientTransport)(url, {
          requestInit: { headers },
        }),
      Date.now() + START_MS,
      proc.exited,
      modern,
    );
  } catch (e) {
    await killGroup(proc.pid);
    const err = proc.stderr();
    throw new Error(
      `${e.message}${err ? `; its output ends: ${err.split('\n').slice(-3).join(' | ')}` : ''}`,
      { cause: e },
    );
  }
  return {
    client,
    tool: 'echo',
    pid: proc.pid,
    url: url.href,
    ...noSamples,
    close: async () => {
      await client.close().catch(() => undefined);
      await killGroup(proc.pid);
    },
  };
}

function openMcpProxy(modern = false) {
  const key = randomBytes(24).toString('base64url');
  return openHttpPeer(
    (port) => [
      process.execPath,
      MCP_PROXY,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--server',
      'stream',
      '--apiKey',
      key,
      '--',
      ...UPSTREAM_ARGV,
    ],
    { 'x-api-key': key },
    modern,
  );
}

function openBareRelay() {
  return openHttpPeer((port) => [
    process.execPath,
    join(HERE, 'bare-relay.mjs'),
    String(port),
    '--',
    ...UPSTREAM_ARGV,
  ]);
}

function openSupergateway() {
  return openHttpPeer((port) => [
    process.execPath,
    SUPERGATEWAY,
    '--stdio',
    UPSTREAM_ARGV.join(' '),
    '--outputTransport',
    'streamableHttp',
    '--stateful',
    '--port',
    String(port),
    '--logLevel',
    'none',
  ]);
}

/** Opens the configuration `key`; `dir` is a scratch directory for pins and the audit spool. */
export async function open(key, { dir }) {
  const opener = {
    direct: () => openStdio(UPSTREAM_ARGV),
    bareStdioRelay: () =>
      openStdio([process.execPath, join(HERE, 'bare-stdio-relay.mjs'), '--', ...UPSTREAM_ARGV], true),
    perimeterInProcess: () => openInProcess({ dir: join(dir, 'in-process') }),
    perimeterInProcessMemory: () => openInProcess({ dir: join(dir, 'in-process-memory'), auditTo: 'memory' }),
    perimeterStdio: () => openPerimeterStdio({ dir: join(dir, 'stdio') }),
    perimeterHttp: () => openPerimeterHttp({ dir: join(dir, 'http') }),
    perimeterHttpModern: () => openPerimeterHttp({ dir: join(dir, 'http-modern'), modern: true }),
    // References for ab.mjs only (not in CONFIGS): the HTTP gateway with its audit kept in memory.
    perimeterHttpMemory: () => openPerimeterHttp({ dir: join(dir, 'http-memory'), auditTo: 'memory' }),
    perimeterHttpModernMemory: () =>
      openPerimeterHttp({ dir: join(dir, 'http-modern-memory'), auditTo: 'memory', modern: true }),
    bareRelay: () => openBareRelay(),
    mcpProxy: () => openMcpProxy(),
    mcpProxyModern: () => openMcpProxy(true),
    supergateway: () => openSupergateway(),
  }[key];
  if (!opener) throw new Error(`unknown configuration ${key}`);
  const handle = await opener();
  return { key, label: labelOf(key), ...handle };
}
