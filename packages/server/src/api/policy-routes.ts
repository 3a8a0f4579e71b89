// Routes for policies and their revisions: draft → validate, lint, test → diff → simulate →
// publish → roll back. A revision's text never changes; publishing is gated on the revision being
// valid and on every test of the organisation's resulting policy set passing; a rollback copies an
// earlier published revision into a new revision and publishes that, so published numbers only grow.

import { z } from 'zod';
import type { Queryable } from '../db/database.js';
import { ApiError, conflict } from '../http/api-error.js';
import { route, type App, type Auth } from '../http/route.js';
import {
  diffRevisions,
  InvalidRevisionError,
  PolicySet,
  validateRevision,
  type Finding,
  type RevisionText,
} from '../policy-checks.js';
import { membershipIndex } from '../store/directory.js';
import { decisionsToReplay, recordAdminAction } from '../store/events.js';
import { nextPublishSeq } from '../store/orgs.js';
import {
  addRevision,
  createPolicy,
  getPolicy,
  getRevision,
  listPolicies,
  listPublications,
  listRevisions,
  publishedNumbers,
  publishedSet,
  recordPublication,
  type Policy,
  type PublicationKind,
  type RevisionWithText,
} from '../store/policies.js';
import {
  DiffReport,
  LintReport,
  PolicyCreate,
  PolicyCreated,
  PolicyView,
  policyView,
  PublicationView,
  publicationView,
  PublishResult,
  RevisionCreate,
  RevisionCreated,
  RevisionView,
  revisionView,
  RevisionWithText as RevisionWithTextSchema,
  RollbackRequest,
  SimulateRequest,
  SimulationReport,
  TestReport,
  Validation,
} from './schemas.js';
import { announcing, audited, found, idParam, numberParam, unlessTaken } from './support.js';

const POLICY = '/api/v1/orgs/{org}/policies/{policy}';
const REVISION = `${POLICY}/revisions/{revision}`;

/** The text a revision stores for a request that gave text or a JSON document (exactly one). */
function contentOf(body: { text?: string; document?: Record<string, unknown> }): string | undefined {
  if (body.text !== undefined && body.document !== undefined)
    throw new ApiError(
      400,
      'invalid-body',
      'give the revision as text or as document, not both',
      'drop one of them',
    );
  if (body.document !== undefined) return `${JSON.stringify(body.document, null, 2)}\n`;
  return body.text;
}

function requireContent(text: string | undefined): string {
  if (text === undefined)
    throw new ApiError(
      400,
      'invalid-body',
      'a revision needs text or document',
      'send {"text": "apiVersion: perimeter/v1 …"}',
    );
  if (text.trim() === '')
    throw new ApiError(400, 'invalid-body', 'the revision text is empty', 'send a policy document');
  return text;
}

/** A revision's validation as the API reports it (without the checked document). */
function validationOf(r: RevisionText, orgSlug: string): { valid: boolean; findings: readonly Finding[] } {
  const { valid, findings } = validateRevision(r, orgSlug);
  return { valid, findings };
}

const textOf = (policy: Policy, r: RevisionWithText): RevisionText => ({
  policy: policy.name,
  revision: r.number,
  text: r.text,
});

async function policyParam(q: Queryable, auth: Auth, text: string, lock = false): Promise<Policy> {
  return found(await getPolicy(q, auth.org.id, idParam('policy', text, 'the policy'), lock), 'the policy');
}

async function revisionParam(
  q: Queryable,
  auth: Auth,
  policy: Policy,
  text: string,
): Promise<RevisionWithText> {
  return found(
    await getRevision(q, auth.org.id, policy.id, numberParam(text, 'the revision')),
    `revision ${text} of policy ${policy.name}`,
  );
}

/** The organisation's policy set with `draft` in place; an invalid member is a 422 naming it. */
async function policySet(q: Queryable, auth: Auth, draft: RevisionText): Promise<PolicySet> {
  const published = (await publishedSet(q, auth.org.id)).map((p) => textOf(p.policy, p.revision));
  try {
    return new PolicySet(published, draft, auth.org.slug);
  } catch (e) {
    if (e instanceof InvalidRevisionError) throw invalidRevision(e);
    throw e;
  }
}

function invalidRevision(e: InvalidRevisionError): ApiError {
  const first = e.findings.find((f) => f.severity === 'error');
  return new ApiError(
    422,
    'invalid-revision',
    `revision ${e.revision.revision} of ${e.revision.policy} is not a valid policy${first ? `: line ${first.line}: ${first.message}` : ''}`,
    'fix the findings (GET …/validation lists them all) in a new revision',
    { findings: e.findings },
  );
}

/** A window bound: a duration back from now (`7d`) or an ISO time. */
function timeOf(text: string | undefined, fallback: number, now: number): number {
  if (text === undefined) return fallback;
  const m = /^(\d+)([mhd])$/.exec(text);
  if (m) return now - Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  if (!Number.isFinite(t))
    throw new ApiError(400, 'invalid-body', `"${text}" is not a time`, 'write 7d, 24h, 30m or an ISO time');
  return t;
}

/**
 * Publishes `number` (or, for a rollback, a new revision copying `number`): the organisation's
 * publications are serialised on its row, the gate runs on the set as it will be, and the
 * publication and its audit event commit together or not at all.
 */
async function publish(
  app: App,
  auth: Auth,
  policyIdText: string,
  number: number,
  kind: PublicationKind,
): Promise<z.infer<typeof PublishResult>> {
  return app.db.transaction(async (tx) => {
    const now = app.now();
    const seq = await nextPublishSeq(tx, auth.org.id);
    const policy = await policyParam(tx, auth, policyIdText, true);
    const current = policy.publishedRevision;
    let revision: RevisionWithText;
    if (kind === 'rollback') {
      if (current === null)
        throw conflict(
          `policy ${policy.name} has never been published, so it cannot be rolled back`,
          'publish a revision first',
        );
      if (number >= current)
        throw conflict(
          `revision ${number} is not earlier than the published revision ${current}`,
          number === current
            ? 'it is already in force'
            : 'publish it instead (POST …/revisions/{revision}/publish)',
        );
      const ever = await publishedNumbers(tx, auth.org.id, policy.id);
      const source = found(
        await getRevision(tx, auth.org.id, policy.id, number),
        `revision ${number} of policy ${policy.name}`,
      );
      if (!ever.has(number))
        throw conflict(
          `revision ${number} of ${policy.name} was never published, so there is nothing to roll back to`,
          'to publish its text, create a new revision with it and publish that',
        );
      revision = found(
        await addRevision(
          tx,
          auth.org.id,
          policy.id,
          { text: source.text, createdBy: auth.admin.id, rolledBackFrom: number },
          now,
        ),
        'the policy',
      );
    } else {
      revision = found(
        await getRevision(tx, auth.org.id, policy.id, number),
        `revision ${number} of policy ${policy.name}`,
      );
      if (current !== null && number <= current)
        throw conflict(
          number === current
            ? `revision ${number} of ${policy.name} is already published`
            : `revision ${number} is older than the published revision ${current}`,
          number === current ? 'nothing to do' : 'to bring it back, roll back to it (POST …/rollback)',
        );
    }
    const draft = textOf(policy, revision);
    const set = await policySet(tx, auth, draft);
    const lint = set.lint().filter((f) => f.severity === 'error');
    const failures = set.tests().filter((t) => !t.passed);
    if (lint.length > 0 || failures.length > 0) {
      const first = failures[0];
      throw new ApiError(
        422,
        'publish-blocked',
        failures.length > 0
          ? `${failures.length} polic${failures.length === 1 ? 'y test fails' : 'y tests fail'} with revision ${revision.number} of ${policy.name} in force (first: "${first?.name}" in ${first?.policy}, line ${first?.line}: ${first?.failure})`
          : `lint found ${lint.length} error${lint.length === 1 ? '' : 's'} with revision ${revision.number} of ${policy.name} in force`,
        'fix them in a new revision; GET …/tests and …/lint show them all',
        { tests: failures, lint },
      );
    }
    const publication = await recordPublication(
      tx,
      auth.org.id,
      { policyId: policy.id, revision: revision.number, kind, by: auth.admin.id },
      seq,
      now,
    );
    await recordAdminAction(
      tx,
      auth.org.id,
      auth.actor,
      kind === 'publish'
        ? {
            type: 'admin.policy.publish',
            reason: `published ${policy.name} revision ${revision.number} (publication ${seq})`,
            outcome: { policy: policy.id, name: policy.name, revision: revision.number, publication: seq },
          }
        : {
            type: 'admin.policy.rollback',
            reason: `rolled ${policy.name} back to the text of revision ${number} as revision ${revision.number} (publication ${seq})`,
            outcome: {
              policy: policy.id,
              name: policy.name,
              revision: revision.number,
              from: number,
              replaced: current ?? 0,
              publication: seq,
            },
          },
      now,
    );
    const after: Policy = {
      ...policy,
      publishedRevision: revision.number,
      latestRevision: Math.max(policy.latestRevision, revision.number),
      updatedAt: now,
    };
    return {
      policy: policyView(after),
      // Published now, which is all its status needs: no read of the numbers published before.
      revision: revisionView(revision, after, new Set([revision.number])),
      publication: publicationView(publication),
    };
  });
}

export const policyRoutes = [
  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/policies',
    operationId: 'listPolicies',
    tag: 'policies',
    summary: 'The policies of the organisation, with their latest and published revisions',
    access: 'policies.read',
    response: z.strictObject({ policies: z.array(PolicyView) }),
    handle: async ({ auth, app }) => ({
      policies: (await listPolicies(app.db, auth.org.id)).map(policyView),
    }),
  }),

  route({
    method: 'POST',
    path: '/api/v1/orgs/{org}/policies',
    operationId: 'createPolicy',
    tag: 'policies',
    summary: 'Create a policy, optionally with its first draft revision',
    access: 'policies.write',
    body: PolicyCreate,
    response: PolicyCreated,
    status: 201,
    errors: [409],
    handle: ({ auth, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const text = contentOf(body);
        const created = await unlessTaken(
          createPolicy(
            tx,
            auth.org.id,
            { name: body.name, ...(body.description !== undefined ? { description: body.description } : {}) },
            now,
          ),
          `a policy named ${body.name} already exists`,
          'add a revision to it instead (POST …/policies/{policy}/revisions)',
        );
        const revision =
          text === undefined
            ? undefined
            : await addRevision(
                tx,
                auth.org.id,
                created.id,
                { text: requireContent(text), createdBy: auth.admin.id },
                now,
              );
        const policy: Policy = revision ? { ...created, latestRevision: revision.number } : created;
        return {
          result: {
            policy: policyView(policy),
            revision: revision ? revisionView(revision, policy, new Set()) : null,
            validation: revision ? validationOf(textOf(policy, revision), auth.org.slug) : null,
          },
          action: {
            type: 'admin.policy.create',
            reason: `created policy ${policy.name}${revision ? ' with draft revision 1' : ''}`,
            outcome: {
              policy: policy.id,
              name: policy.name,
              ...(revision ? { revision: revision.number } : {}),
            },
          },
        };
      }),
  }),

  route({
    method: 'GET',
    path: POLICY,
    operationId: 'getPolicy',
    tag: 'policies',
    summary: 'A policy',
    access: 'policies.read',
    response: PolicyView,
    handle: async ({ auth, params, app }) => policyView(await policyParam(app.db, auth, params.policy)),
  }),

  route({
    method: 'GET',
    path: `${POLICY}/revisions`,
    operationId: 'listRevisions',
    tag: 'policies',
    summary: "A policy's revisions, newest first",
    access: 'policies.read',
    response: z.strictObject({ revisions: z.array(RevisionView) }),
    handle: async ({ auth, params, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const ever = await publishedNumbers(app.db, auth.org.id, policy.id);
      return {
        revisions: (await listRevisions(app.db, auth.org.id, policy.id)).map((r) =>
          revisionView(r, policy, ever),
        ),
      };
    },
  }),

  route({
    method: 'POST',
    path: `${POLICY}/revisions`,
    operationId: 'createRevision',
    tag: 'policies',
    summary:
      'Add a draft revision (stored even when invalid; the answer says what is wrong, with line numbers)',
    access: 'policies.write',
    body: RevisionCreate,
    response: RevisionCreated,
    status: 201,
    handle: ({ auth, params, body, app }) =>
      audited(app, auth, async (tx, now) => {
        const policy = await policyParam(tx, auth, params.policy, true);
        const text = requireContent(contentOf(body));
        const revision = found(
          await addRevision(tx, auth.org.id, policy.id, { text, createdBy: auth.admin.id }, now),
          'the policy',
        );
        const after: Policy = { ...policy, latestRevision: revision.number };
        const ever = await publishedNumbers(tx, auth.org.id, policy.id);
        return {
          result: {
            revision: revisionView(revision, after, ever),
            validation: validationOf(textOf(policy, revision), auth.org.slug),
          },
          action: {
            type: 'admin.policy.revision.create',
            reason: `drafted revision ${revision.number} of ${policy.name}`,
            outcome: {
              policy: policy.id,
              name: policy.name,
              revision: revision.number,
              sha256: revision.sha256,
            },
          },
        };
      }),
  }),

  route({
    method: 'GET',
    path: REVISION,
    operationId: 'getRevision',
    tag: 'policies',
    summary: 'A revision, with its text',
    access: 'policies.read',
    response: RevisionWithTextSchema,
    handle: async ({ auth, params, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      const ever = await publishedNumbers(app.db, auth.org.id, policy.id);
      return { ...revisionView(revision, policy, ever), text: revision.text };
    },
  }),

  route({
    method: 'GET',
    path: `${REVISION}/validation`,
    operationId: 'validateRevision',
    tag: 'policies',
    summary: 'Validate a revision: schema, patterns and names, every problem with its line and column',
    access: 'policies.read',
    response: Validation,
    handle: async ({ auth, params, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      return validationOf(textOf(policy, revision), auth.org.slug);
    },
  }),

  route({
    method: 'GET',
    path: `${REVISION}/lint`,
    operationId: 'lintRevision',
    tag: 'policies',
    summary: "Lint the organisation's published policies with this revision in its policy's place",
    access: 'policies.read',
    response: LintReport,
    errors: [422],
    handle: async ({ auth, params, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      const findings = (await policySet(app.db, auth, textOf(policy, revision))).lint();
      return {
        errors: findings.filter((f) => f.severity === 'error').length,
        warnings: findings.filter((f) => f.severity === 'warning').length,
        findings,
      };
    },
  }),

  route({
    method: 'GET',
    path: `${REVISION}/tests`,
    operationId: 'testRevision',
    tag: 'policies',
    summary: "Run every policy test of the organisation's published set with this revision in place",
    access: 'policies.read',
    response: TestReport,
    errors: [422],
    handle: async ({ auth, params, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      const results = (await policySet(app.db, auth, textOf(policy, revision))).tests();
      const passed = results.filter((r) => r.passed).length;
      return { passed, failed: results.length - passed, results };
    },
  }),

  route({
    method: 'GET',
    path: `${REVISION}/diff`,
    operationId: 'diffRevision',
    tag: 'policies',
    summary:
      'What a revision changes: rules, hosts, paths, tools, settings and tests added, removed or changed',
    description:
      'Against the revision named by `against`, else the published revision, else nothing (all added).',
    access: 'policies.read',
    query: z.strictObject({
      against: z
        .string()
        .regex(/^[1-9][0-9]{0,14}$/, { message: 'against is a revision number' })
        .optional()
        .describe('The older revision to compare with.'),
    }),
    response: DiffReport,
    errors: [422],
    handle: async ({ auth, params, query, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      const fromNumber = query.against !== undefined ? Number(query.against) : policy.publishedRevision;
      const from =
        fromNumber === null ? undefined : await revisionParam(app.db, auth, policy, String(fromNumber));
      try {
        const diff = diffRevisions(from && textOf(policy, from), textOf(policy, revision), auth.org.slug);
        return { from: from?.number ?? null, to: revision.number, ...diff };
      } catch (e) {
        if (e instanceof InvalidRevisionError) throw invalidRevision(e);
        throw e;
      }
    },
  }),

  route({
    method: 'POST',
    path: `${REVISION}/simulate`,
    operationId: 'simulateRevision',
    tag: 'policies',
    summary: 'Replay stored decisions as if this revision were published: which would flip, and for whom',
    description:
      "Every recorded decision in the window is decided again by the organisation's published set with this revision in its policy's place, and compared with the decision that was enforced. Subjects keep the groups their events recorded (else their directory groups now).",
    access: 'policies.write',
    body: SimulateRequest,
    response: SimulationReport,
    errors: [422],
    handle: async ({ auth, params, body, app }) => {
      const policy = await policyParam(app.db, auth, params.policy);
      const revision = await revisionParam(app.db, auth, policy, params.revision);
      const set = await policySet(app.db, auth, textOf(policy, revision));
      const now = app.now();
      const since = timeOf(body.since, now - 7 * 86_400_000, now);
      const until = timeOf(body.until, now + 1, now);
      if (since >= until)
        throw new ApiError(
          400,
          'invalid-body',
          'the window ends before it starts',
          'make since earlier than until',
        );
      const max = body.maxEvents ?? 100_000;
      const { events, total } = await decisionsToReplay(app.db, auth.org.id, since, until, max);
      const members = await membershipIndex(app.db, auth.org.id);
      const replay = set.simulate(events, (user) => members.get(user));
      const limit = body.limit ?? 100;
      return {
        window: { since: new Date(since).toISOString(), until: new Date(until).toISOString() },
        stored: total,
        replayed: replay.replayed,
        unchanged: replay.unchanged,
        truncated: total > events.length,
        unreadable: { count: replay.unreadable.length, examples: replay.unreadable.slice(0, 20) },
        counts: replay.counts,
        flipCount: replay.flips.length,
        flips: replay.flips.slice(0, limit),
        users: replay.users,
      };
    },
  }),

  route({
    method: 'POST',
    path: `${REVISION}/publish`,
    operationId: 'publishRevision',
    tag: 'policies',
    summary: 'Publish a revision: valid, newer than the published one, and every policy test passing',
    access: 'policies.publish',
    response: PublishResult,
    errors: [409, 422],
    handle: ({ auth, params, app }) =>
      announcing(
        app,
        auth.org.id,
        publish(app, auth, params.policy, numberParam(params.revision, 'the revision'), 'publish'),
      ),
  }),

  route({
    method: 'POST',
    path: `${POLICY}/rollback`,
    operationId: 'rollbackPolicy',
    tag: 'policies',
    summary: 'Roll back to an earlier published revision: its text is published as a new revision',
    access: 'policies.publish',
    body: RollbackRequest,
    response: PublishResult,
    errors: [409, 422],
    handle: ({ auth, params, body, app }) =>
      announcing(app, auth.org.id, publish(app, auth, params.policy, body.to, 'rollback')),
  }),

  route({
    method: 'GET',
    path: '/api/v1/orgs/{org}/publications',
    operationId: 'listPublications',
    tag: 'policies',
    summary: "The organisation's publications, newest first",
    access: 'policies.read',
    query: z.strictObject({
      limit: z
        .string()
        .regex(/^[1-9][0-9]{0,3}$/, { message: 'limit is a number from 1 to 9999' })
        .optional()
        .describe('At most this many (default 100).'),
    }),
    response: z.strictObject({ publications: z.array(PublicationView) }),
    handle: async ({ auth, query, app }) => ({
      publications: (await listPublications(app.db, auth.org.id, Number(query.limit ?? '100'))).map(
        publicationView,
      ),
    }),
  }),
];
