// Network rules, table-driven: host patterns, ports, CIDRs, HTTP methods and paths, and the
// domain-matching cases of research/egress.md §11.5 (egress-dom-*) and §11.3 (egress-url-06/07).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertDecision, assertLoadError, decideShort, engineFrom, type Expected } from './helpers.js';

interface Case extends Expected {
  readonly name: string;
  readonly request: Record<string, unknown>;
}

function runCases(policy: string, cases: readonly Case[]): void {
  const engine = engineFrom(policy);
  for (const c of cases) {
    test(c.name, () => assertDecision(decideShort(engine, c.request), c, JSON.stringify(c.request)));
  }
}

// research/egress.md §11.5, base policy P0.
const P0 = `
  network:
    allow:
      - { id: api, hosts: ["api.example.com:443"] }
      - { id: good, hosts: ["*.good.test"] }
      - { id: deep, hosts: ["**.deep.test"] }
    deny:
      - { id: bad, hosts: [bad.good.test] }
`;

describe('network: domain matching against P0 (egress-dom, egress-url)', () => {
  runCases(P0, [
    {
      name: 'egress-dom-01: an upper-case spelling of an allowed name is allowed',
      request: { network: 'API.EXAMPLE.COM:443' },
      decision: 'allow',
      rules: ['api'],
      code: 'rule',
    },
    {
      name: 'egress-dom-02: one trailing dot is stripped and the name is allowed',
      request: { network: 'api.example.com.:443' },
      decision: 'allow',
      rules: ['api'],
    },
    {
      name: 'egress-dom-02: two trailing dots make a malformed host, denied as an invalid request',
      request: { network: 'api.example.com..:443' },
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
    {
      name: 'egress-dom-03: the apex of an exact rule is not covered by it',
      request: { network: 'example.com:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-04: *.good.test allows one label under good.test',
      request: { network: 'x.good.test:443' },
      decision: 'allow',
      rules: ['good'],
    },
    {
      name: 'egress-dom-04: *.good.test does not cover the apex good.test',
      request: { network: 'good.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-04: *.good.test does not cover two labels under good.test',
      request: { network: 'a.b.good.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-05: **.deep.test allows any depth under deep.test',
      request: { network: 'a.b.c.deep.test:443' },
      decision: 'allow',
      rules: ['deep'],
    },
    {
      name: 'egress-dom-05: **.deep.test allows a single label under deep.test',
      request: { network: 'a.deep.test:443' },
      decision: 'allow',
      rules: ['deep'],
    },
    {
      name: 'egress-dom-05: **.deep.test does not cover the apex deep.test',
      request: { network: 'deep.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-06: a deny for bad.good.test beats the *.good.test allow',
      request: { network: 'bad.good.test:443' },
      decision: 'deny',
      rules: ['bad'],
      code: 'rule',
    },
    {
      name: 'egress-dom-06: the deny holds for an upper-case, trailing-dot spelling',
      request: { network: 'BAD.good.test.:443' },
      decision: 'deny',
      rules: ['bad'],
    },
    {
      name: 'egress-dom-06: the deny holds on port 80 as well',
      request: { network: 'bad.good.test:80' },
      decision: 'deny',
      rules: ['bad'],
    },
    {
      name: 'egress-dom-07: xgood.test is not under good.test (suffixes match whole labels)',
      request: { network: 'xgood.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-07: evilgood.test is not under good.test',
      request: { network: 'evilgood.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-07: good.test.evil.test is not under good.test',
      request: { network: 'good.test.evil.test:443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-09: a rule with :443 on its pattern does not cover port 8443',
      request: { network: 'api.example.com:8443' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-09: a rule with :443 on its pattern does not cover port 80',
      request: { network: 'api.example.com:80' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-dom-10: a label with an underscore is a valid name and is allowed',
      request: { network: '_acme-challenge.good.test:443' },
      decision: 'allow',
      rules: ['good'],
    },
    {
      name: 'egress-url-06: a percent-encoded dot does not make api.example.com%2eevil.test an allowed name',
      request: { network: 'http://api.example.com%2eevil.test/' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-url-06: api.example.com.evil.test is not api.example.com',
      request: { network: 'http://api.example.com.evil.test/' },
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'egress-url-07: an encoded NUL in the host is an invalid request, never a name suffix match',
      request: { network: 'http://evil.test%00.api.example.com/' },
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
  ]);

  test('egress-dom-09: a host rule without ports covers 80 and 443 and nothing else', () => {
    const engine = engineFrom(`
      network:
        allow:
          - { id: api, hosts: [api.example.com] }
    `);
    assertDecision(decideShort(engine, { network: 'api.example.com:443' }), {
      decision: 'allow',
      rules: ['api'],
    });
    assertDecision(decideShort(engine, { network: 'api.example.com:80' }), {
      decision: 'allow',
      rules: ['api'],
    });
    assertDecision(decideShort(engine, { network: 'api.example.com:8443' }), {
      decision: 'deny',
      rules: [],
      code: 'default',
    });
  });

  describe('egress-dom-08: a Unicode host in a policy is normalised to its A-label', () => {
    runCases(
      `
        network:
          allow:
            - { id: books, hosts: ["bücher.example"] }
      `,
      [
        {
          name: 'egress-dom-08: the A-label xn--bcher-kva.example is allowed',
          request: { network: 'xn--bcher-kva.example:443' },
          decision: 'allow',
          rules: ['books'],
        },
        {
          name: 'egress-dom-08: the upper-case Unicode spelling BÜCHER.example is allowed',
          request: { network: 'BÜCHER.example:443' },
          decision: 'allow',
          rules: ['books'],
        },
        {
          name: 'egress-dom-08: a different A-label (buecher.example) is not allowed',
          request: { network: 'buecher.example:443' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
      ],
    );
  });
});

describe('network: host patterns', () => {
  runCases(
    `
      network:
        allow:
          - { id: exact, hosts: [example.org] }
          - { id: one, hosts: ["*.one.test"] }
          - { id: any-depth, hosts: ["**.many.test"] }
    `,
    [
      {
        name: 'an exact host matches itself',
        request: { network: 'example.org:443' },
        decision: 'allow',
        rules: ['exact'],
      },
      {
        name: 'an exact host does not match its subdomains',
        request: { network: 'www.example.org:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: '*.x matches exactly one more label',
        request: { network: 'a.one.test:443' },
        decision: 'allow',
        rules: ['one'],
      },
      {
        name: '*.x does not match the apex',
        request: { network: 'one.test:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: '*.x does not match two more labels',
        request: { network: 'a.b.one.test:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: '**.x matches one more label',
        request: { network: 'a.many.test:443' },
        decision: 'allow',
        rules: ['any-depth'],
      },
      {
        name: '**.x matches several more labels',
        request: { network: 'a.b.c.many.test:443' },
        decision: 'allow',
        rules: ['any-depth'],
      },
      {
        name: '**.x does not match the apex',
        request: { network: 'many.test:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
    ],
  );

  describe('** matches any name but never an IP literal', () => {
    runCases(
      `
        network:
          allow:
            - { id: anything, hosts: ["**"] }
      `,
      [
        {
          name: '** matches a single-label name',
          request: { network: 'intranet:443' },
          decision: 'allow',
          rules: ['anything'],
        },
        {
          name: '** matches a deep name',
          request: { network: 'a.b.c.example.net:443' },
          decision: 'allow',
          rules: ['anything'],
        },
        {
          name: '** does not match a public IPv4 literal',
          request: { network: '93.184.216.34:443' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: '** does not match an IPv4 literal in hex spelling',
          request: { network: '0x5db8d822:443' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: '** does not match a public IPv6 literal',
          request: { network: '[2606:4700::1111]:443' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
      ],
    );
  });

  test('a host deny rule never matches an IP literal, so a CIDR allow decides it', () => {
    const engine = engineFrom(`
      network:
        allow:
          - { id: pub-net, cidrs: [93.184.216.0/24] }
        deny:
          - { id: no-names, hosts: ["**"] }
    `);
    assertDecision(decideShort(engine, { network: '93.184.216.34:443' }), {
      decision: 'allow',
      rules: ['pub-net'],
    });
    assertDecision(decideShort(engine, { network: 'example.org:443' }), {
      decision: 'deny',
      rules: ['no-names'],
    });
  });

  test('a CIDR rule never matches a name, even the catch-all 0.0.0.0/0', () => {
    const engine = engineFrom(`
      network:
        allow:
          - { id: every-v4, cidrs: [0.0.0.0/0], ports: ["*"] }
    `);
    assertDecision(decideShort(engine, { network: 'example.org:443' }), {
      decision: 'deny',
      rules: [],
      code: 'default',
    });
    assertDecision(decideShort(engine, { network: '93.184.216.34:443' }), {
      decision: 'allow',
      rules: ['every-v4'],
    });
  });

  const badPatterns: readonly [string, string][] = [
    ['a lone *', '"*"'],
    ['a wildcard inside a label', '"ex*ample.com"'],
    ['a wildcard in the middle of a name', '"api.*.example.com"'],
    ['**.com (a public suffix)', '"**.com"'],
    ['*.co.uk (a public suffix)', '"*.co.uk"'],
    ['an IPv4 address in hosts', '"10.0.0.1"'],
  ];
  for (const [what, pattern] of badPatterns) {
    test(`a host pattern with ${what} is a load error`, () => {
      assertLoadError(
        `
          network:
            allow:
              - { id: r, hosts: [${pattern}] }
        `,
        'bad-host-pattern',
      );
    });
  }
});

describe('network: ports', () => {
  runCases(
    `
      network:
        allow:
          - { id: web, hosts: [web.example.org] }
          - { id: tls-only, hosts: ["tls.example.org:443"] }
          - { id: dev-range, hosts: ["dev.example.org:8000-8999"] }
          - { id: any-port, hosts: [ssh.example.org], ports: ["*"] }
          - { id: listed, hosts: [listed.example.org], ports: [8443, "9000-9001"] }
          - { id: all-of-deny-test, hosts: ["**.guarded.test"], ports: ["*"] }
          - { id: all-of-ask-test, hosts: ["**.asked.test"], ports: ["*"] }
        deny:
          - { id: deny-any-port, hosts: [x.guarded.test] }
        ask:
          - { id: ask-any-port, hosts: [x.asked.test] }
    `,
    [
      {
        name: 'an allow rule without ports covers 443',
        request: { network: 'web.example.org:443' },
        decision: 'allow',
        rules: ['web'],
      },
      {
        name: 'an allow rule without ports covers 80',
        request: { network: 'web.example.org:80' },
        decision: 'allow',
        rules: ['web'],
      },
      {
        name: 'an allow rule without ports does not cover 8080',
        request: { network: 'web.example.org:8080' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'an allow rule without ports does not cover 22',
        request: { network: 'web.example.org:22' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'host:443 on a pattern covers 443',
        request: { network: 'tls.example.org:443' },
        decision: 'allow',
        rules: ['tls-only'],
      },
      {
        name: 'host:443 on a pattern does not cover 80',
        request: { network: 'tls.example.org:80' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'host:lo-hi covers its lower bound',
        request: { network: 'dev.example.org:8000' },
        decision: 'allow',
        rules: ['dev-range'],
      },
      {
        name: 'host:lo-hi covers its upper bound',
        request: { network: 'dev.example.org:8999' },
        decision: 'allow',
        rules: ['dev-range'],
      },
      {
        name: 'host:lo-hi does not cover the port after the range',
        request: { network: 'dev.example.org:9000' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'host:lo-hi replaces the web-port default, so 443 is not covered',
        request: { network: 'dev.example.org:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'ports ["*"] covers port 22',
        request: { network: 'ssh.example.org:22' },
        decision: 'allow',
        rules: ['any-port'],
      },
      {
        name: 'ports ["*"] covers port 65535',
        request: { network: 'ssh.example.org:65535' },
        decision: 'allow',
        rules: ['any-port'],
      },
      {
        name: 'ports ["*"] covers port 1',
        request: { network: 'ssh.example.org:1' },
        decision: 'allow',
        rules: ['any-port'],
      },
      {
        name: 'a listed single port is covered',
        request: { network: 'listed.example.org:8443' },
        decision: 'allow',
        rules: ['listed'],
      },
      {
        name: 'a listed range is covered',
        request: { network: 'listed.example.org:9001' },
        decision: 'allow',
        rules: ['listed'],
      },
      {
        name: 'explicit ports replace the default, so 443 is not covered',
        request: { network: 'listed.example.org:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'a deny rule without ports covers port 22',
        request: { network: 'x.guarded.test:22' },
        decision: 'deny',
        rules: ['deny-any-port'],
        code: 'rule',
      },
      {
        name: 'a deny rule without ports covers port 8443',
        request: { network: 'x.guarded.test:8443' },
        decision: 'deny',
        rules: ['deny-any-port'],
      },
      {
        name: 'next to a deny rule, the any-port allow still covers other names',
        request: { network: 'y.guarded.test:22' },
        decision: 'allow',
        rules: ['all-of-deny-test'],
      },
      {
        name: 'an ask rule without ports covers port 5432',
        request: { network: 'x.asked.test:5432' },
        decision: 'ask',
        rules: ['ask-any-port'],
        code: 'rule',
      },
    ],
  );

  test('a bad port on a rule is a load error', () => {
    assertLoadError(
      `
        network:
          allow:
            - { id: r, hosts: [example.org], ports: ["9000-8000"] }
      `,
      'bad-port',
    );
  });
});

describe('network: CIDR rules', () => {
  runCases(
    `
      network:
        allow:
          - { id: v4-block, cidrs: [93.184.216.0/24] }
          - { id: v6-block, cidrs: ["2001:4860::/32"] }
          - { id: v4-wide, cidrs: [151.101.0.0/16], ports: ["*"] }
        deny:
          - { id: v4-hole, cidrs: [151.101.65.0/24] }
    `,
    [
      {
        name: 'an IPv4 address inside a /24 allow is allowed',
        request: { network: '93.184.216.34:443' },
        decision: 'allow',
        rules: ['v4-block'],
      },
      {
        name: 'an IPv4 address just outside the /24 is not',
        request: { network: '93.184.217.1:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'an IPv4 address in a single-number spelling is canonicalised before matching',
        request: { network: '1572395042:443' },
        decision: 'allow',
        rules: ['v4-block'],
      },
      {
        name: 'an IPv4 address in hex spelling is canonicalised before matching',
        request: { network: '0x5db8d822:443' },
        decision: 'allow',
        rules: ['v4-block'],
      },
      {
        name: 'an IPv4-mapped IPv6 address matches the IPv4 block',
        request: { network: '[::ffff:93.184.216.34]:443' },
        decision: 'allow',
        rules: ['v4-block'],
      },
      {
        name: 'a CIDR allow without ports covers only 80 and 443',
        request: { network: '93.184.216.34:8443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'an IPv6 address inside a /32 allow is allowed',
        request: { network: '[2001:4860:4860::8888]:443' },
        decision: 'allow',
        rules: ['v6-block'],
      },
      {
        name: 'an IPv6 address written in full is canonicalised before matching',
        request: { network: '[2001:4860:4860:0:0:0:0:8888]:443' },
        decision: 'allow',
        rules: ['v6-block'],
      },
      {
        name: 'an IPv6 address just outside the /32 is not',
        request: { network: '[2001:4861::1]:443' },
        decision: 'deny',
        rules: [],
        code: 'default',
      },
      {
        name: 'a narrower CIDR deny beats a wider CIDR allow, on any port',
        request: { network: '151.101.65.69:22' },
        decision: 'deny',
        rules: ['v4-hole'],
        code: 'rule',
      },
      {
        name: 'the wider CIDR allow covers addresses outside the deny',
        request: { network: '151.101.1.1:22' },
        decision: 'allow',
        rules: ['v4-wide'],
      },
    ],
  );

  test('a CIDR with host bits set is a load error', () => {
    assertLoadError(
      `
        network:
          allow:
            - { id: r, cidrs: [10.0.0.1/8] }
      `,
      'bad-cidr',
    );
  });
});

describe('network: HTTP methods and paths', () => {
  describe('an allow rule with methods and paths', () => {
    runCases(
      `
        network:
          allow:
            - id: gh-read
              hosts: [api.github.com]
              methods: [GET, HEAD]
              paths: ["/repos/acme/**"]
      `,
      [
        {
          name: 'a plain HTTP GET under the allowed path is allowed',
          request: {
            network: { host: 'api.github.com', port: 443, method: 'GET', path: '/repos/acme/widget' },
          },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'a URL request (GET implied) under the allowed path is allowed',
          request: { network: 'https://api.github.com/repos/acme/widget/issues' },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'a trailing /** in an HTTP path also covers the directory itself',
          request: { network: { host: 'api.github.com', port: 443, method: 'HEAD', path: '/repos/acme' } },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'the method is compared case-insensitively',
          request: { network: { host: 'api.github.com', port: 443, method: 'get', path: '/repos/acme/x' } },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'a method the rule does not list is not allowed',
          request: { network: { host: 'api.github.com', port: 443, method: 'POST', path: '/repos/acme/x' } },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'a path outside the rule is not allowed',
          request: { network: 'https://api.github.com/repos/other/x' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'an opaque tunnel (no method) never matches an allow rule with methods and paths',
          request: { network: 'api.github.com:443' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'a method without a path does not match an allow rule with paths',
          request: { network: { host: 'api.github.com', port: 443, method: 'GET' } },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'a .. segment is resolved before the path is matched',
          request: { network: 'https://api.github.com/repos/acme/../other/x' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'a %2e%2e segment is decoded and resolved before the path is matched',
          request: { network: 'https://api.github.com/repos/acme/%2e%2e/other' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'an upper-case %2E%2E segment is decoded and resolved too',
          request: { network: 'https://api.github.com/repos/acme/x/%2E%2E/%2E%2E/other' },
          decision: 'deny',
          rules: [],
          code: 'default',
        },
        {
          name: 'a .. that stays inside the allowed tree is still allowed',
          request: { network: 'https://api.github.com/repos/acme/x/../y' },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'a .. back into the allowed tree is allowed (judged on the resolved path)',
          request: { network: 'https://api.github.com/repos/other/../acme/x' },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'an encoded unreserved character is decoded before matching',
          request: { network: 'https://api.github.com/repos/%61cme/x' },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'the query is not part of the path',
          request: { network: 'https://api.github.com/repos/acme/x?next=/../../admin' },
          decision: 'allow',
          rules: ['gh-read'],
        },
        {
          name: 'a path with a control character is an invalid request',
          request: { network: { host: 'api.github.com', port: 443, method: 'GET', path: '/repos/acme/\nx' } },
          decision: 'deny',
          rules: [],
          code: 'invalid-request',
        },
      ],
    );
  });

  describe('deny and ask rules with methods and paths', () => {
    runCases(
      `
        network:
          allow:
            - { id: gh, hosts: [api.github.com] }
          deny:
            - { id: no-delete, hosts: [api.github.com], methods: [DELETE] }
          ask:
            - { id: admin, hosts: [api.github.com], paths: ["/admin/**"] }
      `,
      [
        {
          name: 'a GET elsewhere is allowed by the method-less allow',
          request: { network: 'https://api.github.com/repos/acme' },
          decision: 'allow',
          rules: ['gh'],
        },
        {
          name: 'a DELETE is denied by the method deny',
          request: { network: { host: 'api.github.com', port: 443, method: 'DELETE', path: '/repos/acme' } },
          decision: 'deny',
          rules: ['no-delete'],
          code: 'rule',
        },
        {
          name: 'a GET under the ask path needs approval',
          request: { network: 'https://api.github.com/admin/keys' },
          decision: 'ask',
          rules: ['admin'],
        },
        {
          name: 'a GET that reaches the ask path through %2e%2e needs approval',
          request: { network: 'https://api.github.com/repos/%2e%2e/admin/keys' },
          decision: 'ask',
          rules: ['admin'],
        },
        {
          name: 'an opaque tunnel matches the deny with methods (it cannot be checked, so it counts as matched)',
          request: { network: 'api.github.com:443' },
          decision: 'deny',
          rules: ['no-delete'],
          code: 'rule',
        },
      ],
    );

    test('an opaque tunnel matches an ask rule with paths', () => {
      const engine = engineFrom(`
        network:
          allow:
            - { id: gh, hosts: [api.github.com] }
          ask:
            - { id: admin, hosts: [api.github.com], paths: ["/admin/**"] }
      `);
      assertDecision(decideShort(engine, { network: 'api.github.com:443' }), {
        decision: 'ask',
        rules: ['admin'],
      });
      assertDecision(decideShort(engine, { network: 'https://api.github.com/repos' }), {
        decision: 'allow',
        rules: ['gh'],
      });
    });
  });

  test('a file-style path (~ or ${workspace}) in an HTTP rule is a load error', () => {
    assertLoadError(
      `
        network:
          allow:
            - { id: r, hosts: [example.org], paths: ["~/x"] }
      `,
      'bad-path-pattern',
    );
  });
});

describe('network: modes', () => {
  test('an audit-mode deny records deny as the would-be decision and lets the connection through', () => {
    const engine = engineFrom(`
      network:
        allow:
          - { id: all, hosts: ["**.example.org"] }
        deny:
          - { id: watch, hosts: [x.example.org], mode: audit }
    `);
    const d = decideShort(engine, { network: 'x.example.org:443' });
    assertDecision(d, { decision: 'allow', would: 'deny', rules: ['watch'], code: 'rule' });
    assert.equal(d.mode, 'audit');
  });

  test('an empty network section allows nothing (redteam-68)', () => {
    const engine = engineFrom(`
      network: {}
    `);
    assertDecision(decideShort(engine, { network: 'example.org:443' }), {
      decision: 'deny',
      rules: [],
      code: 'default',
    });
  });
});
