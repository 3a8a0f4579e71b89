// Reading a request body for inspection (http-message.ts): decoded from its content coding within
// the same bound as it came, without holding up the event loop while a large body is decoded.

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { readInspectableBody } from '../src/http-message.js';

/** A request body as readInspectableBody reads one: a stream with headers. */
function body(bytes: Buffer, contentEncoding?: string): IncomingMessage {
  const headers = contentEncoding === undefined ? {} : { 'content-encoding': contentEncoding };
  return Object.assign(Readable.from([bytes]), { headers }) as unknown as IncomingMessage;
}

describe('readInspectableBody', () => {
  it('decodes gzip, deflate and br; an unknown coding, a broken body or too much decoded is 415', async () => {
    const text = Buffer.from('{"note":"hello"}');
    for (const [coding, bytes] of [
      ['gzip', gzipSync(text)],
      ['x-gzip', gzipSync(text)],
      ['deflate', deflateSync(text)],
      ['br', brotliCompressSync(text)],
      ['identity', text],
    ] as const) {
      const read = await readInspectableBody(body(bytes, coding));
      assert.ok(!('status' in read), coding);
      assert.equal(read.decoded.toString(), text.toString(), coding);
      assert.equal(read.raw.length, bytes.length, coding);
    }
    const unknown = await readInspectableBody(body(text, 'compress'));
    assert.equal('status' in unknown && unknown.status, 415);
    const broken = await readInspectableBody(body(text, 'gzip'));
    assert.equal('status' in broken && broken.status, 415);
    // A small body that decodes past the limit (a zip bomb) is refused, not decoded whole.
    const bomb = await readInspectableBody(body(gzipSync(Buffer.alloc(64 * 1024)), 'gzip'), 4096);
    assert.equal('status' in bomb && bomb.status, 415);
    const large = await readInspectableBody(body(Buffer.alloc(8192), 'identity'), 4096);
    assert.equal('status' in large && large.status, 413);
  });

  it('the event loop keeps turning while a large body is decoded', async () => {
    // 16 MiB of zeros: about 16 KiB gzip-compressed, long enough to decode to be seen blocking.
    const compressed = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    let turns = 0;
    let isDone = false;
    const turn = (): void => {
      turns += 1;
      if (!isDone) setImmediate(turn);
    };
    setImmediate(turn);
    const read = await readInspectableBody(body(compressed, 'gzip'));
    isDone = true;
    assert.ok(!('status' in read));
    assert.equal(read.decoded.length, 16 * 1024 * 1024);
    // A synchronous decode gives the loop no turn from the first byte to the last; the thread
    // pool's decodes one chunk per turn.
    assert.ok(turns > 50, `the loop turned ${turns} times while the body was read and decoded`);
  });
});
