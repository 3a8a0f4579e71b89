// Limits checked on policy text before it is parsed. Pure. The YAML composer recurses once per
// nesting level, so a 10 KB file of `[[[[…` exhausts the stack, and a second such file in the same
// process can abort it. These checks run on the (iterative) lexer's tokens, so quotes and comments
// are read the way the parser reads them, and reject any nesting no policy needs.

import { CST, Lexer } from 'yaml';

export const MAX_POLICY_BYTES = 1 << 20;
const MAX_FLOW_DEPTH = 64;
const MAX_LINE_INDICATORS = 32;
const MAX_INDENT = 256;

/** UTF-8 length, computed only when the UTF-16 length leaves any doubt. */
export function utf8Length(text: string): number {
  if (text.length * 3 <= MAX_POLICY_BYTES) return text.length;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** A sentence saying why the text nests too deeply, or undefined when it is fine. */
export function nestingProblem(text: string): { message: string; offset: number } | undefined {
  let flow = 0;
  let offset = 0;
  let atLineStart = true;
  let indicators = 0;
  const NEUTRAL = new Set(['doc-mode', 'byte-order-mark', 'doc-start', 'comment']);
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    switch (type) {
      case 'flow-seq-start':
      case 'flow-map-start':
        if (++flow > MAX_FLOW_DEPTH)
          return { message: `the YAML nests [ and { deeper than ${MAX_FLOW_DEPTH} levels`, offset };
        atLineStart = false;
        break;
      case 'flow-seq-end':
      case 'flow-map-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'newline':
        atLineStart = true;
        indicators = 0;
        break;
      case 'space':
        if (atLineStart && indicators === 0 && token.length > MAX_INDENT) {
          return { message: `the YAML is indented deeper than ${MAX_INDENT} columns`, offset };
        }
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
        if (atLineStart && ++indicators > MAX_LINE_INDICATORS) {
          return {
            message: `the YAML opens more than ${MAX_LINE_INDICATORS} nested collections on one line`,
            offset,
          };
        }
        break;
      default:
        if (!NEUTRAL.has(type ?? '')) atLineStart = false;
    }
    offset += token.length;
  }
  return undefined;
}
