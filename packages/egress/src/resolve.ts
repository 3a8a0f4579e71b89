// Name resolution for the proxy: names are resolved on the host, after the name is allowed, and
// only vetted addresses are dialled (no second lookup: research egress-dns-02).

import { dns } from './lazy-builtins.js';

/** Resolves a canonical host name to its addresses (both families). An empty list is a failure. */
export type Resolver = (name: string) => Promise<readonly string[]>;

export const systemResolver: Resolver = async (name) => {
  const answers = await dns().lookup(name, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};
