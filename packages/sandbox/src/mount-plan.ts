// The mount plan: the session's filesystem view, computed from the policy before anything is
// mounted. The sandbox starts from an empty root and shows only what the policy allows:
//
// - every allow pattern that names a whole directory (`dir/**`) or an exact path is mounted at its
//   own path, read-write when the policy allows writing there, else read-only; the engine decides,
//   so deny rules win exactly as they do for `perimeter check filesystem`;
// - every deny (and ask: there is no one to ask at mount time) inside a mounted directory is
//   masked: an empty, mode-0000, read-only directory or file is mounted over it, so it is neither
//   readable nor writable (never a writable tmpfs, sandbox.md case 25); patterns like `**/.env`
//   are found by walking the workspace and every other granted directory outside the system's;
// - trust-handoff paths (protected-paths.ts) in every writable directory are read-only, and when
//   they do not exist yet the first missing component is masked, so they cannot be created;
// - a symlink is never followed into a grant: an allowed symlink is mounted as its resolved target
//   only when the target is allowed too; a symlinked trust-handoff path refuses the launch.
//
// All host facts come through HostView, so the plan is a function of the policy and those facts.

import type { Decision, Engine, FilesystemAnchor } from '@perimeter/policy';
import {
  HOME_ONLY_NAMES,
  HOME_ONLY_WHEN_MISSING,
  PROTECTED_IN_GIT_DIR,
  PROTECTED_NAMES,
  gitdirOf,
} from './protected-paths.js';
import { includesOf, isGitFalse, parseGitConfig, valuesOf, type GitConfig } from './git-config.js';

export interface EntryFact {
  readonly type: 'dir' | 'file' | 'symlink' | 'other';
  /** Device and inode numbers, in decimal (inodes can exceed 2^53). */
  readonly dev: string;
  readonly ino: string;
}

export interface DirEntry {
  readonly name: string;
  readonly type: EntryFact['type'];
}

/** What the planner may ask of the host. Production: host-view.ts; tests: a real temp directory. */
export interface HostView {
  lstat(path: string): EntryFact | undefined;
  /** The canonical path with every symlink resolved, or undefined when it does not resolve. */
  realpath(path: string): string | undefined;
  /** A symlink's target as written (relative to its directory unless absolute); undefined for anything else. */
  readlink(path: string): string | undefined;
  /** Directory entries with their types (from the directory itself: no lstat), or undefined when unreadable. */
  list(path: string): readonly DirEntry[] | undefined;
  /**
   * A regular file's contents as UTF-8; undefined when missing, unreadable, not a regular file (a
   * FIFO is never waited on), not UTF-8, or too large to read whole (never cut short).
   */
  readText(path: string): string | undefined;
  /** A user's home directory, as git's `~user/` finds it, canonical; undefined when not known. */
  userHome(user: string): string | undefined;
}

export type MountOp =
  | { readonly op: 'bind'; readonly source: string; readonly dest: string; readonly writable: boolean }
  | { readonly op: 'mask'; readonly dest: string; readonly as: 'dir' | 'file' | 'empty' }
  /**
   * A hidden directory that holds a path the session is granted (an MCP server's home in
   * Perimeter's state): `source` is a read-only tree of empty directories on the way to each
   * granted path, so nothing else of the directory is there.
   */
  | { readonly op: 'mask'; readonly dest: string; readonly as: 'skeleton'; readonly source: string }
  | { readonly op: 'tmpfs'; readonly dest: string }
  | { readonly op: 'empty'; readonly dest: string };

export interface PlannedMount {
  readonly mount: MountOp;
  /** Why, in a few words, for the plan listing and the audit event. */
  readonly why: string;
  /** The policy decision behind it, when a rule decided. */
  readonly decision?: Decision;
}

/** After setup, `path` must be exactly this inode, or the launch aborts (a setup race). */
export interface Verification {
  readonly path: string;
  readonly dev: string;
  readonly ino: string;
}

export interface MountPlan {
  readonly mounts: readonly PlannedMount[];
  readonly verify: readonly Verification[];
  /** Directories the mask of a missing trust-handoff path creates on the host (removed after). */
  readonly createsOnHost: readonly string[];
  /** Denied paths the session cannot see at all (outside every mount), with the decision. */
  readonly hidden: readonly { readonly path: string; readonly decision: Decision }[];
  /** Things a person should know: patterns that cannot be mounted, scans cut short. */
  readonly notes: readonly string[];
  /**
   * Every git directory the plan found, in the workspace and in the other writable roots: each
   * repository's own and common directory, and each `.git` file (for the review after the
   * session, which looks for a `commondir` planted in any of them).
   */
  readonly gitDirs: readonly string[];
}

export interface PlanInput {
  readonly engine: Engine;
  readonly view: HostView;
  readonly workspace: string;
  /** Where the workload starts, when not the workspace (an MCP server without it starts in its home). */
  readonly start?: string;
  readonly home: string;
  /** The empty mode-0000 directory and file masks are made of, with their inodes. */
  readonly maskDir: { readonly path: string } & EntryFact;
  readonly maskFile: { readonly path: string } & EntryFact;
  /**
   * An empty, read-only, readable directory: what blocks a missing trust-handoff name (nothing
   * to hide there, so `git status` and `ls` see an empty directory rather than an unreadable one).
   * Defaults to maskDir.
   */
  readonly emptyDir?: { readonly path: string } & EntryFact;
  /** Paths the session must never write (policy files, Perimeter's own files). */
  readonly readOnly?: readonly string[];
  /** Paths the session must never see (Perimeter's state: audit spools, session directories). */
  readonly hidden?: readonly string[];
  /**
   * Granted paths inside a hidden one that the session does see (an MCP server's own home, kept in
   * Perimeter's state). Any other grant inside a hidden path refuses the launch.
   */
  readonly grantedInHidden?: readonly string[];
  /**
   * Makes the read-only tree a hidden directory is replaced with when it holds granted paths:
   * empty directories on the way to each of `keep` (relative paths), nothing else. Returns its
   * root with its inode. Without it such a directory is masked whole (and the grant cannot be
   * mounted).
   */
  readonly skeletonOf?: (keep: readonly string[]) => { readonly path: string } & EntryFact;
  /** Most entries the walk for floating deny patterns visits before refusing the launch. */
  readonly scanLimit?: number;
}

export class PlanError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** Paths the sandbox always replaces: a private /tmp and /dev/shm, fresh /dev and /proc, an empty /run. */
const ALWAYS_PRIVATE = ['/tmp', '/dev', '/proc', '/run', '/var/run'];

/**
 * Directories the distribution's packages fill: not walked for floating denials such as
 * `**\/.env` (too large to walk at every launch, and nothing a user or a project writes lives
 * there). Explicit denials there (`/etc/shadow`) are masked as always.
 */
const SYSTEM_DIRS = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/etc',
  '/opt',
  '/boot',
  '/nix',
  '/snap',
];

/** A grant there is served by the sandbox's own mount (a subdirectory of /tmp is a real grant). */
function isAlwaysPrivate(path: string): boolean {
  return ALWAYS_PRIVATE.some((p) => (p === '/tmp' ? path === p : isUnder(path, p)));
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

function depth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/**
 * A file git reads, as text; undefined when it is missing (git skips it, or finds no repository).
 * One that exists but cannot be read (a FIFO the session planted, over 1 MiB, not UTF-8) refuses
 * the launch: what git takes from it cannot be checked, and git may read it anyway.
 */
function readOrRefuse(view: HostView, path: string, message: string, fix: string): string | undefined {
  const text = view.readText(path);
  if (text !== undefined || view.lstat(path) === undefined) return text;
  throw new PlanError(message, fix);
}

/** The most symlinks the kernel follows in one path (MAXSYMLINKS): past that, ELOOP. */
const MAX_SYMLINKS = 40;

/** git's own limit on nested includes (config.c, MAX_INCLUDE_DEPTH): deeper, git dies. */
const MAX_INCLUDE_DEPTH = 10;

/** A repository git may later run hooks for. */
interface Repository {
  /** Where a relative hooks path starts; none known for a submodule's git directory alone. */
  readonly worktree: string | undefined;
  /** Its own git directory (a linked worktree's private one). */
  readonly gitDir: string;
  /** The directory holding its config and hooks. */
  readonly commonDir: string;
}

/** A git config file git reads, as parsed for the plan. */
interface ConfigFile {
  readonly path: string;
  readonly config: GitConfig;
}

/** What git reads from a list of config files, includes followed. */
interface ConfigReading {
  /** Each existing file, in the order git reads them (a missing one git skips). */
  readonly files: readonly ConfigFile[];
  /** Every file included, existing or not, as git resolves it. */
  readonly included: readonly string[];
}

/** One value of a variable, with the file that sets it (for the message when it cannot be used). */
interface ConfigValue {
  readonly file: string;
  readonly value: string;
}

interface Root {
  readonly dest: string;
  /** The host directory mounted at dest: dest itself, or where a symlink on the way leads. */
  readonly source: string;
  readonly writable: boolean;
  /** A directory (a file grant holds no other paths). */
  readonly isDir: boolean;
}

export function planMounts(input: PlanInput): MountPlan {
  const { engine, view } = input;
  const mounts: PlannedMount[] = [];
  const verify: Verification[] = [];
  const createsOnHost: string[] = [];
  const notes: string[] = [];
  // A mount cannot log each access and then allow it, so audit mode does not widen the view: the
  // plan follows what the policies would decide, and says so in each mount's decision.
  const decide = (path: string, access: 'read' | 'write'): Decision => {
    const d = engine.decide({ surface: 'filesystem', path, access });
    return d.decision === d.wouldDecision
      ? d
      : {
          ...d,
          decision: d.wouldDecision,
          reason: `${d.reason.replace(/ Audit mode: .*$/, '')} Audit mode does not widen the filesystem view: it follows the would-be decision.`,
        };
  };
  // The session starts in its workspace, or where the caller says (an MCP server without the
  // workspace starts in its home, which may lie inside the workspace: a desktop client starts the
  // gateway in ~): under a policy that grants none of that directory, nothing can run. A start
  // inside a workspace the policy grants is planned as the workspace is (a mask there is entered
  // as the mask).
  const start = input.start ?? input.workspace;
  const canStart =
    decide(start, 'read').decision === 'allow' ||
    (start !== input.workspace &&
      isUnder(start, input.workspace) &&
      decide(input.workspace, 'read').decision === 'allow');
  if (!canStart) {
    if (!isUnder(start, input.workspace))
      throw new PlanError(
        `the policy gives this session no access to ${start}, where it starts, so nothing ran`,
        'grant that directory in the policy, or start the session elsewhere',
      );
    throw new PlanError(
      `the policy gives this session no access to its workspace ${input.workspace}, so nothing ran`,
      'run from a directory the policy grants (for example a rule with paths: ["${workspace}/**"]), or --workspace DIR',
    );
  }
  const anchors = engine.filesystemAnchors();

  // 1. Roots: what the allow rules grant, as whole directories or exact paths.
  const roots = new Map<string, Root>();
  const privateDirs = new Map<string, Decision>();
  // A directory any allow rule makes private is private, whatever other rules grant there.
  const privateAnchors = new Set(
    anchors.filter((x) => x.ref.effect === 'allow' && x.isPrivate && x.shape === 'subtree').map((x) => x.dir),
  );
  for (const a of anchors.filter((x) => x.ref.effect === 'allow')) {
    if (a.shape === 'glob') {
      notes.push(
        `${a.text} (rule ${a.ref.rule}) is not mounted: only whole directories (dir/**) and exact paths can be`,
      );
      continue;
    }
    if (isAlwaysPrivate(a.dir)) continue;
    if (roots.has(a.dir) || privateDirs.has(a.dir)) continue;
    const read = decide(a.dir, 'read');
    const write = decide(a.dir, 'write');
    if (read.decision !== 'allow' && write.decision !== 'allow') continue;
    if (privateAnchors.has(a.dir)) {
      // The session's own empty directory over the host's, which it never sees (case 48).
      if (write.decision === 'allow') privateDirs.set(a.dir, write);
      continue;
    }
    const fact = view.lstat(a.dir);
    if (fact === undefined) {
      // A writable directory that does not exist yet (a tool's cache on a fresh machine): the
      // session gets it empty and private, so the tool works and nothing reaches the host.
      if (a.shape === 'subtree' && write.decision === 'allow') privateDirs.set(a.dir, write);
      continue;
    }
    let source = a.dir;
    const real = view.realpath(a.dir);
    if (fact.type === 'symlink' || real !== a.dir) {
      // A symlink anywhere on the way: mounted as its target, and only when the target is granted
      // as well (never widen a grant).
      const target = real;
      if (target === undefined || decide(target, 'read').decision !== 'allow') {
        notes.push(
          `${a.dir} is a symlink to ${target ?? 'nothing'}, which the policy does not grant: not mounted`,
        );
        continue;
      }
      source = target;
    }
    const writable =
      write.decision === 'allow' && (source === a.dir || decide(source, 'write').decision === 'allow');
    const targetFact = source === a.dir ? fact : view.lstat(source);
    if (targetFact === undefined) continue;
    roots.set(a.dir, { dest: a.dir, source, writable, isDir: targetFact.type === 'dir' });
    mounts.push({
      mount: { op: 'bind', source, dest: a.dir, writable },
      why: writable ? 'allowed read-write' : 'allowed read-only',
      decision: writable ? write : read,
    });
    verify.push({ path: a.dir, dev: targetFact.dev, ino: targetFact.ino });
  }
  const rootList = [...roots.values()];
  const visibleRoot = (path: string): Root | undefined => {
    let best: Root | undefined;
    for (const r of rootList)
      if (isUnder(path, r.dest) && (!best || depth(r.dest) > depth(best.dest))) best = r;
    return best;
  };
  const writableRoots = rootList.filter((r) => r.writable && r.isDir);
  // Inside a writable directory the session can make a missing one itself, on the host; inside a
  // read-only one nothing can be mounted (bubblewrap could not make the mount point).
  for (const [dir, decision] of privateDirs) {
    const exists = view.lstat(dir)?.type === 'dir';
    if (visibleRoot(dir) !== undefined && !exists) {
      if (privateAnchors.has(dir))
        notes.push(
          `${dir} is private but does not exist, and a read-only grant holds it: not mounted (create it first)`,
        );
      continue;
    }
    mounts.push({
      mount: { op: 'tmpfs', dest: dir },
      why: privateAnchors.has(dir)
        ? "allowed read-write, private: the session's own empty directory, not the host's"
        : 'allowed read-write; absent on the host, so private to the session',
      decision,
    });
  }

  const masked = new Set<string>();
  /** Masked directories: nothing below them can (or needs to) be mounted. */
  const covered: string[] = [];
  /** Hidden directories replaced with a tree of the granted paths they hold (`keep`, absolute). */
  const skeletons: { dest: string; keep: string[] }[] = [];
  /** Inside a skeleton but in none of its granted paths: not there for the session. */
  const isInSkeleton = (path: string): boolean =>
    skeletons.some((k) => isUnder(path, k.dest) && !k.keep.some((g) => isUnder(path, g)));
  const isCovered = (path: string): boolean =>
    masked.has(path) || covered.some((c) => isUnder(path, c)) || isInSkeleton(path);
  /** Under a mask: the session cannot see it, so nothing there needs a decision. */
  const isHidden = (path: string): boolean => covered.some((c) => isUnder(path, c)) || isInSkeleton(path);
  /**
   * A directory between a writable root and a protected path is bound onto itself, so it is a
   * mount point: it cannot be renamed or removed (EBUSY), and `mv .git .git.bak && mkdir -p
   * .git/hooks` cannot put a new, unprotected directory where the protected one was (case 28).
   */
  const pinned = new Set<string>();
  const pin = (path: string, fact: EntryFact): void => {
    if (pinned.has(path) || isCovered(path) || isUnderReadOnly(path)) return;
    pinned.add(path);
    mounts.push({
      mount: { op: 'bind', source: path, dest: path, writable: true },
      why: 'pinned (holds protected paths)',
    });
    verify.push({ path, dev: fact.dev, ino: fact.ino });
  };
  /** Pins every directory between the writable root holding `path` and `path` (case 28). */
  const pinAncestors = (path: string): void => {
    const root = visibleRoot(path);
    if (!root?.writable || !root.isDir) return;
    let at = root.dest;
    const parts = path.slice(root.dest.length + 1).split('/');
    for (const part of parts.slice(0, -1)) {
      at = join(at, part);
      const fact = view.lstat(at);
      if (fact?.type !== 'dir') return;
      pin(at, fact);
    }
  };
  /**
   * Where else the session sees `path`: a root mounted from a symlink's target shows that target's
   * files at its own path too (~/link/secret for data/real/secret), and a mask must cover both.
   */
  const aliasesOf = (path: string): string[] =>
    rootList
      .filter((r) => r.source !== r.dest && path !== r.source && isUnder(path, r.source))
      .map((r) => join(r.dest, path.slice(r.source.length + 1)));
  const mask = (path: string, fact: EntryFact, why: string, decision?: Decision): void => {
    if (isCovered(path)) return;
    for (const alias of aliasesOf(path))
      mask(alias, fact, `${why}, seen through a symlinked grant`, decision);
    pinAncestors(path);
    covered.push(path);
    masked.add(path);
    const as = fact.type === 'dir' ? 'dir' : 'file';
    mounts.push({ mount: { op: 'mask', dest: path, as }, why, ...(decision ? { decision } : {}) });
    const m = as === 'dir' ? input.maskDir : input.maskFile;
    verify.push({ path, dev: m.dev, ino: m.ino });
  };
  /** Read-only binds: nothing can be created beneath them, so nothing there needs a mask. */
  const readOnlyDirs: string[] = [];
  const isUnderReadOnly = (path: string): boolean => readOnlyDirs.some((d) => isUnder(path, d));
  const readOnly = (path: string, fact: EntryFact, why: string, decision?: Decision): void => {
    if (isCovered(path)) return;
    for (const alias of aliasesOf(path))
      if (visibleRoot(alias)?.writable)
        readOnly(alias, fact, `${why}, seen through a symlinked grant`, decision);
    pinAncestors(path);
    if (fact.type === 'dir') readOnlyDirs.push(path);
    masked.add(path);
    mounts.push({
      mount: { op: 'bind', source: path, dest: path, writable: false },
      why,
      ...(decision ? { decision } : {}),
    });
    verify.push({ path, dev: fact.dev, ino: fact.ino });
  };
  /** Masks the first component of `path` (below `root`) that does not exist, so nothing can create it. */
  const blockCreation = (path: string, root: Root, why: string, decision?: Decision): void => {
    let at = root.dest;
    for (const part of path.slice(root.dest.length + 1).split('/')) {
      const next = join(at, part);
      const fact = view.lstat(next);
      if (fact === undefined) {
        if (isCovered(next) || isUnderReadOnly(next)) return;
        pinAncestors(next);
        masked.add(next);
        covered.push(next);
        createsOnHost.push(next);
        mounts.push({
          mount: { op: 'mask', dest: next, as: 'empty' },
          why,
          ...(decision ? { decision } : {}),
        });
        const empty = input.emptyDir ?? input.maskDir;
        verify.push({ path: next, dev: empty.dev, ino: empty.ino });
        return;
      }
      if (fact.type !== 'dir') return; // under a file nothing can be created
      at = next;
    }
  };

  const refuseSymlink = (path: string, target: string | undefined): never => {
    throw new PlanError(
      `${path} is a symlink${target ? ` to ${target}` : ''}, and it is a path Perimeter keeps read-only; a symlink there cannot be protected`,
      `replace the symlink with the file or directory itself, or move it out of the writable directory`,
    );
  };
  const isInWritableRoot = (path: string): boolean => writableRoots.some((r) => isUnder(path, r.dest));
  /**
   * Paths git reaches through, inside a writable root, that must stay as they are (holdPath): a
   * git directory a `.git` file or a `commondir` names, a directory a `..` climbs out of. Held once
   * the rest of the plan is made, so a read-only bind made later at one of their directories (a
   * repository's `.git/modules`) is not preceded by a writable pin there.
   */
  const held = new Map<string, string>();
  /**
   * An absolute path as git on the host reaches it, in the form the plan protects: `.` and empty
   * parts dropped. Outside every writable root each symlink is followed (the session cannot change
   * those, and roots are known by their canonical paths: with `/home` a symlink to `/var/home`,
   * `/home/me/ws/hooks` is in the writable root `/var/home/me/ws`). From a writable root down the
   * path is kept as written, so protect() and holdPath refuse a symlink there instead of following
   * one the session could swap. `..` climbs from where the path so far really is; climbing out of a
   * directory inside a writable root holds the way to it.
   */
  const resolvePath = (path: string): string => {
    const parts = path.split('/').reverse();
    let at = '/';
    let links = 0;
    for (let part = parts.pop(); part !== undefined; part = parts.pop()) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (isInWritableRoot(at) && !writableRoots.some((r) => r.dest === at)) {
          held.set(at, 'a git path climbs out of it');
          at = parentOf(at);
        } else at = parentOf(view.realpath(at) ?? at);
        continue;
      }
      at = join(at, part);
      if (isInWritableRoot(at) || view.lstat(at)?.type !== 'symlink') continue;
      const target = view.readlink(at);
      if (target === undefined || ++links > MAX_SYMLINKS)
        throw new PlanError(
          `${at} is a symlink that cannot be followed (unreadable, or one of more than ${MAX_SYMLINKS} on the way), and git reaches ${path} through it, so what git reads or runs there cannot be protected`,
          'fix or remove the symlink, or write the path out without it',
        );
      parts.push(...target.split('/').reverse());
      at = target.startsWith('/') ? '/' : parentOf(at);
    }
    return at;
  };
  /**
   * Keeps the way from the writable root holding `path` down to it as it is at launch: a symlink on
   * the way could be swapped after launch, so it refuses the launch; each directory on it is pinned
   * (case 28: it cannot be renamed and replaced); the first missing component is blocked, and an
   * existing file on the way is read-only, so nothing new can be put there.
   */
  const holdPath = (path: string, why: string): void => {
    const root = writableRoots.find((r) => isUnder(path, r.dest) && path !== r.dest);
    if (!root) return;
    let at = root.dest;
    for (const part of path.slice(root.dest.length + 1).split('/')) {
      at = join(at, part);
      if (isCovered(at) || isUnderReadOnly(at)) return; // nothing there can change
      const fact = view.lstat(at);
      if (fact === undefined) {
        blockCreation(path, root, why);
        return;
      }
      if (fact.type === 'symlink') refuseSymlink(at, view.realpath(at));
      if (fact.type !== 'dir') {
        readOnly(at, fact, why);
        return;
      }
      pin(at, fact);
    }
  };

  /**
   * Hides the directory `path` except the granted roots inside it: a read-only tree of empty
   * directories leads to them, and whatever was planned in the directory outside them (a pin, a
   * read-only bind would show the host's) is dropped. A grant there that the caller did not name
   * (grantedInHidden) refuses the launch: a policy cannot show the session Perimeter's state.
   */
  const hideAround = (path: string, inside: readonly Root[]): void => {
    const allowed = new Set(input.grantedInHidden ?? []);
    const stray = inside.find((r) => !allowed.has(r.dest));
    if (stray)
      throw new PlanError(
        `the policy grants ${stray.dest}, which is inside ${path}, Perimeter's own state: no session may see it`,
        'remove that path from the filesystem grants',
      );
    for (const alias of aliasesOf(path)) {
      const aliasFact = view.lstat(alias);
      if (aliasFact) mask(alias, aliasFact, "Perimeter's state, seen through a symlinked grant");
    }
    if (isCovered(path)) return;
    pinAncestors(path);
    const keep = inside.map((r) => r.dest);
    const skeleton = (input.skeletonOf as NonNullable<PlanInput['skeletonOf']>)(
      keep.map((g) => g.slice(path.length + 1)),
    );
    const isGone = (p: string): boolean => p !== path && isUnder(p, path) && !keep.some((g) => isUnder(p, g));
    const kept = mounts.filter((m) => !isGone(m.mount.dest));
    mounts.length = 0;
    mounts.push(...kept);
    const keptVerify = verify.filter((v) => !isGone(v.path));
    verify.length = 0;
    verify.push(...keptVerify);
    const keptCreates = createsOnHost.filter((c) => !isGone(c));
    createsOnHost.length = 0;
    createsOnHost.push(...keptCreates);
    skeletons.push({ dest: path, keep });
    masked.add(path);
    mounts.push({
      mount: { op: 'mask', dest: path, as: 'skeleton', source: skeleton.path },
      why: `Perimeter's state; only ${keep.join(', ')} there`,
    });
    verify.push({ path, dev: skeleton.dev, ino: skeleton.ino });
  };

  // 2. Denials inside what is mounted.
  const hidden: { path: string; decision: Decision }[] = [];
  const applyDenial = (path: string, decisionSource: string): void => {
    const root = visibleRoot(path);
    if (!root) {
      const read = decide(path, 'read');
      if (read.decision !== 'allow') hidden.push({ path, decision: read });
      return;
    }
    const read = decide(path, 'read');
    const write = decide(path, 'write');
    const fact = view.lstat(path);
    if (read.decision !== 'allow') {
      if (fact === undefined) {
        if (root.writable && write.decision !== 'allow')
          blockCreation(path, root, `denied (${decisionSource})`, write);
        return;
      }
      if (fact.type === 'symlink') {
        // A symlink cannot be mounted over; what it points to is masked where the session sees it.
        const target = view.realpath(path);
        const targetFact = target === undefined ? undefined : view.lstat(target);
        if (target !== undefined && targetFact !== undefined && visibleRoot(target))
          mask(target, targetFact, `denied through the symlink ${path}`, read);
        return;
      }
      mask(path, fact, `denied (${decisionSource})`, read);
    } else if (write.decision !== 'allow' && root.writable) {
      if (fact === undefined) blockCreation(path, root, `read-only (${decisionSource})`, write);
      else if (fact.type === 'symlink') refuseSymlink(path, view.realpath(path));
      else readOnly(path, fact, `read-only (${decisionSource})`, write);
    }
  };
  const floating: FilesystemAnchor[] = [];
  for (const a of anchors.filter((x) => x.ref.effect !== 'allow')) {
    if (a.shape === 'glob') floating.push(a);
    else applyDenial(a.dir, `rule ${a.ref.rule}`);
  }

  // 3. Walk the writable roots once: floating denials (`**/.env`) and nested git directories.
  const gitDirs = new Set<string>();
  /** Each `.git` file the walk found, with the git directory it points to. */
  const gitFiles = new Map<string, string | undefined>();
  const limit = input.scanLimit ?? 200_000;
  let visited = 0;
  // A floating pattern is decided only for the names it can match (and below a match, for one that
  // ends in `**`): deciding every path of a workspace with node_modules would cost more than the
  // rest of the launch.
  /** Walked already, or not to be walked: the workspace once walked, private directories (tmpfs). */
  const notWalked = new Set<string>(privateDirs.keys());
  /**
   * Walks `dir` for floating denials and, in the workspace (`findGit`), for git directories.
   * `tooMany` says what to do when the entries exceed the limit.
   */
  const walk = (
    dir: string,
    below: readonly FilesystemAnchor[],
    findGit: boolean,
    tooMany: () => PlanError,
  ): void => {
    const entries = view.list(dir);
    if (!entries) return;
    for (const { name, type } of entries) {
      if (++visited > limit) throw tooMany();
      const path = join(dir, name);
      if (notWalked.has(path)) continue;
      if (findGit) noteGitDir(path, name, type);
      const named = floating.filter((a) => a.mayMatchName(name) && isUnder(path, a.dir));
      if (named.length > 0 || below.length > 0) {
        const read = decide(path, 'read');
        if (read.decision !== 'allow' || decide(path, 'write').decision !== 'allow')
          applyDenial(path, read.rules[0] ? `rule ${read.rules[0].rule}` : 'default');
      }
      // Git's object store is large and holds nothing that runs; everything else is walked.
      if (type === 'dir' && !(name === 'objects' && dir.endsWith('.git')) && !isHidden(path)) {
        const covering = named.filter((a) => a.coversBelowMatch);
        walk(path, covering.length === 0 ? below : [...below, ...covering], findGit, tooMany);
      }
    }
  };
  /** A git directory (or `.git` file) the workspace's walk passes: kept for the protections below. */
  const noteGitDir = (path: string, name: string, type: EntryFact['type']): void => {
    if (name === '.git' && type === 'file') {
      const target = gitDirOfFile(path);
      gitFiles.set(path, target);
      if (target !== undefined) gitDirs.add(commonDirOf(target));
    } else if (name === '.git') gitDirs.add(path);
    else if (type === 'dir' && path.includes('/.git/') && isGitDir(path)) gitDirs.add(path); // .git/modules/NAME
  };
  const isGitDir = (dir: string): boolean =>
    view.lstat(join(dir, 'HEAD'))?.type === 'file' && view.lstat(join(dir, 'objects'))?.type === 'dir';
  /** A file that tells git where a repository is (a `.git` file, `commondir`): its text, undefined when missing. */
  const readPointer = (path: string): string | undefined =>
    readOrRefuse(
      view,
      path,
      `${path} tells git where a repository is, and it cannot be read (not a regular UTF-8 file of at most 1 MiB), so the hooks and config git would use through it cannot be checked`,
      'make it a readable file, or remove it',
    );
  /**
   * Where a pointer sends git, as resolvePath writes it: a symlink inside a writable root is not
   * followed (holdPath refuses it), and a directory that does not exist is named all the same, so
   * holdPath blocks its creation (git would use whatever the session put there).
   */
  const pointedDir = (pointer: string, base: string): string => {
    const dir = resolvePath(pointer.startsWith('/') ? pointer : join(base, pointer));
    held.set(dir, 'git directory (a .git file or commondir names it)');
    return dir;
  };
  /** The git directory a `.git` file points to (read once per plan: the walk keeps it in gitFiles). */
  const gitDirOfFile = (dotGit: string): string | undefined => {
    const pointer = gitdirOf(readPointer(dotGit) ?? '');
    return pointer === undefined ? undefined : pointedDir(pointer, parentOf(dotGit));
  };
  /** Each git directory's common directory, read once per plan. */
  const commonDirs = new Map<string, string>();
  /** A git directory's common directory: where `commondir` points (a linked worktree's), else itself. */
  const commonDirOf = (gitDir: string): string => {
    const known = commonDirs.get(gitDir);
    if (known !== undefined) return known;
    // As git reads it (setup.c): line ends trimmed at the end only, blanks kept, a NUL ends it.
    const text = readPointer(join(gitDir, 'commondir'));
    const pointer = text?.replace(/[\r\n]+$/, '').split('\0')[0] ?? '';
    const common = pointer === '' ? gitDir : pointedDir(pointer, gitDir);
    commonDirs.set(gitDir, common);
    return common;
  };
  /**
   * The granted directories outside the workspace a floating denial could match in: each visible
   * directory root not inside another one, nor inside the system's directories (SYSTEM_DIRS, which
   * the plan's notes name), nor private.
   */
  const floatingWalkRoots = (): string[] => {
    if (floating.length === 0) return [];
    const reach = (dir: string): boolean => floating.some((a) => isUnder(dir, a.dir) || isUnder(a.dir, dir));
    const dirs = rootList
      .filter((r) => r.isDir && reach(r.dest) && !isHidden(r.dest))
      .map((r) => r.dest)
      .filter((d) => !(isWorkspaceWritable && isUnder(d, input.workspace)));
    const system = dirs.filter((d) => SYSTEM_DIRS.some((x) => isUnder(d, x)));
    if (system.length > 0)
      notes.push(
        `${floating.map((a) => a.text).join(', ')}: not searched for in the system directories ${system.join(', ')}`,
      );
    const walked = dirs.filter((d) => !system.includes(d));
    return walked.filter((d) => !walked.some((o) => o !== d && isUnder(d, o)));
  };
  // The workspace is walked whole, for floating denials and nested repositories.
  const workspaceRoot = visibleRoot(input.workspace);
  const isWorkspaceWritable = workspaceRoot?.writable === true;
  if (isWorkspaceWritable) {
    walk(
      input.workspace,
      [],
      true,
      () =>
        new PlanError(
          `the workspace holds more than ${limit} entries, too many to check for protected files before launch`,
          'run with a narrower --workspace',
        ),
    );
    notWalked.add(input.workspace);
  }
  // Floating denials hide what matches them in every other granted directory too (case 24: a
  // `**/.env` under a read-only grant of ~/projects), as `perimeter check filesystem` decides.
  for (const dir of floatingWalkRoots()) {
    walk(
      dir,
      [],
      false,
      () =>
        new PlanError(
          `the directories the policy grants hold more than ${limit} entries, too many to search for ${floating.map((a) => a.text).join(', ')} before launch`,
          'grant narrower directories (the ones the agent needs), or remove the floating deny pattern',
        ),
    );
  }

  // 4. Trust-handoff paths in every writable root, existing or not.
  const protect = (path: string, why: string, blockMissing = true): void => {
    if (isCovered(path)) return;
    const own = writableRoots.find((r) => r.dest === path);
    if (own) {
      // The whole writable root is itself protected (a PATH directory granted read-write).
      const fact = view.lstat(path);
      if (fact) readOnly(path, fact, why);
      return;
    }
    const root = writableRoots.find((r) => isUnder(path, r.dest));
    if (!root) return;
    // Any symlink between the root and the path could be swapped after launch: refuse.
    let at = root.dest;
    for (const part of path.slice(root.dest.length + 1).split('/')) {
      at = join(at, part);
      const fact = view.lstat(at);
      if (fact === undefined) {
        if (blockMissing) blockCreation(path, root, why);
        return;
      }
      if (fact.type === 'symlink') refuseSymlink(at, view.realpath(at));
      if (at === path) {
        if (decide(path, 'read').decision === 'allow') readOnly(path, fact, why);
        else mask(path, fact, why);
        return;
      }
      if (fact.type !== 'dir') return; // under a file nothing can be created
    }
  };
  /**
   * A repository's submodule git directories (case 30): when there are none yet, none can be
   * planted; when there are, the directory holding them is read-only (no new one can be planted)
   * while each existing one stays writable (fetches write its objects), its hooks and config
   * protected like any git directory's, and its config read like any repository's. A submodule's
   * own submodules live in its `modules`: guarded the same way where it exists (a missing one is
   * left alone: every initialised submodule would get a mask).
   */
  const guardModules = (modules: string, isBlockedWhenMissing = true): void => {
    const fact = view.lstat(modules);
    if (fact === undefined) {
      if (isBlockedWhenMissing) blockIfMissing(modules);
      return;
    }
    if (fact.type !== 'dir' || isCovered(modules) || !writableRoots.some((r) => isUnder(modules, r.dest)))
      return;
    pinAncestors(modules);
    pinned.add(modules); // its own bind already makes it a mount point: no writable pin over it
    mounts.push({
      mount: { op: 'bind', source: modules, dest: modules, writable: false },
      why: 'submodule git directories',
    });
    verify.push({ path: modules, dev: fact.dev, ino: fact.ino });
    for (const { name } of view.list(modules) ?? []) {
      const child = join(modules, name);
      const c = view.lstat(child);
      if (c?.type !== 'dir') continue;
      pinned.add(child);
      mounts.push({
        mount: { op: 'bind', source: child, dest: child, writable: true },
        why: 'submodule git directory',
      });
      verify.push({ path: child, dev: c.dev, ino: c.ino });
      if (!isGitDir(child)) continue;
      gitDirs.add(child);
      // Outside the workspace no walk found it: a repository whose config is read here (its
      // working tree is what core.worktree names).
      addRepository(undefined, child);
      guardModules(join(child, 'modules'), false);
    }
  };
  /** Blocks creating `path` when it does not exist; an existing one is left as it is. */
  const blockIfMissing = (path: string): void => {
    const root = writableRoots.find((r) => isUnder(path, r.dest) && path !== r.dest);
    if (root && view.lstat(path) === undefined) blockCreation(path, root, 'git directory');
  };
  // Names that run from the home directory are protected there even when only a part of home is
  // writable (a read-write ~/.config still keeps ~/.config/systemd read-only).
  for (const name of PROTECTED_NAMES) protect(join(input.home, name), 'trust-handoff path');
  const protectionRoots = new Set(writableRoots.map((r) => r.dest));
  if (isWorkspaceWritable) protectionRoots.add(input.workspace);

  /** Each config file read for the plan, parsed, or 'missing' (git skips a missing one): read once. */
  const configs = new Map<string, GitConfig | 'missing'>();
  const parsedConfig = (file: string): GitConfig | undefined => {
    let config = configs.get(file);
    if (config === undefined) {
      const text = readOrRefuse(
        view,
        file,
        `${file} is a git config file that cannot be read, so the hooks and commands it sets cannot be checked`,
        'make it readable (a regular UTF-8 file smaller than 1 MiB), or remove it',
      );
      config = text === undefined ? 'missing' : parseGitConfig(text);
      configs.set(file, config);
    }
    return config === 'missing' ? undefined : config;
  };
  /**
   * What git reads from these config files, in order, following includes as git does (relative
   * to the including file, `~/` expanded, at most 10 deep). Every value of a variable counts, not
   * only the last: an `includeIf` (and which of its files git reads later) is not known now.
   */
  const readGitConfig = (paths: readonly string[]): ConfigReading => {
    const files: ConfigFile[] = [];
    const included: string[] = [];
    const seen = new Set<string>();
    const visit = (path: string, depth: number): void => {
      if (depth > MAX_INCLUDE_DEPTH || seen.has(path)) return;
      seen.add(path);
      const config = parsedConfig(path);
      if (config === undefined) return;
      files.push({ path, config });
      for (const include of includesOf(config)) {
        const target = expandGitPath(include.path, parentOf(path), `${path} includes ${include.path}`);
        included.push(target);
        visit(target, depth + 1);
      }
    };
    for (const p of paths) visit(p, 0);
    return { files, included };
  };
  /** Every value of a variable in these files, in order; a key with no value (git refuses it) is skipped. */
  const valuesIn = (files: readonly ConfigFile[], name: string): readonly ConfigValue[] =>
    files.flatMap(({ path, config }) =>
      valuesOf(config, name).flatMap((value) => (value === null ? [] : [{ file: path, value }])),
    );
  /** Whether a boolean variable is set to anything but false in one of these files. */
  const isSetIn = (files: readonly ConfigFile[], name: string): boolean =>
    files.some(({ config }) => valuesOf(config, name).some((v) => !isGitFalse(v)));
  /**
   * git's interpolate_path: `~/` and `~` are the home directory, `~user/` that user's, relative
   * is from `base`. A path Perimeter cannot resolve (another user's home, `%(prefix)/`: git's
   * install prefix) refuses the launch: what git finds there could be anywhere, a writable root
   * included. `setting` says where the path comes from, for the message.
   */
  const expandGitPath = (path: string, base: string, setting: string): string => {
    if (path.startsWith('~')) {
      const slash = path.indexOf('/');
      const user = slash < 0 ? path.slice(1) : path.slice(1, slash);
      const home = user === '' ? input.home : view.userHome(user);
      if (home === undefined)
        throw unresolvable(
          setting,
          `~${user} is the home directory of user ${user}, which Perimeter knows only for the user running it`,
        );
      return resolvePath(slash < 0 ? home : `${home}${path.slice(slash)}`);
    }
    if (path.startsWith('%(prefix)/'))
      throw unresolvable(setting, "%(prefix)/ is git's install prefix, which Perimeter does not know");
    return resolvePath(path.startsWith('/') ? path : join(base, path));
  };
  const unresolvable = (setting: string, why: string): PlanError =>
    new PlanError(
      `${setting}: Perimeter cannot resolve that path (${why}), so what git would read or run there cannot be protected`,
      'write the path out in full (or with ~/ for your own home directory), or remove the setting',
    );
  const protectHooksPath = (worktree: string, { file, value }: ConfigValue): void => {
    // An empty hooks path sends git to `/<hook>`, outside every writable root.
    if (value === '') return;
    protect(expandGitPath(value, worktree, `${file} sets core.hooksPath = ${value}`), 'core.hooksPath');
  };
  /**
   * A config file git reads besides `.git/config` (an include, a `config.worktree`): read-only like
   * it. A missing one git skips, so the session could create it; an empty directory in its place,
   * which blocks other missing names, would make every git command there fail ("unable to access"),
   * so the launch is refused instead, unless a missing directory above it can be blocked.
   */
  const protectGitConfigFile = (path: string): void => {
    const isCreatable =
      view.lstat(path) === undefined &&
      view.lstat(parentOf(path))?.type === 'dir' &&
      writableRoots.some((r) => isUnder(path, r.dest) && path !== r.dest) &&
      !isCovered(path) &&
      !isUnderReadOnly(path);
    if (isCreatable)
      throw new PlanError(
        `${path} is a git config file that does not exist yet: the session could create it and set hooks or commands that git runs after the session`,
        `create it before the session (an empty file will do), or remove the setting that names it`,
      );
    protect(path, 'git config file');
  };

  // Repositories git may later run hooks for (cases 40, 42, 43): the working tree a relative hooks
  // path starts from, their own git directory (a linked worktree's private one) and the common one
  // holding config and hooks. The walk found those nested in the workspace; each writable root may
  // be one itself, and so is each submodule git directory guardModules finds in a writable root
  // (added while the loop below runs: a Map's iteration visits entries added during it).
  const repositories = new Map<string, Repository>();
  const addRepository = (worktree: string | undefined, gitDir: string): void => {
    const key = `${worktree ?? ''}\0${gitDir}`;
    if (!repositories.has(key)) repositories.set(key, { worktree, gitDir, commonDir: commonDirOf(gitDir) });
  };
  for (const r of protectionRoots) {
    const dotGit = join(r, '.git');
    const type = view.lstat(dotGit)?.type;
    if (type === 'dir') addRepository(r, dotGit);
    else if (type === 'file') {
      // The walk read the workspace's; another writable root's is read here, once.
      const target = gitFiles.has(dotGit) ? gitFiles.get(dotGit) : gitDirOfFile(dotGit);
      if (target !== undefined) addRepository(r, target);
    }
  }
  for (const g of gitDirs) {
    // A submodule's git directory (.git/modules/NAME) names its working tree in core.worktree.
    addRepository(g.endsWith('/.git') ? parentOf(g) : undefined, g);
  }
  for (const [f, target] of gitFiles) if (target !== undefined) addRepository(parentOf(f), target);

  // A hooks path set for every repository (~/.config/git/config, then ~/.gitconfig: git reads
  // both) applies to each worktree; one set in a repository's own config, to that repository.
  const global = readGitConfig([join(input.home, '.config/git/config'), join(input.home, '.gitconfig')]);
  const globalHooksPaths = valuesIn(global.files, 'core.hookspath');
  for (const r of protectionRoots) {
    for (const name of PROTECTED_NAMES)
      protect(join(r, name), 'trust-handoff path', r === input.home || !HOME_ONLY_WHEN_MISSING.has(name));
    if (view.lstat(join(r, '.git'))?.type === 'file') protect(join(r, '.git'), 'git directory pointer');
    // A repository git init creates here later gets the global hooks path too.
    for (const hooks of globalHooksPaths) protectHooksPath(r, hooks);
    // A repository without submodules yet: nothing may plant one's git directory (case 30).
    if (view.lstat(join(r, '.git'))?.type === 'dir') guardModules(join(r, '.git/modules'));
  }
  for (const f of global.included) protectGitConfigFile(f);
  for (const repo of repositories.values()) {
    const local = readGitConfig([join(repo.commonDir, 'config')]);
    const gitDirsOfRepo = new Set([repo.gitDir, repo.commonDir]);
    // `commondir` redirects git to another config and hooks: an existing one cannot be rewritten.
    for (const g of gitDirsOfRepo) protect(join(g, 'commondir'), 'git directory pointer', false);
    const readings = [local];
    if (isSetIn(local.files, 'extensions.worktreeconfig')) {
      // extensions.worktreeConfig: git also reads config.worktree from each worktree's git directory.
      for (const g of gitDirsOfRepo) {
        const file = join(g, 'config.worktree');
        protectGitConfigFile(file);
        readings.push(readGitConfig([file]));
      }
    }
    for (const c of readings) for (const f of c.included) protectGitConfigFile(f);
    const files = readings.flatMap((c) => c.files);
    // Relative hooks paths start where git runs them: the working tree, the one core.worktree
    // names, or the git directory of a bare repository. git takes core.worktree as written,
    // relative to the git directory, a leading `~` included (setup.c expands nothing in it).
    const bases = new Set<string>();
    if (repo.worktree !== undefined) bases.add(repo.worktree);
    for (const { value } of valuesIn(files, 'core.worktree'))
      bases.add(resolvePath(value.startsWith('/') ? value : join(repo.gitDir, value)));
    // A git directory with no working tree known (a submodule's, core.worktree unset) is used from
    // inside, as a bare one is; an absolute hooks path needs no base, but must not go unprotected.
    if (isSetIn(files, 'core.bare') || bases.size === 0) bases.add(repo.gitDir);
    const hooksPaths = [...valuesIn(files, 'core.hookspath'), ...globalHooksPaths];
    for (const base of bases) for (const hooks of hooksPaths) protectHooksPath(base, hooks);
    // A nested repository's hook managers: the configuration that could point git at a new one is
    // read-only, so existing ones are enough.
    if (repo.worktree !== undefined && !protectionRoots.has(repo.worktree) && repo.gitDir.endsWith('/.git')) {
      for (const name of ['.husky', '.githooks']) protect(join(repo.worktree, name), 'hook manager', false);
      guardModules(join(repo.gitDir, 'modules'));
    }
  }
  // Home-directory configuration that other tools run or trust, protected only in home.
  for (const name of HOME_ONLY_NAMES) protect(join(input.home, name), 'home configuration');
  // Every directory git takes hooks, config and info from: each one the walk found, and each
  // repository's common directory (another writable root's worktree has its hooks there too).
  const repos = [...repositories.values()];
  const hookDirs = new Set([...gitDirs, ...repos.map((r) => r.commonDir)]);
  for (const g of hookDirs) for (const name of PROTECTED_IN_GIT_DIR) protect(join(g, name), 'git directory');
  // A `.git` file (worktree, submodule) points git at its directory: rewriting it redirects git.
  for (const f of gitFiles.keys()) protect(f, 'git directory pointer');
  // Spelled as the caller has them: a symlink above a writable root (`/home` to `/var/home`) is
  // followed, so the path is found in the root. One that cannot be followed holds nothing.
  const asInRoots = (p: string): string => {
    try {
      return resolvePath(p);
    } catch (e) {
      if (e instanceof PlanError) return p;
      throw e;
    }
  };
  for (const p of input.readOnly ?? []) protect(asInRoots(p), "Perimeter's own files");
  for (const p of (input.hidden ?? []).map(asInRoots)) {
    const fact = view.lstat(p);
    if (!fact || !visibleRoot(p)) continue;
    const inside = fact.type === 'dir' ? rootList.filter((r) => r.dest !== p && isUnder(r.dest, p)) : [];
    if (inside.length === 0 || input.skeletonOf === undefined) mask(p, fact, "Perimeter's state");
    else hideAround(p, inside);
  }
  // The ways git takes to a git directory or out of a `..`, last: nothing planned above at one of
  // their directories is preceded by a pin there.
  for (const [path, why] of held) holdPath(path, why);

  // 5. Private and empty places, whatever the policy says.
  mounts.push(
    { mount: { op: 'tmpfs', dest: '/tmp' }, why: 'private temporary directory' },
    { mount: { op: 'tmpfs', dest: '/dev/shm' }, why: 'private shared memory' },
    { mount: { op: 'empty', dest: '/run' }, why: 'no daemon sockets (docker, D-Bus, ssh-agent)' },
  );
  const varRun = view.lstat('/var/run');
  if (varRun?.type === 'dir' && visibleRoot('/var/run'))
    mounts.push({ mount: { op: 'empty', dest: '/var/run' }, why: 'no daemon sockets' });

  // A creation block beneath a directory that ended up read-only is moot (and bubblewrap could not
  // make its mount point there): drop it.
  const moot = (m: PlannedMount): boolean =>
    m.mount.op === 'mask' &&
    m.mount.as === 'empty' &&
    readOnlyDirs.some((d) => m.mount.dest !== d && isUnder(m.mount.dest, d));
  const kept = mounts.filter((m) => !moot(m));
  const dropped = new Set(mounts.filter(moot).map((m) => m.mount.dest));
  mounts.length = 0;
  mounts.push(...kept);
  const keptVerify = verify.filter((v) => !dropped.has(v.path));
  verify.length = 0;
  verify.push(...keptVerify);
  const keptCreates = createsOnHost.filter((c) => !dropped.has(c));
  createsOnHost.length = 0;
  createsOnHost.push(...keptCreates);

  // Parents before children, so a mask is never hidden under a later bind.
  const order = mounts.map((m, i) => ({ m, i }));
  order.sort((a, b) => depth(a.m.mount.dest) - depth(b.m.mount.dest) || a.i - b.i);
  return {
    mounts: order.map((o) => o.m),
    verify,
    createsOnHost,
    hidden,
    notes,
    gitDirs: [...new Set([...hookDirs, ...repos.map((r) => r.gitDir), ...gitFiles.keys()])],
  };
}
