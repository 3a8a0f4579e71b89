// The MCP gateway and the SDK under it load only when they are used (an mcp command, or a session
// whose policy has an MCP catalog): every `perimeter run` reads and compiles what the one-file
// bundle holds, so the bundle does not hold them. They are required at run time from beside this
// file, which sits in the same directory as the bundle (Node >= 20.19 requires ES modules); the
// bundler does not follow this require.

import { createRequire } from 'node:module';
import type * as McpCommandsModule from './commands/mcp.js';

const MCP_COMMANDS = './commands/mcp.js';

export function mcpCommands(): typeof McpCommandsModule {
  return createRequire(import.meta.url)(MCP_COMMANDS) as typeof McpCommandsModule;
}
