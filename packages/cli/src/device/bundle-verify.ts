// Verifying a signed policy bundle on a device: pure logic over the bundle's bytes, the keys the
// device trusts, and what it holds now. No file, no network: the sync loop, `perimeter run` and
// the tests all call the same function, and a refusal is data (a code and one sentence), never an
// exception. The server's format (packages/server/src/effective-bundle.ts, jws.ts) is imported
// as types only, so the server never enters the CLI's bundle; the CLI's tests sign with the
// server's code and verify with this.
//
// Refused, and the device keeps its last good bundle: anything that is not a compact JWS; an
// unsigned one (alg none, no signature, plain JSON); another algorithm; another `typ`; a header
// that brings its own key (jwk, jku, x5u: only pinned keys count); a key id the device does not
// trust; a bad signature; a payload of another shape, format or organisation; an expired one; one
// issued in the future; a lower revision, or the same revision issued earlier (a replay).

import { createHash, createPublicKey, verify } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';
import type { BundlePayload, EndorsementPayload, PublishedKey } from '@perimeter/server';

/** The JWS `typ` of a bundle and of a key endorsement (the server's BUNDLE_TYPE, ENDORSEMENT_TYPE). */
export const BUNDLE_TYPE = 'perimeter-bundle+jws';
export const ENDORSEMENT_TYPE = 'perimeter-key-endorsement+jws';
const BUNDLE_FORMAT = 1;

/** How far ahead of this device's clock a bundle's issue time may be (clocks drift). */
const CLOCK_SKEW_MS = 5 * 60_000;

/** A signing key the device trusts: pinned at login, or endorsed by one it trusted. */
export interface TrustedKey {
  readonly kid: string;
  /** The Ed25519 public key, base64url (a JWK's `x`). */
  readonly x: string;
}

export type RefusalCode =
  | 'malformed'
  | 'unsigned'
  | 'wrong-algorithm'
  | 'wrong-type'
  | 'unknown-key'
  | 'bad-signature'
  | 'bad-payload'
  | 'wrong-org'
  | 'expired'
  | 'not-yet-valid'
  | 'rollback';

export interface Refusal {
  readonly ok: false;
  readonly code: RefusalCode;
  /** One sentence for a person. */
  readonly message: string;
  /** The revision the bundle claims, when it could be read. */
  readonly revision?: number;
}

export interface Verified {
  readonly ok: true;
  readonly kid: string;
  readonly payload: BundlePayload;
}

/** What the device holds now: a new bundle must not be older. */
export interface Held {
  readonly revision: number;
  readonly issuedAt: string;
}

/** A rollback: a lower revision than the one held, or the same revision issued earlier (a replay). */
export const isOlder = (bundle: Held, held: Held): boolean =>
  bundle.revision < held.revision ||
  (bundle.revision === held.revision && Date.parse(bundle.issuedAt) < Date.parse(held.issuedAt));

export interface Expectation {
  /** The organisation the device is enrolled in. */
  readonly orgId: string;
  readonly now: number;
  /** The active bundle, if any: a lower revision, or the same issued earlier, is a rollback. */
  readonly held?: Held;
}

const refuse = (code: RefusalCode, message: string, revision?: number): Refusal => ({
  ok: false,
  code,
  message,
  ...(revision !== undefined ? { revision } : {}),
});

const SEGMENT = /^[A-Za-z0-9_-]*$/;

function decodeJson(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** A compact JWS's parts and header, or why it is not one we accept (the signature unchecked). */
function parseCompact(
  jws: string,
  typ: string,
): { header: { kid: string }; input: string; payload: string; signature: Buffer } | Refusal {
  const text = jws.trim();
  if (text.startsWith('{'))
    return refuse('unsigned', 'the bundle is plain JSON, not signed (a JWS): it is not from the server');
  const parts = text.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p)))
    return refuse('malformed', 'the bundle is not a compact JWS (three base64url parts)');
  const [h = '', p = '', s = ''] = parts;
  const header = decodeJson(h);
  if (!isObject(header)) return refuse('malformed', 'the bundle’s JWS header is not a JSON object');
  if (header.alg === 'none' || s === '')
    return refuse('unsigned', 'the bundle is not signed (alg "none" or no signature)');
  if (header.alg !== 'EdDSA')
    return refuse('wrong-algorithm', `the bundle is signed with ${String(header.alg)}, not EdDSA (Ed25519)`);
  if (header.typ !== typ)
    return refuse('wrong-type', `the signed object is a ${String(header.typ)}, not a ${typ}`);
  // Only pinned keys verify: a header that carries or points at its own key is refused outright.
  const extra = Object.keys(header).filter((k) => k !== 'alg' && k !== 'kid' && k !== 'typ');
  if (extra.length > 0)
    return refuse(
      'malformed',
      `the bundle’s JWS header has members this device does not accept (${extra.join(', ')})`,
    );
  if (typeof header.kid !== 'string' || header.kid === '')
    return refuse('malformed', 'the bundle’s JWS header names no key (kid)');
  return {
    header: { kid: header.kid },
    input: `${h}.${p}`,
    payload: p,
    signature: Buffer.from(s, 'base64url'),
  };
}

function isSignedBy(input: string, signature: Buffer, key: TrustedKey): boolean {
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
    return verify(null, Buffer.from(input, 'ascii'), publicKey, signature);
  } catch {
    return false;
  }
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/;
const isTime = (v: unknown): v is string =>
  typeof v === 'string' && ISO.test(v) && Number.isFinite(Date.parse(v));
const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const LAYERS = new Set(['guardrail', 'org', 'group', 'local']);

/** The payload's shape, checked field by field (the policy documents themselves are checked when loaded). */
function payloadProblem(p: Record<string, unknown>): string | undefined {
  const org = p.org;
  const subject = p.subject;
  if (!isObject(org) || !isString(org.id) || !isString(org.slug)) return 'org';
  if (
    !isObject(subject) ||
    !isString(subject.id) ||
    !Array.isArray(subject.groups) ||
    !subject.groups.every(isString)
  )
    return 'subject';
  if (!isCount(p.revision)) return 'revision';
  if (!isTime(p.issuedAt)) return 'issuedAt';
  if (!isTime(p.notAfter)) return 'notAfter';
  if (!Array.isArray(p.policies)) return 'policies';
  for (const [i, policy] of p.policies.entries()) {
    if (
      !isObject(policy) ||
      !isString(policy.id) ||
      !isString(policy.name) ||
      !isString(policy.layer) ||
      !LAYERS.has(policy.layer) ||
      !isCount(policy.revision) ||
      !isString(policy.sha256) ||
      !isObject(policy.document)
    )
      return `policies[${i}]`;
  }
  return undefined;
}

/** Verifies a bundle for a device: the verified payload, or why it is refused. */
export function verifyBundle(
  jws: string,
  trusted: readonly TrustedKey[],
  expect: Expectation,
): Verified | Refusal {
  const parsed = parseCompact(jws, BUNDLE_TYPE);
  if ('ok' in parsed) return parsed;
  const key = trusted.find((k) => k.kid === parsed.header.kid);
  if (!key)
    return refuse(
      'unknown-key',
      `the bundle is signed by key ${parsed.header.kid}, which this device does not trust`,
    );
  if (!isSignedBy(parsed.input, parsed.signature, key))
    return refuse('bad-signature', 'the bundle’s signature does not verify: it was changed after signing');
  const payload = decodeJson(parsed.payload);
  if (!isObject(payload)) return refuse('bad-payload', 'the signed bundle is not a JSON object');
  if (payload.format !== BUNDLE_FORMAT)
    return refuse(
      'bad-payload',
      `the bundle's format ${String(payload.format)} is not one this perimeter reads (1)`,
    );
  const problem = payloadProblem(payload);
  if (problem !== undefined)
    return refuse('bad-payload', `the signed bundle's ${problem} is missing or malformed`);
  // Checked field by field above: this is the server's BundlePayload.
  const bundle = payload as unknown as BundlePayload;
  const revision = bundle.revision;
  if (bundle.org.id !== expect.orgId)
    return refuse(
      'wrong-org',
      `the bundle is for organisation ${bundle.org.id}, not this device's ${expect.orgId}`,
      revision,
    );
  if (expect.now >= Date.parse(bundle.notAfter))
    return refuse('expired', `revision ${revision} expired at ${bundle.notAfter}`, revision);
  if (Date.parse(bundle.issuedAt) > expect.now + CLOCK_SKEW_MS)
    return refuse(
      'not-yet-valid',
      `revision ${revision} was issued at ${bundle.issuedAt}, ahead of this device's clock: check the clock`,
      revision,
    );
  const held = expect.held;
  if (held && isOlder(bundle, held))
    return refuse(
      'rollback',
      revision < held.revision
        ? `revision ${revision} is older than the active revision ${held.revision}`
        : `revision ${revision} issued at ${bundle.issuedAt} is older than the active one (issued ${held.issuedAt})`,
      revision,
    );
  return { ok: true, kid: key.kid, payload: bundle };
}

/** RFC 7638: what a key id must be for its key (so an endorsed key cannot pose as another kid). */
export function thumbprint(x: string): string {
  return createHash('sha256')
    .update(canonicalJson({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

/**
 * The trusted keys grown by every key of a published key set that is endorsed, directly or
 * through a chain, by a key already trusted (a rotation's new key is signed by the old one). A
 * key without such a chain is not adopted, whoever serves it.
 */
export function adoptEndorsedKeys(
  trusted: readonly TrustedKey[],
  published: readonly Pick<PublishedKey, 'kid' | 'x' | 'endorsement'>[],
  orgId: string,
): { trusted: TrustedKey[]; adopted: string[] } {
  const out = [...trusted];
  const adopted: string[] = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const key of published) {
      if (out.some((k) => k.kid === key.kid) || key.endorsement === undefined) continue;
      if (thumbprint(key.x) !== key.kid) continue;
      const parsed = parseCompact(key.endorsement, ENDORSEMENT_TYPE);
      if ('ok' in parsed) continue;
      const endorser = out.find((k) => k.kid === parsed.header.kid);
      if (!endorser || !isSignedBy(parsed.input, parsed.signature, endorser)) continue;
      const claim = decodeJson(parsed.payload) as Partial<EndorsementPayload> | undefined;
      if (!isObject(claim) || claim.org !== orgId || claim.kid !== key.kid || claim.x !== key.x) continue;
      out.push({ kid: key.kid, x: key.x });
      adopted.push(key.kid);
      grew = true;
    }
  }
  return { trusted: out, adopted };
}
