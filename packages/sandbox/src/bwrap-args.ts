// bubblewrap's argument vector for a session. Pure: the mount plan, the environment and the
// helper's paths in, argv out (snapshot-tested).

import { limitArgs, type EffectiveLimits } from './limits.js';
import type { MountPlan, PlannedMount } from './mount-plan.js';

/** Where the session's own files appear inside the sandbox (under the otherwise empty /run). */
export const INSIDE = {
  dir: '/run/perimeter',
  init: '/run/perimeter/init',
  seccomp: '/run/perimeter/seccomp.bpf',
  verify: '/run/perimeter/verify',
  sockets: '/run/perimeter/sockets',
  token: '/run/perimeter/token',
  fetchPreload: '/run/perimeter/fetch-proxy.mjs',
  /** The session CA certificate (its key never enters), and the system roots with it. */
  ca: '/run/perimeter/ca.pem',
  caBundle: '/run/perimeter/ca-bundle.pem',
  /** Files holding credential placeholders, for bindings that ask for one (`file: NAME`). */
  credentials: '/run/perimeter/credentials',
  /** The session's MCP gateway as an MCP client configuration (`mcpServers`), when there is one. */
  mcpConfig: '/run/perimeter/mcp.json',
  /** The masks the helper lays itself (lateMasks), and what it lays them with. */
  masks: '/run/perimeter/masks',
} as const;

/** Where distributions keep the system trust bundle: covered by the session's merged bundle. */
export const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
] as const;

/** Ports whose direct connections (made without the proxy) are captured and sent to the proxy. */
export const CAPTURED_PORTS = [80, 443] as const;

/** The descriptor on which the helper reports that the sandbox is set up. */
export const READY_FD = 5;

/** Loopback ports inside the namespace where the bridge serves the session's proxies. */
export const BRIDGE_PORTS = { http: 3128, socks: 1080, mcp: 3130 } as const;

/** The session's MCP gateway as the workload reaches it (through the bridge to sockets/mcp.sock). */
export const MCP_URL = `http://127.0.0.1:${BRIDGE_PORTS.mcp}/mcp`;

export interface BwrapInput {
  readonly plan: MountPlan;
  /** Host paths of the session's files, mounted read-only at INSIDE. */
  readonly host: {
    readonly init: string;
    readonly seccomp: string;
    readonly verify: string;
    readonly sockets: string;
    readonly token: string;
    readonly maskDir: string;
    readonly maskFile: string;
    readonly emptyDir?: string;
    /** assets/fetch-proxy.mjs: Node's fetch through the proxy on versions that ignore *_PROXY. */
    readonly fetchPreload?: string;
    /** The session CA certificate and the merged bundle, when the proxy inspects TLS. */
    readonly ca?: string;
    readonly caBundle?: string;
    /** The directory of credential placeholder files. */
    readonly credentials?: string;
    /** The MCP client configuration naming the session's gateway (and the bridge to it). */
    readonly mcpConfig?: string;
  };
  /** System trust files present in the view, each covered by the merged bundle. */
  readonly systemCaFiles?: readonly string[];
  /** The complete environment of the workload (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly command: readonly string[];
  /** Process and file limits for the workload, and the size of every writable tmpfs. */
  readonly limits: EffectiveLimits;
  /**
   * The plan's masks the helper lays instead of bubblewrap (lateMasks), and the host directory
   * holding the mask files and their list (masksList), mounted read-only at INSIDE.masks.
   */
  readonly helperMasks?: { readonly dir: string; readonly mounts: ReadonlySet<PlannedMount> };
}

/**
 * The masks the helper inside can lay after bubblewrap's mounts, instead of bubblewrap. For every
 * bind bubblewrap reads the whole mount table (to remount what lies beneath), a table that grows
 * with each mount: dozens of masks cost it milliseconds each, the helper two mount calls each. A
 * mask moves only when no mount bubblewrap still makes after it lies on it, above it or below it
 * (`laterDests` are those outside the plan). The helper enters the working directory again after
 * laying them, as bubblewrap enters it after its own mounts.
 */
export function lateMasks(
  mounts: readonly PlannedMount[],
  laterDests: readonly string[] = [],
): Set<PlannedMount> {
  const late = new Set<PlannedMount>();
  /** The destinations bubblewrap mounts after the mask at hand, and every directory above them. */
  const after = new Set<string>(laterDests);
  const above = new Set<string>(laterDests.flatMap(ancestorsOf));
  for (let i = mounts.length - 1; i >= 0; i--) {
    const planned = mounts[i];
    if (planned === undefined) continue;
    const { dest } = planned.mount;
    const isMovable =
      planned.mount.op === 'mask' &&
      planned.mount.as !== 'skeleton' &&
      !after.has(dest) &&
      !above.has(dest) &&
      !ancestorsOf(dest).some((d) => after.has(d));
    if (isMovable) {
      late.add(planned);
      continue;
    }
    after.add(dest);
    for (const d of ancestorsOf(dest)) above.add(d);
  }
  return new Set(mounts.filter((m) => late.has(m))); // in plan order
}

/** Every directory above an absolute path, `/` included. */
function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1))
    out.push(path.slice(0, at));
  if (path !== '/') out.push('/');
  return out;
}

/**
 * The helper's list of the masks it lays, in plan order: `KIND PATH` entries ended by NUL (a path
 * holds any byte but NUL), KIND `d` for a directory nobody may read, `f` such a file, `e` an empty
 * directory.
 */
export function masksList(late: ReadonlySet<PlannedMount>): string {
  let text = '';
  for (const { mount } of late) {
    if (mount.op !== 'mask') continue;
    text += `${mount.as === 'dir' ? 'd' : mount.as === 'file' ? 'f' : 'e'} ${mount.dest}\0`;
  }
  return text;
}

export function bwrapArgs(input: BwrapInput): string[] {
  const { host } = input;
  const args = [
    // Every namespace, no capabilities, gone with its parent. Nested user namespaces are refused
    // by the seccomp filter (clone/unshare with CLONE_NEWUSER, clone3): bubblewrap's own
    // --disable-userns would move the helper into a nested user namespace, from which it could
    // not route the network namespace for the capture.
    '--unshare-user',
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-uts',
    '--unshare-cgroup',
    '--die-with-parent',
    '--cap-drop',
    'ALL',
    // Only for the helper, to route direct connections to the capture listeners; it drops every
    // capability (bounding set included) before the bridge or the workload runs.
    '--cap-add',
    'CAP_NET_ADMIN',
    '--cap-add',
    'CAP_NET_BIND_SERVICE',
    '--cap-add',
    'CAP_SETPCAP',
    // And to lay the masks it was given (lateMasks) before it drops them all.
    ...(input.helperMasks ? ['--cap-add', 'CAP_SYS_ADMIN'] : []),
    '--hostname',
    'perimeter',
    '--clearenv',
  ];
  for (const [k, v] of Object.entries(input.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    args.push('--setenv', k, v);
  args.push('--proc', '/proc', '--dev', '/dev');
  for (const planned of input.plan.mounts) {
    const { mount } = planned;
    switch (mount.op) {
      case 'bind':
        args.push(mount.writable ? '--bind' : '--ro-bind', mount.source, mount.dest);
        break;
      case 'mask':
        if (input.helperMasks?.mounts.has(planned)) break;
        if (mount.as === 'skeleton') {
          args.push('--ro-bind', mount.source, mount.dest);
          break;
        }
        args.push(
          '--ro-bind',
          mount.as === 'file'
            ? host.maskFile
            : mount.as === 'empty'
              ? (host.emptyDir ?? host.maskDir)
              : host.maskDir,
          mount.dest,
        );
        break;
      case 'tmpfs':
        // Sized, so filling /tmp or /dev/shm cannot take the machine's memory (case 57).
        args.push('--size', String(input.limits.tmpBytes), '--tmpfs', mount.dest);
        break;
      case 'empty':
        // An empty directory that stays empty; /run also carries the session's own files.
        args.push('--tmpfs', mount.dest);
        if (mount.dest === '/run') {
          args.push(
            '--ro-bind',
            host.init,
            INSIDE.init,
            '--ro-bind',
            host.seccomp,
            INSIDE.seccomp,
            '--ro-bind',
            host.verify,
            INSIDE.verify,
            '--ro-bind',
            host.sockets,
            INSIDE.sockets,
            '--ro-bind',
            host.token,
            INSIDE.token,
            ...(host.fetchPreload ? ['--ro-bind', host.fetchPreload, INSIDE.fetchPreload] : []),
            ...(host.ca ? ['--ro-bind', host.ca, INSIDE.ca] : []),
            ...(host.caBundle ? ['--ro-bind', host.caBundle, INSIDE.caBundle] : []),
            ...(host.credentials ? ['--ro-bind', host.credentials, INSIDE.credentials] : []),
            ...(host.mcpConfig ? ['--ro-bind', host.mcpConfig, INSIDE.mcpConfig] : []),
            ...(input.helperMasks ? ['--ro-bind', input.helperMasks.dir, INSIDE.masks] : []),
          );
        }
        args.push('--remount-ro', mount.dest);
        break;
    }
  }
  // Programs that read the system store and no variable (Go, most OpenSSL-linked tools) trust the
  // session CA too: the merged bundle lies over each system trust file.
  if (host.caBundle)
    for (const file of input.systemCaFiles ?? []) args.push('--ro-bind', host.caBundle, file);
  // The root itself (a tmpfs holding the mount points) is read-only: nothing is written where it
  // would silently vanish.
  args.push('--remount-ro', '/', '--chdir', input.cwd);
  args.push(
    '--',
    INSIDE.init,
    // The helper says on this descriptor (inherited through bubblewrap) that the mounts are verified.
    '--ready-fd',
    String(READY_FD),
    ...(input.helperMasks ? ['--masks', INSIDE.masks] : []),
    '--verify',
    INSIDE.verify,
    '--seccomp',
    INSIDE.seccomp,
    '--bridge',
    `${BRIDGE_PORTS.http}:${INSIDE.sockets}/http.sock`,
    '--bridge',
    `${BRIDGE_PORTS.socks}:${INSIDE.sockets}/socks.sock`,
    ...(host.mcpConfig ? ['--bridge', `${BRIDGE_PORTS.mcp}:${INSIDE.sockets}/mcp.sock`] : []),
    '--token-file',
    INSIDE.token,
    ...limitArgs(input.limits),
    ...CAPTURED_PORTS.flatMap((port) => ['--capture', `${port}:${INSIDE.sockets}/http.sock`]),
    '--',
    ...input.command,
  );
  return args;
}

/** The proxy variables every common client reads, pointing at the bridge. */
export function proxyEnv(token: string): Record<string, string> {
  const http = `http://perimeter:${token}@127.0.0.1:${BRIDGE_PORTS.http}`;
  const socks = `socks5h://perimeter:${token}@127.0.0.1:${BRIDGE_PORTS.socks}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: http,
    HTTPS_PROXY: http,
    http_proxy: http,
    https_proxy: http,
    ALL_PROXY: socks,
    all_proxy: socks,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    npm_config_proxy: http,
    npm_config_https_proxy: http,
    YARN_HTTP_PROXY: http,
    YARN_HTTPS_PROXY: http,
    PIP_PROXY: http,
    GRPC_PROXY: http,
    // Node 22.21+ and 24 route fetch through HTTP(S)_PROXY when this is set (Node 20 ignores it).
    NODE_USE_ENV_PROXY: '1',
    JAVA_TOOL_OPTIONS: [
      `-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=${BRIDGE_PORTS.http}`,
      `-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=${BRIDGE_PORTS.http}`,
      '-Dhttp.nonProxyHosts=localhost|127.0.0.1',
    ].join(' '),
  };
}

/**
 * The trust variables of common clients, when the proxy inspects TLS (research egress §6.2):
 * replace-semantics ones get the merged bundle (system roots and the session CA), so hosts the
 * proxy does not inspect still verify; Node's append-semantics one gets the session CA alone.
 */
export function trustEnv(): Record<string, string> {
  const bundle = INSIDE.caBundle;
  return {
    SSL_CERT_FILE: bundle,
    CURL_CA_BUNDLE: bundle,
    REQUESTS_CA_BUNDLE: bundle,
    PIP_CERT: bundle,
    GIT_SSL_CAINFO: bundle,
    npm_config_cafile: bundle,
    CARGO_HTTP_CAINFO: bundle,
    AWS_CA_BUNDLE: bundle,
    DENO_CERT: bundle,
    NODE_EXTRA_CA_CERTS: INSIDE.ca,
  };
}

/** Host variables passed through when set; everything else is dropped (sandbox.md case 58). */
export const ENV_ALLOWLIST: readonly string[] = [
  'TERM',
  'COLORTERM',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'LC_COLLATE',
  'LC_NUMERIC',
  'LC_TIME',
  'TZ',
  'USER',
  'LOGNAME',
  'SHELL',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'COLUMNS',
  'LINES',
  'NO_COLOR',
  'FORCE_COLOR',
];

/** The workload's environment: the allowlist, the proxy, and the session's own variables. */
export function sessionEnv(options: {
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  readonly home: string;
  readonly workspace: string;
  readonly sessionId: string;
  readonly token: string;
  /** Whether the fetch preload is mounted (NODE_OPTIONS then loads it into every Node process). */
  readonly hasFetchPreload?: boolean;
  /** Whether the session CA is mounted (the proxy inspects some TLS). */
  readonly hasSessionCa?: boolean;
  /**
   * The configured variables and the credential placeholders, by name; they never replace the
   * session's own.
   */
  readonly credentials?: Readonly<Record<string, string>>;
  /** HOME as the workload sees it, when not the user's (an MCP server's private home). */
  readonly homeEnv?: string;
  /** The bearer token of the session's MCP gateway, when it has one. */
  readonly mcpToken?: string;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ENV_ALLOWLIST) {
    const v = options.hostEnv[k];
    if (v !== undefined) env[k] = v;
  }
  return {
    ...env,
    ...(options.credentials ?? {}),
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: options.homeEnv ?? options.home,
    TMPDIR: '/tmp',
    PWD: options.workspace,
    PERIMETER_SESSION: options.sessionId,
    PERIMETER_WORKSPACE: options.workspace,
    ...proxyEnv(options.token),
    ...(options.hasFetchPreload ? { NODE_OPTIONS: `--import=${INSIDE.fetchPreload}` } : {}),
    ...(options.hasSessionCa ? trustEnv() : {}),
    ...(options.mcpToken !== undefined
      ? {
          PERIMETER_MCP_URL: MCP_URL,
          PERIMETER_MCP_TOKEN: options.mcpToken,
          PERIMETER_MCP_CONFIG: INSIDE.mcpConfig,
        }
      : {}),
  };
}

/**
 * The session's gateway as an MCP client configuration file (the `mcpServers` shape Claude Code,
 * Cursor and others read): one server, `perimeter`, over Streamable HTTP with its bearer token.
 */
export function mcpClientConfig(token: string): string {
  return `${JSON.stringify(
    {
      mcpServers: {
        perimeter: { type: 'http', url: MCP_URL, headers: { Authorization: `Bearer ${token}` } },
      },
    },
    null,
    2,
  )}\n`;
}
