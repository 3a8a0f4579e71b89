// The real host view the mount planner reads through (host-view.ts), over a temp directory. What
// matters is what it refuses to read: a planted FIFO must not hang the launch, and a file that is
// not a regular UTF-8 file of at most 1 MiB reads as unreadable (the planner then refuses), never
// cut short or decoded with replacement characters.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hostView } from '../src/host-view.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'perimeter-hostview-')));
  made.push(dir);
  return dir;
}

const MiB = 1024 * 1024;

describe('hostView.readText', () => {
  it('reads a regular file whole, through a symlink as git does', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config'), '[core]\n\thooksPath = x\n');
    symlinkSync('config', join(dir, 'link'));
    assert.equal(hostView.readText(join(dir, 'config')), '[core]\n\thooksPath = x\n');
    assert.equal(hostView.readText(join(dir, 'link')), '[core]\n\thooksPath = x\n');
  });

  it('reads 1 MiB whole; one byte more reads as unreadable, never cut short', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'max'), 'x'.repeat(MiB));
    writeFileSync(join(dir, 'over'), 'x'.repeat(MiB + 1));
    assert.equal(hostView.readText(join(dir, 'max'))?.length, MiB);
    assert.equal(hostView.readText(join(dir, 'over')), undefined);
  });

  it('bytes that are not UTF-8 read as unreadable; a byte order mark is kept for the reader', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'latin1'), Buffer.from('gitdir: ../caf\xe9\n', 'latin1'));
    writeFileSync(join(dir, 'bom'), '\uFEFF[core]\n');
    writeFileSync(join(dir, 'utf8'), 'crème\0brûlée');
    assert.equal(hostView.readText(join(dir, 'latin1')), undefined);
    assert.equal(hostView.readText(join(dir, 'bom')), '\uFEFF[core]\n');
    assert.equal(hostView.readText(join(dir, 'utf8')), 'crème\0brûlée');
  });

  it('a directory or a missing file reads as undefined', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    assert.equal(hostView.readText(join(dir, 'sub')), undefined);
    assert.equal(hostView.readText(join(dir, 'missing')), undefined);
  });

  it('a FIFO nobody writes to reads as unreadable at once, never waited on', () => {
    const dir = tempDir();
    const fifo = join(dir, 'config');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // In a child killed after 20 s: opening a FIFO blocks the whole thread, timers included.
    const script = `
      import { hostView } from ${JSON.stringify(new URL('../src/host-view.js', import.meta.url).href)};
      console.log(JSON.stringify({ text: hostView.readText(process.argv[1]) ?? null }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, fifo], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.signal, null, `readText did not return (killed by ${r.signal ?? ''})`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { text: null });
  });
});

describe('hostView.userHome', () => {
  it('knows the home of the user running Perimeter (the password database’s, as git’s ~user/, canonical), no other', () => {
    const me = userInfo();
    assert.equal(hostView.userHome(me.username), realpathSync(me.homedir));
    assert.equal(hostView.userHome('perimeter-no-such-user'), undefined);
  });
});

describe('hostView.readlink', () => {
  it('gives a symlink’s target as written (relative or not, dangling too), and nothing for anything else', () => {
    const dir = tempDir();
    symlinkSync('../elsewhere/hooks', join(dir, 'relative'));
    symlinkSync('/nonexistent-perimeter/x', join(dir, 'absolute'));
    writeFileSync(join(dir, 'file'), '');
    assert.equal(hostView.readlink(join(dir, 'relative')), '../elsewhere/hooks');
    assert.equal(hostView.readlink(join(dir, 'absolute')), '/nonexistent-perimeter/x');
    assert.equal(hostView.readlink(join(dir, 'file')), undefined);
    assert.equal(hostView.readlink(join(dir, 'missing')), undefined);
  });
});
