// The loader reports every problem at once, as file:line:col with a hint, and never throws.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDiagnostic } from '../src/diagnostic.js';
import { loadPolicies } from '../src/load.js';

const HEAD = 'apiVersion: perimeter/v1\nkind: Policy\nmetadata:\n  name: p\n  layer: org\n';

function problems(text: string, file = 'p.yaml') {
  return loadPolicies([{ file, text }]).diagnostics;
}

describe('loader diagnostics', () => {
  it('points an unknown key at its line and column and suggests the right one', () => {
    const [d] = problems(`${HEAD}network:\n  alow:\n    - { id: a, hosts: [x.example] }\n`);
    assert.ok(d);
    assert.equal(d.code, 'unknown-key');
    assert.deepEqual([d.at?.line, d.at?.col], [7, 3]);
    assert.equal(d.hint, 'did you mean "allow"?');
    assert.equal(
      formatDiagnostic(d),
      'p.yaml:7:3: error: unknown key "alow" in network (did you mean "allow"?)',
    );
  });

  it('suggests only the keys of the mapping the unknown key is in, and lists them when none is close', () => {
    // "default" is a key of filesystem, not of network: suggesting it there would say nothing.
    const [d] = problems(`${HEAD}network:\n  default: deny\n`);
    assert.equal(d?.code, 'unknown-key');
    assert.equal(d?.hint, 'remove it; the keys here are secrets, allow, ask, deny');
    const [e] = problems(`${HEAD}filesystem:\n  allow:\n    - { id: a, paths: [/x], acess: read }\n`);
    assert.equal(e?.hint, 'did you mean "access"?');
  });

  it('reports a wrong type with what was found', () => {
    const [d] = problems(`${HEAD}network:\n  allow:\n    - { id: a, hosts: x.example }\n`);
    assert.equal(d?.code, 'wrong-type');
    assert.match(
      d?.message ?? '',
      /network\.allow\[0\]\.hosts should be a list, not the string "x\.example"/,
    );
    assert.equal(d?.at?.line, 8);
  });

  it('reports a bad host pattern at the pattern itself', () => {
    const [d] = problems(
      `${HEAD}network:\n  allow:\n    - id: a\n      hosts:\n        - ok.example\n        - "*example.com"\n`,
    );
    assert.equal(d?.code, 'bad-host-pattern');
    assert.deepEqual([d?.at?.line, d?.at?.col], [11, 11]);
    assert.match(d?.hint ?? '', /only a leading/);
  });

  it('reports a CIDR with host bits set and how to fix it', () => {
    const [d] = problems(`${HEAD}network:\n  deny:\n    - { id: a, cidrs: [10.0.0.1/8] }\n`);
    assert.equal(d?.code, 'bad-cidr');
    assert.match(d?.hint ?? '', /clear the host bits/);
  });

  it('reports a duplicate rule id across surfaces, naming the first', () => {
    const text = `${HEAD}network:\n  deny:\n    - { id: same, hosts: [x.example] }\nexec:\n  deny:\n    - { id: same, commands: [rm] }\n`;
    const [d] = problems(text);
    assert.equal(d?.code, 'duplicate-rule-id');
    assert.equal(d?.at?.line, 11);
    assert.match(d?.hint ?? '', /network\.deny\.0/);
  });

  it('reports YAML syntax errors with a position', () => {
    const [d] = problems(`${HEAD}network: [\n`);
    assert.equal(d?.code, 'yaml');
    assert.ok((d?.at?.line ?? 0) >= 6);
  });

  it('reports duplicate YAML keys instead of silently keeping the last one', () => {
    const [d] = problems(`${HEAD}mode: audit\nmode: enforce\n`);
    assert.equal(d?.code, 'duplicate-key');
    assert.equal(d?.message, 'the key "mode" appears twice in the same mapping');
    assert.deepEqual([d?.at?.line, d?.at?.col], [7, 1]);
  });

  it('reports every problem of a document at once', () => {
    const text = `${HEAD}nework: {}\nexec:\n  deny:\n    - { id: a, commands: ["rm; ls"] }\nfilesystem:\n  allow:\n    - { id: b, paths: [relative/path] }\n`;
    const codes = problems(text).map((d) => d.code);
    assert.deepEqual(codes, ['unknown-key']);
    const second = problems(text.replace('nework: {}\n', ''))
      .map((d) => d.code)
      .sort();
    assert.deepEqual(second, ['bad-command-pattern', 'bad-path-pattern']);
  });

  it('loads several documents from one file and locates problems in the right one', () => {
    const text = `${HEAD}---\n${HEAD.replace('name: p', 'name: q')}exec:\n  deny:\n    - { id: a, commands: [] }\n`;
    const r = loadPolicies([{ file: 'two.yaml', text }]);
    assert.equal(r.policies.length, 1);
    assert.equal(r.diagnostics[0]?.at?.line, 14);
  });

  it('refuses two policies with the same name in one organisation', () => {
    const r = loadPolicies([
      { file: 'a.yaml', text: HEAD },
      { file: 'b.yaml', text: HEAD },
    ]);
    const d = r.diagnostics.find((x) => x.code === 'duplicate-policy-name');
    assert.equal(d?.at?.file, 'b.yaml');
    assert.match(d?.hint ?? '', /a\.yaml:4/);
  });

  it('says a file without documents holds no policy', () => {
    const [d] = problems('# only a comment\n');
    assert.equal(d?.code, 'empty-file');
  });

  it('refuses a wrong apiVersion with the expected value', () => {
    const [d] = problems(HEAD.replace('perimeter/v1', 'perimeter/v2'));
    assert.equal(d?.code, 'bad-value');
    assert.match(d?.message ?? '', /expected "perimeter\/v1"/);
  });

  it('accepts the credentials list shorthand and locates errors inside it', () => {
    const text = `${HEAD}credentials:\n  - { id: gh, secret: tok, inject: { hosts: [api.github.com], format: "Bearer" } }\n`;
    const [d] = problems(text);
    assert.equal(d?.code, 'format-without-secret');
    assert.equal(d?.at?.line, 7);
  });
});
