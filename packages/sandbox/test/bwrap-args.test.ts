// bubblewrap's argument vector and the workload's environment. The argv for a fixed plan is pinned
// in packages/sandbox/test/pins/bwrap-argv.txt (one argument per line), so any change to what the
// sandbox is launched with is a deliberate, reviewed edit.
//
// To accept a deliberate change, rewrite the pin and review the diff:
//   npx tsc -b && UPDATE_PINS=1 node --test packages/sandbox/dist/test/bwrap-args.test.js

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BRIDGE_PORTS,
  ENV_ALLOWLIST,
  INSIDE,
  bwrapArgs,
  lateMasks,
  masksList,
  sessionEnv,
  type BwrapInput,
} from '../src/bwrap-args.js';
import type { MountPlan, PlannedMount } from '../src/mount-plan.js';

/** The pins live next to the test's source, not in dist: packages/sandbox/test/pins. */
const PINS = fileURLToPath(new URL('../../test/pins/', import.meta.url));
const isUpdating = process.env.UPDATE_PINS === '1';

function matchesPin(name: string, actual: string): void {
  const file = join(PINS, name);
  if (isUpdating) {
    mkdirSync(PINS, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `no pin ${file}; create it with UPDATE_PINS=1 (see the header of this test)`);
  assert.equal(
    actual,
    readFileSync(file, 'utf8'),
    `${name} changed; if that is deliberate, run with UPDATE_PINS=1 and review the diff`,
  );
}

const WS = '/home/u/project';
const HOME = '/home/u';
const TOKEN = 'tok_0123456789abcdef';

/** Credentials a developer's shell typically holds (sandbox.md case 58): no value may reach the workload. */
const CREDENTIALS: Readonly<Record<string, string>> = {
  GITHUB_TOKEN: 'ghp_secret000000000000000000000000000',
  AWS_ACCESS_KEY_ID: 'AKIASECRETSECRET0000',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-access-key-value',
  AWS_SESSION_TOKEN: 'aws-session-token-value',
  ANTHROPIC_API_KEY: 'sk-ant-secret-value',
  OPENAI_API_KEY: 'sk-openai-secret-value',
  NPM_TOKEN: 'npm_secret_value',
  HTTP_PROXY: 'http://corp-user:corp-password@proxy.corp:8080',
  https_proxy: 'http://corp-user:corp-password@proxy.corp:8080',
};

/** Host variables that reach agents and daemons, or hijack a child process: dropped by name. */
const HOST_HAZARDS: Readonly<Record<string, string>> = {
  SSH_AUTH_SOCK: '/run/user/1000/ssh-agent.socket',
  DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus',
  XDG_RUNTIME_DIR: '/run/user/1000',
  DOCKER_HOST: 'unix:///run/user/1000/docker.sock',
  KUBECONFIG: '/home/u/.kube/config',
  LD_PRELOAD: '/home/u/evil.so',
  NODE_OPTIONS: '--require /home/u/hook.js',
  BASH_ENV: '/home/u/.bash_env',
  GIT_ASKPASS: '/home/u/askpass',
};

const HOST_ENV: Readonly<Record<string, string | undefined>> = {
  ...CREDENTIALS,
  ...HOST_HAZARDS,
  TERM: 'xterm-256color',
  LANG: 'en_GB.UTF-8',
  USER: 'u',
  SHELL: '/bin/bash',
  EDITOR: undefined,
  PATH: '/home/u/.local/bin:/usr/local/bin:/usr/bin:/bin',
  HOME: '/home/u',
  PWD: '/somewhere/else',
};

function env(): Record<string, string> {
  return sessionEnv({ hostEnv: HOST_ENV, home: HOME, workspace: WS, sessionId: 'ses_fixed', token: TOKEN });
}

/** A plan with every kind of mount, in the order planMounts emits (parents first). */
const PLAN: MountPlan = {
  mounts: [
    { mount: { op: 'tmpfs', dest: '/tmp' }, why: 'private temporary directory' },
    { mount: { op: 'empty', dest: '/run' }, why: 'no daemon sockets' },
    { mount: { op: 'bind', source: '/usr', dest: '/usr', writable: false }, why: 'allowed read-only' },
    { mount: { op: 'tmpfs', dest: '/dev/shm' }, why: 'private shared memory' },
    { mount: { op: 'empty', dest: '/var/run' }, why: 'no daemon sockets' },
    { mount: { op: 'bind', source: WS, dest: WS, writable: true }, why: 'allowed read-write' },
    {
      mount: {
        op: 'bind',
        source: '/home/u/dotfiles/gitconfig',
        dest: '/home/u/.gitconfig',
        writable: false,
      },
      why: 'allowed read-only',
    },
    { mount: { op: 'mask', dest: `${WS}/.env`, as: 'file' }, why: 'denied (rule env)' },
    { mount: { op: 'mask', dest: `${WS}/.vscode`, as: 'dir' }, why: 'trust-handoff path' },
    {
      mount: { op: 'bind', source: `${WS}/.git/hooks`, dest: `${WS}/.git/hooks`, writable: false },
      why: 'trust-handoff path',
    },
  ],
  verify: [],
  createsOnHost: [`${WS}/.vscode`],
  hidden: [],
  notes: [],
  gitDirs: [],
};

const HOST_FILES: BwrapInput['host'] = {
  init: '/opt/perimeter/native/build/perimeter-init',
  seccomp: '/run/user/1000/perimeter-abc/seccomp.bpf',
  verify: '/run/user/1000/perimeter-abc/verify',
  sockets: '/run/user/1000/perimeter-abc/sockets',
  token: '/run/user/1000/perimeter-abc/token',
  maskDir: '/run/user/1000/perimeter-abc/mask-dir',
  maskFile: '/run/user/1000/perimeter-abc/mask-file',
};

const LIMITS = { processes: 512, tmpBytes: 2 ** 30, fileSizeBytes: 2 ** 32, isProcessesSet: true };

/** A workload whose own arguments look like bubblewrap's options and hold a `--`. */
const COMMAND = ['sh', '-c', 'exec "$@"', '--', '--bind', '/', '/'];

function args(): string[] {
  return bwrapArgs({ plan: PLAN, host: HOST_FILES, env: env(), cwd: WS, command: COMMAND, limits: LIMITS });
}

/** bubblewrap's own options: everything before the first `--`. */
function optionsOf(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  assert.ok(end > 0, 'a -- ends bubblewrap’s options');
  return argv.slice(0, end);
}

function hasSequence(argv: readonly string[], seq: readonly string[]): boolean {
  for (let i = 0; i + seq.length <= argv.length; i++) if (seq.every((s, k) => argv[i + k] === s)) return true;
  return false;
}

function indexOfSequence(argv: readonly string[], seq: readonly string[]): number {
  for (let i = 0; i + seq.length <= argv.length; i++) if (seq.every((s, k) => argv[i + k] === s)) return i;
  return -1;
}

describe('bwrapArgs', () => {
  it('matches the pinned argv for a fixed plan', () => {
    const argv = args();
    for (const a of argv) assert.ok(!a.includes('\n'), `an argument holds a newline: ${JSON.stringify(a)}`);
    matchesPin('bwrap-argv.txt', `${argv.join('\n')}\n`);
  });

  it('unshares every namespace, drops every capability but the helper’s three, dies with its parent', () => {
    const opts = optionsOf(args());
    for (const flag of [
      '--unshare-user',
      '--unshare-ipc',
      '--unshare-pid',
      '--unshare-net',
      '--unshare-uts',
      '--unshare-cgroup',
      '--die-with-parent', // redteam-56
    ])
      assert.ok(opts.includes(flag), flag);
    for (const weaker of [
      '--share-net',
      '--unshare-user-try',
      '--unshare-cgroup-try',
      '--dev-bind',
      '--bind-try',
    ])
      assert.ok(!opts.includes(weaker), `no ${weaker}`);
    // The helper routes the capture, then drops every capability, bounding set included, before
    // the workload runs (native/init.c); bubblewrap grants nothing else.
    const drop = indexOfSequence(opts, ['--cap-drop', 'ALL']);
    assert.ok(drop >= 0, '--cap-drop ALL');
    const added = opts.flatMap((a, i) => (a === '--cap-add' ? [opts[i + 1]] : []));
    assert.deepEqual(added.sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_SETPCAP']);
    assert.ok(opts.indexOf('--cap-add') > drop, 'capabilities are added back only after all were dropped');
  });

  it('redteam-51: leaves nested user namespaces to the seccomp filter the helper loads (not --disable-userns)', () => {
    // Commit 3a0d062: --disable-userns would move the helper into a nested user namespace, from
    // which it could not route the network namespace; seccomp refuses CLONE_NEWUSER instead
    // (seccomp-filter.test.ts). So the filter must reach the helper.
    const argv = args();
    const helper = argv.slice(argv.indexOf('--') + 1);
    assert.equal(helper[0], INSIDE.init);
    assert.ok(hasSequence(helper, ['--seccomp', INSIDE.seccomp]));
    assert.ok(hasSequence(optionsOf(argv), ['--ro-bind', HOST_FILES.seccomp, INSIDE.seccomp]));
  });

  it('redteam-33, redteam-34, redteam-38: mounts a fresh /proc and a minimal /dev, and makes /tmp and /dev/shm private', () => {
    const opts = optionsOf(args());
    assert.ok(hasSequence(opts, ['--proc', '/proc']));
    assert.ok(hasSequence(opts, ['--dev', '/dev']));
    assert.ok(hasSequence(opts, ['--tmpfs', '/tmp']));
    assert.ok(hasSequence(opts, ['--tmpfs', '/dev/shm']));
    assert.ok(
      indexOfSequence(opts, ['--dev', '/dev']) < indexOfSequence(opts, ['--tmpfs', '/dev/shm']),
      '/dev/shm is mounted on the fresh /dev, not under it',
    );
  });

  it('redteam-57: sizes every writable tmpfs and hands the process and file limits to the helper', () => {
    const argv = args();
    const opts = optionsOf(argv);
    for (const dest of ['/tmp', '/dev/shm'])
      assert.ok(hasSequence(opts, ['--size', String(2 ** 30), '--tmpfs', dest]), dest);
    opts.forEach((a, i) => {
      if (a !== '--tmpfs') return;
      const dest = opts[i + 1] ?? '';
      const isSized = opts[i - 2] === '--size';
      const isReadOnly = hasSequence(opts.slice(i), ['--remount-ro', dest]);
      assert.ok(isSized || isReadOnly, `the tmpfs at ${dest} is sized or read-only`);
    });
    const helper = argv.slice(argv.indexOf('--') + 1);
    const helperArgs = helper.slice(0, helper.indexOf('--'));
    assert.ok(hasSequence(helperArgs, ['--limit', 'nproc=512']));
    assert.ok(hasSequence(helperArgs, ['--limit', `fsize=${2 ** 32}`]));
    assert.ok(
      !helperArgs.some((a) => a.startsWith('nofile=')),
      'no open-file limit unless the policy sets one',
    );
  });

  it('redteam-58: clears the environment before setting exactly the session’s variables', () => {
    const argv = args();
    const opts = optionsOf(argv);
    const clear = opts.indexOf('--clearenv');
    assert.ok(clear >= 0, '--clearenv');
    const sets: [string, string][] = [];
    opts.forEach((a, i) => {
      if (a === '--setenv') sets.push([opts[i + 1] ?? '', opts[i + 2] ?? '']);
    });
    assert.ok(opts.indexOf('--setenv') > clear, 'every --setenv comes after --clearenv');
    assert.deepEqual(Object.fromEntries(sets), env());
    assert.equal(sets.length, Object.keys(env()).length, 'each variable set once');
    for (const secret of Object.values(CREDENTIALS))
      assert.ok(!argv.some((a) => a.includes(secret)), `no argument carries ${secret}`);
  });

  it('binds read-write only what the plan says is writable, and masks with the mode-0000 mask files', () => {
    const opts = optionsOf(args());
    assert.ok(hasSequence(opts, ['--bind', WS, WS]));
    assert.ok(hasSequence(opts, ['--ro-bind', '/usr', '/usr']));
    assert.ok(hasSequence(opts, ['--ro-bind', '/home/u/dotfiles/gitconfig', '/home/u/.gitconfig']));
    assert.ok(hasSequence(opts, ['--ro-bind', `${WS}/.git/hooks`, `${WS}/.git/hooks`]));
    assert.ok(hasSequence(opts, ['--ro-bind', HOST_FILES.maskFile, `${WS}/.env`]), 'redteam-25: file mask');
    assert.ok(hasSequence(opts, ['--ro-bind', HOST_FILES.maskDir, `${WS}/.vscode`]), 'redteam-29: dir mask');
    assert.equal(opts.filter((a) => a === '--bind').length, 1, 'one read-write bind: the workspace');
  });

  it('keeps mounts in the plan’s order, so a mask lands on top of its parent’s bind', () => {
    const opts = optionsOf(args());
    assert.ok(
      indexOfSequence(opts, ['--bind', WS, WS]) < indexOfSequence(opts, ['--ro-bind', HOST_FILES.maskFile]),
    );
  });

  it('redteam-36: an empty /run holds only the session’s own files, read-only', () => {
    const opts = optionsOf(args());
    assert.ok(
      hasSequence(opts, [
        '--tmpfs',
        '/run',
        '--ro-bind',
        HOST_FILES.init,
        INSIDE.init,
        '--ro-bind',
        HOST_FILES.seccomp,
        INSIDE.seccomp,
        '--ro-bind',
        HOST_FILES.verify,
        INSIDE.verify,
        '--ro-bind',
        HOST_FILES.sockets,
        INSIDE.sockets,
        '--ro-bind',
        HOST_FILES.token,
        INSIDE.token,
        '--remount-ro',
        '/run',
      ]),
    );
    assert.ok(hasSequence(opts, ['--tmpfs', '/var/run', '--remount-ro', '/var/run']));
  });

  it('leaves the root read-only and starts in the working directory', () => {
    const opts = optionsOf(args());
    assert.ok(hasSequence(opts, ['--remount-ro', '/']));
    assert.ok(hasSequence(opts, ['--chdir', WS]));
  });

  it('runs the helper after the first --, and the command, untouched, after the helper’s --', () => {
    const argv = args();
    const end = argv.indexOf('--');
    assert.equal(argv[end + 1], INSIDE.init);
    const helper = argv.slice(end + 1);
    const split = helper.indexOf('--');
    const helperArgs = helper.slice(0, split);
    assert.ok(hasSequence(helperArgs, ['--verify', INSIDE.verify]));
    assert.ok(hasSequence(helperArgs, ['--seccomp', INSIDE.seccomp]));
    assert.ok(hasSequence(helperArgs, ['--bridge', `${BRIDGE_PORTS.http}:${INSIDE.sockets}/http.sock`]));
    assert.ok(hasSequence(helperArgs, ['--bridge', `${BRIDGE_PORTS.socks}:${INSIDE.sockets}/socks.sock`]));
    assert.deepEqual(helper.slice(split + 1), COMMAND);
  });
});

describe('sessionEnv', () => {
  it('redteam-58: drops every host variable not on the allowlist (tokens, agent sockets, preloads)', () => {
    const e = env();
    for (const k of Object.keys({ ...CREDENTIALS, ...HOST_HAZARDS }).filter(
      (k) => !/^https?_proxy$/i.test(k),
    ))
      assert.equal(e[k], undefined, `${k} is dropped`);
    for (const secret of Object.values(CREDENTIALS))
      assert.ok(!Object.values(e).some((v) => v.includes(secret)), `no value carries ${secret}`);
    const own = new Set(['PATH', 'HOME', 'TMPDIR', 'PWD', 'PERIMETER_SESSION', 'PERIMETER_WORKSPACE']);
    const proxy = new Set(Object.keys(e).filter((k) => /proxy|JAVA_TOOL_OPTIONS/i.test(k)));
    for (const k of Object.keys(e))
      assert.ok(
        ENV_ALLOWLIST.includes(k) || own.has(k) || proxy.has(k),
        `${k} is allowlisted or the session’s own`,
      );
  });

  it('passes allowlisted variables through and skips unset ones', () => {
    const e = env();
    assert.equal(e.TERM, 'xterm-256color');
    assert.equal(e.LANG, 'en_GB.UTF-8');
    assert.equal(e.USER, 'u');
    assert.equal('EDITOR' in e, false);
  });

  it('redteam-47: sets its own PATH, HOME, TMPDIR and PWD, never the host’s', () => {
    const e = env();
    assert.equal(e.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.equal(e.HOME, HOME);
    assert.equal(e.TMPDIR, '/tmp');
    assert.equal(e.PWD, WS);
    assert.equal(e.PERIMETER_SESSION, 'ses_fixed');
    assert.equal(e.PERIMETER_WORKSPACE, WS);
  });

  it('points every common client at the bridge, with the session token, replacing the host’s proxy', () => {
    const e = env();
    for (const k of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'http_proxy',
      'https_proxy',
      'npm_config_proxy',
      'npm_config_https_proxy',
      'YARN_HTTP_PROXY',
      'YARN_HTTPS_PROXY',
      'PIP_PROXY',
      'GRPC_PROXY',
    ]) {
      const url = new URL(e[k] ?? 'missing:');
      assert.equal(url.protocol, 'http:', k);
      assert.equal(url.hostname, '127.0.0.1', k);
      assert.equal(url.port, String(BRIDGE_PORTS.http), k);
      assert.equal(url.username, 'perimeter', k);
      assert.equal(url.password, TOKEN, k);
    }
    for (const k of ['ALL_PROXY', 'all_proxy']) {
      const url = new URL(e[k] ?? 'missing:');
      assert.equal(url.protocol, 'socks5h:', `${k}: names resolve on the host, after the decision`);
      assert.equal(url.port, String(BRIDGE_PORTS.socks), k);
      assert.equal(url.password, TOKEN, k);
    }
    for (const k of ['NO_PROXY', 'no_proxy'])
      assert.deepEqual(e[k]?.split(',').sort(), ['127.0.0.1', '::1', 'localhost'], k);
    assert.match(e.JAVA_TOOL_OPTIONS ?? '', new RegExp(`-Dhttps\\.proxyPort=${BRIDGE_PORTS.http}\\b`));
  });

  it('points node’s fetch at the proxy (NODE_USE_ENV_PROXY or a preload)', {}, () => {
    const e = env();
    assert.ok(e.NODE_USE_ENV_PROXY === '1' || /--(require|import)\b/.test(e.NODE_OPTIONS ?? ''));
  });
});

describe('lateMasks: the masks the helper lays after bubblewrap', () => {
  const mask = (dest: string, as: 'dir' | 'file' | 'empty' = 'empty'): PlannedMount => ({
    mount: { op: 'mask', dest, as },
    why: 'test',
  });
  const bind = (dest: string): PlannedMount => ({
    mount: { op: 'bind', source: dest, dest, writable: false },
    why: 'test',
  });
  const dests = (late: ReadonlySet<PlannedMount>): string[] => [...late].map((m) => m.mount.dest);

  it('moves the masks nothing later lies on, above or below, in plan order', () => {
    const mounts = [bind(WS), mask(`${WS}/.git`), mask(`${WS}/.vscode`, 'dir'), mask(`${WS}/.env`, 'file')];
    assert.deepEqual(dests(lateMasks(mounts)), [`${WS}/.git`, `${WS}/.vscode`, `${WS}/.env`]);
  });

  it('keeps with bubblewrap a mask a later mount lies on, under, or above', () => {
    const mounts = [
      mask(`${WS}/a`), // a later bind beneath it
      mask(`${WS}/b/c`), // a later bind above it
      mask(`${WS}/d`), // a later bind on it
      mask(`${WS}/e`), // free
      bind(`${WS}/a/x`),
      bind(`${WS}/b`),
      bind(`${WS}/d`),
    ];
    assert.deepEqual(dests(lateMasks(mounts)), [`${WS}/e`]);
  });

  it('counts mounts bubblewrap makes outside the plan (the trust bundle over the system store)', () => {
    const mounts = [mask('/etc/ssl'), mask('/etc/shadow', 'file')];
    assert.deepEqual(dests(lateMasks(mounts, ['/etc/ssl/certs/ca-certificates.crt'])), ['/etc/shadow']);
  });

  it('leaves the late masks out of bubblewrap’s argv and has the helper lay them, with CAP_SYS_ADMIN', () => {
    const late = lateMasks(PLAN.mounts);
    assert.deepEqual(dests(late), [`${WS}/.env`, `${WS}/.vscode`]);
    const masks = '/run/user/1000/perimeter-abc/masks';
    const argv = bwrapArgs({
      plan: PLAN,
      helperMasks: { dir: masks, mounts: late },
      host: HOST_FILES,
      env: env(),
      cwd: WS,
      command: COMMAND,
      limits: LIMITS,
    });
    const opts = optionsOf(argv);
    assert.ok(!opts.includes(`${WS}/.env`) && !opts.includes(`${WS}/.vscode`), 'not bubblewrap’s');
    assert.ok(hasSequence(opts, ['--ro-bind', masks, INSIDE.masks]), 'the mask sources and list, read-only');
    assert.ok(hasSequence(opts, ['--cap-add', 'CAP_SYS_ADMIN']));
    assert.ok(hasSequence(argv, ['--masks', INSIDE.masks]), 'the helper is told where');
    assert.ok(!hasSequence(optionsOf(args()), ['--cap-add', 'CAP_SYS_ADMIN']), 'and only when it has masks');
  });

  it('lists them for the helper as KIND PATH entries ended by NUL, so no path can end an entry early', () => {
    const odd = `${WS}/new\nline`;
    const late = lateMasks([mask(`${WS}/.git`), mask(odd, 'dir'), mask(`${WS}/.env`, 'file')]);
    assert.equal(masksList(late), `e ${WS}/.git\0d ${odd}\0f ${WS}/.env\0`);
  });
});
