// The gateway under test, built as `perimeter mcp` builds it (packages/cli/src/commands/mcp.ts) but
// for isolation: an engine over the bench policy, the catalog's upstreams, a pin store file, and
// every audit record appended to a hash-chained Spool with the CLI's group commit (flushDelayMs:
// 20). Unlike `perimeter mcp`, which starts each stdio server in a sandbox of its own (bubblewrap,
// an egress proxy), the upstreams here are spawned directly, unsandboxed: the bench measures the
// gateway, not the sandbox. Used by the driver (in-process gateway) and by gateway-child.mjs (the
// gateway over HTTP in a process of its own), so both run the same code on the same policy; the
// sandboxed cold starts (sandboxed.mjs) give the real CLI the same policy, its catalog entries
// with a sandbox read grant.

import { mkdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Spool, lifecycleRecord, uuid7 } from '@perimeter/audit';
import { Gateway, PinStore, upstreamSpecs } from '@perimeter/mcp';
import { createEngine, formatDiagnostic, hasErrors, loadPolicies } from '@perimeter/policy';

const require = createRequire(import.meta.url);

/** server-everything's entry point; run as `node EVERYTHING stdio`. */
export const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);
export const UPSTREAM_ARGV = [process.execPath, EVERYTHING, 'stdio'];
/**
 * The node_modules directory server-everything and its dependencies are installed in (real path:
 * a sandbox mounts a grant at its own path and never follows a symlink into one). A sandboxed
 * server-everything needs it readable; Node itself is under /usr, which every sandbox shows.
 */
export const EVERYTHING_MODULES = realpathSync(
  join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), '../..'),
);

/** The argument every measured call sends; the policy allows echo only with this prefix. */
export const MESSAGE = 'bench: hello from the MCP benchmark';
export const PREFIX = 'bench: ';

// server-everything's other tools, allowed by name so tools/list through the gateway returns the
// same 13 tools the peers pass through (echo is allowed by its own rule, with the argument test).
const OTHER_TOOLS = [
  'get-annotated-message',
  'get-env',
  'get-resource-links',
  'get-resource-reference',
  'get-structured-content',
  'get-sum',
  'get-tiny-image',
  'gzip-file-as-resource',
  'toggle-simulated-logging',
  'toggle-subscriber-updates',
  'trigger-long-running-operation',
  'simulate-research-query',
];

/** Server ids of `n` copies of server-everything: everything, everything-2, …, everything-n. */
export const serverIds = (n) =>
  Array.from({ length: n }, (_, i) => (i === 0 ? 'everything' : `everything-${i + 1}`));

/**
 * The bench policy with `servers` copies of server-everything. `sandboxRead` (paths) becomes each
 * catalog entry's `sandbox: { read }`, for `perimeter mcp`, which starts every stdio server in a
 * sandbox; the in-process gateway spawns them directly and ignores it.
 */
export function benchPolicy(servers, { sandboxRead } = {}) {
  const q = JSON.stringify;
  const sandbox = sandboxRead ? `, sandbox: { read: [${sandboxRead.map((p) => q(p)).join(', ')}] }` : '';
  return `apiVersion: perimeter/v1
kind: Policy
metadata: { name: mcp-bench, layer: org }
mcp:
  pinning: tofu
  secrets: block
  servers:
${serverIds(servers)
  .map((id) => `    - { id: ${id}, command: [${UPSTREAM_ARGV.map((a) => q(a)).join(', ')}]${sandbox} }`)
  .join('\n')}
  allow:
    - id: echo-bench-prefix
      server: "everything*"
      tools: [echo]
      args: { message: { prefix: ${q(PREFIX)} } }
    - id: everything-other-tools
      server: "everything*"
      tools: [${OTHER_TOOLS.map((t) => q(t)).join(', ')}]
  deny:
    - { id: no-destructive, server: "*", annotations: { destructiveHint: true } }
`;
}

/**
 * A gateway over `servers` copies of server-everything. `onResult(outcome)` sees the outcome of
 * every mcp.result event (gateway_ms, upstream_ms) after it went to the spool. `auditTo: 'memory'`
 * (a reference only) pushes the records onto an array instead of the spool.
 */
export function buildGateway({ servers, dir, pinFile, onResult = () => {}, auditTo = 'spool' }) {
  const loaded = loadPolicies([{ file: 'mcp-bench.yaml', text: benchPolicy(servers) }]);
  if (hasErrors(loaded.diagnostics))
    throw new Error(loaded.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: dir, workspace: dir } },
  );
  const check = engine.decide({
    surface: 'mcp',
    server: 'everything',
    tool: 'echo',
    action: 'call',
    args: { message: MESSAGE },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  });
  if (check.decision !== 'allow') throw new Error(`the bench policy does not allow echo: ${check.reason}`);
  const sessionId = uuid7();
  mkdirSync(dir, { recursive: true });
  const memory = [];
  const spool =
    auditTo === 'memory'
      ? { append: (record) => void memory.push(record), close: () => {} }
      : Spool.open(join(dir, `audit-${sessionId}.jsonl`), { chainId: sessionId, flushDelayMs: 20 });
  const context = { sessionId };
  let isEnded = false;
  const audit = (record) => {
    if (isEnded) return;
    spool.append(record);
    if (record.type === 'mcp.result') onResult(record.outcome);
  };
  audit(lifecycleRecord('session.start', context, { kind: 'mcp', servers }));
  const gateway = new Gateway({
    engine,
    servers: upstreamSpecs(engine.mcpServers(), { workspace: dir }),
    pins: new PinStore(pinFile ?? join(dir, 'pins.json')),
    audit,
    context,
  });
  return {
    gateway,
    spool,
    close: async () => {
      await gateway.close();
      audit(lifecycleRecord('session.end', context));
      isEnded = true;
      spool.close();
    },
  };
}
