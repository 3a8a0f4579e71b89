import { loadPolicies } from './dist/src/load.js';
const gen = {
  keys: (n) => Array.from({length: n}, (_, i) => `k${i}: 1`).join('\n'),
  flowkeys: (n) => '{' + Array.from({length: n}, (_, i) => `k${i}: 1`).join(', ') + '}',
  seq: (n) => Array.from({length: n}, () => `- a`).join('\n'),
  hosts: (n) => `apiVersion: perimeter/v1\nkind: Policy\nmetadata: {name: x, layer: org}\nnetwork:\n  allow:\n    - id: a\n      hosts: [${Array.from({length: n}, (_, i) => `h${i}.example.com`).join(', ')}]\n`,
  rules: (n) => `apiVersion: perimeter/v1\nkind: Policy\nmetadata: {name: x, layer: org}\nnetwork:\n  allow:\n` + Array.from({length: n}, (_, i) => `    - {id: r${i}, hosts: [h${i}.example.com]}`).join('\n') + '\n',
  dupids: (n) => `apiVersion: perimeter/v1\nkind: Policy\nmetadata: {name: x, layer: org}\nnetwork:\n  allow:\n` + Array.from({length: n}, (_, i) => `    - {id: r, hosts: [h${i}.example.com]}`).join('\n') + '\n',
  docs: (n) => Array.from({length: n}, (_, i) => `---\napiVersion: perimeter/v1\nkind: Policy\nmetadata: {name: x, layer: org}`).join('\n'),
  unknown: (n) => `apiVersion: perimeter/v1\nkind: Policy\nmetadata: {name: x, layer: org}\n` + Array.from({length: n}, (_, i) => `zz${i}: 1`).join('\n'),
  anchors: (n) => Array.from({length: n}, (_, i) => `k${i}: &a${i} 1`).join('\n'),
};
const [k, n] = [process.argv[2], Number(process.argv[3])];
const text = gen[k](n);
const t0 = performance.now();
const r = loadPolicies([{ file: 'f', text }]);
console.log(k, n, text.length, (performance.now() - t0).toFixed(0) + 'ms', r.diagnostics.length, r.diagnostics[0]?.code);
