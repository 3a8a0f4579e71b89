// Bundles the compiled CLI (packages/cli/dist/src/main.js and everything it imports) into one
// CommonJS file next to it, plus a V8 code cache for it, so `perimeter` starts without resolving
// and compiling a hundred modules: every `perimeter run` pays its start-up. The bundle sits in the
// same directory as main.js, so paths the code derives from its own location stay true. Without
// esbuild (a production install) the shim uses the unbundled modules.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'packages/cli/dist/src/main.js');
const outfile = join(root, 'packages/cli/dist/src/main.bundle.cjs');
const cache = join(root, 'packages/cli/dist/src/main.bundle.cache');

/**
 * Packages some commands never touch (zod validates, yaml parses a policy text the checked-policy
 * cache does not hold, tldts checks public suffixes): each is bundled into a file of its own
 * (main.lazy-NAME.cjs), read and evaluated on first use, so a `perimeter run` that does not need
 * them pays neither for reading them nor for starting them. The main bundle imports each through a
 * stand-in whose prototype is a proxy that requires the real bundle when a name is first read: the
 * stand-in has no properties of its own, so esbuild's interop (which copies every property of a
 * CommonJS module into each importer's view of it) has nothing to copy. This holds only while no
 * module touches them as it loads (a top-level z.config or schema would start zod):
 * packages/cli/test/bundle-lazy.test.ts checks it.
 */
const LAZY_PACKAGES = ['zod', 'yaml', 'tldts'];
const lazyFile = (name) => `main.lazy-${name}.cjs`;
const lazyPackages = (names) => ({
  name: 'lazy-packages',
  setup(build) {
    const filter = new RegExp(`^(${names.join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy' }));
    build.onResolve({ filter: /^\.\/main\.lazy-[a-z]+\.cjs$/ }, (args) => ({
      path: args.path,
      external: true,
    }));
    build.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
      const real = JSON.stringify(`./${lazyFile(args.path)}`);
      return {
        contents: [
          'let real;',
          // Each first load is noted where a test can see it (test/bundle-lazy.test.ts).
          `const load = () => (real ??= ((globalThis[Symbol.for('perimeter.lazyLoaded')] ??= []).push(${JSON.stringify(args.path)}), require(${real})));`,
          'module.exports = Object.create(',
          '  new Proxy({}, {',
          // Symbols (util.inspect's, a thenable check) never start the package.
          "    get: (_, name) => (typeof name === 'symbol' ? undefined : load()[name]),",
          "    has: (_, name) => typeof name !== 'symbol' && name in load(),",
          '  }),',
          ');',
          '',
        ].join('\n'),
        loader: 'js',
        resolveDir: dirname(entry),
      };
    });
  },
});

/**
 * The MCP commands (packages/cli/src/lazy-mcp.ts) are a bundle of their own, main.lazy-mcp.cjs,
 * loaded by bin/perimeter.js through its own code cache when a command needs them: as ES modules
 * they took ~0.5 s to resolve and compile. They share yaml and tldts with the main bundle, but
 * bundle their own zod: the MCP SDK imports zod/v4, zod/v4-mini and zod/v3 beside zod, and each
 * must be the one instance of zod inside the bundle. Like the unbundled modules before, this
 * bundle has its own copy of the packages both use (policy, audit, sandbox): nothing it exports
 * is checked with instanceof against the main bundle's classes.
 */
const MCP_ENTRY = join(root, 'packages/cli/dist/src/commands/mcp.js');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.exit(0); // not installed: the unbundled modules serve
}
if (existsSync(entry)) {
  const common = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    legalComments: 'none',
    charset: 'ascii',
    minifyWhitespace: true,
    minifySyntax: true,
  };
  await esbuild.build({
    ...common,
    entryPoints: [entry],
    outfile,
    define: { 'import.meta.url': '__perimeterModuleUrl' },
    banner: { js: "const __perimeterModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [lazyPackages(LAZY_PACKAGES)],
  });
  await esbuild.build({
    ...common,
    entryPoints: [MCP_ENTRY],
    outfile: join(dirname(outfile), lazyFile('mcp')),
    define: { 'import.meta.url': '__perimeterModuleUrl' },
    banner: { js: "const __perimeterModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [lazyPackages(['yaml', 'tldts'])],
  });
  for (const name of LAZY_PACKAGES) {
    await esbuild.build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: dirname(entry) },
      outfile: join(dirname(outfile), lazyFile(name)),
    });
  }
  const mcpBundle = join(dirname(outfile), lazyFile('mcp'));
  for (const file of [outfile, mcpBundle]) {
    // The shim reads a bundle as Latin-1 (a third of the time UTF-8 decoding takes), which is the
    // same text only while every byte is ASCII: esbuild escapes strings, but not every regex.
    const bytes = readFileSync(file);
    const wide = bytes.findIndex((b) => b > 0x7f);
    if (wide >= 0) {
      console.error(
        `bundle-cli: ${basename(file)} holds a byte that is not ASCII (…${bytes.subarray(Math.max(0, wide - 60), wide + 20).toString('utf8')}…); write that character as a \\u escape`,
      );
      process.exit(1);
    }
    // The shim runs a bundle through node:vm with Node's own loader for import(), which resolves a
    // built-in module but nothing relative to the bundle: load those with createRequire instead
    // (see packages/cli/src/lazy-mcp.ts).
    const dynamic = /[^\w$.]import\((?!"node:[a-z_/]+"\))/.exec(bytes.toString('latin1'));
    if (dynamic) {
      console.error(
        `bundle-cli: ${basename(file)} holds a dynamic import() of something other than a built-in module (…${dynamic.input.slice(Math.max(0, dynamic.index - 60), dynamic.index + 40)}…); load that module with createRequire instead`,
      );
      process.exit(1);
    }
  }
  // The code caches are made by running a representative command once (the shim writes them): for
  // the main bundle a sandboxed `true` where this machine can run one (twice: the second run takes
  // the policy from the checked-policy cache, as every later session does), else a policy test;
  // for the MCP bundle, `perimeter mcp pins list`. Their state goes to a scratch directory, never
  // the user's.
  rmSync(cache, { force: true });
  rmSync(mcpBundle.replace(/\.cjs$/, '.cache'), { force: true });
  const scratch = mkdtempSync(join(tmpdir(), 'perimeter-build-'));
  const run = (args, writeCache) =>
    spawnSync(process.execPath, [join(root, 'packages/cli/bin/perimeter.js'), ...args], {
      cwd: scratch,
      stdio: 'ignore',
      timeout: 60_000,
      env: {
        ...process.env,
        XDG_STATE_HOME: join(scratch, 'state'),
        ...(writeCache ? { PERIMETER_WRITE_CODE_CACHE: writeCache } : {}),
      },
    }).status;
  const session = ['run', '--audit', join(scratch, 'audit.jsonl'), '--', 'true'];
  const sandboxed =
    run(session, undefined) === 0 &&
    run(['run', '--audit', join(scratch, 'audit2.jsonl'), '--', 'true'], 'main') === 0;
  if (!sandboxed) run(['policy', 'test', join(root, 'examples/balanced.yaml')], 'main');
  run(['mcp', 'pins', 'list'], 'mcp');
  rmSync(scratch, { recursive: true, force: true });
}
