// The scan pool's worker thread (scan-pool.ts): scans the large values and the listings' new
// definitions the gateway posts, with the bound credentials' real values it was started with, and
// answers with what differs from what the gateway has.

import { parentPort, workerData } from 'node:worker_threads';
import { knownMatcher, type KnownValue } from '@perimeter/detect';
import { answerTo, type WorkerTask } from './scan-pool.js';

const { credentials } = workerData as { readonly credentials: readonly KnownValue[] };
const known = credentials.length > 0 ? knownMatcher(credentials) : undefined;

parentPort?.on('message', (task: WorkerTask) => parentPort?.postMessage(answerTo(task, known)));
