// The session's resource limits (sandbox.md case 57): defaults, what the helper is told, where
// the machine's cgroups are, and when a limit the policy sets cannot hold.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cgroupTargets, createSessionCgroup, removeSessionCgroup } from '../src/cgroup.js';
import { describeLimits, effectiveLimits, heldBy, limitArgs, unenforceable } from '../src/limits.js';

const GiB = 2 ** 30;

describe('effectiveLimits', () => {
  it('defaults to 8192 processes and a 2 GiB /tmp, or a quarter of memory when that is less', () => {
    assert.deepEqual(effectiveLimits({}, 64 * GiB), {
      processes: 8192,
      tmpBytes: 2 * GiB,
      isProcessesSet: false,
    });
    assert.equal(effectiveLimits({}, 4 * GiB).tmpBytes, GiB);
  });

  it('takes what the policy sets, and remembers that it set the process cap', () => {
    const l = effectiveLimits(
      { processes: 64, tmpBytes: 1e6, openFiles: 256, fileSizeBytes: 1e8, memoryBytes: GiB },
      GiB,
    );
    assert.deepEqual(l, {
      processes: 64,
      tmpBytes: 1e6,
      openFiles: 256,
      fileSizeBytes: 1e8,
      memoryBytes: GiB,
      isProcessesSet: true,
    });
    assert.deepEqual(limitArgs(l), [
      '--limit',
      'nproc=64',
      '--limit',
      'nofile=256',
      '--limit',
      'fsize=100000000',
    ]);
  });
});

describe('unenforceable', () => {
  const none = { isRoot: false, pidsCgroup: false, memoryCgroup: false };

  it('redteam-57: a memory cap without a memory cgroup is held by the helper: RLIMIT_DATA per process and a watch of the total', () => {
    const limits = effectiveLimits({ memoryBytes: GiB }, GiB);
    assert.equal(unenforceable(limits, none), undefined);
    const held = heldBy(limits, none);
    assert.equal(held.memoryHeldBy, 'helper');
    assert.deepEqual(limitArgs(held).slice(-4), ['--limit', `data=${GiB}`, '--memory-watch', `${GiB},100`]);
    assert.match(
      describeLimits(held, none),
      /memory 1 GiB \(no memory cgroup: each process by RLIMIT_DATA, all together checked every 100 ms\)$/,
    );
    // With a memory cgroup the cgroup holds it, and the helper is told nothing of memory.
    const cgroup = heldBy(limits, { ...none, memoryCgroup: true });
    assert.equal(cgroup.memoryHeldBy, 'cgroup');
    assert.ok(!limitArgs(cgroup).includes('--memory-watch'));
    assert.match(describeLimits(cgroup, none), /memory 1 GiB \(cgroup\)$/);
  });

  it('a process cap the policy sets refuses a root session without a pids cgroup (root ignores RLIMIT_NPROC)', () => {
    const limits = effectiveLimits({ processes: 64 }, GiB);
    assert.match(
      unenforceable(limits, { ...none, isRoot: true })?.message ?? '',
      /does not enforce for root/,
    );
    assert.equal(unenforceable(limits, { ...none, isRoot: true, pidsCgroup: true }), undefined);
    assert.equal(unenforceable(limits, none), undefined, 'an ordinary user is held by RLIMIT_NPROC');
  });

  it('the default process cap is best effort, and the start event says when it does not hold', () => {
    const limits = effectiveLimits({}, GiB);
    const how = { ...none, isRoot: true };
    assert.equal(unenforceable(limits, how), undefined);
    assert.match(describeLimits(limits, how), /^processes not capped \(root, and no pids cgroup\)/);
    assert.match(
      describeLimits(limits, none),
      /^8192 processes and threads; \/tmp and \/dev\/shm 256 MiB each/,
    );
  });
});

describe('cgroupTargets', () => {
  const HYBRID_MOUNTS = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');

  it('cgroup v1 (hybrid): the pids and memory hierarchies, each at this process’s own cgroup', () => {
    const procs = ['8:pids:/', '4:memory:/process_api/abc', '1:cpu:/', '0::/'].join('\n');
    assert.deepEqual(cgroupTargets(HYBRID_MOUNTS, procs), [
      { version: 1, controllers: ['memory'], parent: '/sys/fs/cgroup/memory/process_api/abc' },
      { version: 1, controllers: ['pids'], parent: '/sys/fs/cgroup/pids' },
    ]);
  });

  it('cgroup v2: the unified hierarchy at this process’s cgroup', () => {
    const mounts = '29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
    assert.deepEqual(cgroupTargets(mounts, '0::/user.slice/user-1000.slice/app.slice/term.scope\n'), [
      {
        version: 2,
        controllers: ['pids', 'memory'],
        parent: '/sys/fs/cgroup/user.slice/user-1000.slice/app.slice/term.scope',
      },
    ]);
  });

  it('a mount of a subtree (a container’s cgroup namespace) maps paths inside it, and skips ones outside', () => {
    const mounts = '29 23 0:26 /docker/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw';
    assert.deepEqual(cgroupTargets(mounts, '0::/docker/c1/app\n'), [
      { version: 2, controllers: ['pids', 'memory'], parent: '/sys/fs/cgroup/app' },
    ]);
    assert.deepEqual(cgroupTargets(mounts, '0::/elsewhere\n'), []);
  });

  it('no cgroup mounts: nothing', () => {
    assert.deepEqual(cgroupTargets('22 1 0:21 / /proc rw - proc proc rw', '0::/\n'), []);
  });
});

describe('createSessionCgroup', () => {
  /** A stand-in hierarchy in a temp dir: plain files where the kernel has its control files. */
  function fakeHierarchy(v2Controllers?: string): { root: string; cleanup: () => void } {
    const root = mkdtempSync(join(tmpdir(), 'perimeter-cgroup-'));
    if (v2Controllers !== undefined) writeFileSync(join(root, 'cgroup.subtree_control'), v2Controllers);
    return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
  }

  it('writes pids.max and the memory cap into a new cgroup under this one, and removes it again', () => {
    const h = fakeHierarchy('pids memory');
    try {
      const cg = createSessionCgroup({ name: 't1', processes: 64, memoryBytes: GiB }, [
        { version: 2, controllers: ['pids', 'memory'], parent: h.root },
      ]);
      assert.ok(cg);
      const dir = join(h.root, 'perimeter-t1');
      assert.deepEqual(cg.procs, [join(dir, 'cgroup.procs')]);
      assert.deepEqual([...cg.caps].sort(), ['memory', 'pids']);
      assert.equal(readFileSync(join(dir, 'pids.max'), 'utf8'), '64');
      assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(GiB));
      // A real cgroup's control files go with it; here they are plain files to clear first.
      for (const f of ['pids.max', 'memory.max']) rmSync(join(dir, f));
      removeSessionCgroup(cg);
      assert.throws(() => statSync(dir), /ENOENT/);
    } finally {
      h.cleanup();
    }
  });

  it('makes no memory cgroup when memory is not capped (each one costs the launch time to make and remove)', () => {
    const pids = fakeHierarchy();
    const memory = fakeHierarchy();
    try {
      const cg = createSessionCgroup({ name: 't4', processes: 64 }, [
        { version: 1, controllers: ['pids'], parent: pids.root },
        { version: 1, controllers: ['memory'], parent: memory.root },
      ]);
      assert.ok(cg);
      assert.deepEqual([...cg.caps], ['pids']);
      assert.deepEqual(cg.dirs, [join(pids.root, 'perimeter-t4')]);
      assert.throws(() => statSync(join(memory.root, 'perimeter-t4')), /ENOENT/);
    } finally {
      pids.cleanup();
      memory.cleanup();
    }
  });

  it('cgroup v2 without the controllers delegated: none made (never enabled on someone else’s cgroup)', () => {
    const h = fakeHierarchy('cpu io');
    try {
      const cg = createSessionCgroup({ name: 't2', processes: 64 }, [
        { version: 2, controllers: ['pids', 'memory'], parent: h.root },
      ]);
      assert.equal(cg, undefined);
    } finally {
      h.cleanup();
    }
  });

  it('an unwritable parent: none made', () => {
    assert.equal(
      createSessionCgroup({ name: 't3', processes: 64 }, [
        { version: 1, controllers: ['pids'], parent: '/proc/definitely-not-a-cgroup' },
      ]),
      undefined,
    );
  });

  it('a stale session cgroup of a killed supervisor is removed when empty; a live one stays', () => {
    const h = fakeHierarchy();
    try {
      mkdirSync(join(h.root, 'perimeter-stale'));
      const old = new Date(Date.now() - 120_000);
      setTimes(join(h.root, 'perimeter-stale'), old);
      mkdirSync(join(h.root, 'perimeter-busy'));
      writeFileSync(join(h.root, 'perimeter-busy', 'cgroup.procs'), '123'); // not empty: rmdir fails
      setTimes(join(h.root, 'perimeter-busy'), old);
      const cg = createSessionCgroup({ name: 't4', processes: 64 }, [
        { version: 1, controllers: ['pids'], parent: h.root },
      ]);
      assert.ok(cg);
      assert.throws(() => readFileSync(join(h.root, 'perimeter-stale')), /ENOENT/);
      assert.equal(readFileSync(join(h.root, 'perimeter-busy', 'cgroup.procs'), 'utf8'), '123');
    } finally {
      h.cleanup();
    }
  });
});

function setTimes(path: string, when: Date): void {
  utimesSync(path, when, when);
}
