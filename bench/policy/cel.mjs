// The rules expressed for CEL (@marcbachmann/cel-js): one expression per Perimeter rule, printed
// from conditions.mjs, parsed and type-checked once in one reused Environment (a checked
// expression skips per-call type checking), evaluated per request over the adapter's record `r`.
// Host JS buckets the rules by surface and effect and evaluates deny, then ask, then allow rules,
// stopping at the first match (deny > ask > allow > default); an evaluation error counts as a
// match for deny and ask rules and as no match for allow rules, which is Perimeter's rule and also
// what CEL's error-absorbing && and || give.
//
// CEL idioms used: startsWith/endsWith/contains, `in` lists, has(), size() and list indexing for
// argv words, exists() for `**` in command patterns. cel-js has no IP type, so the adapter passes
// an IPv4 address as a number (r.ip4) and an IPv6 one as four 32-bit words (r.ip6), and each CIDR
// becomes range comparisons on them.

import { Environment } from '@marcbachmann/cel-js';
import { MAX_ARGV_WORDS } from './normalize.mjs';

function lit(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (Number.isInteger(v)) return String(v);
  throw new Error(`value ${JSON.stringify(v)} has no CEL literal here`);
}

const attr = (f) => `r.${f.join('.')}`;

function wordTest(a, test) {
  switch (test.kind) {
    case 'eq':
      return `${a} == ${lit(test.s)}`;
    case 'prefix':
      return `${a}.startsWith(${lit(test.s)})`;
    case 'suffix':
      return `${a}.endsWith(${lit(test.s)})`;
    case 'any':
      return undefined;
  }
  throw new Error(`word test ${test.kind}`);
}

function word(i, test) {
  const t = wordTest(`r.argv[${i}]`, test);
  if (i === 0) return t ?? 'true';
  return t ? `(size(r.argv) > ${i} && ${t})` : `size(r.argv) > ${i}`;
}

/** A CIDR as comparisons on the address: one range on the first word the prefix does not fix. */
function cidrExpr(c) {
  if (c.ip.family === 4) {
    if (c.prefix === 0) return 'r.ipf == 4';
    const lo = c.ip.v4;
    const hi = lo + 2 ** (32 - c.prefix) - 1;
    return lo === hi ? `(r.ipf == 4 && r.ip4 == ${lo})` : `(r.ipf == 4 && r.ip4 >= ${lo} && r.ip4 <= ${hi})`;
  }
  const parts = ['r.ipf == 6'];
  const full = Math.floor(c.prefix / 32);
  for (let i = 0; i < full; i++) parts.push(`r.ip6[${i}] == ${c.ip.w[i]}`);
  const rem = c.prefix % 32;
  if (rem > 0) {
    const lo = c.ip.w[full];
    parts.push(`r.ip6[${full}] >= ${lo}`, `r.ip6[${full}] <= ${lo + 2 ** (32 - rem) - 1}`);
  }
  return `(${parts.join(' && ')})`;
}

export function celExpr(n) {
  switch (n.t) {
    case 'true':
      return 'true';
    case 'false':
      return 'false';
    case 'and':
      return `(${n.xs.map(celExpr).join(' && ')})`;
    case 'or':
      return `(${n.xs.map(celExpr).join(' || ')})`;
    case 'not':
      return `!(${celExpr(n.x)})`;
    case 'eq':
      return `${attr(n.f)} == ${lit(n.v)}`;
    case 'has':
      return `has(${attr(n.f)})`;
    case 'oneOf':
      return `${attr(n.f)} in [${n.vs.map(lit).join(', ')}]`;
    case 'prefix':
      return `${attr(n.f)}.startsWith(${lit(n.s)})`;
    case 'suffix':
      return `${attr(n.f)}.endsWith(${lit(n.s)})`;
    case 'contains':
      return `${attr(n.f)}.contains(${lit(n.s)})`;
    case 'range': {
      const parts = [];
      if (n.min !== undefined) parts.push(`${attr(n.f)} >= ${lit(n.min)}`);
      if (n.max !== undefined) parts.push(`${attr(n.f)} <= ${lit(n.max)}`);
      return `(${parts.join(' && ')})`;
    }
    case 'cidr':
      return cidrExpr(n.cidr);
    case 'word':
      return word(n.i, n.test);
    case 'wordAny': {
      if (n.safe) return `r.argv.exists(w, ${wordTest('w', n.test) ?? 'true'})`;
      const alts = [];
      for (let j = n.from; j < MAX_ARGV_WORDS; j++) alts.push(word(j, n.test));
      return `(${alts.join(' || ')})`;
    }
  }
  throw new Error(`unknown condition node ${n.t}`);
}

/** The activation for one request: the record, with the address as numbers for CIDR tests. */
const ACTIVATION_OF = {
  network: (rec) => {
    if (rec.isIp) {
      const ip = rec.ip;
      rec.ipf = ip.family;
      if (ip.family === 4) rec.ip4 = ip.v4;
      else rec.ip6 = [ip.w[0], ip.w[1], ip.w[2], ip.w[3]];
    } else rec.ipf = 0;
    return { r: rec };
  },
  filesystem: (rec) => ({ r: rec }),
  mcp: (rec) => ({ r: rec }),
  credential: (rec) => ({ r: rec }),
};

/**
 * Builds the CEL engine for translated rules (conditions.mjs). Returns `decide(request)` → the
 * effect, plus what it built and how long that took.
 */
export function createCelEngine(translated, normalize) {
  const started = performance.now();
  const env = new Environment().registerVariable('r', 'map');
  const buckets = {};
  const sources = {};
  let policyCount = 0;
  for (const [surface, rules] of Object.entries(translated.surfaces)) {
    buckets[surface] = { deny: [], ask: [], allow: [] };
    sources[surface] = {};
    for (const rule of rules) {
      const source = celExpr(rule.cond);
      const evaluate = env.parse(source);
      const checked = evaluate.check();
      if (!checked.valid) throw new Error(`CEL rejected ${rule.id}: ${checked.error.message}\n${source}`);
      buckets[surface][rule.effect].push(evaluate);
      sources[surface][rule.id] = source;
      policyCount++;
    }
  }
  let errors = 0;

  const anyMatch = (list, activation, isAllow) => {
    for (let i = 0; i < list.length; i++) {
      try {
        if (list[i](activation) === true) return true;
      } catch {
        errors++;
        if (!isAllow) return true;
      }
    }
    return false;
  };

  const judge = (surface, activation) => {
    const b = buckets[surface];
    if (anyMatch(b.deny, activation, false)) return 'deny';
    if (anyMatch(b.ask, activation, false)) return 'ask';
    if (anyMatch(b.allow, activation, true)) return 'allow';
    return translated.defaults[surface];
  };

  const RANK = { allow: 0, ask: 1, deny: 2 };

  const decide = (request) => {
    const rec = normalize(request);
    if (rec === null) return 'deny';
    const surface = request.surface;
    if (surface !== 'exec') return judge(surface, ACTIVATION_OF[surface](rec));
    // Each unit (a command with its wrappers, a privilege wrapper alone) is settled alone; the
    // strictest answer wins. Allow rules count only on the layers the unit says.
    const b = buckets.exec;
    let worst = rec.units.length === 0 ? translated.defaults.exec : 'allow';
    for (const unit of rec.units) {
      let outcome;
      if (unit.some((u) => anyMatch(b.deny, { r: u.layer }, false))) outcome = 'deny';
      else if (unit.some((u) => anyMatch(b.ask, { r: u.layer }, false))) outcome = 'ask';
      else if (unit.some((u) => u.allow && anyMatch(b.allow, { r: u.layer }, true))) outcome = 'allow';
      else outcome = translated.defaults.exec;
      if (RANK[outcome] > RANK[worst]) worst = outcome;
      if (worst === 'deny') break;
    }
    return worst;
  };

  return {
    name: 'cel-js',
    decide,
    policyCount,
    sources,
    setupMs: performance.now() - started,
    errorCount: () => errors,
  };
}
