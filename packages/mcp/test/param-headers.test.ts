// The Mcp-Param-* check (SEP-2243), alone: pure, so every case runs without a server.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { paramHeaderMismatch } from '../src/param-headers.js';

const schema = {
  type: 'object',
  properties: {
    region: { type: 'string', 'x-mcp-header': 'Region' },
    count: { type: 'integer', 'x-mcp-header': 'Count' },
    ratio: { type: 'number', 'x-mcp-header': 'Ratio' },
    nested: { type: 'object', properties: { flag: { type: 'boolean', 'x-mcp-header': 'Flag' } } },
    free: { type: 'string' },
  },
};

/** Header lines by name, case-insensitively, as Node's headersDistinct gives them. */
const lines =
  (headers: Record<string, string | string[]>) =>
  (name: string): readonly string[] => {
    const v = Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };

const check = (args: unknown, headers: Record<string, string | string[]>): string | undefined =>
  paramHeaderMismatch(schema, args, lines(headers))?.reason;

describe('Mcp-Param-* headers against the body (mcp-threat-11)', () => {
  it('agree when every declared primitive is mirrored exactly, nested ones and Base64 included', () => {
    const args = { region: 'eu', count: 3, ratio: 0.5, nested: { flag: true }, free: 'x' };
    const b64 = `=?base64?${Buffer.from('eu').toString('base64')}?=`;
    assert.equal(
      check(args, {
        'Mcp-Param-Region': b64,
        'Mcp-Param-Count': '3',
        'Mcp-Param-Ratio': '0.50',
        'Mcp-Param-Flag': 'true',
      }),
      undefined,
    );
    assert.equal(check({ free: 'x' }, {}), undefined, 'nothing declared is carried: no header needed');
  });

  it('disagree when a header is absent, differs, or writes an integer another way', () => {
    assert.match(check({ region: 'eu' }, {}) ?? '', /Mcp-Param-Region header is absent/);
    assert.match(check({ region: 'eu' }, { 'Mcp-Param-Region': 'us' }) ?? '', /says "us"/);
    for (const text of ['3.0', '03', '+3', '3 '])
      assert.match(
        check({ count: 3 }, { 'Mcp-Param-Count': text }) ?? '',
        /Mcp-Param-Count header says/,
        text,
      );
    assert.match(check({ nested: { flag: false } }, { 'Mcp-Param-Flag': 'true' }) ?? '', /Flag header says/);
  });

  it('disagree when a header is sent for a value the body lacks or carries as no primitive', () => {
    assert.match(check({}, { 'Mcp-Param-Region': 'eu' }) ?? '', /body carries no arguments.region/);
    assert.match(
      check({ region: null }, { 'Mcp-Param-Region': 'eu' }) ?? '',
      /body carries no arguments.region/,
    );
    for (const region of [['eu'], { eu: 1 }])
      assert.match(check({ region }, { 'Mcp-Param-Region': 'eu' }) ?? '', /not a value a header can carry/);
    assert.match(
      check({ count: 2 ** 53 + 2 }, { 'Mcp-Param-Count': String(2 ** 53 + 2) }) ?? '',
      /not a value a header can carry/,
    );
  });

  it('disagree when a header comes on two lines, or its Base64 is malformed', () => {
    assert.match(check({ region: 'eu, us' }, { 'Mcp-Param-Region': ['eu', 'us'] }) ?? '', /more than once/);
    assert.match(check({ region: 'eu' }, { 'Mcp-Param-Region': '=?base64?%%?=' }) ?? '', /invalid Base64/);
  });

  it('refuses a tool whose declarations cannot be checked: a name that is no HTTP token, or one declared twice', () => {
    const spaced = { type: 'object', properties: { q: { type: 'string', 'x-mcp-header': 'a b' } } };
    assert.match(paramHeaderMismatch(spaced, { q: 'x' }, () => [])?.reason ?? '', /not a valid header name/);
    const twice = {
      type: 'object',
      properties: {
        a: { type: 'string', 'x-mcp-header': 'Key' },
        b: { type: 'string', 'x-mcp-header': 'KEY' },
      },
    };
    assert.match(paramHeaderMismatch(twice, {}, () => [])?.reason ?? '', /twice/);
  });
});
