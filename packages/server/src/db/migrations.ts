// Versioned, forward-only schema migrations. Each has a number and a name; the table
// schema_migrations records which have run. All pending migrations run in one transaction, under
// an advisory lock on PostgreSQL, so replicas starting together migrate once and a failed
// migration leaves the schema as it was. A database migrated by a newer server is refused, never
// written to. To change the schema, append a migration; never edit one that has shipped.

import type { Database } from './database.js';
import { DIALECTS, LOCKS, type Dialect } from './dialect.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements both dialects accept, or each dialect's own where they differ. */
  readonly statements: readonly string[] | Readonly<Record<Dialect, readonly string[]>>;
}

/**
 * Revisions and stored events are append-only: the database itself refuses an UPDATE, so no code
 * path (or hand-written SQL) can edit a revision that was published or an event that was audited.
 */
const APPEND_ONLY: Readonly<Record<Dialect, readonly string[]>> = {
  sqlite: ['policy_revisions', 'events'].map(
    (table) =>
      `CREATE TRIGGER ${table}_append_only BEFORE UPDATE ON ${table}
       BEGIN SELECT RAISE(ABORT, '${table} rows are immutable'); END`,
  ),
  postgres: [
    `CREATE FUNCTION perimeter_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME; END $$`,
    ...['policy_revisions', 'events'].map(
      (table) =>
        `CREATE TRIGGER ${table}_append_only BEFORE UPDATE ON ${table}
         FOR EACH ROW EXECUTE FUNCTION perimeter_append_only()`,
    ),
  ],
};

const INITIAL = [
  // An organisation. `slug` is what policy documents name in metadata.org; `publish_seq` counts
  // its publications (monotonic; signed bundles carry it as their revision).
  `CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    publish_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  `CREATE TABLE admins (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, email)
  )`,
  // API tokens: only a SHA-256 of the secret is kept. `role` is the token's scope; what it may do
  // is what both its role and its admin's current role allow.
  `CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    admin_id TEXT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
  )`,
  `CREATE INDEX api_tokens_admin ON api_tokens (org_id, admin_id)`,
  // One bootstrap token per organisation until its first owner claims it.
  `CREATE TABLE bootstrap_tokens (
    org_id TEXT PRIMARY KEY REFERENCES orgs(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
  )`,
  `CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    external_id TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, email)
  )`,
  // Groups carry the IdP group names that policies bind to (metadata.groups).
  `CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
  )`,
  `CREATE TABLE group_members (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    group_id TEXT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
  )`,
  `CREATE INDEX group_members_user ON group_members (user_id)`,
  // A policy and its revisions. Revision numbers count up per policy from 1 and are never
  // reused; `published_revision` only ever grows (a rollback publishes a new revision).
  `CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    latest_revision BIGINT NOT NULL DEFAULT 0,
    published_revision BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
  )`,
  `CREATE TABLE policy_revisions (
    policy_id TEXT NOT NULL REFERENCES policies(id),
    number BIGINT NOT NULL,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rolled_back_from BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, number)
  )`,
  // Every publish and rollback, numbered per organisation (orgs.publish_seq).
  `CREATE TABLE publications (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    seq BIGINT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    revision BIGINT NOT NULL,
    kind TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, seq)
  )`,
  `CREATE INDEX publications_policy ON publications (policy_id, revision)`,
  // Where each hash chain the server keeps or checks stands: the server's own chain of admin
  // events per organisation now; devices' session chains when audit ingest comes.
  `CREATE TABLE audit_chains (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    chain_id TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    PRIMARY KEY (org_id, chain_id)
  )`,
  // Stored audit events: admin actions now, devices' events when ingest comes. The id is the
  // event's UUIDv7, so a batch sent twice is stored once (INSERT … ON CONFLICT (id) DO NOTHING).
  // The columns are what queries filter on; `body` is the whole event as JSON.
  `CREATE TABLE events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    time_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id TEXT,
    device_id TEXT,
    session_id TEXT,
    surface TEXT,
    decision TEXT,
    chain_id TEXT,
    seq BIGINT,
    body TEXT NOT NULL
  )`,
  `CREATE INDEX events_org_time ON events (org_id, time_ms)`,
  `CREATE INDEX events_org_user_time ON events (org_id, user_id, time_ms)`,
];

// Signed bundles and devices (docs/devices.md).
const DEVICES = [
  // Each organisation's Ed25519 keys that sign its policy bundles. `kid` is the RFC 7638 JWK
  // thumbprint. The private key is sealed with AES-256-GCM under the key-encryption key kept in the
  // data directory (signing-keys.ts), so a copy of the database alone cannot sign a bundle. One
  // key is active; retired keys stay published until every bundle they signed has expired. A key
  // made by a rotation carries an endorsement: a JWS by the key it replaced, over its public key.
  `CREATE TABLE signing_keys (
    org_id TEXT NOT NULL REFERENCES orgs(id),
    kid TEXT NOT NULL,
    public_x TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    state TEXT NOT NULL,
    endorsement TEXT,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (org_id, kid)
  )`,
  `CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (org_id) WHERE state = 'active'`,
  // One-time invitations an admin gives a user, to enrol one device (as SHA-256, like API tokens).
  // A few wrong user codes in a row burn it (RFC 8628 §5.1: user codes are short).
  `CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    device_id TEXT,
    failed_attempts BIGINT NOT NULL DEFAULT 0
  )`,
  `CREATE INDEX invitations_user ON invitations (org_id, user_id)`,
  // Enrolled devices: the credential (pmd_…) as SHA-256, set when the device collects it from the
  // token endpoint; the bundle revision it last reported active, and its last error.
  `CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id),
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT,
    active_revision BIGINT,
    active_issued_at BIGINT,
    activated_at BIGINT,
    activation_error TEXT,
    reported_at BIGINT
  )`,
  `CREATE INDEX devices_org_user ON devices (org_id, user_id)`,
  // RFC 8628 device authorizations, from the device's request to the credential it collects.
  // The device code is kept as SHA-256; the user code (8 letters of base 20) in the clear, unique.
  `CREATE TABLE device_authorizations (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    device_name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_s BIGINT NOT NULL,
    last_polled_at BIGINT,
    org_id TEXT REFERENCES orgs(id),
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    device_id TEXT REFERENCES devices(id) ON DELETE CASCADE,
    decided_at BIGINT
  )`,
];

/**
 * Devices' events (docs/server.md "Audit from devices"). Every query of events names the
 * organisation, then one of the things the three questions ask by (a user, a surface, a device, a
 * session) or none, then a time range, newest or oldest first: an index for each, ending in
 * (time_ms, id) so a page is read in index order and stops at its limit, never sorted whole. The
 * few events that are not policy decisions (admin actions, sessions starting and ending, refused
 * chains) are rare among millions of decisions, so a category filter has its own index, kept only
 * for them: decisions, the bulk of the inserts, do not pay for it (store/events.ts names its
 * condition in the query, which is how both databases know they may use it).
 */
const EVENT_INDEXES = [
  `CREATE INDEX events_org_time ON events (org_id, time_ms, id)`,
  `CREATE INDEX events_org_user_time ON events (org_id, user_id, time_ms, id)`,
  `CREATE INDEX events_org_surface_time ON events (org_id, surface, time_ms, id)`,
  `CREATE INDEX events_org_device_time ON events (org_id, device_id, time_ms, id)`,
  `CREATE INDEX events_org_session_time ON events (org_id, session_id, time_ms, id)`,
  `CREATE INDEX events_org_category_time ON events (org_id, category, time_ms, id)
   WHERE category <> 'evaluation'`,
];

const EVENT_COLUMNS = `id, org_id, time_ms, received_ms, category, type, user_id, device_id, session_id,
  surface, decision, chain_id, seq, body`;

/**
 * On PostgreSQL, events live in one partition per calendar month (UTC) of their time, so a query
 * over a time range reads only its months and old months can be detached whole. A partitioned
 * table's primary key must hold its partition key: (id, time_ms), which keeps a resent event a
 * conflict (the same event always has the same time). A month's partition is made on demand by
 * perimeter_event_partition, before the first insert that needs it, made apart then attached
 * (CREATE … PARTITION OF would lock every reader and writer of events out until the transaction
 * ends; ATTACH's SHARE UPDATE EXCLUSIVE lets inserts and reads go on). Two replicas needing the
 * same month make it once: the function takes that lock on events itself before it looks again,
 * and taking a table lock is what makes PostgreSQL read the catalog afresh (after an advisory lock
 * it would still see its own earlier "no such table", and both would create it). No foreign key
 * to orgs: attaching a partition would clone it, and adding a foreign key locks the table it points
 * at against every write, so a publication (which writes its organisation's row) and a new month
 * could deadlock. Organisations are never deleted; every insert names the caller's own.
 */
const PARTITIONED_EVENTS = [
  `ALTER TABLE events RENAME TO events_unpartitioned`,
  `ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_unpartitioned_pkey`,
  `CREATE TABLE events (
    id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id TEXT,
    device_id TEXT,
    session_id TEXT,
    surface TEXT,
    decision TEXT,
    chain_id TEXT,
    seq BIGINT,
    body TEXT NOT NULL,
    PRIMARY KEY (id, time_ms)
  ) PARTITION BY RANGE (time_ms)`,
  `CREATE FUNCTION perimeter_event_partition(t BIGINT) RETURNS void LANGUAGE plpgsql AS $$
   DECLARE
     first_day timestamp := date_trunc('month', to_timestamp(t / 1000.0) AT TIME ZONE 'UTC');
     part text := 'events_' || to_char(first_day, 'YYYY_MM');
   BEGIN
     IF to_regclass(part) IS NOT NULL THEN RETURN; END IF;
     LOCK TABLE events IN SHARE UPDATE EXCLUSIVE MODE;
     IF to_regclass(part) IS NOT NULL THEN RETURN; END IF;
     EXECUTE format('CREATE TABLE %I (LIKE events)', part);
     EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', part,
       (extract(epoch FROM first_day) * 1000)::bigint,
       (extract(epoch FROM first_day + interval '1 month') * 1000)::bigint);
   END $$`,
  `SELECT perimeter_event_partition(min(time_ms)) FROM events_unpartitioned
   GROUP BY date_trunc('month', to_timestamp(time_ms / 1000.0) AT TIME ZONE 'UTC')`,
  `INSERT INTO events (${EVENT_COLUMNS}) SELECT ${EVENT_COLUMNS} FROM events_unpartitioned`,
  `DROP TABLE events_unpartitioned`,
  ...EVENT_INDEXES,
  `CREATE TRIGGER events_append_only BEFORE UPDATE ON events
   FOR EACH ROW EXECUTE FUNCTION perimeter_append_only()`,
];

/**
 * SQLite, for ingest (issue 6): one index fewer to write per event. An upload's sessions land all
 * over the organisation's time line, so each index ordered by time changes pages of its own for
 * each of them (written to the WAL at commit, then again at the checkpoint), and each is a b-tree
 * insert per event: events_org_time and events_org_surface_time were two of them. The
 * organisation's time index now carries each event's surface and decision, so a filter on them is
 * answered from the index, reading only the rows it returns, and the surface's own index goes.
 * (And a query by user and surface no longer picks the surface's index over the user's:
 * bench:server's "a user's network events in the last 24 h" read every network event of the day,
 * 59 ms at a million events; 2 ms now.) PostgreSQL keeps its per-month indexes: each partition's
 * are small, and its ingest was not bound by them.
 */
const EVENT_INDEX_WITH_FILTERS = [
  `DROP INDEX events_org_surface_time`,
  `DROP INDEX events_org_time`,
  `CREATE INDEX events_org_time ON events (org_id, time_ms, id, surface, decision)`,
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    statements: {
      sqlite: [...INITIAL, ...APPEND_ONLY.sqlite],
      postgres: [...INITIAL, ...APPEND_ONLY.postgres],
    },
  },
  { version: 2, name: 'bundles-and-devices', statements: DEVICES },
  {
    version: 3,
    name: 'device-events',
    statements: {
      sqlite: [`DROP INDEX events_org_time`, `DROP INDEX events_org_user_time`, ...EVENT_INDEXES],
      postgres: PARTITIONED_EVENTS,
    },
  },
  {
    version: 4,
    name: 'event-time-index-with-filters',
    statements: { sqlite: EVENT_INDEX_WITH_FILTERS, postgres: [] },
  },
  {
    // Every device login start counts the logins still waiting (DeviceSettings.maxWaitingLogins):
    // read from this index, never by scanning the day of expired ones kept beside them.
    version: 5,
    name: 'waiting-device-logins',
    statements: [`CREATE INDEX device_authorizations_waiting ON device_authorizations (status, expires_at)`],
  },
];

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

function statementsFor(m: Migration, dialect: Dialect): readonly string[] {
  const s = m.statements;
  return Array.isArray(s) ? s : (s as Readonly<Record<Dialect, readonly string[]>>)[dialect];
}

/** Brings the schema up to date; returns the versions it applied (none when it was current). */
export async function migrate(
  db: Database,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): Promise<number[]> {
  return db.transaction(async (tx) => {
    const lock = DIALECTS[tx.dialect].lock(LOCKS.migrations);
    if (lock) await tx.all(lock);
    await tx.run(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`,
    );
    const applied = await tx.all<{ version: number; name: string }>(
      'SELECT version, name FROM schema_migrations ORDER BY version',
    );
    const known = new Map(migrations.map((m) => [m.version, m]));
    const newest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
    for (const row of applied) {
      const m = known.get(row.version);
      if (!m)
        throw new MigrationError(
          `the database's schema is at version ${row.version}, newer than this server knows (${newest})`,
          'run the newer Perimeter server that migrated it, or point --database at another database',
        );
      if (m.name !== row.name)
        throw new MigrationError(
          `the database's migration ${row.version} is "${row.name}", but this server's is "${m.name}"`,
          'this database was migrated by a different build of Perimeter; use that build or a fresh database',
        );
    }
    const done = new Set(applied.map((r) => r.version));
    const pending = migrations.filter((m) => !done.has(m.version)).sort((a, b) => a.version - b.version);
    for (const m of pending) {
      for (const statement of statementsFor(m, tx.dialect)) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        now(),
      ]);
    }
    return pending.map((m) => m.version);
  });
}
