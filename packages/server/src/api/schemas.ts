// The API's data shapes, as zod schemas: requests are validated with them, responses checked
// against them in tests, and the OpenAPI document's components are generated from them. Field
// names are camelCase; times are ISO 8601 strings in UTC; ids carry their kind (`pol_…`).

import { auditEventSchema } from '@perimeter/audit';
import { z } from 'zod';
import { ErrorBody } from '../http/api-error.js';
import { ROLES } from '../roles.js';
import type { Admin, ApiToken } from '../store/admins.js';
import type { Device, Invitation } from '../store/devices.js';
import type { Group, User } from '../store/directory.js';
import type { Org } from '../store/orgs.js';
import type { Policy, Publication, Revision } from '../store/policies.js';

export const Time = z.string().describe('ISO 8601 time, UTC.');
const iso = (ms: number): string => new Date(ms).toISOString();

const NoControl = /^\P{Cc}*$/u;
const text = (max: number, what: string) =>
  z
    .string()
    .max(max)
    .regex(NoControl, { message: `${what} has a control character` });
const Email = z
  .email({ message: 'not an email address' })
  .max(254)
  .describe('An email address (compared without case).');
const Name = text(200, 'a name').describe('A display name.');
export const RoleSchema = z.enum(ROLES).describe('owner, policy-admin, auditor or viewer.');

// ---------------------------------------------------------------------------------------------
// Organisations, admins, tokens

export const OrgView = z.strictObject({
  id: z.string(),
  slug: z.string().describe('What policy documents name in metadata.org.'),
  name: z.string(),
  publishSeq: z.number().int().describe('How many publications the organisation has had.'),
  createdAt: Time,
  updatedAt: Time,
});
export const orgView = (o: Org): z.infer<typeof OrgView> => ({
  id: o.id,
  slug: o.slug,
  name: o.name,
  publishSeq: o.publishSeq,
  createdAt: iso(o.createdAt),
  updatedAt: iso(o.updatedAt),
});

export const AdminView = z.strictObject({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: RoleSchema,
  createdAt: Time,
  updatedAt: Time,
});
export const adminView = (a: Admin): z.infer<typeof AdminView> => ({
  id: a.id,
  email: a.email,
  name: a.name,
  role: a.role,
  createdAt: iso(a.createdAt),
  updatedAt: iso(a.updatedAt),
});

export const TokenView = z.strictObject({
  id: z.string(),
  adminId: z.string(),
  name: z.string(),
  role: RoleSchema.describe("The token's scope: it may do what both this role and its admin's role allow."),
  status: z.enum(['active', 'revoked', 'expired']),
  createdAt: Time,
  expiresAt: Time,
  revokedAt: Time.nullable(),
  lastUsedAt: Time.nullable().describe('Updated at most once a minute.'),
});
export const tokenView = (t: ApiToken, now: number): z.infer<typeof TokenView> => ({
  id: t.id,
  adminId: t.adminId,
  name: t.name,
  role: t.role,
  status: t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : 'active',
  createdAt: iso(t.createdAt),
  expiresAt: iso(t.expiresAt),
  revokedAt: t.revokedAt === null ? null : iso(t.revokedAt),
  lastUsedAt: t.lastUsedAt === null ? null : iso(t.lastUsedAt),
});

export const NewToken = z.strictObject({
  token: TokenView,
  secret: z.string().describe('The bearer secret (pmt_…). Shown this once; the server keeps only its hash.'),
});

export const BootstrapRequest = z.strictObject({
  token: z.string().describe('The one-time bootstrap token (pmb_…) the server printed at its first start.'),
  email: Email,
  name: Name.optional(),
});
export const BootstrapResult = z.strictObject({ org: OrgView, admin: AdminView, token: NewToken });

export const OrgPatch = z.strictObject({ name: Name.min(1) });
export const AdminCreate = z.strictObject({ email: Email, name: Name.optional(), role: RoleSchema });
export const AdminPatch = z.strictObject({ name: Name.optional(), role: RoleSchema.optional() });
export const TokenCreate = z.strictObject({
  name: Name.min(1).describe('What the token is for (ci, laptop, …).'),
  role: RoleSchema.optional().describe("Defaults to the admin's own role; never more than it."),
  expiresInDays: z.number().int().min(1).max(365).optional().describe('Defaults to 90.'),
  adminId: z.string().optional().describe('Issue the token for another admin (owners only).'),
});

export const Me = z.strictObject({
  org: OrgView,
  admin: AdminView,
  token: TokenView,
  permissions: z.array(z.string()).describe('What this token may do.'),
});

// ---------------------------------------------------------------------------------------------
// Directory

export const UserView = z.strictObject({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  externalId: z.string().nullable().describe("The IdP's id for the user, when one provisions it."),
  active: z.boolean(),
  createdAt: Time,
  updatedAt: Time,
});
export const userView = (u: User): z.infer<typeof UserView> => ({
  id: u.id,
  email: u.email,
  name: u.name,
  externalId: u.externalId,
  active: u.active,
  createdAt: iso(u.createdAt),
  updatedAt: iso(u.updatedAt),
});
export const UserDetail = UserView.extend({
  groups: z.array(z.string()).describe('Names of the groups the user is in.'),
});

const ExternalId = text(200, 'an external id');
export const UserCreate = z.strictObject({
  email: Email,
  name: Name.optional(),
  externalId: ExternalId.nullable().optional(),
  active: z.boolean().optional(),
});
export const UserPatch = z.strictObject({
  email: Email.optional(),
  name: Name.optional(),
  externalId: ExternalId.nullable().optional(),
  active: z.boolean().optional(),
});

const GroupName = text(200, 'a group name')
  .min(1)
  .describe('The group name policies bind to (metadata.groups), as the IdP spells it.');
export const GroupView = z.strictObject({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  memberCount: z.number().int(),
  createdAt: Time,
  updatedAt: Time,
});
export const groupView = (g: Group): z.infer<typeof GroupView> => ({
  id: g.id,
  name: g.name,
  description: g.description,
  memberCount: g.memberCount,
  createdAt: iso(g.createdAt),
  updatedAt: iso(g.updatedAt),
});
export const GroupDetail = GroupView.extend({
  members: z.array(z.strictObject({ id: z.string(), email: z.string(), name: z.string() })),
});
export const GroupCreate = z.strictObject({
  name: GroupName,
  description: text(2000, 'a description').optional(),
});
export const GroupPatch = z.strictObject({
  name: GroupName.optional(),
  description: text(2000, 'a description').optional(),
});

// ---------------------------------------------------------------------------------------------
// Policies

export const PolicyName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
    message: 'a policy name is 1–64 lowercase letters, digits, ".", "_" or "-"',
  })
  .describe('The policy id written in metadata.name of every revision.');

/** A revision's content: YAML or JSON text, or a JSON document (stored as its JSON text). */
const RevisionContent = {
  text: z
    .string()
    .max(1024 * 1024)
    .optional()
    .describe(
      'The policy document as YAML or JSON text (at most 1 MiB); line numbers in findings refer to it.',
    ),
  document: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('The policy document as a JSON object, instead of text.'),
};

export const PolicyView = z.strictObject({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  latestRevision: z.number().int().describe('0 before the first revision.'),
  publishedRevision: z.number().int().nullable(),
  createdAt: Time,
  updatedAt: Time,
});
export const policyView = (p: Policy): z.infer<typeof PolicyView> => ({
  id: p.id,
  name: p.name,
  description: p.description,
  latestRevision: p.latestRevision,
  publishedRevision: p.publishedRevision,
  createdAt: iso(p.createdAt),
  updatedAt: iso(p.updatedAt),
});

export const RevisionView = z.strictObject({
  policyId: z.string(),
  number: z.number().int().describe('Counts up from 1 per policy; never reused.'),
  status: z
    .enum(['draft', 'published', 'retired'])
    .describe('published: in force now; retired: published once, since replaced; draft: never published.'),
  sha256: z.string().describe('Of the text, as stored.'),
  rolledBackFrom: z
    .number()
    .int()
    .nullable()
    .describe('For a revision a rollback made: the revision it copies.'),
  createdBy: z.string().describe('The admin id.'),
  createdAt: Time,
});
export const revisionView = (
  r: Revision,
  policy: Policy,
  everPublished: ReadonlySet<number>,
): z.infer<typeof RevisionView> => ({
  policyId: r.policyId,
  number: r.number,
  status:
    policy.publishedRevision === r.number ? 'published' : everPublished.has(r.number) ? 'retired' : 'draft',
  sha256: r.sha256,
  rolledBackFrom: r.rolledBackFrom,
  createdBy: r.createdBy,
  createdAt: iso(r.createdAt),
});
export const RevisionWithText = RevisionView.extend({ text: z.string() });

export const Finding = z.strictObject({
  severity: z.enum(['error', 'warning', 'info']),
  code: z.string().describe('Stable: unknown-key, bad-host-pattern, name-mismatch, …'),
  message: z.string(),
  hint: z.string().optional(),
  policy: z.string(),
  revision: z.number().int(),
  line: z.number().int().describe('1-based, in the revision text.'),
  col: z.number().int(),
  path: z.string().optional().describe('Where in the document: network.allow[0].hosts[1].'),
});
export const Validation = z.strictObject({ valid: z.boolean(), findings: z.array(Finding) });

export const PolicyCreate = z.strictObject({
  name: PolicyName,
  description: text(2000, 'a description').optional(),
  ...RevisionContent,
});
export const PolicyCreated = z.strictObject({
  policy: PolicyView,
  revision: RevisionView.nullable(),
  validation: Validation.nullable(),
});
export const RevisionCreate = z.strictObject(RevisionContent);
export const RevisionCreated = z.strictObject({ revision: RevisionView, validation: Validation });

export const LintReport = z.strictObject({
  errors: z.number().int(),
  warnings: z.number().int(),
  findings: z
    .array(Finding)
    .describe("Over the organisation's published set with this revision in its policy's place."),
});
export const TestReport = z.strictObject({
  passed: z.number().int(),
  failed: z.number().int(),
  results: z.array(
    z.strictObject({
      policy: z.string(),
      revision: z.number().int(),
      name: z.string(),
      passed: z.boolean(),
      expect: z.string(),
      decision: z.string().optional(),
      reason: z.string().optional(),
      failure: z.string(),
      line: z.number().int(),
      col: z.number().int(),
    }),
  ),
});

const FieldChange = z.strictObject({
  field: z.string(),
  added: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional(),
  before: z.string().optional(),
  after: z.string().optional(),
});
const PatternDelta = z.strictObject({ added: z.array(z.string()), removed: z.array(z.string()) });
export const DiffReport = z.strictObject({
  from: z.number().int().nullable().describe('The older revision (null: compared with nothing).'),
  to: z.number().int(),
  isEmpty: z.boolean(),
  changes: z.array(
    z.strictObject({
      kind: z.enum(['added', 'removed', 'changed']),
      what: z.enum(['rule', 'mcp-server', 'setting', 'test']),
      surface: z.string().optional(),
      effect: z.strictObject({ before: z.string().optional(), after: z.string().optional() }).optional(),
      id: z.string(),
      path: z.array(z.union([z.string(), z.number()])),
      fields: z.array(FieldChange),
      summary: z.string(),
    }),
  ),
  patterns: z
    .record(z.string(), z.record(z.string(), PatternDelta))
    .describe('Per surface and effect: the hosts, paths, tools, commands and secrets added and removed.'),
});

const Duration = z.string().regex(/^(\d{1,4}[mhd]|\d{4}-\d\d-\d\dT[0-9:.]+Z)$/, {
  message: 'a time is a duration back from now (30m, 24h, 7d) or an ISO 8601 UTC time',
});
export const SimulateRequest = z.strictObject({
  since: Duration.optional().describe(
    'Start of the window: 30m, 24h, 7d back from now, or an ISO time. Defaults to 7d.',
  ),
  until: Duration.optional().describe('End of the window (exclusive). Defaults to now.'),
  limit: z
    .number()
    .int()
    .min(0)
    .max(10_000)
    .optional()
    .describe('How many flips to list (default 100); counts are always complete.'),
  maxEvents: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .describe('Replay at most this many of the newest decisions in the window (default 100000).'),
});
export const SimulationReport = z.strictObject({
  window: z.strictObject({ since: Time, until: Time }),
  stored: z.number().int().describe('Recorded decisions in the window.'),
  replayed: z.number().int(),
  unchanged: z.number().int(),
  truncated: z.boolean().describe('True when the window held more than maxEvents decisions.'),
  unreadable: z.strictObject({
    count: z.number().int(),
    examples: z.array(z.strictObject({ id: z.string(), error: z.string() })),
  }),
  counts: z.record(z.string(), z.number().int()).describe('Flips by kind: {"allow→deny": 412}.'),
  flipCount: z.number().int(),
  flips: z.array(
    z.strictObject({
      eventId: z.string(),
      time: z.string(),
      user: z.string().nullable(),
      surface: z.string(),
      resource: z.string(),
      before: z.string(),
      after: z.string(),
      reason: z.string(),
      rules: z.array(z.string()),
    }),
  ),
  users: z
    .array(
      z.strictObject({
        user: z.string(),
        flips: z.number().int(),
        counts: z.record(z.string(), z.number().int()),
      }),
    )
    .describe('For whom: flips per user, most first.'),
});

export const PublicationView = z.strictObject({
  seq: z.number().int().describe("The organisation's publication number: monotonic, never reused."),
  policyId: z.string(),
  revision: z.number().int(),
  kind: z.enum(['publish', 'rollback']),
  publishedBy: z.string(),
  publishedAt: Time,
});
export const publicationView = (p: Publication): z.infer<typeof PublicationView> => ({
  seq: p.seq,
  policyId: p.policyId,
  revision: p.revision,
  kind: p.kind,
  publishedBy: p.publishedBy,
  publishedAt: iso(p.publishedAt),
});
export const PublishResult = z.strictObject({
  policy: PolicyView,
  revision: RevisionView,
  publication: PublicationView,
});
export const RollbackRequest = z.strictObject({
  to: z
    .number()
    .int()
    .min(1)
    .describe('An earlier published revision; its text becomes a new revision, published.'),
});

// ---------------------------------------------------------------------------------------------
// Events

export const EventPage = z.strictObject({
  events: z.array(auditEventSchema()),
  next: z.string().nullable().describe('Pass as `before` for the next (older) page; null at the end.'),
});

const ChainHead = z.strictObject({
  chain_id: z.string().describe('The chain as the device names it (its session id).'),
  next_seq: z.number().int().describe('The seq the server expects next in this chain.'),
});

export const IngestResult = z.strictObject({
  stored: z.number().int().describe('Events stored now.'),
  duplicates: z.number().int().describe('Events stored before (a resend), skipped.'),
  chains: z.array(ChainHead).describe("Each of the batch's chains, where it stands now."),
});

export const ChainGap = ErrorBody.extend({
  chains: z
    .array(ChainHead)
    .describe("The server's heads of the batch's chains: resend each from its next_seq."),
}).describe('A chain of the batch skips a seq (error code chain-gap); nothing of the batch was stored.');

export const ChainRefused = ErrorBody.extend({
  chain_id: z.string().describe('The refused chain, as the device names it: stop sending it, keep its file.'),
  seq: z.number().int().describe('Where it was refused.'),
}).describe(
  'A chain of the batch cannot be stored (code chain-refused): an event changed, relinked, rewritten or invalid. Nothing of the batch was stored.',
);

// ---------------------------------------------------------------------------------------------
// Devices, their login (RFC 8628) and their bundles

export const InvitationView = z.strictObject({
  id: z.string(),
  userId: z.string(),
  createdBy: z.string().describe('The admin id.'),
  createdAt: Time,
  expiresAt: Time,
  usedAt: Time.nullable().describe('When a device was enrolled with it (it works once).'),
  deviceId: z.string().nullable(),
});
export const invitationView = (i: Invitation): z.infer<typeof InvitationView> => ({
  id: i.id,
  userId: i.userId,
  createdBy: i.createdBy,
  createdAt: iso(i.createdAt),
  expiresAt: iso(i.expiresAt),
  usedAt: i.usedAt === null ? null : iso(i.usedAt),
  deviceId: i.deviceId,
});
export const InvitationCreate = z.strictObject({
  expiresInDays: z.number().int().min(1).max(30).optional().describe('Defaults to 7.'),
});
export const NewInvitation = z.strictObject({
  invitation: InvitationView,
  secret: z
    .string()
    .describe(
      'The invitation token (pmi_…) to give the user. Shown this once; the server keeps only its hash.',
    ),
  verificationUri: z.string().describe('Where the user approves their device login.'),
});

export const DeviceView = z.strictObject({
  id: z.string(),
  userId: z.string(),
  name: z.string().describe('What the device called itself (its host name) when it logged in.'),
  status: z
    .enum(['approved', 'active', 'revoked'])
    .describe('approved: not yet collected its credential; active: enrolled; revoked: refused from now on.'),
  createdAt: Time,
  lastSeenAt: Time.nullable(),
  revokedAt: Time.nullable(),
  revision: z.number().int().nullable().describe('The bundle revision it last reported active.'),
  bundleIssuedAt: Time.nullable(),
  activatedAt: Time.nullable(),
  error: z.string().nullable().describe('The error of its last report (a bundle it refused), if any.'),
  reportedAt: Time.nullable(),
});
export const deviceView = (d: Device): z.infer<typeof DeviceView> => ({
  id: d.id,
  userId: d.userId,
  name: d.name,
  status: d.revokedAt !== null ? 'revoked' : d.isEnrolled ? 'active' : 'approved',
  createdAt: iso(d.createdAt),
  lastSeenAt: d.lastSeenAt === null ? null : iso(d.lastSeenAt),
  revokedAt: d.revokedAt === null ? null : iso(d.revokedAt),
  revision: d.activeRevision,
  bundleIssuedAt: d.activeIssuedAt === null ? null : iso(d.activeIssuedAt),
  activatedAt: d.activatedAt === null ? null : iso(d.activatedAt),
  error: d.activationError,
  reportedAt: d.reportedAt === null ? null : iso(d.reportedAt),
});

export const PublishedKeyView = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().describe('The public key, base64url.'),
  kid: z.string().describe('The RFC 7638 thumbprint: what a bundle header names.'),
  alg: z.literal('EdDSA'),
  use: z.literal('sig'),
  status: z.enum(['active', 'retired']),
  createdAt: Time,
  retiredAt: Time.optional(),
  endorsement: z
    .string()
    .optional()
    .describe(
      'A JWS by the key this one replaced, over this key: how a device that pinned the old key trusts it.',
    ),
});
export const KeySetView = z
  .strictObject({ keys: z.array(PublishedKeyView) })
  .describe("A JWK set (RFC 7517) of the organisation's bundle signing keys.");

const BundlePolicyView = z.strictObject({
  id: z.string(),
  name: z.string(),
  layer: z.enum(['guardrail', 'org', 'group', 'local']),
  revision: z.number().int(),
  sha256: z.string(),
  document: z.record(z.string(), z.unknown()),
});
export const BundlePayloadView = z.strictObject({
  format: z.literal(1),
  org: z.strictObject({ id: z.string(), slug: z.string() }),
  subject: z.strictObject({ id: z.string(), groups: z.array(z.string()) }),
  revision: z.number().int().describe("The organisation's publication number."),
  issuedAt: Time,
  notAfter: Time,
  policies: z.array(BundlePolicyView),
});
export const BundleView = z.strictObject({
  jws: z.string().describe('The signed bundle (compact JWS) a device of this user gets.'),
  etag: z.string(),
  kid: z.string(),
  payload: BundlePayloadView,
});

/** The schemas the OpenAPI document lists by name, and refers to wherever they are used. */
export const NAMED_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  Org: OrgView,
  Admin: AdminView,
  Token: TokenView,
  NewToken,
  User: UserView,
  UserDetail,
  Group: GroupView,
  GroupDetail,
  Policy: PolicyView,
  Revision: RevisionView,
  RevisionWithText,
  Finding,
  Validation,
  Publication: PublicationView,
  AuditEvent: auditEventSchema(),
  IngestResult,
  ChainGap,
  ChainRefused,
  Invitation: InvitationView,
  Device: DeviceView,
  KeySet: KeySetView,
  BundlePayload: BundlePayloadView,
};
