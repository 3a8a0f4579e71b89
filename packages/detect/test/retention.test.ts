// A scan keeps nothing of the text it scanned once it returns: the text may be a tool call of
// megabytes, secrets and all. Measured on the heap after a collection, not timed.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { scan } from '../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const MB = 1024 * 1024;

void it('a scan holds no part of its text after it returns (the name of an assignment judged last)', () => {
  gc();
  const before = process.memoryUsage().heapUsed;
  // In a function of its own: nothing here refers to the text once it returns.
  ((): void => {
    const text = `${'q'.repeat(32 * MB)} my_database_password = "Tr0ub4dor&3xyz"`;
    assert.deepEqual(
      scan(text).map((f) => f.rule),
      ['password-assignment'],
    );
  })();
  // V8 keeps the subject of the last regex match until the next one: that one is not detect's.
  assert.ok(/q/.test('q'));
  gc();
  const held = process.memoryUsage().heapUsed - before;
  assert.ok(held < 8 * MB, `${(held / MB).toFixed(1)} MiB held after the scan`);
});
