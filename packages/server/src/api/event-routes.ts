// Routes for audit events: devices upload their sealed events (checked chain by chain, stored all
// or nothing), and admins read them, newest first one page at a time, or export every match
// oldest first as JSON lines or CSV. Filters: a time range (ISO, or "that long ago": 1h, 7d), a
// user (id or email), a device, a session, a category, and lists of types, surfaces, decisions.

import { z } from 'zod';
import { checkLines } from '../batch-checking.js';
import { assembleBatch, splitUpload } from '../device-batch.js';
import { EXPORT_TYPES, csvHeader, formatRows, type ExportFormat } from '../event-export.js';
import { ApiError } from '../http/api-error.js';
import { RawReply, route, type App, type DeviceAuth } from '../http/route.js';
import type { BatchOutcome } from '../store/device-chains.js';
import { NAME_QUOTED, quoted } from '../quoting.js';
import { actorIds, exportEvents, queryEvents, recordAdminAction, type EventFilter } from '../store/events.js';
import { ChainGap, ChainRefused, EventPage, IngestResult } from './schemas.js';

const Word = (what: string) => z.string().max(200).optional().describe(what);
const List = (what: string) => z.string().max(1000).optional().describe(what);

const CATEGORIES = ['evaluation', 'execution', 'management', 'identity', 'system'] as const;
const SURFACES = ['network', 'filesystem', 'mcp', 'exec', 'credential'] as const;
const DECISIONS = ['allow', 'ask', 'deny'] as const;

const FILTERS = {
  since: Word('Events at or after this time: ISO 8601, or that long before now (30m, 1h, 7d).'),
  until: Word('Events before this time: ISO 8601, or that long before now (30m, 1h, 7d).'),
  user: Word('A user id or email (for admin actions, the admin id or email).'),
  device: Word('A device id: the events its credential sent.'),
  session: Word('A session id (a device chain is one session).'),
  category: z.enum(CATEGORIES).optional().describe('Admin actions are management.'),
  type: List('Event types, comma-separated: network.connect,credential.use'),
  surface: List('Surfaces, comma-separated: network, filesystem, mcp, exec, credential.'),
  decision: List('Decisions, comma-separated: allow, ask, deny.'),
};
type FilterQuery = { readonly [K in keyof typeof FILTERS]?: string };

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

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** An ISO time, or a duration meaning that long before now. */
function timeParam(text: string | undefined, name: string, now: number): number | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d{1,6})([smhdw])$/.exec(text);
  if (relative) return now - Number(relative[1]) * (UNIT_MS[relative[2] ?? ''] ?? 0);
  const t = Date.parse(text);
  if (!Number.isFinite(t))
    throw new ApiError(
      400,
      'invalid-query',
      `${name} is neither an ISO 8601 time nor a duration`,
      'write 2026-01-31T00:00:00Z, or 30m, 12h, 7d for that long ago',
    );
  return t;
}

/** A comma-separated list; each item one of `allowed` when given. */
function listParam(
  text: string | undefined,
  name: string,
  allowed?: readonly string[],
): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0)
    throw new ApiError(400, 'invalid-query', `${name} is empty`, `name at least one, or leave ${name} out`);
  const unknown = allowed ? items.find((i) => !allowed.includes(i)) : undefined;
  if (unknown !== undefined)
    throw new ApiError(
      400,
      'invalid-query',
      `${name} "${unknown}" is not one of ${allowed?.join(', ') ?? ''}`,
      `use ${allowed?.join(', ') ?? ''}, comma-separated`,
    );
  return [...new Set(items)];
}

/** The query's filters, with relative times taken from now and a user's email turned into ids. */
async function filterOf(app: App, orgId: string, query: FilterQuery): Promise<EventFilter> {
  const now = app.now();
  const since = timeParam(query.since, 'since', now);
  const until = timeParam(query.until, 'until', now);
  const types = listParam(query.type, 'type');
  const surfaces = listParam(query.surface, 'surface', SURFACES);
  const decisions = listParam(query.decision, 'decision', DECISIONS);
  return {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(query.category !== undefined ? { category: query.category } : {}),
    ...(types ? { types } : {}),
    ...(query.user !== undefined ? { users: await actorIds(app.db, orgId, query.user) } : {}),
    ...(query.device !== undefined ? { device: query.device } : {}),
    ...(query.session !== undefined ? { session: query.session } : {}),
    ...(surfaces ? { surfaces } : {}),
    ...(decisions ? { decisions } : {}),
  };
}

/** 4 MiB on the wire, 32 MiB inflated: about 10,000 events of the spool's size, gzipped 8 to 1. */
const UPLOAD = {
  contentType: 'application/x-ndjson',
  limit: 4 * 1024 * 1024,
  inflatedLimit: 32 * 1024 * 1024,
  hint: 'send fewer events at a time (halve the batch)',
} as const;

/** What the device is told, and the trail told, when a batch is not stored. */
async function refuse(
  app: App,
  auth: DeviceAuth,
  outcome: Exclude<BatchOutcome, { kind: 'stored' }>,
): Promise<never> {
  if (outcome.kind === 'gap')
    throw new ApiError(
      409,
      'chain-gap',
      `chain "${quoted(outcome.chainId, NAME_QUOTED)}" jumps to seq ${outcome.seq}, but the server expects seq ${outcome.expected} next`,
      'resend each chain from its next_seq; nothing of this batch was stored',
      undefined,
      { chains: outcome.chains },
    );
  const now = app.now();
  await app.db.transaction((tx) =>
    recordAdminAction(
      tx,
      auth.org.id,
      { id: auth.user.id, email: auth.user.email, device: { id: auth.device.id } },
      {
        category: 'system',
        severity: 'high',
        type: 'audit.ingest.refused',
        reason: `refused chain "${quoted(outcome.chainId, NAME_QUOTED)}" of device "${quoted(auth.device.name, NAME_QUOTED)}" at seq ${outcome.seq}: ${outcome.why}`,
        outcome: { device: auth.device.id, chain: outcome.chainId, seq: outcome.seq, why: outcome.why },
      },
      now,
    ),
  );
  app.log.log('warn', 'audit.ingest.refused', {
    org: auth.org.id,
    device: auth.device.id,
    chain: outcome.chainId,
    seq: outcome.seq,
  });
  throw new ApiError(
    422,
    'chain-refused',
    `chain "${quoted(outcome.chainId, NAME_QUOTED)}" is refused at seq ${outcome.seq}: ${outcome.why}`,
    'stop sending this chain and keep its spool file as evidence (perimeter audit verify shows the damage); nothing of this batch was stored',
    undefined,
    { chain_id: outcome.chainId, seq: outcome.seq },
  );
}

export const eventRoutes = [
  route({
    method: 'POST',
    path: '/api/v1/device/events',
    operationId: 'ingestDeviceEvents',
    tag: 'audit',
    summary:
      "Store this device's sealed audit events (ndjson, gzip): each chain checked, the batch all or nothing",
    description:
      "The body is the spool's lines, one sealed event per line (Content-Type: application/x-ndjson; Content-Encoding: gzip, or none): at most 4 MiB sent, 32 MiB inflated, 10,000 events. Several chains may share a batch; within one, seq ascends without gaps. Each chain is the device's own: the next seq must link to the last stored hash; a seq stored already must be the same event (counted as a duplicate). The rows name the device, its user and organisation from the credential, whatever the events say.",
    access: 'device',
    upload: UPLOAD,
    response: IngestResult,
    errorBodies: {
      409: { description: 'A chain skips a seq: resend each chain from its next_seq.', schema: ChainGap },
      422: {
        description: 'A chain is refused for good: an event changed, relinked, rewritten or invalid.',
        schema: ChainRefused,
      },
    },
    handle: async ({ auth, upload, app }) => {
      const now = app.now();
      const split = splitUpload(upload ?? Buffer.alloc(0));
      const batch = assembleBatch(split, await checkLines(split.lines, now));
      const outcome = await app.deviceBatches.store({
        owner: { orgId: auth.org.id, userId: auth.user.id, deviceId: auth.device.id },
        events: batch,
        now,
      });
      if (outcome.kind !== 'stored') return refuse(app, auth, outcome);
      return { stored: outcome.stored, duplicates: outcome.duplicates, chains: outcome.chains };
    },
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/events',
    operationId: 'listEvents',
    tag: 'audit',
    summary: "The organisation's stored audit events, newest first",
    access: 'events.read',
    query: z.strictObject({
      ...FILTERS,
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
      const rows = await queryEvents(app.db, auth.org.id, {
        ...(await filterOf(app, auth.org.id, query)),
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

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/events/export',
    operationId: 'exportEvents',
    tag: 'audit',
    summary: 'Every matching event, oldest first, streamed as JSON lines or CSV',
    description:
      "The same filters as the list, no paging. JSON lines hold each event as stored; CSV has the columns time, event_id, type, category, user_id, device_id, session_id, surface, action, resource, decision, enforcement_mode, reason, bytes_in, bytes_out (RFC 4180; a cell starting with = + - @ is prefixed with ' so no spreadsheet runs it).",
    access: 'events.read',
    query: z.strictObject({
      format: z.enum(['jsonl', 'csv']).optional().describe('jsonl (the default) or csv.'),
      ...FILTERS,
    }),
    raw: { contentTypes: [EXPORT_TYPES.jsonl, EXPORT_TYPES.csv], statuses: [200] },
    handle: async ({ auth, query, app }) => {
      const format: ExportFormat = query.format ?? 'jsonl';
      const pages = exportEvents(app.db, auth.org.id, await filterOf(app, auth.org.id, query));
      // The first page is read before the answer starts, so a failing database is still a 500.
      const first = await pages.next();
      async function* body(): AsyncGenerator<string> {
        if (format === 'csv') yield csvHeader();
        if (first.done) return;
        yield formatRows(first.value, format);
        for await (const page of pages) yield formatRows(page, format);
      }
      return new RawReply(
        200,
        {
          'content-type': EXPORT_TYPES[format],
          'content-disposition': `attachment; filename="events.${format}"`,
        },
        body(),
      );
    },
  }),
];
