// limits: the resource limits of sandboxed sessions (sandbox.md case 57): sizes as written,
// errors that name the key, and layering where only the smallest value holds.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSize, parseSize } from '../src/index.js';
import { assertLoadError, engineFrom } from './helpers.js';

describe('parseSize', () => {
  const cases: readonly [number | string, number | undefined][] = [
    [4096, 4096],
    ['4096', 4096],
    ['512MiB', 512 * 2 ** 20],
    ['2GiB', 2 * 2 ** 30],
    ['2 gib', 2 * 2 ** 30],
    ['1G', 1e9],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['800k', 800_000],
    ['1TiB', 2 ** 40],
    ['', undefined],
    ['2 GB of RAM', undefined],
    ['-1', undefined],
    ['1e9', undefined],
    ['12XB', undefined],
    [-5, undefined],
    [1.5, undefined],
  ];
  for (const [text, bytes] of cases)
    it(`${JSON.stringify(text)} is ${bytes ?? 'not a size'}`, () => assert.equal(parseSize(text), bytes));

  it('formats the largest whole binary unit, or one decimal', () => {
    assert.equal(formatSize(2 * 2 ** 30), '2 GiB');
    assert.equal(formatSize(1.5 * 2 ** 20), '1.5 MiB');
    assert.equal(formatSize(512), '512 bytes');
  });
});

describe('limits', () => {
  it('are absent when no policy sets them (the sandbox applies its defaults)', () => {
    assert.deepEqual(engineFrom('network: {}').sessionLimits(), {});
  });

  it('are read with their sizes in bytes', () => {
    const engine = engineFrom(`
      limits:
        processes: 256
        tmp: 512MiB
        openFiles: 4096
        fileSize: 1GiB
        memory: 8GiB
    `);
    assert.deepEqual(engine.sessionLimits(), {
      processes: 256,
      tmpBytes: 512 * 2 ** 20,
      openFiles: 4096,
      fileSizeBytes: 2 ** 30,
      memoryBytes: 8 * 2 ** 30,
    });
  });

  it('take the smallest value in force for each limit, whichever layer says it', () => {
    const engine = engineFrom([
      'limits: { processes: 4096, tmp: 1GiB }',
      'limits: { processes: 128, memory: 4GiB }',
      'limits: { tmp: 2GiB, memory: 16GiB }',
    ]);
    assert.deepEqual(engine.sessionLimits(), { processes: 128, tmpBytes: 2 ** 30, memoryBytes: 4 * 2 ** 30 });
  });

  it('a size that is not one is an error naming it and how to write one', () => {
    const d = assertLoadError('limits: { tmp: lots }', 'bad-size');
    assert.match(d.message, /"lots" is not a size/);
    assert.match(d.hint ?? '', /512MiB/);
  });

  it('a size below the least that makes sense is an error', () => {
    const d = assertLoadError('limits: { memory: 1MiB }', 'bad-size');
    assert.match(d.message, /limits\.memory is 1 MiB, below the least it may be \(64 MiB\)/);
  });

  it('process and open-file counts outside their range, and unknown keys, are errors', () => {
    assertLoadError('limits: { processes: 3 }', 'too-small');
    assertLoadError('limits: { openFiles: 10 }', 'too-small');
    assertLoadError('limits: { cpus: 2 }', 'unknown-key');
  });
});
