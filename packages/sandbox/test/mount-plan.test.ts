// The mount plan over real directories: policies loaded and compiled by the real policy package,
// host facts from the real hostView against a temp directory built with fs for each test. Every
// security case carries its red-team id (research/sandbox.md §4) or compatibility id (§5).
//
// Assertions speak about what the session would see: `seenAs(plan, path)` replays the planned
// mounts in order (parents first, later mounts on top) and says whether a path is read-write,
// read-only, masked, or not the host's at all ('none': not mounted, or the sandbox's own tmpfs;
// the fixtures live in the host's /tmp, which the session replaces with a private one).
//
// Tests marked `todo` describe gaps found while writing this suite; they run, and are expected to
// fail until mount-plan.ts is fixed (then drop the `todo`).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createEngine, loadPolicies, type Engine } from '@perimeter/policy';
import { hostView } from '../src/host-view.js';
import { compareReview, snapshotReview } from '../src/review.js';
import {
  PlanError,
  planMounts,
  type EntryFact,
  type HostView,
  type MountPlan,
  type PlanInput,
} from '../src/mount-plan.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: a real directory tree and a policy engine

/** A directory, a file with this content, or a symlink with this target. */
type Entry = { readonly dir: true } | string | { readonly link: string };
const DIR = { dir: true } as const;
const link = (target: string): Entry => ({ link: target });

interface Host {
  /** Canonical (realpath) temp directory holding everything below. */
  readonly root: string;
  readonly home: string;
  readonly workspace: string;
  readonly maskDir: { readonly path: string } & EntryFact;
  readonly maskFile: { readonly path: string } & EntryFact;
}

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function factOf(path: string): EntryFact {
  const f = hostView.lstat(path);
  assert.ok(f, `the fixture ${path} exists`);
  return f;
}

/**
 * A temp directory with `home/`, `ws/` (the workspace) and the session's mode-0000 mask directory
 * and file, plus `layout` (paths relative to the temp directory, parents created as needed).
 */
function makeHost(layout: Readonly<Record<string, Entry>> = {}): Host {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-plan-')));
  made.push(root);
  const home = join(root, 'home');
  const workspace = join(root, 'ws');
  mkdirSync(home);
  mkdirSync(workspace);
  mkdirSync(join(root, 'session'));
  const maskDir = join(root, 'session/mask-dir');
  const maskFile = join(root, 'session/mask-file');
  mkdirSync(maskDir);
  writeFileSync(maskFile, '');
  chmodSync(maskDir, 0o000);
  chmodSync(maskFile, 0o000);
  for (const [rel, entry] of Object.entries(layout)) {
    const path = join(root, rel);
    if (typeof entry === 'string') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, entry);
    } else if ('dir' in entry) {
      mkdirSync(path, { recursive: true });
    } else {
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(entry.link, path);
    }
  }
  return {
    root,
    home,
    workspace,
    maskDir: { path: maskDir, ...factOf(maskDir) },
    maskFile: { path: maskFile, ...factOf(maskFile) },
  };
}

interface Rule {
  readonly id: string;
  readonly paths: readonly string[];
  readonly access?: 'read' | 'write' | 'rw';
  readonly private?: boolean;
}

interface FilesystemSection {
  readonly allow?: readonly Rule[];
  readonly deny?: readonly Rule[];
  readonly ask?: readonly Rule[];
}

const WORKSPACE_RW: Rule = { id: 'workspace', paths: ['${workspace}/**'], access: 'rw' };

/** One policy document (JSON is YAML) with this filesystem section. */
function policyText(filesystem: FilesystemSection): string {
  const doc = {
    apiVersion: 'perimeter/v1',
    kind: 'Policy',
    metadata: { name: 'plan-test', layer: 'org' },
    filesystem: { default: 'deny', ...filesystem },
  };
  return JSON.stringify(doc, null, 2);
}

/** An engine over one policy document through the real loader and compiler. */
function engineFor(host: Host, filesystem: FilesystemSection): Engine {
  const loaded = loadPolicies([{ file: 'plan-test.yaml', text: policyText(filesystem) }]);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors, [], 'the test policy must load without errors');
  return createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: host.home, workspace: host.workspace } },
  );
}

function planFor(
  host: Host,
  filesystem: FilesystemSection,
  extra: Partial<
    Pick<PlanInput, 'readOnly' | 'hidden' | 'grantedInHidden' | 'skeletonOf' | 'scanLimit' | 'view' | 'start'>
  > = {},
): MountPlan {
  return planMounts({
    engine: engineFor(host, filesystem),
    view: hostView,
    workspace: host.workspace,
    home: host.home,
    maskDir: host.maskDir,
    maskFile: host.maskFile,
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a plan

function isUnder(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

type Seen = 'rw' | 'ro' | 'masked' | 'none';

/** What the session sees at `path`: the last planned mount at it or above it decides. */
function seenAs(plan: MountPlan, path: string): Seen {
  let seen: Seen = 'none';
  for (const { mount } of plan.mounts) {
    if (!isUnder(path, mount.dest)) continue;
    switch (mount.op) {
      case 'bind':
        seen = mount.writable ? 'rw' : 'ro';
        break;
      case 'mask':
        seen = 'masked';
        break;
      case 'tmpfs':
      case 'empty':
        seen = 'none';
        break;
    }
  }
  return seen;
}

function mountsAt(plan: MountPlan, dest: string): MountPlan['mounts'] {
  return plan.mounts.filter((m) => m.mount.dest === dest);
}

/** The one planned mount at `dest`. */
function mountAt(plan: MountPlan, dest: string): MountPlan['mounts'][number] {
  const found = mountsAt(plan, dest);
  assert.equal(found.length, 1, `one mount at ${dest}, got ${JSON.stringify(found)}`);
  const [m] = found;
  assert.ok(m);
  return m;
}

function ruleOf(m: MountPlan['mounts'][number]): string | undefined {
  return m.decision?.rules[0]?.rule;
}

function assertVerified(plan: MountPlan, path: string, fact: EntryFact): void {
  assert.ok(
    plan.verify.some((v) => v.path === path && v.dev === fact.dev && v.ino === fact.ino),
    `the verify list pins ${path} to ${fact.dev}:${fact.ino}: ${JSON.stringify(plan.verify.filter((v) => v.path === path))}`,
  );
}

function depth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}

// ---------------------------------------------------------------------------------------------

describe('mount plan: what the policy allows', () => {
  it('binds an allowed dir/** read-write or read-only, per the rule’s access', () => {
    const host = makeHost({ 'data/': DIR, 'data/a.txt': 'a' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'data', paths: [`${host.root}/data/**`], access: 'read' }],
    });
    const ws = mountAt(plan, host.workspace);
    assert.deepEqual(ws.mount, { op: 'bind', source: host.workspace, dest: host.workspace, writable: true });
    assert.equal(ruleOf(ws), 'workspace');
    const data = mountAt(plan, join(host.root, 'data'));
    assert.deepEqual(data.mount, {
      op: 'bind',
      source: join(host.root, 'data'),
      dest: join(host.root, 'data'),
      writable: false,
    });
    assert.equal(ruleOf(data), 'data');
    assertVerified(plan, host.workspace, factOf(host.workspace));
    assertVerified(plan, join(host.root, 'data'), factOf(join(host.root, 'data')));
    assert.equal(seenAs(plan, join(host.root, 'data/a.txt')), 'ro');
  });

  it('binds an exact allowed path (a file) at its own path', () => {
    const host = makeHost({ 'home/.gitconfig': '[user]\n' });
    const gitconfig = join(host.home, '.gitconfig');
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'git-identity', paths: ['~/.gitconfig'] }] });
    assert.deepEqual(mountAt(plan, gitconfig).mount, {
      op: 'bind',
      source: gitconfig,
      dest: gitconfig,
      writable: false,
    });
    assert.equal(seenAs(plan, join(host.home, '.bashrc')), 'none', 'the rest of home stays out');
  });

  it('does not mount an allowed path that does not exist', () => {
    const host = makeHost();
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'gone', paths: [`${host.root}/gone/**`] }] });
    assert.deepEqual(mountsAt(plan, join(host.root, 'gone')), []);
  });

  it('does not mount a glob-shaped allow pattern, and says so in the notes', () => {
    const host = makeHost({ 'certs/a.pem': 'x' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'pem', paths: [`${host.root}/certs/*.pem`] }],
    });
    assert.equal(seenAs(plan, join(host.root, 'certs/a.pem')), 'none');
    assert.ok(
      plan.notes.some((n) => n.includes(`${host.root}/certs/*.pem (rule pem) is not mounted`)),
      JSON.stringify(plan.notes),
    );
  });

  it('compat-13: an allowed dotfile symlink is not mounted when its target is not allowed, and the plan says why', () => {
    const host = makeHost({
      'home/dotfiles/gitconfig': '[user]\n',
      'home/.gitconfig': link('dotfiles/gitconfig'),
    });
    const gitconfig = join(host.home, '.gitconfig');
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'git-identity', paths: ['~/.gitconfig'] }] });
    assert.deepEqual(mountsAt(plan, gitconfig), []);
    assert.ok(
      plan.notes.some((n) =>
        n.includes(`${gitconfig} is a symlink to ${join(host.home, 'dotfiles/gitconfig')}`),
      ),
      JSON.stringify(plan.notes),
    );
  });

  it('compat-13: an allowed dotfile symlink is mounted as its target when the target is allowed too', () => {
    const host = makeHost({
      'home/dotfiles/gitconfig': '[user]\n',
      'home/.gitconfig': link('dotfiles/gitconfig'),
    });
    const gitconfig = join(host.home, '.gitconfig');
    const target = join(host.home, 'dotfiles/gitconfig');
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'git-identity', paths: ['~/.gitconfig'] },
        { id: 'dotfiles', paths: ['~/dotfiles/**'] },
      ],
    });
    assert.deepEqual(mountAt(plan, gitconfig).mount, {
      op: 'bind',
      source: target,
      dest: gitconfig,
      writable: false,
    });
    assertVerified(plan, gitconfig, factOf(target));
  });
});

describe('mount plan: denials', () => {
  it('redteam-25: a denial inside a mounted directory is masked with the mode-0000 mask, never a writable tmpfs', () => {
    const host = makeHost({ 'ws/secrets/key': 'k', 'ws/token.txt': 't' });
    const secrets = join(host.workspace, 'secrets');
    const token = join(host.workspace, 'token.txt');
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      deny: [
        { id: 'secrets', paths: ['${workspace}/secrets/**'] },
        { id: 'token', paths: ['${workspace}/token.txt'] },
      ],
    });
    const dir = mountAt(plan, secrets);
    assert.deepEqual(dir.mount, { op: 'mask', dest: secrets, as: 'dir' });
    assert.equal(dir.decision?.decision, 'deny');
    assert.equal(ruleOf(dir), 'secrets');
    assertVerified(plan, secrets, host.maskDir);
    const file = mountAt(plan, token);
    assert.deepEqual(file.mount, { op: 'mask', dest: token, as: 'file' });
    assert.equal(ruleOf(file), 'token');
    assertVerified(plan, token, host.maskFile);
    assert.equal(seenAs(plan, join(secrets, 'key')), 'masked');
    assert.equal(seenAs(plan, join(secrets, 'new-file')), 'masked', 'nothing can be written there either');
  });

  it('redteam-24: denied paths outside every mount are hidden, with the deciding rule', () => {
    const host = makeHost({ 'home/.ssh/id_rsa': 'k', 'home/.aws/credentials': 'c' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      deny: [
        { id: 'ssh', paths: ['~/.ssh/**'] },
        { id: 'aws', paths: ['~/.aws/**'] },
      ],
    });
    const byPath = new Map(plan.hidden.map((h) => [h.path, h.decision]));
    for (const [path, rule] of [
      [join(host.home, '.ssh'), 'ssh'],
      [join(host.home, '.aws'), 'aws'],
    ] as const) {
      const d = byPath.get(path);
      assert.equal(d?.decision, 'deny', `${path} is listed as hidden`);
      assert.equal(d?.rules[0]?.rule, rule);
    }
    assert.equal(seenAs(plan, join(host.home, '.ssh/id_rsa')), 'none');
    assert.ok(
      plan.mounts.every((m) => !isUnder(m.mount.dest, host.home)),
      'nothing of home is mounted by default',
    );
  });

  it('masks ask rules like denials: there is no one to ask at mount time', () => {
    const host = makeHost({ 'ws/deploy/prod.yaml': 'x' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      ask: [{ id: 'deploy', paths: ['${workspace}/deploy/**'] }],
    });
    const m = mountAt(plan, join(host.workspace, 'deploy'));
    assert.equal(m.mount.op, 'mask');
    assert.equal(m.decision?.decision, 'ask');
  });

  it('makes a write-only denial (access: write) in a writable root a read-only bind', () => {
    const host = makeHost({ 'ws/vendor/lib.js': 'x' });
    const vendor = join(host.workspace, 'vendor');
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      deny: [{ id: 'vendored', paths: ['${workspace}/vendor/**'], access: 'write' }],
    });
    const m = mountAt(plan, vendor);
    assert.deepEqual(m.mount, { op: 'bind', source: vendor, dest: vendor, writable: false });
    assert.equal(ruleOf(m), 'vendored');
    assertVerified(plan, vendor, factOf(vendor));
    assert.equal(seenAs(plan, join(vendor, 'lib.js')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, 'src.js')), 'rw');
  });

  it('blocks creating a write-denied path that does not exist yet, by masking its first missing component', () => {
    const host = makeHost({ 'ws/build/': DIR });
    const target = join(host.workspace, 'build/release');
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      deny: [{ id: 'release', paths: ['${workspace}/build/release/**'], access: 'write' }],
    });
    assert.deepEqual(mountAt(plan, target).mount, { op: 'mask', dest: target, as: 'empty' });
    assert.ok(plan.createsOnHost.includes(target));
    assertVerified(plan, target, host.maskDir);
  });

  it('leaves a write-only denial inside a read-only root alone (it is read-only already)', () => {
    const host = makeHost({ 'data/locked/a': 'x' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'data', paths: [`${host.root}/data/**`] }],
      deny: [{ id: 'locked', paths: [`${host.root}/data/locked/**`], access: 'write' }],
    });
    assert.deepEqual(mountsAt(plan, join(host.root, 'data/locked')), []);
    assert.equal(seenAs(plan, join(host.root, 'data/locked/a')), 'ro');
  });

  it('redteam-24: **/.env is found at any depth of the workspace, node_modules included, and masked', () => {
    const host = makeHost({
      'ws/.env': 's',
      'ws/a/b/c/d/.env': 's',
      'ws/node_modules/pkg/.env': 's',
      'ws/.env.example': 'public',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW], deny: [{ id: 'env', paths: ['**/.env'] }] });
    for (const rel of ['.env', 'a/b/c/d/.env', 'node_modules/pkg/.env']) {
      const path = join(host.workspace, rel);
      const m = mountAt(plan, path);
      assert.deepEqual(m.mount, { op: 'mask', dest: path, as: 'file' });
      assert.equal(ruleOf(m), 'env');
      assertVerified(plan, path, host.maskFile);
    }
    assert.equal(seenAs(plan, join(host.workspace, '.env.example')), 'rw');
  });

  it('redteam-24: **/.env is masked in read-only grants and other writable grants too, not in private ones', () => {
    const host = makeHost({
      'ws/.env': 's',
      'home/projects/api/.env': 's',
      'home/projects/api/readme': 'r',
      'home/.cache/tool/.env': 's',
      'data/deep/er/.env': 's',
    });
    const plan = planFor(host, {
      allow: [
        { id: 'workspace', paths: ['${workspace}/**'], access: 'read' },
        { id: 'home', paths: ['~/**'], access: 'read' },
        { id: 'cache', paths: ['~/.cache/**'], access: 'rw', private: true },
        { id: 'data', paths: [`${host.root}/data/**`], access: 'rw' },
        { id: 'system', paths: ['/usr/**'], access: 'read' },
      ],
      deny: [{ id: 'env', paths: ['**/.env'] }],
    });
    for (const rel of ['ws/.env', 'home/projects/api/.env', 'data/deep/er/.env']) {
      const path = join(host.root, rel);
      assert.deepEqual(mountAt(plan, path).mount, { op: 'mask', dest: path, as: 'file' }, rel);
      assert.equal(ruleOf(mountAt(plan, path)), 'env');
    }
    assert.equal(seenAs(plan, join(host.home, 'projects/api/readme')), 'ro');
    // The session sees its own empty ~/.cache, so what the host keeps there needs no mask.
    assert.deepEqual(mountsAt(plan, join(host.home, '.cache/tool/.env')), []);
    assert.ok(
      plan.notes.some(
        (n) => n.includes('**/.env') && n.includes('not searched for in the system directories /usr'),
      ),
      plan.notes.join('\n'),
    );
  });

  it('redteam-24: floating denials over grants too large to search refuse the launch, saying how to fix it', () => {
    const host = makeHost({ 'home/a/1': 'x', 'home/a/2': 'x', 'home/b/3': 'x', 'ws/x': 'x' });
    const filesystem = {
      allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'read' as const }],
      deny: [{ id: 'env', paths: ['**/.env'] }],
    };
    assert.throws(
      () => planFor(host, filesystem, { scanLimit: 4 }),
      (e: unknown) =>
        e instanceof PlanError &&
        /too many to search for \*\*\/\.env/.test(e.message) &&
        /grant narrower directories/.test(e.fix),
    );
  });

  it('redteam-24: a floating pattern is decided only for the names it can match, with the same plan as deciding every path', () => {
    const host = makeHost({
      'ws/app/secrets/db.txt': 's',
      'ws/app/secrets/deep/key.txt': 's',
      'ws/node_modules/pkg/certs/server.pem': 's',
      'ws/home/.aws/prod/credentials': 's',
      'ws/home/.aws/prod/config': 'c',
      'ws/build/generated/out.js': 'x',
      'ws/src/secretsfile': 'x',
      'ws/src/index.ts': 'x',
    });
    const filesystem: FilesystemSection = {
      allow: [WORKSPACE_RW],
      deny: [
        { id: 'secrets', paths: ['**/secrets/**'] },
        { id: 'pem', paths: ['${workspace}/**/*.pem'] },
        { id: 'aws', paths: ['**/.aws/*/credentials'] },
        { id: 'generated', paths: ['**/generated/**'], access: 'write' },
      ],
    };
    const input = {
      view: hostView,
      workspace: host.workspace,
      home: host.home,
      maskDir: host.maskDir,
      maskFile: host.maskFile,
    };
    const engine = engineFor(host, filesystem);
    const plan = planMounts({ engine, ...input });
    assert.equal(seenAs(plan, join(host.workspace, 'app/secrets/deep/key.txt')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'node_modules/pkg/certs/server.pem')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'home/.aws/prod/credentials')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'home/.aws/prod/config')), 'rw');
    assert.equal(seenAs(plan, join(host.workspace, 'build/generated/out.js')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, 'src/secretsfile')), 'rw');
    // The same engine with every pattern claiming every name: the walk decides every path.
    const everyPath = Object.create(engine, {
      filesystemAnchors: {
        value: () =>
          engine.filesystemAnchors().map((a) => ({ ...a, mayMatchName: () => true, coversBelowMatch: true })),
      },
    }) as Engine;
    assert.deepEqual(planMounts({ engine: everyPath, ...input }).mounts, plan.mounts);
  });

  it('redteam-26: a denied symlink in the workspace masks what it points to', () => {
    const host = makeHost({ 'ws/config/real.env': 's', 'ws/.env': link('config/real.env') });
    const plan = planFor(host, { allow: [WORKSPACE_RW], deny: [{ id: 'env', paths: ['**/.env'] }] });
    assert.equal(seenAs(plan, join(host.workspace, 'config/real.env')), 'masked');
  });

  it('does not walk into masked directories', () => {
    const layout: Record<string, Entry> = { 'ws/private/repo/.git/config': '' };
    for (let i = 0; i < 50; i++) layout[`ws/private/f${i}`] = 'x';
    const host = makeHost(layout);
    // Walking into private/ would visit more than 20 entries and refuse the launch.
    const plan = planFor(
      host,
      { allow: [WORKSPACE_RW], deny: [{ id: 'private', paths: ['${workspace}/private/**'] }] },
      { scanLimit: 20 },
    );
    assert.equal(mountAt(plan, join(host.workspace, 'private')).mount.op, 'mask');
    assert.deepEqual(
      plan.mounts.filter((m) => isUnder(m.mount.dest, join(host.workspace, 'private/repo'))),
      [],
      'a repository under a masked directory needs no protection of its own',
    );
  });

  it('refuses the launch with a PlanError when the workspace holds more entries than scanLimit', () => {
    const layout: Record<string, Entry> = {};
    for (let i = 0; i < 30; i++) layout[`ws/f${i}`] = 'x';
    const host = makeHost(layout);
    assert.throws(
      () => planFor(host, { allow: [WORKSPACE_RW] }, { scanLimit: 20 }),
      (e: unknown) => e instanceof PlanError && /more than 20 entries/.test(e.message) && e.fix !== '',
    );
    assert.doesNotThrow(() => planFor(host, { allow: [WORKSPACE_RW] }, { scanLimit: 100 }));
  });

  it('refuses the launch with a PlanError when the policy grants nothing of the workspace', () => {
    const host = makeHost({ 'ws/file': 'x', 'home/notes/a': 'x' });
    assert.throws(
      () => planFor(host, { allow: [{ id: 'notes', paths: ['~/notes/**'], access: 'read' }] }),
      (e: unknown) =>
        e instanceof PlanError && /no access to its workspace/.test(e.message) && /--workspace/.test(e.fix),
    );
  });

  it('a session that starts elsewhere (an MCP server with workspace: none, in its home) needs only that directory, not the workspace', () => {
    const host = makeHost({ 'ws/file': 'x', 'home/box/cache': 'x' });
    const home = join(host.home, 'box');
    const box = { allow: [{ id: 'server-home', paths: [`${home}/**`], access: 'rw' as const }] };
    const plan = planFor(host, box, { start: home });
    assert.deepEqual(mountAt(plan, home).mount, { op: 'bind', source: home, dest: home, writable: true });
    assert.deepEqual(
      plan.mounts.filter((m) => isUnder(m.mount.dest, host.workspace)),
      [],
      'the workspace is not there',
    );
    // A desktop client starts the gateway in ~, where Perimeter's state (and the server's home) is.
    const inHome = { ...host, workspace: host.home };
    const fromHome = planFor(inHome, box, { start: home });
    assert.deepEqual(mountAt(fromHome, home).mount, { op: 'bind', source: home, dest: home, writable: true });
    assert.throws(
      () => planFor(host, box, { start: join(host.home, 'elsewhere') }),
      (e: unknown) =>
        e instanceof PlanError && /no access to .*elsewhere, where it starts/.test(e.message) && e.fix !== '',
    );
  });
});

describe('mount plan: submodule git directories', () => {
  it('redteam-30: with some submodules initialised, no new .git/modules/NAME can be planted; existing ones stay writable with protected hooks', () => {
    const host = makeHost({
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/.git/modules/s1/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/modules/s1/objects/': DIR,
      'ws/.git/modules/s1/hooks/': DIR,
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const modules = join(host.workspace, '.git/modules');
    assert.equal(seenAs(plan, join(modules, 'planted/hooks/post-checkout')), 'ro');
    assert.equal(seenAs(plan, join(modules, 's1/objects/pack')), 'rw');
    assert.equal(seenAs(plan, join(modules, 's1/hooks/post-checkout')), 'ro');
  });

  it('redteam-30, redteam-42: a submodule git directory in a writable root other than the workspace has its config read, as in the workspace', () => {
    const repo = (dir: string): Record<string, Entry> => ({
      [`${dir}/.git/HEAD`]: 'ref: refs/heads/main\n',
      [`${dir}/.git/objects/`]: DIR,
      [`${dir}/.git/config`]: '',
      [`${dir}/.git/modules/sub/HEAD`]: 'ref: refs/heads/main\n',
      [`${dir}/.git/modules/sub/objects/`]: DIR,
      [`${dir}/sub/`]: DIR,
    });
    const host = makeHost({ ...repo('home/proj'), ...repo('ws') });
    const other = join(host.home, 'proj');
    const configOf = (dir: string): string => join(dir, '.git/modules/sub/config');
    // As `git submodule` leaves it, with an absolute hooks path (the temp directory's name is known now).
    for (const dir of [other, host.workspace])
      writeFileSync(configOf(dir), `[core]\n\tworktree = ../../../sub\n\thooksPath = ${dir}/planted-hooks\n`);
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'proj', paths: ['~/proj/**'], access: 'rw' }],
    });
    assert.notEqual(seenAs(plan, join(host.workspace, 'planted-hooks/pre-commit')), 'rw', 'workspace');
    assert.notEqual(seenAs(plan, join(other, 'planted-hooks/pre-commit')), 'rw', 'another writable root');
    assert.equal(seenAs(plan, configOf(other)), 'ro');
    assert.equal(seenAs(plan, join(other, '.git/modules/sub/objects/pack')), 'rw', 'fetches still work');
  });

  it('redteam-42: the hooks path of a submodule git directory without core.worktree is protected too', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.git/modules/sub/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/modules/sub/objects/': DIR,
    });
    const gitDir = join(host.workspace, '.git/modules/sub');
    writeFileSync(
      join(gitDir, 'config'),
      `[core]\n\thooksPath = ${host.workspace}/abs-hooks\n\thooksPath = rel-hooks\n`,
    );
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.notEqual(seenAs(plan, join(host.workspace, 'abs-hooks/pre-commit')), 'rw', 'absolute');
    // Used from inside, as a bare repository is: a relative path starts at the git directory.
    assert.notEqual(seenAs(plan, join(gitDir, 'rel-hooks/pre-commit')), 'rw', 'relative');
  });

  it('redteam-30, redteam-42: a submodule’s own submodule git directories are guarded and read the same way', () => {
    const host = makeHost({
      'home/proj/.git/HEAD': 'ref: refs/heads/main\n',
      'home/proj/.git/objects/': DIR,
      'home/proj/.git/config': '',
      'home/proj/.git/modules/a/HEAD': 'ref: refs/heads/main\n',
      'home/proj/.git/modules/a/objects/': DIR,
      'home/proj/.git/modules/a/config': '',
      'home/proj/.git/modules/a/modules/b/HEAD': 'ref: refs/heads/main\n',
      'home/proj/.git/modules/a/modules/b/objects/': DIR,
      'home/proj/.git/modules/a/modules/b/hooks/': DIR,
      'home/proj/.git/modules/a/modules/b/config':
        '[core]\n\tworktree = ../../../../../a/b\n\thooksPath = b-hooks\n',
      'home/proj/a/b/': DIR,
    });
    const other = join(host.home, 'proj');
    const nested = join(other, '.git/modules/a/modules');
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'proj', paths: ['~/proj/**'], access: 'rw' }],
    });
    assert.notEqual(seenAs(plan, join(other, 'a/b/b-hooks/pre-commit')), 'rw', 'its hooks path');
    assert.equal(seenAs(plan, join(nested, 'b/hooks/post-checkout')), 'ro', 'its hooks');
    assert.equal(seenAs(plan, join(nested, 'b/config')), 'ro');
    assert.equal(seenAs(plan, join(nested, 'planted/hooks/post-checkout')), 'ro', 'no new one planted');
    assert.equal(seenAs(plan, join(nested, 'b/objects/pack')), 'rw');
  });
});

describe('mount plan: writable grants that do not exist yet', () => {
  it('compat-03: a missing cache directory outside every writable grant is private to the session; inside one it is left to the session', () => {
    const host = makeHost({});
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'cache', paths: ['~/.npm/**'], access: 'rw' },
        { id: 'build', paths: ['${workspace}/build/**'], access: 'rw' },
      ],
    });
    const npm = join(host.home, '.npm');
    assert.deepEqual(mountAt(plan, npm).mount, { op: 'tmpfs', dest: npm });
    assert.equal(mountAt(plan, npm).decision?.decision, 'allow');
    assert.equal(mountsAt(plan, join(host.workspace, 'build')).length, 0);
  });
});

describe('mount plan: private directories', () => {
  it("redteam-48: an existing cache granted private is the session's own empty tmpfs, never the host's", () => {
    const host = makeHost({ 'home/.npm/_cacache/index': 'x', 'home/.cache/pip/x': 'y' });
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'home', paths: ['~/**'], access: 'read' },
        { id: 'caches', paths: ['~/.npm/**', '~/.cache/**'], access: 'rw', private: true },
      ],
    });
    for (const d of ['.npm', '.cache']) {
      const dir = join(host.home, d);
      const at = mountsAt(plan, dir);
      assert.deepEqual(
        at.map((m) => m.mount),
        [{ op: 'tmpfs', dest: dir }],
        `${d}: one tmpfs, no bind of the host's`,
      );
      assert.match(at[0]?.why ?? '', /private/);
      assert.equal(at[0]?.decision?.decision, 'allow');
      assert.equal(seenAs(plan, join(dir, 'anything')), 'none', "the host's files are not in view");
    }
  });

  it('a directory another rule also grants is still private (private wins), and the rest of home is not', () => {
    const host = makeHost({ 'home/.npm/x': 'x', 'home/notes': 'n' });
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'home', paths: ['~/**'], access: 'rw' },
        { id: 'npm-shared', paths: ['~/.npm/**'], access: 'rw' },
        { id: 'npm-private', paths: ['~/.npm/**'], access: 'rw', private: true },
      ],
    });
    assert.deepEqual(
      mountsAt(plan, join(host.home, '.npm')).map((m) => m.mount.op),
      ['tmpfs'],
    );
    assert.equal(seenAs(plan, join(host.home, 'notes')), 'rw');
  });

  it('a missing private directory inside a read-only grant is not mounted, and the plan says so', () => {
    const host = makeHost({ 'home/.keep': '' });
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'home', paths: ['~/**'], access: 'read' },
        { id: 'caches', paths: ['~/.npm/**'], access: 'rw', private: true },
      ],
    });
    assert.equal(mountsAt(plan, join(host.home, '.npm')).length, 0);
    assert.ok(
      plan.notes.some((n) => n.includes('.npm is private but does not exist')),
      plan.notes.join('\n'),
    );
  });
});

describe('mount plan: audit mode', () => {
  it('does not widen the view: denied paths stay masked, and the decision says it follows the would-be one', () => {
    const host = makeHost({ 'ws/secrets/key': 'k' });
    const doc = {
      apiVersion: 'perimeter/v1',
      kind: 'Policy',
      metadata: { name: 'audit-test', layer: 'org' },
      mode: 'audit',
      filesystem: {
        default: 'deny',
        allow: [WORKSPACE_RW],
        deny: [{ id: 'secrets', paths: ['${workspace}/secrets/**'] }],
      },
    };
    const loaded = loadPolicies([{ file: 'audit.yaml', text: JSON.stringify(doc) }]);
    assert.deepEqual(
      loaded.diagnostics.filter((d) => d.severity === 'error'),
      [],
    );
    const engine = createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: host.home, workspace: host.workspace } },
    );
    const plan = planMounts({
      engine,
      view: hostView,
      workspace: host.workspace,
      home: host.home,
      maskDir: host.maskDir,
      maskFile: host.maskFile,
    });
    const secrets = join(host.workspace, 'secrets');
    assert.equal(seenAs(plan, join(secrets, 'key')), 'masked');
    const m = mountAt(plan, secrets);
    assert.equal(m.decision?.decision, 'deny');
    assert.equal(m.decision?.mode, 'audit');
    assert.match(m.decision?.reason ?? '', /follows the would-be decision/);
  });
});

describe('mount plan: trust-handoff paths (redteam 39–49)', () => {
  it('redteam-44: shell start-up files are blocked from creation in the home directory and in the project; client config only at home', () => {
    const host = makeHost({ 'ws/.bashrc': 'echo hi', 'home/.profile': '' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }],
    });
    // In the home directory a missing .bashrc cannot be created; an existing .profile is read-only.
    assert.equal(seenAs(plan, join(host.home, '.bashrc')), 'masked');
    assert.equal(seenAs(plan, join(host.home, '.profile')), 'ro');
    // In the project, the existing .bashrc is read-only and a missing .zshrc cannot be created
    // (case 44 lists the workspace); client configuration and fish's config are trusted only at
    // home, so the project gets no mask for them.
    assert.equal(seenAs(plan, join(host.workspace, '.bashrc')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, '.zshrc')), 'masked');
    assert.ok(plan.createsOnHost.includes(join(host.workspace, '.zshrc')));
    for (const rel of ['.gitconfig', '.npmrc', '.config', '.local']) {
      assert.equal(mountsAt(plan, join(host.workspace, rel)).length, 0, rel);
      assert.equal(seenAs(plan, join(host.home, rel)), 'masked', rel);
    }
  });

  it('redteam-29: a missing trust-handoff path is blocked by masking its first missing component, created on the host', () => {
    const host = makeHost({ 'ws/.git/config': '', 'ws/.git/HEAD': 'ref: refs/heads/main\n' });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const ws = host.workspace;
    for (const rel of ['.git/hooks', '.vscode', '.envrc', '.claude', '.idea', '.mcp.json']) {
      const path = join(ws, rel);
      assert.deepEqual(mountAt(plan, path).mount, { op: 'mask', dest: path, as: 'empty' });
      assert.ok(plan.createsOnHost.includes(path), `${rel} is created on the host as a mount point`);
      assertVerified(plan, path, host.maskDir);
    }
    assert.deepEqual(
      mountsAt(plan, join(ws, '.git')).map((m) => m.mount),
      [{ op: 'bind', source: join(ws, '.git'), dest: join(ws, '.git'), writable: true }],
      '.git exists: only hooks is masked, not all of it; .git itself is pinned (a writable bind onto itself)',
    );
    assert.equal(seenAs(plan, join(ws, '.git/hooks/post-checkout')), 'masked');
    assert.equal(seenAs(plan, join(ws, '.vscode/tasks.json')), 'masked');
    assert.equal(seenAs(plan, join(ws, '.claude/settings.json')), 'masked');
    assert.equal(seenAs(plan, join(ws, '.github/hooks/a.json')), 'masked');
    assert.equal(seenAs(plan, join(ws, '.git/HEAD')), 'rw', 'git itself keeps working');
    assert.equal(new Set(plan.createsOnHost).size, plan.createsOnHost.length, 'each path is created once');
  });

  it('redteam-29: without a .git at launch, `git init` cannot plant hooks: .git itself is masked', () => {
    const host = makeHost();
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const dotGit = join(host.workspace, '.git');
    assert.deepEqual(mountAt(plan, dotGit).mount, { op: 'mask', dest: dotGit, as: 'empty' });
    assert.equal(seenAs(plan, join(dotGit, 'hooks/pre-commit')), 'masked');
  });

  it('redteam-39, redteam-40, redteam-41: existing .git/hooks, .git/config and .git/info are bound read-only', () => {
    const host = makeHost({
      'ws/.git/hooks/pre-commit.sample': '#!/bin/sh\n',
      'ws/.git/config': '[core]\n\tbare = false\n',
      'ws/.git/info/exclude': '',
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    for (const rel of ['.git/hooks', '.git/config', '.git/info']) {
      const path = join(host.workspace, rel);
      assert.deepEqual(mountAt(plan, path).mount, { op: 'bind', source: path, dest: path, writable: false });
      assertVerified(plan, path, factOf(path));
    }
    assert.equal(seenAs(plan, join(host.workspace, '.git/hooks/pre-commit')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, '.git/HEAD')), 'rw');
  });

  it('redteam-44, redteam-45, redteam-49: existing init files and IDE configs in the workspace are read-only', () => {
    const host = makeHost({
      'ws/.bashrc': '',
      'ws/.zshenv': '',
      'ws/.vscode/tasks.json': '{}',
      'ws/.claude/settings.json': '{}',
      'ws/.npmrc': '',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    for (const rel of ['.bashrc', '.zshenv', '.vscode', '.claude/settings.json', '.npmrc'])
      assert.equal(seenAs(plan, join(host.workspace, rel)), 'ro', rel);
    assert.equal(seenAs(plan, join(host.workspace, '.claude/notes.md')), 'rw', 'the rest of .claude is work');
  });

  it('redteam-44, redteam-47, redteam-49: a writable home keeps its init files, PATH directory and client configs read-only', () => {
    const host = makeHost({ 'home/.bashrc': '', 'home/.ssh/config': '', 'home/.gitconfig': '' });
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }] });
    assert.equal(seenAs(plan, join(host.home, '.bashrc')), 'ro');
    assert.equal(seenAs(plan, join(host.home, '.ssh/config')), 'ro');
    assert.equal(seenAs(plan, join(host.home, '.gitconfig')), 'ro');
    assert.equal(
      seenAs(plan, join(host.home, '.local/bin/git')),
      'masked',
      'redteam-47: nothing shadows git',
    );
    assert.equal(seenAs(plan, join(host.home, '.zshenv')), 'masked');
    assert.equal(seenAs(plan, join(host.home, 'notes.txt')), 'rw');
  });

  it('masks, rather than binds, a trust-handoff path the policy denies reading', () => {
    const host = makeHost({ 'ws/.npmrc': '//registry/:_authToken=x\n' });
    const plan = planFor(host, { allow: [WORKSPACE_RW], deny: [{ id: 'npmrc', paths: ['**/.npmrc'] }] });
    const npmrc = join(host.workspace, '.npmrc');
    assert.deepEqual(mountAt(plan, npmrc).mount, { op: 'mask', dest: npmrc, as: 'file' });
  });

  it('redteam-42: core.hooksPath from .git/config is protected, read-only when it exists', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = scripts/githooks\n',
      'ws/scripts/githooks/pre-commit': '#!/bin/sh\n',
    });
    const hooks = join(host.workspace, 'scripts/githooks');
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const m = mountAt(plan, hooks);
    assert.deepEqual(m.mount, { op: 'bind', source: hooks, dest: hooks, writable: false });
    assert.equal(m.why, 'core.hooksPath');
    assert.equal(seenAs(plan, join(host.workspace, 'scripts/build.sh')), 'rw');
  });

  it('redteam-42: core.hooksPath is protected even when absent at launch', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = "scripts/githooks/"\n',
      'ws/scripts/': DIR,
    });
    const hooks = join(host.workspace, 'scripts/githooks');
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.deepEqual(mountAt(plan, hooks).mount, { op: 'mask', dest: hooks, as: 'empty' });
    assert.ok(plan.createsOnHost.includes(hooks));
  });

  it('redteam-42: husky’s core.hooksPath = .husky/_ cannot be written, present or not', () => {
    const layouts: readonly Record<string, Entry>[] = [
      { 'ws/.husky/pre-commit': 'npm test\n' },
      { 'ws/.husky/_/husky.sh': '' },
    ];
    for (const layout of layouts) {
      const host = makeHost({ 'ws/.git/config': '[core]\n\thooksPath = .husky/_\n', ...layout });
      const plan = planFor(host, { allow: [WORKSPACE_RW] });
      const seen = seenAs(plan, join(host.workspace, '.husky/_/pre-commit'));
      assert.ok(seen === 'ro' || seen === 'masked', `.husky/_/pre-commit is ${seen}`);
    }
  });

  it('redteam-42: an absolute core.hooksPath inside a writable root is protected', () => {
    const host = makeHost({ 'ws/hooks/': DIR, 'ws/.git/': DIR });
    writeFileSync(join(host.workspace, '.git/config'), `[core]\n\thooksPath = ${host.workspace}/hooks\n`);
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.equal(seenAs(plan, join(host.workspace, 'hooks/pre-push')), 'ro');
  });

  it('redteam-43: a worktree’s .git file leads to its common git dir, whose hooks, config and info are protected', () => {
    const host = makeHost({
      'main/.git/config': '[core]\n\tbare = false\n',
      'main/.git/hooks/pre-commit.sample': '',
      'main/.git/HEAD': 'ref: refs/heads/main\n',
      'main/.git/worktrees/ws/commondir': '../..\n',
      'main/.git/worktrees/ws/HEAD': 'ref: refs/heads/topic\n',
      'ws/.git': 'gitdir: ../main/.git/worktrees/ws\n',
    });
    const common = join(host.root, 'main/.git');
    // Only the common dir is granted (a worktree needs it writable, compat-12), so the protection
    // below comes from following the .git file, not from the common dir being a writable root.
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'main-git', paths: [`${common}/**`], access: 'rw' }],
    });
    assert.equal(seenAs(plan, join(common, 'hooks/pre-commit')), 'ro');
    assert.equal(seenAs(plan, join(common, 'config')), 'ro');
    assert.equal(seenAs(plan, join(common, 'info/attributes')), 'masked');
    assert.equal(seenAs(plan, join(common, 'worktrees/ws/HEAD')), 'rw', 'the worktree still works');
  });

  it('redteam-43: a submodule’s .git file leads to .git/modules/<name>, which is protected', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.git/modules/lib/config': '',
      'ws/.git/modules/lib/hooks/': DIR,
      'ws/lib/.git': 'gitdir: ../.git/modules/lib\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.equal(seenAs(plan, join(host.workspace, '.git/modules/lib/hooks/post-checkout')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, '.git/modules/lib/config')), 'ro');
  });

  it('redteam-30: nested repositories are protected at any depth, inside node_modules too', () => {
    const host = makeHost({
      'ws/a/b/c/d/e/.git/hooks/': DIR,
      'ws/a/b/c/d/e/.git/config': '',
      'ws/node_modules/pkg/.git/config': '',
    });
    const deep = join(host.workspace, 'a/b/c/d/e/.git');
    const nm = join(host.workspace, 'node_modules/pkg/.git');
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.equal(seenAs(plan, join(deep, 'hooks/pre-commit')), 'ro');
    assert.equal(seenAs(plan, join(deep, 'config')), 'ro');
    assert.deepEqual(mountAt(plan, join(nm, 'hooks')).mount, {
      op: 'mask',
      dest: join(nm, 'hooks'),
      as: 'empty',
    });
    assert.equal(seenAs(plan, join(nm, 'config')), 'ro');
  });

  it('redteam-27: a symlinked trust-handoff path refuses the launch with a PlanError, never followed', () => {
    const cases: readonly [string, Readonly<Record<string, Entry>>][] = [
      ['.vscode', { 'ws/decoy/': DIR, 'ws/.vscode': link('decoy') }],
      ['.git/hooks', { 'ws/.git/config': '', 'ws/decoy/': DIR, 'ws/.git/hooks': link('../decoy') }],
      ['.claude', { 'ws/decoy/': DIR, 'ws/.claude': link('decoy') }],
      ['.bashrc', { 'ws/dotfiles/bashrc': '', 'ws/.bashrc': link('dotfiles/bashrc') }],
      ['.git', { 'ws/elsewhere/config': '', 'ws/.git': link('elsewhere') }],
    ];
    for (const [rel, layout] of cases) {
      const host = makeHost(layout);
      const path = join(host.workspace, rel);
      assert.throws(
        () => planFor(host, { allow: [WORKSPACE_RW] }),
        (e: unknown) =>
          e instanceof PlanError &&
          e.message.startsWith(`${path} is a symlink`) &&
          /replace the symlink/.test(e.fix),
        rel,
      );
    }
  });

  it('redteam-37: Perimeter’s own files in a writable root are read-only, and its state there is masked', () => {
    const host = makeHost({ 'ws/policy.yaml': 'x', 'ws/.perimeter/spool.jsonl': '' });
    const policy = join(host.workspace, 'policy.yaml');
    const state = join(host.workspace, '.perimeter');
    const plan = planFor(host, { allow: [WORKSPACE_RW] }, { readOnly: [policy], hidden: [state] });
    assert.deepEqual(mountAt(plan, policy).mount, {
      op: 'bind',
      source: policy,
      dest: policy,
      writable: false,
    });
    assert.deepEqual(mountAt(plan, state).mount, { op: 'mask', dest: state, as: 'dir' });
  });

  it("Perimeter's state holding a granted path (an MCP server's home) is replaced with a read-only tree leading to it alone", () => {
    const host = makeHost({
      'ws/.perimeter/spool.jsonl': '',
      'ws/.perimeter/servers/probe/cache': '',
      'ws/.perimeter/servers/other/token': '',
      // A protected name inside the server's home: pinned on the way, as in any writable root.
      'ws/.perimeter/servers/probe/.git/config': '',
    });
    const state = join(host.workspace, '.perimeter');
    const probeHome = join(state, 'servers/probe');
    const skeleton = join(host.root, 'session/skeleton');
    const asked: string[][] = [];
    const plan = planFor(
      host,
      { allow: [WORKSPACE_RW, { id: 'server-home', paths: [`${probeHome}/**`], access: 'rw' }] },
      {
        hidden: [state],
        grantedInHidden: [probeHome],
        skeletonOf: (keep) => {
          asked.push([...keep]);
          for (const rel of keep) mkdirSync(join(skeleton, rel), { recursive: true });
          return { path: skeleton, ...factOf(skeleton) };
        },
      },
    );
    assert.deepEqual(asked, [['servers/probe']]);
    assert.deepEqual(mountAt(plan, state).mount, {
      op: 'mask',
      dest: state,
      as: 'skeleton',
      source: skeleton,
    });
    assert.deepEqual(
      plan.verify.find((v) => v.path === state),
      { path: state, dev: factOf(skeleton).dev, ino: factOf(skeleton).ino },
    );
    // Nothing of the host's state but the granted home: no pin or bind on the way shows it.
    const inside = plan.mounts.filter((m) => m.mount.dest !== state && isUnder(m.mount.dest, state));
    assert.ok(inside.length > 0);
    for (const m of inside)
      assert.ok(isUnder(m.mount.dest, probeHome), `${m.mount.dest} is in the granted home`);
    assert.equal(seenAs(plan, probeHome), 'rw');
    assert.equal(seenAs(plan, join(state, 'spool.jsonl')), 'masked');
    assert.equal(seenAs(plan, join(state, 'servers/other/token')), 'masked');
    assert.equal(seenAs(plan, join(probeHome, '.git/config')), 'ro', 'protections inside the home hold');
    // Parents before children: the tree is there before the home is bound onto it.
    const order = plan.mounts.map((m) => m.mount.dest);
    assert.ok(order.indexOf(state) < order.indexOf(probeHome));

    // A grant inside the state that the caller did not name refuses the launch.
    assert.throws(
      () =>
        planFor(
          host,
          { allow: [WORKSPACE_RW, { id: 'sneaky', paths: [`${state}/servers/other/**`], access: 'read' }] },
          {
            hidden: [state],
            grantedInHidden: [probeHome],
            skeletonOf: () => ({ path: skeleton, ...factOf(skeleton) }),
          },
        ),
      (e: unknown) =>
        e instanceof PlanError &&
        e.message ===
          `the policy grants ${join(state, 'servers/other')}, which is inside ${state}, Perimeter's own state: no session may see it`,
    );
  });
});

/** What real git reads for `key` from a config file, includes followed; undefined when unset. */
function gitConfigGet(host: Host, file: string, key: string): string | undefined {
  const r = spawnSync('git', ['config', '--file', file, '--includes', '--get', key], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: host.home, GIT_CONFIG_NOSYSTEM: '1' },
  });
  if (r.status === 1) return undefined;
  assert.equal(r.status, 0, `git config failed: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '');
}

/** Real git in `dir`, as the user would run it after the session (global config from host.home). */
function gitIn(host: Host, dir: string, args: readonly string[]): string {
  const r = spawnSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: host.home, GIT_CONFIG_NOSYSTEM: '1' },
  });
  assert.equal(r.status, 0, `git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '');
}

const hasGit = spawnSync('git', ['--version']).status === 0;
const needsGit = { skip: hasGit ? false : 'git is not installed' };

describe('mount plan: what git reads for hooks (redteam 40, 42, 43)', () => {
  it('redteam-42, redteam-43: core.hooksPath is read from every git dir found, relative to its working tree', () => {
    const host = makeHost({
      'main/.git/config': '[core]\n\thooksPath = scripts/hooks\n',
      'main/.git/worktrees/ws/commondir': '../..\n',
      'ws/.git': 'gitdir: ../main/.git/worktrees/ws\n',
      'ws/scripts/': DIR,
      'ws/sub/.git/config': '[core]\n\thooksPath = myhooks\n',
    });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'main-git', paths: [`${host.root}/main/.git/**`], access: 'rw' }],
    });
    assert.notEqual(seenAs(plan, join(host.workspace, 'scripts/hooks/pre-commit')), 'rw', 'worktree');
    assert.notEqual(seenAs(plan, join(host.workspace, 'sub/myhooks/pre-commit')), 'rw', 'nested repository');
    // Rewriting a linked worktree's commondir would send git to another config and hooks.
    assert.equal(seenAs(plan, join(host.root, 'main/.git/worktrees/ws/commondir')), 'ro');
    assert.equal(seenAs(plan, join(host.root, 'main/.git/worktrees/ws/HEAD')), 'rw');
  });

  it('redteam-42, redteam-43: a submodule’s core.hooksPath is protected in its working tree', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.git/modules/lib/config': '[core]\n\thooksPath = lib-hooks\n',
      'ws/lib/.git': 'gitdir: ../.git/modules/lib\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.notEqual(seenAs(plan, join(host.workspace, 'lib/lib-hooks/pre-commit')), 'rw');
  });

  it('redteam-42: a submodule git directory’s core.worktree is where its relative hooks path starts', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.git/modules/lib/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/modules/lib/objects/': DIR,
      'ws/.git/modules/lib/config': '[core]\n\tworktree = ../../../lib\n\thooksPath = lib-hooks\n',
      'ws/lib/': DIR,
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.notEqual(seenAs(plan, join(host.workspace, 'lib/lib-hooks/pre-commit')), 'rw');
  });

  it('redteam-40, redteam-42: a file .git/config includes is read-only, and the hooks path it sets is protected', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\tbare = false\n[include]\n\tpath = ../config/git.inc\n',
      'ws/config/git.inc': '[core]\n\thooksPath = tools/hooks\n',
      'ws/tools/': DIR,
    });
    const config = join(host.workspace, '.git/config');
    if (hasGit)
      assert.equal(gitConfigGet(host, config, 'core.hooksPath'), 'tools/hooks', 'git reads the include');
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const inc = join(host.workspace, 'config/git.inc');
    assert.deepEqual(mountAt(plan, inc).mount, { op: 'bind', source: inc, dest: inc, writable: false });
    assert.equal(mountAt(plan, inc).why, 'git config file');
    assert.notEqual(seenAs(plan, join(host.workspace, 'tools/hooks/pre-commit')), 'rw');
    assert.equal(seenAs(plan, join(host.workspace, 'config/other.json')), 'rw');
  });

  it('redteam-40: includes are followed from the included file’s directory, and through ~/', () => {
    const host = makeHost({
      'ws/.git/config': '[include]\n\tpath = ~/git/first.inc\n',
      'home/git/first.inc': '[include]\n\tpath = second.inc\n',
      'home/git/second.inc': '[core]\n\thooksPath = ~/hooks\n',
    });
    if (hasGit)
      assert.equal(gitConfigGet(host, join(host.workspace, '.git/config'), 'core.hooksPath'), '~/hooks');
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }] });
    assert.equal(seenAs(plan, join(host.home, 'git/first.inc')), 'ro');
    assert.equal(seenAs(plan, join(host.home, 'git/second.inc')), 'ro');
    assert.notEqual(seenAs(plan, join(host.home, 'hooks/pre-commit')), 'rw');
  });

  it(
    'redteam-40: an includeIf is followed whatever its condition: onbranch follows a HEAD the session moves',
    needsGit,
    () => {
      const host = makeHost({ 'ws/release.inc': '[core]\n\thooksPath = release-hooks\n' });
      gitIn(host, host.workspace, ['init', '-q', '-b', 'main']);
      appendFileSync(
        join(host.workspace, '.git/config'),
        '[includeIf "onbranch:release"]\n\tpath = ../release.inc\n',
      );
      assert.throws(() => gitIn(host, host.workspace, ['config', '--get', 'core.hooksPath']), 'not on main');
      gitIn(host, host.workspace, ['symbolic-ref', 'HEAD', 'refs/heads/release']); // what the session can do
      assert.equal(gitIn(host, host.workspace, ['config', '--get', 'core.hooksPath']), 'release-hooks');
      gitIn(host, host.workspace, ['symbolic-ref', 'HEAD', 'refs/heads/main']);
      const plan = planFor(host, { allow: [WORKSPACE_RW] });
      assert.equal(seenAs(plan, join(host.workspace, 'release.inc')), 'ro');
      assert.notEqual(seenAs(plan, join(host.workspace, 'release-hooks/pre-commit')), 'rw');
      assert.equal(seenAs(plan, join(host.workspace, '.git/HEAD')), 'rw', 'branches still work');
    },
  );

  it('redteam-40: a missing included file refuses the launch; a missing directory above one is blocked', () => {
    const missingFile = makeHost({ 'ws/.git/config': '[include]\n\tpath = ../shared.gitconfig\n' });
    const inc = join(missingFile.workspace, 'shared.gitconfig');
    assert.throws(
      () => planFor(missingFile, { allow: [WORKSPACE_RW] }),
      (e: unknown) =>
        e instanceof PlanError && e.message.startsWith(`${inc} is a git config file that does not exist yet`),
    );
    const missingDir = makeHost({ 'ws/.git/config': '[include]\n\tpath = ../conf/git/shared.inc\n' });
    const plan = planFor(missingDir, { allow: [WORKSPACE_RW] });
    assert.deepEqual(mountAt(plan, join(missingDir.workspace, 'conf')).mount, {
      op: 'mask',
      dest: join(missingDir.workspace, 'conf'),
      as: 'empty',
    });
    // Outside every writable root, a missing include is nothing the session could create.
    const outside = makeHost({ 'ws/.git/config': `[include]\n\tpath = /nonexistent-perimeter/x.inc\n` });
    planFor(outside, { allow: [WORKSPACE_RW] });
  });

  it('redteam-40, redteam-49: what ~/.gitconfig includes is read-only in a writable home, its hooks path protected', () => {
    const host = makeHost({
      'home/.gitconfig': '[include]\n\tpath = .gitconfig.local\n',
      'home/.gitconfig.local': '[core]\n\thooksPath = .hooks\n',
      'ws/.git/config': '',
    });
    if (hasGit) assert.equal(gitConfigGet(host, join(host.home, '.gitconfig'), 'core.hooksPath'), '.hooks');
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }] });
    assert.equal(seenAs(plan, join(host.home, '.gitconfig.local')), 'ro');
    assert.notEqual(seenAs(plan, join(host.workspace, '.hooks/pre-commit')), 'rw');
  });

  it(
    'redteam-40, redteam-42: with extensions.worktreeConfig, config.worktree is read-only and its hooks path protected',
    needsGit,
    () => {
      const host = makeHost();
      gitIn(host, host.workspace, ['init', '-q']);
      gitIn(host, host.workspace, ['config', 'extensions.worktreeConfig', 'true']);
      gitIn(host, host.workspace, ['config', '--worktree', 'core.hooksPath', 'wt-hooks']);
      assert.equal(gitIn(host, host.workspace, ['config', '--get', 'core.hooksPath']), 'wt-hooks');
      const plan = planFor(host, { allow: [WORKSPACE_RW] });
      assert.equal(seenAs(plan, join(host.workspace, '.git/config.worktree')), 'ro');
      assert.notEqual(seenAs(plan, join(host.workspace, 'wt-hooks/pre-commit')), 'rw');
      // Missing, the session could create it: the launch is refused (an empty directory there would
      // make every git command fail).
      rmSync(join(host.workspace, '.git/config.worktree'));
      assert.throws(() => planFor(host, { allow: [WORKSPACE_RW] }), /config\.worktree is a git config file/);
    },
  );

  it('redteam-42: a hooks path leaving the working tree is protected where it really is', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = ../home/.cache/hooks\n',
      'home/.cache/': DIR,
    });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'cache', paths: ['~/.cache/**'], access: 'rw' }],
    });
    assert.notEqual(seenAs(plan, join(host.home, '.cache/hooks/pre-commit')), 'rw');
    assert.ok(
      plan.mounts.every((m) => !m.mount.dest.includes('/..')),
      'no mount at a path with ..',
    );
  });

  it('redteam-42: an empty core.hooksPath (git looks in /) leaves the workspace writable', () => {
    const host = makeHost({ 'ws/.git/config': '[core]\n\thooksPath =\n' });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.equal(seenAs(plan, join(host.workspace, 'src/a.ts')), 'rw');
  });

  it('redteam-42: a core.hooksPath at the end of a large config is read (the whole file is)', () => {
    const branches = Array.from({ length: 3000 }, (_, i) => `[branch "b${i}"]\n\tremote = origin\n`).join('');
    const host = makeHost({ 'ws/.git/config': `${branches}[core]\n\thooksPath = late-hooks\n` });
    assert.ok(branches.length > 64 * 1024);
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.notEqual(seenAs(plan, join(host.workspace, 'late-hooks/pre-commit')), 'rw');
  });
});

/** hostView with `~user/` resolved for `user` to `home` (the fixture's home stands in for the user's). */
function viewWithUser(user: string, home: string): HostView {
  return { ...hostView, userHome: (name) => (name === user ? home : undefined) };
}

/** The user running the tests, as git's `~user/` names them. */
const me = userInfo().username;

/** A PlanError whose message starts with `start`, with a fix. */
function planError(start: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof PlanError, `a PlanError, got ${String(e)}`);
    assert.ok(e.message.startsWith(start), e.message);
    assert.ok(e.fix.length > 0);
    return true;
  };
}

/**
 * Plans in a child process that is killed after 20 s: a plan that blocks for good (opening a FIFO
 * nobody writes to) fails the test instead of hanging the run. The child prints the plan's outcome.
 */
function planInChild(host: Host, filesystem: FilesystemSection): { readonly error?: string } {
  const script = `
    import { createEngine, loadPolicies } from '@perimeter/policy';
    import { hostView } from ${JSON.stringify(new URL('../src/host-view.js', import.meta.url).href)};
    import { PlanError, planMounts } from ${JSON.stringify(new URL('../src/mount-plan.js', import.meta.url).href)};
    const { policy, host } = JSON.parse(process.argv[1]);
    const loaded = loadPolicies([{ file: 'plan-test.yaml', text: policy }]);
    const engine = createEngine(loaded.policies.map((p) => p.policy), {
      context: { home: host.home, workspace: host.workspace },
    });
    try {
      planMounts({ engine, view: hostView, ...host });
      console.log(JSON.stringify({}));
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      console.log(JSON.stringify({ error: e.message }));
    }
  `;
  const args = JSON.stringify({ policy: policyText(filesystem), host });
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)), // packages/sandbox: @perimeter/policy resolves
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.signal, null, `planning did not return (killed by ${r.signal ?? ''}): ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { error?: string };
}

/** hostView counting each file it reads (readText), by path. */
function countingView(): { readonly view: HostView; readonly reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const view: HostView = {
    ...hostView,
    readText: (path) => {
      reads.set(path, (reads.get(path) ?? 0) + 1);
      return hostView.readText(path);
    },
  };
  return { view, reads };
}

describe('mount plan: reading git’s files (redteam 30, 40, 42, 43)', () => {
  it('redteam-40, redteam-42: ~user/ of the user running Perimeter is that user’s home, in includes and hooks paths', () => {
    const host = makeHost({
      'ws/.git/config': `[include]\n\tpath = ~${me}/git/user.inc\n`,
      'home/git/user.inc': `[core]\n\thooksPath = ~${me}/githooks\n`,
    });
    const plan = planFor(
      host,
      { allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }] },
      { view: viewWithUser(me, host.home) },
    );
    assert.equal(seenAs(plan, join(host.home, 'git/user.inc')), 'ro');
    assert.notEqual(seenAs(plan, join(host.home, 'githooks/pre-commit')), 'rw');
  });

  it('redteam-40, redteam-42: a path Perimeter cannot resolve (another user’s ~name/, %(prefix)/) refuses the launch', () => {
    const other = 'perimeter-no-such-user';
    const cases: readonly { readonly config: string; readonly setting: string }[] = [
      { config: `[core]\n\thooksPath = ~${other}/hooks\n`, setting: `sets core.hooksPath = ~${other}/hooks` },
      { config: `[core]\n\thooksPath = ~${other}\n`, setting: `sets core.hooksPath = ~${other}` },
      { config: `[include]\n\tpath = ~${other}/x.inc\n`, setting: `includes ~${other}/x.inc` },
      {
        config: `[includeIf "onbranch:main"]\n\tpath = %(prefix)/etc/x.inc\n`,
        setting: 'includes %(prefix)/etc/x.inc',
      },
      {
        config: '[core]\n\thooksPath = %(prefix)/share/hooks\n',
        setting: 'sets core.hooksPath = %(prefix)/share/hooks',
      },
    ];
    for (const c of cases) {
      const host = makeHost({ 'ws/.git/config': c.config });
      assert.throws(
        () => planFor(host, { allow: [WORKSPACE_RW] }, { view: viewWithUser(me, host.home) }),
        planError(`${join(host.workspace, '.git/config')} ${c.setting}: Perimeter cannot resolve that path`),
        c.config,
      );
    }
    // In the global config too, whichever repository it would apply to.
    const global = makeHost({ 'home/.gitconfig': `[core]\n\thooksPath = ~${other}/hooks\n` });
    assert.throws(
      () => planFor(global, { allow: [WORKSPACE_RW] }),
      planError(`${join(global.home, '.gitconfig')} sets core.hooksPath`),
    );
  });

  it('redteam-42: core.worktree is taken as git takes it, relative to the git directory with no ~ expanded', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.git/modules/lib/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/modules/lib/objects/': DIR,
      'ws/.git/modules/lib/refs/': DIR,
      // git ignores core.worktree in a config without repositoryformatversion.
      'ws/.git/modules/lib/config':
        '[core]\n\trepositoryformatversion = 0\n\tworktree = ~perimeter-no-such-user/lib\n\thooksPath = h\n',
    });
    const gitDir = join(host.workspace, '.git/modules/lib');
    if (hasGit) {
      mkdirSync(join(gitDir, '~perimeter-no-such-user/lib'), { recursive: true });
      const top = gitIn(host, host.workspace, ['--git-dir', gitDir, 'rev-parse', '--show-toplevel']);
      assert.equal(top, join(gitDir, '~perimeter-no-such-user/lib'), 'git reads it literally');
    }
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.notEqual(seenAs(plan, join(gitDir, '~perimeter-no-such-user/lib/h/pre-commit')), 'rw');
  });

  it(
    'redteam-43: a commondir is read as git reads it: only line ends trimmed, so a leading blank names another directory',
    needsGit,
    () => {
      const host = makeHost();
      const main = join(host.root, 'main');
      const git = ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'init.defaultBranch=main'];
      gitIn(host, host.root, [...git, 'init', '-q', main]);
      gitIn(host, main, [...git, 'commit', '-q', '--allow-empty', '-m', 'x']);
      gitIn(host, main, ['worktree', 'add', '-q', host.workspace]);
      const wtGitDir = join(main, '.git/worktrees/ws');
      // What a session could leave behind: a common directory named through a blank-led ` ..`.
      const planted = join(wtGitDir, ' ../evil');
      gitIn(host, host.root, [...git, 'init', '-q', '--bare', planted]);
      writeFileSync(join(wtGitDir, 'commondir'), ' ../evil\n');
      assert.equal(
        realpathSync(gitIn(host, host.workspace, ['rev-parse', '--git-common-dir'])),
        realpathSync(planted),
      );
      const plan = planFor(host, {
        allow: [WORKSPACE_RW, { id: 'main-git', paths: [`${main}/.git/**`], access: 'rw' }],
      });
      assert.notEqual(seenAs(plan, join(planted, 'hooks/pre-commit')), 'rw');
      assert.equal(seenAs(plan, join(planted, 'config')), 'ro');
    },
  );

  it('redteam-43: a .git file or commondir that cannot be read (not UTF-8) refuses the launch', () => {
    const commondir = makeHost({
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/.git/config': '',
    });
    writeFileSync(join(commondir.workspace, '.git/commondir'), Buffer.from([0x2e, 0x2e, 0x2f, 0xff, 0x0a]));
    assert.throws(
      () => planFor(commondir, { allow: [WORKSPACE_RW] }),
      planError(
        `${join(commondir.workspace, '.git/commondir')} tells git where a repository is, and it cannot be read`,
      ),
    );
    const dotGit = makeHost({ 'ws/sub/': DIR });
    writeFileSync(join(dotGit.workspace, 'sub/.git'), Buffer.from('gitdir: ../\xff\n', 'latin1'));
    assert.throws(
      () => planFor(dotGit, { allow: [WORKSPACE_RW] }),
      planError(
        `${join(dotGit.workspace, 'sub/.git')} tells git where a repository is, and it cannot be read`,
      ),
    );
  });

  it('a FIFO planted at a nested repository’s .git/config or .git/commondir never hangs the launch: it is refused', () => {
    for (const name of ['config', 'commondir']) {
      const host = makeHost({
        'ws/sub/.git/HEAD': 'ref: refs/heads/main\n',
        'ws/sub/.git/objects/': DIR,
        'ws/sub/.git/config': '',
      });
      const fifo = join(host.workspace, 'sub/.git', name);
      rmSync(fifo, { force: true });
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
      const { error } = planInChild(host, { allow: [WORKSPACE_RW] });
      assert.ok(error?.startsWith(fifo), `refused, naming ${fifo}: ${error ?? 'planned'}`);
    }
  });

  it('reads each file once per plan: five linked worktrees, their .git files, commondirs and a shared include', () => {
    const names = ['wt1', 'wt2', 'wt3', 'wt4', 'wt5'];
    const layout: Record<string, Entry> = {
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/.git/config': '[extensions]\n\tworktreeConfig = true\n[include]\n\tpath = ../shared.inc\n',
      'ws/.git/config.worktree': '',
      'ws/shared.inc': '[core]\n\thooksPath = team-hooks\n',
      'home/.gitconfig': '[include]\n\tpath = ../ws/shared.inc\n',
    };
    for (const n of names) {
      layout[`ws/.git/worktrees/${n}/HEAD`] = 'ref: refs/heads/main\n';
      layout[`ws/.git/worktrees/${n}/commondir`] = '../..\n';
      layout[`ws/.git/worktrees/${n}/config.worktree`] = '';
      layout[`ws/${n}/.git`] = `gitdir: ../.git/worktrees/${n}\n`;
    }
    const host = makeHost(layout);
    const { view, reads } = countingView();
    const plan = planFor(host, { allow: [WORKSPACE_RW] }, { view });
    const ws = host.workspace;
    const expected = [
      join(ws, '.git/config'),
      join(ws, '.git/config.worktree'),
      join(ws, 'shared.inc'),
      join(host.home, '.gitconfig'),
      ...names.flatMap((n) => [
        join(ws, n, '.git'),
        join(ws, '.git/worktrees', n, 'commondir'),
        join(ws, '.git/worktrees', n, 'config.worktree'),
      ]),
    ];
    for (const path of expected) assert.equal(reads.get(path), 1, `${path} read once`);
    assert.deepEqual(
      [...reads].filter(([, n]) => n > 1),
      [],
      'no file is read twice',
    );
    for (const n of names) assert.notEqual(seenAs(plan, join(ws, n, 'team-hooks/pre-commit')), 'rw', n);
  });
});

describe('mount plan: fixed places and order', () => {
  it('redteam-38: /tmp and /dev/shm are private and /run is empty, whatever the policy grants', () => {
    const host = makeHost();
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'everything-private', paths: ['/tmp/**', '/run/**', '/dev/**', '/var/run/**'], access: 'rw' },
      ],
    });
    assert.deepEqual(mountAt(plan, '/tmp').mount, { op: 'tmpfs', dest: '/tmp' });
    assert.deepEqual(mountAt(plan, '/dev/shm').mount, { op: 'tmpfs', dest: '/dev/shm' });
    assert.deepEqual(mountAt(plan, '/run').mount, { op: 'empty', dest: '/run' });
    assert.ok(
      plan.mounts.every(
        (m) => m.mount.op !== 'bind' || !['/tmp', '/run', '/dev', '/var/run'].includes(m.mount.dest),
      ),
      'no host /tmp, /run or /dev is bound',
    );
    assert.equal(seenAs(plan, '/run/user/1000/bus'), 'none');
    assert.equal(seenAs(plan, '/dev/shm/x'), 'none');
  });

  it('orders mounts parents before children, so no mask is hidden under a later bind', () => {
    const host = makeHost({
      'ws/.git/config': '',
      'ws/.env': 's',
      'ws/deep/er/.env': 's',
      'ws/vendor/x': 'x',
      'home/.cache/': DIR,
      'home/.ssh/': DIR,
    });
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'home', paths: ['~/**'] },
        { id: 'cache', paths: ['~/.cache/**'], access: 'rw' },
      ],
      deny: [
        { id: 'env', paths: ['**/.env'] },
        { id: 'ssh', paths: ['~/.ssh/**'] },
        { id: 'vendor', paths: ['${workspace}/vendor/**'], access: 'write' },
      ],
    });
    const dests = plan.mounts.map((m) => m.mount.dest);
    for (let i = 0; i < dests.length; i++) {
      for (let j = i + 1; j < dests.length; j++) {
        const [a, b] = [dests[i] ?? '', dests[j] ?? ''];
        assert.ok(!(isUnder(a, b) && a !== b), `${b} is mounted after its descendant ${a}`);
      }
    }
    assert.ok(
      dests.every((d, i) => i === 0 || depth(dests[i - 1] ?? '') <= depth(d)),
      'sorted by depth',
    );
    assert.equal(seenAs(plan, join(host.home, '.ssh/id_rsa')), 'masked');
    assert.equal(seenAs(plan, join(host.home, '.cache/x')), 'rw');
    assert.equal(seenAs(plan, join(host.home, 'notes.txt')), 'ro');
  });

  it('redteam-35: every bind and mask is pinned to the inode the plan saw', () => {
    const host = makeHost({ 'ws/.git/hooks/': DIR, 'ws/.git/config': '', 'ws/secret/': DIR, 'data/': DIR });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'data', paths: [`${host.root}/data/**`] }],
      deny: [{ id: 'secret', paths: ['${workspace}/secret/**'] }],
    });
    for (const { mount } of plan.mounts) {
      if (mount.op === 'bind') assertVerified(plan, mount.dest, factOf(mount.source));
      else if (mount.op === 'mask')
        assertVerified(plan, mount.dest, mount.as === 'file' ? host.maskFile : host.maskDir);
    }
  });
});

/**
 * A host whose home is `var/home` (canonical, as `perimeter run` canonicalises it) with the
 * workspace in it, and `homelink`, a symlink to `var/home` (as `/home` links to `/var/home` on
 * Fedora Silverblue): paths spelled through `homelink` name the same files.
 */
function linkedHomeHost(layout: Readonly<Record<string, Entry>> = {}): Host & { readonly linked: string } {
  const host = makeHost({ 'var/home/ws/': DIR, homelink: link('var/home'), ...layout });
  const home = join(host.root, 'var/home');
  return { ...host, home, workspace: join(home, 'ws'), linked: join(host.root, 'homelink') };
}

describe('mount plan: where git’s pointers and paths really lead', () => {
  it('redteam-43: a .git file or commondir naming its git directory through a symlink in a writable root refuses the launch', () => {
    const store = (host: Host): Rule => ({ id: 'store', paths: [`${host.root}/store/**`], access: 'rw' });
    const viaGitFile = makeHost({
      'store/sub.git/HEAD': 'ref: refs/heads/main\n',
      'store/sub.git/objects/': DIR,
      'store/sub.git/hooks/': DIR,
      'store/sub.git/config': '',
      'ws/link': link('../store'),
      'ws/sub/.git': 'gitdir: ../link/sub.git\n',
    });
    // git follows the link, so the session could point it at a directory of its own.
    assert.throws(
      () => planFor(viaGitFile, { allow: [WORKSPACE_RW, store(viaGitFile)] }),
      planError(`${join(viaGitFile.workspace, 'link')} is a symlink`),
    );
    assert.throws(
      () => planFor(viaGitFile, { allow: [WORKSPACE_RW] }),
      planError(`${join(viaGitFile.workspace, 'link')} is a symlink`),
      'refused when only the workspace is writable too',
    );
    const viaCommonDir = makeHost({
      'store/main.git/HEAD': 'ref: refs/heads/main\n',
      'store/main.git/objects/': DIR,
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/.git/worktrees/wt/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/worktrees/wt/commondir': '../../../link/main.git\n',
      'ws/wt/.git': 'gitdir: ../.git/worktrees/wt\n',
      'ws/link': link('../store'),
    });
    assert.throws(
      () => planFor(viaCommonDir, { allow: [WORKSPACE_RW, store(viaCommonDir)] }),
      planError(`${join(viaCommonDir.workspace, 'link')} is a symlink`),
    );
  });

  it('redteam-43: a symlink on the way to a git directory outside every writable root is followed, and changes nothing', () => {
    const host = makeHost({
      'store/sub.git/HEAD': 'ref: refs/heads/main\n',
      'store/sub.git/objects/': DIR,
      'store/sub.git/hooks/': DIR,
      storelink: link('store'),
      'ws/sub/.git': '',
    });
    writeFileSync(join(host.workspace, 'sub/.git'), `gitdir: ${host.root}/storelink/sub.git\n`);
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.equal(seenAs(plan, join(host.root, 'store/sub.git/hooks/pre-commit')), 'none');
    assert.ok(plan.gitDirs.includes(join(host.root, 'store/sub.git')), JSON.stringify(plan.gitDirs));
    assert.equal(seenAs(plan, join(host.workspace, 'sub/.git')), 'ro');
  });

  it('redteam-43: a git directory a .git file names that does not exist cannot be created', () => {
    const host = makeHost({
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/sub/.git': 'gitdir: ../planted.git\n',
      'ws/deep/.git': 'gitdir: ../later/repos/deep.git\n',
      'ws/outside/.git': 'gitdir: /nonexistent-perimeter/outside.git\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const planted = join(host.workspace, 'planted.git');
    assert.deepEqual(mountAt(plan, planted).mount, { op: 'mask', dest: planted, as: 'empty' });
    assert.ok(plan.createsOnHost.includes(planted));
    assert.equal(seenAs(plan, join(planted, 'hooks/pre-commit')), 'masked');
    // The first missing directory on the way is what is blocked.
    const later = join(host.workspace, 'later');
    assert.deepEqual(mountAt(plan, later).mount, { op: 'mask', dest: later, as: 'empty' });
    assert.equal(seenAs(plan, join(later, 'repos/deep.git/hooks/pre-commit')), 'masked');
    // Outside every writable root, a missing git directory is nothing the session could create.
    assert.ok(plan.mounts.every((m) => !m.mount.dest.startsWith('/nonexistent-perimeter')));
    assert.equal(seenAs(plan, join(host.workspace, 'src/a.ts')), 'rw', 'the rest of the workspace is work');
  });

  it('redteam-43: a commondir that exists but names a missing directory cannot have it created', () => {
    const host = makeHost({
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'ws/.git/worktrees/wt/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/worktrees/wt/commondir': '../../../gone.git\n',
      'ws/wt/.git': 'gitdir: ../.git/worktrees/wt\n',
      'ws/nested/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/nested/.git/objects/': DIR,
      'ws/nested/.git/commondir': '../common\n',
      'other/.git/HEAD': 'ref: refs/heads/main\n',
      'other/.git/objects/': DIR,
      'other/.git/commondir': '../elsewhere/common.git\n',
    });
    const other = join(host.root, 'other');
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'other', paths: [`${other}/**`], access: 'rw' }],
    });
    for (const dir of [
      join(host.workspace, 'gone.git'),
      join(host.workspace, 'nested/common'),
      join(other, 'elsewhere'),
    ]) {
      assert.deepEqual(mountAt(plan, dir).mount, { op: 'mask', dest: dir, as: 'empty' }, dir);
      assert.ok(plan.createsOnHost.includes(dir), dir);
    }
    assert.equal(seenAs(plan, join(host.workspace, 'gone.git/hooks/pre-commit')), 'masked');
    assert.equal(seenAs(plan, join(other, 'elsewhere/common.git/config')), 'masked');
    // The commondir files themselves cannot be rewritten.
    assert.equal(seenAs(plan, join(host.workspace, '.git/worktrees/wt/commondir')), 'ro');
    assert.equal(seenAs(plan, join(other, '.git/commondir')), 'ro');
  });

  it('redteam-43: the git directory a pointer names is pinned, so it cannot be moved aside and replaced', () => {
    const host = makeHost({
      'ws/store/sub.git/HEAD': 'ref: refs/heads/main\n',
      'ws/store/sub.git/objects/': DIR,
      'ws/store/sub.git/commondir': '../../common.git\n',
      'ws/common.git/HEAD': 'ref: refs/heads/main\n',
      'ws/common.git/objects/': DIR,
      'ws/sub/.git': 'gitdir: ../store/sub.git\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    for (const rel of ['store', 'store/sub.git', 'common.git']) {
      const dir = join(host.workspace, rel);
      assert.deepEqual(
        mountsAt(plan, dir).map((m) => m.mount),
        [{ op: 'bind', source: dir, dest: dir, writable: true }],
        `${rel} is pinned`,
      );
      assertVerified(plan, dir, factOf(dir));
    }
    assert.equal(seenAs(plan, join(host.workspace, 'common.git/hooks/pre-commit')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'store/sub.git/HEAD')), 'rw', 'the worktree still works');
  });

  it('redteam-42: a hooks path spelled through a symlink above the writable root is protected in the root', () => {
    const host = linkedHomeHost({ 'var/home/ws/.git/config': '', 'var/home/ws/existing-hooks/pre-push': '' });
    const ws = host.workspace;
    writeFileSync(
      join(ws, '.git/config'),
      `[core]\n\thooksPath = ${host.linked}/ws/team-hooks\n\thooksPath = ${host.linked}/ws/existing-hooks\n`,
    );
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    assert.deepEqual(mountAt(plan, join(ws, 'team-hooks')).mount, {
      op: 'mask',
      dest: join(ws, 'team-hooks'),
      as: 'empty',
    });
    assert.equal(seenAs(plan, join(ws, 'existing-hooks/pre-push')), 'ro');
  });

  it('redteam-40, redteam-42: ~user/ and includes spelled through a symlink above the writable root are protected in the root', () => {
    const host = linkedHomeHost({
      'var/home/ws/.git/config': `[include]\n\tpath = ~${me}/ws/conf/git.inc\n`,
      'var/home/ws/conf/git.inc': `[core]\n\thooksPath = ~${me}/ws/user-hooks\n`,
    });
    // The user's home as the password database has it: through the link, not canonical.
    const plan = planFor(host, { allow: [WORKSPACE_RW] }, { view: viewWithUser(me, host.linked) });
    assert.equal(seenAs(plan, join(host.workspace, 'conf/git.inc')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, 'user-hooks/pre-commit')), 'masked');
  });

  it('redteam-42: a symlink outside every root is followed into a root, where a symlink still refuses the launch and a missing target is blocked', () => {
    const swappable = linkedHomeHost({
      'var/home/ws/.git/config': '',
      'var/home/ws/real/hooks/': DIR,
      'var/home/ws/alias': link('real'),
      'hooks-link': link('var/home/ws/alias/hooks'),
    });
    writeFileSync(
      join(swappable.workspace, '.git/config'),
      `[core]\n\thooksPath = ${swappable.root}/hooks-link\n`,
    );
    assert.throws(
      () => planFor(swappable, { allow: [WORKSPACE_RW] }),
      planError(`${join(swappable.workspace, 'alias')} is a symlink`),
    );
    const dangling = linkedHomeHost({
      'var/home/ws/.git/config': '',
      'hooks-link': link('homelink/ws/later-hooks'),
    });
    writeFileSync(
      join(dangling.workspace, '.git/config'),
      `[core]\n\thooksPath = ${dangling.root}/hooks-link\n`,
    );
    const plan = planFor(dangling, { allow: [WORKSPACE_RW] });
    assert.deepEqual(mountAt(plan, join(dangling.workspace, 'later-hooks')).mount, {
      op: 'mask',
      dest: join(dangling.workspace, 'later-hooks'),
      as: 'empty',
    });
  });

  it('redteam-42: a hooks path climbing out of a directory in the writable root holds that directory', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = tools/../githooks\n\thooksPath = missing/../more-hooks\n',
      'ws/tools/': DIR,
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    // tools cannot be swapped for a symlink that sends `..` elsewhere; missing cannot be made one.
    assert.deepEqual(mountAt(plan, join(host.workspace, 'tools')).mount, {
      op: 'bind',
      source: join(host.workspace, 'tools'),
      dest: join(host.workspace, 'tools'),
      writable: true,
    });
    assert.equal(seenAs(plan, join(host.workspace, 'missing')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'githooks/pre-commit')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'more-hooks/pre-commit')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, 'tools/build.sh')), 'rw');
    const linked = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = tools/../githooks\n',
      'ws/real/': DIR,
      'ws/tools': link('real'),
    });
    assert.throws(
      () => planFor(linked, { allow: [WORKSPACE_RW] }),
      planError(`${join(linked.workspace, 'tools')} is a symlink`),
    );
  });

  it('redteam-37: Perimeter’s own files and state spelled through a symlink above the writable root are still protected', () => {
    const host = linkedHomeHost({ 'var/home/ws/policy.yaml': 'x', 'var/home/ws/.perimeter/spool.jsonl': '' });
    const plan = planFor(
      host,
      { allow: [WORKSPACE_RW] },
      { readOnly: [join(host.linked, 'ws/policy.yaml')], hidden: [join(host.linked, 'ws/.perimeter')] },
    );
    assert.equal(seenAs(plan, join(host.workspace, 'policy.yaml')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, '.perimeter/spool.jsonl')), 'masked');
  });

  it('redteam-43: a worktree in another writable root has its common git directory protected, and every repository reviewed', () => {
    const host = makeHost({
      'ws/.git/HEAD': 'ref: refs/heads/main\n',
      'ws/.git/objects/': DIR,
      'other/.git/HEAD': 'ref: refs/heads/main\n',
      'other/.git/objects/': DIR,
      'other/.git/config': '',
      'main/.git/HEAD': 'ref: refs/heads/main\n',
      'main/.git/objects/': DIR,
      'main/.git/hooks/': DIR,
      'main/.git/config': '',
      'main/.git/worktrees/wt/HEAD': 'ref: refs/heads/main\n',
      'main/.git/worktrees/wt/commondir': '../..\n',
      'wt/.git': 'gitdir: ../main/.git/worktrees/wt\n',
    });
    const [other, main, wt] = ['other', 'main', 'wt'].map((d) => join(host.root, d)) as [
      string,
      string,
      string,
    ];
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'other', paths: [`${other}/**`], access: 'rw' },
        { id: 'wt', paths: [`${wt}/**`], access: 'rw' },
        { id: 'main-git', paths: [`${main}/.git/**`], access: 'rw' },
      ],
    });
    assert.equal(seenAs(plan, join(main, '.git/hooks/pre-commit')), 'ro');
    assert.equal(seenAs(plan, join(main, '.git/config')), 'ro');
    for (const g of [
      join(host.workspace, '.git'),
      join(other, '.git'),
      join(main, '.git'),
      join(main, '.git/worktrees/wt'),
    ])
      assert.ok(plan.gitDirs.includes(g), `${g} is reviewed: ${JSON.stringify(plan.gitDirs)}`);
    // What the session could do in each: plant a commondir. The review finds every one.
    const before = snapshotReview(host.workspace, plan.gitDirs);
    const planted = [join(other, '.git/commondir'), join(main, '.git/commondir')];
    for (const path of planted) writeFileSync(path, '../.evil\n');
    assert.deepEqual([...compareReview(before, plan.createsOnHost).plantedCommonDirs].sort(), planted.sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Gaps found while writing this suite, reported to the owner of mount-plan.ts.

describe('mount plan: known gaps', () => {
  it('redteam-27: a write-denied symlink in a writable root refuses the launch with a PlanError', () => {
    const host = makeHost({ 'ws/real/': DIR, 'ws/link': link('real') });
    assert.throws(
      () =>
        planFor(host, {
          allow: [WORKSPACE_RW],
          deny: [{ id: 'link', paths: ['${workspace}/link'], access: 'write' }],
        }),
      PlanError,
    );
  });

  it('redteam-24: a .env inside a write-denied (read-only bound) directory is still masked', () => {
    const host = makeHost({ 'ws/vendor/.env': 's' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW],
      deny: [
        { id: 'vendor', paths: ['${workspace}/vendor/**'], access: 'write' },
        { id: 'env', paths: ['**/.env'] },
      ],
    });
    assert.equal(seenAs(plan, join(host.workspace, 'vendor/.env')), 'masked');
  });

  it('redteam-24, redteam-39: a workspace granted through a writable parent is walked and protected', () => {
    const host = makeHost({ 'ws/.git/hooks/': DIR, 'ws/.git/config': '', 'ws/.env': 's' });
    const plan = planFor(host, {
      allow: [{ id: 'projects', paths: [`${host.root}/**`], access: 'rw' }],
      deny: [{ id: 'env', paths: ['**/.env'] }],
    });
    assert.equal(seenAs(plan, join(host.workspace, '.git/hooks/pre-commit')), 'ro');
    assert.equal(seenAs(plan, join(host.workspace, '.vscode/tasks.json')), 'masked');
    assert.equal(seenAs(plan, join(host.workspace, '.env')), 'masked');
  });

  it('redteam-24: a glob-shaped denial under a read-only root is masked', () => {
    const host = makeHost({ 'home/.config/gh/hosts.yml': 'oauth_token: x' });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'] }],
      deny: [{ id: 'tokens', paths: ['~/.config/*/hosts.yml'] }],
    });
    const path = join(host.home, '.config/gh/hosts.yml');
    assert.equal(seenAs(plan, path), 'masked');
  });

  it('redteam-47: a PATH directory that is itself a writable root is still read-only', () => {
    const host = makeHost({ 'home/.local/bin/tool': '' });
    const bin = join(host.home, '.local/bin');
    const plan = planFor(
      host,
      { allow: [WORKSPACE_RW, { id: 'bin', paths: ['~/.local/bin/**'], access: 'rw' }] },
      { readOnly: [bin] },
    );
    assert.equal(seenAs(plan, join(bin, 'git')), 'ro');
  });

  it('redteam-43: a worktree’s or submodule’s .git file is read-only, so git cannot be pointed at a planted gitdir', () => {
    const host = makeHost({
      'main/.git/config': '',
      'main/.git/worktrees/ws/commondir': '../..\n',
      'ws/.git': 'gitdir: ../main/.git/worktrees/ws\n',
    });
    const plan = planFor(host, { allow: [WORKSPACE_RW] });
    const seen = seenAs(plan, join(host.workspace, '.git'));
    assert.ok(seen === 'ro' || seen === 'masked', `.git is ${seen}`);
  });

  it('redteam-42: core.hooksPath = ~/… is read as git reads it, under the home directory', () => {
    const host = makeHost({
      'ws/.git/config': '[core]\n\thooksPath = ~/githooks\n',
      'home/githooks/': DIR,
    });
    const plan = planFor(host, {
      allow: [WORKSPACE_RW, { id: 'home', paths: ['~/**'], access: 'rw' }],
    });
    assert.notEqual(seenAs(plan, join(host.home, 'githooks/pre-commit')), 'rw');
  });

  it(
    'redteam-43: a commondir planted in a writable git directory cannot send git to a planted config and hooks',
    {
      todo: 'git reads $GIT_DIR/commondir when it exists (git 2.39 ran a planted common dir’s pre-commit); an empty directory blocking it would make git fail (“failed to read .git/commondir”), so the plan leaves it creatable',
    },
    () => {
      const host = makeHost({
        'ws/.git/config': '',
        'ws/.git/HEAD': 'ref: refs/heads/main\n',
        'ws/.git/objects/': DIR,
      });
      const plan = planFor(host, { allow: [WORKSPACE_RW] });
      assert.notEqual(seenAs(plan, join(host.workspace, '.git/commondir')), 'rw');
    },
  );

  it('redteam-26: a denial inside the target of a symlinked root is masked where the symlink shows it too', () => {
    const host = makeHost({ 'data/real/secret': 's', 'home/link': link('../data/real') });
    const plan = planFor(host, {
      allow: [
        WORKSPACE_RW,
        { id: 'link', paths: ['~/link/**'] },
        { id: 'data', paths: [`${host.root}/data/**`] },
      ],
      deny: [{ id: 'secret', paths: [`${host.root}/data/real/secret`] }],
    });
    assert.equal(seenAs(plan, join(host.root, 'data/real/secret')), 'masked');
    assert.equal(seenAs(plan, join(host.home, 'link/secret')), 'masked');
  });

  it('redteam-26: an allow pattern through a symlinked directory is not followed into an ungranted target', () => {
    const host = makeHost({ 'secret/proj/key': 's', 'home/link': link('../secret') });
    const plan = planFor(host, { allow: [WORKSPACE_RW, { id: 'proj', paths: ['~/link/proj/**'] }] });
    assert.equal(seenAs(plan, join(host.home, 'link/proj/key')), 'none');
  });
});
