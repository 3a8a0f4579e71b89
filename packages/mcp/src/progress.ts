// A tool call's progress, from its server to the client that asked for it. A client that sends a
// `progressToken` with its call gets the server's `notifications/progress` for that call under its
// own token (the upstream call carries one of the gateway's), and its request timeout, if it
// resets on progress, is reset through the gateway as it would be calling the server itself:
// without them a long tool (an index build, a crawl) ran past the client's 60 s and failed there.
// A progress message is text the server writes to the agent, so it is screened as the result is
// (secrets, bound credentials, instructions to the agent): what may not pass is left out and the
// numbers go on. Reports are screened and sent one at a time, in order; past MAX_WAITING waiting,
// a new one takes the last one's place (progress only grows, the latest says the most), so a
// server reporting as fast as it may is held to that. All are sent before the call's answer.

import type { Progress } from '@modelcontextprotocol/sdk/types.js';

/** A progress token as the client chose it. */
export type ProgressToken = string | number;

export interface ProgressNotification {
  readonly method: 'notifications/progress';
  readonly params: { progressToken: ProgressToken; progress: number; total?: number; message?: string };
}

/** The most reports of one call waiting to be screened and sent. */
const MAX_WAITING = 32;

export class ProgressRelay {
  /** The reports waiting to be sent, in order. */
  private readonly waiting: Progress[] = [];
  /** Screening and sending what waits; undefined when nothing does. */
  private sending: Promise<void> | undefined;
  private isEnded = false;
  /** How many reports reached the client; how many had their message left out. */
  sent = 0;
  withheld = 0;

  /**
   * `screen` answers a message as it may reach the agent, or undefined when it may not; `send`
   * sends a notification to the client (related to its call).
   */
  constructor(
    private readonly token: ProgressToken,
    private readonly screen: (message: string) => Promise<string | undefined>,
    private readonly send: (notification: ProgressNotification) => Promise<void>,
  ) {}

  /** Takes a report of the upstream call's server, as it is read. */
  readonly onprogress = (progress: Progress): void => {
    if (this.isEnded) return;
    if (this.waiting.length < MAX_WAITING) this.waiting.push(progress);
    else this.waiting[MAX_WAITING - 1] = progress;
    this.sending ??= this.drain();
  };

  /** Sends what waits, and takes nothing more: called before the call's answer goes. */
  async end(): Promise<void> {
    this.isEnded = true;
    await this.sending;
  }

  private async drain(): Promise<void> {
    try {
      for (let next = this.waiting.shift(); next !== undefined; next = this.waiting.shift())
        await this.relay(next);
    } finally {
      this.sending = undefined;
    }
  }

  private async relay({ progress, total, message }: Progress): Promise<void> {
    const params: ProgressNotification['params'] = { progressToken: this.token, progress };
    if (typeof total === 'number') params.total = total;
    if (typeof message === 'string') {
      // A screen that fails passes nothing: the numbers go on without the message.
      const shown = await this.screen(message).catch(() => undefined);
      if (shown === undefined) this.withheld++;
      else params.message = shown;
    }
    try {
      await this.send({ method: 'notifications/progress', params });
      this.sent++;
    } catch {
      // The client is gone or its call over: its answer, if it can still get one, says the rest.
    }
  }
}
