// `--listen HOST:PORT` → host and port, and the URL people reach the server at. Pure.

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 8787 };

/** Reads `127.0.0.1:8787`, `[::1]:8787`, `0.0.0.0:80`, `localhost:8787`; port 0 picks a free one. */
export function parseListen(text: string): ListenAddress | { error: string } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535)
    return { error: `"${text}" is not HOST:PORT (for example 127.0.0.1:8787, [::1]:8787 or 0.0.0.0:8787)` };
  return { host: m[1] ?? m[2] ?? '', port };
}

/** How to reach a server listening on `host:port` from this machine: a wildcard means loopback. */
export function urlFor(host: string, port: number): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}
