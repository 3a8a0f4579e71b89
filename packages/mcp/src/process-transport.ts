// MCP over the standard streams of a process someone else started: the gateway's sandboxed
// upstreams, whose process is bubblewrap around the server (the SDK's stdio transport spawns the
// command itself and cannot), and every other stdio upstream, spawned directly. Newline-delimited
// JSON-RPC, as the SDK's stdio transports speak it. What is owed to a server is bounded: one that
// stops reading its input is ended, never waited for (redteam-36-1). A server ended as misbehaving
// (that, flooding the gateway, or a line that is no message) is read no more and the transport
// closed at once; its process is stopped (SIGTERM, then SIGKILL) in the background. A server
// spawned by spawnServer leads a process group of its own, and the whole group is signalled: what
// it started (npx's node, a shell wrapper's server, a helper it forked) is stopped with it.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import {
  deserializeMessage,
  serializeMessage,
  STDIO_DEFAULT_MAX_BUFFER_SIZE,
} from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { procStat } from '@perimeter/audit';

export type ServerProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** How long a server has to exit after its input closes, and then after SIGTERM. */
const EXIT_GRACE_MS = 2_000;
/** How often a stopping server's process group is looked at (only while it is being stopped). */
const GROUP_POLL_MS = 25;

/**
 * The servers spawnServer made group leaders: only their groups are signalled. A sandbox's
 * bubblewrap leads one too, but stopping it already stops all inside (--unshare-pid,
 * --die-with-parent), as its launcher decides.
 */
const groupLeaders = new WeakSet<ServerProcess>();

/**
 * Spawns a stdio server directly (no sandbox), leading a process group of its own, so that
 * stopping it stops what it started too (upstream-stop-1): a wrapper's server (`npx` starting
 * `node server.js`, a shell script) or a helper it forked otherwise kept running after the gateway
 * ended the server, holding its pipes and using CPU. The child stays referenced: the gateway
 * stops it on its way out (close()), as it no longer gets a terminal's Ctrl-C.
 */
export function spawnServer(
  command: string,
  args: readonly string[],
  options: { readonly env: NodeJS.ProcessEnv; readonly cwd?: string },
): ServerProcess {
  // On Windows a detached child gets a console of its own, and there are no process groups.
  const isLeader = process.platform !== 'win32';
  const child = spawn(command, [...args], {
    env: options.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    stdio: ['pipe', 'pipe', 'pipe'],
    shell: false,
    detached: isLeader,
  });
  if (isLeader) groupLeaders.add(child);
  return child;
}

/**
 * Whether `target` (a pid, or a process group as -pgid) is there for this process to signal: a
 * zombie, not collected yet, is.
 */
export function canSignal(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the process group `group` has a member still running: one this process may signal that
 * is not a zombie. A zombie is gone but for its exit status, which its parent collects. A helper
 * that outlived the server is the child of the namespace's init, and when the gateway is that init
 * (its container's pid 1, with no init of its own: `docker run` without `--init`) nobody collects
 * it, Node collecting only the children it spawned: such zombies counted as members, and every
 * stop waited out its grace times and signalled a group with nothing left to stop.
 */
function hasMembers(group: number | undefined): boolean {
  return group !== undefined && canSignal(-group) && (process.pid !== 1 || !isAllZombies(group));
}

/**
 * Whether /proc shows members of group `group` and every one of them a zombie (Linux). False
 * whenever /proc cannot tell: it is not this process's pid namespace's (it names another pid for
 * this process), it cannot be read, or it shows no member (hidden by hidepid); then the member
 * canSignal() found may be running. Read only for a gateway that is pid 1, while a server stops.
 */
function isAllZombies(group: number): boolean {
  let entries: string[];
  try {
    if (readlinkSync('/proc/self') !== String(process.pid)) return false;
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  let zombies = 0;
  for (const entry of entries) {
    const c = entry.charCodeAt(0);
    if (c < 0x30 || c > 0x39) continue;
    // A process gone since the listing has no fields, and is skipped.
    const [state, , pgrp] = procStat(entry) ?? [];
    if (Number(pgrp) !== group) continue;
    if (state !== 'Z' && state !== 'X') return false;
    zombies++;
  }
  return zombies > 0;
}

const isRunning = (child: ServerProcess): boolean => child.exitCode === null && child.signalCode === null;

/**
 * What a server may be owed before it is judged to have stopped reading. A server that sent pings
 * as fast as its pipe took them and never read the answers grew the gateway by 150 MB/s until V8
 * aborted, taking every other server and client down (redteam-36-1). Owed more than `maxUnread`
 * (4 MiB: some 100,000 answers to pings, a few large arguments) and nothing of it taken for
 * `stallMs` (10 s), a server is ended as misbehaving; a server that is slow, or busy for a while,
 * but reads keeps going. Owed more than `maxOwed` (64 MiB) it is ended at once, reading or not:
 * the gateway's memory is not the clients' to fill through one slow server.
 */
export interface OwedLimits {
  readonly maxUnread: number;
  readonly stallMs: number;
  readonly maxOwed: number;
}

const OWED_LIMITS: OwedLimits = {
  maxUnread: 4 * 1024 * 1024,
  stallMs: 10_000,
  maxOwed: 64 * 1024 * 1024,
};

const MiB = (bytes: number): string => `${bytes / 1024 / 1024} MiB`;

const LF = 0x0a;

/** A line from a server that cannot be read as a message: `why` says what it was. */
export class UnreadableLine extends Error {
  constructor(readonly why: string) {
    super(`the MCP server ${why}`);
  }
}

/**
 * A stream read as newline-delimited messages, each byte looked at once: a server's output here,
 * and the agent's input to `perimeter mcp` (agent-transport.ts). The SDK's ReadBuffer joined every
 * chunk onto all it held and searched the whole again for a newline, so a 9 MiB line, in the
 * pipe's chunks of 64 KiB, cost the gateway's thread a second (quadratic); here a chunk is
 * searched once, and a line's chunks joined once. A line is bounded as the SDK bounds it
 * (STDIO_DEFAULT_MAX_BUFFER_SIZE, 10 MiB): past that, reading throws.
 */
export class MessageLines {
  /** The line begun and not ended yet, in chunks. */
  private begun: Buffer[] = [];
  private begunBytes = 0;

  constructor(private readonly maxLine: number = STDIO_DEFAULT_MAX_BUFFER_SIZE) {}

  /** The messages whose line `chunk` ends, in order; a line that is not one throws. */
  *messages(chunk: Buffer): Generator<JSONRPCMessage> {
    for (const line of this.lines(chunk)) {
      let message: JSONRPCMessage;
      try {
        message = deserializeMessage(line);
      } catch {
        throw new UnreadableLine('sent a line that is not a JSON-RPC message');
      }
      yield message;
    }
  }

  /** The lines `chunk` ends, in order, without their line break; what follows the last is kept. */
  *lines(chunk: Buffer): Generator<string> {
    let from = 0;
    for (let nl = chunk.indexOf(LF); nl >= 0; nl = chunk.indexOf(LF, from)) {
      const line = this.ended(chunk.subarray(from, nl));
      from = nl + 1;
      yield line.toString('utf8').replace(/\r$/, '');
    }
    if (from < chunk.length) {
      const rest = chunk.subarray(from);
      this.grow(rest.length);
      this.begun.push(rest);
    }
  }

  clear(): void {
    this.begun = [];
    this.begunBytes = 0;
  }

  /** The line `end` ends, whole. */
  private ended(end: Buffer): Buffer {
    this.grow(end.length);
    const line = this.begun.length === 0 ? end : Buffer.concat([...this.begun, end]);
    this.clear();
    return line;
  }

  private grow(bytes: number): void {
    this.begunBytes += bytes;
    if (this.begunBytes <= this.maxLine) return;
    this.clear();
    throw new UnreadableLine(`sent a line longer than ${MiB(this.maxLine)}`);
  }
}

export class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** Told the size of each chunk the server writes, before it is read (its bytes are counted). */
  onread?: (bytes: number) => void;
  private child: ServerProcess | undefined;
  private readonly lines = new MessageLines();
  /** Why the transport ended the server itself, when it did (onclose then follows). */
  endedBecause: string | undefined;
  /** onclose has been called: once, when the process is gone or when it was ended as misbehaving. */
  private isClosed = false;
  /** When the server last took a write whole, or was owed nothing (performance.now()). */
  private lastTaken = 0;
  /** Every write's callback (one function for all, not one made per message). */
  private readonly taken = (e?: Error | null): void => {
    if (e == null) this.lastTaken = performance.now();
  };
  /** Looks again, once `stallMs` is up, at a server owed more than `maxUnread`. */
  private stallCheck: NodeJS.Timeout | undefined;
  /** The process group the server leads (spawnServer), signalled whole. */
  private group: number | undefined;

  /** `launch` starts the process when start() is called; its standard error goes to `onStderr`. */
  constructor(
    private readonly launch: () => ServerProcess,
    private readonly onStderr: (chunk: Buffer) => void = () => {},
    private readonly limits: OwedLimits = OWED_LIMITS,
  ) {}

  start(): Promise<void> {
    if (this.child) return Promise.reject(new Error('the server process is already started'));
    return new Promise((resolve, reject) => {
      const child = this.launch();
      this.child = child;
      // One message to the pipe at a time, each reported taken as it is (what `stallMs` counts
      // from): a pipe's writev hands it everything queued behind the message in flight at once and
      // reports none of it taken until its last byte is, so a server reading every message, but
      // more slowly than `maxUnread` in `stallMs`, seemed to take nothing and was ended.
      child.stdin._writev = undefined;
      child.once('error', (e) => {
        reject(e);
        this.onerror?.(e);
      });
      child.once('spawn', () => {
        if (groupLeaders.has(child)) this.group = child.pid;
        resolve();
      });
      child.once('close', () => {
        // Gone on its own (a crash, an exit), not ended here: what it started is stopped all the
        // same, in the background (a server crashing in a loop left a helper per restart).
        if (this.child === child && hasMembers(this.group)) void this.end(child, false);
        this.child = undefined;
        this.closed();
      });
      child.stderr.on('data', this.onStderr);
      child.stdin.on('error', (e) => this.onerror?.(e));
      child.stdout.on('error', (e) => this.onerror?.(e));
      child.stdout.on('data', (chunk: Buffer) => {
        try {
          // Closed or closing: what it still says is for nobody (a flood is not parsed to the end).
          if (this.child !== child) return;
          this.onread?.(chunk.length);
          if (this.child !== child) return;
          for (const m of this.lines.messages(chunk)) {
            this.onmessage?.(m);
            if (this.child !== child) break;
          }
        } catch (e) {
          // A line that is not JSON-RPC, or too long: the server is broken or hostile; it is
          // ended as misbehaving (killed, what waits for it failed now, not when it exits:
          // upstream-flood-9), and its crash says why.
          this.onerror?.(e instanceof Error ? e : new Error(String(e)));
          if (e instanceof UnreadableLine) this.endMisbehaving(`${e.why}, and was ended`);
          else void this.close();
        }
      });
    });
  }

  /**
   * Queues `message` for the server: sent once queued, since what is queued is bounded (waiting for
   * each message to drain kept one listener and one answer per message, however many). A server
   * owed more than the limits allow is ended (OwedLimits), and the message fails.
   */
  send(message: JSONRPCMessage): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error('the server process is not running'));
    const owed = child.stdin.writableLength;
    if (owed > this.limits.maxOwed) {
      const why = `was owed more than ${MiB(this.limits.maxOwed)} of input it had not taken, and was ended`;
      this.endMisbehaving(why);
      return Promise.reject(new Error(`the MCP server ${why}`));
    }
    if (owed === 0) this.lastTaken = performance.now();
    child.stdin.write(serializeMessage(message), this.taken);
    if (child.stdin.writableLength > this.limits.maxUnread) this.stallCheck ??= this.checkStall(child);
    return Promise.resolve();
  }

  /** Ends a server that took nothing for `stallMs` while owed more than `maxUnread`; looks again while it is. */
  private checkStall(child: ServerProcess): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.stallCheck = undefined;
      if (this.child !== child || child.stdin.writableLength <= this.limits.maxUnread) return;
      if (performance.now() - this.lastTaken >= this.limits.stallMs)
        this.endMisbehaving(
          `stopped reading its input (more than ${MiB(this.limits.maxUnread)} waited for it ${this.limits.stallMs / 1000} s), and was ended`,
        );
      else this.stallCheck = this.checkStall(child);
    }, this.limits.stallMs);
    timer.unref();
    return timer;
  }

  /**
   * Ends the server as misbehaving (it flooded the gateway, stopped reading, or sent a line that
   * is no message), `why`: what it was owed is dropped, it is read no more, and the transport is
   * closed at once, so what waits for it fails now rather than when its process is gone (a server
   * that ignored the end of its input and SIGTERM held its calls 4 s, and one whose helper kept its
   * standard error open held them for as long as the helper lived: upstream-flood-8, -9); the
   * process is stopped meanwhile, SIGTERM then SIGKILL.
   */
  endMisbehaving(why: string): void {
    const child = this.child;
    if (!child) return;
    this.endedBecause ??= why;
    void this.end(child, false);
    this.closed();
  }

  private closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.onclose?.();
  }

  close(): Promise<void> {
    const child = this.child;
    return child ? this.end(child, true) : Promise.resolve();
  }

  /**
   * Ends `child`: `politely`, its input closed first and time given to exit; else what it was owed
   * is dropped and it is read no more. Then SIGTERM, time to exit, and SIGKILL, each to its whole
   * process group when spawnServer made it lead one (upstream-stop-1), else to it alone (a
   * sandboxed server's bubblewrap, whose sandbox dies with it). The group is signalled even once
   * the server itself has exited: a server that exits when its input closes can leave a helper
   * behind.
   */
  private async end(child: ServerProcess, politely: boolean): Promise<void> {
    this.child = undefined;
    clearTimeout(this.stallCheck);
    this.stallCheck = undefined;
    this.lines.clear();
    // Once seen empty, the group is not looked at or signalled again: its number could be
    // another group's by then.
    let group = this.group;
    const isGroupLeft = (): boolean => {
      if (!hasMembers(group)) group = undefined;
      return group !== undefined;
    };
    const isLeft = (): boolean => isRunning(child) || isGroupLeft();
    if (!isLeft()) return;
    let hasClosed = !isRunning(child);
    child.once('close', () => (hasClosed = true));
    // Referenced, and bounded: the gateway does not exit while what it started is being stopped.
    const waited = (): Promise<void> => {
      const deadline = performance.now() + EXIT_GRACE_MS;
      return new Promise((done) => {
        const look = (): void => {
          if ((hasClosed && !isGroupLeft()) || performance.now() >= deadline) done();
          else setTimeout(look, GROUP_POLL_MS);
        };
        look();
      });
    };
    if (politely) {
      child.stdin.end();
      await waited();
    } else {
      // Dropped, and read no more; it still gets SIGTERM before SIGKILL: a wrapper (npx, docker
      // run) passes SIGTERM on to the server it started, and SIGKILL at once left that running.
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
    }
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!isLeft()) return;
      signalServer(child, group, signal);
      await waited();
    }
  }
}

/** Sends `signal` to the process group `group`, or, without one (or refused), to `child` alone. */
function signalServer(child: ServerProcess, group: number | undefined, signal: NodeJS.Signals): void {
  if (group !== undefined) {
    try {
      process.kill(-group, signal);
      return;
    } catch {
      // ESRCH (the group is gone), EPERM (no member may be signalled): the server alone, if there.
    }
  }
  if (isRunning(child)) child.kill(signal);
}
