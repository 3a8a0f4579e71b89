// The start-up bundle defers zod, yaml and tldts until first use (tools/bundle-cli.mjs): a module
// that touches one of them as it loads (a top-level z.config, a schema, a compiled pattern) would
// start it in every `perimeter run` again, silently. The bundle notes each package it starts, and
// the executable each bundle it loads on demand (the MCP commands).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './cli-harness.js';
import { SANDBOX_SKIP } from './sandbox-harness.js';

const BUNDLE = join(REPO_ROOT, 'packages/cli/dist/src/main.bundle.cjs');
const BIN = join(REPO_ROOT, 'packages/cli/bin/perimeter.js');
const NO_BUNDLE = existsSync(BUNDLE) ? false : 'no start-up bundle (esbuild is not installed)';

/** Loads the bundle in a fresh process, runs `argv` through its main, and says what it started. */
function startedBy(argv: readonly string[] | undefined, cwd: string, env: NodeJS.ProcessEnv): string[] {
  const script = `
    const key = Symbol.for('perimeter.lazyLoaded');
    const bundle = require(${JSON.stringify(BUNDLE)});
    const argv = ${JSON.stringify(argv ?? null)};
    (argv ? bundle.main(argv) : Promise.resolve(0)).then((code) => {
      process.stdout.write(JSON.stringify({ code, started: globalThis[key] ?? [] }));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { code: number; started: string[] };
  assert.equal(out.code, 0, r.stderr);
  return out.started;
}

void test('loading the start-up bundle starts none of zod, yaml and tldts', { skip: NO_BUNDLE }, () => {
  assert.deepEqual(startedBy(undefined, REPO_ROOT, process.env), []);
});

void test(
  'a perimeter run whose policy is in the checked-policy cache starts none of zod, yaml and tldts',
  { skip: NO_BUNDLE || SANDBOX_SKIP },
  (t) => {
    const root = mkdtempSync(join(tmpdir(), 'perimeter-lazy-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const workspace = join(root, 'ws');
    mkdirSync(workspace);
    const env = { ...process.env, HOME: root, XDG_STATE_HOME: join(root, 'state') };
    const run = (n: number): string[] => ['run', '--audit', join(root, `audit-${n}.jsonl`), '--', 'true'];
    // The first session checks the default policy (YAML, zod, the public suffix list) and keeps
    // its checked form, keyed by the bundle it ran from.
    assert.deepEqual(startedBy(run(1), workspace, env).sort(), ['tldts', 'yaml', 'zod']);
    assert.deepEqual(startedBy(run(2), workspace, env), []);
  },
);

void test(
  'the executable runs the MCP commands from their own bundle, through a code cache the build wrote',
  { skip: NO_BUNDLE },
  (t) => {
    const root = mkdtempSync(join(tmpdir(), 'perimeter-lazy-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    // The preload reports, as the process exits, what the executable loaded and whether V8 took
    // the cache: a rejected cache (another Node, other flags) would compile ~1.5 MB on every start.
    const preload = join(root, 'report.cjs');
    writeFileSync(
      preload,
      `const vm = require('node:vm');
       const rejected = [];
       const Script = vm.Script;
       vm.Script = class extends Script {
         constructor(source, options) {
           super(source, options);
           if (options?.cachedData) rejected.push(this.cachedDataRejected);
           else rejected.push('no cache');
         }
       };
       process.on('exit', () => {
         process.stderr.write('\\nREPORT ' + JSON.stringify({ started: globalThis[Symbol.for('perimeter.lazyLoaded')] ?? [], rejected }) + '\\n');
       });`,
    );
    const r = spawnSync(process.execPath, ['--require', preload, BIN, 'mcp', 'pins', 'list'], {
      cwd: root,
      env: { ...process.env, HOME: root, XDG_STATE_HOME: join(root, 'state') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const report = /^REPORT (.*)$/m.exec(r.stderr);
    assert.ok(report, r.stderr);
    const { started, rejected } = JSON.parse(report[1] ?? '') as { started: string[]; rejected: unknown[] };
    assert.deepEqual(started, ['mcp']);
    // The main bundle, then the MCP bundle: both compiled from their caches.
    assert.deepEqual(rejected, [false, false]);
  },
);
