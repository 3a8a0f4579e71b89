// perimeter policy validate|lint|test|explain|simulate.

import { readFileSync } from 'node:fs';
import {
  createEngine,
  explain,
  formatExplanation,
  hasErrors,
  lintPolicies,
  parseRequest,
  runPolicyTests,
  simulate,
  type Diagnostic,
  type RecordedDecision,
} from '@perimeter/policy';
import { boolFlag, parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
import {
  pathContext,
  printDiagnostics,
  readPolicies,
  requireValidPolicies,
  type Loaded,
} from '../policy-files.js';
import { exitCodeOf, paint, paintEffect, type Ui } from '../ui.js';
import { SUBJECT_FLAGS, parseJsonFlag, subjectOf } from './check.js';

function filesOf(positionals: readonly string[], command: string, required: boolean): string[] | undefined {
  if (positionals.length === 0 && required) {
    throw new UserError(
      `policy ${command} needs policy files`,
      `for example: perimeter policy ${command} examples/balanced.yaml`,
    );
  }
  return positionals.length > 0 ? [...positionals] : undefined;
}

function summary(loaded: Loaded): string {
  const n = loaded.policies.length;
  const names = loaded.policies.map((p) => `${p.policy.name} (${p.policy.layer})`).join(', ');
  return `${n} polic${n === 1 ? 'y' : 'ies'}${n > 0 ? `: ${names}` : ''}`;
}

export function runValidate(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'policy validate');
  const loaded = readPolicies(filesOf(p.positionals, 'validate', true));
  const valid = !hasErrors(loaded.diagnostics);
  if (boolFlag(p, 'json')) {
    ui.out(
      JSON.stringify(
        {
          valid,
          files: loaded.files,
          policies: loaded.policies.map((l) => ({
            name: l.policy.name,
            layer: l.policy.layer,
            file: l.file,
          })),
          diagnostics: loaded.diagnostics,
        },
        null,
        2,
      ),
    );
    return valid ? 0 : 3;
  }
  printDiagnostics(ui, loaded.diagnostics);
  if (!valid) {
    const n = loaded.diagnostics.filter((d) => d.severity === 'error').length;
    ui.err(
      `${paint(ui, 'red', '✗')} ${n} error${n === 1 ? '' : 's'} in ${loaded.files.length} file${loaded.files.length === 1 ? '' : 's'}`,
    );
    return 3;
  }
  ui.out(`${paint(ui, 'green', '✓')} valid: ${summary(loaded)}`);
  return 0;
}

export function runLint(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' }, strict: { type: 'boolean' } }, 'policy lint');
  const loaded = readPolicies(filesOf(p.positionals, 'lint', true));
  if (hasErrors(loaded.diagnostics)) {
    printDiagnostics(ui, loaded.diagnostics);
    throw new UserError('the policy is invalid, so it was not linted', 'fix the errors above first');
  }
  const byName = new Map(loaded.policies.map((l) => [l.policy.name, l]));
  const findings: Diagnostic[] = lintPolicies(loaded.policies.map((l) => l.policy)).map((d) => {
    const where = d.policy !== undefined ? byName.get(d.policy) : undefined;
    return where && d.path ? { ...d, at: where.locate(d.path) } : d;
  });
  const warnings = findings.filter((d) => d.severity === 'warning').length;
  if (boolFlag(p, 'json')) ui.out(JSON.stringify({ findings }, null, 2));
  else {
    printDiagnostics(ui, findings);
    const infos = findings.length - warnings;
    ui.out(
      `${warnings === 0 ? paint(ui, 'green', '✓') : paint(ui, 'yellow', '!')} ${warnings} warning${warnings === 1 ? '' : 's'}, ${infos} note${infos === 1 ? '' : 's'} in ${summary(loaded)}`,
    );
  }
  return boolFlag(p, 'strict') && warnings > 0 ? 1 : 0;
}

export function runTest(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(
    argv,
    { json: { type: 'boolean' }, workspace: { type: 'string' }, home: { type: 'string' } },
    'policy test',
  );
  const loaded = requireValidPolicies(ui, filesOf(p.positionals, 'test', false), false);
  // Tests are about the policy, not the machine: fixed directories unless asked otherwise.
  const context = pathContext(
    stringFlag(p, 'workspace') ?? '/workspace',
    stringFlag(p, 'home') ?? '/home/user',
  );
  const results = runPolicyTests(
    loaded.policies.map((l) => l.policy),
    context,
  );
  const failed = results.filter((r) => !r.passed);
  if (boolFlag(p, 'json')) {
    ui.out(
      JSON.stringify({ passed: results.length - failed.length, failed: failed.length, results }, null, 2),
    );
    return failed.length > 0 ? 1 : 0;
  }
  const byName = new Map(loaded.policies.map((l) => [l.policy.name, l]));
  let lastFile = '';
  for (const r of results) {
    const where = byName.get(r.policy);
    if (where && where.file !== lastFile) {
      ui.out(where.file);
      lastFile = where.file;
    }
    if (r.passed) ui.out(`  ${paint(ui, 'green', '✓')} ${r.name} ${paint(ui, 'dim', `(${r.expect})`)}`);
    else {
      ui.out(`  ${paint(ui, 'red', '✗')} ${r.name}`);
      ui.out(`      ${r.failure}`);
      if (where) {
        const at = where.locate(r.path);
        ui.out(paint(ui, 'dim', `      at ${at.file}:${at.line}:${at.col}`));
      }
    }
  }
  if (results.length === 0) ui.out(`no tests found in ${summary(loaded)}`);
  ui.out(`${results.length - failed.length} passed, ${failed.length} failed`);
  return failed.length > 0 ? 1 : 0;
}

export function runExplain(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { ...SUBJECT_FLAGS, request: { type: 'string' } }, 'policy explain');
  const raw = parseJsonFlag(p, 'request');
  if (raw === undefined)
    throw new UserError(
      'policy explain needs --request',
      `for example: --request '{"network":"api.github.com:443"}'`,
    );
  const parsed = parseRequest(raw);
  if ('error' in parsed) throw new UserError(`the request is invalid: ${parsed.error}`);
  const loaded = requireValidPolicies(ui, filesOf(p.positionals, 'explain', false));
  const subject = subjectOf(p);
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    {
      subject,
      context: pathContext(stringFlag(p, 'workspace'), stringFlag(p, 'home')),
    },
  );
  const e = explain(engine, parsed.request);
  if (e.decision.code === 'invalid-request') {
    if (boolFlag(p, 'json')) ui.out(JSON.stringify(e, null, 2));
    throw new UserError(
      `the request is invalid: ${e.decision.reason.replace(/^Denied: /, '').replace(/\.$/, '')}`,
      'it would be denied',
    );
  }
  if (boolFlag(p, 'json')) ui.out(JSON.stringify(e, null, 2));
  else {
    const text = formatExplanation(e);
    const [first = '', ...others] = text.split('\n');
    ui.out([paintEffect(ui, e.decision.decision, first), ...others].join('\n'));
    if (subject.groups === 'all' && loaded.policies.some((l) => l.policy.layer === 'group')) {
      ui.out(paint(ui, 'dim', '\nNo --groups given, so every group policy applies.'));
    }
  }
  return exitCodeOf(e.decision.decision);
}

function subjectOk(subject: unknown): boolean {
  if (subject === undefined) return true;
  if (subject === null || typeof subject !== 'object' || Array.isArray(subject)) return false;
  const { user, groups } = subject as { user?: unknown; groups?: unknown };
  return (
    (user === undefined || typeof user === 'string') &&
    (groups === undefined || (Array.isArray(groups) && groups.every((g) => typeof g === 'string')))
  );
}

function readDecisions(file: string): RecordedDecision[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`cannot read the decisions file ${file}`, 'check the path');
  }
  const rows: { row: unknown; where: string }[] = [];
  if (text.trimStart().startsWith('[')) {
    let all: unknown;
    try {
      all = JSON.parse(text);
    } catch {
      throw new UserError(`${file} is not a valid JSON array`);
    }
    if (!Array.isArray(all)) throw new UserError(`${file} is not a JSON array`);
    all.forEach((row, i) => rows.push({ row, where: `${file}: record ${i + 1}` }));
  } else {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${file}:${i + 1}`;
      try {
        rows.push({ row: JSON.parse(line), where });
      } catch {
        throw new UserError(`${where}: not a JSON object`, 'write one decision per line, as JSON');
      }
    });
  }
  return rows.map(({ row, where }) => {
    const r = row as Partial<RecordedDecision> | null;
    if (
      r === null ||
      typeof r !== 'object' ||
      typeof r.request !== 'object' ||
      (r.decision !== 'allow' && r.decision !== 'deny' && r.decision !== 'ask')
    ) {
      throw new UserError(
        `${where}: a record needs "request" (an object) and "decision" (allow, deny or ask)`,
      );
    }
    if (!subjectOk(r.subject)) {
      throw new UserError(`${where}: "subject" must be an object like {"user": "ada", "groups": ["eng"]}`);
    }
    return r as RecordedDecision;
  });
}

export function runSimulate(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(
    argv,
    {
      decisions: { type: 'string' },
      limit: { type: 'string' },
      workspace: { type: 'string' },
      home: { type: 'string' },
      json: { type: 'boolean' },
    },
    'policy simulate',
  );
  const file = stringFlag(p, 'decisions');
  if (file === undefined)
    throw new UserError(
      'policy simulate needs --decisions FILE',
      'a JSON-lines file of recorded decisions; see perimeter policy simulate --help',
    );
  const limitText = stringFlag(p, 'limit') ?? '20';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 0)
    throw new UserError(`--limit ${limitText} is not a whole number`);
  const recorded = readDecisions(file);
  const loaded = requireValidPolicies(ui, filesOf(p.positionals, 'simulate', true));
  const report = simulate(
    recorded,
    loaded.policies.map((l) => l.policy),
    pathContext(stringFlag(p, 'workspace'), stringFlag(p, 'home')),
  );
  if (boolFlag(p, 'json')) {
    ui.out(JSON.stringify(report, null, 2));
    return report.flips.length > 0 ? 1 : 0;
  }
  const counts = Object.entries(report.counts)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  ui.out(
    `${report.total} decisions replayed: ${report.unchanged} unchanged, ${report.flips.length} would flip${counts ? ` (${counts})` : ''}${report.unreadable.length ? `, ${report.unreadable.length} unreadable` : ''}`,
  );
  for (const f of report.flips.slice(0, limit)) {
    ui.out(
      `  ${f.id ?? `#${f.index + 1}`}  ${f.before} → ${paintEffect(ui, f.after.decision)}  ${f.after.surface} ${f.after.resource}  ${f.after.reason}`,
    );
  }
  if (report.flips.length > limit)
    ui.out(`  … and ${report.flips.length - limit} more (--limit N or --json for all)`);
  for (const u of report.unreadable.slice(0, limit))
    ui.err(`  record ${u.id ?? `#${u.index + 1}`}: ${u.error}`);
  return report.flips.length > 0 ? 1 : 0;
}
