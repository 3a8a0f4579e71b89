// The scan pool's worker thread (scan-pool.ts): scans the large values the gateway posts, with the
// bound credentials' real values it was started with, and answers with what differs from them.

import { parentPort, workerData } from 'node:worker_threads';
import { knownMatcher, type KnownValue } from '@perimeter/detect';
import { answerOf, shownScan } from './scan-pool.js';

const { credentials } = workerData as { readonly credentials: readonly KnownValue[] };
const known = credentials.length > 0 ? knownMatcher(credentials) : undefined;

parentPort?.on(
  'message',
  ({ id, value, hiddenOnly }: { id: number; value: unknown; hiddenOnly: boolean }) => {
    try {
      parentPort?.postMessage(answerOf(id, value, shownScan(value, hiddenOnly, known)));
    } catch (e) {
      parentPort?.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
    }
  },
);
