// --help texts, one per command. Pinned by a test: a change here is a deliberate edit.

export const HELP: Readonly<Record<string, string>> = {
  '': `perimeter — governance for AI agents: one policy for network, files, credentials, MCP tools and commands

Usage: perimeter <command> [options]

Commands:
  run -- COMMAND            run a program inside the session sandbox (files, network, audit)
  policy validate FILE...   check policy files against the schema (file:line:col errors)
  policy lint FILE...       find risky, shadowed and over-broad rules
  policy test FILE...       run the tests embedded in policy documents
  policy explain FILE...    explain the decision for one request, rule by rule
  policy simulate FILE...   replay recorded decisions against a draft policy
  check SURFACE TARGET      decide one request: network, filesystem, mcp, exec, credential
  proxy                     run the egress proxy on loopback, deciding every connection
  mcp                       the MCP gateway: the policy's servers behind one endpoint, every call decided
  mcp pins list|approve     review and approve tool definitions the gateway holds back
  doctor                    report which protections this machine supports
  audit verify FILE...      check session audit spools for edits, deletions and reordering
  audit tail [FILE]         show a session's latest audit events (--follow to keep watching)
  audit query               search the audit events devices shipped to the control plane
  secret set|ls|rm NAME     the local secret store: sessions get placeholders, the proxy injects
  scan [FILE|-]...          find secrets (API keys, tokens, private keys) in files or stdin
  server                    run the control plane: organisations, admins, policies and revisions, audit
  login --server URL        enrol this device with a control plane (its signed policy applies from then on)
  agent                     keep this device's policy bundle current and ship its audit events
  status                    whether this device is managed: server, user, bundle, audit shipping

Options:
  -h, --help       show help for a command (perimeter check --help)
  -V, --version    print the version
      --debug      print internal stack traces

Without --policy, commands use the embedded default policy (examples/balanced.yaml); perimeter run
on a device logged in with perimeter login uses its signed policy bundle instead.
Exit codes: 0 allow / success, 1 deny / failure, 2 ask, 3 invalid input or policy.
Docs: docs/README.md`,

  policy: `perimeter policy — work with policy files

Usage: perimeter policy <validate|lint|test|explain|simulate> FILE... [options]

Run "perimeter policy <command> --help" for each command.`,

  'policy validate': `perimeter policy validate — check policy files against the schema

Usage: perimeter policy validate FILE|DIR... [--json]

Problems are reported as file:line:col: error: what is wrong (how to fix it), all at once:
first every schema problem (unknown keys, wrong types, missing keys); once a document's shape
is right, every problem in its patterns and rules. A directory stands for its .yaml files.

Options:
  --json    print {valid, policies, diagnostics} as JSON

Exit codes: 0 valid, 3 invalid.

Examples:
  perimeter policy validate examples/balanced.yaml
  perimeter policy validate examples/acme/`,

  'policy lint': `perimeter policy lint — find risky, shadowed and over-broad rules

Usage: perimeter policy lint FILE|DIR... [--strict] [--json]

Lints the policies together, the way they will be enforced: over-broad patterns (**, 0.0.0.0/0),
allows of multi-tenant hosts (github.com, *.s3.amazonaws.com, *.github.io), rules no request can
reach, a group allow that overlaps a guardrail, CIDRs that touch the built-in guard ranges.

Options:
  --strict   exit 1 when there are warnings
  --json     print the findings as JSON

Exit codes: 0 no errors (and with --strict no warnings), 1 warnings with --strict, 3 invalid policy.

Examples:
  perimeter policy lint examples/acme/
  perimeter policy lint --strict policies/*.yaml`,

  'policy test': `perimeter policy test — run the tests embedded in policy documents

Usage: perimeter policy test [FILE|DIR...] [--json]

Each document's tests: list is run against all the files given, as they layer together. A test
names a request and the expected decision, and optionally the rule that must decide it:
  tests:
    - { name: metadata blocked, request: { network: "169.254.169.254:80" }, expect: deny, rule: metadata }
Without files, the embedded default policy's tests run.

Options:
  --workspace DIR   the workspace for \${workspace} paths (default: a fixed /workspace)
  --home DIR        the home directory for ~ paths (default: a fixed /home/user)
  --json            print the results as JSON

Exit codes: 0 all passed, 1 a test failed, 3 invalid policy.

Examples:
  perimeter policy test examples/*.yaml examples/acme/*.yaml`,

  'policy explain': `perimeter policy explain — explain the decision for one request

Usage: perimeter policy explain FILE... --request JSON [--user U] [--groups a,b] [--json]

Shows the policies in force for the subject, every rule that matched, and why the decision came
out as it did (deny > ask > allow > default).

Options:
  --request JSON    the request: {"network":"api.github.com:443"}, {"filesystem":"~/.ssh/id_rsa","access":"read"},
                    {"mcp":"github/create_issue","args":{"owner":"acme"}}, {"exec":"git push --force"},
                    {"credential":"github-token","host":"api.github.com"}
  --user U          the user (recorded; policies bind to groups)
  --groups a,b      the user's groups; without it every group policy applies
  --workspace DIR   the workspace (default: the current directory)
  --home DIR        the home directory (default: yours)
  --json            print the explanation as JSON

Exit codes: 0 allow, 1 deny, 2 ask, 3 invalid input or policy.

Examples:
  perimeter policy explain examples/acme/ --groups eng --request '{"network":"registry.npmjs.org:443"}'`,

  'policy simulate': `perimeter policy simulate — replay recorded decisions against a draft

Usage: perimeter policy simulate DRAFT... --decisions FILE [--json] [--limit N]

Reads recorded decisions (JSON lines, or a JSON array), each
  {"id": "...", "request": {"network": "api.github.com:443"}, "decision": "allow", "subject": {"groups": ["eng"]}}
decides each again under the draft policies, and reports every decision that would flip.

Options:
  --decisions FILE  the recorded decisions
  --limit N         list at most N flips (default 20; counts are always complete)
  --workspace DIR   the workspace (default: the current directory)
  --json            print the full report as JSON

Exit codes: 0 nothing flips, 1 some decisions flip, 3 invalid input or policy.

Examples:
  perimeter policy simulate examples/acme/ --decisions last-week.jsonl`,

  audit: `perimeter audit — read session audit spools, here or on the control plane

Usage: perimeter audit <verify|tail|query> [FILE...] [options]

Run "perimeter audit <command> --help" for each command.`,

  'audit verify': `perimeter audit verify — check session audit spools

Usage: perimeter audit verify FILE... [--json]

Every event of a spool carries its position in the session's chain and the hash of the event
before it, so an edited, deleted, inserted or reordered event, or a last event cut off mid-line,
shows; each problem is reported as file:line with what happened. A chain without its
session.end event is reported as a warning: it was cut off, or the session is still running.

Options:
  --json    print the results as JSON

Exit codes: 0 every chain intact, 1 tampered or damaged, 3 unreadable.

Examples:
  perimeter audit verify session.jsonl`,

  'audit tail': `perimeter audit tail — show a session's latest audit events

Usage: perimeter audit tail [FILE] [-n N] [--follow] [--json]

One line per event: time, decision, surface, action, resource and reason; for an event without a
decision, "-", its type, what it is about (server/tool, path, host) and why (reason, error or a
summary). An event the spool cut down to size ends in "[cut: …]": how long it would have been,
how many strings were shortened, what was left out where (--json has it as the event's cut block).
Without FILE, the latest session's spool (in ~/.local/state/perimeter/sessions; XDG_STATE_HOME
moves it).

Options:
  -n, --lines N   how many of the latest events to show (default 20)
  -f, --follow    keep printing events as they are appended, until interrupted
  --json          print the events as JSON lines

Exit codes: 0 shown, 3 unreadable.

Examples:
  perimeter audit tail
  perimeter audit tail session.jsonl -n 50
  perimeter audit tail session.jsonl --follow`,

  'audit query': `perimeter audit query — search the audit events devices shipped to the control plane

Usage: perimeter audit query [--since 1h] [--until T] [--user U] [--surface S,...] [--decision D,...]
                             [--type T,...] [--device D] [--session S] [--limit N]
                             [--format table|json|jsonl|csv] [--server URL] [--token TOKEN] [--org ORG]

Managed devices ship every event of their sessions to the control plane (perimeter agent, and
perimeter run when a session ends). This asks the server for the ones that match, with an admin
API token that may read events (roles owner and auditor): from PERIMETER_TOKEN, or --token (which
other users of this machine can see in the process list). The token is never printed.

table (the default) shows one line per event, newest first: time, user, surface, decision, type
and resource (for an event without a request, what it is about: an MCP event's server/tool), at
most --limit of them; an event the spool cut down to size ends in "[cut: …]", as in audit tail.
json prints the same events as one JSON array (a cut event with its cut block). jsonl and csv
export every matching event, oldest first, streamed as the server sends it (CSV: time, event_id,
type, category, user_id, device_id, session_id, surface, action, resource, decision,
enforcement_mode, reason, bytes_in, bytes_out, cut: what was cut of a cut event, else empty).

Options:
  --since T          events at or after T: how long ago (30m, 1h, 7d) or an ISO time
  --until T          events before T (same forms)
  --user U           a user's id or email
  --surface S,...    network, filesystem, mcp, exec, credential
  --decision D,...   allow, ask, deny
  --type T,...       event types: network.connect, filesystem.mount, credential.use, session.start, …
  --device D         a device id; --session S: a session id
  --limit N          table and json: at most N events (default 100)
  --format F         table, json, jsonl or csv (default table)
  --server URL       the control plane (default: PERIMETER_SERVER, else this device's server)
  --token TOKEN      the admin API token (default: PERIMETER_TOKEN)
  --org ORG          the organisation's id or slug (default and only choice: the token's own)

Exit codes: 0 answered (even with no events); 1 the server refused the token or the query, or
cannot be reached; 3 invalid options.

Examples:
  # What did this agent touch? Files, MCP tools and commands of one session
  perimeter audit query --session 0198c0de-… --surface filesystem,mcp,exec
  # Which credentials did it use, and where did they go?
  perimeter audit query --user alice@example.com --since 1d --surface credential
  perimeter audit query --since 1d --type credential.use
  # Where did the data go? Every connection, and the ones refused
  perimeter audit query --user alice@example.com --since 1h --surface network
  perimeter audit query --since 7d --surface network --decision deny
  # Everything of the last day, for a spreadsheet or a SIEM
  PERIMETER_TOKEN=pmt_… perimeter audit query --server https://perimeter.example.com --since 1d --format csv > day.csv`,

  doctor: `perimeter doctor — which protections this machine supports

Usage: perimeter doctor [--json]

Checks what a sandboxed session needs — bubblewrap at /usr/bin/bwrap (never taken from PATH),
unprivileged user namespaces, seccomp filters for this architecture, the egress proxy — and says
how to fix what is missing. Sessions refuse to start while a required item is missing.

Options:
  --json    print the facts and the checks as JSON

Exit codes: 0 sessions can start, 1 something required is missing.

Examples:
  perimeter doctor`,

  run: `perimeter run — run a program inside the session sandbox

Usage: perimeter run [--policy FILE...] [--workspace DIR] [--mode enforce|audit] [--audit FILE] [options] -- COMMAND [ARGS...]

Runs COMMAND (a shell, an agent, a script) in a bubblewrap sandbox built from the policy, with
your terminal attached (interactive programs, Ctrl-C and window resize work; the exit code is
passed through):
  - files: only what the policy allows is there (the workspace read-write by default); denied
    paths are unreadable and unwritable; git hooks and config, shell rc files, editor and agent
    settings stay read-only in every writable directory, even if they do not exist yet
  - network: only loopback; the one way out is the session's egress proxy, which decides every
    connection (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and friends are set for common clients)
  - no capabilities, no new user namespaces, no Unix sockets, no ptrace, no io_uring (seccomp),
    a fresh /proc, /dev and /tmp, an empty /run, a cleared environment
Every decision (session start and end, each mount, each connection) goes to a hash-chained audit
spool: see it with perimeter audit tail, check it with perimeter audit verify.
Fails closed: if the sandbox cannot be built, nothing runs and one sentence says why.

Options:
  --policy FILE...   policy files or directories (default: the embedded default policy)
  --workspace DIR    the project directory (default: the current directory)
  --mode audit       log would-be network denials and allow them (guardrails and the built-in guard
                     still enforce); the filesystem view is always the one the policy would enforce
  --audit FILE       the audit spool (default: ~/.local/state/perimeter/sessions/SESSION.jsonl;
                     refused on a managed device, whose spools the agent ships)
  --upstream URL     reach allowed destinations through this corporate proxy (http://[user:pass@]host:port)
  --resolve NAME=IP,...   answer these names with these addresses instead of asking DNS (the
                     addresses are still judged: loopback and private ranges need an allow)
  --user U, --groups a,b   the subject; without --groups, group policies do not apply

On a managed device (perimeter login), the session enforces the device's signed policy bundle for
the logged-in user, refreshed by one short sync first; with no valid bundle nothing runs (exit
125). --policy then only adds local policies (metadata.layer: local: deny and ask only), and
--mode audit, --user and --groups are refused. Every event names the organisation, user, device
and bundle; when the session ends they are sent to the server (for at most 2 s; perimeter agent
sends what is left).

Credentials: each secret the policy binds (credentials: allow:) is read from the secret store
(perimeter secret set NAME); the program sees only a per-session placeholder in the variable the
binding names, and the proxy puts the real value in place on HTTPS requests to the bound hosts.
HTTPS to those hosts, and to hosts with method or path rules, is inspected with a per-session CA
that the sandbox trusts; a placeholder or a real value headed anywhere else is refused and audited.

When the policy declares MCP servers (mcp.servers), the session gets its own MCP gateway (see
"perimeter mcp --help") at http://127.0.0.1:3130/mcp inside: PERIMETER_MCP_URL,
PERIMETER_MCP_TOKEN (its bearer token) and PERIMETER_MCP_CONFIG (/run/perimeter/mcp.json, an
mcpServers client configuration) say where. Its servers run in sandboxes of their own.

Exit codes: the program's own; 125 the sandbox did not start, or a managed device has no valid
policy bundle; 3 invalid input or policy.

Examples:
  perimeter run --policy examples/balanced.yaml -- bash
  perimeter run -- npm test
  perimeter run --policy my-policy.yaml -- claude --mcp-config /run/perimeter/mcp.json
  perimeter audit tail`,

  proxy: `perimeter proxy — the egress proxy on its own

Usage: perimeter proxy [--policy FILE...] [--listen 127.0.0.1:PORT] [--socks 127.0.0.1:PORT] [--audit FILE] [--upstream URL]

Every HTTP request (absolute-form) and CONNECT tunnel is decided by the policy: the name first
(a denied name is never looked up), then every address it resolves to, and only a vetted address
is dialled. Denials are answered in-protocol: HTTP 403 with the reason in X-Perimeter-Reason.
Point an agent at it with HTTPS_PROXY / HTTP_PROXY. Stop it with Ctrl-C.

Options:
  --policy FILE...   policy files or directories (default: the embedded default policy)
  --listen ADDR      loopback address and port to listen on (default 127.0.0.1:3128; 0 picks one)
  --socks ADDR       also accept SOCKS5 (CONNECT only) on this loopback address
  --audit FILE       append every decision to this hash-chained audit spool
  --upstream URL     reach allowed destinations through this corporate proxy (http://[user:pass@]host:port);
                     every decision is still made here, and the upstream sees only vetted addresses
  --resolve NAME=IP,...   answer these names with these addresses instead of asking DNS (the
                     addresses are still judged: loopback and private ranges need an allow)
  --user U, --groups a,b   the subject; without --groups, group policies do not apply

Exit codes: 0 stopped, 3 invalid input or policy, or the address is taken.

Examples:
  perimeter proxy --policy examples/balanced.yaml --audit session.jsonl
  HTTPS_PROXY=http://127.0.0.1:3128 curl https://api.github.com/`,

  mcp: `perimeter mcp — the MCP gateway: one chokepoint for every tool call

Usage: perimeter mcp [--policy FILE...] [--listen 127.0.0.1:PORT [--token-file FILE] [--max-connections N] [--body-timeout SECONDS]] [--audit FILE]

Serves one MCP endpoint in front of the servers the policy's catalog (mcp.servers) declares:
stdio servers it starts itself (command lines only from the policy), each in a sandbox of its own
(the workspace read-only, a private home, no network but the hosts its entry names:
mcp.servers[].sandbox), and remote Streamable HTTP or SSE servers. Tools are named SERVER__TOOL. A tool is listed only when the policy allows it
and its definition is pinned (mcp.servers[].pins, or approved with "perimeter mcp pins approve";
mcp.pinning: tofu trusts first sight); a changed or poisoned definition is held back. Every call
is decided again with its arguments; a denied tool fails exactly like an unknown one. Secrets
in arguments and results are blocked (or redacted: mcp.secrets); hidden characters are stripped
from results, and text in them that reads as instructions to the agent is recorded (or the
result withheld: mcp.promptInjection). Every list, call, result, denial, drift, quarantine,
spawn and crash is an audit event.

By default it speaks MCP on standard input and output, for an agent to start as its one MCP
server; notices go to standard error (among them, how many definitions a listing held back for
approval: the client sees nothing of them). With --listen, the URL and where the token is are
printed on standard output. Clients of protocol revisions 2024-11-05 to 2025-11-25 and
2026-07-28 are served alike; an ask reaches the user through the client either way.

Options:
  --policy FILE...     policy files or directories (default: the embedded default policy)
  --listen ADDR        serve Streamable HTTP at http://ADDR/mcp instead (loopback only; 0 picks a port)
  --token-file FILE    the bearer token clients must send (default: a new random one, written to
                       $XDG_STATE_HOME/perimeter/mcp-token)
  --origin URL...      browser origins allowed besides the gateway's own (Origin is checked)
  --max-connections N  with --listen: the most connections open at once (default 512, 1 to 100000);
                       past it, a new connection is closed as it comes
  --body-timeout SECONDS   with --listen: how long a request body may take to arrive whole
                       (default 30, 1 to 3600); a slower one is answered 408 and closed
  --audit FILE         the audit spool (default: a new one under $XDG_STATE_HOME/perimeter/sessions);
                       one process writes a spool at a time: two clients sharing one MCP
                       config need a file each, or leave --audit out
  --workspace DIR      what \${workspace} means in the catalog and in rules (default: the current directory)
  --home DIR           what ~ means in the catalog and in rules (default: yours)
  --user U, --groups a,b   the subject; without --groups, group policies do not apply

Exit codes: 0 stopped (the client closed the connection, or Ctrl-C), 3 invalid input or policy,
or the --listen address is taken (refused before any server starts).

Examples:
  perimeter mcp --policy examples/mcp.yaml
  perimeter mcp --policy examples/mcp.yaml --listen 127.0.0.1:8808
  claude mcp add perimeter -- perimeter mcp --policy "$PWD/examples/mcp.yaml"`,

  'mcp pins': `perimeter mcp pins — MCP definitions, approved and held back

Usage: perimeter mcp pins <list|approve> [options]

Tools, prompts, resources and resource templates are pinned alike. Run "perimeter mcp pins
<command> --help" for each command.`,

  'mcp pins list': `perimeter mcp pins list — what is approved and what waits for approval

Usage: perimeter mcp pins list [--json]

Lists the definitions the gateway holds back (new under pinning: approve, changed since they
were pinned, quarantined for poisoning, or too large to pin), with what changed and the command
that approves each, and the approved pins (who approved each, or "trusted on first use"). The
command names the hash of the definition listed, so it approves nothing else if the upstream
changes it meanwhile. A definition over 256 KiB is not kept in the store (review it at its
source). What the policy hides from the agent is never held, so nobody is asked to approve it.
Secrets are redacted from everything it prints, JSON included (a resource's URI can carry a
token); a definition whose key holds one is approved by its hash alone. The store is
$XDG_STATE_HOME/perimeter/mcp-pins.json (default ~/.local/state): an MCP client that starts
perimeter mcp without XDG_STATE_HOME uses the default.

Options:
  --json    print the pin store as JSON`,

  'mcp pins approve': `perimeter mcp pins approve — approve a held definition

Usage: perimeter mcp pins approve SERVER [KEY] [--hash sha256:…]

Approves exactly the definition the gateway saw and held (all of SERVER's held definitions when
neither KEY nor --hash is named). KEY is a tool's name, prompt:NAME, resource:URI or
template:URI_TEMPLATE. With KEY and --hash, as "pins list" prints it, the approval holds only if
the held definition has that hash. Without --hash it approves whatever is held when it runs,
which the upstream may have changed since you looked; a definition quarantined for poisoning, or
too large to pin, is refused without it (exit 3), and SERVER alone then approves none of
SERVER's held definitions. With --hash and no KEY, it approves SERVER's definitions held with
that hash, and fails if there is none: the way to approve a key that holds a secret, which "pins
list" prints redacted. Running gateways announce it to their clients (list_changed) within a
second, and record it in their audit (mcp.pin, with who approved). A SERVER the store does not
know is refused (exit 3), as a KEY it does not hold is. A KEY that starts with "-" (an upstream
names its tools) goes after "--": perimeter mcp pins approve SERVER -- KEY, or as "pins list"
prints it, --hash sha256:… -- SERVER KEY (a tool named "--": SERVER -- --). A "--" with no KEY
after it is refused, never read as all of SERVER's held definitions.

Examples:
  perimeter mcp pins list
  perimeter mcp pins approve filesystem write_file --hash sha256:…
  perimeter mcp pins approve everything prompt:simple_prompt
  perimeter mcp pins approve api --hash sha256:…`,

  secret: `perimeter secret — the local secret store

Usage: perimeter secret <set|ls|rm> [NAME] [options]

Secrets that policies bind to destinations (credentials: allow: - secret: NAME). A session never
sees a value: it gets a per-session placeholder, and the egress proxy puts the real value in
place only on the way to a bound host. Values are encrypted at rest (AES-256-GCM) under
~/.local/state/perimeter/secrets, which sessions cannot see; the key is kept in the OS keyring
where there is one, else in a 0600 key file beside the store (PERIMETER_SECRET_KEY_BACKEND=
keyring|file chooses for a new store; XDG_STATE_HOME moves the whole state directory).

Run "perimeter secret <command> --help" for each command.`,

  'secret set': `perimeter secret set — store a secret

Usage: perimeter secret set NAME

Reads the value from a prompt (not echoed) or, when standard input is not a terminal, from
standard input (one trailing newline is dropped). Never from the command line: argv is visible
to every process on the machine and lands in shell history. Replaces an existing value.

Exit codes: 0 stored, 1 the store cannot be used, 3 invalid name or value, 130 cancelled.

Examples:
  perimeter secret set github-token
  gh auth token | perimeter secret set github-token`,

  'secret ls': `perimeter secret ls — list stored secrets

Usage: perimeter secret ls [--json]

Prints each secret's name and when it was last set; never a value.

Options:
  --json    print [{name, updatedAt}] as JSON

Examples:
  perimeter secret ls`,

  'secret rm': `perimeter secret rm — delete a stored secret

Usage: perimeter secret rm NAME

Exit codes: 0 deleted, 1 no such secret, 3 invalid name.

Examples:
  perimeter secret rm github-token`,

  scan: `perimeter scan — find secrets in files or standard input

Usage: perimeter scan [FILE|-]... [--json]

Looks for provider credentials (AWS, GCP, Azure, GitHub, GitLab, Slack, Stripe, OpenAI,
Anthropic, Hugging Face, npm, PyPI, Twilio, SendGrid), JWTs, PEM private keys, database URLs
with passwords and high-entropy values assigned to secret-looking names. Prints one line per
finding (file:line:col, the rule and a short fingerprint), never the secret itself. Without
FILE, or with -, reads standard input.

Options:
  --json    print the findings as JSON

Exit codes: 0 nothing found, 1 something found, 3 unreadable input.

Examples:
  perimeter scan .env config/settings.yaml
  git diff | perimeter scan -`,

  server: `perimeter server — the control plane

Usage: perimeter server [--data DIR] [--listen HOST:PORT] [--database postgres://…]

One process serving the HTTP API (JSON under /api/v1, described at /api/v1/openapi.json):
organisations; admins with roles (owner, policy-admin, auditor, viewer) and scoped API tokens;
users and groups; policies with immutable numbered revisions (validate, lint, test, diff, simulate
against stored audit events, publish, roll back). Every admin action is an audit event.

The first start creates an organisation and prints a one-time bootstrap link (and token) on
standard output: whoever opens it becomes the first owner and gets an API token. Until someone
does, each start prints a new one. Logs are JSON lines on standard error. SIGTERM or Ctrl-C stops
it gracefully: no new connections, requests in flight finish, the database is closed.

Options:
  --data DIR          where the server keeps its files, and its SQLite database unless --database
                      is given (default: ~/.local/state/perimeter/server; XDG_STATE_HOME moves it)
  --listen HOST:PORT  the address to serve on (default 127.0.0.1:8787; 0 as the port picks a free
                      one). Plain HTTP: beyond loopback, put a TLS-terminating proxy in front
  --database URL      use PostgreSQL at URL (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE) instead
                      of SQLite; PERIMETER_DATABASE_URL does the same without showing a password in
                      the process list. Replicas may share one database; migrations run once

Exit codes: 0 stopped, 1 could not start (address in use, database unreachable, data directory
not writable), 3 invalid options.

Examples:
  perimeter server
  perimeter server --data /var/lib/perimeter --listen 0.0.0.0:8787
  PERIMETER_DATABASE_URL=postgres://perimeter@db:5432/perimeter perimeter server`,

  login: `perimeter login — enrol this device with a control plane

Usage: perimeter login --server URL [--name NAME]

Logs this device in with the OAuth 2.0 device authorization grant (RFC 8628): prints a code and a
link; open it, enter the invitation token your admin gave you, check that the device named there
is this one, and approve. The command then receives this device's credential (kept 0600 in
~/.local/state/perimeter/device), pins the organisation's bundle signing keys, and fetches the
first signed policy bundle. From then on perimeter run enforces that bundle (see perimeter status)
and perimeter agent keeps it current. Logging in again replaces the enrolment.

Options:
  --server URL   the control plane: https://…, or http:// to this machine only
  --name NAME    what the device is called on the server (default: the host name)

Exit codes: 0 logged in with an active bundle; 1 the login was denied, expired or failed, or no
valid bundle came; 3 invalid options.

Examples:
  perimeter login --server https://perimeter.example.com
  perimeter login --server http://127.0.0.1:8787 --name ci-runner-7`,

  agent: `perimeter agent — keep this device's policy bundle current and ship its audit events

Usage: perimeter agent [--once] [--ship-interval SECONDS]

Holds a long poll to the control plane (about 55 s; the server answers at once when a publication,
a change of your groups or a key rotation changes this device's bundle), verifies each new bundle
(signature by a pinned key, organisation, expiry, no lower revision), keeps it as the last good one,
and reports what it activated, or why it refused one, to the server. While the server cannot be
reached it retries with jittered backoff (up to a minute) and the last good bundle stays in force.

Next to it, every few seconds, it ships the events the sessions recorded (the spools in
~/.local/state/perimeter/sessions, complete lines only) to the server in gzip'd batches, and
remembers how far each spool is shipped; spools stay on disk. While the server cannot take them it
backs off the same way, and catches up when it can. A session spool the server refuses (its chain
does not verify) is never sent again and shows in perimeter status.
One line per change on standard output. SIGTERM or Ctrl-C stops it.

Options:
  --once                    one sync and one audit shipment, without waiting, then exit
  --ship-interval SECONDS   how often to ship audit events (default 5)

Exit codes: 0 stopped (or with --once: the bundle is current and the events shipped); 1 the server
refused this device's credential (revoked: log in again), or with --once: no valid bundle came or
the events could not be shipped; 3 not logged in.

Examples:
  perimeter agent
  perimeter agent --once
  perimeter agent --ship-interval 30`,

  status: `perimeter status — is this device managed, and by what

Usage: perimeter status [--json]

Shows the control plane this device is logged in to, the user, the device, the active policy
bundle (revision, issue time, expiry, groups, policies), how long ago the server last answered
(stale after 5 minutes: is perimeter agent running?), and audit shipping: how many recorded events
wait to be shipped, when the last batch was, and session spools that are not shipped any more
(the server refused their chain, or they are damaged). Reads only this device's state and spools.

Options:
  --json   print it as one JSON object

Exit codes: 0 unmanaged, or managed with a valid bundle; 1 managed without a valid bundle (perimeter
run refuses to start sessions).

Examples:
  perimeter status
  perimeter status --json`,

  check: `perimeter check — decide one request

Usage: perimeter check <network|filesystem|mcp|exec|credential> TARGET [--policy FILE...] [options]

Prints one line (the decision and why), or the decision object with --json.

Targets and their options:
  network HOST:PORT | URL     --method M --path P (plain HTTP), --resolved IP,IP (after DNS)
  filesystem PATH             --access read|write (default read)
  mcp SERVER/TOOL             --args JSON, --annotations JSON, --list (may the tool be listed)
  exec "COMMAND LINE"         or: perimeter check exec [options] -- ARGV...
  credential SECRET           --host HOST[:PORT] (the destination)

Options:
  --policy FILE...   policy files or directories (default: the embedded default policy)
  --user U           the user; --groups a,b the user's groups (default: every group policy applies)
  --workspace DIR    the workspace (default: the current directory); --home DIR (default: yours)
  --json             print the decision object

Exit codes: 0 allow, 1 deny, 2 ask, 3 invalid input or policy.

Examples:
  perimeter check network 169.254.169.254:80 --policy p.yaml
  perimeter check network 0x7f.1:80 --policy examples/open-internet.yaml
  perimeter check filesystem ~/.ssh/id_rsa --access read --workspace . --policy p.yaml
  perimeter check mcp github/create_issue --args '{"owner":"acme"}' --policy p.yaml
  perimeter check exec "git push --force origin main" --policy p.yaml
  perimeter check credential github-token --host api.github.com --policy p.yaml`,
};

export function helpFor(command: string): string {
  return HELP[command] ?? HELP[''] ?? '';
}

/** docs/cli.md: every help text, in order, as one Markdown page. */
export function renderCliReference(): string {
  const sections = Object.entries(HELP).map(
    ([name, text]) => `## perimeter${name ? ` ${name}` : ''}\n\n\`\`\`text\n${text}\n\`\`\`\n`,
  );
  return `# CLI reference\n\n<!-- Generated from packages/cli/src/help.ts by \`npm run docs\`; do not edit by hand. -->\n\n${sections.join('\n')}`;
}
