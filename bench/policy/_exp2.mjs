import { Environment } from '@marcbachmann/cel-js';
const env = new Environment().registerVariable('r', 'map');
for (const src of ['r.args.repo.startsWith("a") && r.args.x == 1', 'r.args.x == 1 && r.args.repo.startsWith("a")', 'r.args.repo.startsWith("a") || r.args.x == 2', 'has(r.args.zz) && r.args.zz.startsWith("a")', 'r.args.limit >= 1 && r.args.limit <= 100', 'r.args.b in ["x", "y"]', 'r.args.b == true', 'r.argv.size() > 2', 'size(r.argv) > 2 && r.argv[2] == "x"']) {
  const e = env.parse(src); e.check();
  for (const args of [{ repo: 42, x: 2 }, { repo: 42, x: 1 }, {limit: 50, b: 'x'}, {limit: 50.5, b: true}]) {
    try { console.log(src, JSON.stringify(args), e({ r: { args, argv: ['a','b','x'] } })); } catch (err) { console.log(src, JSON.stringify(args), 'ERR', err.message.split('\n')[0]); }
  }
}
