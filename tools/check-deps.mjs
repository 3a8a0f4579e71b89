#!/usr/bin/env node
// Makes DESIGN.md's "may depend on" table executable: every import in packages/*/src must point
// down the table, and the pure packages (policy, detect) must not reach Node's I/O at all, not even
// through a third-party module. Prints one line per violation; exits 1 if there is any.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { NODE_IO_MODULES } from './node-io.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const MAY_DEPEND = {
  policy: [],
  detect: [],
  audit: ['policy'],
  egress: ['policy', 'detect', 'audit'],
  sandbox: ['policy', 'audit'],
  mcp: ['policy', 'detect', 'audit'],
  server: ['policy', 'audit'],
  console: [],
  cli: ['policy', 'detect', 'audit', 'egress', 'sandbox', 'mcp', 'server'],
};
const PURE = new Set(['policy', 'detect']);
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

const problems = [];
const importsOf = (file) => [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
const walk = (dir, out = []) => {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (/\.(ts|tsx|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
};
const isBuiltin = (spec) => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]);
// What "I/O" means for a third-party dependency of a pure package (reading process.env for a
// warning switch, or Buffer, is not I/O).
const IO = new Set(NODE_IO_MODULES);
const isIo = (spec) => IO.has(spec.replace(/^node:/, '').split('/')[0]);

for (const pkg of readdirSync(join(root, 'packages'))) {
  const src = join(root, 'packages', pkg, 'src');
  if (!existsSync(src)) continue;
  const allowed = MAY_DEPEND[pkg];
  if (!allowed) {
    problems.push(
      `packages/${pkg}: not a part of DESIGN.md; add it to the table in DESIGN.md and tools/check-deps.mjs`,
    );
    continue;
  }
  for (const file of walk(src)) {
    for (const spec of importsOf(file)) {
      const where = relative(root, file);
      if (spec.startsWith('@perimeter/')) {
        const target = spec.slice('@perimeter/'.length).split('/')[0];
        if (spec.split('/').length > 2)
          problems.push(`${where}: imports ${spec}, another package's internals; import its index`);
        if (target !== pkg && !allowed.includes(target))
          problems.push(`${where}: ${pkg} may not depend on ${target} (DESIGN.md)`);
      } else if (PURE.has(pkg) && isBuiltin(spec)) {
        problems.push(`${where}: ${pkg} is pure but imports ${spec}`);
      } else if (spec.startsWith('.') && spec.includes('/packages/')) {
        problems.push(`${where}: reaches into another package by relative path (${spec})`);
      }
    }
  }
}

// The pure packages' third-party dependencies must be pure too: follow their import graphs.
for (const pkg of PURE) {
  const manifest = join(root, 'packages', pkg, 'package.json');
  if (!existsSync(manifest)) continue;
  const deps = Object.keys(JSON.parse(readFileSync(manifest, 'utf8')).dependencies ?? {});
  const require = createRequire(manifest);
  for (const dep of deps) {
    let entry;
    try {
      entry = require.resolve(dep);
    } catch {
      const esm = join(root, 'node_modules', dep, 'package.json');
      if (!existsSync(esm)) {
        problems.push(`packages/${pkg}: dependency ${dep} is not installed; run npm install`);
        continue;
      }
      const meta = JSON.parse(readFileSync(esm, 'utf8'));
      entry = join(dirname(esm), meta.module ?? meta.main ?? 'index.js');
    }
    const seen = new Set();
    const queue = [entry];
    while (queue.length > 0 && seen.size < 5000) {
      const file = queue.pop();
      if (seen.has(file) || !existsSync(file)) continue;
      seen.add(file);
      for (const spec of importsOf(file)) {
        if (isIo(spec))
          problems.push(`packages/${pkg}: dependency ${dep} imports ${spec} (${relative(root, file)})`);
        else if (spec.startsWith('.')) {
          const next = resolve(dirname(file), spec);
          queue.push(
            existsSync(next) && statSync(next).isFile()
              ? next
              : ([`${next}.js`, `${next}.cjs`, join(next, 'index.js')].find(existsSync) ?? next),
          );
        }
      }
      for (const m of readFileSync(file, 'utf8').matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        if (isIo(m[1]))
          problems.push(`packages/${pkg}: dependency ${dep} requires ${m[1]} (${relative(root, file)})`);
        else if (m[1].startsWith('.')) {
          const next = resolve(dirname(file), m[1]);
          queue.push(
            [next, `${next}.js`, join(next, 'index.js')].find((f) => existsSync(f) && statSync(f).isFile()) ??
              next,
          );
        }
      }
    }
  }
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-deps: ${p}`);
  process.exit(1);
}
console.log('check-deps: package boundaries hold (DESIGN.md), pure packages import no Node I/O');
