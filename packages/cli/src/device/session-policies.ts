// Which policies a session enforces. An unmanaged device: the --policy files, or the embedded
// default. A managed device (perimeter login): the active signed bundle, refreshed by one short
// sync first, for the logged-in user; no valid bundle means no session (fail closed, exit 125).
// On a managed device --policy only adds local policies (metadata.layer: local, which may only
// deny or ask), and what would relax the organisation's policy is refused: --mode audit, another
// subject (--user, --groups), local settings that loosen (network.secrets, mcp.pinning,
// mcp.secrets).

import { hostname, release, type } from 'node:os';
import type { AuditRecord } from '@perimeter/audit';
import type { CompiledPolicy, LoadedPolicy } from '@perimeter/policy';
import { UserError } from '../errors.js';
import { requireValidPolicies, type Loaded } from '../policy-files.js';
import type { Ui } from '../ui.js';
import { readActive } from './active-bundle.js';
import { deviceDir, readEnrolment, type Enrolment } from './device-state.js';
import { syncOnce } from './sync.js';

/**
 * What every event of a session on a managed device says about where it ran: the organisation,
 * the logged-in user, this device, and the bundle enforced (the server keys stored events by the
 * device's credential; these say it inside the event, for whoever reads it later).
 */
export type DeviceContext = Required<Pick<AuditRecord, 'org' | 'device' | 'bundle'>> & {
  readonly user: { readonly id: string; readonly email: string; readonly groups: string[] };
};

export interface SessionPolicies {
  readonly loaded: Loaded;
  /** The logged-in user and the bundle's groups, on a managed device. */
  readonly subject?: { readonly user: string; readonly groups: readonly string[] };
  /** On a managed device: its enrolment, and the context its sessions' events carry. */
  readonly managed?: { readonly enrolment: Enrolment; readonly context: DeviceContext };
}

export interface SessionFlags {
  readonly policy?: readonly string[];
  readonly mode?: string;
  readonly user?: string;
  readonly groups?: readonly string[];
  /** --audit FILE: where the session's spool goes. */
  readonly audit?: string;
}

/** How long `perimeter run` waits for the server before it uses the bundle it has. */
const RUN_SYNC_TIMEOUT_MS = 3000;

/** Local settings that would loosen what the organisation set (a local policy may only tighten). */
const LOOSENING_SETTINGS: readonly (readonly [string, string])[] = [
  ['network', 'secrets'],
  ['mcp', 'pinning'],
  ['mcp', 'secrets'],
];

function localLayer(ui: Ui, paths: readonly string[], e: Enrolment, cacheDir: string): Loaded {
  const loaded = requireValidPolicies(ui, paths, false, cacheDir);
  const policies: LoadedPolicy[] = loaded.policies.map((l) => {
    const source = l.policy.source;
    const where = `${l.file} (${source.metadata.name})`;
    if (l.policy.layer !== 'local')
      throw new UserError(
        `this device is managed by ${e.server}, so --policy may only add local policies, but ${where} is a ${l.policy.layer} policy`,
        'set metadata.layer: local (it may only deny or ask), or ask your admin to publish it',
      );
    if (l.policy.org !== '' && l.policy.org !== e.org.slug)
      throw new UserError(
        `${where} belongs to organisation ${l.policy.org}, not this device's ${e.org.slug}`,
        'remove metadata.org from the local policy',
      );
    for (const [section, key] of LOOSENING_SETTINGS) {
      const value = (source as unknown as Record<string, Record<string, unknown> | undefined>)[section]?.[
        key
      ];
      if (value !== undefined)
        throw new UserError(
          `${where} sets ${section}.${key}, which could loosen the organisation's policy on this managed device`,
          `remove ${section}.${key} from the local policy`,
        );
    }
    const policy: CompiledPolicy = { ...l.policy, org: e.org.slug };
    return { ...l, policy };
  });
  return { ...loaded, policies };
}

export async function sessionPolicies(
  ui: Ui,
  flags: SessionFlags,
  cacheDir: string,
): Promise<SessionPolicies> {
  const dir = deviceDir();
  const enrolment = readEnrolment(dir);
  if (!enrolment) return { loaded: requireValidPolicies(ui, flags.policy, true, cacheDir) };
  const managed = `this device is managed by ${enrolment.server}`;
  if (flags.mode === 'audit')
    throw new UserError(
      `${managed}: --mode audit would stop enforcing its organisation's policy`,
      'remove --mode audit; audit mode is set in the policy by its admins',
    );
  // The agent ships the spools in the sessions directory; one written elsewhere would never reach
  // the organisation's trail.
  if (flags.audit !== undefined)
    throw new UserError(
      `${managed}: --audit would keep this session's events out of its organisation's audit trail`,
      'remove --audit; the session is recorded in the sessions directory and shipped to the server',
    );
  if (flags.user !== undefined || flags.groups !== undefined)
    throw new UserError(
      `${managed}: sessions run as the logged-in user (${enrolment.user.email}), so --user and --groups are not taken`,
      'remove --user and --groups',
    );
  // The "pull at start" of control-plane.md §3: a newer bundle if the server has one, quickly.
  const synced = await syncOnce(dir, enrolment, { waitS: 0, timeoutMs: RUN_SYNC_TIMEOUT_MS, cacheDir });
  if (synced.kind === 'refused')
    ui.err(
      `perimeter: refused the server's new policy bundle: ${synced.refusal.message}; the last good one stays`,
    );
  // Revoked (or its user deactivated): the organisation's last policy still holds, until it expires.
  if (synced.kind === 'rejected')
    ui.err(
      `perimeter: ${synced.message}; this session runs on the last good bundle until it expires (perimeter login again, or ask an admin)`,
    );
  // A bundle this sync activated is verified and loaded already; else the one held is, as it is read.
  const active =
    synced.kind === 'activated' ? synced.active : readActive(dir, enrolment, Date.now(), cacheDir);
  if (!active.ok)
    throw new UserError(
      `${managed} but has no valid policy bundle (${active.message}), so nothing ran`,
      `connect to ${enrolment.server} and run "perimeter agent --once" to fetch one (or log in again: perimeter login --server ${enrolment.server})`,
      125,
    );
  const local =
    flags.policy !== undefined && flags.policy.length > 0
      ? localLayer(ui, flags.policy, enrolment, cacheDir)
      : undefined;
  return {
    loaded: {
      policies: [...active.policies.policies, ...(local?.policies ?? [])],
      diagnostics: [...active.policies.diagnostics, ...(local?.diagnostics ?? [])],
      files: local?.files ?? [],
      isDefault: false,
    },
    subject: { user: enrolment.user.id, groups: active.payload.subject.groups },
    managed: {
      enrolment,
      context: {
        org: enrolment.org.id,
        user: {
          id: enrolment.user.id,
          email: enrolment.user.email,
          groups: [...active.payload.subject.groups],
        },
        device: { id: enrolment.device.id, hostname: hostname(), os: `${type()} ${release()}` },
        bundle: { revision: active.payload.revision, hash: active.hash },
      },
    },
  };
}
