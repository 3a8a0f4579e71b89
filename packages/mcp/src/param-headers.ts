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
}

/**
 * The JSON-RPC error of a request whose headers disagree with its body (MCP 2026-07-28's
 * HeaderMismatch; the SDK names no constant for it).
 */
export const HEADER_MISMATCH = -32020;

const BASE64_OPEN = '=?base64?';
const BASE64_CLOSE = '?=';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;
/** What a mismatch names when the tool's declarations, not one header, are at fault. */
const ANY_PARAM = 'Mcp-Param-*';
/** An HTTP field name (RFC 9110 token): what `Mcp-Param-` may be followed by. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A call whose headers disagree with its body: the header that does (for the audit), and why (for the client). */
export interface HeaderMismatch {
  /** The header's name, as the tool declares it (`Mcp-Param-Region`); never its value. */
  readonly header: string;
  /** What disagrees, the values included: the client's own, told back to it. */
  readonly reason: string;
}

/**
 * Where the `Mcp-Param-*` headers of a call disagree with its arguments, or undefined when they
 * agree. Every argument `inputSchema` declares a header for and the body carries as a string,
 * number or boolean must arrive in that header, once, with the same value (an integer in its
 * decimal form, exactly). A header sent for an argument the body lacks, or carries as something
 * a header cannot say (an array, an object, null, an integer past 2^53), disagrees too: whatever
 * reads the header would be shown a call that is not the one run. A tool whose declarations are
 * not valid (a header name that is no HTTP token, one name declared twice) cannot be checked, so
 * its calls disagree. `header` reads a request header's lines by name (none when absent).
 */
export function paramHeaderMismatch(
  inputSchema: unknown,
  args: unknown,
  header: (name: string) => readonly string[],
): HeaderMismatch | undefined {
  const declared = declarations(inputSchema);
  const invalid = invalidDeclaration(declared);
  if (invalid !== undefined) return invalid;
  for (const d of declared) {
    const name = `Mcp-Param-${d.header}`;
    const why = mismatchOf(d, name, args, header(name));
    if (why !== undefined) return { header: name, reason: why };
  }
  return undefined;
}

/** Why one declared argument's header disagrees with the body, or undefined when it agrees. */
function mismatchOf(
  d: Declaration,
  name: string,
  args: unknown,
  lines: readonly string[],
): string | undefined {
  const where = `arguments.${d.path.join('.')}`;
  if (lines.length > 1) return `the ${name} header is sent more than once`;
  const sent = lines[0];
  const body = valueAt(args, d.path);
  const expected = asHeaderText(body);
  if (expected === undefined) {
    if (sent === undefined) return undefined;
    return body === undefined || body === null
      ? `the ${name} header is sent but the body carries no ${where}`
      : `the ${name} header is sent but the body's ${where} is not a value a header can carry`;
  }
  if (sent === undefined) return `the body carries ${where} but the ${name} header is absent`;
  const decoded = decode(sent);
  if (decoded === undefined) return `the ${name} header carries an invalid Base64 value`;
  // A fraction may be written several ways (1e-7, 1e-07); an integer only one.
  const equal =
    typeof body === 'number' && !Number.isInteger(body) && DECIMAL.test(decoded)
      ? Number(decoded) === body
      : decoded === expected;
  if (!equal)
    return `the ${name} header says ${JSON.stringify(decoded)} but the body carries ${where}=${JSON.stringify(body)}`;
  return undefined;
}

/** Why a tool's declarations cannot be checked, or undefined when they can. */
function invalidDeclaration(declared: readonly Declaration[]): HeaderMismatch | undefined {
  const seen = new Set<string>();
  for (const d of declared) {
    if (!TOKEN.test(d.header))
      return {
        header: ANY_PARAM,
        reason: `the tool declares x-mcp-header ${JSON.stringify(d.header)}, which is not a valid header name, so its Mcp-Param headers cannot be checked`,
      };
    const lower = d.header.toLowerCase();
    if (seen.has(lower))
      return {
        header: ANY_PARAM,
        reason: `the tool declares x-mcp-header ${JSON.stringify(d.header)} twice, so its Mcp-Param headers cannot be checked`,
      };
    seen.add(lower);
  }
  return undefined;
}

/** The declarations reachable through `properties` alone (the only place the spec allows them). */
function declarations(schema: unknown, path: readonly string[] = []): Declaration[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const found: Declaration[] = [];
  const header = node['x-mcp-header'];
  if (path.length > 0 && typeof header === 'string') found.push({ path, header });
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
