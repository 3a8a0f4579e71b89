// The compatibility cases of research sandbox.md §5, inside the real sandbox: each real client
// (curl, git, npm, pip, Python's urllib, Node) runs in `perimeter run` with nothing but the
// session's own proxy variables and a CA in the workspace, against an origin on the host's
// loopback (compat-sandbox-fixtures.ts says why 127.0.0.2), and must get the right content; the
// session's audit spool must hold the proxy's allow decision for that address and port and the
// network.closed record of the connection. Negative controls: bypassing the proxy fails closed.
// packages/egress/test/compat-clients.test.ts runs the same clients against the proxy alone.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import {
  SANDBOX_SKIP,
  assertEndedNormally,
  assertNetworkDenied,
  fixture,
  isCaptureOn,
  networkEvents,
  policyYaml,
  put,
  runSession,
  shellQuote,
  show,
  type Event,
  type Fixture,
  type SessionResult,
} from './sandbox-harness.js';
import {
  CA_FILE,
  FETCH_SCRIPT,
  NODE_CONNECT_SCRIPT,
  ORIGIN_IP,
  URLLIB_SCRIPT,
  caPrelude,
  findSandboxTools,
  startSandboxOrigin,
  type SandboxOrigin,
  type SandboxTools,
} from './compat-sandbox-fixtures.js';

/** The bound on each session (one client run, or a few); a hung client fails its test, not the file. */
const SESSION_TIMEOUT_MS = 60_000;

const tools: SandboxTools | undefined = SANDBOX_SKIP === false ? findSandboxTools() : undefined;
const suiteSkip: string | false =
  SANDBOX_SKIP !== false ? SANDBOX_SKIP : tools?.openssl === undefined ? 'openssl is not installed' : false;

// Started at load (top-level await), so that what it could not set up is known when the cases
// are declared and becomes their skip reason.
const originOrUndefined: SandboxOrigin | undefined =
  suiteSkip === false && tools !== undefined ? await startSandboxOrigin(tools) : undefined;
after(async () => {
  await originOrUndefined?.close();
});

function theOrigin(): SandboxOrigin {
  assert.ok(originOrUndefined, 'the origin started');
  return originOrUndefined;
}

/** Why a case cannot run here (a missing binary), or false. */
function needs(what: 'curl' | 'git' | 'npm' | 'pip' | 'python'): string | false {
  if (suiteSkip !== false) return suiteSkip;
  if (tools === undefined) return 'no tools';
  switch (what) {
    case 'curl':
      return tools.curl === undefined ? 'curl is not installed' : false;
    case 'git':
      return tools.git === undefined || tools.gitHttpBackend === undefined
        ? 'git (with git-http-backend) is not installed'
        : false;
    case 'npm':
      return tools.npm === undefined ? 'npm is not installed' : false;
    case 'pip':
      return tools.python === undefined || !tools.hasPip ? 'python3 with pip is not installed' : false;
    case 'python':
      return tools.python === undefined ? 'python3 is not installed' : false;
  }
}

/**
 * The policy: the red-team harness's (workspace read-write, system directories read-only, the
 * tool caches read-write, secrets denied) plus exactly the origin's ports on 127.0.0.2/32 and its
 * 127.0.0.1 listener on 127.0.0.1/32 — the built-in guard refuses loopback unless a rule names the
 * address — and read access to client installations outside the system directories.
 */
function compatPolicy(f: Fixture, origin: SandboxOrigin): string {
  return policyYaml(f, {
    allow: [`{ id: compat-origin, cidrs: [${ORIGIN_IP}/32], ports: [${originPorts(origin).join(', ')}] }`],
    originPorts: [origin.loopbackHttpsPort],
    fsAllow: (tools?.extraReadDirs ?? []).map(
      (d, i) => `{ id: client-install-${i}, paths: ["${d}/**"], access: read }`,
    ),
  });
}

/** The origin's ports on ORIGIN_IP: HTTPS, HTTP, and 443 when it could listen there. */
function originPorts(origin: SandboxOrigin): number[] {
  return [
    origin.httpsPort,
    origin.httpPort,
    ...('port' in origin.capturedHttps ? [origin.capturedHttps.port] : []),
  ];
}

interface Session {
  readonly f: Fixture;
  readonly s: SessionResult;
  readonly origin: SandboxOrigin;
  /** The origin's requests made during this session. */
  readonly served: SandboxOrigin['requests'];
}

interface SessionOptions {
  /** Writes what the case needs into the fixture (workspace, fake HOME) before the session. */
  readonly prepare?: (f: Fixture) => void;
  /**
   * Whether the script pauses before it exits (default true), so the proxy records the last
   * connection's network.closed before the session ends: without the pause, the record of a tunnel
   * that closes as the session ends can be lost (the bug the still-open-tunnel case reproduces).
   */
  readonly settle?: boolean;
}

/** Runs `bash -c` PRELUDE + SCRIPT in a fresh session (fake HOME, empty workspace with the CA). */
async function session(
  t: TestContext,
  script: (f: Fixture, origin: SandboxOrigin) => string,
  o: SessionOptions = {},
): Promise<Session> {
  const origin = theOrigin();
  const f = fixture(t);
  writeFileSync(join(f.workspace, CA_FILE), origin.caPem);
  o.prepare?.(f);
  const before = origin.requests.length;
  const settle = o.settle === false ? '' : '\nrc=$?; sleep 0.3; exit $rc';
  const s = await runSession(f, `${caPrelude(f.workspace)}${script(f, origin)}${settle}`, {
    policy: compatPolicy(f, origin),
    timeoutMs: SESSION_TIMEOUT_MS,
  });
  return { f, s, origin, served: origin.requests.slice(before) };
}

/** show(s) plus the session's network events: what the proxy decided, dialled and closed. */
function explain(s: SessionResult): string {
  const network = s.events
    .filter((e) => e.request?.surface === 'network' || e.type === 'network.closed')
    .map(
      (e) =>
        `${e.type} ${e.decision ?? ''} ${e.request?.resource ?? ''} ${e.reason ?? ''} ${JSON.stringify(e.outcome ?? {})}`,
    );
  return `${show(s)}--- network events\n${network.join('\n')}\n`;
}

/** The session ran the client to a clean exit; on failure, says what the proxy saw. */
function assertClientSucceeded(s: SessionResult): void {
  assert.equal(s.code, 0, explain(s));
  assertEndedNormally(s);
}

const https = (o: SandboxOrigin, path: string): string => `https://${ORIGIN_IP}:${o.httpsPort}${path}`;

/**
 * The audit half of an allowed case: a network decision allowing the origin's address and port
 * (a CONNECT's `ip:port`, or a forwarded request's `ip:port/path`) and a network.closed record for
 * a connection the proxy dialled to that address; returns the allow events. A 407 before a client
 * retries with the token (git's first CONNECT) is an `unauthenticated` denial: about the client,
 * not the address, so it is not counted here.
 */
function assertAllowedAndClosed(s: SessionResult, ip: string, port: number): Event[] {
  const resource = new RegExp(`^${ip.replace(/\./g, '\\.')}:${port}(/|$)`);
  const decided = networkEvents(s, resource).filter(
    (e) => e.type !== 'network.closed' && e.decision_code !== 'unauthenticated',
  );
  const allows = decided.filter((e) => e.decision === 'allow');
  const seen = s.events
    .filter((e) => e.request?.surface === 'network' || e.type === 'network.closed')
    .map((e) => `${e.type} ${e.decision ?? ''} ${e.request?.resource ?? String(e.outcome?.resource ?? '')}`)
    .join('\n  ');
  assert.ok(allows.length > 0, `an allow decision for ${ip}:${port}; the spool has:\n  ${seen}`);
  assert.deepEqual(
    decided.filter((e) => e.decision !== 'allow'),
    [],
    `every decision for ${ip}:${port} allowed`,
  );
  const closed = s.events.filter(
    (e) => e.type === 'network.closed' && resource.test(String(e.outcome?.resource ?? '')),
  );
  assert.ok(closed.length > 0, `a network.closed record for ${ip}:${port}; the spool has:\n  ${seen}`);
  for (const c of closed) assert.equal(c.outcome?.address, ip, 'the proxy dialled the vetted address');
  assert.ok(
    closed.some((c) => Number(c.outcome?.bytes_in ?? 0) > 0),
    'the origin answered through a connection the proxy accounted for',
  );
  return allows;
}

// -- curl (§5 case 5) ------------------------------------------------------------------------------

void test(
  'compat-05 curl over https inside the sandbox goes through the proxy',
  { skip: needs('curl') },
  async (t) => {
    const { s, origin, served } = await session(
      t,
      (_, o) => `curl -sS --fail --max-time 20 ${https(o, o.web.path)}`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpsText, show(s));
    assert.ok(served.some((r) => r.scheme === 'https' && r.path === origin.web.path && r.status === 200));
    const allows = assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
    assert.ok(
      allows.some((e) => e.type === 'network.connect'),
      'curl tunnelled with CONNECT',
    );
  },
);

void test(
  'compat-05 curl to a port the policy does not open is refused in protocol with the reason inside the sandbox',
  { skip: needs('curl') },
  async (t) => {
    // The origin's address, but port 1: no rule names it, so the loopback guard stands.
    const { s, served } = await session(
      t,
      () => `curl -sS -v --max-time 20 https://${ORIGIN_IP}:1/hello.txt; echo "curl=$?"`,
    );
    assertClientSucceeded(s);
    assert.match(s.stdout, /^curl=56$/m, explain(s));
    assert.match(s.stderr, /CONNECT tunnel failed, response 403/);
    assert.match(s.stderr, /< X-Perimeter-Reason: .*127\.0\.0\.2 is loopback/i);
    assert.deepEqual(served, [], 'the origin heard nothing');
    assertNetworkDenied(s, `${ORIGIN_IP}:1`, /loopback/);
  },
);

void test(
  'compat-05 curl over plain http inside the sandbox is forwarded by the proxy',
  { skip: needs('curl') },
  async (t) => {
    const { s, origin, served } = await session(
      t,
      (_, o) => `curl -sS --fail --max-time 20 http://${ORIGIN_IP}:${o.httpPort}${o.web.path}`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpText, show(s));
    assert.ok(served.some((r) => r.scheme === 'http' && r.path === origin.web.path));
    const allows = assertAllowedAndClosed(s, ORIGIN_IP, origin.httpPort);
    assert.ok(
      allows.some((e) => e.request?.resource === `${ORIGIN_IP}:${origin.httpPort}${origin.web.path}`),
      'the forwarded request is decided with its path',
    );
  },
);

void test(
  'compat-05 curl through the SOCKS5 bridge (ALL_PROXY, socks5h) inside the sandbox',
  { skip: needs('curl') },
  async (t) => {
    // curl prefers HTTPS_PROXY; this asks for the session's ALL_PROXY, with its token, explicitly.
    const { s, origin } = await session(
      t,
      (_, o) => `curl -sS --fail --max-time 20 --proxy "$ALL_PROXY" ${https(o, o.web.path)}`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpsText, show(s));
    assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  },
);

void test(
  'compat-05 curl to the host 127.0.0.1 goes through the proxy only when NO_PROXY is cleared',
  { skip: needs('curl') },
  async (t) => {
    // The sandbox's NO_PROXY names 127.0.0.1 (for servers inside, case 10): by default the
    // client dials the namespace's own loopback and finds nothing; cleared, the proxy decides.
    const { s, origin } = await session(t, (_, o) => {
      const url = `https://127.0.0.1:${o.loopbackHttpsPort}${o.web.path}`;
      return [
        `curl -sS --max-time 10 ${url}; echo "default=$?"`,
        `NO_PROXY= no_proxy= curl -sS --fail --max-time 20 ${url}; echo "cleared=$?"`,
      ].join('\n');
    });
    assertClientSucceeded(s);
    assert.match(s.stdout, /^default=7$/m, show(s));
    assert.ok(s.stdout.includes(`${origin.web.httpsText}cleared=0`), show(s));
    assertAllowedAndClosed(s, '127.0.0.1', origin.loopbackHttpsPort);
  },
);

void test(
  "compat-05 curl --noproxy '*' fails closed inside the sandbox",
  { skip: needs('curl') },
  async (t) => {
    const { s, served } = await session(t, (_, o) =>
      [
        // The allowed origin, asked for directly: the namespace has only its own loopback.
        `curl -sS --noproxy '*' --max-time 10 ${https(o, o.web.path)}; echo "origin=$?"`,
        // Ports 80 and 443 to anywhere: captured (when the session can) and decided by the proxy.
        `curl -sS --noproxy '*' --max-time 10 http://1.1.1.1/; echo "http=$?"`,
        `curl -sS --noproxy '*' --max-time 10 https://1.1.1.1/; echo "https=$?"`,
      ].join('\n'),
    );
    assertClientSucceeded(s);
    assert.match(s.stdout, /^origin=7$/m, show(s));
    assert.match(s.stdout, /^http=(7|52|56)$/m, show(s));
    assert.match(s.stdout, /^https=(7|35|52|56)$/m, show(s));
    assert.deepEqual(served, [], 'the origin heard nothing');
    assert.deepEqual(
      networkEvents(s, new RegExp(`^${ORIGIN_IP.replace(/\./g, '\\.')}:`)),
      [],
      'the direct attempt on the origin never reached the proxy',
    );
    if (isCaptureOn(s)) {
      assertNetworkDenied(s, '1.1.1.1:80', /^Denied/);
      assertNetworkDenied(s, '1.1.1.1:443', /^Denied/);
    } else {
      assert.deepEqual(networkEvents(s, /^1\.1\.1\.1:/), [], 'without capture the proxy sees nothing');
    }
  },
);

void test(
  'compat-05 curl with a tunnel still open as the session ends: the exit code and its network.closed are kept',
  {
    skip: needs('curl'),
  },
  async (t) => {
    // A CONNECT tunnel whose response never ends, still open when the workload exits.
    const { s, origin } = await session(
      t,
      (_, o) =>
        [
          `curl -sS -N --proxytunnel http://${ORIGIN_IP}:${o.httpPort}/hold >held.txt &`,
          'for i in $(seq 200); do [ -s held.txt ] && break; sleep 0.05; done',
          'cat held.txt',
        ].join('\n'),
      { settle: false },
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, 'held\n', show(s));
    const resource = `${ORIGIN_IP}:${origin.httpPort}`;
    const connects = networkEvents(s, resource).filter(
      (e) => e.type === 'network.connect' && e.decision === 'allow',
    );
    const closed = s.events.filter((e) => e.type === 'network.closed' && e.outcome?.resource === resource);
    assert.equal(connects.length, 1, `the tunnel was allowed\n${explain(s)}`);
    assert.equal(closed.length, 1, `the tunnel has its network.closed record\n${explain(s)}`);
  },
);

// -- git (§5 case 1) -------------------------------------------------------------------------------

/** git clone of the origin's repository, then the commit it checked out. */
async function gitClone(t: TestContext, gitOptions: string): Promise<Event[]> {
  const repo = theOriginPart('git');
  const { f, s, origin } = await session(
    t,
    () =>
      `GIT_TERMINAL_PROMPT=0 git ${gitOptions} clone --quiet ${shellQuote(repo.url)} clone && git -C clone log --format=%H -1`,
  );
  assertClientSucceeded(s);
  assert.equal(s.stdout.trim(), repo.commit, show(s));
  assert.equal(readFileSync(join(f.workspace, 'clone', repo.file), 'utf8'), repo.content);
  assert.equal(readFileSync(join(f.workspace, 'clone/.git/HEAD'), 'utf8').trim(), 'ref: refs/heads/main');
  assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  return s.events.filter((e) => e.decision_code === 'unauthenticated');
}

void test(
  'compat-01 git clone over https inside the sandbox',
  {
    skip: needs('git'),
  },
  async (t) => {
    const unauthenticated = await gitClone(t, '');
    // git sends its first CONNECT of a connection without the token and retries after the 407.
    t.diagnostic(`${unauthenticated.length} unauthenticated denials before git's retries`);
  },
);

void test(
  'compat-01 git clone over https inside the sandbox with http.proxyAuthMethod=basic',
  { skip: needs('git') },
  async (t) => {
    // Sends the token on the first CONNECT instead of waiting for the 407 (what git did before the
    // proxy's CONNECT 407 carried Proxy-Authenticate: its only way in).
    const unauthenticated = await gitClone(t, '-c http.proxyAuthMethod=basic');
    assert.deepEqual(unauthenticated, [], 'no 407: the token went with the first CONNECT');
  },
);

// -- npm (§5 case 3) -------------------------------------------------------------------------------

/** npm install of the origin's package into a fresh project, with npm's default cache (~/.npm). */
async function npmInstall(t: TestContext, hasNpmCache: boolean): Promise<void> {
  const pkg = theOriginPart('npm');
  const { f, s, origin, served } = await session(
    t,
    () =>
      [
        'cd project',
        [
          'npm install',
          `${pkg.name}@${pkg.version}`,
          `--registry=${shellQuote(pkg.registry)}`,
          '--no-audit --no-fund --ignore-scripts --fetch-retries=0 --fetch-timeout=20000',
          '--update-notifier=false --loglevel=error',
        ].join(' '),
      ].join('\n'),
    {
      prepare: (fx) => {
        put(
          fx.workspace,
          'project/package.json',
          JSON.stringify({ name: 'consumer', version: '0.0.0', private: true }),
        );
        // A user who has run npm before has ~/.npm; the policy grants it read-write.
        if (hasNpmCache) mkdirSync(join(fx.home, '.npm'));
      },
    },
  );
  assertClientSucceeded(s);
  const project = join(f.workspace, 'project');
  assert.equal(readFileSync(join(project, 'node_modules', pkg.name, pkg.file), 'utf8'), pkg.content, show(s));
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
    packages?: Record<string, { resolved?: string; integrity?: string }>;
  };
  const entry = lock.packages?.[`node_modules/${pkg.name}`];
  assert.equal(entry?.integrity, pkg.integrity);
  assert.ok(entry?.resolved?.startsWith(pkg.registry), entry?.resolved);
  assert.ok(
    served.some((r) => r.path.endsWith('.tgz') && r.status === 200),
    'the tarball came from the origin',
  );
  assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  // The session's cache was its own: nothing of it reached the host's ~/.npm, and a mount point
  // made for it is gone again.
  if (hasNpmCache) assert.deepEqual(readdirSync(join(f.home, '.npm')), [], "the host's ~/.npm is untouched");
  else assert.ok(!existsSync(join(f.home, '.npm')), 'the mount point made for the session is removed');
}

void test(
  'compat-03 npm install from a local registry inside the sandbox',
  { skip: needs('npm') },
  async (t) => {
    await npmInstall(t, true);
  },
);

void test(
  'compat-03 npm install inside the sandbox on a machine without ~/.npm',
  { skip: needs('npm') },
  async (t) => {
    // The cache is private (the policy says so): its mount point is made on the host for the
    // session, inside the read-only home, and removed after.
    await npmInstall(t, false);
  },
);

// -- Python (§5 case 6) ----------------------------------------------------------------------------

void test(
  'compat-06 pip install from a local index inside the sandbox',
  { skip: needs('pip') },
  async (t) => {
    const pypi = theOriginPart('pypi');
    const { f, s, origin } = await session(t, () =>
      [
        `${tools?.python ?? 'python3'} -m pip install --no-cache-dir --disable-pip-version-check --no-input`,
        `--retries 1 --timeout 20 --index-url ${shellQuote(pypi.indexUrl)} --target site`,
        `${pypi.name}==${pypi.version}`,
      ].join(' '),
    );
    assertClientSucceeded(s);
    assert.match(s.stdout, new RegExp(`Successfully installed ${pypi.name}-${pypi.version}`), show(s));
    assert.equal(readFileSync(join(f.workspace, 'site', pypi.module, '__init__.py'), 'utf8'), pypi.content);
    assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  },
);

void test('compat-06 python urllib over https inside the sandbox', { skip: needs('python') }, async (t) => {
  const { s, origin } = await session(
    t,
    (_, o) => `${tools?.python ?? 'python3'} -c ${shellQuote(URLLIB_SCRIPT)} ${https(o, o.web.path)}`,
  );
  assertClientSucceeded(s);
  assert.equal(s.stdout, origin.web.httpsText, show(s));
  assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
});

// -- Node (§5 case 4) ------------------------------------------------------------------------------

void test(
  'compat-04 node https.get through a CONNECT tunnel inside the sandbox',
  { skip: suiteSkip },
  async (t) => {
    const { s, origin } = await session(
      t,
      (_, o) => `node --input-type=module -e ${shellQuote(NODE_CONNECT_SCRIPT)} ${https(o, o.web.path)}`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpsText, show(s));
    assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  },
);

void test(
  'compat-04 node fetch with only the session environment inside the sandbox',
  {
    skip: suiteSkip,
  },
  async (t) => {
    const { s, origin } = await session(
      t,
      (_, o) => `node --input-type=module -e ${shellQuote(FETCH_SCRIPT)} ${https(o, o.web.path)}`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpsText, show(s));
    assertAllowedAndClosed(s, ORIGIN_IP, origin.httpsPort);
  },
);

const captured = originOrUndefined?.capturedHttps;

void test(
  'compat-04 node fetch with only the session environment reaches an allowed origin on port 443 through the transparent capture',
  { skip: suiteSkip || (captured !== undefined && 'skip' in captured ? captured.skip : false) },
  async (t) => {
    // No proxy involved on the client's side: the connection to 127.0.0.2:443 is captured inside
    // the namespace and handed to the proxy, which decides it like a CONNECT.
    const { s, origin } = await session(
      t,
      () => `node --input-type=module -e ${shellQuote(FETCH_SCRIPT)} https://${ORIGIN_IP}/hello.txt`,
    );
    assertClientSucceeded(s);
    assert.equal(s.stdout, origin.web.httpsText, show(s));
    assertAllowedAndClosed(s, ORIGIN_IP, 443);
  },
);

// -- local servers (§5 case 10) ------------------------------------------------------------------

void test(
  'compat-10 a server started inside the sandbox on 127.0.0.1 is reachable from inside',
  { skip: needs('python') || needs('curl') },
  async (t) => {
    const page = 'served inside the sandbox\n';
    const { s } = await session(
      t,
      () =>
        [
          `${tools?.python ?? 'python3'} -m http.server 8765 --bind 127.0.0.1 --directory served >server.log 2>&1 &`,
          // Ready when it answers (NO_PROXY names 127.0.0.1 and localhost: curl goes direct).
          'for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8765/ && break; sleep 0.05; done',
          'curl -sS --fail --max-time 20 http://127.0.0.1:8765/page.txt; echo "ip=$?"',
          'curl -sS --fail --max-time 20 http://localhost:8765/page.txt; echo "name=$?"',
          'kill %1',
        ].join('\n'),
      { prepare: (f) => put(f.workspace, 'served/page.txt', page) },
    );
    assertClientSucceeded(s);
    assert.ok(s.stdout.includes(`${page}ip=0`), show(s));
    assert.ok(s.stdout.includes(`${page}name=0`), show(s));
    assert.deepEqual(
      networkEvents(s, /:8765(\/|$)/),
      [],
      'the in-sandbox server was reached without the proxy (nothing to decide)',
    );
  },
);

/** A part of the origin that needs a tool (present when its case is not skipped). */
function theOriginPart<K extends 'git' | 'npm' | 'pypi'>(key: K): NonNullable<SandboxOrigin[K]> {
  const part = theOrigin()[key];
  assert.ok(part !== undefined, `the origin serves ${key}`);
  return part;
}
