// Reading policy files from disk and loading them with the policy package. The only place the CLI
// turns paths into policies; problems are printed once, as file:line:col.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  formatDiagnostic,
  hasErrors,
  loadPolicies,
  type Diagnostic,
  type LoadResult,
  type PathContext,
} from '@perimeter/policy';
import { UserError } from './errors.js';
import { paint, type Ui } from './ui.js';

/** The embedded default policy: what runs when no --policy is given. */
export const DEFAULT_POLICY = fileURLToPath(new URL('../../../../examples/balanced.yaml', import.meta.url));

export function isPolicyPath(word: string): boolean {
  if (/\.(ya?ml|json)$/i.test(word)) return true;
  try {
    return statSync(word).isDirectory();
  } catch {
    return false;
  }
}

/** Files named directly, plus the .yaml/.yml files inside named directories (sorted). */
export function expandPolicyPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      throw new UserError(`cannot read policy file ${p}: it does not exist`, 'check the path');
    }
    if (isDir) {
      const names = readdirSync(p)
        .filter((n) => /\.ya?ml$/i.test(n))
        .sort();
      if (names.length === 0) throw new UserError(`the directory ${p} holds no .yaml policy files`);
      out.push(...names.map((n) => join(p, n)));
    } else out.push(p);
  }
  return out;
}

export interface Loaded extends LoadResult {
  readonly files: readonly string[];
  readonly isDefault: boolean;
}

/**
 * Reads and loads policy files (the embedded default when none are given). Never throws on policy
 * errors: they are in `diagnostics`. With `cacheDir`, files that loaded cleanly before are taken
 * from their checked form (keyed by their exact text and this build of Perimeter), which spares
 * `perimeter run` the YAML parse on every start; the directory must be one no sandbox can see.
 */
export function readPolicies(paths: readonly string[] | undefined, cacheDir?: string): Loaded {
  const isDefault = paths === undefined || paths.length === 0;
  const files = isDefault ? [DEFAULT_POLICY] : expandPolicyPaths(paths);
  const sources = files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UserError(
        `cannot read policy file ${file}${code ? ` (${code})` : ''}`,
        'check that the file exists and is readable',
      );
    }
  });
  return { ...loadPolicySources(sources, cacheDir), files, isDefault };
}

/**
 * Loads policy texts (files, or the documents of a signed bundle), through the checked-policy
 * cache when `cacheDir` is given: texts that loaded cleanly before are taken from their checked
 * form, keyed by their exact text and this build of Perimeter.
 */
export function loadPolicySources(
  sources: readonly { readonly file: string; readonly text: string }[],
  cacheDir?: string,
): LoadResult {
  if (cacheDir === undefined) return loadPolicies(sources);
  const keyed = sources.map((src) => ({ ...src, key: cacheKey(src.text) }));
  const cached = keyed.map((src) => ({ ...src, checked: readCache(cacheDir, src.key) }));
  if (cached.every((c) => c.checked !== undefined)) {
    try {
      const result = loadPolicies(cached);
      if (result.diagnostics.length === 0) return result;
    } catch {
      // a damaged cache entry: load from the text below
    }
  }
  const result = loadPolicies(sources);
  for (const src of keyed) {
    if (result.diagnostics.some((d) => d.at?.file === src.file)) continue;
    writeCache(
      cacheDir,
      src.key,
      result.policies.filter((p) => p.file === src.file).map((p) => p.checked),
    );
  }
  return result;
}

/** The build of Perimeter that checked a document: any rebuild invalidates every entry. */
const BUILD = (() => {
  try {
    return String(statSync(fileURLToPath(import.meta.url)).mtimeMs);
  } catch {
    return 'unknown';
  }
})();

function cacheKey(text: string): string {
  return createHash('sha256').update(`policy-cache-1\0${BUILD}\0${text}`).digest('hex');
}

function readCache(dir: string, key: string): readonly unknown[] | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as { checked?: unknown };
    return Array.isArray(value.checked) ? (value.checked as unknown[]) : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(dir: string, key: string, checked: readonly unknown[]): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `${key}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify({ checked }), { mode: 0o600 });
    renameSync(tmp, join(dir, `${key}.json`));
  } catch {
    // a cache that cannot be written only costs time
  }
}

export function printDiagnostics(ui: Ui, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) {
    const colour = d.severity === 'error' ? 'red' : d.severity === 'warning' ? 'yellow' : 'dim';
    const text = formatDiagnostic(d);
    ui.err(ui.isColor ? text.replace(`${d.severity}:`, paint(ui, colour, `${d.severity}:`)) : text);
  }
}

/**
 * Loads policies; invalid policies stop the command with exit code 3. Decision commands pass
 * `isOneSet`: their policies must belong to one organisation, since orgs never layer together.
 */
export function requireValidPolicies(
  ui: Ui,
  paths: readonly string[] | undefined,
  isOneSet = true,
  cacheDir?: string,
): Loaded {
  const loaded = readPolicies(paths, cacheDir);
  if (hasErrors(loaded.diagnostics)) {
    printDiagnostics(
      ui,
      loaded.diagnostics.filter((d) => d.severity === 'error'),
    );
    const n = loaded.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(
      `the policy has ${n} error${n === 1 ? '' : 's'}, so nothing was decided`,
      'fix them, then run "perimeter policy validate" to confirm',
    );
  }
  const orgs = [...new Set(loaded.policies.map((l) => l.policy.org))];
  if (isOneSet && orgs.length > 1) {
    throw new UserError(
      `the policy files belong to ${orgs.length} organisations (${orgs.map((o) => o || '(no org)').join(', ')}), which never layer together`,
      'pass the files of one organisation at a time',
    );
  }
  return loaded;
}

export function pathContext(workspace: string | undefined, home: string | undefined): PathContext {
  return { home: resolve(home ?? homedir()), workspace: resolve(workspace ?? process.cwd()) };
}
