// @perimeter/policy: the policy language and decision engine. Pure: no file, network or process
// access; callers pass text in and get data back.

export {
  API_VERSION,
  policyJsonSchema,
  policySchemas,
  type PolicyDocument,
  type McpServer,
  SURFACES,
  type Effect,
  type Layer,
  type Mode,
  type Surface,
  type ToolAnnotations,
  configureZod,
} from './schema.js';
export {
  formatDiagnostic,
  formatPath,
  hasErrors,
  type Diagnostic,
  type DiagnosticPath,
  type Position,
  type Severity,
} from './diagnostic.js';
export { loadPolicies, type LoadResult, type LoadedPolicy, type PolicySource } from './load.js';
export { compilePolicy, type CompiledPolicy, type RuleRef, type SessionLimits } from './compile.js';
export { parseSize, formatSize } from './size.js';
export {
  createEngine,
  Engine,
  refusalDecision,
  type Decision,
  type DecisionCode,
  type EngineOptions,
  CONFLICTING_PINS,
  type FilesystemAnchor,
  type McpCatalogEntry,
  type Subject,
} from './engine.js';
export {
  parseRequest,
  describeRequest,
  type Request,
  type NetworkRequest,
  type FilesystemRequest,
  type McpRequest,
  type ExecRequest,
  type CredentialRequest,
} from './request.js';
export { COMBINING_MARK, MAX_MARK_RUN } from './path-argument.js';
export {
  canonicalHost,
  escapeUnprintable,
  hasControlCharacter,
  parseAuthority,
  parsePort,
  formatAuthority,
  type CanonicalHost,
  type HostError,
  type HostStep,
} from './host.js';
export { parseIp, parseCidr, formatIp, formatCidr, cidrContains, type Ip, type Cidr } from './ip.js';
export { parseNetworkEntry, type NetworkEntry } from './network-entry.js';
export {
  specialRangesOf,
  specialNameOf,
  SPECIAL_RANGES,
  SPECIAL_NAMES,
  type SpecialName,
  type SpecialRange,
} from './special-ranges.js';
export { parseCommandLine, commandsOfArgv, PRIVILEGE_WRAPPERS, type SimpleCommand } from './command-line.js';
export { canonicalPath, type PathContext } from './path-pattern.js';
export { runPolicyTests, byOrg, type PolicyTestResult } from './policy-tests.js';
export { simulate, type RecordedDecision, type Flip, type SimulationReport } from './simulate.js';
export { explain, formatExplanation, type Explanation } from './explain.js';
export { lintPolicies, type LintOptions } from './lint.js';
export { canonicalHttpPath } from './http-path.js';
export { effectiveAnnotations } from './tool-annotations.js';
export { CREDENTIAL_FILE_NAME, SECRET_NAME } from './secret-name.js';
export { diffPolicies, type PolicyChange, type PolicyDiff } from './diff.js';
