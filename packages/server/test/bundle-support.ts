// What the bundle and device tests share: an organisation with groups, users and published
// policies of every layer, and an independent reading of a compact JWS (node:crypto only, not the
// server's code), so a test proves the signature is plain RFC 7515/8037 that any verifier accepts.

import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { canonicalJson } from '@perimeter/audit';
import type { BundlePayload, KeySet } from '../src/index.js';
import { policyYaml, type Client, type Harness } from './harness.js';

export interface ReadJws<P> {
  readonly header: { alg: string; kid: string; typ: string };
  readonly payload: P;
  readonly payloadText: string;
  readonly isValid: boolean;
}

export function readJws<P = BundlePayload>(jws: string, keys: KeySet): ReadJws<P> {
  const [h, p, s] = jws.split('.');
  assert.ok(
    h !== undefined && p !== undefined && s !== undefined && jws.split('.').length === 3,
    'compact JWS',
  );
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as ReadJws<P>['header'];
  const payloadText = Buffer.from(p, 'base64url').toString('utf8');
  const jwk = keys.keys.find((k) => k.kid === header.kid);
  const isValid =
    jwk !== undefined &&
    verify(
      null,
      Buffer.from(`${h}.${p}`, 'ascii'),
      createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' }),
      Buffer.from(s, 'base64url'),
    );
  return { header, payload: JSON.parse(payloadText) as P, payloadText, isValid };
}

/** The payload is exactly its canonical form (RFC 8785). */
export function assertCanonical(text: string): void {
  assert.equal(text, canonicalJson(JSON.parse(text)));
}

export interface Org {
  readonly users: { readonly alice: string; readonly bob: string; readonly carol: string };
  readonly groups: { readonly eng: string; readonly sales: string };
  readonly policies: Record<string, string>;
}

/** Publishes a revision of a policy (creating the policy when `id` is undefined); returns its id. */
export async function publishPolicy(h: Harness, name: string, text: string, id?: string): Promise<string> {
  let policyId = id;
  let revision: number;
  if (policyId === undefined) {
    const made = await h.owner.post<{ policy: { id: string }; revision: { number: number } }>(
      `${h.base}/policies`,
      {
        name,
        text,
      },
    );
    assert.equal(made.status, 201, JSON.stringify(made.body));
    policyId = made.body.policy.id;
    revision = made.body.revision.number;
  } else {
    const added = await h.owner.post<{ revision: { number: number } }>(
      `${h.base}/policies/${policyId}/revisions`,
      {
        text,
      },
    );
    assert.equal(added.status, 201, JSON.stringify(added.body));
    revision = added.body.revision.number;
  }
  const published = await h.owner.post(`${h.base}/policies/${policyId}/revisions/${revision}/publish`);
  assert.equal(published.status, 200, JSON.stringify(published.body));
  return policyId;
}

async function create<T extends { id: string }>(c: Client, path: string, body: unknown): Promise<string> {
  const r = await c.post<T>(path, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

export const GUARDRAIL = policyYaml(
  'guardrail',
  `network:\n  deny:\n    - { id: metadata, cidrs: [169.254.0.0/16] }\n`,
  'guardrail',
);
export const BASELINE = policyYaml(
  'baseline',
  `network:\n  allow:\n    - { id: docs, hosts: [docs.example.com], ports: [443] }\n`,
);
export const ENG = `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: engineering
  layer: group
  groups: [eng]
network:
  allow:
    - { id: github, hosts: [api.github.com], ports: [443] }
`;
export const SALES = `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: sales
  layer: group
  groups: [sales, marketing]
network:
  allow:
    - { id: crm, hosts: [crm.example.com], ports: [443] }
`;

/** alice in eng, bob in sales, carol in no group; a guardrail, a baseline and a policy per group. */
export async function seedOrg(h: Harness): Promise<Org> {
  const users = {
    alice: await create(h.owner, `${h.base}/users`, { email: 'alice@example.com' }),
    bob: await create(h.owner, `${h.base}/users`, { email: 'bob@example.com' }),
    carol: await create(h.owner, `${h.base}/users`, { email: 'carol@example.com' }),
  };
  const groups = {
    eng: await create(h.owner, `${h.base}/groups`, { name: 'eng' }),
    sales: await create(h.owner, `${h.base}/groups`, { name: 'sales' }),
  };
  for (const [g, u] of [
    [groups.eng, users.alice],
    [groups.sales, users.bob],
  ] as const)
    assert.equal((await h.owner.put(`${h.base}/groups/${g}/members/${u}`)).status, 200);
  const policies: Record<string, string> = {};
  for (const [name, text] of [
    ['guardrail', GUARDRAIL],
    ['baseline', BASELINE],
    ['engineering', ENG],
    ['sales', SALES],
  ] as const)
    policies[name] = await publishPolicy(h, name, text);
  return { users, groups, policies };
}
