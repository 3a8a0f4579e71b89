// What every benchmark writes the same way: the generated sections of docs/benchmarks.md (each
// benchmark owns the text between <!-- bench:NAME:start --> and <!-- bench:NAME:end --> and
// rewrites only that), the machine it ran on, the commit it measured, its peers' versions, the
// load average around the run, and the aligned text and Markdown tables of its report. Nothing
// here measures anything.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function markers(name) {
  return { start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` };
}

/** Replaces the named section of the document (or appends it); `section` includes its markers. */
export function replaceSection(document, name, section) {
  const { start: open, end: close } = markers(name);
  const start = document.indexOf(open);
  const end = document.indexOf(close);
  if (start >= 0 && end > start)
    return document.slice(0, start) + section + document.slice(end + close.length);
  return `${document.replace(/\s*$/, '')}\n\n${section}\n`;
}

/** Rewrites the named section of the docs file in place (creating the file when there is none). */
export function writeDocsSection(docsFile, name, section) {
  const current = existsSync(docsFile) ? readFileSync(docsFile, 'utf8') : '# Benchmarks\n';
  mkdirSync(dirname(docsFile), { recursive: true });
  writeFileSync(docsFile, replaceSection(current, name, section));
}

/** The machine a benchmark ran on, as every results file records it. */
export function thisMachine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.versions.node,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    kernel: os.release(),
  };
}

/** The machine in one phrase of a docs section: `CPU (N cores, M GiB), Node V, platform/arch`. */
export function describeMachine(m) {
  return `${m.cpu} (${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB), Node ${m.node}, ${m.platform}/${m.arch}`;
}

/** The short commit measured, marked when `srcDir` (relative to `root`) has uncommitted changes. */
export function gitCommit(root, srcDir) {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', srcDir], {
      cwd: root,
      encoding: 'utf8',
    });
    return dirty.trim() === '' ? commit : `${commit} (${srcDir} modified)`;
  } catch {
    return 'unknown';
  }
}

/** The version in the nearest package.json named `name`, above the file `specifier` resolves to. */
export function packageVersion(specifier, name) {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  while (dir !== dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8'));
      if (pkg.name === name) return pkg.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** The load averages before and after a run, to two decimals. */
export function loadAverage(before, after) {
  const round = (xs) => xs.map((x) => Math.round(x * 100) / 100);
  return { before: round(before), after: round(after) };
}

/** The warning a run prints when other processes already compete for the CPU, or undefined. */
export function loadNote(load, cores) {
  if (load[0] <= cores * 0.75) return undefined;
  return `Note: load average ${load[0].toFixed(1)} on ${cores} cores; other processes compete for the CPU.`;
}

function pad(cells, widths, aligns) {
  return cells
    .map((c, i) => (aligns[i] === 'r' ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i])))
    .join('  ');
}

/** An aligned table for the console; `aligns` holds 'l' or 'r' per column. */
export function textTable(header, rows, aligns) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  return [
    pad(header, widths, aligns),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...rows.map((r) => pad(r, widths, aligns)),
  ].join('\n');
}

/** The same table in Markdown. */
export function mdTable(header, rows, aligns) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(aligns.map((a) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** A benchmark's Targets table: each target, what was measured, and pass or miss by how much. */
export function targetsTable(targets) {
  return mdTable(
    ['Target', 'Measured', 'Result'],
    targets.map((t) => [t.target, t.measured, `**${t.pass ? 'pass' : 'miss'}**: ${t.margin}`]),
    ['l', 'r', 'l'],
  );
}

/** The same targets for the console: PASS or MISS, the target, what was measured, the margin. */
export function targetsText(targets) {
  return textTable(
    ['', 'Target', 'Measured', ''],
    targets.map((t) => [t.pass ? 'PASS' : 'MISS', t.target, t.measured, t.margin]),
    ['l', 'l', 'r', 'l'],
  );
}

/** The value after `name` on a benchmark's command line (`--sizes 10,100`), else `fallback`. */
export function optionOf(args, name, fallback) {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
}
