// How an error quotes what a client wrote (a key, a step of a path, a time): the error is the
// reply, maybe an audit event's reason and a log line, and a client chooses how long its keys are,
// how many, and what characters they hold (redteam-31-1: an unknown key of a megabyte made a reply
// of a megabyte). Used by the HTTP layer's body checks and by a device upload's checks alike.

import { cutText } from '@perimeter/audit';
import { escapeUnprintable } from '@perimeter/policy';

/** How many characters of what a client wrote an error quotes. */
const QUOTED = 40;
/**
 * How many characters of an id or name a client chose an error quotes (a chain's id, a device's
 * name): these are short, and must stay whole to be recognised.
 */
export const NAME_QUOTED = 200;
/** The most unknown keys an error names; it counts the rest. */
const KEYS_QUOTED = 3;

/**
 * `text` as an error quotes it, to go between double quotes: its first `max` characters (then its
 * length and hash, as the spool cuts), with quotes, backslashes and C0 controls escaped as JSON
 * escapes them, and what JSON leaves as it is but a terminal would act on escaped too (DEL, C1
 * such as U+009B CSI, U+2028/2029 and the bidirectional controls: escapeUnprintable), so a line
 * break, a terminal escape sequence or a reordering cannot break the one-line message or reach a
 * terminal that prints it.
 */
export const quoted = (text: string, max = QUOTED): string =>
  escapeUnprintable(JSON.stringify(cutText(text, max)).slice(1, -1));

/** A path as the client wrote it (`users[2].name`), each key quoted. */
export function quotedPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path)
    out += typeof p === 'number' ? `[${p}]` : out === '' ? quoted(String(p)) : `.${quoted(String(p))}`;
  return out;
}

/** The first three `keys`, each as `show` quotes it, and how many more: `"a", "b", "c" and 9 more`. */
export function someKeys(keys: readonly string[], show: (key: string) => string): string {
  const shown = keys.slice(0, KEYS_QUOTED).map(show);
  const more = keys.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}
