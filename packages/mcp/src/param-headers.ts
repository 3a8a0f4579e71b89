// SEP-2243 (MCP 2026-07-28 over Streamable HTTP): a tool's inputSchema may mark arguments with
// `x-mcp-header: Name`, and a client then mirrors each such argument into an `Mcp-Param-Name`
// header, for proxies in front of the server to route and decide on. Perimeter decides on the
// body; a header that disagrees with it is refused (research/mcp-gateways.md §5, threat 11), so
// nothing in front of Perimeter can be shown one call while Perimeter runs another. Pure: the
// caller reads the headers.

/** An `x-mcp-header` declaration: the argument's path through `properties`, the header's name. */
interface Declaration {
  readonly path: readonly string[];
  readonly header: string;
  readonly type: unknown;
}

const BASE64_OPEN = '=?base64?';
const BASE64_CLOSE = '?=';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * Why the `Mcp-Param-*` headers of a call disagree with its arguments, or undefined when they
 * agree: every argument `inputSchema` declares a header for and the body carries (as a string,
 * number or boolean) must arrive in that header with the same value. `header` reads a request
 * header by name (null when absent).
 */
export function paramHeaderMismatch(
  inputSchema: unknown,
  args: unknown,
  header: (name: string) => string | null,
): string | undefined {
  for (const d of declarations(inputSchema)) {
    const body = valueAt(args, d.path);
    const expected = asHeaderText(body);
    if (expected === undefined) continue;
    const name = `Mcp-Param-${d.header}`;
    const sent = header(name);
    const where = `arguments.${d.path.join('.')}`;
    if (sent === null) return `the body carries ${where} but the ${name} header is absent`;
    const decoded = decode(sent);
    if (decoded === undefined) return `the ${name} header carries an invalid Base64 value`;
    const equal =
      (d.type === 'integer' || d.type === 'number') && typeof body === 'number' && DECIMAL.test(decoded)
        ? Number(decoded) === body
        : decoded === expected;
    if (!equal)
      return `the ${name} header says ${JSON.stringify(decoded)} but the body carries ${where}=${JSON.stringify(body)}`;
  }
  return undefined;
}

/** The declarations reachable through `properties` alone (the only place the spec allows them). */
function declarations(schema: unknown, path: readonly string[] = []): Declaration[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const found: Declaration[] = [];
  const header = node['x-mcp-header'];
  if (path.length > 0 && typeof header === 'string' && header !== '')
    found.push({ path, header, type: node.type });
  const properties = node.properties;
  if (properties !== null && typeof properties === 'object')
    for (const [key, child] of Object.entries(properties)) found.push(...declarations(child, [...path, key]));
  return found;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** A primitive argument as its header carries it; undefined when no header is expected for it. */
function asHeaderText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!Number.isInteger(value) || Number.isSafeInteger(value))
  )
    return String(value);
  return undefined;
}

/** A header's value: as sent, or the UTF-8 inside a Base64 sentinel; undefined when that is malformed. */
function decode(value: string): string | undefined {
  if (!value.startsWith(BASE64_OPEN) || !value.endsWith(BASE64_CLOSE)) return value;
  const b64 = value.slice(BASE64_OPEN.length, value.length - BASE64_CLOSE.length);
  if (!BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}
