// One entry of an MCP server's `sandbox.network`: a host pattern as network rules take it
// (`api.example.com`, `*.example.com`, `db.example.com:5432`), or an address or CIDR block with an
// optional port (`10.0.0.5`, `10.0.0.0/8:5432`, `fd00::1`, `[fd00::1]:5432`). The catalog's
// validation and the server's generated policy both read entries here. Pure.

import { compileHostPattern, type HostPatternOptions, type PatternError } from './host-pattern.js';
import { parseCidr, type CidrError } from './ip.js';
import { parsePortSpec } from './ports.js';

export type NetworkEntry =
  | { readonly kind: 'host'; readonly pattern: string }
  /** `cidr` without the port; `port` as written (`5432`, `8000-8999`, `*`), absent for the default. */
  | { readonly kind: 'address'; readonly cidr: string; readonly port?: string };

/** Why text that reads as an address or CIDR block is not one, and how to write it. */
export function cidrProblem(text: string, error: CidrError): PatternError {
  return {
    message: `"${text}" is not a valid IP address or CIDR block`,
    hint:
      error === 'host-bits-set'
        ? 'clear the host bits (for example 10.0.0.0/8, not 10.0.0.1/8)'
        : 'write an address or a block such as 10.0.0.0/8 or fd00::/8',
  };
}

/** Text a host name never is: a block (`/`), a bracketed or bare IPv6 address, or digits and dots. */
const looksLikeAddress = (text: string): boolean =>
  text.includes('/') || text.startsWith('[') || text.split(':').length > 2 || /^[0-9.]+(:|$)/.test(text);

/** What is wrong with an entry, under the code a network rule's field would give it. */
export interface NetworkEntryError extends PatternError {
  readonly code: 'bad-host-pattern' | 'bad-cidr' | 'bad-port';
}

export function parseNetworkEntry(
  text: string,
  options: HostPatternOptions = {},
): { entry: NetworkEntry } | { error: NetworkEntryError } {
  const body = text.trim();
  if (!looksLikeAddress(body)) {
    const host = compileHostPattern(body, options);
    if ('error' in host) return { error: { ...host.error, code: 'bad-host-pattern' } };
    return { entry: { kind: 'host', pattern: body } };
  }
  // A bare address or block (an IPv6 one holds colons of its own, so its port needs brackets).
  const whole = parseCidr(body);
  if (!('error' in whole)) return { entry: { kind: 'address', cidr: body } };
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(body);
  const colon = body.lastIndexOf(':');
  const [cidr, port] = bracketed
    ? [bracketed[1] ?? '', bracketed[2]]
    : colon >= 0 && !body.slice(0, colon).includes(':')
      ? [body.slice(0, colon), body.slice(colon + 1)]
      : [body, undefined];
  const parsed = parseCidr(cidr);
  if ('error' in parsed) {
    const problem = cidrProblem(cidr, parsed.error);
    if (parsed.error === 'host-bits-set') return { error: { ...problem, code: 'bad-cidr' } };
    const hint = `${problem.hint ?? ''}, with a port if needed: 10.0.0.5:5432, [fd00::1]:5432`;
    return { error: { message: problem.message, hint, code: 'bad-cidr' } };
  }
  if (port === undefined) return { entry: { kind: 'address', cidr } };
  const ports = parsePortSpec(port);
  if (typeof ports === 'string')
    return {
      error: {
        message: `bad port on "${body}": ${ports}`,
        hint: 'write 443, "8000-8999" or "*"',
        code: 'bad-port',
      },
    };
  return { entry: { kind: 'address', cidr, port } };
}
