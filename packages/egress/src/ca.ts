// The session's certificate authority for TLS interception (research/egress.md §5.2 item 13, §6):
// one short-lived ECDSA P-256 CA per session, minting one leaf per intercepted host. Only the CA
// certificate leaves this module (it goes into the sandbox's trust store); the CA private key lives
// in a closure and is never a property, never serialised, never logged. Certificates are built with
// our own DER encoder (der.ts) over node:crypto (keys, signatures), so issuing them needs no npm
// dependency. It never decides whether a host may be intercepted: that is the policy's job.

import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import { tls } from './lazy-builtins.js';
import { canonicalHost, parseCidr, type CanonicalHost, type Cidr, type Ip } from '@perimeter/policy';
import {
  bitString,
  boolean,
  explicit,
  ia5String,
  implicit,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

export interface SessionCa {
  /** The CA certificate, PEM. It goes into the sandbox; the private key never leaves this object. */
  readonly certPem: string;
  /**
   * A TLS server context whose certificate is a leaf for `host`: a canonical (lowercase ASCII) DNS
   * name, or an IPv4/IPv6 literal without brackets. Leaves are cached (LRU), so a host's second
   * connection costs a map lookup.
   */
  contextFor(host: string): SecureContext;
  /** The leaf certificate PEM for `host`, the same one `contextFor` serves (tests, audit fingerprints). */
  leafPemFor(host: string): string;
}

export interface SessionCaOptions {
  /** The CA's subject common name; default `Perimeter session CA <8 hex>`. */
  readonly commonName?: string;
  /** How long the CA (and so every leaf) is valid, from now; default 24. */
  readonly validityHours?: number;
  /**
   * X.509 name constraints (RFC 5280 §4.2.1.10, critical): the only names this CA may vouch for.
   * A DNS name permits itself and every name below it (`api.github.com` also permits
   * `x.api.github.com`); a leading dot (`.example.com`) permits only names below it (OpenSSL's
   * reading). An IP literal or CIDR (`10.0.0.0/8`, `::1`) permits addresses. A kind (DNS, IPv4,
   * IPv6) with no entry is excluded entirely, so the list is exhaustive and `[]` permits nothing.
   * Enforced (tested) by OpenSSL, hence Node's tls, curl and Python's ssl, and by GnuTLS (git).
   * A leaf outside them is still minted; clients refuse it.
   */
  readonly permittedNames?: readonly string[];
  /** How many leaves to keep; default 1,000. */
  readonly leafCacheSize?: number;
}

export type CaErrorCode = 'host-not-canonical' | 'bad-permitted-name' | 'bad-option' | 'ca-expired';

export class CaError extends Error {
  constructor(
    readonly code: CaErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'CaError';
  }
}

// Object identifiers (RFC 5280 §4.1.2.4, §4.2.1; RFC 5480 §2.1.1; RFC 5758 §3.2).
const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

// KeyUsage bit numbers (RFC 5280 §4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

const HOUR_MS = 3_600_000;
/** Leaves start an hour in the past, so a client whose clock runs a little behind still accepts them. */
const BACKDATE_MS = HOUR_MS;
const LEAF_LIFETIME_MS = 24 * HOUR_MS;
/** A cached leaf this close to its end is minted again (unless the CA itself ends sooner). */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** RFC 5280 ub-common-name: a longer host name stays in the SAN only. */
const MAX_COMMON_NAME = 64;

/** ecdsa-with-SHA256 takes no parameters: the field is absent, not NULL (RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = sequence(oid(OID.ecdsaWithSha256));

interface PublicKeyInfo {
  /** SubjectPublicKeyInfo DER (RFC 5480 §2). */
  readonly spki: Buffer;
  /** SHA-1 of the subjectPublicKey bits: RFC 5280 §4.2.1.2 method (1), what OpenSSL computes too. */
  readonly keyId: Buffer;
}

function publicKeyInfo(publicKey: KeyObject): PublicKeyInfo {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) {
    throw new Error('expected an ECDSA P-256 public key');
  }
  // The uncompressed point (SEC 1 §2.3.3): 0x04 ‖ X ‖ Y.
  const point = Buffer.concat([
    Buffer.of(4),
    Buffer.from(jwk.x, 'base64url'),
    Buffer.from(jwk.y, 'base64url'),
  ]);
  const spki = sequence(sequence(oid(OID.ecPublicKey), oid(OID.prime256v1)), bitString(point));
  return { spki, keyId: createHash('sha1').update(point).digest() };
}

/** A Name of single-valued RDNs, each a UTF8String (RFC 5280 §4.1.2.4 requires UTF8String for new certificates). */
function distinguishedName(attributes: ReadonlyArray<readonly [string, string]>): Buffer {
  return sequence(...attributes.map(([type, value]) => set(sequence(oid(type), utf8String(value)))));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }; DER omits a FALSE default. */
function extension(id: string, isCritical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(isCritical ? [boolean(true)] : []), octetString(value));
}

/** A random positive serial of 128 bits (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B BR: ≥ 64 random bits). */
function randomSerial(): Buffer {
  for (;;) {
    const bytes = randomBytes(16);
    if (bytes.some((b) => b !== 0)) return unsignedInteger(bytes);
  }
}

/** The address in network byte order: 4 octets for IPv4, 16 for IPv6 (RFC 5280 §4.2.1.6). */
function ipOctets(ip: Ip): Buffer {
  const words = ip.family === 4 ? [ip.v4] : ip.w;
  const out = Buffer.alloc(words.length * 4);
  words.forEach((word, i) => out.writeUInt32BE(word >>> 0, i * 4));
  return out;
}

/** The mask of a CIDR prefix, as many octets as the address. */
function maskOctets(cidr: Cidr): Buffer {
  const out = Buffer.alloc(cidr.ip.family === 4 ? 4 : 16);
  for (let bit = 0; bit < cidr.prefix; bit++) out[bit >> 3] = (out[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return out;
}

// GeneralName choices (RFC 5280 §4.2.1.6): dNSName [2] IA5String, iPAddress [7] OCTET STRING.
const dnsName = (name: string): Buffer => implicit(2, ia5String(name));
const ipAddress = (octets: Buffer): Buffer => implicit(7, octetString(octets));

/** The host as a canonical name or IP, or a CaError: a leaf must name exactly what the client asked for. */
function leafHost(host: string): CanonicalHost {
  const result = canonicalHost(host);
  if ('error' in result || result.host.name !== host) {
    throw new CaError(
      'host-not-canonical',
      `"${host}" is not a canonical host name or IP literal`,
      'pass the host through canonicalHost() first; IPv6 goes without brackets',
    );
  }
  return result.host;
}

/**
 * NameConstraints (RFC 5280 §4.2.1.10). Constraints apply per name type, so a list of DNS names
 * alone would leave every IP address open (and the reverse): a kind with no permitted entry gets
 * an excluded subtree covering all of it, the way the CA/Browser Forum's technically constrained
 * CAs do (a zero-length dNSName; 0.0.0.0/0 and ::/0). IPv4 and IPv6 count as separate kinds here:
 * GnuTLS (git on Debian) accepts an IPv6 leaf under a CA that permits only IPv4 subtrees.
 */
function nameConstraints(permittedNames: readonly string[]): Buffer {
  const dns: Buffer[] = [];
  const v4: Buffer[] = [];
  const v6: Buffer[] = [];
  for (const entry of permittedNames) {
    const below = entry.startsWith('.');
    const bare = below ? entry.slice(1) : entry;
    const cidr = below ? undefined : parseCidr(entry);
    if (cidr !== undefined && 'cidr' in cidr) {
      const subtree = ipAddress(Buffer.concat([ipOctets(cidr.cidr.ip), maskOctets(cidr.cidr)]));
      (cidr.cidr.ip.family === 4 ? v4 : v6).push(subtree);
      continue;
    }
    const host = canonicalHost(bare);
    if ('error' in host || host.host.kind !== 'name' || host.host.name !== bare) {
      throw new CaError(
        'bad-permitted-name',
        `permitted name "${entry}" is neither a canonical DNS name (optionally with a leading dot) nor an IP or CIDR`,
        'write names in lowercase ASCII (punycode for IDNs) and addresses as a.b.c.d[/n] or v6[/n]',
      );
    }
    dns.push(dnsName(entry));
  }
  const excluded: Buffer[] = [];
  if (dns.length === 0) excluded.push(dnsName(''));
  if (v4.length === 0) excluded.push(ipAddress(Buffer.alloc(8))); // 0.0.0.0/0
  if (v6.length === 0) excluded.push(ipAddress(Buffer.alloc(32))); // ::/0
  const permitted = [...dns, ...v4, ...v6];
  const subtrees = (names: Buffer[]): Buffer => sequence(...names.map((n) => sequence(n)));
  return sequence(
    ...(permitted.length > 0 ? [implicit(0, subtrees(permitted))] : []),
    implicit(1, subtrees(excluded)),
  );
}

interface TbsFields {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: PublicKeyInfo;
  readonly extensions: readonly Buffer[];
}

/** Builds TBSCertificate (RFC 5280 §4.1), signs it with ECDSA-SHA256 and returns the certificate PEM. */
function signCertificate(fields: TbsFields, issuerKey: KeyObject): string {
  const tbs = sequence(
    explicit(0, integer(2)), // version v3
    randomSerial(),
    ECDSA_WITH_SHA256,
    fields.issuer,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subject,
    fields.publicKey.spki,
    explicit(3, sequence(...fields.extensions)),
  );
  // node:crypto's ECDSA signature is DER ECDSA-Sig-Value by default, which is what X.509 carries.
  const signature = sign('sha256', tbs, issuerKey);
  const der = sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Whole seconds: X.509 times carry no fractions, and the cache compares against what the certificate says. */
const toSecond = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

function positive(value: number | undefined, fallback: number, name: string, isInteger: boolean): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0 || (isInteger && !Number.isInteger(value))) {
    throw new CaError(
      'bad-option',
      `${name} must be a positive ${isInteger ? 'integer' : 'number'}`,
      `got ${value}`,
    );
  }
  return value;
}

interface Leaf {
  readonly pem: string;
  readonly context: SecureContext;
  readonly notAfterMs: number;
}

export function createSessionCa(options: SessionCaOptions = {}): SessionCa {
  const validityHours = positive(options.validityHours, 24, 'validityHours', false);
  const cacheSize = positive(options.leafCacheSize, 1000, 'leafCacheSize', true);
  const now = Date.now();
  const notBefore = toSecond(now - BACKDATE_MS);
  const notAfter = toSecond(now + validityHours * HOUR_MS);
  const notAfterMs = notAfter.getTime();

  // The CA key: a local, captured only by the closures below.
  const { publicKey, privateKey: caKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caKeyInfo = publicKeyInfo(publicKey);
  const commonName = options.commonName ?? `Perimeter session CA ${randomBytes(4).toString('hex')}`;
  // The leaves' issuer is these exact bytes, so chain building matches byte for byte.
  const caName = distinguishedName([
    [OID.organization, 'Perimeter'],
    [OID.commonName, commonName],
  ]);
  const caExtensions = [
    // CA:TRUE, pathLenConstraint 0: it signs leaves, never another CA (RFC 5280 §4.2.1.9).
    extension(OID.basicConstraints, true, sequence(boolean(true), integer(0))),
    extension(OID.keyUsage, true, namedBits([KEY_CERT_SIGN, CRL_SIGN])),
    extension(OID.subjectKeyIdentifier, false, octetString(caKeyInfo.keyId)),
  ];
  if (options.permittedNames !== undefined) {
    caExtensions.push(extension(OID.nameConstraints, true, nameConstraints(options.permittedNames)));
  }
  const certPem = signCertificate(
    { issuer: caName, subject: caName, notBefore, notAfter, publicKey: caKeyInfo, extensions: caExtensions },
    caKey,
  );

  function mintLeaf(host: CanonicalHost, at: number): Leaf {
    const { publicKey: leafPublic, privateKey: leafKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leafKeyInfo = publicKeyInfo(leafPublic);
    const leafNotAfter = toSecond(Math.min(notAfterMs, at + LEAF_LIFETIME_MS));
    // The subject carries the name for humans reading the certificate; clients match the SAN only.
    // An IP literal gets no CN: OpenSSL checks a SAN-less-for-DNS leaf's CN against DNS constraints.
    const subject = distinguishedName([
      [OID.organization, 'Perimeter'],
      ...(host.kind === 'name' && host.name.length <= MAX_COMMON_NAME
        ? [[OID.commonName, host.name] as const]
        : []),
    ]);
    const san = host.kind === 'name' ? dnsName(host.name) : ipAddress(ipOctets(host.ip));
    const pem = signCertificate(
      {
        issuer: caName,
        subject,
        notBefore: toSecond(at - BACKDATE_MS),
        notAfter: leafNotAfter,
        publicKey: leafKeyInfo,
        extensions: [
          extension(OID.basicConstraints, true, sequence()), // CA:FALSE: the leaf can sign nothing
          extension(OID.keyUsage, true, namedBits([DIGITAL_SIGNATURE])), // ECDHE handshakes sign
          extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, sequence(san)),
          extension(OID.subjectKeyIdentifier, false, octetString(leafKeyInfo.keyId)),
          // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING, … }
          extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, octetString(caKeyInfo.keyId)))),
        ],
      },
      caKey,
    );
    const context = tls().createSecureContext({
      key: leafKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: pem,
    });
    return { pem, context, notAfterMs: leafNotAfter.getTime() };
  }

  // Map iteration order is insertion order: re-inserting on every hit makes the first key the
  // least recently used. Minting is synchronous, so two requests for one host can never mint twice:
  // the second finds the first's leaf in the map.
  const leaves = new Map<string, Leaf>();

  function leafFor(host: string): Leaf {
    const at = Date.now();
    if (at >= notAfterMs) {
      throw new CaError(
        'ca-expired',
        `the session CA expired at ${notAfter.toISOString()}`,
        'start a new session, or raise validityHours',
      );
    }
    let leaf = leaves.get(host);
    if (leaf === undefined || (at >= leaf.notAfterMs - REFRESH_MARGIN_MS && leaf.notAfterMs < notAfterMs)) {
      leaf = mintLeaf(leafHost(host), at);
    }
    leaves.delete(host);
    leaves.set(host, leaf);
    if (leaves.size > cacheSize) {
      const oldest = leaves.keys().next();
      if (oldest.done !== true) leaves.delete(oldest.value);
    }
    return leaf;
  }

  return Object.freeze({
    certPem,
    contextFor: (host: string): SecureContext => leafFor(host).context,
    leafPemFor: (host: string): string => leafFor(host).pem,
  });
}

/** Where distributions keep the system roots as one PEM file: Debian/Ubuntu/Alpine/Arch, Fedora/RHEL, macOS-style/BSD. */
export const SYSTEM_BUNDLE_PATHS: readonly string[] = Object.freeze([
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
]);

const withNewline = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);

/**
 * System roots followed by the session CA, PEM: the bundle for clients whose CA variable *replaces*
 * the default store (SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, GIT_SSL_CAINFO, PIP_CERT).
 * With the CA alone they could not verify passthrough hosts (research/egress.md §6.2). The system
 * roots come from `systemBundlePath` if given (an unreadable file is an error, not a fallback),
 * else the first distro bundle that exists, else Node's compiled-in roots.
 */
export function mergedBundle(caPem: string, systemBundlePath?: string): string {
  // Refuse anything but one CA certificate: a bundle is a trust decision for every tool in the sandbox.
  if (!new X509Certificate(caPem).ca)
    throw new CaError('bad-option', 'caPem is not a CA certificate', 'pass SessionCa.certPem');
  const path = systemBundlePath ?? SYSTEM_BUNDLE_PATHS.find((p) => existsSync(p));
  const system = path === undefined ? tls().rootCertificates.join('\n') : readFileSync(path, 'utf8');
  return withNewline(system) + withNewline(caPem);
}
