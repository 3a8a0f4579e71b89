// @perimeter/detect: secret detection and redaction. Pure: text in, findings out; no file,
// network or process access (DESIGN.md), so the egress proxy, the MCP gateway and `perimeter scan`
// share one engine.

export { encodingPhrase, type Confidence, type Encoding, type Finding, type ScanOptions } from './finding.js';
export { scan } from './scan.js';
export { redact } from './redact.js';
export { fingerprint } from './fingerprint.js';
export {
  knownMatcher,
  renderingsOf,
  MIN_KNOWN_LENGTH,
  type KnownHit,
  type KnownMatcher,
  type KnownValue,
} from './known-values.js';
export { scanHost, scanJoined, type JoinedFinding, type JoinedOptions } from './split-secrets.js';
export { RULES, type RuleInfo } from './rule-catalogue.js';
