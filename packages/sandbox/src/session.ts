// A sandbox session on the host: the private session directory, the mount plan, bubblewrap.
// The egress proxy is not started here (packages/egress is not ours to import): the caller
// listens on `sockets/http.sock` and `sockets/socks.sock`, which the bridge inside reaches.

import { spawn, type ChildProcess, type ChildProcessByStdio, type StdioOptions } from 'node:child_process';
import type { Duplex, Readable, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rm,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { CREDENTIAL_FILE_NAME, type Engine } from '@perimeter/policy';
import { BWRAP_PATH, HELPER_PATH, PACKAGE_ROOT, isHelperBuilt } from './preflight.js';
import {
  READY_FD,
  SYSTEM_CA_FILES,
  bwrapArgs,
  lateMasks,
  masksList,
  mcpClientConfig,
  sessionEnv,
} from './bwrap-args.js';
import { hostView } from './host-view.js';
import { createSessionCgroup, removeSessionCgroup, type CgroupTarget, type SessionCgroup } from './cgroup.js';
import { describeLimits, effectiveLimits, heldBy, unenforceable, type EffectiveLimits } from './limits.js';
import { PlanError, planMounts, type HostView, type MountPlan } from './mount-plan.js';
import {
  PlaceholderError,
  PlaceholderLedger,
  ledgerPlaces,
  releasePlaceholders,
  releasePlaceholdersAsync,
  removeSessionDir,
  unlockSessionDir,
  withPlaceholdersAsync,
  type PlaceholderRegistry,
} from './placeholders.js';
import { seccompArch, seccompBytes } from './seccomp.js';

/** Node's fetch through the proxy, for Node versions whose fetch ignores *_PROXY. */
const FETCH_PRELOAD_PATH = join(PACKAGE_ROOT, 'assets', 'fetch-proxy.mjs');

/** A session that could not be set up: one sentence and how to fix it. Nothing ran. */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** What the sandbox trusts besides the system roots: the session CA, and both merged. */
export interface SessionTrust {
  readonly caPem: string;
  readonly bundlePem: string;
}

export interface SessionOptions {
  readonly engine: Engine;
  readonly sessionId: string;
  /** Canonical absolute paths. */
  readonly workspace: string;
  readonly home: string;
  readonly command: readonly string[];
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  /** Paths the session may never write (policy files, Perimeter's own install). */
  readonly readOnly?: readonly string[];
  /** Paths the session may never see (Perimeter's state directory). */
  readonly hidden?: readonly string[];
  /**
   * Granted paths inside a hidden one that the session sees all the same (an MCP server's home in
   * Perimeter's state): the hidden directory is replaced with empty directories leading to them.
   */
  readonly grantedInHidden?: readonly string[];
  /**
   * Where the session directory goes (default: $XDG_RUNTIME_DIR, else the system temp dir). The
   * ledgers of the mount points sessions make on the host are not there but in Perimeter's state
   * directory (hostEnv's XDG_STATE_HOME, else ~/.local/state: placeholders.ts).
   */
  readonly runtimeDir?: string;
  readonly view?: HostView;
  /** Plain variables for the workload, as configured (an MCP server's catalog `env`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Credential placeholders for the workload, by environment variable. */
  readonly credentialEnv?: Readonly<Record<string, string>>;
  /** Credential placeholders by file name: read-only files in /run/perimeter/credentials. */
  readonly credentialFiles?: Readonly<Record<string, string>>;
  /**
   * The session CA (certificate only) and the system roots merged with it, when the proxy
   * inspects TLS: mounted read-only, laid over the system trust files, named by the usual variables.
   * A function is called only once the launch is under way (launchSession: bubblewrap sets the
   * sandbox up meanwhile, and the files it mounts are filled before the workload starts); an error
   * from it calls the launch off.
   */
  readonly trust?: SessionTrust | (() => SessionTrust);
  /** HOME as the workload sees it, when not `home` (an MCP server's private home directory). */
  readonly homeEnv?: string;
  /** Where the workload starts (default: the workspace). */
  readonly cwd?: string;
  /**
   * The session has an MCP gateway: the caller serves it on `sockets/mcp.sock`; the workload
   * reaches it at MCP_URL with this bearer token (PERIMETER_MCP_URL, PERIMETER_MCP_TOKEN, and a
   * client configuration at PERIMETER_MCP_CONFIG).
   */
  readonly mcpToken?: string;
  /** The machine's memory, for the default size of /tmp (default: os.totalmem()). */
  readonly totalMemoryBytes?: number;
  /**
   * Where the session's cgroup may be made (default: this process's cgroup hierarchies, from
   * /proc/self/mountinfo); none makes no cgroup, as on a machine that gives Perimeter none.
   */
  readonly cgroupTargets?: readonly CgroupTarget[];
  /** The session's cgroup and launcher, started before the session was prepared (prelaunch). */
  readonly prelaunch?: Prelaunch;
}

export interface PreparedSession {
  readonly dir: string;
  /** The directory holding the proxy sockets (0700); listen on http.sock and socks.sock in it. */
  readonly sockets: string;
  /** The per-session proxy token the workload's proxy variables carry. */
  readonly token: string;
  readonly plan: MountPlan;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly limits: EffectiveLimits;
  /** The limits as this machine holds the session to them, for the start event. */
  readonly limitsSummary: string;
  /** The session's cgroup, when one could be made. */
  readonly cgroup?: SessionCgroup;
}

/** What every session needs of this machine before anything is made: a filter and the helper. */
function requireLaunchable(): NonNullable<ReturnType<typeof seccompArch>> {
  const arch = seccompArch(process.arch);
  if (arch === undefined)
    throw new SessionError(`there is no seccomp filter for ${process.arch}`, 'run on x86-64 or arm64 Linux');
  if (!isHelperBuilt()) {
    throw new SessionError(
      `the sandbox helper is not built (${HELPER_PATH})`,
      'install a C compiler (apt-get install gcc libc6-dev) and run `npm run build` in the Perimeter checkout',
    );
  }
  return arch;
}

/**
 * Makes the session's directory, its files and its mount plan, with the placeholders it needs on
 * the host. The registry's lock is waited for on timers (withPlaceholdersAsync: up to 30 s while
 * another Perimeter process holds it), so this process goes on meanwhile: a gateway starting its
 * servers' sandboxes serves the others.
 */
export async function prepareSession(options: SessionOptions): Promise<PreparedSession> {
  const early = options.prelaunch;
  let arch: NonNullable<ReturnType<typeof seccompArch>>;
  const base = options.runtimeDir ?? options.hostEnv.XDG_RUNTIME_DIR ?? tmpdir();
  let dir: string;
  try {
    arch = requireLaunchable();
    dir = mkdtempSync(join(base, 'perimeter-'));
    chmodSync(dir, 0o700);
  } catch (e) {
    if (early) cancelPrelaunch(early);
    if (e instanceof SessionError) throw e;
    throw new SessionError(
      `cannot create the session directory in ${base} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'set TMPDIR to a writable directory',
    );
  }
  let ledger: PlaceholderLedger | undefined;
  /** Trust files made empty, for launchSession to fill. */
  let pending: PendingTrust | undefined;
  /** A cgroup made here (a prelaunch's is cancelPrelaunch's to remove). */
  let made: SessionCgroup | undefined;
  const places = ledgerPlaces(options.hostEnv, base);
  const refuse = (e: unknown): unknown => {
    if (pending) closeTrust(pending);
    if (made) removeSessionCgroup(made);
    removeSessionDir(dir);
    ledger?.close();
    if (early) cancelPrelaunch(early);
    return e instanceof PlanError || e instanceof PlaceholderError ? new SessionError(e.message, e.fix) : e;
  };
  try {
    ledger = PlaceholderLedger.open(places, dir);
    const { limits, enforcement } =
      early ??
      sessionLimits(
        options.engine,
        options.totalMemoryBytes,
        (cgroup) => (made = cgroup),
        options.cgroupTargets,
      );
    const cgroup = early?.cgroup ?? made;
    const sockets = join(dir, 'sockets');
    mkdirSync(sockets, { mode: 0o700 });
    // What masks are made of, in one directory: the helper lays some itself (lateMasks).
    const masks = join(dir, 'masks');
    mkdirSync(masks, { mode: 0o700 });
    const maskDir = join(masks, 'mask-dir');
    const maskFile = join(masks, 'mask-file');
    const emptyDir = join(masks, 'empty-dir');
    mkdirSync(emptyDir, { mode: 0o555 });
    chmodSync(emptyDir, 0o555);
    mkdirSync(maskDir, { mode: 0o000 });
    writeFileSync(maskFile, '', { mode: 0o000 });
    chmodSync(maskDir, 0o000);
    chmodSync(maskFile, 0o000);
    const seccomp = join(dir, 'seccomp.bpf');
    writeFileSync(seccomp, seccompBytes(arch), { mode: 0o400 });
    const view = options.view ?? hostView;
    let skeletons = 0;
    const maskDirFact = view.lstat(maskDir);
    const maskFileFact = view.lstat(maskFile);
    const emptyDirFact = view.lstat(emptyDir);
    if (!maskDirFact || !maskFileFact || !emptyDirFact) throw new Error('the mask files vanished');
    const ours = ledger;
    // The empty directories made on the host as mount points are recorded as they are made, and a
    // session that died is cleaned up after first, so its leftovers are never planned as real
    // files (redteam-36-5): all under the lock of the registry of ledgers.
    const plan = (registry: PlaceholderRegistry): MountPlan => {
      registry.claim(ours, privateMountPoints(options.engine, registry.viewFor(view, ours)), 0o700);
      const planned = planMounts({
        engine: options.engine,
        view: registry.viewFor(view, ours),
        workspace: options.workspace,
        ...(options.cwd !== undefined ? { start: options.cwd } : {}),
        home: options.home,
        maskDir: { path: maskDir, ...maskDirFact },
        maskFile: { path: maskFile, ...maskFileFact },
        emptyDir: { path: emptyDir, ...emptyDirFact },
        readOnly: [...(options.readOnly ?? []), ...pathDirs(options.hostEnv.PATH, options.workspace)],
        hidden: [dir, ...(options.hidden ?? [])],
        ...(options.grantedInHidden ? { grantedInHidden: options.grantedInHidden } : {}),
        skeletonOf: (keep) => {
          const root = join(masks, `skeleton-${skeletons++}`);
          mkdirSync(root, { mode: 0o700 });
          for (const path of keep) mkdirSync(join(root, path), { recursive: true, mode: 0o700 });
          const fact = view.lstat(root);
          if (!fact) throw new Error('the skeleton vanished');
          return { path: root, ...fact };
        },
      });
      registry.claim(ours, planned.createsOnHost, 0o755);
      return planned;
    };
    const finish = (plan: MountPlan): PreparedSession => {
      const verify = join(dir, 'verify');
      writeFileSync(verify, plan.verify.map((v) => `${v.dev} ${v.ino} ${v.path}\n`).join(''), {
        mode: 0o400,
      });
      const token = randomBytes(24).toString('base64url');
      // To the helper through a 0400 file, never argv (argv is world-readable in /proc, case 34).
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, token, { mode: 0o400 });
      const fetchPreload = existsSync(FETCH_PRELOAD_PATH) ? FETCH_PRELOAD_PATH : undefined;
      let ca: string | undefined;
      let caBundle: string | undefined;
      if (options.trust) {
        ca = join(dir, 'ca.pem');
        caBundle = join(dir, 'ca-bundle.pem');
        if (typeof options.trust === 'function') {
          // Made now (bubblewrap mounts them), filled by launchSession (fillTrust).
          pending = {
            make: options.trust,
            ca: openSync(ca, 'wx', 0o444),
            bundle: openSync(caBundle, 'wx', 0o444),
          };
        } else {
          writeFileSync(ca, options.trust.caPem, { mode: 0o444 });
          writeFileSync(caBundle, options.trust.bundlePem, { mode: 0o444 });
        }
      }
      let credentialDir: string | undefined;
      const files = Object.entries(options.credentialFiles ?? {});
      if (files.length > 0) {
        credentialDir = join(dir, 'credentials');
        mkdirSync(credentialDir, { mode: 0o755 });
        for (const [name, placeholder] of files) {
          if (!CREDENTIAL_FILE_NAME.test(name))
            throw new SessionError(
              `"${name}" is not a credential file name`,
              'use letters, digits, ".", "_" or "-"',
            );
          writeFileSync(join(credentialDir, name), `${placeholder}\n`, { mode: 0o444 });
        }
        chmodSync(credentialDir, 0o555);
      }
      let mcpConfig: string | undefined;
      if (options.mcpToken !== undefined) {
        mcpConfig = join(dir, 'mcp.json');
        writeFileSync(mcpConfig, mcpClientConfig(options.mcpToken), { mode: 0o400 });
      }
      const envOptions = {
        ...(options.homeEnv !== undefined ? { homeEnv: options.homeEnv } : {}),
        ...(options.mcpToken !== undefined ? { mcpToken: options.mcpToken } : {}),
        hasFetchPreload: fetchPreload !== undefined,
        hasSessionCa: options.trust !== undefined,
        hostEnv: options.hostEnv,
        home: options.home,
        workspace: options.workspace,
        sessionId: options.sessionId,
        token,
      };
      const own = sessionEnv({ ...envOptions, hostEnv: {} });
      // The session's own variables (HOME, PATH, the proxy's, …) confine the workload: neither a
      // configured variable nor a credential's may replace one.
      for (const name of Object.keys(options.env ?? {})) {
        if (name in own)
          throw new SessionError(
            `env sets ${name}, which the sandbox sets itself`,
            `remove ${name} from env`,
          );
      }
      for (const name of Object.keys(options.credentialEnv ?? {})) {
        if (name in own) {
          throw new SessionError(
            `the credential variable ${name} is one the session sets itself`,
            'name another variable in the binding (env: …)',
          );
        }
      }
      const env = sessionEnv({
        ...envOptions,
        credentials: { ...options.env, ...options.credentialEnv },
      });
      const systemCaFiles = caBundle ? SYSTEM_CA_FILES.filter((f) => view.lstat(f)?.type === 'file') : [];
      const late = lateMasks(plan.mounts, systemCaFiles);
      if (late.size > 0) writeFileSync(join(masks, 'list'), masksList(late), { mode: 0o400 });
      const args = bwrapArgs({
        limits,
        plan,
        ...(late.size > 0 ? { helperMasks: { dir: masks, mounts: late } } : {}),
        host: {
          init: HELPER_PATH,
          seccomp,
          verify,
          sockets,
          token: tokenFile,
          maskDir,
          maskFile,
          emptyDir,
          ...(fetchPreload ? { fetchPreload } : {}),
          ...(ca && caBundle ? { ca, caBundle } : {}),
          ...(credentialDir ? { credentials: credentialDir } : {}),
          ...(mcpConfig ? { mcpConfig } : {}),
        },
        systemCaFiles,
        env,
        cwd: options.cwd ?? options.workspace,
        command: options.command,
      });
      const prepared: PreparedSession = {
        dir,
        sockets,
        token,
        plan,
        args,
        env,
        limits,
        limitsSummary: describeLimits(limits, enforcement),
        ...(cgroup ? { cgroup } : {}),
      };
      if (early) prestarted.set(prepared, early.launcher);
      if (pending) pendingTrust.set(prepared, pending);
      ledgers.set(prepared, ours);
      return prepared;
    };
    return finish(await withPlaceholdersAsync(places, plan));
  } catch (e) {
    // The ledger's placeholders first: refuse() closes the ledger.
    if (ledger) await releasePlaceholdersAsync(ledger);
    throw refuse(e);
  }
}

/**
 * The session's cgroup and bubblewrap's launcher (the terminal attached, for launchSession),
 * started before the session is prepared: the launcher's first step, joining the cgroup, is a
 * task migration that waits for an RCU grace period (15–20 ms on an idle machine), and it waits
 * while the credentials and the mount plan are made rather than after them. Pass it to
 * prepareSession, which owns it from then on; cancelPrelaunch when the session goes no further.
 */
export interface Prelaunch {
  readonly limits: EffectiveLimits;
  readonly enforcement: LimitEnforcement;
  readonly cgroup?: SessionCgroup;
  readonly launcher: ChildProcess;
}

export function prelaunch(engine: Engine, totalMemoryBytes?: number): Prelaunch {
  requireLaunchable();
  let cgroup: SessionCgroup | undefined;
  const { limits, enforcement } = sessionLimits(engine, totalMemoryBytes, (made) => (cgroup = made));
  return { limits, enforcement, ...(cgroup ? { cgroup } : {}), launcher: startLauncher(cgroup, TERMINAL) };
}

export function cancelPrelaunch(early: Prelaunch): void {
  callOff(early.launcher);
  if (early.cgroup) removeSessionCgroup(early.cgroup);
}

type LimitEnforcement = Parameters<typeof unenforceable>[1];

/**
 * The session's limits and the cgroup that holds it to them (handed to `made` as soon as it
 * exists, so a refusal after it still removes it). A limit this machine cannot hold refuses the
 * session.
 */
function sessionLimits(
  engine: Engine,
  totalMemoryBytes: number | undefined,
  made: (cgroup: SessionCgroup) => void,
  targets?: readonly CgroupTarget[],
): { limits: EffectiveLimits; enforcement: LimitEnforcement } {
  const limits = effectiveLimits(engine.sessionLimits(), totalMemoryBytes ?? totalmem());
  let cgroup: SessionCgroup | undefined;
  try {
    const request = {
      name: randomBytes(6).toString('hex'),
      processes: limits.processes,
      ...(limits.memoryBytes !== undefined ? { memoryBytes: limits.memoryBytes } : {}),
    };
    cgroup = createSessionCgroup(request, targets); // undefined: this process's hierarchies
  } catch (e) {
    throw new SessionError(
      `cannot set the limits of the session's cgroup (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      'check that the cgroup hierarchy Perimeter runs in is writable, or remove limits.memory from the policy',
    );
  }
  const enforcement = {
    isRoot: process.getuid?.() === 0,
    pidsCgroup: cgroup?.caps.has('pids') ?? false,
    memoryCgroup: cgroup?.caps.has('memory') ?? false,
  };
  const refusal = unenforceable(limits, enforcement);
  if (refusal) {
    if (cgroup) removeSessionCgroup(cgroup);
    throw new SessionError(refusal.message, refusal.fix);
  }
  if (cgroup) made(cgroup);
  return { limits: heldBy(limits, enforcement), enforcement };
}

/**
 * Private directories (`private: true`) that do not exist yet: to be made empty on the host, so
 * the session's own directory has a mount point even inside a read-only grant (bubblewrap cannot
 * make one there). Only the last component, under an existing directory (or one made before it);
 * removed after the session when still empty. One that cannot be made is not mounted: the plan
 * says why.
 */
function privateMountPoints(engine: Engine, view: HostView): string[] {
  const wanted: string[] = [];
  for (const a of engine.filesystemAnchors()) {
    if (a.ref.effect !== 'allow' || !a.isPrivate || a.shape !== 'subtree') continue;
    if (view.lstat(a.dir) !== undefined) continue;
    if (view.lstat(dirname(a.dir))?.type === 'dir' || wanted.includes(dirname(a.dir))) wanted.push(a.dir);
  }
  return wanted;
}

/** Directories on the host's PATH outside the workspace: read-only in the sandbox (case 47). */
function pathDirs(path: string | undefined, workspace: string): string[] {
  return (path ?? '')
    .split(':')
    .filter((d) => d.startsWith('/') && d !== workspace && !d.startsWith(`${workspace}/`));
}

export interface SessionExit {
  /** The workload's exit code (128+N when a signal ended it). */
  readonly code: number;
  /** Whether the workload started at all (bubblewrap may fail to set the sandbox up). */
  readonly started: boolean;
  readonly signal?: string;
  /**
   * Set when the helper stopped the session for using more memory than the policy allows (a
   * machine without a memory cgroup: the helper watches the total).
   */
  readonly memoryExceeded?: { readonly usedBytes: number; readonly limitBytes: number };
}

/**
 * Runs the prepared sandbox with the terminal attached. Interrupts from the terminal go to the
 * workload (same foreground process group); termination requests to Perimeter are passed on.
 *
 * `beforeStart` runs while bubblewrap sets the sandbox up (the proxies' listening, the start
 * events): the workload starts only once it has resolved. When it throws, the launch is called
 * off (nothing runs) and its error is the result.
 */
export function launchSession(
  prepared: PreparedSession,
  beforeStart: () => Promise<void> | void = () => {},
): Promise<SessionExit> {
  return new Promise((resolve, reject) => {
    const child = takeLauncher(prepared) ?? startLauncher(prepared.cgroup, TERMINAL);
    sendCommand(child, prepared, ['--json-status-fd', '3']);
    let status = '';
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      status += chunk.toString('utf8');
    });
    let isReady = false;
    let said = '';
    const ready = readySocket(child);
    ready.on('data', (chunk: Buffer) => {
      isReady = true;
      said += chunk.toString('latin1');
    });
    let failure: { readonly error: unknown } | undefined;
    // The trust files first (the CA is made here, while bubblewrap sets up), then the caller's part.
    const preparing = (async () => {
      fillTrust(prepared);
      return beforeStart();
    })().then(
      () => void ready.write('1'),
      (error: unknown) => {
        failure = { error };
        ready.destroy(); // the helper inside reads the end of its socket: nothing starts
      },
    );
    /**
     * The helper inside, which passes termination requests on to the workload: the child of
     * bubblewrap's init process (the `child-pid` it reports).
     */
    const insidePid = (): number | undefined => {
      const m = /"child-pid"\s*:\s*(\d+)/.exec(status);
      if (!m) return undefined;
      try {
        const children = readFileSync(`/proc/${m[1]}/task/${m[1]}/children`, 'utf8').trim().split(/\s+/);
        return children[0] ? Number(children[0]) : undefined;
      } catch {
        return undefined;
      }
    };
    const ignore = (): void => {};
    const pass = (signal: NodeJS.Signals) => (): void => {
      const pid = insidePid();
      try {
        if (pid !== undefined) process.kill(pid, signal);
        else child.kill(signal);
      } catch {
        child.kill(signal);
      }
    };
    const onTerm = pass('SIGTERM');
    const onHup = pass('SIGHUP');
    process.on('SIGINT', ignore);
    process.on('SIGQUIT', ignore);
    process.on('SIGTERM', onTerm);
    process.on('SIGHUP', onHup);
    const done = (): void => {
      process.off('SIGINT', ignore);
      process.off('SIGQUIT', ignore);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
    };
    child.on('error', (e) => {
      done();
      ready.destroy();
      // What beforeStart set up is the caller's to close: it has settled before this settles.
      void preparing.then(() =>
        reject(
          new SessionError(
            `cannot run ${BWRAP_PATH} (${e.message})`,
            'install it: apt-get install bubblewrap',
          ),
        ),
      );
    });
    child.on('close', (code, signal) => {
      done();
      void preparing.then(() => {
        if (failure) {
          const { error } = failure;
          return reject(error instanceof Error ? error : new Error(String(error)));
        }
        const signalCode = signal ? 128 + osConstants.signals[signal] : undefined;
        const memory = /^1?memory (\d+) (\d+)$/m.exec(said);
        resolve({
          code: code ?? signalCode ?? 1,
          started: isReady,
          ...(signal ? { signal } : {}),
          ...(memory
            ? { memoryExceeded: { usedBytes: Number(memory[1]), limitBytes: Number(memory[2]) } }
            : {}),
        });
      });
    });
  });
}

/**
 * Runs the prepared sandbox as a service: its standard streams are pipes (an MCP server speaks on
 * them), in a process group of its own so the terminal's Ctrl-C never reaches it, gone with this
 * process. Its `close` event is the sandbox ending; bubblewrap's refusals arrive on its stderr.
 */
export function spawnSandboxed(prepared: PreparedSession): ChildProcessByStdio<Writable, Readable, Readable> {
  fillTrust(prepared);
  const child = takeLauncher(prepared) ?? startLauncher(prepared.cgroup, SERVICE);
  sendCommand(child, prepared, []);
  // Nothing to finish first: the workload may start as soon as the sandbox is set up.
  readySocket(child).resume().write('1');
  return child as unknown as ChildProcessByStdio<Writable, Readable, Readable>;
}

/** How the launcher's descriptors are set up: 3 bubblewrap's status, 4 the command, 5 readiness. */
interface LaunchMode {
  readonly stdio: StdioOptions;
  readonly detached: boolean;
}
const TERMINAL: LaunchMode = {
  stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe', 'pipe'],
  detached: false,
};
const SERVICE: LaunchMode = { stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'pipe', 'pipe'], detached: true };

interface PendingTrust {
  readonly make: () => SessionTrust;
  /** The descriptors of ca.pem and ca-bundle.pem, open for writing (the files are 0444). */
  readonly ca: number;
  readonly bundle: number;
}

/** Trust files prepared empty (SessionOptions.trust given as a function), until filled. */
const pendingTrust = new WeakMap<PreparedSession, PendingTrust>();

/** Fills the trust files of a session whose trust was a function: once, before its workload starts. */
function fillTrust(prepared: PreparedSession): void {
  const pending = pendingTrust.get(prepared);
  if (!pending) return;
  pendingTrust.delete(prepared);
  try {
    const trust = pending.make();
    writeFileSync(pending.ca, trust.caPem);
    writeFileSync(pending.bundle, trust.bundlePem);
  } finally {
    closeTrust(pending);
  }
}

function closeTrust(pending: PendingTrust): void {
  closeSync(pending.ca);
  closeSync(pending.bundle);
}

/** Launchers started before their session was prepared (prelaunch), each used by the first launch. */
const prestarted = new WeakMap<PreparedSession, ChildProcess>();

function takeLauncher(prepared: PreparedSession): ChildProcess | undefined {
  const launcher = prestarted.get(prepared);
  prestarted.delete(prepared);
  return launcher;
}

/**
 * The helper that runs bubblewrap with SIGINT and SIGQUIT ignored (so Ctrl-C reaches the workload,
 * not the sandbox around it), after joining the session's cgroup. It waits for its command on
 * descriptor 4 (sendCommand), which must be a pipe.
 */
function startLauncher(cgroup: SessionCgroup | undefined, mode: LaunchMode): ChildProcess {
  const child = spawn(
    HELPER_PATH,
    [
      '--exec-ignoring-interrupts',
      ...(cgroup?.procs.flatMap((file) => ['--join', file]) ?? []),
      '--argv-from',
      '4',
    ],
    { stdio: mode.stdio, detached: mode.detached, env: {} },
  );
  // A launcher gone early (its spawn failed, bubblewrap refused) is reported by its own events.
  (child.stdio[4] as Writable | null)?.on('error', () => {});
  readySocket(child).on('error', () => {}); // the sandbox ended before the go: its close says how
  return child;
}

/**
 * Gives the launcher bubblewrap's command line, then bubblewrap's options (which hold the paths of
 * the session's files), each block length-prefixed. The launcher hands the options to bubblewrap
 * in a file of its own (--args 4), so bubblewrap need not wait for this end of the pipe to close.
 * The workload's command is in bubblewrap's argv, as before: no secrets in it.
 */
function sendCommand(child: ChildProcess, prepared: PreparedSession, bwrapOptions: readonly string[]): void {
  const end = prepared.args.indexOf('--');
  const words = (list: readonly string[]): Buffer => Buffer.from(list.map((a) => `${a}\0`).join(''), 'utf8');
  const argv = words([BWRAP_PATH, '--args', '4', ...bwrapOptions, ...prepared.args.slice(end)]);
  const options = words(prepared.args.slice(0, end));
  (child.stdio[4] as Writable | null)?.end(
    Buffer.concat([Buffer.from(`${argv.length}\n`), argv, Buffer.from(`${options.length}\n`), options]),
  );
}

/** The socket on which the helper inside says it is ready and waits for the go. */
function readySocket(child: ChildProcess): Duplex {
  const socket = (child.stdio as unknown as (Duplex | null)[])[READY_FD];
  if (!socket) throw new Error('the launcher has no readiness socket');
  return socket;
}

/**
 * A launcher that will not be used (it has been given no command, so it has run nothing): killed
 * at once, so its cgroup can be removed right after (ending its descriptor would take the event
 * loop a turn that a synchronous cleanup does not give it).
 */
function callOff(launcher: ChildProcess): void {
  launcher.kill('SIGKILL');
  (launcher.stdio[4] as Writable | null)?.destroy();
  readySocket(launcher).destroy();
}

/** What each prepared session made on the host, recorded (placeholders.ts). */
const ledgers = new WeakMap<PreparedSession, PlaceholderLedger>();

/**
 * The session's ledger, once: its placeholders are for the caller to release (the empty
 * directories it made on the host as mount points, those no other live session mounts on too),
 * and it to close once the session directory is gone (until then it names the directory, for a
 * start after this process died to remove).
 */
function takeLedger(prepared: PreparedSession): PlaceholderLedger | undefined {
  const ledger = ledgers.get(prepared);
  ledgers.delete(prepared);
  return ledger;
}

/**
 * Removes the session directory and the empty directories made on the host as mount points.
 * Waits for the registry's lock blocking the event loop: for a caller that cannot wait otherwise
 * (an exit handler); cleanupSessionAsync for any other.
 */
export function cleanupSession(prepared: PreparedSession): void {
  release(prepared);
  const ledger = takeLedger(prepared);
  if (ledger) releasePlaceholders(ledger);
  removeSessionDir(prepared.dir);
  ledger?.close();
}

/**
 * cleanupSession's work beside the audit spool's last flush: a session's end waits for it. The
 * session's files go on the thread pool while the mount points are removed here, under the
 * registry's lock (another session starting meanwhile must find each either still recorded or gone:
 * ~30 in a bare workspace, ~0.1 ms each on a journaled disk), which is waited for on timers; the
 * directory and the ledger last. Never rejects: what cannot be removed stays.
 */
export async function cleanupSessionAsync(prepared: PreparedSession): Promise<void> {
  release(prepared);
  unlockSessionDir(prepared.dir);
  // (node:fs/promises would cost every session ~1 ms to load.)
  const removing = Promise.all(
    filesIn(prepared.dir).map((f) => new Promise((done) => rm(f, { recursive: true, force: true }, done))),
  );
  const ledger = takeLedger(prepared);
  if (ledger) await releasePlaceholdersAsync(ledger);
  await removing;
  removeSessionDir(prepared.dir);
  ledger?.close();
}

function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
}

/** The launcher if it never ran, and the cgroup. */
function release(prepared: PreparedSession): void {
  const pending = pendingTrust.get(prepared);
  if (pending) {
    pendingTrust.delete(prepared);
    closeTrust(pending);
  }
  const unused = takeLauncher(prepared);
  if (unused) callOff(unused);
  if (prepared.cgroup) removeSessionCgroup(prepared.cgroup);
}
