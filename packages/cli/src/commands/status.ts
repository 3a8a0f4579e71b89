// perimeter status: whether this device is managed, and if so by which server, as which user,
// which bundle revision it enforces and how fresh that is, and how its audit shipping goes (events
// waiting, the last shipment, spools the server refused). Reads only the device's state and
// spools (it works offline, and asks the server nothing): `perimeter agent --once` refreshes it.
// Exit 0 when sessions can start (unmanaged, or managed with a valid bundle), 1 when a managed
// device has no valid bundle (perimeter run would refuse to start).

import { boolFlag, parseArgs } from '../args.js';
import { readActive } from '../device/active-bundle.js';
import { auditBacklog } from '../device/audit-ship.js';
import { deviceDir, readEnrolment, readSyncState } from '../device/device-state.js';
import { UserError } from '../errors.js';
import type { Ui } from '../ui.js';
import { sessionsDir } from './run.js';

/** After this long without an answer from the server, the device is called stale. */
const STALE_AFTER_MS = 5 * 60_000;

/** "12 s ago", "3 h ago", "in 6 d". */
function ago(ms: number): string {
  const abs = Math.abs(ms);
  const text =
    abs < 60_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 172_800_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return ms >= 0 ? `${text} ago` : `in ${text}`;
}

export function runStatus(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'status');
  if (p.positionals.length > 0)
    throw new UserError(
      `perimeter status takes no arguments, but got "${p.positionals[0] ?? ''}"`,
      'run "perimeter status --help"',
    );
  const json = boolFlag(p, 'json');
  const dir = deviceDir();
  const enrolment = readEnrolment(dir);
  if (!enrolment) {
    if (json) ui.out(JSON.stringify({ managed: false }));
    else {
      ui.out(
        'This device is not managed: perimeter run uses --policy files, or the embedded default policy.',
      );
      ui.out('To manage it: perimeter login --server URL');
    }
    return 0;
  }
  const now = Date.now();
  const sync = readSyncState(dir);
  const active = readActive(dir, enrolment, now);
  const contact = sync.lastContactAt !== undefined ? Date.parse(sync.lastContactAt) : undefined;
  const isStale = contact === undefined || now - contact > STALE_AFTER_MS;
  const audit = auditBacklog(dir, sessionsDir(), enrolment);
  if (json) {
    ui.out(
      JSON.stringify({
        managed: true,
        server: enrolment.server,
        org: enrolment.org,
        user: enrolment.user,
        device: { ...enrolment.device, enrolledAt: enrolment.enrolledAt },
        bundle: active.ok
          ? {
              valid: true,
              revision: active.payload.revision,
              issuedAt: active.payload.issuedAt,
              notAfter: active.payload.notAfter,
              kid: active.kid,
              groups: active.payload.subject.groups,
              policies: active.payload.policies.map((x) => ({
                name: x.name,
                layer: x.layer,
                revision: x.revision,
              })),
            }
          : { valid: false, code: active.code, message: active.message },
        lastContactAt: sync.lastContactAt ?? null,
        isStale,
        lastError: sync.lastError ?? null,
        audit: {
          waiting: audit.waiting,
          lastShippedAt: audit.lastShippedAt ?? null,
          lastError: audit.lastError ?? null,
          refused: audit.refused.map((r) => ({
            file: r.file,
            chainId: r.chainId ?? null,
            seq: r.refused.seq,
            by: r.refused.by,
            message: r.refused.message,
            at: r.refused.at,
          })),
        },
      }),
    );
    return active.ok ? 0 : 1;
  }
  const rows: [string, string][] = [
    ['server', `${enrolment.server} (organisation ${enrolment.org.slug})`],
    ['user', enrolment.user.email],
    ['device', `${enrolment.device.name} (${enrolment.device.id}), enrolled ${enrolment.enrolledAt}`],
  ];
  if (active.ok) {
    const b = active.payload;
    rows.push(
      [
        'bundle',
        `revision ${b.revision}, issued ${b.issuedAt} (${ago(now - Date.parse(b.issuedAt))}), valid until ${b.notAfter} (${ago(now - Date.parse(b.notAfter))})`,
      ],
      ['groups', b.subject.groups.join(', ') || '(none)'],
      ['policies', b.policies.map((x) => `${x.name}@${x.revision} (${x.layer})`).join(', ') || '(none)'],
    );
  } else rows.push(['bundle', `none valid: ${active.message}; perimeter run refuses to start sessions`]);
  rows.push([
    'last sync',
    contact === undefined
      ? 'never'
      : `${sync.lastContactAt ?? ''} (${ago(now - contact)})${isStale ? ' — stale: is perimeter agent running?' : ''}`,
  ]);
  if (sync.lastError) rows.push(['last error', `${sync.lastError.message} (${sync.lastError.at})`]);
  const last =
    audit.lastShippedAt !== undefined
      ? `last shipped ${audit.lastShippedAt} (${ago(now - Date.parse(audit.lastShippedAt))})`
      : undefined;
  rows.push([
    'audit',
    audit.waiting > 0
      ? `${audit.waiting} events wait to be shipped; ${last ?? 'none shipped yet'}`
      : last !== undefined
        ? `all shipped; ${last}`
        : 'nothing to ship yet',
  ]);
  if (audit.lastError && audit.waiting > 0)
    rows.push(['audit error', `${audit.lastError.message} (${audit.lastError.at})`]);
  for (const r of audit.refused)
    rows.push([
      'not shipped',
      `${r.file} from event ${r.refused.seq}: ${r.refused.by === 'server' ? 'the server refused it' : 'damaged on this device'}: ${r.refused.message} (${r.refused.at})`,
    ]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  for (const [k, v] of rows) ui.out(`${`${k}:`.padEnd(width)}${v}`);
  return active.ok ? 0 : 1;
}
