// perimeter audit verify|tail on real spools in temp directories, and the line tail prints for
// each kind of event.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Spool, alertRecord, decisionRecord, lifecycleRecord, type AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies, type McpRequest } from '@perimeter/policy';
import { runCli } from './cli-harness.js';

const BIN = new URL('../../bin/perimeter.js', import.meta.url).pathname.replace('/dist/', '/');

/** A spool of these records in a temp directory of the test's (chain s-1). */
function spoolOf(t: TestContext, records: readonly AuditRecord[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-audit-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'session.jsonl');
  const spool = Spool.open(path, { chainId: 's-1' });
  for (const r of records) spool.append(r);
  spool.close();
  return path;
}

function spoolWith(t: TestContext, types: readonly string[]): string {
  return spoolOf(
    t,
    types.map((type) => lifecycleRecord(type, { sessionId: 's-1' })),
  );
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

/**
 * The MCP gateway's events as it records them (the shapes of a real `perimeter mcp` session's
 * spool: packages/mcp/src/gateway.ts and upstream.ts), each with the one line `audit tail` must
 * print for it, time and decision aside. Lifecycle and alert events carry their server, tool and
 * error in `outcome`, not in `request`.
 */
function gatewayEvents(): { record: AuditRecord; line: string }[] {
  const ctx = { sessionId: 's-mcp', now: Date.parse('2026-11-23T16:34:20.000Z') };
  const loaded = loadPolicies([
    {
      file: 'mcp.yaml',
      text: [
        'apiVersion: perimeter/v1',
        'kind: Policy',
        'metadata: { name: acc, layer: org }',
        'mcp:',
        '  allow:',
        '    - { id: write-src, server: filesystem, tools: [write_file], args: { path: { prefix: "/w/src/" } } }',
        '',
      ].join('\n'),
    },
  ]);
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    { context: { home: '/home/u', workspace: '/w' } },
  );
  const write: McpRequest = {
    surface: 'mcp',
    server: 'filesystem',
    tool: 'write_file',
    args: { path: '/etc/x' },
  };
  const denied = engine.decide(write);
  const hash = 'sha256:85b34d15fe97ffc872399535b07e6a9737ef79376f6bdf73aca037e062bf3d9d';
  const unavailable =
    'MCP error -32000: Connection closed (perimeter: cannot run /nonexistent/server: No such file or directory)';
  return [
    {
      record: lifecycleRecord('mcp.server.spawn', ctx, {
        server: 'filesystem',
        command: '/work/node_modules/.bin/mcp-server-filesystem',
        args: 1,
        isolation: 'sandbox',
      }),
      line: 'mcp.server.spawn filesystem  /work/node_modules/.bin/mcp-server-filesystem, 1 argument, isolation: sandbox',
    },
    {
      record: lifecycleRecord('mcp.server.unavailable', ctx, { server: 'broken', reason: unavailable }),
      line: `mcp.server.unavailable broken  ${unavailable}`,
    },
    {
      record: lifecycleRecord('mcp.server.ready', ctx, {
        server: 'filesystem',
        server_name: 'secure-filesystem-server',
        server_version: '0.2.0',
      }),
      line: 'mcp.server.ready filesystem  secure-filesystem-server 0.2.0',
    },
    {
      record: lifecycleRecord('mcp.server.crash', ctx, {
        server: 'everything',
        credential: 'github',
        // A server's own stderr: its escape sequences are shown, never sent to the terminal.
        reason: 'the process exited with code 1 (\u001b[31mError: boom\u001b[0m)',
      }),
      line: 'mcp.server.crash everything  the process exited with code 1 (\\u001b[31mError: boom\\u001b[0m)',
    },
    {
      record: lifecycleRecord('mcp.server.crash', ctx, {
        server: 'everything',
        // Bidirectional controls (Trojan Source) would show the reason in another order than it is.
        reason: 'exited \u202eevil\u202c; see \u2066log\u2069 \u200f',
      }),
      line: 'mcp.server.crash everything  exited \\u202eevil\\u202c; see \\u2066log\\u2069 \\u200f',
    },
    {
      record: lifecycleRecord('mcp.pin', ctx, { server: 'filesystem', tool: 'read_file', hash, by: 'tofu' }),
      line: 'mcp.pin filesystem/read_file  pinned sha256:85b34d15fe97ffc8… on first use',
    },
    {
      record: lifecycleRecord('mcp.pin', ctx, {
        server: 'filesystem',
        tool: 'write_file',
        hash,
        by: 'user',
        user: 'alice',
        approved_at: '2026-11-23T16:30:00.000Z',
      }),
      line: 'mcp.pin filesystem/write_file  approved sha256:85b34d15fe97ffc8… by alice at 2026-11-23T16:30:00.000Z',
    },
    {
      record: alertRecord(
        'mcp.tool-held',
        ctx,
        'low',
        'everything/get-env: new tool waiting for approval; hidden until approved (perimeter mcp pins approve everything get-env)',
        { server: 'everything', tool: 'get-env', hash, diff: '' },
      ),
      line: 'mcp.tool-held everything/get-env  everything/get-env: new tool waiting for approval; hidden until approved (perimeter mcp pins approve everything get-env)',
    },
    {
      record: {
        ...lifecycleRecord('mcp.list', ctx, {
          shown: 20,
          hidden_by_policy: 7,
          held: 1,
          upstreams_unavailable: 'broken',
          latency_ms: 122.7,
        }),
        category: 'evaluation',
      },
      line: 'mcp.list  20 shown, 7 hidden by policy, 1 held; unavailable: broken',
    },
    {
      record: decisionRecord(denied, write, ctx),
      line: `mcp call filesystem/write_file  ${denied.reason}`,
    },
    {
      record: {
        ...lifecycleRecord('mcp.result', ctx, {
          server: 'filesystem',
          tool: 'write_file',
          latency_ms: 15.134,
          upstream_ms: 14.231,
          gateway_ms: 0.914,
          result_bytes: 154,
          is_error: false,
          secret_findings: 0,
          weak_findings: 0,
        }),
        category: 'execution',
      },
      line: 'mcp.result filesystem/write_file  ok, 154 bytes, 15 ms',
    },
    {
      record: {
        ...lifecycleRecord('mcp.result', ctx, {
          server: 'filesystem',
          tool: 'read_text_file',
          latency_ms: 8.463,
          result_bytes: 132,
          is_error: true,
          secret_findings: 1,
          weak_findings: 0,
          injection_findings: 2,
        }),
        category: 'execution',
      },
      line: 'mcp.result filesystem/read_text_file  the tool answered with an error, 132 bytes, 8.5 ms, 1 secret found, 2 instructions to the agent found',
    },
    {
      record: {
        ...lifecycleRecord('mcp.result', ctx, {
          server: 'everything',
          tool: 'echo',
          error: 'the MCP server everything is unavailable: connection lost',
          latency_ms: 3.2,
        }),
        category: 'execution',
      },
      line: 'mcp.result everything/echo  failed: the MCP server everything is unavailable: connection lost (3.2 ms)',
    },
    {
      record: alertRecord(
        'mcp.secret',
        ctx,
        'high',
        'Blocked: a secret in the arguments of everything/echo (github-token).',
        { server: 'everything', tool: 'echo', direction: 'arguments', action: 'block' },
      ),
      line: 'mcp.secret everything/echo  Blocked: a secret in the arguments of everything/echo (github-token).',
    },
  ];
}

void test('audit tail shows the path of a built-in protection, how it is mounted and why', (t) => {
  const ctx = { sessionId: 's-1', now: Date.parse('2026-11-21T23:13:48.052Z') };
  const path = spoolOf(t, [
    lifecycleRecord('filesystem.mount', ctx, {
      mount: 'read-only',
      dest: '/home/dev/project/.git',
      why: 'git directory',
    }),
    lifecycleRecord('network.closed', ctx, {
      resource: 'registry.npmjs.org:443',
      address: '104.16.0.35:443',
      bytes_in: 120,
      bytes_out: 80,
      duration_ms: 40,
    }),
  ]);
  const r = runCli(['audit', 'tail', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trimEnd().split('\n'), [
    '2026-11-21T23:13:48.052Z  -  filesystem.mount /home/dev/project/.git  read-only: git directory',
    '2026-11-21T23:13:48.052Z  -  network.closed registry.npmjs.org:443',
  ]);
});

void test('audit tail names the server, tool and reason or error of each MCP gateway event', (t) => {
  const events = gatewayEvents();
  const path = spoolOf(
    t,
    events.map((e) => e.record),
  );
  const r = runCli(['audit', 'tail', path, '-n', String(events.length)]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, events.length, r.stdout);
  events.forEach((e, i) => {
    const decision = e.record.decision ?? '-';
    assert.equal(lines[i], `2026-11-23T16:34:20.000Z  ${decision}  ${e.line}`);
  });
  // The argument-bound deny names its rule and condition, never the argument's value.
  const denied = lines[events.findIndex((e) => e.line.startsWith('mcp call filesystem/write_file'))] ?? '';
  assert.match(denied, /^\S+ {2}deny {2}mcp call filesystem\/write_file {2}Denied: rule "write-src"/);
  assert.doesNotMatch(denied, /\/etc\/x/);
});

void test('redteam-31-1: audit tail marks an event the spool cut, and says what was cut', (t) => {
  const ctx = { sessionId: 's-1', now: Date.parse('2026-11-23T16:34:20.000Z') };
  const huge = 'x'.repeat(100_000);
  const path = spoolOf(t, [
    lifecycleRecord('session.start', ctx),
    // A 100 KB tool name from an upstream: the spool cuts the string.
    lifecycleRecord('mcp.list', ctx, { server: 'evil', tool: huge, shown: 1, hidden_by_policy: 0, held: 0 }),
    // 5,000 outcome keys: the spool leaves all but the first 100 out.
    lifecycleRecord(
      'mcp.result',
      ctx,
      Object.fromEntries(
        Array.from({ length: 5000 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 'v'.repeat(20)]),
      ),
    ),
    // What the spool writes when even a hard cut is too long: a stand-in.
    { ...lifecycleRecord('mcp.result', ctx), cut: { bytes: 3_600_000, stand_in: true } },
  ]);
  const r = spawnSync(process.execPath, [BIN, 'audit', 'tail', path], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, r.stdout);
  assert.doesNotMatch(lines[0] ?? '', /\[cut/, 'a whole event has no marker');
  const byteCount = (line: string): number => Number(/\[cut: from (\d+) bytes/.exec(line)?.[1]);
  assert.match(
    lines[1] ?? '',
    /^2026-11-23T16:34:20\.000Z {2}- {2}mcp\.list evil\/x+…\[cut: 100000 bytes, sha256 [0-9a-f]{16}\]/,
  );
  assert.match(lines[1] ?? '', / {2}\[cut: from \d+ bytes, 1 string shortened\]$/);
  assert.ok(byteCount(lines[1] ?? '') > 100_000, lines[1]);
  assert.match(lines[2] ?? '', / {2}\[cut: from \d+ bytes, 4900 of outcome left out\]$/);
  assert.equal(
    lines[3],
    '2026-11-23T16:34:20.000Z  -  mcp.result  [cut: from 3600000 bytes, only who, when and what type kept]',
  );

  // --json prints each event with its cut block as written.
  const json = spawnSync(process.execPath, [BIN, 'audit', 'tail', path, '--json'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(json.status, 0, json.stderr);
  const events = json.stdout
    .trimEnd()
    .split('\n')
    .map(
      (l) => JSON.parse(l) as { cut?: { bytes?: number; strings?: number; items?: Record<string, number> } },
    );
  assert.equal(events[0]?.cut, undefined);
  assert.equal(events[1]?.cut?.strings, 1);
  assert.ok((events[1]?.cut?.bytes ?? 0) > 100_000);
  assert.deepEqual(events[2]?.cut?.items, { outcome: 4900 });
  assert.deepEqual(events[3]?.cut, { bytes: 3_600_000, stand_in: true });
});

void test('audit tail marks an MCP call whose argument keys were cut where they were recorded', (t) => {
  const ctx = { sessionId: 's-1', now: Date.parse('2026-11-23T16:34:20.000Z') };
  const loaded = loadPolicies([
    {
      file: 'p.yaml',
      text: 'apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: p, layer: org }\nmcp:\n  allow:\n    - { id: any-db, server: db, tools: ["*"] }\n',
    },
  ]);
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    { context: { home: '/h', workspace: '/w' } },
  );
  const call: McpRequest = {
    surface: 'mcp',
    server: 'db',
    tool: 'query',
    args: Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`a${i}`, i])),
  };
  const path = spoolOf(t, [decisionRecord(engine.decide(call), call, ctx)]);
  const r = spawnSync(process.execPath, [BIN, 'audit', 'tail', path], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  // Cut at its source, under the bound: no byte count, only what was left out.
  assert.match(
    r.stdout,
    /^\S+ {2}allow {2}mcp call db\/query {2}.* {2}\[cut: 150 of request\.argument_keys left out\]\n$/,
  );
});
