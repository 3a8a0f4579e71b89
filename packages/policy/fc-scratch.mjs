import fc from 'fast-check';
import { canonicalHost } from './dist/src/host.js';
const fails = new Map();
let ok = 0;
const check = (h) => {
  const r = canonicalHost(h);
  if ('error' in r) return;
  ok++;
  const r2 = canonicalHost(r.host.name);
  const good = !('error' in r2) && r2.host.name === r.host.name && r2.host.kind === r.host.kind;
  if (!good && fails.size < 20) fails.set(JSON.stringify(h), [r.host.name, 'error' in r2 ? r2.error.code : r2.host.name]);
};
fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (h) => { check(h); return true; }), { numRuns: 100000 });
fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 12 }), (h) => { check(h); return true; }), { numRuns: 100000 });
fc.assert(fc.property(fc.domain(), (h) => { check(h); return true; }), { numRuns: 20000 });
fc.assert(fc.property(fc.ipV4Extended(), (h) => { check(h); return true; }), { numRuns: 20000 });
fc.assert(fc.property(fc.ipV6(), (h) => { check(h); return true; }), { numRuns: 20000 });
console.log(ok, fails);
