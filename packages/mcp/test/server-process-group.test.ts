// A stdio server spawned directly (no sandbox) is stopped with what it started (upstream-stop-1):
// `npx` starting `node server.js`, a shell wrapper, a server forking a helper. Only the server's
// own process was signalled, so its helper kept running, and holding its pipes, after the gateway
// had stopped it, or ended it as misbehaving. Real processes: a server that starts a helper (which
// lives a minute at most) and writes its pid down, then speaks just enough MCP.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canSignal, spawnServer } from '../src/process-transport.js';
import { Upstream } from '../src/upstream.js';
import { until } from './gateway-harness.js';

/**
 * argv: the file its helpers' pids are appended to, and how it behaves: `polite` exits once its
 * input closes (its helper, deaf to that, stays); `garbled` answers tools/list with a line that is
 * no JSON-RPC (its helper holds its standard error); `crashes` exits on a call, on its own.
 */
const SERVER = `const { spawn } = require('node:child_process');
const { appendFileSync } = require('node:fs');
const [pids, mode] = process.argv.slice(2);
const helper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
  stdio: ['ignore', 'ignore', mode === 'garbled' ? 'inherit' : 'ignore'],
});
appendFileSync(pids, helper.pid + '\\n');
const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...m }) + '\\n');
let rest = '';
process.stdin.on('data', (chunk) => {
  const lines = (rest + chunk).split('\\n');
  rest = lines.pop();
  for (const line of lines) {
    const m = JSON.parse(line);
    if (m.id === undefined) continue;
    if (m.method === 'initialize')
      send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'forks', version: '1' } } });
    else if (m.method === 'tools/list' && mode === 'garbled') process.stdout.write('this line is not JSON-RPC\\n');
    else if (m.method === 'tools/list') send({ id: m.id, result: { tools: [] } });
    else if (m.method === 'tools/call' && mode === 'crashes') process.exit(1);
    else send({ id: m.id, result: {} });
  }
});
process.stdin.on('end', () => process.exit(0));
`;

const root = mkdtempSync(join(tmpdir(), 'perimeter-server-group-'));
const script = join(root, 'forks.cjs');
writeFileSync(script, SERVER);
/** Every helper pid the servers wrote down: killed after the tests, whatever they came to. */
const files: string[] = [];

const helpersIn = (file: string): number[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];

after(() => {
  for (const pid of files.flatMap(helpersIn)) if (canSignal(pid)) process.kill(pid, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** An upstream over the server behaving as `mode`, connected; the file its helpers' pids go to. */
async function forking(
  mode: 'polite' | 'garbled' | 'crashes',
): Promise<{ upstream: Upstream; pids: string }> {
  const pids = join(root, `${mode}.pids`);
  appendFileSync(pids, '');
  files.push(pids);
  const args = [script, pids, mode];
  const upstream = new Upstream(
    {
      id: mode,
      transport: {
        kind: 'stdio',
        command: process.execPath,
        args,
        env: {},
        launch: () => spawnServer(process.execPath, args, { env: { PATH: process.env.PATH ?? '' } }),
      },
    },
    { onEvent: () => {}, onListChanged: () => {} },
  );
  await upstream.connect();
  return { upstream, pids };
}

/**
 * An upstream over the server behaving as `mode`, its helper running; `end` ends the server as
 * the case says, and then the helper must be gone too.
 */
async function helperGoesWith(
  mode: 'polite' | 'garbled' | 'crashes',
  end: (upstream: Upstream) => Promise<unknown>,
): Promise<void> {
  const { upstream, pids } = await forking(mode);
  try {
    const [helper] = helpersIn(pids);
    assert.ok(helper !== undefined && canSignal(helper), 'the server started its helper');
    await end(upstream);
    await until(() => !canSignal(helper), `the helper of the ${mode} server to be stopped with it`);
  } finally {
    await upstream.close();
  }
}

void describe('a stdio server is stopped with what it started', { timeout: 60_000 }, () => {
  void it('upstream-stop-1: the gateway closing stops the helper of a server that exits when its input closes', () =>
    helperGoesWith('polite', (upstream) => upstream.close()));

  void it('upstream-stop-1: the helper of a server that exits on its own is stopped after it, not left behind', () =>
    helperGoesWith('crashes', (upstream) =>
      assert.rejects(upstream.callTool('anything', {}), 'the call its server crashed on fails'),
    ));

  void it('upstream-stop-1: a server ended as misbehaving is ended with its helper, which held its standard error', () =>
    helperGoesWith('garbled', (upstream) =>
      assert.rejects(upstream.listTools(), 'the garbled answer fails the listing'),
    ));
});

/**
 * A gateway that is its container's pid 1 with no init: a server whose helper outlives it by a
 * moment (argv `zombie`: the helper reads a pipe the server holds, and exits when the server has),
 * and is then a zombie of the gateway, which Node never collects; or (`live`) a helper that keeps
 * running. Run inside bubblewrap as pid 1 of a pid namespace of its own; prints the signals sent
 * to process groups while the server is stopped and how many zombies of its group were left.
 */
const PID_ONE = `import { readdirSync, readFileSync } from 'node:fs';
import { ProcessTransport, spawnServer } from ${JSON.stringify(
  fileURLToPath(new URL('../src/process-transport.js', import.meta.url)),
)};
const helper =
  process.argv[2] === 'live'
    ? 'setTimeout(() => {}, 30000)'
    : "process.stdin.resume(); process.stdin.on('end', () => process.exit(0))";
const server = \`const { spawn } = require('node:child_process');
spawn(process.execPath, ['-e', \${JSON.stringify(helper)}], { stdio: ['pipe', 'ignore', 'ignore'] });
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));\`;
const signals = [];
const kill = process.kill.bind(process);
process.kill = (pid, signal) => {
  if (pid < 0 && signal !== 0) signals.push(signal);
  return kill(pid, signal);
};
const child = spawnServer(process.execPath, ['-e', server], { env: { PATH: process.env.PATH } });
const transport = new ProcessTransport(() => child);
await transport.start();
await new Promise((r) => setTimeout(r, 200));
await transport.close();
const zombies = readdirSync('/proc').filter((e) => {
  if (!/^[0-9]+$/.test(e)) return false;
  try {
    const f = readFileSync('/proc/' + e + '/stat', 'latin1');
    const [state, , group] = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(group) === child.pid && state === 'Z';
  } catch {
    return false;
  }
});
process.stdout.write(JSON.stringify({ pid: process.pid, signals, zombies: zombies.length }));
`;

/** The pid 1 gateway's run in bubblewrap, `withProc` with a /proc of its pid namespace. */
function pidOne(
  mode: 'zombie' | 'live',
  withProc: boolean,
): { pid: number; signals: string[]; zombies: number } {
  const file = join(root, 'pid-one.mjs');
  writeFileSync(file, PID_ONE);
  const proc = withProc ? ['--proc', '/proc'] : [];
  const run = spawnSync(
    'bwrap',
    ['--unshare-pid', '--as-pid-1', '--dev-bind', '/', '/', ...proc, process.execPath, file, mode],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(run.status, 0, `the pid 1 gateway ran: ${run.stderr}`);
  return JSON.parse(run.stdout) as { pid: number; signals: string[]; zombies: number };
}

void describe('a stopped server whose group holds only zombies', { timeout: 60_000 }, () => {
  const probe = spawnSync('bwrap', ['--unshare-pid', '--as-pid-1', '--dev-bind', '/', '/', 'true']);
  const skip = probe.status !== 0 ? 'bubblewrap cannot make a pid namespace here' : false;
  void it(
    'upstream-stop-2: a gateway that is pid 1 does not signal a group of zombies it never collects, nor wait for it',
    { skip },
    () => {
      const seen = pidOne('zombie', true);
      assert.equal(seen.pid, 1, 'the gateway was pid 1 of its namespace');
      assert.equal(seen.zombies, 1, 'the helper of the server was left a zombie of the gateway');
      assert.deepEqual(seen.signals, [], 'no group of zombies is signalled as if something ran in it');
    },
  );

  void it(
    "upstream-stop-2: a gateway that is pid 1 still stops a helper that runs on, also when /proc is not its namespace's",
    { skip },
    () => {
      for (const withProc of [true, false]) {
        const seen = pidOne('live', withProc);
        assert.equal(seen.pid, 1);
        assert.equal(seen.signals[0], 'SIGTERM', `the running helper is signalled (own /proc: ${withProc})`);
      }
    },
  );
});
