// tunnelFetch: every connection a CONNECT through the proxy socket it is given, TLS end to end
// inside, verified against the URL's own name or address with the roots the caller names (for
// these connections only). A small CONNECT relay stands in for the egress proxy here (the real one
// is in packages/cli/test/mcp-sandbox.test.ts); the servers' certificates come from openssl, made
// in the test, because a URL naming an address sends no SNI and needs a server's default
// certificate.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tunnelFetch, TunnelRefused } from '../src/tunnel-fetch.js';

const OPENSSL = spawnSync('openssl', ['version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'perimeter-tunnel-fetch-'));
const TOKEN = 'relay-token-7a41c0e9';

/** A self-signed certificate (its own root) for the subject alternative name given, and its key. */
function certificate(name: string, san: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${san}`,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

/** An https server on 127.0.0.1 answering every request with the Host it was sent. */
async function origin(tls: { key: string; cert: string }): Promise<{ server: HttpsServer; port: number }> {
  const server = createHttpsServer(tls, (req, res) => res.end(`host ${req.headers.host ?? ''}`));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** What the relay was asked for (CONNECT authorities); it relays to 127.0.0.1 whatever the name. */
const asked: string[] = [];
let relay: Server;
const socket = join(dir, 'relay.sock');
let byName: { key: string; cert: string };
let byAddress: { key: string; cert: string };
let named: { server: HttpsServer; port: number };
let addressed: { server: HttpsServer; port: number };

before(async () => {
  if (!OPENSSL) return;
  byName = certificate('localhost', 'DNS:localhost');
  byAddress = certificate('address', 'IP:127.0.0.1');
  named = await origin(byName);
  addressed = await origin(byAddress);
  relay = createServer((client) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const [, authority = ''] = /^CONNECT (\S+) HTTP\/1\.1/.exec(head) ?? [];
      asked.push(authority);
      if (!head.includes(`Proxy-Authorization: Bearer ${TOKEN}`)) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nx-perimeter-reason: no token\r\n\r\n');
        return;
      }
      const port = Number(authority.slice(authority.lastIndexOf(':') + 1));
      const upstream = connect(port, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((ok) => relay.listen(socket, () => ok()));
});

after(async () => {
  if (OPENSSL) {
    named.server.closeAllConnections();
    addressed.server.closeAllConnections();
    await Promise.all(
      [named.server, addressed.server, relay].map((s) => new Promise<void>((ok) => s.close(() => ok()))),
    );
  }
  rmSync(dir, { recursive: true, force: true });
});

const skip = OPENSSL ? false : 'openssl is not installed';

describe('tunnelFetch', { skip }, () => {
  it('reaches an https server through the CONNECT tunnel, trusting the roots it is given', async () => {
    const fetch = tunnelFetch(() => connect(socket), TOKEN, { ca: byName.cert });
    const r = await fetch(`https://localhost:${named.port}/mcp`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), `host localhost:${named.port}`);
    assert.ok(asked.includes(`localhost:${named.port}`), 'the connection went through the relay');
  });

  it('trusts those roots for its own connections only: without them the certificate is refused', async () => {
    const fetch = tunnelFetch(() => connect(socket), TOKEN);
    await assert.rejects(fetch(`https://localhost:${named.port}/mcp`), /self-signed certificate/);
  });

  it("a URL naming an address is verified against that address, not against 'localhost'", async () => {
    const fetch = tunnelFetch(() => connect(socket), TOKEN, { ca: [byName.cert, byAddress.cert] });
    // The localhost certificate does not name 127.0.0.1: with no SNI to go by, it must be refused.
    await assert.rejects(
      fetch(`https://127.0.0.1:${named.port}/`),
      (e: NodeJS.ErrnoException) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    const r = await fetch(`https://127.0.0.1:${addressed.port}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), `host 127.0.0.1:${addressed.port}`);
  });

  it("the proxy's refusal rejects the fetch with its reason", async () => {
    const fetch = tunnelFetch(() => connect(socket), 'wrong-token');
    await assert.rejects(
      fetch(`https://localhost:${named.port}/`),
      (e: Error) => e instanceof TunnelRefused && /refused localhost:\d+: no token/.test(e.message),
    );
  });
});
