// The peers' request adapter: turns a Perimeter request into one canonical record per surface,
// which cedar.mjs and cel.mjs hand to their engines. Neither Cedar nor CEL canonicalises hosts,
// IPs, paths or command lines, so a real integration would do exactly this in host code before
// asking them; it reuses Perimeter's exported parsers (canonicalHost, canonicalPath,
// parseCommandLine/commandsOfArgv) so all three engines judge the same canonical resource. Its
// cost is part of every peer decision that is timed.

import {
  canonicalHost,
  canonicalHttpPath,
  canonicalPath,
  commandsOfArgv,
  effectiveAnnotations,
  hasControlCharacter,
  parseCommandLine,
  PRIVILEGE_WRAPPERS,
} from '@perimeter/policy';

/** The most argv words the peers' exec encodings cover (Cedar unrolls `**` up to this many). */
export const MAX_ARGV_WORDS = 16;

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;
const METHOD = /^[A-Za-z]{1,20}$/;

/** HTTP path → canonical path text, as the engine reads it. */
function httpPath(path) {
  const segments = canonicalHttpPath(path);
  return segments === undefined ? undefined : `/${segments.join('/')}`;
}

function basename(word) {
  const slash = word.lastIndexOf('/');
  return slash >= 0 ? word.slice(slash + 1) : word;
}

function parentOf(name) {
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(dot + 1) : '';
}

function typeOf(value) {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number' && !Number.isNaN(value)) return 'number';
  if (typeof value === 'boolean') return 'boolean';
  return 'other';
}

/**
 * Creates the adapter for a rule set. `pathArgKeys` are the MCP argument names that glob rules
 * test: their values are canonicalised as paths (`pathargs`), as the engine does.
 * Returns `normalize(request)` → a record, or null when the request is invalid (the engine denies
 * those before any rule is consulted, and so do the peers).
 */
export function createNormalizer(pathContext, pathArgKeys) {
  const network = (r) => {
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return null;
    const parsed = canonicalHost(r.host);
    if ('error' in parsed) return null;
    const rec = { port: r.port };
    if (r.method !== undefined) {
      if (!METHOD.test(r.method)) return null;
      rec.method = r.method.toUpperCase();
    }
    if (r.path !== undefined) {
      const path = httpPath(r.path);
      if (path === undefined) return null;
      rec.path = path;
    }
    const host = parsed.host;
    rec.host = host.name;
    if (host.kind === 'name') {
      rec.isIp = false;
      rec.parent = parentOf(host.name);
    } else {
      rec.isIp = true;
      rec.ip = host.ip;
      rec.parent = '';
    }
    return rec;
  };

  const filesystem = (r) => {
    const path = canonicalPath(r.path, pathContext);
    if ('error' in path) return null;
    return { path: path.path, depth: path.segments.length, access: r.access };
  };

  const mcp = (r) => {
    const resource = `${r.server}/${r.tool}`;
    if (r.server === '' || r.tool === '' || hasControlCharacter(resource) || resource.length > 512)
      return null;
    const args = r.args ?? {};
    const argtypes = {};
    const pathargs = {};
    for (const [key, value] of Object.entries(args)) {
      argtypes[key] = typeOf(value);
      if (pathArgKeys.has(key) && typeof value === 'string') {
        const path = canonicalPath(value, pathContext);
        if (!('error' in path)) pathargs[key] = path.path;
      }
    }
    return {
      server: r.server,
      tool: r.tool,
      ann: effectiveAnnotations(r.annotations),
      args,
      argtypes,
      pathargs,
    };
  };

  /**
   * Each simple command → the units decided alone (strictest wins), each a list of layers with
   * whether allow rules count there: the command itself (deny and ask rules of every wrapper
   * layer, allows on the command only), and every privilege wrapper (`sudo …`) on its own, since
   * it must be allowed in its own right. A layer is {argv} with argv[0] the program's basename.
   */
  const exec = (r) => {
    const parsed = r.command !== undefined ? parseCommandLine(r.command) : commandsOfArgv(r.argv ?? []);
    if ('error' in parsed) return null;
    const layer = (argv) => {
      if (argv.length > MAX_ARGV_WORDS) throw new Error(`argv longer than ${MAX_ARGV_WORDS} words`);
      // A program the shell computes at run time (or commands read from stdin) may be anything:
      // the engine lets every deny and ask rule match it, and no allow.
      const computed = (argv[0] ?? '').charCodeAt(0) === 0;
      return { argv: [basename(argv[0] ?? ''), ...argv.slice(1)], computed };
    };
    const units = [];
    for (const cmd of parsed.commands) {
      const via = cmd.via.map(layer);
      units.push([...via.map((l) => ({ layer: l, allow: false })), { layer: layer(cmd.argv), allow: true }]);
      via.forEach((l, i) => {
        if (PRIVILEGE_WRAPPERS.has(basename(cmd.via[i][0] ?? ''))) units.push([{ layer: l, allow: true }]);
      });
    }
    return { units };
  };

  const credential = (r) => {
    if (!SECRET_NAME.test(r.secret)) return null;
    if (r.host === undefined) return { secret: r.secret, hasHost: false, host: '', parent: '', port: 0 };
    const parsed = canonicalHost(r.host);
    if ('error' in parsed) return null;
    const host = parsed.host;
    // Secrets are bound to names, never to addresses: an IP literal gets no port, so no binding matches.
    const isName = host.kind === 'name';
    return {
      secret: r.secret,
      hasHost: true,
      host: host.name,
      parent: isName ? parentOf(host.name) : '',
      port: isName ? (r.port ?? 443) : -1,
    };
  };

  const bySurface = { network, filesystem, mcp, exec, credential };
  return (request) => bySurface[request.surface](request);
}
