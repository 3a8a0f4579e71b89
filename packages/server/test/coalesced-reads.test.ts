// The shared reads behind a publication's thundering herd (batched.ts coalesced()): callers that
// ask together share one read, and a caller never gets a read that began before it asked.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalesced } from '../src/batched.js';

/** A read whose calls are counted and which settles when told to. */
function controlledRead(): {
  read: () => Promise<number>;
  calls: () => number;
  settle: (ok?: boolean) => void;
} {
  let calls = 0;
  const pending: { resolve: (n: number) => void; reject: (e: Error) => void; n: number }[] = [];
  return {
    read: () => {
      calls++;
      const n = calls;
      return new Promise<number>((resolve, reject) => pending.push({ resolve, reject, n }));
    },
    calls: () => calls,
    settle: (ok = true) => {
      const next = pending.shift();
      if (!next) throw new Error('no read is running');
      if (ok) next.resolve(next.n);
      else next.reject(new Error(`read ${next.n} failed`));
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('coalesced reads', () => {
  it('serves a crowd with two reads: the one running, and one that began after they asked', async () => {
    const c = controlledRead();
    const read = coalesced(c.read);
    const first = read();
    const crowd = Array.from({ length: 1000 }, () => read());
    assert.equal(c.calls(), 1, 'the crowd waits for the running read to end');
    c.settle();
    assert.equal(await first, 1);
    await tick();
    assert.equal(c.calls(), 2, 'then one read for all of them');
    c.settle();
    assert.deepEqual(new Set(await Promise.all(crowd)), new Set([2]));
    const later = read();
    assert.equal(c.calls(), 3, 'a caller after that starts its own');
    c.settle();
    assert.equal(await later, 3);
  });

  it('a failed read fails only its own callers; the next caller reads again', async () => {
    const c = controlledRead();
    const read = coalesced(c.read);
    const first = read();
    const second = read();
    c.settle(false);
    await assert.rejects(first, /read 1 failed/);
    await tick();
    c.settle(true);
    assert.equal(await second, 2, 'those who waited behind the failed read got a read of their own');
    const third = read();
    c.settle(true);
    assert.equal(await third, 3);
  });
});
