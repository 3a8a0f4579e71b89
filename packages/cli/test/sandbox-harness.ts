// The red-team harness (research sandbox.md §4): runs `perimeter run` exactly as a user does — the
// built binary, a policy file, a fake HOME full of marked secrets, a workspace and an audit spool,
// all in one fresh temporary directory — and hands back what the workload printed, its exit code
// and the verified, parsed audit spool. Real bubblewrap, a real kernel, real sockets on loopback;
// nothing is mocked. It never touches the real HOME, the repository, or anything outside the
// temporary directories it creates (and removes).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditEventSchema, type AuditEvent, verifySpool } from '@perimeter/audit';
import { isHelperBuilt } from '@perimeter/sandbox';

/** The repository root. The compiled harness runs from packages/cli/dist/test/. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');
export const BWRAP = '/usr/bin/bwrap';

/** The interpreter the workload uses inside the sandbox (it sits under /usr, which is granted). */
export const SANDBOX_PYTHON = '/usr/bin/python3';

export type Event = AuditEvent;

function sandboxSkipReason(): string | false {
  if (process.platform !== 'linux') return 'the sandbox is Linux only';
  if (!existsSync(BWRAP))
    return `${BWRAP} is missing (apt-get install bubblewrap): no real sandbox to attack`;
  if (!isHelperBuilt()) return 'the sandbox helper is not built (npm run build): no real sandbox to attack';
  const doctor = spawnSync(process.execPath, [BIN, 'doctor'], { encoding: 'utf8', timeout: 20_000 });
  if (doctor.status !== 0) {
    const said = `${doctor.stdout}${doctor.stderr}`.trim().split('\n').slice(-3).join(' / ');
    return `perimeter doctor says sessions cannot start here (${said})`;
  }
  if (!existsSync(SANDBOX_PYTHON)) return `${SANDBOX_PYTHON} is missing: the workloads are python and bash`;
  return false;
}

/** Why the whole suite cannot run here, or false. Every red-team test passes it as `skip`. */
export const SANDBOX_SKIP: string | false = sandboxSkipReason();

export const IS_ROOT = process.getuid?.() === 0;

/** A string that appears in every planted secret: any output containing it is a leak. */
export const SECRET = `rt-secret-${randomBytes(6).toString('hex')}`;

/** Secrets planted in the fake HOME (relative paths), each containing SECRET. */
export const HOME_SECRETS: readonly string[] = [
  '.ssh/id_rsa',
  '.aws/credentials',
  '.config/gh/hosts.yml',
  '.netrc',
  '.docker/config.json',
  '.kube/config',
  '.npmrc',
  '.pypirc',
  '.claude/.credentials.json',
];

export interface Fixture {
  /** The test's own temporary directory (everything below is removed after the test). */
  readonly root: string;
  /** The fake HOME the CLI sees (os.homedir() honours $HOME). */
  readonly home: string;
  readonly workspace: string;
  /** Another project next to the workspace: never granted. */
  readonly other: string;
  /** TMPDIR of the CLI: the session directory (proxy sockets, masks) is created here. */
  readonly runtime: string;
  /** The audit spool, outside every grant. */
  readonly audit: string;
}

/** A fresh fixture: fake HOME with marked secrets, an empty workspace, another project. */
export function fixture(t: TestContext): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'perimeter-redteam-'));
  t.after(() => {
    // Masks are mode 0000 and the workload may leave read-only files: make everything removable.
    spawnSync('chmod', ['-R', 'u+rwX', root]);
    rmSync(root, { recursive: true, force: true });
  });
  const f: Fixture = {
    root,
    home: join(root, 'home'),
    workspace: join(root, 'ws'),
    other: join(root, 'other'),
    runtime: join(root, 'runtime'),
    audit: join(root, 'audit', 'session.jsonl'),
  };
  for (const d of [f.home, f.workspace, f.other, f.runtime]) mkdirSync(d, { recursive: true });
  for (const s of HOME_SECRETS) put(f.home, s, `${SECRET}:${s}\n`);
  put(f.home, '.ssh/config', `# ${SECRET}\nHost *\n`);
  put(f.home, '.gitconfig', '[user]\n\tname = Red Team\n\temail = rt@example.invalid\n');
  put(f.home, '.bashrc', "# the user's bashrc\n");
  put(f.other, 'secret.txt', `${SECRET}:other-project\n`);
  put(f.workspace, 'README.md', 'a project\n');
  put(f.workspace, 'rt.py', RT_PY);
  return f;
}

/** Writes `text` to `dir/rel`, creating parents; returns the full path. */
export function put(dir: string, rel: string, text: string, mode?: number): string {
  const path = join(dir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  if (mode !== undefined) chmodSync(path, mode);
  return path;
}

export function link(target: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(target, path);
}

/** Runs a host program synchronously (setup only: git init and the like); throws on failure. */
export function host(cmd: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' },
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The sha256 of a file on the host, to show a session left it unchanged. */
export function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every file under `dir` with its hash, to compare a tree before and after a session. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      // Perimeter's own state (the CLI's compiled-policy cache), written on the host by the CLI.
      if (p.endsWith('/.local/state/perimeter')) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p.slice(dir.length + 1)] = sha(p);
      else out[p.slice(dir.length + 1)] = e.isSymbolicLink() ? 'symlink' : 'other';
    }
  };
  walk(dir);
  return out;
}

/** A git repository with one commit, made on the host (as the user would have it before a session). */
export function gitRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  host('git', ['init', '-q', dir]);
  host('git', [
    '-C',
    dir,
    '-c',
    'user.email=rt@example.invalid',
    '-c',
    'user.name=rt',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    'init',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Policies

export interface PolicyOptions {
  /** What the policy grants in HOME besides the tool caches: nothing, read, or read-write. */
  readonly home?: 'none' | 'read' | 'rw';
  /** Extra network allow / deny rules, each a YAML flow mapping (`{ id: x, hosts: [..] }`). */
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** Extra filesystem allow rules (flow mappings). */
  readonly fsAllow?: readonly string[];
  /** A loopback origin the policy opens explicitly (127.0.0.1/32 on these ports). */
  readonly originPorts?: readonly number[];
  /** Extra top-level YAML (for example an exec section). */
  readonly extra?: string;
}

/**
 * The red-team policy: balanced.yaml's shape (workspace read-write, system directories read-only,
 * the tool caches read-write, home secrets and the trust-handoff files denied), with test names:
 * `*.allowed.test` allowed on 80 and 443, `bad.allowed.test` denied, and optionally a loopback
 * origin opened by address. Paths are absolute: they name this fixture's temporary directories.
 */
export function policyYaml(f: Fixture, o: PolicyOptions = {}): string {
  const allow = [
    '{ id: allowed-names, hosts: [allowed.test, "**.allowed.test"], ports: [80, 443] }',
    ...(o.originPorts && o.originPorts.length > 0
      ? [`{ id: origin, cidrs: [127.0.0.1/32], ports: [${o.originPorts.join(', ')}] }`]
      : []),
    ...(o.allow ?? []),
  ];
  const deny = ['{ id: bad-name, hosts: [bad.allowed.test, xn--bcher-kva.allowed.test] }', ...(o.deny ?? [])];
  const home = o.home ?? 'read';
  const fsAllow = [
    '{ id: workspace, paths: ["${workspace}/**"], access: rw }',
    '{ id: system-read, paths: [/usr/**, /bin/**, /sbin/**, /lib/**, /lib64/**, /etc/**], access: read }',
    ...(home === 'none' ? [] : [`{ id: home, paths: ["~/**"], access: ${home === 'rw' ? 'rw' : 'read'} }`]),
    '{ id: tool-caches, paths: ["~/.npm/**", "~/.cache/**"], access: rw, private: true }',
    ...(o.fsAllow ?? []),
  ];
  const secrets = [
    '~/.ssh/**',
    '~/.aws/**',
    '~/.config/gh/**',
    '~/.netrc',
    '~/.docker/config.json',
    '~/.kube/**',
    '~/.npmrc',
    '~/.pypirc',
    '~/.claude/.credentials.json',
    '"**/.env"',
  ];
  const handoff = [
    '"${workspace}/.git/hooks/**"',
    '"${workspace}/.git/config"',
    '"${workspace}/.husky/**"',
    '"${workspace}/.vscode/tasks.json"',
    '"${workspace}/.vscode/settings.json"',
    '"${workspace}/.envrc"',
  ];
  return [
    'apiVersion: perimeter/v1',
    'kind: Policy',
    'metadata:',
    '  name: redteam',
    '  org: redteam',
    '  layer: org',
    'mode: enforce',
    'network:',
    '  allow:',
    ...allow.map((r) => `    - ${r}`),
    '  deny:',
    ...deny.map((r) => `    - ${r}`),
    'filesystem:',
    '  default: deny',
    '  allow:',
    ...fsAllow.map((r) => `    - ${r}`),
    '  deny:',
    `    - { id: home-secrets, paths: [${secrets.join(', ')}] }`,
    '    - { id: system-secrets, paths: [/etc/shadow, /etc/gshadow] }',
    `    - { id: other-project, paths: ["${f.other}/**"] }`,
    `    - { id: trust-handoff, access: write, paths: [${handoff.join(', ')}] }`,
    o.extra ?? '',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Sessions

export interface RunOptions {
  /** The policy text (default: policyYaml(f)). */
  readonly policy?: string;
  /** Where the policy file is written (default: ROOT/policy.yaml, outside every grant). */
  readonly policyFile?: string;
  /** Extra environment for the CLI (HOME, TMPDIR and PATH are set by the harness). */
  readonly env?: Readonly<Record<string, string>>;
  /** The audit spool (default: the fixture's). */
  readonly audit?: string;
  /** Arguments before `--` besides --policy, --workspace and --audit. */
  readonly args?: readonly string[];
  /** The workspace (default: the fixture's). */
  readonly workspace?: string;
  /** Give up after this long (the CLI is killed; `timedOut` says so). Default 20 s. */
  readonly timeoutMs?: number;
  /** Run the CLI on a pseudo-terminal (script(1)), as an interactive user would. */
  readonly tty?: boolean;
  /** Extra descriptors for the CLI, from fd 3 on (case 18). */
  readonly extraFds?: readonly (number | Socket)[];
  /**
   * A managed device's run (perimeter login): no --policy and no --audit, which it refuses; the
   * spool is what the session wrote in the fixture user's sessions directory.
   */
  readonly managed?: boolean;
}

/** Where sessions keep their spools, for the fixture's user. */
export const sessionsOf = (f: Fixture): string => join(f.home, '.local/state/perimeter/sessions');

/** The text of the spools a run left: its --audit file, or a managed run's in the sessions directory. */
function spoolText(f: Fixture, o: RunOptions, audit: string): string {
  if (!o.managed) return existsSync(audit) ? readFileSync(audit, 'utf8') : '';
  const dir = sessionsOf(f);
  const written = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.jsonl')) : [];
  return written.map((n) => readFileSync(join(dir, n), 'utf8')).join('');
}

export interface SessionResult {
  /** The CLI's exit code (the workload's, or 125 / 3), null when killed. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** The spool's text ('' when none was written) and its events, in order. */
  readonly spool: string;
  readonly events: readonly Event[];
  /** Problems `perimeter audit verify` would report (an unfinished chain among them). */
  readonly spoolProblems: readonly string[];
  /** What `perimeter audit verify` concludes: nothing wrong except, possibly, an unfinished chain. */
  readonly spoolIntact: boolean;
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Runs `bash -c SCRIPT` in a session built from the policy; never rejects (a timeout is reported). */
export function runSession(f: Fixture, script: string, o: RunOptions = {}): Promise<SessionResult> {
  const policyFile = o.policyFile ?? join(f.root, 'policy.yaml');
  if (!o.managed) writeFileSync(policyFile, o.policy ?? policyYaml(f));
  const audit = o.audit ?? f.audit;
  const argv = [
    BIN,
    'run',
    ...(o.managed ? [] : ['--policy', policyFile, '--audit', audit]),
    '--workspace',
    o.workspace ?? f.workspace,
    ...(o.args ?? []),
    '--',
    'bash',
    '-c',
    script,
  ];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: f.home,
    TMPDIR: f.runtime,
    LANG: 'C.UTF-8',
    ...o.env,
  };
  const [cmd, args] = o.tty
    ? ['script', ['-qefc', [process.execPath, ...argv].map(shellQuote).join(' '), '/dev/null']]
    : [process.execPath, argv];
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...(o.extraFds ?? [])];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: f.root, env, stdio });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const spool = spoolText(f, o, audit);
      const events = spool
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => auditEventSchema().parse(JSON.parse(l)));
      const verified = spool === '' ? undefined : verifySpool(spool);
      const spoolProblems = verified?.problems.map((p) => JSON.stringify(p)) ?? [];
      resolve({
        code,
        stdout,
        stderr,
        timedOut,
        durationMs: Date.now() - started,
        spool,
        events,
        spoolProblems,
        spoolIntact: verified?.isIntact ?? true,
      });
    });
  });
}

/**
 * A script that tries each named command in a subshell and prints `try NAME: OK` or
 * `try NAME: FAILED`, so one session checks many attempts and each is asserted by name.
 */
export function attempts(list: Readonly<Record<string, string>>, after = ''): string {
  return [
    'try() { if (eval "$2") >/dev/null 2>&1; then echo "try $1: OK"; else echo "try $1: FAILED"; fi; }',
    ...Object.entries(list).map(([name, command]) => `try ${shellQuote(name)} ${shellQuote(command)}`),
    after,
    'true',
  ].join('\n');
}

/** Each named attempt failed (and printed that it did). */
export function assertFailed(s: SessionResult, names: readonly string[]): void {
  const succeeded = names.filter((n) => !s.stdout.includes(`try ${n}: FAILED`));
  assert.deepEqual(succeeded, [], `attempts that did not fail\n${show(s)}`);
}

/** Each named attempt succeeded. */
export function assertSucceeded(s: SessionResult, names: readonly string[]): void {
  const failed = names.filter((n) => !s.stdout.includes(`try ${n}: OK`));
  assert.deepEqual(failed, [], `attempts that did not succeed\n${show(s)}`);
}

/** What a failed assertion prints: enough to reproduce and understand. */
export function show(s: SessionResult): string {
  return `exit ${s.code}${s.timedOut ? ' (timed out)' : ''}\n--- stdout\n${s.stdout}--- stderr\n${s.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// Assertions on the audit spool

/** The session started, ran the workload and ended with its exit code; the spool verifies. */
export function assertEndedNormally(s: SessionResult, exitCode = 0): void {
  assert.equal(s.timedOut, false, `the session timed out\n${show(s)}`);
  assert.equal(s.code, exitCode, show(s));
  assert.deepEqual(s.spoolProblems, [], 'the spool verifies');
  const start = s.events.find((e) => e.type === 'session.start');
  const end = s.events.find((e) => e.type === 'session.end');
  assert.ok(start, 'session.start is in the spool');
  assert.ok(end, 'session.end is in the spool');
  assert.equal(end.outcome?.started, true, 'session.end says the workload started');
  assert.equal(end.outcome?.exit_code, exitCode, 'session.end carries the exit code');
}

/** session.start lists the protection (`namespaces`, `network` or `seccomp` names it). */
export function assertStartLists(
  s: SessionResult,
  key: 'namespaces' | 'network' | 'seccomp',
  what: string | RegExp,
): void {
  const start = s.events.find((e) => e.type === 'session.start');
  assert.ok(start, 'session.start is in the spool');
  const text = String(start.outcome?.[key] ?? '');
  if (typeof what === 'string')
    assert.ok(text.includes(what), `session.start ${key} lists "${what}": ${text}`);
  else assert.match(text, what, `session.start ${key}`);
}

/**
 * Whether direct connections are captured and sent to the proxy (the stretch goal of issue 3), as
 * the session says in session.start. Without capture they fail with no route; with it they are
 * decided by the proxy and a denial is audited (sandbox.md case 1 allows either).
 */
export function isCaptureOn(s: SessionResult): boolean {
  const start = s.events.find((e) => e.type === 'session.start');
  return /captured/.test(String(start?.outcome?.network ?? ''));
}

/** What rt.py's `tcp` prints when a direct connection went nowhere: no route, or cut by the proxy. */
export const DIRECT_FAILED = /^(ENETUNREACH|ECONNREFUSED|CONNECTED then (EOF|ECONNRESET))$/;

/** A filesystem.mount event denying `path` (the path as the policy decided it). */
export function assertMountDenied(s: SessionResult, path: string, rule?: string): Event {
  const e = s.events.find(
    (x) => x.type === 'filesystem.mount' && x.request?.resource === path && x.decision === 'deny',
  );
  const seen = s.events
    .filter((x) => x.type === 'filesystem.mount')
    .map((x) => `${x.decision ?? ''} ${x.request?.resource ?? ''}`)
    .join('\n  ');
  assert.ok(e, `a filesystem.mount deny event for ${path}; the spool has:\n  ${seen}`);
  if (rule !== undefined)
    assert.ok(
      e.matched?.some((m) => m.rule === rule),
      `the event for ${path} names rule ${rule}`,
    );
  return e;
}

/** A filesystem.mount event for `path`, as the decided resource or as the mounted destination. */
export function mountEventFor(s: SessionResult, path: string): Event | undefined {
  return s.events.find(
    (x) => x.type === 'filesystem.mount' && (x.request?.resource === path || x.outcome?.dest === path),
  );
}

/**
 * The audit half of a trust-handoff case whose protection is built in (protected-paths.ts) rather
 * than written in the policy: each protected path should have its filesystem.mount event.
 */
export async function auditsEachMount(
  t: TestContext,
  s: SessionResult,
  paths: readonly string[],
  todo: string | undefined = undefined,
): Promise<void> {
  await t.test('audit: a filesystem.mount event for each protected path', { todo }, () => {
    const missing = paths.filter((p) => mountEventFor(s, p) === undefined);
    assert.deepEqual(missing, [], 'protected paths without a filesystem.mount event');
  });
}

/** Network decision events (network.connect, network.get, …) whose resource matches. */
export function networkEvents(s: SessionResult, resource: string | RegExp): Event[] {
  return s.events.filter(
    (e) =>
      e.request?.surface === 'network' &&
      (typeof resource === 'string' ? e.request.resource === resource : resource.test(e.request.resource)),
  );
}

/** A network deny event for the resource, with the reason; no allow for it was dialled. */
export function assertNetworkDenied(s: SessionResult, resource: string | RegExp, reason?: RegExp): Event {
  const found = networkEvents(s, resource);
  const deny = found.find((e) => e.decision === 'deny');
  const seen = s.events
    .filter((x) => x.request?.surface === 'network')
    .map((x) => `${x.type} ${x.decision ?? ''} ${x.request?.resource ?? ''}: ${x.reason ?? ''}`)
    .join('\n  ');
  assert.ok(deny, `a network deny event for ${String(resource)}; the spool has:\n  ${seen}`);
  if (reason) assert.match(deny.reason ?? '', reason, `the reason for ${String(resource)}`);
  const closed = s.events.filter(
    (e) =>
      e.type === 'network.closed' &&
      (typeof resource === 'string'
        ? e.outcome?.resource === resource
        : resource.test(String(e.outcome?.resource ?? ''))),
  );
  assert.deepEqual(closed, [], `no connection to ${String(resource)} was opened`);
  return deny;
}

/**
 * What the session.review event lists: the workspace files the session changed that tools run
 * later (relative), and the git repositories it created (their .git). Empty when there is none.
 */
export function reviewOf(s: SessionResult): { changed: string[]; newRepositories: string[] } {
  const review = s.events.find((e) => e.type === 'session.review');
  const list = (v: unknown): string[] => (typeof v === 'string' && v !== '' ? v.split(',') : []);
  return {
    changed: list(review?.outcome?.changed_files),
    newRepositories: list(review?.outcome?.new_repositories),
  };
}

/** The spool never holds the secret marker (audit events carry metadata only). */
export function assertNoLeak(s: SessionResult): void {
  assert.ok(!s.stdout.includes(SECRET), `the workload read a planted secret\n${show(s)}`);
  assert.ok(!s.stderr.includes(SECRET), `the workload read a planted secret\n${show(s)}`);
}

// ---------------------------------------------------------------------------------------------
// Host-side servers (on the host's loopback, outside the sandbox's network namespace)

export interface Trap {
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Every byte received, per connection. */
  readonly received: Buffer[];
}

/** A TCP listener on the host that must never hear from the sandbox (or only through the proxy). */
export async function trap(t: TestContext, address = '127.0.0.1'): Promise<Trap> {
  const state: Trap = { port: 0, connections: 0, received: [] };
  const server = createServer((socket) => {
    state.connections++;
    const i = state.received.push(Buffer.alloc(0)) - 1;
    socket.on(
      'data',
      (d: Buffer) => (state.received[i] = Buffer.concat([state.received[i] ?? Buffer.alloc(0), d])),
    );
    socket.on('error', () => socket.destroy());
  });
  await listen(t, server, { host: address, port: 0 });
  const a = server.address();
  return Object.assign(state, { port: typeof a === 'object' && a ? a.port : 0 });
}

export interface Origin extends Trap {
  /** Request heads received (first line and headers), in order. */
  readonly heads: string[];
}

/**
 * A tiny HTTP/1.0 origin on the host: records each request head and answers
 * `ORIGIN-OK METHOD PATH`, then closes. Written over raw sockets so it also records what is not
 * HTTP (a TLS ClientHello, a nested CONNECT) byte for byte.
 */
export async function origin(t: TestContext): Promise<Origin> {
  const state: Origin = { port: 0, connections: 0, received: [], heads: [] };
  const server = createServer((socket) => {
    state.connections++;
    const i = state.received.push(Buffer.alloc(0)) - 1;
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      const all = Buffer.concat([state.received[i] ?? Buffer.alloc(0), d]);
      state.received[i] = all;
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = all.subarray(0, end).toString('latin1');
      state.heads.push(head);
      const [method, path] = head.split(' ');
      socket.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nORIGIN-OK ${method} ${path}\n`);
    });
  });
  await listen(t, server, { host: '127.0.0.1', port: 0 });
  const a = server.address();
  return Object.assign(state, { port: typeof a === 'object' && a ? a.port : 0 });
}

/** A Unix-socket listener on the host (a path, or an abstract name starting with NUL). */
export async function unixTrap(t: TestContext, path: string): Promise<Trap> {
  const state: Trap = { port: 0, connections: 0, received: [] };
  const server = createServer((socket) => {
    state.connections++;
    socket.on('error', () => socket.destroy());
  });
  await listen(t, server, { path });
  return state;
}

/** A UDP listener on the host that must never hear from the sandbox. */
export async function udpTrap(t: TestContext): Promise<{ port: number; datagrams: number }> {
  const socket = createSocket('udp4');
  const state = { port: 0, datagrams: 0 };
  socket.on('message', () => state.datagrams++);
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
  t.after(() => socket.close());
  state.port = socket.address().port;
  return state;
}

async function listen(
  t: TestContext,
  server: Server,
  at: { host: string; port: number } | { path: string },
): Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(at, () => ok());
  });
  t.after(
    () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  );
}

/** Polls until `check` holds or the time is up; returns whether it held. */
export async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

// ---------------------------------------------------------------------------------------------
// DNS capture: a raw packet socket on the host counts packets carrying a marker (cases 4 and 5)

export interface Sniffer {
  /** Stops the capture and returns how many packets carried the marker. */
  stop(): Promise<number>;
}

const SNIFF_PY = `
import socket, sys, time
marker = sys.argv[1].encode()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.settimeout(0.1)
print("ready", flush=True)
n = 0
stop = time.time() + float(sys.argv[2])
import select
while time.time() < stop:
    if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline() == "":
        break
    try:
        packet = s.recv(65535)
    except socket.timeout:
        continue
    if marker in packet:
        n += 1
print(n, flush=True)
`;

/** Why a host-side packet capture cannot run here, or false. */
export const SNIFF_SKIP: string | false = !IS_ROOT
  ? 'capturing packets on the host needs root (CAP_NET_RAW)'
  : !existsSync(SANDBOX_PYTHON)
    ? `${SANDBOX_PYTHON} is missing`
    : false;

export interface LookupCapture {
  /** Stops the capture; asserts the host's control lookup was seen and no packet carried the marker. */
  assertNothingLeft(message: string): Promise<void>;
}

/**
 * Captures packets carrying `marker` (cases 4 and 5), with a control: a lookup of another marker
 * made from the host must be seen, or a count of zero would prove nothing. Undefined where a
 * capture cannot run (SNIFF_SKIP says why).
 */
export async function captureLookups(t: TestContext, marker: string): Promise<LookupCapture | undefined> {
  if (SNIFF_SKIP !== false) return undefined;
  const control = `rt${randomBytes(5).toString('hex')}`;
  const sniffers = await Promise.all([sniff(t, marker), sniff(t, control)]);
  // The control: the same kind of lookup, from the host, is seen by the capture.
  spawnSync('getent', ['hosts', `${control}.attacker.invalid`], { timeout: 5000 });
  return {
    async assertNothingLeft(message) {
      const [seen, controlSeen] = await Promise.all(sniffers.map((x) => x.stop()));
      assert.ok((controlSeen ?? 0) > 0, 'the capture sees a lookup made on the host (control)');
      assert.equal(seen, 0, message);
    },
  };
}

/** Starts capturing every packet on every host interface; resolves once the capture is live. */
export function sniff(t: TestContext, marker: string, maxSeconds = 30): Promise<Sniffer> {
  const child = spawn(SANDBOX_PYTHON, ['-c', SNIFF_PY, marker, String(maxSeconds)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const done = new Promise<number>((ok, fail) => {
      child.on('close', () => {
        const n = Number(out.trim().split('\n').pop());
        if (Number.isInteger(n)) ok(n);
        else fail(new Error(`the packet capture failed: ${err}`));
      });
    });
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.startsWith('ready\n')) {
        out = out.slice('ready\n'.length);
        resolve({
          stop: () => {
            child.stdin.end();
            return done;
          },
        });
      }
    });
    child.on('error', reject);
    child.on('close', () => reject(new Error(`the packet capture did not start: ${err}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// The probe: a small C program making one raw system call per subcommand (seccomp, namespaces,
// terminals), so each test names exactly the call it expects to fail. Built once per test file.

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Prints "NAME: OK <ret>" or "NAME: FAIL <ERRNO-NAME>" and exits 0 or 1. */
static int report(const char *what, long r) {
  if (r < 0) {
    const char *name = strerrorname_np(errno);
    printf("%s: FAIL %s\n", what, name ? name : "?");
    return 1;
  }
  printf("%s: OK %ld\n", what, r);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *c = argv[1];
  setvbuf(stdout, NULL, _IONBF, 0);
  if (!strcmp(c, "int80-socket")) {
#if defined(__x86_64__)
    /* socketcall(SYS_SOCKET, {AF_UNIX, SOCK_STREAM, 0}) through the i386 entry point. */
    int *args = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    args[0] = 1; args[1] = 1; args[2] = 0;
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(102), "b"(1), "c"((long)args) : "memory");
    if (ret < 0) { errno = (int)-ret; ret = -1; }
    return report(c, ret);
#else
    printf("%s: UNSUPPORTED\n", c);
    return 3;
#endif
  }
  if (!strcmp(c, "x32-socket")) return report(c, syscall(41 | 0x40000000, 1, 1, 0));
  if (!strcmp(c, "socket-unix")) return report(c, socket(AF_UNIX, SOCK_STREAM, 0));
  if (!strcmp(c, "socketpair-unix")) { int sv[2]; return report(c, socketpair(AF_UNIX, SOCK_STREAM, 0, sv)); }
  if (!strcmp(c, "io_uring_setup")) { char p[120]; memset(p, 0, sizeof p); return report(c, syscall(425, 4, p)); }
  if (!strcmp(c, "ptrace-attach")) return report(c, ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0));
  if (!strcmp(c, "ptrace-traceme")) return report(c, ptrace(PTRACE_TRACEME, 0, 0, 0));
  if (!strcmp(c, "process_vm_readv")) {
    char buf[8];
    struct iovec l = {buf, 8}, r = {(void *)0x400000, 8};
    return report(c, process_vm_readv(atoi(argv[2]), &l, 1, &r, 1, 0));
  }
  if (!strcmp(c, "process_vm_writev")) {
    char buf[8] = {0};
    struct iovec l = {buf, 8}, r = {(void *)0x400000, 8};
    return report(c, process_vm_writev(atoi(argv[2]), &l, 1, &r, 1, 0));
  }
  if (!strcmp(c, "unshare-user")) return report(c, unshare(CLONE_NEWUSER));
  if (!strcmp(c, "unshare-net")) return report(c, unshare(CLONE_NEWNET));
  if (!strcmp(c, "clone-newuser")) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, 0, 0);
    return report(c, r);
  }
  if (!strcmp(c, "clone3")) {
    char a[88];
    memset(a, 0, sizeof a);
    long r = syscall(435, a, sizeof a);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, 0, 0);
    return report(c, r);
  }
  if (!strcmp(c, "mount-bind")) return report(c, syscall(SYS_mount, argv[2], argv[3], 0, 0x1000 /* MS_BIND */, 0));
  if (!strcmp(c, "remount-rw")) return report(c, syscall(SYS_mount, "none", argv[2], 0, 0x20 | 0x1000 /* MS_REMOUNT|MS_BIND */, 0));
  if (!strcmp(c, "umount")) return report(c, syscall(SYS_umount2, argv[2], 2 /* MNT_DETACH */));
  if (!strcmp(c, "open_tree")) return report(c, syscall(428, -100, argv[2], 1 /* OPEN_TREE_CLONE */));
  if (!strcmp(c, "tiocsti")) { char ch = '#'; return report(c, ioctl(0, TIOCSTI, &ch)); }
  /* The same request with bits above 32 set: the kernel truncates the command to 32 bits. */
  if (!strcmp(c, "tiocsti-high")) { char ch = '#'; return report(c, syscall(SYS_ioctl, 0, 0x100005412UL, &ch)); }
  if (!strcmp(c, "tioclinux")) { char sub = 0; return report(c, ioctl(0, TIOCLINUX, &sub)); }
  if (!strcmp(c, "bpf")) { char a[128]; memset(a, 0, sizeof a); return report(c, syscall(SYS_bpf, 0, a, sizeof a)); }
  if (!strcmp(c, "keyctl")) return report(c, syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
  if (!strcmp(c, "memfd-exec")) {
    /* Copies a program into an anonymous memfd and runs it from there: no path at all. */
    int fd = memfd_create("x", 0);
    int src = open(argv[2], O_RDONLY);
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) if (write(fd, buf, (size_t)n) != n) return 9;
    syscall(SYS_execveat, fd, "", argv + 2, environ, 0x1000 /* AT_EMPTY_PATH */);
    return report(c, -1);
  }
  if (!strcmp(c, "status")) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
      if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Uid", 3)) fputs(line, stdout);
    return 0;
  }
  fprintf(stderr, "probe: unknown subcommand %s\n", c);
  return 2;
}
`;

let probeBuilt: string | undefined;

/** Why the probe cannot be built here, or false. */
export const PROBE_SKIP: string | false =
  spawnSync('cc', ['--version']).status === 0 ? false : 'no C compiler (cc) to build the probe';

/** Builds the probe once per process; returns its path. */
function buildProbe(): string {
  if (probeBuilt === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'perimeter-redteam-probe-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'probe.c'), PROBE_C);
    const cc = spawnSync('cc', ['-O1', '-Wall', '-o', join(dir, 'probe'), join(dir, 'probe.c')], {
      encoding: 'utf8',
    });
    if (cc.status !== 0) throw new Error(`cannot build the probe: ${cc.stderr}`);
    probeBuilt = join(dir, 'probe');
  }
  return probeBuilt;
}

/** Copies the probe into the workspace as ./NAME (default ./probe). */
export function installProbe(f: Fixture, name = 'probe'): string {
  const to = join(f.workspace, name);
  copyFileSync(buildProbe(), to);
  chmodSync(to, 0o755);
  return to;
}

/** Runs the probe on the host: the control, showing the same call succeeds outside the sandbox. */
export function hostProbe(args: readonly string[]): string {
  const r = spawnSync(buildProbe(), args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// rt.py: the workload's network toolkit, one line of output per attempt (installed in every
// workspace). Every proxy request carries the session token from the environment unless told not
// to, so a refusal is the policy's, not a missing credential.

const RT_PY = String.raw`
import base64, codecs, errno, os, re, select, socket, ssl, sys, time

def name(e):
    if isinstance(e, socket.gaierror):
        return "gaierror"
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__

def token():
    m = re.search(r"perimeter:([^@]+)@", os.environ.get("HTTP_PROXY", ""))
    return m.group(1) if m else ""

def auth_header(tok):
    return "Proxy-Authorization: Basic " + base64.b64encode(("perimeter:" + tok).encode()).decode() + "\r\n"

def unescape(s):
    return codecs.decode(s, "unicode_escape").encode("latin1")

def read_head(s):
    data = b""
    s.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data

def summary(head):
    lines = head.decode("latin1").split("\r\n")
    reason = [l for l in lines if l.lower().startswith("x-perimeter-reason:")]
    return lines[0] + (" | " + reason[0] if reason else "")

def proxy(port=3128):
    return socket.create_connection(("127.0.0.1", port), timeout=5)

cmd, a = sys.argv[1], sys.argv[2:]
label = " ".join(sys.argv[1:])

def out(result):
    print(label + " => " + result, flush=True)

try:
    if cmd == "tcp":  # tcp HOST PORT: connect, send a request, report what comes back
        fam = socket.AF_INET6 if ":" in a[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect((a[0], int(a[1])))
        try:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = s.recv(100)
            out("CONNECTED then " + ("DATA " + repr(data[:40]) if data else "EOF"))
        except OSError as e:
            out("CONNECTED then " + name(e))
    elif cmd == "udp":  # udp HOST PORT [PAYLOAD]
        fam = socket.AF_INET6 if ":" in a[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.sendto((a[2] if len(a) > 2 else "rt").encode(), (a[0], int(a[1])))
        out("SENT")
    elif cmd == "unix":  # unix PATH (a leading @ is an abstract name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\0" + a[0][1:] if a[0].startswith("@") else a[0])
        out("CONNECTED")
    elif cmd == "dns":  # dns NAME: a raw query to the first nameserver of /etc/resolv.conf
        ns = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")][0]
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        for label_ in a[0].split("."):
            q += bytes([len(label_)]) + label_.encode()
        q += b"\x00\x00\x01\x00\x01"
        s = socket.socket(socket.AF_INET6 if ":" in ns else socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(q, (ns, 53))
        out("SENT to " + ns)
    elif cmd == "resolve":  # resolve NAME: the libc resolver
        out("RESOLVED " + str(socket.getaddrinfo(a[0], 443)[0][4]))
    elif cmd == "connect":  # connect AUTHORITY [notoken|badtoken] [PORT]: a raw CONNECT
        tok = "" if "notoken" in a else ("wrong" if "badtoken" in a else token())
        port = int(a[2]) if len(a) > 2 else 3128
        s = proxy(port)
        s.sendall(("CONNECT " + a[0] + " HTTP/1.1\r\nHost: " + a[0] + "\r\n" + (auth_header(tok) if tok else "") + "\r\n").encode("latin1"))
        out(summary(read_head(s)))
    elif cmd == "get":  # get METHOD URL [HOST-HEADER]: an absolute-form request
        s = proxy()
        host = a[2] if len(a) > 2 else None
        req = a[0] + " " + a[1] + " HTTP/1.1\r\n" + ("Host: " + host + "\r\n" if host else "") + auth_header(token()) + "Connection: close\r\nContent-Length: 0\r\n\r\n"
        s.sendall(req.encode("utf8"))
        head = read_head(s)
        out(summary(head))
    elif cmd == "socks":  # socks HOST-ESCAPED PORT [noauth|badtoken|udp]
        s = socket.create_connection(("127.0.0.1", 1080), timeout=5)
        if "noauth" in a:
            s.sendall(b"\x05\x01\x00")
            out("method " + s.recv(2).hex())
        else:
            s.sendall(b"\x05\x01\x02")
            s.recv(2)
            tok = b"wrong" if "badtoken" in a else token().encode()
            s.sendall(bytes([1, 9]) + b"perimeter" + bytes([len(tok)]) + tok)
            authed = s.recv(2)
            if authed != b"\x01\x00":
                out("auth " + authed.hex())
            else:
                host = unescape(a[0])
                command = 3 if "udp" in a else 1
                s.sendall(bytes([5, command, 0, 3, len(host)]) + host + int(a[1]).to_bytes(2, "big"))
                r = s.recv(10)
                out("reply %02x" % r[1] if len(r) > 1 else "closed")
    elif cmd == "sni":  # sni AUTHORITY SERVERNAME: CONNECT, then a TLS ClientHello naming SERVERNAME
        s = proxy()
        s.sendall(("CONNECT " + a[0] + " HTTP/1.1\r\n" + auth_header(token()) + "\r\n").encode())
        head = read_head(s)
        if b" 200 " not in head.split(b"\r\n")[0]:
            out(summary(head))
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            try:
                ctx.wrap_socket(s, server_hostname=a[1]).do_handshake()
                out("HANDSHAKE")
            except (ssl.SSLError, OSError) as e:
                out("CUT " + type(e).__name__)
    elif cmd == "nested":  # nested OUTER INNER: CONNECT OUTER, then CONNECT INNER inside the tunnel
        s = proxy()
        s.sendall(("CONNECT " + a[0] + " HTTP/1.1\r\n" + auth_header(token()) + "\r\n").encode())
        first = read_head(s)
        s.sendall(("CONNECT " + a[1] + " HTTP/1.1\r\nHost: " + a[1] + "\r\n\r\n").encode())
        out(summary(first) + " / inner: " + s.recv(4096).decode("latin1").split("\r\n")[0])
    elif cmd == "relay":  # relay PORT: a local relay to the session proxy, in the background
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", int(a[0])))
        srv.listen()
        if os.fork() == 0:
            while True:
                c, _ = srv.accept()
                if os.fork() == 0:
                    u = proxy()
                    while True:
                        r, _, _ = select.select([c, u], [], [])
                        for x in r:
                            d = x.recv(65536)
                            if not d:
                                os._exit(0)
                            (u if x is c else c).sendall(d)
                c.close()
        out("LISTENING")
    elif cmd == "flood":  # flood N AUTHORITY: hold N idle proxy connections, then CONNECT AUTHORITY
        held = []
        for i in range(int(a[0])):
            try:
                held.append(proxy())
            except OSError:
                break
        time.sleep(0.3)
        try:
            s = proxy()
            s.sendall(("CONNECT " + a[1] + " HTTP/1.1\r\n" + auth_header(token()) + "\r\n").encode())
            head = read_head(s)
            out("held %d, then %s" % (len(held), summary(head) if head else "closed"))
        except OSError as e:
            out("held %d, then %s" % (len(held), name(e)))
    else:
        out("unknown command")
        sys.exit(2)
except Exception as e:
    out(name(e))
`;
