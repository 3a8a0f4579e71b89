// The spool on a real filesystem: appends, continues a chain, refuses damage.

import assert from 'node:assert/strict';
import {
  appendFileSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { decisionRecord, lifecycleRecord } from '../src/record.js';
import { Spool, SpoolError } from '../src/spool.js';
import { verifySpool } from '../src/verify.js';

function spoolPath(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'session.jsonl');
}

const ctx = { sessionId: 's-1' };

describe('the spool', () => {
  it('writes a verifiable chain, readable only by its owner', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-1' });
    spool.append(lifecycleRecord('session.start', ctx));
    spool.append(lifecycleRecord('session.end', ctx, { exit_code: 0 }));
    spool.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const v = verifySpool(readFileSync(path, 'utf8'));
    assert.deepEqual(v.problems, []);
    assert.equal(v.events, 2);
  });

  it('continues the chain when reopened', (t) => {
    const path = spoolPath(t);
    const first = Spool.open(path, { chainId: 's-1' });
    first.append(lifecycleRecord('session.start', ctx));
    first.close();
    const second = Spool.open(path, { chainId: 'ignored-when-continuing' });
    const event = second.append(lifecycleRecord('session.end', ctx));
    second.close();
    assert.equal(event.integrity.seq, 1);
    assert.equal(event.integrity.chain_id, 's-1');
    assert.deepEqual(verifySpool(readFileSync(path, 'utf8')).problems, []);
  });

  it('refuses to chain onto a damaged spool, naming the line', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-1' });
    spool.append(lifecycleRecord('session.start', ctx));
    spool.close();
    appendFileSync(path, '{"event_id":');
    assert.throws(
      () => Spool.open(path, { chainId: 's-1' }),
      (e: unknown) => e instanceof SpoolError && /damaged at line 2/.test(e.message),
    );
  });

  it('refuses to append to a session that has ended', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-1' });
    spool.append(lifecycleRecord('session.end', ctx));
    spool.close();
    assert.throws(() => Spool.open(path, { chainId: 's-1' }), SpoolError);
  });

  it('records a decision with its rules and argument keys, never argument values', (t) => {
    const path = spoolPath(t);
    const loaded = loadPolicies([
      {
        file: 'p.yaml',
        text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: p, layer: org }\nmcp:\n  deny:\n    - { id: no-secrets, server: db, args: { table: { equals: secrets } } }\n',
      },
    ]);
    const engine = createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const request = {
      surface: 'mcp' as const,
      server: 'db',
      tool: 'query',
      args: { table: 'secrets', token: 'hunter2' },
    };
    const spool = Spool.open(path, { chainId: 's-1' });
    const event = spool.append(decisionRecord(engine.decide(request), request, ctx));
    spool.close();
    assert.equal(event.type, 'mcp.call');
    assert.equal(event.decision, 'deny');
    assert.deepEqual(event.request?.argument_keys, ['table', 'token']);
    assert.equal(event.matched?.[0]?.rule, 'no-secrets');
    const written = readFileSync(path, 'utf8');
    assert.ok(
      !written.includes('hunter2') && !written.includes('"secrets"'),
      'argument values never reach the spool',
    );
  });

  it('detects an edit made to the file afterwards', (t) => {
    const path = spoolPath(t);
    const spool = Spool.open(path, { chainId: 's-1' });
    spool.append(lifecycleRecord('session.start', ctx));
    spool.append(lifecycleRecord('network.connect', ctx, { bytes_out: 10 }));
    spool.append(lifecycleRecord('session.end', ctx));
    spool.close();
    writeFileSync(path, readFileSync(path, 'utf8').replace('"bytes_out":10', '"bytes_out":99'));
    const v = verifySpool(readFileSync(path, 'utf8'));
    assert.deepEqual(
      v.problems.map((p) => [p.kind, p.line]),
      [['edited', 2]],
    );
  });

  it('group commit: each event is in the file at once, the flush runs in the background, and close() waits for none', async (t) => {
    const path = spoolPath(t);
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const fdsBefore = openFds();
    const spool = Spool.open(path, { chainId: 's-1', flushDelayMs: 0 });
    const lines = (): number => readFileSync(path, 'utf8').split('\n').length - 1;
    // Across several flushes: every append is readable before any flush ran.
    for (let i = 0; i < 5; i++) {
      spool.append(lifecycleRecord('network.connect', ctx, { n: i }));
      assert.equal(lines(), i + 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Closed right after its timer handed a flush to the thread pool (the timer before ours, of
    // the same delay, fires first; the fsync calls back only after the timers): the descriptor
    // stays open for that fsync and is closed when it is done.
    spool.append(lifecycleRecord('session.end', ctx));
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        spool.close();
        resolve();
      }, 0),
    );
    assert.throws(() => spool.append(lifecycleRecord('session.end', ctx)), SpoolError);
    for (let i = 0; i < 100 && openFds() !== fdsBefore; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(openFds(), fdsBefore, 'the spool left no descriptor open');
    const v = verifySpool(readFileSync(path, 'utf8'));
    assert.deepEqual(v.problems, []);
    assert.equal(v.events, 6);
  });

  it('closeAsync: resolves once written, after a group-commit flush already running, and closes the descriptor', async (t) => {
    const path = spoolPath(t);
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const fdsBefore = openFds();
    const spool = Spool.open(path, { chainId: 's-1', flushDelayMs: 0 });
    spool.append(lifecycleRecord('session.start', ctx));
    // The group commit's timer hands an fsync to the thread pool; closing meanwhile waits for it,
    // then flushes what came after it.
    await new Promise((resolve) => setTimeout(resolve, 0));
    spool.append(lifecycleRecord('session.end', ctx, { exit_code: 0 }));
    const closing = spool.closeAsync();
    assert.throws(() => spool.append(lifecycleRecord('session.end', ctx)), SpoolError, 'closed at once');
    await closing;
    assert.equal(openFds(), fdsBefore, 'the spool left no descriptor open');
    await spool.closeAsync(); // a second close is nothing
    const v = verifySpool(readFileSync(path, 'utf8'));
    assert.deepEqual(v.problems, []);
    assert.equal(v.events, 2);
  });

  it('redteam-37-1: a spool moved aside and replaced while open records an alert in the file it writes, and says so once', async (t) => {
    const path = spoolPath(t);
    const aside = `${path}.aside`;
    const said: string[] = [];
    const spool = Spool.open(path, { chainId: 's-1', flushDelayMs: 0, onMoved: (m) => said.push(m) });
    spool.append(lifecycleRecord('session.start', ctx));
    // What a sandbox that could write the spool's directory did: the file moved aside, a forgery
    // at its name. The spool goes on writing the file it opened, and notices at its next flush.
    renameSync(path, aside);
    writeFileSync(path, 'forged\n');
    spool.append(lifecycleRecord('mcp.call', ctx));
    for (let i = 0; i < 200 && said.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    spool.append(lifecycleRecord('session.end', ctx));
    spool.close();
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0] ?? '',
      /^the audit spool .* was replaced by another file while it was being written/,
    );
    assert.equal(readFileSync(path, 'utf8'), 'forged\n', 'the name is left as it was found');
    const text = readFileSync(aside, 'utf8');
    assert.deepEqual(verifySpool(text).problems, []);
    const alerts = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; severity?: string; outcome?: Record<string, unknown> })
      .filter((e) => e.type === 'audit.spool-moved');
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.severity, 'critical');
    assert.equal(alerts[0]?.outcome?.replaced, true);
  });

  it('redteam-37-1: without group commit, a spool whose name was removed is found before session.end, not at other appends', (t) => {
    const path = spoolPath(t);
    const kept = `${path}.kept`;
    const said: string[] = [];
    const spool = Spool.open(path, { chainId: 's-1', onMoved: (m) => said.push(m) });
    spool.append(lifecycleRecord('session.start', ctx));
    linkSync(path, kept);
    rmSync(path);
    spool.append(lifecycleRecord('mcp.call', ctx));
    assert.equal(said.length, 0, 'not looked for at an ordinary append');
    spool.append(lifecycleRecord('session.end', ctx));
    spool.close();
    assert.equal(said.length, 1);
    assert.match(said[0] ?? '', /was renamed or removed while it was being written/);
    const text = readFileSync(kept, 'utf8');
    assert.deepEqual(verifySpool(text).problems, [], 'the alert comes before session.end');
    const types = text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    assert.deepEqual(types, ['session.start', 'mcp.call', 'audit.spool-moved', 'session.end']);
  });
});
