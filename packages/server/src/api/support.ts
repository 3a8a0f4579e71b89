// What the route handlers share: admin actions done in one transaction with their audit event,
// ids read from paths (a malformed id is simply not found), and unique-constraint violations
// turned into a 409 that says which name is taken.

import type { Queryable } from '../db/database.js';
import { DatabaseError } from '../db/database.js';
import { ApiError, conflict, notFound } from '../http/api-error.js';
import type { App, Auth } from '../http/route.js';
import { isIdOf, type IdKind } from '../ids.js';
import { recordAdminAction, type AdminAction } from '../store/events.js';

/**
 * Runs an admin action and appends its audit event in the same transaction: both happen, or
 * neither does.
 */
export function audited<T>(
  app: App,
  auth: Auth,
  fn: (tx: Queryable, now: number) => Promise<{ readonly result: T; readonly action: AdminAction }>,
): Promise<T> {
  return app.db.transaction(async (tx) => {
    const now = app.now();
    const { result, action } = await fn(tx, now);
    await recordAdminAction(tx, auth.org.id, auth.actor, action, now);
    return result;
  });
}

/**
 * Awaits a change that alters what the organisation's devices should hold (a publication, group
 * membership, a signing key), then wakes the devices waiting for their bundle: after the commit,
 * so what they read is the change.
 */
export async function announcing<T>(app: App, orgId: string, change: Promise<T>): Promise<T> {
  const result = await change;
  app.changes.announce(orgId);
  return result;
}

/** audited(), for an admin action that changes what devices hold (group membership, a group's name). */
export function auditedBundleChange<T>(
  app: App,
  auth: Auth,
  fn: (tx: Queryable, now: number) => Promise<{ readonly result: T; readonly action: AdminAction }>,
): Promise<T> {
  return announcing(app, auth.org.id, audited(app, auth, fn));
}

/** The id in a path, or a 404 for text that cannot be an id of this kind. */
export function idParam(kind: IdKind, text: string, what: string): string {
  if (!isIdOf(kind, text)) throw notFound(what);
  return text;
}

/** A positive whole number in a path (a revision), or a 404. */
export function numberParam(text: string, what: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw notFound(what);
  return Number(text);
}

/** Awaits a write; a unique-constraint violation becomes a 409 with this message. */
export async function unlessTaken<T>(write: Promise<T>, message: string, hint: string): Promise<T> {
  try {
    return await write;
  } catch (e) {
    if (e instanceof DatabaseError && e.constraint === 'unique') throw conflict(message, hint);
    throw e;
  }
}

/** A value that must exist, or a 404 naming it. */
export function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw notFound(what);
  return value;
}

export { ApiError };
