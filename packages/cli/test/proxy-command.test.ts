// perimeter proxy, as a user runs it: the real binary, real curl through it, a real spool.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifySpool, type AuditRecord } from '@perimeter/audit';
import { runCli } from './cli-harness.js';

const ROOT = new URL('../../../../', import.meta.url).pathname;
const BIN = join(ROOT, 'packages/cli/bin/perimeter.js');
const hasCurl = spawnSync('curl', ['--version']).status === 0;

void test('proxy refuses to listen on a non-loopback address', () => {
  const r = runCli(['proxy', '--listen', '0.0.0.0:3128']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /not a loopback address/);
});

void test(
  'proxy refuses curl to the metadata address with 403 and the reason, and audits it in a verifiable spool',
  { timeout: 20_000, skip: hasCurl ? false : 'curl is not installed' },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'perimeter-proxy-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const spool = join(dir, 'session.jsonl');
    const child = spawn(
      process.execPath,
      [BIN, 'proxy', '--policy', 'examples/open-internet.yaml', '--listen', '127.0.0.1:0', '--audit', spool],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const curl = spawnSync(
      'curl',
      ['-s', '-i', '--max-time', '5', '-x', url, 'http://169.254.169.254/latest/meta-data/'],
      { encoding: 'utf8' },
    );
    assert.match(curl.stdout, /^HTTP\/1\.1 403/);
    assert.match(
      curl.stdout,
      /X-Perimeter-Reason: Denied: 169\.254\.169\.254 is the cloud instance metadata service/,
    );
    const closed = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await closed;
    const text = readFileSync(spool, 'utf8');
    const v = verifySpool(text);
    assert.deepEqual(v.problems, []);
    assert.match(text, /"type":"session.start"/);
    assert.match(text, /"decision":"deny"/);
    assert.match(text, /"type":"session.end"/);
  },
);

void test(
  'proxy --socks refuses curl to the metadata address with the SOCKS ruleset reply',
  { timeout: 20_000, skip: hasCurl ? false : 'curl is not installed' },
  async (t) => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'proxy',
        '--policy',
        'examples/open-internet.yaml',
        '--listen',
        '127.0.0.1:0',
        '--socks',
        '127.0.0.1:0',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const socksAt = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /SOCKS5 on (127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const curl = spawnSync(
      'curl',
      ['-s', '-S', '--max-time', '5', '--socks5-hostname', socksAt, 'http://169.254.169.254/'],
      { encoding: 'utf8' },
    );
    assert.notEqual(curl.status, 0);
    assert.match(curl.stderr, /not allowed|ruleset|SOCKS/i);
    child.kill('SIGINT');
  },
);

/** Resolves to the proxy's URL once it says it listens. */
function listeningUrl(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

/** One raw request to the proxy; resolves to its status line when the proxy closes. */
function statusLine(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.end(request);
  });
}

void test(
  'proxy stopped by SIGTERM writes the refusals its window counted but had not reported yet',
  { timeout: 20_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'perimeter-proxy-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const spool = join(dir, 'session.jsonl');
    const child = spawn(
      process.execPath,
      [BIN, 'proxy', '--policy', 'examples/open-internet.yaml', '--listen', '127.0.0.1:0', '--audit', spool],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    t.after(() => child.kill('SIGKILL'));
    const port = Number(new URL(await listeningUrl(child)).port);
    // 25 targets no parser reads, at once: 20 written one by one, the rest counted in a window
    // whose own report would come a second later, after the proxy is gone.
    const statuses = await Promise.all(
      Array.from({ length: 25 }, () => statusLine(port, 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')),
    );
    for (const s of statuses) assert.match(s, /^HTTP\/1\.1 400 /);
    const closed = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await closed;
    const text = readFileSync(spool, 'utf8');
    assert.deepEqual(verifySpool(text).problems, []);
    const events = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    const written = events.filter((e) => e.decision_code === 'invalid-request');
    const summaries = events.filter((e) => e.type === 'network.refusals-suppressed');
    assert.ok(written.length >= 20, `the first 20 are written (${written.length})`);
    assert.ok(summaries.length >= 1, 'the refusals counted are reported');
    const counted = summaries.reduce((n, e) => n + Number(e.outcome?.suppressed ?? 0), 0);
    assert.equal(written.length + counted, 25, 'every refusal is written or counted, none lost');
    assert.equal(summaries.at(-1)?.outcome?.limit_per_second, 20);
    assert.deepEqual(
      events.slice(-2).map((e) => e.type),
      ['network.refusals-suppressed', 'session.end'],
      'the last count is reported before the session ends',
    );
  },
);
