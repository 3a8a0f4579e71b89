// The local secret store: named secret values, encrypted at rest (AES-256-GCM, one random 96-bit
// nonce per value, the name bound as additional data) in ${XDG_STATE_HOME:-~/.local/state}/
// perimeter/secrets, a directory every session sandbox hides. The 32-byte key lives in the OS
// keyring where there is one (the freedesktop Secret Service, through secret-tool), else in a 0600
// key file beside the store. `perimeter secret` and `perimeter run` use it; it never prints.
//
// It must never let a value out: no error, exception message or return value other than get() and
// getMany() carries one, and nothing is ever written in plaintext.

import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { lockHolder, replaceFile, stateDir, withLock, type LockRefusal } from '@perimeter/audit';
import { SECRET_NAME } from '@perimeter/policy';
import { UserError } from './errors.js';

/** Perimeter's state directory (@perimeter/audit's, which the sandbox keeps its registry in too). */
export { stateDir };

/** The largest value the store takes, in bytes of UTF-8: tokens and keys, not files. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Where the store's key is kept. */
export type KeyBackend = 'keyring' | 'file';

export interface SecretEntry {
  readonly name: string;
  /** When the value was last set (ISO 8601, UTC). */
  readonly updatedAt: string;
}

export interface KeyInfo {
  readonly backend: KeyBackend;
  /** A human description of where: the key file's path, or the keyring item's attributes. */
  readonly location: string;
}

export interface SetResult {
  /** An earlier value of this name was replaced. */
  readonly isReplaced: boolean;
  /** Set when this call created the store's key: where it went, and why not the keyring if not. */
  readonly createdKey?: KeyInfo & { readonly keyringProblem?: string };
}

export interface SecretStore {
  /** The store's directory. */
  readonly dir: string;
  /** Where the key is kept; undefined while the store has never held a secret. */
  keyInfo(): KeyInfo | undefined;
  /** Every stored name with when it was last set, sorted by name. Never a value. */
  names(): SecretEntry[];
  /** The value of one secret, or undefined when there is none of that name. */
  get(name: string): string | undefined;
  /**
   * The values of several secrets at once, for a session, with one read of the store: a name the
   * store does not hold is absent from the map (the session leaves its binding out).
   */
  getMany(names: readonly string[]): Map<string, string>;
  /** Stores (or replaces) a value. */
  set(name: string, value: string): SetResult;
  /** Deletes a secret; false when there was none of that name. */
  remove(name: string): boolean;
}

export type SecretStoreErrorCode =
  | 'invalid-name'
  | 'invalid-value'
  | 'unsafe-permissions'
  | 'corrupt-store'
  | 'key-missing'
  | 'key-mismatch'
  | 'keyring-unavailable'
  | 'tampered'
  | 'locked'
  | 'io';

/** A problem with the store, for a person: one sentence and how to fix it. Never holds a value. */
export class SecretStoreError extends UserError {
  constructor(
    readonly code: SecretStoreErrorCode,
    message: string,
    hint?: string,
    exitCode = 1,
  ) {
    super(message, hint, exitCode);
    this.name = 'SecretStoreError';
  }
}

export interface SecretStoreOptions {
  /** The store's directory; default secretStoreDir(env). */
  readonly dir?: string;
  /** XDG_STATE_HOME, the D-Bus session bus and PERIMETER_SECRET_KEY_BACKEND are read here. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Where a new key goes: 'auto' (the keyring when one answers, else a file), 'keyring' (fail
   * without one) or 'file'. Default: PERIMETER_SECRET_KEY_BACKEND, else 'auto'. A store that has a
   * key keeps it where it is.
   */
  readonly keyBackend?: KeyBackend | 'auto';
  /** How long set() and remove() wait for another writer to finish; default 10 s. */
  readonly lockTimeoutMs?: number;
}

/** The secret store's directory: <stateDir>/secrets. */
export function secretStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'secrets');
}

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** Throws unless `name` is a valid secret name. The name is not repeated: it may be a mistyped value. */
export function assertSecretName(name: string): void {
  if (!isSecretName(name))
    throw new SecretStoreError(
      'invalid-name',
      'that is not a valid secret name',
      'a name is 1 to 128 letters, digits, ".", "_", "/" or "-", starting with a letter or digit (as in policy: credentials: allow: - secret: NAME)',
      3,
    );
}

/** Opens the store (nothing is read or created until a method needs it). */
export function openSecretStore(options: SecretStoreOptions = {}): SecretStore {
  const env = options.env ?? process.env;
  const dir = options.dir ?? secretStoreDir(env);
  const wanted = options.keyBackend ?? keyBackendFromEnv(env);
  return new LocalSecretStore(dir, env, wanted, options.lockTimeoutMs ?? 10_000);
}

// ---------------------------------------------------------------------------------------------
// The on-disk format (version 1): one JSON file, store.json, replaced atomically on every change.
//
//   { "format": "perimeter-secret-store", "version": 1,
//     "key": { "backend": "keyring" | "file", "check": { nonce, tag } },
//     "secrets": { NAME: { "v": 1, "alg": "A256GCM", updatedAt, nonce, ciphertext, tag } } }
//
// key.check is an AES-GCM tag over nothing under the key: a wrong key is recognised before any
// value is decrypted, and before a second key could ever encrypt into the same store.

const FORMAT = 'perimeter-secret-store';
const VERSION = 1;
const ALG = 'A256GCM';
const STORE_FILE = 'store.json';
const KEY_FILE = 'key';
const LOCK_FILE = 'lock';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface Sealed {
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
}

interface SecretRecord extends Sealed {
  readonly updatedAt: string;
}

interface StoreState {
  key?: { backend: KeyBackend; check: Sealed };
  secrets: Map<string, SecretRecord>;
}

// The name is bound into every value (swapping two names' ciphertexts fails authentication), and
// the format version into everything (a record cannot be replayed as another version's).
const aadForSecret = (name: string): Buffer => Buffer.from(`${FORMAT}/v${VERSION}\0secret\0${name}`, 'utf8');
const AAD_KEY_CHECK = Buffer.from(`${FORMAT}/v${VERSION}\0key-check`, 'utf8');

function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/** The plaintext, or undefined when authentication fails (wrong key, altered or moved record). */
function unseal(key: Buffer, sealed: Sealed, aad: Buffer): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.nonce, 'base64'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]);
  } catch {
    return undefined;
  }
}

function keyBackendFromEnv(env: NodeJS.ProcessEnv): KeyBackend | 'auto' {
  const v = env.PERIMETER_SECRET_KEY_BACKEND;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'keyring' || v === 'file') return v;
  throw new SecretStoreError(
    'invalid-value',
    `PERIMETER_SECRET_KEY_BACKEND is "${v}", which is not a key backend`,
    'use keyring, file or auto (or unset it)',
    3,
  );
}

class LocalSecretStore implements SecretStore {
  /**
   * The key once it has passed the store's key check, with that check: a long-lived handle (a
   * session) re-checks when the store was re-keyed meanwhile, rather than misreport values.
   */
  private cached: { key: Buffer; check: string } | undefined;

  constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly wanted: KeyBackend | 'auto',
    private readonly lockTimeoutMs: number,
  ) {}

  private get storeFile(): string {
    return join(this.dir, STORE_FILE);
  }

  private get keyFile(): string {
    return join(this.dir, KEY_FILE);
  }

  keyInfo(): KeyInfo | undefined {
    const state = this.read();
    return state.key ? this.describeKey(state.key.backend) : undefined;
  }

  names(): SecretEntry[] {
    return [...this.read().secrets]
      .map(([name, r]) => ({ name, updatedAt: r.updatedAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): string | undefined {
    assertSecretName(name);
    const state = this.read();
    const record = state.secrets.get(name);
    return record === undefined ? undefined : this.decrypt(state, name, record);
  }

  getMany(names: readonly string[]): Map<string, string> {
    for (const name of names) assertSecretName(name);
    const state = this.read();
    const values = new Map<string, string>();
    for (const name of names) {
      const record = state.secrets.get(name);
      if (record !== undefined) values.set(name, this.decrypt(state, name, record));
    }
    return values;
  }

  set(name: string, value: string): SetResult {
    assertSecretName(name);
    const plaintext = checkValue(value);
    try {
      this.ensureDir();
      return this.locked(() => {
        const state = this.read();
        const { key, createdKey } = this.keyForWriting(state);
        const isReplaced = state.secrets.has(name);
        state.secrets.set(name, {
          ...seal(key, plaintext, aadForSecret(name)),
          updatedAt: new Date().toISOString(),
        });
        this.write(state);
        return { isReplaced, ...(createdKey ? { createdKey } : {}) };
      });
    } finally {
      plaintext.fill(0);
    }
  }

  remove(name: string): boolean {
    assertSecretName(name);
    if (!this.read().secrets.has(name)) return false;
    return this.locked(() => {
      const state = this.read();
      if (!state.secrets.delete(name)) return false;
      this.write(state);
      return true;
    });
  }

  // --- reading and writing the store file -------------------------------------------------------

  /** The store as on disk; an absent directory or file is an empty store. */
  private read(): StoreState {
    if (!this.checkPrivate(this.dir, 'directory')) return { secrets: new Map() };
    if (!this.checkPrivate(this.storeFile, 'file')) return { secrets: new Map() };
    let text: string;
    try {
      text = readFileSync(this.storeFile, 'utf8');
    } catch (e) {
      throw ioError('read', this.storeFile, e);
    }
    return parseStore(text, this.storeFile);
  }

  private write(state: StoreState): void {
    const secrets: Record<string, unknown> = {};
    for (const [name, r] of [...state.secrets].sort(([a], [b]) => (a < b ? -1 : 1)))
      secrets[name] = {
        v: VERSION,
        alg: ALG,
        updatedAt: r.updatedAt,
        nonce: r.nonce,
        ciphertext: r.ciphertext,
        tag: r.tag,
      };
    const doc = { format: FORMAT, version: VERSION, ...(state.key ? { key: state.key } : {}), secrets };
    writeAtomically(this.storeFile, `${JSON.stringify(doc, null, 2)}\n`);
  }

  private ensureDir(): void {
    try {
      mkdirSync(dirname(this.dir), { recursive: true, mode: 0o700 });
      mkdirSync(this.dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError('create', this.dir, e);
    }
    this.checkPrivate(this.dir, 'directory');
  }

  /**
   * false when `path` does not exist; throws unless it is a directory/regular file (never a
   * symlink: redteam — a link planted in the store would redirect reads and writes), owned by this
   * user and closed to group and others.
   */
  private checkPrivate(path: string, kind: 'directory' | 'file'): boolean {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError('inspect', path, e);
    }
    const isRightKind = kind === 'directory' ? st.isDirectory() : st.isFile();
    if (!isRightKind)
      throw new SecretStoreError(
        'unsafe-permissions',
        `${path} is not a ${kind === 'directory' ? 'directory' : 'regular file'} (it may be a symbolic link), so the secret store will not use it`,
        `move it away; perimeter creates the store${kind === 'file' ? "'s files" : ''} itself`,
      );
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid)
      throw new SecretStoreError(
        'unsafe-permissions',
        `${path} belongs to uid ${st.uid}, not to you (uid ${uid}), so the secret store will not trust it`,
        `make it yours: chown ${uid} ${path} (or point XDG_STATE_HOME at a directory of your own)`,
      );
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      throw new SecretStoreError(
        'unsafe-permissions',
        `${path} is open to other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}), so the secret store will not use it`,
        `make it private: chmod ${kind === 'directory' ? '700' : '600'} ${path}`,
      );
    return true;
  }

  /**
   * Runs `fn` holding the store's lock (process-lock of @perimeter/audit), so concurrent `secret
   * set`s each read, change and replace the whole store in turn and none is lost. A live holder is
   * waited for; a lock whose process is gone (dead, from before a restart, its pid reused since)
   * is taken over by exactly one of those waiting.
   */
  private locked<T>(fn: () => T): T {
    const lock = join(this.dir, LOCK_FILE);
    return withLock(lock, { waitMs: this.lockTimeoutMs, refuse: (r) => lockRefusal(lock, r) }, () => {
      removeStaleTemporaries(this.dir);
      return fn();
    });
  }

  // --- the key ------------------------------------------------------------------------------------

  private describeKey(backend: KeyBackend): KeyInfo {
    return backend === 'file'
      ? { backend, location: `the key file ${this.keyFile}` }
      : {
          backend,
          location: `the OS keyring (Secret Service item service=perimeter key=secret-store store=${this.dir})`,
        };
  }

  private decrypt(state: StoreState, name: string, record: SecretRecord): string {
    const key = this.keyForReading(state);
    const plaintext = unseal(key, record, aadForSecret(name));
    if (plaintext === undefined)
      throw new SecretStoreError(
        'tampered',
        `the stored value of secret ${name} fails authentication: it was altered, or moved from another name`,
        `set it again: perimeter secret set ${name}`,
      );
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }

  /** The key that opens the stored values; a clear error when it is missing or is another key. */
  private keyForReading(state: StoreState): Buffer {
    if (this.cached && state.key && this.cached.check === state.key.check.tag) return this.cached.key;
    const count = state.secrets.size;
    const recorded = state.key;
    const lost = `remove the ${count === 1 ? 'secret' : `${count} secrets`} (perimeter secret rm NAME) and set ${count === 1 ? 'it' : 'them'} again`;
    if (recorded === undefined)
      throw new SecretStoreError(
        'corrupt-store',
        `the secret store ${this.storeFile} holds secrets but records no key`,
        `restore it from a backup, or ${lost}`,
      );
    const fromKeyring = recorded.backend === 'keyring' ? this.readKeyring() : undefined;
    const key = fromKeyring ? fromKeyring.key : this.readKeyFile();
    if (key === undefined)
      throw fromKeyring === undefined
        ? new SecretStoreError(
            'key-missing',
            `the secret store's key file ${this.keyFile} is missing, so the stored secrets cannot be read`,
            `restore the key file from a backup, or ${lost}`,
          )
        : new SecretStoreError(
            'key-missing',
            fromKeyring.problem === undefined
              ? "the secret store's key is not in the OS keyring (its item was deleted), so the stored secrets cannot be read"
              : `the secret store's key is in the OS keyring, which cannot be reached here (${fromKeyring.problem})`,
            `run where the keyring that holds it is unlocked (your desktop session), or ${lost}`,
          );
    if (unseal(key, recorded.check, AAD_KEY_CHECK) === undefined)
      throw new SecretStoreError(
        'key-mismatch',
        `the secret store key (${this.describeKey(recorded.backend).location}) does not match the stored secrets`,
        `restore the key ${recorded.backend === 'file' ? 'file' : 'item'} from a backup, or ${lost}`,
      );
    this.cached = { key, check: recorded.check.tag };
    return key;
  }

  /**
   * The key to encrypt with, under the lock: the store's own when it has values; a new one (or an
   * orphaned one found where it would go) when it has none, recorded in `state`.
   */
  private keyForWriting(state: StoreState): { key: Buffer; createdKey?: SetResult['createdKey'] } {
    if (state.secrets.size > 0) return { key: this.keyForReading(state) };
    // No values to lose: use the key that is there (it may just be an emptied store's), or make one.
    if (state.key) {
      const existing = state.key.backend === 'file' ? this.readKeyFile() : this.readKeyring().key;
      if (existing) {
        state.key = { backend: state.key.backend, check: seal(existing, Buffer.alloc(0), AAD_KEY_CHECK) };
        this.cached = { key: existing, check: state.key.check.tag };
        return { key: existing };
      }
    }
    const made = this.makeKey();
    state.key = { backend: made.backend, check: seal(made.key, Buffer.alloc(0), AAD_KEY_CHECK) };
    this.cached = { key: made.key, check: state.key.check.tag };
    return {
      key: made.key,
      createdKey: {
        ...this.describeKey(made.backend),
        ...(made.keyringProblem ? { keyringProblem: made.keyringProblem } : {}),
      },
    };
  }

  private makeKey(): { key: Buffer; backend: KeyBackend; keyringProblem?: string } {
    // A key file already there (a store whose store.json was removed) is reused, never overwritten:
    // it may be the only way into a backup of the store.
    const onFile = this.wanted !== 'keyring' ? this.readKeyFile() : undefined;
    if (onFile) return { key: onFile, backend: 'file' };
    let keyringProblem: string | undefined;
    if (this.wanted !== 'file') {
      const found = this.readKeyring();
      if (found.key) return { key: found.key, backend: 'keyring' };
      if (found.problem === undefined) {
        const key = randomBytes(KEY_BYTES);
        keyringProblem = this.writeKeyring(key);
        if (keyringProblem === undefined) {
          // Read it back: a keyring that accepts and loses items must not hold the only key.
          const back = this.readKeyring();
          if (back.key?.equals(key)) return { key, backend: 'keyring' };
          keyringProblem = back.problem ?? 'the keyring did not give the key back';
        }
      } else keyringProblem = found.problem;
      if (this.wanted === 'keyring')
        throw new SecretStoreError(
          'keyring-unavailable',
          `the OS keyring cannot hold the secret store's key: ${keyringProblem}`,
          'run in a desktop session with an unlocked keyring (gnome-keyring, KWallet), or set PERIMETER_SECRET_KEY_BACKEND=file to keep the key in a 0600 file',
        );
    }
    const key = randomBytes(KEY_BYTES);
    writeAtomically(
      this.keyFile,
      `# perimeter secret store key (AES-256-GCM). Private: back it up with the store, never share it.\n${key.toString('base64')}\n`,
    );
    return { key, backend: 'file', ...(keyringProblem ? { keyringProblem } : {}) };
  }

  private readKeyFile(): Buffer | undefined {
    if (!this.checkPrivate(this.keyFile, 'file')) return undefined;
    let text: string;
    try {
      text = readFileSync(this.keyFile, 'utf8');
    } catch (e) {
      throw ioError('read', this.keyFile, e);
    }
    const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
    const key = decodeKey(line);
    if (key === undefined)
      throw new SecretStoreError(
        'key-mismatch',
        `the secret store's key file ${this.keyFile} does not hold a key`,
        'restore it from a backup (it holds one line of base64, 32 bytes)',
      );
    return key;
  }

  // --- the OS keyring: the freedesktop Secret Service through libsecret's secret-tool -------------
  // The helper runs by absolute path with a minimal environment (only the bus address), and the
  // key travels on its standard input and output, never in argv (visible to every process).

  private keyringAttributes(): string[] {
    return ['service', 'perimeter', 'key', 'secret-store', 'store', this.dir];
  }

  /** The key from the keyring; `problem` says why there is none when the keyring cannot answer. */
  private readKeyring(): { key?: Buffer; problem?: string } {
    const helper = keyringHelper(this.env);
    if (helper.problem !== undefined) return { problem: helper.problem };
    const r = spawnSync(helper.path, ['lookup', ...this.keyringAttributes()], {
      env: helper.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: KEYRING_TIMEOUT_MS,
      encoding: 'utf8',
    });
    if (r.error) return { problem: `secret-tool failed: ${r.error.message}` };
    if (r.status === 0 && r.stdout.trim() !== '') {
      const key = decodeKey(r.stdout.trim());
      return key ? { key } : { problem: 'the keyring item does not hold a key' };
    }
    const said = r.stderr.trim().split('\n')[0] ?? '';
    // secret-tool exits 1 and says nothing when the service answers but has no such item.
    return said === '' && r.status === 1 ? {} : { problem: said || `secret-tool exited ${r.status}` };
  }

  /** Stores the key; undefined on success, else why not. */
  private writeKeyring(key: Buffer): string | undefined {
    const helper = keyringHelper(this.env);
    if (helper.problem !== undefined) return helper.problem;
    const r = spawnSync(
      helper.path,
      ['store', `--label=Perimeter secret store key (${this.dir})`, ...this.keyringAttributes()],
      {
        env: helper.env,
        input: key.toString('base64'),
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: KEYRING_TIMEOUT_MS,
        encoding: 'utf8',
      },
    );
    if (r.error) return `secret-tool failed: ${r.error.message}`;
    if (r.status !== 0) return r.stderr.trim().split('\n')[0] || `secret-tool exited ${r.status}`;
    return undefined;
  }
}

// An unlock prompt may be waiting for the user; a keyring that never answers must not hang forever.
const KEYRING_TIMEOUT_MS = 60_000;
const SECRET_TOOL_PATHS = ['/usr/bin/secret-tool', '/bin/secret-tool', '/usr/local/bin/secret-tool'];

function keyringHelper(
  env: NodeJS.ProcessEnv,
): { path: string; env: NodeJS.ProcessEnv; problem?: undefined } | { problem: string } {
  if (process.platform !== 'linux') return { problem: `no OS keyring support on ${process.platform} yet` };
  const path = SECRET_TOOL_PATHS.find((p) => existsSync(p));
  if (path === undefined) return { problem: 'secret-tool (libsecret-tools) is not installed' };
  const runtimeBus = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'bus') : undefined;
  const bus =
    env.DBUS_SESSION_BUS_ADDRESS ||
    (runtimeBus !== undefined && existsSync(runtimeBus) ? `unix:path=${runtimeBus}` : undefined);
  if (bus === undefined) return { problem: 'there is no D-Bus session bus' };
  // No DISPLAY: D-Bus must not autolaunch a bus of its own. Unlock prompts are the daemon's.
  return { path, env: { PATH: '/usr/bin:/bin', LC_ALL: 'C', DBUS_SESSION_BUS_ADDRESS: bus } };
}

function decodeKey(text: string | undefined): Buffer | undefined {
  if (text === undefined || !/^[A-Za-z0-9+/]{43}=$/.test(text.trim())) return undefined;
  const key = Buffer.from(text.trim(), 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** The refusal of a value over MAX_SECRET_BYTES (also raised by `secret set` while it reads one). */
export function valueTooLong(): SecretStoreError {
  return new SecretStoreError(
    'invalid-value',
    `the value is longer than ${MAX_SECRET_BYTES / 1024} KiB; nothing was stored`,
    'the store holds tokens, passwords and keys, not files',
    3,
  );
}

/** The value as UTF-8 bytes, checked: not empty, not over the limit. The caller zeroes them. */
function checkValue(value: string): Buffer {
  if (typeof value !== 'string' || value === '')
    throw new SecretStoreError('invalid-value', 'the value is empty; nothing was stored', undefined, 3);
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > MAX_SECRET_BYTES) {
    bytes.fill(0);
    throw valueTooLong();
  }
  return bytes;
}

// --- parsing (every field checked: a damaged file is reported, never half-used) ---------------

function parseStore(text: string, file: string): StoreState {
  const corrupt = (why: string): SecretStoreError =>
    new SecretStoreError(
      'corrupt-store',
      `the secret store ${file} is damaged (${why})`,
      'restore it from a backup, or move it away and set the secrets again',
    );
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw corrupt('not JSON');
  }
  if (!isObject(doc) || doc.format !== FORMAT) throw corrupt('not a perimeter secret store');
  if (doc.version !== VERSION)
    throw new SecretStoreError(
      'corrupt-store',
      `the secret store ${file} has format version ${String(doc.version)}, which this perimeter does not read`,
      'use the perimeter that wrote it (a newer one), or move the file away and set the secrets again',
    );
  const state: StoreState = { secrets: new Map() };
  if (doc.key !== undefined) {
    const k = doc.key;
    if (!isObject(k) || (k.backend !== 'file' && k.backend !== 'keyring') || !isSealed(k.check, true))
      throw corrupt('its key record is malformed');
    state.key = {
      backend: k.backend,
      check: { nonce: k.check.nonce, ciphertext: k.check.ciphertext, tag: k.check.tag },
    };
  }
  if (!isObject(doc.secrets)) throw corrupt('it has no secrets table');
  for (const [name, r] of Object.entries(doc.secrets)) {
    if (!isSecretName(name)) throw corrupt('it holds an invalid secret name');
    if (
      !isObject(r) ||
      r.v !== VERSION ||
      r.alg !== ALG ||
      !isSealed(r, false) ||
      typeof r.updatedAt !== 'string'
    )
      throw corrupt(`the record of ${name} is malformed`);
    state.secrets.set(name, { updatedAt: r.updatedAt, nonce: r.nonce, ciphertext: r.ciphertext, tag: r.tag });
  }
  return state;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isSealed(v: unknown, isEmptyAllowed: boolean): v is Sealed {
  if (!isObject(v)) return false;
  const { nonce, ciphertext, tag } = v;
  return (
    typeof nonce === 'string' &&
    typeof ciphertext === 'string' &&
    typeof tag === 'string' &&
    BASE64.test(nonce) &&
    BASE64.test(ciphertext) &&
    BASE64.test(tag) &&
    Buffer.from(nonce, 'base64').length === NONCE_BYTES &&
    Buffer.from(tag, 'base64').length === TAG_BYTES &&
    (isEmptyAllowed || ciphertext !== '')
  );
}

// --- files ----------------------------------------------------------------------------------------

/** replaceFile of @perimeter/audit, its failure said as the store's one sentence. */
function writeAtomically(path: string, text: string): void {
  try {
    replaceFile(path, text);
  } catch (e) {
    throw ioError('write', path, e);
  }
}

/** Temporaries are only ever written under the lock, so any found while holding it are a crash's. */
function removeStaleTemporaries(dir: string): void {
  for (const name of readdirSync(dir))
    if (name.endsWith('.tmp'))
      try {
        unlinkSync(join(dir, name));
      } catch {
        // gone already
      }
}

/** Why the store's lock was not taken, as the store's error. */
function lockRefusal(lock: string, r: LockRefusal): SecretStoreError {
  switch (r.kind) {
    case 'held': {
      const { who, isOutOfSight } = lockHolder(r);
      return new SecretStoreError(
        'locked',
        `the secret store is locked by ${who}`,
        isOutOfSight
          ? `wait for it to finish; if it has stopped, remove ${lock}`
          : `wait for it to finish; if no perimeter is running, remove ${lock}`,
      );
    }
    case 'unusable':
      return ioError('lock', r.file, { code: r.code });
    case 'unsettled':
      return new SecretStoreError(
        'locked',
        `the secret store's lock ${lock} kept changing, so the store was not changed`,
        `run the command again; if no perimeter is running, remove ${lock}`,
      );
  }
}

function ioError(what: string, path: string, e: unknown): SecretStoreError {
  if (e instanceof SecretStoreError) return e;
  const err = e as NodeJS.ErrnoException;
  // Node's fs messages name the call and the path, never the data.
  return new SecretStoreError(
    'io',
    `could not ${what} ${path}: ${err.code ?? err.message}`,
    'nothing stored was changed; fix the cause and run the command again',
  );
}
