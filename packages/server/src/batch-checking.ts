// Checking a device's upload line by line (JSON, schema, hash: device-batch.ts) on worker threads.
// Hashing each event's canonical form is most of what an upload costs; this thread's time belongs
// to the database and to every other request, and its share of a large upload would hold them up
// (measured: leaving it all to one worker per core stores more per second than splitting it with
// this thread). A small upload is checked here at once: a worker's round trip would cost more.
//
// The workers are shared by every server of the process, made at the first large upload, and
// never hold the process open; one that fails fails its tasks (a 500) and is replaced.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkLine, type LineCheck } from './device-batch.js';

/** Below this many lines, checking here costs less than a worker's round trip. */
const INLINE_LINES = 256;

interface Task {
  readonly resolve: (checks: LineCheck[]) => void;
  readonly reject: (error: Error) => void;
}

class CheckWorker {
  private readonly worker: Worker;
  private readonly tasks = new Map<number, Task>();
  private nextId = 0;
  isBroken = false;

  constructor() {
    this.worker = new Worker(new URL('./batch-check-worker.js', import.meta.url));
    this.worker.on('message', (m: { id: number; checks: LineCheck[] }) => {
      this.tasks.get(m.id)?.resolve(m.checks);
      this.tasks.delete(m.id);
      if (this.tasks.size === 0) this.worker.unref();
    });
    const fail = (error: Error): void => {
      this.isBroken = true;
      for (const task of this.tasks.values()) task.reject(error);
      this.tasks.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`an upload-checking worker exited (code ${code})`)));
    // Idle, a worker never holds the process open (set after the listeners: adding a 'message'
    // listener refs the worker's port again); busy, it does, until its answers are in.
    this.worker.unref();
  }

  check(lines: readonly string[], now: number): Promise<LineCheck[]> {
    const id = this.nextId++;
    if (this.tasks.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.tasks.set(id, { resolve, reject });
      this.worker.postMessage({ id, lines, now });
    });
  }
}

let workers: CheckWorker[] = [];

function pool(): CheckWorker[] {
  workers = workers.filter((w) => !w.isBroken);
  const size = Math.min(8, availableParallelism());
  while (workers.length < size) workers.push(new CheckWorker());
  return workers;
}

/** Each line's check, in order: split between the workers when there are many. */
export async function checkLines(lines: readonly string[], now: number): Promise<LineCheck[]> {
  if (lines.length < INLINE_LINES) return lines.map((l) => checkLine(l, now));
  const workers = pool();
  const size = Math.ceil(lines.length / workers.length);
  const parts = workers.map((w, i) => w.check(lines.slice(i * size, (i + 1) * size), now));
  return (await Promise.all(parts)).flat();
}
