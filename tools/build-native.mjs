// Builds the sandbox's in-namespace helper (packages/sandbox/native/init.c) with the system's C
// compiler. Run by `npm run build` (and so by `npm install`). Without a compiler the rest of
// Perimeter still works; `perimeter run` and `perimeter doctor` say what is missing.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'packages/sandbox/native/init.c');
const output = join(root, 'packages/sandbox/native/build/perimeter-init');

const isFresh = existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs;
if (!isFresh) {
  mkdirSync(dirname(output), { recursive: true });
  const flags = ['-O2', '-Wall', '-Wextra', '-o', output, source];
  // Static when the C library allows it, so the helper needs nothing from the sandbox's view.
  let cc = spawnSync('cc', ['-static', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (cc.status !== 0) cc = spawnSync('cc', flags, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (cc.error || cc.status !== 0) {
    const why = cc.error
      ? 'no C compiler (cc) found'
      : String(cc.stderr).trim().split('\n').slice(-3).join(' ');
    console.warn(`perimeter: the sandbox helper was not built (${why}).`);
    console.warn(
      'perimeter: install a C compiler (apt-get install gcc libc6-dev), then run `npm run build`.',
    );
    console.warn('perimeter: everything but `perimeter run` works without it.');
  }
}
