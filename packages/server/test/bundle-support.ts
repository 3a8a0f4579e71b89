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

// ---------------------------------------------------------------------------------------------
// Device login (RFC 8628) over real HTTP

export interface OAuthReply<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** POSTs an HTML form, as OAuth clients do. */
export async function postForm<T = { error: string; error_description?: string }>(
  url: string,
  path: string,
  form: Record<string, string>,
): Promise<OAuthReply<T>> {
  const r = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: r.status, body: (await r.json()) as T, headers: r.headers };
}

export interface DeviceCode {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

export interface TokenReply {
  access_token: string;
  token_type: string;
  device: { id: string; name: string };
  user: { id: string; email: string };
  org: { id: string; slug: string; name: string };
  keys: KeySet;
}

export const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export async function invite(h: Harness, user: string): Promise<string> {
  const r = await h.owner.post<{ secret: string }>(`${h.base}/users/${user}/invitations`, {});
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.secret;
}

export async function startLogin(h: Harness, name = 'laptop'): Promise<DeviceCode> {
  const r = await postForm<DeviceCode>(h.server.url, '/api/v1/oauth/device_authorization', {
    client_id: 'perimeter-cli',
    device_name: name,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export const poll = (h: Harness, code: DeviceCode, clientId = 'perimeter-cli') =>
  postForm<TokenReply & { error?: string; error_description?: string }>(h.server.url, '/api/v1/oauth/token', {
    grant_type: GRANT,
    device_code: code.device_code,
    client_id: clientId,
  });

export const verification = (h: Harness, body: Record<string, unknown>) =>
  h
    .client()
    .post<{ status: string; device: { id?: string; name: string }; user: { email: string } }>(
      '/api/v1/device/verification',
      body,
    );

/** A device of `user`, logged in through the whole grant; its credential and the keys it pinned. */
export async function enrolDevice(h: Harness, user: string, name = 'laptop'): Promise<TokenReply> {
  const invitation = await invite(h, user);
  const code = await startLogin(h, name);
  const approved = await verification(h, { userCode: code.user_code, invitation, decision: 'approve' });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const token = await poll(h, code);
  assert.equal(token.status, 200, JSON.stringify(token.body));
  return token.body;
}
