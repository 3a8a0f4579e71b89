// The start-up bundle defers zod, yaml and tldts until first use (tools/bundle-cli.mjs): a module
// that touches one of them as it loads (a top-level z.config, a schema, a compiled pattern) would
// start it in every `perimeter run` again, silently. The bundle notes each package it starts.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './cli-harness.js';
import { SANDBOX_SKIP } from './sandbox-harness.js';

const BUNDLE = join(REPO_ROOT, 'packages/cli/dist/src/main.bundle.cjs');
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
