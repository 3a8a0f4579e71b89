// The workload's seccomp filter, as a classic BPF program. Pure: the bytes are generated here and
// loaded by the in-sandbox helper (native/init.c) just before it executes the workload, so the
// bridge helper keeps the AF_UNIX sockets it needs while the workload cannot make any.
//
// Default allow, with an architecture check first (sandbox.md §3.6: blocklists leak without one):
// a foreign ABI (i386 `int 0x80`, x32) is refused outright, which also closes `socketcall`.

/** struct seccomp_data offsets (linux/seccomp.h): nr, arch, instruction pointer, args[6]. */
const NR = 0;
const ARCH = 4;
const argLow = (i: number): number => 16 + 8 * i;

// BPF opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const EPERM = 1;
const ENOSYS = 38;

const AF_UNIX = 1;
const CLONE_NEWUSER = 0x10000000;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
const X32_SYSCALL_BIT = 0x40000000;

export type SeccompArch = 'x64' | 'arm64';

interface ArchTable {
  readonly auditArch: number;
  readonly nr: Readonly<Record<Syscall, number>>;
}

type Syscall =
  | 'socket'
  | 'ioctl'
  | 'ptrace'
  | 'process_vm_readv'
  | 'process_vm_writev'
  | 'unshare'
  | 'clone'
  | 'clone3'
  | 'setns'
  | 'mount'
  | 'umount2'
  | 'pivot_root'
  | 'open_tree'
  | 'move_mount'
  | 'fsopen'
  | 'fsconfig'
  | 'fsmount'
  | 'fspick'
  | 'mount_setattr'
  | 'bpf'
  | 'keyctl'
  | 'add_key'
  | 'request_key'
  | 'perf_event_open'
  | 'kexec_load'
  | 'kexec_file_load'
  | 'init_module'
  | 'finit_module'
  | 'delete_module'
  | 'userfaultfd'
  | 'io_uring_setup'
  | 'io_uring_enter'
  | 'io_uring_register';

// Numbers from arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
const TABLES: Record<SeccompArch, ArchTable> = {
  x64: {
    auditArch: 0xc000003e,
    nr: {
      socket: 41,
      ioctl: 16,
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      unshare: 272,
      clone: 56,
      clone3: 435,
      setns: 308,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      bpf: 321,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      perf_event_open: 298,
      kexec_load: 246,
      kexec_file_load: 320,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      userfaultfd: 323,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
    },
  },
  arm64: {
    auditArch: 0xc00000b7,
    nr: {
      socket: 198,
      ioctl: 29,
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      unshare: 97,
      clone: 220,
      clone3: 435,
      setns: 268,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      bpf: 280,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      perf_event_open: 241,
      kexec_load: 104,
      kexec_file_load: 294,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      userfaultfd: 282,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
    },
  },
};

/** Refused outright with EPERM: tracing, namespaces, mounts, kernel objects, io_uring. */
const DENIED: readonly Syscall[] = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'setns',
  'mount',
  'umount2',
  'pivot_root',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'bpf',
  'keyctl',
  'add_key',
  'request_key',
  'perf_event_open',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
];

/** What the filter refuses, for `perimeter doctor`, the docs and the audit event. */
export const SECCOMP_SUMMARY: readonly string[] = [
  'foreign system-call ABIs (i386, x32; so socketcall too)',
  'socket(AF_UNIX) — the workload cannot reach any Unix socket',
  'ioctl TIOCSTI and TIOCLINUX (terminal injection)',
  'clone and unshare with CLONE_NEWUSER; clone3 (ENOSYS, so libc falls back to clone)',
  ...DENIED.map((s) => s),
];

interface Insn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k });
const jump = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k });

function errno(value: number): Insn {
  return stmt(RET_K, SECCOMP_RET_ERRNO | value);
}

/** The filter's instructions for one architecture. */
export function seccompProgram(arch: SeccompArch): readonly Insn[] {
  const t = TABLES[arch];
  const out: Insn[] = [
    stmt(LD_W_ABS, ARCH),
    jump(JEQ_K, t.auditArch, 1, 0),
    stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
    stmt(LD_W_ABS, NR),
  ];
  if (arch === 'x64') {
    // x32 numbers carry bit 30; they reach the same kernel code under other numbers.
    out.push(jump(JGE_K, X32_SYSCALL_BIT, 0, 1), errno(ENOSYS));
  }
  // Each argument check: if nr matches, load the argument's low word, test it and return a
  // verdict either way. The kernel's ints are 32-bit, so the low word is exactly what it uses
  // (the masked compare of CVE-2019-10063).
  const argCheck = (nr: number, arg: number, test: Insn[], verdict: Insn): void => {
    // nr ≠ → skip the block (load, tests, verdict, allow).
    const block = [stmt(LD_W_ABS, argLow(arg)), ...test, verdict, stmt(RET_K, SECCOMP_RET_ALLOW)];
    out.push(jump(JEQ_K, nr, 0, block.length), ...block);
  };
  // socket(AF_UNIX, …): domain is args[0].
  argCheck(t.nr.socket, 0, [jump(JEQ_K, AF_UNIX, 0, 1)], errno(EPERM));
  // ioctl(fd, TIOCSTI | TIOCLINUX, …): request is args[1].
  argCheck(t.nr.ioctl, 1, [jump(JEQ_K, TIOCSTI, 1, 0), jump(JEQ_K, TIOCLINUX, 0, 1)], errno(EPERM));
  // clone(flags, …) and unshare(flags): a new user namespace is refused.
  for (const nr of [t.nr.clone, t.nr.unshare])
    argCheck(nr, 0, [jump(JSET_K, CLONE_NEWUSER, 0, 1)], errno(EPERM));
  // clone3 hides its flags behind a pointer seccomp cannot read.
  out.push(jump(JEQ_K, t.nr.clone3, 0, 1), errno(ENOSYS));
  for (const name of DENIED) out.push(jump(JEQ_K, t.nr[name], 0, 1), errno(EPERM));
  out.push(stmt(RET_K, SECCOMP_RET_ALLOW));
  return out;
}

/** The filter as the bytes of a `struct sock_filter[]` (little-endian, 8 bytes each). */
export function seccompBytes(arch: SeccompArch): Uint8Array {
  const program = seccompProgram(arch);
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return bytes;
}

export function seccompArch(nodeArch: string): SeccompArch | undefined {
  return nodeArch === 'x64' || nodeArch === 'arm64' ? nodeArch : undefined;
}

/** What the filter answers for one system call: a tiny BPF interpreter, for tests and `doctor`. */
export function evaluateSeccomp(
  program: readonly Insn[],
  data: { readonly arch: number; readonly nr: number; readonly args?: readonly number[] },
): { action: 'allow' | 'kill' | 'errno'; errno?: number } {
  let acc = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const insn = program[pc];
    if (insn === undefined) break;
    switch (insn.code) {
      case LD_W_ABS:
        acc =
          insn.k === NR ? data.nr : insn.k === ARCH ? data.arch : (data.args?.[(insn.k - 16) / 8] ?? 0) >>> 0;
        break;
      case JEQ_K:
        pc += acc === insn.k >>> 0 ? insn.jt : insn.jf;
        break;
      case JGE_K:
        pc += acc >>> 0 >= insn.k >>> 0 ? insn.jt : insn.jf;
        break;
      case JSET_K:
        pc += (acc & insn.k) !== 0 ? insn.jt : insn.jf;
        break;
      case RET_K: {
        const k = insn.k >>> 0;
        if (k === SECCOMP_RET_ALLOW) return { action: 'allow' };
        if (k === SECCOMP_RET_KILL_PROCESS) return { action: 'kill' };
        return { action: 'errno', errno: k & 0xffff };
      }
      default:
        throw new Error(`unknown BPF instruction ${insn.code}`);
    }
  }
  return { action: 'kill' };
}

export { TABLES as SECCOMP_TABLES };
