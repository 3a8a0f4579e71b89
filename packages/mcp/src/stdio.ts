// The gateway over stdio, for an agent that starts `perimeter mcp` as its one MCP server. The
// SDK's serveStdio reads the connection's first message to choose the protocol era: `initialize`
// (2025-06-18, 2025-11-25 and older) or a request carrying the 2026-07-28 envelope, answering a
// `server/discover` probe on its own. Either way the gateway's own server (Gateway.server) serves
// it, with the same handlers.

import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { Gateway } from './gateway.js';

export interface StdioGateway {
  /** Ends the connection. */
  close(): Promise<void>;
}

/**
 * Serves the gateway on this process's standard input and output. `gateway` is awaited by the
 * first request that needs it, not before: a client that only probes starts nothing.
 */
export function serveGatewayStdio(gateway: () => Promise<Gateway>, version?: string): StdioGateway {
  return serveStdio(() =>
    Gateway.server(gateway, { connection: true, ...(version !== undefined ? { version } : {}) }),
  );
}
