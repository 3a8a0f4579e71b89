// @perimeter/mcp: the MCP gateway (DESIGN.md, mcp): one chokepoint for every tool call.

export { Gateway, type GatewayOptions } from './gateway.js';
export { Upstream, UpstreamUnavailable, type UpstreamSpec, type UpstreamTransport } from './upstream.js';
export {
  approveCommand,
  pinKey,
  PinStore,
  PinStoreError,
  type ApprovedPin,
  type PendingDefinition,
  type PinChange,
  type PinListing,
  printablePins,
  shownKey,
  withoutSecrets,
} from './pins.js';
export {
  definitionDiff,
  definitionHash,
  pinnedPart,
  PINNED_FIELDS,
  type DefinitionKind,
} from './definition.js';
export { collisions, exposedName, nameProblem, SEPARATOR } from './names.js';
export {
  scanDefinition,
  scanResult,
  type InjectionFinding,
  type InjectionKind,
  type OtherTools,
  type PoisoningFinding,
  type PoisoningKind,
  type ResultScan,
} from './poisoning.js';
export { listenHttp, type HttpListenOptions, type HttpListener } from './http.js';
export { serveGatewayStdio, type StdioGateway } from './stdio.js';
export { upstreamSpecs, CatalogError, type CatalogContext } from './catalog.js';
export { resolvedPath } from './resolved-path.js';
export { scanValue, type SecretScan } from './secrets.js';
export {
  boundValues,
  serverCredential,
  type CredentialOutcome,
  type ServerCredential,
} from './server-credential.js';
export { ProcessTransport, type ServerProcess } from './process-transport.js';
export { tunnelFetch, TunnelRefused, type TunnelFetchOptions } from './tunnel-fetch.js';
export {
  remoteServerPolicy,
  serverSandboxPolicy,
  SERVER_DENIED_PATHS,
  SERVER_POLICY_NAME,
  SERVER_SYSTEM_PATHS,
} from './sandbox-policy.js';
