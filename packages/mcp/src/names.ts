// The names the agent sees: `server__tool` for tools, prompts and resources, within the rule MCP
// clients apply to tool names (^[a-zA-Z0-9_-]{1,64}$). A name is derived from the server id and the
// upstream's own name only, so adding a server never renames another server's tools; two pairs
// that come out as the same name are both refused rather than one silently winning.

export const SEPARATOR = '__';
const CLIENT_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export function exposedName(server: string, name: string): string {
  return `${server}${SEPARATOR}${name}`;
}

/** Why an exposed name cannot be used, or undefined when it can. */
export function nameProblem(server: string, name: string): string | undefined {
  const exposed = exposedName(server, name);
  if (CLIENT_NAME.test(exposed)) return undefined;
  return exposed.length > 64
    ? `"${exposed}" is longer than the 64 characters MCP clients accept`
    : `"${exposed}" has characters MCP clients refuse in a tool name (allowed: letters, digits, "_" and "-")`;
}

export interface NamedEntry {
  readonly server: string;
  readonly name: string;
}

/**
 * Exposed names that more than one (server, name) pair produces, each with every pair that
 * produces it: `a__b__c` from server `a` tool `b__c` and from server `a__b` tool `c`. `keyOf`
 * names what must be unique when it is not the exposed name (a resource's URI).
 */
export function collisions<T extends NamedEntry>(
  entries: readonly T[],
  keyOf: (entry: T) => string = (e) => exposedName(e.server, e.name),
): Map<string, T[]> {
  const byName = new Map<string, T[]>();
  for (const e of entries) {
    const key = keyOf(e);
    const list = byName.get(key);
    if (list) list.push(e);
    else byName.set(key, [e]);
  }
  for (const [key, list] of byName) if (list.length < 2) byName.delete(key);
  return byName;
}
