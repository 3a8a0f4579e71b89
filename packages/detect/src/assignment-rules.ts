// Keyword-gated rules: a value assigned to a name that says it is secret (`password = …`,
// `"api_key": "…"`, `export GITHUB_TOKEN=…`, `Authorization: Bearer …`, `<secret>…</secret>`).
// Provider formats that have no prefix (AWS secret access keys, Azure client secrets, Twilio auth
// tokens) are recognised here by their name; everything else falls to the generic rules, which
// demand an entropy that depends on the value's alphabet and length (egress.md §8.3) and refuse
// templates, code expressions, hashes, UUIDs and identifiers. These are low confidence by design.

import { alphabetOf, entropyFloor, shannonEntropy } from './entropy.js';
import type { Confidence } from './finding.js';
import { isPlaceholder } from './placeholder.js';

export interface AssignmentHit {
  readonly rule: string;
  readonly family: string;
  readonly confidence: Confidence;
  readonly start: number;
  readonly end: number;
}

/** Case-insensitive keywords; one of them must occur in the name for any of these rules to run. */
export const KEYWORD_SOURCE =
  'pass(?:word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|(?:account|storage)[_-]?key|auth|credential|private[_-]?key|pwd';

const IDENTIFIER = /[A-Za-z0-9_.-]/;
const MAX_NAME = 80;
const MAX_VALUE = 512;

// After the name: an optional closing quote (JSON, Python dicts), then the assignment operator.
// `==`, `===` and `!=` are comparisons, not assignments. The value may stand on the next line when
// nothing follows the operator on its own and the next line holds one word alone, with no `=` or
// `:` but a base64 padding's (detect-39-4: YAML's scalar indented under its key, a wrapped
// `AWS_SECRET_ACCESS_KEY=`). An empty `.env` value followed by the next `KEY=value`, a mapping's
// next key, a list, code or prose is not read as a value.
const OPERATOR =
  /\\?["'`\]]?[ \t]{0,8}(?:=>|:=|=(?!=)|:(?!:))[ \t]{0,8}(?:\r?\n[ \t]{0,8}(?=[^\s=:'"]+=*[ \t]*(?:[\r\n]|$)))?/y;
const XML_CLOSE = />/y;
/**
 * An element's value alone on the line after its opening tag, the closing tag alone on the next
 * (detect-40-3: Maven's settings.xml, Spring's and .NET's config files indent it so): the line
 * break and indentation before it, and the value, one word.
 */
const XML_LINE = /^([ \t]*\r?\n[ \t]*)([^\s<]+)[ \t]*\r?\n[ \t]*$/;
const SCHEME = /^(?:Bearer|Basic|Token|token|bearer|Digest)[ \t]+/;

/** The lowercase words of an identifier: `dbPassword` → db, password; `GITHUB_TOKEN` → github, token. */
export function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const PASSWORD_WORDS = new Set(['password', 'passwd', 'pass', 'passphrase', 'pwd', 'passwords']);
const SECRET_WORDS = new Set([
  'secret',
  'secrets',
  'token',
  'tokens',
  'auth',
  'apikey',
  'credential',
  'credentials',
  'authorization',
  'privatekey',
  'accesskey',
  'secretkey',
  'authtoken',
  'accesstoken',
  'refreshtoken',
]);
const PAIRS = new Set([
  'api key',
  'access key',
  'private key',
  'secret key',
  'client secret',
  'auth token',
  'storage key',
  'account key',
]);
// A name ending in one of these describes the secret rather than holding it (token_type,
// secret_name, password_hash, auth_url, api_key_id).
const DESCRIBING = new Set([
  'id',
  'ids',
  'url',
  'uri',
  'urls',
  'endpoint',
  'path',
  'file',
  'filename',
  'dir',
  'type',
  'types',
  'name',
  'names',
  'length',
  'len',
  'size',
  'ttl',
  'expiry',
  'expires',
  'expiration',
  'lifetime',
  'count',
  'header',
  'field',
  'policy',
  'format',
  'method',
  'mode',
  'timeout',
  'enabled',
  'required',
  'ref',
  'hash',
  'hashed',
  'sha',
  'digest',
  'checksum',
  'integrity',
  'regex',
  'pattern',
  'label',
  'placeholder',
  'hint',
  'prompt',
  'env',
  'var',
  'variable',
  'key',
  'keys',
  'provider',
  'store',
  'manager',
  'version',
  'scope',
  'scopes',
  'kind',
  'min',
  'max',
  'prefix',
  'index',
  'pos',
  'position',
  'start',
  'end',
  'source',
  'location',
  'strategy',
  'reset',
  'changed',
  'confirmation',
  'confirm',
  'validation',
  'error',
  'errors',
  'message',
  'input',
  'visible',
  'salt',
]);
// …unless the name is exactly one of these (`api_key`, `access_key`, `private_key`).
const KEY_NAMES = new Set([
  'api key',
  'access key',
  'private key',
  'secret key',
  'account key',
  'storage key',
]);

export type NameKind = 'password' | 'secret' | undefined;

/** Whether a name holds a password, another secret, or neither. */
export function nameKind(name: string): NameKind {
  const words = wordsOf(name);
  if (words.length === 0) return undefined;
  const last = words[words.length - 1] ?? '';
  const tail = words.slice(-2).join(' ');
  if (DESCRIBING.has(last) && !KEY_NAMES.has(tail)) return undefined;
  let kind: NameKind;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? '';
    if (
      PASSWORD_WORDS.has(w) ||
      /^(?:db|my|admin|root|user|mysql|pg|redis|smtp|mail)?(?:password|passwd|pass)$/.test(w)
    )
      return 'password';
    if (SECRET_WORDS.has(w) || PAIRS.has(`${w} ${words[i + 1] ?? ''}`)) kind = 'secret';
    // One run-together word that ends in a keyword (GITHUBTOKEN, mysecret, clientsecret).
    else if (/(?:token|secret|apikey|accesskey|privatekey|password|passwd)$/.test(w) && w.length <= 32)
      kind = /pass/.test(w) ? 'password' : 'secret';
  }
  return kind;
}

// Values that are code, not data: `process.env.TOKEN`, `config.secret`, `this.password`, an
// identifier in any casing, a constant like TOKEN_EXPIRED, a path or a URL.
const CODE_LIKE =
  /^(?:[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+|[a-z]+(?:[A-Z][a-z]*)+|[A-Z][a-z]+(?:[A-Z][a-z]*)+|[A-Z]+(?:_[A-Z0-9]+)+|[a-z]+(?:[-_.][a-z]+)+|[a-z]+|[A-Z][a-z]+|[A-Z]+)$/;
const NOT_A_SECRET =
  /^(?:https?|ftp|file|wss?):\/\/|^[.~]?\/|^[A-Za-z]:\\|\.(?:pem|key|crt|cer|json|ya?ml|txt|env|p12|pfx|jks|js|ts|py|rb|go|sh)$|^sha(?:1|256|384|512)-|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BORING = new Set([
  'true',
  'false',
  'null',
  'none',
  'nil',
  'undefined',
  'required',
  'optional',
  'string',
  'number',
  'boolean',
  'object',
  'bearer',
  'basic',
  'yes',
  'no',
  'on',
  'off',
  'empty',
  'default',
]);

const LONGEST_BORING = Math.max(...[...BORING].map((word) => word.length));

function hasDigit(v: string): boolean {
  return /[0-9]/.test(v);
}
function hasLetter(v: string): boolean {
  return /[A-Za-z]/.test(v);
}

/**
 * Whether `value`, assigned to a name of `kind`, looks like a real credential. Every test must
 * pass: the cheap ones on length and letters go first, the placeholder patterns last.
 */
export function isLikelySecretValue(value: string, kind: 'password' | 'secret', isQuoted: boolean): boolean {
  return hasSecretShape(value, kind, isQuoted) && !isPlaceholder(value);
}

function hasSecretShape(value: string, kind: 'password' | 'secret', isQuoted: boolean): boolean {
  if (kind === 'password') {
    // Real passwords are short and low-entropy (CredData's "Password" category sits below 3.5
    // bits): ask for length, some variety, and a digit or symbol, quoted or not.
    if (value.length < 8 || value.length > 128) return false;
    if (!/[^A-Za-z]/.test(value) || !hasLetter(value)) return false;
    if (!isQuoted && !hasDigit(value)) return false;
  } else if (value.length < 16) return false;
  if (value.length <= LONGEST_BORING && BORING.has(value.toLowerCase())) return false;
  if (/\s/.test(value) || NOT_A_SECRET.test(value) || CODE_LIKE.test(value)) return false;
  if (kind === 'password') return shannonEntropy(value) >= 2.5;
  // Unquoted, a value must mix letters and digits (a random 20-character base62 value has no
  // digit about 3 % of the time; an identifier nearly always lacks one).
  if (!hasDigit(value) || !hasLetter(value)) return alphabetOf(value) === 'hex' && value.length >= 32;
  return shannonEntropy(value) >= entropyFloor(alphabetOf(value), value.length);
}

interface Assignment {
  readonly name: string;
  readonly nameStart: number;
  readonly value: string;
  readonly valueStart: number;
  readonly isQuoted: boolean;
}

/** Whether a character code is one a name holds (IDENTIFIER), from a table: names are read often. */
const IS_IDENTIFIER = Uint8Array.from({ length: 128 }, (_, c) =>
  IDENTIFIER.test(String.fromCharCode(c)) ? 1 : 0,
);
const isIdentifierCode = (c: number): boolean => IS_IDENTIFIER[c] === 1;

// What ends an unquoted value: whitespace, a separator or a bracket (or it is cut after 513, MAX_VALUE
// + 1, characters).
const UNQUOTED_END = /[\s,;"'`<>(){}[\]&|\\]/g;

/** One text's assignments as they are read: what was read before, and a count of what is read. */
interface Reading {
  readonly text: string;
  /** The run of name characters around a position. */
  readonly nameRun: (at: number) => { readonly from: number; readonly to: number };
  /** Where the unquoted value starting at a position ends. */
  readonly unquotedEnd: (from: number) => number;
  /** Adds to what was read (ScanWork.read). */
  readonly count: (characters: number) => void;
}

/**
 * What an assignment is read from in one text: the scan asks at its keywords in order. A text of
 * keywords has one every few characters, and the name or value around each reaches over the next
 * ones; the run of name characters around a keyword and the next character that ends an unquoted
 * value are each found once for all of them, not read again at every keyword (redteam-34-6).
 * What is read is added to `work.read`, if given.
 */
export function assignmentReader(
  text: string,
  work?: { read?: number },
): (keywordStart: number, keywordEnd: number) => Assignment | undefined {
  const count = (characters: number): void => {
    if (work?.read !== undefined) work.read += characters;
  };
  // The run of name characters last read, and the next end of an unquoted value after `after`.
  let name = { from: 0, to: -1 };
  let unquoted = { after: 0, end: -1 };
  const nameRun = (at: number): { from: number; to: number } => {
    if (at >= name.from && at < name.to) return name;
    let from = at;
    while (from > 0 && isIdentifierCode(text.charCodeAt(from - 1))) from--;
    let to = at;
    while (to < text.length && isIdentifierCode(text.charCodeAt(to))) to++;
    count(to - from + 2);
    name = { from, to };
    return name;
  };
  const unquotedEnd = (from: number): number => {
    if (from < unquoted.after || from > unquoted.end) {
      UNQUOTED_END.lastIndex = from;
      unquoted = { after: from, end: UNQUOTED_END.exec(text)?.index ?? text.length };
      count(unquoted.end - from + 1);
    }
    return Math.min(unquoted.end, from + MAX_VALUE + 1);
  };
  const reading = { text, nameRun, unquotedEnd, count };
  return (keywordStart, keywordEnd) => assignmentAt(reading, keywordStart, keywordEnd);
}

/** The name around a keyword hit, and the value assigned to it, if the hit sits in an assignment. */
function assignmentAt(reading: Reading, keywordStart: number, keywordEnd: number): Assignment | undefined {
  const { text, nameRun, unquotedEnd, count } = reading;
  // The name: the name characters around the keyword, MAX_NAME at most either side.
  const run = nameRun(keywordStart);
  const nameStart = Math.max(run.from, keywordStart - MAX_NAME);
  let nameEnd = Math.min(run.to, keywordEnd + MAX_NAME);
  // A trailing dot or dash belongs to the sentence, not the name.
  while (nameEnd > keywordEnd && /[.-]/.test(text[nameEnd - 1] ?? '')) nameEnd--;
  const name = text.slice(nameStart, nameEnd);
  let at: number;
  if (text[nameStart - 1] === '<') {
    XML_CLOSE.lastIndex = nameEnd;
    if (!XML_CLOSE.exec(text)) return undefined;
    at = XML_CLOSE.lastIndex;
  } else {
    OPERATOR.lastIndex = nameEnd;
    if (!OPERATOR.exec(text)) return undefined;
    at = OPERATOR.lastIndex;
  }
  let isQuoted = false;
  if (text[nameStart - 1] === '<') {
    // <password>value</password>: the value runs to the closing tag, which must follow within
    // MAX_VALUE characters. Looked for there alone: a search to the end of the text at every
    // `<password>` made a text of them quadratic (redteam-34-6: 1 MB took 29 s).
    const value = text.slice(at, at + MAX_VALUE + 2);
    count(value.length);
    const close = value.indexOf('</');
    const inner = value.slice(0, close);
    if (close < 0 || inner.includes('<')) return undefined;
    // On its own line, only before the closing tag of the same name: a nested element or a
    // paragraph between the tags is no value.
    const line = XML_LINE.exec(inner);
    if (line && value.startsWith(`${name}>`, close + 2)) {
      const [, before = '', word = ''] = line;
      return { name, nameStart, value: word, valueStart: at + before.length, isQuoted: true };
    }
    return { name, nameStart, value: inner, valueStart: at, isQuoted: true };
  }
  if (text[at] === '\\' && /["']/.test(text[at + 1] ?? '')) at++;
  const quote = text[at];
  let value: string;
  let valueStart: number;
  if (quote === '"' || quote === "'" || quote === '`') {
    valueStart = at + 1;
    let end = valueStart;
    while (end < text.length && end - valueStart <= MAX_VALUE && text[end] !== quote && text[end] !== '\n')
      end++;
    count(end - valueStart + 1);
    if (text[end] !== quote) return undefined;
    // A JSON-in-a-string value ends at the escaped quote.
    if (text[end - 1] === '\\') end--;
    value = text.slice(valueStart, end);
    isQuoted = true;
  } else {
    valueStart = at;
    let end = unquotedEnd(valueStart);
    value = text.slice(valueStart, end);
    // A function call or member access is code: `token = getToken()`.
    if (text[end] === '(') return undefined;
    // `Authorization: Bearer abc…` unquoted: the credential is the next word.
    if (/^(?:Bearer|Basic|Token|bearer|token)$/.test(value) && /[ \t]/.test(text[end] ?? '')) {
      valueStart = end + 1;
      end = unquotedEnd(valueStart);
      value = text.slice(valueStart, end);
      isQuoted = true;
    }
    // YAML/env values often end a sentence-free line with a dot-less value; trim trailing dots.
    while (value.endsWith('.')) value = value.slice(0, -1);
  }
  const scheme = SCHEME.exec(value);
  if (scheme) {
    value = value.slice(scheme[0].length);
    valueStart += scheme[0].length;
  }
  return { name, nameStart, value, valueStart, isQuoted };
}

/**
 * The judge of one text's assignments: provider formats recognised by their name (AWS, Azure,
 * Twilio), then the generic rules (all low confidence: not run when `isHighOnly`). It returns
 * undefined when the assignment is not a secret, a placeholder included. The placeholder patterns
 * cost the most of the tests, so they run once, last.
 *
 * A text of assignments repeats its names, one every few characters (redteam-34-6: `token=`
 * repeated), and splitting each into words cost the most: nameKind() of the name judged last is
 * kept, for this text alone. Kept beyond it, the name (a slice of the text) would hold the whole
 * text, secrets and all, in memory until a later scan judged another name.
 */
export function assignmentJudge(): (a: Assignment, isHighOnly: boolean) => AssignmentHit | undefined {
  let last: { readonly name: string; readonly kind: NameKind } = { name: '', kind: undefined };
  return (a, isHighOnly) => {
    const span = { start: a.valueStart, end: a.valueStart + a.value.length };
    const provider = providerByName(a.value, a.name);
    if (provider !== undefined)
      return provider === 'none' || isPlaceholder(a.value) ? undefined : { ...provider, ...span };
    if (isHighOnly) return undefined;
    if (a.name !== last.name) last = { name: a.name, kind: nameKind(a.name) };
    const { kind } = last;
    if (kind === undefined || !isLikelySecretValue(a.value, kind, a.isQuoted)) return undefined;
    return kind === 'password'
      ? { rule: 'password-assignment', family: 'password', confidence: 'low', ...span }
      : { rule: 'generic-secret', family: 'generic', confidence: 'low', ...span };
  };
}

type ProviderHit = Pick<AssignmentHit, 'rule' | 'family' | 'confidence'>;

/** The words a provider's name holds, run together (a name's words joined are its letters and digits). */
const PROVIDER_NAME = /secretaccesskey|awssecret|azure|twilio|^arm/;

/**
 * The provider a value assigned to a name is a secret of, but for a placeholder; `none`: of that
 * provider's shape but not random enough; undefined: of none (the generic rules judge it). Most
 * names are of none: that costs one regex, not splitting the name into words.
 */
function providerByName(value: string, name: string): ProviderHit | 'none' | undefined {
  const joined = name.toLowerCase().replace(/[^a-z0-9]+/g, '');
  if (!PROVIDER_NAME.test(joined)) return undefined;
  const words = wordsOf(name);
  if (/secretaccesskey|awssecret/.test(joined) && /^[A-Za-z0-9/+]{40}$/.test(value))
    return shannonEntropy(value) < 4
      ? 'none'
      : { rule: 'aws-secret-access-key', family: 'aws', confidence: 'high' };
  if (words.includes('azure') || joined.startsWith('arm')) {
    if (/^[A-Za-z0-9+/]{86}==$/.test(value))
      return { rule: 'azure-storage-key', family: 'azure', confidence: 'high' };
    if (
      joined.includes('clientsecret') &&
      /^[A-Za-z0-9_~.-]{32,44}$/.test(value) &&
      shannonEntropy(value) >= 3.8
    )
      return { rule: 'azure-client-secret', family: 'azure', confidence: 'high' };
  }
  if (words.includes('twilio') && /^[0-9a-f]{32}$/.test(value) && shannonEntropy(value) >= 3)
    return { rule: 'twilio-auth-token', family: 'twilio', confidence: 'high' };
  return undefined;
}
