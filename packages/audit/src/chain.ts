// The hash chain: each event carries its position and the hash of the one before, and its own
// hash over its canonical form, so editing, deleting, inserting or reordering an event shows.

import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
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
  return createHash('sha256')
    .update(canonicalJson({ ...event, integrity }))
    .digest('hex');
}

/** Links a record into the chain: returns the sealed event and the chain's next state. */
export function seal(record: AuditRecord, state: ChainState): { event: AuditEvent; state: ChainState } {
  const unsealed = {
    ...record,
    integrity: { chain_id: state.chainId, seq: state.nextSeq, prev_hash: state.lastHash },
  };
  const hash = hashOf(unsealed);
  const event: AuditEvent = { ...unsealed, integrity: { ...unsealed.integrity, hash } };
  return { event, state: { chainId: state.chainId, nextSeq: state.nextSeq + 1, lastHash: hash } };
}
