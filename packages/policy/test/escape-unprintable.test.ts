// escapeUnprintable() (src/host.ts): the one escaping behind every line a person reads of what a
// client, server or device wrote (the CLI's audit lines, the server's error messages).

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { escapeUnprintable } from '../src/index.js';

it('escapes C0, DEL, C1, the line and paragraph separators and the bidirectional controls as \\uXXXX', () => {
  const ESCAPED: [string, string][] = [
    ['\u0000', '\\u0000'],
    ['\n', '\\u000a'],
    ['\u001b[2J', '\\u001b[2J'],
    ['\u007f', '\\u007f'],
    ['\u0085', '\\u0085'],
    ['\u009b31m', '\\u009b31m'],
    ['\u009f', '\\u009f'],
    ['a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
    ['\u061c\u200e\u200f', '\\u061c\\u200e\\u200f'],
    ['\u202a\u202b\u202c\u202d\u202e', '\\u202a\\u202b\\u202c\\u202d\\u202e'],
    ['\u2066\u2067\u2068\u2069', '\\u2066\\u2067\\u2068\\u2069'],
  ];
  for (const [text, shown] of ESCAPED) assert.equal(escapeUnprintable(text), shown, JSON.stringify(text));
});

it('leaves printable text as it is, in any script, quotes and backslashes too', () => {
  for (const text of ['plain', 'a "quoted" \\ path', 'café ü ß', 'שלום', '日本語', '\u00a0\u00a0', '😀'])
    assert.equal(escapeUnprintable(text), text);
});
