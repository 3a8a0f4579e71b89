// The session's own cgroup, where the machine lets Perimeter make one (sandbox.md case 57): a
// pids cap that holds even for root (whom the kernel exempts from RLIMIT_NPROC) and the only cap on
// a session's total memory. The supervisor and the proxy stay outside it, so a session that
// exhausts its cgroup cannot take them down with it.
//
// Only the cgroup Perimeter already runs in is used as a parent: on cgroup v1 any writable pids
// and memory hierarchy; on cgroup v2 one whose subtree already has the controllers enabled (a
// delegated subtree, a container), never enabling them (that would move other processes).

import { mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupController = 'pids' | 'memory';

/** Where a session cgroup for one controller would go. */
export interface CgroupTarget {
  readonly version: 1 | 2;
  readonly controllers: readonly CgroupController[];
  /** The cgroup Perimeter runs in (the parent of the session's). */
  readonly parent: string;
}

/**
 * From /proc/self/mountinfo and /proc/self/cgroup: the directories of the cgroups this process is
 * in, for the pids and memory controllers. Pure.
 */
export function cgroupTargets(mountinfo: string, procCgroup: string): CgroupTarget[] {
  const paths = new Map<string, string>(); // controller list ('' for v2) → path
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (m) paths.set(m[1]!, m[2]!);
  }
  const out: CgroupTarget[] = [];
  const seen = new Set<CgroupController>();
  for (const line of mountinfo.split('\n')) {
    const [mountPart, fsPart] = line.split(' - ');
    const fields = mountPart?.split(' ') ?? [];
    const rest = fsPart?.split(' ') ?? [];
    const root = unescapeMount(fields[3] ?? '');
    const point = unescapeMount(fields[4] ?? '');
    if (rest[0] === 'cgroup') {
      const options = (rest[2] ?? '').split(',');
      const controllers = (['pids', 'memory'] as const).filter((c) => options.includes(c) && !seen.has(c));
      if (controllers.length === 0) continue;
      const path = [...paths].find(([list]) => list.split(',').includes(controllers[0]!))?.[1];
      const dir = path === undefined ? undefined : within(point, root, path);
      if (dir === undefined) continue;
      for (const c of controllers) seen.add(c);
      out.push({ version: 1, controllers, parent: dir });
    } else if (rest[0] === 'cgroup2') {
      const path = paths.get('');
      const dir = path === undefined ? undefined : within(point, root, path);
      if (dir !== undefined) out.push({ version: 2, controllers: ['pids', 'memory'], parent: dir });
    }
  }
  // v1 hierarchies first: a v2 mount beside them (hybrid) holds no controller v1 has.
  return out.filter((t) => t.version === 1 || !t.controllers.some((c) => seen.has(c)));
}

/** The directory of cgroup `path` under a mount of `root` at `point`; undefined when outside it. */
function within(point: string, root: string, path: string): string | undefined {
  if (root === '/') return path === '/' ? point : `${point}${path}`;
  if (path === root) return point;
  return path.startsWith(`${root}/`) ? `${point}${path.slice(root.length)}` : undefined;
}

function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export interface SessionCgroup {
  /** The cgroup.procs files the launcher joins before it runs bubblewrap. */
  readonly procs: readonly string[];
  /** The session's cgroup directories, removed when it ends. */
  readonly dirs: readonly string[];
  /** What the cgroup caps. */
  readonly caps: ReadonlySet<CgroupController>;
}

export interface CgroupRequest {
  readonly name: string;
  readonly processes: number;
  readonly memoryBytes?: number;
}

/** Stale session cgroups (of a supervisor killed with -9) are removed once this old and empty. */
const STALE_MS = 60_000;

/**
 * Makes the session's cgroups and sets their limits; undefined when this machine gives Perimeter
 * none to make (no writable hierarchy, v2 without delegated controllers). A cgroup made but not
 * fully set up is removed again, and the error is thrown: a half-made cap is not a cap.
 */
export function createSessionCgroup(
  request: CgroupRequest,
  targets: readonly CgroupTarget[] = cgroupTargets(
    readFileSync('/proc/self/mountinfo', 'utf8'),
    readFileSync('/proc/self/cgroup', 'utf8'),
  ),
): SessionCgroup | undefined {
  const made: { dir: string; version: 1 | 2; controllers: CgroupController[] }[] = [];
  for (const t of targets) {
    // Memory is accounted only when capped: a memory cgroup costs every launch time to make and remove.
    let controllers = t.controllers.filter((c) => c === 'pids' || request.memoryBytes !== undefined);
    if (controllers.length === 0) continue;
    if (t.version === 2) {
      const enabled = readOr(join(t.parent, 'cgroup.subtree_control')).split(/\s+/);
      controllers = controllers.filter((c) => enabled.includes(c));
      if (controllers.length === 0) continue;
    }
    removeStale(t.parent);
    const dir = join(t.parent, `perimeter-${request.name}`);
    try {
      mkdirSync(dir);
    } catch {
      continue; // not ours to write (an unprivileged user, a read-only mount)
    }
    made.push({ dir, version: t.version, controllers });
  }
  if (made.length === 0) return undefined;
  const cgroup: SessionCgroup = {
    procs: made.map((m) => join(m.dir, 'cgroup.procs')),
    dirs: made.map((m) => m.dir),
    caps: new Set(made.flatMap((m) => m.controllers)),
  };
  try {
    for (const m of made) {
      if (m.controllers.includes('pids')) writeFileSync(join(m.dir, 'pids.max'), String(request.processes));
      if (m.controllers.includes('memory') && request.memoryBytes !== undefined) {
        writeFileSync(
          join(m.dir, m.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'),
          String(request.memoryBytes),
        );
        // No way around the cap through swap, where the kernel accounts it.
        if (m.version === 2) tryWrite(join(m.dir, 'memory.swap.max'), '0');
      }
    }
  } catch (e) {
    removeSessionCgroup(cgroup);
    throw e;
  }
  return cgroup;
}

/**
 * Removes the session's cgroups once their processes are gone (the PID namespace's end kills
 * them, asynchronously): kills what is left (v2 cgroup.kill), then retries for up to a second.
 */
export function removeSessionCgroup(cgroup: SessionCgroup): void {
  const deadline = Date.now() + 1_000;
  for (const dir of cgroup.dirs) {
    tryWrite(join(dir, 'cgroup.kill'), '1');
    for (;;) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EBUSY' || Date.now() > deadline) break; // gone, or not ours to remove
        // The PID namespace's processes are reaped within a millisecond or two of its end.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
  }
}

function removeStale(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith('perimeter-'));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(parent, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < STALE_MS) continue;
      rmdirSync(dir); // fails (EBUSY) while a process is in it
    } catch {
      // in use, or not ours
    }
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Writes a control file if the kernel has it (never creates one). */
function tryWrite(path: string, value: string): void {
  try {
    writeFileSync(path, value, { flag: 'r+' });
  } catch {
    // absent on this kernel or hierarchy
  }
}
