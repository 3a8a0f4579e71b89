// What a stdio server is owed is bounded (redteam-36-1): a server that stops reading its input is
// ended once more than `maxUnread` has waited for it `stallMs`, and one owed more than `maxOwed`
// at once; a server that reads, however slowly, is not. Small limits here, real child processes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { MessageLines, ProcessTransport, type OwedLimits } from '../src/process-transport.js';
import { until } from './gateway-harness.js';
import { bytesLookedAt } from './stand-in.js';

const LIMITS: OwedLimits = { maxUnread: 256 * 1024, stallMs: 300, maxOwed: 4 * 1024 * 1024 };
/** A notification of about `bytes` bytes on the wire. */
const message = (bytes: number): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { level: 'info', data: 'x'.repeat(bytes) },
});

/** A transport over `node -e CODE`, ended when the test ends; `closed` once its process is gone. */
async function over(
  t: TestContext,
  code: string,
): Promise<{
  readonly transport: ProcessTransport;
  readonly closed: () => boolean;
  readonly stderr: () => string;
}> {
  let isClosed = false;
  let stderr = '';
  const transport = new ProcessTransport(
    () => spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'pipe'] }),
    (chunk) => (stderr += chunk.toString()),
    LIMITS,
  );
  transport.onclose = () => (isClosed = true);
  transport.onerror = () => {};
  await transport.start();
  t.after(() => transport.close());
  return { transport, closed: () => isClosed, stderr: () => stderr };
}

/** Reads nothing, ever (for at most a minute). */
const DEAF = 'process.stdin.pause(); setTimeout(() => {}, 60_000);';

void describe('a stdio server is owed a bounded amount', () => {
  void it('redteam-36-1: a server that reads nothing while owed more than maxUnread is ended once stallMs has passed, and says why', async (t) => {
    const { transport, closed } = await over(t, DEAF);
    for (let i = 0; i < 4; i++) await transport.send(message(128 * 1024));
    assert.equal(transport.endedBecause, undefined, 'not ended before stallMs has passed');
    await until(closed, 'the deaf server ended');
    assert.equal(
      transport.endedBecause,
      'stopped reading its input (more than 0.25 MiB waited for it 0.3 s), and was ended',
    );
    await assert.rejects(transport.send(message(10)), /not running/);
  });

  void it('redteam-36-1: a server owed more than maxOwed is ended at once, and the message fails', async (t) => {
    const { transport, closed } = await over(t, DEAF);
    let accepted = 0;
    let refused: Error | undefined;
    for (let i = 0; i < 10 && refused === undefined; i++)
      await transport.send(message(1024 * 1024)).then(
        () => accepted++,
        (e: Error) => (refused = e),
      );
    assert.ok(accepted >= 4, `4 MiB is owed before a message is refused (${accepted} were sent)`);
    assert.match(refused?.message ?? 'none refused', /^the MCP server was owed more than 4 MiB/);
    assert.match(
      transport.endedBecause ?? '',
      /^was owed more than 4 MiB of input it had not taken, and was ended$/,
    );
    await until(closed, 'the server ended');
  });

  void it('a server that writes a line that is not JSON-RPC, or one longer than 10 MiB, is ended and its end says which', async (t) => {
    for (const [code, why] of [
      [
        "process.stdout.write('not a message\\n'); setTimeout(() => {}, 60_000);",
        'sent a line that is not a JSON-RPC message',
      ],
      [
        "process.stdout.write('x'.repeat(11 * 1024 * 1024)); setTimeout(() => {}, 60_000);",
        'sent a line longer than 10 MiB',
      ],
    ] as const) {
      const { transport, closed } = await over(t, code);
      await until(closed, `the server that ${why} ended`);
      assert.equal(transport.endedBecause, `${why}, and was ended`);
    }
  });

  void it('a server that reads slowly, though owed more than maxUnread for longer than stallMs, is not ended and gets everything', async (t) => {
    // At most 64 KiB every 50 ms (1 MiB takes 0.8 s at least: the stall check looks while it
    // reads); says on stderr how much it has got after each read.
    const { transport, closed, stderr } = await over(
      t,
      `let got = 0; process.stdin.on('data', (c) => { got += c.length; process.stderr.write(got + '\\n'); process.stdin.pause(); setTimeout(() => process.stdin.resume(), 50); });`,
    );
    let sent = 0;
    for (let i = 0; i < 8; i++) {
      const m = message(128 * 1024);
      sent += JSON.stringify(m).length + 1;
      await transport.send(m);
    }
    const got = (): string => stderr().trimEnd().split('\n').at(-1) ?? '';
    await until(() => closed() || got() === String(sent), 'the slow reader given everything, or ended');
    assert.equal(transport.endedBecause, undefined);
    assert.equal(got(), String(sent));
  });
});

void describe("a stdio server's output", () => {
  /** The messages of `chunks` read one after the other. */
  const read = (lines: MessageLines, chunks: readonly Buffer[]): JSONRPCMessage[] =>
    chunks.flatMap((chunk) => [...lines.messages(chunk)]);

  void it('is read as whole lines, however the pipe cuts them', () => {
    const text = [message(10), { jsonrpc: '2.0', id: 7, result: { text: 'caf\u00e9 \u{1F600}' } }, message(3)]
      .map((m) => JSON.stringify(m))
      .join('\r\n');
    const bytes = Buffer.from(`${text}\n`);
    const whole = read(new MessageLines(), [bytes]);
    assert.equal(whole.length, 3);
    assert.deepEqual((whole[1] as { result: unknown }).result, { text: 'caf\u00e9 \u{1F600}' });
    // Cut at every byte, a character's bytes too.
    const cut = read(
      new MessageLines(),
      Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)),
    );
    assert.deepEqual(cut, whole);
  });

  void it('is bounded: a line longer than its bound throws', () => {
    const lines = new MessageLines(1024);
    assert.throws(() => read(lines, [Buffer.alloc(600, 0x61), Buffer.alloc(600, 0x61)]), /longer than/);
    assert.throws(
      () => read(lines, [Buffer.alloc(600, 0x61), Buffer.from(`${'a'.repeat(600)}\n`)]),
      /longer than/,
    );
    assert.equal(read(lines, [Buffer.from(`${JSON.stringify(message(900))}\n`)]).length, 1);
  });

  void it('looks at each byte of a long line once, however many chunks bring it', () => {
    // 9 MiB in the pipe's chunks of 64 KiB: the SDK's ReadBuffer joined and searched all it held
    // again for each, some 660 MiB copied and as much searched.
    const bytes = Buffer.from(`${JSON.stringify(message(9 * 1024 * 1024))}\n`);
    const chunks = Array.from({ length: Math.ceil(bytes.length / 65_536) }, (_, i) =>
      bytes.subarray(i * 65_536, (i + 1) * 65_536),
    );
    let got: JSONRPCMessage[] = [];
    const { copied, searched } = bytesLookedAt(() => (got = read(new MessageLines(), chunks)));
    assert.equal(got.length, 1);
    // Joined once, searched once (each at least once: the stand-ins count).
    const isOnce = (n: number): boolean => n >= bytes.length - 1 && n <= bytes.length;
    assert.ok(isOnce(copied), `${copied} bytes copied for a line of ${bytes.length}`);
    assert.ok(isOnce(searched), `${searched} bytes searched for a line of ${bytes.length}`);
  });
});
