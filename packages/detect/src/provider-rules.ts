// Provider rules: credentials whose format announces itself with a literal prefix (ghp_, AKIA,
// xoxb-, sk-ant-api03-, -----BEGIN … PRIVATE KEY-----). Each rule names the anchors that start it;
// scan.ts finds every anchor of every rule in one pass and runs a rule's own (bounded, sticky)
// pattern only where its anchor occurs, so text without anchors costs one regex pass. A token
// glued to the word before it (`s__sk_live_…`, `token=abcghp_…`) counts only when the rule's
// `glued` test says it reads as a token, not as the tail of a word (`task_live_…`, `DISKAKIA…`).
// Formats are from each provider's documentation and the rule sets of gitleaks (MIT) and
// Nosey Parker (Apache-2.0), re-written here; no pattern has an unbounded nested quantifier.

import { hasValidChecksum } from './checksum.js';
import { shannonEntropy } from './entropy.js';
import type { Confidence } from './finding.js';
import { jwtMatcher, jwtVerdict } from './jwt.js';
import { pemMatcher, pemVerdict } from './pem.js';
import { isPlaceholder } from './placeholder.js';

/** What a rule's check concludes: a confidence, or a confidence under another rule's name. */
export type Verdict =
  Confidence | { readonly confidence: Confidence; readonly rule: string; readonly family: string };

export interface Candidate {
  readonly start: number;
  readonly end: number;
}

/** The secret's span if one starts where asked (undefined: no match there). */
export type Matcher = (at: number) => Candidate | undefined;

/**
 * What the matchers of one scan read from their anchors, in characters (ScanWork.read): counted
 * only where `read` is there to add to.
 */
export interface ReadWork {
  read?: number;
}

export interface ProviderRule {
  readonly id: string;
  readonly family: string;
  readonly description: string;
  /** Regex sources; a match of any of them starts a candidate. Literal anchors are escaped. */
  readonly anchors: readonly string[];
  /** How many characters of a match come before its anchor (0 for most rules). */
  readonly lead?: number;
  /**
   * The matcher for one text: a scan makes one per text and asks it where the rule's anchors
   * start, in order, so it may keep what it read for the anchors after (the JWT rule does). It
   * adds what it reads to `work`, if given.
   */
  readonly matcher: (text: string, work?: ReadWork) => Matcher;
  /** Judges the matched value (undefined: not a secret, e.g. a placeholder). */
  readonly check: (value: string, text: string, start: number) => Verdict | undefined;
  /**
   * A match whose first character follows a letter, digit or "_" is glued to a word: kept only at
   * high confidence and only when this says so, given the token's body (what follows the anchor)
   * and the character before it. `any`: what comes before does not matter (the anchor is inside
   * the format, as `://` is). Absent: never (the anchor must start a token).
   */
  readonly glued?: 'any' | ((body: string, before: string) => boolean);
  /**
   * The secret it finds has no format of its own (a database URL's password: any characters after
   * the user's name): a reading that keeps the characters a terminal hides does not run it
   * (scan.ts), as what a control sequence took would make a value of a placeholder
   * (`redis://:xx<ESC>[0mx@…`); a password a sequence cuts is still found as a terminal shows it.
   */
  readonly isFormatless?: boolean;
}

const escape = (literal: string): string => literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
const literals = (...words: string[]): string[] => words.map(escape);

/**
 * How far a pattern may read from where it is tried: its longest match and what its lookaheads
 * read past it (Infinity if unbounded). Counted as what the pattern read, for a test to hold a
 * scan's reading to a multiple of the text (redteam-34-6: the JWT pattern read 2,000 characters
 * at every anchor). Knows the syntax the rules use: escapes, classes, groups, `|`, quantifiers.
 */
function reachOf(source: string): number {
  let i = 0;
  const alternation = (): number => {
    let longest = sequence();
    while (source[i] === '|') {
      i++;
      longest = Math.max(longest, sequence());
    }
    return longest;
  };
  const sequence = (): number => {
    let total = 0;
    while (i < source.length && source[i] !== '|' && source[i] !== ')') total += times(atom());
    return total;
  };
  const atom = (): number => {
    const c = source[i++];
    if (c === '\\') i++;
    else if (c === '[') {
      while (source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      if (source[i] === '?') i += 2;
      const inner = alternation();
      i++;
      return inner;
    } else if (c === '^' || c === '$') return 0;
    return 1;
  };
  const times = (reach: number): number => {
    const bound = /^(?:\{(\d+)(,(\d*))?\}|[?*+])/.exec(source.slice(i));
    if (!bound) return reach;
    i += bound[0].length;
    if (bound[0] === '?') return reach;
    if (bound[0] === '*' || bound[0] === '+' || bound[3] === '') return reach === 0 ? 0 : Infinity;
    return reach * Number(bound[3] ?? bound[1]);
  };
  return alternation();
}

/** Adds what a pattern tried at `at` may read to `work`. */
function countReach(work: ReadWork | undefined, reach: number, text: string, at: number): void {
  if (work?.read !== undefined) work.read += Math.min(reach, text.length - at);
}

/** A matcher that reads from each anchor anew, `reach` characters at most. */
const anew =
  (match: (text: string, at: number) => Candidate | undefined, reach: number) =>
  (text: string, work?: ReadWork): Matcher =>
  (at) => {
    countReach(work, reach, text, at);
    return match(text, at);
  };

/**
 * A matcher from a sticky regex tried at the anchor; `group` selects the secret's part. `run`: every
 * match is one run of these characters (a regex class's inside) to the run's end (the pattern ends
 * by looking for none of them), at most `longest` long. Anchors stand inside such runs
 * (`sk-sk-sk-…`), and the pattern read up to its bound and back from each (redteam-34-6): the run's
 * end is found once for the anchors in it, and the pattern runs only where the run is short enough
 * to hold a match, and then reads to the run's end once, without backtracking.
 */
function sticky(source: string, options: { group?: number; run?: { chars: string; longest: number } } = {}) {
  const re = new RegExp(source, 'y');
  const group = options.group ?? 0;
  const match = (text: string, at: number): Candidate | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return undefined;
    if (group === 0) return { start: at, end: at + m[0].length };
    const value = m[group];
    if (value === undefined) return undefined;
    const end = at + m[0].length;
    // The group ends the match in every rule that uses one.
    return { start: end - value.length, end };
  };
  const reach = reachOf(source);
  const { run } = options;
  if (run === undefined) return anew(match, reach);
  const outside = new RegExp(`[^${run.chars}]`, 'g');
  return (text: string, work?: ReadWork): Matcher => {
    // The run [from, end) last found.
    let from = 0;
    let end = 0;
    return (at) => {
      if (at < from || at >= end) {
        outside.lastIndex = at;
        from = at;
        end = outside.test(text) ? outside.lastIndex - 1 : text.length;
        if (work?.read !== undefined) work.read += end - at + 1;
      }
      if (end - at > run.longest) return undefined;
      countReach(work, reach, text, at);
      return match(text, at);
    };
  };
}

/**
 * Glued tokens a check validates on its own (a checksum, a PEM body, a JWT header that decodes to
 * JSON with "alg", an exact-length key after a connection-string key): no word ends in one.
 */
const validated = (): boolean => true;

/**
 * How much of a token's body is words: the share of it in runs of four or more lower-case letters
 * (`WebhookEventHandlerV3`: 76%; random base62 of 24 characters: under 40% in 97 cases of 100).
 */
function wordShare(body: string): number {
  let inWords = 0;
  for (const m of body.matchAll(/[a-z]{4,}/g)) inWords += m[0].length;
  return inWords / body.length;
}

/**
 * A glued token's body that reads as random, not as words: a digit, both cases, and under 40% of
 * it in words. Identifiers fail it (`task_live_` + `WebhookEventHandlerV3`); of random base62
 * bodies 94% of 20 characters pass, 97% of 24, all of 99.
 */
export function looksRandom(body: string): boolean {
  return /\d/.test(body) && hasMixedCase(body) && wordShare(body) < 0.4;
}

const random = (body: string): boolean => looksRandom(body);

const high = (value: string, bodyFrom = 0): Verdict | undefined =>
  isPlaceholder(value.slice(bodyFrom)) ? undefined : 'high';

/** Checksum-validated tokens: high with a right checksum, low with a wrong one. */
const checksummed = (prefixLength: number) => (value: string) =>
  isPlaceholder(value.slice(prefixLength))
    ? undefined
    : hasValidChecksum(value, prefixLength)
      ? 'high'
      : 'low';

function hasMixedCase(value: string): boolean {
  return /[a-z]/.test(value) && /[A-Z]/.test(value);
}

function lookBack(text: string, start: number, chars: number): string {
  return text.slice(Math.max(0, start - chars), start).toLowerCase();
}

// Database passwords that are defaults everywhere: still reported, with low confidence.
const DEFAULT_PASSWORDS = new Set([
  'password',
  'pass',
  'postgres',
  'root',
  'admin',
  'secret',
  'guest',
  'test',
  'mysql',
  'redis',
  'user',
  'changeme',
]);

const DATABASE_SCHEMES = new Set([
  'postgres',
  'postgresql',
  'mysql',
  'mariadb',
  'mongodb',
  'mongodb+srv',
  'redis',
  'rediss',
  'amqp',
  'amqps',
  'mssql',
  'sqlserver',
]);
// After "://": user, ":", password (the group), then "@" and a host character.
const DATABASE_AUTHORITY = /:\/\/[^:@/\s'"`]{0,128}:([^@/\s'"`]{1,256})(?=@[A-Za-z0-9.\-_[\]])/y;

/** The scheme read back (12 characters at most) and the authority's pattern. */
const DATABASE_REACH = 12 + reachOf(DATABASE_AUTHORITY.source);

function matchDatabaseUrl(text: string, at: number): Candidate | undefined {
  let schemeStart = at;
  while (schemeStart > 0 && at - schemeStart < 12 && /[a-z+]/.test(text[schemeStart - 1] ?? ''))
    schemeStart--;
  if (!DATABASE_SCHEMES.has(text.slice(schemeStart, at))) return undefined;
  DATABASE_AUTHORITY.lastIndex = at;
  const m = DATABASE_AUTHORITY.exec(text);
  const password = m?.[1];
  if (!m || password === undefined) return undefined;
  const end = at + m[0].length;
  return { start: end - password.length, end };
}

function databaseVerdict(value: string): Verdict | undefined {
  if (isPlaceholder(value) || /^[:$%<{[]/.test(value)) return undefined;
  return DEFAULT_PASSWORDS.has(value.toLowerCase()) || value.length < 4 ? 'low' : 'high';
}

export const PROVIDER_RULES: readonly ProviderRule[] = [
  {
    id: 'private-key',
    family: 'private_key',
    description: 'PEM private keys: RSA, EC, DSA, OpenSSH, PKCS#8, encrypted PKCS#8, PGP',
    anchors: literals('-----BEGIN'),
    matcher: pemMatcher,
    check: pemVerdict,
    glued: validated,
  },
  {
    id: 'aws-access-key-id',
    family: 'aws',
    description: 'AWS access key ids (AKIA long-term, ASIA temporary, ABIA, ACCA)',
    anchors: literals('AKIA', 'ASIA', 'ABIA', 'ACCA'),
    matcher: sticky('A(?:KIA|SIA|BIA|CCA)[A-Z2-7]{16}(?![A-Za-z0-9])'),
    check: (v) => high(v),
    // Not inside a run of the key's own alphabet (a base32 blob, "DISKAKIA…"), and with a digit:
    // key ids are random base32, words are not.
    glued: (body, before) => !/[A-Z2-7]/.test(before) && /[2-7]/.test(body),
  },
  {
    id: 'gcp-api-key',
    family: 'gcp',
    description: 'Google Cloud API keys (AIza…)',
    anchors: literals('AIza'),
    matcher: sticky('AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])'),
    check: (v) => high(v, 4),
    glued: random,
  },
  {
    id: 'gcp-oauth-client-secret',
    family: 'gcp',
    description: 'Google OAuth client secrets (GOCSPX-…)',
    anchors: literals('GOCSPX-'),
    matcher: sticky('GOCSPX-[0-9A-Za-z_-]{28}(?![0-9A-Za-z_-])'),
    check: (v) => high(v, 7),
    glued: random,
  },
  {
    id: 'azure-storage-key',
    family: 'azure',
    description:
      'Azure storage account keys and Service Bus / Event Hubs shared access keys in connection strings (AccountKey=, SharedAccessKey=), or assigned to a name containing "azure"',
    anchors: literals('AccountKey=', 'SharedAccessKey='),
    matcher: sticky(
      '(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{86}==|[A-Za-z0-9+/]{43}=)(?![A-Za-z0-9+/=])',
      {
        group: 1,
      },
    ),
    check: (v) => high(v),
    glued: validated,
  },
  {
    id: 'azure-client-secret',
    family: 'azure',
    description:
      'Microsoft Entra ID (Azure AD) client secrets (…Q~…), or assigned to a name such as AZURE_CLIENT_SECRET',
    // The anchor is the "Q~" four characters in; the match starts that far before it.
    anchors: literals('Q~'),
    lead: 4,
    matcher: sticky('[a-zA-Z0-9_~.]{3}\\dQ~[a-zA-Z0-9_~.-]{31,34}(?![a-zA-Z0-9_~.-])'),
    check: (v) => (isPlaceholder(v) || shannonEntropy(v) < 3.5 ? undefined : 'high'),
  },
  {
    id: 'github-token',
    family: 'github',
    description:
      'GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens (ghp_, gho_, ghu_, ghs_, ghr_), CRC32-checked',
    anchors: literals('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'),
    matcher: sticky('gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])'),
    check: checksummed(4),
    glued: validated,
  },
  {
    id: 'github-fine-grained-token',
    family: 'github',
    description: 'GitHub fine-grained personal access tokens (github_pat_…)',
    anchors: literals('github_pat_'),
    matcher: sticky('github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])'),
    check: (v) => high(v, 11),
    glued: random,
  },
  {
    id: 'gitlab-token',
    family: 'gitlab',
    description:
      'GitLab personal, deploy, runner, pipeline-trigger and CI job tokens (glpat-, gldt-, glrt-, glptt-, glcbt-)',
    anchors: literals('glpat-', 'gldt-', 'glrt-', 'glptt-', 'glcbt-', 'glft-', 'glsoat-'),
    matcher: sticky(
      'gl(?:pat|dt|rt|ptt|cbt|ft|soat)-[A-Za-z0-9_-]{20}(?:[A-Za-z0-9_.-]{0,80}[A-Za-z0-9_-])?(?![A-Za-z0-9_-])',
    ),
    check: (v) => high(v, v.indexOf('-') + 1),
    glued: random,
  },
  {
    id: 'slack-token',
    family: 'slack',
    description:
      'Slack bot, user, app, refresh and configuration tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-)',
    anchors: ['xox[abeoprs]-', 'xoxe\\.xox[bp]-', escape('xapp-')],
    matcher: sticky(
      '(?:xoxe\\.)?xox[abeoprs]-\\d{1,16}(?:-[0-9A-Za-z]{1,160}){1,4}(?![0-9A-Za-z-])|xapp-\\d-[A-Z0-9]{6,16}-\\d{6,16}-[a-f0-9]{32,80}(?![0-9A-Za-z-])',
    ),
    check: (v) => (v.length < 24 || isPlaceholder(v.slice(5)) ? undefined : 'high'),
    glued: random,
  },
  {
    id: 'slack-webhook',
    family: 'slack',
    description: 'Slack incoming-webhook and workflow URLs (hooks.slack.com/services/…)',
    anchors: literals('hooks.slack.com/'),
    matcher: sticky(
      'hooks\\.slack\\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/[A-Z0-9]{6,12}/(?:\\d{6,24}/)?[A-Za-z0-9]{20,40}(?![A-Za-z0-9])',
    ),
    check: (v) => high(v, v.lastIndexOf('/') + 1),
    // A URL's host: whatever comes before it, the path's shape says what it is.
    glued: 'any',
  },
  {
    id: 'stripe-key',
    family: 'stripe',
    description:
      'Stripe secret and restricted keys (sk_live_, rk_live_, sk_test_, rk_test_) and webhook secrets (whsec_)',
    anchors: literals('sk_live_', 'rk_live_', 'sk_test_', 'rk_test_', 'whsec_'),
    matcher: sticky('(?:[sr]k_(?:live|test)_[0-9A-Za-z]{20,247}|whsec_[A-Za-z0-9+/=]{32,88})(?![0-9A-Za-z])'),
    check: (v) => high(v, v.startsWith('whsec_') ? 6 : 8),
    // "task_live_", "disk_test_": words end in these anchors, so the body must read as random.
    glued: random,
  },
  {
    id: 'anthropic-api-key',
    family: 'anthropic',
    description: 'Anthropic API and admin keys (sk-ant-api03-…, sk-ant-admin01-…)',
    anchors: literals('sk-ant-'),
    matcher: sticky('sk-ant-(?:api|admin|oat|ort)\\d{2}-[A-Za-z0-9_-]{80,120}(?![A-Za-z0-9_-])', {
      run: { chars: 'A-Za-z0-9_-', longest: 'sk-ant-admin00-'.length + 120 },
    }),
    check: (v) => high(v, 13),
    glued: random,
  },
  {
    id: 'openai-api-key',
    family: 'openai',
    description:
      'OpenAI API keys (sk-proj-, sk-svcacct-, sk-admin-, and legacy sk- keys with the T3BlbkFJ marker)',
    anchors: literals('sk-'),
    matcher: sticky('sk-(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_-]{20,250}(?![A-Za-z0-9_-])', {
      run: { chars: 'A-Za-z0-9_-', longest: 'sk-svcacct-'.length + 250 },
    }),
    check: (v) => {
      if (v.startsWith('sk-ant-')) return undefined;
      // "T3BlbkFJ" is base64 of "OpenAI": every OpenAI key carries it. The placeholder patterns
      // last: each `sk-` in a run of them is a candidate, and most are no key anyway.
      const isKey =
        v.includes('T3BlbkFJ') ||
        (/^sk-(?:proj|svcacct|admin)-/.test(v) && v.length >= 48 && shannonEntropy(v) >= 4);
      return isKey && !isPlaceholder(v.slice(3)) ? 'high' : undefined;
    },
    // "desk-", "task-proj-…": kebab-case words end in "sk-".
    glued: random,
  },
  {
    id: 'huggingface-token',
    family: 'huggingface',
    description: 'Hugging Face user and organisation tokens (hf_…, api_org_…)',
    anchors: literals('hf_', 'api_org_'),
    matcher: sticky('(?:hf|api_org)_[A-Za-z0-9]{34}(?![A-Za-z0-9_])'),
    check: (v) => {
      const body = v.slice(v.indexOf('_', 3) + 1);
      return !isPlaceholder(body) && hasMixedCase(body) && shannonEntropy(body) >= 3.5 ? 'high' : undefined;
    },
    // Letters only, by format: no digit to ask for (96% of random bodies pass).
    glued: (body) => hasMixedCase(body) && wordShare(body) < 0.4,
  },
  {
    id: 'npm-token',
    family: 'npm',
    description: 'npm access tokens (npm_…), CRC32-checked',
    anchors: literals('npm_'),
    matcher: sticky('npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])'),
    check: checksummed(4),
    glued: validated,
  },
  {
    id: 'pypi-token',
    family: 'pypi',
    description: 'PyPI and TestPyPI upload tokens (pypi-AgEIcHlwaS5vcmc…, pypi-AgENdGVzdC5weXBpLm9yZw…)',
    anchors: literals('pypi-AgE'),
    matcher: sticky('pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}(?![A-Za-z0-9_-])', {
      run: { chars: 'A-Za-z0-9_-', longest: 'pypi-AgENdGVzdC5weXBpLm9yZw'.length + 1000 },
    }),
    check: (v) => high(v, 24),
    glued: random,
  },
  {
    id: 'twilio-api-key',
    family: 'twilio',
    description: 'Twilio API key SIDs (SK + 32 hex) and, next to the word Twilio, account SIDs (AC + 32 hex)',
    anchors: ['SK[0-9a-fA-F]{32}', 'AC[0-9a-f]{32}'],
    matcher: sticky('(?:SK[0-9a-fA-F]{32}|AC[0-9a-f]{32})(?![0-9A-Za-z])'),
    check: (v, text, start) => {
      if (isPlaceholder(v.slice(2)) || shannonEntropy(v.slice(2)) < 3) return undefined;
      if (v.startsWith('SK')) return 'high';
      // An account SID is an identifier, not a credential: only reported next to "twilio".
      return lookBack(text, start, 160).includes('twilio') ? 'low' : undefined;
    },
  },
  {
    id: 'sendgrid-api-key',
    family: 'sendgrid',
    description: 'SendGrid API keys (SG.xxx.yyy)',
    anchors: literals('SG.'),
    matcher: sticky('SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])'),
    check: (v) => high(v, 3),
    glued: random,
  },
  {
    id: 'jwt',
    family: 'jwt',
    description:
      'JSON Web Tokens whose header decodes to JSON with "alg" (unsigned ones with low confidence)',
    anchors: literals('eyJ'),
    // What /eyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}(?![A-Za-z0-9_-])/
    // matches with a header that is JSON, read once per run of base64url (jwt.ts; redteam-34-6).
    matcher: jwtMatcher,
    check: jwtVerdict,
    glued: validated,
  },
  {
    id: 'database-url',
    family: 'database',
    description:
      'Database and broker URLs with a password (postgres, mysql, mariadb, mongodb(+srv), redis, amqp, mssql); the password is the finding',
    // One anchor for every scheme: "://" is cheap to find, and the scheme is read backwards.
    anchors: literals('://'),
    matcher: anew(matchDatabaseUrl, DATABASE_REACH),
    check: databaseVerdict,
    // The anchor always follows its scheme's letters: matchDatabaseUrl reads them.
    glued: 'any',
    isFormatless: true,
  },
];

/** An anchor's first character as its regex source writes it: a literal, or one escaped. */
export const firstOf = (anchor: string): string =>
  anchor.startsWith('\\') ? anchor.slice(0, 2) : (anchor[0] ?? '');

/**
 * Where a provider's token may start: every rule's anchors as one alternation, factored by first
 * character (`g(?:hp_|ho_|…)`): V8's regex engine scans a factored alternation about half again
 * as fast as a flat one.
 */
export const ANCHOR_SOURCE = (() => {
  const byFirst = new Map<string, string[]>();
  for (const anchor of PROVIDER_RULES.flatMap((r) => r.anchors)) {
    const first = firstOf(anchor);
    byFirst.set(first, [...(byFirst.get(first) ?? []), anchor.slice(first.length)]);
  }
  return [...byFirst].map(([first, rests]) => `${first}(?:${rests.join('|')})`).join('|');
})();
