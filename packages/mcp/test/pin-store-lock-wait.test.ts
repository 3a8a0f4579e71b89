// The gateway's pin store writes while another process holds the store's lock (`perimeter mcp pins
// approve` in a terminal, a second gateway): the listing that must write waits for the lock on
// timers, so the gateway's event loop (every other client's calls) keeps running meanwhile, and
// the write is made once the other process lets go.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inMemoryClient, startGateway, tool, writeSpec } from './gateway-harness.js';

const SCRIPTED = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/scripted-server.js');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-pins-lock-')));
after(() => {
  rmSync(root, { recursive: true, force: true });
});

/**
 * Another Perimeter process holding the store's lock (takeLock of @perimeter/audit, as `pins
 * approve` does): it says `taken`, and lets go when told (a line on its standard input) or after
 * `maxMs` at most, within the gateway's 5 s wait, so a gateway that blocks still gets the lock.
 */
const HOLDER = `
  import { takeLock } from ${JSON.stringify(import.meta.resolve('@perimeter/audit'))};
  const [lockFile, maxMs] = process.argv.slice(1);
  const taken = takeLock(lockFile);
  if (taken.kind !== 'taken') throw new Error(taken.kind);
  const letGo = () => {
    taken.lock.release();
    process.exit(0);
  };
  process.stdin.once('data', letGo);
  setTimeout(letGo, Number(maxMs));
  process.stdout.write('taken\\n');
`;

/** The pid a lock file names, or undefined when there is none (or it is being written). */
function lockHolder(lockFile: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

test("pins-lock-1: a listing that must write the pin store while another process holds its lock waits on timers (the gateway's event loop keeps running) and writes once the lock is let go", async (t) => {
  const specFile = join(root, 's.json');
  writeSpec(specFile, { tools: [tool('echo')] });
  const q = JSON.stringify;
  const policy = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: pins-lock-test, layer: org }
mcp:
  pinning: tofu
  servers:
    - { id: s, command: [${q(process.execPath)}, ${q(SCRIPTED)}, ${q(specFile)}] }
  allow:
    - { id: everything-allowed, server: "*", tools: ["*"] }
`;
  const { gateway, pins, events } = await startGateway(policy, {
    home: root,
    workspace: root,
    sessionId: 'pins-lock-1',
  });
  const client = await inMemoryClient(gateway, 'pins-lock-test');
  t.after(async () => {
    await client.close();
    await gateway.close();
  });

  const lockFile = `${pins.file}.lock`;
  const holder = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, lockFile, '4000'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((done) => holder.once('exit', done));
  t.after(async () => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    await exited;
  });
  const said = await createInterface({ input: holder.stdout })[Symbol.asyncIterator]().next();
  assert.equal(said.value, 'taken');
  assert.equal(lockHolder(lockFile), holder.pid);

  // From the moment the listing reads the store (its write follows in the same turn), every tick
  // of this process's event loop while the other process still holds the lock is counted; a few
  // such ticks, and the holder is told to let go.
  let isListing = false;
  let ticksWhileHeld = 0;
  const view = pins.view.bind(pins);
  pins.view = () => {
    isListing = true;
    return view();
  };
  const ticker = setInterval(() => {
    if (!isListing || lockHolder(lockFile) !== holder.pid) return;
    if (++ticksWhileHeld === 3) holder.stdin.end('let go\n');
  }, 5);
  t.after(() => clearInterval(ticker));

  const { tools } = await client.listTools();
  clearInterval(ticker);
  await exited;

  assert.ok(ticksWhileHeld > 0, 'the event loop ran while the listing waited for the lock');
  assert.deepEqual(
    tools.map((d) => d.name),
    ['s__echo'],
  );
  assert.equal(pins.view().approved.s?.echo?.by, 'tofu', 'the first-use pin is written');
  assert.equal(existsSync(lockFile), false, 'the lock is let go');
  assert.deepEqual(
    events.filter((e) => e.type === 'mcp.pin-store-error'),
    [],
  );
});
