#!/usr/bin/env node
// The `perimeter` executable. A committed file, so npm can link it before the TypeScript is built;
// the command itself is in ../dist (built by `npm install` through the root `prepare` script).
//
// A CommonJS file (bin/package.json says so): an ES module entry point starts Node's ES module
// loader and its thread pool, ~6 ms that every sandboxed session would pay. When the build made a
// one-file bundle (tools/bundle-cli.mjs) at least as new as the modules, it is loaded through a V8
// code cache: start-up is part of every sandboxed session's cost.
'use strict';
const { existsSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const dist = join(__dirname, '..', 'dist', 'src');
const modules = join(dist, 'main.js');
const bundle = join(dist, 'main.bundle.cjs');
const cache = join(dist, 'main.bundle.cache');

function loadBundle() {
  // ASCII throughout (the build checks): Latin-1 reads it as UTF-8 would, without the decoding.
  const source = readFileSync(bundle, 'latin1');
  const cachedData = existsSync(cache) ? readFileSync(cache) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dist);
  return {
    main: module.exports.main,
    exitsWhenDone: module.exports.exitsWhenDone,
    script,
    isCached: cachedData !== undefined && !script.cachedDataRejected,
  };
}

async function start() {
  if (!existsSync(modules)) {
    process.stderr.write(
      'perimeter: the command is not built yet\n  run "npm install" (or "npm run build") in the repository root\n',
    );
    process.exit(3);
  }
  // Fresh: newer than every package's last compile (tsc -b touches .tsbuildinfo when it emits).
  const builds = ['policy', 'detect', 'audit', 'egress', 'sandbox', 'cli'].map((name) =>
    join(__dirname, '..', '..', name, 'dist', '.tsbuildinfo'),
  );
  const isBundleFresh =
    existsSync(bundle) &&
    builds.every((info) => !existsSync(info) || statSync(bundle).mtimeMs >= statSync(info).mtimeMs);
  const loaded = isBundleFresh
    ? loadBundle()
    : { ...(await import(pathToFileURL(modules).href)), isCached: true };
  const argv = process.argv.slice(2);
  process.exitCode = await loaded.main(argv);
  // The build asks for the cache after a representative run, so the functions that run are in it.
  if (loaded.script && process.env.PERIMETER_WRITE_CODE_CACHE === '1') {
    writeFileSync(cache, loaded.script.createCachedData());
  }
  if (loaded.exitsWhenDone?.(argv)) {
    // Once its own messages have left (a pipe takes them asynchronously).
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit();
  }
}

function drained(stream) {
  if (stream.writableLength === 0) return undefined;
  return new Promise((done) => {
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
}

void start();
