// Text written in the encodings the decoder reads, for the decoding and known-value tests: one
// place, so every test writes base64, hex, escapes and byte lists the same way. Each works on the
// text's UTF-8 bytes unless it says otherwise. Test code only: nothing here decodes.

/** The bytes of `s` in `encoding`. */
export const bytesOf = (s: string, encoding: BufferEncoding = 'utf8'): Buffer => Buffer.from(s, encoding);

/** UTF-16BE, which Buffer does not write: UTF-16LE with each pair of bytes swapped. */
export const utf16be = (s: string): Buffer =>
  Buffer.from(bytesOf(s, 'utf16le').map((_, i, b) => b[i ^ 1] ?? 0));

export const b64 = (s: string): string => bytesOf(s).toString('base64');

/** Base64url without padding, as JWTs and most URL encoders write it. */
export const b64url = (s: string): string => bytesOf(s).toString('base64url');

export const hex = (s: string): string => bytesOf(s).toString('hex');

/** Hex pairs with `separator` between them (`67:68:70`, `67 68 70`). */
export const hexPairs = (s: string, separator: string): string =>
  [...bytesOf(s)].map((b) => b.toString(16).padStart(2, '0')).join(separator);

/** Every byte percent-encoded, in lower-case hex (`%67%68%70`). */
export const percentEvery = (s: string): string =>
  [...bytesOf(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Every UTF-16 code unit as a JSON `\uXXXX` escape. */
export const jsonEscapes = (s: string): string =>
  unitsOf(s)
    .map((u) => `\\u${u.toString(16).padStart(4, '0')}`)
    .join('');

/**
 * Every byte as an octal escape, as C, Python and the shell's `$'…'` read them: three digits
 * (`\147`), or with `isShortest` as few as the value needs (`\60` for "0").
 */
export const octalEscapes = (s: string, isShortest = false): string =>
  [...bytesOf(s)].map((b) => `\\${b.toString(8).padStart(isShortest ? 1 : 3, '0')}`).join('');

/** Every UTF-16 code unit as JavaScript's escape() writes those past U+00FF (`%u0067`). */
export const unitEscapes = (s: string, isUpper = false): string =>
  unitsOf(s)
    .map((u) => `%u${u.toString(16).padStart(4, '0')}`)
    .map((e) => (isUpper ? e.toUpperCase().replace('%U', '%u') : e))
    .join('');

/** Every character (code point) as an HTML character reference, decimal unless `form` writes it otherwise. */
export const references = (s: string, form: (code: number) => string = (c) => `&#${c};`): string =>
  [...s].map((c) => form(c.codePointAt(0) ?? 0)).join('');

/** The UTF-16 code units of `s`: a character past U+FFFF is two. */
const unitsOf = (s: string): number[] => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));

/**
 * The bytes of `s` as a list of values: decimal and ", " unless told otherwise. `form` is told each
 * value's index too; separators given as a list are used in turn.
 */
export const byteValues = (
  s: string,
  form: (b: number, i: number) => string = (b) => String(b),
  separator: string | readonly string[] = ', ',
): string => {
  const separators = typeof separator === 'string' ? [separator] : separator;
  return [...bytesOf(s)]
    .map((b, i) => (i === 0 ? '' : (separators[(i - 1) % separators.length] ?? '')) + form(b, i))
    .join('');
};

/** `s` broken into lines of `width` characters, as MIME (76) and PEM (64) wrap base64. */
export const wrap = (s: string, width: number, lineBreak = '\n'): string =>
  s.replace(new RegExp(`(.{${width}})`, 'g'), `$1${lineBreak}`);

/** `unit` repeated to exactly `length` characters. */
export const repeat = (unit: string, length: number): string =>
  unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

/**
 * Printable ASCII spelled in Unicode tag characters, U+E0020–U+E007E (`A` is U+E0041): invisible
 * on screen but read by a model, the "ASCII smuggling" of prompt injection and exfiltration.
 */
export const tags = (s: string): string =>
  [...s].map((c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0) ?? 0))).join('');

/** A string's UTF-8 bytes read as Latin-1, one character a byte: how the egress proxy reads a body. */
export const asLatin1 = (s: string): string => bytesOf(s).toString('latin1');
