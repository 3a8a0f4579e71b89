// Identifiers of stored things: a short prefix that says what it is, then a UUIDv7 (time-ordered,
// unguessable), so an id in a log or an URL reads as what it is (`pol_…` a policy).

import { uuid7 } from '@perimeter/audit';

export const ID_PREFIX = {
  org: 'org',
  admin: 'adm',
  token: 'tok',
  user: 'usr',
  group: 'grp',
  policy: 'pol',
  device: 'dev',
  invitation: 'inv',
} as const;
export type IdKind = keyof typeof ID_PREFIX;

export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${ID_PREFIX[kind]}_${uuid7(now).replace(/-/g, '')}`;
}

/** True when `text` could be an id of this kind; anything else is answered as not found. */
export function isIdOf(kind: IdKind, text: string): boolean {
  return new RegExp(`^${ID_PREFIX[kind]}_[0-9a-f]{32}$`).test(text);
}
