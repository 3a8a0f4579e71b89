// Activation reports are group-committed (device-queries.ts): reports that arrive together are
// stored by one transaction on either backend, and each caller hears back only once its report is
// committed. A device that reports twice in one batch keeps its later report; an error report
// keeps the device's active revision beside the error.

import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { DeviceQueries } from '../src/device-queries.js';
import { getDevice } from '../src/store/devices.js';
import { enrolDevice, seedOrg, type TokenReply } from './bundle-support.js';
import { countingTransactions, eachServer } from './harness.js';

const ISSUED = Date.parse('2026-11-01T00:00:00.000Z');

eachServer('activation reports', (harness) => {
  let devices: TokenReply[];

  before(async () => {
    const h = harness();
    const org = await seedOrg(h);
    devices = [];
    for (let i = 0; i < 6; i++) devices.push(await enrolDevice(h, org.users.alice, `laptop-${i}`));
  });

  it('reports sent together are stored by one transaction, each answered once it is stored', async () => {
    const h = harness();
    const counted = countingTransactions(h.server.db);
    const queries = new DeviceQueries(counted.db, () => h.clock.now());
    const now = h.clock.now();
    const stored = await Promise.all(
      devices.map(async (d, i) => {
        await queries.report(d.device.id, { revision: 10 + i, issuedAt: ISSUED, activatedAt: now }, now);
        // Read as soon as this caller hears back: its report is there.
        return (await getDevice(h.server.db, h.org.id, d.device.id))?.activeRevision;
      }),
    );
    assert.deepEqual(
      stored,
      devices.map((_, i) => 10 + i),
    );
    assert.equal(counted.transactions(), 1, 'one commit for the six reports');
  });

  it('a device reporting twice in one batch keeps the later report; an error keeps the active revision', async () => {
    const h = harness();
    const queries = new DeviceQueries(h.server.db, () => h.clock.now());
    const [first, second] = devices;
    assert.ok(first && second);
    const now = h.clock.now();
    await Promise.all([
      queries.report(first.device.id, { revision: 20, issuedAt: ISSUED, activatedAt: now }, now),
      queries.report(first.device.id, { revision: 21, issuedAt: ISSUED, activatedAt: now }, now),
      queries.report(second.device.id, { error: 'bad-signature: it does not verify' }, now),
    ]);
    const a = await getDevice(h.server.db, h.org.id, first.device.id);
    const b = await getDevice(h.server.db, h.org.id, second.device.id);
    assert.deepEqual([a?.activeRevision, a?.activationError], [21, null]);
    assert.deepEqual(
      [b?.activeRevision, b?.activationError, b?.reportedAt],
      [11, 'bad-signature: it does not verify', now],
      'the revision of the first test stays, with the error beside it',
    );
  });

  it('reports posted at once over HTTP are all answered 204 and all stored', async () => {
    const h = harness();
    const answers = await Promise.all(
      devices.map((d, i) =>
        fetch(`${h.server.url}/api/v1/device/activation`, {
          method: 'POST',
          headers: { authorization: `Bearer ${d.access_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ revision: 30 + i, issuedAt: new Date(ISSUED).toISOString() }),
        }).then((r) => r.status),
      ),
    );
    assert.deepEqual(
      answers,
      devices.map(() => 204),
    );
    const listed = await h.owner.get<{ devices: { id: string; revision: number | null }[] }>(
      `${h.base}/devices`,
    );
    assert.deepEqual(
      devices.map((d) => listed.body.devices.find((v) => v.id === d.device.id)?.revision),
      devices.map((_, i) => 30 + i),
    );
  });
});
