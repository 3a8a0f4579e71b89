// @perimeter/audit: the audit event, its hash chain, the local spool and verification.

export { auditEventSchema, SCHEMA_VERSION, type AuditEvent, type AuditRecord } from './event.js';
export { canonicalJson } from './canonical-json.js';
export { uuid7 } from './uuid7.js';
export { GENESIS_HASH, hashOf, newChain, seal, type ChainState } from './chain.js';
export { verifySpool, type Problem, type ProblemKind, type Verification } from './verify.js';
export { Spool, SpoolError, type SpoolOptions } from './spool.js';
export {
  lockHolder,
  procStat,
  takeLock,
  takeLockAsync,
  withLock,
  withLockAsync,
  type HeldLock,
  type LockAttempt,
  type LockOptions,
  type LockOwner,
  type LockRefusal,
} from './process-lock.js';
export { replaceFile } from './replace-file.js';
export { stateDir } from './state-dir.js';
export { cutSummary, cutText, MAX_EVENT_BYTES, sealBounded } from './event-cut.js';
export { alertRecord, decisionRecord, lifecycleRecord, type RecordContext } from './record.js';
export {
  createRefusalAudit,
  REFUSALS_PER_SECOND,
  RefusalWindow,
  type RefusalAudit,
  type RefusalAuditOptions,
  type RefusalCode,
} from './refusals.js';
