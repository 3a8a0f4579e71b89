// stateDir: Perimeter's state directory, the same for the CLI's stores and the sandbox's registry
// of placeholders: $XDG_STATE_HOME/perimeter when it is absolute, else ~/.local/state/perimeter.

import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { stateDir } from '../src/state-dir.js';

it('is under an absolute XDG_STATE_HOME, else under ~/.local/state (a relative one is invalid by the XDG spec)', () => {
  const fallback = join(homedir(), '.local/state/perimeter');
  const cases: [Record<string, string | undefined>, string][] = [
    [{ XDG_STATE_HOME: '/var/lib/alice/state' }, '/var/lib/alice/state/perimeter'],
    [{ XDG_STATE_HOME: 'state' }, fallback],
    [{ XDG_STATE_HOME: '' }, fallback],
    [{}, fallback],
  ];
  for (const [env, want] of cases) assert.equal(stateDir(env), want, JSON.stringify(env));
});
