// Fuzzing the policy loader (src/load.ts). Whatever text arrives — random bytes, YAML-shaped token
// soup, mutations of valid policies, alias bombs, deep nesting, huge scalars, text that was never
// UTF-8 — loadPolicies must return (never throw, never hang) with diagnostics a person can read: a
// code, a message, a position inside the file, and no stack trace (STYLE.md "Errors").
//
// Every loop is bounded in count (numRuns) and time (interruptAfterTimeLimit). Inputs that crash
// or hang the whole process run in a child process with a timeout, so this file always finishes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loadPolicies, type LoadResult } from '../src/load.js';
import { DESIGN_EXAMPLE } from './fixtures.js';

/** A hang check, not a benchmark: generous, yet far below what a quadratic blow-up takes. */
const TIME_LIMIT_MS = 1000;
const FILE = 'fuzz.yaml';
const MAX_FILE_CHARS = 1 << 20;

const DESIGN = DESIGN_EXAMPLE;
const GUARDRAIL = `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: org-guardrails
  layer: guardrail
  description: Locked rules for every session.
network:
  deny:
    - id: metadata
      cidrs: [169.254.169.254/32, "fd00:ec2::254/128"]
    - id: paste-sites
      hosts: [pastebin.com, "**.transfer.sh"]
  ask:
    - id: ssh-out
      hosts: ["**.example.net"]
      ports: [22, "2200-2299"]
filesystem:
  deny:
    - { id: secrets, paths: ["~/.ssh/**", "**/.env"] }
exec:
  deny:
    - { id: no-force-push, commands: ["git push --force*", "rm -rf /"] }
credentials:
  deny:
    - { id: no-prod, secrets: ["prod-*"], hosts: ["**.example.org"] }
mcp:
  deny:
    - { id: no-shell, server: "*", tools: ["run_*"] }
tests:
  - { name: imds blocked, request: { network: "169.254.169.254:80" }, expect: deny, rule: metadata }
`;

const MULTI_DOCUMENT = `# two documents in one file
apiVersion: perimeter/v1
kind: Policy
metadata: { name: org-base, layer: org, owner: platform }
mode: audit
network:
  allow:
    - id: registries
      hosts: [registry.npmjs.org, "*.pypi.org", "**.githubusercontent.com"]
    - id: corp
      cidrs: ["10.20.0.0/16"]
      ports: ["8000-8999", 443]
      mode: enforce
filesystem:
  default: deny
  allow:
    - { id: ws, paths: ["\${workspace}/**"], access: rw }
exec:
  default: ask
  allow:
    - { id: tools, commands: ["git *", "npm test"] }
credentials:
  - id: npm
    secret: npm-token
    env: NPM_TOKEN
    inject: { hosts: [registry.npmjs.org], header: Authorization, format: "Bearer {secret}" }
---
apiVersion: perimeter/v1
kind: Policy
metadata:
  name: data-team
  layer: group
  groups: [data]
mcp:
  servers:
    - { id: db, url: "https://db.example.com/mcp" }
  allow:
    - id: db-read
      server: db
      tools: [query]
      args: { sql: { prefix: "SELECT" }, limit: { range: { min: 1, max: 1000 } } }
  deny:
    - { id: db-drop, server: db, args: { sql: { regex: "DROP\\\\s+TABLE" } } }
`;

const FLOW = `{apiVersion: perimeter/v1, kind: Policy, metadata: {name: tiny, layer: local}, network: {deny: [{id: no-ssh, hosts: ["**.example.com"], ports: [22]}]}, exec: {deny: [{id: no-sudo, commands: ["sudo **"]}]}}
`;

const SEEDS: readonly (readonly [name: string, text: string, policies: number])[] = [
  ['the DESIGN.md example', DESIGN, 1],
  ['a guardrail policy', GUARDRAIL, 1],
  ['a two-document file', MULTI_DOCUMENT, 2],
  ['a flow-style local policy', FLOW, 1],
];
const SEED_TEXTS = SEEDS.map(([, text]) => text);

function lineCount(text: string): number {
  return text.split(/\r\n|\r|\n/).length;
}

/**
 * Loads `text` and checks everything that must hold for any input. Returns the result so a test can
 * assert more.
 */
function loadChecked(text: string, label = 'input'): LoadResult {
  const started = performance.now();
  let result: LoadResult;
  try {
    result = loadPolicies([{ file: FILE, text }]);
  } catch (e) {
    assert.fail(`loadPolicies threw on ${label} ${JSON.stringify(text.slice(0, 200))}: ${String(e)}`);
  }
  const elapsed = performance.now() - started;
  assert.ok(
    elapsed < TIME_LIMIT_MS,
    `loadPolicies took ${elapsed.toFixed(0)} ms on ${label} (${text.length} chars), over the ${TIME_LIMIT_MS} ms hang bound`,
  );
  assert.ok(Array.isArray(result.policies) && Array.isArray(result.diagnostics));
  const lines = lineCount(text);
  for (const d of result.diagnostics) {
    const what = `${label}: ${JSON.stringify(d)}`;
    assert.ok(['error', 'warning', 'info'].includes(d.severity), what);
    assert.equal(typeof d.code, 'string', what);
    assert.ok(d.code.length > 0, `a diagnostic has a code (${what})`);
    assert.equal(typeof d.message, 'string', what);
    assert.ok(d.message.trim().length > 0, `a diagnostic has a message (${what})`);
    assert.ok(!d.message.includes('    at '), `no stack trace in a message (${what})`);
    assert.ok(!/\n\s*at [\w.<>]+ \(/.test(d.message), `no stack frames in a message (${what})`);
    if (d.hint !== undefined) {
      assert.ok(d.hint.trim().length > 0, `a hint, when present, says something (${what})`);
      assert.ok(!d.hint.includes('    at '), `no stack trace in a hint (${what})`);
    }
    if (d.at !== undefined) {
      assert.equal(d.at.file, FILE, what);
      assert.ok(Number.isInteger(d.at.line) && d.at.line >= 1, `line ≥ 1 (${what})`);
      assert.ok(Number.isInteger(d.at.col) && d.at.col >= 1, `col ≥ 1 (${what})`);
      assert.ok(d.at.line <= lines + 1, `line within the file's ${lines} lines (${what})`);
    }
  }
  const hasError = result.diagnostics.some((d) => d.severity === 'error');
  if (!hasError) assert.ok(result.policies.length >= 1, `${label}: no error, so at least one policy loaded`);
  for (const p of result.policies) assert.equal(p.file, FILE);
  return result;
}

/** Runs `text` through loadPolicies in a fresh Node process; for inputs that may kill the process. */
function loadInChild(
  text: string,
  times: number,
  timeoutMs: number,
): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const loadUrl = new URL('../src/load.js', import.meta.url).href;
  const script = `
    import { readFileSync } from 'node:fs';
    const { loadPolicies } = await import(process.argv[1]);
    const text = readFileSync(0, 'utf8');
    const out = [];
    for (let i = 0; i < ${times}; i++) {
      const started = performance.now();
      const r = loadPolicies([{ file: 'child.yaml', text }]);
      out.push({ ms: performance.now() - started, policies: r.policies.length, codes: r.diagnostics.slice(0, 5).map((d) => d.code) });
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, loadUrl], {
    input: text,
    timeout: timeoutMs,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const fatal = /FATAL ERROR[^\n]*/.exec(r.stderr)?.[0];
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: fatal ?? r.stderr.slice(0, 400) };
}

const RUNS = { interruptAfterTimeLimit: 1000 } as const;

// ---------------------------------------------------------------------------------------------

describe('the seed documents', () => {
  for (const [name, text, count] of SEEDS) {
    it(`loads ${name} with no diagnostics`, () => {
      const r = loadChecked(text, name);
      assert.deepEqual(r.diagnostics, []);
      assert.equal(r.policies.length, count);
    });
  }

  it('loads the DESIGN.md example with a byte-order mark or CRLF line ends just the same', () => {
    for (const text of [`\uFEFF${DESIGN}`, DESIGN.replace(/\n/g, '\r\n')]) {
      const r = loadChecked(text);
      assert.deepEqual(r.diagnostics, []);
      assert.equal(r.policies[0]?.policy.name, 'engineering');
    }
  });

  it('skips an empty document left by a trailing "---" separator', () => {
    const r = loadChecked(`${DESIGN}---\n`);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.policies.length, 1);
  });
});

describe('random input', () => {
  // Code points are drawn by hand: fast-check's built-in 'binary' unit costs two seconds to set up.
  const codePoint = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));

  it('survives random strings of any Unicode code points', () => {
    fc.assert(
      fc.property(fc.string({ unit: codePoint, maxLength: 400, size: 'large' }), (text) => {
        loadChecked(text, 'a random string');
      }),
      { ...RUNS, numRuns: 150 },
    );
  });

  it('survives random Unicode text, including lone surrogates', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
          maxLength: 300,
          size: 'large',
        }),
        (text) => {
          loadChecked(text, 'random UTF-16');
        },
      ),
      { ...RUNS, numRuns: 150 },
    );
  });

  const TOKENS = [
    '-',
    ':',
    ': ',
    ' ',
    '  ',
    '\n',
    '\n  ',
    '\n    ',
    '\t',
    '\r\n',
    '[',
    ']',
    '{',
    '}',
    ',',
    '? ',
    '|',
    '>',
    '"',
    "'",
    '#',
    '---',
    '...',
    '%YAML 1.1\n',
    '%TAG ! tag:x,2000:\n',
    '&a ',
    '*a',
    '&b ',
    '*b',
    '!!str ',
    '!!map ',
    '!!seq ',
    '!!binary ',
    '!!set ',
    '!!omap ',
    '!!timestamp ',
    '!local ',
    '<<',
    'null',
    '~',
    'true',
    '1e9',
    '0x1F',
    '.inf',
    '-.nan',
    '2001-12-14',
    'apiVersion',
    'perimeter/v1',
    'kind',
    'Policy',
    'metadata',
    'name',
    'layer',
    'org',
    'group',
    'guardrail',
    'groups',
    'network',
    'allow',
    'deny',
    'ask',
    'hosts',
    'cidrs',
    'ports',
    'id',
    '**',
    '*.x',
    '10.0.0.0/8',
    '::/0',
    'filesystem',
    'paths',
    '${workspace}/**',
    'mcp',
    'server',
    'tools',
    'args',
    'regex',
    '(a+)+',
    'exec',
    'commands',
    'credentials',
    'secret',
    'tests',
    'request',
    'expect',
    '\u0000',
    '\uFEFF',
    '\u00A0',
    '\u2028',
    '\uD800',
    'é',
    '\\',
    '%',
    '@',
    '`',
  ];

  it('survives YAML-shaped token soup', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 120, size: 'large' }), (tokens) => {
        loadChecked(tokens.join(''), 'token soup');
      }),
      { ...RUNS, numRuns: 400 },
    );
  });

  it('reports every problem with a position when given several random files at once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        (files) => {
          const sources = files.map((t, i) => ({ file: `f${i}.yaml`, text: t.join('') }));
          let r: LoadResult;
          try {
            r = loadPolicies(sources);
          } catch (e) {
            assert.fail(`threw: ${String(e)}`);
          }
          const names = new Set(sources.map((s) => s.file));
          for (const d of r.diagnostics) {
            if (d.at) assert.ok(names.has(d.at.file), JSON.stringify(d));
            assert.ok(d.message.length > 0);
          }
        },
      ),
      { ...RUNS, numRuns: 150 },
    );
  });
});

describe('mutations of valid policy documents', () => {
  type Edit = readonly [
    at: number,
    amount: number,
    kind: 'flip' | 'delete' | 'duplicate' | 'truncate' | 'insert',
  ];
  const edit = fc.tuple(
    fc.nat(),
    fc.nat({ max: 255 }),
    fc.constantFrom<Edit[2]>('flip', 'delete', 'duplicate', 'truncate', 'insert'),
  );
  const INSERTS = [
    ':',
    '- ',
    '[',
    '{',
    '"',
    "'",
    '&x ',
    '*x',
    '\t',
    '\n',
    '#',
    '!!',
    '\u0000',
    '\\',
    ' : ',
    '---\n',
  ];

  function applyEdit(text: string, [at, amount, kind]: Edit): string {
    const i = at % (text.length + 1);
    switch (kind) {
      case 'flip': {
        const c = text.charCodeAt(i) || 0x20;
        return text.slice(0, i) + String.fromCharCode(c ^ (1 << (amount % 8)) || 1) + text.slice(i + 1);
      }
      case 'delete':
        return text.slice(0, i) + text.slice(i + 1 + (amount % 40));
      case 'duplicate':
        return text.slice(0, i) + text.slice(i, i + amount) + text.slice(i);
      case 'truncate':
        return text.slice(0, i);
      case 'insert':
        return text.slice(0, i) + (INSERTS[amount % INSERTS.length] ?? '') + text.slice(i);
    }
  }

  it('survives byte flips, deletions, duplications, truncations and insertions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEED_TEXTS),
        fc.array(edit, { minLength: 1, maxLength: 8 }),
        (seed, edits) => {
          loadChecked(edits.reduce(applyEdit, seed), 'a mutated seed');
        },
      ),
      { ...RUNS, numRuns: 250 },
    );
  });

  it('reports a truncated valid document without throwing, at every cut point of the first 400 characters', () => {
    const started = performance.now();
    for (let cut = 0; cut <= 400 && performance.now() - started < 1500; cut++) {
      loadChecked(DESIGN.slice(0, cut), `DESIGN cut at ${cut}`);
    }
  });

  // Structural mutations: parse a seed, change its shape, write it back as YAML.
  type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
  const KEYS = [
    'id',
    'hosts',
    'cidrs',
    'ports',
    'methods',
    'paths',
    'access',
    'server',
    'tools',
    'args',
    'annotations',
    'commands',
    'secret',
    'secrets',
    'env',
    'inject',
    'header',
    'format',
    'glob',
    'regex',
    'range',
    'min',
    'max',
    'equals',
    'oneOf',
    'prefix',
    'default',
    'mode',
    'layer',
    'groups',
    'name',
    'expect',
    'request',
    'rule',
    'allow',
    'deny',
    'ask',
    'servers',
    'url',
    'command',
    'credential',
    'revision',
    'Hosts',
    'hostz',
    'alow',
    '__proto__',
    'constructor',
    'toString',
    '',
  ];
  const value: fc.Arbitrary<Json> = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -70000, max: 70000 }),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 12 }),
    fc.constantFrom(
      '**',
      '*',
      '*.',
      'ex*ample.com',
      '10.0.0.1/8',
      '::/0',
      '300.1.1.1/8',
      '${workspace}/**',
      '~/../**',
      '(a+)+$',
      '(',
      '\\1',
      '-1',
      '0',
      '65536',
      '9-1',
      'rw',
      'allow',
      'audit',
      'guardrail',
      'x'.repeat(600),
    ),
    fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constant(null)), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), {
      maxKeys: 3,
    }),
  );
  type Mutation = readonly [
    pick: number,
    kind: 'set' | 'delete' | 'rename' | 'add-key' | 'wrap',
    value: Json,
    key: string,
  ];
  const mutation = fc.tuple(
    fc.nat(),
    fc.constantFrom<Mutation[1]>('set', 'delete', 'rename', 'add-key', 'wrap'),
    value,
    fc.constantFrom(...KEYS),
  );

  type Slot = { parent: Json[] | { [key: string]: Json }; key: string | number };
  function slots(root: Json): Slot[] {
    const out: Slot[] = [];
    const walk = (node: Json): void => {
      if (node === null || typeof node !== 'object') return;
      if (Array.isArray(node)) {
        node.forEach((child, i) => {
          out.push({ parent: node, key: i });
          walk(child);
        });
      } else {
        for (const [k, child] of Object.entries(node)) {
          out.push({ parent: node, key: k });
          walk(child);
        }
      }
    };
    walk(root);
    return out;
  }

  function mutate(root: Json, [pick, kind, v, key]: Mutation): void {
    const all = slots(root);
    const slot = all[pick % Math.max(all.length, 1)];
    if (!slot) return;
    const { parent, key: k } = slot;
    if (Array.isArray(parent)) {
      const i = k as number;
      if (kind === 'delete') parent.splice(i, 1);
      else if (kind === 'wrap') parent[i] = [parent[i] ?? null];
      else parent[i] = v;
      return;
    }
    const name = k as string;
    const current = parent[name] ?? null;
    switch (kind) {
      case 'set':
        parent[name] = v;
        break;
      case 'delete':
        delete parent[name];
        break;
      case 'rename':
        delete parent[name];
        Object.defineProperty(parent, key, {
          value: current,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        break;
      case 'add-key':
        if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
          Object.defineProperty(current, key, {
            value: v,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        break;
      case 'wrap':
        parent[name] = [current];
        break;
    }
  }

  it('survives key renames, type swaps, deletions, extra keys and wrapping', () => {
    const parsed: Json[] = SEED_TEXTS.flatMap((t) => {
      const docs = parseAllDocuments(t);
      return Array.isArray(docs) ? docs.map((d) => d.toJS() as Json) : [];
    });
    assert.equal(parsed.length, 5);
    fc.assert(
      fc.property(
        fc.nat({ max: parsed.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        (which, mutations) => {
          const doc = structuredClone(parsed[which] ?? null);
          for (const m of mutations) mutate(doc, m);
          const r = loadChecked(stringify(doc), 'a structurally mutated seed');
          const changed = JSON.stringify(doc) !== JSON.stringify(parsed[which]);
          if (!changed) assert.deepEqual(r.diagnostics, []);
        },
      ),
      { ...RUNS, numRuns: 200 },
    );
  });

  it('reports an unknown key at the line where it is written', () => {
    const parsed = parse(DESIGN) as Json;
    // Strict mappings only: args, request and env are records whose keys are free.
    const isStrictMap = (s: Slot): boolean => {
      const v = (s.parent as Record<string | number, Json>)[s.key];
      return (
        v !== null &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        !['args', 'request', 'env'].includes(String(s.key))
      );
    };
    const maps = slots(parsed).filter(isStrictMap);
    assert.ok(maps.length >= 10);
    fc.assert(
      fc.property(fc.nat({ max: maps.length - 1 }), (pick) => {
        const doc = structuredClone(parsed);
        const target = slots(doc).filter(isStrictMap)[pick];
        assert.ok(target);
        const map = (target.parent as Record<string | number, Json>)[target.key] as { [key: string]: Json };
        map.zzUnknownKey = 1;
        const text = stringify(doc);
        const line = text.split('\n').findIndex((l) => l.includes('zzUnknownKey')) + 1;
        const r = loadChecked(text, 'an unknown key');
        const unknown = r.diagnostics.filter(
          (d) => d.code === 'unknown-key' && d.message.includes('zzUnknownKey'),
        );
        assert.equal(unknown.length, 1, JSON.stringify(r.diagnostics));
        assert.equal(unknown[0]?.at?.line, line, `${text}\n${JSON.stringify(unknown)}`);
      }),
      { numRuns: Math.min(maps.length * 2, 100), interruptAfterTimeLimit: 1000 },
    );
  });
});

describe('resource-exhaustion shapes', () => {
  it('refuses a billion-laughs alias bomb quickly, as a YAML error', () => {
    const levels = ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 9; i++)
      levels.push(
        `lol${i}: &l${i} [${Array(10)
          .fill(`*l${i - 1}`)
          .join(', ')}]`,
      );
    const r = loadChecked(`${levels.join('\n')}\n`, 'billion laughs');
    assert.equal(r.policies.length, 0);
    assert.ok(
      r.diagnostics.some((d) => d.code === 'yaml' && /alias/i.test(d.message)),
      JSON.stringify(r.diagnostics),
    );
  });

  it('refuses an alias bomb hidden inside an otherwise valid policy', () => {
    const bomb = ['x0: &x0 [a, a, a, a, a, a, a, a]'];
    for (let i = 1; i <= 8; i++)
      bomb.push(
        `x${i}: &x${i} [${Array(8)
          .fill(`*x${i - 1}`)
          .join(', ')}]`,
      );
    const text = `${DESIGN.replace(/\ntests:[\s\S]*$/, '\n')}tests:
  - name: bomb
    expect: deny
    request:
      network: "a:1"
      payload:
        ${bomb.join('\n        ')}
        last: *x8
`;
    const r = loadChecked(text, 'a policy with an alias bomb');
    assert.ok(
      r.diagnostics.some((d) => d.severity === 'error'),
      JSON.stringify(r.diagnostics),
    );
    assert.equal(r.policies.length, 0);
  });

  it('resolves a few harmless aliases in a policy as ordinary values', () => {
    const text = DESIGN.replace('hosts: [api.github.com]\n', 'hosts: &gh [api.github.com]\n').replace(
      'inject: { hosts: [api.github.com],',
      'inject: { hosts: *gh,',
    );
    assert.notEqual(text, DESIGN);
    const r = loadChecked(text, 'aliases');
    assert.deepEqual(r.diagnostics, []);
  });

  it('handles nesting up to 250 levels in every collection style', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 250 }),
        fc.constantFrom('flow-seq', 'flow-map', 'block-seq', 'block-map', 'mixed'),
        (depth, style) => {
          let text: string;
          switch (style) {
            case 'flow-seq':
              text = `${'['.repeat(depth)}x${']'.repeat(depth)}`;
              break;
            case 'flow-map':
              text = `${'{a: '.repeat(depth)}x${'}'.repeat(depth)}`;
              break;
            case 'block-seq':
              text = `${'- '.repeat(depth)}x\n`;
              break;
            case 'block-map':
              text = Array.from({ length: depth }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n') + ' x\n';
              break;
            default:
              text = `network: ${'[{a: '.repeat(Math.ceil(depth / 2))}x${'}]'.repeat(Math.ceil(depth / 2))}\n`;
          }
          loadChecked(text, `${style} nested ${depth} deep`);
        },
      ),
      { numRuns: 60, interruptAfterTimeLimit: 1500 },
    );
  });

  it('handles unbalanced deep nesting (unterminated brackets) without throwing', () => {
    for (const text of ['['.repeat(200), '{'.repeat(200), `${'[{'.repeat(100)}`, `a: ${'- '.repeat(200)}`]) {
      loadChecked(text, 'unterminated nesting');
    }
  });

  it('survives nesting deeper than the stack, loaded repeatedly in one process', () => {
    const depth = 1000;
    const r = loadInChild(`${'['.repeat(depth)}${']'.repeat(depth)}`, 3, 20000);
    assert.equal(r.signal, null, `the child died with ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const runs = JSON.parse(r.stdout) as { codes: string[] }[];
    assert.equal(runs.length, 3);
    for (const run of runs) assert.ok(run.codes.length > 0, 'each load reports the nesting as a problem');
  });

  it('loads a scalar of almost 1 MiB in plain, quoted and block style within the bound', () => {
    const body = 'x'.repeat(MAX_FILE_CHARS - 64);
    for (const text of [`a: ${body}\n`, `a: "${body}"\n`, `a: |\n  ${body}\n`, `${body}\n`]) {
      const r = loadChecked(text, 'a huge scalar');
      assert.equal(r.policies.length, 0);
      assert.ok(r.diagnostics.length > 0);
    }
  });

  it('refuses a huge description in a valid policy with a schema error, not a crash', () => {
    const text = DESIGN.replace(
      '  name: engineering\n',
      `  name: engineering\n  description: "${'d'.repeat(500_000)}"\n`,
    );
    const r = loadChecked(text, 'a huge description');
    assert.ok(r.diagnostics.some((d) => d.severity === 'error'));
  });

  it('refuses a file over 1 MiB at 1:1 without parsing it', () => {
    const r = loadChecked(`a: [${'1, '.repeat(MAX_FILE_CHARS / 3)}1]`, 'a file over 1 MiB');
    assert.deepEqual(
      r.diagnostics.map((d) => [d.code, d.at?.line, d.at?.col]),
      [['file-too-large', 1, 1]],
    );
  });

  it('loads a file of 20 000 distinct keys (190 KB, a fifth of the size limit) within the hang bound', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `k${i}: 1\n`).join('');
    const r = loadInChild(text, 1, 2500);
    assert.equal(
      r.signal,
      null,
      `killed after the 2.5 s timeout (${r.signal ?? ''}): loading did not finish`,
    );
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('text that is not clean UTF-8', () => {
  it('survives random bytes decoded as Latin-1 and as UTF-8 with replacement characters', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500, size: 'large' }), (bytes) => {
        const buffer = Buffer.from(bytes);
        loadChecked(buffer.toString('latin1'), 'bytes as Latin-1');
        loadChecked(buffer.toString('utf8'), 'bytes as UTF-8');
      }),
      { ...RUNS, numRuns: 150 },
    );
  });

  it('survives a policy saved as UTF-16 and read back as Latin-1 or UTF-8', () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(DESIGN, 'utf16le')]);
    for (const text of [
      utf16.toString('latin1'),
      utf16.toString('utf8'),
      Buffer.from(DESIGN, 'utf16le').toString('latin1'),
    ]) {
      const r = loadChecked(text, 'UTF-16 as 8-bit');
      assert.ok(
        r.diagnostics.some((d) => d.severity === 'error'),
        'it is not a valid policy',
      );
    }
  });

  it('survives lone surrogates, NULs and other unusual code points inside a valid policy', () => {
    const inserts = [
      '\uD800',
      '\uDFFF',
      '\uDBFF\uD800',
      '\u0000',
      '\uFFFE',
      '\uFFFF',
      '\u202E',
      '\u2028',
      '\u0085',
      '\u001B[31m',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...inserts),
        fc.nat(),
        fc.constantFrom(...SEED_TEXTS),
        (insert, at, seed) => {
          const i = at % (seed.length + 1);
          loadChecked(seed.slice(0, i) + insert + seed.slice(i), 'an unusual code point');
        },
      ),
      { ...RUNS, numRuns: 150 },
    );
  });

  it('never loads a policy whose host pattern carries a control character', () => {
    const text = DESIGN.replace('api.anthropic.com,', '"api.anthropic.com\\u0000.evil.test",');
    assert.notEqual(text, DESIGN);
    const r = loadChecked(text, 'a NUL in a host pattern');
    assert.ok(
      r.diagnostics.some((d) => d.severity === 'error' && d.code === 'bad-host-pattern'),
      JSON.stringify(r.diagnostics),
    );
  });
});
