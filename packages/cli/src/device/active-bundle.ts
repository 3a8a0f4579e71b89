// The device's active bundle: offering it a new one (verify, load every policy in it, then persist
// it as the last good one) and reading it back for a session. A bundle that fails any check is
// refused and the last good one stays in force: the device never enforces less than it verified.

import { createHash } from 'node:crypto';
import { hasErrors, type LoadResult } from '@perimeter/policy';
import type { BundlePayload } from '@perimeter/server';
import { loadPolicySources } from '../policy-files.js';
import {
  isOlder,
  verifyBundle,
  type Held,
  type Refusal,
  type RefusalCode,
  type Verified,
} from './bundle-verify.js';
import {
  readActiveBundle,
  readSyncState,
  readTrustedKeys,
  writeActiveBundle,
  writeSyncState,
  type Enrolment,
} from './device-state.js';

export type ActivationRefusal = Omit<Refusal, 'code'> & {
  readonly code: RefusalCode | 'invalid-policy' | 'no-bundle';
};

export interface Active {
  readonly ok: true;
  readonly kid: string;
  readonly payload: BundlePayload;
  readonly policies: LoadResult;
  /** SHA-256 (hex) of the compact JWS as the server signed it: names this exact bundle in audit events. */
  readonly hash: string;
}

/** The bundle's policy documents, loaded and checked as policy files are (through the cache when given). */
function loadBundlePolicies(payload: BundlePayload, cacheDir?: string): LoadResult {
  return loadPolicySources(
    payload.policies.map((p) => ({
      // How diagnostics and decisions name it: the policy and its revision, in this bundle.
      file: `bundle ${payload.revision}: ${p.name}@${p.revision}`,
      text: JSON.stringify(p.document),
    })),
    cacheDir,
  );
}

/** A bundle verified against this device's trusted keys and organisation, and what it holds now. */
function verifyOnDevice(
  dir: string,
  enrolment: Enrolment,
  jws: string,
  now: number,
  held: Held | undefined,
): Verified | Refusal {
  return verifyBundle(jws, readTrustedKeys(dir), {
    orgId: enrolment.org.id,
    now,
    ...(held ? { held } : {}),
  });
}

function withPolicies(v: Verified, jws: string, cacheDir: string | undefined): Active | ActivationRefusal {
  const policies = loadBundlePolicies(v.payload, cacheDir);
  if (hasErrors(policies.diagnostics)) {
    const first = policies.diagnostics.find((d) => d.severity === 'error');
    return {
      ok: false,
      code: 'invalid-policy',
      message: `revision ${v.payload.revision} holds a policy this perimeter cannot enforce (${first?.at?.file ?? ''}: ${first?.message ?? ''})`,
      revision: v.payload.revision,
    };
  }
  return {
    ok: true,
    kid: v.kid,
    payload: v.payload,
    policies,
    hash: createHash('sha256').update(jws).digest('hex'),
  };
}

/**
 * Offers a bundle the server sent: verified against the trusted keys and the bundle held (no
 * rollback), its policies loaded, then written as the last good bundle. A refusal changes nothing.
 */
export function offerBundle(
  dir: string,
  enrolment: Enrolment,
  jws: string,
  now: number,
  cacheDir?: string,
): Active | ActivationRefusal {
  const verified = verifyOnDevice(dir, enrolment, jws, now, readSyncState(dir).held);
  if (!verified.ok) return verified;
  const active = withPolicies(verified, jws, cacheDir);
  if (!active.ok) return active;
  // Another sync (the agent, a session starting) may have activated a newer bundle meanwhile.
  const latest = readSyncState(dir).held;
  if (latest && isOlder(active.payload, latest))
    return {
      ok: false,
      code: 'rollback',
      message: `revision ${active.payload.revision} is older than revision ${latest.revision}, activated meanwhile`,
      revision: active.payload.revision,
    };
  // The bundle first, then the state that names it: after a crash between the two, the newer
  // bundle on disk is still not older than what sync.json holds, so it reads back as valid.
  writeActiveBundle(dir, jws);
  writeSyncState(dir, {
    ...readSyncState(dir),
    held: {
      revision: active.payload.revision,
      issuedAt: active.payload.issuedAt,
      activatedAt: new Date(now).toISOString(),
    },
  });
  return active;
}

/**
 * The active bundle, verified again as it is read (it must still be signed by a trusted key, be
 * unexpired, and be no older than what the device recorded holding), with its policies loaded.
 */
export function readActive(
  dir: string,
  enrolment: Enrolment,
  now: number,
  cacheDir?: string,
): Active | ActivationRefusal {
  const jws = readActiveBundle(dir);
  if (jws === undefined)
    return { ok: false, code: 'no-bundle', message: 'this device has no policy bundle yet' };
  const verified = verifyOnDevice(dir, enrolment, jws, now, readSyncState(dir).held);
  if (!verified.ok) return verified;
  return withPolicies(verified, jws, cacheDir);
}
