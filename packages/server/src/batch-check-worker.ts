// A worker thread of batch-checking.ts: checks the lines it is given (device-batch.ts's checkLine)
// and answers with their checks, in order. It holds nothing between tasks.

import { parentPort } from 'node:worker_threads';
import { checkLine } from './device-batch.js';

parentPort?.on('message', (task: { id: number; lines: string[]; now: number }) => {
  parentPort?.postMessage({ id: task.id, checks: task.lines.map((l) => checkLine(l, task.now)) });
});
