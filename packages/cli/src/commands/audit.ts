// perimeter audit verify|tail: reading session spools on this machine; perimeter audit query:
// reading what devices shipped to the control plane, with an admin API token.

import { readFileSync, readdirSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { sessionsDir } from './run.js';
import { auditEventSchema, verifySpool, type AuditEvent as AuditEventT } from '@perimeter/audit';
import { escapeUnprintable } from '@perimeter/policy';
import { boolFlag, listFlag, parseArgs, stringFlag, type Parsed } from '../args.js';
import { call, errorMessage, serverUrl, ServerUnreachable, type Answer } from '../device/control-plane.js';
import { deviceDir, readEnrolment } from '../device/device-state.js';
import { UserError } from '../errors.js';
import { auditLine, cutMark, eventResource } from '../audit-line.js';
import { paint, paintEffect, type Ui } from '../ui.js';

function readSpool(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(
      `cannot read the audit spool ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      'check the path',
    );
  }
}

export function runAuditVerify(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'audit verify');
  if (p.positionals.length === 0)
    throw new UserError(
      'audit verify needs spool files',
      'for example: perimeter audit verify ~/.local/state/perimeter/audit/*.jsonl',
    );
  const results = p.positionals.map((file) => ({ file, ...verifySpool(readSpool(file)) }));
  if (boolFlag(p, 'json')) ui.out(JSON.stringify(results, null, 2));
  else {
    for (const r of results) {
      for (const problem of r.problems) {
        const level =
          problem.kind === 'unfinished' ? paint(ui, 'yellow', 'warning') : paint(ui, 'red', 'error');
        ui.err(`${r.file}:${problem.line}: ${level}: ${problem.kind}: ${problem.message}`);
      }
      ui.out(
        `${r.isIntact ? paint(ui, 'green', '✓') : paint(ui, 'red', '✗')} ${r.file}: ${r.events} events, ${r.isIntact ? 'chain intact' : 'tampered or damaged'}`,
      );
    }
  }
  return results.every((r) => r.isIntact) ? 0 : 1;
}

function printLines(ui: Ui, text: string, isJson: boolean): void {
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let parsed: ReturnType<ReturnType<typeof auditEventSchema>['safeParse']> | undefined;
    try {
      parsed = auditEventSchema().safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) ui.err(paint(ui, 'red', `(not an audit event: ${raw.slice(0, 60)}…)`));
    else ui.out(isJson ? JSON.stringify(parsed.data) : auditLine(ui, parsed.data));
  }
}

export function runAuditTail(argv: readonly string[], ui: Ui): number | Promise<number> {
  const p = parseArgs(
    argv,
    {
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      json: { type: 'boolean' },
    },
    'audit tail',
  );
  if (p.positionals.length > 1)
    throw new UserError(
      'audit tail takes one spool file',
      'for example: perimeter audit tail session.jsonl --follow',
    );
  const file = p.positionals[0] ?? latestSpool();
  const n = Number(stringFlag(p, 'lines') ?? '20');
  if (!Number.isInteger(n) || n < 0)
    throw new UserError(`-n ${stringFlag(p, 'lines') ?? ''} is not a whole number`);
  const text = readSpool(file);
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  printLines(ui, lines.slice(Math.max(0, lines.length - n)).join('\n'), boolFlag(p, 'json'));
  if (!boolFlag(p, 'follow')) return 0;
  return follow(ui, file, Buffer.byteLength(text), boolFlag(p, 'json'));
}

/** Prints what is appended to the spool, a whole line at a time, until interrupted. */
async function follow(ui: Ui, file: string, from: number, isJson: boolean): Promise<number> {
  let offset = from;
  let pending = '';
  await new Promise<void>((resolve) => {
    const read = (): void => {
      const size = statSync(file).size;
      if (size < offset) offset = 0; // replaced or truncated: start again
      if (size === offset) return;
      const chunk = readFileSync(file).subarray(offset, size).toString('utf8');
      offset = size;
      pending += chunk;
      const cut = pending.lastIndexOf('\n');
      if (cut < 0) return;
      printLines(ui, pending.slice(0, cut), isJson);
      pending = pending.slice(cut + 1);
    };
    const watcher = watch(file, read);
    const poll = setInterval(read, 500);
    const stop = (): void => {
      watcher.close();
      clearInterval(poll);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

/** The most recently written session spool in the default place. */
function latestSpool(): string {
  const dir = sessionsDir();
  let newest: { path: string; mtime: number } | undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.jsonl'));
  } catch {
    names = [];
  }
  for (const n of names) {
    const path = join(dir, n);
    const mtime = statSync(path).mtimeMs;
    if (!newest || mtime > newest.mtime) newest = { path, mtime };
  }
  if (!newest)
    throw new UserError(
      `no session spools in ${dir} yet`,
      'run a session with perimeter run, or name a spool file',
    );
  return newest.path;
}

/** An ISO time, or how long before now: 30s, 30m, 1h, 7d, 2w (the server reads both). */
const RELATIVE = /^[1-9][0-9]{0,5}[smhdw]$/;

function timeFlag(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (RELATIVE.test(text) || (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(Date.parse(text))))
    return text;
  throw new UserError(
    `--${name} ${text} is neither a time nor a duration`,
    `write how long ago (30m, 1h, 7d) or an ISO time (2026-01-31T09:00:00Z): --${name} 1h`,
  );
}

const FORMATS = ['table', 'json', 'jsonl', 'csv'] as const;
type Format = (typeof FORMATS)[number];

/** The server and the admin token of a query, and a way to ask with them. */
interface Api {
  readonly server: string;
  get(path: string, sink?: (chunk: Buffer) => void): Promise<Answer>;
}

function adminApi(p: Parsed): Api {
  const token = stringFlag(p, 'token') ?? process.env.PERIMETER_TOKEN;
  if (token === undefined || token === '')
    throw new UserError(
      'audit query needs an admin API token',
      'set PERIMETER_TOKEN (or pass --token) to a token with permission events.read, as an auditor or owner makes in the console',
    );
  const given = stringFlag(p, 'server');
  const fromEnv = process.env.PERIMETER_SERVER;
  const enrolled = given === undefined && !fromEnv ? readEnrolment(deviceDir())?.server : undefined;
  const text = given ?? (fromEnv || enrolled);
  if (text === undefined)
    throw new UserError(
      "audit query needs the control plane's address",
      'pass --server URL or set PERIMETER_SERVER (a device logged in with perimeter login uses its server)',
    );
  const server = serverUrl(
    text,
    given !== undefined ? '--server' : fromEnv ? 'PERIMETER_SERVER' : 'the enrolled server',
    'the API token',
  );
  return {
    server,
    get: async (path, sink) => {
      let answer: Answer;
      try {
        answer = await call(`${server}${path}`, {
          headers: { authorization: `Bearer ${token}` },
          timeoutMs: 30_000,
          ...(sink ? { sink } : {}),
        });
      } catch (e) {
        if (e instanceof ServerUnreachable)
          throw new UserError(e.message, 'check --server (or PERIMETER_SERVER) and that the server runs', 1);
        throw e;
      }
      if (answer.status === 401)
        throw new UserError(
          `${server} refused the API token (${errorMessage(answer)})`,
          'check PERIMETER_TOKEN or --token: the token may be mistyped, expired or revoked',
          1,
        );
      if (answer.status === 403)
        throw new UserError(
          `this API token may not read audit events (${errorMessage(answer)})`,
          'use a token with permission events.read (roles owner or auditor)',
          1,
        );
      if (answer.status !== 200)
        throw new UserError(
          `${server} answered ${answer.status}: ${errorMessage(answer)}`,
          'check the options',
          1,
        );
      return answer;
    },
  };
}

function parseJson<T>(answer: Answer, server: string): T {
  try {
    return JSON.parse(answer.text) as T;
  } catch {
    throw new UserError(`${server} did not answer with JSON`, 'is --server a Perimeter control plane?', 1);
  }
}

/** The organisation to query: the token's own, which --org (its id or slug) must name if given. */
async function orgOf(api: Api, org: string | undefined): Promise<string> {
  const me = parseJson<{ org?: { id?: unknown; slug?: unknown } }>(await api.get('/api/v1/me'), api.server);
  const id = typeof me.org?.id === 'string' ? me.org.id : undefined;
  if (id === undefined)
    throw new UserError(`${api.server} did not say which organisation the token belongs to`);
  if (org !== undefined && org !== id && org !== me.org?.slug)
    throw new UserError(
      `the API token belongs to organisation ${String(me.org?.slug)} (${id}), not ${org}`,
      'leave out --org, or use a token of that organisation',
    );
  return id;
}

/**
 * An event's row. What a device wrote (its time, user and type) is escaped as audit tail's
 * lines are: an escape sequence in them would reach the terminal of whoever queries.
 */
function cell(e: AuditEventT): [string, string, string, string, string, string] {
  return [
    escapeUnprintable(e.time),
    escapeUnprintable(e.user?.email ?? e.user?.id ?? '-'),
    e.request?.surface ?? '-',
    e.decision ?? '-',
    escapeUnprintable(e.type),
    eventResource(e) ?? '-',
  ];
}

export async function runAuditQuery(argv: readonly string[], ui: Ui): Promise<number> {
  const p = parseArgs(
    argv,
    {
      server: { type: 'string' },
      token: { type: 'string' },
      org: { type: 'string' },
      user: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      surface: { type: 'list' },
      decision: { type: 'list' },
      type: { type: 'list' },
      device: { type: 'string' },
      session: { type: 'string' },
      limit: { type: 'string' },
      format: { type: 'string' },
    },
    'audit query',
  );
  if (p.positionals.length > 0)
    throw new UserError(
      `audit query takes options only, but got "${p.positionals[0] ?? ''}"`,
      'for example: perimeter audit query --since 1h --surface network',
    );
  const format = (stringFlag(p, 'format') ?? 'table') as Format;
  if (!FORMATS.includes(format))
    throw new UserError(
      `--format ${format} is not one of ${FORMATS.join(', ')}`,
      'for example: --format csv',
    );
  const limitText = stringFlag(p, 'limit');
  const isExport = format === 'jsonl' || format === 'csv';
  if (limitText !== undefined && isExport)
    throw new UserError(
      `--limit applies to the table and json formats; --format ${format} exports every matching event`,
      'narrow the export with --since and --until, or leave out --limit',
    );
  const limit = Number(limitText ?? '100');
  if (!/^[1-9][0-9]*$/.test(limitText ?? '100') || limit > 100_000)
    throw new UserError(`--limit ${limitText ?? ''} is not a number from 1 to 100000`);
  const filters = new URLSearchParams();
  const since = timeFlag('since', stringFlag(p, 'since'));
  const until = timeFlag('until', stringFlag(p, 'until'));
  for (const [name, value] of [
    ['since', since],
    ['until', until],
    ['user', stringFlag(p, 'user')],
    ['device', stringFlag(p, 'device')],
    ['session', stringFlag(p, 'session')],
    ['surface', listFlag(p, 'surface')?.join(',')],
    ['decision', listFlag(p, 'decision')?.join(',')],
    ['type', listFlag(p, 'type')?.join(',')],
  ] as const)
    if (value !== undefined) filters.set(name, value);

  const api = adminApi(p);
  const org = await orgOf(api, stringFlag(p, 'org'));
  const base = `/api/v1/orgs/${encodeURIComponent(org)}/events`;

  if (isExport) {
    // Streamed as it comes, a line at a time (a CSV line keeps its CR).
    let pending = '';
    filters.set('format', format);
    await api.get(`${base}/export?${filters.toString()}`, (chunk) => {
      pending += chunk.toString('utf8');
      const cut = pending.lastIndexOf('\n');
      if (cut < 0) return;
      for (const l of pending.slice(0, cut).split('\n')) ui.out(l);
      pending = pending.slice(cut + 1);
    });
    if (pending !== '') ui.out(pending);
    return 0;
  }

  // Newest first, a page at a time through `next`, until --limit.
  const events: AuditEventT[] = [];
  let before: string | undefined;
  do {
    const page = new URLSearchParams(filters);
    page.set('limit', String(Math.min(1000, limit - events.length)));
    if (before !== undefined) page.set('before', before);
    const body = parseJson<{ events?: unknown[]; next?: unknown }>(
      await api.get(`${base}?${page.toString()}`),
      api.server,
    );
    for (const raw of body.events ?? []) {
      const parsed = auditEventSchema().safeParse(raw);
      if (parsed.success && events.length < limit) events.push(parsed.data);
    }
    before = typeof body.next === 'string' ? body.next : undefined;
  } while (before !== undefined && events.length < limit);

  if (format === 'json') {
    ui.out(JSON.stringify(events, null, 2));
    return 0;
  }
  if (events.length === 0) {
    ui.err('no events match');
    return 0;
  }
  const rows = [['TIME', 'USER', 'SURFACE', 'DECISION', 'TYPE', 'RESOURCE'], ...events.map(cell)];
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const [n, r] of rows.entries()) {
    const padded = r.map((c, i) => (i < widths.length ? c.padEnd(widths[i] ?? 0) : c));
    const decision = r[3] ?? '-';
    if (n > 0 && (decision === 'allow' || decision === 'ask' || decision === 'deny'))
      padded[3] = paintEffect(ui, decision, padded[3] ?? decision);
    // An event the spool cut says so at the end of its line, as audit tail's lines do.
    const event = n > 0 ? events[n - 1] : undefined;
    ui.out(`${padded.join('  ').trimEnd()}${event !== undefined ? cutMark(ui, event) : ''}`);
  }
  return 0;
}
