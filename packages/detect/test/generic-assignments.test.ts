// The keyword-gated generic rules: a value counts only when the name says "secret" and the value
// looks random for its alphabet and length; names that describe a secret (token_type, auth_url,
// password_hash) and values that are code or identifiers do not.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { nameKind } from '../src/assignment-rules.js';
import { shannonEntropy, entropyFloor } from '../src/entropy.js';

void it('names are read word by word, whatever their casing', () => {
  assert.equal(nameKind('DB_PASSWORD'), 'password');
  assert.equal(nameKind('dbPassword'), 'password');
  assert.equal(nameKind('x-api-key'), 'secret');
  assert.equal(nameKind('clientSecret'), 'secret');
  assert.equal(nameKind('GITHUBTOKEN'), 'secret');
  assert.equal(nameKind('private_key'), 'secret');
  assert.equal(nameKind('token_type'), undefined);
  assert.equal(nameKind('auth_url'), undefined);
  assert.equal(nameKind('author'), undefined);
  assert.equal(nameKind('tokenizer'), undefined);
  assert.equal(nameKind('api_key_id'), undefined);
});

void it('entropy floors depend on alphabet and length (detect-secrets caps: 3.0 hex, 4.5 base64)', () => {
  assert.equal(entropyFloor('hex', 64), 3.0);
  assert.equal(entropyFloor('base64', 1024), 4.5);
  assert.ok(entropyFloor('base64', 16) < Math.log2(16));
  assert.equal(shannonEntropy('aaaa'), 0);
  assert.equal(shannonEntropy('abcd'), 2);
});

describe('values that are not secrets are refused', () => {
  for (const text of [
    'api_key = "aaaaaaaaaaaaaaaaaaaaaaaaa"',
    'secret: my-very-long-config-value-name',
    'token = "TOKEN_EXPIRED_ERROR_CODE"',
    'apiKey: apiKeyFromEnvironmentVariable',
    'auth_token = "550e8400-e29b-41d4-a716-446655440000"',
    'SECRET_KEY_FILE=/run/secrets/secret_key.pem',
    'password: "short1"',
    'access_key: "https://vault.example.com/v1/secret/data/app"',
    'token == "abcdef0123456789abcdef0123456789"',
  ])
    it(text, () => assert.deepEqual(scan(text), []));
});

void it('a value assigned through JSON-in-a-string is still found', () => {
  const text = '{"body":"{\\"api_key\\":\\"Zq8Lm2Xv9Rt4Wn7Ps1Kd6Hg3Jc5Bf0Ay\\"}"}';
  const [f] = scan(text);
  assert.equal(f?.rule, 'generic-secret');
  assert.equal(text.slice(f?.start, f?.end), 'Zq8Lm2Xv9Rt4Wn7Ps1Kd6Hg3Jc5Bf0Ay');
});
