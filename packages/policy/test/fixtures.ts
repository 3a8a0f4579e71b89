// Shared test inputs.

/** The example policy document of DESIGN.md, verbatim. */
export const DESIGN_EXAMPLE = `apiVersion: perimeter/v1
kind: Policy
metadata:
  name: engineering
  layer: group            # guardrail | org | group | local
  groups: [eng]           # IdP groups this binds to (layer: group)
mode: enforce             # enforce | audit   (a rule may override)
network:
  allow:
    - id: model-apis
      hosts: [api.anthropic.com, "**.openai.com"]
      ports: [443]
    - id: github-read
      hosts: [api.github.com]
      methods: [GET, HEAD]
      paths: ["/repos/acme/**"]
  deny:
    - id: metadata
      cidrs: [169.254.0.0/16, "fd00:ec2::254/128"]
filesystem:
  allow:
    - { id: workspace, paths: ["\${workspace}/**"], access: rw }
  deny:
    - { id: home-secrets, paths: ["~/.ssh/**", "~/.aws/**", "**/.env"] }
credentials:
  - id: github
    secret: github-token              # a name in the secret store, never a value
    env: GITHUB_TOKEN                 # the agent sees a per-session placeholder here
    inject: { hosts: [api.github.com], header: Authorization, format: "Bearer {secret}" }
mcp:
  servers:
    - { id: fs, command: [npx, -y, "@modelcontextprotocol/server-filesystem", "\${workspace}"] }
    - { id: github, url: "https://api.githubcopilot.com/mcp/", credential: github }
  allow:
    - { id: fs-read, server: fs, tools: ["read_*", "list_*", "search_*"] }
    - id: fs-write-src
      server: fs
      tools: [write_file]
      args: { path: { glob: "\${workspace}/src/**" } }
  ask:
    - { id: gh-writes, server: github, tools: ["create_*", "merge_*"] }
  deny:
    - { id: no-destructive, server: "*", annotations: { destructiveHint: true } }
exec:
  deny:
    - { id: no-force-push, commands: ["git push --force*", "git push -f*"] }
tests:
  - { name: metadata blocked, request: { network: "169.254.169.254:80" }, expect: deny, rule: metadata }
`;
