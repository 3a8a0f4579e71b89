// A route: one entry of the table that drives routing, authentication, authorisation, validation
// and the OpenAPI document alike, so the document cannot drift from what the server does. A route
// says its method and path, who may call it (a permission, or public), the zod schemas of its
// query, body and response, and its handler, which gets the parsed, typed inputs.

import type { z } from 'zod';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import type { Permission } from '../roles.js';
import type { Admin, ApiToken } from '../store/admins.js';
import type { Actor } from '../store/events.js';
import type { Org } from '../store/orgs.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | ParamNames<Rest>
  : never;
/** `/orgs/{org}/users/{user}` → `{ org: string; user: string }` */
export type ParamsOf<P extends string> = { readonly [K in ParamNames<P>]: string };

/** Who is calling: the token, its admin, the organisation, and what the pair may do. */
export interface Auth {
  readonly org: Org;
  readonly admin: Admin;
  readonly token: ApiToken;
  readonly permissions: ReadonlySet<Permission>;
  readonly actor: Actor;
}

/** What every handler can use. */
export interface App {
  readonly db: Database;
  readonly log: Logger;
  /** The clock (a test can move it). */
  now(): number;
  /** The URL people and devices reach this server at, for links. */
  readonly publicUrl: string;
}

export type Access = Permission | 'public';

export interface RequestContext<P, Q, B, A extends Access> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly auth: A extends 'public' ? undefined : Auth;
  readonly app: App;
  readonly requestId: string;
}

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler may return: the response type, with every array and object read-only. */
export type Answer<T> = T extends readonly (infer U)[]
  ? readonly Answer<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Answer<T[K]> }
    : T;

export interface RouteSpec<
  P extends string,
  A extends Access,
  Q extends z.ZodType | undefined,
  B extends z.ZodType | undefined,
  R extends z.ZodType | undefined,
> {
  readonly method: Method;
  readonly path: P;
  /** Unique, camelCase: the OpenAPI operationId. */
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: A;
  readonly query?: Q;
  readonly body?: B;
  /** The success body; absent for 204 No Content. */
  readonly response?: R;
  readonly status?: 200 | 201 | 204;
  /** Error statuses the handler itself may answer, beyond the ones the table implies. */
  readonly errors?: readonly number[];
  handle(ctx: RequestContext<ParamsOf<P>, Infer<Q>, Infer<B>, A>): Promise<Answer<Infer<R>>>;
}

/** A route with its types erased, as the router and the document generator see it. */
export interface Route {
  readonly method: Method;
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  readonly query?: z.ZodType;
  readonly body?: z.ZodType;
  readonly response?: z.ZodType;
  readonly status: 200 | 201 | 204;
  readonly errors: readonly number[];
  readonly params: readonly string[];
  handle(ctx: RequestContext<Record<string, string>, unknown, unknown, Access>): Promise<unknown>;
}

export function route<
  const P extends string,
  A extends Access,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  R extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, A, Q, B, R>): Route {
  const params = [...spec.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] ?? '');
  return {
    ...spec,
    status: spec.status ?? (spec.response ? 200 : 204),
    errors: spec.errors ?? [],
    params,
    // The router validated ctx against the schemas these types come from.
    handle: (ctx) => spec.handle(ctx as never),
  };
}
