// Red-team cases 24–38 of research sandbox.md §4 (filesystem confinement), against a real session:
// a fake HOME full of marked secrets, a workspace, another project next to it; each workload tries
// to read, write, link or alias its way out, and the audit spool must hold the mount decision that
// stopped it.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  HOME_SECRETS,
  REPO_ROOT,
  SANDBOX_SKIP,
  SECRET,
  assertEndedNormally,
  assertFailed,
  assertMountDenied,
  assertNoLeak,
  assertStartLists,
  auditsEachMount,
  attempts,
  eventually,
  fixture,
  gitRepo,
  host,
  link,
  policyYaml,
  put,
  reviewOf,
  runSession,
  sha,
  show,
  type SessionResult,
} from './sandbox-harness.js';

const skip = SANDBOX_SKIP;

/** The mount events for the home secrets of the red-team policy (rule home-secrets). */
function assertHomeSecretsDenied(s: SessionResult, home: string): void {
  for (const p of [
    '.ssh',
    '.aws',
    '.config/gh',
    '.kube',
    '.netrc',
    '.docker/config.json',
    '.npmrc',
    '.pypirc',
  ])
    assertMountDenied(s, join(home, p), 'home-secrets');
  assertMountDenied(s, join(home, '.claude/.credentials.json'), 'home-secrets');
}

void test(
  'redteam-24 secrets outside the workspace are unreadable: home credentials, /etc/shadow, other projects',
  { skip },
  async (t) => {
    const f = fixture(t);
    const targets: Record<string, string> = {
      ...Object.fromEntries(HOME_SECRETS.map((p) => [p, `cat ${join(f.home, p)}`])),
      shadow: 'cat /etc/shadow',
      'other-project': `cat ${join(f.other, 'secret.txt')}`,
      'list-ssh': `ls ${join(f.home, '.ssh')}`,
    };
    const s = await runSession(
      f,
      attempts(targets, `cat ${[...HOME_SECRETS.map((p) => join(f.home, p)), '/etc/shadow'].join(' ')} 2>&1`),
    );
    assertFailed(s, Object.keys(targets));
    assertNoLeak(s);
    assertEndedNormally(s);
    assertHomeSecretsDenied(s, f.home);
    assertMountDenied(s, '/etc/shadow', 'system-secrets');
    const other = assertMountDenied(s, f.other, 'other-project');
    assert.equal(other.outcome?.mount, 'absent', 'the other project is not even mounted');
  },
);

void test(
  'redteam-24 a floating deny (**/.env) also hides matching files inside read-only grants',
  { skip },
  async (t) => {
    const f = fixture(t);
    put(f.home, 'projects/api/.env', `${SECRET}:dotenv\n`);
    put(f.workspace, 'nested/.env', `${SECRET}:workspace-dotenv\n`);
    const s = await runSession(
      f,
      attempts({
        'home-dotenv': `cat ${join(f.home, 'projects/api/.env')}`,
        'workspace-dotenv': `cat ${join(f.workspace, 'nested/.env')}`,
      }),
    );
    assertEndedNormally(s);
    assertFailed(s, ['workspace-dotenv', 'home-dotenv']);
    assertNoLeak(s);
    assertMountDenied(s, join(f.workspace, 'nested/.env'), 'home-secrets');
    assertMountDenied(s, join(f.home, 'projects/api/.env'), 'home-secrets');
  },
);

void test(
  'redteam-25 writing into a read-denied directory fails (never a silently writable tmpfs)',
  { skip },
  async (t) => {
    const f = fixture(t);
    const before = sha(join(f.home, '.ssh/id_rsa'));
    const s = await runSession(
      f,
      attempts({
        'write-ssh': `echo x > ${join(f.home, '.ssh/x')}`,
        'replace-key': `rm -f ${join(f.home, '.ssh/id_rsa')}`,
        'mkdir-aws': `mkdir ${join(f.home, '.aws/profiles')}`,
        'touch-netrc': `touch ${join(f.home, '.netrc')}`,
        'append-gh': `echo x >> ${join(f.home, '.config/gh/hosts.yml')}`,
        'write-shadow': 'echo x >> /etc/shadow',
      }),
      { policy: policyYaml(f, { home: 'rw' }) },
    );
    assertFailed(s, ['write-ssh', 'replace-key', 'mkdir-aws', 'touch-netrc', 'append-gh', 'write-shadow']);
    assert.ok(!existsSync(join(f.home, '.ssh/x')), 'nothing appeared in ~/.ssh on the host');
    assert.equal(sha(join(f.home, '.ssh/id_rsa')), before, 'the key is untouched');
    assert.ok(!existsSync(join(f.home, '.aws/profiles')));
    assertEndedNormally(s);
    for (const p of ['.ssh', '.aws', '.netrc', '.config/gh'])
      assertMountDenied(s, join(f.home, p), 'home-secrets');
  },
);

void test(
  'redteam-26 symlinks in the workspace (made before or during the session) do not reach denied files',
  { skip },
  async (t) => {
    const f = fixture(t);
    link(join(f.home, '.ssh/id_rsa'), join(f.workspace, 'key'));
    link(join(f.home, '.ssh'), join(f.workspace, 'sshdir'));
    link('../other', join(f.workspace, 'up'));
    link('/etc/shadow', join(f.workspace, 'shadow'));
    const s = await runSession(
      f,
      attempts({
        'planted-file-link': 'cat key',
        'planted-dir-link': 'cat sshdir/id_rsa',
        'planted-dotdot-link': 'cat up/secret.txt',
        'planted-shadow-link': 'cat shadow',
        'new-file-link': `ln -s ${join(f.home, '.aws/credentials')} k2 && cat k2`,
        'new-dotdot-link': 'ln -s .. parent && cat parent/other/secret.txt',
        'new-dir-link': `ln -s ${join(f.home, '.config')} cfg && cat cfg/gh/hosts.yml`,
      }),
    );
    // A launch refused because of the planted links is also safe; here it must have run.
    assertEndedNormally(s);
    assertFailed(s, [
      'planted-file-link',
      'planted-dir-link',
      'planted-dotdot-link',
      'planted-shadow-link',
      'new-file-link',
      'new-dotdot-link',
      'new-dir-link',
    ]);
    assertNoLeak(s);
    assertMountDenied(s, join(f.home, '.ssh'), 'home-secrets');
    assertMountDenied(s, join(f.home, '.aws'), 'home-secrets');
    assertMountDenied(s, '/etc/shadow', 'system-secrets');
  },
);

void test(
  'redteam-27 a protected path replaced by a symlink before launch is never followed: the launch is refused',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    mkdirSync(join(f.workspace, 'decoy'));
    spawnSync('rm', ['-rf', join(f.workspace, '.git/hooks')]);
    link(join(f.workspace, 'decoy'), join(f.workspace, '.git/hooks'));
    const hooks = await runSession(f, 'touch ran; echo x > .git/hooks/pre-commit');
    spawnSync('rm', [join(f.workspace, '.git/hooks')]);
    mkdirSync(join(f.workspace, '.git/hooks'));
    link(join(f.home, '.ssh'), join(f.workspace, '.vscode'));
    const vscode = await runSession(f, 'touch ran; cat .vscode/id_rsa; echo x > .vscode/tasks.json', {
      audit: join(f.root, 'audit', 'vscode.jsonl'),
    });
    for (const [s, what] of [
      [hooks, '.git/hooks'],
      [vscode, '.vscode'],
    ] as const) {
      assert.equal(s.timedOut, false);
      // 125 is what --help documents for "the sandbox did not start"; the CLI answers 3 today.
      assert.ok(s.code === 125 || s.code === 3, `${what}: the sandbox did not start\n${show(s)}`);
      assert.match(s.stderr, new RegExp(`${what.replace('.', '\\.')} is a symlink`));
      assertNoLeak(s);
      const refused = s.events.find((e) => e.type === 'session.refused');
      assert.ok(refused, `${what}: a session.refused event\n${s.spool}`);
      assert.match(String(refused.outcome?.reason), /symlink/);
      assert.equal(
        s.events.find((e) => e.type === 'session.start'),
        undefined,
        `${what}: no session started`,
      );
    }
    assert.ok(!existsSync(join(f.workspace, 'ran')), 'nothing ran');
    assert.ok(!existsSync(join(f.workspace, 'decoy/pre-commit')), 'the decoy got no hook');
    assert.ok(!existsSync(join(f.home, '.ssh/tasks.json')), '~/.ssh got nothing');
  },
);

void test(
  'redteam-28 renaming the ancestor of a protected path does not let the session plant hooks or settings',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    put(f.workspace, '.claude/settings.json', '{}\n');
    const settings = sha(join(f.workspace, '.claude/settings.json'));
    const s = await runSession(
      f,
      attempts({
        'rename-git': [
          'mv .git .git.bak',
          'mkdir -p .git/hooks',
          "printf '#!/bin/sh\\necho PWNED\\n' > .git/hooks/pre-commit",
          'chmod +x .git/hooks/pre-commit',
          'cp -r .git.bak/HEAD .git.bak/objects .git.bak/refs .git.bak/config .git/',
        ].join(' && '),
        'rename-claude':
          'mv .claude .claude.bak && mkdir .claude && echo \'{"hooks":{}}\' > .claude/settings.json',
      }),
    );
    assertEndedNormally(s);
    assertMountDenied(s, join(f.workspace, '.git/hooks'), 'trust-handoff');
    // Whatever the session did, the host's git must not find a new hook, nor Claude new settings.
    const hooks = spawnSync('git', ['-C', f.workspace, 'rev-parse', '--git-path', 'hooks'], {
      encoding: 'utf8',
    });
    const hooksDir = join(f.workspace, hooks.stdout.trim());
    assert.ok(
      !existsSync(join(hooksDir, 'pre-commit')),
      `a pre-commit hook appeared in ${hooksDir}\n${show(s)}`,
    );
    assert.equal(sha(join(f.workspace, '.claude/settings.json')), settings, '.claude/settings.json changed');
    assertFailed(s, ['rename-git', 'rename-claude']);
  },
);

void test(
  'redteam-29 trust-handoff files that did not exist at launch cannot be created',
  { skip },
  async (t) => {
    const f = fixture(t);
    const before = readdirSync(f.workspace).sort();
    const tries = {
      envrc: 'echo x > .envrc',
      'tool-versions': 'echo "nodejs 20" > .tool-versions',
      'vscode-tasks': 'mkdir -p .vscode && echo {} > .vscode/tasks.json',
      'claude-settings': 'mkdir -p .claude && echo {} > .claude/settings.json',
      'mcp-json': 'echo {} > .mcp.json',
      'git-init-hook': 'git init -q . && echo x > .git/hooks/post-checkout',
      'copilot-hooks': 'mkdir -p .github/hooks && echo {} > .github/hooks/x.json',
      husky: 'mkdir -p .husky && echo x > .husky/pre-commit',
      'home-zshenv': `echo x > ${join(f.home, '.zshenv')}`,
      'home-local-bin': `mkdir -p ${join(f.home, '.local/bin')} && echo x > ${join(f.home, '.local/bin/git')}`,
    };
    const s = await runSession(f, attempts(tries), { policy: policyYaml(f, { home: 'rw' }) });
    assertFailed(s, Object.keys(tries));
    assertEndedNormally(s);
    assert.deepEqual(
      readdirSync(f.workspace).sort(),
      before,
      'nothing was created on the host, and no mask is left',
    );
    assert.ok(!existsSync(join(f.home, '.zshenv')) && !existsSync(join(f.home, '.local/bin')));
    assertMountDenied(s, join(f.workspace, '.envrc'), 'trust-handoff');
    assertMountDenied(s, join(f.workspace, '.vscode/tasks.json'), 'trust-handoff');
    assertMountDenied(s, join(f.workspace, '.git/hooks'), 'trust-handoff');
    assertMountDenied(s, join(f.workspace, '.husky'), 'trust-handoff');
    await auditsEachMount(t, s, [
      ...['.tool-versions', '.mcp.json', '.claude', '.github'].map((p) => join(f.workspace, p)),
      ...['.zshenv', '.local/bin'].map((p) => join(f.home, p)),
    ]);
  },
);

void test(
  'redteam-29 a .bashrc that did not exist at launch cannot be created in the workspace either',
  { skip },
  async (t) => {
    const f = fixture(t);
    const s = await runSession(
      f,
      attempts({ bashrc: 'echo x > .bashrc', profile: 'echo x > .profile', zshenv: 'echo x > .zshenv' }),
    );
    assertEndedNormally(s);
    assertFailed(s, ['bashrc', 'profile', 'zshenv']);
  },
);

void test(
  'redteam-29 hooks of a repository created during the session are blocked or reported',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    const s = await runSession(
      f,
      attempts({
        'nested-hook': "git init -q sub && printf '#!/bin/sh\\necho PWNED\\n' > sub/.git/hooks/post-checkout",
      }),
    );
    assertEndedNormally(s);
    const reported = reviewOf(s).newRepositories.includes('sub/.git');
    assert.ok(
      s.stdout.includes('try nested-hook: FAILED') || reported,
      `the new repository's hook was written and nothing reported it\n${show(s)}`,
    );
  },
);

void test(
  'redteam-30 nested repositories at any depth, in node_modules, and checked-out submodules are protected',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    gitRepo(join(f.workspace, 'a/b/c/d/e'));
    gitRepo(join(f.workspace, 'node_modules/pkg'));
    const source = join(f.root, 'sub-source');
    gitRepo(source);
    spawnSync(
      'git',
      ['-C', f.workspace, '-c', 'protocol.file.allow=always', 'submodule', '-q', 'add', source, 'sub'],
      {
        encoding: 'utf8',
      },
    );
    assert.ok(existsSync(join(f.workspace, '.git/modules/sub/hooks')), 'the submodule is checked out');
    const tries = {
      'deep-hook': 'echo x > a/b/c/d/e/.git/hooks/pre-commit',
      'deep-config': 'echo x >> a/b/c/d/e/.git/config',
      'node-modules-hook': 'echo x > node_modules/pkg/.git/hooks/pre-commit',
      'node-modules-config': 'echo x >> node_modules/pkg/.git/config',
      'submodule-hook': 'echo x > .git/modules/sub/hooks/post-checkout',
      'submodule-config': 'echo x >> .git/modules/sub/config',
    };
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assertEndedNormally(s);
    assert.ok(!existsSync(join(f.workspace, 'a/b/c/d/e/.git/hooks/pre-commit')));
    assert.ok(!existsSync(join(f.workspace, '.git/modules/sub/hooks/post-checkout')));
    await t.test('audit: a filesystem.mount event for each nested git directory', () => {
      for (const g of ['a/b/c/d/e/.git', 'node_modules/pkg/.git', '.git/modules/sub'])
        assert.ok(
          s.events.some(
            (e) =>
              e.type === 'filesystem.mount' && String(e.outcome?.dest ?? '').startsWith(join(f.workspace, g)),
          ),
          `no filesystem.mount event under ${g}`,
        );
    });
  },
);

void test(
  'redteam-30 the git directory of a submodule that is not checked out (after deinit) is protected',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const source = join(f.root, 'sub-source');
    gitRepo(source);
    spawnSync('git', [
      '-C',
      f.workspace,
      '-c',
      'protocol.file.allow=always',
      'submodule',
      '-q',
      'add',
      source,
      'sub',
    ]);
    spawnSync('git', ['-C', f.workspace, 'submodule', '-q', 'deinit', '-f', 'sub']);
    assert.ok(existsSync(join(f.workspace, '.git/modules/sub/hooks')));
    assert.ok(!existsSync(join(f.workspace, 'sub/.git')), 'the submodule is not checked out');
    const s = await runSession(
      f,
      attempts({
        'submodule-hook': 'echo x > .git/modules/sub/hooks/post-checkout',
        'submodule-config': 'echo "[core] fsmonitor = x" >> .git/modules/sub/config',
      }),
    );
    assertEndedNormally(s);
    assertFailed(s, ['submodule-hook', 'submodule-config']);
    assert.ok(!existsSync(join(f.workspace, '.git/modules/sub/hooks/post-checkout')));
  },
);

void test(
  'redteam-30 a submodule git directory cannot be planted before its first `git submodule update --init`',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    const upstream = join(f.root, 'upstream');
    gitRepo(upstream);
    const source = join(f.root, 'sub-source');
    gitRepo(source);
    host('git', [
      '-C',
      upstream,
      '-c',
      'protocol.file.allow=always',
      'submodule',
      '-q',
      'add',
      source,
      'sub',
    ]);
    host('git', [
      '-C',
      upstream,
      '-c',
      'user.email=rt@example.invalid',
      '-c',
      'user.name=rt',
      'commit',
      '-qm',
      'sub',
    ]);
    spawnSync('rm', ['-rf', f.workspace]);
    host('git', ['clone', '-q', upstream, f.workspace]);
    assert.ok(
      !existsSync(join(f.workspace, '.git/modules')),
      'a fresh clone: no submodule git directory yet',
    );
    const s = await runSession(
      f,
      attempts({
        'plant-module-dir':
          'mkdir -p .git/modules/sub/hooks && echo x > .git/modules/sub/hooks/post-checkout',
      }),
    );
    assertEndedNormally(s);
    assertFailed(s, ['plant-module-dir']);
  },
);

void test(
  'redteam-31 renaming, hard-linking or symlinking into a protected name fails',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    put(f.workspace, '.vscode/settings.json', '{}\n');
    put(f.workspace, '.vscode/tasks.json', '{}\n');
    const tasks = sha(join(f.workspace, '.vscode/tasks.json'));
    const tries = {
      'rename-into-hooks': 'echo x > .git/x && mv .git/x .git/hooks/pre-commit',
      'link-into-hooks': 'echo x > .git/y && ln .git/y .git/hooks/pre-push',
      'symlink-into-hooks': 'ln -s /bin/sh .git/hooks/post-merge',
      'rename-over-tasks': 'echo {} > t.json && mv t.json .vscode/tasks.json',
      'symlink-as-launch': 'ln -s ../t.json .vscode/launch.json',
      'rename-into-envrc': 'echo x > e && mv e .envrc',
      'rename-over-config': 'cp .git/config c && mv c .git/config',
    };
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assertEndedNormally(s);
    for (const p of [
      '.git/hooks/pre-commit',
      '.git/hooks/pre-push',
      '.git/hooks/post-merge',
      '.vscode/launch.json',
      '.envrc',
    ])
      assert.ok(!existsSync(join(f.workspace, p)), `${p} appeared on the host`);
    assert.equal(sha(join(f.workspace, '.vscode/tasks.json')), tasks, 'tasks.json is unchanged');
    assertMountDenied(s, join(f.workspace, '.git/hooks'), 'trust-handoff');
    assertMountDenied(s, join(f.workspace, '.vscode/tasks.json'), 'trust-handoff');
    assertMountDenied(s, join(f.workspace, '.git/config'), 'trust-handoff');
  },
);

void test('redteam-32 a secret cannot be hard-linked into the workspace', { skip }, async (t) => {
  const f = fixture(t);
  const tries = {
    'link-aws': `ln ${join(f.home, '.aws/credentials')} c && cat c`,
    'link-ssh': `ln ${join(f.home, '.ssh/id_rsa')} k && cat k`,
    'link-shadow': 'ln /etc/shadow s && cat s',
    // A readable file in another mount: EXDEV, so nothing in the workspace aliases it.
    'link-readable': `ln ${join(f.home, '.gitconfig')} g`,
  };
  const s = await runSession(f, attempts(tries));
  assertFailed(s, Object.keys(tries));
  assertNoLeak(s);
  for (const n of ['c', 'k', 's', 'g'])
    assert.ok(!existsSync(join(f.workspace, n)), `${n} appeared on the host`);
  assertEndedNormally(s);
  assertMountDenied(s, join(f.home, '.aws'), 'home-secrets');
  assertMountDenied(s, join(f.home, '.ssh'), 'home-secrets');
  assertMountDenied(s, '/etc/shadow', 'system-secrets');
});

void test(
  'redteam-33 /proc path aliases (/proc/self/root, /proc/1/root, /proc/self/cwd/..) reach the same masked view',
  { skip },
  async (t) => {
    const f = fixture(t);
    const key = join(f.home, '.ssh/id_rsa');
    const tries = {
      'self-root': `cat /proc/self/root${key}`,
      'pid1-root': `cat /proc/1/root${key}`,
      'cwd-dotdot': 'cat /proc/self/cwd/../home/.ssh/id_rsa',
      'self-root-other': `cat /proc/self/root${join(f.other, 'secret.txt')}`,
      'self-root-shadow': 'cat /proc/self/root/etc/shadow',
    };
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assertNoLeak(s);
    assertEndedNormally(s);
    assertMountDenied(s, join(f.home, '.ssh'), 'home-secrets');
    assertStartLists(s, 'namespaces', 'pid');
  },
);

void test(
  'redteam-34 host processes are invisible in the fresh /proc, and the session token is in no host argv',
  { skip },
  async (t) => {
    const f = fixture(t);
    const suffix = String(Date.now());
    const mark = `rt-host-${suffix}`;
    const hostProcess = spawn('bash', ['-c', `exec -a ${mark} sleep 30`], {
      env: { PATH: process.env.PATH ?? '', RT_HOST_SECRET: mark },
      stdio: 'ignore',
    });
    t.after(() => hostProcess.kill('SIGKILL'));
    const running = runSession(
      f,
      [
        // The marker is assembled at run time, so this script's own command line does not carry it.
        `M=rt-host; echo "$M-${suffix}" > /tmp/marker`,
        'echo "host-matches: $(grep -lsF -f /tmp/marker /proc/[0-9]*/cmdline /proc/[0-9]*/environ | wc -l)"',
        'echo "pids: $(ls -d /proc/[0-9]* | wc -l)"',
        'echo "pid1: $(tr "\\0" " " < /proc/1/cmdline | cut -c1-40)"',
        'echo "$HTTP_PROXY" > token-url',
        'for i in $(seq 100); do [ -e host-done ] && break; sleep 0.05; done',
      ].join('\n'),
    );
    // While the session runs: the proxy token must not be in any host process's argv (world-readable).
    assert.ok(
      await eventually(() => existsSync(join(f.workspace, 'token-url')), 5000),
      'the session started',
    );
    const token = /perimeter:([^@]+)@/.exec(readFileSync(join(f.workspace, 'token-url'), 'utf8'))?.[1] ?? '';
    assert.ok(token.length > 10, 'the workload has its token');
    const carriers: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(token)) carriers.push(pid);
      } catch {
        // gone
      }
    }
    writeFileSync(join(f.workspace, 'host-done'), '');
    const s = await running;
    assert.match(s.stdout, /^host-matches: 0$/m, show(s));
    assert.ok(Number(/^pids: (\d+)$/m.exec(s.stdout)?.[1]) < 20, 'only the sandbox processes are in /proc');
    assert.match(s.stdout, /^pid1: .*(bwrap|perimeter)/m);
    assert.deepEqual(carriers, [], 'host processes whose argv carries the session token');
    assertEndedNormally(s);
    assertStartLists(s, 'namespaces', 'pid');
  },
);

void test(
  'redteam-35 racing a protected path against the launch (dir ↔ symlink swaps) never exposes or writes the target',
  { skip },
  async (t) => {
    const f = fixture(t);
    mkdirSync(join(f.workspace, '.vscode'));
    link(join(f.home, '.ssh'), join(f.workspace, 'vs-link'));
    // On the host, a tight loop swaps .vscode between a directory and a symlink to ~/.ssh.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); process.chdir(${JSON.stringify(f.workspace)});
       const mv = (a, b) => { try { fs.renameSync(a, b); } catch {} };
       for (;;) { mv('.vscode', 'vs-dir'); mv('vs-link', '.vscode'); mv('.vscode', 'vs-link'); mv('vs-dir', '.vscode'); }`,
      ],
      { stdio: 'ignore' },
    );
    t.after(() => swapper.kill('SIGKILL'));
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const s = await runSession(
        f,
        'cat .vscode/id_rsa 2>/dev/null; echo x > .vscode/x 2>/dev/null; echo ran',
        {
          audit: join(f.root, 'audit', `race-${i}.jsonl`),
        },
      );
      assert.equal(s.timedOut, false, show(s));
      assertNoLeak(s);
      assert.ok(s.spoolIntact, `the spool verifies: ${s.spoolProblems.join('; ')}`);
      const ended = s.events.find((e) => e.type === 'session.end');
      const refused = s.events.find((e) => e.type === 'session.refused');
      assert.ok(ended ?? refused, `each launch ended or was refused, and said so\n${s.spool}`);
      outcomes.push(refused ? 'refused' : s.stdout.includes('ran') ? 'ran' : `aborted ${String(s.code)}`);
    }
    swapper.kill('SIGKILL');
    assert.ok(
      !existsSync(join(f.home, '.ssh/x')),
      'nothing was written into ~/.ssh through the swapped path',
    );
    t.diagnostic(`launch outcomes under the race: ${outcomes.join(', ')}`);
  },
);

void test(
  "redteam-36 the sandbox's own assets (helper, seccomp filter, verify list, /run) are read-only and Perimeter's install is invisible",
  { skip },
  async (t) => {
    const f = fixture(t);
    const tries = {
      'write-seccomp': 'echo x > /run/perimeter/seccomp.bpf',
      'write-helper': 'echo x > /run/perimeter/init',
      'write-verify': 'echo x >> /run/perimeter/verify',
      'new-in-run': 'touch /run/perimeter/sockets/x',
      'new-in-root': 'touch /evil',
      'see-install': `ls ${REPO_ROOT}packages`,
    };
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assertEndedNormally(s);
  },
);

void test(
  'redteam-36 the session cannot edit or delete its own audit spool, wherever --audit puts it',
  { skip },
  async (t) => {
    const f = fixture(t);
    const spool = join(f.workspace, 'audit.jsonl');
    const s = await runSession(
      f,
      attempts({
        'truncate-spool': `: > ${spool}`,
        'delete-spool': `rm ${spool}`,
      }),
      { audit: spool },
    );
    assert.ok(existsSync(spool), 'the spool still exists');
    assertEndedNormally(s);
    assertFailed(s, ['truncate-spool', 'delete-spool']);
  },
);

void test(
  'redteam-37 the session cannot edit its own policy; an invalid or padded policy fails closed',
  { skip },
  async (t) => {
    const f = fixture(t);
    const policyFile = join(f.workspace, 'perimeter.yaml');
    const s = await runSession(
      f,
      attempts({
        'append-policy': `echo "# widened" >> ${policyFile}`,
        'sed-policy': `sed -i s/deny/allow/ ${policyFile}`,
        'move-policy': `mv ${policyFile} p.yaml`,
        'delete-policy': `rm -f ${policyFile}`,
        'claude-local-settings': 'mkdir -p .claude && echo {} > .claude/settings.local.json',
      }),
      { policyFile },
    );
    assertFailed(s, ['append-policy', 'sed-policy', 'move-policy', 'delete-policy', 'claude-local-settings']);
    assertEndedNormally(s);
    assert.equal(readFileSync(policyFile, 'utf8'), policyYaml(f), 'the policy file is unchanged');
    assert.equal(s.events.find((e) => e.type === 'session.start')?.outcome?.policies, 'redteam');
    // A later run with a corrupted policy, or one with a no-op key that looks protective, never
    // falls back to defaults: it refuses, and nothing runs.
    for (const [name, policy] of [
      ['corrupt', `${policyYaml(f)}\n  : [unbalanced\n`],
      ['padded', policyYaml(f).replace('mode: enforce', 'mode: enforce\nprotectEverything: true')],
    ] as const) {
      const r = await runSession(f, 'touch ran', { policy, audit: join(f.root, 'audit', `${name}.jsonl`) });
      assert.equal(r.code, 3, `${name}: invalid policy\n${show(r)}`);
      assert.ok(!existsSync(join(f.workspace, 'ran')), `${name}: nothing ran`);
      assert.equal(
        r.events.find((e) => e.type === 'session.start'),
        undefined,
        `${name}: no session started`,
      );
    }
    // Perimeter's state in HOME (the compiled-policy cache, default spools) is out of reach even
    // when HOME is writable: a poisoned cache would be a later session's policy.
    const state = join(f.home, '.local/state/perimeter');
    assert.ok(existsSync(state), 'the CLI keeps state in HOME');
    const d = await runSession(
      f,
      attempts({
        'list-state': `ls ${state}`,
        'write-state': `mkdir -p ${join(state, 'policy-cache')} && echo x > ${join(state, 'policy-cache/x.json')}`,
        'replace-state': `mv ${state} ${state}.old`,
      }),
      { policy: policyYaml(f, { home: 'rw' }), audit: join(f.root, 'audit', 'state.jsonl') },
    );
    assertFailed(d, ['list-state', 'write-state', 'replace-state']);
    assertEndedNormally(d);
  },
);

void test(
  'redteam-38 devices and shared memory: minimal /dev, private /dev/shm, no kvm, fuse or disks',
  { skip },
  async (t) => {
    const f = fixture(t);
    const name = `rt-shm-${Date.now()}`;
    const s = await runSession(
      f,
      attempts(
        {
          kvm: 'test -e /dev/kvm',
          fuse: 'test -e /dev/fuse',
          mem: 'test -e /dev/mem',
          disks: 'ls /dev/sd* /dev/vd* /dev/nvme* /dev/xvd*',
        },
        [`echo shm > /dev/shm/${name}`, 'echo "dev: $(ls /dev | tr "\\n" " ")"'].join('\n'),
      ),
    );
    assertFailed(s, ['kvm', 'fuse', 'mem', 'disks']);
    assert.ok(!existsSync(`/dev/shm/${name}`), "the workload's /dev/shm is not the host's");
    assert.match(s.stdout, /^dev: .*\bnull\b.*\burandom\b/m);
    assertEndedNormally(s);
  },
);
