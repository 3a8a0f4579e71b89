// The secret store on real files in a temporary directory (never the machine's own state): values
// come back exactly, are never on disk in plaintext, and every way the store can be wrong — a
// foreign key, a missing key, swapped or altered records, loose permissions, a crash mid-write,
// concurrent writers — is a clear error or is survived, never garbage. One test uses a real
// Secret Service (gnome-keyring on a private D-Bus) where it is installed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { REPO_ROOT, assertNoPlaintext, holdLock, tempDir } from './cli-harness.js';
import {
  MAX_SECRET_BYTES,
  SecretStoreError,
  openSecretStore,
  secretStoreDir,
  stateDir,
  type SecretStoreErrorCode,
} from '../src/secret-store.js';

const VALUE = 'pm-test-Zq8vK3nR7wX2yL5tB9cE';
const STORE_MODULE = join(REPO_ROOT, 'packages/cli/dist/src/secret-store.js');

/** A store in a fresh directory that uses a key file (no keyring: the env has no D-Bus bus). */
function freshStore(t: TestContext) {
  const dir = join(tempDir(t), 'secrets');
  return { dir, store: openSecretStore({ dir, env: {} }) };
}

/** A fresh store holding one secret, `a`, and the path of its lock. */
function storeWithA(t: TestContext) {
  const { dir, store } = freshStore(t);
  store.set('a', 'v');
  return { dir, store, lock: join(dir, 'lock') };
}

function throwsCode(fn: () => unknown, code: SecretStoreErrorCode, message?: RegExp): SecretStoreError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof SecretStoreError, `expected a SecretStoreError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  assert.ok(
    !caught.message.includes(VALUE) && !(caught.hint ?? '').includes(VALUE),
    'the error holds the value',
  );
  return caught;
}

function storeDoc(dir: string): {
  key: { backend: string };
  secrets: Record<string, Record<string, string>>;
} {
  return JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8')) as {
    key: { backend: string };
    secrets: Record<string, Record<string, string>>;
  };
}

/** Every file in the store directory, in every encoding a careless store might use. */
void test('a stored value comes back exactly, and names() lists names and times, never values', (t) => {
  const { store } = freshStore(t);
  const unicode = 'päss wörd ✓ \t with spaces\nand a second line';
  assert.equal(store.set('github-token', VALUE).isReplaced, false);
  store.set('team/npm.token_2', unicode);
  assert.equal(store.get('github-token'), VALUE);
  assert.equal(store.get('team/npm.token_2'), unicode);
  assert.equal(store.get('absent'), undefined);
  const names = store.names();
  assert.deepEqual(
    names.map((e) => e.name),
    ['github-token', 'team/npm.token_2'],
  );
  for (const e of names) {
    assert.deepEqual(Object.keys(e).sort(), ['name', 'updatedAt']);
    assert.match(e.updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  assert.equal(store.set('github-token', 'rotated').isReplaced, true);
  assert.equal(store.get('github-token'), 'rotated');
  // A second handle (another process, in effect) reads the same.
  assert.equal(openSecretStore({ dir: store.dir, env: {} }).get('team/npm.token_2'), unicode);
});

void test('the store directory is 0700, its files 0600, and no file holds a value in plaintext', (t) => {
  const { dir, store } = freshStore(t);
  const created = store.set('github-token', VALUE).createdKey;
  assert.equal(created?.backend, 'file');
  assert.match(created?.keyringProblem ?? '', /no D-Bus session bus/);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(dir).sort(), ['key', 'store.json']);
  for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  assertNoPlaintext(dir, VALUE);
  assert.equal(store.keyInfo()?.backend, 'file');
  assert.equal(store.keyInfo()?.location, `the key file ${join(dir, 'key')}`);
});

void test('each value has its own random nonce: the same value twice encrypts differently', (t) => {
  const { dir, store } = freshStore(t);
  store.set('a', VALUE);
  store.set('b', VALUE);
  const { secrets } = storeDoc(dir);
  assert.notEqual(secrets.a?.nonce, secrets.b?.nonce);
  assert.notEqual(secrets.a?.ciphertext, secrets.b?.ciphertext);
  assert.equal(secrets.a?.v, 1);
  assert.equal(secrets.a?.alg, 'A256GCM');
});

void test('a record moved to another name fails authentication (the name is bound as AAD)', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  store.set('harmless', 'x');
  const doc = storeDoc(dir);
  doc.secrets.harmless = { ...doc.secrets['github-token'] };
  writeFileSync(join(dir, 'store.json'), JSON.stringify(doc));
  const e = throwsCode(() => openSecretStore({ dir, env: {} }).get('harmless'), 'tampered');
  assert.match(e.message, /secret harmless fails authentication/);
  assert.match(e.hint ?? '', /perimeter secret set harmless/);
  assert.equal(openSecretStore({ dir, env: {} }).get('github-token'), VALUE);
});

void test('an altered ciphertext or tag is refused, never returned as garbage', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  for (const field of ['ciphertext', 'tag', 'nonce'] as const) {
    const doc = storeDoc(dir);
    const record = doc.secrets['github-token'] ?? {};
    const bytes = Buffer.from(record[field] ?? '', 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    record[field] = bytes.toString('base64');
    const original = readFileSync(join(dir, 'store.json'));
    writeFileSync(join(dir, 'store.json'), JSON.stringify(doc));
    throwsCode(() => openSecretStore({ dir, env: {} }).get('github-token'), 'tampered');
    writeFileSync(join(dir, 'store.json'), original);
  }
});

void test('another key is recognised before any value is decrypted, and a set cannot mix keys', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  writeFileSync(join(dir, 'key'), `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
  const e = throwsCode(
    () => openSecretStore({ dir, env: {} }).get('github-token'),
    'key-mismatch',
    /the secret store key \(the key file .*\) does not match the stored secrets/,
  );
  assert.match(e.hint ?? '', /restore the key file from a backup, or remove the secret .* and set it again/);
  throwsCode(() => openSecretStore({ dir, env: {} }).set('other', 'x'), 'key-mismatch');
  assert.deepEqual(
    openSecretStore({ dir, env: {} })
      .names()
      .map((n) => n.name),
    ['github-token'],
  );
});

void test('a missing key file with values stored is a clear error; once they are removed, set makes a new key', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  store.set('npm-token', VALUE);
  const keyPath = join(dir, 'key');
  writeFileSync(keyPath, ''); // truncated, then gone
  throwsCode(
    () => openSecretStore({ dir, env: {} }).get('github-token'),
    'key-mismatch',
    /does not hold a key/,
  );
  spawnSync('rm', [keyPath]);
  const e = throwsCode(
    () => openSecretStore({ dir, env: {} }).get('github-token'),
    'key-missing',
    /key file .* is missing, so the stored secrets cannot be read/,
  );
  assert.match(e.hint ?? '', /remove the 2 secrets \(perimeter secret rm NAME\) and set them again/);
  // Listing and removing need no key: the way out the hint names works.
  const s = openSecretStore({ dir, env: {} });
  assert.equal(s.names().length, 2);
  assert.equal(s.remove('github-token'), true);
  assert.equal(s.remove('npm-token'), true);
  assert.equal(s.remove('npm-token'), false);
  assert.ok(s.set('github-token', 'new').createdKey);
  assert.equal(openSecretStore({ dir, env: {} }).get('github-token'), 'new');
  // The first handle still holds the old key in memory; it notices the store was re-keyed.
  assert.equal(store.get('github-token'), 'new');
});

void test('getMany returns the values the store holds; a name it does not hold is absent', (t) => {
  const { store } = freshStore(t);
  store.set('github-token', VALUE);
  store.set('npm-token', 'n');
  const values = store.getMany(['github-token', 'slack-token', 'npm-token', 'aws/key']);
  assert.deepEqual([...values.keys()].sort(), ['github-token', 'npm-token']);
  assert.equal(values.get('github-token'), VALUE);
  assert.equal(values.get('npm-token'), 'n');
  assert.equal(freshStore(t).store.getMany(['x']).size, 0, 'a store that holds nothing');
  throwsCode(() => store.getMany(['github-token', 'not a name']), 'invalid-name');
});

void test('names follow the policy schema: valid ones are stored, invalid ones refused without being repeated', (t) => {
  const { store } = freshStore(t);
  for (const good of ['a', 'A1', 'github-token', 'team/npm.token_2', '9', 'x'.repeat(128)])
    store.set(good, 'v');
  for (const bad of ['', '-x', '.x', '_x', '/x', 'a b', 'a:b', 'x'.repeat(129), 'ä', VALUE + '!']) {
    const e = throwsCode(() => store.set(bad, 'v'), 'invalid-name', /^that is not a valid secret name$/);
    assert.equal(e.exitCode, 3);
    if (bad.length > 1) assert.ok(!e.message.includes(bad) && !(e.hint ?? '').includes(bad));
    throwsCode(() => store.get(bad), 'invalid-name');
    throwsCode(() => store.remove(bad), 'invalid-name');
  }
});

void test('values: empty refused, up to 64 KiB accepted, one byte more refused, nothing stored', (t) => {
  const { store } = freshStore(t);
  throwsCode(() => store.set('a', ''), 'invalid-value', /empty/);
  store.set('max', 'x'.repeat(MAX_SECRET_BYTES));
  assert.equal(store.get('max')?.length, MAX_SECRET_BYTES);
  throwsCode(() => store.set('big', 'x'.repeat(MAX_SECRET_BYTES + 1)), 'invalid-value', /longer than 64 KiB/);
  // The limit is in bytes: 3-byte characters reach it sooner.
  throwsCode(() => store.set('big', '✓'.repeat(MAX_SECRET_BYTES / 3 + 1)), 'invalid-value');
  assert.deepEqual(
    store.names().map((e) => e.name),
    ['max'],
  );
});

void test('a store directory or file open to others, not a plain directory/file, or a symlink is refused with the fix', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  chmodSync(dir, 0o750);
  let e = throwsCode(() => store.names(), 'unsafe-permissions', /is open to other users \(mode 0750\)/);
  assert.equal(e.hint, `make it private: chmod 700 ${dir}`);
  chmodSync(dir, 0o700);
  chmodSync(join(dir, 'store.json'), 0o644);
  e = throwsCode(
    () => store.names(),
    'unsafe-permissions',
    /store\.json is open to other users \(mode 0644\)/,
  );
  assert.equal(e.hint, `make it private: chmod 600 ${join(dir, 'store.json')}`);
  chmodSync(join(dir, 'store.json'), 0o600);
  chmodSync(join(dir, 'key'), 0o640);
  throwsCode(
    () => openSecretStore({ dir, env: {} }).get('github-token'),
    'unsafe-permissions',
    /key is open/,
  );
  chmodSync(join(dir, 'key'), 0o600);
  assert.equal(openSecretStore({ dir, env: {} }).get('github-token'), VALUE);

  // A symlink planted in place of the store directory is not followed.
  const elsewhere = join(tempDir(t), 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  const link = join(tempDir(t), 'secrets');
  symlinkSync(elsewhere, link);
  throwsCode(
    () => openSecretStore({ dir: link, env: {} }).set('a', 'v'),
    'unsafe-permissions',
    /not a directory/,
  );
  assert.deepEqual(readdirSync(elsewhere), []);
});

void test('a store owned by another user is refused', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown a directory to another user');
  const { dir, store } = freshStore(t);
  store.set('a', 'v');
  spawnSync('chown', ['65534', dir]);
  throwsCode(() => store.names(), 'unsafe-permissions', /belongs to uid 65534, not to you \(uid 0\)/);
});

void test('a damaged or newer store file is reported, never half-used', (t) => {
  const { dir, store } = freshStore(t);
  store.set('a', 'v');
  const file = join(dir, 'store.json');
  const good = readFileSync(file, 'utf8');
  for (const [text, why] of [
    ['{', /is damaged \(not JSON\)/],
    ['{"format":"other"}', /not a perimeter secret store/],
    [good.replace('"version": 1', '"version": 2'), /format version 2, which this perimeter does not read/],
    [good.replace('"alg": "A256GCM"', '"alg": "none"'), /the record of a is malformed/],
  ] as const) {
    writeFileSync(file, text);
    throwsCode(() => store.names(), 'corrupt-store', why);
  }
});

void test('concurrent writers each keep their secret (the lock serialises read-change-replace)', async (t) => {
  const dir = join(tempDir(t), 'secrets');
  const writers = 8;
  const code = `import(${JSON.stringify(STORE_MODULE)}).then((m) => {
    const s = m.openSecretStore({ dir: ${JSON.stringify(dir)}, env: {} });
    for (let i = 0; i < 5; i++) s.set('w' + process.argv[1] + '-' + i, 'value-' + process.argv[1] + '-' + i);
  })`;
  const exits = await Promise.all(
    Array.from(
      { length: writers },
      (_, w) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ['-e', code, String(w)], { stdio: 'inherit' });
          child.on('exit', resolve);
        }),
    ),
  );
  assert.deepEqual(
    exits,
    exits.map(() => 0),
  );
  const store = openSecretStore({ dir, env: {} });
  assert.equal(store.names().length, writers * 5);
  for (let w = 0; w < writers; w++) assert.equal(store.get(`w${w}-4`), `value-${w}-4`);
  assert.ok(!existsSync(join(dir, 'lock')));
});

void test('a write that fails (file size limit) loses nothing, and the next set cleans up after it', (t) => {
  const { dir, store } = freshStore(t);
  store.set('github-token', VALUE);
  const before = readFileSync(join(dir, 'store.json'));
  // RLIMIT_FSIZE of 1 KiB: the new store file cannot be written in full (EFBIG, or SIGXFSZ).
  const code = `import(${JSON.stringify(STORE_MODULE)}).then((m) => {
    m.openSecretStore({ dir: ${JSON.stringify(dir)}, env: {} }).set('big', 'x'.repeat(4096));
  })`;
  const r = spawnSync('sh', ['-c', 'ulimit -f 1; exec "$0" -e "$1"', process.execPath, code], {
    encoding: 'utf8',
  });
  // Node ignores SIGXFSZ, so the write fails with EFBIG and the store says so (a kill would do too).
  assert.ok(r.signal === 'SIGXFSZ' || /could not write .*store\.json: EFBIG/.test(r.stderr), r.stderr);
  assert.ok(!r.stderr.includes(VALUE));
  assert.deepEqual(readFileSync(join(dir, 'store.json')), before);
  assert.equal(openSecretStore({ dir, env: {} }).get('github-token'), VALUE);
  store.set('next', 'v');
  assert.deepEqual(readdirSync(dir).sort(), ['key', 'store.json']);
  assert.equal(store.get('github-token'), VALUE);
});

void test('a lock left by a dead process is taken over; one held by a live process makes set wait, then fail clearly', (t) => {
  const { dir, store, lock } = storeWithA(t);
  writeFileSync(lock, '999999999\n', { mode: 0o600 });
  store.set('b', 'v');
  assert.ok(!existsSync(lock));
  // Our parent is alive for the whole test.
  writeFileSync(lock, `${process.ppid}\n`, { mode: 0o600 });
  const impatient = openSecretStore({ dir, env: {}, lockTimeoutMs: 300 });
  const e = throwsCode(
    () => impatient.set('c', 'v'),
    'locked',
    new RegExp(`locked by another Perimeter process \\(pid ${process.ppid}\\)`),
  );
  assert.match(e.hint ?? '', /if no perimeter is running, remove .*lock/);
  assert.deepEqual(
    store.names().map((n) => n.name),
    ['a', 'b'],
  );
});

/** What /proc says of a process: its start time (field 22 of stat) and this boot's id. */
function procOf(pid: number): { start: string; boot: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return {
    start: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string,
    boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
  };
}

void test(
  'a lock from before a restart, or naming a pid that a process started since has, is taken over; one naming the live process is kept',
  { skip: existsSync('/proc/self/stat') ? false : 'needs /proc for start times and the boot id' },
  (t) => {
    const { dir, store, lock } = storeWithA(t);
    // Our parent is alive for the whole test; the lock names it as the store's lock names a holder.
    const { start, boot } = procOf(process.ppid);
    const naming = (b: string, st: string): string =>
      JSON.stringify({ pid: process.ppid, host: hostname(), boot: b, start: st });
    const impatient = openSecretStore({ dir, env: {}, lockTimeoutMs: 300 });
    for (const [text, name] of [
      [naming(boot, `${start}0`), 'reused'],
      [naming(`${boot.slice(0, -1)}x`, start), 'restarted'],
    ] as const) {
      writeFileSync(lock, text, { mode: 0o600 });
      impatient.set(name, 'v');
      assert.ok(!existsSync(lock), name);
    }
    writeFileSync(lock, naming(boot, start), { mode: 0o600 });
    throwsCode(
      () => impatient.set('c', 'v'),
      'locked',
      new RegExp(`locked by another Perimeter process \\(pid ${process.ppid}\\)`),
    );
    assert.equal(readFileSync(lock, 'utf8'), naming(boot, start), 'the live holder keeps its lock');
    assert.deepEqual(
      store.names().map((n) => n.name),
      ['a', 'restarted', 'reused'],
    );
  },
);

void test(
  'a lock taken inside a session’s sandbox (its own pid namespace) is kept: set fails locked, saying where its holder is',
  { skip: existsSync('/proc/self/ns/pid') ? false : 'needs /proc for the boot id and pid namespaces' },
  (t) => {
    const { dir, lock } = storeWithA(t);
    // pid 2 there is the sandbox's workload; here it is another process or none.
    const { boot } = procOf(process.pid);
    const text = JSON.stringify({ pid: 2, host: 'perimeter', boot, start: '1', pidNamespace: 'pid:[1]' });
    writeFileSync(lock, text, { mode: 0o600 });
    const e = throwsCode(
      () => openSecretStore({ dir, env: {}, lockTimeoutMs: 0 }).set('b', 'v'),
      'locked',
      /^the secret store is locked by a Perimeter process in another pid namespace, a sandbox or a container \(pid 2 there\)$/,
    );
    assert.equal(e.hint, `wait for it to finish; if it has stopped, remove ${lock}`);
    assert.equal(readFileSync(lock, 'utf8'), text);
  },
);

void test('the lock of a process killed with SIGKILL while it held it is taken over at once', async (t) => {
  const { dir, store, lock } = storeWithA(t);
  // A process holding the store's lock as a writer does, killed before it could release it.
  await (await holdLock(t, lock)).kill();
  assert.ok(existsSync(lock), 'the killed process left its lock');
  openSecretStore({ dir, env: {}, lockTimeoutMs: 0 }).set('b', 'v');
  assert.ok(!existsSync(lock));
  assert.deepEqual(
    store.names().map((n) => n.name),
    ['a', 'b'],
  );
});

void test('the store lives in ${XDG_STATE_HOME:-~/.local/state}/perimeter/secrets', () => {
  assert.equal(secretStoreDir({ XDG_STATE_HOME: '/x/state' }), '/x/state/perimeter/secrets');
  assert.equal(stateDir({ XDG_STATE_HOME: '/x/state' }), '/x/state/perimeter');
  // A relative XDG_STATE_HOME is invalid (XDG spec) and ignored.
  assert.match(secretStoreDir({ XDG_STATE_HOME: 'rel' }), /\/\.local\/state\/perimeter\/secrets$/);
  assert.equal(openSecretStore({ env: { XDG_STATE_HOME: '/x/state' } }).dir, '/x/state/perimeter/secrets');
});

void test('PERIMETER_SECRET_KEY_BACKEND=keyring without a keyring fails rather than falling back', (t) => {
  const dir = join(tempDir(t), 'secrets');
  const store = openSecretStore({ dir, env: { PERIMETER_SECRET_KEY_BACKEND: 'keyring' } });
  throwsCode(
    () => store.set('a', VALUE),
    'keyring-unavailable',
    /the OS keyring cannot hold the secret store's key/,
  );
  assert.ok(!existsSync(join(dir, 'key')));
  assert.deepEqual(store.names(), []);
  throwsCode(() => openSecretStore({ dir, env: { PERIMETER_SECRET_KEY_BACKEND: 'vault' } }), 'invalid-value');
});

// --- a real Secret Service: gnome-keyring on a private session bus ---------------------------------

const KEYRING_TOOLS = ['/usr/bin/secret-tool', '/usr/bin/gnome-keyring-daemon', '/usr/bin/dbus-run-session'];
const missingTools = KEYRING_TOOLS.filter((p) => !existsSync(p));

void test(
  'with a Secret Service on the session bus the key lives in the keyring, not on disk',
  {
    skip:
      missingTools.length > 0
        ? `needs ${missingTools.join(', ')} (apt-get install libsecret-tools gnome-keyring dbus)`
        : false,
  },
  (t) => {
    const root = tempDir(t);
    const dir = join(root, 'secrets');
    mkdirSync(join(root, 'home'), { mode: 0o700 });
    // Inside one private bus: unlock a fresh keyring, store two values, read them back, then
    // delete the keyring item and see the store say so.
    const script = `import(${JSON.stringify(STORE_MODULE)}).then((m) => {
      const out = (o) => console.log(JSON.stringify(o));
      const s = m.openSecretStore({ dir: ${JSON.stringify(dir)} });
      const r = s.set('github-token', ${JSON.stringify(VALUE)});
      s.set('npm-token', 'n');
      const again = m.openSecretStore({ dir: ${JSON.stringify(dir)} });
      out({ created: r.createdKey, got: again.get('github-token'), many: [...again.getMany(['npm-token'])] });
      require('node:child_process').spawnSync('/usr/bin/secret-tool', ['clear', 'service', 'perimeter', 'key', 'secret-store', 'store', ${JSON.stringify(dir)}]);
      try { m.openSecretStore({ dir: ${JSON.stringify(dir)} }).get('github-token'); out({ after: 'read' }); }
      catch (e) { out({ after: e.code, message: e.message }); }
    })`;
    const r = spawnSync(
      '/usr/bin/dbus-run-session',
      [
        '--',
        'sh',
        '-c',
        'echo unlock-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0" --input-type=commonjs -e "$1"',
        process.execPath,
        script,
      ],
      {
        env: { PATH: '/usr/bin:/bin', HOME: join(root, 'home') },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const [first, second] = lines;
    assert.deepEqual(first?.created, {
      backend: 'keyring',
      location: `the OS keyring (Secret Service item service=perimeter key=secret-store store=${dir})`,
    });
    assert.equal(first?.got, VALUE);
    assert.deepEqual(first?.many, [['npm-token', 'n']]);
    assert.equal(second?.after, 'key-missing');
    assert.match(String(second?.message), /not in the OS keyring \(its item was deleted\)/);
    // On disk: the store and no key file; no value in plaintext.
    assert.deepEqual(readdirSync(dir), ['store.json']);
    assert.equal(storeDoc(dir).key.backend, 'keyring');
    assertNoPlaintext(dir, VALUE);
    // Outside that bus the keyring cannot be reached, and the store says so.
    throwsCode(
      () => openSecretStore({ dir, env: {} }).get('github-token'),
      'key-missing',
      /key is in the OS keyring, which cannot be reached here \(there is no D-Bus session bus\)/,
    );
    assert.equal(openSecretStore({ dir, env: {} }).keyInfo()?.backend, 'keyring');
  },
);
