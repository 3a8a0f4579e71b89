// perimeter run: a program inside the session sandbox, its only way out the session's egress
// proxy, every decision in the session's audit spool.

import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Server } from 'node:net';
import {
  Spool,
  SpoolError,
  alertRecord,
  decisionRecord,
  lifecycleRecord,
  uuid7,
  type AuditRecord,
  type RecordContext,
} from '@perimeter/audit';
import {
  createEgressProxy,
  createRefusalAudit,
  createSocksProxy,
  connectionsClosed,
  type EgressOptions,
} from '@perimeter/egress';
import { createEngine, formatSize, type CompiledPolicy } from '@perimeter/policy';
import {
  BWRAP_PATH,
  SECCOMP_SUMMARY,
  SessionError,
  compareReview,
  disarmCommonDirs,
  DISARMED_SUFFIX,
  snapshotReview,
  assess,
  cancelPrelaunch,
  cleanupSession,
  cleanupSessionAsync,
  gatherFacts,
  prelaunch,
  type Prelaunch,
  launchSession,
  prepareSession,
  type PreparedSession,
} from '@perimeter/sandbox';
import { DEFAULT_POLICY, isPolicyPath } from '../policy-files.js';
import { shipAudit } from '../device/audit-ship.js';
import { deviceDir, type Enrolment } from '../device/device-state.js';
import { sessionPolicies, type DeviceContext } from '../device/session-policies.js';
import { resolveFlag, upstreamFlag } from './proxy.js';
import { sessionCredentials, type SessionCredentials } from '../session-credentials.js';
import { stateDir } from '../secret-store.js';
import { listFlag, parseArgs, stringFlag } from '../args.js';
import { UserError } from '../errors.js';
import { EXIT_AUDIT_FAILED, appendOrStop } from '../audit-or-stop.js';
import { listenPrivate } from '../private-socket.js';
import { paint, type Ui } from '../ui.js';
import { mcpCommands } from '../lazy-mcp.js';
import { optimizeSooner } from '../v8-tuning.js';
import type { SessionGateway } from './mcp.js';

/** Where sessions keep their audit spools unless --audit says otherwise. */
export function sessionsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'sessions');
}

/** The root of this Perimeter installation. */
const INSTALL_ROOT = resolve(dirname(DEFAULT_POLICY), '..');

/**
 * What the host runs of Perimeter itself: read-only in every sandbox (sandbox.md case 36), even
 * when the checkout is the workspace (its sources stay writable: they are the work).
 */
export function ownAssets(): string[] {
  let packages: string[];
  try {
    packages = readdirSync(join(INSTALL_ROOT, 'packages'));
  } catch {
    packages = [];
  }
  return [
    join(INSTALL_ROOT, 'node_modules'),
    join(INSTALL_ROOT, 'packages/cli/bin'),
    join(INSTALL_ROOT, 'packages/sandbox/native/build'),
    ...packages.map((name) => join(INSTALL_ROOT, 'packages', name, 'dist')),
  ].filter((path) => existsSync(path));
}

/** The home directory's canonical path (as given when it cannot be resolved: it is only hidden). */
export function canonicalHome(home: string): string {
  try {
    return realpathSync(home);
  } catch {
    return home;
  }
}

/**
 * The workspace: --workspace, else the current directory, real and checked. `fix` says what to do
 * when the current directory is the root.
 */
export function workspaceDir(
  given: string | undefined,
  fix = 'cd into the project directory, or name it with --workspace DIR',
): string {
  // The current directory is a real path already (getcwd).
  if (given === undefined && process.cwd() === '/')
    throw new UserError('the workspace is the current directory, and that is the root directory', fix);
  return canonicalDir('workspace', given ?? process.cwd());
}

export function canonicalDir(flag: string, path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new UserError(`--${flag} ${path} does not exist`, 'create it or name an existing directory');
  }
  if (!statSync(real).isDirectory()) throw new UserError(`--${flag} ${path} is not a directory`);
  if (real === '/') throw new UserError(`--${flag} cannot be the root directory`, 'name a project directory');
  return real;
}

function withMode(policies: readonly CompiledPolicy[], mode: string | undefined): CompiledPolicy[] {
  if (mode === undefined || mode === 'enforce') return [...policies];
  if (mode !== 'audit') throw new UserError(`--mode ${mode} is not enforce or audit`);
  // Audit mode: every policy logs its would-be decisions and allows; the built-in guard and
  // guardrails stay enforced (they are locked).
  return policies.map((p) => (p.layer === 'guardrail' ? p : auditPolicy(p)));
}

function auditPolicy(p: CompiledPolicy): CompiledPolicy {
  const rule = <T extends { ref: { mode: string } }>(r: T): T => ({ ...r, ref: { ...r.ref, mode: 'audit' } });
  return {
    ...p,
    mode: 'audit',
    network: p.network.map(rule),
    filesystem: p.filesystem.map(rule),
    mcp: p.mcp.map(rule),
    exec: p.exec.map(rule),
    credentialRules: p.credentialRules.map(rule),
  };
}

export async function runRun(argv: readonly string[], ui: Ui): Promise<number> {
  const end = argv.indexOf('--');
  const p = parseArgs(
    end >= 0 ? argv.slice(0, end) : argv,
    {
      policy: { type: 'list', takes: isPolicyPath },
      workspace: { type: 'string' },
      mode: { type: 'string' },
      audit: { type: 'string' },
      user: { type: 'string' },
      groups: { type: 'list' },
      upstream: { type: 'string' },
      resolve: { type: 'list' },
    },
    'run',
  );
  const upstream = upstreamFlag(stringFlag(p, 'upstream'));
  const resolver = resolveFlag(listFlag(p, 'resolve'));
  const command = end >= 0 ? argv.slice(end + 1) : p.positionals;
  if (end < 0 && p.positionals.length > 0)
    throw new UserError(
      'put the command after --',
      `for example: perimeter run -- ${p.positionals.join(' ')}`,
    );
  if (command.length === 0) throw new UserError('no command to run', 'for example: perimeter run -- bash');

  const workspace = workspaceDir(stringFlag(p, 'workspace'));
  const home = canonicalHome(homedir());
  // The checked-policy cache lives in the state directory, which every session hides. A managed
  // device (perimeter login) enforces its signed bundle for the logged-in user, or nothing runs.
  const chosen = await sessionPolicies(
    ui,
    {
      policy: listFlag(p, 'policy'),
      mode: stringFlag(p, 'mode'),
      user: stringFlag(p, 'user'),
      groups: listFlag(p, 'groups'),
      audit: stringFlag(p, 'audit'),
    },
    join(stateDir(), 'policy-cache'),
  );
  const loaded = chosen.loaded;
  const groups = chosen.subject ? [...chosen.subject.groups] : listFlag(p, 'groups');
  const user = chosen.subject?.user ?? stringFlag(p, 'user');
  const policies = withMode(
    loaded.policies.map((l) => l.policy),
    stringFlag(p, 'mode'),
  );
  const engine = createEngine(policies, {
    subject: { ...(user !== undefined ? { user } : {}), ...(groups ? { groups } : {}) },
    context: { home, workspace },
    // Only the session's MCP gateway asks (argument globs), so only a session with one loads it.
    resolvePath: (path) => mcpCommands().resolvedPath(path),
  });

  // bubblewrap itself is the real test of what this machine allows; when it fails, the doctor's
  // checks say why (below). Only its presence is checked up front.
  if (!existsSync(BWRAP_PATH)) throw missingProtection();

  const sessionId = uuid7();
  const auditPath = resolve(stringFlag(p, 'audit') ?? join(sessionsDir(), `${sessionId}.jsonl`));
  try {
    mkdirSync(dirname(auditPath), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UserError(
      `cannot create the audit directory ${dirname(auditPath)} (${(e as NodeJS.ErrnoException).code ?? ''})`,
      'name a writable place with --audit FILE; a session never runs without its audit spool',
    );
  }
  // Group commit: events reach the file at once and the disk within 20 ms, off the connection's path.
  const opened = Spool.open(auditPath, {
    chainId: sessionId,
    flushDelayMs: 20,
    onMoved: (message) => ui.err(paint(ui, 'red', `perimeter: ${message}`)),
  });
  // On a managed device every event says which organisation, user, device and bundle it ran under,
  // whichever part of the session recorded it (the proxies, the gateway, the credentials).
  const context = chosen.managed?.context;
  const spool: Pick<Spool, 'append' | 'appendAll' | 'close' | 'closeAsync' | 'path'> = context
    ? {
        append: (r) => opened.append(inContext(r, context)),
        appendAll: (rs) => opened.appendAll(rs.map((r) => inContext(r, context))),
        close: () => opened.close(),
        closeAsync: () => opened.closeAsync(),
        path: opened.path,
      }
    : opened;
  const ctx: RecordContext = {
    sessionId,
    ...(user !== undefined ? { user: { id: user, ...(groups ? { groups } : {}) } } : {}),
  };
  let isEnded = false;
  /** What a spool that cannot be written leaves to undo before the process ends (the sandbox's files). */
  let cleanUp = (): void => {};
  const append = appendOrStop(spool, ui, 'the session', () => cleanUp());
  const record = (r: Parameters<Spool['append']>[0]): void => {
    if (isEnded) {
      // After session.end nothing may be appended; say so rather than lose it silently.
      ui.err(`perimeter: an audit event arrived after the session ended and was not recorded (${r.type})`);
      return;
    }
    append(r);
  };

  // The sandbox's launcher starts now and joins the session's cgroup while the rest is prepared.
  let early: Prelaunch;
  try {
    early = prelaunch(engine);
  } catch (e) {
    throw refused(e);
  }
  /** A session that cannot start: recorded, and said in one sentence. */
  function refused(e: unknown): unknown {
    if (e instanceof SessionError) {
      record(lifecycleRecord('session.refused', ctx, { reason: e.message }));
      spool.close();
      return new UserError(`the sandbox cannot start: ${e.message}`, `${e.fix}; nothing ran`, 125);
    }
    spool.close();
    return e;
  }

  // Credentials before the sandbox: a secret missing from the store stops the session here.
  let credentials: SessionCredentials;
  try {
    credentials = sessionCredentials(engine, {
      ctx,
      audit: record,
      // In audit mode a finding is recorded, never refused (the engine says so; leaks of bound
      // credentials still are refused).
      dlp: engine.secretsAction(),
    });
  } catch (e) {
    cancelPrelaunch(early);
    spool.close();
    throw e;
  }
  if (credentials.missing.length > 0) {
    const names = [...new Set(credentials.missing.map((m) => m.secret))];
    ui.err(
      `perimeter: the session runs without ${names.length === 1 ? 'the secret' : 'the secrets'} ${names.join(', ')} (not in the secret store; add with: ${names.map((n) => `perimeter secret set ${n}`).join('; ')})`,
    );
  }

  // An MCP catalog in the policy: the session gets its gateway, with a bearer token of its own.
  const hasMcp = engine.mcpServers().length > 0;
  const mcpToken = hasMcp ? randomBytes(32).toString('base64url') : undefined;

  let prepared: PreparedSession;
  try {
    prepared = await prepareSession({
      prelaunch: early,
      ...(mcpToken !== undefined ? { mcpToken } : {}),
      credentialEnv: credentials.env,
      credentialFiles: credentials.files,
      trust: credentials.trust,
      engine,
      sessionId,
      workspace,
      home,
      command,
      hostEnv: process.env,
      // The session's own spool and its lock too, wherever --audit put them (case 36,
      // redteam-37-1): its name as given (a symbolic link on its way in a writable directory
      // refuses the launch) and its real path.
      // (The default spool is in the state directory, which is hidden from every session anyway.)
      readOnly: [
        ...ownAssets(),
        ...(auditPath.startsWith(`${stateDir()}/`) ? [] : [auditPath, ...opened.files]),
        ...loaded.files.map((f) => resolve(f)),
      ],
      hidden: [stateDir()],
    });
  } catch (e) {
    throw refused(e);
  }

  cleanUp = () => cleanupSession(prepared);
  const sessionOver = new AbortController();
  setMaxListeners(0, sessionOver.signal); // one listener per open connection, any number of them
  const connections = { open: 0 };
  // One bound of refusals for both front doors, flushed when the session ends.
  const refusals = createRefusalAudit({ audit: record, sessionId });
  // Made in beforeStart: reading the session CA makes it, which waits until bubblewrap is under way.
  const egressOptions = (): EgressOptions => ({
    engine,
    sessionId,
    token: prepared.token,
    audit: record,
    refusals,
    signal: sessionOver.signal,
    connections,
    credentials: { guard: credentials.guard, ca: credentials.ca },
    ...(upstream ? { upstream } : {}),
    ...(resolver ? { resolver } : {}),
  });
  /** The proxies, once made (while bubblewrap sets up: loading HTTP is a few milliseconds). */
  const servers: Server[] = [];
  const started = Date.now();
  let exit: Awaited<ReturnType<typeof launchSession>> | undefined;
  let findings: ReturnType<typeof compareReview> | undefined;
  let gateway: SessionGateway | undefined;
  /** The spool's closing: why its last flush failed, if it did. */
  let closed: Promise<Error | undefined> | undefined;
  try {
    let review: ReturnType<typeof snapshotReview> | undefined;
    // While bubblewrap sets the sandbox up: the start events, the proxies, the gateway, the
    // review's snapshot. The workload starts once they are done.
    exit = await launchSession(prepared, async () => {
      spool.appendAll(
        startRecords(ctx, prepared, credentials, {
          command,
          workspace,
          policies: loaded.policies.map((l) => l.policy.name).join(','),
          mode: stringFlag(p, 'mode') ?? 'enforce',
        }),
      );
      const egress = egressOptions();
      servers.push(createEgressProxy(egress), createSocksProxy(egress));
      await Promise.all(
        servers.map((s, i) => listenPrivate(s, join(prepared.sockets, i === 0 ? 'http.sock' : 'socks.sock'))),
      );
      if (mcpToken !== undefined) {
        gateway = await mcpCommands().startSessionGateway({
          engine,
          sessionId,
          workspace,
          home,
          socket: join(prepared.sockets, 'mcp.sock'),
          token: mcpToken,
          audit: record,
          context: ctx,
          readOnly: loaded.files.map((f) => resolve(f)),
          spool: opened.files,
          // The values read above: the gateway does not read the secret store a second time.
          secrets: credentials.secrets,
        });
        for (const u of gateway.unavailable)
          ui.err(`perimeter: the MCP server ${u.server} is unavailable: ${u.reason}`);
      }
      review = snapshotReview(workspace, prepared.plan.gitDirs);
      optimizeSooner();
    });
    if (review) findings = compareReview(review, prepared.plan.createsOnHost);
  } finally {
    await gateway?.close();
    const held = gateway?.heldNotice();
    if (held !== undefined) ui.err(`perimeter: ${held}`);
    sessionOver.abort(); // connections the sandbox left open are closed (and their closes audited)
    await Promise.all(servers.map(closeNow));
    await connectionsClosed(connections);
    // Refusals counted in a window that has not ended yet: reported before session.end.
    refusals.flush();
    if (findings && findings.plantedCommonDirs.length > 0) {
      // Git on the host would take config and hooks from wherever these point: renamed aside.
      const failed = disarmCommonDirs(findings.plantedCommonDirs);
      record(
        alertRecord(
          'session.review',
          ctx,
          'critical',
          `the session planted a commondir (git would take config and hooks from where it points); ${failed.length === 0 ? 'renamed aside' : 'not renamed'}`,
          {
            planted_commondir: findings.plantedCommonDirs.join(',').slice(0, 500),
            disarmed: failed.length === 0,
          },
        ),
      );
      ui.err(
        `perimeter: the session planted ${findings.plantedCommonDirs.join(', ')} (git would run hooks and config from where it points); ${failed.length === 0 ? `renamed to *${DISARMED_SUFFIX}` : `could not rename ${failed.join(', ')}: remove it before running git here`}`,
      );
    }
    if (findings && (findings.changed.length > 0 || findings.newRepositories.length > 0)) {
      // What runs later outside the sandbox and could not be made read-only: for a person to review.
      record(
        alertRecord(
          'session.review',
          ctx,
          findings.newRepositories.length > 0 ? 'high' : 'medium',
          'the session changed what runs later outside the sandbox: review before running anything there',
          {
            changed_files: findings.changed.join(',').slice(0, 500),
            new_repositories: findings.newRepositories.join(',').slice(0, 500),
          },
        ),
      );
      const parts = [
        ...(findings.changed.length > 0 ? [`changed ${findings.changed.join(', ')}`] : []),
        ...(findings.newRepositories.length > 0
          ? [`created git repositories whose hooks were writable: ${findings.newRepositories.join(', ')}`]
          : []),
      ];
      ui.err(
        `perimeter: review before running anything here outside the sandbox: the session ${parts.join('; ')}`,
      );
    }
    if (exit?.memoryExceeded) {
      const { usedBytes, limitBytes } = exit.memoryExceeded;
      const why = `the session was stopped: its processes held ${formatSize(usedBytes)} of memory together, over the policy's limits.memory of ${formatSize(limitBytes)}`;
      record(
        alertRecord('session.limit', ctx, 'medium', why, {
          limit: 'memory',
          used_bytes: usedBytes,
          limit_bytes: limitBytes,
        }),
      );
      ui.err(`perimeter: ${why}`);
    }
    record(
      lifecycleRecord('session.end', ctx, {
        exit_code: exit?.code ?? -1,
        started: exit?.started ?? false,
        duration_ms: Date.now() - started,
        ...(exit?.signal ? { signal: exit.signal } : {}),
      }),
    );
    isEnded = true;
    // The sandbox's files are removed while the last events reach the disk.
    closed = spool.closeAsync().then(
      () => undefined,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    await cleanupSessionAsync(prepared);
  }
  const spoolFailure = await closed;
  if (spoolFailure !== undefined) {
    // The session ran: only its last events may not have reached the disk.
    ui.err(`perimeter: ${spoolFailure.message}`);
    if (spoolFailure instanceof SpoolError) ui.err(`  ${spoolFailure.hint}`);
    return EXIT_AUDIT_FAILED;
  }
  if (chosen.managed) await shipAfterSession(ui, chosen.managed.enrolment, `${sessionId}.jsonl`);
  if (exit === undefined) return 70; // unreachable: the launch either returned or threw
  if (!exit.started) {
    const why = missingProtection();
    ui.err(`perimeter: ${why.message}`);
    ui.err(`  ${why.hint ?? 'see perimeter doctor'}`);
    return 125;
  }
  return exit.code;
}

/** A record with the managed device's context in place of whatever it said of org, user, device, bundle. */
function inContext(r: AuditRecord, context: DeviceContext): AuditRecord {
  return { ...r, org: context.org, user: context.user, device: context.device, bundle: context.bundle };
}

/** How long a session's end may wait for its events to reach the server. */
const SHIP_AFTER_SESSION_MS = 2000;

/**
 * One quick try to send the session's events (and any backlog) to the control plane. It never
 * changes the session's outcome and never waits long: perimeter agent sends what is left.
 */
async function shipAfterSession(ui: Ui, enrolment: Enrolment, spoolFile: string): Promise<void> {
  let outcome: Awaited<ReturnType<typeof shipAudit>>;
  try {
    outcome = await shipAudit({
      dir: deviceDir(),
      sessions: sessionsDir(),
      enrolment,
      deadlineMs: SHIP_AFTER_SESSION_MS,
      first: spoolFile,
    });
  } catch {
    return; // the state directory's trouble shows in perimeter status and the agent's output
  }
  if ((outcome.kind === 'shipped' || outcome.kind === 'unreachable') && outcome.waiting > 0)
    ui.err(
      `perimeter: ${outcome.waiting} audit events wait to be sent to ${enrolment.server}${outcome.kind === 'unreachable' ? ` (${outcome.message})` : ''}; perimeter agent sends them`,
    );
}

/** The session's first events: its start, the mount plan, the credentials it holds. */
function startRecords(
  ctx: RecordContext,
  prepared: PreparedSession,
  credentials: SessionCredentials,
  about: { command: readonly string[]; workspace: string; policies: string; mode: string },
): AuditRecord[] {
  const records: AuditRecord[] = [];
  records.push(
    lifecycleRecord('session.start', ctx, {
      command: about.command.join(' ').slice(0, 200),
      workspace: about.workspace,
      policies: about.policies,
      mode: about.mode,
      namespaces: 'user,ipc,pid,net,uts,cgroup; nested user namespaces refused (seccomp); no capabilities',
      network:
        'loopback only; out through the session proxy; direct connections to ports 80 and 443 captured and decided by it',
      seccomp: SECCOMP_SUMMARY.join('; '),
      limits: prepared.limitsSummary,
    }),
  );
  for (const m of prepared.plan.mounts) {
    if (!m.decision && m.mount.op !== 'tmpfs' && m.mount.op !== 'empty' && !m.why.startsWith('pinned')) {
      // Built-in protections (trust-handoff paths, git directories, Perimeter's own files).
      records.push(
        lifecycleRecord('filesystem.mount', ctx, {
          mount: m.mount.op === 'bind' ? (m.mount.writable ? 'bind' : 'read-only') : m.mount.op,
          dest: m.mount.dest,
          why: m.why,
        }),
      );
    }
    if (m.decision) {
      records.push({
        ...decisionRecord(
          m.decision,
          { surface: 'filesystem', path: m.decision.resource, access: m.decision.action as 'read' | 'write' },
          ctx,
        ),
        type: `filesystem.mount`,
        outcome: { mount: m.mount.op, dest: m.mount.dest, why: m.why },
      });
    }
  }
  for (const h of prepared.plan.hidden) {
    records.push({
      ...decisionRecord(h.decision, { surface: 'filesystem', path: h.path, access: 'read' }, ctx),
      type: 'filesystem.mount',
      outcome: {
        mount: 'absent',
        dest: h.path,
        why: 'denied, and outside every mount: the session cannot see it',
      },
    });
  }
  records.push(
    lifecycleRecord('session.mounts', ctx, {
      mounts: prepared.plan.mounts.length,
      masked: prepared.plan.mounts.filter((m) => m.mount.op === 'mask').length,
      notes: prepared.plan.notes.join('; ').slice(0, 500),
    }),
  );
  records.push(...credentials.records);
  return records;
}

/** Closes a proxy and every connection it still holds (the sandbox is gone: nobody is left). */
function closeNow(server: Server): Promise<void> {
  return new Promise((ok) => {
    server.close(() => ok());
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    setTimeout(ok, 1000).unref();
  });
}

/** Why a sandbox cannot start here, from the doctor's checks. */
function missingProtection(): UserError {
  const missing = assess(gatherFacts()).checks.find((c) => c.isRequired && !c.isOk);
  return missing
    ? new UserError(
        `the sandbox cannot start: ${missing.name}: ${missing.detail}`,
        `${missing.fix ?? 'see perimeter doctor'}; nothing ran`,
      )
    : new UserError(
        'the sandbox did not start (bubblewrap said why, above)',
        'nothing ran; perimeter doctor checks what this machine supports',
      );
}
