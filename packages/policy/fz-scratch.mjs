import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { loadPolicies } from './dist/src/load.js';
const seed = readFileSync('/work/main/tmp/design.yaml', 'utf8');
const bad = new Map();
let maxT = 0;
const check = (text) => {
  const t0 = performance.now();
  let r;
  try { r = loadPolicies([{ file: 'f.yaml', text }]); } catch (e) { bad.set('throw:' + e.message, text); return; }
  const dt = performance.now() - t0; if (dt > maxT) maxT = dt;
  for (const d of r.diagnostics) {
    if (!d.message || !d.code) bad.set('nomsg:' + d.code, text);
    if (d.at && (!(d.at.line >= 1) || !(d.at.col >= 1))) bad.set('pos:' + d.code + ':' + d.message.slice(0,60) + JSON.stringify(d.at), text);
    if (d.message.includes('    at ')) bad.set('stack', text);
  }
};
const mut = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('flip','del','dup','trunc','ins')), {maxLength: 6});
const tokens = fc.constantFrom('-', ':', ' ', '\n', '  ', '[', ']', '{', '}', ',', '&a', '*a', '!!str', '!tag', '?', '|', '>', '"', "'", '#', '---', '...', '%YAML 1.1', 'apiVersion', 'perimeter/v1', 'kind', 'Policy', 'metadata', 'name', 'layer', 'org', 'network', 'allow', 'hosts', 'cidrs', 'ports', 'id', '**', '10.0.0.0/8', '\t', '\r', '\u0000', '\uFEFF', '<<', 'null', '~', '1e9', '0x', 'tests', 'request', 'expect');
fc.assert(fc.property(mut, (ms) => {
  let t = seed;
  for (const [a, b, op] of ms) {
    const i = a % (t.length + 1);
    if (op === 'flip') t = t.slice(0, i) + String.fromCharCode((t.charCodeAt(i) ^ (1 << (b % 8))) || 1) + t.slice(i + 1);
    else if (op === 'del') t = t.slice(0, i) + t.slice(i + 1 + (b % 20));
    else if (op === 'dup') t = t.slice(0, i) + t.slice(i, i + (b % 200)) + t.slice(i);
    else if (op === 'trunc') t = t.slice(0, i);
    else t = t.slice(0, i) + ':- [{'[b % 5] + t.slice(i);
  }
  check(t); return true;
}), { numRuns: 5000 });
fc.assert(fc.property(fc.array(tokens, {maxLength: 60}), (ts) => { check(ts.join('')); return true; }), { numRuns: 5000 });
fc.assert(fc.property(fc.string({unit:'binary', maxLength: 200}), (s) => { check(s); return true; }), { numRuns: 3000 });
console.log('maxT', maxT.toFixed(1));
for (const [k, v] of bad) console.log(k, '\n  ', JSON.stringify(v).slice(0, 300));
