// The keyword-gated generic rules: a value counts only when the name says "secret" and the value
// looks random for its alphabet and length; names that describe a secret (token_type, auth_url,
// password_hash) and values that are code or identifiers do not.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact, scan } from '../src/index.js';
import { nameKind } from '../src/assignment-rules.js';
import { shannonEntropy, entropyFloor } from '../src/entropy.js';
import { asLatin1 } from './encodings.js';

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

describe('detect-gap-3: a value assigned to a secret name and cut by hidden characters is found whole', () => {
  // The keyword stood in another run than the value (`api_key = "…"` has spaces), so the run read
  // without its hidden characters held no name, and the value read as written held them: found
  // under the wrong fingerprint, or not at all where one is white space to JavaScript (U+FEFF).
  const VALUE = 'Xk9mQ2vL8pR4tZ7wB3nY6cF1';
  const PASSWORD = 'hunter2!xyz';
  const CASES: [string, string, string, string][] = [
    // [what, the text with `@` where the value goes, the value, what cuts it]
    ['quoted, spaces around "="', 'api_key = "@"', VALUE, '\u200B'],
    ['unquoted', 'api_key = @\n', VALUE, '\u200B'],
    ['YAML, single quotes', "api_key: '@'\n", VALUE, '\u2060'],
    ['JSON', '{"api_key": "@"}', VALUE, '\u200C'],
    ['a byte-order mark inside text (white space to JavaScript)', 'api_key = "@"', VALUE, '\uFEFF'],
    ['several kinds in a row', 'client_secret = "@"', VALUE, '\u200B\u200C\u200D\u2060\uFEFF'],
    ['a colour code', 'api_key = "@"', VALUE, '\x1B[31m'],
    ['a password, unquoted', 'password: @\n', PASSWORD, '\u00AD'],
    ['a bearer credential', 'Authorization: Bearer @\n', VALUE, '\u200B'],
    ['the name cut too', 'api\u200B_key = "@"', VALUE, '\u200B'],
  ];
  for (const [what, shape, value, hidden] of CASES)
    it(`${what}: as written, and in UTF-8 read as Latin-1`, () => {
      const whole = shape.replace('@', value).replace('\u200B', '');
      const [expected] = scan(whole);
      assert.ok(expected, `the uncut value is found: ${whole}`);
      const cutValue = `${value.slice(0, 6)}${hidden}${value.slice(6)}`;
      for (const text of [shape.replace('@', cutValue), asLatin1(shape.replace('@', cutValue))]) {
        const found = scan(text, { decode: true });
        assert.deepEqual(
          found.map((f) => [f.rule, f.confidence, f.fingerprint, f.encoding, text.slice(f.start, f.end)]),
          [
            [
              expected.rule,
              'low',
              expected.fingerprint,
              'hidden',
              text === shape.replace('@', cutValue) ? cutValue : asLatin1(cutValue),
            ],
          ],
          JSON.stringify(text),
        );
      }
    });

  it('redaction replaces the value with the hidden characters inside it, and leaves the name', () => {
    const text = `api_key = "${VALUE.slice(0, 6)}\u200B${VALUE.slice(6)}"\nok\u200B`;
    const fingerprint = scan(`api_key = "${VALUE}"`)[0]?.fingerprint;
    assert.equal(
      redact(text, scan(text, { decode: true })),
      `api_key = "[REDACTED:generic-secret:${fingerprint}]"\nok\u200B`,
    );
  });
});

/** That a scan with decode of each of `texts` finds nothing. */
function assertNoFinding(texts: readonly string[]): void {
  for (const text of texts) assert.deepEqual(scan(text, { decode: true }), [], JSON.stringify(text));
}

describe('detect-39-4: a value on the line after its name and operator is judged with the name', () => {
  // YAML writes a scalar indented on the next line (`password:` then `  Zq8#…`), and a wrapped
  // line leaves `AWS_SECRET_ACCESS_KEY=` alone on its own: a value read only on the operator's line
  // was never judged. Nothing but white space may stand between them, and one line break.
  const awsSecret = 'mGA4jXf7O9p0S/4ezx5b5rbxavhBR7nxI0Q/QrJe';
  const CASES: [string, string][] = [
    ['AWS_SECRET_ACCESS_KEY=', awsSecret],
    ['aws_secret_access_key:', awsSecret],
    ['password:', 'Zq8#mLp2$vR7'],
    ['api_key =', 'q8ZmLp2vR7xW4kT9nB3c'],
  ];
  for (const [name, value] of CASES)
    it(`${name} then ${value.slice(0, 4)}… on the next line: as on one line`, () => {
      const [expected] = scan(`${name} ${value}`);
      for (const lineBreak of ['\n', '\n  ', '\r\n', ' \n\t']) {
        const text = `${name}${lineBreak}${value}\n`;
        assert.deepEqual(
          scan(text).map((f) => [f.rule, f.confidence, f.fingerprint, text.slice(f.start, f.end)]),
          [[expected?.rule, expected?.confidence, expected?.fingerprint, value]],
          JSON.stringify(text),
        );
      }
    });

  it('YAML mappings, lists, comments and code on the next line, or a blank line between, make no finding', () => {
    assertNoFinding([
      'password:\n  valueFrom:\n    secretKeyRef:\n      name: db-credentials\n',
      'token:\n  - read\n  - write\n',
      'password:\n  # the admin password, rotated monthly\n',
      'password:\n  required: true\n  minLength: 12\n',
      'api_key =\n    os.environ["API_KEY"]\n',
      'const token =\n  await getToken(client);\n',
      'password:\n  ${DB_PASSWORD}\n',
      'password:\n\nZq8#mLp2$vR7\n',
      '**Password:**\nMust be 8+ chars, with a digit!\n',
      // An empty value, then the next assignment or key (Laravel's .env.example, Spring properties).
      'AWS_SECRET_ACCESS_KEY=\nAWS_DEFAULT_REGION=us-east-1\n',
      'DB_PASSWORD=\nDB_HOST=db01.internal\n',
      'REDIS_PASSWORD=\nREDIS_PORT=6379\n',
      'db.password=\ndb.url=jdbc:mysql://db1:3306/app\n',
      'spring.datasource.password=\nspring.datasource.username=sa_2\n',
      'GITHUB_TOKEN=\nGITHUB_REPOSITORY=acme/app2\n',
      'secret_key=\nsession_cookie_name=sid_v2\n',
      'password:\n  secretRef2:\n',
      'secrets:\n  db_password_2024: changeme\n',
      'password:\n  name=db2-credentials\n',
      'The secret:\nsomething_like_this_42 is fine\n',
    ]);
  });
});

describe("detect-40-3: a value on its own line between an element's tags is judged with its name", () => {
  // Maven's settings.xml, Spring's and .NET's config files may write `<password>`, the value and
  // `</password>` on three lines, indented: the value was read with the line breaks and indentation
  // around it, which no secret holds, and never judged. It is now read alone when it is one word on
  // the line after the opening tag and the next line holds the closing tag of the same name alone.
  const awsSecret = 'mGA4jXf7O9p0S/4ezx5b5rbxavhBR7nxI0Q/QrJe';
  const CASES: [string, string][] = [
    ['password', 'Zq8#mLp2$vR7'],
    ['secret', 'q8ZmLp2vR7xW4kT9nB3c'],
    ['apiKey', 'q8ZmLp2vR7xW4kT9nB3c'],
    ['AwsSecretAccessKey', awsSecret],
  ];
  for (const [tag, value] of CASES)
    it(`<${tag}>, ${value.slice(0, 4)}… and </${tag}> on three lines: as on one line`, () => {
      const [expected] = scan(`<${tag}>${value}</${tag}>`);
      assert.ok(expected, 'found on one line');
      for (const inside of [
        `\n${value}\n`,
        `\n    ${value}\n  `,
        `\r\n\t\t${value}\r\n\t`,
        ` \n  ${value}  \n`,
      ]) {
        const element = `<${tag}>${inside}</${tag}>`;
        const settings = `<servers>\n  <server>\n    <id>nexus</id>\n    <username>deploy</username>\n    ${element}\n  </server>\n</servers>\n`;
        for (const text of [element, settings])
          assert.deepEqual(
            scan(text).map((f) => [f.rule, f.confidence, f.fingerprint, text.slice(f.start, f.end)]),
            [[expected.rule, expected.confidence, expected.fingerprint, value]],
            JSON.stringify(text),
          );
      }
    });

  it('nested elements, placeholders, prose, two lines and another closing tag make no finding', () => {
    assertNoFinding([
      '<password>\n  <value>Zq8#mLp2$vR7</value>\n</password>',
      '<password>\n  <![CDATA[Zq8#mLp2$vR7]]>\n</password>',
      '<password>\n  ${DB_PASSWORD}\n</password>',
      '<password>\n  ${env.MAVEN_PASSWORD}\n</password>',
      '<password>\n  %DB_PASSWORD%\n</password>',
      '<secret>\n  {{ .Values.secret }}\n</secret>',
      '<password>\n  ********\n</password>',
      '<password>\n  your-password-here\n</password>',
      '<password>\n</password>',
      '<token>\n  Sign in with your token, then retry.\n</token>',
      '<password>\n  Zq8#mLp2$vR7\n  second-line-2024\n</password>',
      '<password>\n  Zq8#mLp2$vR7\n</passwd>',
      '<password>\n  Zq8#mLp2$vR7\n</password-policy>',
    ]);
  });
});

describe('detect-40-4: a URL with credentials on the line after its name is found by the database URL rule', () => {
  // The next-line reading of detect-39-4 refuses a line holding ":", so `DATABASE_URL=` then a URL
  // on its own line is no assignment; the database URL rule reads the URL wherever it stands, and
  // finds its password as on one line. Nothing to change: this pins it.
  const URLS = [
    'postgres://app:Zq8vR2kLp9Xw4nTb@db.internal:5432/app',
    'postgresql://app:Zq8vR2kLp9Xw4nTb@db.internal/app?sslmode=require',
    'mysql://root:q8ZmLp2vR7xW4kT9@10.0.0.12:3306/shop',
    'mongodb+srv://svc:Kp9Xw4nTbZq8vR2L@cluster0.abcde.mongodb.net/app',
    'redis://:Xw4nTbZq8vR2kLp9@cache.internal:6379/0',
    'amqp://guest2:Tb9Zq8vR2kLpXw4n@mq.internal:5672/vhost',
  ];
  for (const url of URLS)
    it(`${url.slice(0, url.indexOf(':'))}: after DATABASE_URL= and a YAML key, as on one line`, () => {
      const found = (text: string): (string | undefined)[][] =>
        scan(text, { decode: true }).map((f) => [
          f.rule,
          f.confidence,
          f.fingerprint,
          text.slice(f.start, f.end),
        ]);
      const expected = found(url);
      assert.equal(expected[0]?.[0], 'database-url');
      for (const before of [
        'DATABASE_URL=\n',
        'DATABASE_URL=\r\n',
        'database_url:\n  ',
        'DB_PASSWORD_URL=\n  ',
      ])
        assert.deepEqual(found(`${before}${url}\n`), expected, JSON.stringify(before));
    });

  it('a placeholder password in the URL on the next line makes no finding', () => {
    assertNoFinding([
      'DATABASE_URL=\npostgres://user:<password>@localhost:5432/app\n',
      'DATABASE_URL=\npostgres://user:${DB_PASSWORD}@localhost:5432/app\n',
      'database_url:\n  postgres://app:changeme@db:5432/app\n',
    ]);
  });
});
