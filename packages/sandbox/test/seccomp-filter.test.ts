// The workload's seccomp program, run through a BPF interpreter: what each system call gets.
// The same filter is exercised for real inside bubblewrap by the red-team suite.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evaluateSeccomp,
  seccompBytes,
  seccompProgram,
  SECCOMP_TABLES,
  type SeccompArch,
} from '../src/seccomp.js';

const EPERM = 1;
const ENOSYS = 38;

for (const arch of ['x64', 'arm64'] as const satisfies readonly SeccompArch[]) {
  const table = SECCOMP_TABLES[arch];
  const program = seccompProgram(arch);
  const call = (name: keyof typeof table.nr, ...args: number[]) =>
    evaluateSeccomp(program, { arch: table.auditArch, nr: table.nr[name], args });

  describe(`seccomp filter (${arch})`, () => {
    it('redteam-19 kills a foreign architecture (i386 int 0x80, so socketcall too)', () => {
      assert.deepEqual(evaluateSeccomp(program, { arch: 0x40000003, nr: 102, args: [1, 0] }), {
        action: 'kill',
      });
    });

    it('redteam-17 refuses socket(AF_UNIX) and allows AF_INET / AF_INET6', () => {
      assert.deepEqual(call('socket', 1, 1, 0), { action: 'errno', errno: EPERM });
      assert.deepEqual(call('socket', 2, 1, 0), { action: 'allow' });
      assert.deepEqual(call('socket', 10, 1, 0), { action: 'allow' });
    });

    it('redteam-50 refuses TIOCSTI and TIOCLINUX, comparing only the low 32 bits', () => {
      assert.deepEqual(call('ioctl', 0, 0x5412), { action: 'errno', errno: EPERM });
      assert.deepEqual(call('ioctl', 0, 0x541c), { action: 'errno', errno: EPERM });
      // TCGETS, the call every terminal program makes, passes.
      assert.deepEqual(call('ioctl', 0, 0x5401), { action: 'allow' });
    });

    it('redteam-51 refuses new user namespaces through clone and unshare; clone3 gets ENOSYS', () => {
      assert.deepEqual(call('unshare', 0x10000000), { action: 'errno', errno: EPERM });
      assert.deepEqual(call('clone', 0x10000000 | 0x11), { action: 'errno', errno: EPERM });
      assert.deepEqual(call('clone', 0x01200011), { action: 'allow' }); // what fork() passes
      assert.deepEqual(call('clone3'), { action: 'errno', errno: ENOSYS });
    });

    it('redteam-20 redteam-21 redteam-52 refuse io_uring, ptrace, process_vm_* and mount', () => {
      for (const name of [
        'io_uring_setup',
        'io_uring_enter',
        'io_uring_register',
        'ptrace',
        'process_vm_readv',
        'process_vm_writev',
        'mount',
        'umount2',
        'bpf',
        'keyctl',
        'setns',
      ] as const)
        assert.deepEqual(call(name), { action: 'errno', errno: EPERM }, name);
    });

    it('allows ordinary system calls', () => {
      // read/write/openat on either table.
      for (const nr of arch === 'x64' ? [0, 1, 257, 59] : [63, 64, 56, 221])
        assert.deepEqual(evaluateSeccomp(program, { arch: table.auditArch, nr }), { action: 'allow' });
    });

    it('serialises to struct sock_filter bytes', () => {
      const bytes = seccompBytes(arch);
      assert.equal(bytes.length, program.length * 8);
      assert.ok(program.length < 255, 'jump offsets fit in a byte');
    });
  });
}

it('redteam-19 refuses x32 system-call numbers on x86-64', () => {
  const t = SECCOMP_TABLES.x64;
  assert.deepEqual(
    evaluateSeccomp(seccompProgram('x64'), { arch: t.auditArch, nr: 0x40000000 + 41, args: [1] }),
    {
      action: 'errno',
      errno: ENOSYS,
    },
  );
});
