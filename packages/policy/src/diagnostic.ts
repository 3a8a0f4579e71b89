// Diagnostics: problems in a policy, as data. Pure. Printed once, at the edge, as
// `file:line:col: severity: what is wrong (hint)` and never with a stack trace.

export type Severity = 'error' | 'warning' | 'info';

/** A path into a policy document, as in `['network', 'allow', 0, 'hosts', 1]`. */
export type DiagnosticPath = readonly (string | number)[];

export interface Position {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface Diagnostic {
  readonly severity: Severity;
  /** A stable code, for scripts and for documentation (`bad-host-pattern`, `unknown-key`, …). */
  readonly code: string;
  /** One sentence saying what is wrong. */
  readonly message: string;
  /** How to fix it. */
  readonly hint?: string;
  readonly path?: DiagnosticPath;
  readonly at?: Position;
  /** The policy the problem is in, when known. */
  readonly policy?: string;
}

/** `network.allow[0].hosts[1]` */
export function formatPath(path: DiagnosticPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.at ? `${d.at.file}:${d.at.line}:${d.at.col}: ` : '';
  const hint = d.hint ? ` (${d.hint})` : '';
  return `${where}${d.severity}: ${d.message}${hint}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** The value at a document path, or undefined where the path leads nowhere. */
export function valueAtPath(root: unknown, path: DiagnosticPath): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}
