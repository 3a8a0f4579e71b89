// Devices shipping their audit spools, in a process of their own (the benchmark forks two): each
// device's sessions are made first (events.mjs: real sealed chains), cut into batches as the
// CLI's shipper cuts them (packages/cli/src/device/audit-ship.ts: a session's lines in order,
// oldest session first, at most BATCH_LIMITS events and bytes a batch) and gzipped; none of that
// is timed. Then `lanes` uploads run at once, each taking its devices one after another and
// POSTing each device's batches in order (POST /api/v1/device/events, application/x-ndjson,
// Content-Encoding: gzip, the device's own credential), until every batch is sent or the deadline.
//
// Times are process.hrtime.bigint() nanoseconds, comparable with the parent's.

import { Buffer } from 'node:buffer';
import { gzipSync } from 'node:zlib';
import { BATCH_LIMITS } from '../../packages/cli/dist/src/device/audit-ship.js';
import { deviceSessions } from './events.mjs';
import { keepAliveAgent, request } from './http.mjs';

if (!process.send) throw new Error('shippers.mjs runs forked by the benchmark');

const now = () => process.hrtime.bigint();
let config;
let devices = [];

/** A device's spool lines cut into batches within the CLI's limits, each gzipped. */
function batchesOf(sessions) {
  const batches = [];
  let lines = [];
  let bytes = 0;
  const flush = () => {
    if (lines.length === 0) return;
    const body = lines.join('');
    batches.push({ gz: gzipSync(body), events: lines.length, bytes: Buffer.byteLength(body) });
    lines = [];
    bytes = 0;
  };
  for (const session of sessions)
    for (const event of session) {
      const line = `${JSON.stringify(event)}\n`;
      const size = Buffer.byteLength(line);
      if (lines.length >= BATCH_LIMITS.events || bytes + size > BATCH_LIMITS.bytes) flush();
      lines.push(line);
      bytes += size;
    }
  flush();
  return batches;
}

async function ship(lane, deadline) {
  const agent = keepAliveAgent();
  const results = [];
  try {
    for (let d = lane; d < devices.length; d += config.lanes) {
      const device = devices[d];
      for (const batch of device.batches) {
        if (now() >= deadline) return results;
        const sentAt = now();
        let answer;
        try {
          answer = await request(`${config.url}/api/v1/device/events`, {
            agent,
            method: 'POST',
            headers: {
              authorization: `Bearer ${device.credential}`,
              'content-type': 'application/x-ndjson',
              'content-encoding': 'gzip',
            },
            body: batch.gz,
            timeoutMs: 60_000,
          });
        } catch (e) {
          results.push({ sentAt, doneAt: now(), events: batch.events, stored: 0, error: e.message });
          break; // the rest of this device's chain would be a gap: on to the next device
        }
        const doneAt = now();
        if (answer.status !== 200) {
          results.push({
            sentAt,
            doneAt,
            events: batch.events,
            stored: 0,
            error: `HTTP ${answer.status}: ${answer.text.slice(0, 200)}`,
          });
          break;
        }
        const body = JSON.parse(answer.text);
        results.push({
          sentAt,
          doneAt,
          events: batch.events,
          stored: body.stored,
          duplicates: body.duplicates,
        });
      }
    }
    return results;
  } finally {
    agent.destroy();
  }
}

process.on('message', async (m) => {
  switch (m.type) {
    case 'init': {
      config = m;
      let events = 0;
      let bytes = 0;
      let gzBytes = 0;
      devices = m.devices.map((d) => {
        const sessions = deviceSessions({
          device: d.id,
          user: { id: d.userId, email: d.email },
          org: m.orgId,
          index: d.index,
          events: m.eventsPerDevice,
          perSession: m.perSession,
          fromMs: m.fromMs,
          toMs: m.toMs,
          seed: d.index + 1,
        });
        const batches = batchesOf(sessions);
        for (const b of batches) {
          events += b.events;
          bytes += b.bytes;
          gzBytes += b.gz.length;
        }
        return { ...d, batches };
      });
      process.send({
        type: 'ready',
        events,
        bytes,
        gzBytes,
        batches: devices.reduce((n, d) => n + d.batches.length, 0),
      });
      break;
    }
    case 'start': {
      const deadline = now() + BigInt(m.limitMs) * 1_000_000n;
      const cpu = process.cpuUsage();
      const lanes = await Promise.all(
        Array.from({ length: config.lanes }, (_, lane) => ship(lane, deadline)),
      );
      const batches = lanes.flat();
      process.send({
        type: 'done',
        batches: batches.map((b) => ({ ...b, sentAt: Number(b.sentAt), doneAt: Number(b.doneAt) })),
        cpu: process.cpuUsage(cpu),
      });
      break;
    }
    case 'stop':
      process.disconnect();
      break;
  }
});
