// MCP over the standard streams of a process someone else started: the gateway's sandboxed
// upstreams, whose process is bubblewrap around the server (the SDK's stdio transport spawns the
// command itself and cannot), and every other stdio upstream, spawned directly. Newline-delimited
// JSON-RPC, as the SDK's stdio transports speak it. What is owed to a server is bounded: one that
// stops reading its input is ended, never waited for (redteam-36-1).

import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export type ServerProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** How long a server has to exit after its input closes, and then after SIGTERM. */
const EXIT_GRACE_MS = 2_000;
/**
 * The most bytes written to a server and not yet taken by its pipe before another message is
 * written. Past it the server has stopped reading (or reads far slower than it is written to): it
 * is ended as misbehaving. Before the bound, a server that sent pings as fast as its pipe took
 * them and never read the answers grew the gateway by 150 MB/s until V8 aborted, taking every
 * other server and client down (redteam-36-1). 4 MiB is some 100,000 answers to pings, or a
 * hundred ordinary calls waiting at once; one message larger than it (a client's argument may be
 * up to 10 MiB) still goes to a server that has taken what came before.
 */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child: ServerProcess | undefined;
  private readonly buffer = new ReadBuffer();
  /** Why the transport ended the server itself, when it did (onclose then follows). */
  endedBecause: string | undefined;

  /** `launch` starts the process when start() is called; its standard error goes to `onStderr`. */
  constructor(
    private readonly launch: () => ServerProcess,
    private readonly onStderr: (chunk: Buffer) => void = () => {},
  ) {}

  start(): Promise<void> {
    if (this.child) return Promise.reject(new Error('the server process is already started'));
    return new Promise((resolve, reject) => {
      const child = this.launch();
      this.child = child;
      child.once('error', (e) => {
        reject(e);
        this.onerror?.(e);
      });
      child.once('spawn', () => resolve());
      child.once('close', () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stderr.on('data', this.onStderr);
      child.stdin.on('error', (e) => this.onerror?.(e));
      child.stdout.on('error', (e) => this.onerror?.(e));
      child.stdout.on('data', (chunk: Buffer) => {
        try {
          // Closed or closing: what it still says is for nobody (a flood is not parsed to the end).
          if (this.child !== child) return;
          this.buffer.append(chunk);
          for (
            let m = this.buffer.readMessage();
            m !== null && this.child === child;
            m = this.buffer.readMessage()
          )
            this.onmessage?.(m);
        } catch (e) {
          // A line that is not JSON-RPC: the server is broken or hostile; drop the connection.
          this.onerror?.(e instanceof Error ? e : new Error(String(e)));
          void this.close();
        }
      });
    });
  }

  /**
   * Queues `message` for the server: sent once queued, since what is queued is bounded (waiting for
   * each message to drain kept one listener and one answer per message, however many). A server
   * owed more than MAX_UNREAD_BYTES is ended, and the message fails.
   */
  send(message: JSONRPCMessage): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('the server process is not running'));
    if (child.stdin.writableLength > MAX_UNREAD_BYTES) {
      const why = `stopped reading its input with more than ${MAX_UNREAD_BYTES / 1024 / 1024} MiB waiting for it, and was ended`;
      this.endedBecause ??= why;
      void this.end(child, false);
      return Promise.reject(new Error(`the MCP server ${why}`));
    }
    child.stdin.write(serializeMessage(message));
    return Promise.resolve();
  }

  close(): Promise<void> {
    const child = this.child;
    return child ? this.end(child, true) : Promise.resolve();
  }

  /**
   * Ends `child`: `politely`, its input closed first and time given to exit; else what it was
   * owed is dropped, it is read no more, and it is signalled at once.
   */
  private async end(child: ServerProcess, politely: boolean): Promise<void> {
    this.child = undefined;
    this.buffer.clear();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((done) => child.once('close', () => done()));
    const waited = (): Promise<void> =>
      Promise.race([closed, new Promise<void>((done) => setTimeout(done, EXIT_GRACE_MS).unref())]);
    if (politely) {
      child.stdin.end();
      await waited();
    } else {
      child.stdin.destroy();
      child.stdout.destroy();
    }
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await waited();
    }
  }
}
