// The list of rules, for documentation, `perimeter scan --help`-style listings and benchmarks:
// every rule id scan() can report, its family and what it finds.

import { PROVIDER_RULES } from './provider-rules.js';

export interface RuleInfo {
  readonly id: string;
  readonly family: string;
  /** `provider`: a documented token format; `generic`: keyword-gated, entropy-checked. */
  readonly kind: 'provider' | 'generic';
  readonly description: string;
}

const ALL: RuleInfo[] = [
  ...PROVIDER_RULES.map((r) => ({
    id: r.id,
    family: r.family,
    kind: 'provider' as const,
    description: r.description,
  })),
  {
    id: 'gcp-service-account-key',
    family: 'gcp',
    kind: 'provider',
    description: 'the PEM private key of a Google Cloud service-account JSON file ("private_key")',
  },
  {
    id: 'aws-secret-access-key',
    family: 'aws',
    kind: 'provider',
    description:
      'AWS secret access keys (40 base64 characters) assigned to a name such as aws_secret_access_key',
  },
  {
    id: 'twilio-auth-token',
    family: 'twilio',
    kind: 'provider',
    description: 'Twilio auth tokens (32 hex) assigned to a name containing "twilio"',
  },
  {
    id: 'generic-secret',
    family: 'generic',
    kind: 'generic',
    description:
      'a high-entropy value assigned to a name containing secret, token, api_key, access_key, auth or credential',
  },
  {
    id: 'password-assignment',
    family: 'password',
    kind: 'generic',
    description:
      'a password-like value (8+ characters, letters and digits or symbols) assigned to a password name',
  },
  {
    id: 'high-entropy-label',
    family: 'dns-exfiltration',
    kind: 'generic',
    description: 'scanHost only: a hostname label of 20+ characters with high entropy',
  },
];

export const RULES: readonly RuleInfo[] = ALL;
