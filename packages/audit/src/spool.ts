// The local spool: one JSON-lines file per session chain, appended to and never rewritten.
// Opening an existing spool continues its chain from the last event; a spool that ends in a
// partial line or a broken event is refused, so nothing is ever chained onto damage.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { newChain, seal, type ChainState } from './chain.js';
import type { AuditEvent, AuditRecord } from './event.js';
import { verifySpool } from './verify.js';

export class SpoolError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SpoolError';
  }
}

export interface SpoolOptions {
  /** The chain id for a new spool (the session id). */
  readonly chainId: string;
  /** fsync after every event: an event is on disk before the action it records goes ahead. */
  readonly isDurable?: boolean;
  /**
   * Group commit: with a value, events are still written to the file at once (a crash of the
   * process loses nothing), but the flush to disk waits up to this long so one fsync covers many
   * events, off the path of the connection that caused them. close() flushes what is pending.
   */
  readonly flushDelayMs?: number;
}

export class Spool {
  private state: ChainState;
  private fd: number | undefined;
  private flushDelayMs: number | undefined;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly path: string,
    state: ChainState,
    fd: number,
    private readonly isDurable: boolean,
  ) {
    this.state = state;
    this.fd = fd;
  }

  /** Opens (or creates) the spool at `path`. Throws SpoolError when it cannot be continued safely. */
  static open(path: string, options: SpoolOptions): Spool {
    let state = newChain(options.chainId);
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const check = verifySpool(text);
      if (!check.isIntact) {
        const first = check.problems.find((p) => p.kind !== 'unfinished');
        throw new SpoolError(
          `the audit spool ${path} is damaged at line ${first?.line ?? 0}: ${first?.message ?? ''}`,
          'run "perimeter audit verify" on it, keep it as evidence, and start a new spool',
        );
      }
      const lines = text.trimEnd().split('\n');
      const last = lines[lines.length - 1];
      if (last !== undefined && last !== '') {
        const event = JSON.parse(last) as AuditEvent;
        if (event.type === 'session.end') {
          throw new SpoolError(
            `the audit spool ${path} belongs to a session that has ended`,
            'start a new spool for a new session',
          );
        }
        state = {
          chainId: event.integrity.chain_id,
          nextSeq: event.integrity.seq + 1,
          lastHash: event.integrity.hash,
        };
      }
    }
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o600);
    } catch (e) {
      throw new SpoolError(
        `cannot open the audit spool ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
        'check that its directory exists and is writable',
      );
    }
    const spool = new Spool(path, state, fd, options.isDurable ?? true);
    spool.flushDelayMs = options.flushDelayMs;
    return spool;
  }

  get chainState(): ChainState {
    return this.state;
  }

  /** Chains and writes one event; returns it as written. */
  append(record: AuditRecord): AuditEvent {
    const [event] = this.appendAll([record]);
    return event as AuditEvent;
  }

  /** Chains and writes several events with one write and one flush to disk (a session's mount plan). */
  appendAll(records: readonly AuditRecord[]): AuditEvent[] {
    if (this.fd === undefined)
      throw new SpoolError(`the audit spool ${this.path} is closed`, 'open it again');
    const events: AuditEvent[] = [];
    let state = this.state;
    for (const record of records) {
      const sealed = seal(record, state);
      events.push(sealed.event);
      state = sealed.state;
    }
    if (events.length === 0) return events;
    writeSync(this.fd, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    if (this.isDurable) this.scheduleFlush();
    this.state = state;
    return events;
  }

  private scheduleFlush(): void {
    if (this.fd === undefined) return;
    if (this.flushDelayMs === undefined) {
      fsyncSync(this.fd);
      return;
    }
    this.flushTimer ??= setTimeout(() => this.flush(), this.flushDelayMs);
  }

  /** Flushes written events to disk now. */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.fd !== undefined && this.isDurable) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== undefined) {
      this.flush();
      closeSync(this.fd);
    }
    this.fd = undefined;
  }
}
