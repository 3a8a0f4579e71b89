// redteam-38-1: what the HTTP endpoint refuses before the gateway is asked leaves an audit event.
// A token holder filling the body budget (503), a body too large (413) or too slow (408), a client
// without the token (401), a page of another origin (403) were answered and left no trace, though
// each is a decision a security team wants to see (who probed, how often). Each is now an
// `mcp.http` denial, bounded per second as the egress proxy's refusals are; a refusal already
// recorded as the denial of the call it asked for is not recorded twice. Real sockets on loopback.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { auditEventSchema, REFUSALS_PER_SECOND, type AuditRecord } from '@perimeter/audit';
import { listenHttp } from '../src/http.js';
import {
  callModern,
  INITIALIZE,
  POST_HEADERS,
  post,
  ROUTED,
  start,
  TOKEN,
  tool,
  until,
} from './http-harness.js';

const endpointRefusals = (events: readonly AuditRecord[]): AuditRecord[] =>
  events.filter((e) => e.type === 'mcp.http');

/** A POST with a declared body of `length` bytes of which only `sent` arrive; resolves with the status. */
function partialPost(url: string, length: number, sent: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...POST_HEADERS, 'content-length': String(length) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.write(sent);
  });
}

describe('redteam-38-1: the HTTP endpoint audits what it refuses before the gateway is asked', () => {
  it('a missing token, a wrong Origin, a body too large, too slow or with no room left: one mcp.http denial each, saying why', async () => {
    const h = await start({ tools: [] }, { bodyTimeoutMs: 1_000 });
    // A second listener on the same gateway whose bodies have no room for two at once.
    const small = await listenHttp(h.gateway, {
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      maxBodyBytes: 8192,
      maxBodiesBytes: 8192,
      bodyTimeoutMs: 1_000,
    });
    try {
      const noToken = await post(h.url, INITIALIZE, { authorization: '' });
      assert.equal(noToken.status, 401);
      const foreign = await post(h.url, INITIALIZE, { origin: 'https://evil.example' });
      assert.equal(foreign.status, 403);
      const large = await post(small.url, { ...INITIALIZE, pad: 'x'.repeat(10_000) });
      assert.equal(large.status, 413);
      // One body holds most of the budget while the rest of it is awaited; the next finds no room.
      const holding = partialPost(small.url, 8000, `{"jsonrpc":"2.0","pad":"${'z'.repeat(6000)}`);
      let crowded = 0;
      for (let i = 0; i < 50 && crowded !== 503; i++) {
        const r = await post(small.url, { ...INITIALIZE, pad: 'y'.repeat(3000) });
        await r.body?.cancel();
        crowded = r.status;
      }
      assert.equal(crowded, 503);
      const slow = await partialPost(h.url, 100, '{"jsonrpc"');
      assert.equal(slow, 408);
      assert.equal(await holding, 408);
      await until(() => endpointRefusals(h.events).length >= 6, 'six refusals audited');

      const refused = endpointRefusals(h.events);
      for (const e of refused) {
        auditEventSchema().omit({ integrity: true }).parse(e);
        assert.equal(e.decision, 'deny');
        assert.equal(e.request?.surface, 'mcp');
        assert.equal(e.request?.action, 'http');
        assert.equal(e.request?.resource, 'POST /mcp');
      }
      const why = refused.map((e) => `${e.decision_code} ${e.reason}`);
      for (const expected of [
        /^unauthenticated Denied: HTTP 401: Unauthorized: a bearer token is required/,
        /^invalid-request Denied: HTTP 403: Forbidden: unexpected Origin/,
        /^invalid-request Denied: HTTP 413: Payload too large/,
        /^invalid-request Denied: HTTP 503: Service Unavailable: request bodies already hold/,
        /^invalid-request Denied: HTTP 408: Request Timeout/,
      ])
        assert.ok(
          why.some((w) => expected.test(w)),
          `${expected} among ${why.join(' | ')}`,
        );
      // Never the token, never the body.
      const text = JSON.stringify(refused);
      assert.ok(!text.includes(TOKEN));
      assert.ok(!text.includes('xxxxxxxx'));
    } finally {
      await small.close().catch(() => undefined);
      await h.close();
    }
  });

  it('a client hammering without the token: at most REFUSALS_PER_SECOND events a second, the rest counted in one mcp.refusals-suppressed', async () => {
    const h = await start({ tools: [] });
    try {
      const tries = REFUSALS_PER_SECOND * 3;
      const statuses = await Promise.all(
        Array.from({ length: tries }, () =>
          post(h.url, INITIALIZE, { authorization: 'Bearer wrong' }).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
        ),
      );
      assert.deepEqual(new Set(statuses), new Set([401]));
      await h.close();
      const written = endpointRefusals(h.events);
      const summaries = h.events.filter((e) => e.type === 'mcp.refusals-suppressed');
      assert.ok(written.length >= REFUSALS_PER_SECOND, `${written.length} written`);
      const suppressed = summaries.reduce((n, e) => n + Number(e.outcome?.suppressed ?? 0), 0);
      assert.equal(written.length + suppressed, tries, 'every refusal written or counted');
      assert.ok(summaries.length >= 1);
      assert.match(summaries[0]?.reason ?? '', /probing the MCP endpoint/);
    } finally {
      await h.close().catch(() => undefined);
    }
  });

  it('headers that disagree with the body are recorded once, as the denial of the call they asked for', async () => {
    const h = await start({ tools: [tool('echo'), ROUTED] });
    try {
      const answer = await callModern(
        h.url,
        's__route',
        { region: 'eu' },
        { headers: { 'mcp-param-region': 'us' } },
      );
      assert.equal(answer.status, 400);
      await until(
        () => h.events.some((e) => e.type === 'mcp.call' && e.decision === 'deny'),
        'the call denied',
      );
      assert.deepEqual(endpointRefusals(h.events), []);
    } finally {
      await h.close();
    }
  });
});
