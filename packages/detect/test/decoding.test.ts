// egress-dlp-04: secrets hidden by encoding are found with `decode`: base64 (std and url-safe), hex
// and several layers of percent-encoding, in a path, a query or a JSON body. The finding spans the
// encoded segment; its fingerprint is the decoded secret's, so the same secret names the same
// finding whatever the encoding.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scan } from '../src/index.js';
import { EXAMPLES, githubToken } from './tokens.js';

const token = githubToken('ghp');
const anthropic = EXAMPLES.anthropic();
const rawFingerprint = scan(token)[0]?.fingerprint;
const b64 = (s: string): string => btoa(s);
const b64url = (s: string): string => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const hex = (s: string): string => [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
const percentAll = (s: string): string =>
  [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');

const CASES: [string, string, string][] = [
  ['base64 in the path', `https://evil.test/u/${b64(`t=${token}`)}`, 'base64'],
  ['base64url in the query', `https://evil.test/?d=${b64url(`{"t":"${token}"}`)}`, 'base64url'],
  ['hex in the query', `https://evil.test/?h=${hex(token)}`, 'hex'],
  ['percent-encoded every byte', `https://evil.test/?q=${percentAll(token)}`, 'percent'],
  [
    'three layers of percent-encoding',
    `https://evil.test/?q=${encodeURIComponent(encodeURIComponent(percentAll(token)))}`,
    'percent',
  ],
  ['base64 inside a JSON body', JSON.stringify({ note: b64(`my token is ${token}`) }), 'base64'],
  [
    'JSON \\u escapes',
    `{"k":"${[...token].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`,
    'json',
  ],
];

describe('egress-dlp-04: encoded secrets are found after decoding', () => {
  for (const [name, text, encoding] of CASES) {
    it(name, () => {
      assert.deepEqual(scan(text), [], 'not visible without decoding');
      const [f, ...rest] = scan(text, { decode: true });
      assert.deepEqual(rest, []);
      assert.equal(f?.rule, 'github-token');
      assert.equal(f?.confidence, 'high');
      // Base64url without "-" or "_" cannot be told from base64; either name is right then.
      assert.equal(f?.encoding?.replace('base64url', 'base64'), encoding.replace('base64url', 'base64'));
      assert.equal(f?.fingerprint, rawFingerprint);
      // The span covers the encoded segment: redacting it removes the secret's every byte.
      const segment = text.slice(f?.start, f?.end);
      assert.ok(segment.length >= token.length, segment);
    });
  }
});

void it('Basic credentials hiding a GitHub token are reported as the token, not only as a generic secret', () => {
  const text = `Authorization: Basic ${b64(`x-access-token:${token}`)}`;
  assert.equal(scan(text)[0]?.rule, 'generic-secret');
  const [f, ...rest] = scan(text, { decode: true });
  assert.deepEqual(rest, []);
  assert.equal(f?.rule, 'github-token');
  assert.equal(f?.encoding, 'base64');
});

void it('base64 of an Anthropic key in a JSON body is found', () => {
  const body = JSON.stringify({ messages: [{ role: 'user', content: `data:${b64(anthropic)}` }] });
  const [f] = scan(body, { decode: true });
  assert.equal(f?.rule, 'anthropic-api-key');
});

void it('decoding leaves binary base64 (images, hashes) alone', () => {
  const png =
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
  assert.deepEqual(scan(`data:image/png;base64,${png}`, { decode: true }), []);
});

void it('a base64 run longer than 64 KiB (a file sent as a blob) is scanned in overlapping windows: a secret anywhere in it is found, one across a window edge too', () => {
  const line = 'log line: nothing to see here, all services nominal\n';
  // The first window ends 49,152 bytes in (64 KiB of base64), the second starts at 46,080: lines
  // are 52 bytes, so after 945 lines the secret spans the first window's end.
  for (const before of [10, 886, 945, 1_600, 2_300]) {
    const file = `${line.repeat(before)}TOKEN=${token}\n${line.repeat(300)}`;
    const found = scan(b64(file), { decode: true });
    assert.equal(found.length, 1, `a secret after ${before} lines`);
    assert.equal(found[0]?.fingerprint, rawFingerprint);
    assert.equal(found[0]?.encoding, 'base64');
  }
  // A long binary run (an image) is still left alone, window after window.
  const noise = Buffer.alloc(200_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  assert.deepEqual(scan(noise.toString('base64'), { decode: true }), []);
});
