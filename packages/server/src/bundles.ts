// Issuing signed bundles: the effective bundle of a subject (effective-bundle.ts), signed as a
// compact JWS by the organisation's active key, with an ETag over its exact bytes. Issued bundles
// are kept by (organisation, publication, key, subject) and reissued when they pass the refresh
// age, so at any time one subject has one bundle and a device polling with its ETag hears "no
// change" until something changes.
//
// The published set is read consistently with the publication number it belongs to: the number
// is read before and after the set, and a publication in between means reading again (PostgreSQL
// at READ COMMITTED gives each statement its own snapshot).

import { createHash } from 'node:crypto';
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

export interface IssuedBundle {
  /** The compact JWS: what devices fetch and verify. */
  readonly jws: string;
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

export const DEFAULT_BUNDLE_LIFETIME_MS = 7 * 24 * 3_600_000;

/** How many issued bundles are kept (subjects × organisations); the least recently used go first. */
const MAX_ISSUED = 10_000;

export class BundleIssuer {
  private readonly issued = new Map<string, IssuedBundle>();
  private readonly sets = new Map<string, { seq: number; published: readonly PublishedPolicy[] }>();

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
    const key = await this.keys.active(org.id, now);
    const { seq, published } = await this.publishedOf(org);
    const subject = subjectId(groups);
    const cacheKey = `${org.id}\0${seq}\0${key.kid}\0${subject}`;
    const cached = this.issued.get(cacheKey);
    if (cached && now - cached.issuedAt < this.times.refreshMs && cached.notAfter > now) {
      this.issued.delete(cacheKey);
      this.issued.set(cacheKey, cached);
      return cached;
    }
    const payload = effectiveBundle({
      org,
      revision: seq,
      published,
      groups,
      issuedAt: now,
      notAfter: now + this.times.lifetimeMs,
    });
    const jws = signCompact({ alg: 'EdDSA', kid: key.kid, typ: BUNDLE_TYPE }, payload, key.key);
    const digest = b64url(createHash('sha256').update(jws).digest()).slice(0, 22);
    const bundle: IssuedBundle = {
      jws,
      etag: `"${seq}.${digest}"`,
      kid: key.kid,
      issuedAt: now,
      notAfter: now + this.times.lifetimeMs,
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

  /** The organisation's published policies, validated, with the publication number they belong to. */
  private async publishedOf(org: {
    readonly id: string;
    readonly slug: string;
  }): Promise<{ seq: number; published: readonly PublishedPolicy[] }> {
    const seqOf = async (): Promise<number> => {
      const row = await this.db.get<{ publish_seq: number }>('SELECT publish_seq FROM orgs WHERE id = ?', [
        org.id,
      ]);
      if (!row) throw new Error(`organisation ${org.id} is gone`);
      return row.publish_seq;
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const seq = await seqOf();
      const known = this.sets.get(org.id);
      if (known?.seq === seq) return known;
      const rows = await publishedSet(this.db, org.id);
      if ((await seqOf()) !== seq) continue; // a publication landed while reading: read again
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
      const entry = { seq, published };
      this.sets.set(org.id, entry);
      return entry;
    }
    throw new Error(`organisation ${org.id} published too often to read its policy set`);
  }
}
