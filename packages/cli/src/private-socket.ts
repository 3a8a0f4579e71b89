// A Unix socket only its owner may connect to, from the moment it exists. (packages/mcp's
// listenHttp binds its socket the same way: this package cannot be imported there, and importing
// @perimeter/mcp here would load the MCP SDK into every `perimeter run`.)

import type { Server } from 'node:net';

/**
 * Listens on `path`, a socket born 0600: listen binds at once, inside a umask that leaves the
 * group and others nothing, so there is no moment when it is open to them (sandbox.md case 13).
 */
export function listenPrivate(server: Server, path: string): Promise<void> {
  return new Promise<void>((ok, fail) => {
    server.once('error', fail);
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', fail);
        ok();
      });
    } finally {
      process.umask(umask);
    }
  });
}
