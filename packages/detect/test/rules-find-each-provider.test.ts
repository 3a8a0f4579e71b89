// Every provider rule finds a format-valid credential of its provider, in the context it is usually
// written in, with the right rule, family, confidence and exact span (the secret, not its name).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { EXAMPLES, githubToken, npmToken } from './tokens.js';

interface Case {
  readonly name: string;
  readonly secret: string;
  readonly line: (secret: string) => string;
  readonly rule: string;
  readonly family: string;
  readonly confidence?: 'high' | 'low';
}

const pem = EXAMPLES.rsaKey();
const gcpKey = pem.replace(/RSA /g, '');
const gcpJsonKey = gcpKey.replace(/\n/g, '\\n');
const CASES: Case[] = [
  {
    name: 'AWS access key id',
    secret: EXAMPLES.awsAccessKeyId(),
    line: (s) => `aws_access_key_id = ${s}`,
    rule: 'aws-access-key-id',
    family: 'aws',
  },
  {
    name: 'AWS secret access key',
    secret: EXAMPLES.awsSecretAccessKey(),
    line: (s) => `aws_secret_access_key = ${s}`,
    rule: 'aws-secret-access-key',
    family: 'aws',
  },
  {
    name: 'AWS secret in JSON',
    secret: EXAMPLES.awsSecretAccessKey(),
    line: (s) => `{"SecretAccessKey": "${s}"}`,
    rule: 'aws-secret-access-key',
    family: 'aws',
  },
  {
    name: 'GCP API key',
    secret: EXAMPLES.gcpApiKey(),
    line: (s) => `https://maps.googleapis.com/maps/api/js?key=${s}`,
    rule: 'gcp-api-key',
    family: 'gcp',
  },
  {
    name: 'GCP service-account key',
    secret: gcpJsonKey,
    line: (s) =>
      `{"type": "service_account", "private_key": "${s}\\n", "client_email": "x@p.iam.gserviceaccount.com"}`,
    rule: 'gcp-service-account-key',
    family: 'gcp',
  },
  {
    name: 'Azure storage connection string',
    secret: EXAMPLES.azureStorageKey(),
    line: (s) =>
      `DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=${s};EndpointSuffix=core.windows.net`,
    rule: 'azure-storage-key',
    family: 'azure',
  },
  {
    name: 'Azure client secret (format)',
    secret: EXAMPLES.azureClientSecret(),
    line: (s) => `client_secret: ${s}`,
    rule: 'azure-client-secret',
    family: 'azure',
  },
  {
    name: 'Azure client secret (by name)',
    secret: EXAMPLES.alnum(40),
    line: (s) => `AZURE_CLIENT_SECRET=${s}`,
    rule: 'azure-client-secret',
    family: 'azure',
  },
  {
    name: 'GitHub personal token',
    secret: githubToken('ghp'),
    line: (s) => `export GITHUB_TOKEN=${s}`,
    rule: 'github-token',
    family: 'github',
  },
  {
    name: 'GitHub OAuth token',
    secret: githubToken('gho'),
    line: (s) => `Authorization: token ${s}`,
    rule: 'github-token',
    family: 'github',
  },
  {
    name: 'GitHub app token',
    secret: githubToken('ghs'),
    line: (s) => `"token": "${s}"`,
    rule: 'github-token',
    family: 'github',
  },
  {
    name: 'GitHub user-to-server token',
    secret: githubToken('ghu'),
    line: (s) => s,
    rule: 'github-token',
    family: 'github',
  },
  {
    name: 'GitHub refresh token',
    secret: githubToken('ghr'),
    line: (s) => `refresh=${s}`,
    rule: 'github-token',
    family: 'github',
  },
  {
    name: 'GitHub fine-grained token',
    secret: EXAMPLES.githubFineGrained(),
    line: (s) => `GH_TOKEN: ${s}`,
    rule: 'github-fine-grained-token',
    family: 'github',
  },
  {
    name: 'GitLab token',
    secret: EXAMPLES.gitlab(),
    line: (s) => `PRIVATE-TOKEN: ${s}`,
    rule: 'gitlab-token',
    family: 'gitlab',
  },
  {
    name: 'Slack bot token',
    secret: EXAMPLES.slackBot(),
    line: (s) => `SLACK_BOT_TOKEN="${s}"`,
    rule: 'slack-token',
    family: 'slack',
  },
  {
    name: 'Slack webhook',
    secret: EXAMPLES.slackWebhook().slice('https://'.length),
    line: (s) => `curl -X POST https://${s} -d '{}'`,
    rule: 'slack-webhook',
    family: 'slack',
  },
  {
    name: 'Stripe live key',
    secret: EXAMPLES.stripe(),
    line: (s) => `stripe.api_key = "${s}"`,
    rule: 'stripe-key',
    family: 'stripe',
  },
  {
    name: 'OpenAI project key',
    secret: EXAMPLES.openai(),
    line: (s) => `OPENAI_API_KEY=${s}`,
    rule: 'openai-api-key',
    family: 'openai',
  },
  {
    name: 'OpenAI legacy key',
    secret: EXAMPLES.openaiLegacy(),
    line: (s) => `openai.api_key = '${s}'`,
    rule: 'openai-api-key',
    family: 'openai',
  },
  {
    name: 'Anthropic API key',
    secret: EXAMPLES.anthropic(),
    line: (s) => `x-api-key: ${s}`,
    rule: 'anthropic-api-key',
    family: 'anthropic',
  },
  {
    name: 'Anthropic admin key',
    secret: EXAMPLES.anthropicAdmin(),
    line: (s) => `ANTHROPIC_ADMIN_KEY=${s}`,
    rule: 'anthropic-api-key',
    family: 'anthropic',
  },
  {
    name: 'Hugging Face token',
    secret: EXAMPLES.huggingface(),
    line: (s) => `HF_TOKEN=${s}`,
    rule: 'huggingface-token',
    family: 'huggingface',
  },
  {
    name: 'npm token',
    secret: npmToken(),
    line: (s) => `//registry.npmjs.org/:_authToken=${s}`,
    rule: 'npm-token',
    family: 'npm',
  },
  {
    name: 'PyPI token',
    secret: EXAMPLES.pypi(),
    line: (s) => `password = ${s}`,
    rule: 'pypi-token',
    family: 'pypi',
  },
  {
    name: 'Twilio API key SID',
    secret: EXAMPLES.twilioKey(),
    line: (s) => `twilio_key: ${s}`,
    rule: 'twilio-api-key',
    family: 'twilio',
  },
  {
    name: 'Twilio auth token',
    secret: EXAMPLES.twilioAuthToken(),
    line: (s) => `TWILIO_AUTH_TOKEN=${s}`,
    rule: 'twilio-auth-token',
    family: 'twilio',
  },
  {
    name: 'SendGrid key',
    secret: EXAMPLES.sendgrid(),
    line: (s) => `sg = SendGridAPIClient("${s}")`,
    rule: 'sendgrid-api-key',
    family: 'sendgrid',
  },
  {
    name: 'JWT',
    secret: EXAMPLES.jwt(),
    line: (s) => `Authorization: Bearer ${s}`,
    rule: 'jwt',
    family: 'jwt',
  },
  { name: 'RSA private key', secret: pem, line: (s) => `${s}\n`, rule: 'private-key', family: 'private_key' },
  {
    name: 'OpenSSH private key',
    secret: pem.replace(/RSA/g, 'OPENSSH'),
    line: (s) => s,
    rule: 'private-key',
    family: 'private_key',
  },
  {
    name: 'EC private key',
    secret: pem.replace(/RSA/g, 'EC'),
    line: (s) => s,
    rule: 'private-key',
    family: 'private_key',
  },
  {
    name: 'encrypted PKCS#8 key',
    secret: pem.replace(/RSA/g, 'ENCRYPTED'),
    line: (s) => s,
    rule: 'private-key',
    family: 'private_key',
  },
  {
    name: 'PGP private key block',
    secret: pem
      .replace(/-----(BEGIN|END) RSA PRIVATE KEY-----/g, '-----$1 PGP PRIVATE KEY BLOCK-----')
      .replace('\n', '\nVersion: GnuPG v2\n\n'),
    line: (s) => s,
    rule: 'private-key',
    family: 'private_key',
  },
  {
    name: 'postgres URL',
    secret: 'Xq7!mP2vR9sK',
    line: (s) => `DATABASE_URL=postgres://app:${s}@db.example.internal:5432/app`,
    rule: 'database-url',
    family: 'database',
  },
  {
    name: 'mongodb+srv URL',
    secret: 'n8Vd2Lq5Zr',
    line: (s) => `mongodb+srv://admin:${s}@cluster0.ab1cd.mongodb.net/test`,
    rule: 'database-url',
    family: 'database',
  },
  {
    name: 'redis URL without user',
    secret: 'Tq3Wv8Zp1Rm',
    line: (s) => `REDIS_URL=redis://:${s}@cache:6379/0`,
    rule: 'database-url',
    family: 'database',
  },
  {
    name: 'amqp URL',
    secret: 'guestXy81Lk',
    line: (s) => `amqp://rabbit:${s}@mq.internal:5672/`,
    rule: 'database-url',
    family: 'database',
  },
  {
    name: 'mysql URL with a default password',
    secret: 'root',
    line: (s) => `mysql://root:${s}@localhost/db`,
    rule: 'database-url',
    family: 'database',
    confidence: 'low',
  },
  {
    name: 'generic secret in .env',
    secret: EXAMPLES.generic(),
    line: (s) => `ACME_API_KEY=${s}`,
    rule: 'generic-secret',
    family: 'generic',
    confidence: 'low',
  },
  {
    name: 'generic secret in YAML',
    secret: EXAMPLES.generic(),
    line: (s) => `  client_secret: "${s}"`,
    rule: 'generic-secret',
    family: 'generic',
    confidence: 'low',
  },
  {
    name: 'hex token by name',
    secret: EXAMPLES.hex(40),
    line: (s) => `"access_token": "${s}"`,
    rule: 'generic-secret',
    family: 'generic',
    confidence: 'low',
  },
  {
    name: 'password in config',
    secret: EXAMPLES.password(),
    line: (s) => `db.password=${s}`,
    rule: 'password-assignment',
    family: 'password',
    confidence: 'low',
  },
  {
    name: 'password in XML',
    secret: EXAMPLES.password(),
    line: (s) => `<password>${s}</password>`,
    rule: 'password-assignment',
    family: 'password',
    confidence: 'low',
  },
];

describe('each provider rule finds its format in context', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.rule}`, () => {
      const text = `# config\n${c.line(c.secret)}\nnext = 1\n`;
      const findings = scan(text);
      assert.equal(findings.length, 1, JSON.stringify(findings));
      const [f] = findings;
      assert.equal(f?.rule, c.rule);
      assert.equal(f?.family, c.family);
      assert.equal(f?.confidence, c.confidence ?? 'high');
      assert.equal(text.slice(f?.start, f?.end), c.secret);
    });
  }
});

void it('a finding never holds the secret: its fingerprint shows at most the public prefix', () => {
  for (const c of CASES) {
    const [f] = scan(c.line(c.secret));
    assert.ok(f, c.name);
    assert.ok(!f.fingerprint.includes(c.secret.slice(-8)), `${c.name}: ${f.fingerprint}`);
    assert.ok(!JSON.stringify(f).includes(c.secret), c.name);
  }
});
