// Filesystem rules, table-driven: `*` and `**`, `~` and `${workspace}`, access modes, request
// paths canonicalised before matching, the filesystem default across policies, and bad requests.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HOME, assertDecision, assertLoadError, decideShort, engineFrom, type Expected } from './helpers.js';
import type { Engine } from '../src/index.js';

interface Case extends Expected {
  readonly name: string;
  readonly path: string;
  readonly access?: 'read' | 'write';
}

function runCases(engine: Engine, cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const d = decideShort(engine, { filesystem: c.path, access: c.access ?? 'read' });
      assertDecision(d, c, `${c.access ?? 'read'} ${JSON.stringify(c.path)}`);
    });
  }
}

const BASE = `
  filesystem:
    allow:
      - { id: ws, paths: ["\${workspace}/**"], access: rw }
      - { id: usr, paths: [/usr/**] }
      - { id: one-level, paths: [/data/*/config] }
      - { id: certs, paths: [/etc/ssl/*.pem] }
      - { id: home-read, paths: ["~/**"] }
      - { id: drop-box, paths: [/srv/drop/**], access: write }
    deny:
      - { id: env-files, paths: ["**/.env"] }
      - { id: ssh, paths: ["~/.ssh/**"] }
      - { id: passwd, paths: [/etc/passwd] }
      - { id: locked-write, paths: ["\${workspace}/locked/**"], access: write }
      - { id: secrets-read, paths: ["\${workspace}/secrets/**"], access: read }
    ask:
      - { id: git-config, paths: ["\${workspace}/.git/config"] }
`;

describe('filesystem: patterns', () => {
  const engine = engineFrom(BASE);
  runCases(engine, [
    {
      name: '${workspace}/** covers a file deep in the workspace',
      path: '/w/src/lib/a.ts',
      decision: 'allow',
      rules: ['ws'],
    },
    { name: 'a trailing /** also covers the directory itself', path: '/w', decision: 'allow', rules: ['ws'] },
    {
      name: 'a sibling directory sharing the prefix is not covered (/wx is not under /w)',
      path: '/wx/a',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    { name: '* matches one segment', path: '/data/app/config', decision: 'allow', rules: ['one-level'] },
    {
      name: '* does not match two segments',
      path: '/data/a/b/config',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '* does not match zero segments',
      path: '/data/config',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '*.pem matches within one segment',
      path: '/etc/ssl/server.pem',
      decision: 'allow',
      rules: ['certs'],
    },
    {
      name: '*.pem does not cross a slash',
      path: '/etc/ssl/private/server.pem',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '*.pem does not match a name that only contains .pem',
      path: '/etc/ssl/server.pem.bak',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '**/.env matches a .env at the workspace root',
      path: '/w/.env',
      decision: 'deny',
      rules: ['env-files'],
    },
    {
      name: '**/.env matches a .env at any depth',
      path: '/w/a/b/c/.env',
      decision: 'deny',
      rules: ['env-files'],
    },
    {
      name: '**/.env matches a .env at the filesystem root',
      path: '/.env',
      decision: 'deny',
      rules: ['env-files'],
    },
    {
      name: '**/.env matches outside every allow too',
      path: '/tmp/x/.env',
      decision: 'deny',
      rules: ['env-files'],
    },
    {
      name: '**/.env does not match .env.local (a whole segment must match)',
      path: '/w/.env.local',
      decision: 'allow',
      rules: ['ws'],
    },
    {
      name: '**/.env does not match a directory named .env-files',
      path: '/w/.env-files/a',
      decision: 'allow',
      rules: ['ws'],
    },
  ]);
});

describe('filesystem: ~ and ${workspace}', () => {
  const engine = engineFrom(BASE);
  runCases(engine, [
    {
      name: '~/** is expanded to the home directory',
      path: '/home/u/notes.txt',
      decision: 'allow',
      rules: ['home-read'],
    },
    {
      name: 'a request written with ~ is expanded too',
      path: '~/notes.txt',
      decision: 'allow',
      rules: ['home-read'],
    },
    {
      name: '~ is this user home, not another one',
      path: '/home/other/notes.txt',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'a deny under ~ beats the ~/** allow',
      path: '~/.ssh/id_ed25519',
      decision: 'deny',
      rules: ['ssh'],
    },
    {
      name: 'the denied directory itself is covered by its trailing /**',
      path: '/home/u/.ssh',
      decision: 'deny',
      rules: ['ssh'],
    },
    {
      name: 'a name that merely starts with .ssh is not under ~/.ssh',
      path: '~/.sshx/key',
      decision: 'allow',
      rules: ['home-read'],
    },
    {
      name: 'a request written with ${workspace} is expanded',
      path: '${workspace}/src/a.ts',
      decision: 'allow',
      rules: ['ws'],
    },
    {
      name: 'a relative request path is resolved against the workspace',
      path: 'src/a.ts',
      decision: 'allow',
      rules: ['ws'],
    },
    { name: 'a relative .env is resolved and denied', path: '.env', decision: 'deny', rules: ['env-files'] },
  ]);

  test('the decision names the canonical absolute path of a relative request', () => {
    const d = decideShort(engine, { filesystem: 'src/./lib/../a.ts' });
    assert.equal(d.resource, '/w/src/a.ts');
    assertDecision(d, { decision: 'allow', rules: ['ws'] });
  });
});

describe('filesystem: .. escapes are canonicalised before matching', () => {
  const engine = engineFrom(BASE);
  runCases(engine, [
    {
      name: '${workspace}/../../etc/passwd is judged as /etc/passwd',
      path: '${workspace}/../../etc/passwd',
      decision: 'deny',
      rules: ['passwd'],
    },
    {
      name: 'an absolute path that climbs out of the workspace is judged where it lands',
      path: '/w/src/../../etc/passwd',
      decision: 'deny',
      rules: ['passwd'],
    },
    {
      name: 'a relative path that climbs out of the workspace is judged where it lands',
      path: 'src/../../etc/passwd',
      decision: 'deny',
      rules: ['passwd'],
    },
    {
      name: '.. above the root stays at the root',
      path: '/../../../etc/passwd',
      decision: 'deny',
      rules: ['passwd'],
    },
    {
      name: 'a climb out of the workspace into an uncovered path gets the default',
      path: '/w/../opt/x',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: '. segments and doubled slashes are removed',
      path: '/w/./src//a.ts',
      decision: 'allow',
      rules: ['ws'],
    },
    {
      name: 'a .. that climbs into a denied directory is denied',
      path: '/w/src/../.git/../.env',
      decision: 'deny',
      rules: ['env-files'],
    },
  ]);
});

describe('filesystem: access', () => {
  const engine = engineFrom(BASE);
  runCases(engine, [
    {
      name: 'an allow without access allows reading',
      path: '/usr/bin/git',
      decision: 'allow',
      rules: ['usr'],
    },
    {
      name: 'an allow without access does not allow writing (it defaults to read)',
      path: '/usr/bin/git',
      access: 'write',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    { name: 'access: rw allows reading', path: '/w/a', decision: 'allow', rules: ['ws'] },
    { name: 'access: rw allows writing', path: '/w/a', access: 'write', decision: 'allow', rules: ['ws'] },
    {
      name: 'access: write allows writing',
      path: '/srv/drop/x',
      access: 'write',
      decision: 'allow',
      rules: ['drop-box'],
    },
    {
      name: 'access: write does not allow reading',
      path: '/srv/drop/x',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    { name: 'a deny without access denies reading', path: '/w/.env', decision: 'deny', rules: ['env-files'] },
    {
      name: 'a deny without access denies writing (it defaults to rw)',
      path: '/w/.env',
      access: 'write',
      decision: 'deny',
      rules: ['env-files'],
    },
    {
      name: 'a deny with access: write denies writing',
      path: '/w/locked/a',
      access: 'write',
      decision: 'deny',
      rules: ['locked-write'],
    },
    {
      name: 'a deny with access: write leaves reading to the allow',
      path: '/w/locked/a',
      decision: 'allow',
      rules: ['ws'],
    },
    {
      name: 'a deny with access: read denies reading',
      path: '/w/secrets/k',
      decision: 'deny',
      rules: ['secrets-read'],
    },
    {
      name: 'a deny with access: read leaves writing to the allow',
      path: '/w/secrets/k',
      access: 'write',
      decision: 'allow',
      rules: ['ws'],
    },
    {
      name: 'an ask without access covers writing and beats the allow',
      path: '/w/.git/config',
      access: 'write',
      decision: 'ask',
      rules: ['git-config'],
      code: 'rule',
    },
    {
      name: 'an ask without access covers reading too',
      path: '/w/.git/config',
      decision: 'ask',
      rules: ['git-config'],
    },
  ]);
});

describe('filesystem: default', () => {
  const withDefault = (d: string, name: string): string => `
    apiVersion: perimeter/v1
    kind: Policy
    metadata: { name: ${name}, layer: org }
    filesystem:
      default: ${d}
      allow:
        - { id: ${name}-tmp, paths: [/tmp/**], access: rw }
  `;
  const uncovered = { filesystem: '/opt/tool/bin', access: 'read' };

  test('without a default, a path no rule covers is denied', () => {
    const engine = engineFrom(`
      filesystem:
        allow:
          - { id: tmp, paths: [/tmp/**] }
    `);
    assertDecision(decideShort(engine, uncovered), { decision: 'deny', rules: [], code: 'default' });
  });

  const table: readonly { defaults: readonly string[]; want: 'allow' | 'ask' | 'deny' }[] = [
    { defaults: ['allow'], want: 'allow' },
    { defaults: ['ask'], want: 'ask' },
    { defaults: ['allow', 'ask'], want: 'ask' },
    { defaults: ['ask', 'allow'], want: 'ask' },
    { defaults: ['allow', 'deny'], want: 'deny' },
    { defaults: ['deny', 'allow', 'ask'], want: 'deny' },
  ];
  for (const { defaults, want } of table) {
    test(`defaults ${defaults.join(' + ')} across policies give ${want} (the most restrictive wins)`, () => {
      const engine = engineFrom(defaults.map((d, i) => withDefault(d, `p${i}`)));
      assertDecision(decideShort(engine, uncovered), { decision: want, rules: [], code: 'default' });
    });
  }

  test('a default allow does not override a deny rule', () => {
    const engine = engineFrom(`
      filesystem:
        default: allow
        deny:
          - { id: env-files, paths: ["**/.env"] }
    `);
    assertDecision(decideShort(engine, { filesystem: '/opt/.env' }), {
      decision: 'deny',
      rules: ['env-files'],
    });
    assertDecision(decideShort(engine, { filesystem: '/opt/x' }), {
      decision: 'allow',
      rules: [],
      code: 'default',
    });
  });

  test('a policy that says nothing about the default does not loosen another policy default', () => {
    const engine = engineFrom([
      withDefault('ask', 'p0'),
      `
        apiVersion: perimeter/v1
        kind: Policy
        metadata: { name: p1, layer: org }
        network:
          allow:
            - { id: web, hosts: [example.org] }
      `,
    ]);
    assertDecision(decideShort(engine, uncovered), { decision: 'ask', rules: [], code: 'default' });
  });
});

describe('filesystem: invalid requests', () => {
  const engine = engineFrom(`
    filesystem:
      default: allow
      allow:
        - { id: ws, paths: ["\${workspace}/**"], access: rw }
  `);
  const bad: readonly [string, string][] = [
    ['a NUL byte', '/w/a\u0000b'],
    ['a newline', '/w/a\nb'],
    ['a carriage return', '/w/a\rb'],
    ['an escape character', '/w/\u001b[31m'],
    ['DEL', '/w/a\u007f'],
    ['a C1 control (NEL)', '/w/a\u0085'],
  ];
  for (const [what, path] of bad) {
    test(`a path with ${what} is denied as an invalid request, even under default allow`, () => {
      assertDecision(decideShort(engine, { filesystem: path, access: 'write' }), {
        decision: 'deny',
        rules: [],
        code: 'invalid-request',
      });
    });
  }

  test('an empty path is an invalid request', () => {
    assertDecision(decideShort(engine, { filesystem: '' }), {
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    });
  });

  test('a path pattern that is not absolute is a load error', () => {
    assertLoadError(
      `
        filesystem:
          allow:
            - { id: r, paths: [src/**] }
      `,
      'bad-path-pattern',
    );
  });

  test('a path pattern with a .. segment is a load error', () => {
    assertLoadError(
      `
        filesystem:
          allow:
            - { id: r, paths: ["\${workspace}/../**"] }
      `,
      'bad-path-pattern',
    );
  });
});

describe('filesystem: without a workspace', () => {
  const policy = `
    filesystem:
      allow:
        - { id: ws, paths: ["\${workspace}/**"], access: rw }
        - { id: root-read, paths: ["/**"] }
      deny:
        - { id: ws-deny, paths: ["\${workspace}/private/**"] }
  `;
  const noWorkspace = engineFrom(policy, { context: { home: HOME } });
  const withWorkspace = engineFrom(policy);

  test('with a workspace, the ${workspace} deny matches', () => {
    assertDecision(decideShort(withWorkspace, { filesystem: '/w/private/a' }), {
      decision: 'deny',
      rules: ['ws-deny'],
    });
  });

  runCases(noWorkspace, [
    {
      name: 'without a workspace, a ${workspace} allow never matches',
      path: '/w/a',
      access: 'write',
      decision: 'deny',
      rules: [],
      code: 'default',
    },
    {
      name: 'without a workspace, a ${workspace} deny never matches either',
      path: '/w/private/a',
      decision: 'allow',
      rules: ['root-read'],
    },
    {
      name: 'without a workspace, a request naming ${workspace} is an invalid request',
      path: '${workspace}/a',
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
    {
      name: 'without a workspace, a relative request path is an invalid request',
      path: 'src/a.ts',
      decision: 'deny',
      rules: [],
      code: 'invalid-request',
    },
  ]);
});

describe('filesystem: modes', () => {
  test('an audit-mode deny records deny as the would-be decision and lets the access through', () => {
    const engine = engineFrom(`
      filesystem:
        allow:
          - { id: ws, paths: ["\${workspace}/**"], access: rw }
        deny:
          - { id: watch-env, paths: ["**/.env"], mode: audit }
    `);
    const d = decideShort(engine, { filesystem: '/w/.env' });
    assertDecision(d, { decision: 'allow', would: 'deny', rules: ['watch-env'], code: 'rule' });
    assert.equal(d.mode, 'audit');
  });
});

describe('private directories', () => {
  test('private applies to allow rules that grant writing', () => {
    assert.match(
      assertLoadError('filesystem: { deny: [{ id: d, paths: ["~/.npm/**"], private: true }] }', 'bad-private')
        .message,
      /allow rules, not deny rules/,
    );
    assert.match(
      assertLoadError(
        'filesystem: { allow: [{ id: a, paths: ["~/.npm/**"], private: true }] }',
        'bad-private',
      ).hint ?? '',
      /access: rw/,
    );
  });

  test('private names whole directories only: an exact path or a glob would fall back to the host’s', () => {
    for (const path of ['~/.npmrc-cache', '~/.cache/*/x/**', '**/.cache/**', '~/.c*/**']) {
      const d = assertLoadError(
        `filesystem: { allow: [{ id: a, paths: ["${path}"], access: rw, private: true }] }`,
        'bad-private',
      );
      assert.match(d.message, /is not a whole directory, so it cannot be private/, path);
    }
    engineFrom(
      'filesystem: { allow: [{ id: a, paths: ["~/.npm/**", "/var/cache/x/**"], access: rw, private: true }] }',
    );
  });

  test('a private grant decides like any other grant; the anchors carry it for the sandbox', () => {
    const engine = engineFrom(
      'filesystem: { allow: [{ id: c, paths: ["~/.npm/**"], access: rw, private: true }] }',
    );
    assert.equal(decideShort(engine, { filesystem: '~/.npm/x', access: 'write' }).decision, 'allow');
    assert.deepEqual(
      engine.filesystemAnchors().map((a) => [a.dir, a.isPrivate]),
      [['/home/u/.npm', true]],
    );
  });
});
