// JSON Web Signatures as the server makes them (RFC 7515 compact serialization, RFC 8037 EdDSA
// with Ed25519), and Ed25519 public keys as JWKs with their RFC 7638 thumbprint as key id. The
// header and the payload are RFC 8785 canonical JSON, so the bytes signed are the one form of the
// value. Devices verify with their own code (the CLI's device/bundle-verify.ts), which must stay
// byte-compatible with this file: the CLI's tests sign here and verify there.

import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';

/** An Ed25519 public key as a JWK (RFC 8037 §2), with the members the key set publishes. */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  /** The raw 32-byte public key, base64url. */
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface JwsHeader {
  readonly alg: 'EdDSA';
  readonly kid: string;
  /** Explicit typing (RFC 8725 §3.11): a signature over one kind of object is never read as another. */
  readonly typ: string;
}

export const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

/** The raw public key of an Ed25519 key object, base64url (the JWK's `x`). */
export function publicX(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new Error('not an Ed25519 key');
  return jwk.x;
}

/** RFC 7638: the SHA-256 of the key's required members in canonical form, base64url. */
export function thumbprint(x: string): string {
  return b64url(
    createHash('sha256')
      .update(canonicalJson({ crv: 'Ed25519', kty: 'OKP', x }))
      .digest(),
  );
}

export function publicJwk(x: string): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x, kid: thumbprint(x), alg: 'EdDSA', use: 'sig' };
}

/** `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`, signed with Ed25519. */
export function signCompact(header: JwsHeader, payload: unknown, key: KeyObject): string {
  const input = `${b64url(canonicalJson(header))}.${b64url(canonicalJson(payload))}`;
  return `${input}.${b64url(sign(null, Buffer.from(input, 'ascii'), key))}`;
}
