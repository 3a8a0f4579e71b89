// perimeter scan on real files in temp directories and on standard input through the real binary:
// one line per finding with file:line:col, rule and fingerprint, never the secret; exit 0 when
// clean, 1 when something is found, 3 when an input cannot be read.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, linesOf, positionOf, runCli, tempDir, writeFile } from './cli-harness.js';

const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');

// Format-valid, never issued: a GitHub token whose last 6 characters are the base62 CRC32 of the
// 30 before them, and an Anthropic-shaped key.
const GITHUB = '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';
const ANTHROPIC = `sk-ant-api03-${'Zq8Lm2Xv9Rt4Wn7Ps1Kd6Hg3Jc5Bf0Ay'.repeat(3).slice(0, 93)}AA`;

test('scan reports each secret as file:line:col, rule and fingerprint, and exits 1', (t) => {
  const dir = tempDir(t);
  const text = `# settings\nDEBUG=1\nGITHUB_TOKEN=${GITHUB}\n  anthropic: "${ANTHROPIC}"\n`;
  const file = writeFile(dir, '.env', text);
  const r = runCli(['scan', file]);
  assert.equal(r.code, 1, r.stderr);
  const lines = linesOf(r.stdout);
  assert.equal(lines.length, 2);
  const gh = positionOf(text, GITHUB);
  const ant = positionOf(text, ANTHROPIC);
  assert.match(
    lines[0] ?? '',
    new RegExp(`^${file}:${gh.line}:${gh.col}  github-token  ghp_…\\([0-9a-f]{8}\\)`),
  );
  assert.match(
    lines[1] ?? '',
    new RegExp(`^${file}:${ant.line}:${ant.col}  anthropic-api-key  sk-ant-api03-…\\([0-9a-f]{8}\\)$`),
  );
  assert.ok(
    !r.stdout.includes(GITHUB.slice(4)) && !r.stdout.includes(ANTHROPIC.slice(13)),
    'the secret is never printed',
  );
});

test('scan exits 0 and prints nothing for a clean file', (t) => {
  const file = writeFile(tempDir(t), 'clean.js', 'const token = getToken();\nexport default token;\n');
  const r = runCli(['scan', file]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
});

test('scan marks low-confidence findings (a token with a wrong checksum)', (t) => {
  const file = writeFile(tempDir(t), 'x.txt', `t=${GITHUB.slice(0, -1)}Z\n`);
  const r = runCli(['scan', file]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:1:3 {2}github-token {2}ghp_…\([0-9a-f]{8}\) {2}\(low confidence\)$/m);
});

test('scan decodes: a base64 value in a Kubernetes Secret is found and marked as encoded', (t) => {
  const yaml = `apiVersion: v1\nkind: Secret\ndata:\n  token: ${Buffer.from(GITHUB).toString('base64')}\n`;
  const r = runCli(['scan', writeFile(tempDir(t), 'secret.yaml', yaml)]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /:4:10 {2}github-token {2}ghp_…\([0-9a-f]{8}\) {2}\(base64-encoded\)$/m);
});

test('redteam-34-1: scan finds a token cut by a zero-width space and says it was cut by hidden characters', (t) => {
  const dir = tempDir(t);
  const cut = `${GITHUB.slice(0, 10)}\u200B${GITHUB.slice(10)}`;
  const whole = runCli(['scan', writeFile(dir, 'whole.env', `GITHUB_TOKEN=${GITHUB}\n`)]);
  const r = runCli(['scan', writeFile(dir, 'cut.env', `# settings\nGITHUB_TOKEN=${cut}\n`)]);
  assert.equal(r.code, 1, r.stderr);
  const fingerprint = /ghp_…\([0-9a-f]{8}\)/.exec(whole.stdout)?.[0] ?? 'none';
  assert.equal(
    r.stdout,
    `${join(dir, 'cut.env')}:2:14  github-token  ${fingerprint}  (cut by hidden characters)\n`,
  );
  const json = runCli(['scan', join(dir, 'cut.env'), '--json']);
  assert.equal((JSON.parse(json.stdout) as { encoding?: string }[])[0]?.encoding, 'hidden');
  // The binary (its one-file bundle), as a user runs it, reading the file's UTF-8 bytes.
  const bin = spawnSync(process.execPath, [BIN, 'scan', '-'], {
    cwd: REPO_ROOT,
    input: Buffer.from(`token: "${cut}"\n`, 'utf8'),
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(bin.status, 1, bin.stderr);
  assert.equal(bin.stdout, `-:1:9  github-token  ${fingerprint}  (cut by hidden characters)\n`);
});

test('detect-gap-1: scan finds a token spelled in Unicode tag characters and says so', (t) => {
  const dir = tempDir(t);
  const tags = [...GITHUB].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
  const whole = runCli(['scan', writeFile(dir, 'whole.env', `GITHUB_TOKEN=${GITHUB}\n`)]);
  const fingerprint = /ghp_…\([0-9a-f]{8}\)/.exec(whole.stdout)?.[0] ?? 'none';
  const file = writeFile(dir, 'tagged.md', `Read me.${tags}\n`);
  const r = runCli(['scan', file]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, `${file}:1:9  github-token  ${fingerprint}  (spelled in Unicode tag characters)\n`);
});

test('scan --json prints the findings with positions and no secret', (t) => {
  const file = writeFile(tempDir(t), 'c.json', `{\n  "api": "${ANTHROPIC}"\n}\n`);
  const r = runCli(['scan', file, '--json']);
  assert.equal(r.code, 1);
  const findings = JSON.parse(r.stdout) as Record<string, unknown>[];
  assert.equal(findings.length, 1);
  assert.deepEqual(
    { ...findings[0], fingerprint: undefined },
    {
      file,
      line: 2,
      column: 11,
      rule: 'anthropic-api-key',
      family: 'anthropic',
      confidence: 'high',
      fingerprint: undefined,
    },
  );
  assert.ok(!r.stdout.includes(ANTHROPIC));
});

test('scan of a missing file exits 3 with one sentence, and still scans the others', (t) => {
  const good = writeFile(tempDir(t), 'a.env', `X=${GITHUB}\n`);
  const r = runCli(['scan', '/nonexistent/file.env', good]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: cannot read \/nonexistent\/file\.env \(ENOENT\)/);
  assert.match(r.stdout, /a\.env:1:3 {2}github-token/);
});

test('scan of a directory exits 3 and says how to name files', (t) => {
  const r = runCli(['scan', tempDir(t)]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /EISDIR[\s\S]*git ls-files/);
});

test('the binary reads standard input without FILE and with -', () => {
  for (const args of [['scan'], ['scan', '-']]) {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      input: `diff --git a/.env b/.env\n+GITHUB_TOKEN=${GITHUB}\n`,
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^-:2:15 {2}github-token {2}ghp_…\([0-9a-f]{8}\)\n$/);
  }
  const clean = spawnSync(process.execPath, [BIN, 'scan'], {
    cwd: REPO_ROOT,
    input: 'nothing here\n',
    encoding: 'utf8',
  });
  assert.equal(clean.status, 0);
  assert.equal(clean.stdout, '');
});
