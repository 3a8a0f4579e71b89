// Secrets in shapes no single string shows (redteam-33-1), through the real gateway, the SDK's own
// client and a real upstream (fixtures/scripted-server.ts, which answers with the results a test
// writes, whole): a secret or a bound credential's value sent as a JSON array of its bytes, and one
// cut across two argument strings or two text blocks of a result. Both ways, under `secrets: block`
// and `redact`, and for a bound credential in audit mode too; an array of numbers or strings that
// make no secret passes unchanged.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { AuditRecord } from '@perimeter/audit';
import { fingerprint as fingerprintOf } from '@perimeter/detect';
import { LEAKED } from './fixtures/leaked.js';
import { scanValue } from '../src/secrets.js';
import { inMemoryClient, startGateway, tool, writeSpec } from './gateway-harness.js';

const SCRIPTED = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/scripted-server.js');
/** The Stripe key the gateway's tests use (a test value Stripe publishes, not a live one). */
const STRIPE = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
/** A bound credential's real value: in no detector's format, only its value tells it. */
const CORP = 'pk-internal-7Qm2vX9rL4tW8zK1nB6c';
const bytesOf = (s: string): number[] => [...Buffer.from(s)];
/** Text that is no secret, as bytes: `Hello, world`. */
const HELLO = bytesOf('Hello, world');
const SIZES = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8];
const STRIPE_MARKER = /^\[REDACTED:stripe-key:[^\]]+\]$/;
const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-mcp-shapes-')));

after(() => {
  rmSync(root, { recursive: true, force: true });
});

interface Harness {
  readonly client: Client;
  readonly events: AuditRecord[];
  /** The arguments of each call that reached the server, in order. */
  seen(): Record<string, unknown>[];
  call(tool: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

let harnesses = 0;

interface Setup {
  readonly secrets: 'block' | 'redact';
  readonly mode?: 'enforce' | 'audit';
  /** A tool's name → the result the server answers its call with, whole (besides `echo`). */
  readonly results?: Readonly<Record<string, CallToolResult>>;
}

async function start(o: Setup): Promise<Harness> {
  const dir = join(root, `h${++harnesses}`);
  mkdirSync(dir);
  const file = join(dir, 'spec.json');
  // `echo` and any tool without a result answer with their arguments.
  const results = o.results ?? {};
  writeSpec(file, { tools: ['echo', ...Object.keys(results)].map((name) => tool(name)), extra: results });
  const q = JSON.stringify;
  const policy = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: secret-shapes, layer: org }
mode: ${o.mode ?? 'enforce'}
mcp:
  pinning: tofu
  secrets: ${o.secrets}
  servers:
    - { id: s, command: [${q(process.execPath)}, ${q(SCRIPTED)}, ${q(file)}] }
  allow:
    - { id: all, server: s, tools: ["*"] }
`;
  const { gateway, events } = await startGateway(policy, {
    home: dir,
    workspace: dir,
    sessionId: `shapes-${harnesses}`,
    credentials: [{ id: 'corp-api', value: CORP }],
  });
  const client = await inMemoryClient(gateway, 'secret-shapes');
  await client.listTools();
  return {
    client,
    events,
    seen: () => {
      let log: string;
      try {
        log = readFileSync(`${file}.log`, 'utf8');
      } catch {
        return [];
      }
      return log
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { what: string; params: { arguments?: Record<string, unknown> } })
        .filter((entry) => entry.what === 'call')
        .map((entry) => entry.params.arguments ?? {});
    },
    call: async (tool, args = {}) =>
      (await client.callTool({ name: `s__${tool}`, arguments: args })) as CallToolResult,
    close: async () => {
      await client.close();
      await gateway.close();
    },
  };
}

/** Runs `test` against a harness started as `setup` says, which is closed however it ends. */
async function withHarness(setup: Setup, test: (h: Harness) => Promise<void>): Promise<void> {
  const h = await start(setup);
  try {
    await test(h);
  } finally {
    await h.close();
  }
}

const textOf = (r: CallToolResult): string[] => r.content.map((c) => (c.type === 'text' ? c.text : c.type));
const alerts = (h: Harness, type: string): AuditRecord[] => h.events.filter((e) => e.type === type);
/** One `mcp.secret` event for the arguments and one for the result, each under `action`. */
function assertSecretAlerts(h: Harness, action: 'block' | 'redact'): void {
  assert.deepEqual(
    alerts(h, 'mcp.secret').map((e) => [e.outcome?.direction, e.outcome?.action]),
    [
      ['arguments', action],
      ['result', action],
    ],
  );
}
/** A result of two text blocks with `value` cut across them. */
const cutBlocks = (value: string): CallToolResult => ({
  content: [
    { type: 'text', text: `KEY=${value.slice(0, 14)}` },
    { type: 'text', text: value.slice(14) },
  ],
});

describe('gateway: secrets as arrays of their bytes and cut across strings', { timeout: 60_000 }, () => {
  it('redteam-33-1, secrets: block: a secret as an array of its bytes is refused in the arguments and withheld from a result', async () => {
    await withHarness(
      {
        secrets: 'block',
        results: {
          leaky: { content: [{ type: 'text', text: 'ok' }], structuredContent: { data: bytesOf(STRIPE) } },
        },
      },
      async (h) => {
        const refused = await h.call('echo', { data: bytesOf(STRIPE) });
        assert.equal(refused.isError, true);
        assert.match(
          textOf(refused)[0] ?? '',
          /refused this call: its arguments carry a secret \(stripe-key/,
        );
        assert.deepEqual(h.seen(), [], 'nothing reached the server');
        const withheld = await h.call('leaky');
        assert.equal(withheld.isError, true);
        assert.equal(withheld.structuredContent, undefined);
        assert.doesNotMatch(JSON.stringify(withheld), new RegExp(bytesOf(STRIPE).slice(0, 8).join(',')));
        assertSecretAlerts(h, 'block');
        assert.match(
          String(alerts(h, 'mcp.secret')[1]?.reason),
          /^Withheld: a secret in the result of s\/leaky \(stripe-key/,
        );
        assert.equal(alerts(h, 'mcp.call')[0]?.decision, 'deny');
        assert.equal(
          alerts(h, 'mcp.result').findLast((e) => e.outcome?.tool === 'leaky')?.outcome?.secret_findings,
          1,
        );
      },
    );
  });

  it("redteam-33-1, secrets: redact: an array of a secret's bytes becomes the marker, both ways; an array that makes no secret stays as it was", async () => {
    await withHarness(
      {
        secrets: 'redact',
        results: {
          leaky: {
            content: [{ type: 'text', text: 'ok' }],
            // The text first: a token is read on into the letters a list after it spells (more, never less).
            structuredContent: { greeting: HELLO, sizes: SIZES, data: bytesOf(STRIPE) },
          },
        },
      },
      async (h) => {
        const sent = await h.call('echo', { greeting: HELLO, sizes: SIZES, data: bytesOf(STRIPE) });
        assert.notEqual(sent.isError, true);
        const [args] = h.seen();
        assert.match(String(args?.data), STRIPE_MARKER);
        assert.deepEqual([args?.greeting, args?.sizes], [HELLO, SIZES]);
        const got = await h.call('leaky');
        assert.notEqual(got.isError, true);
        const data = got.structuredContent as Record<string, unknown>;
        assert.match(String(data.data), STRIPE_MARKER);
        assert.deepEqual([data.greeting, data.sizes], [HELLO, SIZES]);
        assertSecretAlerts(h, 'redact');
      },
    );
  });

  it('redteam-33-1, secrets: block: a secret cut across two argument strings is refused, and one cut across two text blocks is withheld', async () => {
    await withHarness({ secrets: 'block', results: { split: cutBlocks(STRIPE) } }, async (h) => {
      const refused = await h.call('echo', { a: `KEY=${STRIPE.slice(0, 14)}`, b: STRIPE.slice(14) });
      assert.equal(refused.isError, true);
      assert.match(textOf(refused)[0] ?? '', /its arguments carry a secret \(stripe-key/);
      assert.deepEqual(h.seen(), [], 'nothing reached the server');
      const withheld = await h.call('split');
      assert.equal(withheld.isError, true);
      assert.doesNotMatch(JSON.stringify(withheld), new RegExp(STRIPE.slice(14)));
      assertSecretAlerts(h, 'block');
    });
  });

  it('redteam-33-1, secrets: redact: each string a cut secret spans has its share replaced, both ways', async () => {
    await withHarness({ secrets: 'redact', results: { split: cutBlocks(STRIPE) } }, async (h) => {
      // A string after the last share would be taken in too: the Stripe rule reads as far as it can.
      // A token one string holds whole is not read on into the next (a GitLab token may hold a
      // dot but not end in one: read on, `glpat-….` and `Then …` make one).
      await h.call('echo', {
        c: 'kept',
        d: `token ${LEAKED}.`,
        e: 'Then the next.',
        a: `KEY=${STRIPE.slice(0, 14)}`,
        b: STRIPE.slice(14),
      });
      const [args] = h.seen();
      assert.match(String(args?.a), /^KEY=\[REDACTED:stripe-key:[^\]]+\]$/);
      assert.match(String(args?.b), STRIPE_MARKER);
      assert.match(String(args?.d), /^token \[REDACTED:gitlab-token:[^\]]+\]\.$/);
      assert.deepEqual([args?.c, args?.e], ['kept', 'Then the next.']);
      const got = await h.call('split');
      assert.notEqual(got.isError, true);
      const [first, second] = textOf(got);
      assert.match(first ?? '', /^KEY=\[REDACTED:stripe-key:[^\]]+\]$/);
      assert.match(second ?? '', STRIPE_MARKER);
      assertSecretAlerts(h, 'redact');
    });
  });

  it("redteam-33-1: a bound credential's value as its bytes or cut across two strings is refused in the arguments and withheld from a result (credential.leak)", async () => {
    await withHarness(
      {
        secrets: 'block',
        results: {
          leaky: { content: [{ type: 'text', text: 'ok' }], structuredContent: { data: bytesOf(CORP) } },
          split: cutBlocks(CORP),
        },
      },
      async (h) => {
        for (const args of [{ data: bytesOf(CORP) }, { a: CORP.slice(0, 16), b: CORP.slice(16) }]) {
          const refused = await h.call('echo', args);
          assert.equal(refused.isError, true);
          assert.match(textOf(refused)[0] ?? '', /the real value of credential "corp-api"/);
        }
        assert.deepEqual(h.seen(), [], 'nothing reached the server');
        for (const tool of ['leaky', 'split']) assert.equal((await h.call(tool)).isError, true);
        assert.deepEqual(
          alerts(h, 'credential.leak').map((e) => [
            e.outcome?.direction,
            e.outcome?.credential,
            e.reason?.split(':')[0],
          ]),
          [
            ['arguments', 'corp-api', 'Refused'],
            ['arguments', 'corp-api', 'Refused'],
            ['result', 'corp-api', 'Withheld'],
            ['result', 'corp-api', 'Withheld'],
          ],
        );
        assert.doesNotMatch(JSON.stringify(h.events), new RegExp(CORP.slice(16)));
      },
    );
  });

  it("redteam-33-1, audit mode: a bound credential's value as its bytes or cut across two text blocks is still replaced in a result", async () => {
    await withHarness(
      {
        secrets: 'block',
        mode: 'audit',
        results: {
          leaky: {
            content: [{ type: 'text', text: 'ok' }],
            structuredContent: { data: bytesOf(CORP), sizes: SIZES },
          },
          split: cutBlocks(CORP),
        },
      },
      async (h) => {
        const leaky = await h.call('leaky');
        assert.deepEqual(leaky.structuredContent, { data: '[REDACTED:credential:corp-api]', sizes: SIZES });
        const split = await h.call('split');
        assert.deepEqual(textOf(split), [
          'KEY=[REDACTED:credential:corp-api]',
          '[REDACTED:credential:corp-api]',
        ]);
        assert.deepEqual(
          alerts(h, 'credential.leak').map((e) => e.reason?.split(':')[0]),
          ['Redacted', 'Redacted'],
        );
      },
    );
  });

  it('arrays of numbers and strings that make no secret pass unchanged, both ways, under block', async () => {
    const shapes = {
      greeting: HELLO,
      sizes: SIZES,
      pixels: Array.from({ length: 300 }, (_, i) => (i * 37) % 256),
      ids: [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008],
      words: ['sk_live_', 'is how a Stripe key begins', 'ghp_', 'a GitHub token'],
    };
    await withHarness(
      {
        secrets: 'block',
        results: {
          shapes: {
            content: [
              { type: 'text', text: 'sk_live_' },
              { type: 'text', text: 'begins a key' },
            ],
            structuredContent: shapes,
          },
        },
      },
      async (h) => {
        const sent = await h.call('echo', shapes);
        assert.notEqual(sent.isError, true);
        assert.deepEqual(h.seen(), [shapes]);
        const got = await h.call('shapes');
        assert.notEqual(got.isError, true);
        assert.deepEqual(got.structuredContent, shapes);
        assert.deepEqual(textOf(got), ['sk_live_', 'begins a key']);
        assert.deepEqual(alerts(h, 'mcp.secret'), []);
      },
    );
  });
});

describe('the secret scan of byte lists and keys', () => {
  const bytes = bytesOf(STRIPE);
  const [fingerprint] = scanValue({ data: bytes }).blocking;
  const indexed = (list: readonly number[]): Record<string, number> =>
    Object.fromEntries(list.map((b, i) => [String(i), b]));
  const SHAPES: [string, unknown][] = [
    ['one -1 appended', { data: [...bytes, -1] }],
    ['one 0.5 appended', { data: [...bytes, 0.5] }],
    ['one null appended', { data: [...bytes, null] }],
    ['one string appended', { data: [...bytes, 'end'] }],
    ['a value past 255 in the middle', { data: [...bytes.slice(0, 3), 300, ...bytes] }],
    ['in arrays of 7', { data: Array.from({ length: 5 }, (_, i) => bytes.slice(i * 7, i * 7 + 7)) }],
    ['cut across two arrays of 16', { a: bytes.slice(0, 16), b: bytes.slice(16) }],
    ['cut across a string and an array', { a: STRIPE.slice(0, 14), b: bytes.slice(14) }],
    ['JSON.stringify of a Uint8Array', { data: indexed(bytes) }],
    ['cut across two keys', { [STRIPE.slice(0, 14)]: 1, [STRIPE.slice(14)]: 2 }],
    ['cut across a key and its value', { [STRIPE.slice(0, 14)]: STRIPE.slice(14) }],
    ['cut across a value and the key after it', { a: STRIPE.slice(0, 14), [STRIPE.slice(14)]: true }],
    ['cut across three keys', { [STRIPE.slice(0, 6)]: 1, [STRIPE.slice(6, 14)]: 2, [STRIPE.slice(14)]: 3 }],
  ];
  it('the reference finding is the Stripe key itself, as a string holding it is found', () => {
    assert.equal(fingerprint, `stripe-key (${fingerprintOf(STRIPE)})`);
  });

  for (const [name, value] of SHAPES)
    it(`redteam-33-1: a secret as bytes or in keys is found: ${name}`, () => {
      const found = scanValue(value);
      assert.deepEqual(found.blocking, [fingerprint]);
      const redacted = JSON.stringify(found.redacted);
      assert.doesNotMatch(redacted, new RegExp(STRIPE.slice(8, 14)));
      assert.doesNotMatch(redacted, new RegExp(`${STRIPE.slice(-6)}|${bytes.slice(-6).join(',')}`));
    });

  it('redteam-33-1, secrets: redact: a Uint8Array written as an object becomes the marker, a key its share', () => {
    const { redacted } = scanValue({ data: indexed(bytes), [STRIPE.slice(0, 14)]: STRIPE.slice(14) });
    const [data, ...rest] = Object.entries(redacted as Record<string, unknown>);
    assert.deepEqual(data?.[0], 'data');
    assert.match(String(data?.[1]), STRIPE_MARKER);
    assert.deepEqual(rest.length, 1);
    assert.match(rest[0]?.[0] ?? '', /^\[REDACTED:stripe-key:[^\]]+\]$/);
    assert.match(String(rest[0]?.[1]), STRIPE_MARKER);
  });

  it('redteam-33-1, secrets: redact: a secret cut across arrays of 7 bytes, each too short to scan alone, has every array replaced', () => {
    const arrays = Array.from({ length: 5 }, (_, i) => bytes.slice(i * 7, i * 7 + 7));
    // The short list first: a token is read on into a key after it (more, never less).
    const { redacted } = scanValue({ sizes: [3, 1, 4], data: arrays });
    const { data, sizes } = redacted as { data: unknown[]; sizes: unknown };
    assert.equal(data.length, 5);
    for (const list of data) assert.match(String(list), STRIPE_MARKER);
    assert.deepEqual(sizes, [3, 1, 4], 'a short list no finding spans is kept');
  });

  it('redteam-33-1: a token cut across two text blocks is not read on through the keys after it', () => {
    // Keys and values joined read `sk_live_…typetextqLyj…structuredContentnote`: one token from a
    // value through keys into a key, whose keys were each redacted (the block's two keys became one
    // marker, structuredContent was renamed). The values alone hold the cut secret.
    const value = {
      content: [
        { type: 'text', text: `KEY=${STRIPE.slice(0, 14)}` },
        { type: 'text', text: STRIPE.slice(14) },
      ],
      structuredContent: { note: ' x' },
    };
    const found = scanValue(value);
    assert.deepEqual(found.blocking, [fingerprint]);
    const redacted = found.redacted as typeof value;
    assert.deepEqual(Object.keys(redacted), ['content', 'structuredContent']);
    assert.deepEqual(redacted.structuredContent, { note: ' x' });
    assert.deepEqual(
      redacted.content.map((block) => Object.keys(block)),
      [
        ['type', 'text'],
        ['type', 'text'],
      ],
    );
    assert.match(redacted.content[0]?.text ?? '', /^KEY=\[REDACTED:stripe-key:[^\]]+\]$/);
    assert.match(redacted.content[1]?.text ?? '', STRIPE_MARKER);
  });

  it('arrays and objects of ordinary numbers, and ordinary keys, pass unchanged', () => {
    const value = {
      sizes: [...SIZES, -1, 0.5, null],
      coordinates: Array.from({ length: 50 }, (_, i) => [i * 3, (i * 7) % 100]),
      rgb: Array.from({ length: 40 }, (_, i) => [(i * 37) % 256, (i * 11) % 256, 255]),
      ids: [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008],
      counts: indexed([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
      greeting: indexed(HELLO),
      config: { token_count: 12, password_min_length: 8, api_key_header: 'X-Api-Key' },
      mixed: ['a', 1, 2, 3, 4, 5, 6, 7, 8, 'b'],
    };
    const found = scanValue(value);
    assert.deepEqual(found.blocking, []);
    assert.deepEqual(found.redacted, value);
  });
});
