// A Stripe key cut by what a reader does not see, for the tests of hidden characters and terminal
// control sequences: one place, so that both cut it and judge the finding the same way.

import assert from 'node:assert/strict';
import { scan } from '../src/index.js';
import { asLatin1 } from './encodings.js';
import { found } from './found.js';

export const KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
export const keyFingerprint = scan(KEY)[0]?.fingerprint;

/** `s` with `inside` put after its `at`-th character. */
export const cut = (s: string, inside: string, at = 12): string => `${s.slice(0, at)}${inside}${s.slice(at)}`;

/**
 * That `key: <KEY cut by inside>`, as written and in UTF-8 read as Latin-1 (how the egress proxy
 * reads a body), holds no finding without decoding, and with it the key whole: high, its own
 * fingerprint, under `hidden`, over the key and what cuts it.
 */
export function assertCutKeyFound(inside: string): void {
  for (const text of [`key: ${cut(KEY, inside)}\n`, asLatin1(`key: ${cut(KEY, inside)}\n`)]) {
    assert.deepEqual(scan(text), [], 'no rule matches across the cut');
    assert.deepEqual(
      found(text),
      [['stripe-key', 'high', keyFingerprint, 'hidden', text.slice(5, -1)]],
      JSON.stringify(text),
    );
  }
}
