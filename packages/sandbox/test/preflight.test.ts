// Preflight: the assessment over given facts, and the facts of this machine.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BWRAP_PATH, assess, gatherFacts, type MachineFacts } from '../src/preflight.js';

const GOOD: MachineFacts = {
  arch: 'x64',
  bwrapVersion: '0.8.0',
  userNamespaces: { isUsable: true, detail: 'ok' },
  hasSeccomp: true,
};

describe('preflight assessment', () => {
  it('lets sessions start when every required protection is there', () => {
    const a = assess(GOOD);
    assert.equal(a.canStartSessions, true);
    assert.ok(a.checks.every((c) => c.isOk));
  });

  it('redteam-67: refuses sessions without bubblewrap at its absolute path, and says how to fix it', () => {
    const { bwrapVersion: _, ...noBwrap } = GOOD;
    const a = assess(noBwrap);
    assert.equal(a.canStartSessions, false);
    const c = a.checks.find((x) => x.name === 'bubblewrap');
    assert.equal(c?.isOk, false);
    assert.match(c?.detail ?? '', /\/usr\/bin\/bwrap/);
    assert.match(c?.fix ?? '', /apt-get install bubblewrap/);
  });

  it('redteam-67: refuses sessions when the sandbox helper is not built, and says how to build it', () => {
    const a = assess({ ...GOOD, hasHelper: false });
    assert.equal(a.canStartSessions, false);
    const c = a.checks.find((x) => x.name === 'sandbox helper');
    assert.equal(c?.isOk, false);
    assert.match(c?.fix ?? '', /npm run build/);
  });

  it('redteam-67: refuses sessions where user namespaces are blocked', () => {
    const a = assess({
      ...GOOD,
      userNamespaces: { isUsable: false, detail: 'AppArmor restricts unprivileged user namespaces' },
    });
    assert.equal(a.canStartSessions, false);
    assert.match(a.checks.find((c) => c.name === 'user namespaces')?.detail ?? '', /AppArmor/);
  });

  it('redteam-57: says how resource limits hold here, without refusing sessions where a cgroup cannot be made', () => {
    const check = (limits: MachineFacts['limits']) => {
      const a = assess({ ...GOOD, limits });
      assert.equal(a.canStartSessions, true, 'informative only');
      return a.checks.find((c) => c.name === 'resource limits');
    };
    const user = check({ cgroupCaps: [], isRoot: false });
    assert.match(
      user?.detail ?? '',
      /processes capped \(RLIMIT_NPROC\).*memory capped by the sandbox's helper \(no memory cgroup/,
    );
    assert.match(user?.fix ?? '', /delegated/);
    assert.match(check({ cgroupCaps: [], isRoot: true })?.detail ?? '', /root ignores RLIMIT_NPROC/);
    const full = check({ cgroupCaps: ['memory', 'pids'], isRoot: true });
    assert.equal(full?.isOk, true);
    assert.match(full?.detail ?? '', /pids cgroup.*memory capped by a memory cgroup/);
  });

  it('refuses sessions on an architecture without a seccomp filter', () => {
    assert.equal(assess({ ...GOOD, arch: 'ia32' }).canStartSessions, false);
  });
});

describe('the facts of this machine', () => {
  it('finds bubblewrap exactly when it is installed at its absolute path', () => {
    const facts = gatherFacts();
    assert.equal(facts.bwrapVersion !== undefined, existsSync(BWRAP_PATH));
    assert.equal(facts.arch, process.arch);
  });

  it('sees seccomp on Linux', () => {
    if (process.platform === 'linux') assert.equal(gatherFacts().hasSeccomp, true);
  });
});
