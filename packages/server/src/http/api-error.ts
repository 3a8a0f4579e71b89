// Errors as the API sends them: a status, a stable code, one sentence saying what is wrong, and
// how to fix it. Every 4xx and 5xx body has this one shape, `{"error": {code, message, hint?,
// details?, requestId}}`, described once in the OpenAPI document.

import { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    /** Data that explains the error further: validation issues, failing checks. */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.string().describe('Stable, for programs: not-found, invalid-body, forbidden, …'),
      message: z.string().describe('One sentence saying what is wrong.'),
      hint: z.string().optional().describe('How to fix it.'),
      details: z.unknown().optional().describe('More data: validation issues, failing checks.'),
      requestId: z.string().describe('Quote it when asking about a failure: the server log has it.'),
    }),
  })
  .describe('The one shape of every error response.');

/** The one answer for anything that does not exist in the caller's organisation. */
export function notFound(what: string): ApiError {
  return new ApiError(
    404,
    'not-found',
    `${what} was not found`,
    'check the id; ids belong to one organisation',
  );
}

export function conflict(message: string, hint?: string): ApiError {
  return new ApiError(409, 'conflict', message, hint);
}
