// The gateway gives each server the credential its catalog entry names, from the values the caller
// read from the secret store: a stdio server (fixtures/probe-server.ts, spawned directly here; the
// sandboxed path is packages/cli/test/mcp-sandbox.test.ts) finds it in its environment, a result
// that echoes it never reaches the agent, and the audit names the binding and never the value. A
// server whose credential cannot be given is unavailable, once and with its reason, while the
// others serve. Ids `mcp-threat-NN` are the threat rows of research/mcp-gateways.md §5.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { AuditRecord } from '@perimeter/audit';
import { inMemoryClient, startGateway } from './gateway-harness.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/probe-server.js');
const VALUE = 'probe-credential-8d1f63b2a9e04c57';
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-credentials-')));
after(() => rmSync(root, { recursive: true, force: true }));

const server = (id: string, credential: string): string =>
  `    - { id: ${id}, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(PROBE)}], credential: ${credential} }`;

interface Harness {
  readonly client: Client;
  readonly events: AuditRecord[];
  /** What one probe action answers, through the gateway. */
  probe(tool: string, action: string, target: string): Promise<string>;
  close(): Promise<void>;
}

let harnesses = 0;

async function start(extra: string, secrets: ReadonlyMap<string, string>): Promise<Harness> {
  const dir = join(root, `h${++harnesses}`);
  const policy = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: credentials-test, layer: org }
credentials:
  allow:
    - { id: probe-token, secret: probe-secret, env: PROBE_TOKEN }
    - { id: unstored, secret: not-in-the-store, env: UNSTORED }
${extra}
mcp:
  pinning: tofu
  servers:
${server('probe', 'probe-token')}
${server('second', 'unstored')}
  allow:
    - { id: all, server: "*" }
`;
  // As perimeter mcp builds them: one read of the store serves the servers and the scan.
  const { gateway, events } = await startGateway(policy, {
    home: dir,
    workspace: root,
    sessionId: `credentials-${harnesses}`,
    secrets,
  });
  const client = await inMemoryClient(gateway, 'credentials-test');
  return {
    client,
    events,
    probe: async (tool, action, target) => {
      const r = await client.callTool({ name: tool, arguments: { action, target } });
      return (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
    },
    close: async () => {
      await client.close();
      await gateway.close();
    },
  };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('gateway: a server given the credential its catalog entry names', { timeout: 60_000 }, () => {
  it('a stdio server finds the value in the variable the binding names; a result echoing it is withheld; the audit names the binding, never the value', async () => {
    const h = await start('', new Map([['probe-secret', VALUE]]));
    try {
      assert.equal(await h.probe('probe__probe', 'env-sha256', 'PROBE_TOKEN'), sha256(VALUE));
      // mcp-threat-05: the server's own credential, echoed in a result, never reaches the agent.
      const echoed = await h.probe('probe__probe', 'env', 'PROBE_TOKEN');
      assert.match(
        echoed,
        /Perimeter withheld this result: it carried the real value of credential "probe-token"/,
      );
      assert.ok(!echoed.includes(VALUE));
      const leak = h.events.find((e) => e.type === 'credential.leak');
      assert.equal(leak?.outcome?.credential, 'probe-token');

      const use = h.events.filter((e) => e.type === 'credential.use');
      assert.equal(use.length, 1, 'one use: the one start of the server');
      assert.equal(use[0]?.decision, 'allow');
      assert.equal(use[0]?.severity, 'info');
      assert.deepEqual(use[0]?.outcome, {
        credential: 'probe-token',
        mcp_server: 'probe',
        locations: 'env:PROBE_TOKEN',
      });
      assert.deepEqual(
        use[0]?.matched?.map((r) => r.rule),
        ['probe-token'],
      );
      const spawn = h.events.find((e) => e.type === 'mcp.server.spawn' && e.outcome?.server === 'probe');
      assert.equal(spawn?.outcome?.credential, 'probe-token');
      assert.ok(
        h.events.findIndex((e) => e.type === 'credential.use') <
          h.events.findIndex((e) => e.type === 'mcp.server.spawn' && e.outcome?.server === 'probe'),
        'the use is recorded before the server starts',
      );
      assert.ok(!JSON.stringify(h.events).includes(VALUE), 'no event holds the value');
    } finally {
      await h.close();
    }
  });

  it('a server whose secret is not in the store is unavailable, said once with its reason; the others serve', async () => {
    const h = await start('', new Map([['probe-secret', VALUE]]));
    try {
      for (let i = 0; i < 3; i++)
        assert.deepEqual(
          (await h.client.listTools()).tools.map((t) => t.name),
          ['probe__probe'],
        );
      const down = h.events.filter((e) => e.type === 'mcp.server.unavailable');
      assert.equal(down.length, 1, `said once, not at each listing: ${JSON.stringify(down)}`);
      assert.equal(down[0]?.outcome?.server, 'second');
      assert.equal(down[0]?.outcome?.credential, 'unstored');
      assert.match(
        String(down[0]?.outcome?.reason),
        /the secret not-in-the-store of its credential "unstored" is not in the secret store \(add it with: perimeter secret set not-in-the-store\)/,
      );
      assert.ok(
        !h.events.some((e) => e.type === 'mcp.server.spawn' && e.outcome?.server === 'second'),
        'never started without its credential',
      );
      const list = h.events.filter((e) => e.type === 'mcp.list');
      assert.equal(list.at(-1)?.outcome?.upstreams_unavailable, 'second');
      assert.equal(await h.probe('probe__probe', 'env', 'UNSTORED'), '(unset)');
    } finally {
      await h.close();
    }
  });

  it('a credential the policy denies: its server is unavailable, and the denial is a credential.use event', async () => {
    const h = await start(
      '  deny:\n    - { id: never-probe, secrets: [probe-secret] }',
      new Map([['probe-secret', VALUE]]),
    );
    try {
      assert.deepEqual((await h.client.listTools()).tools, []);
      const use = h.events.filter((e) => e.type === 'credential.use');
      assert.equal(use.length, 1);
      assert.equal(use[0]?.decision, 'deny');
      assert.deepEqual(use[0]?.outcome, { credential: 'probe-token', mcp_server: 'probe' });
      assert.ok(use[0]?.matched?.some((r) => r.rule === 'never-probe'));
      const down = h.events.find((e) => e.type === 'mcp.server.unavailable' && e.outcome?.server === 'probe');
      assert.match(
        String(down?.outcome?.reason),
        /the policy does not let its credential "probe-token" go to it/,
      );
      assert.ok(!h.events.some((e) => e.type === 'mcp.server.spawn'));
    } finally {
      await h.close();
    }
  });
});
