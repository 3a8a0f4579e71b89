#!/usr/bin/env node
// The `perimeter` executable. A committed file, so npm can link it before the TypeScript is built;
// the command itself is in ../dist (built by `npm install` through the root `prepare` script).
//
// A CommonJS file (bin/package.json says so): an ES module entry point starts Node's ES module
// loader and its thread pool, ~6 ms that every sandboxed session would pay. When the build made a
// one-file bundle (tools/bundle-cli.mjs) at least as new as the modules, it is loaded through a V8
// code cache: start-up is part of every sandboxed session's cost.
'use strict';
const { codeCachesToWrite, tuneV8 } = require('./v8-tuning.js');
// Left for a serving command to call once it serves (v8-tuning.js says why).
globalThis[Symbol.for('perimeter.tuneV8')] = tuneV8;
const { existsSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script, constants } = require('node:vm');

const dist = join(__dirname, '..', 'dist', 'src');
const modules = join(dist, 'main.js');
const bundle = join(dist, 'main.bundle.cjs');
// Fresh: newer than every package's last compile (tsc -b touches .tsbuildinfo when it emits).
const builds = ['policy', 'detect', 'audit', 'egress', 'sandbox', 'mcp', 'cli'].map((name) =>
  join(__dirname, '..', '..', name, 'dist', '.tsbuildinfo'),
);
const isFresh = (file) =>
  existsSync(file) &&
  builds.every((info) => !existsSync(info) || statSync(file).mtimeMs >= statSync(info).mtimeMs);

/** The bundles this process ran, by name: their scripts, for PERIMETER_WRITE_CODE_CACHE. */
const compiled = new Map();

/**
 * Runs one of the build's CommonJS bundles (main.bundle.cjs, or main.lazy-NAME.cjs) through its V8
 * code cache, which the build wrote after a representative run (tools/bundle-cli.mjs).
 */
function loadBundle(name, file) {
  const cache = file.replace(/\.cjs$/, '.cache');
  // ASCII throughout (the build checks): Latin-1 reads it as UTF-8 would, without the decoding.
  const source = readFileSync(file, 'latin1');
  const cachedData = existsSync(cache) ? readFileSync(cache) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // A package's rare import() (the MCP SDK's OAuth helper) goes to Node's own loader.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  compiled.set(name, { script, cache, module });
  script.runInThisContext()(module.exports, createRequire(file), module, file, dist);
  return module.exports;
}

/**
 * The commands that load only when used (`perimeter mcp`, a session with an MCP catalog) have a
 * bundle of their own, which packages/cli/src/lazy-mcp.ts asks for here. It gets undefined, and
 * uses the compiled modules, where the main bundle is not in use or this one is not fresh.
 */
function loadLazyBundle(name) {
  const file = join(dist, `main.lazy-${name}.cjs`);
  if (compiled.has(name)) return compiled.get(name).module.exports;
  if (!isFresh(file)) return undefined;
  // Noted where a test can see it, as the main bundle notes its lazy packages.
  (globalThis[Symbol.for('perimeter.lazyLoaded')] ??= []).push(name);
  return loadBundle(name, file);
}

async function start() {
  if (!existsSync(modules)) {
    process.stderr.write(
      'perimeter: the command is not built yet\n  run "npm install" (or "npm run build") in the repository root\n',
    );
    process.exit(3);
  }
  let loaded;
  if (isFresh(bundle)) {
    loaded = loadBundle('main', bundle);
    globalThis[Symbol.for('perimeter.loadLazyBundle')] = loadLazyBundle;
  } else {
    loaded = await import(pathToFileURL(modules).href);
  }
  const argv = process.argv.slice(2);
  process.stdout.on('error', readerGone);
  process.exitCode = await loaded.main(argv);
  // The build asks for a cache after a representative run, so the functions that ran are in it:
  // PERIMETER_WRITE_CODE_CACHE names the bundles to write it for ("main", "mcp").
  const writes = codeCachesToWrite();
  for (const [name, { script, cache }] of compiled) {
    if (writes.includes(name)) writeFileSync(cache, script.createCachedData());
  }
  if (loaded.exitsWhenDone?.(argv)) {
    // Once its own messages have left (a pipe takes them asynchronously).
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit();
  }
}

/**
 * Standard output's reader went away (`perimeter audit tail | head -1`, an MCP client that closed
 * its end): a command that stops on SIGTERM stops as if sent one, recording what it records on the
 * way out; any other ends at once with its exit code. Quietly either way: not a stack trace.
 */
let stopping = false;
function readerGone(error) {
  if (error.code !== 'EPIPE') throw error;
  if (stopping) return;
  stopping = true;
  if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM', 'SIGTERM');
  else process.exit();
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
