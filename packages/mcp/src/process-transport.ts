// MCP over the standard streams of a process someone else started: the gateway's sandboxed
// upstreams, whose process is bubblewrap around the server (the SDK's stdio transport spawns the
// command itself and cannot). Newline-delimited JSON-RPC, as the SDK's stdio transports speak it.

import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export type ServerProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** How long a server has to exit after its input closes, and then after SIGTERM. */
const EXIT_GRACE_MS = 2_000;

export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child: ServerProcess | undefined;
  private readonly buffer = new ReadBuffer();

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
          this.buffer.append(chunk);
          for (let m = this.buffer.readMessage(); m !== null; m = this.buffer.readMessage())
            this.onmessage?.(m);
        } catch (e) {
          // A line that is not JSON-RPC: the server is broken or hostile; drop the connection.
          this.onerror?.(e instanceof Error ? e : new Error(String(e)));
          void this.close();
        }
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('the server process is not running'));
    return new Promise((resolve) => {
      if (child.stdin.write(serializeMessage(message))) resolve();
      else child.stdin.once('drain', () => resolve());
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.buffer.clear();
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((done) => child.once('close', () => done()));
    const waited = (): Promise<void> =>
      Promise.race([closed, new Promise<void>((done) => setTimeout(done, EXIT_GRACE_MS).unref())]);
    child.stdin.end();
    await waited();
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await waited();
    }
  }
}
