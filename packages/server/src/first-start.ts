// The first start: an empty database gets its organisation, and an organisation without an owner
// gets a one-time bootstrap token, printed once and stored only as a hash. Until an owner claims
// it, each start replaces it with a fresh one (the printed one is the only copy, so a lost
// terminal must not lock the organisation out). Done under a lock so that two replicas starting
// on one empty PostgreSQL make one organisation.

import type { Database } from './db/database.js';
import { DIALECTS, LOCKS } from './db/dialect.js';
import { countOwners, issueBootstrapToken } from './store/admins.js';
import { createOrg, firstOrg, type Org } from './store/orgs.js';

export interface Bootstrap {
  readonly secret: string;
  readonly expiresAt: number;
}

export const DEFAULT_ORG = { slug: 'default', name: 'Default organisation' } as const;

/** The organisation a first start made (or finds), and a bootstrap token when it has no owner. */
export async function ensureOrganisation(
  db: Database,
  now: number,
): Promise<{ org: Org; bootstrap?: Bootstrap }> {
  return db.transaction(async (tx) => {
    const lock = DIALECTS[tx.dialect].lock(LOCKS.firstOrg);
    if (lock) await tx.all(lock);
    const org = (await firstOrg(tx)) ?? (await createOrg(tx, DEFAULT_ORG, now));
    if ((await countOwners(tx, org.id)) > 0) return { org };
    return { org, bootstrap: await issueBootstrapToken(tx, org.id, now) };
  });
}

/** Another organisation on this server, with the bootstrap token its first owner claims it with. */
export async function createOrganisation(
  db: Database,
  input: { readonly slug: string; readonly name: string },
  now: number,
): Promise<{ org: Org; bootstrap: Bootstrap }> {
  return db.transaction(async (tx) => {
    const org = await createOrg(tx, input, now);
    return { org, bootstrap: await issueBootstrapToken(tx, org.id, now) };
  });
}
