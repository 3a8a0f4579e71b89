// perimeter audit verify|tail on real spools in temp directories.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Spool, lifecycleRecord } from '@perimeter/audit';
import { runCli } from './cli-harness.js';

const BIN = new URL('../../bin/perimeter.js', import.meta.url).pathname.replace('/dist/', '/');

function spoolWith(t: TestContext, types: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-audit-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'session.jsonl');
  const spool = Spool.open(path, { chainId: 's-1' });
  for (const type of types) spool.append(lifecycleRecord(type, { sessionId: 's-1' }));
  spool.close();
  return path;
}

void test('audit verify passes an untouched spool', (t) => {
  const path = spoolWith(t, ['session.start', 'network.connect', 'session.end']);
  const r = runCli(['audit', 'verify', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 events, chain intact/);
});

void test('audit verify fails an edited spool and names the line', (t) => {
  const path = spoolWith(t, ['session.start', 'network.connect', 'session.end']);
  writeFileSync(path, readFileSync(path, 'utf8').replace('network.connect', 'network.connecT'));
  const r = runCli(['audit', 'verify', path]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: error: edited:`));
  assert.match(r.stdout, /tampered or damaged/);
});

void test('audit verify warns about a chain without session.end but passes it', (t) => {
  const path = spoolWith(t, ['session.start']);
  const r = runCli(['audit', 'verify', path]);
  assert.equal(r.code, 0);
  assert.match(r.stderr, /warning: unfinished/);
});

void test('audit verify of a missing file exits 3 with one sentence', () => {
  const r = runCli(['audit', 'verify', '/nonexistent/session.jsonl']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: cannot read the audit spool/);
});

void test('audit tail shows the latest events, one line each', (t) => {
  const path = spoolWith(t, ['session.start', 'network.connect', 'session.end']);
  const r = runCli(['audit', 'tail', path, '-n', '2']);
  assert.equal(r.code, 0);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /network\.connect/);
  assert.match(lines[1] ?? '', /session\.end/);
});

void test('audit tail --follow prints events as they are appended', { timeout: 15_000 }, async (t) => {
  const path = spoolWith(t, ['session.start']);
  const child = spawn(process.execPath, [BIN, 'audit', 'tail', path, '--follow'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  const seen = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${text}; got: ${out}`)), 10_000);
      const check = (): void => {
        if (out.includes(text)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        check();
      });
      check();
    });
  await seen('session.start');
  const spool = Spool.open(path, { chainId: 's-1' });
  spool.append(lifecycleRecord('network.connect', { sessionId: 's-1' }));
  spool.close();
  await seen('network.connect');
  child.kill('SIGTERM');
});

/** Runs the binary with its standard output's reader already gone, as `… | head -1` leaves it. */
function withReaderGone(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // before the child has written anything: its writes meet a closed pipe
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

void test('audit tail --follow stops quietly when its reader goes away', { timeout: 15_000 }, async (t) => {
  const path = spoolWith(t, ['session.start', 'network.connect']);
  const r = await withReaderGone(['audit', 'tail', path, '--follow']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});

void test('audit tail stops quietly when its reader goes away', { timeout: 15_000 }, async (t) => {
  const path = spoolWith(t, ['session.start', 'network.connect', 'session.end']);
  const r = await withReaderGone(['audit', 'tail', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
});
