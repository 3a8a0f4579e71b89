// redteam-34-6: rules that read on from an anchor now read a run once for all the anchors in it
// (jwt.ts, pem.ts, provider-rules.ts' `run`). What each finds at every anchor must be what its
// pattern or reading found before: these hold them to the old patterns, written out here, on
// generated texts where anchors stand inside runs, headers inside header lines and JSON inside
// JSON. The cost is held in hostile-cost.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonObjectSuffixes } from '../src/json-suffixes.js';
import { jwtVerdict } from '../src/jwt.js';
import { pemVerdict } from '../src/pem.js';
import { PROVIDER_RULES, type Candidate } from '../src/provider-rules.js';
import { random } from './tokens.js';

const r = random(20261124);
let seed = 34_6;
const pick = <T>(items: readonly T[]): T => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return items[Math.floor((seed / 2 ** 32) * items.length)] as T;
};
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64url = (text: string): string =>
  btoa(text).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/** Every position where `anchor` starts in `text`, in order. */
function anchorsIn(text: string, anchor: string): number[] {
  const at: number[] = [];
  for (let i = text.indexOf(anchor); i >= 0; i = text.indexOf(anchor, i + 1)) at.push(i);
  return at;
}

/** A rule's findings at each anchor, asked in order as a scan asks: [start, end, verdict] or none. */
function findingsAt(
  text: string,
  anchors: readonly number[],
  match: (at: number) => Candidate | undefined,
  check: (value: string, text: string, start: number) => unknown,
): string[] {
  return anchors.map((at) => {
    const c = match(at);
    const verdict = c && check(text.slice(c.start, c.end), text, c.start);
    return c && verdict !== undefined ? JSON.stringify([c.start, c.end, verdict]) : '-';
  });
}

const ruleNamed = (id: string) => {
  const rule = PROVIDER_RULES.find((p) => p.id === id);
  assert.ok(rule, id);
  return rule;
};

/** A sticky pattern tried at the anchor, as every rule's was. */
const pattern =
  (source: string) =>
  (text: string) =>
  (at: number): Candidate | undefined => {
    const re = new RegExp(source, 'y');
    re.lastIndex = at;
    const m = re.exec(text);
    return m ? { start: at, end: at + m[0].length } : undefined;
  };

describe('redteam-34-6: what JSON.parse accepts, for every start of an object in a text', () => {
  const PIECES = [
    '{',
    '}',
    '[',
    ']',
    '"',
    ':',
    ',',
    ' ',
    '\\',
    'u',
    '0',
    '1',
    '-',
    '.',
    'e',
    'E',
    '+',
    'true',
    'null',
    'fals',
    '"alg"',
    '{"',
    '{"a":',
    '"x":1}',
    '\\u0041',
    '\\uZZ',
    '\\"',
    '\\n',
    '\\x',
    '\x01',
    '\n',
    '\t',
    '\x0b',
    'a',
    'é',
    '\xff',
    '01',
    '-0',
    '1.5',
    '1e5',
    '1.',
    '.5',
    '[]',
    '{}',
    '[1,]',
    '{"a":1,}',
  ];
  void it('jsonObjectSuffixes() accepts exactly the suffixes JSON.parse makes an object of', () => {
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      for (let k = 1 + (n % 30); k > 0; k--) text += pick(PIECES);
      if (n % 3 === 0) {
        const json = JSON.stringify({ alg: 'x', a: [1, { b: '{"' }, -2.5e3, null, true], s: 'q\\"\n' });
        const cut = n % json.length;
        text =
          pick(['{"', '', '{"a":', '{"a":"']) +
          json.slice(0, cut) +
          pick(['', ...PIECES]) +
          json.slice(cut + (n % 2));
      }
      const starts = anchorsIn(text, '{');
      const accepted = new Set(
        jsonObjectSuffixes(
          Uint8Array.from(text, (c) => c.charCodeAt(0)),
          starts,
        ),
      );
      for (const start of starts) {
        let isObject: boolean;
        try {
          const parsed: unknown = JSON.parse(text.slice(start));
          isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
        } catch {
          isObject = false;
        }
        assert.equal(accepted.has(start), isObject, `${JSON.stringify(text)} from ${start}`);
        if (isObject) valid++;
      }
    }
    assert.ok(valid > 1_000, `${valid} accepted`);
  });
});

describe('redteam-34-6: each rule finds at every anchor what its pattern found', () => {
  void it('jwt: its pattern and header check, on runs of eyJ, headers in headers and cut tokens', () => {
    const old = pattern(
      'eyJ[A-Za-z0-9_-]{8,2000}\\.[A-Za-z0-9_-]{2,8000}\\.[A-Za-z0-9_-]{0,2000}(?![A-Za-z0-9_-])',
    );
    const headers = [
      '{"alg":"HS256","typ":"JWT"}',
      '{"alg":"none"}',
      '{"typ":"JWT"}',
      '{"a":[{"alg":"x"}]}',
      ' {"alg":"RS256"} ',
      '{"alg":"HS256"',
      '{"\\u0061lg":"ES256"}',
      '{"alg":"x","k":"{\\"}"}',
      '{"alg":"x"}{"alg":"y"}',
      `{"alg":"RS256","x5c":["${'A'.repeat(1450)}"]}`,
    ];
    const nested = () =>
      pick(['{"a":[', '{"alg":"x",', '"{"', '{"b":', '"x":1}', ']}', '}', '{"}":1,', '{"]', ' ']);
    let found = 0;
    for (let n = 0; n < 1_500; n++) {
      const header =
        n % 2 === 0
          ? pick(headers)
          : `{"alg":"HS256",${nested()}${nested()}${nested()}${pick(['}', '"alg":1}', ']}'])}`;
      const parts = [
        base64url(header),
        base64url(`{"sub":"${r(B64, 8)}"}`),
        r(B64URL, pick([0, 16, 43, 2001])),
      ];
      const token = pick([
        parts.join('.'),
        `${parts[0]}.${parts[1]}.`,
        `${parts[0]}${r(B64URL, 3)}.${parts[1]}`,
        `${'eyJ'.repeat(pick([1, 40, 700]))}${parts.join('.')}`,
        `${parts[0]}.${r(B64URL, 8001)}.x`,
      ]);
      const text = `${pick(['', 'x', 'eyJ', 'a.', ' '])}${token}${pick(['', '.', ' ', '.eyJ', `.${parts.join('.')}`])}`;
      const anchors = anchorsIn(text, 'eyJ');
      const now = findingsAt(text, anchors, ruleNamed('jwt').matcher(text), jwtVerdict);
      assert.deepEqual(now, findingsAt(text, anchors, old(text), jwtVerdict), text.slice(0, 200));
      found += now.filter((f) => f !== '-').length;
    }
    assert.ok(found > 200, `${found} found`);
  });

  void it('private-key: its reading of the body and pemVerdict, on headers in header lines and bodies past 64 KiB', () => {
    const HEADERS = [
      '-----BEGIN PRIVATE KEY-----',
      '-----BEGIN RSA PRIVATE KEY-----',
      '-----BEGIN EC2 PRIVATE KEY-----',
    ];
    const value = () =>
      pick([
        pick(HEADERS),
        r(`${B64} -.`, pick([3, 120])),
        '...',
        'xxxxxxxx',
        '-----AB C-----',
        '-----A-----A',
        'XXXX XXXX',
      ]);
    const line = () =>
      pick([
        () => `a: ${value()}${value()}`,
        () => `Proc-Type: ${r(`${B64} -.`, pick([10, 230]))}`,
        () => r(B64, pick([16, 64, 70])),
        () => `${r(B64, 4)}${pick(['xxxxxxxx', 'xxxx', 'x x x x x x x x'])}`,
        () => 'n'.repeat(pick([3, 80])),
        () => ' '.repeat(pick([1, 50])),
        () => pick(HEADERS),
      ])();
    let found = 0;
    for (let n = 0; n < 300; n++) {
      let body = '';
      while (body.length < (n % 25 === 0 ? 140_000 : pick([300, 3000])))
        body += line() + pick(['\n', '\\n', ' ', '']);
      const text = `${pick(['', '"private_key": "'])}${pick(HEADERS)}\n${body}${pick(['', '-----END PRIVATE KEY-----', '.'])}`;
      const anchors = anchorsIn(text, '-----BEGIN');
      const now = findingsAt(text, anchors, ruleNamed('private-key').matcher(text), pemVerdict);
      assert.deepEqual(
        now,
        findingsAt(text, anchors, (at) => oldPem(text, at), pemVerdict),
        text.slice(0, 200),
      );
      found += now.filter((f) => f !== '-').length;
    }
    assert.ok(found > 100, `${found} found`);
  });

  for (const [id, source, prefixes] of [
    [
      'openai-api-key',
      'sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])',
      ['sk-', 'sk-proj-', 'sk-svcacct-'],
    ],
    [
      'anthropic-api-key',
      'sk-ant-(?:api|admin|oat|ort)\\d{2}-[A-Za-z0-9_-]{80,120}(?![A-Za-z0-9_-])',
      ['sk-ant-api03-', 'sk-ant-admin01-', 'sk-ant-'],
    ],
    [
      'pypi-token',
      'pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}(?![A-Za-z0-9_-])',
      ['pypi-AgEIcHlwaS5vcmc', 'pypi-AgENdGVzdC5weXBpLm9yZw', 'pypi-AgE'],
    ],
  ] as const)
    void it(`${id}: its pattern, on runs of its prefixes of every length around its bounds`, () => {
      const rule = ruleNamed(id);
      let found = 0;
      for (let n = 0; n < 1_000; n++) {
        let text = pick(['', 'x', ' ']);
        for (let k = 1 + (n % 6); k > 0; k--)
          text += `${pick(prefixes).repeat(pick([1, 2, 30]))}${r(`${B64URL}${n % 4 === 0 ? ' .' : ''}`, pick([5, 20, 90, 130, 250, 1000, 1100]))}${pick(['', ' ', 'T3BlbkFJ', 'xxxx', '.'])}`;
        const anchors = anchorsIn(text, prefixes[prefixes.length - 1] ?? '');
        const now = findingsAt(text, anchors, rule.matcher(text), rule.check);
        assert.deepEqual(
          now,
          findingsAt(text, anchors, pattern(source)(text), rule.check),
          text.slice(0, 200),
        );
        found += now.filter((f) => f !== '-').length;
      }
      assert.ok(found > 100, `${found} found`);
    });
});

/** How the private-key rule read a body before redteam-34-6: from each anchor anew. */
function oldPem(text: string, at: number): Candidate | undefined {
  const header = /-----BEGIN[ A-Z0-9]{0,24} PRIVATE KEY(?: BLOCK)?-----/y;
  const body = /(?:[A-Za-z-]{1,24}: [^\n\\]{0,200}|[A-Za-z0-9+/=]|\s|\\[nr])/y;
  const footer = /-----END[ A-Z0-9]{0,24} PRIVATE KEY(?: BLOCK)?-----/y;
  header.lastIndex = at;
  const h = header.exec(text);
  if (!h) return undefined;
  let i = at + h[0].length;
  const limit = Math.min(text.length, at + 64 * 1024);
  let base64 = 0;
  while (i < limit) {
    body.lastIndex = i;
    const m = body.exec(text);
    if (!m) break;
    if (m[0].length === 1 && /[A-Za-z0-9+/]/.test(m[0])) base64++;
    i += m[0].length;
  }
  if (base64 < 64) return undefined;
  footer.lastIndex = i;
  const f = footer.exec(text);
  if (f) return { start: at, end: i + f[0].length };
  let end = i;
  while (end > at && /[\s\\n]/.test(text[end - 1] ?? '')) end--;
  return { start: at, end };
}
