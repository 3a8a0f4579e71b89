// MCP tool annotations as rules read them. Pure.

import type { ToolAnnotations } from './schema.js';

/** MCP's defaults for missing annotations: a tool is assumed to write, destructively, to the open world. */
export function effectiveAnnotations(a: ToolAnnotations | undefined): Required<ToolAnnotations> {
  const readOnly = a?.readOnlyHint ?? false;
  return {
    readOnlyHint: readOnly,
    destructiveHint: readOnly ? false : (a?.destructiveHint ?? true),
    idempotentHint: readOnly ? true : (a?.idempotentHint ?? false),
    openWorldHint: a?.openWorldHint ?? true,
  };
}
