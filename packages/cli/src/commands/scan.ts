// perimeter scan: secrets in files or standard input, reported by position, rule and fingerprint —
// never the secret itself, so the output is safe to paste into a ticket or a CI log. The detection
// is @perimeter/detect's, with decoding on (a Kubernetes Secret's values are base64).

import { readFileSync } from 'node:fs';
import { encodingPhrase, scan, type Finding } from '@perimeter/detect';
import { boolFlag, parseArgs } from '../args.js';
import { UserError } from '../errors.js';
import { paint, type Ui } from '../ui.js';

const STDIN = '-';

interface Located extends Finding {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** 1-based line and column of every finding, computed in one walk over the text. */
function locate(file: string, text: string, findings: readonly Finding[]): Located[] {
  const out: Located[] = [];
  let line = 1;
  let lineStart = 0;
  let at = 0;
  for (const f of findings) {
    for (; at < f.start; at++) {
      if (text.charCodeAt(at) === 10) {
        line++;
        lineStart = at + 1;
      }
    }
    out.push({ ...f, file, line, column: f.start - lineStart + 1 });
  }
  return out;
}

function read(file: string): string {
  try {
    return readFileSync(file === STDIN ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new UserError(
      `cannot read ${file === STDIN ? 'standard input' : file} (${code})`,
      code === 'EISDIR'
        ? 'name files, for example: git ls-files -z | xargs -0 perimeter scan'
        : 'check the path',
    );
  }
}

export function runScan(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'scan');
  const files = p.positionals.length > 0 ? p.positionals : [STDIN];
  const found: Located[] = [];
  let unreadable = 0;
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch (e) {
      // One unreadable file does not hide the findings of the others; the exit code says it.
      if (!(e instanceof UserError)) throw e;
      ui.err(`perimeter: ${e.message}`);
      if (e.hint) ui.err(`  ${e.hint}`);
      unreadable++;
      continue;
    }
    found.push(...locate(file, text, scan(text, { decode: true })));
  }
  if (boolFlag(p, 'json')) {
    ui.out(
      JSON.stringify(
        found.map((f) => ({
          file: f.file,
          line: f.line,
          column: f.column,
          rule: f.rule,
          family: f.family,
          confidence: f.confidence,
          fingerprint: f.fingerprint,
          ...(f.encoding ? { encoding: f.encoding } : {}),
        })),
        null,
        2,
      ),
    );
  } else {
    for (const f of found) {
      const notes = [
        f.confidence === 'low' ? 'low confidence' : '',
        f.encoding ? encodingPhrase(f.encoding) : '',
      ]
        .filter((n) => n !== '')
        .join(', ');
      ui.out(
        `${f.file}:${f.line}:${f.column}  ${paint(ui, f.confidence === 'high' ? 'red' : 'yellow', f.rule)}  ${f.fingerprint}${notes ? paint(ui, 'dim', `  (${notes})`) : ''}`,
      );
    }
  }
  if (unreadable > 0) return 3;
  return found.length > 0 ? 1 : 0;
}
