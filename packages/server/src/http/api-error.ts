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
    /**
     * Fields beside `error` at the top of the body, for the few errors a client acts on by
     * program (a chain gap carries the heads to resend from); the route documents their shape.
     */
    readonly fields?: Readonly<Record<string, unknown>>,
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

/**
 * An error of the OAuth endpoints (RFC 6749 §5.2, RFC 8628 §3.5): `error` is one of the
 * registered codes (authorization_pending, slow_down, expired_token, access_denied, invalid_grant,
 * …), answered as `{"error": …, "error_description": …}`.
 */
export class OAuthError extends ApiError {
  constructor(status: number, error: string, description: string) {
    super(status, error, description);
    this.name = 'OAuthError';
  }
}

/** The OAuth error code for an API error raised before an OAuth handler ran (a bad body, an outage). */
export function oauthCodeOf(error: ApiError): string {
  if (error instanceof OAuthError) return error.code;
  if (error.status >= 500) return 'server_error';
  if (error.status === 401) return 'invalid_client';
  return 'invalid_request';
}
