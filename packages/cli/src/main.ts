// The perimeter command: parses the command word, runs it, prints errors once (no stack traces
// unless --debug) and returns the exit code. bin/perimeter.js calls it.

import { readFileSync } from 'node:fs';
import { runAgent } from './commands/agent.js';
import { runAuditQuery, runAuditTail, runAuditVerify } from './commands/audit.js';
import { runCheck } from './commands/check.js';
import { runDoctor } from './commands/doctor.js';
import { runLogin } from './commands/login.js';
import { runProxy } from './commands/proxy.js';
import { runRun } from './commands/run.js';
import { runScan } from './commands/scan.js';
import { runSecretLs, runSecretRm, runSecretSet } from './commands/secret.js';
import { runStatus } from './commands/status.js';
import { runExplain, runLint, runSimulate, runTest, runValidate } from './commands/policy.js';
import { SpoolError } from '@perimeter/audit';
import { UserError } from './errors.js';
import { HELP, helpFor } from './help.js';
import { mcpCommands } from './lazy-mcp.js';
import { serverCommand } from './lazy-server.js';
import { terminalUi, type Ui } from './ui.js';

type Command = (argv: readonly string[], ui: Ui) => number | Promise<number>;

const mcp =
  (name: 'runMcp' | 'runMcpPinsList' | 'runMcpPinsApprove'): Command =>
  (argv, ui) =>
    mcpCommands()[name](argv, ui);

const COMMANDS: Readonly<Record<string, Command>> = {
  'policy validate': runValidate,
  'policy lint': runLint,
  'policy test': runTest,
  'policy explain': runExplain,
  'policy simulate': runSimulate,
  'audit verify': runAuditVerify,
  'audit tail': runAuditTail,
  'audit query': runAuditQuery,
  check: runCheck,
  proxy: runProxy,
  mcp: mcp('runMcp'),
  'mcp pins list': mcp('runMcpPinsList'),
  'mcp pins approve': mcp('runMcpPinsApprove'),
  run: runRun,
  doctor: runDoctor,
  'secret set': runSecretSet,
  'secret ls': runSecretLs,
  'secret rm': runSecretRm,
  scan: runScan,
  server: (argv, ui) => serverCommand().runServer(argv, ui),
  login: runLogin,
  agent: runAgent,
  status: runStatus,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Whether the process may exit as soon as main's promise settles, without Node winding down its
 * environment and heap (~3 ms): `perimeter run` has closed or awaited everything it opened by then,
 * and its start and end are part of every session's cost. Other commands end the ordinary way.
 */
export function exitsWhenDone(argv: readonly string[]): boolean {
  return argv[0] === 'run';
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
    const name = [3, 2, 1]
      .map((n) => args.slice(0, n).join(' '))
      .find((words) => COMMANDS[words] !== undefined);
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
      // The most specific help there is: `mcp pins --help` is the pins group's, not the gateway's.
      const topic = [3, 2, 1]
        .map((n) => args.slice(0, n).join(' '))
        .find((words) => HELP[words] !== undefined);
      ui.out(helpFor(topic ?? name));
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
  // Separately loaded modules (the mcp commands) have their own copies of these classes.
  const named = (name: string): boolean => e instanceof Error && e.name === name;
  if (e instanceof UserError || e instanceof SpoolError || named('UserError') || named('SpoolError')) {
    const known = e as UserError | SpoolError;
    ui.err(`perimeter: ${known.message}`);
    if (known.hint) ui.err(`  ${known.hint}`);
    return 'exitCode' in known ? known.exitCode : 3;
  }
  ui.err(`perimeter: internal error: ${(e as Error).message ?? String(e)}`);
  ui.err(
    debug
      ? ((e as Error).stack ?? '')
      : '  this is a bug in perimeter; run again with --debug for details, and report it',
  );
  return 70;
}
