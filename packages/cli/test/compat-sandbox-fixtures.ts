// Fixtures for the compatibility suite inside the real sandbox (research sandbox.md §5): one HTTPS
// and one plain HTTP origin on the host's loopback, addressed by IP, that are at once a git
// smart-HTTP server, an npm registry, a PEP 503 index and a web page (chosen by path prefix,
// since an IP-addressed origin has no host names to tell them apart), plus the bash snippets
// that run each real client inside `perimeter run`.
//
// Why IP literals: the sandbox has no resolver and the host-side proxy resolves names with the
// system resolver, where *.test names do not exist. Why 127.0.0.2 and not 127.0.0.1: the sandbox
// sets NO_PROXY=localhost,127.0.0.1,::1 so that servers the workload starts inside (case 10) are
// reached directly; a client asked for 127.0.0.1 therefore never uses the proxy and finds the
// namespace's own, empty loopback. 127.0.0.2 is host loopback too (Linux routes all of 127/8 to
// lo), is not in NO_PROXY, and so goes through the proxy with the sandbox's environment untouched.
// One extra HTTPS listener on 127.0.0.1 shows what a user who clears NO_PROXY gets, and one on
// 127.0.0.2:443 (when this process may listen there) what the transparent capture lets through.
//
// What this reuses: the tool finder, certificates, git repository and CGI server, npm package and
// wheel builder of the proxy-level suite (packages/egress/test/compat-fixtures.ts,
// compat-wheel.ts), loaded from egress's compiled test output; a static import cannot be used
// because tsc keeps relative specifiers, which would point elsewhere from packages/cli/dist/test.
// Only the origin differs: it dispatches by path, not host name. Test-only: the CA key lives in a
// temp dir and is deleted with it.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type * as EgressCompatFixtures from '../../egress/test/compat-fixtures.js';
import type { GitContent, NpmContent, PypiContent } from '../../egress/test/compat-fixtures.js';
import type * as EgressCompatWheel from '../../egress/test/compat-wheel.js';

const egressTest = (file: string): string =>
  new URL(`../../../egress/dist/test/${file}`, import.meta.url).href;
const {
  bareEnv,
  closeServer,
  findCompatTools,
  HERMETIC_GIT_ENV,
  makeCertificates,
  makeGitRepo,
  packNpmPackage,
  serveGitCgi,
} = (await import(egressTest('compat-fixtures.js'))) as typeof EgressCompatFixtures;
const { pureWheel } = (await import(egressTest('compat-wheel.js'))) as typeof EgressCompatWheel;

/** The host loopback address the origin listens on (see the header: not in the sandbox's NO_PROXY). */
export const ORIGIN_IP = '127.0.0.2';

// -- tools -------------------------------------------------------------------------------------

/** The interpreter the clients run inside: Debian's, under /usr, which the policy grants read-only. */
const SYSTEM_PYTHON = '/usr/bin/python3';

export interface SandboxTools {
  readonly node: string;
  readonly openssl?: string;
  readonly curl?: string;
  readonly git?: string;
  readonly gitHttpBackend?: string;
  readonly npm?: string;
  readonly python?: string;
  readonly hasPip: boolean;
  /**
   * Directories outside the granted system ones (/usr, /bin, /lib, /etc) that a client binary
   * lives in, each granted read-only (a Node or Python installed under /opt or a home, say).
   */
  readonly extraReadDirs: readonly string[];
}

const GRANTED_SYSTEM = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib64/', '/etc/'];

function quietly(file: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 15_000,
    }).trim();
  } catch {
    return undefined;
  }
}

export function findSandboxTools(): SandboxTools {
  const found = findCompatTools();
  // A pyenv shim needs its shell setup and HOME; Debian's python runs with nothing, so prefer it.
  const python = existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : found.python;
  const hasPip = python !== undefined && quietly(python, ['-m', 'pip', '--version']) !== undefined;
  const roots = new Set<string>();
  const outside = (dir: string): void => {
    if (!GRANTED_SYSTEM.some((g) => `${dir}/`.startsWith(g))) roots.add(dir);
  };
  for (const file of [found.node, found.npm, found.curl, found.git]) {
    if (file !== undefined) outside(dirname(dirname(realpathSync(file))));
  }
  if (python !== undefined) {
    const prefixes = quietly(python, ['-c', 'import sys; print(sys.prefix); print(sys.base_prefix)']);
    for (const p of prefixes?.split('\n') ?? []) if (p !== '') outside(realpathSync(p));
  }
  return {
    node: found.node,
    ...(found.openssl !== undefined ? { openssl: found.openssl } : {}),
    ...(found.curl !== undefined ? { curl: found.curl } : {}),
    ...(found.git !== undefined ? { git: found.git } : {}),
    ...(found.gitHttpBackend !== undefined ? { gitHttpBackend: found.gitHttpBackend } : {}),
    ...(found.npm !== undefined ? { npm: found.npm } : {}),
    ...(python !== undefined ? { python } : {}),
    hasPip,
    extraReadDirs: [...roots],
  };
}

// -- certificates --------------------------------------------------------------------------------

/**
 * The origin's subjectAltName: its IP addresses (a client asked for https://127.0.0.2/ checks an
 * iPAddress entry, never the CN), and localhost for npm only: its https-proxy-agent (7.0.x) drops
 * `host` when it starts TLS over the tunnel to an IP literal, so Node checks the certificate
 * against "localhost" (the same omission as TooTallNate/proxy-agents#365). A real registry has a
 * name.
 */
const ORIGIN_ALT_NAMES = [`IP:${ORIGIN_IP}`, 'IP:127.0.0.1', 'DNS:localhost'];

// -- content -------------------------------------------------------------------------------------

export type { GitContent, NpmContent, PypiContent };

// -- the origin ----------------------------------------------------------------------------------

/** One request the origin served (what reached the host, whichever way it came). */
export interface OriginRequest {
  readonly scheme: 'http' | 'https';
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface SandboxOrigin {
  /** The CA certificate (PEM) the clients must trust; written into each workspace. */
  readonly caPem: string;
  /** HTTPS and plain HTTP on ORIGIN_IP. */
  readonly httpsPort: number;
  readonly httpPort: number;
  /** HTTPS on 127.0.0.1 (the same content), reachable only with NO_PROXY cleared. */
  readonly loopbackHttpsPort: number;
  /**
   * HTTPS on ORIGIN_IP:443, the port the sandbox captures, when this process may listen there
   * (root, port free); else why not.
   */
  readonly capturedHttps: { readonly port: 443 } | { readonly skip: string };
  readonly git?: GitContent;
  readonly npm?: NpmContent;
  readonly pypi?: PypiContent;
  readonly web: { readonly path: string; readonly httpsText: string; readonly httpText: string };
  readonly requests: readonly OriginRequest[];
  readonly close: () => Promise<void>;
}

const listen = async (server: HttpServer, address: string): Promise<number> => {
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, address, ok);
  });
  return (server.address() as AddressInfo).port;
};

/**
 * Starts the origin: `/hello.txt` (web), `/hold` (a response that never ends), `/git/repo.git`
 * (git smart HTTP), `/npm/` (registry), `/pypi/simple/` (PEP 503 index). Parts whose tools are
 * missing are left out.
 */
export async function startSandboxOrigin(tools: SandboxTools): Promise<SandboxOrigin> {
  if (tools.openssl === undefined) throw new Error('openssl is needed to make the test CA');
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-compat-sandbox-'));
  const env = { ...bareEnv(dir), ...HERMETIC_GIT_ENV };
  const certs = makeCertificates(tools.openssl, dir, ORIGIN_ALT_NAMES);
  const gitRepo =
    tools.git !== undefined && tools.gitHttpBackend !== undefined
      ? makeGitRepo(tools.git, join(dir, 'git'), env)
      : undefined;
  const npmPackage = tools.npm !== undefined ? packNpmPackage(tools.npm, dir, env) : undefined;
  const pyGreeting = 'GREETING = "installed from the local index inside the Perimeter sandbox"\n';
  const wheel = pureWheel('compat-hello', '0.1.0', [{ path: 'compat_hello/__init__.py', text: pyGreeting }]);
  const texts = {
    https: 'hello over https inside perimeter\n',
    http: 'hello over plain http inside perimeter\n',
  };

  const requests: OriginRequest[] = [];
  let httpsPort = 0;
  const base = (): string => `https://${ORIGIN_IP}:${httpsPort}`;
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle =
    (scheme: 'http' | 'https') =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const url = new URL(req.url ?? '/', 'http://origin.invalid');
      const path = url.pathname;
      res.on('finish', () =>
        requests.push({ scheme, method: req.method ?? '', path, status: res.statusCode }),
      );
      if (path === '/hello.txt') {
        send(res, 200, 'text/plain; charset=utf-8', texts[scheme]);
        return;
      }
      if (path === '/hold') {
        // A response that never ends: its connection is still open when the workload exits.
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('held\n');
        return;
      }
      if (scheme === 'https' && path.startsWith('/git/') && tools.gitHttpBackend !== undefined) {
        serveGitCgi(tools.gitHttpBackend, join(dir, 'git'), env, path.slice('/git'.length), req, res, url);
        return;
      }
      const p = npmPackage;
      if (scheme === 'https' && p !== undefined) {
        const tarballPath = `/npm/${p.name}/-/${p.name}-${p.version}.tgz`;
        if (path === `/npm/${p.name}`) {
          const dist = { tarball: `${base()}${tarballPath}`, shasum: p.shasum, integrity: p.integrity };
          const manifest = { name: p.name, version: p.version, main: 'index.js', dist };
          const packument = {
            name: p.name,
            'dist-tags': { latest: p.version },
            versions: { [p.version]: manifest },
          };
          send(res, 200, 'application/json', JSON.stringify(packument));
          return;
        }
        if (path === tarballPath) {
          send(res, 200, 'application/octet-stream', p.tarball);
          return;
        }
      }
      if (scheme === 'https') {
        // PEP 503: a project page lists its files as anchors, with the hash in the fragment.
        if (path === '/pypi/simple/compat-hello/') {
          const link = `<a href="../../files/${wheel.fileName}#sha256=${wheel.sha256}">${wheel.fileName}</a>`;
          send(res, 200, 'text/html', `<!DOCTYPE html><html><body>${link}</body></html>`);
          return;
        }
        if (path === `/pypi/files/${wheel.fileName}`) {
          send(res, 200, 'application/octet-stream', wheel.bytes);
          return;
        }
      }
      send(res, 404, 'text/plain', `no ${path} here (${scheme})\n`);
    };

  const https = createHttpsServer({ key: certs.key, cert: certs.cert }, handle('https'));
  const http = createHttpServer(handle('http'));
  const loopbackHttps = createHttpsServer({ key: certs.key, cert: certs.cert }, handle('https'));
  httpsPort = await listen(https, ORIGIN_IP);
  const httpPort = await listen(http, ORIGIN_IP);
  const loopbackHttpsPort = await listen(loopbackHttps, '127.0.0.1');
  const capturedHttps = createHttpsServer({ key: certs.key, cert: certs.cert }, handle('https'));
  let captured: SandboxOrigin['capturedHttps'];
  try {
    await new Promise<void>((ok, fail) => {
      capturedHttps.once('error', fail);
      capturedHttps.listen(443, ORIGIN_IP, ok);
    });
    captured = { port: 443 };
  } catch (e) {
    captured = {
      skip: `cannot listen on ${ORIGIN_IP}:443 (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    };
  }

  return {
    caPem: readFileSync(certs.caFile, 'utf8'),
    httpsPort,
    httpPort,
    loopbackHttpsPort,
    capturedHttps: captured,
    ...(gitRepo !== undefined ? { git: { ...gitRepo, url: `${base()}/git/repo.git` } } : {}),
    ...(npmPackage !== undefined
      ? {
          npm: {
            registry: `${base()}/npm/`,
            name: npmPackage.name,
            version: npmPackage.version,
            integrity: npmPackage.integrity,
            file: npmPackage.file,
            content: npmPackage.content,
          },
        }
      : {}),
    ...(tools.python !== undefined && tools.hasPip
      ? {
          pypi: {
            indexUrl: `${base()}/pypi/simple/`,
            name: 'compat-hello',
            version: '0.1.0',
            module: 'compat_hello',
            content: pyGreeting,
          },
        }
      : {}),
    web: { path: '/hello.txt', httpsText: texts.https, httpText: texts.http },
    requests,
    close: async () => {
      const servers = [https, http, loopbackHttps, ...('port' in captured ? [capturedHttps] : [])];
      await Promise.all(servers.map(closeServer));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// -- in-sandbox scripts ------------------------------------------------------------------------------

/** The CA file's name in the workspace. */
export const CA_FILE = 'compat-ca.pem';

/**
 * The first lines of every in-sandbox script: the session clears the host environment, so each
 * client family's CA variable is set here, pointing at the CA in the workspace (research §5 cases
 * 1, 3, 5, 6: git ignores SSL_CERT_FILE in some builds, Node reads only NODE_EXTRA_CA_CERTS, npm
 * its own cafile, pip PIP_CERT). The proxy variables are the sandbox's own, left as they are.
 */
export function caPrelude(workspace: string): string {
  const ca = `${workspace}/${CA_FILE}`;
  const vars = [
    'SSL_CERT_FILE',
    'CURL_CA_BUNDLE',
    'GIT_SSL_CAINFO',
    'NODE_EXTRA_CA_CERTS',
    'PIP_CERT',
    'REQUESTS_CA_BUNDLE',
    'npm_config_cafile',
  ];
  return `${vars.map((v) => `export ${v}='${ca}'`).join('\n')}\ncd '${workspace}'\n`;
}

/** Python's urllib over https: prints the body (the stdlib behind many scripts). */
export const URLLIB_SCRIPT = `import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as response:
    sys.stdout.write(response.read().decode())
`;

/**
 * Node's https.get through an HTTP CONNECT tunnel it opens itself, with the session token from
 * HTTPS_PROXY as Basic credentials: what a Node program that knows about proxies does on Node 20.
 */
export const NODE_CONNECT_SCRIPT = `import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
const target = new URL(process.argv[1]);
const proxy = new URL(process.env.HTTPS_PROXY);
const auth = Buffer.from(decodeURIComponent(proxy.username) + ':' + decodeURIComponent(proxy.password));
const authority = target.hostname + ':' + (target.port || '443');
const fail = (why) => { process.stderr.write(String(why) + '\\n'); process.exitCode = 1; };
http
  .request({ host: proxy.hostname, port: Number(proxy.port), method: 'CONNECT', path: authority,
    headers: { Host: authority, 'Proxy-Authorization': 'Basic ' + auth.toString('base64') } })
  .on('connect', (res, socket) => {
    if (res.statusCode !== 200) return fail('CONNECT answered ' + res.statusCode);
    const agent = new https.Agent({ keepAlive: false });
    agent.createConnection = () => tls.connect({ socket, host: target.hostname });
    https.get(target, { agent }, (r) => {
      let body = '';
      r.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => {
        if (r.statusCode !== 200) return fail('HTTP ' + r.statusCode);
        process.stdout.write(body);
      });
    }).on('error', fail);
  })
  .on('error', fail)
  .end();
`;

/** Node's fetch, printing the body or the cause of its failure. */
export const FETCH_SCRIPT = `try {
  const response = await fetch(process.argv[1]);
  if (!response.ok) throw new Error('HTTP ' + response.status);
  process.stdout.write(await response.text());
} catch (e) {
  process.stderr.write(String(e?.cause?.code ?? e?.cause?.message ?? e?.message) + '\\n');
  process.exitCode = 1;
}
`;
