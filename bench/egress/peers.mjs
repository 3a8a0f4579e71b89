// How each proxy under test is started, each on its ordinary, documented configuration, listening
// on 127.0.0.1 and allowed to reach exactly the sink (127.0.0.1:<sink port>). Imported by
// peer.mjs, in a child process of its own per proxy; never by the driver, so no proxy's code or
// garbage shares a heap or an event loop with another's.

import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageVersion } from '../docs-section.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The proxies, in the order of the tables. `direct` is no proxy: the driver connects to the sink. */
export const PEERS = [
  { key: 'direct', label: 'direct (no proxy)' },
  { key: 'perimeter', label: 'Perimeter' },
  { key: 'perimeterAudit', label: 'Perimeter + audit spool' },
  { key: 'proxyChain', label: 'proxy-chain' },
  { key: 'srt', label: 'srt (sandbox-runtime)' },
  { key: 'nodeRelay', label: 'bare node:net relay (reference)' },
];

export const labelOf = (key) => PEERS.find((p) => p.key === key)?.label ?? key;

/** How each peer was configured, for the results and the docs. */
export const SETUP = [
  'Perimeter: `createEgressProxy({ engine, sessionId })` from `@perimeter/egress` (the built `dist`), the engine from `createEngine` over the embedded default policy (examples/balanced.yaml) plus a group policy whose one allow rule names `127.0.0.1/32` and the sink port (the built-in guard refuses loopback unless an allow rule names it), as `perimeter proxy --groups bench` builds it. Every CONNECT is parsed, decided, the tunnel dialled by address, and the first client bytes inspected for a TLS ClientHello (domain-fronting check) before the splice; a tunnel that has carried 4 MiB is handed to the native relay (`perimeter-relay`, its own process copying with read(2) and write(2), built from packages/egress/native/relay.c; a relay that cannot start leaves the tunnel in Node), so bulk bytes never enter Node. Its CPU shows under "other" in the cores column, not under the proxy.',
  'Perimeter + audit spool: the same, with `audit` bound to a `Spool` in the temp directory, as `perimeter proxy --audit <file>`: one hash-chained JSON line per decision and per closed connection, each written at once and flushed to disk in group commits at most 20 ms apart (`flushDelayMs: 20`, as `perimeter proxy` and `perimeter run` open it).',
  'proxy-chain: `new Server({ port: 0, host: "127.0.0.1" })` in simple mode (no `prepareRequestFunction`): it decides nothing and dials every CONNECT directly.',
  "srt: `createHttpProxyServer({ filter })` from `@anthropic-ai/sandbox-runtime/dist/sandbox/http-proxy.js` (the package has no exports map), the HTTP/CONNECT proxy SandboxManager starts, listening on its own. The filter does what SandboxManager's `filterNetworkRequest` does for a configured `allowedDomains: [\"127.0.0.1:<sink port>\"]`, with srt's own `isValidHost`, `canonicalizeHost` and `matchesDomainPatternWithPort`. Not included: SandboxManager's front mux (one port for HTTP and SOCKS, which pipes each HTTP connection on to this server over a unix socket: one more hop than measured here) and its proxy token; no MITM CA, so CONNECTs are opaque tunnels. The package declares Node ≥ 22.12; its proxy ran unchanged on Node 20 here.",
  'bare node:net relay (reference): not a product, the least a Node proxy can do: a `node:net` server that reads the CONNECT head, dials the target, answers 200 and joins the sockets with `pipe()` both ways; no policy, no HTTP parser (bench/egress/peers.mjs). It shows the ceiling of a relay in Node on this machine.',
  'No proxy requires a session token in this run (Perimeter and srt support one; proxy-chain only through `prepareRequestFunction`). Clients connect to `127.0.0.1` by address, so no proxy resolves a name.',
];

// The bench's own allow rule names the loopback address and the sink's port explicitly: the
// built-in guard refuses loopback unless an allow rule names the address, so this is the one way
// in, exactly as a user would have to write it. It is loaded next to the embedded default policy
// (examples/balanced.yaml), so every decision runs over a realistic rule set, not a lone rule.
const benchPolicy = (sinkPort) => `apiVersion: perimeter/v1
kind: Policy
metadata: { name: egress-bench, org: example-balanced, layer: group, groups: [bench] }
network:
  allow:
    - { id: bench-sink, cidrs: ["127.0.0.1/32"], ports: [${sinkPort}] }
`;

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve(server.address().port));
  });
}

async function startPerimeter(sinkPort, withAudit) {
  const { createEngine, formatDiagnostic, hasErrors, loadPolicies } = await import('@perimeter/policy');
  const { createEgressProxy } = await import('@perimeter/egress');
  const { Spool, lifecycleRecord, uuid7 } = await import('@perimeter/audit');
  const balanced = join(ROOT, 'examples/balanced.yaml');
  const loaded = loadPolicies([
    { file: balanced, text: readFileSync(balanced, 'utf8') },
    { file: 'egress-bench.yaml', text: benchPolicy(sinkPort) },
  ]);
  if (hasErrors(loaded.diagnostics)) {
    throw new Error(loaded.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
  }
  // As `perimeter proxy --groups bench` builds it (packages/cli/src/commands/proxy.ts).
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { subject: { groups: ['bench'] }, context: { home: os.homedir(), workspace: process.cwd() } },
  );
  const check = engine.decide({ surface: 'network', host: '127.0.0.1', port: sinkPort });
  if (check.decision !== 'allow')
    throw new Error(`the bench policy does not allow the sink: ${check.reason}`);
  const sessionId = uuid7();
  let spool;
  let spoolPath;
  if (withAudit) {
    // As `perimeter proxy --audit <file>`: hash-chained JSON lines, one write per record.
    spoolPath = join(os.tmpdir(), `perimeter-egress-bench-${process.pid}.jsonl`);
    rmSync(spoolPath, { force: true });
    spool = Spool.open(spoolPath, { chainId: sessionId, flushDelayMs: 20 });
    spool.append(lifecycleRecord('session.start', { sessionId }, { kind: 'proxy' }));
  }
  const server = createEgressProxy({
    engine,
    sessionId,
    ...(spool ? { audit: (r) => void spool.append(r) } : {}),
  });
  const port = await listen(server);
  return {
    port,
    version: packageVersion('@perimeter/egress', '@perimeter/egress'),
    server,
    close: () => {
      server.close();
      spool?.close();
      if (spoolPath) rmSync(spoolPath, { force: true });
    },
  };
}

async function startProxyChain() {
  // Simple mode (no prepareRequestFunction): every CONNECT is dialled directly, nothing is decided.
  const { Server } = await import('proxy-chain');
  const server = new Server({ port: 0, host: '127.0.0.1', verbose: false });
  await server.listen();
  return {
    port: server.server.address().port,
    version: packageVersion('proxy-chain', 'proxy-chain'),
    server: server.server,
    close: () => void server.close(true),
  };
}

async function startSrt(sinkPort) {
  // sandbox-runtime has no "exports" map; its HTTP proxy is dist/sandbox/http-proxy.js, the same
  // createHttpProxyServer that SandboxManager starts. The filter does what SandboxManager's
  // filterNetworkRequest does for a configured allowedDomains entry (validate, canonicalise, match
  // deniedDomains then allowedDomains), with its own helpers.
  const base = '@anthropic-ai/sandbox-runtime/dist/sandbox';
  const { createHttpProxyServer } = await import(`${base}/http-proxy.js`);
  const { canonicalizeHost, isValidHost } = await import(`${base}/parent-proxy.js`);
  const { matchesDomainPatternWithPort } = await import(`${base}/domain-pattern.js`);
  const allowedDomains = [`127.0.0.1:${sinkPort}`];
  const deniedDomains = [];
  const filter = (port, host, _socket, _encodedCommand, explain) => {
    if (!isValidHost(host)) {
      explain?.('malformed host');
      return false;
    }
    const canonical = canonicalizeHost(host) ?? host;
    if (deniedDomains.some((d) => matchesDomainPatternWithPort(canonical, port, d))) return false;
    if (allowedDomains.some((d) => matchesDomainPatternWithPort(canonical, port, d))) return true;
    explain?.('host is not on the allow list');
    return false;
  };
  const server = createHttpProxyServer({ filter });
  const port = await listen(server);
  return {
    port,
    version: packageVersion(`${base}/http-proxy.js`, '@anthropic-ai/sandbox-runtime'),
    server,
    close: () => server.close(),
  };
}

/** The least a Node CONNECT proxy can do, as a reference: parse the head, dial, answer, pipe. */
async function startNodeRelay() {
  const { createServer, connect } = await import('node:net');
  const { Buffer } = await import('node:buffer');
  const server = createServer({ noDelay: true }, (client) => {
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 8192) client.destroy();
        return;
      }
      client.removeListener('data', onData);
      client.pause();
      const target = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1', 0, end + 2));
      if (!target) {
        client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      const upstream = connect({ host: target[1], port: Number(target[2]) }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > end + 4) upstream.write(head.subarray(end + 4));
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  const port = await listen(server);
  return { port, version: `node ${process.versions.node}`, server, close: () => server.close() };
}

/** Starts the proxy `key` allowed to reach 127.0.0.1:sinkPort; resolves to { port, version, server, close }. */
export function startPeer(key, sinkPort) {
  switch (key) {
    case 'perimeter':
      return startPerimeter(sinkPort, false);
    case 'perimeterAudit':
      return startPerimeter(sinkPort, true);
    case 'proxyChain':
      return startProxyChain();
    case 'srt':
      return startSrt(sinkPort);
    case 'nodeRelay':
      return startNodeRelay();
    default:
      throw new Error(`unknown peer ${key}`);
  }
}
