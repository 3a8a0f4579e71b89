// What a device enforces, as data: the organisation's published policies that apply to one
// subject (a user's set of groups), with the revision, issue time and expiry the signature covers.
// Pure: the published set and the subject in, the bundle payload out. Signing is bundles.ts's.
//
// Selection: guardrail, org and local policies apply to everyone; a group policy applies when one
// of its metadata.groups is one of the subject's group names (exact, case-sensitive: group names
// are what the IdP sends). The payload is signed as RFC 8785 canonical JSON.

import { createHash } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';
import type { Layer, PolicyDocument } from '@perimeter/policy';

/** The JWS `typ` of a bundle (RFC 8725 §3.11): a key's signature over a bundle is never read as anything else. */
export const BUNDLE_TYPE = 'perimeter-bundle+jws';
/** The payload's format; a device refuses formats it does not know. */
export const BUNDLE_FORMAT = 1;

export interface BundlePolicy {
  readonly id: string;
  readonly name: string;
  readonly layer: Layer;
  /** The policy's published revision. */
  readonly revision: number;
  /** SHA-256 (hex) of the revision's text as its author wrote it. */
  readonly sha256: string;
  /**
   * The document as the server validated it, with metadata.org set to the organisation's slug and
   * metadata.revision to the policy's revision, so every decision names both.
   */
  readonly document: PolicyDocument;
}

export interface BundlePayload {
  readonly format: typeof BUNDLE_FORMAT;
  readonly org: { readonly id: string; readonly slug: string };
  /** Whom it is for: a set of groups (every user with exactly these groups gets this bundle). */
  readonly subject: { readonly id: string; readonly groups: readonly string[] };
  /** The organisation's publication number: monotonic, so a device refuses a lower one. */
  readonly revision: number;
  readonly issuedAt: string;
  /** After this a device refuses the bundle; the server reissues well before. */
  readonly notAfter: string;
  /** Guardrails first, then org, group and local policies; by name within a layer. */
  readonly policies: readonly BundlePolicy[];
}

/** A published policy, validated, as the bundle builder takes it. */
export interface PublishedPolicy {
  readonly id: string;
  readonly name: string;
  readonly revision: number;
  readonly sha256: string;
  readonly document: PolicyDocument;
}

const LAYER_ORDER: Readonly<Record<Layer, number>> = { guardrail: 0, org: 1, group: 2, local: 3 };

/** The subject's groups in their one order: sorted, without repeats. */
function normaliseGroups(groups: readonly string[]): string[] {
  return [...new Set(groups)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Subject ids already computed, by the group list as given (every woken device asks for one). */
const subjectIds = new Map<string, string>();
/** How many are kept; past it the memo starts again (organisations have few distinct subjects). */
const MAX_SUBJECT_IDS = 10_000;

/** A subject's id: the SHA-256 of its canonical group list. */
export function subjectId(groups: readonly string[]): string {
  const key = JSON.stringify(groups);
  let id = subjectIds.get(key);
  if (id === undefined) {
    id = `sha256:${createHash('sha256')
      .update(canonicalJson(normaliseGroups(groups)))
      .digest('hex')}`;
    if (subjectIds.size >= MAX_SUBJECT_IDS) subjectIds.clear();
    subjectIds.set(key, id);
  }
  return id;
}

/** Does a policy apply to a subject with these groups? */
function appliesTo(document: PolicyDocument, groups: ReadonlySet<string>): boolean {
  const layer = document.metadata.layer;
  if (layer !== 'group') return true;
  return (document.metadata.groups ?? []).some((g) => groups.has(g));
}

export function effectiveBundle(input: {
  readonly org: { readonly id: string; readonly slug: string };
  readonly revision: number;
  readonly published: readonly PublishedPolicy[];
  readonly groups: readonly string[];
  readonly issuedAt: number;
  readonly notAfter: number;
}): BundlePayload {
  const groups = normaliseGroups(input.groups);
  const member = new Set(groups);
  const policies = input.published
    .filter((p) => appliesTo(p.document, member))
    .map((p): BundlePolicy => ({
      id: p.id,
      name: p.name,
      layer: p.document.metadata.layer,
      revision: p.revision,
      sha256: p.sha256,
      document: {
        ...p.document,
        metadata: { ...p.document.metadata, org: input.org.slug, revision: p.revision },
      },
    }))
    .sort((a, b) => LAYER_ORDER[a.layer] - LAYER_ORDER[b.layer] || (a.name < b.name ? -1 : 1));
  return {
    format: BUNDLE_FORMAT,
    org: { id: input.org.id, slug: input.org.slug },
    subject: { id: subjectId(groups), groups },
    revision: input.revision,
    issuedAt: new Date(input.issuedAt).toISOString(),
    notAfter: new Date(input.notAfter).toISOString(),
    policies,
  };
}
