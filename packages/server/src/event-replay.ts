// A stored audit event → the request it recorded, for impact replay. Pure. Events carry the
// canonical resource the engine decided (`host:port/path`, an absolute path, `server/tool`, a
// command line, `secret → host:port`), which reads back as a request. What events never hold
// cannot be replayed: MCP argument values (only their keys are audited), so a rule about argument
// values is judged as if the call had none.

import type { AuditEvent } from '@perimeter/audit';
import { parseAuthority, type RecordedDecision } from '@perimeter/policy';

type Result = { recorded: RecordedDecision } | { error: string };

/** `host:port` or `[v6]:port` (read by the policy's own parseAuthority), then an optional `/path`. */
function splitNetworkResource(resource: string): { host: string; port: number; path?: string } | undefined {
  const slash = resource.indexOf('/', resource.startsWith('[') ? resource.indexOf(']') + 1 : 0);
  const parsed = parseAuthority(slash < 0 ? resource : resource.slice(0, slash));
  if ('error' in parsed) return undefined;
  const { host, port } = parsed.authority;
  return { host: host.name, port, ...(slash < 0 ? {} : { path: resource.slice(slash) }) };
}

function requestOf(surface: string, action: string, resource: string): Record<string, unknown> | string {
  switch (surface) {
    case 'network': {
      const parts = splitNetworkResource(resource);
      if (!parts) return `the network resource "${resource}" is not host:port`;
      const method = action.toLowerCase() === 'connect' ? undefined : action.toUpperCase();
      return {
        surface,
        host: parts.host,
        port: parts.port,
        ...(method !== undefined ? { method } : {}),
        ...(parts.path !== undefined ? { path: parts.path } : {}),
      };
    }
    case 'filesystem':
      if (action !== 'read' && action !== 'write')
        return `the filesystem action "${action}" is not read or write`;
      return { surface, path: resource, access: action };
    case 'mcp':
      return { mcp: resource, action: action === 'list' ? 'list' : 'call' };
    case 'exec':
      return { surface, command: resource };
    case 'credential': {
      const arrow = resource.indexOf(' → ');
      if (arrow < 0) return { surface, secret: resource };
      return { surface, secret: resource.slice(0, arrow), host: resource.slice(arrow + 3) };
    }
    default:
      return `"${surface}" is not a surface`;
  }
}

/**
 * The recorded decision an event holds. The subject's groups are the ones the event recorded;
 * where it recorded none, the user's groups in the directory now (`groupsOf`, by id or email).
 */
export function recordedDecisionOf(
  event: AuditEvent,
  groupsOf: (user: string) => readonly string[] | undefined,
): Result {
  const { request, decision } = event;
  if (!request || !decision) return { error: 'the event records no policy decision' };
  if (event.decision_code === 'invalid-request' || event.decision_code === 'unauthenticated')
    return { error: `the event is a refusal made before any rule was consulted (${event.decision_code})` };
  const read = requestOf(request.surface, request.action, request.resource);
  if (typeof read === 'string') return { error: read };
  // The MCP gateway's use of a remote server's credential names that server: its catalog entry
  // binds the credential to the server's URL, which the engine honours only for such a request.
  const server = event.outcome?.mcp_server;
  const parsed = request.surface === 'credential' && typeof server === 'string' ? { ...read, server } : read;
  const user = event.user;
  const groups =
    user?.groups ??
    (user?.id !== undefined ? groupsOf(user.id) : undefined) ??
    (user?.email !== undefined ? groupsOf(user.email) : undefined) ??
    [];
  return {
    recorded: {
      id: event.event_id,
      request: parsed,
      decision,
      subject: { ...(user?.id !== undefined ? { user: user.id } : {}), groups },
    },
  };
}
