// The MCP gateway and the SDK under it load only when they are used (an mcp command, or a session
// whose policy has an MCP catalog): every `perimeter run` reads and compiles what the one-file
// bundle holds, so the bundle does not hold them. Where `perimeter` runs from that bundle, they
// come from a bundle of their own (main.lazy-mcp.cjs, with its own code cache), which the
// executable loads (bin/perimeter.js); elsewhere they are required from beside this file, which
// sits in the same directory as the bundle (Node >= 20.19 requires ES modules). The bundler
// follows neither.

import { createRequire } from 'node:module';
import type * as McpCommandsModule from './commands/mcp.js';

const MCP_COMMANDS = './commands/mcp.js';

type LazyBundleLoader = (name: string) => unknown;

export function mcpCommands(): typeof McpCommandsModule {
  const loadLazyBundle = (globalThis as Record<symbol, LazyBundleLoader | undefined>)[
    Symbol.for('perimeter.loadLazyBundle')
  ];
  return (loadLazyBundle?.('mcp') ??
    createRequire(import.meta.url)(MCP_COMMANDS)) as typeof McpCommandsModule;
}
