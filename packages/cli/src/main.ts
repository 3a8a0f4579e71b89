// The perimeter command: parses the command word, runs it, prints errors once (no stack traces
// unless --debug) and returns the exit code. bin/perimeter.js calls it.

import { readFileSync } from 'node:fs';
import { runAuditTail, runAuditVerify } from './commands/audit.js';
import { runCheck } from './commands/check.js';
import { runDoctor } from './commands/doctor.js';
import { runProxy } from './commands/proxy.js';
import { runRun } from './commands/run.js';
import { runScan } from './commands/scan.js';
import { runSecretLs, runSecretRm, runSecretSet } from './commands/secret.js';
import { runExplain, runLint, runSimulate, runTest, runValidate } from './commands/policy.js';
import { SpoolError } from '@perimeter/audit';
import { UserError } from './errors.js';
import { helpFor } from './help.js';
import { terminalUi, type Ui } from './ui.js';

type Command = (argv: readonly string[], ui: Ui) => number | Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  'policy validate': runValidate,
  'policy lint': runLint,
  'policy test': runTest,
  'policy explain': runExplain,
  'policy simulate': runSimulate,
  'audit verify': runAuditVerify,
  'audit tail': runAuditTail,
  check: runCheck,
  proxy: runProxy,
  run: runRun,
  doctor: runDoctor,
  'secret set': runSecretSet,
  'secret ls': runSecretLs,
  'secret rm': runSecretRm,
  scan: runScan,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Runs the CLI with the given arguments; returns the exit code (a promise only for commands that
 * keep running, such as audit tail --follow). Exported for in-process tests.
 */
export function main(argv: readonly string[], ui: Ui = terminalUi()): number | Promise<number> {
  // Options end at `--`: what follows is someone's argv and is passed on untouched.
  const end = argv.indexOf('--');
  const options = end >= 0 ? argv.slice(0, end) : argv;
  const debug = options.includes('--debug');
  const args = [...options.filter((a) => a !== '--debug'), ...(end >= 0 ? argv.slice(end) : [])];
  const wantsHelp = options.includes('--help') || options.includes('-h');
  try {
    if (args[0] === '--version' || args[0] === '-V') {
      ui.out(version());
      return 0;
    }
    const two = `${args[0] ?? ''} ${args[1] ?? ''}`;
    const name = COMMANDS[two] ? two : args[0] !== undefined && COMMANDS[args[0]] ? args[0] : undefined;
    if (name === undefined) {
      if (args.length === 0 || wantsHelp) {
        const topic = args[0] === 'policy' || args[0] === 'audit' || args[0] === 'secret' ? args[0] : '';
        ui.out(helpFor(topic));
        return 0;
      }
      const what =
        args[0] === 'policy' || args[0] === 'audit' || args[0] === 'secret'
          ? `${args[0]} ${args[1] ?? ''}`.trim()
          : (args[0] ?? '');
      throw new UserError(`unknown command "${what}"`, 'run "perimeter --help" for the commands');
    }
    if (wantsHelp) {
      ui.out(helpFor(name));
      return 0;
    }
    const result = (COMMANDS[name] as Command)(args.slice(name.split(' ').length), ui);
    return typeof result === 'number' ? result : result.catch((e: unknown) => report(e, ui, debug));
  } catch (e) {
    return report(e, ui, debug);
  }
}

/** Prints an error once: a user's mistake as one sentence and a hint, ours as a short notice. */
function report(e: unknown, ui: Ui, debug: boolean): number {
  if (e instanceof UserError || e instanceof SpoolError) {
    ui.err(`perimeter: ${e.message}`);
    if (e.hint) ui.err(`  ${e.hint}`);
    return e instanceof UserError ? e.exitCode : 3;
  }
  ui.err(`perimeter: internal error: ${(e as Error).message ?? String(e)}`);
  ui.err(
    debug
      ? ((e as Error).stack ?? '')
      : '  this is a bug in perimeter; run again with --debug for details, and report it',
  );
  return 70;
}
