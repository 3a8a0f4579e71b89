// replaceFile: a file replaced whole, 0600, with no temporary left beside it, whether the write
// went through or failed.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { replaceFile } from '../src/replace-file.js';

function dirOf(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-replace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

it('replaces a file whole, 0600, and leaves nothing beside it', (t) => {
  const dir = dirOf(t);
  const file = join(dir, 'store.json');
  writeFileSync(file, 'old\n', { mode: 0o644 });
  replaceFile(file, 'new\n');
  assert.equal(readFileSync(file, 'utf8'), 'new\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['store.json']);
});

it('a write that fails leaves what was there and no temporary, and throws the errno error as it came', (t) => {
  const dir = dirOf(t);
  // A directory with something in it at the name: the rename fails, after the temporary was written.
  const blocked = join(dir, 'store.json');
  mkdirSync(join(blocked, 'inside'), { recursive: true });
  assert.throws(
    () => replaceFile(blocked, 'new\n'),
    (e: NodeJS.ErrnoException) => e.code === 'EISDIR',
  );
  assert.deepEqual(readdirSync(dir), ['store.json']);
  assert.deepEqual(readdirSync(blocked), ['inside']);
});
