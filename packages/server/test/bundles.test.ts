// Signed bundles on both backends: what each subject's bundle holds (guardrail, org and local
// policies for everyone, group policies by group name), the signature as any JWS verifier reads
// it, the revision that follows publications, reissue with the same revision, key rotation with
// endorsement and retirement, and the key-encryption key that the keys cannot be used without.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BUNDLE_TYPE,
  ENDORSEMENT_TYPE,
  KEK_FILE,
  ServerStartError,
  thumbprint,
  type BundlePayload,
  type EndorsementPayload,
  type KeySet,
} from '../src/index.js';
import { BACKENDS, freshDatabase } from './backends.js';
import { assertCanonical, publishPolicy, readJws, seedOrg, type Org } from './bundle-support.js';
import { adminWith, claim, eachServer, Client, serve, testClock, type Harness } from './harness.js';

const DAY = 86_400_000;

interface BundleReply {
  jws: string;
  etag: string;
  kid: string;
  payload: BundlePayload;
}

async function bundleOf(h: Harness, user: string): Promise<BundleReply> {
  const r = await h.owner.get<BundleReply>(`${h.base}/users/${user}/bundle`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function keysOf(h: Harness): Promise<KeySet> {
  const r = await h.client().get<KeySet>(`${h.base}/keys`);
  assert.equal(r.status, 200);
  return r.body;
}

eachServer('signed bundles', (harness) => {
  let org: Org;
  it('a bundle holds the guardrail and org policies for everyone, and group policies by group name', async () => {
    const h = harness();
    org = await seedOrg(h);
    const names = async (user: string): Promise<string[]> =>
      (await bundleOf(h, user)).payload.policies.map((p) => `${p.layer}:${p.name}`);
    assert.deepEqual(await names(org.users.alice), [
      'guardrail:guardrail',
      'org:baseline',
      'group:engineering',
    ]);
    assert.deepEqual(await names(org.users.bob), ['guardrail:guardrail', 'org:baseline', 'group:sales']);
    assert.deepEqual(await names(org.users.carol), ['guardrail:guardrail', 'org:baseline']);

    const alice = (await bundleOf(h, org.users.alice)).payload;
    assert.equal(alice.format, 1);
    assert.deepEqual(alice.org, { id: h.org.id, slug: h.org.slug });
    assert.deepEqual(alice.subject.groups, ['eng']);
    assert.match(alice.subject.id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(alice.revision, 4, "the organisation's publication number: four publications so far");
    const eng = alice.policies.find((p) => p.name === 'engineering');
    assert.equal(eng?.id, org.policies.engineering);
    assert.equal(eng?.revision, 1);
    assert.match(eng?.sha256 ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(eng?.document.metadata, {
      name: 'engineering',
      layer: 'group',
      groups: ['eng'],
      org: h.org.slug,
      revision: 1,
    });
    assert.deepEqual(eng?.document.network?.allow?.[0]?.hosts, ['api.github.com']);
    assert.equal(
      Date.parse(alice.notAfter) - Date.parse(alice.issuedAt),
      7 * DAY,
      'valid seven days by default',
    );
  });

  it('users with the same groups share one bundle; a group bound by a second name applies too', async () => {
    const h = harness();
    const dave = await h.owner.post<{ id: string }>(`${h.base}/users`, { email: 'dave@example.com' });
    const marketing = await h.owner.post<{ id: string }>(`${h.base}/groups`, { name: 'marketing' });
    await h.owner.put(`${h.base}/groups/${marketing.body.id}/members/${dave.body.id}`);
    const daves = await bundleOf(h, dave.body.id);
    assert.deepEqual(
      daves.payload.policies.map((p) => p.name),
      ['guardrail', 'baseline', 'sales'],
    );
    await h.owner.put(`${h.base}/groups/${org.groups.eng}/members/${dave.body.id}`);
    await h.owner.delete(`${h.base}/groups/${marketing.body.id}/members/${dave.body.id}`);
    const same = await bundleOf(h, dave.body.id);
    const alices = await bundleOf(h, org.users.alice);
    assert.equal(same.jws, alices.jws, 'dave now has exactly alice’s groups: the same signed bundle');
  });

  it('is a compact JWS (EdDSA, kid, typ) over canonical JSON that any verifier accepts with the published key', async () => {
    const h = harness();
    const bundle = await bundleOf(h, org.users.alice);
    const keys = await keysOf(h);
    const read = readJws(bundle.jws, keys);
    assert.deepEqual(read.header, { alg: 'EdDSA', kid: bundle.kid, typ: BUNDLE_TYPE });
    assert.ok(read.isValid, 'the signature verifies with the key the key set publishes');
    assertCanonical(read.payloadText);
    assert.deepEqual(read.payload, bundle.payload);
    assert.equal(keys.keys.length, 1);
    assert.equal(keys.keys[0]?.status, 'active');
    assert.equal(keys.keys[0]?.kid, bundle.kid);

    const [header, payload, signature] = bundle.jws.split('.') as [string, string, string];
    const changed = { ...read.payload, revision: read.payload.revision + 1 };
    const forged = `${header}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`;
    assert.equal(readJws(forged, keys).isValid, false, 'a changed payload fails the signature');
    assert.notEqual(forged.split('.')[1], payload);
  });

  it('a publication raises the revision of every bundle; the same revision is reissued only once it ages', async () => {
    const h = harness();
    const before = await bundleOf(h, org.users.carol);
    const again = await bundleOf(h, org.users.carol);
    assert.equal(again.jws, before.jws, 'unchanged: the same bundle, byte for byte');
    await publishPolicy(
      h,
      'engineering',
      `apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: engineering\n  layer: group\n  groups: [eng]\nnetwork:\n  allow:\n    - { id: github, hosts: [api.github.com, uploads.github.com], ports: [443] }\n`,
      org.policies.engineering,
    );
    const after = await bundleOf(h, org.users.carol);
    assert.equal(after.payload.revision, before.payload.revision + 1, 'carol’s revision moves too');
    assert.notEqual(after.etag, before.etag);
    const alice = await bundleOf(h, org.users.alice);
    assert.equal(alice.payload.policies.find((p) => p.name === 'engineering')?.revision, 2);

    h.clock.advance(DAY + 1000);
    const aged = await bundleOf(h, org.users.carol);
    assert.equal(aged.payload.revision, after.payload.revision);
    assert.ok(Date.parse(aged.payload.issuedAt) > Date.parse(after.payload.issuedAt), 'reissued after a day');
    assert.notEqual(aged.etag, after.etag);
  });

  it('only those who may see devices read a user’s bundle; the keys are public; only an owner rotates', async () => {
    const h = harness();
    const viewer = await adminWith(h, 'viewer');
    assert.equal((await viewer.client.get(`${h.base}/users/${org.users.alice}/bundle`)).status, 200);
    assert.equal((await h.client().get(`${h.base}/users/${org.users.alice}/bundle`)).status, 401);
    const admin = await adminWith(h, 'policy-admin');
    const refused = await admin.client.post(`${h.base}/keys/rotate`);
    assert.equal(refused.status, 403);
    assert.equal(
      (await h.client().get('/api/v1/orgs/org_00000000000000000000000000000000/keys')).status,
      404,
    );
  });

  it('a rotation signs with a new key endorsed by the old one, which stays published until its bundles expire', async () => {
    const h = harness();
    const old = await bundleOf(h, org.users.alice);
    const rotated = await h.owner.post<{ kid: string; replaced: string }>(`${h.base}/keys/rotate`);
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.replaced, old.kid);
    const keys = await keysOf(h);
    assert.deepEqual(
      keys.keys.map((k) => [k.kid, k.status]),
      [
        [old.kid, 'retired'],
        [rotated.body.kid, 'active'],
      ],
    );
    const fresh = await bundleOf(h, org.users.alice);
    assert.equal(fresh.kid, rotated.body.kid);
    assert.equal(fresh.payload.revision, old.payload.revision, 'same publication, new signature');
    assert.ok(readJws(fresh.jws, keys).isValid);

    const endorsement = keys.keys[1]?.endorsement ?? '';
    const read = readJws<EndorsementPayload>(endorsement, { keys: [keys.keys[0]!] });
    assert.equal(read.header.typ, ENDORSEMENT_TYPE);
    assert.equal(read.header.kid, old.kid);
    assert.ok(read.isValid, 'the old key vouches for the new one');
    assert.deepEqual(
      { org: read.payload.org, kid: read.payload.kid, x: read.payload.x },
      { org: h.org.id, kid: rotated.body.kid, x: keys.keys[1]?.x },
    );

    const events = await h.owner.get<{ events: { type: string }[] }>(
      `${h.base}/events?type=admin.key.rotate`,
    );
    assert.equal(events.body.events.length, 1);

    h.clock.advance(7 * DAY + 1000);
    assert.deepEqual(
      (await keysOf(h)).keys.map((k) => k.kid),
      [rotated.body.kid],
      'the old key leaves the set once every bundle it signed has expired',
    );
  });
});

describe('the key-encryption key', () => {
  for (const backend of BACKENDS)
    it(`the keys survive a restart, and without ${KEK_FILE} the server does not start (${backend})`, async (t) => {
      const db = await freshDatabase(backend);
      t.after(() => db.drop());
      const clock = testClock();
      const logs: Record<string, unknown>[] = [];
      const first = await serve(db, clock, logs);
      const claimed = await claim(first.url, first.bootstrap?.token ?? '');
      const keysPath = `/api/v1/orgs/${claimed.org.id}/keys`;
      const kid = (await new Client(first.url).get<KeySet>(keysPath)).body.keys[0]?.kid;
      await first.close();

      const second = await serve(db, clock, logs);
      assert.equal((await new Client(second.url).get<KeySet>(keysPath)).body.keys[0]?.kid, kid);
      // The private key really unseals: a bundle is signed with it.
      const owner = new Client(second.url, claimed.token.secret);
      const user = await owner.post<{ id: string }>(`/api/v1/orgs/${claimed.org.id}/users`, {
        email: 'u@example.com',
      });
      const bundle = await owner.get<BundleReply>(
        `/api/v1/orgs/${claimed.org.id}/users/${user.body.id}/bundle`,
      );
      assert.equal(bundle.body.kid, kid);
      await second.close();

      rmSync(join(db.dataDir, KEK_FILE));
      await assert.rejects(
        serve(db, clock, logs),
        (e: unknown) =>
          e instanceof ServerStartError && e.code === 'signing-keys' && e.message.includes(`${KEK_FILE}`),
      );
    });
});

it('key ids are RFC 7638 thumbprints (RFC 8037 A.3’s example key)', () => {
  assert.equal(
    thumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'),
    'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k',
  );
});
