// Format-valid credentials for the tests, built from each provider's documented format with a
// seeded generator (so a failure reproduces). None of them was ever issued by a provider.

import { tokenChecksum } from '../src/checksum.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789abcdef';
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;

/** A small deterministic generator (mulberry32). */
export function random(seed: number): (alphabet: string, length: number) => string {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (alphabet, length) => {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
    return out;
  };
}

const r = random(20261122);

/** A classic GitHub token (`ghp_` etc.): 30 random characters and their CRC32 checksum. */
export function githubToken(prefix = 'ghp', body = r(ALNUM, 30)): string {
  return `${prefix}_${body}${tokenChecksum(body)}`;
}

export function npmToken(body = r(ALNUM, 30)): string {
  return `npm_${body}${tokenChecksum(body)}`;
}

/** The same token with its checksum's last character changed. */
export function withWrongChecksum(token: string): string {
  const last = token[token.length - 1] === 'A' ? 'B' : 'A';
  return token.slice(0, -1) + last;
}

export const EXAMPLES = {
  awsAccessKeyId: () => `AKIA${r(UPPER_B32, 16)}`,
  awsSecretAccessKey: () => r(B64, 40),
  gcpApiKey: () => `AIza${r(`${ALNUM}-_`, 35)}`,
  azureStorageKey: () => `${r(B64, 86)}==`,
  azureClientSecret: () => `${r(ALNUM, 3)}8Q~${r(`${ALNUM}_~.-`, 34)}`,
  githubFineGrained: () => `github_pat_${r(ALNUM, 22)}_${r(ALNUM, 59)}`,
  gitlab: () => `glpat-${r(`${ALNUM}_-`, 20)}`,
  slackBot: () => `xoxb-${r('0123456789', 12)}-${r('0123456789', 13)}-${r(ALNUM, 24)}`,
  slackWebhook: () =>
    `https://hooks.slack.com/services/T${r('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 8)}/B${r('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}/${r(ALNUM, 24)}`,
  stripe: () => `sk_live_${r(ALNUM, 99)}`,
  openai: () => `sk-proj-${r(B64URL, 74)}T3BlbkFJ${r(B64URL, 74)}`,
  openaiLegacy: () => `sk-${r(ALNUM, 20)}T3BlbkFJ${r(ALNUM, 20)}`,
  anthropic: () => `sk-ant-api03-${r(B64URL, 93)}AA`,
  anthropicAdmin: () => `sk-ant-admin01-${r(B64URL, 93)}AA`,
  huggingface: () => `hf_${r('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 34)}`,
  pypi: () => `pypi-AgEIcHlwaS5vcmc${r(B64URL, 150)}`,
  twilioKey: () => `SK${r(HEX, 32)}`,
  twilioAuthToken: () => r(HEX, 32),
  sendgrid: () => `SG.${r(B64URL, 22)}.${r(B64URL, 43)}`,
  jwt: () => {
    const enc = (o: object): string =>
      btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: r(HEX, 12), iat: 1763000000 })}.${r(B64URL, 43)}`;
  },
  rsaKey: () => {
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) lines.push(r(B64, 64));
    return `-----BEGIN RSA PRIVATE KEY-----\n${lines.join('\n')}\n-----END RSA PRIVATE KEY-----`;
  },
  password: () => `${r(ALNUM, 6)}!${r(ALNUM, 5)}`,
  generic: () => r(ALNUM, 32),
  hex: (n: number) => r(HEX, n),
  alnum: (n: number) => r(ALNUM, n),
};
