// The policy a stdio upstream runs under inside its own sandbox: built from its catalog entry, not
// from the agent's policy (a server is not the agent, and reaches neither the agent's home grants
// nor its network). Pure: the caller compiles it, plans the mounts and starts the egress proxy.
//
// What a server gets: the system directories read-only, the workspace read-only (or read-write,
// or nothing), a private home directory of its own that persists between runs (package caches
// such as npx's), the extra paths its entry names, and the network hosts its entry names —
// through an egress proxy of its own that decides and audits every connection. Nothing else.

import { parseCidr, parseNetworkEntry, type McpServer, type PolicyDocument } from '@perimeter/policy';

/** Read-only for every server: programs, libraries and system configuration. */
export const SERVER_SYSTEM_PATHS = [
  '/usr/**',
  '/bin/**',
  '/sbin/**',
  '/lib/**',
  '/lib64/**',
  '/etc/**',
  '/opt/**',
];

/** Never readable by a server, even under the system grant. */
export const SERVER_DENIED_PATHS = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/sudoers.d/**'];

/** The name of every server's sandbox policy (it appears in the server's audit events). */
export const SERVER_POLICY_NAME = 'mcp-server-sandbox';

/**
 * The sandbox policy of one stdio server. `home` is the server's private home directory (an
 * absolute path the caller creates); `~` in the entry's paths means the user's home, as in every
 * policy.
 */
export function serverSandboxPolicy(server: McpServer, home: string): PolicyDocument {
  const box = server.sandbox ?? {};
  const workspace = box.workspace ?? 'read';
  const allow: { id: string; paths: string[]; access: 'read' | 'rw' }[] = [
    { id: 'server-system', paths: SERVER_SYSTEM_PATHS, access: 'read' },
    { id: 'server-home', paths: [`${home}/**`], access: 'rw' },
  ];
  if (workspace !== 'none')
    allow.push({ id: 'server-workspace', paths: ['${workspace}/**'], access: workspace });
  if (box.read) allow.push({ id: 'server-read', paths: [...box.read], access: 'read' });
  if (box.write) allow.push({ id: 'server-write', paths: [...box.write], access: 'rw' });
  return serverPolicy(`The sandbox of the MCP server ${server.id}, from its catalog entry.`, {
    filesystem: {
      default: 'deny',
      allow,
      deny: [{ id: 'server-system-secrets', paths: SERVER_DENIED_PATHS }],
    },
    // No network rule allows anything else: every other destination is denied (and audited).
    ...(box.network ? { network: { allow: networkAllows(box.network) } } : {}),
  });
}

/** A server's policy document: the same name and layer for every server, its own sections. */
function serverPolicy(
  description: string,
  sections: Pick<PolicyDocument, 'filesystem' | 'network'>,
): PolicyDocument {
  return {
    apiVersion: 'perimeter/v1',
    kind: 'Policy',
    metadata: { name: SERVER_POLICY_NAME, layer: 'org', description },
    ...sections,
  };
}

/**
 * Host patterns go in one rule (a port written on a pattern is its own), addresses and CIDR blocks
 * in one rule per port they name (`203.0.113.80/32`: ports 80 and 443; `10.0.0.5:5432`: 5432).
 */
function networkAllows(
  entries: readonly string[],
): { id: string; hosts?: string[]; cidrs?: string[]; ports?: string[] }[] {
  const hosts: string[] = [];
  const addresses = new Map<string, string[]>(); // by port as written, '' for the default
  for (const text of entries) {
    const parsed = parseNetworkEntry(text);
    // An entry that is neither goes in as a host pattern, which the compiler refuses: never dropped.
    if ('error' in parsed) hosts.push(text);
    else if (parsed.entry.kind === 'host') hosts.push(parsed.entry.pattern);
    else {
      const { cidr, port = '' } = parsed.entry;
      addresses.set(port, [...(addresses.get(port) ?? []), cidr]);
    }
  }
  return [
    ...(hosts.length > 0 ? [{ id: 'server-network', hosts }] : []),
    ...[...addresses].map(([port, cidrs]) =>
      port === ''
        ? { id: 'server-network-addresses', cidrs }
        : { id: `server-network-addresses-${port === '*' ? 'any-port' : port}`, cidrs, ports: [port] },
    ),
  ];
}

/**
 * The egress policy of a remote server: its URL's host and port, nothing else. The address a name
 * resolves to is still vetted by the built-in guard (no metadata service, no private or loopback
 * range unless the URL names the address itself, or is `localhost`).
 */
export function remoteServerPolicy(server: McpServer): PolicyDocument {
  const url = new URL(server.url ?? '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const allow =
    'error' in parseCidr(host)
      ? [
          { id: 'server-url', hosts: [host], ports: [port] },
          ...(host === 'localhost'
            ? [{ id: 'server-url-loopback', cidrs: ['127.0.0.1', '::1'], ports: [port] }]
            : []),
        ]
      : [{ id: 'server-url', cidrs: [host], ports: [port] }];
  return serverPolicy(`The egress of the remote MCP server ${server.id}: its URL only.`, {
    network: { allow },
  });
}
