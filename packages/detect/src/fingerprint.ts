// Fingerprints: a short, stable name for a secret that can be printed, logged and compared without
// revealing it. Only a prefix that is public by design (a provider's token prefix) is shown, then
// 32 bits of SHA-256: enough to tell two findings apart or match one across a session, never enough
// to recover a random token. (A short human password could be confirmed by guessing; that is why
// no more of the hash is shown.)

import { sha256Hex } from './sha256.js';

// Public prefixes, longest first so `sk-ant-api03-` wins over `sk-`.
const PUBLIC_PREFIXES = [
  'sk-ant-admin01-',
  'sk-ant-api03-',
  'sk-svcacct-',
  'github_pat_',
  'sk-admin-',
  'sk-proj-',
  'sk_live_',
  'rk_live_',
  'sk_test_',
  'rk_test_',
  'api_org_',
  'GOCSPX-',
  'glpat-',
  'whsec_',
  'pypi-',
  'xoxb-',
  'xoxp-',
  'xoxa-',
  'xoxr-',
  'xoxs-',
  'xoxe-',
  'xapp-',
  'ghp_',
  'gho_',
  'ghu_',
  'ghs_',
  'ghr_',
  'npm_',
  'AKIA',
  'ASIA',
  'AIza',
  'hf_',
  'SG.',
  'eyJ',
  'sk-',
];

/** How much of a public prefix a redaction marker shows: it travels with the text to tools and agents. */
const MARKER_PREFIX_MAX = 4;

/** `prefix…(8 hex digits of SHA-256)`; the prefix is empty unless it is a public token prefix. */
export function fingerprint(value: string): string {
  const prefix = PUBLIC_PREFIXES.find((p) => value.startsWith(p) && value.length > p.length + 8) ?? '';
  return `${prefix}…(${sha256Hex(value).slice(0, 8)})`;
}

/**
 * A fingerprint as a redaction marker shows it: the public prefix cut to its first 4 characters
 * (`sk_live_…(3f2a9c1b)` → `sk_l…(3f2a9c1b)`; the marker's rule already names the provider), so a
 * marker never shows more than 4 characters of what it replaces, and never any of its random
 * part. A fingerprint of another shape (a credential binding's id) is kept as it is.
 */
export function markerFingerprint(fingerprint: string): string {
  const hash = fingerprint.lastIndexOf('…(');
  return hash > MARKER_PREFIX_MAX
    ? fingerprint.slice(0, MARKER_PREFIX_MAX) + fingerprint.slice(hash)
    : fingerprint;
}
