// Impact replay: recorded decisions re-decided under a draft bundle, reporting every decision
// that would flip ("412 decisions would flip allow→deny"). Pure: the caller reads the records.

import type { CompiledPolicy } from './compile.js';
import { createEngine, type Decision, type Engine, type Subject } from './engine.js';
import type { PathContext } from './path-pattern.js';
import { parseRequest, type Request } from './request.js';
import type { Effect } from './schema.js';

export interface RecordedDecision {
  /** The event id, reported back with a flip. */
  readonly id?: string;
  /** The request, in the full or short form `parseRequest` reads. */
  readonly request: Request | Readonly<Record<string, unknown>>;
  /** The decision that was enforced when it was recorded. */
  readonly decision: Effect;
  readonly subject?: Subject;
}

export interface Flip {
  readonly index: number;
  readonly id?: string;
  readonly request: Request;
  readonly before: Effect;
  readonly after: Decision;
}

export interface SimulationReport {
  readonly total: number;
  readonly unchanged: number;
  /** Records whose request could not be read; they are counted, never silently dropped. */
  readonly unreadable: readonly { readonly index: number; readonly id?: string; readonly error: string }[];
  readonly flips: readonly Flip[];
  /** Flip counts keyed `allow→deny`, `deny→allow`, … */
  readonly counts: Readonly<Record<string, number>>;
}

export function simulate(
  recorded: readonly RecordedDecision[],
  draft: readonly CompiledPolicy[],
  context: PathContext,
): SimulationReport {
  const engines = new Map<string, Engine>();
  const engineFor = (subject: Subject | undefined): Engine => {
    const groups = subject?.groups;
    const key = groups === 'all' ? '*' : [...(groups ?? [])].sort().join('\n');
    let engine = engines.get(key);
    if (!engine) {
      engine = createEngine(draft, { ...(subject ? { subject } : {}), context });
      engines.set(key, engine);
    }
    return engine;
  };
  const flips: Flip[] = [];
  const unreadable: { index: number; id?: string; error: string }[] = [];
  const counts: Record<string, number> = {};
  let unchanged = 0;
  recorded.forEach((record, index) => {
    const id = record.id !== undefined ? { id: record.id } : {};
    const parsed = parseRequest(record.request);
    if ('error' in parsed) {
      unreadable.push({ index, ...id, error: parsed.error });
      return;
    }
    const after = engineFor(record.subject).decide(parsed.request);
    if (after.decision === record.decision) {
      unchanged++;
      return;
    }
    const key = `${record.decision}→${after.decision}`;
    counts[key] = (counts[key] ?? 0) + 1;
    flips.push({ index, ...id, request: parsed.request, before: record.decision, after });
  });
  return { total: recorded.length, unchanged, unreadable, flips, counts };
}
