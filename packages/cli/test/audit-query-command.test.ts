// perimeter audit query against a real control plane: events a device shipped, found by user,
// surface, decision, type, session and time, as a table (newest first, paged, bounded by --limit),
// JSON, or streamed JSON lines and CSV from the export; and each way it can go wrong said in one
// sentence, with the token never printed.

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { auditEventSchema, type AuditRecord } from '@perimeter/audit';
import { main } from '../src/main.js';
import type { Ui } from '../src/ui.js';
import {
  managedDevice,
  recordSession,
  ship,
  shipped,
  type Device,
  type Session,
} from './audit-ship-harness.js';
import { linesOf, STACK_FRAME, type CliResult } from './cli-harness.js';
import type { ControlPlane } from './control-plane-harness.js';

/** Runs `perimeter ARGS...` in-process with `env` over this process's environment, awaiting it. */
async function perimeter(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<CliResult> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (values: Readonly<Record<string, string | undefined>>): void => {
    for (const [k, v] of Object.entries(values))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
  const out: string[] = [];
  const err: string[] = [];
  const ui: Ui = { out: (t) => out.push(`${t}\n`), err: (t) => err.push(`${t}\n`), isColor: false };
  set(env);
  try {
    const code = await main(args, ui);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    set(saved);
  }
}

/** A new admin API token of `role` for the owner. */
async function token(cp: ControlPlane, role: string): Promise<string> {
  const r = await cp.api<{ secret: string }>('POST', `${cp.base}/tokens`, { name: `query-${role}`, role });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.secret;
}

/** What a session of an agent does, one event each (the 0th is session.start, the last session.end). */
const STEPS: readonly Partial<AuditRecord>[] = [
  { type: 'session.start', category: 'system' },
  {
    type: 'network.connect',
    category: 'evaluation',
    request: { surface: 'network', action: 'connect', resource: 'api.github.com:443' },
    decision: 'allow',
  },
  {
    type: 'network.connect',
    category: 'evaluation',
    request: { surface: 'network', action: 'connect', resource: 'paste.example.net:443' },
    decision: 'deny',
  },
  {
    type: 'credential.use',
    category: 'evaluation',
    request: { surface: 'credential', action: 'use', resource: 'github-token → api.github.com' },
    decision: 'allow',
  },
  {
    type: 'filesystem.read',
    category: 'evaluation',
    request: { surface: 'filesystem', action: 'read', resource: '/home/alice/.ssh/id_ed25519' },
    decision: 'deny',
  },
  {
    type: 'mcp.result',
    category: 'system',
    outcome: { server: 'github', tool: 'create_issue', latency_ms: 12, result_bytes: 140 },
  },
  { type: 'session.end', category: 'system' },
];

interface Shipped {
  readonly d: Device;
  readonly s: Session;
  readonly auditor: string;
  readonly env: Record<string, string>;
}

/**
 * A device of alice@example.com that shipped one session of STEPS (or of `n` events, each with
 * what `event` gives); an auditor's token and the environment to query with it.
 */
async function shippedSession(
  t: TestContext,
  n = STEPS.length,
  event: (i: number) => Partial<AuditRecord> = (i) => ({ ...STEPS[i] }),
): Promise<Shipped> {
  const d = await managedDevice(t, undefined, 'alice@example.com');
  const s = recordSession(d, n, { event });
  shipped(await ship(d));
  const auditor = await token(d.cp, 'auditor');
  return {
    d,
    s,
    auditor,
    env: { PERIMETER_TOKEN: auditor, PERIMETER_SERVER: d.cp.url, XDG_STATE_HOME: d.state },
  };
}

/** The table's rows without its header, each split into its columns. */
const rowsOf = (stdout: string): string[][] =>
  linesOf(stdout)
    .slice(1)
    .map((l) => l.split(/ {2,}/));

describe('perimeter audit query', () => {
  it('shows a user’s events of the last hour as a table, newest first: time, user, surface, decision, type, resource', async (t) => {
    const { env } = await shippedSession(t);
    const r = await perimeter(['audit', 'query', '--user', 'alice@example.com', '--since', '1h'], env);
    assert.equal(r.code, 0, r.stderr);
    const [header] = linesOf(r.stdout);
    assert.match(header ?? '', /^TIME +USER +SURFACE +DECISION +TYPE +RESOURCE$/);
    // Her device's enrolment is hers too (the server records it); the rest is the session.
    const rows = rowsOf(r.stdout).filter((c) => !(c[4] ?? '').startsWith('device.'));
    assert.deepEqual(
      rows.map((c) => c.slice(1)),
      [...STEPS].reverse().map((s) => [
        'alice@example.com',
        s.request?.surface ?? '-',
        s.decision ?? '-',
        s.type ?? '',
        // An event without a request is shown by what it is about (an MCP result: server/tool).
        s.request?.resource ?? (s.type === 'mcp.result' ? 'github/create_issue' : '-'),
      ]),
    );
    assert.ok(rows.every((c) => !Number.isNaN(Date.parse(c[0] ?? ''))));
  });

  it('answers the three questions with --surface, --decision and --type', async (t) => {
    const { env, s } = await shippedSession(t);
    const resources = async (...args: string[]): Promise<string[]> => {
      const r = await perimeter(['audit', 'query', '--session', s.id, ...args], env);
      assert.equal(r.code, 0, r.stderr);
      return rowsOf(r.stdout).map((c) => c[5] ?? '');
    };
    // What did this agent touch?
    assert.deepEqual(await resources('--surface', 'filesystem,mcp,exec'), ['/home/alice/.ssh/id_ed25519']);
    // Which credentials did it use?
    assert.deepEqual(await resources('--surface', 'credential'), ['github-token → api.github.com']);
    assert.deepEqual(await resources('--type', 'credential.use'), ['github-token → api.github.com']);
    // Where did the data go?
    assert.deepEqual(await resources('--surface', 'network'), [
      'paste.example.net:443',
      'api.github.com:443',
    ]);
    assert.deepEqual(await resources('--surface', 'network', '--decision', 'deny'), [
      'paste.example.net:443',
    ]);
  });

  it('pages through next up to --limit, and prints JSON with --format json', async (t) => {
    const { d, env } = await shippedSession(t);
    recordSession(d, 1200);
    shipped(await ship(d));
    const r = await perimeter(['audit', 'query', '--limit', '1100', '--format', 'json'], env);
    assert.equal(r.code, 0, r.stderr);
    const events = (JSON.parse(r.stdout) as unknown[]).map((e) => auditEventSchema().parse(e));
    assert.equal(events.length, 1100, 'two pages: 1000 and 100');
    assert.equal(new Set(events.map((e) => e.event_id)).size, 1100, 'no event twice');
    const table = await perimeter(['audit', 'query'], env);
    assert.equal(linesOf(table.stdout).length, 101, 'the default limit is 100');
  });

  it('streams every matching event, oldest first, as JSON lines or CSV', async (t) => {
    const { s, env } = await shippedSession(t);
    const jsonl = await perimeter(['audit', 'query', '--session', s.id, '--format', 'jsonl'], env);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const events = linesOf(jsonl.stdout).map((l) => auditEventSchema().parse(JSON.parse(l)));
    assert.deepEqual(
      events.map((e) => e.integrity.seq),
      STEPS.map((_, i) => i),
    );

    const csv = await perimeter(
      ['audit', 'query', '--session', s.id, '--surface', 'network', '--format', 'csv'],
      env,
    );
    assert.equal(csv.code, 0, csv.stderr);
    const rows = linesOf(csv.stdout).map((l) => l.replace(/\r$/, ''));
    assert.equal(
      rows[0],
      'time,event_id,type,category,user_id,device_id,session_id,surface,action,resource,decision,enforcement_mode,reason,bytes_in,bytes_out,cut',
    );
    assert.deepEqual(
      rows.slice(1).map((r) => r.split(',').slice(7, 11)),
      [
        ['network', 'connect', 'api.github.com:443', 'allow'],
        ['network', 'connect', 'paste.example.net:443', 'deny'],
      ],
    );
  });

  it('redteam-31-1: marks an event the spool cut at the end of its line, as audit tail does', async (t) => {
    const cuts: Record<number, Partial<AuditRecord>> = {
      // A 100 KB resource: the spool cuts the string.
      1: {
        type: 'network.connect',
        category: 'evaluation',
        request: { surface: 'network', action: 'connect', resource: 'x'.repeat(100_000) },
        decision: 'deny',
      },
      // 5,000 outcome keys: the spool leaves all but the first 100 out.
      2: {
        type: 'mcp.result',
        category: 'system',
        outcome: Object.fromEntries(
          Array.from({ length: 5000 }, (_, i) => [`k${String(i).padStart(4, '0')}`, 'v'.repeat(20)]),
        ),
      },
    };
    const { s, env } = await shippedSession(t, 4, (i) => ({ ...cuts[i] }));
    const r = await perimeter(['audit', 'query', '--session', s.id], env);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...newestFirst] = linesOf(r.stdout);
    assert.match(header ?? '', /^TIME +USER +SURFACE +DECISION +TYPE +RESOURCE$/);
    const lines = newestFirst.reverse();
    assert.equal(lines.length, 4, r.stdout);
    const mark = / {2}\[cut: [^\]]*\]$/;
    assert.doesNotMatch(lines[0] ?? '', /\[cut/, 'a whole event has no marker');
    assert.doesNotMatch(lines[3] ?? '', /\[cut/, 'a whole event has no marker');
    assert.match(
      lines[1] ?? '',
      /^\S+ {2}alice@example\.com {2}network {2}deny +network\.connect {2}x{2048}…\[cut: 100000 bytes, sha256 [0-9a-f]{16}\] {2}\[cut: from \d+ bytes, 1 string shortened\]$/,
    );
    assert.match(
      lines[2] ?? '',
      /^\S+ {2}alice@example\.com +- +- +mcp\.result +- {2}\[cut: from \d+ bytes, 4900 of outcome left out\]$/,
    );
    // The same marks as audit tail's lines of the spool the device shipped.
    const tail = await perimeter(['audit', 'tail', s.path], env);
    assert.equal(tail.code, 0, tail.stderr);
    assert.deepEqual(
      lines.map((l) => mark.exec(l)?.[0]),
      linesOf(tail.stdout).map((l) => mark.exec(l)?.[0]),
    );

    // --format json carries each event's cut block as the device sealed it.
    const json = await perimeter(['audit', 'query', '--session', s.id, '--format', 'json'], env);
    assert.equal(json.code, 0, json.stderr);
    const events = (JSON.parse(json.stdout) as unknown[]).map((e) => auditEventSchema().parse(e)).reverse();
    assert.deepEqual(
      events.map((e) => [e.cut?.strings, e.cut?.items]),
      [
        [undefined, undefined],
        [1, undefined],
        [undefined, { outcome: 4900 }],
        [undefined, undefined],
      ],
    );
  });

  it('shows the time, user and type a device wrote as text: no escape sequence in them reaches the terminal, as in audit tail', async (t) => {
    // V8 reads a date and skips what is in brackets: the server files this time, escape and all.
    const time = `${new Date(Date.now() - 60_000).toUTCString()} (\u001b[2J)`;
    const user = { email: 'alice\u001b]0;pwned\u0007@example.com' };
    const { s, env } = await shippedSession(t, 3, (i) =>
      i === 1 ? { time, user, type: 'network.connect\u001b[8m' } : {},
    );
    const r = await perimeter(['audit', 'query', '--session', s.id], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('\u001b') && !r.stdout.includes('\u0007'), JSON.stringify(r.stdout));
    // Each shown as its JSON escape, the time as audit tail shows it from the same spool.
    const shownTime = time.replace('\u001b', '\\u001b');
    const line = linesOf(r.stdout).find((l) => l.includes('pwned')) ?? '';
    assert.ok(line.startsWith(`${shownTime}  alice\\u001b]0;pwned\\u0007@example.com  `), line);
    assert.ok(line.includes('  network.connect\\u001b[8m  '), line);
    const tail = await perimeter(['audit', 'tail', s.path], env);
    assert.equal(tail.code, 0, tail.stderr);
    assert.ok(
      linesOf(tail.stdout).some((l) => l.startsWith(`${shownTime}  `)),
      tail.stdout,
    );
  });

  it('takes the server from the logged-in device when neither --server nor PERIMETER_SERVER says it', async (t) => {
    const { env } = await shippedSession(t);
    const r = await perimeter(['audit', 'query', '--type', 'session.end'], {
      ...env,
      PERIMETER_SERVER: undefined,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(rowsOf(r.stdout).length, 1);
  });

  it('says "no events match" when none do', async (t) => {
    const { env } = await shippedSession(t);
    const r = await perimeter(['audit', 'query', '--since', '2099-01-01T00:00:00Z'], env);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'no events match\n');
  });

  it('says in one sentence what is wrong, never printing the token', async (t) => {
    const { d, env, auditor } = await shippedSession(t);
    const viewer = await token(d.cp, 'viewer');
    const cases: [string, readonly string[], Record<string, string | undefined>, number, RegExp][] = [
      [
        'no token',
        [],
        { ...env, PERIMETER_TOKEN: undefined },
        3,
        /^perimeter: audit query needs an admin API token\n {2}set PERIMETER_TOKEN \(or pass --token\)/,
      ],
      [
        'a token the server does not know',
        [],
        { ...env, PERIMETER_TOKEN: 'pmt_not-a-real-token' },
        1,
        /^perimeter: http:\/\/127\.0\.0\.1:\d+ refused the API token \(.+\)\n {2}check PERIMETER_TOKEN or --token/,
      ],
      [
        'a token that may not read events',
        ['--token', viewer],
        env,
        1,
        /^perimeter: this API token may not read audit events \(.+\)\n {2}use a token with permission events\.read/,
      ],
      [
        'a server that is not there',
        ['--server', 'http://127.0.0.1:9'],
        env,
        1,
        /^perimeter: cannot reach 127\.0\.0\.1:9 \(connection refused\)\n {2}check --server/,
      ],
      [
        'plain http to another machine',
        ['--server', 'http://perimeter.example.com'],
        env,
        3,
        /^perimeter: --server http:\/\/perimeter\.example\.com is plain http to another machine: the API token would cross the network in clear/,
      ],
      [
        'no server at all',
        [],
        { ...env, PERIMETER_SERVER: undefined, XDG_STATE_HOME: '/nonexistent-perimeter-state' },
        3,
        /^perimeter: audit query needs the control plane's address\n {2}pass --server URL or set PERIMETER_SERVER/,
      ],
      [
        'a --since that is no time',
        ['--since', 'yesterday'],
        env,
        3,
        /^perimeter: --since yesterday is neither a time nor a duration\n {2}write how long ago \(30m, 1h, 7d\)/,
      ],
      [
        'another organisation',
        ['--org', 'someone-else'],
        env,
        3,
        /^perimeter: the API token belongs to organisation \S+ \(\S+\), not someone-else/,
      ],
      [
        '--limit with an export',
        ['--format', 'csv', '--limit', '5'],
        env,
        3,
        /^perimeter: --limit applies to the table and json formats; --format csv exports every matching event/,
      ],
      [
        'an unknown format',
        ['--format', 'xml'],
        env,
        3,
        /^perimeter: --format xml is not one of table, json, jsonl, csv/,
      ],
    ];
    for (const [what, args, caseEnv, code, message] of cases) {
      const r = await perimeter(['audit', 'query', ...args], caseEnv);
      assert.equal(r.code, code, `${what}: ${r.stderr}`);
      assert.match(r.stderr, message, what);
      assert.equal(r.stdout, '', what);
      assert.ok(!r.stderr.includes(STACK_FRAME), `${what}: no stack trace`);
      for (const secret of [auditor, viewer])
        assert.ok(
          !r.stderr.includes(secret) && !r.stdout.includes(secret),
          `${what}: the token is not printed`,
        );
    }
  });
});
