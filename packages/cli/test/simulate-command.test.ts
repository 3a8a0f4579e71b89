// `perimeter policy simulate DRAFT --decisions FILE`: recorded decisions are decided again under
// the draft; every flip is reported with counts by kind ("allow→deny"), unreadable records are
// counted rather than dropped, and the exit code says whether anything flips.

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { STACK_FRAME, linesOf, runCli, tempDir, writeFile } from './cli-harness.js';

const ACME = 'examples/acme/';

interface Record_ {
  id?: string;
  request: unknown;
  decision: string;
  subject?: unknown;
}

const eng = { groups: ['eng'] };

/** Under acme for eng: d1, d2 unchanged; d3 allow→deny; d4 unreadable; d5 allow→ask. */
const MIXED: readonly Record_[] = [
  { id: 'd1', request: { network: 'registry.npmjs.org:443' }, decision: 'allow', subject: eng },
  { id: 'd2', request: { network: 'pastebin.com:443' }, decision: 'deny', subject: eng },
  { id: 'd3', request: { network: 'example.com:443' }, decision: 'allow', subject: eng },
  { id: 'd4', request: { network: 'no-port-here' }, decision: 'allow', subject: eng },
  { id: 'd5', request: { exec: 'terraform apply' }, decision: 'allow', subject: eng },
];

function jsonLines(records: readonly unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

function decisionsFile(t: TestContext, records: readonly unknown[], name = 'decisions.jsonl'): string {
  return writeFile(tempDir(t), name, jsonLines(records));
}

function simulate(t: TestContext, records: readonly unknown[], ...more: string[]): ReturnType<typeof runCli> {
  return runCli(['policy', 'simulate', ACME, '--decisions', decisionsFile(t, records), ...more]);
}

void test('simulate reports the flips with their counts by kind and exits 1', (t) => {
  const r = simulate(t, MIXED);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(
    linesOf(r.stdout)[0],
    '5 decisions replayed: 2 unchanged, 2 would flip (1 allow→deny, 1 allow→ask), 1 unreadable',
  );
});

void test('simulate lists each flip with its id, before and after, and the new reason', (t) => {
  const r = simulate(t, MIXED);
  const flips = linesOf(r.stdout).slice(1);
  assert.equal(flips.length, 2, r.stdout);
  assert.match(
    flips[0] ?? '',
    /^ {2}d3 {2}allow → deny {2}network example\.com:443 {2}Denied: no rule matches/,
  );
  assert.match(
    flips[1] ?? '',
    /^ {2}d5 {2}allow → ask {2}exec terraform apply {2}.*"infrastructure-changes"/,
  );
});

void test('simulate counts an unreadable record and names it on stderr', (t) => {
  const r = simulate(t, MIXED);
  assert.match(r.stdout, /, 1 unreadable$/m);
  assert.match(r.stderr, /^ {2}record d4: .*no port/m);
});

void test('simulate exits 0 and reports no flips when every decision stays the same', (t) => {
  const r = simulate(t, [MIXED[0], MIXED[1]]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '2 decisions replayed: 2 unchanged, 0 would flip\n');
});

void test("simulate decides each record for its own subject's groups", (t) => {
  const npm = { network: 'registry.npmjs.org:443' };
  const r = simulate(
    t,
    [
      { id: 'eng', request: npm, decision: 'allow', subject: { groups: ['eng'] } },
      { id: 'data', request: npm, decision: 'allow', subject: { groups: ['data'] } },
    ],
    '--json',
  );
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as { flips: { id: string }[] };
  assert.deepEqual(
    report.flips.map((f) => f.id),
    ['data'],
  );
});

void test('--json prints the full report: total, unchanged, unreadable, flips and counts', (t) => {
  const r = simulate(t, MIXED, '--json');
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as {
    total: number;
    unchanged: number;
    unreadable: { id: string }[];
    flips: { id: string; before: string; after: { decision: string } }[];
    counts: Record<string, number>;
  };
  assert.equal(report.total, 5);
  assert.equal(report.unchanged, 2);
  assert.deepEqual(
    report.unreadable.map((u) => u.id),
    ['d4'],
  );
  assert.deepEqual(
    report.flips.map((f) => [f.id, f.before, f.after.decision]),
    [
      ['d3', 'allow', 'deny'],
      ['d5', 'allow', 'ask'],
    ],
  );
  assert.deepEqual(report.counts, { 'allow→deny': 1, 'allow→ask': 1 });
});

void test('--limit lists at most N flips and says how many more there are, while the counts stay complete', (t) => {
  const r = simulate(t, MIXED, '--limit', '1');
  assert.equal(r.code, 1);
  const lines = linesOf(r.stdout);
  assert.match(lines[0] ?? '', /2 would flip/);
  assert.equal(lines.filter((l) => / → /.test(l)).length, 1, r.stdout);
  assert.equal(lines.at(-1), '  … and 1 more (--limit N or --json for all)');
});

void test('a JSON array of records is read like JSON lines', (t) => {
  const file = writeFile(tempDir(t), 'decisions.json', JSON.stringify(MIXED));
  const r = runCli(['policy', 'simulate', ACME, '--decisions', file]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^5 decisions replayed: 2 unchanged, 2 would flip/);
});

void test('simulate without --decisions exits 3', () => {
  const r = runCli(['policy', 'simulate', ACME]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^perimeter: policy simulate needs --decisions FILE\n/);
});

void test('a decisions file that does not exist exits 3 with one line naming it', (t) => {
  const missing = `${tempDir(t)}/missing.jsonl`;
  const r = runCli(['policy', 'simulate', ACME, '--decisions', missing]);
  assert.equal(r.code, 3);
  assert.equal(linesOf(r.stderr)[0], `perimeter: cannot read the decisions file ${missing}`);
  assert.ok(!r.stderr.includes(STACK_FRAME));
});

void test('a line that is not JSON exits 3 and names its line', (t) => {
  const file = writeFile(tempDir(t), 'decisions.jsonl', `${JSON.stringify(MIXED[0])}\nnot json\n`);
  const r = runCli(['policy', 'simulate', ACME, '--decisions', file]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`^perimeter: ${escape(file)}:2: not a JSON object\\n`));
});

void test('a line that is not JSON is named by its line in the file, counting leading blank lines', (t) => {
  const file = writeFile(tempDir(t), 'decisions.jsonl', `\n\n${JSON.stringify(MIXED[0])}\nnot json\n`);
  const r = runCli(['policy', 'simulate', ACME, '--decisions', file]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`^perimeter: ${escape(file)}:4: not a JSON object\\n`));
});

void test('a record without a valid decision exits 3 and names the record', (t) => {
  const r = simulate(t, [{ id: 'x', request: { network: 'example.com:443' }, decision: 'maybe' }]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /:1: a record needs "request" \(an object\) and "decision" \(allow, deny or ask\)/);
});

void test('a record whose subject groups are not a list is refused as input, not as an internal error', (t) => {
  const r = simulate(t, [
    { id: 'x', request: { network: 'example.com:443' }, decision: 'allow', subject: { groups: 5 } },
  ]);
  assert.notEqual(r.code, 70);
  assert.ok(!r.stderr.includes('internal error'), r.stderr);
  assert.match(r.stderr, /groups/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
