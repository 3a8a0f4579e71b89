// A real control plane for the CLI's device tests: `startServer` in this process on 127.0.0.1 with
// SQLite in a temporary data directory (the server's own tests run every storage case on
// PostgreSQL too), its first owner claimed, and helpers that speak its HTTP API: publish a policy,
// add users, and log a device in through the whole RFC 8628 grant, writing the device's state the
// way `perimeter login` does (login itself is tested end to end with the binaries).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type KeySet, type RunningServer, type ServerOptions } from '@perimeter/server';
import { writeEnrolment, writeTrustedKeys, type Enrolment } from '../src/device/device-state.js';

export interface ControlPlane {
  readonly server: RunningServer;
  readonly url: string;
  readonly org: { readonly id: string; readonly slug: string };
  /** `/api/v1/orgs/<org id>` */
  readonly base: string;
  readonly dataDir: string;
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
}

export async function startControlPlane(
  t: TestContext,
  options: Partial<ServerOptions> = {},
): Promise<ControlPlane> {
  const dataDir = mkdtempSync(join(tmpdir(), 'perimeter-cp-test-'));
  const server = await startServer({
    dataDir,
    listen: { host: '127.0.0.1', port: 0 },
    log: { log: () => undefined },
    shutdownGraceMs: 1000,
    devices: { pollIntervalS: 1 },
    ...options,
  });
  t.after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const claimed = await fetch(`${server.url}/api/v1/bootstrap`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: server.bootstrap?.token, email: 'owner@example.com' }),
  });
  assert.equal(claimed.status, 201);
  const body = (await claimed.json()) as { org: { id: string; slug: string }; token: { secret: string } };
  const api = async <T>(
    method: string,
    path: string,
    payload?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${body.token.secret}`,
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
    });
    const text = await r.text();
    return { status: r.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  };
  return { server, url: server.url, org: body.org, base: `/api/v1/orgs/${body.org.id}`, dataDir, api };
}

export async function addUser(
  cp: ControlPlane,
  email: string,
  groups: readonly string[] = [],
): Promise<string> {
  const user = await cp.api<{ id: string }>('POST', `${cp.base}/users`, { email });
  assert.equal(user.status, 201);
  for (const name of groups) {
    const listed = await cp.api<{ groups: { id: string; name: string }[] }>('GET', `${cp.base}/groups`);
    let id = listed.body.groups.find((g) => g.name === name)?.id;
    if (id === undefined) {
      const made = await cp.api<{ id: string }>('POST', `${cp.base}/groups`, { name });
      id = made.body.id;
    }
    assert.equal((await cp.api('PUT', `${cp.base}/groups/${id}/members/${user.body.id}`)).status, 200);
  }
  return user.body.id;
}

/** Publishes `text` as a new revision of policy `name` (made on first use); returns its id. */
export async function publish(cp: ControlPlane, name: string, text: string): Promise<string> {
  const policies = await cp.api<{ policies: { id: string; name: string }[] }>('GET', `${cp.base}/policies`);
  let id = policies.body.policies.find((p) => p.name === name)?.id;
  let revision: number;
  if (id === undefined) {
    const made = await cp.api<{ policy: { id: string }; revision: { number: number } }>(
      'POST',
      `${cp.base}/policies`,
      {
        name,
        text,
      },
    );
    assert.equal(made.status, 201, JSON.stringify(made.body));
    id = made.body.policy.id;
    revision = made.body.revision.number;
  } else {
    const added = await cp.api<{ revision: { number: number } }>(
      'POST',
      `${cp.base}/policies/${id}/revisions`,
      { text },
    );
    assert.equal(added.status, 201, JSON.stringify(added.body));
    revision = added.body.revision.number;
  }
  const published = await cp.api('POST', `${cp.base}/policies/${id}/revisions/${revision}/publish`);
  assert.equal(published.status, 200, JSON.stringify(published.body));
  return id;
}

export async function invite(cp: ControlPlane, user: string): Promise<string> {
  const r = await cp.api<{ secret: string }>('POST', `${cp.base}/users/${user}/invitations`, {});
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.secret;
}

/** Approves a pending login (as the invited user does at /device). */
export async function approve(cp: ControlPlane, userCode: string, invitation: string): Promise<void> {
  const r = await fetch(`${cp.url}/api/v1/device/verification`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userCode, invitation, decision: 'approve' }),
  });
  assert.equal(r.status, 200, await r.text());
}

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

/** Logs a device of `user` in through the grant and writes its state into `dir`. */
export async function enrol(cp: ControlPlane, user: string, dir: string): Promise<Enrolment> {
  const invitation = await invite(cp, user);
  const start = await fetch(
    `${cp.url}/api/v1/oauth/device_authorization`,
    form({ client_id: 'perimeter-cli', device_name: 'test-device' }),
  );
  const code = (await start.json()) as { device_code: string; user_code: string };
  await approve(cp, code.user_code, invitation);
  const token = await fetch(
    `${cp.url}/api/v1/oauth/token`,
    form({
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: code.device_code,
      client_id: 'perimeter-cli',
    }),
  );
  assert.equal(token.status, 200);
  const t = (await token.json()) as {
    access_token: string;
    device: { id: string; name: string };
    user: { id: string; email: string };
    org: { id: string; slug: string; name: string };
    keys: KeySet;
  };
  const enrolment: Enrolment = {
    server: cp.url,
    org: t.org,
    user: t.user,
    device: t.device,
    credential: t.access_token,
    enrolledAt: new Date().toISOString(),
  };
  writeEnrolment(dir, enrolment);
  writeTrustedKeys(dir, t.keys.keys);
  return enrolment;
}

/** A policy document with the header filled in. */
export function policy(name: string, body: string, layer = 'org', groups?: readonly string[]): string {
  return [
    'apiVersion: perimeter/v1',
    'kind: Policy',
    'metadata:',
    `  name: ${name}`,
    `  layer: ${layer}`,
    ...(groups ? [`  groups: [${groups.join(', ')}]`] : []),
    body.replace(/^\n/, ''),
  ].join('\n');
}
