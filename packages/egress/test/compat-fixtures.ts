// The compatibility suite's fixtures (research sandbox §5): a throwaway CA, one HTTPS origin on
// loopback that is at once a git smart-HTTP server, an npm registry, a PEP 503 package index and a
// web page (chosen by Host), one plain HTTP origin, and a Perimeter egress proxy in front of them
// whose resolver maps the *.compat.test names to 127.0.0.1, so clients use real host names and
// the proxy decides, resolves, vets and dials exactly as it would on the Internet.
// Nothing here knows how a client is run (that is compat-clients.ts), so the sandbox launcher can
// run the same clients inside the sandbox against the same origin. Test-only: the CA key lives in
// a temp dir and is deleted with it; never trust this CA outside a test's own environment.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { AuditRecord } from '@perimeter/audit';
import { createEngine, loadPolicies } from '@perimeter/policy';
import { createEgressProxy } from '../src/index.js';
import { pureWheel } from './compat-wheel.js';

/** The names the origin answers for; the policy allows exactly these. */
export const COMPAT_HOSTS = {
  git: 'git.compat.test',
  registry: 'registry.compat.test',
  pypi: 'pypi.compat.test',
  www: 'www.compat.test',
} as const;

/** A name the resolver would answer (127.0.0.1) but the policy does not allow. */
export const BLOCKED_HOST = 'blocked.compat.test';

// -- tools -------------------------------------------------------------------------------------

/** The client and fixture binaries found on this machine; a missing one skips its cases. */
export interface CompatTools {
  readonly node: string;
  readonly openssl?: string;
  readonly curl?: string;
  readonly git?: string;
  readonly gitHttpBackend?: string;
  readonly npm?: string;
  /** The real interpreter (`sys.executable`), not a pyenv shim, so a bare environment runs it. */
  readonly python?: string;
  readonly hasPip: boolean;
}

export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

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

export function findCompatTools(): CompatTools {
  const git = findOnPath('git');
  const execPath = git === undefined ? undefined : quietly(git, ['--exec-path']);
  const backend = execPath === undefined ? undefined : join(execPath, 'git-http-backend');
  const shim = findOnPath('python3');
  const python = shim === undefined ? undefined : quietly(shim, ['-c', 'import sys; print(sys.executable)']);
  const hasPip = python !== undefined && quietly(python, ['-m', 'pip', '--version']) !== undefined;
  const isExecutable = (file: string | undefined): file is string => {
    if (file === undefined) return false;
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const openssl = findOnPath('openssl');
  const curl = findOnPath('curl');
  const npm = findOnPath('npm');
  return {
    node: process.execPath,
    ...(openssl !== undefined ? { openssl } : {}),
    ...(curl !== undefined ? { curl } : {}),
    ...(git !== undefined ? { git } : {}),
    ...(isExecutable(backend) ? { gitHttpBackend: backend } : {}),
    ...(npm !== undefined ? { npm } : {}),
    ...(isExecutable(python) ? { python } : {}),
    hasPip,
  };
}

/**
 * A bare environment for a fixture or client process: the PATH, a private HOME and TMPDIR, and
 * nothing else from the host (no inherited proxy, CA or git/npm/pip configuration).
 */
export function bareEnv(dir: string): Record<string, string> {
  const home = join(dir, 'home');
  const tmp = join(dir, 'tmp');
  mkdirSync(home, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8' };
}

/** What keeps git from reading the host's configuration (system and global). */
export const HERMETIC_GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
} as const;

// -- the proxy environment -----------------------------------------------------------------------

/**
 * The environment variables a client needs to use the proxy and trust `caFile`: both spellings of
 * the proxy variables (curl reads only lower-case `http_proxy`, against httpoxy), an empty
 * NO_PROXY so nothing bypasses the proxy, and each client family's CA variable (research sandbox
 * §5 cases 1, 3, 5, 6: git ignores SSL_CERT_FILE in some builds, Node reads only
 * NODE_EXTRA_CA_CERTS, npm its own cafile, pip PIP_CERT). NODE_USE_ENV_PROXY makes Node's fetch
 * honour the proxy variables on Node 22.21 and 24; Node 20 ignores it (§5 case 4).
 */
export function proxyEnv(proxyUrl: string, caFile: string): Record<string, string> {
  return {
    HTTP_PROXY: proxyUrl,
    HTTPS_PROXY: proxyUrl,
    http_proxy: proxyUrl,
    https_proxy: proxyUrl,
    ALL_PROXY: proxyUrl,
    all_proxy: proxyUrl,
    NO_PROXY: '',
    no_proxy: '',
    NODE_USE_ENV_PROXY: '1',
    SSL_CERT_FILE: caFile,
    CURL_CA_BUNDLE: caFile,
    GIT_SSL_CAINFO: caFile,
    NODE_EXTRA_CA_CERTS: caFile,
    REQUESTS_CA_BUNDLE: caFile,
    PIP_CERT: caFile,
    npm_config_cafile: caFile,
  };
}

// -- certificates --------------------------------------------------------------------------------

export interface Certificates {
  readonly caFile: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

/**
 * A CA and one server certificate for the subjectAltName entries (`DNS:name`, `IP:address`), made
 * with the openssl CLI (P-256: fast). Also used by the in-sandbox suite (packages/cli/test).
 */
export function makeCertificates(openssl: string, dir: string, altNames: readonly string[]): Certificates {
  // Runs in `dir` with relative file names, so a temp path with spaces cannot split an argument.
  const run = (words: string, ...more: readonly string[]): void => {
    execFileSync(openssl, [...words.split(' '), ...more], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 15_000,
    });
  };
  const key = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';
  run(
    `req -x509 ${key} -keyout ca.key -out ca.pem -days 2`,
    ...['-subj', '/CN=Perimeter compat test CA'],
    ...['-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  );
  const commonName = (altNames[0] ?? 'DNS:compat').replace(/^\w+:/, '');
  run(`req ${key} -keyout leaf.key -out leaf.csr`, '-subj', `/CN=${commonName}`);
  writeFileSync(
    join(dir, 'leaf.ext'),
    [
      `subjectAltName=${altNames.join(',')}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid,issuer',
      '',
    ].join('\n'),
  );
  run(
    'x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext',
  );
  return {
    caFile: join(dir, 'ca.pem'),
    key: readFileSync(join(dir, 'leaf.key')),
    cert: readFileSync(join(dir, 'leaf.pem')),
  };
}

// -- content -------------------------------------------------------------------------------------

export interface GitContent {
  /** The clone URL, with the origin's HTTPS port. */
  readonly url: string;
  readonly file: string;
  readonly content: string;
  readonly commit: string;
}

export interface NpmContent {
  readonly registry: string;
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
  readonly file: string;
  readonly content: string;
}

export interface PypiContent {
  readonly indexUrl: string;
  readonly name: string;
  readonly version: string;
  readonly module: string;
  readonly content: string;
}

export interface WebContent {
  readonly path: string;
  readonly httpsUrl: string;
  readonly httpUrl: string;
  readonly httpsText: string;
  readonly httpText: string;
}

/** A bare repository with one commit, served as `/repo.git` from `root` (needs git). */
export function makeGitRepo(git: string, root: string, env: Record<string, string>): Omit<GitContent, 'url'> {
  const run = (args: readonly string[], cwd = root): string =>
    execFileSync(git, args, {
      cwd,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 15_000,
    });
  const content = 'cloned through the Perimeter egress proxy\n';
  const work = join(root, '..', 'git-work');
  mkdirSync(root, { recursive: true });
  run(['init', '-q', '--bare', '-b', 'main', 'repo.git']);
  run(['init', '-q', '-b', 'main', work]);
  writeFileSync(join(work, 'README.md'), content);
  const who = ['-c', 'user.name=Compat Fixture', '-c', 'user.email=fixture@compat.test'];
  run(['add', 'README.md'], work);
  run([...who, 'commit', '-q', '-m', 'fixture'], work);
  run(['push', '-q', join(root, 'repo.git'), 'main'], work);
  const commit = run(['rev-parse', 'HEAD'], work).trim();
  return { file: 'README.md', content, commit };
}

export interface NpmPackage extends Omit<NpmContent, 'registry'> {
  readonly tarball: Buffer;
  readonly shasum: string;
}

/** A one-file package packed with `npm pack` (needs npm; no network). */
export function packNpmPackage(npm: string, dir: string, env: Record<string, string>): NpmPackage {
  const name = 'compat-hello';
  const version = '1.0.0';
  const content = "module.exports = 'installed through the Perimeter egress proxy';\n";
  const src = join(dir, 'npm-src');
  mkdirSync(src, { recursive: true });
  writeFileSync(
    join(src, 'package.json'),
    JSON.stringify({ name, version, main: 'index.js', license: 'MIT' }),
  );
  writeFileSync(join(src, 'index.js'), content);
  execFileSync(npm, ['pack', '--pack-destination', dir, '--loglevel=error'], {
    cwd: src,
    env: { ...env, npm_config_cache: join(dir, 'npm-cache'), npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 30_000,
  });
  const tarball = readFileSync(join(dir, `${name}-${version}.tgz`));
  return {
    name,
    version,
    file: 'index.js',
    content,
    tarball,
    shasum: createHash('sha1').update(tarball).digest('hex'),
    integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
  };
}

// -- the origin ------------------------------------------------------------------------------------

/** One request the origin served, to show which virtual host a client really reached. */
export interface OriginRequest {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

export interface CompatOrigin {
  readonly dir: string;
  /** The CA certificate (PEM) every client must trust. */
  readonly caFile: string;
  readonly httpsPort: number;
  readonly httpPort: number;
  /** Absent when git or git-http-backend is missing. */
  readonly git?: GitContent;
  /** Absent when npm is missing. */
  readonly npm?: NpmContent;
  readonly pypi: PypiContent;
  readonly web: WebContent;
  readonly requests: readonly OriginRequest[];
  /** The same URL on another host (a denied one, in the negative cases). */
  readonly onHost: (url: string, host: string) => string;
  readonly close: () => Promise<void>;
}

/** Runs git-http-backend as a CGI program (RFC 3875) for one request of repository path `pathInfo`. */
export function serveGitCgi(
  backend: string,
  projectRoot: string,
  env: Record<string, string>,
  pathInfo: string,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): void {
  const cgi: Record<string, string> = {
    ...env,
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    CONTENT_TYPE: req.headers['content-type'] ?? '',
  };
  const length = req.headers['content-length'];
  if (length !== undefined) cgi.CONTENT_LENGTH = length;
  // Git-Protocol (v2) and Content-Encoding (gzip request bodies) reach the backend this way.
  for (const [k, v] of Object.entries(req.headers))
    if (typeof v === 'string') cgi[`HTTP_${k.toUpperCase().replace(/-/g, '_')}`] = v;
  const child = spawn(backend, [], { env: cgi, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    if (res.headersSent) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const text = head.toString('latin1');
    const end = /\r?\n\r?\n/.exec(text);
    if (end === null) return;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of text.slice(0, end.index).split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const key = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (key.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else headers[key] = value;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end.index + end[0].length));
  });
  child.on('close', (code) => {
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`git-http-backend exited with ${String(code)}: ${stderr}`);
      return;
    }
    res.end();
  });
}

/**
 * Starts the origin on 127.0.0.1 (ephemeral ports) and builds its content in a temp dir. Parts
 * whose tools are missing (git, npm) are left out; the PEP 503 index and web page always exist.
 */
export async function startCompatOrigin(tools: CompatTools): Promise<CompatOrigin> {
  if (tools.openssl === undefined) throw new Error('openssl is needed to make the test CA');
  const dir = mkdtempSync(join(tmpdir(), 'perimeter-compat-origin-'));
  const env = { ...bareEnv(dir), ...HERMETIC_GIT_ENV };
  const certs = makeCertificates(
    tools.openssl,
    dir,
    Object.values(COMPAT_HOSTS).map((n) => `DNS:${n}`),
  );
  const gitRepo =
    tools.git !== undefined && tools.gitHttpBackend !== undefined
      ? makeGitRepo(tools.git, join(dir, 'git'), env)
      : undefined;
  const npmPackage = tools.npm !== undefined ? packNpmPackage(tools.npm, dir, env) : undefined;
  const pyGreeting = 'GREETING = "installed from the local index through the Perimeter egress proxy"\n';
  const wheel = pureWheel('compat-hello', '0.1.0', [{ path: 'compat_hello/__init__.py', text: pyGreeting }]);
  const texts = { https: 'hello over https via perimeter\n', http: 'hello over plain http via perimeter\n' };

  const requests: OriginRequest[] = [];
  let httpsPort = 0;
  const base = (host: string): string => `https://${host}:${httpsPort}`;

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle =
    (scheme: 'http' | 'https') =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      const url = new URL(req.url ?? '/', 'http://origin.invalid');
      res.on('finish', () =>
        requests.push({ scheme, host, method: req.method ?? '', path: url.pathname, status: res.statusCode }),
      );
      if (host === COMPAT_HOSTS.www && url.pathname === '/hello.txt') {
        send(res, 200, 'text/plain; charset=utf-8', texts[scheme]);
        return;
      }
      if (scheme === 'https' && host === COMPAT_HOSTS.git && tools.gitHttpBackend !== undefined) {
        let pathInfo: string;
        try {
          pathInfo = decodeURIComponent(url.pathname);
        } catch {
          res.writeHead(400).end();
          return;
        }
        serveGitCgi(tools.gitHttpBackend, join(dir, 'git'), env, pathInfo, req, res, url);
        return;
      }
      if (scheme === 'https' && host === COMPAT_HOSTS.registry && npmPackage !== undefined) {
        const p = npmPackage;
        const tarballPath = `/${p.name}/-/${p.name}-${p.version}.tgz`;
        if (url.pathname === `/${p.name}`) {
          const dist = { tarball: `${base(host)}${tarballPath}`, shasum: p.shasum, integrity: p.integrity };
          const manifest = { name: p.name, version: p.version, main: 'index.js', dist };
          const packument = {
            name: p.name,
            'dist-tags': { latest: p.version },
            versions: { [p.version]: manifest },
          };
          send(res, 200, 'application/json', JSON.stringify(packument));
          return;
        }
        if (url.pathname === tarballPath) {
          send(res, 200, 'application/octet-stream', p.tarball);
          return;
        }
      }
      if (scheme === 'https' && host === COMPAT_HOSTS.pypi) {
        // PEP 503: a project page lists its files as anchors, with the hash in the fragment.
        if (url.pathname === '/simple/') {
          send(
            res,
            200,
            'text/html',
            '<!DOCTYPE html><html><body><a href="compat-hello/">compat-hello</a></body></html>',
          );
          return;
        }
        if (url.pathname === '/simple/compat-hello') {
          res.writeHead(301, { Location: '/simple/compat-hello/' });
          res.end();
          return;
        }
        if (url.pathname === '/simple/compat-hello/') {
          const link = `<a href="../../files/${wheel.fileName}#sha256=${wheel.sha256}">${wheel.fileName}</a>`;
          send(res, 200, 'text/html', `<!DOCTYPE html><html><body>${link}</body></html>`);
          return;
        }
        if (url.pathname === `/files/${wheel.fileName}`) {
          send(res, 200, 'application/octet-stream', wheel.bytes);
          return;
        }
      }
      send(res, 404, 'text/plain', `no ${url.pathname} on ${host} (${scheme})\n`);
    };

  const https = createHttpsServer({ key: certs.key, cert: certs.cert }, handle('https'));
  const http = createHttpServer(handle('http'));
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpsPort = (https.address() as AddressInfo).port;
  const httpPort = (http.address() as AddressInfo).port;

  const webPath = '/hello.txt';
  return {
    dir,
    caFile: certs.caFile,
    httpsPort,
    httpPort,
    ...(gitRepo !== undefined ? { git: { ...gitRepo, url: `${base(COMPAT_HOSTS.git)}/repo.git` } } : {}),
    ...(npmPackage !== undefined
      ? {
          npm: {
            registry: `${base(COMPAT_HOSTS.registry)}/`,
            name: npmPackage.name,
            version: npmPackage.version,
            integrity: npmPackage.integrity,
            file: npmPackage.file,
            content: npmPackage.content,
          },
        }
      : {}),
    pypi: {
      indexUrl: `${base(COMPAT_HOSTS.pypi)}/simple/`,
      name: 'compat-hello',
      version: '0.1.0',
      module: 'compat_hello',
      content: pyGreeting,
    },
    web: {
      path: webPath,
      httpsUrl: `${base(COMPAT_HOSTS.www)}${webPath}`,
      httpUrl: `http://${COMPAT_HOSTS.www}:${httpPort}${webPath}`,
      httpsText: texts.https,
      httpText: texts.http,
    },
    requests,
    onHost: (url, host) => {
      const u = new URL(url);
      u.hostname = host;
      return u.toString();
    },
    close: async () => {
      await Promise.all([closeServer(https), closeServer(http)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function closeServer(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

// -- the proxy -----------------------------------------------------------------------------------

/**
 * The policy: exactly the compat host names, on the origin's two ports, plus an explicit allow of
 * 127.0.0.1 on those ports (the built-in guard refuses loopback unless an allow rule names it).
 */
export function compatPolicy(ports: { readonly httpsPort: number; readonly httpPort: number }): string {
  const hosts = Object.values(COMPAT_HOSTS).join(', ');
  const list = `[${ports.httpsPort}, ${ports.httpPort}]`;
  return `apiVersion: perimeter/v1
kind: Policy
metadata: { name: compat, layer: org }
network:
  allow:
    - { id: compat-hosts, hosts: [${hosts}], ports: ${list} }
    - { id: compat-loopback, cidrs: ["127.0.0.1/32"], ports: ${list} }
`;
}

export interface CompatProxy {
  /** `http://127.0.0.1:<port>`, for the proxy variables. */
  readonly url: string;
  readonly port: number;
  /** Every audit record the proxy emitted, in order. */
  readonly records: readonly AuditRecord[];
  /** Every name the proxy asked the resolver for. */
  readonly queries: readonly string[];
  readonly close: () => Promise<void>;
}

/** Starts a Perimeter egress proxy on 127.0.0.1 in front of `origin`, with the compat policy. */
export async function startCompatProxy(
  origin: Pick<CompatOrigin, 'httpsPort' | 'httpPort'>,
): Promise<CompatProxy> {
  const loaded = loadPolicies([{ file: 'compat.yaml', text: compatPolicy(origin) }]);
  if (loaded.diagnostics.length > 0) throw new Error(`compat policy: ${JSON.stringify(loaded.diagnostics)}`);
  const engine = createEngine(
    loaded.policies.map((p) => p.policy),
    { context: { home: '/home/compat', workspace: '/workspace' } },
  );
  const records: AuditRecord[] = [];
  const queries: string[] = [];
  const server = createEgressProxy({
    engine,
    // Every *.compat.test name is this machine; nothing else resolves (the suite never leaves it).
    resolver: (name) => {
      queries.push(name);
      return Promise.resolve(name.endsWith('.compat.test') ? ['127.0.0.1'] : []);
    },
    audit: (r) => records.push(r),
    sessionId: 'compat',
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    records,
    queries,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
