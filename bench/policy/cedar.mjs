// The rules expressed for Cedar (@cedar-policy/cedar-wasm): one Cedar policy per Perimeter rule
// (allow → permit; deny and ask → forbid, told apart by id), printed from conditions.mjs, one
// pre-parsed policy set per surface (preparsePolicySet once, statefulIsAuthorized per request,
// staticPolicies as an {id: text} map so that the ids survive into diagnostics.reason).
// deny > ask > allow > default is settled in host JS from the determining policy ids; a forbid
// whose evaluation errors counts as matched (Perimeter's rule; Cedar itself would skip it).
//
// Cedar idioms used: `like` for prefixes and suffixes, ip()/isInRange for CIDRs, `has` for
// optional attributes. Context attributes the adapter precomputes: `parent` (a one-label wildcard
// is "the parent is x"), `depth` (one-segment path wildcards), `argtypes` (Cedar cannot test a
// value's type) and `pathargs` (canonical MCP path arguments), and argv words a0…a15 (Cedar has
// no list indexing, so argv-aware command patterns test positional attributes; `**` is unrolled).
// Exec asks Cedar once per command layer (wrappers and the command) and combines in host JS.

import cedar from '@cedar-policy/cedar-wasm/nodejs';
import { TRUE } from './conditions.mjs';
import { MAX_ARGV_WORDS } from './normalize.mjs';

const PRINTABLE = /^[\x20-\x7e]*$/;

function str(s) {
  if (!PRINTABLE.test(s) || s.includes('\\'))
    throw new Error(`string ${JSON.stringify(s)} not printable for Cedar`);
  return JSON.stringify(s);
}

function like(pre, s, post) {
  if (!PRINTABLE.test(s)) throw new Error(`pattern ${s} not printable for Cedar`);
  return `"${pre}${s.replace(/[\\"*]/g, (c) => (c === '*' ? '\\*' : `\\${c}`))}${post}"`;
}

function value(v) {
  if (typeof v === 'string') return str(v);
  if (typeof v === 'boolean') return String(v);
  if (Number.isInteger(v)) return String(v);
  throw new Error(`value ${JSON.stringify(v)} has no Cedar literal`);
}

const attr = (f) => `context.${f.join('.')}`;

function hasAttr(f) {
  const parent = f.slice(0, -1);
  return `${parent.length > 0 ? attr(parent) : 'context'} has ${f[f.length - 1]}`;
}

function wordTest(a, test) {
  switch (test.kind) {
    case 'eq':
      return `${a} == ${str(test.s)}`;
    case 'prefix':
      return `${a} like ${like('', test.s, '*')}`;
    case 'suffix':
      return `${a} like ${like('*', test.s, '')}`;
    case 'any':
      return undefined;
  }
  throw new Error(`word test ${test.kind}`);
}

function word(i, test) {
  const t = wordTest(`context.a${i}`, test);
  if (i === 0) return t ?? 'true';
  return t ? `(context has a${i} && ${t})` : `context has a${i}`;
}

export function cedarExpr(n) {
  switch (n.t) {
    case 'true':
      return 'true';
    case 'false':
      return 'false';
    case 'and':
      return `(${n.xs.map(cedarExpr).join(' && ')})`;
    case 'or':
      return `(${n.xs.map(cedarExpr).join(' || ')})`;
    case 'not':
      return `!(${cedarExpr(n.x)})`;
    case 'eq':
      return `${attr(n.f)} == ${value(n.v)}`;
    case 'has':
      return hasAttr(n.f);
    case 'oneOf':
      return `[${n.vs.map(value).join(', ')}].contains(${attr(n.f)})`;
    case 'prefix':
      return `${attr(n.f)} like ${like('', n.s, '*')}`;
    case 'suffix':
      return `${attr(n.f)} like ${like('*', n.s, '')}`;
    case 'contains':
      return `${attr(n.f)} like ${like('*', n.s, '*')}`;
    case 'range': {
      const parts = [];
      if (n.min !== undefined) parts.push(`${attr(n.f)} >= ${value(n.min)}`);
      if (n.max !== undefined) parts.push(`${attr(n.f)} <= ${value(n.max)}`);
      return `(${parts.join(' && ')})`;
    }
    case 'cidr':
      return `context.ip.isInRange(ip(${str(n.text)}))`;
    case 'word':
      return word(n.i, n.test);
    case 'wordAny': {
      const alts = [];
      for (let j = n.from; j < MAX_ARGV_WORDS; j++) alts.push(word(j, n.test));
      return `(${alts.join(' || ')})`;
    }
  }
  throw new Error(`unknown condition node ${n.t}`);
}

/** A JSON value as a Cedar context value (strings, integers, booleans, sets, records). */
function cedarValue(v) {
  if (typeof v === 'string' || typeof v === 'boolean' || Number.isInteger(v)) return v;
  if (Array.isArray(v)) return v.map(cedarValue);
  if (v !== null && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = cedarValue(x);
    return out;
  }
  throw new Error(`argument value ${JSON.stringify(v)} has no Cedar form`);
}

const CONTEXT_OF = {
  network: (rec) => {
    const c = { isIp: rec.isIp, host: rec.host, parent: rec.parent, port: rec.port };
    if (rec.method !== undefined) c.method = rec.method;
    if (rec.path !== undefined) c.path = rec.path;
    if (rec.isIp) c.ip = { __extn: { fn: 'ip', arg: rec.host } };
    return c;
  },
  filesystem: (rec) => rec,
  mcp: (rec) => ({
    server: rec.server,
    tool: rec.tool,
    ann: rec.ann,
    args: cedarValue(rec.args),
    argtypes: rec.argtypes,
    pathargs: rec.pathargs,
  }),
  credential: (rec) => rec,
};

function execLayerContext(layer) {
  const c = {};
  for (let i = 0; i < layer.argv.length; i++) c[`a${i}`] = layer.argv[i];
  c.computed = layer.computed;
  return c;
}

let nextSetId = 0;

/**
 * Builds the Cedar engine for translated rules (conditions.mjs). Returns `decide(request)` → the
 * effect, plus what it built and how long that took.
 */
export function createCedarEngine(translated, normalize) {
  const started = performance.now();
  const effectOf = new Map();
  const setIds = {};
  const texts = {};
  let policyCount = 0;
  for (const [surface, rules] of Object.entries(translated.surfaces)) {
    const staticPolicies = {};
    for (const rule of rules) {
      const id = `${rule.effect}:${rule.id}`;
      const head = `${rule.effect === 'allow' ? 'permit' : 'forbid'}(principal, action == Action::"${surface}", resource)`;
      staticPolicies[id] = rule.cond === TRUE ? `${head};` : `${head} when { ${cedarExpr(rule.cond)} };`;
      effectOf.set(id, rule.effect);
    }
    const setId = `bench-${surface}-${nextSetId++}`;
    const parsed = cedar.preparsePolicySet(setId, { staticPolicies });
    if (parsed.type !== 'success') {
      throw new Error(
        `Cedar rejected the ${surface} policies: ${parsed.errors.map((e) => e.message).join('; ')}`,
      );
    }
    setIds[surface] = setId;
    texts[surface] = staticPolicies;
    policyCount += rules.length;
  }

  const principal = { type: 'User', id: 'agent' };
  const resource = { type: 'Resource', id: 'request' };
  const actions = Object.fromEntries(Object.keys(setIds).map((s) => [s, { type: 'Action', id: s }]));
  let errors = 0;

  /** One authorization call → which effects matched: bit 1 allow, 2 ask, 4 deny. */
  const ask = (surface, context) => {
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: actions[surface],
      resource,
      context,
      preparsedPolicySetId: setIds[surface],
      entities: [],
    });
    if (answer.type !== 'success')
      throw new Error(`Cedar failed: ${answer.errors.map((e) => e.message).join('; ')}`);
    const { decision, diagnostics } = answer.response;
    let bits = decision === 'allow' ? 1 : 0;
    for (const id of diagnostics.reason) {
      const effect = effectOf.get(id);
      if (effect === 'deny') bits |= 4;
      else if (effect === 'ask') bits |= 2;
    }
    for (const e of diagnostics.errors) {
      errors++;
      const effect = effectOf.get(e.policyId);
      if (effect === 'deny') bits |= 4;
      else if (effect === 'ask') bits |= 2;
    }
    return bits;
  };

  const settle = (bits, surface) =>
    bits & 4 ? 'deny' : bits & 2 ? 'ask' : bits & 1 ? 'allow' : translated.defaults[surface];
  const RANK = { allow: 0, ask: 1, deny: 2 };

  const decide = (request) => {
    const rec = normalize(request);
    if (rec === null) return 'deny';
    const surface = request.surface;
    if (surface !== 'exec') return settle(ask(surface, CONTEXT_OF[surface](rec)), surface);
    // Each unit (a command with its wrappers, a privilege wrapper alone) is settled alone; the
    // strictest answer wins. One call per distinct layer; an allow counts only where the unit says.
    let worst = rec.units.length === 0 ? translated.defaults.exec : 'allow';
    const asked = new Map();
    for (const unit of rec.units) {
      let bits = 0;
      for (const { layer, allow } of unit) {
        let b = asked.get(layer);
        if (b === undefined) {
          b = ask('exec', execLayerContext(layer));
          asked.set(layer, b);
        }
        bits |= allow ? b : b & ~1;
      }
      const outcome = settle(bits, 'exec');
      if (RANK[outcome] > RANK[worst]) worst = outcome;
      if (worst === 'deny') break;
    }
    return worst;
  };

  return {
    name: 'cedar-wasm',
    decide,
    policyCount,
    texts,
    setupMs: performance.now() - started,
    errorCount: () => errors,
  };
}
