// Exporting events (GET /api/v1/orgs/{org}/events/export), on both backends over real HTTP: every
// match, oldest first, streamed across many pages, as JSON lines (each event as stored) or as CSV
// that a spreadsheet opens safely (RFC 4180 quoting; a cell that starts like a formula is text).

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { AuditEvent } from '@perimeter/audit';
import { adminWith, eachServer, type Harness } from './harness.js';
import { chain, deviceOf, send, type Shape, type TestDevice } from './audit-support.js';

const COLUMNS =
  'time,event_id,type,category,user_id,device_id,session_id,surface,action,resource,decision,enforcement_mode,reason,bytes_in,bytes_out,cut';

/** RFC 4180, read independently of the server's writer: records of fields, CRLF between records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
      i += 1;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else field += ch;
    i += 1;
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  return rows;
}

async function exported(
  h: Harness,
  query: string,
  token?: string,
): Promise<{ status: number; type: string | null; disposition: string | null; text: string }> {
  const r = await fetch(`${h.server.url}${h.base}/events/export?${query}`, {
    headers: { authorization: `Bearer ${token ?? h.owner.token ?? ''}` },
  });
  return {
    status: r.status,
    type: r.headers.get('content-type'),
    disposition: r.headers.get('content-disposition'),
    text: await r.text(),
  };
}

eachServer('audit export', (harness) => {
  let device: TestDevice;
  let many: AuditEvent[];
  let tricky: AuditEvent[];

  before(async () => {
    const h = harness();
    device = await deviceOf(h, 'dana@example.com', 'dana-laptop');
    const now = h.clock.now();
    // More than two pages of the export's reads (1000 rows each), a millisecond apart.
    const { events } = chain(
      'x-many',
      Array.from({ length: 2345 }, (_, i): Shape => ({
        at: now - 3_600_000 + i,
        resource: `host${i}.example:443`,
      })),
    );
    many = events;
    for (let at = 0; at < many.length; at += 1000) await send(h, device, many.slice(at, at + 1000));
    tricky = chain('x-tricky', [
      {
        at: now - 1000,
        reason: 'said "hi", then\r\nleft',
        outcome: { bytes_in: 12, bytes_out: 3400 },
        cut: { bytes: 70_000, strings: 1, items: { 'outcome.hosts': 3 } },
      },
      { at: now - 900, resource: '=HYPERLINK("http://evil.example","click")' },
      { at: now - 800, reason: '+cmd|calc', resource: '@SUM(A1:A9)' },
      { at: now - 700, resource: '-2+3', surface: 'credential', action: 'inject', type: 'credential.use' },
      {
        at: now - 600,
        isFact: true,
        type: 'network.closed',
        outcome: { resource: 'upload.example:443', bytes_in: 512, bytes_out: 90_000 },
      },
    ]).events;
    await send(h, device, tricky);
  });

  it('JSON lines hold every matching event as it was sent, oldest first, across pages', async () => {
    const h = harness();
    const r = await exported(h, 'session=x-many');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.type, 'application/x-ndjson');
    assert.equal(r.disposition, 'attachment; filename="events.jsonl"');
    const lines = r.text.split('\n');
    assert.equal(lines.pop(), '', 'each line ends with a newline');
    assert.equal(lines.length, many.length);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as AuditEvent),
      many,
    );
    const explicit = await exported(h, 'format=jsonl&session=x-many&since=2h');
    assert.equal(explicit.text, r.text);
  });

  it('the list filters apply to the export', async () => {
    const h = harness();
    const r = await exported(h, `format=jsonl&device=${device.id}&surface=credential`);
    assert.deepEqual(
      r.text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEvent).event_id),
      [tricky[3]?.event_id],
    );
    const none = await exported(h, 'user=nobody@example.com&format=csv');
    assert.equal(none.status, 200);
    assert.equal(none.text, `${COLUMNS}\r\n`, 'the header alone');
    const bad = await exported(h, 'format=xml');
    assert.equal(bad.status, 400);
  });

  it('CSV has the columns, RFC 4180 quoting, and no cell a spreadsheet would run', async () => {
    const h = harness();
    const r = await exported(h, 'format=csv&session=x-tricky');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.type, 'text/csv; charset=utf-8; header=present');
    assert.equal(r.disposition, 'attachment; filename="events.csv"');
    const rows = parseCsv(r.text);
    assert.equal(rows[0]?.join(','), COLUMNS);
    const records = rows
      .slice(1)
      .map((cells) => Object.fromEntries(COLUMNS.split(',').map((c, i) => [c, cells[i]])));
    assert.equal(records.length, 5);
    assert.deepEqual(
      records.map((c) => c.event_id),
      tricky.map((e) => e.event_id),
    );
    const [quoted, hyperlink, plus, minus, closed] = records;
    assert.equal(quoted?.reason, 'said "hi", then\r\nleft', 'quotes, a comma and a line break survive');
    assert.deepEqual([quoted?.bytes_in, quoted?.bytes_out], ['12', '3400']);
    assert.equal(hyperlink?.resource, `'=HYPERLINK("http://evil.example","click")`);
    assert.equal(plus?.reason, "'+cmd|calc");
    assert.equal(plus?.resource, "'@SUM(A1:A9)");
    assert.equal(minus?.resource, "'-2+3");
    assert.equal(minus?.surface, 'credential');
    // A cut event says so in its own column, as the CLI's lines do; a whole one leaves it empty.
    assert.equal(quoted?.cut, '[cut: from 70000 bytes, 1 string shortened, 3 of outcome.hosts left out]');
    assert.deepEqual(
      records.slice(1).map((c) => c.cut),
      ['', '', '', ''],
    );
    assert.equal(quoted?.time, tricky[0]?.time);
    assert.deepEqual(
      [quoted?.user_id, quoted?.device_id, quoted?.session_id, quoted?.category, quoted?.decision],
      [device.userId, device.id, 'x-tricky', 'evaluation', 'allow'],
    );
    assert.deepEqual([quoted?.action, quoted?.enforcement_mode], ['connect', 'enforce']);
    assert.deepEqual(
      [
        closed?.type,
        closed?.category,
        closed?.surface,
        closed?.decision,
        closed?.resource,
        closed?.bytes_out,
      ],
      ['network.closed', 'system', '', '', 'upload.example:443', '90000'],
      "a connection's close names where it went and how much left",
    );
    for (const c of records.flatMap((rec) => Object.values(rec)))
      assert.ok(!/^[=+\-@]/.test(c ?? ''), `"${c}" would run as a formula`);
  });

  it('an export needs events.read: no token 401, a viewer 403', async () => {
    const h = harness();
    const none = await fetch(`${h.server.url}${h.base}/events/export`);
    assert.equal(none.status, 401);
    const viewer = await adminWith(h, 'viewer');
    assert.equal((await exported(h, 'format=csv', viewer.client.token)).status, 403);
    const auditor = await adminWith(h, 'auditor');
    const r = await exported(h, 'format=jsonl&session=x-tricky', auditor.client.token);
    assert.equal(r.status, 200);
    assert.equal(r.text.trim().split('\n').length, 5);
  });
});
