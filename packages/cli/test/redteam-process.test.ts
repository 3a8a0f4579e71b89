// Red-team cases 50–58 of research sandbox.md §4 (process, kernel and namespace): terminal
// injection, nested namespaces, mounts, signals, setuid, exec tricks, outliving the session,
// resource exhaustion and the inherited environment. Kernel-enforced cases are asserted on the
// workload's failed call and on session.start naming the protection; the session must still end
// normally, with its exit code in session.end.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  PROBE_SKIP,
  SANDBOX_SKIP,
  SECRET,
  assertEndedNormally,
  assertFailed,
  assertMountDenied,
  assertNetworkDenied,
  assertNoLeak,
  assertStartLists,
  attempts,
  eventually,
  fixture,
  gitRepo,
  hostProbe,
  installProbe,
  networkEvents,
  origin,
  policyYaml,
  runSession,
  show,
  trap,
  type Fixture,
  type Origin,
} from './sandbox-harness.js';
import { BIN } from './cli-harness.js';

const skip = SANDBOX_SKIP;
const skipProbe = SANDBOX_SKIP || PROBE_SKIP;
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

/** Host processes whose command line contains `text` (read from the host's /proc). */
function hostProcessesWith(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text)) found.push(pid);
    } catch {
      // gone
    }
  }
  return found;
}

void test(
  'redteam-50 TIOCSTI and TIOCLINUX on the terminal are refused (including the 64-bit request trick)',
  {
    skip: skipProbe || (HAS_SCRIPT ? false : 'script(1) is missing: no pseudo-terminal to inject into'),
  },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    // The control: on this host, outside the sandbox, the same call pushes a byte into the terminal.
    const control = spawnSync('script', ['-qefc', `${join(f.workspace, 'probe')} tiocsti`, '/dev/null'], {
      encoding: 'utf8',
    });
    if (/tiocsti: OK/.test(control.stdout)) t.diagnostic('control: TIOCSTI works on the host terminal');
    else t.diagnostic(`control: the host refuses TIOCSTI too (${control.stdout.trim()})`);
    const s = await runSession(
      f,
      [
        'test -t 0 && echo "stdin is a terminal"',
        './probe tiocsti',
        './probe tiocsti-high',
        './probe tioclinux',
        `python3 -c "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSTI, b'#')" 2>&1 | tail -1`,
        'true',
      ].join('\n'),
      { tty: true },
    );
    assert.match(s.stdout, /stdin is a terminal/, show(s));
    assert.match(s.stdout, /tiocsti: FAIL EPERM/);
    assert.match(s.stdout, /tiocsti-high: FAIL EPERM/);
    assert.match(s.stdout, /tioclinux: FAIL EPERM/);
    assert.match(s.stdout, /PermissionError: \[Errno 1\] Operation not permitted/);
    assertEndedNormally(s);
    assertStartLists(s, 'seccomp', 'TIOCSTI and TIOCLINUX');
  },
);

void test(
  'redteam-51 nested user namespaces (unshare -Ur, clone, clone3, a nested bwrap) are refused',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    assert.match(hostProbe(['unshare-user']), /unshare-user: OK/, 'control: the host may create one');
    const s = await runSession(
      f,
      [
        './probe unshare-user',
        './probe clone-newuser',
        './probe clone3',
        './probe unshare-net',
        'unshare -Ur true; echo "unshare=$?"',
        '/usr/bin/bwrap --ro-bind / / true; echo "bwrap=$?"',
        'true',
      ].join('\n'),
    );
    assert.match(s.stdout, /unshare-user: FAIL EPERM/, show(s));
    assert.match(s.stdout, /clone-newuser: FAIL EPERM/);
    assert.match(s.stdout, /clone3: FAIL ENOSYS/, 'clone3 hides its flags: refused outright');
    assert.match(s.stdout, /unshare-net: FAIL EPERM/);
    assert.match(s.stdout, /unshare=1/);
    assert.match(s.stdout, /bwrap=1/);
    assertEndedNormally(s);
    assertStartLists(s, 'seccomp', 'CLONE_NEWUSER');
    assertStartLists(s, 'namespaces', /nested user namespaces (disabled|refused)/);
  },
);

void test(
  'redteam-52 protective mounts cannot be unmounted, covered or remounted writable',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    installProbe(f);
    const hooks = join(f.workspace, '.git/hooks');
    const s = await runSession(
      f,
      [
        `umount ${hooks}; echo "umount=$?"`,
        `./probe umount ${hooks}`,
        `./probe mount-bind /tmp ${hooks}`,
        `./probe remount-rw ${hooks}`,
        `./probe open_tree ${hooks}`,
        'mount -o remount,rw /; echo "remount=$?"',
        'echo x > .git/hooks/pre-commit; echo "write=$?"',
      ].join('\n'),
    );
    assert.match(s.stdout, /umount=(1|32)/, show(s));
    for (const call of ['umount', 'mount-bind', 'remount-rw', 'open_tree'])
      assert.match(s.stdout, new RegExp(`${call}: FAIL EPERM`), call);
    assert.match(s.stdout, /remount=(1|32)/);
    assert.match(s.stdout, /write=1/, 'the hooks are still read-only');
    assert.ok(!existsSync(join(hooks, 'pre-commit')));
    assertEndedNormally(s);
    for (const call of ['mount', 'umount2', 'open_tree']) assertStartLists(s, 'seccomp', call);
    assertMountDenied(s, hooks, 'trust-handoff');
  },
);

void test(
  'redteam-53 host processes cannot be signalled: they are not in the PID namespace',
  { skip },
  async (t) => {
    const f = fixture(t);
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => victim.kill('SIGKILL'));
    const exited = new Promise((ok) => victim.once('exit', ok));
    const s = await runSession(
      f,
      [
        `kill -TERM ${victim.pid ?? 0} 2>&1; echo "victim=$?"`,
        // The test runner itself (signal 0 only checks that it could be signalled).
        `kill -0 ${process.pid} 2>&1; echo "runner=$?"`,
        'echo "visible: $(ls -d /proc/[0-9]* | wc -l)"',
        // Signal everything this process may signal: the sandbox's own processes only.
        'kill -9 -1',
      ].join('\n'),
    );
    assert.match(s.stdout, /No such process\s+victim=1/, show(s));
    assert.match(s.stdout, /No such process\s+runner=1/);
    assert.equal(
      await Promise.race([
        exited.then(() => 'exited'),
        new Promise((r) => setTimeout(() => r('alive'), 200)),
      ]),
      'alive',
      'the host process survived',
    );
    assert.equal(s.timedOut, false);
    assert.deepEqual(s.spoolProblems, [], 'the spool verifies');
    const end = s.events.find((e) => e.type === 'session.end');
    assert.ok(end, 'the session still ended, and said so');
    assert.equal(end.outcome?.exit_code, s.code);
    assertStartLists(s, 'namespaces', 'pid');
  },
);

void test(
  'redteam-54 setuid programs gain nothing: no_new_privs, no capabilities',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    const suid = installProbe(f, 'probe-suid');
    chmodSync(suid, 0o4755);
    const s = await runSession(
      f,
      [
        './probe-suid status',
        'su nobody -s /bin/sh -c id; echo "su=$?"',
        'setpriv --reuid=65534 id; echo "setpriv=$?"',
        'true',
      ].join('\n'),
    );
    assert.match(s.stdout, /NoNewPrivs:\s+1/, show(s));
    assert.match(s.stdout, /CapEff:\s+0+\n/);
    assert.match(s.stdout, /CapPrm:\s+0+\n/);
    assert.match(s.stdout, /CapBnd:\s+0+\n/, 'the bounding set is empty');
    assert.match(s.stdout, /su=(1|126|127)/);
    assert.match(s.stdout, /setpriv=1/);
    assertEndedNormally(s);
    assertStartLists(s, 'namespaces', 'no capabilities');
  },
);

/** The dynamic loader of this machine, to run a program without execve of the program itself. */
const LDSO = ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((p) => existsSync(p));

void test(
  'redteam-55 exec tricks (a copied binary, ld.so, memfd + execveat, interpreters) get no further than the mounts allow',
  { skip: skipProbe },
  async (t) => {
    const f = fixture(t);
    installProbe(f);
    const key = join(f.home, '.ssh/id_rsa');
    const tries: Record<string, string> = {
      'copied-binary': `cp /usr/bin/cat /tmp/c && /tmp/c ${key}`,
      'memfd-exec': `./probe memfd-exec /usr/bin/cat cat ${key}`,
      'python-open': `python3 -c "print(open('${key}').read())"`,
      'node-read': `node -e "console.log(require('fs').readFileSync('${key}', 'utf8'))"`,
      'memfd-curl':
        "./probe memfd-exec /usr/bin/curl curl -sS --max-time 3 --noproxy '*' http://1.1.1.1:8080/",
    };
    if (LDSO) tries['ld-so'] = `${LDSO} /usr/bin/cat ${key}`;
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assertNoLeak(s);
    assertEndedNormally(s);
    assertMountDenied(s, join(f.home, '.ssh'), 'home-secrets');
  },
);

void test(
  'redteam-56 nothing outlives the session: daemons, double forks and idle tunnels end with it',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const mark = `rt-outlive-${Date.now()}`;
    const s = await runSession(
      f,
      [
        `setsid nohup bash -c 'exec -a ${mark}-a sleep 300' >/dev/null 2>&1 &`,
        `( ( exec -a ${mark}-b sleep 300 ) & ) &`,
        `nohup bash -c 'trap "" HUP TERM; exec -a ${mark}-c sleep 300' >/dev/null 2>&1 & disown`,
        // A tunnel opened and left idle, its client gone: it must not hold the session open.
        `python3 -c "
import socket, os, re, base64
tok = re.search(r'perimeter:([^@]+)@', os.environ['HTTP_PROXY']).group(1)
s = socket.create_connection(('127.0.0.1', 3128))
s.sendall(('CONNECT 127.0.0.1:${o.port} HTTP/1.1\\r\\nProxy-Authorization: Basic ' + base64.b64encode(('perimeter:' + tok).encode()).decode() + '\\r\\n\\r\\n').encode())
print('tunnel:', s.recv(64).split(b'\\r\\n')[0].decode(), flush=True)
os._exit(0)"`,
        'sleep 0.2',
      ].join('\n'),
      { policy: policyYaml(f, { originPorts: [o.port] }), timeoutMs: 15_000 },
    );
    assert.match(s.stdout, /tunnel: HTTP\/1\.1 200/, show(s));
    assert.equal(s.timedOut, false, 'perimeter run returned');
    assert.ok(s.durationMs < 5000, `perimeter run returned promptly (${s.durationMs} ms)`);
    const gone = await eventually(() => hostProcessesWith(mark).length === 0, 3000);
    assert.ok(gone, `processes left behind: ${hostProcessesWith(mark).join(', ')}`);
    assertEndedNormally(s);
    assert.ok(
      s.events.some((e) => e.type === 'network.closed' && e.outcome?.resource === `127.0.0.1:${o.port}`),
      'the idle tunnel was closed and audited',
    );
  },
);

void test(
  'redteam-57 a connection flood never makes the proxy fail open, and it recovers',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const hidden = await trap(t);
    const s = await runSession(
      f,
      [
        `python3 rt.py flood 600 127.0.0.1:${hidden.port}`,
        `curl -s -o /dev/null -w 'after=%{http_code}\\n' --noproxy '' http://127.0.0.1:${o.port}/`,
      ].join('\n'),
      { policy: policyYaml(f, { originPorts: [o.port] }), timeoutMs: 30_000 },
    );
    const flood = /flood 600 \S+ => held (\d+), then (.*)$/m.exec(s.stdout);
    assert.ok(flood, show(s));
    t.diagnostic(`under the flood: ${flood[0]}`);
    assert.doesNotMatch(flood[2] ?? '', / 200 /, 'the denied CONNECT was never allowed under load');
    assert.match(s.stdout, /after=200/, 'the proxy recovered');
    assert.equal(hidden.connections, 0);
    assertEndedNormally(s);
    assert.deepEqual(
      networkEvents(s, `127.0.0.1:${hidden.port}`).filter((e) => e.decision !== 'deny'),
      [],
      'nothing to the hidden server was allowed',
    );
    if (/ 403 /.test(flood[2] ?? '')) assertNetworkDenied(s, `127.0.0.1:${hidden.port}`, /loopback/);
  },
);

void test(
  'redteam-57 by default, processes and /tmp are capped (rlimits, or a cgroup)',
  { skip },
  async (t) => {
    const f = fixture(t);
    const s = await runSession(
      f,
      [
        'echo "nproc: $(awk \'/Max processes/ {print $3}\' /proc/self/limits)"',
        'echo "tmp-kb: $(df -k /tmp | awk \'NR==2 {print $2}\')"',
        'echo "shm-kb: $(df -k /dev/shm | awk \'NR==2 {print $2}\')"',
      ].join('\n'),
    );
    assertEndedNormally(s);
    const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
    assert.match(s.stdout, /^nproc: 8192$/m, show(s));
    for (const fs of ['tmp', 'shm']) {
      const kb = Number(new RegExp(`^${fs}-kb: (\\d+)`, 'm').exec(s.stdout)?.[1] ?? 0);
      assert.ok(
        kb > 0 && kb <= Math.min(2 * 1024 * 1024, memKb / 4),
        `${fs} may use ${kb} KiB of ${memKb} KiB`,
      );
    }
    const start = s.events.find((e) => e.type === 'session.start');
    t.diagnostic(`limits: ${String(start?.outcome?.limits)}`);
    assert.match(String(start?.outcome?.limits), /\/tmp and \/dev\/shm [\d.]+ (MiB|GiB) each/);
  },
);

void test(
  'redteam-57 a fork bomb, a memory hog and a /tmp fill stop at the policy limits; the proxy still serves',
  { skip },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const bomb = [
      'import os, time, signal',
      'kids, err = [], "none"',
      'for i in range(300):',
      '    try:',
      '        pid = os.fork()',
      '    except OSError as e:',
      '        err = e.strerror',
      '        break',
      '    if pid == 0:',
      '        time.sleep(30)',
      '        os._exit(0)',
      '    kids.append(pid)',
      'print("forked", len(kids), err, flush=True)',
      'for k in kids: os.kill(k, signal.SIGKILL)',
      'for k in kids: os.waitpid(k, 0)',
    ].join('\n');
    const s = await runSession(
      f,
      [
        `printf '%s\\n' '${bomb.replaceAll("'", "'\\''")}' > bomb.py`,
        'python3 bomb.py',
        'python3 -c "b = [bytearray(16 * 2**20) for _ in range(32)]; print(\'hog survived\')"; echo "hog rc=$?"',
        'head -c 40000000 /dev/zero > /tmp/fill 2>/dev/null; echo "fill rc=$? size=$(stat -c %s /tmp/fill)"',
        `curl -s -o /dev/null -w 'after=%{http_code}\\n' --noproxy '' http://127.0.0.1:${o.port}/`,
      ].join('\n'),
      {
        policy: policyYaml(f, {
          originPorts: [o.port],
          extra: 'limits:\n  processes: 64\n  tmp: 16MiB\n  memory: 192MiB\n',
        }),
        timeoutMs: 60_000,
      },
    );
    if (s.code === 125) {
      // Root without a pids cgroup: the process cap the policy sets cannot hold (the kernel exempts
      // root from RLIMIT_NPROC), so the session must not start. (Memory is held without a cgroup
      // too: packages/sandbox/test/launch.test.ts.)
      assert.match(s.stderr, /does not enforce for root/, show(s));
      assert.ok(
        s.events.some((e) => e.type === 'session.refused'),
        'the refusal is audited',
      );
      t.diagnostic('no cgroup on this machine: the session was refused, as it must be');
      return;
    }
    assertEndedNormally(s);
    const forked = /^forked (\d+) (.*)$/m.exec(s.stdout);
    assert.ok(forked, show(s));
    t.diagnostic(forked[0]);
    assert.ok(Number(forked[1]) < 64, `the fork bomb stopped below 64 processes: ${forked[0]}`);
    assert.match(forked[2] ?? '', /Resource temporarily unavailable/);
    assert.doesNotMatch(s.stdout, /hog survived/, 'the memory hog was stopped');
    assert.match(s.stdout, /^hog rc=(137|1)$/m, 'killed by the cgroup (or refused memory)');
    const fill = /^fill rc=(\d+) size=(\d+)$/m.exec(s.stdout);
    assert.ok(fill, show(s));
    assert.notEqual(fill[1], '0', 'filling /tmp past its size fails');
    assert.ok(Number(fill[2]) <= 16 * 2 ** 20, `/tmp holds at most 16 MiB: ${fill[2]}`);
    assert.match(s.stdout, /after=200/, 'the proxy and the bridge still serve');
    const start = s.events.find((e) => e.type === 'session.start');
    assert.match(String(start?.outcome?.limits), /^64 processes and threads/);
    assert.match(String(start?.outcome?.limits), /16 MiB each/);
    assert.match(String(start?.outcome?.limits), /memory 192 MiB \(cgroup\)/);
  },
);

void test(
  'redteam-57 a full disk under the audit spool stops the session in one sentence: nothing runs unaudited, the spool stays whole',
  { skip: skip || (process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs') },
  async (t) => {
    const f = fixture(t);
    const o = await origin(t);
    const disk = join(f.root, 'small-disk');
    mkdirSync(disk);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]).status, 0);
    try {
      await fullDiskSession(f, o, disk);
    } finally {
      spawnSync('umount', ['-l', disk]); // before the fixture removes its directory
    }
  },
);

/** The session of the full-disk case, on the small disk mounted at `disk`. */
async function fullDiskSession(f: Fixture, o: Origin, disk: string): Promise<void> {
  const before = readdirSync(f.workspace).sort();
  const get = `curl -s --noproxy '' -o /dev/null -w '%{http_code} ' http://127.0.0.1:${o.port}/`;
  const s = await runSession(
    f,
    [
      get,
      // The session fills the disk its own audit trail is on, then keeps making requests.
      `head -c 1000000 /dev/zero > ${disk}/fill 2>/dev/null`,
      `for i in $(seq 1 20); do ${get}; done`,
      'echo still-running',
    ].join('\n'),
    {
      audit: join(disk, 'spool.jsonl'),
      policy: policyYaml(f, {
        originPorts: [o.port],
        fsAllow: [`{ id: disk, paths: ["${disk}/**"], access: rw }`],
      }),
    },
  );
  assert.equal(s.code, 74, show(s));
  assert.doesNotMatch(s.stdout, /still-running/, 'the session did not go on');
  assert.match(
    s.stderr,
    /^perimeter: cannot write the audit spool \S+: ENOSPC, so the session was stopped: nothing runs without its audit trail$/m,
  );
  assert.doesNotMatch(s.stderr, /\n\s+at /, 'no stack trace');
  const spool = readFileSync(join(disk, 'spool.jsonl'), 'utf8');
  assert.ok(spool.endsWith('\n'), 'the spool ends with a whole event');
  const verify = spawnSync(process.execPath, [BIN, 'audit', 'verify', join(disk, 'spool.jsonl')], {
    encoding: 'utf8',
  });
  assert.match(verify.stdout + verify.stderr, /chain intact/, verify.stdout + verify.stderr);
  // Every request that reached the origin was decided in the spool before it went out.
  const allowed = networkEvents(s, new RegExp(`127\\.0\\.0\\.1:${o.port}`)).filter(
    (e) => e.decision === 'allow',
  ).length;
  assert.ok(
    o.heads.length <= allowed,
    `${o.heads.length} requests reached the origin, ${allowed} allowed in the spool`,
  );
  assert.deepEqual(readdirSync(f.workspace).sort(), before, 'the mask mount points were removed');
}

void test(
  'redteam-58 the inherited environment carries no credentials (env, /proc/*/environ)',
  { skip },
  async (t) => {
    const f = fixture(t);
    const secrets = {
      GITHUB_TOKEN: `${SECRET}-gh`,
      ANTHROPIC_API_KEY: `${SECRET}-anthropic`,
      OPENAI_API_KEY: `${SECRET}-openai`,
      AWS_ACCESS_KEY_ID: `${SECRET}-aws-id`,
      AWS_SECRET_ACCESS_KEY: `${SECRET}-aws`,
      AWS_SESSION_TOKEN: `${SECRET}-aws-session`,
      NPM_TOKEN: `${SECRET}-npm`,
      SSH_AUTH_SOCK: `/tmp/${SECRET}-agent.sock`,
      CLAUDE_CODE_OAUTH_TOKEN: `${SECRET}-claude`,
    };
    const s = await runSession(
      f,
      [
        'env',
        'cat /proc/self/environ | tr "\\0" "\\n"',
        'for p in /proc/[0-9]*; do tr "\\0" "\\n" < $p/environ 2>/dev/null; done',
        'echo "lang=$LANG"',
      ].join('\n'),
      { env: { ...secrets, LANG: 'C.UTF-8' } },
    );
    assertNoLeak(s);
    assert.match(s.stdout, /lang=C\.UTF-8/, 'allowlisted variables still pass');
    assertEndedNormally(s);
    assert.ok(!s.spool.includes(SECRET), 'the audit spool holds no credential either');
    assertStartLists(s, 'namespaces', 'user');
  },
);
