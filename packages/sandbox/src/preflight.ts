// Preflight: which protections this machine can enforce, and whether a session may start. The
// assessment is pure (facts in, verdicts out); gathering the facts is the only I/O, and it never
// runs anything found on PATH: bubblewrap is taken from an absolute path (sandbox.md case 67).

import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSessionCgroup, removeSessionCgroup } from './cgroup.js';
import { MEMORY_WATCH_MS } from './limits.js';

/**
 * This package's directory: from this module's own location in the workspace (or from the CLI's
 * bundle, which sits in packages/cli/dist/src), else through module resolution (an installed
 * package). Path arithmetic first, because every `perimeter` start pays for this.
 */
export const PACKAGE_ROOT = ((): string => {
  const here = fileURLToPath(import.meta.url);
  const own = here.lastIndexOf('/packages/sandbox/dist/');
  if (own >= 0) return here.slice(0, own + '/packages/sandbox'.length);
  const cli = here.lastIndexOf('/packages/cli/dist/');
  if (cli >= 0) return `${here.slice(0, cli)}/packages/sandbox`;
  return dirname(createRequire(import.meta.url).resolve('@perimeter/sandbox/package.json'));
})();

/** The in-sandbox helper, built from native/init.c by `npm run build`. */
export const HELPER_PATH = join(PACKAGE_ROOT, 'native', 'build', 'perimeter-init');

export function isHelperBuilt(): boolean {
  try {
    accessSync(HELPER_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian's bubblewrap. Never looked up on PATH, where an agent could shadow it. */
export const BWRAP_PATH = '/usr/bin/bwrap';

export interface MachineFacts {
  readonly arch: string;
  /** Whether the in-sandbox helper (native/init.c) is built and executable. */
  readonly hasHelper?: boolean;
  readonly kernel?: string;
  /** bubblewrap's version when it is installed and executable at BWRAP_PATH. */
  readonly bwrapVersion?: string;
  /** Whether an unprivileged process could create a user namespace, and why not. */
  readonly userNamespaces: { readonly isUsable: boolean; readonly detail: string };
  /** Whether the kernel offers seccomp filters. */
  readonly hasSeccomp: boolean;
  /** What a session's cgroup could cap here (none: Perimeter can make no cgroup), and whether this is root. */
  readonly limits?: { readonly cgroupCaps: readonly string[]; readonly isRoot: boolean };
}

export interface Check {
  readonly name: string;
  readonly isOk: boolean;
  /** Required for a session to start (fail closed), or only informative. */
  readonly isRequired: boolean;
  readonly detail: string;
  readonly fix?: string;
}

export interface Assessment {
  readonly checks: readonly Check[];
  readonly canStartSessions: boolean;
}

const SECCOMP_ARCHES = new Set(['x64', 'arm64']);

/** Pure: what the facts mean for a session. */
export function assess(facts: MachineFacts): Assessment {
  const checks: Check[] = [
    facts.bwrapVersion !== undefined
      ? { name: 'bubblewrap', isOk: true, isRequired: true, detail: `${BWRAP_PATH} ${facts.bwrapVersion}` }
      : {
          name: 'bubblewrap',
          isOk: false,
          isRequired: true,
          detail: `not found or not executable at ${BWRAP_PATH}`,
          fix: 'install it: apt-get install bubblewrap',
        },
    facts.userNamespaces.isUsable
      ? { name: 'user namespaces', isOk: true, isRequired: true, detail: facts.userNamespaces.detail }
      : {
          name: 'user namespaces',
          isOk: false,
          isRequired: true,
          detail: facts.userNamespaces.detail,
          fix: 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap)',
        },
    facts.hasSeccomp && SECCOMP_ARCHES.has(facts.arch)
      ? { name: 'seccomp', isOk: true, isRequired: true, detail: `filters supported (${facts.arch})` }
      : {
          name: 'seccomp',
          isOk: false,
          isRequired: true,
          detail: facts.hasSeccomp
            ? `no filter for architecture ${facts.arch}`
            : 'the kernel offers no seccomp filters',
          fix: 'run on x86-64 or arm64 Linux with seccomp enabled',
        },
    facts.hasHelper !== false
      ? { name: 'sandbox helper', isOk: true, isRequired: true, detail: HELPER_PATH }
      : {
          name: 'sandbox helper',
          isOk: false,
          isRequired: true,
          detail: `not built (${HELPER_PATH})`,
          fix: 'install a C compiler (apt-get install gcc libc6-dev), then run npm run build',
        },
    {
      name: 'egress proxy',
      isOk: true,
      isRequired: true,
      detail: 'built in: loopback only, every connection decided by policy',
    },
    ...(facts.limits ? [limitsCheck(facts.limits)] : []),
  ];
  return { checks, canStartSessions: checks.every((c) => c.isOk || !c.isRequired) };
}

/** Informative: how a session's resource limits (policy `limits`) are held on this machine. */
function limitsCheck(l: NonNullable<MachineFacts['limits']>): Check {
  const pids = l.cgroupCaps.includes('pids');
  const memory = l.cgroupCaps.includes('memory');
  const processes = pids
    ? 'processes capped (pids cgroup)'
    : l.isRoot
      ? 'processes not capped (root ignores RLIMIT_NPROC, and no pids cgroup)'
      : 'processes capped (RLIMIT_NPROC)';
  return {
    name: 'resource limits',
    isOk: memory && (pids || !l.isRoot),
    isRequired: false,
    detail: `${processes}; /tmp sized; memory ${memory ? 'capped by a memory cgroup' : `capped by the sandbox's helper (no memory cgroup: each process by RLIMIT_DATA, the total checked every ${MEMORY_WATCH_MS} ms)`}`,
    ...(memory && (pids || !l.isRoot)
      ? {}
      : {
          fix: 'run Perimeter where it can make a cgroup: as root on cgroup v1, or inside a cgroup v2 subtree with the pids and memory controllers delegated',
        }),
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The I/O half: looks at this machine. Each probe is bounded in time. */
export function gatherFacts(): MachineFacts {
  let bwrapVersion: string | undefined;
  try {
    accessSync(BWRAP_PATH, constants.X_OK);
    const r = spawnSync(BWRAP_PATH, ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (r.status === 0) bwrapVersion = r.stdout.trim().replace(/^bubblewrap\s+/, '');
  } catch {
    bwrapVersion = undefined;
  }
  const userNamespaces = probeUserNamespaces();
  const status = readText('/proc/self/status') ?? '';
  return {
    arch: process.arch,
    hasHelper: isHelperBuilt(),
    ...(readText('/proc/sys/kernel/osrelease')
      ? { kernel: (readText('/proc/sys/kernel/osrelease') ?? '').trim() }
      : {}),
    ...(bwrapVersion !== undefined ? { bwrapVersion } : {}),
    userNamespaces,
    hasSeccomp: /^Seccomp:\s*\d/m.test(status),
    limits: { cgroupCaps: probeCgroup(), isRoot: process.getuid?.() === 0 },
  };
}

/** Makes and removes a session cgroup, to see what it could cap. */
function probeCgroup(): string[] {
  try {
    // A memory cap is asked for too: the memory controller is used only when one is.
    const cg = createSessionCgroup({ name: `doctor-${process.pid}`, processes: 1024, memoryBytes: 2 ** 40 });
    if (!cg) return [];
    removeSessionCgroup(cg);
    return [...cg.caps].sort();
  } catch {
    return [];
  }
}

function probeUserNamespaces(): MachineFacts['userNamespaces'] {
  const max = readText('/proc/sys/user/max_user_namespaces');
  if (max !== undefined && Number(max.trim()) === 0)
    return { isUsable: false, detail: 'user.max_user_namespaces is 0' };
  if (readText('/proc/sys/kernel/unprivileged_userns_clone')?.trim() === '0') {
    return { isUsable: false, detail: 'kernel.unprivileged_userns_clone is 0' };
  }
  if (readText('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')?.trim() === '1') {
    return { isUsable: false, detail: 'AppArmor restricts unprivileged user namespaces' };
  }
  // The real test: create one. `unshare` comes from util-linux at an absolute path.
  const r = spawnSync('/usr/bin/unshare', ['--user', '--map-root-user', '/bin/true'], { timeout: 5000 });
  return r.status === 0
    ? { isUsable: true, detail: 'this user can create one' }
    : {
        isUsable: false,
        detail: `creating one failed (${r.error?.message ?? `exit ${r.status ?? 'signal'}`})`,
      };
}
