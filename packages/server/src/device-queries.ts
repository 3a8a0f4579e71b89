// What enrolled devices ask of the database on every call, done for many devices at once
// (batched.ts): who a credential belongs to, whether a device may still fetch its bundle, that it
// called, and what it activated. A publication wakes every device of the organisation together,
// and each then reads its standing, reports its activation and polls again: per device that was
// five statements and a commit of its own; together it is a few statements per few hundred
// devices and one commit per batch of reports. Every read still begins after its caller asked, so
// a revoked device is refused exactly as it was with a statement of its own; every report is
// committed before its request is answered.

import type { Database, Queryable } from './db/database.js';
import { hashSecret } from './secrets.js';
import {
  deviceStandings,
  devicesByCredentialHash,
  lockDevices,
  recordActivations,
  touchDevices,
  type ActivationReport,
  type CredentialHolder,
  type DeviceStanding,
} from './store/devices.js';
import { batched } from './batched.js';

/**
 * The most callers one batch serves (the store splits it into statements of its own size). Large:
 * a publication's wake-ups are best answered all together, before the reports and polls they
 * cause are read, rather than a slice at a time with those in between.
 */
const BATCH = { maxBatch: 16_384 };

type DeviceWrite =
  | { readonly kind: 'touch'; readonly deviceId: string }
  | {
      readonly kind: 'report';
      readonly deviceId: string;
      readonly report: ActivationReport;
      readonly now: number;
    };

export class DeviceQueries {
  private readonly holders: (hash: string) => Promise<CredentialHolder | undefined>;
  private readonly standings: (deviceId: string) => Promise<DeviceStanding | undefined>;
  private readonly writes: (write: DeviceWrite) => Promise<void>;

  constructor(db: Database, now: () => number) {
    this.holders = batched(async (hashes) => {
      const found = await devicesByCredentialHash(db, hashes);
      return hashes.map((h) => found.get(h));
    }, BATCH);
    this.standings = batched(async (ids) => {
      const found = await deviceStandings(db, ids);
      return ids.map((id) => found.get(id));
    }, BATCH);
    this.writes = batched(async (writes) => {
      // One commit for the batch: durable when each caller hears back.
      await db.transaction((tx) => applyWrites(tx, writes, now()));
      return writes.map(() => undefined);
    }, BATCH);
  }

  /** The device a credential stands for, with its user and organisation, if the credential is known. */
  byCredential(secret: string): Promise<CredentialHolder | undefined> {
    return this.holders(hashSecret(secret));
  }

  /** Whether a device may still fetch its bundle, with its user's groups; undefined once it or its user is gone. */
  standing(deviceId: string): Promise<DeviceStanding | undefined> {
    return this.standings(deviceId);
  }

  /** Records that a device called (the caller checks isTouchDue first). */
  touch(deviceId: string): Promise<void> {
    return this.writes({ kind: 'touch', deviceId });
  }

  /** Stores a device's activation report, received at `now`; resolves once it is committed. */
  report(deviceId: string, report: ActivationReport, now: number): Promise<void> {
    return this.writes({ kind: 'report', deviceId, report, now });
  }
}

async function applyWrites(tx: Queryable, writes: readonly DeviceWrite[], now: number): Promise<void> {
  const reports = writes.flatMap((w) => (w.kind === 'report' ? [w] : []));
  const touched = [...new Set(writes.flatMap((w) => (w.kind === 'touch' ? [w.deviceId] : [])))];
  // Every device of the batch locked at once, in id order, before either statement: another
  // replica's batch with a device reported here and touched there (or the reverse) waits for this
  // one rather than deadlock with it.
  await lockDevices(
    tx,
    writes.map((w) => w.deviceId),
  );
  if (reports.length > 0) await recordActivations(tx, reports);
  if (touched.length > 0) await touchDevices(tx, touched, now);
}
