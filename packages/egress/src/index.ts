// @perimeter/egress: the session's egress proxy.

export { createEgressProxy, connectionsClosed, type EgressOptions } from './proxy.js';
export { createSocksProxy } from './socks.js';
export {
  createRefusalAudit,
  REFUSALS_PER_SECOND,
  type RefusalAudit,
  type RefusalAuditOptions,
} from '@perimeter/audit';
export { systemResolver, type Resolver } from './resolve.js';
export { parseUpstreamProxy, type UpstreamProxy } from './upstream.js';
export { RELAY_PATH, isRelayBuilt } from './relay.js';
export {
  createSessionCa,
  mergedBundle,
  SYSTEM_BUNDLE_PATHS,
  CaError,
  type CaErrorCode,
  type SessionCa,
  type SessionCaOptions,
} from './ca.js';
export {
  createCredentialGuard,
  makePlaceholder,
  type CredentialGuard,
  type CredentialSlot,
  type DlpAction,
  type HostRefusal,
} from './credentials.js';
