// Stored events read back as the requests they recorded, for every surface; events that hold no
// policy decision are said to be unreadable, never guessed at.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { AuditEvent } from '@perimeter/audit';
import { recordedDecisionOf } from '../src/event-replay.js';

function event(
  surface: string,
  action: string,
  resource: string,
  extra: Partial<AuditEvent> = {},
): AuditEvent {
  return {
    event_id: '01900000-0000-7000-8000-000000000000',
    schema_version: '1',
    time: '2026-01-01T00:00:00.000Z',
    category: 'evaluation',
    type: `${surface}.${action}`,
    request: { surface: surface as 'network', action, resource },
    decision: 'allow',
    integrity: { chain_id: 'c', seq: 0, prev_hash: '0'.repeat(64), hash: '0'.repeat(64) },
    ...extra,
  };
}

const noGroups = (): undefined => undefined;

it('reads every surface back from its canonical resource', () => {
  const cases: [AuditEvent, Record<string, unknown>][] = [
    [
      event('network', 'connect', 'api.github.com:443'),
      { surface: 'network', host: 'api.github.com', port: 443 },
    ],
    [
      event('network', 'GET', 'api.github.com:443/repos/acme/x'),
      { surface: 'network', host: 'api.github.com', port: 443, method: 'GET', path: '/repos/acme/x' },
    ],
    [
      event('network', 'connect', '[2001:db8::1]:8443'),
      { surface: 'network', host: '2001:db8::1', port: 8443 },
    ],
    [
      event('filesystem', 'write', '/w/src/a.ts'),
      { surface: 'filesystem', path: '/w/src/a.ts', access: 'write' },
    ],
    [event('mcp', 'call', 'github/create_issue'), { mcp: 'github/create_issue', action: 'call' }],
    [event('mcp', 'list', 'github/create_issue'), { mcp: 'github/create_issue', action: 'list' }],
    [
      event('exec', 'exec', "git push --force 'origin'"),
      { surface: 'exec', command: "git push --force 'origin'" },
    ],
    [
      event('credential', 'use', 'github-token → api.github.com:443'),
      { surface: 'credential', secret: 'github-token', host: 'api.github.com:443' },
    ],
    [event('credential', 'use', 'github-token'), { surface: 'credential', secret: 'github-token' }],
    [
      // The MCP gateway's use of a remote server's credential: the request names the server.
      event('credential', 'use', 'remote-secret → mcp.example.com:443', {
        outcome: { credential: 'remote-token', mcp_server: 'remote' },
      }),
      { surface: 'credential', secret: 'remote-secret', host: 'mcp.example.com:443', server: 'remote' },
    ],
  ];
  for (const [e, request] of cases) {
    const r = recordedDecisionOf(e, noGroups);
    assert.ok('recorded' in r, JSON.stringify(r));
    assert.deepEqual(r.recorded.request, request);
  }
});

it('takes the groups the event recorded, else the directory’s, else none', () => {
  const directory = (user: string): string[] | undefined => (user === 'u1' ? ['eng'] : undefined);
  const withGroups = recordedDecisionOf(
    event('network', 'connect', 'a.com:443', { user: { id: 'u1', groups: ['ops'] } }),
    directory,
  );
  const fromDirectory = recordedDecisionOf(
    event('network', 'connect', 'a.com:443', { user: { id: 'u1' } }),
    directory,
  );
  const unknown = recordedDecisionOf(
    event('network', 'connect', 'a.com:443', { user: { id: 'u2' } }),
    directory,
  );
  assert.deepEqual(
    [withGroups, fromDirectory, unknown].map((r) => ('recorded' in r ? r.recorded.subject?.groups : r.error)),
    [['ops'], ['eng'], []],
  );
});

it('an event without a decision, a refusal, or an unreadable resource is unreadable', () => {
  const cases: [AuditEvent, RegExp][] = [
    [{ ...event('network', 'connect', 'a.com:443'), decision: undefined }, /records no policy decision/],
    [
      event('network', 'connect', 'a.com:443', { decision_code: 'unauthenticated' }),
      /refusal made before any rule/,
    ],
    [event('network', 'connect', 'a.com'), /is not host:port/],
    [event('filesystem', 'delete', '/x'), /not read or write/],
  ];
  for (const [e, error] of cases) {
    const r = recordedDecisionOf(e, noGroups);
    assert.ok('error' in r);
    assert.match(r.error, error);
  }
});
