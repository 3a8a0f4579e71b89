// A path in an MCP tool's arguments as a server may read it: the spellings a server would read as
// another path than the one the value spells. Pure. An argument glob treats such a value as an
// evaluation error (a deny matches it, an allow does not) rather than guess the server's reading.
// Letter case is not looked at: a case-insensitive filesystem is not covered (policy-reference.md).

/** Why a server may read a path argument as another path than the one it spells. */
export type OtherReading =
  'relative' | 'uri' | 'home' | 'variable' | 'not-nfc' | 'compatibility' | 'mark-run';

/** A character outside ASCII: one scan passes the ASCII paths. */
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * A combining mark as a regular expression (`u` flag): the half-width sound marks U+FF9E and U+FF9F
 * are letters that NFKC makes combining marks. Normalizing puts a run of them in order by
 * insertion, at the cost of its square (200,000 marks of two classes: minutes); Unicode's
 * stream-safe format (UAX #15 §13) allows at most MAX_MARK_RUN in a row. Shared with the MCP
 * gateway's instruction screen, which breaks longer runs before it folds text.
 */
export const COMBINING_MARK = '[\\p{M}\\uFF9E\\uFF9F]';
export const MAX_MARK_RUN = 30;
/** More than MAX_MARK_RUN marks in a row: no name a person writes has one. */
const MARK_RUN = new RegExp(`${COMBINING_MARK}{${MAX_MARK_RUN + 1}}`, 'u');

function plainReading(value: string): OtherReading | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return 'uri';
  if (value.startsWith('~')) return 'home';
  if (value.includes('${')) return 'variable';
  return undefined;
}

/**
 * The reason a server may read `value` as another path, or undefined when it reads it as spelt.
 * redteam-35-1: a relative path is read from a directory of the server's choosing (the reference
 * filesystem server takes its allowed directories, another its working directory), which the
 * policy cannot know. A URI, `~` and `${…}` are expanded by some servers. Non-ASCII values also:
 * - redteam-34-5: not in NFC (`prive\u0301`, the Kelvin sign): the reference filesystem server
 *   maps a missing name onto an existing one equal in NFC, so any other spelling of a canonically
 *   equivalent path may reach it. Rules and the workspace are compared in NFC (compile and engine).
 * - a compatibility character that folds (NFKC) to path syntax: `／` to `/`, `‥` to `..`,
 *   `～/` to `~/`, `ｆｉｌｅ：` to a URI; a server or tool that folds would walk another path.
 *   Other compatibility forms (fullwidth letters, `（）`, `²`) are compared as written.
 * - a run of more than 30 combining marks (MARK_RUN): not normalized at all.
 */
export function otherReading(value: string): OtherReading | undefined {
  if (!value.startsWith('/')) return plainReading(value) ?? 'relative';
  // Absolute: neither a URI nor `~`.
  if (value.includes('${')) return 'variable';
  if (!NON_ASCII.test(value)) return undefined;
  if (MARK_RUN.test(value)) return 'mark-run';
  if (value.normalize('NFC') !== value) return 'not-nfc';
  const folded = value.normalize('NFKC');
  if (folded === value) return undefined;
  if (plainReading(folded) !== undefined) return 'compatibility';
  const parts = value.split('/');
  const foldedParts = folded.split('/');
  if (
    parts.length !== foldedParts.length ||
    foldedParts.some((s, i) => (s === '.' || s === '..') && parts[i] !== s)
  ) {
    return 'compatibility';
  }
  return undefined;
}
