// The benchmark's rule sets: exactly N rules (10, 100, 1,000), generated deterministically from a
// seed, spread over one guardrail policy, one org baseline and N/100+1 group policies, across all
// five surfaces, with allow, ask and deny rules, as Perimeter YAML text. The first ten rules are a
// realistic minimal setup (metadata CIDRs, secrets on disk, force pushes, model APIs, the
// workspace, a GitHub token, an MCP file server, everyday dev tools); the rest are per-service and
// per-team rules drawn from templates, some of them overlapping earlier ones on purpose (a deny on
// DELETE for an allowed API, a deny on secrets under an allowed tree).

import { createRandom } from './random.mjs';

/** Where `~` and `${workspace}` point for every engine. */
export const PATH_CONTEXT = { home: '/home/u', workspace: '/w' };

const ORG = 'bench';

function newPolicy(name, layer, groups) {
  return {
    apiVersion: 'perimeter/v1',
    kind: 'Policy',
    metadata: { name, org: ORG, layer, ...(groups ? { groups } : {}) },
    mode: 'enforce',
  };
}

/** Adds a rule to a policy document under its surface and effect. */
function addRule(doc, surface, effect, rule) {
  const section = surface === 'credential' ? 'credentials' : surface;
  doc[section] ??= {};
  (doc[section][effect] ??= []).push(rule);
}

/** The ten rules every set starts with: [policy (g = guardrail, o = org), surface, effect, rule]. */
const CORE = [
  ['g', 'network', 'deny', { id: 'cloud-metadata', cidrs: ['169.254.0.0/16', 'fd00:ec2::254/128'] }],
  [
    'g',
    'filesystem',
    'deny',
    { id: 'secrets-on-disk', paths: ['~/.ssh/**', '~/.aws/**', '**/.env', '**/*.pem'] },
  ],
  [
    'g',
    'exec',
    'deny',
    { id: 'no-force-push', commands: ['git push --force*', 'git push ** --force*', 'git push -f'] },
  ],
  ['g', 'mcp', 'ask', { id: 'destructive-tools', server: '*', annotations: { destructiveHint: true } }],
  [
    'o',
    'network',
    'allow',
    { id: 'model-apis', hosts: ['api.anthropic.com', '**.openai.com'], ports: [443] },
  ],
  [
    'o',
    'network',
    'allow',
    { id: 'github', hosts: ['github.com', 'api.github.com', '*.githubusercontent.com'] },
  ],
  ['o', 'filesystem', 'allow', { id: 'workspace', paths: ['${workspace}/**'], access: 'rw' }],
  [
    'o',
    'credential',
    'allow',
    {
      id: 'github-token',
      secret: 'github-token',
      env: 'GITHUB_TOKEN',
      inject: { hosts: ['api.github.com'], header: 'Authorization', format: 'Bearer {secret}' },
    },
  ],
  ['o', 'mcp', 'allow', { id: 'fs-read', server: 'fs', tools: ['read_*', 'list_*', 'search_*'] }],
  [
    'o',
    'exec',
    'allow',
    { id: 'dev-tools', commands: ['git', 'npm', 'node', 'ls', 'cat', 'grep', 'make', 'python3'] },
  ],
];

// Templates: (rand, k, seen) → rule, where k makes names unique and `seen` lists earlier services
// so that later rules can overlap them.
const TEMPLATES = {
  network: {
    allow: [
      (r, k, seen) => {
        seen.svc.push(k);
        return {
          id: `svc${k}-api`,
          hosts: [`api.svc${k}.example.com`, `*.svc${k}.example.com`],
          ...(r.chance(0.5) ? { ports: [443] } : {}),
        };
      },
      (r, k) => ({ id: `cdn${k}`, hosts: [`**.cdn${k}.example.net`] }),
      (r, k) => ({ id: `registry${k}`, hosts: [`registry.svc${k}.example.com:5000`] }),
      (r, k, seen) => {
        seen.git.push(k);
        return {
          id: `git${k}-read`,
          hosts: [`git${k}.example.dev`],
          methods: ['GET', 'HEAD'],
          paths: [`/repos/team${k}/**`, `/orgs/team${k}`],
        };
      },
      (r, k) => ({ id: `internal${k}`, cidrs: [`10.${k % 250}.0.0/16`], ports: [443, '8000-8999'] }),
      (r, k) => ({ id: `partner${k}`, cidrs: [`52.${k % 200}.${(k * 7) % 256}.0/24`], ports: [22, 443] }),
      (r, k) => ({ id: `build${k}`, hosts: [`build${k}.corp.internal`], ports: [443] }),
      (r, k) => ({
        id: `v6-partner${k}`,
        cidrs: [`2600:1f00:${(k % 4096).toString(16)}::/48`],
        ports: [443],
      }),
    ],
    deny: [
      (r, k) => ({ id: `trackers${k}`, hosts: [`**.tracker${k}.example.com`, `exfil${k}.example.org`] }),
      (r, k) => ({ id: `blocked-net${k}`, cidrs: [`45.${k % 200}.${(k * 3) % 256}.0/24`] }),
      (r, k, seen) => {
        const j = seen.svc.length > 0 ? r.pick(seen.svc) : k;
        return { id: `svc${j}-no-delete-${k}`, hosts: [`api.svc${j}.example.com`], methods: ['DELETE'] };
      },
      (r, k, seen) => {
        const j = seen.git.length > 0 ? r.pick(seen.git) : k;
        return {
          id: `git${j}-admin-${k}`,
          hosts: [`git${j}.example.dev`],
          paths: [`/repos/team${j}/admin/**`],
        };
      },
    ],
    ask: [
      (r, k) => ({ id: `uploads${k}`, hosts: [`*.upload${k}.example.org`], methods: ['POST', 'PUT'] }),
      (r, k) => ({ id: `storage${k}`, hosts: [`**.storage${k}.example.com`] }),
      (r, k) => ({ id: `cloud-range${k}`, cidrs: [`34.${k % 200}.0.0/16`], ports: ['8000-9000'] }),
    ],
  },
  filesystem: {
    allow: [
      (r, k) => ({ id: `proj${k}`, paths: [`~/src/proj${k}/**`] }),
      (r, k) => ({ id: `build-out${k}`, paths: [`\${workspace}/build${k}/**`], access: 'rw' }),
      (r, k) => ({ id: `tool${k}`, paths: [`/opt/tool${k}/**`], access: 'read' }),
      (r, k) => ({ id: `cache${k}`, paths: [`~/.cache/tool${k}/**`], access: 'rw' }),
      (r, k) => ({ id: `dataset${k}`, paths: [`/data/ds${k}/**`, `/data/shared${k}/README.md`] }),
    ],
    deny: [
      (r, k) => ({ id: `ws-secrets${k}`, paths: [`\${workspace}/secrets${k}/**`] }),
      (r, k) => ({ id: `cred-file${k}`, paths: [`**/credentials${k}.json`] }),
      (r, k) => ({ id: `key-ext${k}`, paths: [`**/*.key${k}`] }),
      (r, k) => ({ id: `app-token${k}`, paths: [`~/.config/*/token${k}`, `\${workspace}/*/.token${k}`] }),
      (r, k) => ({ id: `private-dir${k}`, paths: [`**/private${k}/**`], access: 'write' }),
    ],
    ask: [
      (r, k) => ({ id: `etc-app${k}`, paths: [`/etc/app${k}/**`], access: 'write' }),
      (r, k) => ({
        id: `app-conf${k}`,
        paths: [`~/.config/app${k}/*.conf`, `\${workspace}/conf${k}/*.conf`],
      }),
      (r, k) => ({ id: `workflows${k}`, paths: [`\${workspace}/.github/workflows${k}/**`], access: 'write' }),
    ],
  },
  mcp: {
    allow: [
      (r, k, seen) => {
        seen.srv.push(k);
        return { id: `srv${k}-read`, server: `srv${k}`, tools: ['get_*', 'list_*'] };
      },
      (r, k, seen) => {
        seen.gh.push(k);
        return {
          id: `gh${k}-issues`,
          server: `gh${k}`,
          tools: ['create_issue', 'comment_*'],
          args: { repo: { prefix: 'acme/' } },
        };
      },
      (r, k, seen) => {
        seen.fs.push(k);
        return {
          id: `fs${k}-write-src`,
          server: `fs${k}`,
          tools: ['write_file'],
          args: { path: { glob: `\${workspace}/src${k}/**` } },
        };
      },
      (r, k, seen) => {
        seen.db.push(k);
        return {
          id: `db${k}-query`,
          server: `db${k}`,
          tools: ['query'],
          args: { limit: { range: { min: 1, max: 1000 } } },
        };
      },
      (r, k) => ({ id: `team${k}-servers`, server: `team${k}-*` }),
    ],
    deny: [
      (r, k, seen) => {
        const j = seen.db.length > 0 ? r.pick(seen.db) : k;
        return { id: `db${j}-no-ddl-${k}`, server: `db${j}`, tools: ['drop_*', 'truncate_*'] };
      },
      (r, k, seen) => {
        const j = seen.gh.length > 0 ? r.pick(seen.gh) : k;
        return {
          id: `gh${j}-protected-${k}`,
          server: `gh${j}`,
          tools: ['push'],
          args: { branch: { oneOf: ['main', 'master', 'release'] } },
        };
      },
      (r, k) => ({ id: `no-shell${k}`, server: '*', tools: [`exec_shell${k}`] }),
      (r, k, seen) => {
        const j = seen.fs.length > 0 ? r.pick(seen.fs) : k;
        return {
          id: `fs${j}-secrets-${k}`,
          server: `fs${j}`,
          tools: ['write_file', 'read_*'],
          args: { path: { glob: `\${workspace}/src${j}/secrets/**` } },
        };
      },
      (r, k, seen) => {
        const j = seen.gh.length > 0 ? r.pick(seen.gh) : k;
        return {
          id: `gh${j}-force-${k}`,
          server: `gh${j}`,
          tools: ['delete_*'],
          args: { force: { equals: true } },
        };
      },
    ],
    ask: [
      (r, k, seen) => {
        const j = seen.gh.length > 0 ? r.pick(seen.gh) : k;
        return { id: `gh${j}-merge-${k}`, server: `gh${j}`, tools: ['merge_*', 'create_release'] };
      },
      (r, k, seen) => {
        const j = seen.srv.length > 0 ? r.pick(seen.srv) : k;
        return {
          id: `srv${j}-send-${k}`,
          server: `srv${j}`,
          tools: ['send_*'],
          annotations: { openWorldHint: true },
        };
      },
      (r, k, seen) => {
        const j = seen.db.length > 0 ? r.pick(seen.db) : k;
        return {
          id: `db${j}-bulk-${k}`,
          server: `db${j}`,
          tools: ['update_*'],
          args: { rows: { range: { min: 100 } } },
        };
      },
    ],
  },
  exec: {
    allow: [
      (r, k) => ({ id: `tool${k}-cli`, commands: [`tool${k}`] }),
      (r, k) => ({ id: `make${k}`, commands: [`make build${k}`, `make test${k}`] }),
      (r, k) => ({ id: `job${k}`, commands: [`python3 scripts/job${k}.py`] }),
      (r, k) => ({ id: `compose${k}`, commands: [`docker compose -p app${k} *`] }),
    ],
    deny: [
      (r, k) => ({
        id: `kube-ns${k}`,
        commands: [`kubectl delete ns-${k}*`, `kubectl delete namespace ns-${k}*`],
      }),
      (r, k) => ({ id: `tf${k}-destroy`, commands: [`tf${k} destroy`] }),
      (r, k) => ({ id: `rm-srv${k}`, commands: [`rm -rf /srv/app${k}*`] }),
      (r, k) => ({ id: `scp-out${k}`, commands: [`scp ** host${k}.example.org:*`] }),
    ],
    ask: [
      (r, k) => ({ id: `kube-prod${k}`, commands: [`kubectl --context=prod${k} **`] }),
      (r, k) => ({ id: `publish${k}`, commands: [`npm publish --tag beta${k}`] }),
      (r, k) => ({ id: `ssh-deploy${k}`, commands: [`ssh deploy${k}@*`] }),
    ],
  },
  credential: {
    allow: [
      (r, k, seen) => {
        seen.svcToken.push(k);
        return {
          id: `svc${k}-token`,
          secret: `svc${k}-token`,
          env: `SVC${k}_TOKEN`,
          inject: {
            hosts: [`api.svc${k}.example.com`, `*.svc${k}.example.com`],
            ...(r.chance(0.3) ? { ports: [443, 8443] } : {}),
          },
        };
      },
    ],
    deny: [
      (r, k) => ({ id: `prod${k}-secrets`, secrets: [`prod-${k}-*`] }),
      (r, k, seen) => {
        const j = seen.svcToken.length > 0 ? r.pick(seen.svcToken) : k;
        return { id: `svc${j}-leak-${k}`, secrets: [`svc${j}-token`], hosts: [`**.tracker${k}.example.com`] };
      },
    ],
    ask: [(r, k) => ({ id: `admin${k}-secrets`, secrets: [`*-admin-${k}`] })],
  },
};

const SURFACE_WEIGHTS = { network: 34, filesystem: 22, mcp: 20, exec: 14, credential: 10 };

/**
 * Generates the policy documents for `ruleCount` rules. Returns the documents (plain objects, as a
 * YAML parser would return them) and their YAML text, one file per policy.
 */
export function generatePolicySet(ruleCount, seed = 1) {
  if (ruleCount < CORE.length) throw new Error(`a rule set has at least ${CORE.length} rules`);
  const rand = createRandom(seed * 7919 + ruleCount);
  const guardrail = newPolicy('bench-guardrails', 'guardrail');
  const org = newPolicy('bench-org', 'org');
  org.exec = { default: 'ask' };
  const groupCount = ruleCount >= 100 ? Math.round(ruleCount / 100) + 1 : 0;
  const groups = Array.from({ length: groupCount }, (_, i) => {
    const team = `team-${String(i + 1).padStart(2, '0')}`;
    return newPolicy(`bench-${team}`, 'group', [team]);
  });
  for (const [where, surface, effect, rule] of CORE)
    addRule(where === 'g' ? guardrail : org, surface, effect, rule);

  const seen = { svc: [], git: [], srv: [], gh: [], fs: [], db: [], svcToken: [] };
  for (let k = 1; k <= ruleCount - CORE.length; k++) {
    const where =
      groups.length === 0 ? rand.weighted({ g: 30, o: 70 }) : rand.weighted({ g: 15, o: 25, grp: 60 });
    const doc = where === 'g' ? guardrail : where === 'o' ? org : rand.pick(groups);
    const surface = rand.weighted(SURFACE_WEIGHTS);
    const effect =
      doc === guardrail
        ? rand.weighted({ deny: 65, ask: 35 })
        : rand.weighted({ allow: 55, deny: 25, ask: 20 });
    const template = rand.pick(TEMPLATES[surface][effect]);
    addRule(doc, surface, effect, template(rand, k, seen));
  }
  const documents = [guardrail, org, ...groups];
  const counted = documents.reduce((n, d) => n + countRules(d), 0);
  if (counted !== ruleCount) throw new Error(`generated ${counted} rules, wanted ${ruleCount}`);
  return {
    documents,
    sources: documents.map((doc) => ({ file: `${doc.metadata.name}.yaml`, text: toYaml(doc) })),
  };
}

export function countRules(doc) {
  let n = 0;
  for (const section of ['network', 'filesystem', 'mcp', 'exec', 'credentials']) {
    for (const effect of ['allow', 'ask', 'deny']) n += doc[section]?.[effect]?.length ?? 0;
  }
  return n;
}

// ------------------------------------------------------------------------------------------------
// YAML: block style for documents and rule lists, flow style for short values, the shape people
// write (see examples/acme).

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.@/-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n)$/i;

function scalar(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string' && PLAIN.test(v) && !RESERVED.test(v)) return v;
  return JSON.stringify(v);
}

function flow(v) {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${k}: ${flow(x)}`)
      .join(', ')} }`;
  }
  return scalar(v);
}

/** One rule: `- id: x` then its keys, values in flow style. */
function ruleLines(rule, pad) {
  const lines = [];
  Object.entries(rule).forEach(([key, value], i) => {
    lines.push(`${i === 0 ? `${pad}- ` : `${pad}  `}${key}: ${flow(value)}`);
  });
  return lines;
}

export function toYaml(doc) {
  const lines = [
    `# Generated by bench/policy/rules.mjs: ${countRules(doc)} rules.`,
    `apiVersion: ${doc.apiVersion}`,
    `kind: ${doc.kind}`,
    'metadata:',
  ];
  for (const [k, v] of Object.entries(doc.metadata)) lines.push(`  ${k}: ${flow(v)}`);
  lines.push(`mode: ${doc.mode}`);
  for (const section of ['network', 'filesystem', 'credentials', 'mcp', 'exec']) {
    const body = doc[section];
    if (!body) continue;
    lines.push('', `${section}:`);
    if (section === 'credentials' && Object.keys(body).every((k) => k === 'allow')) {
      // Bindings only: the list form people write.
      for (const rule of body.allow) lines.push(...ruleLines(rule, '  '));
      continue;
    }
    if (body.default) lines.push(`  default: ${body.default}`);
    for (const effect of ['allow', 'ask', 'deny']) {
      if (!body[effect]) continue;
      lines.push(`  ${effect}:`);
      for (const rule of body[effect]) lines.push(...ruleLines(rule, '    '));
    }
  }
  return `${lines.join('\n')}\n`;
}
