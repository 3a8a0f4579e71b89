// When the executable shortens V8's optimization budget (bin/v8-tuning.js): a serving command once
// it serves, never a command that only starts and ends, nor the build's runs that write the code
// caches; and never before the bundles' code caches are read, which V8 would refuse under another
// flag. What it saves is measured by bench:mcp, not here: a preload records, in order, each code
// cache V8 is given (taken or refused) and each V8 flag the process sets, and the tests read that.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import v8 from 'node:v8';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, EXAMPLES, REPO_ROOT, spawnCli, tempDir, waitForOutput, writeFile } from './cli-harness.js';
import { SANDBOX_SKIP } from './sandbox-harness.js';

const require = createRequire(import.meta.url);
const { INTERRUPT_BUDGET, tuneV8 } = require('../../bin/v8-tuning.js') as {
  INTERRUPT_BUDGET: number;
  tuneV8: () => void;
};
const TUNED = `--interrupt-budget=${INTERRUPT_BUDGET}`;
const EVERYTHING = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
/** Without esbuild the executable runs the compiled modules: no bundle, no code cache to read. */
const IS_BUNDLED = existsSync(join(REPO_ROOT, 'packages/cli/dist/src/main.bundle.cjs'));
/** What the record holds for the main bundle's cache, and the MCP bundle's, each taken. */
const MAIN_CACHE = IS_BUNDLED ? ['cache taken'] : [];
const MCP_CACHE = IS_BUNDLED ? ['cache taken', 'cache taken'] : [];

/** A directory whose `record` file receives what the preload sees in a process given `env`. */
function recorded(t: TestContext): { env: NodeJS.ProcessEnv; record: () => string[] } {
  const dir = tempDir(t);
  const log = join(dir, 'record');
  const preload = writeFile(
    dir,
    'record.cjs',
    `const { appendFileSync } = require('node:fs');
     const note = (line) => appendFileSync(${JSON.stringify(log)}, line + '\\n');
     const v8 = require('node:v8');
     const set = v8.setFlagsFromString;
     v8.setFlagsFromString = (flags) => {
       note(flags);
       return set(flags);
     };
     const vm = require('node:vm');
     const Script = vm.Script;
     vm.Script = class extends Script {
       constructor(source, options) {
         super(source, options);
         if (options?.cachedData) note(this.cachedDataRejected ? 'cache refused' : 'cache taken');
       }
     };`,
  );
  return {
    env: {
      NODE_OPTIONS: `--require ${preload}`,
      XDG_STATE_HOME: join(dir, 'state'),
      NO_COLOR: '1',
      PERIMETER_WRITE_CODE_CACHE: undefined,
    },
    record: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

/**
 * A policy whose catalog holds server-everything (its files readable in its sandbox), its echo
 * allowed; for `perimeter run`, the workspace writable and the system readable too.
 */
function everythingPolicy(dir: string): string {
  return writeFile(
    dir,
    'mcp.yaml',
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: v8-tuning-test, layer: org }
filesystem:
  default: deny
  allow:
    - { id: workspace, paths: ["\${workspace}/**"], access: rw }
    - { id: system, paths: [/usr/**, /bin/**, /lib/**, /lib64/**, /etc/**], access: read }
mcp:
  pinning: tofu
  servers:
    - id: everything
      command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}, stdio]
      sandbox: { read: [${JSON.stringify(`${REPO_ROOT.replace(/\/$/, '')}/**`)}] }
  allow:
    - { id: echo, server: everything, tools: [echo] }
`,
  );
}

void it(
  'perimeter mcp shortens the budget once its gateway has started, after both code caches were taken',
  { skip: SANDBOX_SKIP, timeout: 60_000 },
  async (t) => {
    const { env, record } = recorded(t);
    const dir = tempDir(t);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'mcp', '--policy', everythingPolicy(dir), '--audit', join(dir, 'audit.jsonl')],
      env: { ...getDefaultEnvironment(), ...env } as Record<string, string>,
      cwd: REPO_ROOT,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'v8-tuning-test', version: '1.0.0' });
    t.after(() => client.close());
    await client.connect(transport, { timeout: 30_000 });
    // Over stdio the session, and with it the gateway, starts with the first request that needs it.
    assert.ok(!record().includes(TUNED), record().join('; '));
    const { tools } = await client.listTools(undefined, { timeout: 30_000 });
    assert.deepEqual(
      tools.map((tool) => tool.name),
      ['everything__echo'],
    );
    assert.deepEqual(record(), [...MCP_CACHE, TUNED]);
  },
);

void it(
  'perimeter run with an MCP catalog shortens it once the workload starts, after both code caches were taken',
  { skip: SANDBOX_SKIP, timeout: 60_000 },
  (t) => {
    const { env, record } = recorded(t);
    const dir = tempDir(t);
    const workspace = join(dir, 'ws');
    mkdirSync(workspace);
    const r = spawnSync(
      process.execPath,
      [BIN, 'run', '--policy', everythingPolicy(dir), '--audit', join(dir, 'audit.jsonl'), '--', 'true'],
      { cwd: workspace, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 45_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(record(), [...MCP_CACHE, TUNED]);
  },
);

void it('perimeter server and perimeter proxy shorten it once they listen', async (t) => {
  for (const args of [
    ['server', '--listen', '127.0.0.1:0'],
    ['proxy', '--listen', '127.0.0.1:0'],
  ]) {
    const { env, record } = recorded(t);
    const running = spawnCli(t, args, env);
    await waitForOutput(running, /listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.deepEqual(record(), [...MAIN_CACHE, TUNED], args.join(' '));
    running.child.kill('SIGTERM');
    await running.exited;
  }
});

void it('a command that starts and ends keeps V8 as it is', (t) => {
  const { env, record } = recorded(t);
  const r = spawnSync(process.execPath, [BIN, 'policy', 'lint', join(EXAMPLES, 'balanced.yaml')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.notEqual(r.stdout, '', r.stderr);
  assert.deepEqual(record(), MAIN_CACHE);
});

void it("the build's runs that write the code caches keep V8's defaults (a cache carries the flags it was made under)", (t) => {
  const calls: string[] = [];
  const set = v8.setFlagsFromString;
  const before = process.env.PERIMETER_WRITE_CODE_CACHE;
  const restore = (): void => {
    if (before === undefined) delete process.env.PERIMETER_WRITE_CODE_CACHE;
    else process.env.PERIMETER_WRITE_CODE_CACHE = before;
  };
  t.after(() => {
    v8.setFlagsFromString = set;
    restore();
  });
  v8.setFlagsFromString = (flags: string) => void calls.push(flags);
  process.env.PERIMETER_WRITE_CODE_CACHE = 'main,mcp';
  tuneV8();
  assert.deepEqual(calls, []);
  delete process.env.PERIMETER_WRITE_CODE_CACHE;
  tuneV8();
  assert.deepEqual(calls, [TUNED]);
});
