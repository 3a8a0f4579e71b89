// Bundles the compiled CLI (packages/cli/dist/src/main.js and everything it imports) into one
// CommonJS file next to it, plus a V8 code cache for it, so `perimeter` starts without resolving
// and compiling a hundred modules: every `perimeter run` pays its start-up. The bundle sits in the
// same directory as main.js, so paths the code derives from its own location stay true. Without
// esbuild (a production install) the shim uses the unbundled modules.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
const lazyPackages = {
  name: 'lazy-packages',
  setup(build) {
    const filter = new RegExp(`^(${LAZY_PACKAGES.join('|')})$`);
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
};

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
    plugins: [lazyPackages],
  });
  for (const name of LAZY_PACKAGES) {
    await esbuild.build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: dirname(entry) },
      outfile: join(dirname(outfile), lazyFile(name)),
    });
  }
  // The shim reads the bundle as Latin-1 (a third of the time UTF-8 decoding takes), which is the
  // same text only while every byte is ASCII: esbuild escapes strings, but not every regex.
  const bytes = readFileSync(outfile);
  const wide = bytes.findIndex((b) => b > 0x7f);
  if (wide >= 0) {
    console.error(
      `bundle-cli: the bundle holds a byte that is not ASCII (…${bytes.subarray(Math.max(0, wide - 60), wide + 20).toString('utf8')}…); write that character as a \\u escape`,
    );
    process.exit(1);
  }
  // The shim runs the bundle through node:vm, which gives a dynamic import() no loader: it would
  // throw at run time ("A dynamic import callback was not specified"), only where the bundle is
  // used. Load lazily with createRequire instead (see packages/cli/src/lazy-mcp.ts).
  const dynamic = /[^\w$.]import\(/.exec(bytes.toString('latin1'));
  if (dynamic) {
    console.error(
      `bundle-cli: the bundle holds a dynamic import() (…${dynamic.input.slice(Math.max(0, dynamic.index - 60), dynamic.index + 40)}…); load that module with createRequire instead`,
    );
    process.exit(1);
  }
  // The code cache is made by running a representative command once (the shim writes it): a
  // sandboxed `true` where this machine can run one (twice: the second run takes the policy from
  // the checked-policy cache, as every later session does), else a policy test. Its state goes to
  // a scratch directory, never the user's.
  rmSync(cache, { force: true });
  const scratch = mkdtempSync(join(tmpdir(), 'perimeter-build-'));
  const run = (args, writeCache) =>
    spawnSync(process.execPath, [join(root, 'packages/cli/bin/perimeter.js'), ...args], {
      cwd: scratch,
      stdio: 'ignore',
      timeout: 60_000,
      env: {
        ...process.env,
        XDG_STATE_HOME: join(scratch, 'state'),
        ...(writeCache ? { PERIMETER_WRITE_CODE_CACHE: '1' } : {}),
      },
    }).status;
  const session = ['run', '--audit', join(scratch, 'audit.jsonl'), '--', 'true'];
  const sandboxed =
    run(session, false) === 0 &&
    run(['run', '--audit', join(scratch, 'audit2.jsonl'), '--', 'true'], true) === 0;
  if (!sandboxed) run(['policy', 'test', join(root, 'examples/balanced.yaml')], true);
  rmSync(scratch, { recursive: true, force: true });
}
