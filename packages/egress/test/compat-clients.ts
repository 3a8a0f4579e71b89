// The compatibility suite's client cases (research sandbox §5): for each real client (curl, git,
// npm, pip, Python's urllib, Node's fetch), what to run (argv, environment, working directory)
// against the compat origin, and what its user must see afterwards. A case is plain data plus a
// verify function, and one runner executes it with child_process, so the sandbox launcher can run
// the very same cases inside the sandbox instead. Nothing here starts a server or a proxy.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  BLOCKED_HOST,
  COMPAT_HOSTS,
  HERMETIC_GIT_ENV,
  bareEnv,
  type CompatOrigin,
  type CompatTools,
} from './compat-fixtures.js';

/** How to run a client: no shell, a bounded time. */
export interface ClientRun {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly timeoutMs: number;
}

export interface ClientResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly isTimedOut: boolean;
  readonly ms: number;
}

/**
 * What the proxy must have seen: `allow` (decided allow, tunnel opened), `deny` (refused in
 * protocol), or `bypass` (a client known to ignore the proxy variables: the proxy sees nothing).
 */
export type Expectation = 'allow' | 'deny' | 'bypass';

export interface ClientCase {
  /** The research sandbox §5 case: `compat-01` is case 1 (git over https), and so on. */
  readonly id: string;
  readonly client: string;
  readonly run: ClientRun;
  /** The canonical `host:port` the proxy decides on. */
  readonly target: string;
  readonly expect: Expectation;
  /** Throws an assertion error unless the outcome is what this client's user expects. */
  readonly verify: (result: ClientResult) => void;
}

/** A case that cannot run here, and why (a missing binary). */
export interface SkippedCase {
  readonly skip: string;
}

export interface CaseContext {
  readonly origin: CompatOrigin;
  readonly tools: CompatTools;
  /** An empty directory for this run (inside a sandbox: the workspace). */
  readonly workDir: string;
  /** The proxy and CA variables (proxyEnv in compat-fixtures.ts). */
  readonly proxyEnv: Readonly<Record<string, string>>;
}

export type CaseBuilder = (ctx: CaseContext) => ClientCase | SkippedCase;

/** The bound on every client run: a hung client fails its test instead of the suite. */
export const CLIENT_TIMEOUT_MS = 30_000;

/** Where a case sends its client: the compat host the policy allows, or BLOCKED_HOST. */
export type Destination = 'allowed' | 'blocked';

const hostOf = (isBlocked: boolean, host: string): string => (isBlocked ? BLOCKED_HOST : host);

function envFor(ctx: CaseContext, extra: Record<string, string> = {}): Record<string, string> {
  return { ...bareEnv(ctx.workDir), ...ctx.proxyEnv, ...extra };
}

const run = (
  ctx: CaseContext,
  argv: readonly string[],
  env: Record<string, string>,
  cwd = ctx.workDir,
): ClientRun => ({
  argv,
  env,
  cwd,
  timeoutMs: CLIENT_TIMEOUT_MS,
});

const failed = (r: ClientResult): void => assert.notEqual(r.code, 0, 'the client must fail');
const succeeded = (r: ClientResult): void => assert.equal(r.code, 0, `the client must succeed: ${r.stderr}`);

/**
 * A case sent to the allowed host or to BLOCKED_HOST: the proxy must allow or deny it, and the
 * client must succeed (then `whenAllowed` checks what its user got) or fail (then `whenBlocked`
 * checks that the refusal reached its user).
 */
function destinationCase(
  to: Destination,
  c: Pick<ClientCase, 'id' | 'client' | 'run' | 'target'> & {
    readonly whenAllowed: (result: ClientResult) => void;
    readonly whenBlocked: (result: ClientResult) => void;
  },
): ClientCase {
  const isBlocked = to === 'blocked';
  return {
    id: c.id,
    client: c.client,
    run: c.run,
    target: c.target,
    expect: isBlocked ? 'deny' : 'allow',
    verify: (r) => {
      if (isBlocked) {
        failed(r);
        c.whenBlocked(r);
      } else {
        succeeded(r);
        c.whenAllowed(r);
      }
    },
  };
}

// -- curl (§5 case 5) ----------------------------------------------------------------------------

/** curl over https: CONNECT through the proxy; a refusal shows as "CONNECT tunnel failed, response 403". */
export const curlHttps =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    if (ctx.tools.curl === undefined) return { skip: 'curl is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.www);
    const url = ctx.origin.onHost(ctx.origin.web.httpsUrl, host);
    return destinationCase(to, {
      id: 'compat-05',
      client: 'curl',
      run: run(ctx, [ctx.tools.curl, '-sS', '-v', '--fail', '--max-time', '20', url], envFor(ctx)),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: (r) => {
        assert.equal(r.stdout, ctx.origin.web.httpsText);
      },
      whenBlocked: (r) => {
        // curl says "CONNECT tunnel failed, response 403" (56), or with --fail "returned error: 403" (22).
        assert.match(r.stderr, /CONNECT tunnel failed, response 403|returned error: 403/);
        assert.match(r.stderr, /< X-Perimeter-Reason: .*blocked\.compat\.test/i);
      },
    });
  };

/** curl over plain http: an absolute-form request the proxy forwards; a refusal is an HTTP 403. */
export const curlHttp =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    if (ctx.tools.curl === undefined) return { skip: 'curl is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.www);
    const url = ctx.origin.onHost(ctx.origin.web.httpUrl, host);
    return destinationCase(to, {
      id: 'compat-05',
      client: 'curl',
      run: run(ctx, [ctx.tools.curl, '-sS', '-i', '--fail-with-body', '--max-time', '20', url], envFor(ctx)),
      target: `${host}:${ctx.origin.httpPort}`,
      whenAllowed: (r) => {
        assert.match(r.stdout, /^HTTP\/1\.1 200/);
        assert.ok(r.stdout.endsWith(ctx.origin.web.httpText), r.stdout);
      },
      whenBlocked: (r) => {
        assert.match(r.stdout, /^HTTP\/1\.1 403/);
        assert.match(r.stdout, /^x-perimeter-reason: .*blocked\.compat\.test/im);
      },
    });
  };

// -- git (§5 case 1) -----------------------------------------------------------------------------

/** `git clone https://…` through the proxy, trusting the CA through GIT_SSL_CAINFO. */
export const gitClone =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    const { git } = ctx.tools;
    const repo = ctx.origin.git;
    if (git === undefined || repo === undefined)
      return { skip: 'git (with git-http-backend) is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.git);
    const into = join(ctx.workDir, 'clone');
    return destinationCase(to, {
      id: 'compat-01',
      client: 'git',
      run: run(
        ctx,
        [git, 'clone', '--quiet', ctx.origin.onHost(repo.url, host), into],
        envFor(ctx, HERMETIC_GIT_ENV),
      ),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: () => {
        assert.equal(readFileSync(join(into, repo.file), 'utf8'), repo.content);
        assert.equal(readFileSync(join(into, '.git', 'HEAD'), 'utf8').trim(), 'ref: refs/heads/main');
        const head = readFileSync(join(into, '.git', 'refs', 'heads', 'main'), 'utf8').trim();
        assert.equal(head, repo.commit);
      },
      whenBlocked: (r) => {
        assert.match(r.stderr, /CONNECT tunnel failed, response 403/);
      },
    });
  };

// -- npm (§5 case 3) -----------------------------------------------------------------------------

/** `npm install` from the local registry: packument and tarball through the proxy, integrity checked. */
export const npmInstall =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    const pkg = ctx.origin.npm;
    if (ctx.tools.npm === undefined || pkg === undefined) return { skip: 'npm is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.registry);
    const project = join(ctx.workDir, 'project');
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'compat-consumer', version: '0.0.0', private: true }),
    );
    writeFileSync(join(ctx.workDir, 'npmrc'), '');
    const env = envFor(ctx, {
      npm_config_cache: join(ctx.workDir, 'npm-cache'),
      npm_config_userconfig: join(ctx.workDir, 'npmrc'),
      npm_config_update_notifier: 'false',
    });
    const argv = [
      ctx.tools.npm,
      'install',
      `${pkg.name}@${pkg.version}`,
      `--registry=${ctx.origin.onHost(pkg.registry, host)}`,
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--fetch-retries=0',
      '--fetch-timeout=20000',
    ];
    return destinationCase(to, {
      id: 'compat-03',
      client: 'npm',
      run: run(ctx, argv, env, project),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: () => {
        const installed = join(project, 'node_modules', pkg.name);
        assert.equal(readFileSync(join(installed, pkg.file), 'utf8'), pkg.content);
        const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
          packages?: Record<string, { resolved?: string; integrity?: string }>;
        };
        const entry = lock.packages?.[`node_modules/${pkg.name}`];
        assert.equal(entry?.integrity, pkg.integrity);
        assert.ok(entry?.resolved?.startsWith(pkg.registry), entry?.resolved);
      },
      whenBlocked: (r) => {
        assert.match(r.stderr, /403 Forbidden - GET https:\/\/blocked\.compat\.test:\d+\//);
      },
    });
  };

// -- Python (§5 case 6) --------------------------------------------------------------------------

const PYTHON_ENV = { PYTHONNOUSERSITE: '1', PYTHONDONTWRITEBYTECODE: '1' } as const;

/** `pip install` from the local PEP 503 index, trusting the CA through PIP_CERT. */
export const pipInstall =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    const { python } = ctx.tools;
    if (python === undefined || !ctx.tools.hasPip) return { skip: 'python3 with pip is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.pypi);
    const target = join(ctx.workDir, 'site');
    const { pypi } = ctx.origin;
    const argv = [
      python,
      '-m',
      'pip',
      'install',
      '--no-cache-dir',
      '--disable-pip-version-check',
      '--no-input',
      // One retry: pip logs the connection error (with the proxy's status) only when it retries.
      '--retries',
      '1',
      '--timeout',
      '20',
      '--index-url',
      ctx.origin.onHost(pypi.indexUrl, host),
      '--target',
      target,
      `${pypi.name}==${pypi.version}`,
    ];
    return destinationCase(to, {
      id: 'compat-06',
      client: 'pip',
      run: run(ctx, argv, envFor(ctx, { ...PYTHON_ENV, PIP_CONFIG_FILE: '/dev/null' })),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: (r) => {
        assert.match(r.stdout, new RegExp(`Successfully installed ${pypi.name}-${pypi.version}`));
        assert.equal(readFileSync(join(target, pypi.module, '__init__.py'), 'utf8'), pypi.content);
      },
      whenBlocked: (r) => {
        assert.match(`${r.stdout}${r.stderr}`, /Tunnel connection failed: 403/);
      },
    });
  };

const URLLIB_SCRIPT = `import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as response:
    sys.stdout.write(response.read().decode())
`;

/** Python's urllib over https (the stdlib behind many scripts), trusting the CA through SSL_CERT_FILE. */
export const pythonUrllib =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    const { python } = ctx.tools;
    if (python === undefined) return { skip: 'python3 is not installed' };
    const host = hostOf(isBlocked, COMPAT_HOSTS.www);
    const url = ctx.origin.onHost(ctx.origin.web.httpsUrl, host);
    return destinationCase(to, {
      id: 'compat-06',
      client: 'python urllib',
      run: run(ctx, [python, '-c', URLLIB_SCRIPT, url], envFor(ctx, PYTHON_ENV)),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: (r) => {
        assert.equal(r.stdout, ctx.origin.web.httpsText);
      },
      whenBlocked: (r) => {
        assert.match(r.stderr, /Tunnel connection failed: 403 Forbidden/);
      },
    });
  };

// -- Node's fetch (§5 case 4) ----------------------------------------------------------------------

const FETCH_SCRIPT = `try {
  const response = await fetch(process.argv[1]);
  if (!response.ok) throw new Error('HTTP ' + response.status);
  process.stdout.write(await response.text());
} catch (e) {
  process.stderr.write(String(e?.cause?.message ?? e?.cause?.code ?? e?.message) + '\\n');
  process.exitCode = 1;
}
`;

/**
 * The preload that gives Node 20's fetch a proxy dispatcher: the one every sandbox session loads
 * (packages/sandbox/assets/fetch-proxy.mjs), so this case tests what users run.
 */
export const FETCH_PRELOAD = fileURLToPath(
  new URL('../../../sandbox/assets/fetch-proxy.mjs', import.meta.url),
);

/** Whether this Node's fetch honours the proxy variables with NODE_USE_ENV_PROXY=1 (22.21+, 24+). */
export function hasEnvProxyFetch(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 22 && minor >= 21) || major === 23;
}

/** Node's fetch with the preload dispatcher: CONNECT through the proxy, TLS to the origin. */
export const nodeFetch =
  (to: Destination): CaseBuilder =>
  (ctx) => {
    const isBlocked = to === 'blocked';
    const host = hostOf(isBlocked, COMPAT_HOSTS.www);
    const url = ctx.origin.onHost(ctx.origin.web.httpsUrl, host);
    const argv = [
      ctx.tools.node,
      '--import',
      pathToFileURL(FETCH_PRELOAD).href,
      '--input-type=module',
      '-e',
      FETCH_SCRIPT,
      url,
    ];
    return destinationCase(to, {
      id: 'compat-04',
      client: 'node fetch',
      run: run(ctx, argv, envFor(ctx)),
      target: `${host}:${ctx.origin.httpsPort}`,
      whenAllowed: (r) => {
        assert.equal(r.stdout, ctx.origin.web.httpsText);
      },
      whenBlocked: (r) => {
        assert.match(
          r.stderr,
          /the proxy refused CONNECT blocked\.compat\.test:\d+: HTTP\/1\.1 403 Forbidden \(Denied/,
        );
      },
    });
  };

/**
 * Node's fetch with nothing but the environment: on Node 20 it ignores the proxy variables and
 * looks the name up itself (the §5 case 4 symptom, ENOTFOUND), so the proxy sees nothing; where
 * NODE_USE_ENV_PROXY exists it goes through the proxy like any other client.
 */
export const nodeFetchFromEnvOnly: CaseBuilder = (ctx) => {
  const isProxied = hasEnvProxyFetch();
  return {
    id: 'compat-04',
    client: 'node fetch (environment only)',
    run: run(
      ctx,
      [ctx.tools.node, '--input-type=module', '-e', FETCH_SCRIPT, ctx.origin.web.httpsUrl],
      envFor(ctx),
    ),
    target: `${COMPAT_HOSTS.www}:${ctx.origin.httpsPort}`,
    expect: isProxied ? 'allow' : 'bypass',
    verify: (r) => {
      if (isProxied) {
        succeeded(r);
        assert.equal(r.stdout, ctx.origin.web.httpsText);
        return;
      }
      failed(r);
      assert.match(r.stderr, /ENOTFOUND|EAI_AGAIN/);
    },
  };
};

// -- the runner ----------------------------------------------------------------------------------

const MAX_OUTPUT = 1 << 20;

/**
 * Runs a client without a shell, in its own process group so a timeout also ends what it started
 * (git's remote helper, npm's children); never rejects: a failure to start is a result too.
 */
export function runClient(clientRun: ClientRun): Promise<ClientResult> {
  const started = Date.now();
  const [file, ...args] = clientRun.argv;
  return new Promise((resolve) => {
    if (file === undefined) {
      resolve({ code: null, signal: null, stdout: '', stderr: 'empty argv', isTimedOut: false, ms: 0 });
      return;
    }
    const child = spawn(file, args, {
      cwd: clientRun.cwd,
      env: clientRun.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let isTimedOut = false;
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += c.toString();
    });
    const timer = setTimeout(() => {
      isTimedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    }, clientRun.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({
        code: null,
        signal: null,
        stdout,
        stderr: `${stderr}${e.message}`,
        isTimedOut,
        ms: Date.now() - started,
      });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, isTimedOut, ms: Date.now() - started });
    });
  });
}
