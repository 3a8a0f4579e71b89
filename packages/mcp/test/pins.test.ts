// The pin store's writes: a definition already held as it is, and one already remembered, are not
// written again (a listing asks for both for every held and every accepted tool, every time); a
// listing's changes are one write; the keys of prompts, resources and templates, and the approve
// command printed for each.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { approveCommand, pinKey, PinStore, type PendingDefinition } from '../src/pins.js';

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

/** Holds a definition back, as a listing does: how many changes were written (0: already held so). */
function hold(store: PinStore, definition: PendingDefinition): number {
  return store.apply([{ op: 'hold', server: 's', key: 't', held: definition }]);
}

function identity(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
}

test('holding a definition that is already held, for the same reason, does not rewrite the file', () => {
  const store = new PinStore(join(dir, 'hold.json'));
  assert.equal(hold(store, held), 1);
  const before = identity(store.file);
  assert.equal(hold(store, { ...held, seenAt: '2026-01-02T00:00:00.000Z' }), 0);
  assert.equal(identity(store.file), before, 'not replaced, not written');
  assert.equal(hold(store, { ...held, reason: 'quarantined: instruction-tag in description' }), 1);
  assert.notEqual(identity(store.file), before, 'a new reason is written');
});

test('a view reads the whole store once, and its version changes with every write', () => {
  const store = new PinStore(join(dir, 'view.json'));
  const empty = store.view();
  assert.equal(empty.version, store.version());
  hold(store, held);
  const view = store.view();
  assert.notEqual(view.version, empty.version);
  assert.equal(view.pending.s?.t?.hash, 'sha256:aa');
  assert.equal(store.version(), view.version, 'nothing written since');
  store.approve('s', 't');
  assert.notEqual(store.version(), view.version, 'an approval is a new version');
  assert.equal(store.view().approved.s?.t?.by, 'user');
});

test("a listing's changes are written at once, and changes that change nothing are not written", () => {
  const store = new PinStore(join(dir, 'apply.json'));
  const known = { hash: 'sha256:bb', definition: { name: 'u' } };
  const made = store.apply([
    { op: 'trust', server: 's', key: 'u', hash: 'sha256:bb' },
    { op: 'remember', server: 's', key: 'u', known },
    { op: 'hold', server: 's', key: 'prompt:p', held },
  ]);
  assert.equal(made, 3);
  const view = store.view();
  assert.equal(view.approved.s?.u?.by, 'tofu');
  assert.equal(view.known.s?.u?.hash, 'sha256:bb');
  assert.equal(view.pending.s?.['prompt:p']?.hash, 'sha256:aa');
  const before = identity(store.file);
  assert.equal(
    store.apply([
      { op: 'trust', server: 's', key: 'u', hash: 'sha256:cc' },
      { op: 'remember', server: 's', key: 'u', known },
      { op: 'hold', server: 's', key: 'prompt:p', held: { ...held, seenAt: '2026-02-01T00:00:00.000Z' } },
      { op: 'release', server: 's', key: 'nothing-held' },
    ]),
    0,
  );
  assert.equal(identity(store.file), before, 'nothing to change: not written');
  assert.equal(store.view().approved.s?.u?.hash, 'sha256:bb', 'trust on first use never replaces a pin');
  store.apply([{ op: 'release', server: 's', key: 'prompt:p' }]);
  assert.deepEqual(store.view().pending, {});
});

test('tools keep their names as keys; prompts, resources and templates are keyed by kind, and the approve command quotes what a shell would read', () => {
  assert.equal(pinKey('tools', { name: 'read_file' }), 'read_file');
  assert.equal(pinKey('prompts', { name: 'plan' }), 'prompt:plan');
  assert.equal(pinKey('resources', { name: 'notes', uri: 'file:///notes' }), 'resource:file:///notes');
  assert.equal(pinKey('templates', { name: 'n', uriTemplate: 'notes://{id}' }), 'template:notes://{id}');
  assert.equal(approveCommand('fs', 'read_file'), 'perimeter mcp pins approve fs read_file');
  assert.equal(
    approveCommand('fs', 'resource:file:///notes'),
    'perimeter mcp pins approve fs resource:file:///notes',
  );
  assert.equal(
    approveCommand('s', "template:q://{id}?a=b&c=it's"),
    `perimeter mcp pins approve s 'template:q://{id}?a=b&c=it'\\''s'`,
  );
});
