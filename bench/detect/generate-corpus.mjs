#!/usr/bin/env node
// Builds the labelled corpus of `npm run bench:detect` (research egress.md §8.2 format) and writes
// it to bench/detect/corpus/*.jsonl. Run once; the output is committed, so every run of the
// benchmark scores the same records:
//
//   node bench/detect/generate-corpus.mjs
//
// - secrets.jsonl: true positives generated from each provider's documented token format with
//   random bodies (fixed seed), placed in the lines they are usually written in (.env, shell
//   export, JSON, YAML, HTTP headers, URL queries, code). GitHub and npm tokens carry a valid
//   CRC32 checksum, computed here with node:zlib (independently of @perimeter/detect's own).
// - templates.jsonl: the same lines with placeholders instead of values (<YOUR_KEY>, ${VAR},
//   xxxx, ****, AWS's documented examples, …): negatives, reported separately.
// - benign.jsonl: real text without secrets: chunks of MIT/Apache-2.0/ISC-licensed files from
//   node_modules (TypeScript's lib.d.ts, minified Prettier plugins, esbuild, zod, yaml, eslint,
//   tldts) and of this repository (sources, docs, package-lock.json), plus high-entropy
//   non-secrets (UUIDs, git SHAs, sha512 integrity strings, base64 of binary data). Each record
//   names its source path and licence.
//
// Record: {id, source, licence, text, context: {kind}, expect: [{family, span: [start, end]}], label}.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import { crc32 } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(ROOT, 'bench/detect/corpus');
const SEED = 20261122;
const PER_FORMAT = 12;

// mulberry32: small, seeded, good enough for test data.
let state = SEED >>> 0;
function next() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(next() * list.length)];
const rnd = (alphabet, n) => Array.from({ length: n }, () => pick(alphabet)).join('');
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = '0123456789abcdef';
const B64 = `${ALNUM}+/`;
const B64URL = `${ALNUM}-_`;
const BASE62 = DIGITS + UPPER + LOWER;

function base62(n, width) {
  let out = '';
  do {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  } while (n > 0);
  return out.padStart(width, '0');
}
const checksummed = (prefix) => {
  const body = rnd(ALNUM, 30);
  return `${prefix}_${body}${base62(crc32(body), 6)}`;
};
const b64url = (s) => Buffer.from(s).toString('base64url');
const randomBytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));

// Each format: family, a generator, and the names it is usually assigned to.
const FORMATS = [
  {
    family: 'aws',
    make: () => `AKIA${rnd('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
    names: ['AWS_ACCESS_KEY_ID', 'aws_access_key_id', 'AccessKeyId'],
  },
  {
    family: 'aws',
    make: () => `ASIA${rnd('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`,
    names: ['AWS_ACCESS_KEY_ID', 'accessKeyId'],
  },
  {
    family: 'aws',
    make: () => rnd(B64, 40),
    names: ['AWS_SECRET_ACCESS_KEY', 'aws_secret_access_key', 'SecretAccessKey'],
    named: true,
  },
  { family: 'gcp', make: () => `AIza${rnd(B64URL, 35)}`, names: ['GOOGLE_API_KEY', 'apiKey', 'key'] },
  {
    family: 'gcp',
    make: () => `GOCSPX-${rnd(B64URL, 28)}`,
    names: ['GOOGLE_CLIENT_SECRET', 'client_secret'],
  },
  { family: 'azure', make: () => `${rnd(B64, 86)}==`, names: ['AZURE_STORAGE_KEY'], named: true },
  {
    family: 'azure',
    make: () => `${rnd(ALNUM, 3)}${pick(DIGITS)}Q~${rnd(`${ALNUM}_~.-`, 34)}`,
    names: ['AZURE_CLIENT_SECRET', 'client_secret', 'clientSecret'],
  },
  {
    family: 'github',
    make: () => checksummed(pick(['ghp', 'gho', 'ghu', 'ghs', 'ghr'])),
    names: ['GITHUB_TOKEN', 'GH_TOKEN', 'token', 'github_token'],
  },
  {
    family: 'github',
    make: () => `github_pat_${rnd(ALNUM, 22)}_${rnd(ALNUM, 59)}`,
    names: ['GITHUB_TOKEN', 'GH_PAT'],
  },
  {
    family: 'gitlab',
    make: () => `glpat-${rnd(`${ALNUM}_-`, 20)}`,
    names: ['GITLAB_TOKEN', 'PRIVATE-TOKEN', 'gitlab_token'],
  },
  {
    family: 'slack',
    make: () => `xoxb-${rnd(DIGITS, 12)}-${rnd(DIGITS, 13)}-${rnd(ALNUM, 24)}`,
    names: ['SLACK_BOT_TOKEN', 'slack_token'],
  },
  {
    family: 'slack',
    make: () => `xoxp-${rnd(DIGITS, 12)}-${rnd(DIGITS, 12)}-${rnd(DIGITS, 13)}-${rnd(HEX, 32)}`,
    names: ['SLACK_USER_TOKEN', 'SLACK_TOKEN'],
  },
  {
    family: 'slack',
    make: () =>
      `https://hooks.slack.com/services/T${rnd(UPPER + DIGITS, 8)}/B${rnd(UPPER + DIGITS, 10)}/${rnd(ALNUM, 24)}`,
    names: ['SLACK_WEBHOOK_URL', 'webhook'],
    isUrl: true,
  },
  {
    family: 'stripe',
    make: () => `${pick(['sk', 'rk'])}_live_${rnd(ALNUM, pick([24, 99]))}`,
    names: ['STRIPE_SECRET_KEY', 'stripe_key', 'apiKey'],
  },
  {
    family: 'openai',
    make: () => `sk-proj-${rnd(B64URL, 74)}T3BlbkFJ${rnd(B64URL, 74)}`,
    names: ['OPENAI_API_KEY', 'openai_api_key', 'api_key'],
  },
  {
    family: 'openai',
    make: () => `sk-${rnd(ALNUM, 20)}T3BlbkFJ${rnd(ALNUM, 20)}`,
    names: ['OPENAI_API_KEY', 'openai.api_key'],
  },
  {
    family: 'anthropic',
    make: () => `sk-ant-api03-${rnd(B64URL, 93)}AA`,
    names: ['ANTHROPIC_API_KEY', 'x-api-key', 'api_key'],
  },
  { family: 'anthropic', make: () => `sk-ant-admin01-${rnd(B64URL, 93)}AA`, names: ['ANTHROPIC_ADMIN_KEY'] },
  {
    family: 'huggingface',
    make: () => `hf_${rnd(UPPER + LOWER, 34)}`,
    names: ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'token'],
  },
  {
    family: 'npm',
    make: () => checksummed('npm'),
    names: ['NPM_TOKEN', '//registry.npmjs.org/:_authToken', 'NODE_AUTH_TOKEN'],
  },
  {
    family: 'pypi',
    make: () => `pypi-AgEIcHlwaS5vcmc${rnd(B64URL, 150)}`,
    names: ['PYPI_TOKEN', 'password', 'TWINE_PASSWORD'],
  },
  { family: 'twilio', make: () => `SK${rnd(HEX, 32)}`, names: ['TWILIO_API_KEY', 'twilio_api_key'] },
  {
    family: 'twilio',
    make: () => rnd(HEX, 32),
    names: ['TWILIO_AUTH_TOKEN', 'twilio_auth_token'],
    named: true,
  },
  {
    family: 'sendgrid',
    make: () => `SG.${rnd(B64URL, 22)}.${rnd(B64URL, 43)}`,
    names: ['SENDGRID_API_KEY', 'sendgrid_key'],
  },
  {
    family: 'jwt',
    make: () =>
      `${b64url(JSON.stringify({ alg: pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: rnd(HEX, 16), iss: 'https://auth.acme.test', exp: 1790000000 + Math.floor(next() * 1e6) }))}.${rnd(B64URL, pick([43, 86, 342]))}`,
    names: ['ID_TOKEN', 'access_token', 'Authorization'],
  },
  {
    family: 'database',
    make: () => rnd(ALNUM, 16),
    names: ['DATABASE_URL'],
    url: (p) => `postgres://app_user:${p}@db.prod.acme.internal:5432/orders`,
  },
  {
    family: 'database',
    make: () => `${rnd(ALNUM, 10)}!${rnd(ALNUM, 4)}`,
    names: ['MYSQL_URL'],
    url: (p) => `mysql://root:${p}@10.0.3.7:3306/app`,
  },
  {
    family: 'database',
    make: () => rnd(ALNUM, 20),
    names: ['MONGODB_URI'],
    url: (p) => `mongodb+srv://svc:${p}@cluster0.x1y2z.mongodb.net/prod?retryWrites=true`,
  },
  {
    family: 'database',
    make: () => rnd(ALNUM, 24),
    names: ['REDIS_URL'],
    url: (p) => `redis://:${p}@cache.internal:6379/0`,
  },
  {
    family: 'database',
    make: () => rnd(ALNUM, 14),
    names: ['AMQP_URL'],
    url: (p) => `amqps://worker:${p}@mq.acme.test:5671/vhost`,
  },
  {
    family: 'generic',
    make: () => rnd(ALNUM, pick([24, 32, 40])),
    names: [
      'API_KEY',
      'api_key',
      'client_secret',
      'SECRET_KEY',
      'authToken',
      'x-api-key',
      'ACME_ACCESS_TOKEN',
    ],
    named: true,
  },
  {
    family: 'generic',
    make: () => rnd(HEX, pick([32, 40, 64])),
    names: ['secret', 'WEBHOOK_SECRET', 'api_token'],
    named: true,
  },
  {
    family: 'generic',
    make: () => rnd(B64, 44),
    names: ['SESSION_SECRET', 'jwt_secret', 'encryptionKey'.replace('Key', 'Secret')],
    named: true,
  },
  {
    family: 'password',
    make: () => `${rnd(LOWER, 5)}${rnd(DIGITS, 3)}${pick('!@#%^*')}${rnd(UPPER, 2)}`,
    names: ['DB_PASSWORD', 'password', 'smtp_pass', 'adminPassword'],
    named: true,
  },
];

// Private keys as the tools write them: the structure's fixed bytes for the key type and size
// (hex strings, copied from keys made by openssl 3, ssh-keygen 9 and GnuPG 2.2) with random bytes
// (numbers: how many) where the key material, salt or timestamp goes, base64 wrapped as the tool
// wraps it. A scanner that checks the body (secretlint wants ASN.1's "MI" or OpenSSH's
// "openssh-key-v1") sees what it would see in a real key file; random base64 would be unfair to it.
const ascii = (s) => Buffer.from(s).toString('hex');
const sshString = (s) => `${(s.length / 2).toString(16).padStart(8, '0')}${s}`;
const PRIVATE_KEYS = [
  // PKCS#1 RSA 2048 (openssl genrsa -traditional)
  { label: 'RSA PRIVATE KEY', parts: ['308204a30201000282010100', 1179] },
  // SEC1 EC P-256 (openssl ecparam -genkey)
  { label: 'EC PRIVATE KEY', parts: ['30770201010420', 32, 'a00a06082a8648ce3d030107a14403420004', 64] },
  // OpenSSH ed25519 (ssh-keygen -t ed25519), unencrypted
  {
    label: 'OPENSSH PRIVATE KEY',
    width: 70,
    parts: [
      `${ascii('openssh-key-v1')}00${sshString(ascii('none'))}${sshString(ascii('none'))}0000000000000001`,
      `00000033${sshString(ascii('ssh-ed25519'))}00000020`,
      32,
      '00000090',
      8,
      `${sshString(ascii('ssh-ed25519'))}00000020`,
      32,
      '00000040',
      64,
      `${sshString(ascii('deploy@ci'))}01020304`,
    ],
  },
  // PKCS#8 RSA 2048 (openssl genpkey), the form of GCP service-account keys
  {
    label: 'PRIVATE KEY',
    parts: ['308204bd020100300d06092a864886f70d0101010500048204a7308204a30201000282010100', 1179],
  },
  // Encrypted PKCS#8, PBES2 with PBKDF2-SHA256 and AES-256-CBC (openssl pkcs8 -topk8)
  {
    label: 'ENCRYPTED PRIVATE KEY',
    parts: [
      '3082052d305706092a864886f70d01050d304a302906092a864886f70d01050c301c0408',
      8,
      '02020800300c06082a864886f70d02090500301d060960864801650304012a0410',
      16,
      '048204d0',
      1232,
    ],
  },
  // DSA 2048 (openssl pkey -traditional)
  { label: 'DSA PRIVATE KEY', parts: ['3082034d0201000282010100', 837] },
  // OpenPGP RSA 2048 secret key (gpg --armor --export-secret-keys): no Version header since 2.1,
  // a blank line, then the CRC-24 line (RFC 4880 §6.1)
  { label: 'PGP PRIVATE KEY BLOCK', pgp: true, parts: ['95039804', 4, '010800', 1270] },
];

const PKCS8_KEY = PRIVATE_KEYS.find((k) => k.label === 'PRIVATE KEY');

/** OpenPGP's CRC-24 of the armoured bytes (RFC 4880 §6.1). */
function crc24(bytes) {
  let crc = 0xb704ce;
  for (const b of bytes) {
    crc ^= b << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** A private key file of `kind`, its lines joined by `eol` (the two characters \n inside a JSON string). */
function privateKey(kind, eol = '\n') {
  const bytes = Buffer.concat(
    kind.parts.map((p) => (typeof p === 'number' ? randomBytes(p) : Buffer.from(p, 'hex'))),
  );
  const base64 = bytes.toString('base64');
  const width = kind.width ?? 64;
  const lines = Array.from({ length: Math.ceil(base64.length / width) }, (_, i) =>
    base64.slice(i * width, (i + 1) * width),
  );
  if (kind.pgp) {
    const crc = crc24(bytes);
    lines.unshift('');
    lines.push(`=${Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64')}`);
  }
  return [`-----BEGIN ${kind.label}-----`, ...lines, `-----END ${kind.label}-----`].join(eol);
}

// Where a value is written: returns [text, offset of the value].
const CONTEXTS = [
  [
    'env',
    (n, v) =>
      `# production settings\n${n.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase()}=${v}\nLOG_LEVEL=info\n`,
  ],
  [
    'shell',
    (n, v) =>
      `#!/bin/sh\nexport ${n.replace(/[^A-Za-z0-9_]/g, '_').toUpperCase()}="${v}"\nexec node server.js\n`,
  ],
  ['json', (n, v) => `{\n  "service": "billing",\n  "${n}": "${v}",\n  "timeout": 30\n}\n`],
  ['yaml', (n, v) => `service:\n  name: billing\n  ${n}: ${v}\n  replicas: 3\n`],
  [
    'code',
    (n, v) =>
      `const client = new Client({\n  ${n.replace(/[^A-Za-z0-9_]/g, '_')}: '${v}',\n  region: 'eu-west-1',\n});\n`,
  ],
  [
    'python',
    (n, v) =>
      `import os\n\n${n.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()} = "${v}"\nclient = Client(timeout=30)\n`,
  ],
  [
    'header',
    (n, v) =>
      `POST /v1/messages HTTP/1.1\nHost: api.example.test\n${/^(Authorization|x-api-key|PRIVATE-TOKEN)$/.test(n) ? n : 'Authorization'}: ${/^(x-api-key|PRIVATE-TOKEN)$/.test(n) ? '' : 'Bearer '}${v}\nContent-Type: application/json\n`,
  ],
  ['url', (_n, v) => `GET https://api.example.test/v2/export?format=csv&access_token=${v}&page=2\n`],
];

function place(format, value) {
  if (format.url) {
    const url = format.url(value);
    const [kind, ctx] = pick(CONTEXTS.filter(([k]) => ['env', 'json', 'yaml', 'shell'].includes(k)));
    const text = ctx(format.names[0], url);
    return { kind, text, start: text.indexOf(value), end: text.indexOf(value) + value.length };
  }
  let contexts = CONTEXTS;
  // A value recognised by its name only is written with that name (not as a bearer token or a
  // query parameter).
  if (format.named) contexts = CONTEXTS.filter(([k]) => k !== 'url' && k !== 'header');
  if (format.isUrl) contexts = CONTEXTS.filter(([k]) => ['env', 'json', 'yaml', 'code', 'shell'].includes(k));
  const [kind, ctx] = pick(contexts);
  const text = ctx(pick(format.names), value);
  const start = text.indexOf(value);
  return { kind, text, start, end: start + value.length };
}

/** A record this script wrote (its own source and licence). */
const generated = (id, text, kind, label, expect = []) => ({
  id,
  source: 'generated: bench/detect/generate-corpus.mjs',
  licence: 'Apache-2.0',
  text,
  context: { kind },
  expect,
  label,
});

function secretRecords() {
  const out = [];
  let n = 0;
  for (const format of FORMATS) {
    for (let i = 0; i < PER_FORMAT; i++) {
      const value = format.make();
      const { kind, text, start, end } = place(format, value);
      out.push(
        generated(`secret-${format.family}-${++n}`, text, kind, 'secret', [
          { family: format.family, span: [start, end] },
        ]),
      );
    }
  }
  // PEM private keys, as files and inside a service-account JSON (family gcp there).
  for (let i = 0; i < PER_FORMAT * 2; i++) {
    const key = privateKey(PRIVATE_KEYS[i % PRIVATE_KEYS.length]);
    const text = `${key}\n`;
    out.push(
      generated(`secret-private_key-${++n}`, text, 'file', 'secret', [
        { family: 'private_key', span: [0, key.length] },
      ]),
    );
  }
  for (let i = 0; i < PER_FORMAT; i++) {
    const key = privateKey(PKCS8_KEY, '\\n');
    const before = `{\n  "type": "service_account",\n  "project_id": "acme-prod-${rnd(DIGITS, 6)}",\n  "private_key_id": "${rnd(HEX, 40)}",\n  "private_key": "`;
    const text = `${before}${key}\\n",\n  "client_email": "deployer@acme-prod.iam.gserviceaccount.com"\n}\n`;
    out.push(
      generated(`secret-gcp-${++n}`, text, 'file', 'secret', [
        { family: 'gcp', span: [before.length, before.length + key.length] },
      ]),
    );
  }
  return out;
}

// Placeholders in the same lines: templates, masks, documentation examples.
const PLACEHOLDERS = [
  '<YOUR_API_KEY>',
  '<your-token-here>',
  '${API_KEY}',
  '${{ secrets.GITHUB_TOKEN }}',
  '{{ .Values.apiKey }}',
  '{{API_TOKEN}}',
  '$API_TOKEN',
  '%API_KEY%',
  'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'XXXXXXXXXXXXXXXXXXXXXXXX',
  '********',
  '****************************************',
  'your-api-key-here',
  'changeme',
  'REPLACE_ME',
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'ghp_1234567890abcdefghijklmnopqrstuvwxyz',
  'sk_live_xxxxxxxxxxxxxxxxxxxxxxxx',
  'sk-ant-api03-...',
  'sk-...',
  'xoxb-your-bot-token',
  'hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
  'SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'dummy-secret',
  'placeholder',
  'TODO',
  '<redacted>',
  'REDACTED',
];
const URL_PLACEHOLDERS = [
  'postgres://user:${DB_PASSWORD}@localhost:5432/app',
  'postgres://user:<password>@localhost:5432/app',
  'mysql://root:****@db:3306/app',
  'mongodb+srv://admin:<password>@cluster0.mongodb.net/test',
  'redis://:xxx@cache:6379',
  'amqp://guest:${RABBIT_PASS}@mq:5672/',
];

function templateRecords() {
  const out = [];
  let n = 0;
  const names = [...new Set(FORMATS.flatMap((f) => f.names))];
  for (const value of PLACEHOLDERS) {
    for (let i = 0; i < 3; i++) {
      const [kind, ctx] = pick(CONTEXTS);
      out.push(generated(`template-${++n}`, ctx(pick(names), value), kind, 'template'));
    }
  }
  for (const url of URL_PLACEHOLDERS) {
    const [kind, ctx] = pick(CONTEXTS.filter(([k]) => ['env', 'yaml', 'json'].includes(k)));
    out.push(generated(`template-${++n}`, ctx('DATABASE_URL', url), kind, 'template'));
  }
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n...\n-----END RSA PRIVATE KEY-----\n';
  out.push(generated(`template-${n + 1}`, pem, 'file', 'template'));
  return out;
}

// Real text without secrets. Chunks end at a line break near CHUNK characters.
const CHUNK = 2048;
const BENIGN_SOURCES = [
  {
    path: 'node_modules/typescript/lib',
    match: /^lib\.(es20\d\d|dom)\..*d\.ts$/,
    licence: 'Apache-2.0',
    budget: 260_000,
  },
  {
    path: 'node_modules/prettier/plugins',
    match: /^(babel|estree|postcss|markdown)\.js$/,
    licence: 'MIT',
    budget: 260_000,
  },
  { path: 'node_modules/esbuild/lib', match: /^main\.js$/, licence: 'MIT', budget: 80_000 },
  { path: 'node_modules/zod/v4/classic', match: /\.js$/, licence: 'MIT', budget: 80_000 },
  { path: 'node_modules/yaml/dist', match: /\.js$/, licence: 'ISC', budget: 80_000 },
  { path: 'node_modules/eslint/lib/rules', match: /\.js$/, licence: 'MIT', budget: 100_000 },
  { path: 'node_modules/tldts/dist/es6/src/data', match: /\.js$/, licence: 'MIT', budget: 60_000 },
  {
    path: 'node_modules/@types/node',
    match: /^(http|crypto|tls|fs)\.d\.ts$/,
    licence: 'MIT',
    budget: 80_000,
  },
  {
    path: 'packages',
    match: /\.ts$/,
    under: /\/src\//,
    licence: 'Apache-2.0 (this repository)',
    budget: 200_000,
  },
  { path: 'docs', match: /\.md$/, licence: 'Apache-2.0 (this repository)', budget: 80_000 },
  { path: 'examples', match: /\.ya?ml$/, licence: 'Apache-2.0 (this repository)', budget: 20_000 },
  { path: 'package-lock.json', licence: 'Apache-2.0 (this repository)', budget: 160_000 },
];

function filesOf(source) {
  const full = join(ROOT, source.path);
  if (!existsSync(full)) return [];
  if (statSync(full).isFile()) return [full];
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const f = join(dir, name);
      if (statSync(f).isDirectory()) {
        if (name !== 'node_modules' && name !== 'dist' && name !== 'test') walk(f);
      } else if (source.match.test(name) && (!source.under || source.under.test(f))) out.push(f);
    }
  };
  walk(full);
  return out;
}

function chunks(text) {
  const out = [];
  let at = 0;
  while (at < text.length) {
    let end = Math.min(text.length, at + CHUNK);
    const nl = text.lastIndexOf('\n', end);
    if (end < text.length && nl > at + CHUNK / 2) end = nl + 1;
    out.push(text.slice(at, end));
    at = end;
  }
  return out;
}

function benignRecords() {
  const out = [];
  let n = 0;
  for (const source of BENIGN_SOURCES) {
    let used = 0;
    for (const file of filesOf(source)) {
      if (used >= source.budget) break;
      const rel = relative(ROOT, file);
      // Never our own detection rules or the scanner's tests: they hold secret-shaped examples on purpose.
      if (rel.startsWith('packages/detect/') || rel.includes('/test/')) continue;
      const pieces = chunks(readFileSync(file, 'utf8'));
      // Spread the budget over a file: every third chunk.
      for (let i = 0; i < pieces.length && used < source.budget; i += 3) {
        const text = pieces[i];
        used += text.length;
        out.push({
          id: `benign-${++n}`,
          source: `${rel}#chunk${i}`,
          licence: source.licence,
          text,
          context: { kind: 'file' },
          expect: [],
          label: 'benign',
        });
      }
    }
  }
  const synthetic = (kind, text) =>
    out.push({
      id: `benign-${++n}`,
      source: `generated (${kind}): bench/detect/generate-corpus.mjs`,
      licence: 'Apache-2.0',
      text,
      context: { kind: 'body' },
      expect: [],
      label: 'benign',
    });
  const uuid = () =>
    `${rnd(HEX, 8)}-${rnd(HEX, 4)}-4${rnd(HEX, 3)}-${pick('89ab')}${rnd(HEX, 3)}-${rnd(HEX, 12)}`;
  for (let i = 0; i < 40; i++)
    synthetic(
      'uuids',
      Array.from(
        { length: 20 },
        () => `GET /api/v1/orders/${uuid()} 200 ${Math.floor(next() * 900)}ms request_id=${uuid()}`,
      ).join('\n'),
    );
  const shas = execFileSync('git', ['log', '--format=%H %h %s', '-n', '100'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  for (const piece of chunks(shas)) synthetic('git log', piece);
  for (let i = 0; i < 40; i++) {
    const lines = Array.from({ length: 10 }, () => {
      const bytes = randomBytes(64);
      return `    "integrity": "sha512-${bytes.toString('base64')}",\n    "resolved": "https://registry.npmjs.org/pkg-${rnd(LOWER, 6)}/-/pkg-1.${Math.floor(next() * 20)}.0.tgz",`;
    });
    synthetic('integrity', lines.join('\n'));
  }
  for (let i = 0; i < 30; i++) {
    const bytes = randomBytes(1200);
    synthetic(
      'base64 of binary',
      `<img alt="chart" src="data:image/png;base64,${bytes.toString('base64')}">`,
    );
  }
  for (let i = 0; i < 30; i++)
    synthetic(
      'digests',
      Array.from(
        { length: 12 },
        () => `${pick(['sha256', 'sha1', 'md5'])}:${rnd(HEX, 64)}  image@sha256:${rnd(HEX, 64)}`,
      ).join('\n'),
    );
  return out;
}

mkdirSync(OUT, { recursive: true });
const write = (name, records) => {
  writeFileSync(join(OUT, name), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const bytes = records.reduce((s, r) => s + r.text.length, 0);
  console.log(`${name}: ${records.length} records, ${(bytes / 1e6).toFixed(2)} MB of text`);
};
write('secrets.jsonl', secretRecords());
write('templates.jsonl', templateRecords());
write('benign.jsonl', benignRecords());
