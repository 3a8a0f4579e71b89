// Perimeter's state directory, ${XDG_STATE_HOME:-~/.local/state}/perimeter: one per user, on disk,
// kept across reboots and logouts (unlike $XDG_RUNTIME_DIR). The CLI keeps its stores there (the
// secret store, spools, pins, the device's state) and the sandbox the ledgers of the mount points
// sessions make on the host; every session's mount plan hides it. Only the path: nothing is made.

import { homedir } from 'node:os';
import { join } from 'node:path';

/** Perimeter's state directory: ${XDG_STATE_HOME:-~/.local/state}/perimeter (sessions hide it). */
export function stateDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  // A relative XDG_STATE_HOME is invalid by the XDG spec and is ignored, as the spec says.
  const base =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/')
      ? env.XDG_STATE_HOME
      : join(homedir(), '.local/state');
  return join(base, 'perimeter');
}
