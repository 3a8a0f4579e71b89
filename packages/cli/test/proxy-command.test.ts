// perimeter proxy, as a user runs it: the real binary, real curl through it, a real spool.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifySpool } from '@perimeter/audit';
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
