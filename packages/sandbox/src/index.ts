// @perimeter/sandbox: the Linux session sandbox: preflight, mount plan, seccomp, bubblewrap.

export {
  BWRAP_PATH,
  HELPER_PATH,
  isHelperBuilt,
  assess,
  gatherFacts,
  type Assessment,
  type Check,
  type MachineFacts,
} from './preflight.js';
export {
  planMounts,
  PlanError,
  type EntryFact,
  type HostView,
  type MountOp,
  type MountPlan,
  type PlannedMount,
  type Verification,
} from './mount-plan.js';
export { bwrapArgs, proxyEnv, sessionEnv, BRIDGE_PORTS, ENV_ALLOWLIST, INSIDE } from './bwrap-args.js';
export { hostView } from './host-view.js';
export { seccompProgram, seccompBytes, seccompArch, evaluateSeccomp, SECCOMP_SUMMARY } from './seccomp.js';
export { PROTECTED_NAMES, PROTECTED_IN_GIT_DIR, gitdirOf } from './protected-paths.js';
export {
  prepareSession,
  launchSession,
  prelaunch,
  cancelPrelaunch,
  type Prelaunch,
  spawnSandboxed,
  cleanupSession,
  cleanupSessionAsync,
  SessionError,
  type PreparedSession,
  type SessionExit,
  type SessionOptions,
  type SessionTrust,
} from './session.js';
export {
  snapshotReview,
  compareReview,
  disarmCommonDirs,
  DISARMED_SUFFIX,
  REVIEW_FILES,
  type ReviewSnapshot,
  type ReviewFindings,
} from './review.js';
