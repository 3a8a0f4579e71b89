// Where the native relay (native/relay.c, built by `npm run build`) is. Found by path arithmetic
// from this module (or from the CLI's bundle), else through module resolution.

import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = ((): string => {
  const here = fileURLToPath(import.meta.url);
  const own = here.lastIndexOf('/packages/egress/dist/');
  if (own >= 0) return here.slice(0, own + '/packages/egress'.length);
  const cli = here.lastIndexOf('/packages/cli/dist/');
  if (cli >= 0) return `${here.slice(0, cli)}/packages/egress`;
  return dirname(createRequire(import.meta.url).resolve('@perimeter/egress/package.json'));
})();

export const RELAY_PATH = join(PACKAGE_ROOT, 'native', 'build', 'perimeter-relay');

let isBuilt: boolean | undefined;
export function isRelayBuilt(): boolean {
  if (isBuilt === undefined) {
    try {
      accessSync(RELAY_PATH, constants.X_OK);
      isBuilt = true;
    } catch {
      isBuilt = false;
    }
  }
  return isBuilt;
}
