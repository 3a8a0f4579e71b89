// Devices on both backends, over real HTTP: the whole device authorization grant (RFC 8628) with
// its pending, slow_down, expired and denied answers and the invitation that approves it; the
// credential shown once and stored as a hash; the bundle long poll (a publication reaches a
// waiting device within a second; 304 when nothing changed); activation reports; revocation.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';
import type { BundlePayload } from '../src/index.js';
import {
  enrolDevice,
  invite,
  poll,
  postForm,
  publishPolicy,
  readJws,
  seedOrg,
  startLogin,
  verification,
  GRANT,
  type Org,
} from './bundle-support.js';
import { eachServer, until, type Harness } from './harness.js';

interface Fetched {
  readonly status: number;
  readonly etag: string | null;
  readonly type: string | null;
  readonly text: string;
  readonly ms: number;
}

async function fetchBundle(h: Harness, credential: string, etag?: string, wait?: number): Promise<Fetched> {
  const started = performance.now();
  const r = await fetch(`${h.server.url}/api/v1/device/bundle${wait !== undefined ? `?wait=${wait}` : ''}`, {
    headers: {
      authorization: `Bearer ${credential}`,
      ...(etag !== undefined ? { 'if-none-match': etag } : {}),
    },
  });
  return {
    status: r.status,
    etag: r.headers.get('etag'),
    type: r.headers.get('content-type'),
    text: await r.text(),
    ms: performance.now() - started,
  };
}

eachServer(
  'devices',
  (harness) => {
    let org: Org;

    it('a device logs in: a code, pending until the invited user approves, then its credential, once', async () => {
      const h = harness();
      org = await seedOrg(h);
      const invitation = await invite(h, org.users.alice);
      assert.match(invitation, /^pmi_[A-Za-z0-9_-]{43}$/);
      const code = await startLogin(h, 'alice-laptop');
      assert.match(code.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      assert.equal(code.verification_uri, `${h.server.url}/device`);
      assert.equal(code.verification_uri_complete, `${h.server.url}/device?code=${code.user_code}`);
      assert.equal(code.expires_in, 600);
      assert.equal(code.interval, 1);

      const pending = await poll(h, code);
      assert.equal(pending.status, 400);
      assert.equal(pending.body.error, 'authorization_pending');
      assert.equal(pending.headers.get('cache-control'), 'no-store');

      // The person first sees which device asks (RFC 8628 §5.4), typing the code loosely.
      const seen = await verification(h, {
        userCode: code.user_code.toLowerCase().replace('-', ' '),
        invitation,
      });
      assert.equal(seen.status, 200, JSON.stringify(seen.body));
      assert.deepEqual(
        { status: seen.body.status, name: seen.body.device.name, email: seen.body.user.email },
        { status: 'pending', name: 'alice-laptop', email: 'alice@example.com' },
      );
      const approved = await verification(h, { userCode: code.user_code, invitation, decision: 'approve' });
      assert.equal(approved.body.status, 'approved');
      assert.match(approved.body.device.id ?? '', /^dev_[0-9a-f]{32}$/);

      h.clock.advance(1000);
      const token = await poll(h, code);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.match(token.body.access_token, /^pmd_[A-Za-z0-9_-]{43}$/);
      assert.equal(token.body.token_type, 'Bearer');
      assert.deepEqual(token.body.device, { id: approved.body.device.id, name: 'alice-laptop' });
      assert.deepEqual(token.body.user, { id: org.users.alice, email: 'alice@example.com' });
      assert.equal(token.body.org.id, h.org.id);
      assert.equal(token.body.keys.keys.length, 1, 'the keys to pin come with the credential');

      const again = await poll(h, code);
      assert.equal(again.body.error, 'invalid_grant', 'a device code gives its credential once');
      const reused = await verification(h, { userCode: code.user_code, invitation, decision: 'approve' });
      assert.equal(reused.status, 401);
      assert.match((reused.body as unknown as { error: { message: string } }).error.message, /already used/);

      const rows = await h.server.db.all<{ credential_hash: string }>('SELECT credential_hash FROM devices');
      assert.equal(rows.length, 1);
      assert.equal(
        rows[0]?.credential_hash,
        createHash('sha256').update(token.body.access_token).digest('hex'),
        'stored as its SHA-256 only',
      );

      const bundle = await fetchBundle(h, token.body.access_token);
      assert.equal(bundle.status, 200);
      assert.equal(bundle.type, 'application/jose');
      const read = readJws<BundlePayload>(bundle.text, token.body.keys);
      assert.ok(read.isValid, 'the bundle verifies with the pinned keys');
      assert.deepEqual(read.payload.subject.groups, ['eng']);
      assert.deepEqual(
        read.payload.policies.map((p) => p.name),
        ['guardrail', 'baseline', 'engineering'],
      );

      const events = await h.owner.get<{
        events: { type: string; category: string; user: { email: string } }[];
      }>(`${h.base}/events?type=device.enrol`);
      assert.deepEqual(
        events.body.events.map((e) => [e.category, e.user.email]),
        [['identity', 'alice@example.com']],
      );
      const devices = await h.owner.get<{ devices: { id: string; status: string; name: string }[] }>(
        `${h.base}/devices`,
      );
      assert.deepEqual(
        devices.body.devices.map((d) => [d.id, d.status, d.name]),
        [[approved.body.device.id, 'active', 'alice-laptop']],
      );
    });

    it('polling faster than the interval is answered slow_down, and the interval grows by 5 s each time', async () => {
      const h = harness();
      const code = await startLogin(h);
      assert.equal((await poll(h, code)).body.error, 'authorization_pending');
      assert.equal((await poll(h, code)).body.error, 'slow_down');
      const slower = await poll(h, code);
      assert.equal(slower.body.error, 'slow_down');
      assert.match(slower.body.error_description ?? '', /every 11 seconds/);
      h.clock.advance(10_000);
      assert.equal((await poll(h, code)).body.error, 'slow_down', '10 s is still too soon for 11 (now 16)');
      h.clock.advance(16_000);
      assert.equal((await poll(h, code)).body.error, 'authorization_pending');
    });

    it('a code not approved in time expires: expired_token, and the page no longer finds it', async () => {
      const h = harness();
      const invitation = await invite(h, org.users.bob);
      const code = await startLogin(h);
      h.clock.advance(10 * 60_000 + 1);
      const expired = await poll(h, code);
      assert.equal(expired.status, 400);
      assert.equal(expired.body.error, 'expired_token');
      const late = await verification(h, { userCode: code.user_code, invitation, decision: 'approve' });
      assert.equal(late.status, 404);
    });

    it('a denied login is answered access_denied; the invitation still enrols the right device', async () => {
      const h = harness();
      const invitation = await invite(h, org.users.bob);
      const code = await startLogin(h, 'not-mine');
      const denied = await verification(h, { userCode: code.user_code, invitation, decision: 'deny' });
      assert.equal(denied.body.status, 'denied');
      assert.equal((await poll(h, code)).body.error, 'access_denied');
      const mine = await startLogin(h, 'bob-laptop');
      assert.equal(
        (await verification(h, { userCode: mine.user_code, invitation, decision: 'approve' })).body.status,
        'approved',
      );
      const denials = await h.owner.get<{ events: unknown[] }>(`${h.base}/events?type=device.login.deny`);
      assert.equal(denials.body.events.length, 1);
    });

    it('five wrong codes lock an invitation (user codes are short: RFC 8628 §5.1)', async () => {
      const h = harness();
      const invitation = await invite(h, org.users.carol);
      const code = await startLogin(h);
      for (let i = 0; i < 5; i++) {
        const wrong = await verification(h, { userCode: 'BBBB-BBBB', invitation });
        assert.equal(wrong.status, 404);
      }
      const locked = await verification(h, { userCode: code.user_code, invitation, decision: 'approve' });
      assert.equal(locked.status, 401);
      assert.match((locked.body as unknown as { error: { message: string } }).error.message, /locked/);
    });

    it('wrong codes sent all at once still get five tries between them, not five each', async () => {
      const h = harness();
      const invitation = await invite(h, org.users.carol);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => verification(h, { userCode: 'BBBB-BBBB', invitation })),
      );
      assert.deepEqual(
        answers.map((a) => a.status).sort(),
        [...Array<number>(5).fill(404), ...Array<number>(7).fill(401)].sort(),
      );
    });

    it('answers malformed token requests in OAuth’s shape', async () => {
      const h = harness();
      const code = await startLogin(h);
      const url = h.server.url;
      const wrongGrant = await postForm(url, '/api/v1/oauth/token', {
        grant_type: 'client_credentials',
        client_id: 'perimeter-cli',
      });
      assert.deepEqual([wrongGrant.status, wrongGrant.body.error], [400, 'unsupported_grant_type']);
      const missing = await postForm(url, '/api/v1/oauth/token', {
        grant_type: GRANT,
        client_id: 'perimeter-cli',
      });
      assert.equal(missing.body.error, 'invalid_request');
      assert.equal((await poll(h, code, 'another-client')).body.error, 'invalid_grant');
      assert.equal(
        (await poll(h, { ...code, device_code: `pmc_${'A'.repeat(43)}` })).body.error,
        'invalid_grant',
      );
      const json = await fetch(`${url}/api/v1/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: GRANT }),
      });
      assert.equal(json.status, 415);
      assert.equal(((await json.json()) as { error: string }).error, 'invalid_request');
      const twice = await fetch(`${url}/api/v1/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=${encodeURIComponent(GRANT)}&grant_type=x&client_id=c`,
      });
      assert.equal(((await twice.json()) as { error: string }).error, 'invalid_request');
      const unnamed = await postForm(url, '/api/v1/oauth/device_authorization', {});
      assert.deepEqual([unnamed.status, unnamed.body.error], [400, 'invalid_request']);
    });

    it('a device waiting with the current ETag gets a publication within a second; otherwise 304', async () => {
      const h = harness();
      const device = await enrolDevice(h, org.users.alice, 'poller');
      const first = await fetchBundle(h, device.access_token);
      assert.equal(first.status, 200);
      const etag = first.etag ?? '';

      const now = await fetchBundle(h, device.access_token, etag);
      assert.equal(now.status, 304, 'no wait asked: 304 at once');
      assert.equal(now.etag, etag);
      const waited = await fetchBundle(h, device.access_token, etag, 1);
      assert.equal(waited.status, 304);
      assert.ok(waited.ms >= 900, `held for the second it asked (${Math.round(waited.ms)} ms)`);

      const waiting = fetchBundle(h, device.access_token, etag, 30);
      await until('the long poll waiting', () => h.server.changes.waiters === 1);
      const published = performance.now();
      await publishPolicy(
        h,
        'baseline',
        `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: baseline\n  layer: org\nnetwork:\n  allow:\n    - { id: docs, hosts: [docs.example.com, wiki.example.com], ports: [443] }\n`,
        org.policies.baseline,
      );
      const got = await waiting;
      const lag = performance.now() - published;
      assert.equal(got.status, 200);
      // Woken by the publication, not by the end of its 30 s hold (how fast: npm run bench:server).
      assert.ok(lag < 25_000, `the publication reached the waiting device in ${Math.round(lag)} ms`);
      const payload = readJws<BundlePayload>(got.text, device.keys).payload;
      const before = readJws<BundlePayload>(first.text, device.keys).payload;
      assert.equal(payload.revision, before.revision + 1);
      assert.deepEqual(
        payload.policies.find((p) => p.name === 'baseline')?.document.network?.allow?.[0]?.hosts,
        ['docs.example.com', 'wiki.example.com'],
      );
    });

    it('a change of the user’s groups wakes the device too, at the same revision', async () => {
      const h = harness();
      const device = await enrolDevice(h, org.users.carol, 'carol-laptop');
      const first = await fetchBundle(h, device.access_token);
      const waiting = fetchBundle(h, device.access_token, first.etag ?? '', 30);
      await until('the long poll waiting', () => h.server.changes.waiters === 1);
      await h.owner.put(`${h.base}/groups/${org.groups.sales}/members/${org.users.carol}`);
      const got = await waiting;
      assert.equal(got.status, 200);
      assert.ok(got.ms < 25_000, 'woken by the change, not by the end of its 30 s hold');
      const payload = readJws<BundlePayload>(got.text, device.keys).payload;
      assert.equal(payload.revision, readJws<BundlePayload>(first.text, device.keys).payload.revision);
      assert.deepEqual(payload.subject.groups, ['sales']);
      assert.ok(payload.policies.some((p) => p.name === 'sales'));
    });

    it('a device reports what it activated, or why it refused; admins see it', async () => {
      const h = harness();
      const device = await enrolDevice(h, org.users.bob, 'reporter');
      const auth = { authorization: `Bearer ${device.access_token}`, 'content-type': 'application/json' };
      const ok = await fetch(`${h.server.url}/api/v1/device/activation`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ revision: 6, issuedAt: '2026-01-01T00:00:00.000Z' }),
      });
      assert.equal(ok.status, 204);
      let view = await h.owner.get<{ revision: number; error: string | null }>(
        `${h.base}/devices/${device.device.id}`,
      );
      assert.deepEqual([view.body.revision, view.body.error], [6, null]);
      const failed = await fetch(`${h.server.url}/api/v1/device/activation`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({
          revision: 7,
          error: { code: 'bad-signature', message: 'the signature does not verify' },
        }),
      });
      assert.equal(failed.status, 204);
      view = await h.owner.get(`${h.base}/devices/${device.device.id}`);
      assert.deepEqual(
        [view.body.revision, view.body.error],
        [6, 'bad-signature: the signature does not verify (revision 7)'],
        'the last good revision stays, with the error beside it',
      );
    });

    it('a revoked device, and a device of an inactive user, are refused', async () => {
      const h = harness();
      const revoked = await enrolDevice(h, org.users.bob, 'stolen');
      assert.equal((await h.owner.delete(`${h.base}/devices/${revoked.device.id}`)).status, 204);
      const refused = await fetchBundle(h, revoked.access_token);
      assert.equal(refused.status, 401);
      assert.match(refused.text, /revoked/);

      const user = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'erin@example.com' });
      const erins = await enrolDevice(h, user.body.id);
      assert.equal((await fetchBundle(h, erins.access_token)).status, 200);
      await h.owner.patch(`${h.base}/users/${user.body.id}`, { active: false });
      assert.equal((await fetchBundle(h, erins.access_token)).status, 401);
      assert.equal(
        (await h.client(erins.access_token).get(`${h.base}/users`)).status,
        401,
        'not an API token',
      );
    });

    it('a device waiting in a long poll is refused (401) the moment it is revoked, or its user deactivated or removed', async () => {
      const h = harness();
      /** Holds a long poll with the current ETag, makes the change (expecting `status`), returns the poll's answer. */
      const waitThrough = async (
        credential: string,
        change: () => Promise<{ status: number }>,
        status: number,
      ): Promise<Fetched> => {
        const first = await fetchBundle(h, credential);
        assert.equal(first.status, 200);
        const waiting = fetchBundle(h, credential, first.etag ?? '', 30);
        await until('the long poll waiting', () => h.server.changes.waiters === 1);
        assert.equal((await change()).status, status);
        return waiting;
      };
      const stolen = await enrolDevice(h, org.users.bob, 'stolen-while-polling');
      const revoked = await waitThrough(
        stolen.access_token,
        () => h.owner.delete(`${h.base}/devices/${stolen.device.id}`),
        204,
      );
      assert.equal(revoked.status, 401);
      assert.match(revoked.text, /revoked/);
      assert.ok(
        revoked.ms < 3000,
        `answered at the revocation, not after the wait (${Math.round(revoked.ms)} ms)`,
      );

      const frank = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'frank@example.com' });
      const franks = await enrolDevice(h, frank.body.id, 'franks-laptop');
      const inactive = await waitThrough(
        franks.access_token,
        () => h.owner.patch(`${h.base}/users/${frank.body.id}`, { active: false }),
        200,
      );
      assert.equal(inactive.status, 401);
      assert.match(inactive.text, /not active/);
      assert.ok(inactive.ms < 25_000, 'answered on the change, not at the end of the hold');

      const gina = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'gina@example.com' });
      const ginas = await enrolDevice(h, gina.body.id, 'ginas-laptop');
      const removed = await waitThrough(
        ginas.access_token,
        () => h.owner.delete(`${h.base}/users/${gina.body.id}`),
        204,
      );
      assert.equal(removed.status, 401, 'never a fresh bundle signed for a removed user');
      assert.ok(removed.ms < 25_000, 'answered on the change, not at the end of the hold');
    });

    it('devices woken by one publication: the one revoked before it is refused, the rest get it (the batched reads keep each device its own standing; batched-calls.test.ts proves no read starts before its caller asked)', async () => {
      const h = harness();
      const crowd: Awaited<ReturnType<typeof enrolDevice>>[] = [];
      for (let i = 0; i < 5; i++) crowd.push(await enrolDevice(h, org.users.alice, `crowd-${i}`));
      const firsts = await Promise.all(crowd.map((d) => fetchBundle(h, d.access_token)));
      const waiting = crowd.map((d, i) => fetchBundle(h, d.access_token, firsts[i]?.etag ?? '', 30));
      await until('the crowd waiting', () => h.server.changes.waiters === crowd.length);
      const [stolen] = crowd;
      assert.ok(stolen);
      assert.equal((await h.owner.delete(`${h.base}/devices/${stolen.device.id}`)).status, 204);
      await publishPolicy(
        h,
        'baseline',
        `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: baseline\n  layer: org\nnetwork:\n  allow:\n    - { id: docs, hosts: [docs.example.com, crowd.example.com], ports: [443] }\n`,
        org.policies.baseline,
      );
      const answers = await Promise.all(waiting);
      assert.equal(answers[0]?.status, 401, 'never the publication after its revocation was acknowledged');
      assert.match(answers[0]?.text ?? '', /revoked/);
      const revision = readJws<BundlePayload>(firsts[1]?.text ?? '', crowd[1]?.keys ?? { keys: [] }).payload
        .revision;
      for (const [i, got] of answers.slice(1).entries()) {
        assert.equal(got.status, 200, `device ${i + 1}`);
        assert.ok(got.ms < 25_000, 'woken by the publication, not by the end of its 30 s hold');
        assert.equal(
          readJws<BundlePayload>(got.text, crowd[i + 1]?.keys ?? { keys: [] }).payload.revision,
          revision + 1,
        );
      }
    });

    it('serves the verification page: the form, its script, a CSP that allows no inline script', async () => {
      const h = harness();
      const page = await fetch(`${h.server.url}/device?code=BCDF-GHJK`);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(
        page.headers.get('content-security-policy') ?? '',
        /script-src 'self'; connect-src 'self'/,
      );
      const html = await page.text();
      assert.match(html, /<input id="invitation"/);
      assert.match(html, /<script src="\/device\.js"><\/script>/);
      const script = await fetch(`${h.server.url}/device.js`);
      assert.equal(script.status, 200);
      assert.match(await script.text(), /\/api\/v1\/device\/verification/);
    });

    // Last: it stops the suite's server.
    it('a stopping server answers waiting devices at once (304), rather than hold the stop', async () => {
      const h = harness();
      const device = await enrolDevice(h, org.users.alice, 'at-shutdown');
      const first = await fetchBundle(h, device.access_token);
      const waiting = fetchBundle(h, device.access_token, first.etag ?? '', 30);
      await until('the long poll waiting', () => h.server.changes.waiters === 1);
      const stopping = performance.now();
      await h.server.close();
      const got = await waiting;
      assert.equal(got.status, 304);
      assert.ok(performance.now() - stopping < 2000, 'the stop did not wait for the poll to time out');
    });
  },
  { devices: { pollIntervalS: 1 } },
);

eachServer(
  'device logins waiting at once',
  (harness) => {
    it('a login start past maxWaitingLogins is refused with 429 and Retry-After until one is approved or expires', async () => {
      const h = harness();
      const org = await seedOrg(h);
      const codes = [await startLogin(h, 'one'), await startLogin(h, 'two'), await startLogin(h, 'three')];
      const refused = await postForm(h.server.url, '/api/v1/oauth/device_authorization', {
        client_id: 'perimeter-cli',
        device_name: 'four',
      });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error, 'slow_down');
      assert.match(
        refused.body.error_description ?? '',
        /^3 device logins are already waiting for approval; try again/,
      );
      assert.equal(refused.headers.get('retry-after'), '60');

      // An approved login no longer waits: its place is free.
      const invitation = await invite(h, org.users.alice);
      const approved = await verification(h, {
        userCode: codes[0]?.user_code,
        invitation,
        decision: 'approve',
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      await startLogin(h, 'four');
      const again = await postForm(h.server.url, '/api/v1/oauth/device_authorization', {
        client_id: 'perimeter-cli',
        device_name: 'five',
      });
      assert.equal(again.status, 429);

      // Expired logins no longer wait either.
      h.clock.advance(10 * 60_000 + 1);
      await startLogin(h, 'six');
    });
  },
  { devices: { pollIntervalS: 1, maxWaitingLogins: 3 } },
);
