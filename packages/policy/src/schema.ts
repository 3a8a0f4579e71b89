// The policy document schema: the one source of the policy types, the JSON Schema for editors and
// the reference docs. Pure. Shapes only: what a pattern means is decided in the pattern modules,
// which also reject bad patterns at load time.

import { z } from 'zod';
import { CREDENTIAL_FILE_NAME, SECRET_NAME } from './secret-name.js';

let isZodConfigured = false;

/**
 * Sets zod up as Perimeter uses it, once, before the first schema is built: every schema is
 * parsed a few times per process, so zod's compiled fast path (generated with new Function on
 * first use) costs more than it saves, and without it nothing is eval'd. Not done when this
 * module loads: that would start zod in every `perimeter run`, which never validates a policy
 * its checked-policy cache holds.
 */
export function configureZod(): void {
  if (isZodConfigured) return;
  z.config({ jitless: true });
  isZodConfigured = true;
}

export const API_VERSION = 'perimeter/v1';

/**
 * Builds the schemas. Every `perimeter run` evaluates the policy package before its sandbox starts,
 * and a session whose policy comes from the checked-policy cache never validates a document:
 * building a few hundred zod schemas is milliseconds it need not pay (policySchemas).
 */
function buildSchemas() {
  configureZod();
  const describe = <T extends z.ZodType>(schema: T, text: string): T => schema.describe(text);

  const RuleId = describe(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      message: 'a rule id is 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    }),
    'A stable identifier, unique within the policy. Audit events and explanations name it.',
  );

  const Mode = describe(
    z.enum(['enforce', 'audit']),
    '`enforce` applies the decision; `audit` only records what would have been decided and lets the action through.',
  );

  const Layer = describe(
    z.enum(['guardrail', 'org', 'group', 'local']),
    'Where the policy sits: guardrail (locked, deny/ask only), org baseline, group (bound to IdP groups), local device (deny/ask only).',
  );

  const Effect = z.enum(['allow', 'ask', 'deny']);

  const ruleBase = {
    id: RuleId,
    description: describe(z.string().max(500).optional(), 'Why the rule exists, for the people who read it.'),
    mode: Mode.optional().describe('Overrides the policy mode for this rule.'),
  };

  const Strings = (what: string) => describe(z.array(z.string()).min(1), what);

  const Port = describe(
    z.union([z.number().int(), z.string()]),
    'A port (443), a range ("8000-8999") or "*" for any port.',
  );

  const NetworkRule = z.strictObject({
    ...ruleBase,
    hosts: Strings(
      'Host patterns: `example.com`, `*.example.com` (exactly one more label), `**.example.com` (one or more), `**` (any name), each optionally with `:port` or `:lo-hi`. Neither wildcard matches the apex.',
    ).optional(),
    cidrs: Strings(
      'IP addresses and CIDR blocks, IPv4 or IPv6 (`10.0.0.0/8`, `fd00:ec2::254/128`).',
    ).optional(),
    ports: describe(
      z.array(Port).min(1),
      'Ports the rule covers. Allow rules default to 80 and 443; deny and ask rules default to every port.',
    ).optional(),
    methods: Strings(
      'HTTP methods (plain HTTP, or intercepted HTTPS). Allow rules with methods never match an opaque tunnel.',
    ).optional(),
    paths: Strings('HTTP path patterns: `*` one segment, `**` any depth.').optional(),
  });

  const Access = describe(z.enum(['read', 'write', 'rw']), '`read`, `write`, or `rw` for both.');

  const FilesystemRule = z.strictObject({
    ...ruleBase,
    paths: Strings(
      'Path patterns: absolute, `~/…` (home) or `${workspace}/…`; `*` is one segment, `**` any depth; a trailing `/**` also covers the directory itself.',
    ),
    access: Access.optional().describe('Allow rules default to `read`; deny and ask rules default to `rw`.'),
    private: z
      .boolean()
      .optional()
      .describe(
        "Allow rules that grant writing only: a session gets an empty directory of its own at each `dir/**` path (other patterns are errors), in memory and gone when it ends, instead of the host's directory. For tool caches: what a session writes there never reaches programs run outside it (sandbox.md case 48).",
      ),
  });

  const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

  const ArgPredicate = describe(
    z
      .strictObject({
        equals: Scalar.optional().describe('The argument equals this value.'),
        oneOf: z.array(Scalar).min(1).optional().describe('The argument equals one of these values.'),
        prefix: z.string().optional().describe('The argument is a string starting with this text.'),
        glob: z
          .string()
          .optional()
          .describe('The argument is a path matching this path pattern, after `..` and `.` are resolved.'),
        range: z
          .strictObject({ min: z.number().optional(), max: z.number().optional() })
          .optional()
          .describe('The argument is a number within [min, max].'),
        regex: z
          .string()
          .optional()
          .describe(
            'The argument is a string matching this regular expression, bare or as /pattern/flags with flags i, m, s (deny and ask rules only).',
          ),
      })
      .superRefine((value, ctx) => {
        const keys = Object.keys(value).filter((k) => value[k as keyof typeof value] !== undefined);
        if (keys.length !== 1) {
          ctx.addIssue({
            code: 'custom',
            message: `an argument predicate needs exactly one of equals, oneOf, prefix, glob, range, regex (found ${keys.length === 0 ? 'none' : keys.join(', ')})`,
          });
        }
      }),
    'One test on one argument.',
  );

  const ToolAnnotations = z.strictObject({
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  });

  const McpRule = z.strictObject({
    ...ruleBase,
    server: describe(z.string(), 'Server id glob (`github`, `gh-*`, `*`).'),
    tools: Strings('Tool name globs (`read_*`, `create_issue`). Defaults to every tool.').optional(),
    annotations: ToolAnnotations.optional().describe(
      'Match tools whose declared annotations have these values.',
    ),
    args: describe(
      z.record(z.string(), ArgPredicate),
      'Argument predicates, keyed by argument name (a dotted path reaches into objects). All must hold.',
    ).optional(),
  });

  const McpServerSandbox = z.strictObject({
    workspace: z
      .enum(['read', 'rw', 'none'])
      .optional()
      .describe('The workspace: `read` (default), `rw`, or `none` (not mounted).'),
    network: Strings(
      'Hosts and addresses the server may reach, through its own egress proxy: host patterns as in network rules (`api.example.com`, `db.example.com:5432`), addresses and CIDR blocks (`10.0.0.5:5432`, `10.0.0.0/8`, `[fd00::1]:5432`). Without a port, ports 80 and 443. Default: none.',
    ).optional(),
    read: Strings(
      'Further paths it may read: an absolute path, `~/…` or `${workspace}/…`, naming one exact path or a whole directory (`/srv/reference/**`). Other wildcards are errors: the sandbox mounts concrete paths.',
    ).optional(),
    write: Strings('Further paths it may read and write, written as in `read`.').optional(),
  });

  const McpServer = z
    .strictObject({
      id: RuleId,
      description: z.string().max(500).optional(),
      command: z
        .array(z.string())
        .min(1)
        .optional()
        .describe('A stdio server: the command and its arguments.'),
      url: z.string().optional().describe('A Streamable HTTP server: its https URL.'),
      protocol: z
        .enum(['2025', '2026-07-28'])
        .optional()
        .describe(
          'How the gateway speaks to the server. `2025` (default): the initialize handshake, which every server of the 2025 revisions speaks, and SDK v2 servers too unless they refuse it. `2026-07-28`: that revision only, with no handshake (for a server that refuses initialize); a server that does not speak it is unavailable.',
        ),
      start_timeout: z
        .number()
        .positive()
        .max(600)
        .optional()
        .describe(
          'Seconds the server has to answer the handshake each time it starts (a stdio server) or is connected (a remote one); default 30. A server fetched by `npx` on its first start downloads its package within this time: raise it on a slow network.',
        ),
      env: z.record(z.string(), z.string()).optional().describe('Environment for a stdio server.'),
      credential: z
        .string()
        .optional()
        .describe(
          "The id of a credential binding whose secret this server is given: a stdio server in the variable the binding's `env` names (inside its sandbox), a remote server in the header its `inject` names (default `Authorization: Bearer {secret}`), over https only. A secret the store does not hold, or a use the policy denies, leaves the server unavailable.",
        ),
      sandbox: McpServerSandbox.optional().describe(
        'What a stdio server may reach from its own sandbox. Default: the workspace read-only, no network, a private home directory.',
      ),
      pins: z
        .record(
          z.string(),
          z.string().regex(/^sha256:[0-9a-f]{64}$/, 'a pin is sha256: and 64 lowercase hex digits'),
        )
        .optional()
        .describe(
          'Approved definitions, by key: a tool by its name, a prompt as `prompt:NAME`, a resource as `resource:URI`, a resource template as `template:URI_TEMPLATE`; each the SHA-256 of the canonical full definition (`perimeter mcp pins list` prints them). A pinned definition that differs is hidden and its use denied.',
        ),
    })
    .superRefine((value, ctx) => {
      if ((value.command === undefined) === (value.url === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: 'an MCP server needs exactly one of command (stdio) or url (HTTP)',
        });
      }
    });

  const ExecRule = z.strictObject({
    ...ruleBase,
    commands: Strings(
      'Command patterns, matched argv-aware: each word matches one argument (`*` within a word), `**` as a word matches any number of arguments; a pattern matches a prefix of the command line.',
    ),
  });

  const Injection = z.strictObject({
    hosts: Strings('Destinations that receive the real secret in place of the placeholder.'),
    ports: z.array(Port).min(1).optional().describe('Defaults to 443 (HTTPS only).'),
    header: z.string().optional().describe('The header that carries the secret. Defaults to Authorization.'),
    format: z
      .string()
      .optional()
      .describe(
        'The header value the proxy sets when the agent sent none (bindings without env); `{secret}` stands for the secret. Defaults to "Bearer {secret}".',
      ),
    anywhere: z
      .boolean()
      .optional()
      .describe(
        'Also replace the placeholder in the URL, the body and every header but the reflection-prone ones (User-Agent, Referer, Origin, …). Defaults to false: the named header only.',
      ),
  });

  const CredentialBinding = z.strictObject({
    ...ruleBase,
    secret: describe(
      z.string().regex(SECRET_NAME, {
        message: 'a secret name is letters, digits, ".", "_", "/" or "-"',
      }),
      'The name of a secret in the secret store (never a value).',
    ),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
        message: 'an environment variable name is letters, digits and "_"',
      })
      .optional()
      .describe('The variable in which the agent sees a per-session placeholder.'),
    file: z
      .string()
      .regex(CREDENTIAL_FILE_NAME, {
        message: 'a credential file name is letters, digits, ".", "_" or "-" (no slashes)',
      })
      .optional()
      .describe(
        'A file name: the placeholder is also in /run/perimeter/credentials/NAME inside the session (read-only), for tools that read a token from a file.',
      ),
    inject: Injection.optional(),
  });

  const CredentialRule = z.strictObject({
    ...ruleBase,
    secrets: Strings('Secret name globs.'),
    hosts: Strings('Destinations (host patterns); the rule covers every destination when absent.').optional(),
  });

  const DefaultEffect = (what: string) => describe(Effect.optional(), what);

  const NetworkSection = z.strictObject({
    secrets: z
      .enum(['block', 'redact', 'audit'])
      .optional()
      .describe(
        'What the proxy does with a secret it finds in a request it reads (plain HTTP, inspected HTTPS): block it (403), redact it, or only record it. Defaults to block; the strictest policy that says wins.',
      ),
    allow: z.array(NetworkRule).optional(),
    ask: z.array(NetworkRule).optional(),
    deny: z.array(NetworkRule).optional(),
  });
  const FilesystemSection = z.strictObject({
    default: DefaultEffect('What happens to a path no rule covers. Defaults to deny.'),
    allow: z.array(FilesystemRule).optional(),
    ask: z.array(FilesystemRule).optional(),
    deny: z.array(FilesystemRule).optional(),
  });
  const McpSection = z.strictObject({
    servers: z.array(McpServer).optional().describe('The server catalog.'),
    pinning: z
      .enum(['approve', 'tofu'])
      .optional()
      .describe(
        'A tool, prompt, resource or resource template no pin covers yet: `approve` hides it until `perimeter mcp pins approve`; `tofu` trusts its first definition and pins that. Drift from a pin is always hidden. Defaults to approve; the strictest policy that says wins.',
      ),
    secrets: z
      .enum(['block', 'redact'])
      .optional()
      .describe(
        'What the gateway does with a secret in tool arguments or results: block the call or result, or redact the secret. Defaults to block; the strictest policy that says wins. When every policy in force is in audit mode a finding is only recorded; the real value of a credential the policy binds is refused in every mode.',
      ),
    auditArguments: z
      .boolean()
      .optional()
      .describe(
        'Record argument values (secrets redacted) in audit events, not just their keys. Defaults to false; values are recorded when a policy in force says true and none says false.',
      ),
    promptInjection: z
      .enum(['block', 'strip', 'flag'])
      .optional()
      .describe(
        'What the gateway does with text in a result (a tool call, a prompt, a resource) that reads as instructions to the agent: hidden Unicode, instruction tags, orders to ignore instructions or keep the user in the dark. `block` withholds the result; `strip` removes the hidden characters and records the rest; `flag` only records. Defaults to strip; the strictest policy that says wins. When every policy in force is in audit mode a finding is only recorded.',
      ),
    allow: z.array(McpRule).optional(),
    ask: z.array(McpRule).optional(),
    deny: z.array(McpRule).optional(),
  });
  const ExecSection = z.strictObject({
    default: DefaultEffect('What happens to a command no rule covers. Defaults to allow.'),
    allow: z.array(ExecRule).optional(),
    ask: z.array(ExecRule).optional(),
    deny: z.array(ExecRule).optional(),
  });
  const CredentialsSection = z.preprocess(
    (value) => (Array.isArray(value) ? { allow: value } : value),
    z.strictObject({
      allow: z
        .array(CredentialBinding)
        .optional()
        .describe('Bindings: which secret may be used, toward which destinations.'),
      ask: z.array(CredentialRule).optional(),
      deny: z.array(CredentialRule).optional(),
    }),
  );

  const Size = describe(
    z.union([z.number().int().nonnegative(), z.string()]),
    'Bytes, or a number with a unit: `512MiB`, `2GiB` (KiB, MiB, GiB, TiB: powers of 1024), `1G` (k, M, G, T: powers of 1000).',
  );

  const LimitsSection = z.strictObject({
    processes: z
      .number()
      .int()
      .min(16)
      .max(4_194_304)
      .optional()
      .describe(
        "How many processes and threads the session may run at once (RLIMIT_NPROC, counted in the sandbox's own user namespace): a fork bomb stops there. Defaults to 8192; the smallest value in force wins.",
      ),
    tmp: Size.optional().describe(
      "The size of the session's private /tmp, and of its /dev/shm (each; both are held in memory). Defaults to 2 GiB, or a quarter of the machine's memory when that is less; the smallest value in force wins.",
    ),
    openFiles: z
      .number()
      .int()
      .min(64)
      .max(1_048_576)
      .optional()
      .describe(
        'Open files per process (RLIMIT_NOFILE). Defaults to the limit Perimeter itself runs with; the smallest value in force wins.',
      ),
    memory: Size.optional().describe(
      "The memory all of the session's processes may use together (a cgroup's memory cap; the session is refused where Perimeter cannot make one). Defaults to no cap; the smallest value in force wins.",
    ),
    fileSize: Size.optional().describe(
      'The largest file a process of the session may write (RLIMIT_FSIZE); writing past it fails (EFBIG). Defaults to no limit; the smallest value in force wins.',
    ),
  });

  /** A request as written in policy tests and on the command line; see `request.ts`. */
  const RequestInput = describe(
    z.record(z.string(), z.unknown()),
    'One of: {network: "host:port" | URL | {host, port, method, path}}, {filesystem: PATH, access}, {mcp: "server/tool", args, annotations}, {exec: "command line" | [argv]}, {credential: SECRET, host}.',
  );

  const PolicyTest = z.strictObject({
    name: z.string().min(1),
    request: RequestInput,
    user: z.string().optional(),
    groups: z
      .array(z.string())
      .optional()
      .describe('The groups of the subject. Defaults to the groups this policy binds to.'),
    expect: Effect.describe(
      'The expected decision (the would-be decision, so tests hold in audit mode too).',
    ),
    rule: z
      .string()
      .optional()
      .describe('A rule id (or policy/rule) that must be among the determining rules.'),
  });

  const Metadata = z.strictObject({
    name: describe(
      z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
        message: 'a policy name is 1–64 lowercase letters, digits, ".", "_" or "-"',
      }),
      'The policy id: stable, unique in the organisation.',
    ),
    layer: Layer,
    org: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
        message: 'an org id is 1–64 lowercase letters, digits, ".", "_" or "-"',
      })
      .optional()
      .describe('The organisation the policy belongs to. Policies of different orgs never layer together.'),
    groups: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('IdP groups this policy binds to (layer: group only).'),
    revision: z.number().int().min(0).optional().describe('Assigned by the server on publish.'),
    description: z.string().max(2000).optional(),
    owner: z.string().optional(),
  });

  const PolicyDocument = z.strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Policy'),
    metadata: Metadata,
    mode: Mode.optional().describe('Defaults to enforce.'),
    network: NetworkSection.optional(),
    filesystem: FilesystemSection.optional(),
    credentials: CredentialsSection.optional(),
    mcp: McpSection.optional(),
    exec: ExecSection.optional(),
    limits: LimitsSection.optional().describe(
      'Resource limits of every sandboxed session (sandbox.md case 57).',
    ),
    tests: z.array(PolicyTest).optional(),
  });
  return {
    RuleId,
    Mode,
    Layer,
    Effect,
    Port,
    NetworkRule,
    Access,
    FilesystemRule,
    ArgPredicate,
    ToolAnnotations,
    McpRule,
    McpServerSandbox,
    McpServer,
    ExecRule,
    Injection,
    CredentialBinding,
    CredentialRule,
    NetworkSection,
    FilesystemSection,
    McpSection,
    ExecSection,
    CredentialsSection,
    LimitsSection,
    RequestInput,
    PolicyTest,
    Metadata,
    PolicyDocument,
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
let built: Schemas | undefined;

/** The policy document's zod schemas, built on first use. */
export function policySchemas(): Schemas {
  return (built ??= buildSchemas());
}

export type Mode = z.infer<Schemas['Mode']>;
export type Layer = z.infer<Schemas['Layer']>;
export type Effect = z.infer<Schemas['Effect']>;
export type NetworkRule = z.infer<Schemas['NetworkRule']>;
export type Access = z.infer<Schemas['Access']>;
export type FilesystemRule = z.infer<Schemas['FilesystemRule']>;
export type ArgPredicate = z.infer<Schemas['ArgPredicate']>;
export type ToolAnnotations = z.infer<Schemas['ToolAnnotations']>;
export type McpRule = z.infer<Schemas['McpRule']>;
export type McpServerSandbox = z.infer<Schemas['McpServerSandbox']>;
export type McpServer = z.infer<Schemas['McpServer']>;
export type ExecRule = z.infer<Schemas['ExecRule']>;
export type CredentialBinding = z.infer<Schemas['CredentialBinding']>;
export type CredentialRule = z.infer<Schemas['CredentialRule']>;
export type PolicyTest = z.infer<Schemas['PolicyTest']>;
export type PolicyDocument = z.infer<Schemas['PolicyDocument']>;

export const SURFACES = ['network', 'filesystem', 'mcp', 'exec', 'credential'] as const;
export type Surface = (typeof SURFACES)[number];

/** The document key of each surface (credential rules live under `credentials`). */
export const SECTION_OF: Record<Surface, 'network' | 'filesystem' | 'mcp' | 'exec' | 'credentials'> = {
  network: 'network',
  filesystem: 'filesystem',
  mcp: 'mcp',
  exec: 'exec',
  credential: 'credentials',
};

/** The JSON Schema of a policy document, for editors (yaml-language-server) and docs. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    $id: 'urn:perimeter:schema:policy:v1',
    title: 'Perimeter policy (perimeter/v1)',
    ...z.toJSONSchema(policySchemas().PolicyDocument, { io: 'input', unrepresentable: 'any' }),
  };
}
