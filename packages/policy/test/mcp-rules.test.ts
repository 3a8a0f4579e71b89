// MCP rules, table-driven: server and tool globs, annotations with MCP's defaults, every argument
// predicate, dotted argument paths, fail-closed evaluation errors, list versus call, and the
// regular-expression checks done at load time.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDecision, assertLoadError, decideShort, engineFrom, type Expected } from './helpers.js';
import type { Decision, Engine } from '../src/index.js';

interface Case extends Expected {
  readonly name: string;
  readonly request: Record<string, unknown>;
}

function runCases(engine: Engine, cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => assertDecision(decideShort(engine, c.request), c, JSON.stringify(c.request)));
  }
}

/** Annotations of a harmless tool, so annotation defaults do not get in the way of other tests. */
const SAFE = { readOnlyHint: true };

describe('mcp: servers and tools', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: fs-read, server: fs, tools: ["read_*", "list_*"] }
        - { id: gh-any, server: "gh-*", tools: [get_issue] }
        - { id: one-char, server: docs, tools: ["v?_search"] }
        - { id: every-tool, server: notes }
      deny:
        - { id: no-secrets, server: "*", tools: ["*secret*"] }
  `);
  runCases(engine, [
    {
      name: 'an exact server and a tool glob match',
      request: { mcp: 'fs/read_file' },
      decision: 'allow',
      rules: ['fs-read'],
    },
    {
      name: 'a second tool glob of the same rule matches',
      request: { mcp: 'fs/list_directory' },
      decision: 'allow',
      rules: ['fs-read'],
    },
    {
      name: 'a tool glob matches with an empty tail (read_*)',
      request: { mcp: 'fs/read_' },
      decision: 'allow',
      rules: ['fs-read'],
    },
    {
      name: 'a tool outside the globs is denied by default',
      request: { mcp: 'fs/write_file' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a tool glob is anchored (xread_file is not read_*)',
      request: { mcp: 'fs/xread_file' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'an exact server does not match a longer server id',
      request: { mcp: 'fs2/read_file' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a server glob gh-* matches gh-prod',
      request: { mcp: 'gh-prod/get_issue' },
      decision: 'allow',
      rules: ['gh-any'],
    },
    {
      name: 'a server glob gh-* does not match gh',
      request: { mcp: 'gh/get_issue' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '? matches exactly one character',
      request: { mcp: 'docs/v2_search' },
      decision: 'allow',
      rules: ['one-char'],
    },
    {
      name: '? does not match two characters',
      request: { mcp: 'docs/v10_search' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a rule without tools covers every tool',
      request: { mcp: 'notes/anything_at_all' },
      decision: 'allow',
      rules: ['every-tool'],
    },
    {
      name: 'a server "*" deny beats a specific allow',
      request: { mcp: 'notes/get_secret' },
      decision: 'deny',
      rules: ['no-secrets'],
      code: 'rule',
    },
    {
      name: 'a server "*" deny applies to servers no allow mentions',
      request: { mcp: 'other/read_secrets' },
      decision: 'deny',
      rules: ['no-secrets'],
      code: 'rule',
    },
  ]);

  test('a tool name with a control character is an invalid request', () => {
    assertDecision(decideShort(engine, { mcp: 'notes/read\nx' }), {
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    });
  });
});

describe('mcp: annotations and MCP defaults', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: srv, server: srv }
        - { id: ro-anywhere, server: "*", annotations: { readOnlyHint: true } }
      ask:
        - { id: open-world, server: srv, tools: ["web_*"], annotations: { openWorldHint: true } }
      deny:
        - { id: no-destructive, server: "*", annotations: { destructiveHint: true } }
  `);
  runCases(engine, [
    {
      name: 'a tool without annotations is treated as destructive (destructiveHint defaults to true)',
      request: { mcp: 'srv/tool' },
      decision: 'deny',
      rules: ['no-destructive'],
    },
    {
      name: 'a tool without annotations is not read-only (readOnlyHint defaults to false)',
      request: { mcp: 'other/tool', annotations: { destructiveHint: false } },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a read-only tool matches a readOnlyHint: true allow',
      request: { mcp: 'other/tool', annotations: { readOnlyHint: true } },
      decision: 'allow',
      rules: ['ro-anywhere'],
    },
    {
      name: 'readOnlyHint: true implies destructiveHint false, so the destructive deny does not match',
      request: { mcp: 'srv/tool', annotations: { readOnlyHint: true } },
      decision: 'allow',
      rules: ['srv', 'ro-anywhere'],
    },
    {
      name: 'a declared destructiveHint: true stands even next to readOnlyHint: true (hints are untrusted claims)',
      request: { mcp: 'srv/tool', annotations: { readOnlyHint: true, destructiveHint: true } },
      decision: 'deny',
      rules: ['no-destructive'],
    },
    {
      name: 'destructiveHint: false keeps the tool out of the destructive deny',
      request: { mcp: 'srv/tool', annotations: { destructiveHint: false } },
      decision: 'allow',
      rules: ['srv'],
    },
    {
      name: 'readOnlyHint: false with no destructiveHint is destructive',
      request: { mcp: 'srv/tool', annotations: { readOnlyHint: false } },
      decision: 'deny',
      rules: ['no-destructive'],
    },
    {
      name: 'a tool without openWorldHint is treated as open-world',
      request: { mcp: 'srv/web_fetch', annotations: { destructiveHint: false } },
      decision: 'ask',
      rules: ['open-world'],
    },
    {
      name: 'openWorldHint: false keeps the tool out of the open-world ask',
      request: { mcp: 'srv/web_fetch', annotations: { destructiveHint: false, openWorldHint: false } },
      decision: 'allow',
      rules: ['srv'],
    },
  ]);
});

describe('mcp: argument predicates', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: eq, server: a, tools: [eq], args: { mode: { equals: fast } } }
        - { id: eq-num, server: a, tools: [eq_num], args: { n: { equals: 3 } } }
        - { id: one-of, server: a, tools: [checkout], args: { branch: { oneOf: [main, dev] } } }
        - { id: pre, server: a, tools: [repo], args: { name: { prefix: "acme/" } } }
        - { id: src-glob, server: a, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
        - { id: rng, server: a, tools: [limit], args: { n: { range: { min: 1, max: 100 } } } }
        - { id: rng-min, server: a, tools: [at_least], args: { n: { range: { min: 10 } } } }
        - { id: nested, server: a, tools: [nested], args: { options.target.path: { prefix: "/tmp/" } } }
        - { id: both, server: a, tools: [both], args: { owner: { equals: acme }, repo: { prefix: "web-" } } }
  `);
  const call = (tool: string, args: Record<string, unknown>): Record<string, unknown> => ({
    mcp: `a/${tool}`,
    args,
    annotations: SAFE,
  });
  const none = { decision: 'deny', rules: [], code: 'default' } as const;
  runCases(engine, [
    {
      name: 'equals matches the same string',
      request: call('eq', { mode: 'fast' }),
      decision: 'allow',
      rules: ['eq'],
    },
    { name: 'equals does not match a different string', request: call('eq', { mode: 'slow' }), ...none },
    { name: 'equals does not match a different case', request: call('eq', { mode: 'FAST' }), ...none },
    {
      name: 'equals matches the same number',
      request: call('eq_num', { n: 3 }),
      decision: 'allow',
      rules: ['eq-num'],
    },
    {
      name: 'equals does not match the number written as a string',
      request: call('eq_num', { n: '3' }),
      ...none,
    },
    {
      name: 'oneOf matches a listed value',
      request: call('checkout', { branch: 'dev' }),
      decision: 'allow',
      rules: ['one-of'],
    },
    {
      name: 'oneOf does not match an unlisted value',
      request: call('checkout', { branch: 'feature' }),
      ...none,
    },
    {
      name: 'prefix matches a string that starts with it',
      request: call('repo', { name: 'acme/web' }),
      decision: 'allow',
      rules: ['pre'],
    },
    {
      name: 'prefix does not match the prefix elsewhere in the string',
      request: call('repo', { name: 'evil/acme/web' }),
      ...none,
    },
    {
      name: 'glob matches a path under the pattern',
      request: call('write_file', { path: '/w/src/a/b.ts' }),
      decision: 'allow',
      rules: ['src-glob'],
    },
    {
      // A server resolves it from a directory of its own (redteam-35-1): no allow reads it.
      name: 'redteam-35-1: glob does not match a relative path, even one the pattern would hold from the workspace',
      request: call('write_file', { path: 'src/b.ts' }),
      ...none,
    },
    {
      name: 'glob resolves .. before matching, so an escape from the pattern does not match',
      request: call('write_file', { path: '/w/src/../secrets/key' }),
      ...none,
    },
    {
      name: 'glob resolves .. in a relative path too',
      request: call('write_file', { path: 'src/../../etc/passwd' }),
      ...none,
    },
    {
      name: 'range matches its minimum',
      request: call('limit', { n: 1 }),
      decision: 'allow',
      rules: ['rng'],
    },
    {
      name: 'range matches its maximum',
      request: call('limit', { n: 100 }),
      decision: 'allow',
      rules: ['rng'],
    },
    {
      name: 'range matches a fraction inside it',
      request: call('limit', { n: 50.5 }),
      decision: 'allow',
      rules: ['rng'],
    },
    { name: 'range does not match below its minimum', request: call('limit', { n: 0 }), ...none },
    { name: 'range does not match above its maximum', request: call('limit', { n: 101 }), ...none },
    {
      name: 'a range with only min is open above',
      request: call('at_least', { n: 1e9 }),
      decision: 'allow',
      rules: ['rng-min'],
    },
    { name: 'a range with only min still has its floor', request: call('at_least', { n: 9 }), ...none },
    {
      name: 'a dotted argument path reaches into nested objects',
      request: call('nested', { options: { target: { path: '/tmp/x' } } }),
      decision: 'allow',
      rules: ['nested'],
    },
    {
      name: 'a dotted argument path checks the nested value',
      request: call('nested', { options: { target: { path: '/etc/x' } } }),
      ...none,
    },
    {
      name: 'every predicate of a rule must hold (both hold)',
      request: call('both', { owner: 'acme', repo: 'web-app' }),
      decision: 'allow',
      rules: ['both'],
    },
    {
      name: 'every predicate of a rule must hold (one fails)',
      request: call('both', { owner: 'acme', repo: 'api' }),
      ...none,
    },
    { name: 'a missing argument never matches an allow', request: call('eq', {}), ...none },
    {
      name: 'a call with no arguments at all never matches an argument allow',
      request: { mcp: 'a/eq', annotations: SAFE },
      ...none,
    },
    {
      name: 'a missing nested argument never matches an allow',
      request: call('nested', { options: {} }),
      ...none,
    },
  ]);
});

describe('mcp: regex predicates (deny and ask only)', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: db, server: db }
      deny:
        - { id: drop-bare, server: db, tools: [query], args: { sql: { regex: 'drop\\s+table' } } }
        - { id: drop-i, server: db, tools: [query_ci], args: { sql: { regex: '/drop\\s+table/i' } } }
      ask:
        - { id: pii, server: db, tools: [query], args: { sql: { regex: '^select .*users_pii' } } }
  `);
  const q = (tool: string, sql: unknown): Record<string, unknown> => ({
    mcp: `db/${tool}`,
    args: { sql },
    annotations: SAFE,
  });
  runCases(engine, [
    {
      name: 'a bare regex matches anywhere in the string',
      request: q('query', 'x; drop  table t'),
      decision: 'deny',
      rules: ['drop-bare'],
    },
    {
      name: 'a bare regex is case-sensitive',
      request: q('query', 'DROP TABLE t'),
      decision: 'allow',
      rules: ['db'],
    },
    {
      name: 'a /…/i regex is case-insensitive',
      request: q('query_ci', 'DROP TABLE t'),
      decision: 'deny',
      rules: ['drop-i'],
    },
    {
      name: 'a regex in an ask rule asks',
      request: q('query', 'select * from users_pii'),
      decision: 'ask',
      rules: ['pii'],
    },
    {
      name: 'a string the regexes do not match is left to the allow',
      request: q('query', 'select 1'),
      decision: 'allow',
      rules: ['db'],
    },
    {
      name: 'a regex input of exactly 4 KiB is matched normally',
      request: q('query_ci', 'a'.repeat(4096)),
      decision: 'allow',
      rules: ['db'],
    },
    {
      name: 'a regex input over 4 KiB is an evaluation error, which matches the deny',
      request: q('query_ci', 'a'.repeat(4097)),
      decision: 'deny',
      rules: ['drop-i'],
    },
  ]);

  test('a regex in an allow rule is a load error', () => {
    assertLoadError(
      `
        mcp:
          allow:
            - { id: r, server: db, args: { sql: { regex: '^select ' } } }
      `,
      'regex-in-allow',
    );
  });

  const nested: readonly [string, { todo: string } | undefined][] = [
    ['(a+)+', undefined],
    ['(?:a+)+', undefined],
    ['(.*){2,}', undefined],
    ['(\\w+\\s?)*$', undefined],
    // The guard's own comment names (a|a?)* as rejected; on 'a'.repeat(26) + '!' it takes ~30 s in V8.
    ['(a|a?)*', undefined],
    // A quantified group inside another group escapes the single-level check; ~5 s on 27 characters.
    ['((a+))+', undefined],
  ];
  for (const [re, todo] of nested) {
    test(`a regex with nested quantifiers, ${re}, is rejected at load`, todo ?? {}, () => {
      assertLoadError(
        `
          mcp:
            deny:
              - { id: r, server: db, args: { sql: { regex: '${re}' } } }
        `,
        'bad-regex',
      );
    });
  }

  test('a regex with a back-reference is rejected at load', () => {
    assertLoadError(
      `
        mcp:
          deny:
            - { id: r, server: db, args: { sql: { regex: '(a)\\1' } } }
      `,
      'bad-regex',
    );
  });

  test('a regex that does not compile is a load error', () => {
    assertLoadError(
      `
        mcp:
          deny:
            - { id: r, server: db, args: { sql: { regex: '[a-' } } }
      `,
      'bad-regex',
    );
  });
});

describe('mcp: evaluation errors fail closed', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: all, server: a }
        - { id: pre-allow, server: b, tools: [repo], args: { name: { prefix: "acme/" } } }
        - { id: rng-allow, server: b, tools: [limit], args: { n: { range: { max: 10 } } } }
        - { id: glob-allow, server: b, tools: [write], args: { path: { glob: "/tmp/**" } } }
      deny:
        - { id: pre-deny, server: a, tools: [fetch], args: { url: { prefix: "http://" } } }
        - { id: rng-deny, server: a, tools: [scale], args: { replicas: { range: { min: 10 } } } }
        - { id: glob-deny, server: a, tools: [read], args: { path: { glob: "/etc/**" } } }
        - { id: regex-deny, server: a, tools: [query], args: { sql: { regex: "drop" } } }
        - { id: eq-deny, server: a, tools: [mode], args: { mode: { equals: unsafe } } }
      ask:
        - { id: pre-ask, server: a, tools: [post], args: { channel: { prefix: "#ops" } } }
  `);
  const call = (server: string, tool: string, args: Record<string, unknown>): Record<string, unknown> => ({
    mcp: `${server}/${tool}`,
    args,
    annotations: SAFE,
  });
  runCases(engine, [
    {
      name: 'a number where a prefix deny expects a string matches the deny',
      request: call('a', 'fetch', { url: 42 }),
      decision: 'deny',
      rules: ['pre-deny'],
    },
    {
      name: 'an object where a prefix deny expects a string matches the deny',
      request: call('a', 'fetch', { url: { href: 'http://x' } }),
      decision: 'deny',
      rules: ['pre-deny'],
    },
    {
      name: 'a string where a range deny expects a number matches the deny',
      request: call('a', 'scale', { replicas: '100' }),
      decision: 'deny',
      rules: ['rng-deny'],
    },
    {
      name: 'an array where a glob deny expects a path matches the deny',
      request: call('a', 'read', { path: ['/etc/shadow'] }),
      decision: 'deny',
      rules: ['glob-deny'],
    },
    {
      name: 'a number where a regex deny expects a string matches the deny',
      request: call('a', 'query', { sql: 7 }),
      decision: 'deny',
      rules: ['regex-deny'],
    },
    {
      name: 'a number where a prefix ask expects a string matches the ask',
      request: call('a', 'post', { channel: 1 }),
      decision: 'ask',
      rules: ['pre-ask'],
    },
    {
      name: 'a well-typed value outside a deny predicate is left to the allow',
      request: call('a', 'fetch', { url: 'https://x' }),
      decision: 'allow',
      rules: ['all'],
    },
    {
      name: 'a missing argument never matches a deny',
      request: call('a', 'fetch', {}),
      decision: 'allow',
      rules: ['all'],
    },
    {
      name: 'an explicit null is not a string, so it matches the prefix deny',
      request: call('a', 'fetch', { url: null }),
      decision: 'deny',
      rules: ['pre-deny'],
    },
    {
      name: 'a value of another type than an equals deny names ("unsafe" vs 1) matches the deny',
      request: call('a', 'mode', { mode: 1 }),
      decision: 'deny',
      rules: ['eq-deny'],
    },
    {
      name: 'a list where an equals deny names a string matches the deny',
      request: call('a', 'mode', { mode: ['unsafe'] }),
      decision: 'deny',
      rules: ['eq-deny'],
    },
    {
      name: 'a file URI where a glob deny expects a path matches the deny',
      request: call('a', 'read', { path: 'file:///etc/passwd' }),
      decision: 'deny',
      rules: ['glob-deny'],
    },
    {
      name: 'a ${workspace} or ~ in a glob value is not expanded: it matches the deny as an error',
      request: call('a', 'read', { path: '~/.ssh/id_rsa' }),
      decision: 'deny',
      rules: ['glob-deny'],
    },
    {
      name: 'a number where a prefix allow expects a string never matches the allow',
      request: call('b', 'repo', { name: 42 }),
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a string where a range allow expects a number never matches the allow',
      request: call('b', 'limit', { n: '5' }),
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a number where a glob allow expects a path never matches the allow',
      request: call('b', 'write', { path: 5 }),
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a path with a control character never matches a glob allow',
      request: call('b', 'write', { path: '/tmp/a\u0000b' }),
      decision: 'deny',
      rules: [],
      code: 'default',
    },
  ]);
});

describe('mcp: list versus call', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: write-src, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
        - { id: gh-all, server: gh }
      ask:
        - { id: ask-tmp, server: fs, tools: [append_file], args: { path: { prefix: /tmp/ } } }
      deny:
        - { id: no-main-merge, server: gh, tools: [merge_pr], args: { base: { equals: main } } }
  `);
  runCases(engine, [
    {
      name: 'review-37-3: listing a tool with only an argument-bound ask shows it, to be asked about (the gateway holds what a listing hides: before, every call of it was refused)',
      request: { mcp: 'fs/append_file', action: 'list', annotations: SAFE },
      decision: 'ask',
      rules: ['ask-tmp'],
    },
    {
      name: 'calling it with the arguments of the ask asks',
      request: { mcp: 'fs/append_file', args: { path: '/tmp/log' }, annotations: SAFE },
      decision: 'ask',
      rules: ['ask-tmp'],
    },
    {
      name: 'calling it with other arguments is denied',
      request: { mcp: 'fs/append_file', args: { path: '/etc/passwd' }, annotations: SAFE },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'listing a tool with an argument-bound allow shows it (it may be called with the right arguments)',
      request: { mcp: 'fs/write_file', action: 'list', annotations: SAFE },
      decision: 'allow',
      rules: ['write-src'],
    },
    {
      name: 'calling it with arguments outside the allow is denied',
      request: { mcp: 'fs/write_file', args: { path: '/w/.env' }, annotations: SAFE },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'listing a tool with an argument-bound deny does not hide it',
      request: { mcp: 'gh/merge_pr', action: 'list', annotations: SAFE },
      decision: 'allow',
      rules: ['gh-all'],
    },
    {
      name: 'calling it with the denied argument is denied',
      request: { mcp: 'gh/merge_pr', args: { base: 'main' }, annotations: SAFE },
      decision: 'deny',
      rules: ['no-main-merge'],
    },
    {
      name: 'calling it with another argument is allowed',
      request: { mcp: 'gh/merge_pr', args: { base: 'dev' }, annotations: SAFE },
      decision: 'allow',
      rules: ['gh-all'],
    },
  ]);

  test('listing still applies argument-free denies', () => {
    const e = engineFrom(`
      mcp:
        allow:
          - { id: gh-all, server: gh }
        deny:
          - { id: no-delete, server: gh, tools: ["delete_*"] }
    `);
    assertDecision(decideShort(e, { mcp: 'gh/delete_repo', action: 'list', annotations: SAFE }), {
      decision: 'deny',
      rules: ['no-delete'],
    });
  });
});

describe('mcp: load-time checks of argument predicates', () => {
  test('an empty range is a load error', () => {
    assertLoadError(
      `
        mcp:
          allow:
            - { id: r, server: a, args: { n: { range: { min: 5, max: 1 } } } }
      `,
      'bad-range',
    );
  });

  test('a dotted argument path with an empty part is a load error', () => {
    assertLoadError(
      `
        mcp:
          allow:
            - { id: r, server: a, args: { "a..b": { equals: 1 } } }
      `,
      'bad-arg-key',
    );
  });

  test('an argument glob that is not a path pattern is a load error', () => {
    assertLoadError(
      `
        mcp:
          allow:
            - { id: r, server: a, args: { p: { glob: "src/**" } } }
      `,
      'bad-path-pattern',
    );
  });
});

describe('mcp: modes', () => {
  test('an audit-mode deny records deny as the would-be decision and lets the call through', () => {
    const engine = engineFrom(`
      mcp:
        allow:
          - { id: all, server: a }
        deny:
          - { id: watch, server: a, tools: [risky], mode: audit }
    `);
    const d = decideShort(engine, { mcp: 'a/risky', annotations: SAFE });
    assertDecision(d, { decision: 'allow', would: 'deny', rules: ['watch'], code: 'rule' });
    assert.equal(d.mode, 'audit');
  });
});

describe('mcp: the reason of a call only its arguments kept from a rule', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: write-src, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
        - { id: limit, server: a, tools: [fetch], args: { n: { range: { min: 1, max: 100 } }, mode: { oneOf: [fast, slow] } } }
        - { id: read-docs, server: docs, annotations: { readOnlyHint: true }, args: { q: { prefix: "acme" } } }
      ask:
        - { id: push-main, server: git, tools: [push], args: { branch: { equals: main } } }
      deny:
        - { id: no-force, server: git, tools: [push], args: { force: { equals: true } } }
  `);
  const call = (mcp: string, args?: Record<string, unknown>): Decision =>
    decideShort(engine, { mcp, ...(args ? { args } : {}), annotations: { readOnlyHint: false } });

  test('an allow whose glob does not hold is named with its condition, and the decision is unchanged', () => {
    const d = call('fs/write_file', { path: '/etc/passwd' });
    assertDecision(d, { decision: 'deny', rules: [], code: 'default' });
    assert.deepEqual(d.matched, []);
    assert.equal(
      d.reason,
      'Denied: rule "write-src" of policy t0 (org) matches the tool fs/write_file, but its argument condition ' +
        'path: { glob: "${workspace}/src/**" } (that is /w/src/**) does not hold, so the call falls to the mcp default: deny.',
    );
  });

  test('a missing argument is said to be missing', () => {
    const d = call('fs/write_file', { file: '/w/src/a.ts' });
    assertDecision(d, { decision: 'deny', rules: [], code: 'default' });
    assert.match(
      d.reason,
      /does not hold \(the call has no argument path\), so the call falls to the mcp default: deny\.$/,
    );
  });

  test('a value a glob cannot judge says why, without quoting it', () => {
    const d = call('fs/write_file', { path: 'file:///etc/passwd' });
    assert.match(d.reason, /\(path is a URI, which servers read differently\)/);
    assert.doesNotMatch(d.reason, /etc\/passwd/);
  });

  test('every failing condition of the rule is named, with the kind of a value of the wrong type', () => {
    const d = call('a/fetch', { n: '5', mode: 'turbo' });
    assertDecision(d, { decision: 'deny', rules: [], code: 'default' });
    assert.match(
      d.reason,
      /rule "limit" of policy t0 \(org\) matches the tool a\/fetch, but its argument conditions n: \{ range: \{ min: 1, max: 100 \} \} \(n is a string\) and mode: \{ oneOf: \["fast", "slow"\] \} do not hold,/,
    );
    assert.doesNotMatch(d.reason, /turbo/, 'an argument value may be a secret: it is never quoted');
  });

  test('an ask whose condition does not hold is named; a deny whose condition does not hold is not', () => {
    const d = call('git/push', { branch: 'dev', force: false });
    assertDecision(d, { decision: 'deny', rules: [], code: 'default' });
    assert.match(
      d.reason,
      /rule "push-main" of policy t0 \(org\) matches the tool git\/push, but its argument condition branch: \{ equals: "main" \} does not hold/,
    );
    assert.doesNotMatch(d.reason, /no-force/);
  });

  test("a rule whose annotations do not match the tool is named with the tool's annotation", () => {
    const d = call('docs/search', { q: 'acme docs' });
    assertDecision(d, { decision: 'deny', rules: [], code: 'default' });
    assert.equal(
      d.reason,
      'Denied: rule "read-docs" of policy t0 (org) matches the tool docs/search, but its annotations condition ' +
        "readOnlyHint: true does not hold: the tool's readOnlyHint is false, so the call falls to the mcp default: deny.",
    );
    const unsaid = decideShort(engine, { mcp: 'docs/search', args: { q: 'acme docs' } });
    assert.match(unsaid.reason, /the tool's readOnlyHint is false, MCP's default, as the tool does not say,/);
  });

  test('a tool no rule names still reads "no rule matches"', () => {
    const d = call('fs/delete_file', { path: '/etc/passwd' });
    assert.equal(d.reason, 'Denied: no rule matches fs/delete_file, and the mcp default is deny.');
  });

  test('a call a rule decides keeps that rule as its reason', () => {
    const d = call('git/push', { branch: 'dev', force: true });
    assertDecision(d, { decision: 'deny', rules: ['no-force'], code: 'rule' });
    assert.equal(d.reason, 'Denied by rule "no-force" of policy t0 (org).');
  });

  test('an audit-mode session keeps its audit suffix after the named condition', () => {
    const audit = engineFrom(`
      mode: audit
      mcp:
        allow:
          - { id: write-src, server: fs, tools: [write_file], args: { path: { prefix: "/w/src/" } } }
    `);
    const d = decideShort(audit, { mcp: 'fs/write_file', args: { path: '/etc/x' } });
    assertDecision(d, { decision: 'allow', would: 'deny', rules: [], code: 'default' });
    assert.equal(
      d.reason,
      'Denied: rule "write-src" of policy t0 (org, audit) matches the tool fs/write_file, but its argument condition ' +
        'path: { prefix: "/w/src/" } does not hold, so the call falls to the mcp default: deny. Audit mode: would be denied, allowed for now.',
    );
  });
});

describe('mcp: argument globs judge the path a server opens', () => {
  // What a filesystem would make of each path (a stand-in for @perimeter/mcp's resolvedPath):
  // `/w/docs` is a link to `/w/secrets`, `/w/src/up` a link to `/w`, `/w/loop` cannot be resolved.
  const links: Record<string, string | undefined> = {
    '/w/docs/key': '/w/secrets/key',
    '/w/src/up/Makefile': '/w/Makefile',
    '/w/src/alias/b.ts': '/w/src/b.ts',
    '/w/notes/caf\u00e9': '/w/notes/cafe\u0301',
    '/w/loop/x': undefined,
  };
  const resolvePath = (path: string): string | undefined => (path in links ? links[path] : path);
  const engine = engineFrom(
    `
    mcp:
      allow:
        - { id: read, server: fs, tools: [read_file] }
        - { id: write-src, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
        - { id: write-note, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/notes/caf\u00e9" } } }
      deny:
        - { id: no-secrets, server: fs, tools: ["*"], args: { path: { glob: "\${workspace}/secrets/**" } } }
  `,
    { resolvePath },
  );
  const call = (tool: string, path: string): Decision =>
    decideShort(engine, { mcp: `fs/${tool}`, args: { path }, annotations: SAFE });
  const DENIED_AS_SECRET = { decision: 'deny', rules: ['no-secrets'], code: 'rule' } as const;

  test('redteam-35-1: a relative path is an evaluation error, so a deny on it matches', () => {
    assertDecision(call('read_file', 'secrets/key'), DENIED_AS_SECRET);
    assertDecision(call('read_file', 'public/notes'), DENIED_AS_SECRET);
    const allowOnly = engineFrom(`
      mcp:
        allow:
          - { id: write-src, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/src/**" } } }
    `);
    const d = decideShort(allowOnly, { mcp: 'fs/write_file', args: { path: 'src/b.ts' }, annotations: SAFE });
    assert.match(d.reason, /path is relative, which servers read differently/);
  });

  test('redteam-35-2: a link into a denied directory meets the deny', () => {
    assertDecision(call('read_file', '/w/docs/key'), DENIED_AS_SECRET);
  });

  test('redteam-35-2: a link out of an allowed directory does not meet the allow', () => {
    assertDecision(call('write_file', '/w/src/up/Makefile'), {
      decision: 'deny',
      rules: [],
      code: 'default',
    });
    assert.match(call('write_file', '/w/src/up/Makefile').reason, /symbolic link/);
  });

  test('a link the patterns judge alike is decided as written', () => {
    assertDecision(call('write_file', '/w/src/alias/b.ts'), {
      decision: 'allow',
      rules: ['write-src'],
      code: 'rule',
    });
    assertDecision(call('read_file', '/w/public/notes'), {
      decision: 'allow',
      rules: ['read'],
      code: 'rule',
    });
  });

  test('a path whose resolution cannot be said is an evaluation error', () => {
    assertDecision(call('read_file', '/w/loop/x'), { decision: 'deny', rules: ['no-secrets'], code: 'rule' });
  });

  test('a name on disk in NFD is compared in NFC, as the pattern and the path as written are', () => {
    assertDecision(call('write_file', '/w/notes/caf\u00e9'), {
      decision: 'allow',
      rules: ['write-note'],
      code: 'rule',
    });
  });
});

describe('mcp: argument globs and links the path or the pattern goes through', () => {
  test('rev35-1: `..` after a link is judged where the kernel takes it, not as written', () => {
    // `/w/pub/l` is a link to `/w/secrets/sub`: `/w/pub/l/../key` opens `/w/secrets/key`, while
    // its canonical form as written, `/w/pub/key`, is somewhere else.
    const resolvePath = (path: string): string => ({ '/w/pub/l/../key': '/w/secrets/key' })[path] ?? path;
    const engine = engineFrom(
      `
      mcp:
        allow:
          - { id: read, server: fs, tools: [read_file] }
        deny:
          - { id: no-secrets, server: fs, tools: ["*"], args: { path: { glob: "\${workspace}/secrets/**" } } }
    `,
      { resolvePath },
    );
    const read = (path: string): Decision =>
      decideShort(engine, { mcp: 'fs/read_file', args: { path }, annotations: SAFE });
    assertDecision(read('/w/pub/l/../key'), { decision: 'deny', rules: ['no-secrets'], code: 'rule' });
    assertDecision(read('/w/pub/key'), { decision: 'allow', rules: ['read'], code: 'rule' });
  });

  test('rev35-3: a home reached through a link judges its resolved paths as its written ones', () => {
    // `/home/u` is a link to `/var/home/u` (as on Fedora Silverblue).
    const resolvePath = (path: string): string => path.replace(/^\/home\/u(?=\/|$)/, '/var/home/u');
    const engine = engineFrom(
      `
      mcp:
        allow:
          - { id: notes, server: fs, tools: [read_file], args: { path: { glob: "~/notes/**" } } }
        deny:
          - { id: no-ssh, server: fs, tools: ["*"], args: { path: { glob: "~/.ssh/**" } } }
    `,
      { context: { home: '/home/u', workspace: '/w' }, resolvePath },
    );
    const read = (path: string): Decision =>
      decideShort(engine, { mcp: 'fs/read_file', args: { path }, annotations: SAFE });
    assertDecision(read('/home/u/notes/a.md'), { decision: 'allow', rules: ['notes'], code: 'rule' });
    assertDecision(read('/var/home/u/notes/a.md'), { decision: 'deny', rules: [], code: 'default' });
    assertDecision(read('/var/home/u/.ssh/id_ed25519'), {
      decision: 'deny',
      rules: ['no-ssh'],
      code: 'rule',
    });
  });

  test('rev35-2: a decision asks where a path leads once, however many globs read it', () => {
    const asked: string[] = [];
    const resolvePath = (path: string): string => {
      asked.push(path);
      return path;
    };
    const denies = Array.from(
      { length: 30 },
      (_, i) =>
        `          - { id: no-${i}, server: fs, tools: ["*"], args: { path: { glob: "\${workspace}/d${i}/**" } } }`,
    );
    const engine = engineFrom(
      `
      mcp:
        allow:
          - { id: src, server: fs, tools: [read_file], args: { path: { glob: "\${workspace}/src/**" } } }
        deny:
${denies.join('\n')}
    `,
      { resolvePath },
    );
    // Nothing is asked before a call needs it.
    assert.deepEqual(asked, []);
    const read = (path: string): Decision =>
      decideShort(engine, { mcp: 'fs/read_file', args: { path }, annotations: SAFE });
    assertDecision(read('/w/docs/a'), { decision: 'deny', rules: [], code: 'default' });
    // The first call also asks where each pattern's directories lead, once for the engine.
    assert.equal(asked.filter((p) => p === '/w/docs/a').length, 1);
    assert.equal(asked.length, 1 + 31);
    asked.length = 0;
    assertDecision(read('/w/docs/b'), { decision: 'deny', rules: [], code: 'default' });
    assert.deepEqual(asked, ['/w/docs/b']);
    // The next decision asks again: a link on the way may have changed since.
    read('/w/docs/b');
    assert.deepEqual(asked, ['/w/docs/b', '/w/docs/b']);
  });
});
