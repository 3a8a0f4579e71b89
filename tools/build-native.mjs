// Builds the native helpers with the system's C compiler: the sandbox's in-namespace helper
// (packages/sandbox/native/init.c) and the egress proxy's native relay (packages/egress/native/
// relay.c). Run by `npm run build` (and so by `npm install`). Without a compiler the rest of
// Perimeter still works; `perimeter run` and `perimeter doctor` say what is missing.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HELPERS = [
  { source: 'packages/sandbox/native/init.c', output: 'packages/sandbox/native/build/perimeter-init' },
  { source: 'packages/egress/native/relay.c', output: 'packages/egress/native/build/perimeter-relay' },
];

for (const helper of HELPERS) {
  const source = join(root, helper.source);
  const output = join(root, helper.output);
  const isFresh = existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs;
  if (isFresh) continue;
  mkdirSync(dirname(output), { recursive: true });
  // A failed build must leave no helper from an older source behind (a relay that takes its
  // sockets elsewhere would cut every tunnel it is handed; without one, Node carries them).
  rmSync(output, { force: true });
  const flags = ['-O2', '-Wall', '-Wextra', '-o', output, source];
  // Static when the C library allows it, so the helper needs nothing from the sandbox's view.
  let cc = spawnSync('cc', ['-static', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (cc.status !== 0) cc = spawnSync('cc', flags, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (cc.error || cc.status !== 0) {
    const why = cc.error
      ? 'no C compiler (cc) found'
      : String(cc.stderr).trim().split('\n').slice(-3).join(' ');
    console.warn(`perimeter: ${helper.output} was not built (${why}).`);
    console.warn(
      'perimeter: install a C compiler (apt-get install gcc libc6-dev), then run `npm run build`.',
    );
    console.warn(
      'perimeter: `perimeter run` needs the sandbox helper; the egress proxy relays in JavaScript without its own.',
    );
  }
}
