// A spool on a full disk: a write that only partly fits is cut back, so the spool holds whole
// events only and its chain goes on intact once there is room again (a real, tiny tmpfs: root only).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lifecycleRecord } from '../src/record.js';
import { Spool, SpoolError } from '../src/spool.js';
import { verifySpool } from '../src/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'perimeter-full-disk-'));
const mounted =
  process.getuid?.() === 0 &&
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status === 0;
after(() => {
  if (mounted) spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
});

const ctx = { sessionId: 's-full' };
/** An event of about `bytes` bytes once written. */
const big = (bytes: number) => lifecycleRecord('session.note', ctx, { text: 'x'.repeat(bytes) });

describe('a spool on a full disk', { skip: mounted ? false : 'needs root to mount a small tmpfs' }, () => {
  it('writes whole events or none: a short write is cut back, and the chain goes on once there is room', () => {
    const path = join(dir, 'spool.jsonl');
    const spool = Spool.open(path, { chainId: 's-full' });
    spool.append(lifecycleRecord('session.start', ctx));
    // Fill the disk to within a few hundred bytes of full.
    const filler = join(dir, 'filler');
    const room = 64 * 1024 - statSync(path).size;
    let size = room;
    for (; size > 0; size -= 512) {
      try {
        writeFileSync(filler, Buffer.alloc(size));
        break;
      } catch {
        // too big: try a little less
      }
    }
    const before = readFileSync(path);
    const state = spool.chainState;
    assert.throws(
      () => spool.append(big(8 * 1024)),
      (e: unknown) => e instanceof SpoolError && /ENOSPC/.test(e.message) && /free space/.test(e.hint),
    );
    assert.deepEqual(readFileSync(path), before, 'nothing of the event that did not fit is left');
    assert.deepEqual(spool.chainState, state, 'the chain did not move');
    unlinkSync(filler);
    spool.append(lifecycleRecord('session.end', ctx, { exit_code: 0 }));
    spool.close();
    const check = verifySpool(readFileSync(path, 'utf8'));
    assert.equal(check.isIntact, true, JSON.stringify(check.problems));
    assert.equal(readFileSync(path, 'utf8').trimEnd().split('\n').length, 2);
  });
});
