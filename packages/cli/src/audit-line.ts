// One audit event as one line for a person (`perimeter audit tail`): the time, the decision or
// "-", what happened, what it was about, and why. A decision says it all in `request` and
// `reason`; a lifecycle or alert event (the MCP gateway's mcp.result, mcp.list, mcp.server.*,
// mcp.pin, …; a built-in protection's filesystem.mount) names its server, tool, path and error in
// `outcome`, so that is where they are read.
// An event cut down to size (its `cut` block: redteam-31-1) says so at the end of its line, here
// and in `perimeter audit query`'s table (cutMark), so no one reads a shortened event as whole.
// Shows only what the event carries: events hold metadata, never argument values.

import { cutSummary, type AuditEvent } from '@perimeter/audit';
import { escapeUnprintable } from '@perimeter/policy';
import { paint, paintEffect, type Ui } from './ui.js';

type Outcome = NonNullable<AuditEvent['outcome']>;

function text(o: Outcome | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function count(o: Outcome | undefined, key: string): number | undefined {
  const v = o?.[key];
  return typeof v === 'number' ? v : undefined;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * What an event without a request is about: `server/tool` (or prompt, resource, template) for the
 * MCP gateway's events, else the server, or the resource, target or mounted path it names.
 */
export function eventSubject(e: AuditEvent): string | undefined {
  const o = e.outcome;
  const server = text(o, 'server') ?? text(o, 'mcp_server');
  const item = text(o, 'tool') ?? text(o, 'prompt') ?? text(o, 'resource') ?? text(o, 'template');
  if (server !== undefined && item !== undefined) return `${server}/${item}`;
  return server ?? item ?? text(o, 'target') ?? text(o, 'dest');
}

/** What an event is about, safe to print: its request's resource, else eventSubject's answer. */
export function eventResource(e: AuditEvent): string | undefined {
  const about = e.request?.resource ?? eventSubject(e);
  return about === undefined ? undefined : escapeUnprintable(about);
}

/** `sha256:85b34d15fe97ffc8…`: enough to tell pins apart on a line (--json has it whole). */
function shortHash(hash: string): string {
  return hash.length > 23 ? `${hash.slice(0, 23)}…` : hash;
}

/** A tool's (prompt's, resource's) answer: failed and why, or how it came back. */
function resultDetail(o: Outcome | undefined): string {
  const ms = count(o, 'latency_ms');
  const took = ms !== undefined ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : undefined;
  const error = text(o, 'error');
  if (error !== undefined) return `failed: ${error}${took !== undefined ? ` (${took})` : ''}`;
  const parts = [o?.is_error === true ? 'the tool answered with an error' : 'ok'];
  const bytes = count(o, 'result_bytes');
  if (bytes !== undefined) parts.push(plural(bytes, 'byte'));
  if (took !== undefined) parts.push(took);
  const secrets = count(o, 'secret_findings') ?? 0;
  if (secrets > 0) parts.push(`${plural(secrets, 'secret')} found`);
  const leaks = count(o, 'credential_leaks') ?? 0;
  if (leaks > 0) parts.push(`${plural(leaks, 'bound credential')} found`);
  const instructions = count(o, 'injection_findings') ?? 0;
  if (instructions > 0) parts.push(`${plural(instructions, 'instruction')} to the agent found`);
  return parts.join(', ');
}

function listDetail(o: Outcome | undefined): string {
  const kind = text(o, 'kind');
  const unavailable = text(o, 'upstreams_unavailable');
  return [
    kind !== undefined ? `${kind}: ` : '',
    `${count(o, 'shown') ?? 0} shown, ${count(o, 'hidden_by_policy') ?? 0} hidden by policy, ${count(o, 'held') ?? 0} held`,
    unavailable !== undefined ? `; unavailable: ${unavailable}` : '',
  ].join('');
}

function pinDetail(o: Outcome | undefined): string | undefined {
  const hash = text(o, 'hash');
  if (hash === undefined) return undefined;
  if (text(o, 'by') === 'tofu') return `pinned ${shortHash(hash)} on first use`;
  const user = text(o, 'user');
  const at = text(o, 'approved_at');
  return `approved ${shortHash(hash)}${user !== undefined ? ` by ${user}` : ''}${at !== undefined ? ` at ${at}` : ''}`;
}

/** Why, or what became of it: the event's reason, else the error or reason in its outcome, else a summary by type. */
export function eventDetail(e: AuditEvent): string | undefined {
  // A stand-in kept no reason or outcome: a summary of its missing outcome would read "ok".
  if (e.cut?.stand_in === true) return undefined;
  if (e.reason !== undefined && e.reason !== '') return e.reason;
  const o = e.outcome;
  if (e.type === 'mcp.result') return resultDetail(o);
  const why = text(o, 'reason') ?? text(o, 'error');
  if (why !== undefined) return why;
  switch (e.type) {
    case 'mcp.list':
      return listDetail(o);
    case 'mcp.pin':
      return pinDetail(o);
    case 'mcp.server.spawn': {
      const command = text(o, 'command');
      const args = count(o, 'args');
      const isolation = text(o, 'isolation');
      if (command === undefined) return undefined;
      return `${command}${args !== undefined ? `, ${plural(args, 'argument')}` : ''}${isolation !== undefined ? `, isolation: ${isolation}` : ''}`;
    }
    case 'filesystem.mount': {
      // A built-in protection (no decision): how the path is mounted, and why.
      const mount = text(o, 'mount');
      const why = text(o, 'why');
      return mount !== undefined && why !== undefined ? `${mount}: ${why}` : (mount ?? why);
    }
    case 'mcp.server.ready':
      return (
        [text(o, 'server_name'), text(o, 'server_version')].filter((s) => s !== undefined).join(' ') ||
        undefined
      );
    default:
      return undefined;
  }
}

/**
 * What was cut of an event, from its `cut` block, in yellow for the end of its line (tail's and
 * query's): `  [cut: from 1234567 bytes, 2 strings shortened, 29900 of request.argument_keys left
 * out]`; '' for a whole event. Every text of an event, the paths of its own keys too, is printed
 * through escapeUnprintable (shared with the server's error messages), so no server or device can
 * move the cursor, recolour, reorder or split the line of the person reading.
 */
export function cutMark(ui: Ui, e: AuditEvent): string {
  return e.cut === undefined ? '' : `  ${paint(ui, 'yellow', cutSummary(e.cut, escapeUnprintable))}`;
}

/**
 * `TIME  DECISION  WHAT  WHY`, the decision `-` for an event that decides nothing, and what was
 * cut of it if anything was.
 */
export function auditLine(ui: Ui, e: AuditEvent): string {
  const subject = e.request ? undefined : eventSubject(e);
  const what = escapeUnprintable(
    e.request
      ? `${e.request.surface} ${e.request.action} ${e.request.resource}`
      : `${e.type}${subject !== undefined ? ` ${subject}` : ''}`,
  );
  const decision = e.decision
    ? `${paintEffect(ui, e.decision)}${e.enforcement_mode === 'audit' ? paint(ui, 'dim', ` (would ${e.would_decision ?? ''})`) : ''}`
    : paint(ui, 'dim', '-');
  const detail = eventDetail(e);
  return `${escapeUnprintable(e.time)}  ${decision}  ${what}${detail !== undefined ? paint(ui, 'dim', `  ${escapeUnprintable(detail)}`) : ''}${cutMark(ui, e)}`;
}
