// Stored events as an export writes them: JSON lines (each event as stored), or CSV with one
// column per thing a security team sorts by (RFC 4180 quoting, and a guard against spreadsheet
// formula injection: an event's text is the device's, and a cell that starts like a formula is
// run by the spreadsheet that opens it). Pure.

import { cutSummary, type AuditEvent } from '@perimeter/audit';
import type { ExportRow } from './store/events.js';

export type ExportFormat = 'jsonl' | 'csv';

export const EXPORT_TYPES: Readonly<Record<ExportFormat, string>> = {
  jsonl: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8; header=present',
};

export const CSV_COLUMNS = [
  'time',
  'event_id',
  'type',
  'category',
  'user_id',
  'device_id',
  'session_id',
  'surface',
  'action',
  'resource',
  'decision',
  'enforcement_mode',
  'reason',
  'bytes_in',
  'bytes_out',
  'cut',
] as const;

/**
 * One CSV cell. A value starting with = + - @ (or a tab or carriage return, which some
 * spreadsheets skip before looking) is prefixed with ' so it is read as text, never as a formula
 * (OWASP "CSV injection"); then RFC 4180 §2: quoted when it holds a quote, comma or line break.
 */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV header line. */
export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;

/** A stored event as a CSV line: who and where from the server's own columns, the rest from the event. */
export function csvLine(row: ExportRow): string {
  const e = JSON.parse(row.body) as AuditEvent;
  const cells: Record<(typeof CSV_COLUMNS)[number], string | number | boolean | null | undefined> = {
    time: new Date(row.time).toISOString(),
    event_id: row.id,
    type: e.type,
    category: e.category,
    user_id: row.userId,
    device_id: row.deviceId,
    session_id: row.sessionId,
    surface: e.request?.surface,
    action: e.request?.action,
    // A connection's close (network.closed) carries no request: where it went is in its outcome.
    resource: e.request?.resource ?? e.outcome?.resource,
    decision: e.decision,
    enforcement_mode: e.enforcement_mode,
    reason: e.reason,
    bytes_in: e.outcome?.bytes_in,
    bytes_out: e.outcome?.bytes_out,
    // An event cut down to size says so (and what was cut), so no one reads it as whole.
    cut: e.cut === undefined ? undefined : cutSummary(e.cut),
  };
  return `${CSV_COLUMNS.map((c) => csvCell(cells[c])).join(',')}\r\n`;
}

/** A page of stored events in a format. */
export function formatRows(rows: readonly ExportRow[], format: ExportFormat): string {
  if (format === 'csv') return rows.map(csvLine).join('');
  return rows.map((r) => `${r.body}\n`).join('');
}
