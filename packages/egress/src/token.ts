// The session token: compared in constant time, accepted the ways clients can send it
// (sandbox.md case 13). Proxy URLs in environment variables can only carry userinfo, which
// clients send as Basic; tools that can set a header may send Bearer.

import { createHash, timingSafeEqual } from 'node:crypto';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Whether `given` is the token, in time independent of where they differ. */
export function isToken(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

/**
 * Why a request is not the session's, for the audit (never the value offered), or undefined when
 * it carries the token.
 */
export function tokenRefusal(header: string | undefined, token: string): string | undefined {
  if (header === undefined) return 'the request carries no session token (Proxy-Authorization)';
  return isAuthorisedHeader(header, token)
    ? undefined
    : "the token in Proxy-Authorization is not the session's";
}

/** `Proxy-Authorization: Bearer <token>`, or `Basic` with any user name and the token as password. */
function isAuthorisedHeader(header: string, token: string): boolean {
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return isToken(value, token);
  if (scheme !== 'basic') return false;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && isToken(decoded.slice(colon + 1), token);
}
