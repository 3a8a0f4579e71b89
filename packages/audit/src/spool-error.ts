// The spool's error: one sentence for a person and a hint, printed by the CLI without a stack.

export class SpoolError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SpoolError';
  }
}
