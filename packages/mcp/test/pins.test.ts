// The pin store's writes: a definition already held as it is, and one already remembered, are not
// written again (a listing asks for both for every held and every accepted tool, every time).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PinStore, type PendingDefinition } from '../src/pins.js';

const dir = mkdtempSync(join(tmpdir(), 'perimeter-pins-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const held: PendingDefinition = {
  hash: 'sha256:aa',
  definition: { name: 't', description: 'A tool.' },
  seenAt: '2026-01-01T00:00:00.000Z',
  reason: 'new tool waiting for approval',
  diff: ['new tool'],
};

function identity(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
}

test('holding a definition that is already held, for the same reason, does not rewrite the file', () => {
  const store = new PinStore(join(dir, 'hold.json'));
  assert.equal(store.hold('s', 't', held), true);
  const before = identity(store.file);
  assert.equal(store.hold('s', 't', { ...held, seenAt: '2026-01-02T00:00:00.000Z' }), false);
  assert.equal(identity(store.file), before, 'not replaced, not written');
  assert.equal(
    store.hold('s', 't', { ...held, reason: 'quarantined: instruction-tag in description' }),
    true,
  );
  assert.notEqual(identity(store.file), before, 'a new reason is written');
});

test('a view reads the whole store once, and its version changes with every write', () => {
  const store = new PinStore(join(dir, 'view.json'));
  const empty = store.view();
  assert.equal(empty.version, store.version());
  store.hold('s', 't', held);
  const view = store.view();
  assert.notEqual(view.version, empty.version);
  assert.equal(view.pending.s?.t?.hash, 'sha256:aa');
  assert.equal(store.version(), view.version, 'nothing written since');
  store.approve('s', 't');
  assert.notEqual(store.version(), view.version, 'an approval is a new version');
  assert.equal(store.view().approved.s?.t?.by, 'user');
});
