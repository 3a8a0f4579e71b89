// The device's bundle verifier, case by case: bundles signed with the server's own code
// (effectiveBundle, signCompact), verified with the CLI's; every refusal a device makes, and the
// adoption of a rotated key through its endorsement chain.

import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  BUNDLE_TYPE as SERVER_BUNDLE_TYPE,
  ENDORSEMENT_TYPE as SERVER_ENDORSEMENT_TYPE,
  effectiveBundle,
  publicJwk,
  signCompact,
  thumbprint as serverThumbprint,
  type BundlePayload,
} from '@perimeter/server';
import type { PolicyDocument } from '@perimeter/policy';
import {
  adoptEndorsedKeys,
  BUNDLE_TYPE,
  ENDORSEMENT_TYPE,
  thumbprint,
  verifyBundle,
  type TrustedKey,
} from '../src/device/bundle-verify.js';

const ORG = { id: 'org_0190f0f0f0f07000800000000000abcd', slug: 'acme' };
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const DAY = 86_400_000;

interface Key {
  readonly trusted: TrustedKey;
  readonly private: KeyObject;
}

function newKey(): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x ?? '';
  return { trusted: { kid: publicJwk(x).kid, x }, private: privateKey };
}

const DOC = {
  apiVersion: 'perimeter/v1',
  kind: 'Policy',
  metadata: { name: 'baseline', layer: 'org' },
  network: { allow: [{ id: 'docs', hosts: ['docs.example.com'], ports: [443] }] },
} as unknown as PolicyDocument;

function payload(
  over: Partial<{ revision: number; issuedAt: number; notAfter: number; org: typeof ORG }> = {},
): BundlePayload {
  const issuedAt = over.issuedAt ?? NOW - 1000;
  return effectiveBundle({
    org: over.org ?? ORG,
    revision: over.revision ?? 7,
    published: [{ id: 'pol_1', name: 'baseline', revision: 3, sha256: 'a'.repeat(64), document: DOC }],
    groups: ['eng'],
    issuedAt,
    notAfter: over.notAfter ?? issuedAt + 7 * DAY,
  });
}

const sign = (p: unknown, key: Key, typ = SERVER_BUNDLE_TYPE): string =>
  signCompact({ alg: 'EdDSA', kid: key.trusted.kid, typ }, p, key.private);

const b64 = (v: unknown): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

const key = newKey();
const expect = { orgId: ORG.id, now: NOW };

function refusal(jws: string, trusted: readonly TrustedKey[] = [key.trusted], e = expect): string {
  const result = verifyBundle(jws, trusted, e);
  assert.equal(result.ok, false, 'refused');
  return result.ok ? '' : result.code;
}

describe('verifyBundle', () => {
  it('accepts a bundle signed by a trusted key, and gives back its payload', () => {
    const p = payload();
    const result = verifyBundle(sign(p, key), [key.trusted], expect);
    assert.ok(result.ok);
    assert.equal(result.kid, key.trusted.kid);
    assert.deepEqual(result.payload, p);
    assert.equal(result.payload.policies[0]?.document.metadata.org, 'acme');
  });

  it('shares the server’s type names and key ids', () => {
    assert.equal(BUNDLE_TYPE, SERVER_BUNDLE_TYPE);
    assert.equal(ENDORSEMENT_TYPE, SERVER_ENDORSEMENT_TYPE);
    assert.equal(thumbprint(key.trusted.x), serverThumbprint(key.trusted.x));
  });

  it('refuses an unsigned bundle: plain JSON, alg none, or no signature', () => {
    assert.equal(refusal(JSON.stringify(payload())), 'unsigned');
    assert.equal(refusal(`${b64({ alg: 'none', typ: BUNDLE_TYPE })}.${b64(payload())}.`), 'unsigned');
    const [h, p] = sign(payload(), key).split('.');
    assert.equal(refusal(`${h}.${p}.`), 'unsigned');
  });

  it('refuses what is not a compact JWS', () => {
    assert.equal(refusal('not a bundle'), 'malformed');
    assert.equal(refusal(`${b64({ alg: 'EdDSA' })}.${b64(payload())}`), 'malformed');
    assert.equal(refusal(`${b64('[1]')}.${b64(payload())}.AAAA`), 'malformed');
  });

  it('refuses another algorithm and another kind of signed object', () => {
    const [, p, s] = sign(payload(), key).split('.');
    assert.equal(
      refusal(`${b64({ alg: 'HS256', kid: key.trusted.kid, typ: BUNDLE_TYPE })}.${p}.${s}`),
      'wrong-algorithm',
    );
    assert.equal(refusal(sign(payload(), key, SERVER_ENDORSEMENT_TYPE)), 'wrong-type');
  });

  it('refuses a header that brings its own key (jwk, jku): only pinned keys verify', () => {
    const attacker = newKey();
    const jws = signCompact(
      {
        alg: 'EdDSA',
        kid: attacker.trusted.kid,
        typ: BUNDLE_TYPE,
        jwk: publicJwk(attacker.trusted.x),
      } as never,
      payload(),
      attacker.private,
    );
    assert.equal(refusal(jws), 'malformed');
  });

  it('refuses a bundle signed by a key the device does not trust', () => {
    assert.equal(refusal(sign(payload(), newKey())), 'unknown-key');
    const other = newKey();
    // The right kid, the wrong key: the signature fails.
    assert.equal(
      refusal(
        signCompact({ alg: 'EdDSA', kid: key.trusted.kid, typ: BUNDLE_TYPE }, payload(), other.private),
      ),
      'bad-signature',
    );
  });

  it('refuses a tampered payload', () => {
    const [h, , s] = sign(payload(), key).split('.');
    const changed = { ...payload(), revision: 99 };
    assert.equal(refusal(`${h}.${b64(changed)}.${s}`), 'bad-signature');
    const loosened = payload();
    const doc = loosened.policies[0]?.document as unknown as { network: { allow: { hosts: string[] }[] } };
    doc.network.allow[0]!.hosts = ['**'];
    assert.equal(refusal(`${h}.${b64(loosened)}.${s}`), 'bad-signature');
  });

  it('refuses a signed payload of another shape or format', () => {
    assert.equal(refusal(sign({ ...payload(), format: 2 }, key)), 'bad-payload');
    const { policies: _, ...noPolicies } = payload();
    assert.equal(refusal(sign(noPolicies, key)), 'bad-payload');
    assert.equal(refusal(sign({ ...payload(), revision: -1 }, key)), 'bad-payload');
    assert.equal(refusal(sign({ ...payload(), issuedAt: 'yesterday' }, key)), 'bad-payload');
    assert.equal(refusal(sign([1, 2], key)), 'bad-payload');
  });

  it('refuses a bundle of another organisation', () => {
    assert.equal(refusal(sign(payload({ org: { id: 'org_other', slug: 'other' } }), key)), 'wrong-org');
  });

  it('refuses an expired bundle, and one issued ahead of the device’s clock', () => {
    assert.equal(refusal(sign(payload({ issuedAt: NOW - 8 * DAY }), key)), 'expired');
    assert.equal(
      refusal(sign(payload({ issuedAt: NOW - DAY, notAfter: NOW }), key)),
      'expired',
      'at not-after itself',
    );
    assert.equal(refusal(sign(payload({ issuedAt: NOW + 10 * 60_000 }), key)), 'not-yet-valid');
    assert.ok(
      verifyBundle(sign(payload({ issuedAt: NOW + 60_000 }), key), [key.trusted], expect).ok,
      'a minute of skew is fine',
    );
  });

  it('refuses a lower revision, and the same revision issued earlier (a replay); accepts a reissue', () => {
    const held = { revision: 7, issuedAt: new Date(NOW - 1000).toISOString() };
    const e = { ...expect, held };
    assert.equal(refusal(sign(payload({ revision: 6 }), key), [key.trusted], e), 'rollback');
    assert.equal(
      refusal(sign(payload({ revision: 7, issuedAt: NOW - 5000 }), key), [key.trusted], e),
      'rollback',
    );
    assert.ok(verifyBundle(sign(payload({ revision: 7 }), key), [key.trusted], e).ok, 'the very same issue');
    assert.ok(
      verifyBundle(sign(payload({ revision: 7, issuedAt: NOW }), key), [key.trusted], e).ok,
      'reissued later',
    );
    assert.ok(
      verifyBundle(sign(payload({ revision: 8, issuedAt: NOW - 9000 }), key), [key.trusted], e).ok,
      'newer revision',
    );
  });
});

describe('adoptEndorsedKeys', () => {
  const endorse = (by: Key, next: Key, org = ORG.id, x = next.trusted.x): string =>
    signCompact(
      { alg: 'EdDSA', kid: by.trusted.kid, typ: SERVER_ENDORSEMENT_TYPE },
      { org, kid: next.trusted.kid, x, endorsedAt: new Date(NOW).toISOString() },
      by.private,
    );

  it('trusts a chain of rotations from a pinned key, in any order', () => {
    const k1 = newKey();
    const k2 = newKey();
    const k3 = newKey();
    const published = [
      { ...k3.trusted, endorsement: endorse(k2, k3) },
      { ...k2.trusted, endorsement: endorse(k1, k2) },
      k1.trusted,
    ];
    const { trusted, adopted } = adoptEndorsedKeys([k1.trusted], published, ORG.id);
    assert.deepEqual(adopted, [k2.trusted.kid, k3.trusted.kid]);
    assert.deepEqual(
      trusted.map((k) => k.kid),
      [k1.trusted.kid, k2.trusted.kid, k3.trusted.kid],
    );
    assert.ok(verifyBundle(sign(payload(), k3), trusted, expect).ok, 'a bundle of the newest key verifies');
  });

  it('does not trust a key without an endorsement, or endorsed by an untrusted key, or for another org or key', () => {
    const pinned = newKey();
    const stranger = newKey();
    const a = newKey();
    const b = newKey();
    const c = newKey();
    const d = newKey();
    const published = [
      a.trusted,
      { ...b.trusted, endorsement: endorse(stranger, b) },
      { ...c.trusted, endorsement: endorse(pinned, c, 'org_other') },
      { ...d.trusted, endorsement: endorse(pinned, d, ORG.id, a.trusted.x) },
      // A kid that is not the key's thumbprint, endorsed: refused.
      {
        kid: 'not-a-thumbprint',
        x: a.trusted.x,
        endorsement: endorse(pinned, { ...a, trusted: { kid: 'not-a-thumbprint', x: a.trusted.x } }),
      },
    ];
    const { adopted } = adoptEndorsedKeys([pinned.trusted], published, ORG.id);
    assert.deepEqual(adopted, []);
    assert.equal(refusal(sign(payload(), b), [pinned.trusted]), 'unknown-key');
  });
});
