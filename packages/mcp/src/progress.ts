// A tool call's progress, from its server to the client that asked for it. A client that sends a
// `progressToken` with its call gets the server's `notifications/progress` for that call under its
// own token (the upstream call carries one of the gateway's), and its request timeout, if it
// resets on progress, is reset through the gateway as it would be calling the server itself:
// without them a long tool (an index build, a crawl) ran past the client's 60 s and failed there.
//
// A progress message is text the server writes to the agent, so it is screened as the result is
// (secrets, bound credentials, instructions to the agent): what may not pass is left out and the
// numbers go on. It is screened joined to the end of the messages sent before it, so a secret cut
// across reports is found as one cut across a result's strings is (the part sent already cannot be
// called back; the rest is withheld). A message longer than MAX_MESSAGE is left out unread.
//
// Reports are screened and sent one at a time, in order, as fast as they come for the first
// BURST, then at RATE a second; past MAX_WAITING waiting, a new one takes the last one's place
// (progress only grows, the latest says the most). So a server reporting as fast as it may costs
// a bounded screening and a client that does not read holds a bounded amount, whatever the
// transport. What waits when the call's answer comes is sent before it, none after it.

import type { Progress } from '@modelcontextprotocol/sdk/types.js';

/** A progress token as the client chose it. */
export type ProgressToken = string | number;

export interface ProgressNotification {
  readonly method: 'notifications/progress';
  readonly params: { progressToken: ProgressToken; progress: number; total?: number; message?: string };
}

/** The longest message passed on, in UTF-16 code units: no honest report comes near it. */
export const MAX_MESSAGE = 16 * 1024;
/** How much of the messages sent before a message it is screened joined to. */
const JOINED_TAIL = 8 * 1024;
/** The most reports of one call waiting to be screened and sent. */
const MAX_WAITING = 32;
/** Reports sent as they come, then how many a second. */
const BURST = 32;
const RATE = 10;

export class ProgressRelay {
  /** The reports waiting to be sent, in order. */
  private readonly waiting: Progress[] = [];
  /** Screening and sending what waits; undefined when nothing does. */
  private sending: Promise<void> | undefined;
  /** Sending waits for the rate: the timer that resumes it. */
  private paused: NodeJS.Timeout | undefined;
  private isEnded = false;
  /** Reports that may be sent now (refilled at RATE a second, at most BURST). */
  private allowance = BURST;
  private refilledAt = performance.now();
  /** The end of the messages sent so far, as sent. */
  private tail = '';
  /** How many reports reached the client; how many had their message left out; how many were replaced by a later one. */
  private sent = 0;
  private withheld = 0;
  private replaced = 0;

  /**
   * `screen` answers `message`, read joined after `before`, as it may reach the agent, or
   * undefined when it may not; `send` sends a notification to the client (related to its call).
   */
  constructor(
    private readonly token: ProgressToken,
    private readonly screen: (message: string, before: string) => Promise<string | undefined>,
    private readonly send: (notification: ProgressNotification) => Promise<void>,
  ) {}

  /** Takes a report of the upstream call's server, as it is read. */
  readonly onprogress = (progress: Progress): void => {
    if (this.isEnded) return;
    if (this.waiting.length < MAX_WAITING) this.waiting.push(progress);
    else {
      this.waiting[MAX_WAITING - 1] = progress;
      this.replaced++;
    }
    this.kick();
  };

  /** Sends what waits, whatever the rate, and takes nothing more: called before the call's answer goes. */
  async end(): Promise<void> {
    this.isEnded = true;
    clearTimeout(this.paused);
    this.paused = undefined;
    this.kick();
    await this.sending;
  }

  /** What the call's mcp.result says of its progress: the counts that are not 0. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    if (this.sent > 0) counts.progress = this.sent;
    if (this.withheld > 0) counts.progress_withheld = this.withheld;
    if (this.replaced > 0) counts.progress_replaced = this.replaced;
    return counts;
  }

  /** Starts sending what waits, unless it is being sent or waits for the rate. */
  private kick(): void {
    if (this.sending !== undefined || this.paused !== undefined || this.waiting.length === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      if (!this.isEnded && !this.mayGo()) {
        this.paused = setTimeout(() => {
          this.paused = undefined;
          this.kick();
        }, 1000 / RATE);
        return;
      }
      await this.relay(this.waiting.shift() as Progress);
    }
  }

  /** Whether the rate lets one more report go now (one is then taken). */
  private mayGo(): boolean {
    const now = performance.now();
    this.allowance = Math.min(BURST, this.allowance + ((now - this.refilledAt) * RATE) / 1000);
    this.refilledAt = now;
    if (this.allowance < 1) return false;
    this.allowance--;
    return true;
  }

  private async relay({ progress, total, message }: Progress): Promise<void> {
    const params: ProgressNotification['params'] = { progressToken: this.token, progress };
    if (typeof total === 'number') params.total = total;
    if (typeof message === 'string') {
      // A screen that fails passes nothing: the numbers go on without the message.
      const shown =
        message.length > MAX_MESSAGE
          ? undefined
          : await this.screen(message, this.tail).catch(() => undefined);
      if (shown === undefined) this.withheld++;
      else {
        params.message = shown;
        this.tail = `${this.tail}${shown}`.slice(-JOINED_TAIL);
      }
    }
    try {
      await this.send({ method: 'notifications/progress', params });
      this.sent++;
    } catch {
      // The client is gone or its call over: its answer, if it can still get one, says the rest.
    }
  }
}
