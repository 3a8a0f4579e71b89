#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js) with Node's test runner.
// Node 20's --test takes no globs, so this finds the files. Extra arguments are passed through
// (for example --test-name-pattern="guard").
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.test.js')) files.push(full);
  }
};
for (const pkg of readdirSync(join(root, 'packages'))) {
  const dir = join(root, 'packages', pkg, 'dist', 'test');
  if (existsSync(dir)) walk(dir);
}
// tsc never deletes outputs: skip compiled tests whose source is gone.
const stale = files.filter(
  (f) => !existsSync(f.replace(`${join('dist', 'test')}`, 'test').replace(/\.js$/, '.ts')),
);
for (const f of stale) console.error(`run-tests: skipping ${f}: its source was deleted`);
files.splice(0, files.length, ...files.filter((f) => !stale.includes(f)));
if (files.length === 0) {
  console.error('run-tests: no compiled tests found; run "npm run build" first');
  process.exit(1);
}
files.sort();
const reporter = process.env.CI ? ['--test-reporter=spec'] : [];
const result = spawnSync(process.execPath, ['--test', ...reporter, ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(result.status ?? 1);
