// @perimeter/server: the control plane. `startServer` runs it; the rest is for the CLI and for
// tests: the route table and its OpenAPI document, the storage layer (SQLite or PostgreSQL behind
// one interface) with its migrations, the roles, and the signed-bundle format (the CLI verifies
// bundles with its own code, importing only these types, so the server never enters its bundle).

export {
  DEFAULT_DEVICE_SETTINGS,
  startServer,
  ServerStartError,
  type RunningServer,
  type ServerOptions,
  type StartErrorCode,
} from './server.js';
export { parseListen, urlFor, DEFAULT_LISTEN, type ListenAddress } from './listen-address.js';
export { jsonLogger, type Logger, type Level, type LogFields } from './log.js';
export { API_ROUTES, apiDocument, SERVER_VERSION } from './api/routes.js';
export type { Route, Method } from './http/route.js';
export type { Database, Queryable, SqlValue } from './db/database.js';
export { DatabaseError } from './db/database.js';
export type { Dialect } from './db/dialect.js';
export { openSqlite } from './db/sqlite.js';
export { openPostgres, redactUrl } from './db/postgres.js';
export { migrate, MIGRATIONS, MigrationError, type Migration } from './db/migrations.js';
export { createOrganisation, ensureOrganisation, DEFAULT_ORG } from './first-start.js';
export { insertEvents, queryEvents, adminChainId } from './store/events.js';
export {
  ROLES,
  PERMISSIONS,
  permissionsOf,
  effectivePermissions,
  type Role,
  type Permission,
} from './roles.js';
export {
  BUNDLE_FORMAT,
  BUNDLE_TYPE,
  effectiveBundle,
  subjectId,
  type BundlePayload,
  type BundlePolicy,
  type PublishedPolicy,
} from './effective-bundle.js';
export { publicJwk, signCompact, thumbprint, type JwsHeader, type PublicJwk } from './jws.js';
export {
  ENDORSEMENT_TYPE,
  KEK_FILE,
  type EndorsementPayload,
  type KeySet,
  type PublishedKey,
} from './signing-keys.js';
export { DEVICE_GRANT_TYPE } from './api/login-routes.js';
export { JOSE_TYPE } from './api/device-routes.js';
export type { DeviceSettings } from './http/route.js';
