// The agent's side of `perimeter mcp` over stdio: the transport serveStdio is given in place of
// the SDK's StdioServerTransport, whose ReadBuffer joined each chunk onto all it held and searched
// it all again for a newline, so an agent's 9 MiB request line cost the gateway's only thread
// 0.4 s (2 s once). The lines are read with MessageLines, as the upstreams' are (each byte looked
// at once, a line bounded at 10 MiB); each is parsed with the server SDK's own deserializeMessage,
// so serveStdio gets the very messages its own transport would give it. Otherwise it does what
// that transport does: the input's end closes it, a line that is not a message is reported and
// skipped, and a send waits while the output is full. Unlike it, closing ends the input (close()),
// and while the output is full the input is not read (send()).

import type { Readable, Writable } from 'node:stream';
import {
  deserializeMessage,
  ProtocolErrorCode,
  serializeMessage,
  type JSONRPCMessage,
  type Transport,
} from '@modelcontextprotocol/server';
import { jsonStructure } from './json-structure.js';
import { MessageLines, UnreadableLine } from './process-transport.js';

export class AgentTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  private readonly lines: MessageLines;
  private isStarted = false;
  private isClosed = false;
  /** While the output is full: settled when it drains (or the transport closes), for every send. */
  private drained: Promise<void> | undefined;
  private stopWaiting: (why: Error) => void = () => undefined;

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
    maxLine?: number,
  ) {
    this.lines = new MessageLines(maxLine);
  }

  start(): Promise<void> {
    if (this.isStarted) return Promise.reject(new Error('the agent transport is already started'));
    this.isStarted = true;
    if (this.input.readableEnded || this.input.destroyed) setImmediate(this.ended);
    this.input.on('data', this.read);
    this.input.on('error', this.inputFailed);
    this.input.on('end', this.ended);
    this.input.on('close', this.ended);
    // Stays on once closed: a late write's error (EPIPE) is swallowed, never thrown uncaught.
    this.output.on('error', this.outputFailed);
    this.output.on('close', this.ended);
    return Promise.resolve();
  }

  private readonly read = (chunk: Buffer): void => {
    try {
      for (const line of this.lines.lines(chunk)) {
        if (this.isClosed) return;
        // redteam-37-4: its structure bounded before it is parsed, as over HTTP.
        const { problem, requestId } = jsonStructure(line);
        if (problem !== undefined) {
          this.refuse(problem, requestId);
          continue;
        }
        let message: JSONRPCMessage;
        try {
          message = deserializeMessage(line);
        } catch {
          // As the SDK's transport does, the line is dropped and the next one read (the agent's
          // next request is answered). Reported whatever it was: the SDK's reported a line of JSON
          // that is not JSON-RPC, and dropped one that is not JSON without a word.
          this.onerror?.(
            new Error('the MCP client sent a line that is not a JSON-RPC message; it was skipped'),
          );
          continue;
        }
        this.onmessage?.(message);
      }
    } catch (e) {
      if (!(e instanceof UnreadableLine)) throw e;
      // Longer than the bound: the SDK's transport ends the connection too. Nothing of the line
      // can be answered (its id is in bytes not kept), and what follows it is not known to be a
      // message's start. close() ends the input, so `perimeter mcp` ends and the client sees it
      // exit, where waiting would leave its request unanswered for good.
      this.onerror?.(new Error(`the MCP client ${e.why}; the connection is closed`));
      void this.close();
    }
  };

  /** A message too large to parse: reported, and its request, when it names one, answered with why. */
  private refuse(problem: string, id: string | number | undefined): void {
    this.onerror?.(new Error(`the MCP client sent a message that ${problem}; it was refused`));
    const error = {
      code: ProtocolErrorCode.InvalidRequest,
      message: `Invalid Request: the message ${problem}`,
    };
    if (id !== undefined) this.send({ jsonrpc: '2.0', id, error }).catch(() => undefined);
  }

  private readonly inputFailed = (e: Error): void => this.onerror?.(e);

  private readonly outputFailed = (e: Error): void => {
    if (this.isClosed) return;
    this.onerror?.(e);
    void this.close();
  };

  private readonly ended = (): void => void this.close();

  /**
   * Writes `message`; resolved once the output takes it, or, if full, once it drains. While it is
   * full the client's lines are not read: each request read meanwhile would wait, with its answer
   * and the SDK's state for it, for a client that may never read (one writing pings and reading
   * nothing grew perimeter mcp by some 200 MB a second). A client that reads is read again.
   */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.isClosed || !this.output.writable)
      return Promise.reject(new Error('the connection to the MCP client is closed'));
    if (this.output.write(serializeMessage(message))) return Promise.resolve();
    return (this.drained ??= new Promise<void>((done, fail) => {
      this.input.pause();
      const drained = (): void => {
        this.drained = undefined;
        this.input.resume();
        done();
      };
      this.output.once('drain', drained);
      this.stopWaiting = (why) => {
        this.output.off('drain', drained);
        this.drained = undefined;
        fail(why);
      };
    }));
  }

  /**
   * Stops reading and ends the input: whoever started the transport waits for the input's end
   * (perimeter mcp does), and the SDK's transport only paused it, after which its end is never
   * seen and the process lingered once the connection was over (a line too long, a broken output).
   */
  close(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    this.isClosed = true;
    this.input.off('data', this.read);
    this.input.off('error', this.inputFailed);
    this.input.off('end', this.ended);
    this.input.off('close', this.ended);
    this.output.off('close', this.ended);
    this.input.destroy();
    this.lines.clear();
    this.stopWaiting(new Error('the connection to the MCP client is closed'));
    this.onclose?.();
    return Promise.resolve();
  }
}
