// The sandbox policy of a stdio server, from its catalog entry: what it may read, write and reach,
// decided by the same engine as every other policy.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePolicy, createEngine, type McpServer } from '@perimeter/policy';
import { remoteServerPolicy, serverSandboxPolicy } from '../src/sandbox-policy.js';

const HOME = '/home/dev';
const WORKSPACE = '/home/dev/project';
const SERVER_HOME = '/home/dev/.local/state/perimeter/mcp-servers/fs';

function engineFor(server: McpServer) {
  const { policy, diagnostics } = compilePolicy(serverSandboxPolicy(server, SERVER_HOME));
  assert.deepEqual(
    diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  return createEngine([policy], { context: { home: HOME, workspace: WORKSPACE } });
}

const decide = (server: McpServer, path: string, access: 'read' | 'write'): string =>
  engineFor(server).decide({ surface: 'filesystem', path, access }).decision;
const connect = (server: McpServer, host: string, port = 443): string =>
  engineFor(server).decide({ surface: 'network', host, port }).decision;

test('by default a server reads the workspace and the system, writes only its own home, reaches no host', () => {
  const s: McpServer = { id: 'fs', command: ['fs-server'] };
  assert.equal(decide(s, `${WORKSPACE}/src/a.ts`, 'read'), 'allow');
  assert.equal(decide(s, `${WORKSPACE}/src/a.ts`, 'write'), 'deny');
  assert.equal(decide(s, '/usr/lib/libc.so.6', 'read'), 'allow');
  assert.equal(decide(s, '/etc/shadow', 'read'), 'deny');
  assert.equal(decide(s, `${HOME}/.ssh/id_ed25519`, 'read'), 'deny');
  assert.equal(decide(s, `${SERVER_HOME}/.npm/_cacache/x`, 'write'), 'allow');
  assert.equal(connect(s, 'registry.npmjs.org'), 'deny');
});

test('workspace: rw and none, and extra read and write paths, say what they say', () => {
  const rw: McpServer = {
    id: 'fs',
    command: ['x'],
    sandbox: { workspace: 'rw', read: ['/srv/ref/**'], write: ['~/.cache/idx/**'] },
  };
  assert.equal(decide(rw, `${WORKSPACE}/src/a.ts`, 'write'), 'allow');
  assert.equal(decide(rw, '/srv/ref/a', 'read'), 'allow');
  assert.equal(decide(rw, '/srv/ref/a', 'write'), 'deny');
  assert.equal(decide(rw, `${HOME}/.cache/idx/a`, 'write'), 'allow');
  const none: McpServer = { id: 'fs', command: ['x'], sandbox: { workspace: 'none' } };
  assert.equal(decide(none, `${WORKSPACE}/src/a.ts`, 'read'), 'deny');
});

test('network names hosts, and addresses or CIDR blocks in a rule of their own', () => {
  const s: McpServer = {
    id: 'fs',
    command: ['x'],
    sandbox: { network: ['registry.npmjs.org', '203.0.113.80', '10.1.0.0/16'] },
  };
  assert.equal(connect(s, 'registry.npmjs.org'), 'allow');
  assert.equal(connect(s, 'evil.example'), 'deny');
  assert.equal(connect(s, 'registry.npmjs.org', 22), 'deny', 'allow rules default to ports 80 and 443');
  const doc = serverSandboxPolicy(s, SERVER_HOME);
  assert.deepEqual(doc.network?.allow, [
    { id: 'server-network', hosts: ['registry.npmjs.org'] },
    { id: 'server-network-addresses', cidrs: ['203.0.113.80', '10.1.0.0/16'] },
  ]);
});

test('an address or CIDR block may name its port (ADDR:PORT, [V6]:PORT), in a rule for that port only', () => {
  const s: McpServer = {
    id: 'db',
    command: ['x'],
    sandbox: {
      network: ['10.0.0.5:5432', '10.9.0.0/16:5432', '[fd00::7]:6379', '192.0.2.1:8000-8999', '192.0.2.9'],
    },
  };
  assert.deepEqual(serverSandboxPolicy(s, SERVER_HOME).network?.allow, [
    { id: 'server-network-addresses-5432', cidrs: ['10.0.0.5', '10.9.0.0/16'], ports: ['5432'] },
    { id: 'server-network-addresses-6379', cidrs: ['fd00::7'], ports: ['6379'] },
    { id: 'server-network-addresses-8000-8999', cidrs: ['192.0.2.1'], ports: ['8000-8999'] },
    { id: 'server-network-addresses', cidrs: ['192.0.2.9'] },
  ]);
  // Private addresses: the rule that names them lifts the built-in guard, on its own ports only.
  assert.equal(connect(s, '10.0.0.5', 5432), 'allow');
  assert.equal(connect(s, '10.9.3.4', 5432), 'allow');
  assert.equal(connect(s, '10.0.0.5', 443), 'deny', 'a port on the entry replaces 80 and 443');
  assert.equal(connect(s, '10.0.0.6', 5432), 'deny');
  assert.equal(connect(s, '[fd00::7]', 6379), 'allow');
  assert.equal(connect(s, '[fd00::7]', 5432), 'deny');
  assert.equal(connect(s, '192.0.2.1', 8443), 'allow');
  assert.equal(connect(s, '192.0.2.1', 9000), 'deny');
  assert.equal(connect(s, '192.0.2.9', 443), 'allow');
  assert.equal(connect(s, '192.0.2.9', 5432), 'deny');
});

test('a malformed entry is a policy error, not a wider grant or a dropped one', () => {
  for (const entry of ['exa mple.com', '10.0.0.1/8', '10.0.0.5:99999', '[fd00::1', 'fd00::1/200']) {
    const { diagnostics } = compilePolicy(
      serverSandboxPolicy({ id: 'fs', command: ['x'], sandbox: { network: [entry] } }, SERVER_HOME),
    );
    assert.ok(
      diagnostics.some((d) => d.severity === 'error'),
      `${entry}: ${JSON.stringify(diagnostics)}`,
    );
  }
});

test('policy validation checks a server sandbox: bad hosts and paths, and a sandbox on a remote server', () => {
  const doc = (servers: unknown[]) =>
    compilePolicy({
      apiVersion: 'perimeter/v1',
      kind: 'Policy',
      metadata: { name: 'p', layer: 'org' },
      mcp: { servers },
    } as Parameters<typeof compilePolicy>[0]).diagnostics.map((d) => `${d.code} ${(d.path ?? []).join('.')}`);
  assert.deepEqual(
    doc([{ id: 'a', command: ['x'], sandbox: { network: ['ok.example', '10.0.0.0/8'] } }]),
    [],
  );
  assert.deepEqual(doc([{ id: 'a', command: ['x'], sandbox: { network: ['exa mple.com'] } }]), [
    'bad-host-pattern mcp.servers.0.sandbox.network.0',
  ]);
  assert.deepEqual(
    doc([
      {
        id: 'a',
        command: ['x'],
        sandbox: { network: ['10.0.0.5:5432', '10.0.0.1/8', '10.0.0.5:0', '[fd00::1]:6379'] },
      },
    ]),
    ['bad-cidr mcp.servers.0.sandbox.network.1', 'bad-port mcp.servers.0.sandbox.network.2'],
  );
  assert.deepEqual(doc([{ id: 'a', command: ['x'], sandbox: { read: ['relative/path'] } }]).length, 1);
  assert.deepEqual(doc([{ id: 'a', url: 'https://mcp.example/mcp', sandbox: { workspace: 'rw' } }]), [
    'sandbox-of-remote-server mcp.servers.0.sandbox',
  ]);
});

test("a remote server reaches its URL's host and port and nothing else", () => {
  const reach = (url: string, host: string, port: number): string => {
    const { policy, diagnostics } = compilePolicy(remoteServerPolicy({ id: 'r', url }));
    assert.deepEqual(diagnostics, []);
    return createEngine([policy], { context: { home: HOME, workspace: WORKSPACE } }).decide({
      surface: 'network',
      host,
      port,
    }).decision;
  };
  assert.equal(reach('https://mcp.example.com/mcp', 'mcp.example.com', 443), 'allow');
  assert.equal(reach('https://mcp.example.com/mcp', 'mcp.example.com', 80), 'deny');
  assert.equal(reach('https://mcp.example.com/mcp', 'other.example.com', 443), 'deny');
  assert.equal(reach('https://mcp.example.com:8443/mcp', 'mcp.example.com', 8443), 'allow');
  assert.equal(reach('http://localhost:8080/mcp', 'localhost', 8080), 'allow');
  assert.deepEqual(remoteServerPolicy({ id: 'r', url: 'http://localhost:8080/mcp' }).network?.allow?.[1], {
    id: 'server-url-loopback',
    cidrs: ['127.0.0.1', '::1'],
    ports: [8080],
  });
  assert.deepEqual(remoteServerPolicy({ id: 'r', url: 'http://[::1]:9/mcp' }).network?.allow, [
    { id: 'server-url', cidrs: ['::1'], ports: [9] },
  ]);
});
