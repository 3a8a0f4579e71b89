// redteam-34-5: MCP argument globs and Unicode spellings of a path. A server may read a path that
// does not exist as an existing one equal to it in NFC (the reference filesystem server does), so
// rules compare in NFC and a value that is not NFC, or that folds to path syntax (`／`, `‥`), is an
// evaluation error: a deny matches it, an allow does not.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDecision, decideShort, engineFrom, type Expected } from './helpers.js';
import type { Engine } from '../src/index.js';

const NFD_E = 'e\u0301';

interface Case extends Expected {
  readonly name: string;
  readonly path: string;
}

function runCases(engine: Engine, tool: string, cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const d = decideShort(engine, {
        mcp: `fs/${tool}`,
        args: { path: c.path },
        annotations: { readOnlyHint: true },
      });
      assertDecision(d, c, JSON.stringify(c.path));
    });
  }
}

describe('redteam-34-5: a deny on a non-ASCII directory covers its other Unicode spellings', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: fs-all, server: fs }
      deny:
        - { id: no-private, server: fs, args: { path: { glob: "\${workspace}/privé/**" } } }
        - { id: no-nfd-rule, server: fs, args: { path: { glob: "/w/r${NFD_E}sum${NFD_E}/**" } } }
        - { id: no-keys, server: fs, args: { path: { glob: "/w/Keys/**" } } }
        - { id: no-secret, server: fs, args: { path: { glob: "/w/secret/**" } } }
  `);
  runCases(engine, 'read_text_file', [
    {
      name: 'redteam-34-5: the NFC spelling, as the rule writes it, is denied',
      path: '/w/privé/salaries.txt',
      decision: 'deny',
      rules: ['no-private'],
    },
    {
      name: 'redteam-34-5: the NFD spelling of a denied path is denied',
      path: `/w/priv${NFD_E}/salaries.txt`,
      decision: 'deny',
      rules: ['no-private', 'no-nfd-rule', 'no-keys', 'no-secret'],
    },
    {
      name: 'redteam-34-5: a relative NFD spelling is denied too',
      path: `priv${NFD_E}/planted.txt`,
      decision: 'deny',
      rules: ['no-private', 'no-nfd-rule', 'no-keys', 'no-secret'],
    },
    {
      name: 'redteam-34-5: a rule written in NFD denies the NFC spelling (rules are compared in NFC)',
      path: '/w/résumé/cv.pdf',
      decision: 'deny',
      rules: ['no-nfd-rule'],
    },
    {
      name: 'redteam-34-5: the Kelvin sign, NFC-equal to K, is denied',
      path: '/w/\u212Aeys/id_rsa',
      decision: 'deny',
    },
    {
      name: 'redteam-34-5: a fullwidth solidus, which folds to /, is denied',
      path: '/w/secret\uFF0Fkey',
      decision: 'deny',
    },
    {
      name: 'redteam-34-5: a two-dot leader as a segment, which folds to .., is denied',
      path: '/w/pub/\u2025/secret/key',
      decision: 'deny',
    },
    {
      name: 'redteam-34-5: a fullwidth tilde at the start, which folds to ~, is denied',
      path: '\uFF5E/.ssh/id_rsa',
      decision: 'deny',
    },
    {
      name: 'an NFC path elsewhere, with accents and fullwidth brackets, is left to the allow',
      path: '/w/café/資料（最終）.txt',
      decision: 'allow',
      rules: ['fs-all'],
    },
    {
      name: 'a fullwidth full stop inside a name folds to no new segment: left to the allow',
      path: '/w/notes\uFF0Etxt',
      decision: 'allow',
      rules: ['fs-all'],
    },
  ]);
});

describe('redteam-34-5: an allow on a non-ASCII directory', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: write-cafe, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/café/**" } } }
  `);
  runCases(engine, 'write_file', [
    {
      name: 'redteam-34-5: the NFC spelling of an allowed path is allowed',
      path: '/w/café/menu.txt',
      decision: 'allow',
      rules: ['write-cafe'],
    },
    {
      name: 'redteam-34-5: the NFD spelling of an allowed path falls to the default (fail closed)',
      path: `/w/caf${NFD_E}/menu.txt`,
      decision: 'deny',
      rules: [],
      code: 'default',
    },
  ]);

  test('redteam-34-5: the reason says the value is not NFC, without quoting it', () => {
    const d = decideShort(engine, { mcp: 'fs/write_file', args: { path: `/w/caf${NFD_E}/x-secret-name` } });
    assert.match(
      d.reason,
      /\(path is not in Unicode NFC \(é as e \+ U\+0301, say\), which servers read differently\)/,
    );
    assert.doesNotMatch(d.reason, /x-secret-name/);
  });
});

describe('redteam-34-5: a workspace that is not NFC', () => {
  const engine = engineFrom(
    `
    mcp:
      allow:
        - { id: fs-all, server: fs }
      deny:
        - { id: no-private, server: fs, args: { path: { glob: "\${workspace}/privé/**" } } }
  `,
    { context: { home: '/home/u', workspace: `/home/jos${NFD_E}/w` } },
  );
  runCases(engine, 'read_text_file', [
    {
      // Not for its workspace's spelling: a relative path is an evaluation error (redteam-35-1).
      name: 'redteam-35-1: a relative path under that workspace meets the deny as an evaluation error',
      path: 'privé/salaries.txt',
      decision: 'deny',
      rules: ['no-private'],
    },
    {
      name: 'redteam-34-5: the NFC spelling of that workspace is judged in NFC and denied',
      path: '/home/josé/w/privé/salaries.txt',
      decision: 'deny',
      rules: ['no-private'],
    },
    {
      name: 'redteam-34-5: and what the deny does not name there is left to the allow',
      path: '/home/josé/w/public/notes.txt',
      decision: 'allow',
      rules: ['fs-all'],
    },
  ]);
});

describe('a run of combining marks in a path argument is not normalized', () => {
  const engine = engineFrom(`
    mcp:
      allow:
        - { id: write-cafe, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/café/**" } } }
      deny:
        - { id: no-private, server: fs, args: { path: { glob: "\${workspace}/privé/**" } } }
  `);
  /** Marks of two combining classes (below, above), which NFC must reorder: its worst case. */
  const marks = (n: number): string => '\u0323\u0301'.repeat(n / 2);

  test('redteam-34-2: 200,000 marks after a letter are an evaluation error, and normalize() never sees them', () => {
    const real = Object.getOwnPropertyDescriptor(String.prototype, 'normalize')!;
    const normalize = real.value as string['normalize'];
    let longest = 0;
    Object.defineProperty(String.prototype, 'normalize', {
      ...real,
      value(this: string, form?: string): string {
        longest = Math.max(longest, this.length);
        return normalize.call(this, form);
      },
    });
    try {
      const path = `/w/café/e${marks(200_000)}`;
      const written = decideShort(engine, { mcp: 'fs/write_file', args: { path } });
      assertDecision(written, { decision: 'deny', rules: ['no-private'] }, 'a deny matches it');
      const allowed = decideShort(
        engineFrom(`
    mcp:
      allow:
        - { id: write-cafe, server: fs, tools: [write_file], args: { path: { glob: "\${workspace}/café/**" } } }
  `),
        { mcp: 'fs/write_file', args: { path } },
      );
      assertDecision(allowed, { decision: 'deny', rules: [], code: 'default' }, 'an allow does not');
      assert.match(
        allowed.reason,
        /path holds a run of more than 30 combining marks, which servers read differently/,
      );
      assert.ok(longest < 1_000, `normalize() was handed ${longest} characters`);
    } finally {
      Object.defineProperty(String.prototype, 'normalize', real);
    }
  });

  test('thirty marks in a row are a name, judged as one', () => {
    const d = decideShort(engine, { mcp: 'fs/write_file', args: { path: `/w/café/e${marks(30)}` } });
    assertDecision(d, { decision: 'deny', rules: ['no-private'] }, 'not NFC: the marks are out of order');
  });
});
