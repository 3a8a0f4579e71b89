// perimeter doctor: which protections this machine supports, and whether sessions can start.

import { assess, gatherFacts } from '@perimeter/sandbox';
import { boolFlag, parseArgs } from '../args.js';
import { UserError } from '../errors.js';
import { paint, type Ui } from '../ui.js';

export function runDoctor(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'doctor');
  if (p.positionals.length > 0)
    throw new UserError(`unexpected argument "${p.positionals[0] ?? ''}"`, 'doctor takes no arguments');
  const facts = gatherFacts();
  const result = assess(facts);
  if (boolFlag(p, 'json')) {
    ui.out(JSON.stringify({ facts, ...result }, null, 2));
    return result.canStartSessions ? 0 : 1;
  }
  ui.out(
    `perimeter doctor — ${process.platform}/${facts.arch}${facts.kernel ? `, kernel ${facts.kernel}` : ''}`,
  );
  for (const c of result.checks) {
    const mark = c.isOk
      ? paint(ui, 'green', '✓')
      : c.isRequired
        ? paint(ui, 'red', '✗')
        : paint(ui, 'yellow', '!');
    ui.out(`  ${mark} ${c.name.padEnd(16)} ${c.detail}`);
    if (!c.isOk && c.fix) ui.out(paint(ui, 'dim', `      ${c.fix}`));
  }
  ui.out(
    result.canStartSessions
      ? `${paint(ui, 'green', '✓')} sessions can start here`
      : `${paint(ui, 'red', '✗')} sessions cannot start here until the items above are fixed`,
  );
  return result.canStartSessions ? 0 : 1;
}
