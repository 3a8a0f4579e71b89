// perimeter audit verify|tail: reading session spools.

import { readFileSync, readdirSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';
import { sessionsDir } from './run.js';
import { AuditEvent, verifySpool, type AuditEvent as AuditEventT } from '@perimeter/audit';
import { boolFlag, parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
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

function line(ui: Ui, e: AuditEventT): string {
  const what = e.request ? `${e.request.surface} ${e.request.action} ${e.request.resource}` : e.type;
  const decision = e.decision
    ? `${paintEffect(ui, e.decision)}${e.enforcement_mode === 'audit' ? paint(ui, 'dim', ` (would ${e.would_decision ?? ''})`) : ''}`
    : paint(ui, 'dim', '-');
  return `${e.time}  ${decision}  ${what}${e.reason ? paint(ui, 'dim', `  ${e.reason}`) : ''}`;
}

function printLines(ui: Ui, text: string, isJson: boolean): void {
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let parsed: ReturnType<typeof AuditEvent.safeParse> | undefined;
    try {
      parsed = AuditEvent.safeParse(JSON.parse(raw));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) ui.err(paint(ui, 'red', `(not an audit event: ${raw.slice(0, 60)}…)`));
    else ui.out(isJson ? JSON.stringify(parsed.data) : line(ui, parsed.data));
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
