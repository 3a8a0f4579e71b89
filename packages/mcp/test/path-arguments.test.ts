// Argument globs judge the path the server opens (redteam-35-1, redteam-35-2), end to end with the
// reference filesystem server: it resolves a relative path from its own allowed directories, and
// follows a symbolic link that stays inside them, so a rule read off the path as written was
// walked around. resolvedPath is what the gateway's engine asks where a path leads.

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import type { Gateway } from '../src/gateway.js';
import { resolvedPath } from '../src/resolved-path.js';
import { inMemoryClient, startGateway } from './gateway-harness.js';

const require = createRequire(import.meta.url);
const FILESYSTEM = join(
  dirname(require.resolve('@modelcontextprotocol/server-filesystem/package.json')),
  'dist/index.js',
);
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-paths-')));
after(() => rmSync(root, { recursive: true, force: true }));

describe('resolvedPath', () => {
  const dir = join(root, 'resolve');
  before(() => {
    mkdirSync(join(dir, 'real/inner'), { recursive: true });
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    symlinkSync('..', join(dir, 'real/up'));
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
    symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
  });

  it('follows every link of the part that exists, and keeps the rest as written', () => {
    assert.equal(resolvedPath(join(dir, 'link/inner')), join(dir, 'real/inner'));
    assert.equal(resolvedPath(join(dir, 'link/new/file.txt')), join(dir, 'real/new/file.txt'));
    assert.equal(resolvedPath(join(dir, 'real/up/Makefile')), join(dir, 'Makefile'));
    assert.equal(resolvedPath(join(dir, 'real/inner')), join(dir, 'real/inner'));
    assert.equal(resolvedPath('/'), '/');
    assert.equal(resolvedPath('/no-such-directory-here/x'), '/no-such-directory-here/x');
  });

  it('rev35-1: takes `..` after a link from where the link leads, as the kernel does', () => {
    // link -> real: `link/inner/..` is `real`, and `link/..` is the link's target's parent.
    assert.equal(resolvedPath(join(dir, 'link/inner/../inner')), join(dir, 'real/inner'));
    assert.equal(resolvedPath(join(dir, 'real/up/real/inner/..')), join(dir, 'real'));
  });

  it('rev35-2: gives up past 64 missing segments, each of which costs a look at the disk', () => {
    const missing = (n: number): string => join(dir, ...Array.from({ length: n }, () => 'a'));
    assert.equal(resolvedPath(missing(64)), missing(64));
    assert.equal(resolvedPath(missing(65)), undefined);
  });

  it('cannot say where a dangling link or a loop leads', () => {
    assert.equal(resolvedPath(join(dir, 'dangling')), undefined);
    assert.equal(resolvedPath(join(dir, 'dangling/x')), undefined);
    assert.equal(resolvedPath(join(dir, 'loop-a/x')), undefined);
  });
});

describe('argument globs and the reference filesystem server', () => {
  const workspace = join(root, 'workspace');
  const reference = join(root, 'reference');
  let gateway: Gateway;
  let client: Client;
  let events: AuditRecord[];

  before(async () => {
    mkdirSync(join(workspace, 'secrets'), { recursive: true });
    mkdirSync(join(workspace, 'src'), { recursive: true });
    mkdirSync(join(reference, 'private'), { recursive: true });
    writeFileSync(join(workspace, 'secrets/deploy-key.txt'), 'the deploy key\n');
    writeFileSync(join(reference, 'private/salaries.csv'), 'alice,250000\n');
    writeFileSync(join(reference, 'public.md'), 'public notes\n');
    // What a cloned repository can ship: links that stay inside the server's directories.
    symlinkSync('secrets', join(workspace, 'docs'));
    symlinkSync('..', join(workspace, 'src/up'));
    const fs = (id: string, dir: string): string =>
      `- { id: ${id}, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(FILESYSTEM)}, ${JSON.stringify(dir)}] }`;
    ({ gateway, events } = await startGateway(
      `apiVersion: perimeter/v1
kind: Policy
metadata: { name: path-arguments, layer: org }
mcp:
  pinning: tofu
  servers:
    ${fs('ws', workspace)}
    ${fs('ref', reference)}
  allow:
    - { id: read-only, server: "*", annotations: { readOnlyHint: true } }
    - { id: write-src, server: ws, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
  deny:
    - { id: no-secrets, server: ws, tools: ["*"], args: { path: { glob: "\${workspace}/secrets/**" } } }
    - { id: no-private, server: ref, tools: ["*"], args: { path: { glob: ${JSON.stringify(`${reference}/private/**`)} } } }
`,
      { home: root, workspace, sessionId: 'path-arguments' },
    ));
    client = await inMemoryClient(gateway, 'path-arguments');
  });
  after(async () => {
    await client.close();
    await gateway.close();
  });

  const call = async (name: string, args: Record<string, unknown>): Promise<string> => {
    try {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
      return (result.content[0] as { text: string }).text;
    } catch (e) {
      return `error: ${(e as Error).message}`;
    }
  };
  const lastCall = (): AuditRecord | undefined => events.filter((e) => e.type === 'mcp.call').at(-1);

  it('reads what no rule keeps from it, as written and as resolved', async () => {
    assert.equal(await call('ref__read_text_file', { path: join(reference, 'public.md') }), 'public notes\n');
  });

  it('redteam-35-1: a relative path the server reads from its own directory meets the deny on that directory', async () => {
    const text = await call('ref__read_text_file', { path: 'private/salaries.csv' });
    assert.match(text, /^error: .*Tool ref__read_text_file not found/);
    assert.equal(lastCall()?.decision, 'deny');
    assert.deepEqual(
      lastCall()?.matched?.map((m) => m.rule),
      ['no-private'],
    );
  });

  it('redteam-35-2: a link into a denied directory meets the deny', async () => {
    const text = await call('ws__read_text_file', { path: join(workspace, 'docs/deploy-key.txt') });
    assert.match(text, /^error: .*not found/);
    assert.deepEqual(
      lastCall()?.matched?.map((m) => m.rule),
      ['no-secrets'],
    );
  });

  it('redteam-35-2: a link out of the allowed directory does not meet the allow', async () => {
    const text = await call('ws__write_file', {
      path: join(workspace, 'src/up/Makefile'),
      content: 'all:\n',
    });
    assert.match(text, /^error: .*not found/);
    assert.equal(existsSync(join(workspace, 'Makefile')), false);
    assert.match(String(lastCall()?.reason), /symbolic link/);
  });

  it('writes where the allow holds, as written and as resolved', async () => {
    const text = await call('ws__write_file', { path: join(workspace, 'src/a.ts'), content: 'export {};\n' });
    assert.match(text, /Successfully wrote/);
    assert.equal(readFileSync(join(workspace, 'src/a.ts'), 'utf8'), 'export {};\n');
  });
});
