// Which URIs a resource template produces: the expressions servers use (as the MCP SDK reads
// them), templates the gateway refuses to use, and a hostile template that would take the SDK's
// own backtracking matcher exponential time.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UriTemplate as SdkUriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { MAX_URI_LENGTH, uriTemplate, UriTemplateError } from '../src/uri-template.js';

const CASES: readonly (readonly [template: string, uri: string, matches: boolean])[] = [
  ['demo://resource/dynamic/text/{resourceId}', 'demo://resource/dynamic/text/3', true],
  ['demo://resource/dynamic/text/{resourceId}', 'demo://resource/dynamic/text/', false],
  ['demo://resource/dynamic/text/{resourceId}', 'demo://resource/dynamic/text/3/more', false],
  ['demo://resource/dynamic/text/{resourceId}', 'demo://resource/dynamic/blob/3', false],
  ['file:///{+path}', 'file:///home/me/notes.txt', true],
  ['file:///{path}', 'file:///home/me/notes.txt', false],
  ['repo://{owner}/{repo}/issues/{number}', 'repo://acme/app/issues/12', true],
  ['repo://{owner}/{repo}/issues/{number}', 'repo://acme/issues/12', false],
  ['repo://{owner}{/path*}', 'repo://acme/src', true],
  ['repo://{owner}{/path*}', 'repo://acme/src/main.ts', false],
  ['repo://{owner}{/path*}', 'repo://acme/src,lib', true],
  ['repo://{owner}{/path*}', 'repo://acme/src,', false],
  ['repo://{owner}{/path*}', 'repo://acme/,src', false],
  ['repo://{owner}{/path*}', 'repo://acme/src,,lib', false],
  ['file:///{+path}', 'file:///notes\n.txt', false],
  ['search://items{?q,limit}', 'search://items?q=cats&limit=5', true],
  ['search://items{?q,limit}', 'search://items?q=cats', false],
  ['file://{name}{.ext}', 'file://report.pdf', true],
  ['file://{name}{.ext}', 'file://report', false],
  ['docs://{#section}', 'docs://intro', true],
  ['plain://fixed', 'plain://fixed', true],
  ['plain://fixed', 'plain://fixed/', false],
];

describe('resource templates: which URIs a template produces', () => {
  for (const [template, uri, expected] of CASES)
    it(`${template} ${expected ? 'produces' : 'does not produce'} ${uri}`, () => {
      assert.equal(uriTemplate(template).matches(uri), expected);
      // The SDK's own matcher agrees: a server built on it accepts what the gateway routes to it.
      assert.equal(new SdkUriTemplate(template).match(uri) !== null, expected);
    });
});

describe('resource templates: the same answers as the SDK, on any template and URI', () => {
  // Small alphabets, so that literals repeat and overlap, lists have empty items, and URIs stay
  // short enough for the SDK's backtracking matcher.
  const literal = fc.stringMatching(/^[ab/,.?=&]{1,4}$/);
  const expression = fc
    .tuple(fc.constantFrom('', '+', '#', '.', '/', '?', '&'), fc.constantFrom('v', 'v*', 'v,w'))
    .map(([op, names]) => `{${op}${names}}`);
  const template = fc
    .array(fc.oneof(literal, expression), { minLength: 1, maxLength: 5 })
    .map((parts) => parts.join(''));
  const uri = fc.stringMatching(/^[ab/,.?=&v\n]{0,14}$/);

  it('property: a template produces a URI exactly when the SDK matches it', () => {
    fc.assert(
      fc.property(template, uri, (t, u) => {
        assert.equal(uriTemplate(t).matches(u), new SdkUriTemplate(t).match(u) !== null);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('resource templates the gateway will not use', () => {
  for (const [template, why] of [
    ['file:///{path', /never closed/],
    ['file:///path}', /without "\{"/],
    ['file:///{}', /names no variable/],
    ['x'.repeat(3_000), /longer than/],
    ['{a}/'.repeat(40), /more than 64 parts/],
  ] as const)
    it(JSON.stringify(template.slice(0, 40)), () => {
      assert.throws(
        () => uriTemplate(template),
        (e: unknown) => e instanceof UriTemplateError && why.test(e.message),
      );
    });

  it('a URI longer than the bound is produced by no template', () => {
    assert.equal(uriTemplate('file:///{+path}').matches(`file:///${'a'.repeat(MAX_URI_LENGTH)}`), false);
  });
});

describe('a hostile template costs linear time', () => {
  it('{+a}{+b}… against a URI that almost matches answers at once', () => {
    const template = `${'{+v}'.repeat(30)}!`;
    const uri = 'a'.repeat(MAX_URI_LENGTH - 1);
    const started = performance.now();
    assert.equal(uriTemplate(template).matches(uri), false);
    assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
  });

  it('{+v} and a long literal that almost occurs everywhere, against the longest URI, answers at once', () => {
    const template = `{+v}${'a'.repeat(2_000)}b`;
    const uri = 'a'.repeat(MAX_URI_LENGTH);
    const started = performance.now();
    assert.equal(uriTemplate(template).matches(uri), false);
    assert.equal(uriTemplate(template).matches(`${uri.slice(1_000)}b`), true);
    assert.ok(performance.now() - started < 50, `took ${performance.now() - started} ms`);
  });
});
