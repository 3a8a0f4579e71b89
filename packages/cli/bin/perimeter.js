#!/usr/bin/env node
// The `perimeter` executable. A committed file, so npm can link it before the TypeScript is built;
// the command itself is in ../dist (built by `npm install` through the root `prepare` script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'perimeter: the command is not built yet\n  run "npm install" (or "npm run build") in the repository root\n',
  );
  process.exit(3);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
