// The relay of a call's progress (src/progress.ts) on its own: in order, each message screened,
// nothing after the end, and a server reporting faster than its reports are screened and sent holds
// no more than a bounded number of them waiting, the latest kept.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESSAGE, ProgressRelay, type ProgressNotification } from '../src/progress.js';
import { deferred, until } from './gateway-harness.js';

describe('progress relay', () => {
  it("mcp-progress-5: reports go in order under the client's token, each message as screened, none after the end", async () => {
    const sent: ProgressNotification['params'][] = [];
    const relay = new ProgressRelay(
      'client-7',
      (m) => Promise.resolve(m.includes('secret') ? undefined : m.toUpperCase()),
      (n) => {
        sent.push(n.params);
        return Promise.resolve();
      },
    );
    relay.onprogress({ progress: 1, total: 3, message: 'start' });
    relay.onprogress({ progress: 2, message: 'a secret' });
    relay.onprogress({ progress: 3, total: 3 });
    await relay.end();
    relay.onprogress({ progress: 4 });
    await relay.end();
    assert.deepEqual(sent, [
      { progressToken: 'client-7', progress: 1, total: 3, message: 'START' },
      { progressToken: 'client-7', progress: 2 },
      { progressToken: 'client-7', progress: 3, total: 3 },
    ]);
    assert.deepEqual(relay.counts(), { progress: 3, progress_withheld: 1 });
  });

  it('mcp-progress-6: a screen that fails leaves the message out; a send that fails is not counted', async () => {
    let sends = 0;
    const relay = new ProgressRelay(
      1,
      () => Promise.reject(new Error('scan pool gone')),
      () => (++sends === 1 ? Promise.reject(new Error('client gone')) : Promise.resolve()),
    );
    relay.onprogress({ progress: 1, message: 'one' });
    relay.onprogress({ progress: 2, message: 'two' });
    await relay.end();
    assert.equal(sends, 2);
    assert.deepEqual(
      relay.counts(),
      { progress: 1, progress_withheld: 2 },
      'the send that failed is not counted',
    );
  });

  it('mcp-progress-7: a server reporting faster than reports are screened holds 32 waiting at most, the latest kept', async () => {
    const gate = deferred<void>();
    const sent: number[] = [];
    const relay = new ProgressRelay(
      't',
      async (m) => {
        await gate.promise;
        return m;
      },
      (n) => {
        sent.push(n.params.progress);
        return Promise.resolve();
      },
    );
    for (let i = 1; i <= 1_000; i++) relay.onprogress({ progress: i, message: `step ${i}` });
    gate.resolve();
    await relay.end();
    // The first, in its screen when the rest came; 31 more in order; the 32nd place the latest's.
    assert.deepEqual(sent, [1, ...Array.from({ length: 31 }, (_, i) => i + 2), 1_000]);
    assert.deepEqual(relay.counts(), { progress: 33, progress_replaced: 1_000 - 33 });
  });

  it('mcp-progress-9: past a burst of 32, reports go at 10 a second, the latest kept; the end sends what waits at once', async () => {
    const sent: number[] = [];
    const relay = new ProgressRelay(
      't',
      (m) => Promise.resolve(m),
      (n) => {
        sent.push(n.params.progress);
        return Promise.resolve();
      },
    );
    for (let i = 1; i <= 40; i++) relay.onprogress({ progress: i });
    await until(() => sent.length >= 32, 'the burst to be sent');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sent.length, 32, 'no more than the burst before the rate lets one more go');
    await until(() => sent.length === 33, 'the next report, at the rate');
    assert.equal(sent.at(-1), 40, 'the latest report, in the last place waiting');
    relay.onprogress({ progress: 41 });
    relay.onprogress({ progress: 42 });
    await relay.end();
    assert.deepEqual(sent.slice(33), [41, 42], 'sent at the end, whatever the rate');
  });

  it(`mcp-progress-10: a message longer than ${MAX_MESSAGE} characters is left out unread, the numbers sent`, async () => {
    const screened: string[] = [];
    const sent: ProgressNotification['params'][] = [];
    const relay = new ProgressRelay(
      't',
      (m) => {
        screened.push(m);
        return Promise.resolve(m);
      },
      (n) => {
        sent.push(n.params);
        return Promise.resolve();
      },
    );
    relay.onprogress({ progress: 1, message: 'x'.repeat(MAX_MESSAGE + 1) });
    relay.onprogress({ progress: 2, message: 'short' });
    await relay.end();
    assert.deepEqual(screened, ['short']);
    assert.deepEqual(sent, [
      { progressToken: 't', progress: 1 },
      { progressToken: 't', progress: 2, message: 'short' },
    ]);
    assert.deepEqual(relay.counts(), { progress: 2, progress_withheld: 1 });
  });

  it('mcp-progress-11: each message is screened after the end of those sent before it', async () => {
    const befores: string[] = [];
    const relay = new ProgressRelay(
      't',
      (m, before) => {
        befores.push(before);
        return Promise.resolve(m === 'b' ? undefined : m);
      },
      () => Promise.resolve(),
    );
    for (const message of ['a', 'b', 'c', 'd']) relay.onprogress({ progress: 1, message });
    await relay.end();
    assert.deepEqual(befores, ['', 'a', 'a', 'ac'], 'a message left out is not part of what was sent');
  });
});
