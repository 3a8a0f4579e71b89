// Secrets in what an upstream lists (tools/list, prompts/list, resources/list,
// resources/templates/list), through the real gateway and the SDK's own client, against the
// deliberately malicious test server (fixtures/leaky-listing.ts: a secret in a tool's description
// and schema default, in a resource URI and a URI template; its own credential in a prompt
// argument's description): redacted or hidden as `mcp.secrets` says, pinned as listed, and audited
// once per definition.

import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import { definitionHash } from '../src/definition.js';
import type { PinStore } from '../src/pins.js';
import { inMemoryClient, startGateway } from './gateway-harness.js';
import { LEAKED } from './fixtures/leaked.js';
import { LEAKY_RESOURCE, LEAKY_TEMPLATE, LEAKY_TOOL } from './fixtures/leaky-listing.js';

const MALICIOUS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/malicious-server.js');
/** The malicious server's own credential: no detector knows its shape, only its value tells it. */
const STATUS_KEY = 'status-7c1e0b54d6a8c2f9f3a2';
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-listing-')));

after(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Harness {
  readonly client: Client;
  readonly pins: PinStore;
  readonly events: AuditRecord[];
  close(): Promise<void>;
}

async function start(
  name: string,
  secrets: 'block' | 'redact',
  mode: 'enforce' | 'audit' = 'enforce',
  /** A second bound credential, FEED_KEY: the server then lists a resource whose URI carries it. */
  feedKey?: string,
): Promise<Harness> {
  const q = JSON.stringify;
  const policy = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: listing-secrets, layer: org }
mode: ${mode}
mcp:
  pinning: tofu
  secrets: ${secrets}
  servers:
    - { id: malicious, command: [${q(process.execPath)}, ${q(MALICIOUS)}], env: { STATUS_KEY: ${STATUS_KEY}${feedKey ? `, FEED_KEY: ${feedKey}` : ''} } }
  allow:
    - { id: malicious-all, server: malicious, tools: ["*"] }
`;
  const { gateway, pins, events } = await startGateway(policy, {
    home: root,
    workspace: root,
    sessionId: name,
    pinsFile: join(root, `${name}-pins.json`),
    credentials: [
      { id: 'status-key', value: STATUS_KEY },
      ...(feedKey ? [{ id: 'feed', value: feedKey }] : []),
    ],
  });
  const client = await inMemoryClient(gateway, 'listing-test');
  return {
    client,
    pins,
    events,
    close: async () => {
      await client.close();
      await gateway.close();
    },
  };
}

/** Every list the agent can ask for, as it sees them. */
async function listAll(client: Client) {
  const [{ tools }, { prompts }, { resources }, { resourceTemplates }] = await Promise.all([
    client.listTools(),
    client.listPrompts(),
    client.listResources(),
    client.listResourceTemplates(),
  ]);
  return { tools, prompts, resources, resourceTemplates };
}

/** The listing's secret events, as [type, what it names, action or done], sorted. */
function listingAlerts(events: readonly AuditRecord[]): string[][] {
  return events
    .filter((e) => e.outcome?.direction === 'listing')
    .map((e) => {
      const o = e.outcome ?? {};
      const what = ['tool', 'prompt', 'resource', 'template'].find((k) => o[k] !== undefined) ?? '?';
      return [String(e.type), `${what} ${String(o[what])}`, String(o.action ?? e.reason?.split(':')[0])];
    })
    .sort((a, b) => a.join(' ').localeCompare(b.join(' ')));
}

/** The error a request fails with, `name` (what it asked for) replaced, so two errors can be compared. */
async function failure(p: Promise<unknown>, name: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof McpError, `an MCP error, got ${String(e)}`);
    return `${e.code} ${e.message.split(name).join('NAME')}`;
  }
  return assert.fail(`${name} answered`);
}

const REDACTED = '\\[REDACTED:gitlab[^\\]]*\\]';
const leaked = new RegExp(LEAKED);
const key = new RegExp(STATUS_KEY);

describe('listings: secrets an upstream lists', { timeout: 60_000 }, () => {
  it('mcp-threat-05, secrets: redact: each secret is redacted in what the agent sees, the definitions stay pinned as listed, each is audited once', async () => {
    const h = await start('redact', 'redact');
    try {
      await listAll(h.client);
      const listed = await listAll(h.client);
      const deploy = listed.tools.find((t) => t.name === 'malicious__deploy');
      assert.match(
        String(deploy?.description),
        new RegExp(`^Deploys the service with the deploy token ${REDACTED}\\.$`),
      );
      const token = deploy?.inputSchema.properties?.token as { default?: unknown } | undefined;
      assert.match(String(token?.default), new RegExp(`^${REDACTED}$`), 'the schema default');
      const feed = listed.resources.find((r) => r.name === 'malicious__status_feed');
      assert.match(
        String(feed?.uri),
        new RegExp(`^https://status\\.example/feed\\?private_token=${REDACTED}$`),
      );
      const template = listed.resourceTemplates.find((t) => t.name === 'malicious__service_status');
      assert.match(
        String(template?.uriTemplate),
        new RegExp(`^https://status\\.example/\\{service\\}\\?private_token=${REDACTED}$`),
      );
      const report = listed.prompts.find((p) => p.name === 'malicious__status_report');
      assert.equal(
        report?.arguments?.[0]?.description,
        'The service; reports are signed with [REDACTED:credential:status-key]',
      );
      assert.doesNotMatch(JSON.stringify(listed), leaked);
      assert.doesNotMatch(JSON.stringify(listed), key);

      // Usable as shown: the tool is called, and the resource read by the URI the agent was shown
      // reaches the server as the URI it listed (it answers nothing else with "all services up").
      const called = await h.client.callTool({ name: 'malicious__deploy', arguments: { service: 'api' } });
      assert.equal(called.isError, undefined);
      assert.match(JSON.stringify(called.content), /deploy: \{\\"service\\":\\"api\\"\}/);
      const read = await h.client.readResource({ uri: String(feed?.uri) });
      const [content] = read.contents;
      assert.ok(content !== undefined && 'text' in content);
      assert.equal(content.text, 'all services up');
      assert.doesNotMatch(JSON.stringify(read), leaked, 'its echo of the URI is redacted as a result');
      // A URI made from the redacted template is no URI the template produces.
      const made = String(template?.uriTemplate).replace('{service}', 'api');
      assert.equal(
        await failure(h.client.readResource({ uri: made }), made),
        await failure(h.client.readResource({ uri: 'nothing://1' }), 'nothing://1'),
      );

      const approved = h.pins.snapshot().approved.malicious ?? {};
      assert.equal(approved.deploy?.hash, definitionHash(LEAKY_TOOL, 'tools'), 'pinned as listed');
      assert.equal(
        approved[`resource:${LEAKY_RESOURCE.uri}`]?.hash,
        definitionHash(LEAKY_RESOURCE, 'resources'),
      );
      assert.equal(
        approved[`template:${LEAKY_TEMPLATE.uriTemplate}`]?.hash,
        definitionHash(LEAKY_TEMPLATE, 'templates'),
      );
      assert.ok(!h.events.some((e) => e.type === 'mcp.drift'), 'nothing drifted');

      const alerts = listingAlerts(h.events);
      assert.equal(alerts.length, 4, JSON.stringify(alerts));
      assert.deepEqual(alerts[0], ['credential.leak', 'prompt status_report', 'Redacted']);
      assert.deepEqual(
        alerts.slice(1).map(([type, , action]) => [type, action]),
        [
          ['mcp.secret', 'redact'],
          ['mcp.secret', 'redact'],
          ['mcp.secret', 'redact'],
        ],
      );
      assert.match(
        String(alerts[1]?.[1]),
        new RegExp(`^resource https://status\\.example/feed\\?private_token=${REDACTED}$`),
      );
      assert.match(
        String(alerts[2]?.[1]),
        new RegExp(`^template https://status\\.example/\\{service\\}\\?private_token=${REDACTED}$`),
      );
      assert.equal(alerts[3]?.[1], 'tool deploy');
      const tool = h.events.find((e) => e.type === 'mcp.secret' && e.outcome?.tool === 'deploy');
      assert.equal(tool?.severity, 'high');
      assert.equal(tool?.outcome?.hash, definitionHash(LEAKY_TOOL, 'tools'));
      assert.match(
        String(tool?.reason),
        /^Redacted: a secret in the listing of malicious\/deploy \(gitlab-token \(glpat-…\([0-9a-f]{8}\)\)\)\.$/,
      );
      assert.doesNotMatch(JSON.stringify(h.events), leaked);
      assert.doesNotMatch(JSON.stringify(h.events), key);
    } finally {
      await h.close();
    }
  });

  it('mcp-threat-05, secrets: block: each definition that carries a secret is hidden and fails like an unknown one, audited once', async () => {
    const h = await start('block', 'block');
    try {
      await listAll(h.client);
      const listed = await listAll(h.client);
      const names = Object.values(listed).flatMap((list) => list.map((d) => d.name));
      assert.ok(names.includes('malicious__echo'), 'the rest of the server is listed');
      assert.ok(names.includes('malicious__deploy_config'));
      for (const hidden of ['deploy', 'status_feed', 'service_status', 'status_report'])
        assert.ok(!names.includes(`malicious__${hidden}`), hidden);
      assert.doesNotMatch(JSON.stringify(listed), leaked);

      const unknownTool = await failure(h.client.callTool({ name: 'malicious__nope' }), 'malicious__nope');
      assert.equal(unknownTool, '-32602 MCP error -32602: Tool NAME not found');
      assert.equal(
        await failure(
          h.client.callTool({ name: 'malicious__deploy', arguments: { service: 'api' } }),
          'malicious__deploy',
        ),
        unknownTool,
      );
      assert.equal(
        await failure(h.client.getPrompt({ name: 'malicious__status_report' }), 'malicious__status_report'),
        await failure(h.client.getPrompt({ name: 'malicious__nope' }), 'malicious__nope'),
      );
      assert.equal(
        await failure(h.client.readResource({ uri: LEAKY_RESOURCE.uri }), LEAKY_RESOURCE.uri),
        await failure(h.client.readResource({ uri: 'nothing://1' }), 'nothing://1'),
      );
      const call = h.events.find((e) => e.type === 'mcp.call' && e.request?.resource === 'malicious/deploy');
      assert.equal(call?.decision, 'deny');
      assert.match(String(call?.reason), /held: its definition carries a secret \(gitlab/);

      // Pinning is the same as without the scan: trusted on first use, as listed.
      const approved = h.pins.snapshot().approved.malicious ?? {};
      assert.equal(approved.deploy?.hash, definitionHash(LEAKY_TOOL, 'tools'));

      const alerts = listingAlerts(h.events);
      assert.equal(alerts.length, 4, JSON.stringify(alerts));
      assert.deepEqual(
        alerts.map(([type, what, action]) => [type, what?.split(' ')[0], action]),
        [
          ['credential.leak', 'prompt', 'Hidden'],
          ['mcp.secret', 'resource', 'block'],
          ['mcp.secret', 'template', 'block'],
          ['mcp.secret', 'tool', 'block'],
        ],
      );
      const leak = h.events.find((e) => e.type === 'credential.leak');
      assert.equal(leak?.severity, 'critical');
      assert.equal(leak?.outcome?.credential, 'status-key');
      assert.equal(
        leak?.reason,
        'Hidden: the listing of malicious/status_report carries the real value of credential "status-key".',
      );
      assert.match(
        String(h.events.find((e) => e.type === 'mcp.secret' && e.outcome?.tool === 'deploy')?.reason),
        /^Hidden: a secret in the listing of malicious\/deploy \(gitlab/,
      );
      assert.doesNotMatch(JSON.stringify(h.events), leaked);
      assert.doesNotMatch(JSON.stringify(h.events), key);
    } finally {
      await h.close();
    }
  });

  it("audit mode: a listing's secrets pass as listed and are recorded; a bound credential's value never passes", async () => {
    const h = await start('audit', 'block', 'audit');
    try {
      const listed = await listAll(h.client);
      const deploy = listed.tools.find((t) => t.name === 'malicious__deploy');
      assert.equal(deploy?.description, LEAKY_TOOL.description);
      const report = listed.prompts.find((p) => p.name === 'malicious__status_report');
      assert.match(String(report?.arguments?.[0]?.description), /\[REDACTED:credential:status-key\]$/);
      assert.doesNotMatch(JSON.stringify(listed), key);
      const alerts = listingAlerts(h.events);
      assert.deepEqual(
        alerts.map(([type, , action]) => [type, action]),
        [
          ['credential.leak', 'Redacted'],
          ['mcp.secret', 'audit'],
          ['mcp.secret', 'audit'],
          ['mcp.secret', 'audit'],
        ],
      );
      assert.match(
        String(h.events.find((e) => e.type === 'mcp.secret' && e.outcome?.tool === 'deploy')?.reason),
        /^Seen \(audit mode\): a secret in the listing of malicious\/deploy/,
      );
      assert.doesNotMatch(JSON.stringify(h.events), leaked);
    } finally {
      await h.close();
    }
  });

  it("a first-use pin of a key that carries a bound credential's value records the key as the gateway shows it, for `pins list`", async () => {
    const feedKey = 'feed-93b1c7e05a2d4f68';
    const h = await start('feed', 'redact', 'enforce', feedKey);
    try {
      const { resources } = await listAll(h.client);
      const feed = resources.find((r) => r.name === 'malicious__signed_feed');
      assert.equal(feed?.uri, 'feed://reports?key=[REDACTED:credential:feed]');
      const pin = h.pins.snapshot().approved.malicious?.[`resource:feed://reports?key=${feedKey}`];
      assert.equal(pin?.by, 'tofu', 'pinned under its real key');
      assert.equal(pin.label, 'resource:feed://reports?key=[REDACTED:credential:feed]');
      const clean = h.pins.snapshot().approved.malicious?.['resource:config://deploy'];
      assert.ok(clean !== undefined && clean.label === undefined, 'a key with nothing redacted has no label');
    } finally {
      await h.close();
    }
  });
});
