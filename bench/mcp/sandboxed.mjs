// The cold start users feel: the real CLI, `perimeter mcp` over stdio, with its stdio upstreams each
// in a sandbox of its own (bubblewrap, the mount plan, seccomp, an egress proxy per server), timed
// from the spawn to the first tools/list answered, with 1 and 3 copies of server-everything. First
// use (a new XDG_STATE_HOME each start: empty pin store, no server home yet) and restarts (one
// XDG_STATE_HOME kept, pins on record) separately, against direct SDK clients spawning the same
// number of server-everything unsandboxed, in the same rounds. The CLI's audit events split each
// start into phases. A configuration that cannot start here is skipped with one sentence.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { directStart } from './measure.mjs';
import { distribution } from './report.mjs';
import { EVERYTHING_MODULES, benchPolicy } from './setup.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'packages/cli/bin/perimeter.js');
/** What each catalog entry adds to its sandbox: server-everything and its dependencies. */
export const SANDBOX_READ = [`${EVERYTHING_MODULES}/**`];

// The CLI runs without NODE_EXTRA_CA_CERTS, as the peers and the sandbox benchmark do (Node reads
// that file at every start; nothing here uses TLS). Its servers never see it either way: a sandbox
// passes only its allowlist of the host's environment.
const CLI_ENV = { ...process.env, NO_COLOR: '1' };
delete CLI_ENV.NODE_EXTRA_CA_CERTS;

const errorText = (e) => (e instanceof Error ? e.message : String(e));

/** The line of the CLI's standard error that says why it stopped (it says one sentence), if any. */
function reasonFrom(stderr) {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/servers ready; serving over stdio/.test(l));
  return lines.find((l) => l.startsWith('perimeter')) ?? lines[0];
}

/**
 * The phases of one start from the CLI's audit spool (its events carry wall-clock times to the
 * millisecond): process = spawn until session.start (Node, the CLI bundle, the policy, the pin store
 * and the spool); upstreams = session.start until the last mcp.server.ready (sandboxes built,
 * servers started and initialised); list = the rest (the stdio transport, initialize, tools/list).
 */
function phasesOf(auditFile, spawnedAt, totalMs) {
  try {
    const events = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const at = (e) => Date.parse(e.time);
    const start = events.find((e) => e.type === 'session.start');
    const ready = events.filter((e) => e.type === 'mcp.server.ready');
    if (!start || ready.length === 0) return null;
    const processMs = at(start) - spawnedAt;
    const upstreamsMs = Math.max(...ready.map(at)) - at(start);
    return { processMs, upstreamsMs, listMs: totalMs - processMs - upstreamsMs };
  } catch {
    return null;
  }
}

/** The SDK's stdio transport that spawns `perimeter mcp` as an agent would, on `policyFile`. */
export function cliTransport({ policyFile, stateDir, workspace, auditFile }) {
  return new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--policy', policyFile, '--audit', auditFile, '--workspace', workspace],
    env: { ...CLI_ENV, XDG_STATE_HOME: stateDir },
    cwd: workspace,
    stderr: 'pipe',
  });
}

/**
 * One `perimeter mcp` over stdio, spawned by the SDK's client, until its first tools/list came back
 * with `expectTools` tools. Returns the time, the phases and close(); throws with the CLI's own
 * sentence when it could not serve (it exited, an upstream was unavailable, or `timeoutMs` passed).
 */
async function cliStart({ policyFile, stateDir, workspace, auditFile, expectTools, timeoutMs }) {
  const transport = cliTransport({ policyFile, stateDir, workspace, auditFile });
  let stderr = '';
  transport.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4096);
  });
  const client = new Client({ name: 'perimeter-mcp-bench', version: '1.0.0' });
  const spawnedAt = performance.timeOrigin + performance.now();
  const t0 = performance.now();
  let tools;
  try {
    await client.connect(transport, { timeout: timeoutMs });
    ({ tools } = await client.listTools(undefined, { timeout: timeoutMs }));
  } catch (e) {
    await client.close().catch(() => undefined);
    throw new Error(reasonFrom(stderr) ?? errorText(e), { cause: e });
  }
  const totalMs = performance.now() - t0;
  if (expectTools !== undefined && tools.length !== expectTools) {
    await client.close().catch(() => undefined);
    throw new Error(
      reasonFrom(stderr) ?? `perimeter mcp listed ${tools.length} tools, expected ${expectTools}`,
    );
  }
  return {
    totalMs,
    tools: tools.length,
    close: async () => {
      // Ending its standard input stops the CLI as an agent would: the gateway, the sandboxes and
      // the spool close; the SDK waits for the exit (SIGTERM after 2 s), so starts never overlap.
      const c0 = performance.now();
      await client.close().catch(() => undefined);
      return { closeMs: performance.now() - c0, phases: phasesOf(auditFile, spawnedAt, totalMs) };
    },
  };
}

const median = (xs) => distribution(xs).p50;

/**
 * Every configuration in `rounds` rounds (rotating order within each round) until `deadline`
 * (performance.now() time), after one untimed start of each: it warms the page cache, tells whether
 * the configuration can start here, and fills the restart rows' pin store. Returns the rows (one
 * per configuration, skipped ones with their reason), the notes and the load average around it.
 */
export async function sandboxedCold({ upstreams, rounds, deadline, timeoutMs, dir, log }) {
  const base = join(dir, 'sandboxed');
  const workspace = join(base, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const loadBefore = os.loadavg()[0];
  const notes = [];
  const configs = [];
  for (const n of upstreams) {
    const policyFile = join(base, `policy-${n}.yaml`);
    writeFileSync(policyFile, benchPolicy(n, { sandboxRead: SANDBOX_READ }));
    configs.push({ key: `direct-${n}`, kind: 'direct', upstreams: n, label: `direct ×${n}` });
    configs.push({
      key: `firstUse-${n}`,
      kind: 'firstUse',
      upstreams: n,
      label: `perimeter mcp ×${n}, first use`,
      policyFile,
    });
    configs.push({
      key: `restart-${n}`,
      kind: 'restart',
      upstreams: n,
      label: `perimeter mcp ×${n}, restart`,
      policyFile,
      stateDir: join(base, `state-${n}`),
    });
  }
  let starts = 0;
  /** One start of `c`; first use gets a state directory of its own, removed afterwards. */
  const startOnce = async (c, expectTools) => {
    if (c.kind === 'direct') {
      const started = await directStart(c.upstreams, timeoutMs);
      await started.close();
      return { totalMs: started.totalMs, tools: started.tools };
    }
    const stateDir = c.stateDir ?? mkdtempSync(join(base, 'first-use-'));
    try {
      const started = await cliStart({
        policyFile: c.policyFile,
        stateDir,
        workspace,
        auditFile: join(base, `audit-${c.key}-${starts++}.jsonl`),
        expectTools,
        timeoutMs,
      });
      const { closeMs, phases } = await started.close();
      return { totalMs: started.totalMs, tools: started.tools, closeMs, phases };
    } finally {
      if (!c.stateDir) rmSync(stateDir, { recursive: true, force: true });
    }
  };

  // The untimed start of each configuration. One that fails here is skipped, its row saying why in
  // one sentence; a first use that fails takes its restart row with it (the same catalog in the
  // same sandboxes, and no pins to restart with).
  let toolsPerServer;
  for (const c of configs) {
    if (c.skipped) continue;
    try {
      const expect = c.kind === 'direct' || !toolsPerServer ? undefined : toolsPerServer * c.upstreams;
      const r = await startOnce(c, expect);
      if (c.kind === 'direct') toolsPerServer ??= r.tools / c.upstreams;
      c.tools = r.tools;
      if (c.stateDir) c.pinFileBytes = statSync(join(c.stateDir, 'perimeter/mcp-pins.json')).size;
    } catch (e) {
      const reason = errorText(e);
      c.skipped = `it could not start on this machine (${reason.replace(/\.$/, '')})`;
      if (c.kind === 'firstUse')
        for (const o of configs)
          if (o.kind === 'restart' && o.upstreams === c.upstreams)
            o.skipped = 'its first use could not start on this machine';
      log(`  ${c.label}: NOT MEASURED (${reason})`);
    }
  }

  const live = configs.filter((c) => !c.skipped);
  const samples = Object.fromEntries(live.map((c) => [c.key, []]));
  let roundsDone = 0;
  for (let r = 0; r < rounds && performance.now() < deadline; r++) {
    for (let i = 0; i < live.length; i++) {
      const c = live[(r + i) % live.length];
      try {
        samples[c.key].push(await startOnce(c, c.tools));
      } catch (e) {
        // One failed start is recorded and the rounds go on; the row says how many failed.
        (c.errors ??= []).push(errorText(e));
      }
    }
    roundsDone++;
    log(
      `  round ${r + 1}: ${live.map((c) => `${c.key} ${samples[c.key].at(-1)?.totalMs.toFixed(0) ?? '—'} ms`).join(', ')}`,
    );
  }
  if (roundsDone < rounds)
    notes.push(
      `Sandboxed cold starts: ${roundsDone} of ${rounds} rounds; the time limit for these starts was reached.`,
    );

  const rows = configs.map((c) => {
    const row = { key: c.key, kind: c.kind, upstreams: c.upstreams, label: c.label };
    if (c.skipped) return { ...row, error: c.skipped };
    const s = samples[c.key];
    const withPhases = s.filter((x) => x.phases);
    return {
      ...row,
      tools: c.tools,
      ...distribution(s.map((x) => x.totalMs)),
      ...(withPhases.length
        ? {
            phases: {
              n: withPhases.length,
              processMs: median(withPhases.map((x) => x.phases.processMs)),
              upstreamsMs: median(withPhases.map((x) => x.phases.upstreamsMs)),
              listMs: median(withPhases.map((x) => x.phases.listMs)),
            },
          }
        : {}),
      ...(c.kind !== 'direct' ? { closeMs: median(s.map((x) => x.closeMs)) } : {}),
      ...(c.pinFileBytes ? { pinFileBytes: c.pinFileBytes } : {}),
      errors: c.errors ?? [],
      samples: s.map((x) => Number(x.totalMs.toFixed(1))),
    };
  });
  // What the sandboxed CLI adds over direct clients starting as many servers (medians).
  for (const row of rows) {
    const direct = rows.find((d) => d.kind === 'direct' && d.upstreams === row.upstreams && !d.error);
    if (row.kind === 'direct' || row.error || !direct || !row.n || !direct.n) continue;
    row.addedP50 = Number((row.p50 - direct.p50).toFixed(1));
  }
  return {
    rounds: roundsDone,
    workspace: 'an empty temporary directory',
    // As the docs show it: the repository's path is this machine's, not the measurement's.
    sandboxRead: SANDBOX_READ.map((p) => p.replace(ROOT, '<repository>/')),
    load: [loadBefore, os.loadavg()[0]].map((x) => Math.round(x * 100) / 100),
    rows,
    notes,
  };
}
