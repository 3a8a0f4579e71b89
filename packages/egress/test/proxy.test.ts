// The proxy over real sockets on loopback. The resolver is a stub that answers public-looking
// addresses (PUB1, PUB2) and logs every query; the dialer asserts it gets a vetted address and
// connects to a local upstream, so no guard range is opened for tests (research egress §11).

import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createEgressProxy } from '../src/proxy.js';

const PUB1 = '93.184.216.34';
const PUB2 = '151.101.65.69';

// egress §11 base policy P0, plus a path rule for plain HTTP.
const POLICY = `apiVersion: perimeter/v1
kind: Policy
metadata: { name: p0, layer: org }
network:
  allow:
    - { id: api, hosts: ["api.example.com"], ports: [443, 80] }
    - { id: web, hosts: ["web.example.com"], ports: [80, 443] }
    - { id: good, hosts: ["*.good.test"], ports: [443, 80] }
    - { id: deep, hosts: ["**.deep.test"], ports: [443, 80] }
  deny:
    - { id: bad, hosts: [bad.good.test] }
    - { id: no-admin, hosts: [web.example.com], paths: ["/admin/**"] }
`;

const DNS: Record<string, readonly string[]> = {
  'api.example.com': [PUB1],
  'web.example.com': [PUB2],
  'x.good.test': [PUB1],
  'internal.good.test': ['10.0.0.5'],
  'mixed.good.test': [PUB1, '127.0.0.1'],
  'empty.good.test': [],
};

let upstream: Server;
let web: HttpServer;
let proxy: ReturnType<typeof createEgressProxy>;
let proxyPort = 0;
const queries: string[] = [];
const dialled: string[] = [];
const records: AuditRecord[] = [];
let lastWebRequest: { url?: string; host?: string; auth?: string } = {};

before(async () => {
  upstream = createServer((s) => s.pipe(s)); // an echo server stands in for any TLS origin
  web = createHttpServer((req, res) => {
    lastWebRequest = {
      url: req.url ?? '',
      host: req.headers.host ?? '',
      auth: req.headers['proxy-authorization'] ?? '',
    };
    res.end(`hello ${req.url ?? ''}`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const loaded = loadPolicies([{ file: 'p0.yaml', text: POLICY }]);
  assert.deepEqual(loaded.diagnostics, []);
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: '/home/u', workspace: '/w' } },
  );
  proxy = createEgressProxy({
    engine,
    resolver: (name) => {
      queries.push(name);
      return Promise.resolve(DNS[name] ?? []);
    },
    dial: (address, port) => {
      dialled.push(`${address}:${port}`);
      assert.ok(address === PUB1 || address === PUB2, `dialled only vetted addresses, got ${address}`);
      const target =
        port === 80 ? (web.address() as AddressInfo).port : (upstream.address() as AddressInfo).port;
      return connect({ host: '127.0.0.1', port: target });
    },
    audit: (r) => records.push(r),
    sessionId: 'test-session',
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as AddressInfo).port;
});

after(() => {
  proxy.close();
  upstream.close();
  web.close();
});

/** Sends raw bytes to the proxy and collects the reply until the proxy closes or `until` shows. */
function exchange(text: string, until?: RegExp, after?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: proxyPort });
    let got = '';
    let sentAfter = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply; got: ${got}`));
    }, 5000);
    socket.on('data', (chunk) => {
      got += chunk.toString();
      if (after !== undefined && !sentAfter && got.includes('\r\n\r\n')) {
        sentAfter = true;
        socket.write(after);
      }
      if (until && until.test(got)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    socket.on('error', reject);
    socket.write(text);
  });
}

const reset = (): void => {
  queries.length = 0;
  dialled.length = 0;
  records.length = 0;
};

describe('CONNECT', () => {
  it('passes a server that speaks first (SSH, SMTP) its greeting before the client sends a byte', async () => {
    reset();
    const greeter = createServer((s) => s.end('220 greeter ready\r\n'));
    await new Promise<void>((r) => greeter.listen(0, '127.0.0.1', r));
    const port = (greeter.address() as AddressInfo).port;
    const local = createEgressProxy({
      engine: createEngine(
        loadPolicies([
          {
            file: 'g.yaml',
            text: `apiVersion: perimeter/v1\nkind: Policy\nmetadata: { name: g, layer: org }\nnetwork:\n  allow:\n    - { id: greeter, cidrs: [127.0.0.1/32], ports: [${port}] }\n`,
          },
        ]).policies.map((p) => p.policy),
        { context: { home: '/home/u' } },
      ),
      sessionId: 'greeter',
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: (local.address() as AddressInfo).port });
        let text = '';
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`the greeting never came; got: ${text}`));
        }, 3000);
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('220 greeter')) {
            clearTimeout(timer);
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n`);
      });
      assert.match(got, /200[\s\S]*220 greeter ready/);
    } finally {
      local.close();
      greeter.close();
    }
  });

  it('closes a tunnel the client half-closes before sending a byte (no tunnel left open)', async () => {
    reset();
    const closedBy = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: proxyPort, allowHalfOpen: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('the proxy kept the unused tunnel open'));
      }, 3000);
      let got = '';
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString();
        if (got.includes('\r\n\r\n')) socket.end(); // gives up right after the 200
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(got);
      });
      socket.on('error', reject);
      socket.write('CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    });
    assert.match(closedBy, /^HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(records.some((r) => r.type === 'network.closed'));
  });

  it('tunnels to an allowed name at its vetted address', async () => {
    reset();
    const reply = await exchange(
      'CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n',
      /ping/,
      'ping',
    );
    assert.match(reply, /^HTTP\/1\.1 200 Connection Established\r\n\r\nping/);
    assert.deepEqual(dialled, [`${PUB1}:443`]);
    assert.equal(records[0]?.decision, 'allow');
    assert.equal(records[0]?.request?.resource, 'api.example.com:443');
  });

  it('egress-dom-06: refuses a denied name with 403 and the reason, without any lookup', async () => {
    reset();
    const reply = await exchange('CONNECT bad.good.test:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 403 Forbidden/);
    assert.match(reply, /X-Perimeter-Reason: Denied by rule "bad"/);
    assert.deepEqual(queries, []);
    assert.deepEqual(dialled, []);
    assert.equal(records[0]?.decision, 'deny');
  });

  it('egress-ip-07: refuses loopback written as 0x7f.1, without any lookup', async () => {
    reset();
    const reply = await exchange('CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.match(reply, /127\.0\.0\.1 is loopback/);
    assert.deepEqual(queries, []);
    assert.deepEqual(dialled, []);
  });

  it('egress-dns-01: refuses an allowed name that resolves to a private address', async () => {
    reset();
    const reply = await exchange('CONNECT internal.good.test:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.match(reply, /resolved to 10\.0\.0\.5/);
    assert.deepEqual(dialled, []);
  });

  it('egress-dns-03: refuses a mixed answer as a whole', async () => {
    reset();
    const reply = await exchange('CONNECT mixed.good.test:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.deepEqual(dialled, []);
  });

  it('egress-dns-07: refuses a name that resolved to nothing, never dialling by name', async () => {
    reset();
    const reply = await exchange('CONNECT empty.good.test:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.match(reply, /resolved to no address/);
    assert.deepEqual(dialled, []);
  });

  it('egress-proto-01: refuses a port the rule does not name', async () => {
    reset();
    const reply = await exchange('CONNECT api.example.com:22 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.deepEqual(queries, []);
  });

  it('egress-url-09: answers a malformed port with 400', async () => {
    reset();
    const reply = await exchange('CONNECT api.example.com:+443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
  });

  it('egress-proto-06: never reads early bytes after a refused CONNECT as a new request', async () => {
    reset();
    const reply = await exchange(
      'CONNECT bad.good.test:443 HTTP/1.1\r\n\r\nGET http://api.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n',
    );
    assert.match(reply, /403 Forbidden/);
    assert.doesNotMatch(reply, /200/);
    assert.deepEqual(dialled, []);
  });
});

describe('HTTP forward (absolute-form)', () => {
  it('forwards an allowed request with the canonical Host and origin-form path', async () => {
    reset();
    const reply = await exchange(
      'GET http://API.example.com./repos/x?page=2 HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: Bearer secret\r\nConnection: close\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /hello \/repos\/x\?page=2/);
    assert.equal(lastWebRequest.url, '/repos/x?page=2');
    assert.equal(lastWebRequest.host, 'api.example.com:80');
    assert.equal(lastWebRequest.auth, '', 'Proxy-Authorization is never forwarded');
  });

  it('refuses a path a deny rule names, even spelt with dot segments', async () => {
    reset();
    const reply = await exchange(
      'GET http://web.example.com/repos/../admin/users HTTP/1.1\r\nConnection: close\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 403/);
    assert.match(reply, /x-perimeter-reason: Denied by rule "no-admin"/i);
    assert.deepEqual(dialled, []);
  });

  it('forwards a path the deny rule does not name', async () => {
    reset();
    const reply = await exchange('GET http://web.example.com/docs HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.deepEqual(dialled, [`${PUB2}:80`]);
  });

  it('refuses an opaque tunnel to a host with a path deny: the path cannot be seen inside it', async () => {
    reset();
    const reply = await exchange('CONNECT web.example.com:443 HTTP/1.1\r\n\r\n');
    assert.match(reply, /403 Forbidden/);
    assert.match(reply, /no-admin/);
  });

  it('egress-url-01: judges user info tricks as malformed, never as the host after @', async () => {
    reset();
    const reply = await exchange(
      'GET http://api.example.com@evil.test/ HTTP/1.1\r\nConnection: close\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.deepEqual(dialled, []);
  });

  it('tells a client that sends an origin-form request that this is a proxy', async () => {
    const reply = await exchange('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.match(reply, /this is a proxy/);
  });
});

describe('session token', () => {
  it('egress-proto-11: answers 407 without the session token', async () => {
    const loaded = loadPolicies([{ file: 'p0.yaml', text: POLICY }]);
    const engine = createEngine(
      loaded.policies.map((p) => p.policy),
      { context: { home: '/h', workspace: '/w' } },
    );
    const guarded = createEgressProxy({ engine, token: 't0ken', resolver: () => Promise.resolve([PUB1]) });
    await new Promise<void>((r) => guarded.listen(0, '127.0.0.1', r));
    const port = (guarded.address() as AddressInfo).port;
    const reply = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      let got = '';
      s.on('data', (c) => (got += c.toString()));
      s.on('close', () => resolve(got));
      s.write('CONNECT api.example.com:443 HTTP/1.1\r\n\r\n');
    });
    guarded.close();
    assert.match(reply, /^HTTP\/1\.1 407/);
    // Clients such as git only retry with the proxy URL's credentials when told the scheme.
    assert.match(reply, /\r\nProxy-Authenticate: Basic realm="perimeter"\r\n/);
    const [head = '', body = ''] = reply.split('\r\n\r\n');
    assert.equal(Number(/Content-Length: (\d+)/.exec(head)?.[1]), Buffer.byteLength(body));
  });
});

describe('limits', () => {
  it('closes connections beyond maxConnections on arrival', async () => {
    const loaded = loadPolicies([{ file: 'p0.yaml', text: POLICY }]);
    const limited = createEgressProxy({
      engine: createEngine(
        loaded.policies.map((p) => p.policy),
        { context: { home: '/h', workspace: '/w' } },
      ),
      maxConnections: 1,
      resolver: () => Promise.resolve([PUB1]),
      dial: () => connect({ host: '127.0.0.1', port: (upstream.address() as AddressInfo).port }),
    });
    await new Promise<void>((r) => limited.listen(0, '127.0.0.1', r));
    const port = (limited.address() as AddressInfo).port;
    const first = connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => first.once('connect', () => r()));
    await new Promise((r) => setTimeout(r, 100));
    const second = connect({ host: '127.0.0.1', port });
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000);
      second.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      second.on('error', () => undefined);
    });
    first.destroy();
    limited.close();
    assert.equal(closed, true);
  });
});
