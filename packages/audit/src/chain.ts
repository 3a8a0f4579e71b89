// The hash chain: each event carries its position and the hash of the one before, and its own
// hash over its canonical form, so editing, deleting, inserting or reordering an event shows.

import { hash } from 'node:crypto';
import { canonicalAround, canonicalJson } from './canonical-json.js';
import type { AuditEvent, AuditRecord } from './event.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Where a chain stands: what the next event links to. */
export interface ChainState {
  readonly chainId: string;
  /** The seq the next event gets. */
  readonly nextSeq: number;
  readonly lastHash: string;
}

export function newChain(chainId: string): ChainState {
  return { chainId, nextSeq: 0, lastHash: GENESIS_HASH };
}

/** SHA-256 (hex) of the event's canonical form without `integrity.hash`. */
export function hashOf(
  event: AuditRecord & { integrity: Omit<AuditEvent['integrity'], 'hash'> & { hash?: string } },
): string {
  const { hash: _hash, ...integrity } = event.integrity;
  return sha256(canonicalJson({ ...event, integrity }));
}

/** One-shot: about half the cost of a Hash object for an event's few hundred bytes. */
function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}

/**
 * Links a record into the chain: returns the sealed event, its line as the spool writes it (the
 * event's canonical JSON), and the chain's next state. The record is serialised once: the hash is
 * taken over its canonical form with the integrity block that has no hash yet, and the line is
 * the same members around the block with it.
 */
export function seal(
  record: AuditRecord,
  state: ChainState,
): { event: AuditEvent; line: string; state: ChainState } {
  const integrity = { chain_id: state.chainId, seq: state.nextSeq, prev_hash: state.lastHash };
  const { before, after } = canonicalAround(record, 'integrity');
  const around = (block: object): string =>
    `{${before}${before === '' ? '' : ','}"integrity":${canonicalJson(block)}${after === '' ? '' : ','}${after}}`;
  const hash = sha256(around(integrity));
  const sealed = { ...integrity, hash };
  const event: AuditEvent = { ...record, integrity: sealed };
  return {
    event,
    line: around(sealed),
    state: { chainId: state.chainId, nextSeq: state.nextSeq + 1, lastHash: hash },
  };
}
