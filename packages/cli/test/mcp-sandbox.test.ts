// The gateway's stdio servers each run in a sandbox of their own, and `perimeter run` serves the
// session's gateway to the agent. A probe server (packages/mcp/test/fixtures/probe-server.ts) is
// asked to do what a compromised server would: read the user's secrets, write the workspace,
// reach the network around its proxy and through it, read the user's environment. The real
// binary over stdio with the SDK's client, and a real session with the SDK's client inside it.
// Ids `mcp-threat-NN` are the threat rows of research/mcp-gateways.md §5.

import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import { createEgressProxy, createSessionCa, type SessionCa } from '@perimeter/egress';
import {
  Gateway,
  PinStore,
  boundValues,
  listenHttp,
  remoteServerPolicy,
  tunnelFetch,
  upstreamSpecs,
} from '@perimeter/mcp';
import { compilePolicy, createEngine, loadPolicies } from '@perimeter/policy';
import { REPO_ROOT, storeSecret, tempDir, writeFile } from './cli-harness.js';
import { BIN, SANDBOX_SKIP } from './sandbox-harness.js';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';

const PROBE = join(REPO_ROOT, 'packages/mcp/dist/test/fixtures/probe-server.js');
const MODERN = join(REPO_ROOT, 'packages/mcp/dist/test/fixtures/modern-only-server.js');
const TIMEOUT = 30_000;
const BOUND = { timeout: 3 * TIMEOUT, skip: SANDBOX_SKIP };
const NODE = JSON.stringify(process.execPath);
const SECRET = 'probe-secret-6f1e9a';
const require = createRequire(import.meta.url);
/** The entry point of an MCP server package installed in this checkout. */
const serverMain = (name: string): string =>
  join(dirname(require.resolve(`${name}/package.json`)), 'dist/index.js');
/** This checkout, as a policy's path pattern (quoted): servers and sessions read it. */
const CHECKOUT = JSON.stringify(`${REPO_ROOT.replace(/\/$/, '')}/**`);

interface Place {
  readonly dir: string;
  /** What the test started that writes here (its gateways): stopped before the place is removed. */
  readonly stops: (() => Promise<void>)[];
  readonly state: string;
  readonly home: string;
  readonly workspace: string;
  readonly audit: string;
}

function place(t: TestContext): Place {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-cli-test-'));
  const stops: (() => Promise<void>)[] = [];
  // One hook: a gateway still running would write into the place while it is being removed (the
  // removal then fails, and the gateway outlives the test and holds its process open).
  t.after(async () => {
    for (const stop of stops) await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const p = {
    dir,
    stops,
    state: join(dir, 'state'),
    home: join(dir, 'home'),
    workspace: join(dir, 'workspace'),
    audit: join(dir, 'audit.jsonl'),
  };
  for (const d of [p.state, join(p.home, '.ssh'), p.workspace]) mkdirSync(d, { recursive: true });
  writeFileSync(join(p.home, '.ssh/id_ed25519'), `${SECRET}\n`);
  writeFileSync(join(p.workspace, 'README.md'), 'the workspace\n');
  return p;
}

/** A place whose workspace is the home directory, with the state where XDG puts it by default (inside it). */
function placeInHome(t: TestContext): Place {
  const base = place(t);
  const p = { ...base, workspace: base.home, state: join(base.home, '.local/state') };
  mkdirSync(p.state, { recursive: true });
  return p;
}

/** The environment of `perimeter` for the test's place: its state directory and home. */
const envOf = (p: Place): NodeJS.ProcessEnv => ({
  ...process.env,
  XDG_STATE_HOME: p.state,
  HOME: p.home,
  NO_COLOR: '1',
});

/** A policy's start: the workspace read-write, the system and this checkout readable. */
function policyHead(name: string): string {
  return `apiVersion: perimeter/v1
kind: Policy
metadata: { name: ${name}, layer: org }
filesystem:
  default: deny
  allow:
    - { id: workspace, paths: ["\${workspace}/**"], access: rw }
    - { id: system, paths: [/usr/**, /bin/**, /lib/**, /lib64/**, /etc/**], access: read }
    - { id: perimeter, paths: [${CHECKOUT}], access: read }
`;
}

function policy(p: Place, sandbox = '', extra = ''): string {
  return writeFile(
    p.dir,
    'policy.yaml',
    `${policyHead('mcp-sandbox-test')}mcp:
  pinning: tofu
  servers:
    - id: probe
      command: [${NODE}, ${JSON.stringify(PROBE)}]
      env: { PROBE_GIVEN: from-the-catalog }
      sandbox: { read: [${CHECKOUT}]${sandbox} }
  allow:
    - { id: probe, server: probe }
${extra}`,
  );
}

/** `perimeter mcp` for the test's place: node's arguments. */
function gatewayArgs(p: Place, policyFile: string): string[] {
  return [
    BIN,
    'mcp',
    '--policy',
    policyFile,
    '--audit',
    p.audit,
    '--workspace',
    p.workspace,
    '--home',
    p.home,
  ];
}

/** `perimeter mcp` over stdio for the test's place, with the SDK's client in front. */
async function connectGateway(
  p: Place,
  policyFile: string,
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: gatewayArgs(p, policyFile),
    env: { ...getDefaultEnvironment(), XDG_STATE_HOME: p.state, NO_COLOR: '1', PROBE_SECRET: SECRET },
    cwd: p.workspace,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: 'mcp-sandbox-test', version: '1.0.0' });
  await client.connect(transport, { timeout: TIMEOUT });
  p.stops.push(() => client.close());
  return { client, stderr: () => stderr };
}

/** The probe server behind the gateway: each call answers what one action came to. */
async function gateway(
  p: Place,
  policyFile: string,
): Promise<(action: string, target: string) => Promise<string>> {
  const { client, stderr } = await connectGateway(p, policyFile);
  return async (action, target) => {
    const r = await client.callTool({ name: 'probe__probe', arguments: { action, target } }, undefined, {
      timeout: TIMEOUT,
    });
    const first = (r.content as { type: string; text?: string }[])[0];
    assert.equal(first?.type, 'text', `a text result; stderr: ${stderr()}`);
    return first?.text ?? '';
  };
}

interface Event {
  type: string;
  decision?: string;
  request?: { surface: string; resource: string };
  outcome?: Record<string, string | number | boolean>;
}

function events(p: Place): Event[] {
  const r = spawnSync(process.execPath, [BIN, 'audit', 'verify', p.audit], { encoding: 'utf8' });
  assert.equal(r.status, 0, `the spool verifies: ${r.stdout}${r.stderr}`);
  return readFileSync(p.audit, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);
}

/** A TCP listener on host loopback, counting connections: what a server must not reach directly. */
async function listener(t: TestContext): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  const s: TcpServer = createServer((c) => {
    n++;
    c.destroy();
  });
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', () => ok()));
  t.after(() => s.close());
  const address = s.address();
  return { port: typeof address === 'object' && address ? address.port : 0, connections: () => n };
}

void describe('stdio MCP servers run in a sandbox of their own', () => {
  void it(
    "mcp-threat-08: a server cannot read the user's secrets, its environment or write the workspace (read-only by default)",
    BOUND,
    async (t) => {
      const p = place(t);
      const probe = await gateway(p, policy(p));
      assert.equal(await probe('read', join(p.workspace, 'README.md')), 'read:the workspace');
      assert.equal(
        await probe('read', join(p.home, '.ssh/id_ed25519')),
        'ENOENT',
        'the home directory is not there',
      );
      assert.equal(await probe('read', join(p.state, 'mcp-pins.json')), 'ENOENT', 'nor the pin store');
      assert.equal(await probe('write', join(p.workspace, 'README.md')), 'EROFS');
      assert.equal(await probe('env', 'PROBE_SECRET'), '(unset)', "the gateway's environment stays outside");
      assert.equal(await probe('env', 'PROBE_GIVEN'), 'from-the-catalog', "the catalog entry's env is given");
      assert.equal(readFileSync(join(p.workspace, 'README.md'), 'utf8'), 'the workspace\n');
      const spawn = events(p).find((e) => e.type === 'mcp.server.spawn');
      assert.equal(spawn?.outcome?.isolation, 'sandbox');
    },
  );

  void it(
    'an entry whose env sets a variable the sandbox sets itself (HOME) stops the gateway with a sentence about its env, not about a credential',
    BOUND,
    async (t) => {
      const p = place(t);
      const file = writeFile(
        p.dir,
        'home.yaml',
        readFileSync(policy(p), 'utf8').replace(
          'env: { PROBE_GIVEN: from-the-catalog }',
          'env: { PROBE_GIVEN: from-the-catalog, HOME: /tmp/elsewhere }',
        ),
      );
      const child = spawn(process.execPath, gatewayArgs(p, file), { cwd: p.workspace, env: envOf(p) });
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | string>((done) =>
        child.once('close', (code, signal) => done(code ?? signal ?? 'unknown')),
      );
      for (const message of [
        {
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 't', version: '1' },
          },
        },
        { method: 'notifications/initialized' },
        { id: 2, method: 'tools/list' },
      ])
        child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
      assert.equal(await exited, 125, stderr);
      assert.equal(
        stderr.split('\n')[0],
        'perimeter: the MCP server probe cannot be sandboxed: env sets HOME, which the sandbox sets itself (remove HOME from env)',
      );
      assert.doesNotMatch(stderr, /credential/);
    },
  );

  void it(
    'a server that speaks only MCP 2026-07-28, marked protocol: 2026-07-28, is listed and called from inside its sandbox',
    BOUND,
    async (t) => {
      const p = place(t);
      const file = writeFile(
        p.dir,
        'modern.yaml',
        readFileSync(policy(p), 'utf8')
          .replace(
            '\n  servers:\n',
            `\n  servers:\n    - { id: modern, command: [${NODE}, ${JSON.stringify(MODERN)}], protocol: "2026-07-28", sandbox: { read: [${CHECKOUT}] } }\n`,
          )
          .replace(
            '    - { id: probe, server: probe }',
            '    - { id: probe, server: probe }\n    - { id: modern, server: modern }',
          ),
      );
      const { client } = await connectGateway(p, file);
      const names = (await client.listTools()).tools.map((tool) => tool.name).sort();
      assert.deepEqual(names, ['modern__echo', 'modern__grow', 'probe__probe']);
      const r = await client.callTool({ name: 'modern__echo', arguments: { text: 'from inside' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'from inside' }]);
      await client.close();
      const spawned = events(p).filter(
        (e) => e.type === 'mcp.server.spawn' && e.outcome?.isolation === 'sandbox',
      );
      assert.equal(spawned.length, 2, 'both servers run in a sandbox of their own');
    },
  );

  void it(
    'a private home that persists between runs, and workspace: rw when the entry says so',
    BOUND,
    async (t) => {
      const p = place(t);
      const file = policy(p, ', workspace: rw');
      const first = await gateway(p, file);
      const home = await first('env', 'HOME');
      assert.equal(home, join(p.state, 'perimeter/mcp-servers/probe'));
      assert.equal(await first('write', join(home, 'cache')), 'written');
      assert.equal(await first('write', join(p.workspace, 'notes.txt')), 'written');
      assert.equal(readFileSync(join(p.workspace, 'notes.txt'), 'utf8'), 'probe\n');
      // Running beside the first, it writes a spool of its own (one writer per spool).
      const second = await gateway({ ...p, audit: join(p.dir, 'audit-2.jsonl') }, file);
      assert.equal(await second('read', join(home, 'cache')), 'read:probe', 'the cache survived');
      // .git is masked as an empty read-only directory: nothing to write into. The first gateway's
      // placeholder there is known as one, never read as a directory of the user's (in which
      // .git/hooks would be made on the host and masked: EROFS).
      assert.equal(
        await second('write', join(p.workspace, '.git/hooks/pre-commit')),
        'ENOENT',
        'trust-handoff paths stay read-only',
      );
      assert.equal(existsSync(join(p.workspace, '.git/hooks')), false, 'nothing written on the host');
    },
  );

  void it(
    'examples/mcp.yaml as the README shows it, its servers run from this checkout (not npx): the allowed tools are listed, a write in src/ runs, one elsewhere fails as an unknown tool does',
    BOUND,
    async (t) => {
      const p = place(t);
      const example = readFileSync(join(REPO_ROOT, 'examples/mcp.yaml'), 'utf8');
      const modules = JSON.stringify(`${REPO_ROOT.replace(/\/$/, '')}/node_modules/**`);
      // The commands and the registry are the only changes: each server's sandbox (workspace: rw
      // for filesystem, none for everything) and every rule are the example's own.
      const local = example
        .replace(
          /command: \[npx, -y, "@modelcontextprotocol\/server-filesystem@[^"]+", "\$\{workspace\}"\]/,
          `command: [${NODE}, ${JSON.stringify(serverMain('@modelcontextprotocol/server-filesystem'))}, "\${workspace}"]`,
        )
        .replace(
          /command: \[npx, -y, "@modelcontextprotocol\/server-everything@[^"]+", stdio\]/,
          `command: [${NODE}, ${JSON.stringify(serverMain('@modelcontextprotocol/server-everything'))}, stdio]`,
        )
        .replaceAll('network: [registry.npmjs.org]', `read: [${modules}]`);
      const code = local.split('\n').filter((l) => !l.trimStart().startsWith('#'));
      assert.deepEqual(
        code.filter((l) => /npx|registry/.test(l)),
        [],
        'both servers run from this checkout',
      );
      mkdirSync(join(p.workspace, 'src'));
      const { client, stderr } = await connectGateway(p, writeFile(p.dir, 'mcp.yaml', local));
      const names = (await client.listTools(undefined, { timeout: TIMEOUT })).tools.map((x) => x.name);
      for (const name of ['filesystem__read_text_file', 'filesystem__write_file', 'everything__echo'])
        assert.ok(names.includes(name), `${name} is listed; stderr: ${stderr()}`);
      assert.ok(!names.includes('filesystem__move_file'), 'moves are denied');
      const call = (name: string, args: Record<string, unknown>) =>
        client.callTool({ name, arguments: args }, undefined, { timeout: TIMEOUT });
      const wrote = await call('filesystem__write_file', {
        path: join(p.workspace, 'src/a.ts'),
        content: 'ok',
      });
      assert.notEqual(wrote.isError, true, JSON.stringify(wrote));
      assert.equal(readFileSync(join(p.workspace, 'src/a.ts'), 'utf8'), 'ok');
      const failure = async (name: string, args: Record<string, unknown>): Promise<string> => {
        const e: unknown = await call(name, args).then(
          () => assert.fail(`${name} ran`),
          (x: unknown) => x,
        );
        assert.ok(e instanceof McpError, String(e));
        return `${e.code} ${e.message.split(name).join('NAME')}`;
      };
      assert.equal(
        await failure('filesystem__write_file', { path: join(p.workspace, 'package.json'), content: 'x' }),
        await failure('nothing__here', {}),
      );
      assert.equal(readdirSync(p.workspace).includes('package.json'), false);
      const echo = await call('everything__echo', { message: 'hi' });
      assert.match(JSON.stringify(echo.content), /Echo: hi/);
    },
  );

  void it(
    "a workspace that holds Perimeter's state (the home directory, as a desktop client starts it): the server starts and sees only its own home there",
    BOUND,
    async (t) => {
      const p = placeInHome(t);
      const probe = await gateway(p, policy(p, ', workspace: rw'));
      const ours = join(p.state, 'perimeter');
      const home = await probe('env', 'HOME');
      assert.equal(home, join(ours, 'mcp-servers/probe'));
      assert.equal(await probe('write', join(home, 'cache')), 'written', 'its own home is writable');
      assert.equal(await probe('read', join(home, 'cache')), 'read:probe');
      assert.equal(await probe('write', join(p.workspace, 'notes.txt')), 'written', 'the workspace is too');
      // The rest of Perimeter's state is not there, and nothing can be put there.
      assert.ok(readFileSync(join(ours, 'mcp-pins.json'), 'utf8').length > 0, 'the pin store is on the host');
      assert.equal(await probe('read', join(ours, 'mcp-pins.json')), 'ENOENT', 'the pin store is not there');
      assert.equal(await probe('write', join(ours, 'mcp-pins.json')), 'EROFS');
      assert.equal(
        await probe('write', join(ours, 'mcp-servers/other')),
        'EROFS',
        "nor another server's home",
      );
      assert.equal(
        await probe('read', join(p.home, '.ssh/id_ed25519')),
        `read:${SECRET}`,
        'the workspace is the home',
      );
      const spawn = events(p).find((e) => e.type === 'mcp.server.spawn');
      assert.equal(spawn?.outcome?.isolation, 'sandbox');
    },
  );

  void it(
    "workspace: none (as examples/mcp.yaml gives server-everything): the server starts in its home and sees neither the workspace nor the user's home, also when the workspace holds Perimeter's state (a desktop client starts the gateway in ~)",
    BOUND,
    async (t) => {
      for (const p of [place(t), placeInHome(t)]) {
        const probe = await gateway(p, policy(p, ', workspace: none'));
        const home = join(p.state, 'perimeter/mcp-servers/probe');
        assert.equal(await probe('cwd', ''), home);
        assert.equal(await probe('write', join(home, 'cache')), 'written', 'its home is writable');
        assert.equal(
          await probe('read', join(p.workspace, 'README.md')),
          'ENOENT',
          'the workspace is not there',
        );
        assert.equal(await probe('read', join(p.home, '.ssh/id_ed25519')), 'ENOENT', "nor the user's home");
      }
    },
  );

  void it(
    'mcp-threat-09: no network but its own proxy, which denies what the entry does not name and audits it',
    BOUND,
    async (t) => {
      const p = place(t);
      const host = await listener(t);
      const probe = await gateway(p, policy(p));
      assert.match(await probe('connect', `127.0.0.1 ${host.port}`), /^(ECONNREFUSED|ENETUNREACH)$/);
      // The namespace has no route out; only ports 80 and 443 are captured, and sent to the proxy.
      assert.match(await probe('connect', '10.255.255.1 81'), /^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH)$/);
      await probe('connect', '10.255.255.1 80');
      assert.equal(await probe('fetch', 'http://exfil.example/steal'), '403');
      assert.equal(host.connections(), 0, 'the host listener was never reached');
      const denied = events(p).filter((e) => e.request?.surface === 'network' && e.decision === 'deny');
      assert.ok(
        denied.some(
          (e) => e.request?.resource.startsWith('exfil.example:80') && e.outcome?.mcp_server === 'probe',
        ),
        `the denial is audited and names the server: ${JSON.stringify(denied)}`,
      );
      assert.ok(
        denied.some((e) => e.request?.resource === '10.255.255.1:80' && e.outcome?.mcp_server === 'probe'),
        `the captured direct connection is decided by the proxy: ${JSON.stringify(denied)}`,
      );
    },
  );
});

/** The host's processes whose command line holds `text` (those this user may read). */
function commandLinesHolding(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const line = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (line.includes(text)) out.push(`${pid}: ${line.split('\0').join(' ')}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A probe server named `id` with the credential `credential`, as a catalog entry. */
const probeEntry = (id: string, credential: string): string =>
  `    - id: ${id}
      command: [${NODE}, ${JSON.stringify(PROBE)}]
      env: { PROBE_GIVEN: from-the-catalog }
      credential: ${credential}
      sandbox: { read: [${CHECKOUT}] }`;

function credentialPolicy(p: Place): string {
  return writeFile(
    p.dir,
    'credential.yaml',
    `${policyHead('mcp-credential-test')}credentials:
  - { id: probe-token, secret: probe-secret, env: PROBE_TOKEN }
  - { id: gone-token, secret: never-stored, env: GONE_TOKEN }
mcp:
  pinning: tofu
  servers:
${probeEntry('probe', 'probe-token')}
${probeEntry('absent', 'gone-token')}
  allow:
    - { id: all, server: "*" }
`,
  );
}

const CREDENTIAL = 'probe-credential-1e6b93d70c4a5f28';

void describe("a stdio server's credential, from the secret store into its sandbox", () => {
  void it(
    'the server finds the value in the variable its binding names, in no command line, audit event or answer; a server whose secret is missing is unavailable, and the other serves',
    BOUND,
    async (t) => {
      const p = place(t);
      storeSecret(envOf(p), 'probe-secret', CREDENTIAL);
      const { client, stderr } = await connectGateway(p, credentialPolicy(p));
      const call = async (action: string, target: string): Promise<string> => {
        const r = await client.callTool({ name: 'probe__probe', arguments: { action, target } }, undefined, {
          timeout: TIMEOUT,
        });
        return (r.content as { text: string }[])[0]?.text ?? '';
      };
      assert.deepEqual(
        (await client.listTools(undefined, { timeout: TIMEOUT })).tools.map((x) => x.name),
        ['probe__probe'],
      );
      assert.equal(await call('env-sha256', 'PROBE_TOKEN'), sha256(CREDENTIAL));
      assert.equal(await call('env', 'PROBE_GIVEN'), 'from-the-catalog', "the entry's env is given too");
      assert.equal(await call('env', 'GONE_TOKEN'), '(unset)', "another server's credential is not");
      // mcp-threat-05: the server's own credential, echoed back, never reaches the agent.
      assert.match(
        await call('env', 'PROBE_TOKEN'),
        /Perimeter withheld this result: it carried the real value of credential "probe-token"/,
      );
      assert.deepEqual(commandLinesHolding(CREDENTIAL), [], 'the value is on no command line of the host');
      assert.match(
        stderr(),
        /perimeter mcp: absent is unavailable: the secret never-stored of its credential "gone-token" is not in the secret store \(add it with: perimeter secret set never-stored\)/,
      );
      await client.close();

      const all = events(p);
      const use = all.filter((e) => e.type === 'credential.use');
      assert.deepEqual(
        use.map((e) => [e.decision, e.outcome?.mcp_server, e.outcome?.credential, e.outcome?.locations]),
        [['allow', 'probe', 'probe-token', 'env:PROBE_TOKEN']],
      );
      const down = all.filter((e) => e.type === 'mcp.server.unavailable');
      assert.deepEqual(
        down.map((e) => [e.outcome?.server, e.outcome?.credential]),
        [['absent', 'gone-token']],
      );
      assert.ok(
        all.some((e) => e.type === 'mcp.server.spawn' && e.outcome?.isolation === 'sandbox'),
        'the server ran in its sandbox',
      );
      assert.ok(!readFileSync(p.audit, 'utf8').includes(CREDENTIAL), 'no value reaches the spool');
    },
  );
});

void describe('remote servers are reached through the egress proxy', () => {
  void it(
    'mcp-threat-09: a catalog URL that points at the metadata service is refused by the guard and audited',
    BOUND,
    async (t) => {
      const p = place(t);
      const file = writeFile(
        p.dir,
        'remote.yaml',
        `apiVersion: perimeter/v1
kind: Policy
metadata: { name: mcp-remote-test, layer: org }
mcp:
  servers:
    - { id: metadata, url: "https://169.254.169.254/mcp" }
  allow:
    - { id: all, server: "*" }
`,
      );
      const { client, stderr } = await connectGateway(p, file);
      assert.deepEqual((await client.listTools(undefined, { timeout: TIMEOUT })).tools, []);
      assert.match(stderr(), /metadata is unavailable .*egress proxy refused 169\.254\.169\.254:443/);
      await client.close();
      const denied = events(p).filter((e) => e.request?.surface === 'network');
      assert.ok(denied.length > 0, 'the attempt is audited');
      for (const e of denied) {
        assert.equal(e.decision, 'deny');
        assert.equal(e.outcome?.mcp_server, 'metadata');
      }
    },
  );
});

/**
 * A remote MCP server over https (the SDK's own Streamable HTTP server transport on node:https, a
 * certificate from a CA made here) on 127.0.0.1: it remembers the headers of every request, and
 * its tool `whoami` answers with the Authorization it was sent.
 */
async function httpsUpstream(
  t: TestContext,
  ca: SessionCa,
): Promise<{ port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createHttpsServer(
    { SNICallback: (name, done) => done(null, ca.contextFor(name)) },
    (req, res) => {
      seen.push(req.headers);
      if (req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      const mcp = new Server({ name: 'remote-https', version: '1.0.0' }, { capabilities: { tools: {} } });
      mcp.setRequestHandler(ListToolsRequestSchema, () => ({
        tools: [
          { name: 'ping', description: 'Answers pong.', inputSchema: { type: 'object', properties: {} } },
          {
            name: 'whoami',
            description: 'Says which Authorization header reached this server.',
            inputSchema: { type: 'object', properties: {} },
          },
        ],
      }));
      mcp.setRequestHandler(CallToolRequestSchema, (call) => ({
        content: [
          {
            type: 'text',
            text:
              call.params.name === 'ping' ? 'pong' : `authorization: ${req.headers.authorization ?? 'none'}`,
          },
        ],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      mcp
        .connect(transport)
        .then(() => transport.handleRequest(req, res))
        .catch(() => res.destroy());
    },
  );
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  t.after(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  return { port: (server.address() as AddressInfo).port, seen };
}

void describe('a remote https server through the egress tunnel, with its credential', () => {
  void it(
    "mcp-threat-07: the bound credential's header reaches the upstream on every request, the client's token never does, and the value never reaches the client",
    { timeout: 2 * TIMEOUT },
    async (t) => {
      const dir = tempDir(t);
      const value = 'remote-credential-5c0e97d4b1a2f836';
      const clientToken = 'gateway-token-2b7d0c9e4f1a8356e0d2';
      const ca = createSessionCa({ commonName: 'Perimeter test remote MCP root' });
      const upstream = await httpsUpstream(t, ca);
      const url = `https://localhost:${upstream.port}/mcp`;
      const loaded = loadPolicies([
        {
          file: 'remote.yaml',
          text: `apiVersion: perimeter/v1
kind: Policy
metadata: { name: mcp-remote-credential-test, layer: org }
credentials:
  - { id: remote-token, secret: remote-secret, env: REMOTE_TOKEN }
mcp:
  pinning: tofu
  servers:
    - { id: remote, url: "${url}", credential: remote-token }
  allow:
    - { id: remote-all, server: remote }
`,
        },
      ]);
      assert.deepEqual(
        loaded.diagnostics.filter((d) => d.severity === 'error'),
        [],
      );
      const context = { home: dir, workspace: dir };
      const engine = createEngine(
        loaded.policies.map((l) => l.policy),
        { context },
      );
      const events: AuditRecord[] = [];
      const audit = (r: AuditRecord): void => void events.push(r);
      // One read of the store, as perimeter mcp makes it: the server's header and the scan's values.
      const secrets = new Map([['remote-secret', value]]);
      const [spec] = upstreamSpecs(engine.mcpServers(), { workspace: dir, engine, secrets });
      const [entry] = engine.mcpServers();
      assert.ok(spec?.transport.kind === 'http' && entry);

      // The server's own egress proxy, as mcp-sandbox.ts makes it: its URL's host and port only.
      const { policy } = compilePolicy(remoteServerPolicy(entry.server));
      const over = new AbortController();
      const proxyToken = 'proxy-token-9e1c4b7a0d2f5836';
      const proxy = createEgressProxy({
        engine: createEngine([policy], { context }),
        sessionId: 'remote-https',
        token: proxyToken,
        signal: over.signal,
        audit: (r) => audit({ ...r, outcome: { ...(r.outcome ?? {}), mcp_server: 'remote' } }),
        // localhost is this machine's loopback, whatever the resolver's order of families.
        resolver: () => Promise.resolve(['127.0.0.1']),
      });
      const socket = join(dir, 'http.sock');
      await new Promise<void>((ok) => proxy.listen(socket, () => ok()));
      t.after(() => {
        over.abort();
        return new Promise<void>((done) => proxy.close(() => done()));
      });
      // The test's CA is trusted by this tunnel alone: nothing else in the process trusts it.
      const fetch = tunnelFetch(() => connect(socket), proxyToken, { ca: ca.certPem });
      const gateway = new Gateway({
        engine,
        servers: [{ ...spec, transport: { ...spec.transport, fetch } }],
        pins: new PinStore(join(dir, 'pins.json')),
        audit,
        context: { sessionId: 'remote-https' },
        credentials: boundValues(engine, secrets),
      });
      const served = await listenHttp(gateway, { host: '127.0.0.1', port: 0, token: clientToken });
      t.after(async () => {
        await served.close();
        await gateway.close();
      });

      const transport = new StreamableHTTPClientTransport(new URL(served.url), {
        requestInit: { headers: { Authorization: `Bearer ${clientToken}` } },
      });
      const client = new Client({ name: 'remote-credential-test', version: '1.0.0' });
      await client.connect(transport, { timeout: TIMEOUT });
      // Everything the client is told, from here on.
      const told: string[] = [];
      const deliver = transport.onmessage;
      transport.onmessage = (message) => {
        told.push(JSON.stringify(message));
        deliver?.(message);
      };
      try {
        assert.deepEqual(
          (await client.listTools(undefined, { timeout: TIMEOUT })).tools.map((x) => x.name).sort(),
          ['remote__ping', 'remote__whoami'],
        );
        const pong = await client.callTool({ name: 'remote__ping', arguments: {} }, undefined, {
          timeout: TIMEOUT,
        });
        assert.deepEqual(pong.content, [{ type: 'text', text: 'pong' }]);
        // The upstream echoes the credential it received: the result is withheld (mcp-threat-05).
        const whoami = await client.callTool({ name: 'remote__whoami', arguments: {} }, undefined, {
          timeout: TIMEOUT,
        });
        assert.match(
          JSON.stringify(whoami.content),
          /Perimeter withheld this result: it carried the real value of credential \\"remote-token\\"/,
        );
      } finally {
        await client.close();
      }

      assert.ok(
        upstream.seen.length >= 3,
        `initialize, list and calls reached the upstream: ${upstream.seen.length}`,
      );
      for (const headers of upstream.seen) {
        assert.equal(headers.authorization, `Bearer ${value}`, "the binding's header, on every request");
        assert.ok(!JSON.stringify(headers).includes(clientToken), "the client's token never");
      }
      assert.ok(told.length > 0);
      assert.ok(!told.some((m) => m.includes(value)), 'the client is never told the value');

      const use = events.filter((e) => e.type === 'credential.use');
      assert.equal(use.length, 1, 'one use: the one connection');
      assert.equal(use[0]?.decision, 'allow');
      assert.equal(use[0]?.request?.resource, `remote-secret → localhost:${upstream.port}`);
      assert.deepEqual(use[0]?.outcome, {
        credential: 'remote-token',
        mcp_server: 'remote',
        locations: 'header:authorization',
      });
      assert.ok(
        events.some(
          (e) =>
            e.request?.surface === 'network' &&
            e.decision === 'allow' &&
            e.request.resource === `localhost:${upstream.port}` &&
            e.outcome?.mcp_server === 'remote',
        ),
        `the tunnel was decided by the egress proxy: ${JSON.stringify(events.filter((e) => e.request?.surface === 'network'))}`,
      );
      assert.ok(!JSON.stringify(events).includes(value), 'no audit event holds the value');

      // Trusted for that connection only: the same tunnel without the CA, and the process's own
      // fetch, both refuse the certificate.
      const untrusted = tunnelFetch(() => connect(socket), proxyToken);
      await assert.rejects(untrusted(url, { method: 'POST', body: '{}' }), /certificate/i);
      await assert.rejects(globalThis.fetch(url, { method: 'POST', body: '{}' }), (e: Error) =>
        /certificate/i.test(String((e.cause as Error | undefined)?.message ?? e.message)),
      );
    },
  );
});

/** The agent's connected(): a client of the session's gateway, with the session's token. */
const AGENT_CONNECTS = `const connected = async () => {
  const c = new Client({ name: 'agent', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(process.env.PERIMETER_MCP_URL), { requestInit: { headers: { Authorization: 'Bearer ' + process.env.PERIMETER_MCP_TOKEN } } }));
  return c;
};
`;

/**
 * `perimeter run --policy FILE -- node agent.mjs` in the test's place: the agent is `body`, after
 * imports of the MCP SDK's Client and StreamableHTTPClientTransport and AGENT_CONNECTS, written to
 * the workspace.
 */
function runAgent(p: Place, policyFile: string, body: string): SpawnSyncReturns<string> {
  const script = join(p.workspace, 'agent.mjs');
  const sdk = (module: string): string =>
    JSON.stringify(join(REPO_ROOT, 'node_modules/@modelcontextprotocol/sdk/dist/esm/client', module));
  writeFileSync(
    script,
    `import { Client } from ${sdk('index.js')};\nimport { StreamableHTTPClientTransport } from ${sdk('streamableHttp.js')};\n${AGENT_CONNECTS}${body}`,
  );
  return spawnSync(
    process.execPath,
    [BIN, 'run', '--policy', policyFile, '--audit', p.audit, '--', process.execPath, script],
    { cwd: p.workspace, encoding: 'utf8', timeout: TIMEOUT, env: envOf(p) },
  );
}

void describe('perimeter run serves the session its MCP gateway', () => {
  void it(
    "the agent reaches it with the session token, not without, and cannot see the servers' homes",
    BOUND,
    (t) => {
      const p = place(t);
      const r = runAgent(
        p,
        policy(p),
        `import { readFileSync, readdirSync } from 'node:fs';
const url = new URL(process.env.PERIMETER_MCP_URL);
const config = JSON.parse(readFileSync(process.env.PERIMETER_MCP_CONFIG, 'utf8')).mcpServers.perimeter;
console.log('config', config.url === url.href, config.headers.Authorization === 'Bearer ' + process.env.PERIMETER_MCP_TOKEN);
const bare = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
console.log('without token', bare.status);
const c = await connected();
console.log('tools', (await c.listTools()).tools.map((x) => x.name).join(','));
const r = await c.callTool({ name: 'probe__probe', arguments: { action: 'env', target: 'HOME' } });
console.log('server home', r.content[0].text);
try { readdirSync(r.content[0].text); console.log('agent sees it'); } catch (e) { console.log('agent sees it', e.code); }
await c.close();
`,
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^config true true$/m);
      assert.match(r.stdout, /^without token 401$/m);
      assert.match(r.stdout, /^tools probe__probe$/m);
      assert.match(r.stdout, /^agent sees it ENOENT$/m, 'the state directory is hidden from the agent');
      const types = events(p).map((e) => e.type);
      for (const type of [
        'session.start',
        'mcp.server.spawn',
        'mcp.list',
        'mcp.call',
        'mcp.result',
        'session.end',
      ])
        assert.ok(types.includes(type), `${type} in ${types.join(',')}`);
      assert.ok(types.indexOf('mcp.result') < types.indexOf('session.end'));
    },
  );
  void it(
    'a tunnel a server still holds when the session ends (to an address and port its catalog entry names, ADDR:PORT) is closed, and its network.closed is in the spool before session.end (no event arrives after it)',
    BOUND,
    async (t) => {
      const p = place(t);
      // The target listens on a port of its own at an address of its own in 127.0.0.0/8, which
      // the catalog entry names with that port (`ADDR:PORT`). Connections wait in the backlog
      // while the session runs (the test's loop is blocked): the proxy's connect succeeds all the same.
      const address = `127.${1 + (process.pid % 250)}.${1 + randomInt(250)}.1`;
      const target = createServer(() => undefined);
      await new Promise<void>((ok) => target.listen(0, address, ok));
      const port = (target.address() as AddressInfo).port;
      t.after(() => target.close());
      const r = runAgent(
        p,
        policy(p, `, network: ["${address}:${port}"]`),
        `const c = await connected();
const r = await c.callTool({ name: 'probe__probe', arguments: { action: 'hold', target: '${address} ${port}' } });
console.log('hold', r.content[0].text);
await c.close();
`,
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      const all = events(p);
      const network = all.filter((e) => e.request?.surface === 'network');
      assert.match(r.stdout, /^hold 200$/m, JSON.stringify(network));
      assert.doesNotMatch(r.stderr, /arrived after the session ended/);
      const closed = all.findIndex((e) => e.type === 'network.closed' && e.outcome?.mcp_server === 'probe');
      assert.ok(closed >= 0, `network.closed in ${all.map((e) => e.type).join(',')}`);
      assert.ok(closed < all.findIndex((e) => e.type === 'session.end'));
    },
  );
  void it(
    'under pinning: approve the agent lists nothing new, and the person is told at the end what is held, once per definition however often the agent listed',
    BOUND,
    (t) => {
      const p = place(t);
      const file = policy(p);
      writeFileSync(file, readFileSync(file, 'utf8').replace('pinning: tofu', 'pinning: approve'));
      const r = runAgent(
        p,
        file,
        `const c = await connected();
for (let i = 0; i < 2; i++) console.log('tools', (await c.listTools()).tools.length);
await c.close();
`,
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^tools 0\ntools 0$/m);
      const held = events(p).filter((e) => e.type === 'mcp.tool-held');
      assert.ok(held.length >= 1, 'the hold is in the audit');
      assert.equal(
        r.stderr.match(/hidden until approved/g)?.length,
        1,
        `one line, after the session: ${r.stderr}`,
      );
      assert.match(
        r.stderr,
        /^perimeter: the MCP gateway: 1 definition is hidden until approved \(new, changed or quarantined\); review them with "perimeter mcp pins list"$/m,
      );
    },
  );
  void it(
    "the session's servers get their credentials from the values perimeter run read; the agent holds only the placeholder",
    BOUND,
    (t) => {
      const p = place(t);
      storeSecret(envOf(p), 'probe-secret', CREDENTIAL);
      const r = runAgent(
        p,
        credentialPolicy(p),
        `const c = await connected();
console.log('tools', (await c.listTools()).tools.map((x) => x.name).join(','));
const r = await c.callTool({ name: 'probe__probe', arguments: { action: 'env-sha256', target: 'PROBE_TOKEN' } });
console.log('server holds', r.content[0].text);
console.log('agent holds', (process.env.PROBE_TOKEN ?? '').slice(0, 8));
await c.close();
`,
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^tools probe__probe$/m);
      assert.match(r.stdout, new RegExp(`^server holds ${sha256(CREDENTIAL)}$`, 'm'));
      assert.match(r.stdout, /^agent holds pmtr_ph_$/m, 'the agent has the placeholder, not the value');
      assert.match(
        r.stderr,
        /perimeter: the MCP server absent is unavailable: the secret never-stored of its credential "gone-token" is not in the secret store/,
      );
      assert.ok(!`${r.stdout}${r.stderr}`.includes(CREDENTIAL));
      const use = events(p).filter((e) => e.type === 'credential.use' && e.outcome?.mcp_server === 'probe');
      assert.equal(use.length, 1);
      assert.equal(use[0]?.outcome?.locations, 'env:PROBE_TOKEN');
      assert.ok(!readFileSync(p.audit, 'utf8').includes(CREDENTIAL), 'no value reaches the spool');
    },
  );
});

/**
 * The real filesystem server with the workspace writable, every tool allowed on workspace paths
 * and moves within it: what the agent can do to the workspace through it.
 */
function filesystemPolicy(p: Place): string {
  return writeFile(
    p.dir,
    'filesystem.yaml',
    `${policyHead('mcp-sandbox-filesystem')}mcp:
  pinning: tofu
  servers:
    - id: filesystem
      command: [${NODE}, ${JSON.stringify(serverMain('@modelcontextprotocol/server-filesystem'))}, "\${workspace}"]
      sandbox: { workspace: rw, read: [${CHECKOUT}] }
  allow:
    - { id: files, server: filesystem, tools: ["*"], args: { path: { glob: "\${workspace}/**" } } }
    - { id: moves, server: filesystem, tools: [move_file], args: { source: { glob: "\${workspace}/**" }, destination: { glob: "\${workspace}/**" } } }
`,
  );
}

/** A place whose spool --audit puts in the workspace, in a directory of its own (logs/). */
function placeSpoolInWorkspace(t: TestContext): Place & { readonly logs: string } {
  const base = place(t);
  const logs = join(base.workspace, 'logs');
  mkdirSync(logs);
  return { ...base, logs, audit: join(logs, 'audit.jsonl') };
}

/**
 * What a filesystem tool's result came to: `ok`, or the error code its text names. The agent's
 * script of the run test has it too (its source, from the built test).
 */
function fsOutcome(r: unknown): string {
  const result = r as { isError?: boolean; content: { text?: string }[] };
  return result.isError === true ? (/\bE[A-Z]+\b/.exec(result.content[0]?.text ?? '') ?? ['error'])[0] : 'ok';
}

void describe('redteam-37-1: no sandbox of the session can read or replace its audit spool, wherever --audit puts it', () => {
  void it(
    'perimeter mcp: the filesystem server, the workspace writable, cannot read, replace, rename or remove the spool or its lock there, nor rename the directory that holds them',
    BOUND,
    async (t) => {
      const p = placeSpoolInWorkspace(t);
      const lock = `${p.audit}.lock`;
      const { client, stderr } = await connectGateway(p, filesystemPolicy(p));
      const call = async (name: string, args: Record<string, unknown>): Promise<string> =>
        fsOutcome(
          await client.callTool({ name: `filesystem__${name}`, arguments: args }, undefined, {
            timeout: TIMEOUT,
          }),
        );
      assert.equal(
        await call('write_file', { path: join(p.workspace, 'notes.txt'), content: 'x' }),
        'ok',
        stderr(),
      );
      // What the red team's agent did: read the chain, move the spool aside, write a forged one.
      assert.equal(
        await call('read_text_file', { path: p.audit }),
        'EACCES',
        'the spool is not there to read',
      );
      assert.equal(await call('read_text_file', { path: lock }), 'EACCES', 'nor its lock');
      assert.equal(await call('move_file', { source: p.audit, destination: join(p.logs, 'aside') }), 'EBUSY');
      assert.equal(
        await call('move_file', { source: lock, destination: join(p.logs, 'aside.lock') }),
        'EBUSY',
      );
      assert.equal(await call('write_file', { path: p.audit, content: 'forged\n' }), 'EBUSY');
      assert.equal(await call('write_file', { path: lock, content: 'forged\n' }), 'EBUSY');
      // Nor the directory that holds them: it would leave a new logs/audit.jsonl to be written.
      assert.equal(
        await call('move_file', { source: p.logs, destination: join(p.workspace, 'moved') }),
        'EBUSY',
      );
      await client.close();
      for (let i = 0; i < 400 && existsSync(lock); i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(readdirSync(p.logs), ['audit.jsonl'], 'nothing moved, nothing left beside it');
      const types = events(p).map((e) => e.type);
      assert.equal(types.filter((x) => x === 'mcp.call').length, 8, types.join(','));
      assert.equal(types.at(-1), 'session.end');
      assert.ok(!types.includes('audit.spool-moved'));
    },
  );

  void it(
    "perimeter run: the workload cannot remove its spool's lock, and the session's filesystem server cannot read, replace or move the spool, its lock or their directory",
    BOUND,
    (t) => {
      const p = placeSpoolInWorkspace(t);
      const r = runAgent(
        p,
        filesystemPolicy(p),
        `import { appendFileSync, renameSync, rmSync } from 'node:fs';
const spool = ${JSON.stringify(p.audit)};
const logs = ${JSON.stringify(p.logs)};
const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
console.log('append spool', code(() => appendFileSync(spool, '\\n')));
console.log('remove lock', code(() => rmSync(spool + '.lock')));
console.log('rename logs', code(() => renameSync(logs, logs + '.moved')));
const c = await connected();
${fsOutcome.toString()}
const call = async (name, args) => fsOutcome(await c.callTool({ name: 'filesystem__' + name, arguments: args }));
console.log('mcp read spool', await call('read_text_file', { path: spool }));
console.log('mcp read lock', await call('read_text_file', { path: spool + '.lock' }));
console.log('mcp write spool', await call('write_file', { path: spool, content: 'forged\\n' }));
console.log('mcp remove lock', await call('move_file', { source: spool + '.lock', destination: logs + '/aside' }));
console.log('mcp move logs', await call('move_file', { source: logs, destination: logs + '.moved' }));
await c.close();
`,
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      for (const line of [
        'append spool EROFS',
        'remove lock EBUSY',
        'rename logs EBUSY',
        'mcp read spool EACCES',
        'mcp read lock EACCES',
        'mcp write spool EBUSY',
        'mcp remove lock EBUSY',
        'mcp move logs EBUSY',
      ])
        assert.match(r.stdout, new RegExp(`^${line}$`, 'm'), r.stdout);
      assert.deepEqual(readdirSync(p.logs), ['audit.jsonl']);
      const types = events(p).map((e) => e.type);
      assert.equal(types.filter((x) => x === 'mcp.call').length, 5, types.join(','));
      assert.equal(types.at(-1), 'session.end');
    },
  );
});
