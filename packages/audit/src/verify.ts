// Verifying a spool: every line is parsed and re-hashed, and each event must follow the one
// before it. Every problem is reported with its line, and verification goes on after a problem,
// so one edit does not hide a later deletion.

import { hashOf, GENESIS_HASH } from './chain.js';
import { auditEventSchema, type AuditEvent } from './event.js';

export type ProblemKind =
  | 'malformed' // not an event at all
  | 'truncated' // the last line was cut off mid-event
  | 'edited' // the event's content no longer matches its hash
  | 'deleted' // events are missing before this one
  | 'inserted' // this event does not follow the one before it
  | 'reordered' // this event's position is earlier than the one before it
  | 'foreign' // this event belongs to another chain
  | 'unfinished'; // the chain has no session.end (cut off, or the session is still running)

export interface Problem {
  readonly kind: ProblemKind;
  /** 1-based line in the file. */
  readonly line: number;
  readonly seq?: number;
  readonly message: string;
}

export interface Verification {
  readonly events: number;
  readonly problems: readonly Problem[];
  /** True when nothing was found except, possibly, an unfinished chain. */
  readonly isIntact: boolean;
}

/** Verifies the text of one spool (JSON lines, one chain). */
export function verifySpool(text: string): Verification {
  const problems: Problem[] = [];
  const lines = text.split('\n');
  const endsCleanly = text === '' || text.endsWith('\n');
  let chainId: string | undefined;
  let expectedSeq = 0;
  let lastHash = GENESIS_HASH;
  let lastType: string | undefined;
  let events = 0;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      const isLast = i === lines.length - 1 && !endsCleanly;
      problems.push({
        kind: isLast ? 'truncated' : 'malformed',
        line,
        message: isLast ? 'the last event was cut off mid-line' : 'the line is not JSON',
      });
      return;
    }
    const parsed = auditEventSchema().safeParse(json);
    if (!parsed.success) {
      problems.push({
        kind: 'malformed',
        line,
        message: `the line is not an audit event (${parsed.error.issues[0]?.message ?? 'schema mismatch'})`,
      });
      return;
    }
    const event = parsed.data;
    const { seq, prev_hash, hash, chain_id } = event.integrity;
    events++;
    chainId ??= chain_id;
    if (chain_id !== chainId) {
      problems.push({
        kind: 'foreign',
        line,
        seq,
        message: `the event belongs to chain ${chain_id}, not ${chainId}`,
      });
      return;
    }
    // Over the line as written, not the schema's copy of it (which drops an own "__proto__" key).
    if (hashOf(json as AuditEvent) !== hash) {
      problems.push({
        kind: 'edited',
        line,
        seq,
        message: `event ${seq} was changed after it was written (its hash no longer matches)`,
      });
    }
    if (seq > expectedSeq) {
      const n = seq - expectedSeq;
      problems.push({
        kind: 'deleted',
        line,
        seq,
        message: `${n} event${n === 1 ? '' : 's'} (seq ${expectedSeq}${n > 1 ? `–${seq - 1}` : ''}) are missing before this one`,
      });
    } else if (seq < expectedSeq) {
      problems.push({
        kind: 'reordered',
        line,
        seq,
        message: `event ${seq} comes after event ${expectedSeq - 1}: moved, replayed or inserted`,
      });
    } else if (prev_hash !== lastHash) {
      problems.push({
        kind: 'inserted',
        line,
        seq,
        message: `event ${seq} does not follow the event before it (its previous hash differs)`,
      });
    }
    expectedSeq = seq + 1;
    lastHash = hash;
    lastType = event.type;
  });
  if (events > 0 && lastType !== 'session.end' && !problems.some((p) => p.kind === 'truncated')) {
    problems.push({
      kind: 'unfinished',
      line: lines.length,
      message: 'the chain has no session.end event: it was cut off, or the session is still running',
    });
  }
  return { events, problems, isIntact: problems.every((p) => p.kind === 'unfinished') };
}
