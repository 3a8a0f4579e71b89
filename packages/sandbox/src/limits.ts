// The resource limits of a session (sandbox.md case 57): what the policies say, or the defaults,
// and how this machine can hold the session to them. Pure: the caller passes the machine's memory
// and what it could set up.

import { formatSize, type SessionLimits } from '@perimeter/policy';

/** Limits as the sandbox applies them; absent ones are left as Perimeter itself runs. */
export interface EffectiveLimits {
  /** Processes and threads at once (RLIMIT_NPROC in the sandbox's user namespace, and pids.max). */
  readonly processes: number;
  /** The size of /tmp and of /dev/shm, each (tmpfs). */
  readonly tmpBytes: number;
  readonly openFiles?: number;
  readonly fileSizeBytes?: number;
  /** All of the session's memory together. */
  readonly memoryBytes?: number;
  /**
   * What holds the session to memoryBytes: its cgroup, or, on a machine that gives Perimeter no
   * memory cgroup, the helper inside the sandbox (RLIMIT_DATA per process, and the total of all
   * of them checked every 100 ms). Set by `heldBy`.
   */
  readonly memoryHeldBy?: 'cgroup' | 'helper';
  /** Whether the policy set these (a limit the policy sets must hold, or the session does not start). */
  readonly isProcessesSet: boolean;
}

export const DEFAULT_PROCESSES = 8192;
export const DEFAULT_TMP_BYTES = 2 * 2 ** 30;

export function effectiveLimits(policy: SessionLimits, totalMemoryBytes: number): EffectiveLimits {
  const tmpDefault = Math.min(DEFAULT_TMP_BYTES, Math.floor(totalMemoryBytes / 4));
  return {
    processes: policy.processes ?? DEFAULT_PROCESSES,
    tmpBytes: policy.tmpBytes ?? tmpDefault,
    ...(policy.openFiles !== undefined ? { openFiles: policy.openFiles } : {}),
    ...(policy.fileSizeBytes !== undefined ? { fileSizeBytes: policy.fileSizeBytes } : {}),
    ...(policy.memoryBytes !== undefined ? { memoryBytes: policy.memoryBytes } : {}),
    isProcessesSet: policy.processes !== undefined,
  };
}

/** What holds the session to its limits on this machine. */
export interface LimitEnforcement {
  /** The kernel exempts root from RLIMIT_NPROC: only a pids cgroup caps root's processes. */
  readonly isRoot: boolean;
  readonly pidsCgroup: boolean;
  readonly memoryCgroup: boolean;
}

/** The limits with what holds the memory cap on this machine. */
export function heldBy(limits: EffectiveLimits, how: LimitEnforcement): EffectiveLimits {
  if (limits.memoryBytes === undefined) return limits;
  return { ...limits, memoryHeldBy: how.memoryCgroup ? 'cgroup' : 'helper' };
}

/** How often the helper adds up the session's memory when no cgroup holds it (--memory-watch BYTES,MS). */
export const MEMORY_WATCH_MS = 100;

/** Why the limits cannot hold here, as an error and its fix; undefined when they can. */
export function unenforceable(
  limits: EffectiveLimits,
  how: LimitEnforcement,
): { readonly message: string; readonly fix: string } | undefined {
  if (limits.isProcessesSet && how.isRoot && !how.pidsCgroup)
    return {
      message: `the policy caps the session at ${limits.processes} processes, which the kernel does not enforce for root without a pids cgroup, and none could be made`,
      fix: 'run the session as an ordinary user, or where a pids cgroup can be made, or remove limits.processes from the policy',
    };
  return undefined;
}

/** The helper's `--limit` arguments (applied to the workload before it runs), and its memory watch. */
export function limitArgs(limits: EffectiveLimits): string[] {
  const watched = limits.memoryHeldBy === 'helper' ? limits.memoryBytes : undefined;
  return [
    ...[
      ['nproc', limits.processes],
      ['nofile', limits.openFiles],
      ['fsize', limits.fileSizeBytes],
      ['data', watched],
    ].flatMap(([name, value]) => (value === undefined ? [] : ['--limit', `${name}=${value}`])),
    ...(watched === undefined ? [] : ['--memory-watch', `${watched},${MEMORY_WATCH_MS}`]),
  ];
}

/** One line for the session's start event and for people. */
export function describeLimits(limits: EffectiveLimits, how: LimitEnforcement): string {
  const processes =
    how.isRoot && !how.pidsCgroup
      ? 'processes not capped (root, and no pids cgroup)'
      : `${limits.processes} processes and threads${how.pidsCgroup ? ' (pids cgroup)' : ''}`;
  return [
    processes,
    `/tmp and /dev/shm ${formatSize(limits.tmpBytes)} each`,
    limits.openFiles !== undefined ? `${limits.openFiles} open files per process` : 'open files as the host',
    limits.fileSizeBytes !== undefined
      ? `files up to ${formatSize(limits.fileSizeBytes)}`
      : 'file size unlimited',
    limits.memoryBytes === undefined
      ? 'memory not capped'
      : limits.memoryHeldBy === 'helper'
        ? `memory ${formatSize(limits.memoryBytes)} (no memory cgroup: each process by RLIMIT_DATA, all together checked every ${MEMORY_WATCH_MS} ms)`
        : `memory ${formatSize(limits.memoryBytes)} (cgroup)`,
  ].join('; ');
}
