// The OpenAPI 3.1 document, generated from the route table and its zod schemas: the paths, methods,
// parameters, bodies, responses and required permissions are the ones the router enforces, so the
// document cannot drift from the server. Components are the named schemas plus one per route.

import { z } from 'zod';
import { PERMISSIONS, rolesWith } from '../roles.js';
import { ErrorBody } from './api-error.js';
import type { Route } from './route.js';

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'The query or body is malformed or has the wrong shape.',
  401: 'No API token, or one that is unknown, revoked or expired.',
  403: "The token's role does not allow this.",
  404: 'Nothing with that id in the caller’s organisation (another organisation’s ids are never revealed).',
  405: 'The path exists, but not with this method.',
  409: 'It conflicts with what is stored (a name in use, a revision not newer, the last owner).',
  413: 'The body is larger than the limit (1 MiB of policy text; a device upload, 4 MiB sent and 32 MiB inflated).',
  415: 'The body is not of the media type the endpoint takes (JSON unless it says otherwise).',
  422: 'A policy revision is invalid, or its tests fail.',
  429: 'Too many device logins are waiting for approval (DeviceSettings.maxWaitingLogins): try again after the seconds the Retry-After header gives.',
  500: 'The server failed; the error names a request id to look up in its log.',
  503: 'The server is overloaded (its database connections are all busy, or the database is unreachable): try again after the seconds the Retry-After header gives.',
};

type JsonObject = Record<string, unknown>;

/** RFC 6749 §5.2: the error shape of the OAuth endpoints. */
const OAUTH_ERROR_SCHEMA: JsonObject = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'string',
      description:
        'invalid_request, invalid_client, invalid_grant, unsupported_grant_type, authorization_pending, slow_down, access_denied, expired_token, server_error',
    },
    error_description: { type: 'string' },
  },
};

function strip(schema: JsonObject): JsonObject {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function errorStatuses(route: Route): number[] {
  const out = new Set<number>([...route.errors, ...Object.keys(route.errorBodies ?? {}).map(Number)]);
  if (route.body || route.query || route.upload) out.add(400);
  if (route.body || route.upload) {
    out.add(413);
    out.add(415);
  }
  if (route.access !== 'public') out.add(401);
  if (route.access !== 'public' && route.access !== 'device') out.add(403);
  if (route.params.length > 0) out.add(404);
  out.add(500);
  out.add(503);
  return [...out].sort((a, b) => a - b);
}

export interface DocumentInfo {
  readonly title: string;
  readonly version: string;
  readonly description: string;
}

export function openApiDocument(
  routes: readonly Route[],
  named: Readonly<Record<string, z.ZodType>>,
  info: DocumentInfo,
): JsonObject {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  registry.add(ErrorBody, { id: 'Error' });
  const ref = (schema: z.ZodType, id: string): JsonObject => {
    const existing = registry.get(schema);
    if (!existing) registry.add(schema, { id });
    return { $ref: `#/components/schemas/${existing?.id ?? id}` };
  };
  const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    const parameters: JsonObject[] = route.params.map((name) => ({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (route.query instanceof z.ZodObject) {
      const shape = (route.query as z.ZodObject<Record<string, z.ZodType>>).shape;
      for (const [name, field] of Object.entries(shape)) {
        const schema = strip(z.toJSONSchema(field, { io: 'input' }));
        const { description, ...rest } = schema;
        parameters.push({
          name,
          in: 'query',
          required: !field.safeParse(undefined).success,
          ...(typeof description === 'string' ? { description } : {}),
          schema: rest,
        });
      }
    }
    const success: JsonObject = route.response
      ? {
          description: route.status === 201 ? 'Created.' : 'OK.',
          content: {
            'application/json': { schema: ref(route.response, `${cap(route.operationId)}Response`) },
          },
        }
      : { description: 'Done; no content.' };
    const responses: Record<string, JsonObject> = route.raw
      ? Object.fromEntries(
          route.raw.statuses.map((status) => [
            String(status),
            status === 304
              ? { description: 'Not modified: the If-None-Match ETag is still current.' }
              : {
                  description: 'OK.',
                  content: Object.fromEntries(
                    (route.raw?.contentTypes ?? []).map((type) => [type, { schema: { type: 'string' } }]),
                  ),
                },
          ]),
        )
      : { [String(route.status)]: success };
    const errorSchema =
      route.errorStyle === 'oauth' ? OAUTH_ERROR_SCHEMA : { $ref: '#/components/schemas/Error' };
    for (const status of errorStatuses(route)) {
      const special = route.errorBodies?.[status];
      responses[String(status)] = {
        description: special?.description ?? ERROR_TEXT[status] ?? 'An error.',
        ...(status === 503
          ? { headers: { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } } }
          : {}),
        content: {
          'application/json': {
            schema: special ? ref(special.schema, `${cap(route.operationId)}${status}`) : errorSchema,
          },
        },
      };
    }
    const access =
      route.access === 'public'
        ? { security: [] }
        : route.access === 'device'
          ? { security: [{ device: [] }] }
          : {
              security: [{ bearer: [] }],
              'x-permission': route.access,
              'x-roles': rolesWith(route.access),
            };
    const operation: JsonObject = {
      operationId: route.operationId,
      summary: route.summary,
      description: [
        route.description,
        route.access === 'public'
          ? 'No token needed.'
          : route.access === 'device'
            ? 'Needs a device credential (pmd_…, from perimeter login).'
            : `Needs permission ${route.access} (${PERMISSIONS[route.access]}): ${rolesWith(route.access).join(', ')}.`,
      ]
        .filter(Boolean)
        .join('\n\n'),
      tags: [route.tag],
      ...access,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.upload
        ? {
            requestBody: {
              required: true,
              content: { [route.upload.contentType]: { schema: { type: 'string' } } },
            },
          }
        : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: {
                [route.bodyType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json']: {
                  schema: ref(route.body, `${cap(route.operationId)}Request`),
                },
              },
            },
          }
        : {}),
      responses,
    };
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation };
  }

  const generated = z.toJSONSchema(registry, {
    io: 'output',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonObject> };
  const schemas = Object.fromEntries(Object.entries(generated.schemas).map(([id, s]) => [id, strip(s)]));
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version, description: info.description },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (pmt_…).' },
        device: {
          type: 'http',
          scheme: 'bearer',
          description: 'A device credential (pmd_…), from the device authorization grant (perimeter login).',
        },
      },
    },
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
  };
}
