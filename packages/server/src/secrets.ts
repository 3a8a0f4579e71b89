// The bearer secrets the server hands out: API tokens (`pmt_…`), bootstrap tokens (`pmb_…`),
// invitations (`pmi_…`), device codes of a login in progress (`pmc_…`) and device credentials
// (`pmd_…`). 256 random bits each, shown once, stored only as SHA-256: a copy of the database
// grants nothing. The prefixes let secret scanners (and people) recognise a leaked one.

import { createHash, randomBytes } from 'node:crypto';

export type SecretKind = 'api' | 'bootstrap' | 'invitation' | 'device-code' | 'device';
const PREFIX: Record<SecretKind, string> = {
  api: 'pmt_',
  bootstrap: 'pmb_',
  invitation: 'pmi_',
  'device-code': 'pmc_',
  device: 'pmd_',
};

export function newSecret(kind: SecretKind): string {
  return `${PREFIX[kind]}${randomBytes(32).toString('base64url')}`;
}

/** The stored form of a secret. A fast hash is enough: the secret has 256 bits, nothing to guess. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** True for text shaped like a secret of this kind (checked before any lookup). */
export function isSecretOf(kind: SecretKind, text: string): boolean {
  return text.startsWith(PREFIX[kind]) && /^[A-Za-z0-9_-]{43}$/.test(text.slice(PREFIX[kind].length));
}
