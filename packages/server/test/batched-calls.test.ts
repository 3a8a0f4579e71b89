// Batched calls (batched.ts), what devices' reads and reports, and SQLite's grouped uploads, go
// through: callers of one turn share one run, callers that ask while the runs allowed are under way
// share the next, no more runs overlap than allowed, a run never began before one of its callers
// asked, a run takes what fits its size, and a failed run (or a key's own failure) fails only its
// own callers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batched, Failure } from '../src/batched.js';

/** A run whose calls are recorded (the keys each got) and which settles when told to. */
function controlledRun(): {
  run: (keys: readonly number[]) => Promise<readonly string[]>;
  runs: () => (readonly number[])[];
  running: () => number;
  settle: (ok?: boolean) => void;
} {
  const runs: (readonly number[])[] = [];
  const pending: { keys: readonly number[]; resolve: (v: string[]) => void; reject: (e: Error) => void }[] =
    [];
  return {
    run: (keys) => {
      runs.push(keys);
      return new Promise<string[]>((resolve, reject) => pending.push({ keys, resolve, reject }));
    },
    runs: () => runs,
    running: () => pending.length,
    settle: (ok = true) => {
      const next = pending.shift();
      if (!next) throw new Error('no run is under way');
      if (ok) next.resolve(next.keys.map((k) => `value of ${k} from run ${runs.indexOf(next.keys) + 1}`));
      else next.reject(new Error(`run ${runs.indexOf(next.keys) + 1} failed`));
    },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits a few turns of the event loop for a run to be under way. */
async function aRunStarts(c: { running: () => number }): Promise<void> {
  for (let i = 0; i < 10 && c.running() === 0; i++) await turn();
  assert.equal(c.running(), 1, 'a run is under way');
}

describe('batched calls', () => {
  it('a crowd of one turn shares one run; those who ask during it share the next, which starts after it', async () => {
    const c = controlledRun();
    const call = batched(c.run, { maxBatch: 10_000 });
    const crowd = Array.from({ length: 1000 }, (_, i) => call(i));
    assert.equal(c.runs().length, 0, 'the run waits for the turn to end, so the whole crowd is in it');
    await turn();
    assert.equal(c.runs().length, 1);
    assert.equal(c.runs()[0]?.length, 1000);
    const late = [call(1000), call(1001)];
    await turn();
    assert.equal(c.running(), 1, 'no second run while the first is under way');
    c.settle();
    assert.deepEqual(await Promise.all(crowd.slice(0, 2)), [
      'value of 0 from run 1',
      'value of 1 from run 1',
    ]);
    await aRunStarts(c);
    assert.deepEqual(
      c.runs()[1],
      [1000, 1001],
      'the late callers, together, in a run begun after they asked',
    );
    c.settle();
    assert.deepEqual(await Promise.all(late), ['value of 1000 from run 2', 'value of 1001 from run 2']);
  });

  it('takes at most maxBatch keys a run, in the order they were asked for', async () => {
    const c = controlledRun();
    const call = batched(c.run, { maxBatch: 4 });
    const all = Array.from({ length: 10 }, (_, i) => call(i));
    for (let i = 0; i < 3; i++) {
      await aRunStarts(c);
      c.settle();
    }
    assert.deepEqual(c.runs(), [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    assert.equal((await Promise.all(all)).length, 10);
  });

  it('a failed run fails only its own callers; the next run serves the rest', async () => {
    const c = controlledRun();
    const call = batched(c.run, { maxBatch: 10_000 });
    const first = call(1);
    await turn();
    const second = call(2);
    c.settle(false);
    await assert.rejects(first, /run 1 failed/);
    await aRunStarts(c);
    c.settle();
    assert.equal(await second, 'value of 2 from run 2');
  });

  it('with maxInFlight 2, callers of a later turn start a second run beside the first; a third waits for one to end', async () => {
    const c = controlledRun();
    const call = batched(c.run, { maxBatch: 10_000, maxInFlight: 2 });
    const first = call(1);
    await aRunStarts(c);
    const second = call(2);
    await turn();
    assert.equal(c.running(), 2, 'the second run is under way beside the first');
    const third = [call(3), call(4)];
    await turn();
    assert.equal(c.running(), 2, 'no third run while two are under way');
    c.settle();
    assert.equal(await first, 'value of 1 from run 1');
    for (let i = 0; i < 10 && c.runs().length < 3; i++) await turn();
    assert.deepEqual(c.runs(), [[1], [2], [3, 4]], 'the waiting callers, together, once a run ended');
    c.settle();
    c.settle();
    assert.equal(await second, 'value of 2 from run 2');
    assert.deepEqual(await Promise.all(third), ['value of 3 from run 3', 'value of 4 from run 3']);
  });

  it('with sizeOf, a run takes the callers that waited longest while their sizes fit maxBatch, and at least one', async () => {
    const c = controlledRun();
    const call = batched(c.run, { maxBatch: 10, sizeOf: (key) => key });
    const all = [12, 3, 4, 3, 6, 4].map((key) => call(key));
    for (let i = 0; i < 3; i++) {
      await aRunStarts(c);
      c.settle();
    }
    assert.deepEqual(
      c.runs(),
      [[12], [3, 4, 3], [6, 4]],
      'a key larger than maxBatch runs alone; then 3 + 4 + 3 fit, 6 does not',
    );
    assert.equal((await Promise.all(all)).length, 6);
  });

  it("a Failure answered for a key fails its caller alone; the run's other callers get their values", async () => {
    const call = batched(
      (keys: readonly number[]) =>
        Promise.resolve(
          keys.map((k) => (k === 2 ? new Failure(new Error(`key ${k} failed`)) : `value of ${k}`)),
        ),
      { maxBatch: 10 },
    );
    const [one, two, three] = [call(1), call(2), call(3)];
    await assert.rejects(two, /key 2 failed/);
    assert.deepEqual(await Promise.all([one, three]), ['value of 1', 'value of 3']);
  });
});
