// One writer per spool, across processes (redteam-35-4): real child processes open one spool; the
// second is refused while the first writes, the chain stays whole, and a spool opens again once
// its writer has closed it, exited, or been killed with SIGKILL. Here, the spool's own use of its
// lock (FILE.lock beside the real file, its refusals in the spool's words); how any lock file is
// judged (a live holder, a reused pid, a restart, a file naming nobody, racing takers) is
// process-lock.test's.

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lifecycleRecord } from '../src/record.js';
import { Spool, SpoolError } from '../src/spool.js';
import { verifySpool } from '../src/verify.js';
import { startChild, type Child as Writer, type Said } from './child-harness.js';

const WRITER = fileURLToPath(new URL('./spool-writer.js', import.meta.url));

function spoolPath(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-spool-lock-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'session.jsonl');
}

/** A child process writing the spool at `path` (spool-writer.ts): commands append, close, exit. */
function startWriter(t: TestContext, path: string): Writer {
  return startChild(t, [WRITER, path]);
}

/** The writer's first line: it opened the spool. */
async function opened(w: Writer): Promise<void> {
  assert.deepEqual(await w.next(), { opened: w.pid });
}

/** Has the writer close its spool and waits until it has exited. */
async function closed(w: Writer): Promise<void> {
  w.send('close');
  assert.deepEqual(await w.next(), { closed: true });
  await w.exited;
}

const refusal = (path: string, pid: number): Said => ({
  refused: `the audit spool ${path} is being written by another Perimeter process (pid ${pid})`,
  hint: 'give this one its own --audit FILE, or stop that one',
});

function chainOf(path: string): { problems: readonly unknown[]; events: number; chains: Set<string> } {
  const text = readFileSync(path, 'utf8');
  const v = verifySpool(text);
  const chains = new Set(
    text
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { integrity: { chain_id: string } }).integrity.chain_id),
  );
  // A chain without session.end is unfinished, which is no damage: the writers here never end it.
  return { problems: v.problems.filter((p) => p.kind !== 'unfinished'), events: v.events, chains };
}

const ctx = { sessionId: 's-test' };

describe('one writer per spool (redteam-35-4)', () => {
  it('a second process is refused the spool another process writes, in one sentence naming it, and the chain stays whole', async (t) => {
    const path = spoolPath(t);
    const first = startWriter(t, path);
    await opened(first);
    const second = startWriter(t, path);
    assert.deepEqual(await second.next(), refusal(path, first.pid));
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    // This process is refused just the same, as a SpoolError the CLI prints as it is.
    assert.throws(
      () => Spool.open(path, { chainId: 'third' }),
      (e: unknown) => e instanceof SpoolError && e.message === refusal(path, first.pid).refused,
    );
    first.send('append');
    assert.deepEqual(await first.next(), { appended: 1 });
    await closed(first);
    const chain = chainOf(path);
    assert.deepEqual(chain.problems, []);
    assert.equal(chain.events, 2, 'only the first writer wrote');
    assert.deepEqual([...chain.chains], [`writer-${first.pid}`]);
    assert.equal(existsSync(`${path}.lock`), false, 'closing removed the lock');
  });

  it('a spool opens again once its writer has closed it, and the chain goes on', async (t) => {
    const path = spoolPath(t);
    const first = startWriter(t, path);
    await opened(first);
    await closed(first);
    const again = Spool.open(path, { chainId: 'ignored-when-continuing' });
    const event = again.append(lifecycleRecord('session.end', ctx));
    again.close();
    assert.equal(event.integrity.seq, 1);
    assert.equal(event.integrity.chain_id, `writer-${first.pid}`);
    assert.deepEqual(chainOf(path).problems, []);
  });

  it('a spool whose writer was killed with SIGKILL opens again: the lock it left is taken over', async (t) => {
    const path = spoolPath(t);
    const killed = startWriter(t, path);
    await opened(killed);
    killed.send('append');
    assert.deepEqual(await killed.next(), { appended: 1 });
    killed.kill();
    assert.deepEqual(await killed.exited, { code: null, signal: 'SIGKILL' });
    assert.equal(
      (JSON.parse(readFileSync(`${path}.lock`, 'utf8')) as { pid: number }).pid,
      killed.pid,
      'the killed writer left its lock',
    );
    const next = startWriter(t, path);
    await opened(next);
    await closed(next);
    const chain = chainOf(path);
    assert.deepEqual(chain.problems, []);
    assert.equal(chain.events, 3);
    assert.equal(existsSync(`${path}.lock`), false);
  });

  it('a writer that exits without closing its spool leaves no lock behind', async (t) => {
    const path = spoolPath(t);
    const first = startWriter(t, path);
    await opened(first);
    first.send('exit');
    assert.deepEqual(await first.exited, { code: 0, signal: null });
    assert.equal(existsSync(`${path}.lock`), false);
    Spool.open(path, { chainId: 'next' }).close();
  });

  it('one process opening a spool it has open already is refused, and may open it again once it is closed', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-test' });
    assert.throws(
      () => Spool.open(path, { chainId: 's-test' }),
      (e: unknown) =>
        e instanceof SpoolError &&
        e.message === `the audit spool ${path} is already open in this process (pid ${process.pid})`,
    );
    spool.append(lifecycleRecord('session.start', ctx));
    spool.close();
    const again = Spool.open(path, { chainId: 's-test' });
    again.append(lifecycleRecord('session.end', ctx));
    again.close();
    assert.deepEqual(chainOf(path).problems, []);
  });

  it('a spool opened under another name, a link to it, is the same spool: refused while it is open', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-test' });
    const alias = `${path}.alias`;
    symlinkSync(path, alias);
    assert.throws(
      () => Spool.open(alias, { chainId: 's-test' }),
      (e: unknown) =>
        e instanceof SpoolError &&
        e.message === `the audit spool ${alias} is already open in this process (pid ${process.pid})`,
    );
    spool.close();
  });

  it(
    'a lock taken inside a session’s sandbox (its own pid namespace and host name) is kept, in one sentence saying so',
    { skip: existsSync('/proc/self/ns/pid') ? false : 'needs /proc for the boot id and pid namespaces' },
    (t) => {
      const path = spoolPath(t);
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      // pid 2 there is the sandbox's workload; here it is another process or none.
      const lock = JSON.stringify({ pid: 2, host: 'perimeter', boot, start: '1', pidNamespace: 'pid:[1]' });
      writeFileSync(`${path}.lock`, lock);
      assert.throws(
        () => Spool.open(path, { chainId: 's-test' }),
        (e: unknown) =>
          e instanceof SpoolError &&
          e.message ===
            `the audit spool ${path} is being written by a Perimeter process in another pid namespace, a sandbox or a container (pid 2 there)` &&
          e.hint ===
            `give this one its own --audit FILE, or stop that one (if it has stopped already, remove ${path}.lock)`,
      );
      assert.equal(readFileSync(`${path}.lock`, 'utf8'), lock);
    },
  );
});
