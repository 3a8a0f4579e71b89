#!/usr/bin/env node
// tsc writes files without the executable bit; npm links workspace bins before `prepare` builds
// them, so the bin targets are made executable here, after every build.
import { chmodSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
for (const pkg of readdirSync(join(root, 'packages'))) {
  const manifest = join(root, 'packages', pkg, 'package.json');
  if (!existsSync(manifest)) continue;
  const bin = JSON.parse(readFileSync(manifest, 'utf8')).bin ?? {};
  for (const target of Object.values(typeof bin === 'string' ? { [pkg]: bin } : bin)) {
    const file = join(root, 'packages', pkg, target);
    if (existsSync(file)) chmodSync(file, 0o755);
  }
}
