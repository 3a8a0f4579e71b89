// The API's request pipeline over node:http, in the order that leaks nothing: match the route →
// authenticate (401; an API token, or a device credential for device routes) → an organisation in
// the path must be the caller's (404, never 403) → the role must allow the route (403) → query and
// body are read and validated (413, 415, 400) → the handler runs (it answers 404 for any id
// outside the caller's organisation). Answers are JSON (a route may answer a RawReply: a bundle,
// a 304, a streamed export); errors have the shape of ErrorBody, or OAuth's on the OAuth
// endpoints; each request is one log line.

import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatabaseError } from '../db/database.js';
import { errorFields } from '../log.js';
import { PERMISSIONS, rolesWith } from '../roles.js';
import { ApiError, oauthCodeOf } from './api-error.js';
import { authenticate, authenticateDevice } from './authenticate.js';
import { DEFAULT_BODY_LIMIT, hasBody, parseForm, parseJson, readBody, readUpload, validate } from './body.js';
import { RawReply, type App, type Auth, type DeviceAuth, type Route } from './route.js';
import { Router } from './router.js';

export interface ApiOptions {
  readonly bodyLimit?: number;
  /** Check every success body against its route's response schema (tests): a mismatch is a 500. */
  readonly checkResponses?: boolean;
  /** True once the server is stopping: each answer then closes its connection. */
  readonly isDraining?: () => boolean;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function queryObject(url: URL): Record<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of url.searchParams) {
    // A repeated parameter is ambiguous (which one counts differs between frameworks): refused.
    if (out.has(k))
      throw new ApiError(400, 'invalid-query', `the query parameter "${k}" is given twice`, 'give it once');
    out.set(k, v);
  }
  // Own properties only, even for a parameter named __proto__ (the schema then refuses it by name).
  return Object.fromEntries(out);
}

interface State {
  route?: Route;
  auth?: Auth;
  device?: DeviceAuth;
  bodyRead: boolean;
}

export function createApiHandler(app: App, routes: readonly Route[], options: ApiOptions = {}) {
  const router = new Router(routes);
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;

  async function dispatch(
    req: IncomingMessage,
    url: URL,
    requestId: string,
    state: State,
    signal: () => AbortSignal,
  ): Promise<{ status: number; body: unknown; raw?: RawReply }> {
    const match = router.match(req.method ?? '', url.pathname);
    if (match.kind === 'none')
      throw new ApiError(
        404,
        'not-found',
        `there is no endpoint at ${url.pathname}`,
        'see /api/v1/openapi.json for the endpoints',
      );
    if (match.kind === 'method')
      throw new ApiError(
        405,
        'method-not-allowed',
        `${req.method ?? ''} is not allowed on ${url.pathname}`,
        `use ${match.allowed.join(' or ')}`,
        { allowed: match.allowed },
      );
    const { route, params } = match;
    state.route = route;
    let auth: Auth | DeviceAuth | undefined;
    if (route.access === 'device') {
      auth = await authenticateDevice(app, req);
      state.device = auth;
    } else if (route.access !== 'public') {
      auth = await authenticate(app, req);
      state.auth = auth;
      if (params.org !== undefined && params.org !== auth.org.id)
        throw new ApiError(
          404,
          'not-found',
          'the organisation was not found',
          'your token belongs to one organisation: GET /api/v1/orgs lists it',
        );
      if (!auth.permissions.has(route.access)) {
        throw new ApiError(
          403,
          'forbidden',
          `this token (role ${auth.token.role}, admin role ${auth.admin.role}) may not ${PERMISSIONS[route.access]}`,
          `roles that may: ${rolesWith(route.access).join(', ')}`,
        );
      }
    }
    const query = route.query ? validate(route.query, queryObject(url), 'query') : undefined;
    if (!route.query && url.search !== '' && url.searchParams.size > 0)
      throw new ApiError(400, 'invalid-query', `${url.pathname} takes no query parameters`, 'remove them');
    let body: unknown;
    let upload: Buffer | undefined;
    if (route.upload) {
      upload = await readUpload(req, route.upload);
      state.bodyRead = true;
    } else if (route.body) {
      const raw = await readBody(req, limit);
      state.bodyRead = true;
      const input =
        raw.length === 0 ? undefined : route.bodyType === 'form' ? parseForm(req, raw) : parseJson(req, raw);
      if (input === undefined)
        throw new ApiError(
          400,
          'invalid-body',
          'this endpoint needs a JSON body',
          'send a JSON object with Content-Type: application/json',
        );
      body = validate(route.body, input, 'body');
    } else if (hasBody(req)) {
      // Read and drop (within the limit), so the connection stays usable.
      await readBody(req, limit);
      state.bodyRead = true;
    }
    const result = await route.handle({
      params,
      query,
      body,
      upload,
      auth,
      app,
      requestId,
      headers: req.headers,
      get signal() {
        return signal();
      },
    });
    if (result instanceof RawReply) return { status: result.status, body: undefined, raw: result };
    if (options.checkResponses && route.response) {
      const checked = route.response.safeParse(result);
      if (!checked.success)
        throw new Error(
          `${route.operationId} answered outside its response schema: ${checked.error.message}`,
        );
    }
    return { status: route.status, body: route.status === 204 ? undefined : result };
  }

  return (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    const started = performance.now();
    const requestId = randomUUID();
    const state: State = { bodyRead: false };
    // A long poll stops waiting when its client goes away. Its signal is made only for a handler
    // that asks for it (a request's AbortController and its DOMException cost thousands a second).
    let gone: AbortController | undefined;
    let isGone = false;
    res.on('close', () => {
      if (res.writableFinished) return;
      isGone = true;
      gone?.abort();
    });
    const signal = (): AbortSignal => {
      if (gone === undefined) {
        gone = new AbortController();
        if (isGone) gone.abort();
      }
      return gone.signal;
    };
    res.on('finish', () => {
      app.log.log(res.statusCode >= 500 ? 'error' : 'info', 'http.request', {
        requestId,
        method: req.method,
        route: state.route?.path ?? null,
        path: url.pathname,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(state.auth
          ? { org: state.auth.org.id, admin: state.auth.admin.id, token: state.auth.token.id }
          : {}),
        ...(state.device ? { org: state.device.org.id, device: state.device.device.id } : {}),
      });
    });
    const closing = (): Record<string, string> => (options.isDraining?.() ? { connection: 'close' } : {});
    dispatch(req, url, requestId, state, signal).then(
      ({ status, body, raw }) => {
        if (!raw) {
          sendJson(res, status, body, { 'x-request-id': requestId, ...closing() });
          return;
        }
        const content = raw.body;
        const headers: Record<string, string> = {
          ...SECURITY_HEADERS,
          ...raw.headers,
          'x-request-id': requestId,
          ...closing(),
        };
        if (typeof content === 'string' || content instanceof Uint8Array) {
          const length = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
          if (length > 0) headers['content-length'] = String(length);
          res.writeHead(raw.status, headers);
          res.end(content);
          return;
        }
        res.writeHead(raw.status, headers);
        // The status is sent: a failure now can only cut the stream short, which the client sees
        // as a chunked body that never ended, never as a complete answer.
        pipeline(Readable.from(content), res).catch((error: unknown) => {
          const isClientGone = (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
          if (isClientGone) app.log.log('info', 'http.stream-abandoned', { requestId, path: url.pathname });
          else
            app.log.log('error', 'http.stream-failed', {
              requestId,
              path: url.pathname,
              ...errorFields(error),
            });
        });
      },
      (error: unknown) => {
        const apiError = toApiError(error);
        // An overload is no bug: its request's log line (status 503) says enough, without a stack.
        if (!(error instanceof ApiError) && apiError.status >= 500 && apiError.status !== 503)
          app.log.log('error', 'http.error', { requestId, ...errorFields(error) });
        const headers: Record<string, string> = { 'x-request-id': requestId, ...closing() };
        if (apiError.status === 401) headers['www-authenticate'] = 'Bearer';
        if (apiError.status === 503) headers['retry-after'] = String(retryAfterS());
        // Too many device logins waiting (the only 429): a minute lets some be approved or expire.
        if (apiError.status === 429) headers['retry-after'] = '60';
        if (apiError.status === 405) {
          const allowed = (apiError.details as { allowed?: string[] } | undefined)?.allowed ?? [];
          headers.allow = allowed.join(', ');
        }
        // An unread body would have to be drained before the next request on this connection.
        if (!state.bodyRead && hasBody(req)) headers.connection = 'close';
        if (state.route?.errorStyle === 'oauth') {
          // RFC 6749 §5.2: the OAuth shape, so any OAuth client reads it.
          sendJson(
            res,
            apiError.status,
            { error: oauthCodeOf(apiError), error_description: apiError.message },
            { ...headers, pragma: 'no-cache' },
          );
          return;
        }
        sendJson(
          res,
          apiError.status,
          {
            error: {
              code: apiError.code,
              message: apiError.message,
              ...(apiError.hint !== undefined ? { hint: apiError.hint } : {}),
              ...(apiError.details !== undefined ? { details: apiError.details } : {}),
              requestId,
            },
            ...apiError.fields,
          },
          headers,
        );
      },
    );
  };
}

/**
 * Seconds a client should wait before asking again after a 503: 2 to 6, at random, so clients
 * turned away together do not all come back together.
 */
const retryAfterS = (): number => 2 + randomInt(5);

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof DatabaseError && error.constraint === 'unique')
    return new ApiError(409, 'conflict', 'that already exists', 'choose another name or email');
  if (error instanceof DatabaseError && error.isUnavailable)
    return new ApiError(
      503,
      'unavailable',
      'the server cannot reach its database right now (it is busy or down)',
      'try again after the seconds Retry-After gives',
    );
  return new ApiError(
    500,
    'internal',
    'the server failed to handle this request',
    'this is a bug or an outage; the server log has the details under this request id',
  );
}
