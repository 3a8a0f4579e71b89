// Issuing signed bundles: the effective bundle of a subject (effective-bundle.ts), signed as a
// compact JWS by the organisation's active key, with an ETag over its exact bytes. At any time one
// subject has one bundle, and a device polling with its ETag hears "no change" until something
// changes.
//
// Issuance is deterministic, so replicas sharing one database issue the same bytes without telling
// each other: the payload is a function of the database and the issue time, the issue time is a
// function of the clock's issue window and the publication (below), and Ed25519 signatures are
// deterministic (RFC 8032). A device whose ETag came from one replica hears "no change" from
// another, and never meets the same revision issued earlier (which it would refuse as a replay).
// The alternative, storing issued bundles in the database, costs a write per subject per window
// and a read per poll for what a computation gives. Issued bundles are still kept per process, by
// (organisation, publication, key, subject, issue time), so a poll signs nothing.
//
// The published set is read consistently with the publication number it belongs to: the number
// is read before and after the set, and a publication in between means reading again (PostgreSQL
// at READ COMMITTED gives each statement its own snapshot).
//
// A publication wakes every device waiting on the organisation at once: thousands of requests
// that each need the same few facts (the active key, the publication number, the published set).
// Those reads are shared. The organisation's key and number are read by one query at a time; a
// request that arrives while one runs waits for the next, which starts after it arrived, so it
// still sees every change committed before it asked (sharing the running one could miss a
// publication that committed while it ran). A new publication's set is read and validated once,
// however many requests need it.

import { createHash, type KeyObject } from 'node:crypto';
import type { Database } from './db/database.js';
import {
  BUNDLE_TYPE,
  effectiveBundle,
  subjectId,
  type BundlePayload,
  type PublishedPolicy,
} from './effective-bundle.js';
import { b64url, signCompact } from './jws.js';
import { validateRevision } from './policy-checks.js';
import type { SigningKeys } from './signing-keys.js';
import { publishedSet } from './store/policies.js';
import { coalesced } from './batched.js';

export interface IssuedBundle {
  /** The compact JWS: what devices fetch and verify. */
  readonly jws: string;
  /**
   * The JWS as the bytes sent (ASCII), encoded once: answering a thousand devices from a string
   * would copy it into each answer (the benchmark's are 7 to 15 kB).
   */
  readonly bytes: Buffer;
  /** A strong ETag over the JWS bytes (quoted). */
  readonly etag: string;
  readonly kid: string;
  readonly issuedAt: number;
  readonly notAfter: number;
  readonly payload: BundlePayload;
}

export interface BundleTimes {
  /** How long a bundle is valid (its not-after minus its issue time). */
  readonly lifetimeMs: number;
  /** How old an issued bundle may get before the next request gets a fresh one. */
  readonly refreshMs: number;
}

interface PublishedSet {
  readonly seq: number;
  readonly publishedAt: number | null;
  readonly published: readonly PublishedPolicy[];
}

interface OrgState {
  readonly key: { readonly kid: string; readonly key: KeyObject };
  readonly seq: number;
  readonly publishedAt: number | null;
}

export const DEFAULT_BUNDLE_LIFETIME_MS = 7 * 24 * 3_600_000;

/** How many issued bundles are kept (subjects × organisations); the least recently used go first. */
const MAX_ISSUED = 10_000;

export class BundleIssuer {
  private readonly issued = new Map<string, IssuedBundle>();
  private readonly sets = new Map<string, PublishedSet>();
  /** Per organisation: its key and publication number, read by one query at a time. */
  private readonly orgReads = new Map<string, { now: number; read: () => Promise<OrgState> }>();
  /** Per organisation and publication: the one read and validation of its set under way. */
  private readonly setReads = new Map<string, Promise<PublishedSet>>();

  constructor(
    private readonly db: Database,
    private readonly keys: SigningKeys,
    readonly times: BundleTimes,
  ) {}

  /** The bundle of the subject with `groups` in `org`, as of now. */
  async bundleFor(
    org: { readonly id: string; readonly slug: string },
    groups: readonly string[],
    now: number,
  ): Promise<IssuedBundle> {
    const { key, seq: current } = await this.orgState(org.id, now);
    const { seq, publishedAt, published } = await this.publishedOf(org, current);
    const issuedAt = this.issueTime(now, publishedAt);
    const subject = subjectId(groups);
    const cacheKey = `${org.id}\0${seq}\0${key.kid}\0${subject}\0${issuedAt}`;
    const cached = this.issued.get(cacheKey);
    if (cached) {
      this.issued.delete(cacheKey);
      this.issued.set(cacheKey, cached);
      return cached;
    }
    const notAfter = issuedAt + this.times.lifetimeMs;
    const payload = effectiveBundle({ org, revision: seq, published, groups, issuedAt, notAfter });
    const jws = signCompact({ alg: 'EdDSA', kid: key.kid, typ: BUNDLE_TYPE }, payload, key.key);
    const digest = b64url(createHash('sha256').update(jws).digest()).slice(0, 22);
    const bundle: IssuedBundle = {
      jws,
      bytes: Buffer.from(jws, 'latin1'),
      etag: `"${seq}.${digest}"`,
      kid: key.kid,
      issuedAt,
      notAfter,
      payload,
    };
    this.issued.delete(cacheKey);
    this.issued.set(cacheKey, bundle);
    if (this.issued.size > MAX_ISSUED) {
      const oldest = this.issued.keys().next();
      if (!oldest.done) this.issued.delete(oldest.value);
    }
    return bundle;
  }

  /**
   * When a bundle issued `now` says it was issued: the start of the current issue window (windows
   * of the refresh age, counted from the epoch), or the publication if it came later in the window.
   * Every replica computes the same time for the same state (their clocks agree, by NTP), and a
   * bundle served is never older than the refresh age, so it has at least lifetime minus refresh
   * age (six of seven days) to run. The publication's own time makes a new revision's issuedAt
   * when it was published, which is what the activation lag is measured from.
   */
  private issueTime(now: number, publishedAt: number | null): number {
    const windowMs = Math.min(this.times.refreshMs, this.times.lifetimeMs);
    return Math.max(now - (now % windowMs), publishedAt ?? 0);
  }

  /** The organisation's active key and publication number, read once for all who ask together. */
  private orgState(orgId: string, now: number): Promise<OrgState> {
    let entry = this.orgReads.get(orgId);
    if (entry === undefined) {
      // `now` only matters to an organisation's first key, which keys.active() makes then.
      const made: { now: number; read: () => Promise<OrgState> } = {
        now,
        read: coalesced(async () => {
          const key = await this.keys.active(orgId, made.now);
          const { seq, publishedAt } = await this.seqOf(orgId);
          return { key, seq, publishedAt };
        }),
      };
      entry = made;
      this.orgReads.set(orgId, entry);
    }
    entry.now = now;
    return entry.read();
  }

  private async seqOf(orgId: string): Promise<{ seq: number; publishedAt: number | null }> {
    const row = await this.db.get<{ publish_seq: number; published_at: number | null }>(
      `SELECT o.publish_seq, p.published_at FROM orgs o
       LEFT JOIN publications p ON p.org_id = o.id AND p.seq = o.publish_seq WHERE o.id = ?`,
      [orgId],
    );
    if (!row) throw new Error(`organisation ${orgId} is gone`);
    return { seq: row.publish_seq, publishedAt: row.published_at };
  }

  /**
   * The organisation's published policies, validated, with the publication number they belong to
   * and when that publication happened (null before the first): the set of publication `seq` (or
   * a later one, when another publication lands while it is read).
   */
  private publishedOf(
    org: { readonly id: string; readonly slug: string },
    seq: number,
  ): Promise<PublishedSet> {
    const known = this.sets.get(org.id);
    if (known !== undefined && known.seq >= seq) return Promise.resolve(known);
    const readKey = `${org.id}\0${seq}`;
    let reading = this.setReads.get(readKey);
    if (reading === undefined) {
      reading = this.readPublished(org).finally(() => this.setReads.delete(readKey));
      this.setReads.set(readKey, reading);
    }
    return reading;
  }

  private async readPublished(org: { readonly id: string; readonly slug: string }): Promise<PublishedSet> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const { seq, publishedAt } = await this.seqOf(org.id);
      const known = this.sets.get(org.id);
      if (known !== undefined && known.seq >= seq) return known;
      const rows = await publishedSet(this.db, org.id);
      if ((await this.seqOf(org.id)).seq !== seq) continue; // a publication landed while reading: read again
      const published = rows.map(({ policy, revision }): PublishedPolicy => {
        const checked = validateRevision(
          { policy: policy.name, revision: revision.number, text: revision.text },
          org.slug,
        );
        if (!checked.document)
          throw new Error(
            `published revision ${revision.number} of ${policy.name} no longer validates (${checked.findings[0]?.message ?? 'no document'})`,
          );
        return {
          id: policy.id,
          name: policy.name,
          revision: revision.number,
          sha256: revision.sha256,
          document: checked.document,
        };
      });
      const entry = { seq, publishedAt, published };
      const latest = this.sets.get(org.id);
      if (latest === undefined || latest.seq < seq) this.sets.set(org.id, entry);
      return entry;
    }
    throw new Error(`organisation ${org.id} published too often to read its policy set`);
  }
}
