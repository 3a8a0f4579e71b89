// MCP tool annotations as rules read them. Pure.

import type { ToolAnnotations } from './schema.js';

/**
 * MCP's defaults for missing annotations: a tool is assumed to write, destructively, to the open
 * world. Annotations are claims of an untrusted server, so a declared `destructiveHint: true`
 * stands even next to `readOnlyHint: true`: a deny on destructive tools cannot be talked out of.
 */
export function effectiveAnnotations(a: ToolAnnotations | undefined): Required<ToolAnnotations> {
  const readOnly = a?.readOnlyHint ?? false;
  return {
    readOnlyHint: readOnly,
    destructiveHint: a?.destructiveHint ?? !readOnly,
    idempotentHint: readOnly ? true : (a?.idempotentHint ?? false),
    openWorldHint: a?.openWorldHint ?? true,
  };
}
