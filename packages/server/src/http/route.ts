// A route: one entry of the table that drives routing, authentication, authorisation, validation
// and the OpenAPI document alike, so the document cannot drift from what the server does. A route
// says its method and path, who may call it (a permission, a device, or public), the zod schemas
// of its query, body and response, and its handler, which gets the parsed, typed inputs.

import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { ChangeFeed } from '../bundle-changes.js';
import type { BundleIssuer } from '../bundles.js';
import type { Database } from '../db/database.js';
import type { DeviceQueries } from '../device-queries.js';
import type { DeviceBatches } from '../store/device-chains.js';
import type { Logger } from '../log.js';
import type { Permission } from '../roles.js';
import type { SigningKeys } from '../signing-keys.js';
import type { Admin, ApiToken } from '../store/admins.js';
import type { Device } from '../store/devices.js';
import type { User } from '../store/directory.js';
import type { Actor } from '../store/events.js';
import type { Org } from '../store/orgs.js';
import type { UploadSpec } from './body.js';

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

/** A device calling with its credential (pmd_…): the device, its user and organisation. */
export interface DeviceAuth {
  readonly org: Org;
  readonly user: User;
  readonly device: Device;
}

/** How devices log in (RFC 8628) and how long their bundles live. */
export interface DeviceSettings {
  /** Seconds a device waits between token polls (RFC 8628 `interval`). */
  readonly pollIntervalS: number;
  /** How long a device code and its user code are valid. */
  readonly codeLifetimeMs: number;
  /** The longest a bundle request waits for a change before answering 304. */
  readonly longPollMaxMs: number;
  /**
   * How many device logins may wait for approval at once, over the whole server: anyone who can
   * reach it may start one (no credential yet), so this bounds what they can store. A start past
   * it is answered 429 until some are approved or expire. Per-client limits belong to the reverse
   * proxy in front, which knows the clients' addresses.
   */
  readonly maxWaitingLogins: number;
}

/** What every handler can use. */
export interface App {
  readonly db: Database;
  readonly log: Logger;
  /** The clock (a test can move it). */
  now(): number;
  /** The URL people and devices reach this server at, for links. */
  readonly publicUrl: string;
  readonly keys: SigningKeys;
  readonly bundles: BundleIssuer;
  readonly changes: ChangeFeed;
  readonly devices: DeviceSettings;
  /** What devices' calls read and write, batched across devices. */
  readonly deviceData: DeviceQueries;
  /** Where devices' audit uploads are stored (on SQLite, several in one transaction). */
  readonly deviceBatches: DeviceBatches;
}

export type Access = Permission | 'public' | 'device';

export interface RequestContext<P, Q, B, A extends Access> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** The bytes of an upload (inflated), for a route that takes one instead of JSON. */
  readonly upload: Buffer | undefined;
  readonly auth: A extends 'public' ? undefined : A extends 'device' ? DeviceAuth : Auth;
  readonly app: App;
  readonly requestId: string;
  readonly headers: IncomingHttpHeaders;
  /** Aborted when the client goes away before its answer (a long poll stops waiting). */
  readonly signal: AbortSignal;
}

/**
 * An answer that is not the route's JSON: another content type, another status (304), headers.
 * Routes that return one say so in `raw`, for the OpenAPI document. A body given as an iterable
 * is streamed, chunk by chunk as the client takes them (an export of every event). Bytes are sent
 * as they are, never copied: one bundle's bytes go to thousands of devices at once.
 */
export class RawReply {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: string | Uint8Array | AsyncIterable<string> = '',
  ) {}
}

export interface RawSpec {
  readonly contentTypes: readonly string[];
  readonly statuses: readonly number[];
}

export interface ErrorBodySpec {
  readonly description: string;
  readonly schema: z.ZodType;
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
  /** The body's encoding: JSON (the default), or an HTML form's (OAuth endpoints, RFC 6749). */
  readonly bodyType?: 'json' | 'form';
  /** Errors as the API's Error shape (the default), or as OAuth's `{error, error_description}`. */
  readonly errorStyle?: 'api' | 'oauth';
  /** A success that is not JSON: its content types and the statuses it may have (the handler returns a RawReply). */
  readonly raw?: RawSpec;
  /** A body that is not JSON (a device's events as ndjson): read, inflated and capped, given to the handler as `upload`. */
  readonly upload?: UploadSpec;
  /** Error statuses whose body carries more than the Error shape, with what they mean, for the OpenAPI document. */
  readonly errorBodies?: Readonly<Record<number, ErrorBodySpec>>;
  handle(ctx: RequestContext<ParamsOf<P>, Infer<Q>, Infer<B>, A>): Promise<Answer<Infer<R>> | RawReply>;
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
  readonly bodyType: 'json' | 'form';
  readonly errorStyle: 'api' | 'oauth';
  readonly raw?: RawSpec;
  readonly upload?: UploadSpec;
  readonly errorBodies?: Readonly<Record<number, ErrorBodySpec>>;
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
    status: spec.status ?? (spec.response || spec.raw ? 200 : 204),
    errors: spec.errors ?? [],
    bodyType: spec.bodyType ?? 'json',
    errorStyle: spec.errorStyle ?? 'api',
    params,
    // The router validated ctx against the schemas these types come from.
    handle: (ctx) => spec.handle(ctx as never),
  };
}
