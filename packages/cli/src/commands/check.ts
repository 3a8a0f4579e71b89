// perimeter check SURFACE TARGET: one request, one decision, exit code by decision.

import { createEngine, parseRequest, type Request, type Subject } from '@perimeter/policy';
import { boolFlag, listFlag, parseArgs, stringFlag, type Parsed } from '../args.js';
import { UserError } from '../errors.js';
import { isPolicyPath, pathContext, requireValidPolicies } from '../policy-files.js';
import { mcpCommands } from '../lazy-mcp.js';
import { exitCodeOf, paint, paintEffect, type Ui } from '../ui.js';

export const SUBJECT_FLAGS = {
  user: { type: 'string' },
  groups: { type: 'list' },
  workspace: { type: 'string' },
  home: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const SPEC = {
  ...SUBJECT_FLAGS,
  policy: { type: 'list', takes: isPolicyPath },
  access: { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  resolved: { type: 'list' },
  args: { type: 'string' },
  annotations: { type: 'string' },
  list: { type: 'boolean' },
  host: { type: 'string' },
} as const;

export function parseJsonFlag(p: Parsed, name: string): unknown {
  const text = stringFlag(p, name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const example =
      name === 'request' ? `--request '{"network":"api.github.com:443"}'` : `--${name} '{"owner":"acme"}'`;
    throw new UserError(`--${name} is not valid JSON`, `quote it for the shell, for example ${example}`);
  }
}

/** The subject of a what-if command: without --groups, every group policy applies (and explain says so). */
export function subjectOf(p: Parsed): Subject {
  const user = stringFlag(p, 'user');
  return { ...(user !== undefined ? { user } : {}), groups: listFlag(p, 'groups') ?? 'all' };
}

function requestOf(surface: string, target: string | undefined, p: Parsed): Request {
  const input: Record<string, unknown> = {};
  if (surface === 'exec') {
    if (p.rest !== undefined) input.exec = p.rest;
    else input.exec = target;
  } else {
    input[surface] = target;
  }
  if (input[surface] === undefined) {
    throw new UserError(`check ${surface} needs a target`, `for example: ${exampleTarget(surface)}`);
  }
  const access = stringFlag(p, 'access');
  if (access !== undefined) input.access = access;
  const method = stringFlag(p, 'method');
  if (method !== undefined) input.method = method;
  const path = stringFlag(p, 'path');
  if (path !== undefined) input.path = path;
  const resolved = listFlag(p, 'resolved');
  if (resolved !== undefined) input.resolved = resolved;
  const args = parseJsonFlag(p, 'args');
  if (args !== undefined) input.args = args;
  const annotations = parseJsonFlag(p, 'annotations');
  if (annotations !== undefined) input.annotations = annotations;
  if (boolFlag(p, 'list')) input.action = 'list';
  const host = stringFlag(p, 'host');
  if (host !== undefined) input.host = host;
  const parsed = parseRequest(input);
  if ('error' in parsed)
    throw new UserError(
      `the request is invalid: ${parsed.error}`,
      'see "perimeter check --help" for the target forms',
    );
  return parsed.request;
}

function exampleTarget(surface: string): string {
  switch (surface) {
    case 'network':
      return 'perimeter check network example.com:443';
    case 'filesystem':
      return 'perimeter check filesystem ~/.ssh/id_rsa --access read';
    case 'mcp':
      return 'perimeter check mcp github/create_issue';
    case 'exec':
      return 'perimeter check exec "git push --force"';
    default:
      return 'perimeter check credential github-token --host api.github.com';
  }
}

const SURFACES = new Set(['network', 'filesystem', 'mcp', 'exec', 'credential']);

/** Flags that belong to one surface: given with another, they would be silently ignored. */
const SURFACE_FLAGS: Readonly<Record<string, string>> = {
  access: 'filesystem',
  method: 'network',
  path: 'network',
  resolved: 'network',
  args: 'mcp',
  annotations: 'mcp',
  list: 'mcp',
  host: 'credential',
};

export function runCheck(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, SPEC, 'check');
  const [surface, target, ...extra] = p.positionals;
  if (surface === undefined || !SURFACES.has(surface)) {
    throw new UserError(
      surface === undefined ? 'check needs a surface and a target' : `"${surface}" is not a surface`,
      'use network, filesystem, mcp, exec or credential, for example: perimeter check network example.com:443',
    );
  }
  if (extra.length > 0) {
    throw new UserError(
      `unexpected argument "${extra[0] ?? ''}"`,
      surface === 'exec'
        ? 'quote the command line, or put the argv after --'
        : 'give one target; policy files go after --policy',
    );
  }
  const misplaced = Object.keys(p.flags).filter(
    (f) => SURFACE_FLAGS[f] !== undefined && SURFACE_FLAGS[f] !== surface,
  );
  if (misplaced.length > 0) {
    const f = misplaced[0] ?? '';
    throw new UserError(
      `--${f} does not apply to ${surface} requests`,
      `it is for ${SURFACE_FLAGS[f] ?? ''} requests; see "perimeter check --help"`,
    );
  }
  if (surface === 'exec' && p.rest !== undefined && target !== undefined) {
    throw new UserError(
      'check exec takes a command line or an argv after --, not both',
      'for example: perimeter check exec -- git push --force',
    );
  }
  const request = requestOf(surface, target, p);
  const loaded = requireValidPolicies(ui, listFlag(p, 'policy'));
  const subject = subjectOf(p);
  const engine = createEngine(
    loaded.policies.map((l) => l.policy),
    {
      subject,
      context: pathContext(stringFlag(p, 'workspace'), stringFlag(p, 'home')),
      // As the gateway decides: an argument glob judges where a path's links lead on this machine.
      resolvePath: (path) => mcpCommands().resolvedPath(path),
    },
  );
  const decision = engine.decide(request);
  if (decision.code === 'invalid-request') {
    if (boolFlag(p, 'json')) ui.out(JSON.stringify(decision, null, 2));
    throw new UserError(
      `the request is invalid: ${decision.reason.replace(/^Denied: /, '').replace(/\.$/, '')}`,
      'it was denied; see "perimeter check --help" for the target forms',
    );
  }
  if (boolFlag(p, 'json')) ui.out(JSON.stringify(decision, null, 2));
  else {
    // Show how the target was normalised (0x7f.1 → 127.0.0.1) so the line explains itself.
    const shown = (decision.notes ?? []).filter((n) => !n.startsWith('runs: '));
    const notes = shown.length === 0 ? '' : paint(ui, 'dim', `  (${shown.join('; ')})`);
    ui.out(
      `${paintEffect(ui, decision.decision)}  ${decision.surface} ${decision.resource}  ${decision.reason}${notes}`,
    );
  }
  return exitCodeOf(decision.decision);
}
