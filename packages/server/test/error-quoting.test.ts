// What an error quotes of what a client wrote: short, on one line, and escaped (quoting.ts), and
// how many problems a 400 lists (http/body.ts validate).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { z } from 'zod';
import { ApiError } from '../src/http/api-error.js';
import { validate } from '../src/http/body.js';
import { quoted, someKeys } from '../src/quoting.js';

it('redteam-31-1: a quoted key keeps to one line: quotes, backslashes, line breaks and terminal escapes are escaped as JSON escapes them', () => {
  assert.equal(quoted('a"b\\c\nd\r\u001b]0;pwned\u0007'), 'a\\"b\\\\c\\nd\\r\\u001b]0;pwned\\u0007');
  assert.equal(quoted('plain-key'), 'plain-key');
  assert.match(quoted(`${'\n'.repeat(100)}`), /^(\\n){40}…\[cut: 100 bytes, sha256 [0-9a-f]{16}\]$/);
});

it('a quoted key has what JSON leaves as it is but a terminal acts on escaped: C1 (CSI), DEL, line and paragraph separators, bidirectional controls', () => {
  assert.equal(quoted('a\u009b31mb\u2028c\u202ed\u007f'), 'a\\u009b31mb\\u2028c\\u202ed\\u007f');
  assert.equal(quoted('\u2029\u2066x\u2069'), '\\u2029\\u2066x\\u2069');
});

it('someKeys names three keys and counts the rest', () => {
  assert.equal(
    someKeys(['a', 'b'], (k) => `"${k}"`),
    '"a", "b"',
  );
  assert.equal(
    someKeys(['a', 'b', 'c', 'd', 'e'], (k) => `"${k}"`),
    '"a", "b", "c" and 2 more',
  );
});

/** The 400 that validating `body` against a list of `{ n: number }` makes. */
function refusal(body: unknown): ApiError {
  try {
    validate(z.array(z.strictObject({ n: z.number() })), body, 'body');
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  return assert.fail('the body was valid');
}

it('redteam-31-1: a body with thousands of problems lists the first 20 of them in details, and how many there were', () => {
  const many = refusal(Array.from({ length: 5_000 }, () => ({ n: 'not a number' })));
  assert.equal(many.message, '"[0].n" must be a number');
  const details = many.details as { issues: unknown[]; issue_count?: number };
  assert.equal(details.issues.length, 20);
  assert.equal(details.issue_count, 5_000);
  assert.ok(JSON.stringify(details).length < 4_000);
  // A body with few problems lists them all, with no count.
  assert.deepEqual(refusal([{ n: 'x' }]).details, {
    issues: [{ path: '[0].n', message: '"[0].n" must be a number' }],
  });
});
