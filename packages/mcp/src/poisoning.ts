// Tool-poisoning scan of one MCP definition (a tool, prompt, resource or resource template), run by
// the gateway on every list before the definition reaches an agent: research mcp-gateways.md §5,
// threat 1 (instructions hidden in descriptions, schema descriptions, enums, defaults) and threat 3
// (a server's text steering the agent toward another server's tools). The same heuristics, fewer
// of them, look at results (threat 4, prompt injection in what a tool returns): scanResult.
// Pure: it reads the JSON it is given and returns findings as data. It never does I/O and never
// decides; the gateway turns findings into a quarantine, an audit event and an admin review.
// Heuristics, tuned so that the real reference servers raise nothing (test/poisoning.test.ts).

import { COMBINING_MARK, MAX_MARK_RUN } from '@perimeter/policy';

export type PoisoningKind =
  | 'hidden-unicode'
  | 'instruction-tag'
  | 'file-access'
  | 'exfiltration'
  | 'concealment'
  | 'cross-server-reference'
  | 'oversized';

export interface PoisoningFinding {
  readonly kind: PoisoningKind;
  /**
   * Where in the definition: 'description', 'title', 'inputSchema.properties.note.description',
   * 'inputSchema.properties.mode.enum[2]', …; a property name is found at the path it names; '' is
   * a definition that is itself a string.
   */
  readonly where: string;
  /**
   * A short excerpt (≤ 80 chars) around the hit, with invisible characters shown as \u{…} escapes,
   * so it is safe to print and to put in an audit event. For 'oversized', the bound that was hit.
   */
  readonly excerpt: string;
}

export interface OtherTools {
  /**
   * Tools of other servers that a description must not talk about: exposed names (`server__tool`)
   * and plain tool names. Read once per Set object (the scan keeps what it compiles from it), so a
   * Set must not change once passed: the gateway makes a new one when the names change.
   */
  readonly names: ReadonlySet<string>;
}

// A malicious server controls the size of what it lists; past these bounds the scan stops, and the
// size itself is a finding. No real definition comes near them: 200,000 characters are some 50,000
// tokens of an agent's context. They also bound the scan's time, so characters are counted after
// NFKC, which can expand one 18-fold.
const MAX_DEPTH = 32;
const MAX_STRINGS = 20_000;
const MAX_CHARS = 200_000;
// Counts every value visited, so that an in-process object sharing sub-objects cannot blow up.
const MAX_VALUES = 100_000;

const EXCERPT_MAX = 80;
const EXCERPT_LEAD = 20;
const KEY_MAX = 32;

// Text pushed out of view: clients show the first lines of a description, or one line of it.
const PADDING_CHARS = 64;
const PADDING_LINES = 5;

/**
 * Scans every string of `definition` (values and property names, at any depth) and returns one
 * finding per kind and place. Pass the tools of the other upstream servers as `others` to find
 * cross-server references; a server's own tools are not "others".
 */
export function scanDefinition(definition: unknown, others?: OtherTools): PoisoningFinding[] {
  const mentions = others === undefined ? undefined : mentionFinder(others.names);
  const { strings, overflow } = collectStrings(definition);
  const findings = strings.flatMap((found) => scanString(found, mentions));
  return overflow === undefined ? findings : [...findings, overflow];
}

function scanString(found: FoundString, mentions: MentionFinder | undefined): PoisoningFinding[] {
  const { where, text, visible } = found;
  const flat = collapseWhitespace(visible);
  // The gateway namespaces tool names, so a plain name shared with another server is a collision
  // handled there (and common: two servers with `create_issue`), not a description talking about it.
  const isOwnName = where === 'name';
  const mention = mentions === undefined || isOwnName ? undefined : mentions(flat);
  const hits: readonly (readonly [PoisoningKind, string | undefined])[] = [
    ['hidden-unicode', hiddenCharacter(text)],
    ['instruction-tag', earliest(INSTRUCTION_TAGS, flat)],
    ['file-access', earliest(SENSITIVE_FILES, flat)],
    ['exfiltration', exfiltration(visible)],
    ['concealment', padding(text) ?? earliest(CONCEALMENT, flat)],
    ['cross-server-reference', mention === undefined ? undefined : excerpt(flat, mention)],
  ];
  return hits.flatMap(([kind, excerpt]) => (excerpt === undefined ? [] : [{ kind, where, excerpt }]));
}

// ---------------------------------------------------------------------------------------------
// Results (threat 4): what a tool, prompt or resource returns

/**
 * What of a result reads as instructions to the agent. A result is data: file listings name
 * `.ssh`, READMEs ask for API keys in headers, so only what has no place in data is looked for —
 * hidden characters, instruction tags and turn markers, orders to set instructions aside or to
 * keep the user in the dark. `unscanned`: a part nested too deep to look at.
 */
export type InjectionKind = 'hidden-unicode' | 'instruction-tag' | 'concealment' | 'unscanned';

export interface InjectionFinding {
  readonly kind: InjectionKind;
  /** Where in the result: `content[0].text`, `structuredContent.items[3].note`, `messages[1].content.text`. */
  readonly where: string;
}

export interface ResultScan {
  /** One finding per kind and place. */
  readonly findings: readonly InjectionFinding[];
  /** The result with its hidden characters removed: the value itself when it has none. */
  readonly stripped: unknown;
}

const RESULT_MAX_DEPTH = 64;
// Padding, if any, then only line breaks. Written so that no two parts can take the same line
// break: /^[…\r\n]*={0,2}[\r\n]*$/ tried every split of a run of them, and a blob of 40,000
// line breaks and one other character took 4 s (redteam-34-2).
const BASE64 = /^[A-Za-z0-9+/\r\n]*(?:={1,2}[\r\n]*)?$/;
/**
 * Text a model never reads: base64 image and audio data, a binary resource's blob. Only where the
 * protocol puts them (a blob beside its resource's `uri`, data in an image or audio block), and
 * only base64: any other `blob` or `data` key, in structured content say, is text like the rest.
 */
const isBinaryMember = (parent: Record<string, unknown>, key: string, value: unknown): boolean =>
  (key === 'blob'
    ? typeof parent.uri === 'string'
    : key === 'data' && (parent.type === 'image' || parent.type === 'audio')) &&
  typeof value === 'string' &&
  BASE64.test(value);
/** Nothing hides in printable ASCII and line breaks: most results skip the Unicode work. */
const PLAIN = /^[\x20-\x7E\t\n\r]*$/;

/**
 * Scans every string of a result (values and property names, at any depth) but binary data, and
 * strips what a person cannot see from a copy. Strings of plain ASCII cost one test and the
 * pattern searches. `hiddenOnly` looks for hidden characters alone, skipping the searches for
 * instructions: for arguments, which are stripped for the secret scan but not screened.
 */
export function scanResult(result: unknown, { hiddenOnly = false } = {}): ResultScan {
  const findings: InjectionFinding[] = [];
  // A property name and its value are found at one path: each kind once per place.
  const reported = new Set<string>();
  const found = (kind: InjectionKind, where: string): void => {
    const key = `${kind}\u0000${where}`;
    if (reported.has(key)) return;
    reported.add(key);
    findings.push({ kind, where });
  };
  const text = (value: string, where: string): string => {
    const isPlain = PLAIN.test(value);
    const hidden = isPlain ? undefined : hiddenCharacter(value);
    if (hidden !== undefined) found('hidden-unicode', where);
    if (hiddenOnly) return hidden === undefined ? value : withoutHidden(value);
    const flat = collapseWhitespace(isPlain ? value : visibleText(value));
    if (earliestIndex(INSTRUCTION_TAGS, flat) !== undefined) found('instruction-tag', where);
    if (earliestIndex(CONCEALMENT, flat) !== undefined) found('concealment', where);
    return hidden === undefined ? value : withoutHidden(value);
  };
  const visit = (value: unknown, where: string, depth: number): unknown => {
    if (typeof value === 'string') return text(value, where);
    if (typeof value !== 'object' || value === null) return value;
    if (depth === RESULT_MAX_DEPTH) {
      found('unscanned', where);
      return value;
    }
    if (Array.isArray(value)) {
      const items = value as readonly unknown[];
      const seen = items.map((item, i) => visit(item, `${where}[${i}]`, depth + 1));
      return seen.some((item, i) => item !== items[i]) ? seen : value;
    }
    const source = value as Record<string, unknown>;
    let isChanged = false;
    const members = Object.entries(source).map(([key, item]): [string, unknown] => {
      const path = childPath(where, key);
      const stripped = text(key, path);
      const seen = isBinaryMember(source, key, item) ? item : visit(item, path, depth + 1);
      // A key that strips to another key of the object keeps its characters (still a finding).
      const shown = stripped !== key && Object.hasOwn(source, stripped) ? key : stripped;
      isChanged ||= shown !== key || seen !== item;
      return [shown, seen];
    });
    // fromEntries makes every member its own property, "__proto__" (JSON.parse's) included.
    return isChanged ? Object.fromEntries(members) : value;
  };
  const stripped = visit(result, '', 0);
  return { findings, stripped };
}

/**
 * The text without the characters hiddenCharacter would point at (ordinary ones stay): what a
 * person sees of it is what a model reads.
 */
export function withoutHidden(text: string): string {
  return text.replace(INVISIBLE, (char, index: number) => (isOrdinary(text, index) ? char : ''));
}

// ---------------------------------------------------------------------------------------------
// Walking the definition

/** A string of the definition, as sent and as a model reads it (see visibleText). */
interface FoundString {
  readonly where: string;
  readonly text: string;
  readonly visible: string;
}

interface Collected {
  readonly strings: readonly FoundString[];
  readonly overflow: PoisoningFinding | undefined;
}

function collectStrings(definition: unknown): Collected {
  const strings: FoundString[] = [];
  let chars = 0;
  let values = 0;
  let overflow: PoisoningFinding | undefined;
  const tooBig = (where: string, bound: string): void => {
    overflow = { kind: 'oversized', where, excerpt: bound };
  };
  const addString = (where: string, text: string): void => {
    const visible = visibleText(text);
    chars += Math.max(text.length, visible.length);
    if (strings.length === MAX_STRINGS) tooBig(where, `more than ${MAX_STRINGS} strings`);
    else if (chars > MAX_CHARS) tooBig(where, `more than ${MAX_CHARS} characters of text`);
    else strings.push({ where, text, visible });
  };
  const visit = (value: unknown, where: string, depth: number): void => {
    if (overflow !== undefined) return;
    if (++values > MAX_VALUES) return tooBig(where, `more than ${MAX_VALUES} values`);
    if (typeof value === 'string') return addString(where, value);
    if (typeof value !== 'object' || value === null) return;
    if (depth === MAX_DEPTH) return tooBig(where, `nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) {
      value.forEach((item: unknown, i) => visit(item, `${where}[${i}]`, depth + 1));
      return;
    }
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const path = childPath(where, key);
      addString(path, key);
      visit(item, path, depth + 1);
    }
  };
  visit(definition, '', 0);
  return { strings, overflow };
}

const IDENTIFIER = new RegExp(`^[A-Za-z_$][\\w$-]{0,${KEY_MAX - 1}}$`);

/**
 * `a.b` for plain keys; `a['odd key']`, escaped and clipped to `limit` characters, for the rest
 * (paths go into audit events and `pins list`'s diff lines: no control character gets through).
 */
export function childPath(parent: string, key: string, limit = KEY_MAX): string {
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  const shown = clip(
    displayTokens(key).map((token) => (token === "'" ? "\\'" : token)),
    limit,
  );
  return `${parent}['${shown}']`;
}

// ---------------------------------------------------------------------------------------------
// Hidden Unicode: what a person reviewing a description cannot see, but a model reads

// Candidates: format characters (zero-width, bidi controls, tags, …), control characters (ANSI
// escapes start with ESC), Hangul fillers and the grapheme joiner (blank letters), variation
// selectors (the "emoji smuggling" encoding). Whether a candidate is ordinary depends on context.
// (Selectors come first in the class: after a character, lint would read them as one glyph.)
const INVISIBLE = /[\uFE00-\uFE0F\p{Cf}\u{E0100}-\u{E01EF}\p{Cc}\u034F\u115F\u1160\u3164\uFFA0]/gu;
// Tabs and line breaks; the soft hyphen (a visible hyphen at a line break); Arabic number signs,
// which are format characters drawn above the digits they precede.
const ORDINARY = /^[\t\n\r\u00AD\u0600-\u0605\u06DD\u070F\u0890\u0891\u08E2\u{110BD}\u{110CD}]$/u;
const ZWNJ = '\u200C';
const ZWJ = '\u200D';
const EMOJI = /^\p{Extended_Pictographic}$/u;
const EMOJI_MODIFIER = /^\p{Emoji_Modifier}$/u;
const EMOJI_PRESENTATION = '\uFE0F';
const NON_LATIN_LETTER = /^(?!\p{Script=Latin})[\p{L}\p{M}]$/u;
const VARIATION_SELECTOR = /^[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]$/u;
// ASCII smuggling: the tag block mirrors printable ASCII (U+E0041 is an invisible "A") and models read it.
const TAG_TEXT = /[\u{E0020}-\u{E007E}]/gu;
const TAG_OFFSET = 0xe0000;

function hiddenCharacter(text: string): string | undefined {
  for (const match of text.matchAll(INVISIBLE)) {
    if (!isOrdinary(text, match.index)) return excerpt(text, match.index);
  }
  return undefined;
}

function isOrdinary(text: string, index: number): boolean {
  const char = charAt(text, index);
  if (ORDINARY.test(char)) return true;
  if (isTag(char.codePointAt(0) ?? 0)) return isInFlagSequence(text, index);
  const before = charBefore(text, index);
  const after = charAt(text, index + char.length);
  // A joiner between emoji builds one emoji (woman, ZWJ, laptop: the technologist emoji).
  if (char === ZWJ && isEmojiEnd(before) && EMOJI.test(after)) return true;
  // Persian, Indic and other scripts need the joiners inside words (in Indic, after a virama mark).
  if ((char === ZWJ || char === ZWNJ) && NON_LATIN_LETTER.test(before) && NON_LATIN_LETTER.test(after))
    return true;
  // One selector picks a glyph (❤️, CJK variants); a run of them is a payload encoded in selectors.
  return VARIATION_SELECTOR.test(char) && before.trim() !== '' && !VARIATION_SELECTOR.test(before);
}

const isTag = (code: number): boolean => code >= 0xe0020 && code <= 0xe007f;
const isCodeTag = (code: number): boolean =>
  (code >= 0xe0030 && code <= 0xe0039) || (code >= 0xe0061 && code <= 0xe007a);
const BLACK_FLAG = 0x1f3f4;
const CANCEL_TAG = 0xe007f;
const FLAG_CODE_MAX = 7;

/**
 * Whether the tag character at `index` belongs to a flag of a region (Unicode's emoji tag
 * sequence: the black flag, a subdivision code of two to seven tag digits and small letters, the
 * cancel tag: 🏴 g b s c t ⌫ is Scotland's). Any other tag is ASCII smuggling.
 * redteam-34-2: it reads at most a flag's length of tags on either side, so each tag costs the
 * same; walking back to the start of the run made a run of a million tags cost some 50 minutes.
 */
function isInFlagSequence(text: string, index: number): boolean {
  // The cancel tag is at most FLAG_CODE_MAX tags after a flag's first: when the run goes back
  // further, the tag at `index` is in no flag, and the check below meets a tag where the flag is.
  let start = index;
  for (let back = 0; back < FLAG_CODE_MAX && isTag(text.codePointAt(start - 2) ?? 0); back++) start -= 2;
  if (start < 2 || text.codePointAt(start - 2) !== BLACK_FLAG) return false;
  let length = 0;
  while (length <= FLAG_CODE_MAX && isCodeTag(text.codePointAt(start + 2 * length) ?? 0)) length++;
  const end = start + 2 * length;
  return text.codePointAt(end) === CANCEL_TAG && length >= 2 && length <= FLAG_CODE_MAX && index <= end;
}

function isEmojiEnd(char: string): boolean {
  return EMOJI.test(char) || EMOJI_MODIFIER.test(char) || char === EMOJI_PRESENTATION;
}

function charAt(text: string, index: number): string {
  const code = text.codePointAt(index);
  return code === undefined ? '' : String.fromCodePoint(code);
}

function charBefore(text: string, index: number): string {
  const pair = index >= 2 ? text.codePointAt(index - 2) : undefined;
  return pair !== undefined && pair > 0xffff
    ? String.fromCodePoint(pair)
    : text.slice(Math.max(0, index - 1), index);
}

// redteam-34-2: normalizing puts a run of combining marks in order by insertion, so a long run costs
// its square (160,000 marks, 12 s). Unicode's stream-safe format (UAX #15 §13) breaks a run after
// MAX_MARK_RUN marks with a grapheme joiner, which stops the reordering; the joiners go again after
// (the text had none left, and no character normalizes to one).
const MARK_RUN = new RegExp(`${COMBINING_MARK}{${MAX_MARK_RUN}}(?=${COMBINING_MARK})`, 'gu');
const GRAPHEME_JOINER = '\u034F';

/**
 * The text as a model reads it: tag characters decoded to the ASCII they carry, invisible characters
 * dropped (so that `I\u200BMPORTANT` still reads IMPORTANT), compatibility forms folded (fullwidth
 * `＜ＩＭＰＯＲＴＡＮＴ＞`, mathematical bold letters).
 */
function visibleText(text: string): string {
  return text
    .replace(TAG_TEXT, (tag) => String.fromCodePoint(tag.codePointAt(0)! - TAG_OFFSET))
    .replace(INVISIBLE, (char) => (LINE_SPACE.test(char) ? char : ''))
    .replace(MARK_RUN, `$&${GRAPHEME_JOINER}`)
    .normalize('NFKC')
    .replaceAll(GRAPHEME_JOINER, '');
}

/**
 * Every run of white space as one space. A lone space is left where it is (not replaced by
 * itself): prose is mostly lone spaces, and replacing each made this the scan's costliest step.
 */
function collapseWhitespace(text: string): string {
  return text.replace(/(?! (?!\s))\s+/g, ' ');
}

/** A long run of blank lines or spaces with more text after it: the rest is out of the reviewer's view. */
function padding(text: string): string | undefined {
  for (const run of text.matchAll(/\s+/g)) {
    const end = run.index + run[0].length;
    const lines = run[0].length - run[0].replaceAll('\n', '').length;
    const isHiding = end < text.length && (run[0].length >= PADDING_CHARS || lines >= PADDING_LINES);
    if (isHiding) return excerpt(text, end);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Text patterns, matched on the visible text with whitespace collapsed

const INSTRUCTION_TAGS: readonly RegExp[] = [
  // Pseudo-XML addressed to the model, as in Invariant Labs' advisory (<IMPORTANT>…</IMPORTANT>).
  // Placeholder-like names (<path>, <token>, <context>) are left out: descriptions use them legitimately.
  /<\s*\/?\s*(?:important|system|system[_ -]?prompt|instructions?|hidden|sudo|critical|urgent|override|assistant|ai|mandatory)\b[^<>]{0,80}>/i,
  // Chat-template turn markers, which try to open a new system or user turn.
  /\[\/?(?:INST|SYS|SYSTEM)\]|<<\/?SYS>>|<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|<\/?(?:start|end)_of_turn>/i,
  // Text a rendered view hides: HTML comments, markdown comment links, CSS-hidden elements.
  /<!--/,
  /\[(?:\/\/|comment)\]:\s?[#<(]/i,
  /<[a-z][\w-]{0,20}\s[^<>]{0,200}?\b(?:hidden\b|display\s?:\s?none|visibility\s?:\s?hidden|font-size\s?:\s?0)/i,
];

const SENSITIVE_FILES: readonly RegExp[] = [
  /(?<![\w-])\.ssh\b/i,
  /\bid_(?:rsa|dsa|ecdsa|ed25519)\b/i,
  /\bauthorized_keys\b/i,
  // `.env`, `.env.local`, `.envrc`, but not `process.env`.
  /(?<![\w.$-])\.env(?:rc)?(?:\.[\w-]+)?(?![\w-])/i,
  /(?<![\w-])\.(?:aws|azure|kube|docker|gnupg)\b/i,
  /\.config[\\/](?:gcloud|gh)\b/i,
  /\bapplication_default_credentials\.json\b/i,
  /(?<![\w-])\.(?:npmrc|pypirc|netrc|pgpass|git-credentials|bash_history|zsh_history)\b/i,
  /\b_netrc\b/i,
  // Agent configurations list every server with its credentials (Invariant: ~/.cursor/mcp.json).
  /\b(?:mcp|mcp_config|claude_desktop_config)\.json\b/i,
  /(?<![\w-])\.(?:cursor|claude|codeium)[\\/]/i,
  /\/etc\/(?:passwd|shadow|sudoers)\b/,
  /\/proc\/(?:self|\d+)\/environ\b/,
  /-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----/,
  // A private key in general only counts when something is to be done with it (signing tools name theirs).
  /\b(?:read|open|cat|load|access|copy|get|fetch|print|dump|include|upload|send)\b(?:[^.!?]|\.(?=\S)){0,40}\bprivate[\s_-]?keys?\b/i,
];

// What injected text asks the agent to set aside: "ignore all previous instructions".
const STANDING = 'previous prior earlier above preceding original system safety other';
const ORDERS = 'instructions rules guidelines directions prompts? policies restrictions';

const CONCEALMENT: readonly RegExp[] = [
  // Keeping the user in the dark (Invariant: "Do not mention that you first need to read the file").
  /\b(?:do\s?not|don'?t|never|must\s?not|should\s?not)\s(?:ever\s)?(?:tell|mention|reveal|disclose)\b/i,
  /\b(?:do\s?not|don'?t|never|must\s?not|should\s?not|without)\s(?:ever\s)?(?:tell|inform|notify|alert|warn|let|ask)(?:ing)?\b[^.!?]{0,40}\b(?:user|human|operator)\b/i,
  /\b(?:user|human)\s(?:must|should|shall|need|may)\s?(?:not|n'?t)\s(?:know|see|notice|find\sout|learn|be\s(?:told|informed|notified|aware))\b/i,
  /\bwithout\s(?:the\s)?(?:user|human)(?:'s)?\s(?:knowing|knowledge|noticing|seeing|being\saware|consent)\b/i,
  /\b(?:secretly|silently|quietly|covertly|discreetly)\s(?:send|forward|pass|include|add|append|copy|read|upload|call|use|change|modify|replace|redirect|bcc|cc)\b/i,
  /\bkeep\s(?:this|it|these)\s(?:secret|hidden|confidential|between\sus)\b|\bhide\s(?:this|it)\sfrom\sthe\suser\b/i,
  /\b(?:do\s?not|don'?t|never)\s(?:ask|wait)\s(?:the\suser\s)?(?:for\s)?(?:(?:the\s)?user'?s?\s)?(?:confirmation|permission|approval|consent)\b/i,
  // Overriding the agent's own instructions.
  new RegExp(
    `\\b(?:ignore|disregard|forget|override)\\s(?:all\\s(?:of\\s)?|any\\s)?(?:the\\s|your\\s)?` +
      `(?:(?:${oneOf(STANDING)})\\s)?(?:${oneOf(ORDERS)})\\b`,
    'i',
  ),
  // Pressure: repeated urgency, and threats that things break unless the agent obeys. "Otherwise it
  // will fail" alone is left out: real descriptions say it about bad input.
  /\bvery\svery\simportant\b/i,
  /\b(?:otherwise|or\selse|if\s(?:you\s)?(?:don'?t|do\snot|fail\sto))\b[^.!?]{0,60}?\b(?:crash|malfunction|stop\sworking|(?:data|files?|everything)\s(?:will|would)\sbe\s(?:lost|deleted))\b/i,
];

/** `a b c`, split on any white space, as the alternation `a|b|c`. */
function oneOf(words: string): string {
  return words.trim().split(/\s+/).join('|');
}

function earliest(patterns: readonly RegExp[], text: string): string | undefined {
  const index = earliestIndex(patterns, text);
  return index === undefined ? undefined : excerpt(text, index);
}

function earliestIndex(patterns: readonly RegExp[], text: string): number | undefined {
  const indexes = patterns.map((pattern) => text.search(pattern)).filter((index) => index >= 0);
  return indexes.length === 0 ? undefined : Math.min(...indexes);
}

// ---------------------------------------------------------------------------------------------
// Exfiltration: one sentence that moves sensitive data somewhere the attacker reads it back

// All three parts are required, in any order: descriptions say "returns the file contents" or
// "the prompt to send to the LLM" without being an exfiltration.
const TRANSFER_VERBS = `send pass include forward append attach embed insert put add upload post
  transmit copy paste leak exfiltrate encode share e-?mail submit provide supply fill place write
  bcc cc`;
const TRANSFER = new RegExp(`\\b(?:${oneOf(TRANSFER_VERBS)})(?:s|es|ing)?\\b`, 'i');

const SENSITIVE_DATA: readonly RegExp[] = [
  // "its content": what was read before. Plain "the file contents" is left out: upload and write
  // tools rightly ask for it in a parameter.
  /\b(?:its|their)\s(?:(?:whole|full|entire|complete|raw)\s)?contents?\b/i,
  /\bconversation(?![\s_-]{0,3}ids?\b)|\b(?:chat|message)\shistory\b|\b(?:previous|prior|earlier|all)\smessages\b/i,
  /\bsystem\sprompt\b|\benv(?:ironment)?\svar(?:iable)?s?\b|\bprocess\.env\b/i,
  /\b(?:api|access|secret|private|ssh|aws|auth|session|refresh|bearer)[\s_-]?(?:keys?|tokens?)\b/i,
  /\b(?:passwords?|secrets?|credentials?|cookies?)\b/i,
  ...SENSITIVE_FILES,
];

const QUOTE = `['"\`‘’“”]`;
// What carries data out of the agent: a field of a call, a part of a request, a message, another tool.
const CARRIERS = `parameter argument arg param field property query url link header body request
  sidenote note comment metadata e-?mail message tool function`;
const DESTINATIONS: readonly RegExp[] = [
  // … as 'sidenote', … in the "note" field
  new RegExp(
    `\\b(?:as|in|into|to|inside|within|under|via)\\s(?:the\\s)?${QUOTE}\\w[\\w.-]{0,40}${QUOTE}`,
    'i',
  ),
  // … into the url parameter, … to the audit tool
  new RegExp(
    `\\b(?:as|in|into|to|inside|within|via|through)\\s(?:the\\s|a\\s|an\\s|this\\s|its\\s)?` +
      `(?:[\\w${QUOTE.slice(1, -1)}-]{1,40}\\s){0,2}(?:${oneOf(CARRIERS)})s?\\b`,
    'i',
  ),
  /\bhttps?:\/\//i,
  /\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b/,
];

// Sentences end at . ! ? before a space (not in `mcp.json`), at blank lines and at list items.
const SENTENCE_BREAK = /[.!?](?=\s|$)|\n[^\S\n]*\n|\n(?=[^\S\n]*(?:[-*\u2022]|\d{1,3}[.)])\s)/;

function exfiltration(visible: string): string | undefined {
  for (const sentence of visible.split(SENTENCE_BREAK).map(collapseWhitespace)) {
    const verb = sentence.search(TRANSFER);
    const isExfiltration =
      verb >= 0 &&
      earliestIndex(SENSITIVE_DATA, sentence) !== undefined &&
      DESTINATIONS.some((destination) => destination.test(sentence));
    if (isExfiltration) return excerpt(sentence, verb);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Cross-server references (threat 3, shadowing)

/** Where a text first names one of the other servers' tools (a UTF-16 index), if it does. */
type MentionFinder = (text: string) => number | undefined;

// redteam-35-5: an upstream listing 10,000 distinctive tool names made every definition of every
// other server compile and run a case-insensitive alternation of all of them (3.6 s for one line,
// some 11 s per listing on the gateway's one thread). The gateway passes one Set per state of the
// other servers' names, so each Set is compiled once; and a name of one word is found by looking
// up the text's words in a Set, which costs the same whatever the number of names.
const finders = new WeakMap<ReadonlySet<string>, MentionFinder | undefined>();

/** The finder for `names`, compiled on the first scan that passes this Set. */
function mentionFinder(names: ReadonlySet<string>): MentionFinder | undefined {
  if (!finders.has(names)) finders.set(names, compileMentionFinder(names));
  return finders.get(names);
}

/**
 * Where `text` first names one of `names` (see compileMentionFinder), as a UTF-16 index: the
 * place the cross-server finding's excerpt starts.
 */
export function firstMention(text: string, names: ReadonlySet<string>): number | undefined {
  return mentionFinder(names)?.(text);
}

// A name of ASCII letters, digits, `_` and `-` (every name an MCP client accepts) only ever matches
// a whole word: a maximal run of what a case-insensitive Unicode pattern's [\w-] matches, which is
// those characters, long s (folds to s) and the Kelvin sign (folds to k; toLowerCase makes it k).
const ONE_WORD = /^[\w-]+$/;
const WORD = /[\w\u017F\u212A-]+/g;
const LONG_S = '\u017F';
// Other names go in patterns of this many: compiling one alternation costs more than its size
// (10,000 names of 60 characters, 3.4 s on Node 20; in patterns of 64, 0.7 s).
const NAMES_PER_PATTERN = 64;

/**
 * Exposed names (`server__tool`) always count; a plain name only when it is distinctive (has `_`
 * or `-`, or is 8 characters or more), so that another server's `echo` or `add` does not match the
 * English word. Whole words only, case-insensitive: `send_email` is not in `resend_email`. Names
 * with other characters (which no client accepts, but a server may list) are looked for with
 * patterns, as all names once were.
 */
function compileMentionFinder(names: ReadonlySet<string>): MentionFinder | undefined {
  const distinctive = [...names].filter((name) => /[_-]/.test(name) || [...name].length >= 8);
  const words = new Set(distinctive.filter((name) => ONE_WORD.test(name)).map((name) => name.toLowerCase()));
  const rest = distinctive
    .filter((name) => !ONE_WORD.test(name))
    .sort((a, b) => b.length - a.length)
    .map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  const patterns = Array.from({ length: Math.ceil(rest.length / NAMES_PER_PATTERN) }, (_, i) => {
    const some = rest.slice(i * NAMES_PER_PATTERN, (i + 1) * NAMES_PER_PATTERN);
    return new RegExp(`(?<![\\w-])(?:${some.join('|')})(?![\\w-])`, 'iu');
  });
  if (words.size === 0 && patterns.length === 0) return undefined;
  return (text) => {
    const found = [firstWordIn(words, text), earliestIndex(patterns, text)].filter((i) => i !== undefined);
    return found.length === 0 ? undefined : Math.min(...found);
  };
}

/** The index of the first word of `text` that is in `words` (lower case) when folded as `i` and `u` fold it. */
function firstWordIn(words: ReadonlySet<string>, text: string): number | undefined {
  if (words.size === 0) return undefined;
  for (const word of text.matchAll(WORD)) {
    if (words.has(word[0].toLowerCase().replaceAll(LONG_S, 's'))) return word.index;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Excerpts: short, one line, every invisible character spelled out

const UNPRINTABLE = /^[\uFE00-\uFE0F\p{C}\u{E0100}-\u{E01EF}\p{Z}\u034F\u115F\u1160\u3164\uFFA0]$/u;
const LINE_SPACE = /^[ \t\n\r]$/;

function excerpt(text: string, index: number): string {
  const windowStart = Math.max(0, index - 2 * EXCERPT_MAX);
  const windowEnd = index + 4 * EXCERPT_MAX;
  const before = displayTokens(text.slice(windowStart, index));
  const after = displayTokens(text.slice(index, windowEnd));
  let lead = '';
  let shown = 0;
  for (const token of before.toReversed()) {
    if (lead.length + token.length > EXCERPT_LEAD) break;
    lead = token + lead;
    shown++;
  }
  const opening = shown < before.length || windowStart > 0 ? '…' : '';
  const isCutAtEnd = windowEnd < text.length;
  return clip(after, EXCERPT_MAX, isCutAtEnd, opening + lead);
}

/**
 * `prefix` and as many tokens as fit in `limit` characters, ending with '…' when something is left
 * out (`isCut`: something after the tokens already is).
 */
function clip(tokens: readonly string[], limit: number, isCut = false, prefix = ''): string {
  let out = prefix;
  for (const [i, token] of tokens.entries()) {
    const isLast = i === tokens.length - 1 && !isCut;
    if (out.length + token.length > limit - (isLast ? 0 : 1)) return `${out}…`;
    out += token;
  }
  return isCut ? `${out}…` : out;
}

/** One token per character: a run of spaces and line breaks is one space, an invisible one `\u{…}`. */
function displayTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const char of text) {
    if (LINE_SPACE.test(char)) {
      if (tokens.at(-1) !== ' ') tokens.push(' ');
    } else if (UNPRINTABLE.test(char)) {
      tokens.push(`\\u{${(char.codePointAt(0) ?? 0).toString(16).toUpperCase()}}`);
    } else {
      tokens.push(char);
    }
  }
  return tokens;
}
