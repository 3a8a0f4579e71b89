// When the executable shortens V8's optimization budget (bin/v8-tuning.js): a serving command once
// it serves, never a command that only starts and ends, nor the build's runs that write the code
// caches. What it saves is measured by bench:mcp, not here: a preload records each V8 flag the
// process sets, and the tests read that record.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import v8 from 'node:v8';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, EXAMPLES, REPO_ROOT, spawnCli, tempDir, waitForOutput, writeFile } from './cli-harness.js';

const require = createRequire(import.meta.url);
const { INTERRUPT_BUDGET, tuneV8 } = require('../../bin/v8-tuning.js') as {
  INTERRUPT_BUDGET: number;
  tuneV8: () => void;
};
const TUNED = `--interrupt-budget=${INTERRUPT_BUDGET}`;
const EVERYTHING = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** A directory whose `flags` file receives every v8.setFlagsFromString of a process given `env`. */
function flagRecord(t: TestContext): { env: NodeJS.ProcessEnv; flags: () => string[] } {
  const dir = tempDir(t);
  const log = join(dir, 'flags');
  const preload = writeFile(
    dir,
    'record-flags.cjs',
    `const v8 = require('node:v8');
     const set = v8.setFlagsFromString;
     v8.setFlagsFromString = (flags) => {
       require('node:fs').appendFileSync(${JSON.stringify(log)}, flags + '\\n');
       return set(flags);
     };`,
  );
  return {
    env: { NODE_OPTIONS: `--require ${preload}`, XDG_STATE_HOME: join(dir, 'state'), NO_COLOR: '1' },
    flags: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
  };
}

void it('perimeter mcp shortens the budget once its gateway has started, and only then', async (t) => {
  const { env, flags } = flagRecord(t);
  const dir = tempDir(t);
  const policy = writeFile(
    dir,
    'mcp.yaml',
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: v8-tuning-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: everything, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(EVERYTHING)}, stdio] }
  allow:
    - { id: echo, server: everything, tools: [echo] }
`,
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'mcp', '--policy', policy, '--audit', join(dir, 'audit.jsonl')],
    env: { ...getDefaultEnvironment(), ...env } as Record<string, string>,
    cwd: REPO_ROOT,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'v8-tuning-test', version: '1.0.0' });
  t.after(() => client.close());
  await client.connect(transport, { timeout: 30_000 });
  // Over stdio the session, and with it the gateway, starts with the first request that needs it.
  assert.deepEqual(flags(), []);
  const { tools } = await client.listTools(undefined, { timeout: 30_000 });
  assert.deepEqual(
    tools.map((tool) => tool.name),
    ['everything__echo'],
  );
  assert.deepEqual(flags(), [TUNED]);
});

void it('perimeter server shortens the budget once it listens', async (t) => {
  const { env, flags } = flagRecord(t);
  const server = spawnCli(t, ['server', '--listen', '127.0.0.1:0'], env);
  await waitForOutput(server, /listening on http:\/\/127\.0\.0\.1:\d+/);
  assert.deepEqual(flags(), [TUNED]);
});

void it('a command that starts and ends keeps V8 as it is', (t) => {
  const { env, flags } = flagRecord(t);
  const r = spawnSync(process.execPath, [BIN, 'policy', 'lint', join(EXAMPLES, 'balanced.yaml')], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.notEqual(r.stdout, '', r.stderr);
  assert.deepEqual(flags(), []);
});

void it("the build's runs that write the code caches keep V8's defaults (a cache carries the flags it was made under)", (t) => {
  const calls: string[] = [];
  const set = v8.setFlagsFromString;
  t.after(() => {
    v8.setFlagsFromString = set;
    delete process.env.PERIMETER_WRITE_CODE_CACHE;
  });
  v8.setFlagsFromString = (flags: string) => void calls.push(flags);
  process.env.PERIMETER_WRITE_CODE_CACHE = 'main,mcp';
  tuneV8();
  assert.deepEqual(calls, []);
  delete process.env.PERIMETER_WRITE_CODE_CACHE;
  tuneV8();
  assert.deepEqual(calls, [TUNED]);
});
