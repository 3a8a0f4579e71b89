// Structured logs: one JSON object per line (time, level, event, then fields), to standard error
// by default. Never a token, a secret, a request body or a policy text; ids, counts and codes only.

export type Level = 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: Level, event: string, fields?: LogFields): void;
}

let stderrPending: string[] = [];
let isFlushedAtExit = false;

function flushStderr(): void {
  if (stderrPending.length === 0) return;
  const text = stderrPending.join('');
  stderrPending = [];
  process.stderr.write(text);
}

/**
 * Standard error, a turn of the event loop at a time: the lines of one turn go out in one write
 * (a publication wakes thousands of requests in a few turns, and a write per line was a system
 * call per line), and whatever is left goes out as the process exits.
 */
function writeStderr(line: string): void {
  if (stderrPending.length === 0) {
    if (!isFlushedAtExit) process.on('exit', flushStderr);
    isFlushedAtExit = true;
    setImmediate(flushStderr);
  }
  stderrPending.push(line);
}

export function jsonLogger(write: (line: string) => void = writeStderr): Logger {
  return {
    log(level, event, fields = {}) {
      write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
    },
  };
}

/** What an error looks like in a log line: its message and, for our own bugs, where it came from. */
export function errorFields(error: unknown): LogFields {
  if (!(error instanceof Error)) return { error: String(error) };
  return {
    error: error.message,
    errorName: error.name,
    stack: error.stack?.split('\n').slice(0, 8).join('\n'),
  };
}
