// Routes for stored audit events: admin actions now, devices' events once ingest lands. Newest
// first, filtered by time, category, type, user, surface and decision, one page at a time.

import { z } from 'zod';
import { ApiError } from '../http/api-error.js';
import { route } from '../http/route.js';
import { queryEvents } from '../store/events.js';
import { EventPage } from './schemas.js';

const Word = (what: string) => z.string().max(200).optional().describe(what);

/** A page cursor: the time (ms) and id of the last event of the page before. */
const encodeCursor = (time: number, id: string): string => `${time}.${id}`;
function decodeCursor(text: string): { time: number; id: string } {
  const m = /^(\d{1,16})\.([0-9a-f-]{36})$/.exec(text);
  if (!m)
    throw new ApiError(
      400,
      'invalid-query',
      'before is not a cursor this server gave',
      'pass the next value of the previous page',
    );
  return { time: Number(m[1]), id: m[2] ?? '' };
}

function timeParam(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  if (!Number.isFinite(t))
    throw new ApiError(400, 'invalid-query', `${name} is not an ISO 8601 time`, 'write 2026-01-31T00:00:00Z');
  return t;
}

export const eventRoutes = [
  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/events',
    operationId: 'listEvents',
    tag: 'audit',
    summary: "The organisation's stored audit events, newest first",
    access: 'events.read',
    query: z.strictObject({
      since: Word('Events at or after this ISO time.'),
      until: Word('Events before this ISO time.'),
      category: Word('evaluation, execution, management, identity or system (admin actions are management).'),
      type: Word('An event type: admin.policy.publish, network.connect, …'),
      user: Word('A user id (for admin actions, the admin id).'),
      surface: Word('network, filesystem, mcp, exec or credential.'),
      decision: Word('allow, ask or deny.'),
      limit: z
        .string()
        .regex(/^[1-9][0-9]{0,3}$/, { message: 'limit is a number from 1 to 1000' })
        .optional()
        .describe('Page size, at most 1000 (default 100).'),
      before: Word('The next value of the previous page.'),
    }),
    response: EventPage,
    handle: async ({ auth, query, app }) => {
      const limit = Math.min(Number(query.limit ?? '100'), 1000);
      const since = timeParam(query.since, 'since');
      const until = timeParam(query.until, 'until');
      const rows = await queryEvents(app.db, auth.org.id, {
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        ...(query.category !== undefined ? { category: query.category } : {}),
        ...(query.type !== undefined ? { type: query.type } : {}),
        ...(query.user !== undefined ? { user: query.user } : {}),
        ...(query.surface !== undefined ? { surface: query.surface } : {}),
        ...(query.decision !== undefined ? { decision: query.decision } : {}),
        ...(query.before !== undefined ? { before: decodeCursor(query.before) } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        events: page.map((r) => r.event),
        next: rows.length > limit && last ? encodeCursor(last.time, last.id) : null,
      };
    },
  }),
];
