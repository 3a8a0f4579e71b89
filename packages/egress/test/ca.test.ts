// The session CA: what its certificates say (read back by Node's X509Certificate and the openssl
// CLI), that its private key cannot be reached from the object, the leaf cache, the merged trust
// bundle, and real TLS handshakes on loopback with the clients a sandbox runs: Node's tls, openssl
// s_client, curl, Python's ssl and git (GnuTLS on Debian), with and without name constraints.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, isIP, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect, TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { CaError, createSessionCa, mergedBundle, SYSTEM_BUNDLE_PATHS, type SessionCa } from '../src/ca.js';
import { runClient } from './compat-clients.js';
import { bareEnv, findCompatTools, HERMETIC_GIT_ENV } from './compat-fixtures.js';

const HOUR = 3_600_000;

/** The clients found on this machine (a missing one skips its cases); python is the real interpreter, not a pyenv shim. */
const tools = findCompatTools();
const { openssl } = tools;
const dir = mkdtempSync(join(tmpdir(), 'perimeter-ca-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const x509 = (pem: string): X509Certificate => new X509Certificate(pem);
const pemCount = (text: string): number => text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

/** `openssl x509 -noout -text` of a PEM, for the fields Node's X509Certificate does not show. */
function opensslText(pem: string): string {
  return execFileSync(openssl ?? 'openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' });
}

/** `openssl verify -x509_strict` of a leaf against a CA, as OpenSSL's own chain check sees it. */
function opensslVerify(caPem: string, leafPem: string): { isOk: boolean; output: string } {
  const caFile = join(dir, `verify-ca-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(caFile, caPem);
  try {
    const output = execFileSync(openssl ?? 'openssl', ['verify', '-x509_strict', '-CAfile', caFile], {
      input: leafPem,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { isOk: true, output };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { isOk: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  } finally {
    rmSync(caFile, { force: true });
  }
}

describe('the CA certificate', () => {
  const before = Date.now();
  const ca = createSessionCa();
  const cert = x509(ca.certPem);

  it('is a self-signed ECDSA P-256 CA that verifies with its own key', () => {
    assert.equal(cert.ca, true);
    assert.equal(cert.checkIssued(cert), true);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.subject, cert.issuer);
    assert.match(cert.subject, /^O=Perimeter\nCN=Perimeter session CA [0-9a-f]{8}$/);
  });

  it('is valid from an hour ago for 24 hours by default', () => {
    assert.ok(Math.abs(Date.parse(cert.validFrom) - (before - HOUR)) < 2000, cert.validFrom);
    assert.ok(Math.abs(Date.parse(cert.validTo) - (before + 24 * HOUR)) < 2000, cert.validTo);
  });

  it('has a positive random serial of at most 128 bits, new for every CA', () => {
    assert.match(cert.serialNumber, /^[0-9A-F]{1,32}$/);
    assert.notEqual(cert.serialNumber, x509(createSessionCa().certPem).serialNumber);
  });

  it(
    'is v3 with CA:TRUE pathlen 0 and keyCertSign+cRLSign, both critical, and a key identifier',
    {
      skip: openssl === undefined,
    },
    () => {
      const text = opensslText(ca.certPem);
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
      assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
      assert.match(text, /X509v3 Subject Key Identifier: \n\s+(?:[0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
      assert.doesNotMatch(text, /Name Constraints/);
    },
  );

  it('takes its common name and lifetime from the options', () => {
    const short = x509(createSessionCa({ commonName: 'Perimeter test CA é', validityHours: 0.5 }).certPem);
    assert.equal(short.subject, 'O=Perimeter\nCN=Perimeter test CA é');
    assert.ok(Math.abs(Date.parse(short.validTo) - (Date.now() + HOUR / 2)) < 2000);
  });

  it('refuses a lifetime or cache size that is not positive', () => {
    for (const options of [{ validityHours: 0 }, { validityHours: Number.NaN }, { leafCacheSize: 1.5 }]) {
      assert.throws(
        () => createSessionCa(options),
        (e: unknown) => e instanceof CaError && e.code === 'bad-option',
      );
    }
  });
});

describe('a leaf certificate', () => {
  const ca = createSessionCa();
  const caCert = x509(ca.certPem);

  it('names exactly its DNS host, is issued and signed by the CA, and is for TLS servers only', () => {
    const leaf = x509(ca.leafPemFor('api.example.com'));
    assert.equal(leaf.subjectAltName, 'DNS:api.example.com');
    assert.equal(leaf.subject, 'O=Perimeter\nCN=api.example.com');
    assert.equal(leaf.issuer, caCert.subject);
    assert.equal(leaf.checkIssued(caCert), true);
    assert.equal(leaf.verify(caCert.publicKey), true);
    assert.equal(leaf.ca, false);
    assert.equal(leaf.checkHost('api.example.com'), 'api.example.com');
    assert.equal(leaf.checkHost('www.example.com'), undefined);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']); // Node names the EKU "keyUsage"
    assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.notEqual(leaf.serialNumber, caCert.serialNumber);
  });

  it(
    'carries CA:FALSE, digitalSignature only, and an AKI equal to the CA’s SKI',
    { skip: openssl === undefined },
    () => {
      const text = opensslText(ca.leafPemFor('api.example.com'));
      const caSki = /Subject Key Identifier: \n\s+(\S+)/.exec(opensslText(ca.certPem))?.[1];
      assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
      assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
      assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
      assert.match(text, /X509v3 Subject Key Identifier: \n\s+(?:[0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
      assert.ok(caSki !== undefined);
      assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+(?:keyid:)?${caSki}\\n`));
    },
  );

  it('passes openssl verify -x509_strict', { skip: openssl === undefined }, () => {
    for (const host of ['api.example.com', '127.0.0.1', '::1']) {
      const result = opensslVerify(ca.certPem, ca.leafPemFor(host));
      assert.ok(result.isOk, `${host}: ${result.output}`);
    }
  });

  it('names an IP literal as an iPAddress SAN, with no common name', () => {
    const v4 = x509(ca.leafPemFor('127.0.0.1'));
    assert.equal(v4.subjectAltName, 'IP Address:127.0.0.1');
    assert.equal(v4.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(v4.subject, 'O=Perimeter');
    const v6 = x509(ca.leafPemFor('::1'));
    assert.equal(v6.subjectAltName, 'IP Address:0:0:0:0:0:0:0:1');
    assert.equal(v6.checkIP('::1'), '::1');
    assert.equal(v6.checkIP('127.0.0.1'), undefined);
  });

  it('keeps a name longer than a common name may be (64) in the SAN only', () => {
    const host = `${'a'.repeat(60)}.example.com`;
    const leaf = x509(ca.leafPemFor(host));
    assert.equal(leaf.subjectAltName, `DNS:${host}`);
    assert.equal(leaf.subject, 'O=Perimeter');
  });

  it('is valid from an hour ago for 24 hours, but never beyond the CA', () => {
    const now = Date.now();
    const long = createSessionCa({ validityHours: 48 });
    const leaf = x509(long.leafPemFor('api.example.com'));
    assert.ok(Math.abs(Date.parse(leaf.validFrom) - (now - HOUR)) < 2000, leaf.validFrom);
    assert.ok(Math.abs(Date.parse(leaf.validTo) - (now + 24 * HOUR)) < 2000, leaf.validTo);
    const short = createSessionCa({ validityHours: 2 });
    assert.equal(x509(short.leafPemFor('api.example.com')).validTo, x509(short.certPem).validTo);
  });

  it('is refused for a host that is not canonical: the SAN must be what the client asked for', () => {
    for (const host of [
      '',
      'API.example.com',
      'api.example.com.',
      '[::1]',
      '127.1',
      '::ffff:127.0.0.1',
      'a..b',
      'a b',
      '*.example.com',
    ]) {
      assert.throws(
        () => ca.contextFor(host),
        (e: unknown) => e instanceof CaError && e.code === 'host-not-canonical',
        JSON.stringify(host),
      );
    }
  });
});

describe('the leaf cache', () => {
  it('mints a host once: the second connection gets the same context and certificate', () => {
    const ca = createSessionCa();
    const context = ca.contextFor('api.example.com');
    const pem = ca.leafPemFor('api.example.com');
    assert.equal(ca.contextFor('api.example.com'), context);
    assert.equal(ca.leafPemFor('api.example.com'), pem);
    assert.notEqual(ca.leafPemFor('www.example.com'), pem);
  });

  it('evicts the least recently used host when full', () => {
    const ca = createSessionCa({ leafCacheSize: 2 });
    const a = ca.leafPemFor('a.example.com');
    const b = ca.leafPemFor('b.example.com');
    ca.leafPemFor('a.example.com'); // a is now the most recent
    ca.leafPemFor('c.example.com'); // evicts b
    assert.equal(ca.leafPemFor('a.example.com'), a);
    assert.notEqual(ca.leafPemFor('b.example.com'), b);
  });
});

describe('leaf lifetime', () => {
  it('mints a cached leaf again near its end, and nothing once the CA has expired', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const ca = createSessionCa({ validityHours: 48 });
    const first = ca.leafPemFor('api.example.com');
    t.mock.timers.tick(23 * HOUR);
    assert.equal(ca.leafPemFor('api.example.com'), first, 'an hour left: still cached');
    t.mock.timers.tick(HOUR - 60_000);
    const second = ca.leafPemFor('api.example.com');
    assert.notEqual(second, first, 'a minute left: minted again');
    assert.ok(Date.parse(x509(second).validTo) > Date.now() + 23 * HOUR);
    t.mock.timers.tick(25 * HOUR);
    assert.throws(
      () => ca.contextFor('api.example.com'),
      (e: unknown) => e instanceof CaError && e.code === 'ca-expired',
    );
  });

  it('keeps a leaf that ends with the CA until the end: a new one could not last longer', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const ca = createSessionCa({ validityHours: 2 });
    const first = ca.leafPemFor('api.example.com');
    t.mock.timers.tick(2 * HOUR - 60_000);
    assert.equal(ca.leafPemFor('api.example.com'), first);
  });
});

describe('the CA private key', () => {
  const ca = createSessionCa();
  ca.contextFor('api.example.com');

  it('is not reachable from the object: not a property, not in JSON, not in inspect', () => {
    assert.deepEqual(Reflect.ownKeys(ca), ['certPem', 'contextFor', 'leafPemFor']);
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(ca)) as object), ['certPem']);
    assert.ok(Object.isFrozen(ca));
    const seen = [
      JSON.stringify(ca),
      inspect(ca, { showHidden: true, depth: Infinity, getters: true }),
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the point: whatever toString gives holds no key
      String(ca),
      ca.certPem,
      ca.leafPemFor('api.example.com'),
    ].join('\n');
    assert.doesNotMatch(seen, /PRIVATE KEY|KeyObject|"d":/);
    assert.equal(pemCount(ca.certPem), 1);
  });

  it('cannot be added to or replaced on the object', () => {
    assert.throws(() => Object.assign(ca, { certPem: 'x' }), TypeError);
  });
});

describe('name constraints in the CA', () => {
  const text = (names: readonly string[]): string =>
    opensslText(createSessionCa({ permittedNames: names }).certPem);

  it('permit the listed DNS names and addresses, critical', { skip: openssl === undefined }, () => {
    const out = text(['api.github.com', '.example.com', '10.0.0.0/8', '::1']);
    assert.match(
      out,
      /X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:api.github.com\n\s+DNS:.example.com\n\s+IP:10.0.0.0\/255.0.0.0\n\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\n/,
    );
    assert.doesNotMatch(out, /Excluded/);
  });

  it(
    'exclude every kind (DNS, IPv4, IPv6) that has no permitted entry',
    {
      skip: openssl === undefined,
    },
    () => {
      assert.match(
        text(['example.com']),
        /Excluded:\n\s+IP:0.0.0.0\/0.0.0.0\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/,
      );
      assert.match(
        text(['127.0.0.1']),
        /Permitted:\n\s+IP:127.0.0.1\/255.255.255.255\n\s+Excluded:\n\s+DNS:\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/,
      );
      assert.match(text([]), /Name Constraints: critical\n\s+Excluded:\n\s+DNS:\n\s+IP:0.0.0.0/);
    },
  );

  it('refuse an entry that is neither a canonical name nor an address', () => {
    for (const entry of [
      'Example.com',
      '*.example.com',
      '10.0.0.1/8',
      'a..b',
      '[::1]',
      '..example.com',
      '',
    ]) {
      assert.throws(
        () => createSessionCa({ permittedNames: [entry] }),
        (e: unknown) => e instanceof CaError && e.code === 'bad-permitted-name',
        JSON.stringify(entry),
      );
    }
  });
});

describe('mergedBundle', () => {
  const ca = createSessionCa();
  const systemPath = SYSTEM_BUNDLE_PATHS.find((p) => existsSync(p));

  it('is the system roots followed by the session CA', { skip: systemPath === undefined }, () => {
    const system = readFileSync(systemPath ?? '', 'utf8');
    const bundle = mergedBundle(ca.certPem);
    assert.ok(bundle.startsWith(system));
    assert.ok(bundle.endsWith(ca.certPem));
    assert.equal(pemCount(bundle), pemCount(system) + 1);
    assert.ok(pemCount(system) > 10);
  });

  it('reads the given system bundle instead, and fails if it cannot', () => {
    const other = createSessionCa();
    const file = join(dir, 'roots.pem');
    writeFileSync(file, other.certPem.trimEnd()); // no final newline: the CA must still start on its own line
    assert.equal(mergedBundle(ca.certPem, file), other.certPem + ca.certPem);
    assert.throws(() => mergedBundle(ca.certPem, join(dir, 'missing.pem')), /ENOENT/);
  });

  it('refuses a certificate that is not a CA', () => {
    assert.throws(
      () => mergedBundle(ca.leafPemFor('api.example.com')),
      (e: unknown) => e instanceof CaError && e.code === 'bad-option',
    );
  });
});

// -- real handshakes ---------------------------------------------------------------------------

interface Origin {
  readonly port4: number;
  readonly port6: number;
  readonly close: () => Promise<void>;
}

/**
 * An HTTPS origin on 127.0.0.1 and ::1 that terminates TLS the way the interception proxy will:
 * the leaf for the SNI name, or, with no SNI (an IP literal), for the address it was dialled on.
 * It answers git's `info/refs` as an empty dumb-HTTP repository and everything else with "ok".
 */
async function startOrigin(ca: SessionCa): Promise<Origin> {
  const http = createHttpServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(req.url?.includes('/info/refs') === true ? '' : 'ok\n');
  });
  const listen = async (address: string): Promise<Server> => {
    const server = createNetServer((socket) => {
      const tls = new TLSSocket(socket, {
        isServer: true,
        secureContext: ca.contextFor(address),
        SNICallback: (name, done) => {
          try {
            done(null, ca.contextFor(name));
          } catch (error) {
            done(error as Error);
          }
        },
      });
      tls.on('error', () => tls.destroy()); // a client that rejects our certificate aborts the handshake
      http.emit('connection', tls);
    });
    await new Promise<void>((resolve) => server.listen(0, address, resolve));
    return server;
  };
  const v4 = await listen('127.0.0.1');
  const v6 = await listen('::1');
  return {
    port4: (v4.address() as AddressInfo).port,
    port6: (v6.address() as AddressInfo).port,
    close: async () => {
      await Promise.all([v4, v6].map((s) => new Promise((resolve) => s.close(resolve))));
      http.closeAllConnections();
    },
  };
}

interface Outcome {
  readonly isOk: boolean;
  readonly detail: string;
}

interface Target {
  /** What the client asks for: a DNS name (resolved to 127.0.0.1 by the client's own override) or an IP. */
  readonly host: string;
  readonly port: number;
  readonly caFile: string;
}

/** A bare environment for client processes: PATH and a private HOME, nothing else from the host (no CA or proxy variables). */
const env = bareEnv(dir);

/** Runs a client binary with no shell and a time limit; success is exit 0. */
async function run(
  file: string,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<Outcome> {
  const r = await runClient({
    argv: [file, ...args],
    env: { ...env, ...extraEnv },
    cwd: dir,
    timeoutMs: 15_000,
  });
  return { isOk: r.code === 0, detail: `${r.stdout}${r.stderr}`.trim() };
}

const urlHost = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host);
const dialAddress = (host: string): string => (isIP(host) === 6 ? '::1' : '127.0.0.1');

/** Each client, how to run it against a target, and the binary it needs (undefined: skip). */
const CLIENTS: ReadonlyArray<{
  name: string;
  binary: string | undefined;
  connect: (t: Target) => Promise<Outcome>;
}> = [
  {
    name: 'node tls',
    binary: process.execPath,
    connect: (t) =>
      new Promise((resolve) => {
        const socket = connect({
          host: dialAddress(t.host),
          port: t.port,
          ca: readFileSync(t.caFile, 'utf8'),
          ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
        });
        socket.on('secureConnect', () => {
          resolve({ isOk: socket.authorized, detail: String(socket.authorizationError ?? 'authorized') });
          socket.destroy();
        });
        socket.on('error', (e: NodeJS.ErrnoException) =>
          resolve({ isOk: false, detail: `${e.code}: ${e.message}` }),
        );
      }),
  },
  {
    name: 'openssl s_client',
    binary: openssl,
    connect: (t) =>
      run(openssl ?? 'openssl', [
        's_client',
        '-connect',
        `${urlHost(dialAddress(t.host))}:${t.port}`,
        ...(isIP(t.host) === 0
          ? ['-servername', t.host, '-verify_hostname', t.host]
          : ['-verify_ip', t.host]),
        '-CAfile',
        t.caFile,
        '-verify_return_error',
        '-brief',
      ]),
  },
  {
    name: 'curl',
    binary: tools.curl,
    connect: (t) =>
      run(tools.curl ?? 'curl', [
        '-sS',
        '--fail',
        '--cacert',
        t.caFile,
        ...(isIP(t.host) === 0 ? ['--resolve', `${t.host}:${t.port}:127.0.0.1`] : []),
        `https://${urlHost(t.host)}:${t.port}/`,
      ]),
  },
  {
    name: 'python ssl',
    binary: tools.python,
    connect: (t) =>
      run(tools.python ?? 'python3', [
        '-c',
        [
          'import socket, ssl, sys',
          'ctx = ssl.create_default_context(cafile=sys.argv[1])',
          'ctx.verify_flags |= ssl.VERIFY_X509_STRICT',
          'with socket.create_connection((sys.argv[2], int(sys.argv[3]))) as raw:',
          '    with ctx.wrap_socket(raw, server_hostname=sys.argv[4]) as tls:',
          '        print(tls.version())',
        ].join('\n'),
        t.caFile,
        dialAddress(t.host),
        String(t.port),
        t.host,
      ]),
  },
  {
    name: 'git (libcurl-gnutls on Debian)',
    binary: tools.git,
    connect: (t) =>
      run(
        tools.git ?? 'git',
        [
          '-c',
          `http.sslCAInfo=${t.caFile}`,
          ...(isIP(t.host) === 0 ? ['-c', `http.curloptResolve=${t.host}:${t.port}:127.0.0.1`] : []),
          'ls-remote',
          `https://${urlHost(t.host)}:${t.port}/repo.git`,
        ],
        HERMETIC_GIT_ENV,
      ),
  },
];

const VERIFY_FAILURE = /verif|subtree violation|local issuer|first certificate/i;

/** Every client against every target; each outcome is a test diagnostic, every unexpected one a failure. */
async function handshakes(
  t: TestContext,
  ca: SessionCa,
  caFile: string,
  expected: Readonly<Record<string, boolean>>,
): Promise<void> {
  const origin = await startOrigin(ca);
  const wrong: string[] = [];
  try {
    for (const client of CLIENTS) {
      if (client.binary === undefined) continue;
      for (const [host, shouldPass] of Object.entries(expected)) {
        const port = isIP(host) === 6 ? origin.port6 : origin.port4;
        const outcome = await client.connect({ host, port, caFile });
        const lines = outcome.detail.split('\n');
        const reason = lines.find((l) => VERIFY_FAILURE.test(l)) ?? lines[lines.length - 1] ?? '';
        t.diagnostic(`${client.name} ${host}: ${outcome.isOk ? 'accepted' : 'refused'}: ${reason.trim()}`);
        // A refusal must be the certificate's, not a connection or protocol failure.
        if (outcome.isOk !== shouldPass || (!shouldPass && !VERIFY_FAILURE.test(outcome.detail))) {
          wrong.push(
            `${client.name} ${host}: expected ${shouldPass ? 'ok' : 'failure'}, got ${outcome.detail}`,
          );
        }
      }
    }
  } finally {
    await origin.close();
  }
  assert.deepEqual(wrong, []);
}

describe('real TLS clients', () => {
  let unconstrained: SessionCa;
  let mergedFile: string;
  let caFile: string;
  before(() => {
    unconstrained = createSessionCa();
    caFile = join(dir, 'session-ca.pem');
    writeFileSync(caFile, unconstrained.certPem);
    mergedFile = join(dir, 'merged.pem');
    writeFileSync(mergedFile, mergedBundle(unconstrained.certPem));
  });

  it('accept a leaf for a DNS name, 127.0.0.1 and ::1, trusting the CA alone or the merged bundle', async (t) => {
    const all = { 'api.example.com': true, '127.0.0.1': true, '::1': true };
    await handshakes(t, unconstrained, caFile, all);
    await handshakes(t, unconstrained, mergedFile, all);
  });

  it('reject the same leaves when they trust a different CA (the tests can fail)', async (t) => {
    const strangerFile = join(dir, 'stranger.pem');
    writeFileSync(strangerFile, createSessionCa().certPem);
    await handshakes(t, unconstrained, strangerFile, {
      'api.example.com': false,
      '127.0.0.1': false,
      '::1': false,
    });
  });

  it('enforce name constraints: a leaf outside the permitted names fails verification', async (t) => {
    const constrained = createSessionCa({ permittedNames: ['example.com', '127.0.0.1'] });
    const file = join(dir, 'constrained.pem');
    writeFileSync(file, constrained.certPem);
    await handshakes(t, constrained, file, {
      'example.com': true, // a permitted name covers itself…
      'api.example.com': true, // …and every name below it (RFC 5280 §4.2.1.10)
      'notexample.com': false, // a suffix that is not a label boundary is outside
      'evil.test': false,
      '127.0.0.1': true,
      '::1': false, // IPv6 is not in the permitted addresses
    });
  });

  it('enforce the exclusion of every address when only names are permitted', async (t) => {
    const namesOnly = createSessionCa({ permittedNames: ['.example.com'] });
    const file = join(dir, 'names-only.pem');
    writeFileSync(file, namesOnly.certPem);
    await handshakes(t, namesOnly, file, {
      'api.example.com': true,
      'example.com': false, // the leading dot means "strictly below" in OpenSSL
      '127.0.0.1': false,
      '::1': false,
    });
  });

  it('enforce the exclusion of every name when only addresses are permitted', async (t) => {
    const addressesOnly = createSessionCa({ permittedNames: ['127.0.0.0/8', '::1'] });
    const file = join(dir, 'addresses-only.pem');
    writeFileSync(file, addressesOnly.certPem);
    await handshakes(t, addressesOnly, file, { 'api.example.com': false, '127.0.0.1': true, '::1': true });
  });
});
