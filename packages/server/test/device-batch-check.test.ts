// One uploaded line checked on its own (device-batch.ts checkLine): its hash is taken over the event
// as the device sent it, so an event that holds keys the schema's copy would lose still checks out.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { lifecycleRecord, newChain, seal } from '@perimeter/audit';
import { checkLine } from '../src/device-batch.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');

function sealedLine(outcome: Record<string, string | number | boolean>): string {
  return seal(
    lifecycleRecord('mcp.result', { sessionId: 'device-session', now: NOW }, outcome),
    newChain('c'),
  ).line;
}

it('accepts an event whose outcome holds an own "__proto__" key, as JSON.parse makes it, and refuses it edited', () => {
  const outcome = JSON.parse('{"__proto__":"x","server":"s"}') as Record<string, string>;
  const line = sealedLine(outcome);
  const check = checkLine(line, NOW);
  assert.equal(check.kind, 'event');
  assert.ok(check.kind === 'event' && !('problem' in check.check), JSON.stringify(check));

  const edited = checkLine(line.replace('"__proto__":"x"', '"__proto__":"y"'), NOW);
  assert.ok(edited.kind === 'event' && 'problem' in edited.check);
  assert.match((edited.check as { problem: string }).problem, /changed after it was sealed/);
});
