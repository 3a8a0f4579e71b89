import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { loadPolicies } from './dist/src/load.js';
const seed = parse(readFileSync('/work/main/tmp/design.yaml', 'utf8'));
const bad = new Map();
const check = (text) => {
  let r;
  try { r = loadPolicies([{ file: 'f.yaml', text }]); } catch (e) { bad.set('throw:' + e.message, text); return; }
  for (const d of r.diagnostics) {
    if (!d.message || !d.code) bad.set('nomsg:' + d.code, text);
    if (d.at && (!(d.at.line >= 1) || !(d.at.col >= 1))) bad.set('pos:' + d.code + JSON.stringify(d.at), text);
    if (d.message.includes('    at ')) bad.set('stack', text);
  }
};
const paths = [];
const walk = (v, p) => { paths.push(p); if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...p, Array.isArray(v) ? Number(k) : k]); };
walk(seed, []);
const keys = ['id','hosts','cidrs','ports','methods','paths','access','server','tools','args','annotations','commands','secret','env','inject','header','format','glob','regex','range','min','max','equals','oneOf','prefix','default','mode','layer','groups','name','expect','request','rule','allow','deny','ask','servers','url','command','credential','secrets','revision'];
const value = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({maxLength: 12}), fc.constantFrom('**', '*', '10.0.0.0/8', '::/0', '${workspace}/**', '~/**', 'a(b', '(a+)+$', '[', 'x'.repeat(300), '-1', '0', '65536', '1-0', 'rw', 'allow', 'deny', 'enforce', 'audit', 'guardrail'), fc.array(fc.oneof(fc.string({maxLength: 6}), fc.integer(), fc.constant(null)), {maxLength: 4}), fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.string({maxLength:6}), fc.integer(), fc.array(fc.string({maxLength:6}),{maxLength:3})), {maxKeys: 3}));
const op = fc.tuple(fc.nat(), fc.constantFrom('set','del','rename','addkey','wrap'), value, fc.constantFrom(...keys));
fc.assert(fc.property(fc.array(op, {minLength: 1, maxLength: 5}), (ops) => {
  const doc = structuredClone(seed);
  for (const [i, kind, v, k] of ops) {
    const p = paths[i % paths.length];
    if (p.length === 0) continue;
    let parent = doc; for (const s of p.slice(0, -1)) { parent = parent?.[s]; }
    if (!parent || typeof parent !== 'object') continue;
    const last = p[p.length - 1];
    if (kind === 'set') parent[last] = v;
    else if (kind === 'del') { if (Array.isArray(parent)) parent.splice(last, 1); else delete parent[last]; }
    else if (kind === 'rename' && !Array.isArray(parent)) { parent[k] = parent[last]; delete parent[last]; }
    else if (kind === 'addkey' && parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) parent[last][k] = v;
    else if (kind === 'wrap') parent[last] = [parent[last]];
  }
  check(stringify(doc)); return true;
}), { numRuns: 5000 });
for (const [k, v] of bad) console.log(k, '\n  ', JSON.stringify(v).slice(0, 600));
console.log('done', bad.size);
