// The Ed25519 keys that sign each organisation's policy bundles: made on first use, rotated on
// request, published as a JWK set. Private keys are stored in the database sealed (AES-256-GCM)
// under a key-encryption key that lives only in the data directory (`signing-keys.kek`, 0600): a
// database dump or a replica's backup cannot sign a bundle, and the data directory alone holds no
// private key. Replicas sharing one PostgreSQL need the same file (docs/devices.md).
//
// A rotation makes a new key active at once and retires the old one; the old public key stays
// published until every bundle it signed has expired. The new key carries an endorsement, a JWS
// by the key it replaces over its public key, so a device that pinned the old key can trust the
// new one without trusting whoever serves the key set.

import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import type { Database, Queryable } from './db/database.js';
import { DIALECTS } from './db/dialect.js';
import { publicJwk, publicX, signCompact, thumbprint, type PublicJwk } from './jws.js';

/** The key-encryption key's file in the data directory. */
export const KEK_FILE = 'signing-keys.kek';

/** The JWS `typ` of an endorsement: one key vouching for its successor. */
export const ENDORSEMENT_TYPE = 'perimeter-key-endorsement+jws';

/** A key as the key set publishes it: the JWK, and where it stands. */
export interface PublishedKey extends PublicJwk {
  readonly status: 'active' | 'retired';
  readonly createdAt: string;
  readonly retiredAt?: string;
  /** Present on a key made by a rotation: a JWS (typ ENDORSEMENT_TYPE) by the key it replaced. */
  readonly endorsement?: string;
}

export interface KeySet {
  readonly keys: readonly PublishedKey[];
}

export interface EndorsementPayload {
  readonly org: string;
  readonly kid: string;
  readonly x: string;
  readonly endorsedAt: string;
}

/** Why the keys cannot be used; the server does not start. */
export class SigningKeyError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

interface KeyRow {
  org_id: string;
  kid: string;
  public_x: string;
  private_sealed: string;
  state: string;
  endorsement: string | null;
  created_at: number;
  retired_at: number | null;
}

const KEY_COLUMNS = 'org_id, kid, public_x, private_sealed, state, endorsement, created_at, retired_at';
const iso = (ms: number): string => new Date(ms).toISOString();

/** Reads the key-encryption key, or makes it when the database holds no key it could have sealed. */
function loadKek(dataDir: string, hasKeys: boolean): Buffer {
  const file = join(dataDir, KEK_FILE);
  if (!existsSync(file)) {
    if (hasKeys)
      throw new SigningKeyError(
        `the database holds bundle signing keys, but ${file} (the key that unseals them) is missing`,
        'copy signing-keys.kek from the data directory of the server that made them (every replica needs the same one)',
      );
    const kek = randomBytes(32);
    // O_EXCL: two servers starting on one empty data directory never overwrite each other's key.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${kek.toString('base64url')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return kek;
  }
  const kek = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (kek.length !== 32)
    throw new SigningKeyError(
      `${file} is not a key-encryption key (32 bytes, base64url)`,
      'restore it from a backup of the data directory',
    );
  return kek;
}

const aadOf = (orgId: string, kid: string): Buffer => Buffer.from(`perimeter-signing-key\0${orgId}\0${kid}`);

function seal(kek: Buffer, orgId: string, kid: string, key: KeyObject): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(aadOf(orgId, kid));
  const body = Buffer.concat([cipher.update(key.export({ format: 'der', type: 'pkcs8' })), cipher.final()]);
  return ['v1', iv, body, cipher.getAuthTag()]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

function unseal(kek: Buffer, row: KeyRow): KeyObject {
  const [version, iv, body, tag] = row.private_sealed.split('.');
  if (version !== 'v1' || iv === undefined || body === undefined || tag === undefined)
    throw new SigningKeyError(
      `the signing key ${row.kid} is stored in a form this server does not know`,
      'run the server version that stored it',
    );
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64url'));
    decipher.setAAD(aadOf(row.org_id, row.kid));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const der = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    if (publicX(key) !== row.public_x) throw new Error('the unsealed key is not the stored key');
    return key;
  } catch {
    throw new SigningKeyError(
      `the bundle signing key ${row.kid} cannot be unsealed with this data directory's ${KEK_FILE}`,
      'use the signing-keys.kek of the server that made the keys (every replica needs the same one)',
    );
  }
}

export class SigningKeys {
  /** Unsealed private keys by kid (they never change once made). */
  private readonly unsealed = new Map<string, KeyObject>();

  private constructor(
    private readonly db: Database,
    private readonly kek: Buffer,
    /** How long a bundle is valid: a retired key stays published this long after its retirement. */
    readonly bundleLifetimeMs: number,
  ) {}

  /**
   * Opens the keys of every organisation: reads (or, on a database without keys, makes) the
   * key-encryption key, and checks that it unseals every active key, so a wrong file stops the
   * server at start-up rather than at the first bundle.
   */
  static async open(db: Database, dataDir: string, bundleLifetimeMs: number): Promise<SigningKeys> {
    const active = await db.all<KeyRow>(`SELECT ${KEY_COLUMNS} FROM signing_keys WHERE state = 'active'`);
    const any = active.length > 0 || (await db.get('SELECT kid FROM signing_keys LIMIT 1')) !== undefined;
    const keys = new SigningKeys(db, loadKek(dataDir, any), bundleLifetimeMs);
    for (const row of active) keys.privateKey(row);
    return keys;
  }

  private privateKey(row: KeyRow): KeyObject {
    let key = this.unsealed.get(row.kid);
    if (!key) {
      key = unseal(this.kek, row);
      this.unsealed.set(row.kid, key);
    }
    return key;
  }

  private newKey(orgId: string): { kid: string; x: string; key: KeyObject; sealed: string } {
    const { privateKey } = generateKeyPairSync('ed25519');
    const x = publicX(privateKey);
    const kid = thumbprint(x);
    return { kid, x, key: privateKey, sealed: seal(this.kek, orgId, kid, privateKey) };
  }

  /** The organisation's active key; the first call for an organisation makes it. */
  async active(orgId: string, now: number): Promise<{ kid: string; key: KeyObject }> {
    const row = await this.db.get<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM signing_keys WHERE org_id = ? AND state = 'active'`,
      [orgId],
    );
    if (row) return { kid: row.kid, key: this.privateKey(row) };
    return this.db.transaction(async (tx) => {
      await lockOrg(tx, orgId);
      const again = await tx.get<KeyRow>(
        `SELECT ${KEY_COLUMNS} FROM signing_keys WHERE org_id = ? AND state = 'active'`,
        [orgId],
      );
      if (again) return { kid: again.kid, key: this.privateKey(again) };
      const made = this.newKey(orgId);
      await tx.run(`INSERT INTO signing_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, 'active', NULL, ?, NULL)`, [
        orgId,
        made.kid,
        made.x,
        made.sealed,
        now,
      ]);
      this.unsealed.set(made.kid, made.key);
      return { kid: made.kid, key: made.key };
    });
  }

  /**
   * Makes a new active key, endorsed by the one it replaces, which is retired. Runs in the
   * caller's transaction (with its audit event).
   */
  async rotate(tx: Queryable, orgId: string, now: number): Promise<{ kid: string; replaced?: string }> {
    await lockOrg(tx, orgId);
    const current = await tx.get<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM signing_keys WHERE org_id = ? AND state = 'active'`,
      [orgId],
    );
    const made = this.newKey(orgId);
    let endorsement: string | null = null;
    if (current) {
      const payload: EndorsementPayload = { org: orgId, kid: made.kid, x: made.x, endorsedAt: iso(now) };
      endorsement = signCompact(
        { alg: 'EdDSA', kid: current.kid, typ: ENDORSEMENT_TYPE },
        payload,
        this.privateKey(current),
      );
      await tx.run(`UPDATE signing_keys SET state = 'retired', retired_at = ? WHERE org_id = ? AND kid = ?`, [
        now,
        orgId,
        current.kid,
      ]);
    }
    await tx.run(`INSERT INTO signing_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, 'active', ?, ?, NULL)`, [
      orgId,
      made.kid,
      made.x,
      made.sealed,
      endorsement,
      now,
    ]);
    // Kept for signing only once the transaction commits: until then it is not the active key.
    this.unsealed.set(made.kid, made.key);
    return { kid: made.kid, ...(current ? { replaced: current.kid } : {}) };
  }

  /**
   * The organisation's published keys: the active one and every retired one a bundle that has
   * not expired yet may carry, oldest first (so endorsements read in order).
   */
  async keySet(orgId: string, now: number): Promise<KeySet> {
    await this.active(orgId, now);
    const rows = await this.db.all<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM signing_keys
       WHERE org_id = ? AND (state = 'active' OR retired_at > ?) ORDER BY created_at, kid`,
      [orgId, now - this.bundleLifetimeMs],
    );
    return {
      keys: rows.map((r) => ({
        ...publicJwk(r.public_x),
        status: r.state === 'active' ? 'active' : 'retired',
        createdAt: iso(r.created_at),
        ...(r.retired_at !== null ? { retiredAt: iso(r.retired_at) } : {}),
        ...(r.endorsement !== null ? { endorsement: r.endorsement } : {}),
      })),
    };
  }
}

/** Serialises key changes of one organisation (SQLite's write lock already does). */
async function lockOrg(tx: Queryable, orgId: string): Promise<void> {
  const forUpdate = DIALECTS[tx.dialect].forUpdate;
  if (forUpdate !== '') await tx.get(`SELECT id FROM orgs WHERE id = ?${forUpdate}`, [orgId]);
}
