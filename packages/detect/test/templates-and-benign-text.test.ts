// What must not be reported: placeholders and templates (reported separately as "template" in the
// benchmark), documentation examples, and the high-entropy text package managers and APIs send all
// day (egress-dlp-08): UUIDs, git SHAs, sha512 integrity strings, data: images, error messages.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';

const TEMPLATES = [
  'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
  'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'GITHUB_TOKEN=${GITHUB_TOKEN}',
  'api_key: "{{ .Values.apiKey }}"',
  'OPENAI_API_KEY=<YOUR_OPENAI_API_KEY>',
  'password: "********"',
  'token = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
  'GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'export STRIPE_KEY=sk_live_XXXXXXXXXXXXXXXXXXXXXXXX',
  'DATABASE_URL=postgres://user:${DB_PASSWORD}@localhost:5432/app',
  'DATABASE_URL=postgres://user:<password>@localhost:5432/app',
  'mongodb://admin:****@mongo:27017',
  'redis://:xxx@cache:6379',
  'api_key = "your-api-key-here"',
  'client_secret: REPLACE_ME',
  'secret_key = "changeme"',
  'token: ghp_1234567890abcdefghijklmnopqrstuvwxyz',
  'SLACK_TOKEN=xoxb-your-token',
  'password=%(db_password)s',
  'password: $DB_PASSWORD',
  'ANTHROPIC_API_KEY=sk-ant-api03-...',
  'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END RSA PRIVATE KEY-----',
];

const BENIGN = [
  'GET /api/v1/items/4f1c2a9e-8b7d-4c3e-9f10-2a3b4c5d6e7f HTTP/1.1',
  'commit 9fceb02d0ae598e95dc970b74767f19372d61af8',
  '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg=="',
  '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">',
  '{"error": "token expired", "message": "Your token has expired; please log in again"}',
  'Visit http://localhost:3000 to see the docs.',
  'const token = getToken(req.headers.authorization);',
  'if (password === confirmPassword) submit();',
  'passwordField.placeholder = "Enter your password";',
  '"author": "Sindre Sorhus <sindresorhus@gmail.com>",',
  'token_type: bearer',
  'const secretName = process.env.SECRET_NAME;',
  'auth: { user: config.smtpUser, pass: config.smtpPass }',
  'password_hash = "$2b$12$KIXQJQ6vY5b5Zz1y2oQxUeQ6m1vQy5e6Q5e6Q5e6Q5e6Q5e6Q5e6Q"',
  'docker pull node@sha256:2d3b4ce9a8f5b1f1c3e09f5f1d5a1e3f6d8c9b0a1e2f3d4c5b6a7980e1f2a3b4',
  'tokenizer.nextToken(); const tokens = lexer.tokenize(source);',
  'import { createHash } from "node:crypto"; const key = createHash("sha256");',
  'The -----BEGIN RSA PRIVATE KEY----- header starts a PEM key.',
  '"resolved": "https://registry.npmjs.org/@types/node/-/node-20.19.43.tgz"',
  'AUTH_URL=https://login.example.com/oauth2/authorize',
  'password: process.env.DB_PASSWORD,',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 is the header of most JWTs',
];

describe('templates and examples are not secrets', () => {
  for (const text of TEMPLATES) it(JSON.stringify(text.slice(0, 70)), () => assert.deepEqual(scan(text), []));
});

describe('egress-dlp-08: benign high-entropy and secret-looking text is not reported', () => {
  for (const text of BENIGN)
    it(JSON.stringify(text.slice(0, 70)), () => {
      assert.deepEqual(scan(text), []);
      assert.deepEqual(scan(text, { decode: true }), []);
    });
});

describe('detect-gap-3: a hidden character inside a template or benign text makes no finding of its own', () => {
  // Runs cut by hidden characters are read with the text before them on their line, so that a
  // secret name and its value are read together: that reading must not turn a placeholder, a hash
  // or a sentence into a secret.
  /** `text` with `hidden` in the middle of its last word, and in the middle of the whole. */
  const cuts = (text: string, hidden: string): string[] => {
    const last = text.trimEnd().lastIndexOf(' ') + 1;
    const inLast = last + Math.floor((text.trimEnd().length - last) / 2);
    const middle = Math.floor(text.length / 2);
    return [inLast, middle].map((at) => `${text.slice(0, at)}${hidden}${text.slice(at)}`);
  };
  const found = (text: string): string[][] =>
    scan(text, { decode: true }).map((f) => [f.rule, f.fingerprint]);
  for (const text of [...TEMPLATES, ...BENIGN])
    it(JSON.stringify(text.slice(0, 70)), () => {
      for (const hidden of ['\u200B', '\uFEFF', '\x1B[0m'])
        for (const cutText of cuts(text, hidden))
          assert.deepEqual(found(cutText), found(text), JSON.stringify(cutText));
    });
});
