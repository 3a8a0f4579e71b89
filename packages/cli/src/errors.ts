// Errors by audience. A UserError is the user's to fix: printed as one sentence plus how to fix
// it, never with a stack. Anything else is ours: a short notice, the stack only with --debug.

export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    /** The process exit code; 3 is "invalid input or policy". */
    readonly exitCode = 3,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
