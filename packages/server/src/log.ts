// Structured logs: one JSON object per line (time, level, event, then fields), to standard error
// by default. Never a token, a secret, a request body or a policy text; ids, counts and codes only.

export type Level = 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: Level, event: string, fields?: LogFields): void;
}

export function jsonLogger(write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
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
