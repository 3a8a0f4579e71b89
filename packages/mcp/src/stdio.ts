// The gateway over stdio, for an agent that starts `perimeter mcp` as its one MCP server. The
// SDK's serveStdio reads the connection's first message to choose the protocol era: `initialize`
// (2025-06-18, 2025-11-25 and older) or a request carrying the 2026-07-28 envelope, answering a
// `server/discover` probe on its own. Either way the gateway's own server (Gateway.server) serves
// it, with the same handlers. The agent's lines are read by AgentTransport (linear, bounded), not
// the SDK's own stdio transport.

import type { Readable, Writable } from 'node:stream';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { AgentTransport } from './agent-transport.js';
import { Gateway } from './gateway.js';

export interface StdioGateway {
  /** Ends the connection. */
  close(): Promise<void>;
}

/** Where the agent's messages are read and its answers written: this process's stdio unless said. */
export interface AgentStreams {
  readonly input: Readable;
  readonly output: Writable;
}

/**
 * Serves the gateway on this process's standard input and output (or `streams`). `gateway` is
 * awaited by the first request that needs it, not before: a client that only probes starts nothing.
 */
export function serveGatewayStdio(
  gateway: () => Promise<Gateway>,
  version?: string,
  streams?: AgentStreams,
): StdioGateway {
  return serveStdio(
    () => Gateway.server(gateway, { connection: true, ...(version !== undefined ? { version } : {}) }),
    { transport: new AgentTransport(streams?.input, streams?.output) },
  );
}
