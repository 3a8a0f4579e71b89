import cedar from '@cedar-policy/cedar-wasm/nodejs';
console.log(cedar.getCedarVersion(), Object.keys(cedar).length);
const pols = {
  'org/a': 'permit(principal, action == Action::"network", resource) when { context.is_ip == false && context.host like "*.example.com" && (context.port == 443) };',
  'ask:g/b': 'forbid(principal, action == Action::"network", resource) when { context has ip && context.ip.isInRange(ip("10.0.0.0/8")) };',
  'x': 'forbid(principal, action == Action::"mcp", resource) when { context.args has repo && context.args.repo like "acme/*" };',
};
console.log(cedar.preparsePolicySet('s1', { staticPolicies: pols }));
const call = (action, context) => cedar.statefulIsAuthorized({ principal: { type: 'User', id: 'u' }, action: { type: 'Action', id: action }, resource: { type: 'Res', id: 'r' }, context, preparsedPolicySetId: 's1', entities: [] });
console.log(JSON.stringify(call('network', { is_ip: false, host: 'a.example.com', port: 443 })));
console.log(JSON.stringify(call('network', { is_ip: true, host: '10.1.2.3', ip: { __extn: { fn: 'ip', arg: '10.1.2.3' } }, port: 443 })));
console.log(JSON.stringify(call('network', { is_ip: true, host: '::1', ip: { __extn: { fn: 'ip', arg: '::1' } }, port: 443 })));
console.log(JSON.stringify(call('mcp', { args: { repo: 42 } })));
let t = performance.now(); for (let i = 0; i < 20000; i++) call('network', { is_ip: false, host: 'a.example.com', port: 443 }); console.log('us/call', (performance.now()-t)*1e3/20000);
