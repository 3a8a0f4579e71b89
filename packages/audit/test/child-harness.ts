// A child process that speaks one JSON line per answer on standard output and takes one command
// per line on standard input (the lock tests' writers and holders), killed after its test.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';

export type Said = Record<string, unknown>;

export interface Child {
  readonly pid: number;
  /** The child's next line; rejects when it ended without saying more. */
  next(): Promise<Said>;
  send(command: string): void;
  kill(): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node ARGS…`, run by `wrapper` when one is given (`unshare … --`); a child still running
 * when the test ends is killed with SIGKILL.
 */
export function startChild(t: TestContext, args: readonly string[], wrapper: readonly string[] = []): Child {
  const [command, ...rest] = [...wrapper, process.execPath, ...args] as [string, ...string[]];
  const child = spawn(command, rest, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    pid: child.pid as number,
    next: async () => {
      const line = await lines.next();
      if (line.done === true) throw new Error(`child ${child.pid} ended without an answer`);
      return JSON.parse(line.value) as Said;
    },
    send: (command) => child.stdin.write(`${command}\n`),
    kill: () => child.kill('SIGKILL'),
    exited,
  };
}
