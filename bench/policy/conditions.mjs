// Perimeter rules → a small boolean condition tree over the adapter's request record
// (normalize.mjs), which cedar.mjs and cel.mjs each print in their own language. One translation
// for both peers keeps them in step with each other; every pattern shape is translated exactly or
// refused (an Error), never silently approximated. What each shape becomes is documented in
// docs/benchmarks.md ("How the rules are expressed for the peers").
//
// Also here: the engine's built-in guard (special addresses and names, lifted only by an allow
// rule naming an address inside the range, or the name, explicitly) expressed as deny rules, and
// the surface defaults.

import {
  SPECIAL_NAMES,
  SPECIAL_RANGES,
  cidrContains,
  formatCidr,
  parseCidr,
  specialNameOf,
} from '@perimeter/policy';

// ------------------------------------------------------------------------------------------------
// Nodes. A field is a path into the record: ['host'], ['args', 'repo'], ['ann', 'readOnlyHint'].

export const TRUE = { t: 'true' };
export const FALSE = { t: 'false' };

export function and(...xs) {
  const out = [];
  for (const x of xs) {
    if (x.t === 'false') return FALSE;
    if (x.t === 'true') continue;
    if (x.t === 'and') out.push(...x.xs);
    else out.push(x);
  }
  return out.length === 0 ? TRUE : out.length === 1 ? out[0] : { t: 'and', xs: out };
}

export function or(...xs) {
  const out = [];
  for (const x of xs) {
    if (x.t === 'true') return TRUE;
    if (x.t === 'false') continue;
    if (x.t === 'or') out.push(...x.xs);
    else out.push(x);
  }
  return out.length === 0 ? FALSE : out.length === 1 ? out[0] : { t: 'or', xs: out };
}

export function not(x) {
  if (x.t === 'true') return FALSE;
  if (x.t === 'false') return TRUE;
  return { t: 'not', x };
}

const eq = (f, v) => ({ t: 'eq', f, v });
const has = (f) => ({ t: 'has', f });
const oneOf = (f, vs) => ({ t: 'oneOf', f, vs });
const prefix = (f, s) => ({ t: 'prefix', f, s });
const suffix = (f, s) => ({ t: 'suffix', f, s });
const contains = (f, s) => ({ t: 'contains', f, s });
const range = (f, min, max) => ({ t: 'range', f, min, max });
const cidr = (c) => ({ t: 'cidr', cidr: c, text: formatCidr(c) });

// ------------------------------------------------------------------------------------------------
// Ports

const ANY_PORT = [[1, 65535]];
const WEB_PORTS = [
  [80, 80],
  [443, 443],
];

function parsePorts(specs) {
  return specs.map((spec) => {
    if (spec === '*') return [1, 65535];
    const m = /^(\d+)(?:-(\d+))?$/.exec(String(spec));
    if (!m) throw new Error(`bad port ${spec}`);
    return [Number(m[1]), Number(m[2] ?? m[1])];
  });
}

function portCond(ports) {
  if (ports.some(([lo, hi]) => lo <= 1 && hi >= 65535)) return TRUE;
  return or(...ports.map(([lo, hi]) => (lo === hi ? eq(['port'], lo) : range(['port'], lo, hi))));
}

// ------------------------------------------------------------------------------------------------
// Hosts: `example.com`, `*.example.com` (one label: the name's parent is the suffix), `**.x`
// (any depth: the name ends in `.x`), `**` (any name), each with an optional `:port`.

function parseHostPattern(text) {
  let body = text;
  let ports;
  const colon = body.lastIndexOf(':');
  if (colon >= 0) {
    ports = parsePorts([body.slice(colon + 1)]);
    body = body.slice(0, colon);
  }
  body = body.toLowerCase().replace(/\.$/, '');
  if (body === '**') return { kind: 'any', suffix: '', ports };
  if (body.startsWith('**.')) return { kind: 'any-depth', suffix: body.slice(3), ports };
  if (body.startsWith('*.')) return { kind: 'one-label', suffix: body.slice(2), ports };
  if (body.includes('*') || !/^[a-z0-9._-]+$/.test(body))
    throw new Error(`host pattern ${text} not translated`);
  return { kind: 'exact', suffix: body, ports };
}

function hostCond(p) {
  switch (p.kind) {
    case 'exact':
      return eq(['host'], p.suffix);
    case 'one-label':
      return eq(['parent'], p.suffix);
    case 'any-depth':
      return suffix(['host'], `.${p.suffix}`);
    case 'any':
      return TRUE;
  }
  throw new Error(`unknown host pattern kind ${p.kind}`);
}

// ------------------------------------------------------------------------------------------------
// Paths (filesystem, HTTP paths, MCP glob arguments). A pattern is expanded (`~`, `${workspace}`)
// to segments and must have one of the shapes below; each is exact on canonical paths (no empty,
// `.` or `..` segments), which is what the adapter passes.

const isLiteral = (seg) => seg !== '**' && !seg.includes('*') && !seg.includes('?');

function expandPath(text, ctx) {
  let full;
  if (text.startsWith('${workspace}')) full = ctx.workspace + text.slice('${workspace}'.length);
  else if (text === '~' || text.startsWith('~/')) full = ctx.home + text.slice(1);
  else if (text.startsWith('/') || text.startsWith('**')) full = text;
  else throw new Error(`path pattern ${text} not translated`);
  return full.split('/').filter((s) => s !== '');
}

/**
 * The condition for "the path in `field` matches `segments`". `depthField` (the number of
 * segments of the path) is needed only by the fixed-depth shape.
 */
function pathCond(field, segments, depthField, text) {
  const firstGlob = segments.findIndex((s) => !isLiteral(s));
  if (firstGlob < 0) return eq(field, `/${segments.join('/')}`);
  const head = segments.slice(0, firstGlob);
  const headText = head.length > 0 ? `/${head.join('/')}` : '';
  const rest = segments.slice(firstGlob);
  // `/a/b/**`: the directory itself and everything under it.
  if (head.length > 0 && rest.length === 1 && rest[0] === '**') {
    return or(eq(field, headText), prefix(field, `${headText}/`));
  }
  if (head.length === 0 && rest[0] === '**') {
    const mid = rest.slice(1);
    // `**/name`: the last segment is `name`.
    if (mid.length === 1 && isLiteral(mid[0])) return suffix(field, `/${mid[0]}`);
    // `**/*.ext`: the last segment ends in `.ext` (which holds no `/`).
    if (mid.length === 1 && /^\*[^*?/]+$/.test(mid[0])) return suffix(field, mid[0].slice(1));
    // `**/a/b/**`: the segments a/b appear somewhere in the path.
    if (mid.length >= 2 && mid[mid.length - 1] === '**' && mid.slice(0, -1).every(isLiteral)) {
      const inner = mid.slice(0, -1).join('/');
      return or(contains(field, `/${inner}/`), suffix(field, `/${inner}`));
    }
  }
  // `/a/*/c`, `/a/*.conf`: one glob segment at a fixed depth; the depth keeps `*` inside one segment.
  const glob = rest[0];
  const tail = rest.slice(1);
  if (depthField && !rest.includes('**') && tail.every(isLiteral) && /^(\*|\*[^*?]+|[^*?]+\*)$/.test(glob)) {
    const globHead = glob !== '*' && glob.endsWith('*') ? glob.slice(0, -1) : '';
    const globTail = glob !== '*' && glob.startsWith('*') ? glob.slice(1) : '';
    const end = globTail + (tail.length > 0 ? `/${tail.join('/')}` : '');
    return and(
      eq(depthField, segments.length),
      prefix(field, `${headText}/${globHead}`),
      end !== '' ? suffix(field, end) : TRUE,
    );
  }
  throw new Error(`path pattern ${text} has a shape the peer translation does not cover`);
}

// ------------------------------------------------------------------------------------------------
// Names (MCP servers and tools, secrets): exact, `prefix*`, `*suffix` or `*`.

function nameCond(field, text) {
  if (!text.includes('*') && !text.includes('?')) return eq(field, text);
  if (/^\*+$/.test(text)) return TRUE;
  if (/^[^*?]+\*$/.test(text)) return prefix(field, text.slice(0, -1));
  if (/^\*[^*?]+$/.test(text)) return suffix(field, text.slice(1));
  throw new Error(`name glob ${text} not translated`);
}

// ------------------------------------------------------------------------------------------------
// Surfaces

function httpCond(rule, effect) {
  if (rule.methods === undefined && rule.paths === undefined) return TRUE;
  const methods = rule.methods
    ? oneOf(
        ['method'],
        rule.methods.map((m) => m.toUpperCase()),
      )
    : TRUE;
  const paths = rule.paths
    ? or(
        ...rule.paths.map((p) =>
          pathCond(
            ['path'],
            p.split('/').filter((s) => s !== ''),
            undefined,
            p,
          ),
        ),
      )
    : FALSE;
  // An allow must see a matching method and path; a deny or ask also matches when it cannot tell
  // (an opaque tunnel has no method, a request without a path has no path).
  if (effect === 'allow') {
    return and(has(['method']), methods, rule.paths ? and(has(['path']), paths) : TRUE);
  }
  return or(not(has(['method'])), and(methods, rule.paths ? or(not(has(['path'])), paths) : TRUE));
}

function networkRule(rule, effect) {
  const ports = rule.ports ? parsePorts(rule.ports) : effect === 'allow' ? WEB_PORTS : ANY_PORT;
  const hosts = (rule.hosts ?? []).map(parseHostPattern);
  const cidrs = (rule.cidrs ?? []).map((text) => {
    const parsed = parseCidr(text);
    if ('error' in parsed) throw new Error(`bad cidr ${text}`);
    return parsed.cidr;
  });
  const http = httpCond(rule, effect);
  const cond = and(
    or(
      and(eq(['isIp'], false), or(...hosts.map((p) => and(hostCond(p), portCond(p.ports ?? ports))))),
      and(eq(['isIp'], true), or(...cidrs.map((c) => and(cidr(c), portCond(ports))))),
    ),
    http,
  );
  return { cond, hosts, cidrs, ports, http };
}

function filesystemRule(rule, effect, ctx) {
  const access = rule.access ?? (effect === 'allow' ? 'read' : 'rw');
  const paths = or(...rule.paths.map((p) => pathCond(['path'], expandPath(p, ctx), ['depth'], p)));
  return and(access === 'rw' ? TRUE : eq(['access'], access), paths);
}

function argCond(key, pred, effect, ctx, pathArgKeys) {
  if (key.includes('.')) throw new Error(`dotted argument ${key} not translated`);
  const field = ['args', key];
  const present = has(field);
  const isAllow = effect === 'allow';
  // A test that cannot be evaluated (wrong type) fails an allow and matches a deny or ask.
  const typed = (type, test) => {
    const typeOk = eq(['argtypes', key], type);
    return isAllow ? and(present, typeOk, test) : and(present, or(not(typeOk), test));
  };
  if (pred.equals !== undefined) return and(present, eq(field, pred.equals));
  if (pred.oneOf !== undefined) return and(present, oneOf(field, pred.oneOf));
  if (pred.prefix !== undefined) return typed('string', prefix(field, pred.prefix));
  if (pred.range !== undefined) return typed('number', range(field, pred.range.min, pred.range.max));
  if (pred.glob !== undefined) {
    pathArgKeys.add(key);
    const canonical = ['pathargs', key];
    const test = pathCond(canonical, expandPath(pred.glob, ctx), undefined, pred.glob);
    return isAllow ? and(present, has(canonical), test) : and(present, or(not(has(canonical)), test));
  }
  throw new Error(
    `argument predicate ${JSON.stringify(pred)} not translated (regex has no Cedar equivalent)`,
  );
}

function mcpRule(rule, effect, ctx, pathArgKeys) {
  return and(
    nameCond(['server'], rule.server),
    or(...(rule.tools ?? ['*']).map((t) => nameCond(['tool'], t))),
    ...Object.entries(rule.annotations ?? {}).map(([k, v]) => eq(['ann', k], v)),
    ...Object.entries(rule.args ?? {}).map(([k, p]) => argCond(k, p, effect, ctx, pathArgKeys)),
  );
}

function wordTest(word) {
  if (!word.includes('*') && !word.includes('?')) return { kind: 'eq', s: word };
  if (word === '*') return { kind: 'any' };
  if (/^[^*?]+\*$/.test(word)) return { kind: 'prefix', s: word.slice(0, -1) };
  if (/^\*[^*?]+$/.test(word)) return { kind: 'suffix', s: word.slice(1) };
  throw new Error(`command word ${word} not translated`);
}

function wordMatches(test, word) {
  switch (test.kind) {
    case 'eq':
      return word === test.s;
    case 'any':
      return true;
    case 'prefix':
      return word.startsWith(test.s);
    case 'suffix':
      return word.endsWith(test.s);
  }
  return true;
}

/** A command pattern: word i of the argv (argv[0] is the program's basename); `**` any number of words. */
function commandCond(text) {
  const words = text.trim().split(/\s+/);
  if (words[0].includes('/')) throw new Error(`path program in ${text} not translated`);
  const conds = [];
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '**') {
      if (i === words.length - 1) break;
      if (i !== words.length - 2)
        throw new Error(`command pattern ${text}: "**" must be last or next to last`);
      const test = wordTest(words[i + 1]);
      // `exists` over the whole argv equals "some word at position ≥ i" when no earlier (literal) word can match.
      const safe = words.slice(0, i).every((w) => isLiteral(w) && !wordMatches(test, w));
      conds.push({ t: 'wordAny', from: i, test, safe });
      break;
    }
    conds.push({ t: 'word', i, test: wordTest(words[i]) });
  }
  return and(...conds);
}

function execRule(rule) {
  // Which layers an allow counts on (the command, a privilege wrapper) is settled in host JS.
  return or(...rule.commands.map(commandCond));
}

function credHostCond(p) {
  // Credential destinations are matched as names, whatever they are (an IP literal never has a port here).
  return hostCond(p);
}

function bindingRule(b) {
  if (!b.inject) return and(eq(['secret'], b.secret), eq(['hasHost'], false));
  const ports = parsePorts(b.inject.ports ?? [443]);
  return and(
    eq(['secret'], b.secret),
    or(
      eq(['hasHost'], false),
      and(portCond(ports), or(...b.inject.hosts.map((h) => credHostCond(parseHostPattern(h))))),
    ),
  );
}

function credentialRule(rule) {
  return and(
    or(...rule.secrets.map((s) => nameCond(['secret'], s))),
    rule.hosts
      ? and(eq(['hasHost'], true), or(...rule.hosts.map((h) => credHostCond(parseHostPattern(h)))))
      : TRUE,
  );
}

// ------------------------------------------------------------------------------------------------
// The built-in guard as deny rules, from the engine's own tables of special ranges and names.

const SPECIAL_NAME_ROWS = SPECIAL_NAMES.map((row) => ({
  suffix: row.suffix,
  exact: row.isExactOnly,
  locked: row.isLocked,
}));

const cidrWithin = (inner, outer) => inner.prefix >= outer.prefix && cidrContains(outer, inner.ip);

function guardRules(allowRules) {
  const nameCondOf = (row) =>
    row.exact ? eq(['host'], row.suffix) : or(eq(['host'], row.suffix), suffix(['host'], `.${row.suffix}`));
  const isName = eq(['isIp'], false);
  const isIp = eq(['isIp'], true);
  const rules = [];
  rules.push({
    id: 'guard/locked-names',
    cond: and(isName, or(...SPECIAL_NAME_ROWS.filter((r) => r.locked).map(nameCondOf))),
  });
  // An allow rule that names a special name exactly (and applies) lifts the guard for it.
  const nameLifters = allowRules.flatMap((r) =>
    r.hosts
      .filter((p) => p.kind === 'exact' && specialNameOf(p.suffix) !== undefined)
      .map((p) => and(eq(['host'], p.suffix), portCond(p.ports ?? r.ports), r.http)),
  );
  rules.push({
    id: 'guard/special-names',
    cond: and(
      isName,
      or(...SPECIAL_NAME_ROWS.filter((r) => !r.locked).map(nameCondOf)),
      not(or(...nameLifters)),
    ),
  });
  rules.push({
    id: 'guard/locked-ranges',
    cond: and(isIp, or(...SPECIAL_RANGES.filter((s) => s.isLocked).map((s) => cidr(s.cidr)))),
  });
  // Special ranges are nested or disjoint, so "some matched allow CIDR lies within every special
  // range holding the address" is "each such range has a matched allow CIDR within it".
  const unlifted = [];
  SPECIAL_RANGES.filter((s) => !s.isLocked).forEach((s, i) => {
    const lifters = allowRules.flatMap((r) =>
      r.cidrs.filter((c) => cidrWithin(c, s.cidr)).map((c) => and(cidr(c), portCond(r.ports), r.http)),
    );
    if (lifters.length === 0) unlifted.push(cidr(s.cidr));
    else rules.push({ id: `guard/range-${s.code}-${i}`, cond: and(isIp, cidr(s.cidr), not(or(...lifters))) });
  });
  rules.push({ id: 'guard/special-ranges', cond: and(isIp, or(...unlifted)) });
  return rules.map((r) => ({ ...r, effect: 'deny', guard: true }));
}

// ------------------------------------------------------------------------------------------------

const RANK = { allow: 0, ask: 1, deny: 2 };
function mostRestrictive(effects, fallback) {
  let best;
  for (const e of effects) if (e !== undefined && (best === undefined || RANK[e] > RANK[best])) best = e;
  return best ?? fallback;
}

/**
 * Translates policy documents (as the loader parsed them) into condition rules per surface:
 * `{surfaces: {network: [{id, effect, cond}], …}, defaults, pathArgKeys, guardRules}`.
 */
export function translatePolicies(documents, pathContext) {
  const surfaces = { network: [], filesystem: [], mcp: [], exec: [], credential: [] };
  const pathArgKeys = new Set();
  const networkAllows = [];
  for (const doc of documents) {
    const name = doc.metadata.name;
    const id = (rule) => `${name}/${rule.id}`;
    for (const effect of ['allow', 'ask', 'deny']) {
      for (const rule of doc.network?.[effect] ?? []) {
        const t = networkRule(rule, effect);
        if (effect === 'allow') networkAllows.push(t);
        surfaces.network.push({ id: id(rule), effect, cond: t.cond });
      }
      for (const rule of doc.filesystem?.[effect] ?? []) {
        surfaces.filesystem.push({ id: id(rule), effect, cond: filesystemRule(rule, effect, pathContext) });
      }
      for (const rule of doc.mcp?.[effect] ?? []) {
        surfaces.mcp.push({ id: id(rule), effect, cond: mcpRule(rule, effect, pathContext, pathArgKeys) });
      }
      for (const rule of doc.exec?.[effect] ?? []) {
        // A computed program (see normalize.mjs) meets every deny and ask pattern, never an allow.
        const cond = effect === 'allow' ? execRule(rule) : or(eq(['computed'], true), execRule(rule));
        surfaces.exec.push({ id: id(rule), effect, cond });
      }
      const creds = Array.isArray(doc.credentials) ? { allow: doc.credentials } : doc.credentials;
      for (const rule of creds?.[effect] ?? []) {
        const cond = effect === 'allow' ? bindingRule(rule) : credentialRule(rule);
        surfaces.credential.push({ id: id(rule), effect, cond });
      }
    }
  }
  const guards = guardRules(networkAllows);
  surfaces.network.push(...guards);
  const defaults = {
    network: 'deny',
    mcp: 'deny',
    credential: 'deny',
    filesystem: mostRestrictive(
      documents.map((d) => d.filesystem?.default),
      'deny',
    ),
    exec: mostRestrictive(
      documents.map((d) => d.exec?.default),
      'allow',
    ),
  };
  return { surfaces, defaults, pathArgKeys, guardRules: guards.length };
}
