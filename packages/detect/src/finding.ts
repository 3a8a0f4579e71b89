// The shapes detect speaks in: a finding (where a secret is, which rule saw it, how sure it is, and
// a fingerprint that names it without revealing it) and the encodings a secret can hide behind.
// A finding never carries the secret's value: it can be logged, audited and printed as it is.

/**
 * `high`: a provider rule matched (checksum-validated where the format has one), or a PEM private
 * key. `low`: a generic or entropy rule, or a provider-shaped token whose checksum is wrong.
 */
export type Confidence = 'high' | 'low';

/**
 * How a value was written where it was found. `percent` includes JavaScript's `%uXXXX`, `json` the
 * `\x` and octal escapes of string literals, `hex` lists of `0x` byte values, `html` HTML and XML
 * character references, `decimal` lists of byte values; `hidden`: cut by characters a reader does
 * not see (zero-width spaces, bidi controls, tags, controls, …), found once they were removed;
 * `unicode-tags`: spelled in Unicode tag characters (U+E0020–U+E007E, invisible, each mirroring a
 * printable ASCII character), found in the ASCII they spell.
 */
export type Encoding =
  | 'raw'
  | 'base64'
  | 'base64url'
  | 'hex'
  | 'percent'
  | 'json'
  | 'html'
  | 'decimal'
  | 'hidden'
  | 'unicode-tags';

/** How a message names where a secret was found: `cut by hidden characters`, `base64-encoded`, … */
export function encodingPhrase(encoding: Encoding): string {
  switch (encoding) {
    case 'raw':
      return 'as written';
    case 'hidden':
      return 'cut by hidden characters';
    case 'unicode-tags':
      return 'spelled in Unicode tag characters';
    default:
      return `${encoding}-encoded`;
  }
}

export interface Finding {
  /** The rule that matched, e.g. `github-token`, `generic-secret` (docs/detect.md lists them). */
  readonly rule: string;
  /** The provider or kind of secret: `github`, `aws`, `private_key`, `generic`, `password`, … */
  readonly family: string;
  readonly confidence: Confidence;
  /**
   * UTF-16 offsets of the secret in the scanned text: of the whole encoded segment if decoded; if
   * cut by hidden characters, of the secret with those inside it; if spelled in tag characters, of
   * those that spell it.
   */
  readonly start: number;
  readonly end: number;
  /** A few characters of the public prefix and a truncated SHA-256: `ghp_…(3f2a9c1b)`. */
  readonly fingerprint: string;
  /** Set when the secret was found only after decoding: the outermost encoding it was under. */
  readonly encoding?: Encoding;
}

export interface ScanOptions {
  /**
   * Also look inside percent-encoded (several layers, `%uXXXX` too), base64, base64url, hex and
   * JSON-escaped segments, HTML character references and lists of byte values, and read text cut
   * by hidden characters without them.
   */
  readonly decode?: boolean;
  /**
   * Values that are not secrets, though rules may match them (the egress proxy's own
   * placeholders): a finding over one of them, in the text or in the decoded layer it was found
   * in, is not reported. Another secret beside one in the same encoded segment still is.
   */
  readonly except?: readonly string[];
}
