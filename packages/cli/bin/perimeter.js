#!/usr/bin/env node
// The `perimeter` executable. A committed file, so npm can link it before the TypeScript is built;
// the command itself is in ../dist (built by `npm install` through the root `prepare` script).
//
// When the build made a one-file bundle (tools/bundle-cli.mjs) at least as new as the modules, it
// is loaded through a V8 code cache: start-up is part of every sandboxed session's cost.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';

const modules = new URL('../dist/src/main.js', import.meta.url);
const bundle = new URL('../dist/src/main.bundle.cjs', import.meta.url);
const cache = new URL('../dist/src/main.bundle.cache', import.meta.url);

function loadBundle() {
  const source = readFileSync(bundle, 'utf8');
  const cachedData = existsSync(cache) ? readFileSync(cache) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle.pathname,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} };
  script.runInThisContext()(
    module.exports,
    createRequire(bundle),
    module,
    bundle.pathname,
    new URL('.', bundle).pathname,
  );
  return {
    main: module.exports.main,
    script,
    isCached: cachedData !== undefined && !script.cachedDataRejected,
  };
}

if (!existsSync(modules)) {
  process.stderr.write(
    'perimeter: the command is not built yet\n  run "npm install" (or "npm run build") in the repository root\n',
  );
  process.exit(3);
}
// Fresh: newer than every package's last compile (tsc -b touches .tsbuildinfo when it emits).
const builds = ['policy', 'detect', 'audit', 'egress', 'sandbox', 'cli'].map(
  (name) => new URL(`../../${name}/dist/.tsbuildinfo`, import.meta.url),
);
const isBundleFresh =
  existsSync(bundle) &&
  builds.every((info) => !existsSync(info) || statSync(bundle).mtimeMs >= statSync(info).mtimeMs);
const loaded = isBundleFresh ? loadBundle() : { ...(await import(modules.href)), isCached: true };
process.exitCode = await loaded.main(process.argv.slice(2));
// The build asks for the cache after a representative run, so the functions that run are in it.
if (loaded.script && process.env.PERIMETER_WRITE_CODE_CACHE === '1') {
  writeFileSync(cache, loaded.script.createCachedData());
}
