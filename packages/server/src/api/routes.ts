// The whole API: one table that the router, the authoriser, the validator and the OpenAPI
// document all read. To add an endpoint, add a route() to the file of its area and, for a new
// area, its list here.

import { z } from 'zod';
import { openApiDocument } from '../http/openapi.js';
import { route, type Route } from '../http/route.js';
import { bundleRoutes } from './bundle-routes.js';
import { deviceRoutes } from './device-routes.js';
import { directoryRoutes } from './directory-routes.js';
import { eventRoutes } from './event-routes.js';
import { loginRoutes } from './login-routes.js';
import { orgRoutes } from './org-routes.js';
import { policyRoutes } from './policy-routes.js';
import { NAMED_SCHEMAS } from './schemas.js';

export const SERVER_VERSION = '0.1.0';

const systemRoutes: Route[] = [
  route({
    method: 'GET',
    path: '/api/v1/health',
    operationId: 'getHealth',
    tag: 'system',
    summary: 'Whether the server and its database answer (for load balancers)',
    access: 'public',
    response: z.strictObject({ status: z.literal('ok'), version: z.string() }),
    handle: async ({ app }) => {
      await app.db.get('SELECT 1 AS one');
      return { status: 'ok' as const, version: SERVER_VERSION };
    },
  }),
  route({
    method: 'GET',
    path: '/api/v1/openapi.json',
    operationId: 'getOpenApi',
    tag: 'system',
    summary: 'This document: the OpenAPI 3.1 description of the API',
    access: 'public',
    response: z.record(z.string(), z.unknown()),
    handle: () => Promise.resolve(apiDocument()),
  }),
];

export const API_ROUTES: readonly Route[] = [
  ...systemRoutes,
  ...orgRoutes,
  ...directoryRoutes,
  ...policyRoutes,
  ...eventRoutes,
  ...bundleRoutes,
  ...loginRoutes,
  ...deviceRoutes,
];

let cached: Record<string, unknown> | undefined;
export function apiDocument(): Record<string, unknown> {
  cached ??= openApiDocument(API_ROUTES, NAMED_SCHEMAS, {
    title: 'Perimeter control plane API',
    version: SERVER_VERSION,
    description:
      'Organisations, admins and API tokens, users and groups, and policies with immutable numbered revisions (draft → validate, lint, test → diff → simulate → publish → roll back); signed policy bundles and their keys; device login (RFC 8628) and the devices that fetch their bundle by long poll. Every admin action is an audit event. Errors share one shape (Error), except the OAuth endpoints, which answer as RFC 6749 says.',
  });
  return cached;
}
