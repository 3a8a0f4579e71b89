// perimeter secret set|ls|rm: the local secret store (secret-store.ts) from the command line.
// A value comes in from a no-echo prompt or standard input, never from argv, and never goes out:
// not to stdout, stderr, --json or an error, whatever happens.

import { StringDecoder } from 'node:string_decoder';
import type { ReadStream } from 'node:tty';
import { boolFlag, parseArgs } from '../args.js';
import { UserError } from '../errors.js';
import {
  MAX_SECRET_BYTES,
  assertSecretName,
  openSecretStore,
  valueTooLong,
  type SetResult,
} from '../secret-store.js';
import { paint, type Ui } from '../ui.js';

/** The exit code of a prompt cancelled with Ctrl-C, as a shell reports death by SIGINT. */
const CANCELLED = 130;

export async function runSecretSet(argv: readonly string[], ui: Ui): Promise<number> {
  const name = oneName(argv, 'set');
  const store = openSecretStore();
  // Check the store is usable (permissions, format) before asking anyone to type a secret.
  store.names();
  const stdin = process.stdin;
  const value = stdin.isTTY ? await promptTwice(stdin) : await readStdin();
  if (value === undefined) {
    ui.err('perimeter: cancelled; nothing was stored');
    return CANCELLED;
  }
  const result = store.set(name, value);
  ui.out(`${result.isReplaced ? 'replaced' : 'stored'} secret ${name}`);
  if (result.createdKey) reportNewKey(ui, store.dir, result.createdKey);
  return 0;
}

export function runSecretLs(argv: readonly string[], ui: Ui): number {
  const p = parseArgs(argv, { json: { type: 'boolean' } }, 'secret ls');
  if (p.positionals.length > 0 || p.rest !== undefined)
    throw new UserError('perimeter secret ls takes no arguments', 'run "perimeter secret ls --help"');
  const store = openSecretStore();
  const entries = store.names();
  if (boolFlag(p, 'json')) {
    ui.out(JSON.stringify(entries, null, 2));
    return 0;
  }
  if (entries.length === 0) {
    ui.out(`no secrets stored (${store.dir})`);
    ui.out(paint(ui, 'dim', '  add one with: perimeter secret set NAME'));
    return 0;
  }
  const width = Math.max(...entries.map((e) => e.name.length));
  for (const e of entries) ui.out(`${e.name.padEnd(width)}  ${e.updatedAt}`);
  const key = store.keyInfo();
  ui.out(
    paint(
      ui,
      'dim',
      `${entries.length} secret${entries.length === 1 ? '' : 's'} in ${store.dir}; key in ${key?.location ?? 'no recorded place'}`,
    ),
  );
  return 0;
}

export function runSecretRm(argv: readonly string[], ui: Ui): number {
  const name = oneName(argv, 'rm');
  if (!openSecretStore().remove(name))
    throw new UserError(`there is no secret ${name}`, 'perimeter secret ls lists the stored secrets', 1);
  ui.out(`removed secret ${name}`);
  return 0;
}

/**
 * The one NAME of `set`/`rm`. Nothing else is accepted, and no other word is ever repeated back:
 * a word after the name is most likely a value typed on the command line.
 */
function oneName(argv: readonly string[], verb: 'set' | 'rm'): string {
  if (argv.length === 1 && !(argv[0] ?? '').startsWith('-')) {
    const name = argv[0] ?? '';
    assertSecretName(name);
    return name;
  }
  if (argv.length === 0)
    throw new UserError(
      `perimeter secret ${verb} needs the secret's NAME`,
      `for example: perimeter secret ${verb} github-token`,
    );
  if (verb === 'rm')
    throw new UserError(
      'perimeter secret rm takes one NAME and no options',
      'perimeter secret rm github-token',
    );
  throw new UserError(
    'perimeter secret set takes one NAME and no options: the value is read from a prompt or standard input, never from the command line',
    'argv is visible to every process on this machine and lands in shell history (if you typed a real secret there, rotate it); type it at the prompt or pipe it in: gh auth token | perimeter secret set NAME',
  );
}

function reportNewKey(ui: Ui, dir: string, key: NonNullable<SetResult['createdKey']>): void {
  ui.out(paint(ui, 'dim', `  created the secret store ${dir}; its key is in ${key.location}`));
  if (key.backend === 'file') {
    if (key.keyringProblem) ui.out(paint(ui, 'dim', `  (no OS keyring: ${key.keyringProblem})`));
    ui.out(paint(ui, 'dim', '  back the key file up with the store: without it the values cannot be read'));
  }
}

// --- reading the value ----------------------------------------------------------------------------

/** All of standard input, less one trailing newline; refused beyond the size limit. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // One extra \r\n may follow a value of exactly the limit.
  const limit = MAX_SECRET_BYTES + 2;
  try {
    for await (const chunk of process.stdin) {
      const bytes = chunk as Buffer;
      chunks.push(bytes);
      size += bytes.length;
      if (size > limit) {
        process.stdin.destroy();
        throw valueTooLong();
      }
    }
    let data = Buffer.concat(chunks);
    if (data.at(-1) === 0x0a) data = data.subarray(0, data.at(-2) === 0x0d ? -2 : -1);
    if (data.length > MAX_SECRET_BYTES) throw valueTooLong();
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      throw new UserError('the value on standard input is not UTF-8 text; nothing was stored');
    }
  } finally {
    for (const c of chunks) c.fill(0);
  }
}

/** Asks twice on the terminal, without echo; undefined when cancelled. */
async function promptTwice(tty: ReadStream): Promise<string | undefined> {
  const lines = await readHidden(tty, ['Value (not echoed): ', 'Again, to confirm: '], (first) => {
    if (first === '') throw new UserError('the value is empty; nothing was stored');
  });
  if (lines === undefined) return undefined;
  const [first, second] = lines;
  if (second !== first)
    throw new UserError('the two entries differ; nothing was stored', 'run the command again');
  return first;
}

/**
 * Lines from the terminal, one per prompt, in raw mode so nothing is echoed (raw mode is on before
 * the first prompt shows and stays on until the last line, so a fast typist's input is never
 * echoed either): Enter ends a line, Backspace deletes a character, Ctrl-U the line, Ctrl-C (or
 * SIGINT, or the terminal closing) cancels. Escape sequences (arrow keys) are dropped, not stored.
 * `check` sees each line as it is entered and may throw to stop early.
 */
function readHidden(
  tty: ReadStream,
  prompts: readonly string[],
  check: (line: string) => void,
): Promise<string[] | undefined> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    const lines: string[] = [];
    let chars: string[] = [];
    // 0 text, 1 after ESC, 2 inside a CSI/SS3 sequence (which ends at a character in @..~).
    let escape = 0;
    let isDone = false;
    const stop = (): void => {
      isDone = true;
      tty.off('data', onData);
      tty.off('end', onEnd);
      process.off('SIGINT', onSigint);
      tty.setRawMode(false);
      tty.pause();
      process.stderr.write('\n');
      chars = [];
    };
    const cancel = (): void => {
      stop();
      resolve(undefined);
    };
    const onEnd = cancel;
    const onSigint = cancel;
    const endLine = (): void => {
      const line = chars.join('');
      chars = [];
      try {
        check(line);
      } catch (e) {
        stop();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      lines.push(line);
      if (lines.length === prompts.length) {
        stop();
        resolve(lines);
      } else process.stderr.write(`\n${prompts[lines.length] ?? ''}`);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of decoder.write(chunk)) {
        if (isDone) break;
        if (escape === 1) {
          escape = ch === '[' || ch === 'O' ? 2 : 0;
          continue;
        }
        if (escape === 2) {
          if (ch >= '@' && ch <= '~') escape = 0;
          continue;
        }
        switch (ch) {
          case '\r':
          case '\n':
          case '\u0004': // Ctrl-D: end of input
            endLine();
            break;
          case '\u0003': // Ctrl-C
            cancel();
            break;
          case '\u007f':
          case '\b':
            chars.pop();
            break;
          case '\u0015': // Ctrl-U
            chars = [];
            break;
          case '\u001b':
            escape = 1;
            break;
          default:
            if (ch >= ' ') chars.push(ch);
        }
      }
      chunk.fill(0);
    };
    tty.setRawMode(true);
    process.on('SIGINT', onSigint);
    tty.on('data', onData);
    tty.on('end', onEnd);
    tty.resume();
    process.stderr.write(prompts[0] ?? '');
  });
}
