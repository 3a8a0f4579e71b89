// Where a large value is scanned: on a worker thread, so that the gateway's one thread goes on
// serving every other request meanwhile. The secret scan and the instruction screen are linear in
// what they read, but a result of a few MiB still takes from a quarter of a second (source code) to
// seconds (text built to be costly: a hundred thousand `password=` strings); on the gateway's
// thread, every other client's calls, lists and pings waited that long. So are a listing's
// definitions not scanned before (secret scan, poisoning scan, pin digest) when they are large
// together, a piece at a time (redteam-37-3: 4,000 tools of 7.5 KB held the gateway's thread 13 s,
// a ping waiting all along). A value, or a listing's new definitions, under INLINE_BELOW
// characters (nearly every call) is scanned where it is, as before: handing it over would cost more
// than scanning it. The worker starts on the first large value, is one (a second core is what a
// laptop can spare), and takes large values one after the other. If it cannot be started or fails,
// the value is scanned here: never unscanned.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { knownMatcher, type KnownMatcher, type KnownValue } from '@perimeter/detect';
import { definitionDigest, type DefinitionKind } from './definition.js';
import { scanDefinition, scanResult, type PoisoningFinding, type ResultScan } from './poisoning.js';
import { scanValue, type SecretScan } from './secrets.js';

/** A value's secret scan as a reader takes it (hidden characters removed), and the screen that removed them. */
export interface ShownScan {
  readonly scan: SecretScan;
  readonly injected: ResultScan;
}

/**
 * Characters (of strings and keys; every other value counts as 8) from which a value goes to the
 * worker. Scanning 256 KiB takes 10-60 ms here; posting it there and back, about a millisecond.
 */
export const INLINE_BELOW = 256 * 1024;
/**
 * Large values handed to the worker and not answered yet: past these, the next is scanned here.
 * Each waits as a copy in the worker, and an upstream sending large results faster than they are
 * scanned would otherwise grow that queue without bound; scanning here holds the gateway's
 * thread, which holds the readers of every connection, and so slows the sender down.
 */
const MAX_QUEUED = 16;
/**
 * How many characters of a listing's definitions go to the worker at once: one piece is scanned in
 * some 100-500 ms, so a large result posted meanwhile waits for one piece, not for the listing.
 */
const DEFINITIONS_AT_ONCE = 4 * INLINE_BELOW;

/**
 * The scan itself, the same on either thread: the instruction screen (or, with `hiddenOnly`, only
 * its removal of hidden characters), then the secret scan of what it left.
 */
export function shownScan(value: unknown, hiddenOnly: boolean, known: KnownMatcher | undefined): ShownScan {
  const injected = scanResult(value, { hiddenOnly });
  return { scan: scanValue(injected.stripped, known), injected };
}

/** A secret scan as it is kept and sent back: `redacted` only when it found something (else it is the value). */
export type KeptScan = Omit<SecretScan, 'redacted'> & { readonly redacted?: unknown };

/** A scan kept: its redacted copy left out when it is the value itself. */
export function keptScan(scan: SecretScan): KeptScan {
  const { redacted, ...counts } = scan;
  return scan.blocking.length === 0 && scan.leaks.length === 0 ? counts : { ...counts, redacted };
}

/** The scan `kept` stands for, given the value that was scanned. */
export function scanOf(kept: KeptScan, value: unknown): SecretScan {
  return { ...kept, redacted: 'redacted' in kept ? kept.redacted : value };
}

/** What the gateway asks of one listed definition (DefinitionScan: what it gets). */
export interface DefinitionJob {
  readonly definition: unknown;
  /** Its secret scan (a listing's: every string, `_meta` included). */
  readonly isSecretScanned: boolean;
  /** Its pin's digest (definitionDigest), as a definition of this kind. */
  readonly digestOf?: DefinitionKind;
  /** Its poisoning scan, against the other servers' tool names (scanDefinition's `others`). */
  readonly others?: ReadonlySet<string>;
}

/** A DefinitionJob done: each part that was asked for. */
export interface DefinitionScan {
  readonly secrets?: KeptScan;
  readonly digest?: { readonly hash: string; readonly bytes: number };
  readonly findings?: readonly PoisoningFinding[];
}

/** One listed definition's scans, the same on either thread. */
export function definitionScan(job: DefinitionJob, known: KnownMatcher | undefined): DefinitionScan {
  const { definition } = job;
  return {
    ...(job.isSecretScanned ? { secrets: keptScan(scanValue(definition, known)) } : {}),
    ...(job.digestOf !== undefined
      ? { digest: definitionDigest(definition as Record<string, unknown>, job.digestOf) }
      : {}),
    ...(job.others !== undefined ? { findings: scanDefinition(definition, { names: job.others }) } : {}),
  };
}

/** What a value costs to scan at least, in characters: a string its length, anything else 8. */
const VALUE_COST = 8;

/**
 * Whether `value` holds at least `limit` characters (VALUE_COST at least for every value, an empty
 * string too: rev35-4, 300,000 empty strings before a large one were counted as nothing and the
 * whole was scanned here): stops counting there.
 */
export function isAtLeast(value: unknown, limit: number): boolean {
  let left = limit;
  const stack: unknown[] = [value];
  while (stack.length > 0 && left > 0) {
    const v = stack.pop();
    left -= typeof v === 'string' ? Math.max(v.length, VALUE_COST) : VALUE_COST;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      // Every element costs VALUE_COST when it is taken: so many reach the limit unseen.
      if (v.length * VALUE_COST >= left) return true;
      for (const item of v as unknown[]) stack.push(item);
    } else
      for (const key in v) {
        left -= key.length + VALUE_COST;
        if (left <= 0) break;
        stack.push((v as Record<string, unknown>)[key]);
      }
  }
  return left <= 0;
}

/** What the gateway posts to the worker: a value to scan, or listed definitions. */
export type WorkerTask =
  | { readonly id: number; readonly value: unknown; readonly hiddenOnly: boolean }
  | { readonly id: number; readonly definitions: readonly DefinitionJob[] };

/**
 * What the worker sends back: the two copies only where they differ from what the gateway has
 * (most values have no hidden character and no secret), so a large clean value crosses once. A
 * scan that threw there says only that: it is made again here, to throw where the caller handles it.
 */
export type WorkerAnswer =
  | {
      readonly id: number;
      readonly findings: ResultScan['findings'];
      /** Absent: the stripped value is the value as sent. */
      readonly stripped?: unknown;
      /** The secret scan, `redacted` absent when it found nothing (then it is the stripped value). */
      readonly scan: KeptScan;
    }
  | { readonly id: number; readonly definitions: readonly DefinitionScan[] }
  | { readonly id: number; readonly error: string };

/** The worker's answer for `value`, its copies left out where the gateway has them already. */
export function answerOf(id: number, value: unknown, shown: ShownScan): WorkerAnswer {
  const { scan, injected } = shown;
  return {
    id,
    findings: injected.findings,
    ...(injected.stripped !== value ? { stripped: injected.stripped } : {}),
    scan: keptScan(scan),
  };
}

/** The worker's answer to a task, or the error its scan threw. */
export function answerTo(task: WorkerTask, known: KnownMatcher | undefined): WorkerAnswer {
  const { id } = task;
  try {
    return 'definitions' in task
      ? { id, definitions: task.definitions.map((job) => definitionScan(job, known)) }
      : answerOf(id, task.value, shownScan(task.value, task.hiddenOnly, known));
  } catch (e) {
    return { id, error: e instanceof Error ? e.message : String(e) };
  }
}

/** The ShownScan an answer stands for, given the value that was sent. */
function shownOf(value: unknown, answer: WorkerAnswer): ShownScan | undefined {
  if (!('scan' in answer)) return undefined;
  const stripped = 'stripped' in answer ? answer.stripped : value;
  return { injected: { findings: answer.findings, stripped }, scan: scanOf(answer.scan, stripped) };
}

/** A task handed to the worker: how to read its answer, and how to do it here instead. */
interface Job {
  /** What the answer stands for (undefined: the worker could not do it, so it is done here). */
  readonly read: (answer: WorkerAnswer) => unknown;
  readonly here: () => unknown;
  readonly resolve: (done: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The worker's module, scan-worker.js in this package's dist/src: beside this module, or found
 * from the CLI's bundle (by path in a checkout, else through module resolution).
 */
function workerUrl(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.includes('/packages/mcp/dist/')) return new URL('./scan-worker.js', here);
  const cli = here.pathname.lastIndexOf('/packages/cli/dist/');
  const root =
    cli >= 0
      ? `${here.pathname.slice(0, cli)}/packages/mcp`
      : dirname(createRequire(here).resolve('@perimeter/mcp/package.json'));
  return pathToFileURL(join(root, 'dist/src/scan-worker.js'));
}

export class ScanPool {
  private readonly known: KnownMatcher | undefined;
  private worker: Worker | undefined;
  /** The worker could not be started or died: every value is scanned here from now on. */
  private isBroken = false;
  private nextId = 0;
  private readonly jobs = new Map<number, Job>();

  constructor(
    private readonly credentials: readonly KnownValue[] | undefined,
    private readonly inlineBelow = INLINE_BELOW,
  ) {
    this.known = credentials?.length ? knownMatcher(credentials) : undefined;
  }

  /** The matcher of the bound credentials' real values, for the scans the gateway makes itself. */
  get matcher(): KnownMatcher | undefined {
    return this.known;
  }

  /** shownScan() of `value`: here when it is small, else on the worker. */
  async scan(value: unknown, hiddenOnly = false): Promise<ShownScan> {
    const here = (): ShownScan => shownScan(value, hiddenOnly, this.known);
    if (!isAtLeast(value, this.inlineBelow)) return here();
    return this.run(
      (id) => ({ id, value, hiddenOnly }),
      here,
      (answer) => shownOf(value, answer),
    );
  }

  /**
   * definitionScan() of each job, in order, `sizes` saying what each definition costs to scan (its
   * JSON's length): here when they come to less than the pool's bound, else on the worker,
   * DEFINITIONS_AT_ONCE characters at a time.
   */
  async scanDefinitions(jobs: readonly DefinitionJob[], sizes: readonly number[]): Promise<DefinitionScan[]> {
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total < this.inlineBelow) return jobs.map((job) => definitionScan(job, this.known));
    const out: DefinitionScan[] = [];
    for (let start = 0; start < jobs.length;) {
      let end = start;
      for (let size = 0; end < jobs.length && (end === start || size < DEFINITIONS_AT_ONCE); end++)
        size += sizes[end] ?? 0;
      const piece = jobs.slice(start, end);
      const here = (): DefinitionScan[] => piece.map((job) => definitionScan(job, this.known));
      out.push(
        ...(await this.run(
          (id) => ({ id, definitions: piece }),
          here,
          (answer) => ('definitions' in answer ? answer.definitions : undefined),
        )),
      );
      start = end;
    }
    return out;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.isBroken = true;
    if (worker !== undefined) await worker.terminate();
  }

  /**
   * A task on the worker (`task` given its id), or `here` when the worker cannot take it: broken,
   * or MAX_QUEUED tasks waiting. `read` makes the result of the worker's answer.
   */
  private run<T>(
    task: (id: number) => WorkerTask,
    here: () => T,
    read: (answer: WorkerAnswer) => T | undefined,
  ): Promise<T> {
    const worker = this.isBroken || this.jobs.size >= MAX_QUEUED ? undefined : this.started();
    if (worker === undefined) return Promise.resolve().then(here);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const job: Job = { read, here, resolve: resolve as (done: unknown) => void, reject };
      this.jobs.set(id, job);
      try {
        worker.postMessage(task(id));
      } catch {
        // Not cloneable (nothing JSON makes), or the worker went: scanned here.
        this.jobs.delete(id);
        this.scanHere(job);
      }
    });
  }

  private started(): Worker | undefined {
    if (this.worker !== undefined) return this.worker;
    let worker: Worker;
    try {
      worker = new Worker(workerUrl(), { workerData: { credentials: this.credentials ?? [] } });
    } catch {
      this.isBroken = true;
      return undefined;
    }
    // A gateway with nothing left to do exits although its worker waits for work.
    worker.unref();
    worker.on('message', (answer: WorkerAnswer) => this.answered(answer));
    worker.on('error', () => this.fail());
    worker.on('exit', () => this.fail());
    this.worker = worker;
    return worker;
  }

  private answered(answer: WorkerAnswer): void {
    const job = this.jobs.get(answer.id);
    if (job === undefined) return;
    this.jobs.delete(answer.id);
    const done = job.read(answer);
    if (done === undefined) this.scanHere(job);
    else job.resolve(done);
  }

  private scanHere(job: Job): void {
    try {
      job.resolve(job.here());
    } catch (e) {
      job.reject(e);
    }
  }

  /** The worker is gone: what it held is scanned here, and so is everything after. */
  private fail(): void {
    this.isBroken = true;
    this.worker = undefined;
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) this.scanHere(job);
  }
}
